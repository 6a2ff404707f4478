/**
 * `tandem blob put|get|ls|rm`: large objects through the TypeScript client, streamed from
 * and to files with their progress on stderr. Both directions check the whole file's
 * SHA-256 against the one the cluster recorded: an upload hashes the file as it reads it,
 * a download hashes what it writes to FILE.partial and renames it to FILE only when the
 * hashes agree.
 */
import cliProgress from 'cli-progress';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TandemClient } from '../client/client.js';
import { asFailure, connectionHelp, connectionOptions, openClient } from './connection.js';
import { CommandFailure, parseCommandArgs, stringFlag, UsageError } from './options.js';
import { formatTable } from './table.js';

/** Help of `tandem blob`. */
export const blobHelp = `usage: tandem blob put FILE NAME [--content-type T]
       tandem blob get NAME FILE
       tandem blob ls [PREFIX]
       tandem blob rm NAME

put   uploads FILE as the blob NAME (replacing any version before it), streaming, with
      its progress on stderr; checks that the SHA-256 the cluster recorded is the file's,
      then prints the name, the new version and the size
get   downloads the blob NAME to FILE.partial with its progress, checks its SHA-256, then
      renames it to FILE (on a mismatch FILE.partial is removed and nothing is written)
ls    prints a table of the blobs (those whose names start with PREFIX)
rm    deletes the blob NAME; a blob that is absent fails with exit status 1

  --content-type T    put: the blob's content type (default application/octet-stream)
${connectionHelp}`;

const blobOptions = { ...connectionOptions, 'content-type': { type: 'string' } } as const;

/** The operands of each subcommand: required ones, then optional ones. */
const subcommands = {
  put: { required: ['FILE', 'NAME'], optional: 0 },
  get: { required: ['NAME', 'FILE'], optional: 0 },
  ls: { required: [], optional: 1 },
  rm: { required: ['NAME'], optional: 0 },
} as const;
type Subcommand = keyof typeof subcommands;

/** Runs `tandem blob ARGV`. */
export async function runBlob(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, blobOptions, 3);
  if (args.values.help === true) return void process.stdout.write(blobHelp);
  const [name, ...operands] = args.positionals;
  if (name === undefined) throw new UsageError('missing the subcommand: put, get, ls or rm');
  if (!Object.hasOwn(subcommands, name)) {
    throw new UsageError(`unknown blob subcommand ${JSON.stringify(name)} (put, get, ls or rm)`);
  }
  const subcommand = name as Subcommand;
  const { required, optional } = subcommands[subcommand];
  if (operands.length < required.length) {
    throw new UsageError(`${subcommand}: missing ${required.slice(operands.length).join(' and ')}`);
  }
  if (operands.length > required.length + optional) {
    throw new UsageError(
      `${subcommand}: unexpected argument ${operands[required.length + optional]}`,
    );
  }
  const contentType = stringFlag(args, 'content-type');
  if (contentType !== undefined && subcommand !== 'put') {
    throw new UsageError(`${subcommand} takes no --content-type`);
  }
  const client = openClient(args, process.env, 'linearizable');
  try {
    await runSubcommand(client, subcommand, operands, contentType);
  } catch (error) {
    throw asFailure(error);
  } finally {
    client.close();
  }
}

async function runSubcommand(
  client: TandemClient,
  subcommand: Subcommand,
  operands: readonly string[],
  contentType: string | undefined,
): Promise<void> {
  switch (subcommand) {
    case 'put':
      return putFile(client, operands[0] as string, operands[1] as string, contentType);
    case 'get':
      return getFile(client, operands[0] as string, operands[1] as string);
    case 'ls':
      return listBlobs(client, operands[0] ?? '');
    case 'rm':
      if (!(await client.blobs.delete(operands[0] as string))) {
        throw new CommandFailure(`no blob ${JSON.stringify(operands[0])}`);
      }
      return void console.log(`deleted ${operands[0]}`);
  }
}

