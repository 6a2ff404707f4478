/**
 * `tandem backup FILE` and `tandem restore FILE --dir DIR`, as `etcdctl snapshot save` and
 * `restore`. A backup is a consistent image of one node's state machine (GET /v1/backup),
 * written to FILE.partial with its progress shown, checked (header, size, CRC32C) and only
 * then renamed to FILE. A restore checks the file whole (the checksum, then the image itself,
 * loaded into a scratch store that verifies its index and term) before it writes anything,
 * then seeds DIR as a node's data directory: the image as its snapshot, the log after it
 * empty, the membership the backup's or `--voters`. Each node of a new cluster is restored
 * from the same file, then started with `tandem start` on its directory.
 */
import { crc32c } from '@node-rs/crc32';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import {
  backupHeaderBytesMax,
  parseBackupHeader,
  type BackupHeader,
} from '../api/http/backup-format.js';
import { HttpAgents } from '../client/http.js';
import type { Membership } from '../core/types.js';
import { DiskStorage } from '../log/disk-storage.js';
import { formatChecksum } from '../log/snapshot-files.js';
import { SqliteStore } from '../store/sqlite.js';
import {
  basicAuthorization,
  connectionHelp,
  connectionOptions,
  credentials,
  firstAnswering,
  resolveEndpoints,
  trustedCa,
} from './connection.js';
import {
  CommandFailure,
  parseCommandArgs,
  parseNodeId,
  stringFlag,
  UsageError,
} from './options.js';

export const backupHelp = `usage: tandem backup FILE [--url URL] [--user NAME] [--cacert FILE]

Takes a consistent backup of the state (keys, every data type, SQL tables, users) from
the first node that answers (a follower's as of what it has applied) and writes it to FILE,
with its progress on stderr. FILE is written only once the backup is whole and its
checksum holds. Needs the admin role.

${connectionHelp}`;

export const restoreHelp = `usage: tandem restore FILE --dir DIR [--voters ID,ID,...]

Seeds DIR (which must be empty or absent) as a node's data directory from the backup in
FILE, once FILE is checked whole (its checksum, then the image loaded and verified).
Restore every node of the new cluster from the same FILE, each into its own DIR, then start
each with tandem start --dir DIR and that cluster's --peers; they begin at the backup's
index with its data. The new cluster's members are the backup's, or --voters.

  --dir DIR          the new node's data directory
  --voters IDS       the voters of the new cluster (default: the backup's membership)
  -h, --help         this help
`;

/** Progress lines at most this often when stderr is not a terminal. */
const progressStepFraction = 0.25;

export async function runBackup(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, connectionOptions, 1);
  if (args.values.help === true) return void process.stdout.write(backupHelp);
  const file = args.positionals[0];
  if (file === undefined) throw new UsageError('missing FILE');
  const endpoints = resolveEndpoints(args, process.env);
  const agents = new HttpAgents(trustedCa(args));
  const headers = basicAuthorization(credentials(args, process.env));
  try {
    const url = await firstAnswering(agents, headers, endpoints);
    const partial = `${file}.partial`;
    const header = await download(agents, headers, `${url}/v1/backup`, partial);
    renameSync(partial, file);
    console.log(
      `backup of ${header.node} at index ${header.index} (term ${header.term}): ` +
        `${header.bytes} bytes, checksum ${header.checksum}, written to ${file}`,
    );
  } finally {
    agents.destroy();
  }
}

/** Streams the backup at `url` into `file`, checking it as it comes; its header. */
async function download(
  agents: HttpAgents,
  headers: Record<string, string>,
  url: string,
  file: string,
): Promise<BackupHeader> {
  const target = new URL(url);
  const get = target.protocol === 'https:' ? https.get : http.get;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = get(target, { agent: agents.for(target), headers }, resolve);
    request.once('error', (error) =>
      reject(new CommandFailure(`cannot reach ${target.origin}: ${error.message}`)),
    );
  });
  if (response.statusCode !== 200) {
    let text = '';
    for await (const chunk of response) text += String(chunk);
    let message = text;
    try {
      const body = JSON.parse(text) as { code?: string; message?: string };
      message = `${body.code}: ${body.message}`;
    } catch {
      // not JSON: the text itself
    }
    throw new CommandFailure(`the node refused the backup (${response.statusCode}): ${message}`);
  }
  const out = await openFile(file, 'w', 0o600);
  let header: BackupHeader | null = null;
  let pending = Buffer.alloc(0);
  let received = 0;
  let crc = 0;
  let nextReport = 0;
  const tty = process.stderr.isTTY === true;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      let data = chunk;
      if (header === null) {
        pending = Buffer.concat([pending, data]);
        const newline = pending.indexOf(0x0a);
        if (newline === -1) {
          if (pending.length > backupHeaderBytesMax) throw new CommandFailure('no backup header');
          continue;
        }
        const parsed = parseBackupHeader(pending.subarray(0, newline).toString('utf8'));
        if (typeof parsed === 'string')
          throw new CommandFailure(`the answer is no backup: ${parsed}`);
        header = parsed;
        await out.write(pending.subarray(0, newline + 1));
        data = pending.subarray(newline + 1);
      }
      received += data.length;
      if (received > header.bytes) throw new CommandFailure('the backup is longer than it says');
      crc = crc32c(data, crc);
      await out.write(data);
      if (tty || received >= nextReport || received === header.bytes) {
        report(received, header.bytes, tty);
        nextReport = received + Math.max(1, Math.ceil(header.bytes * progressStepFraction));
      }
    }
    if (header === null) throw new CommandFailure('the answer ended before the backup header');
    if (received !== header.bytes) {
      throw new CommandFailure(`the backup ended after ${received} of ${header.bytes} bytes`);
    }
    if (formatChecksum(crc) !== header.checksum) {
      throw new CommandFailure(
        `the backup's checksum is ${formatChecksum(crc)}, its header says ${header.checksum}`,
      );
    }
    await out.sync();
  } catch (error) {
    await out.close();
    rmSync(file, { force: true });
    throw error;
  }
  await out.close();
  if (tty) process.stderr.write('\n');
  return header;
}