/** Uploads `file` as `name`, hashing it as it is read; fails when the hashes differ. */
async function putFile(
  client: TandemClient,
  file: string,
  name: string,
  contentType: string | undefined,
): Promise<void> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new CommandFailure(`cannot read ${file}: ${(error as Error).message}`);
  }
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const part of createReadStream(file) as AsyncIterable<Buffer>) {
      hash.update(part);
      yield part;
    }
  }
  const progress = new Progress(`put ${name}`, size);
  const info = await (async () => {
    try {
      return await client.blobs.put(name, hashed(), {
        ...(contentType === undefined ? {} : { contentType }),
        onProgress: (sent) => progress.update(sent),
      });
    } finally {
      progress.stop();
    }
  })();
  const sha256 = hash.digest('hex');
  if (info.sha256 !== sha256 || info.bytes !== size) {
    throw new CommandFailure(
      `the cluster recorded ${info.bytes} bytes with SHA-256 ${info.sha256}, but ${file} has ` +
        `${size} bytes with SHA-256 ${sha256}: the upload is not the file (version ${info.version})`,
    );
  }
  console.log(
    `${info.name}  version ${info.version}  ${info.bytes} bytes (${humanBytes(info.bytes)})`,
  );
}

/** Downloads `name` to `file`.partial, checks its SHA-256, then renames it to `file`. */
async function getFile(client: TandemClient, name: string, file: string): Promise<void> {
  const download = await client.blobs.get(name);
  const { info } = download;
  const partial = `${file}.partial`;
  const hash = createHash('sha256');
  const progress = new Progress(`get ${name}`, info.bytes);
  let received = 0;
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const part of download.body) {
      hash.update(part);
      received += part.byteLength;
      progress.update(received);
      yield part;
    }
  }
  try {
    await pipeline(Readable.from(hashed()), createWriteStream(partial, { mode: 0o644 }));
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    progress.stop();
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== info.sha256) {
    rmSync(partial, { force: true });
    throw new CommandFailure(
      `the bytes received have SHA-256 ${sha256}, not the blob's ${info.sha256}: nothing written`,
    );
  }
  renameSync(partial, file);
  console.log(`${name}  version ${info.version}  ${info.bytes} bytes written to ${file}`);
}

async function listBlobs(client: TandemClient, prefix: string): Promise<void> {
  const blobs = await client.blobs.list(prefix);
  const rows = blobs.map((blob) => [
    blob.name,
    humanBytes(blob.bytes),
    String(blob.version),
    blob.contentType,
    new Date(blob.createdAtMs).toISOString(),
  ]);
  console.log(formatTable([['NAME', 'SIZE', 'VERSION', 'CONTENT TYPE', 'CREATED'], ...rows]));
}

/** Bytes as a person reads them: `512 B`, `9.5 MiB`. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A transfer's progress on stderr: a bar with the bytes, the rate and the time left on a
 * terminal; elsewhere (a pipe, a log file) one line at the end.
 */
class Progress {
  readonly #label: string;
  readonly #totalBytes: number;
  readonly #startedMs = Date.now();
  readonly #bar: cliProgress.SingleBar | null;
  #doneBytes = 0;
  #stopped = false;

  constructor(label: string, totalBytes: number) {
    this.#label = label;
    this.#totalBytes = totalBytes;
    this.#bar =
      process.stderr.isTTY === true
        ? new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: `${label} [{bar}] {percentage}% | {done} / {total_human} | {rate} | ETA {eta_formatted}`,
              etaBuffer: 50,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    this.#bar?.start(Math.max(totalBytes, 1), 0, this.#payload(0));
  }

  update(doneBytes: number): void {
    this.#doneBytes = doneBytes;
    this.#bar?.update(doneBytes, this.#payload(doneBytes));
  }

  /** Ends the bar, or prints the one line; idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#bar !== null) return void this.#bar.stop();
    const seconds = (Date.now() - this.#startedMs) / 1000;
    process.stderr.write(
      `${this.#label}: ${humanBytes(this.#doneBytes)} of ${humanBytes(this.#totalBytes)} ` +
        `in ${seconds.toFixed(1)} s (${this.#rate(this.#doneBytes)})\n`,
    );
  }

  #rate(doneBytes: number): string {
    const seconds = Math.max((Date.now() - this.#startedMs) / 1000, 0.001);
    return `${humanBytes(Math.round(doneBytes / seconds))}/s`;
  }

  #payload(doneBytes: number): Record<string, string> {
    return {
      done: humanBytes(doneBytes),
      total_human: humanBytes(this.#totalBytes),
      rate: this.#rate(doneBytes),
    };
  }
}