function report(received: number, total: number, tty: boolean): void {
  const fraction = total === 0 ? 1 : received / total;
  const width = 30;
  const filled = Math.round(fraction * width);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${received}/${total} bytes`;
  process.stderr.write(tty ? `\r${line}` : `${line}\n`);
}

/** A backup file's header and where its image starts, or CommandFailure. */
function readHeader(file: string): { header: BackupHeader; imageStart: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new CommandFailure(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(backupHeaderBytesMax);
    const read = readSync(fd, buffer, 0, buffer.length, 0);
    const newline = buffer.subarray(0, read).indexOf(0x0a);
    if (newline === -1) throw new CommandFailure(`${file} is not a Tandem backup (no header line)`);
    const parsed = parseBackupHeader(buffer.subarray(0, newline).toString('utf8'));
    if (typeof parsed === 'string') throw new CommandFailure(`${file}: ${parsed}`);
    return { header: parsed, imageStart: newline + 1 };
  } finally {
    closeSync(fd);
  }
}

/** The image's chunks, as the file holds them. */
function imageChunks(file: string, start: number): AsyncIterable<Uint8Array> {
  return createReadStream(file, { start, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
}

export async function runRestore(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, { dir: { type: 'string' }, voters: { type: 'string' } }, 1);
  if (args.values.help === true) return void process.stdout.write(restoreHelp);
  const file = args.positionals[0];
  if (file === undefined) throw new UsageError('missing FILE');
  const dir = stringFlag(args, 'dir');
  if (dir === undefined) throw new UsageError('--dir is required');
  const votersText = stringFlag(args, 'voters');
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new CommandFailure(`${dir} is not empty: restore seeds a new node's directory only`);
  }
  const { header, imageStart } = readHeader(file);
  const membership: Membership =
    votersText === undefined
      ? header.membership
      : {
          voters: [
            ...new Set(votersText.split(',').map((id) => parseNodeId(id.trim(), '--voters'))),
          ],
          learners: [],
        };
  // 1. The file is whole: its size and checksum.
  const size = statSync(file).size;
  if (size !== imageStart + header.bytes) {
    throw new CommandFailure(
      `${file} holds ${size - imageStart} bytes of image, its header says ${header.bytes}: it is cut or padded`,
    );
  }
  let crc = 0;
  for await (const chunk of imageChunks(file, imageStart)) crc = crc32c(chunk as Buffer, crc);
  if (formatChecksum(crc) !== header.checksum) {
    throw new CommandFailure(
      `${file} is damaged: its image's checksum is ${formatChecksum(crc)}, its header says ${header.checksum}`,
    );
  }
  // 2. The image itself: loaded into a scratch store, which checks its index and term.
  const scratch = mkdtempSync(join(dir === '' ? '.' : join(dir, '..'), '.tandem-restore-'));
  try {
    const store = SqliteStore.open(join(scratch, 'state'));
    try {
      await store.restore(
        { index: header.index, term: header.term, checksum: header.checksum },
        imageChunks(file, imageStart),
      );
    } catch (error) {
      throw new CommandFailure(`${file} does not restore: ${(error as Error).message}`);
    } finally {
      store.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  // 3. Seed the directory: the snapshot, and a hard state at its term with it committed.
  mkdirSync(dir, { recursive: true });
  const storage = await DiskStorage.open(join(dir, 'raft'));
  try {
    await storage.load();
    await storage.saveSnapshotChunks(
      { index: header.index, term: header.term, membership },
      imageChunks(file, imageStart),
      header.checksum,
    );
    storage.writeHardState({ term: header.term, vote: null, commit: header.index });
    await storage.sync();
  } finally {
    await storage.close();
  }
  console.log(
    `restored ${file} (index ${header.index}, term ${header.term}, from ${header.node}) into ${dir}; ` +
      `voters ${membership.voters.join(', ')}${membership.learners.length > 0 ? `, learners ${membership.learners.join(', ')}` : ''}`,
  );
}
