/**
 * Large objects against the disk itself (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/blobs.js [--mb 1024] [--repeats 3] [--json]
 *
 * In one run, on one file of `--mb` random MiB:
 *  - raw write: the file copied to a new file in 8 MiB writes and fsynced once at the end,
 *    as one durable copy of it costs this disk;
 *  - raw read: the new file read back in 8 MiB reads (from the page cache, as the blob's
 *    chunks are when they were just written);
 *  - upload: `PUT /v1/blobs/NAME` to the leader of a three-node `quorum` cluster, streamed,
 *    three copies of every chunk (R=3), each fsynced, acknowledged at two;
 *  - download: `GET /v1/blobs/NAME` from a follower, streamed, hashed as it arrives;
 *  - bare HTTP: the same bytes sent from memory, in 8 MiB writes, by a bare `node:http`
 *    server in a process of its own to the same client, hashed as they arrive: what this
 *    machine's Node can move over loopback HTTP with nothing read, checked or stored.
 * Reported: MB/s of each (medians of `--repeats`, each kind alternately), and the ratios
 * upload over raw write, download over raw read, and download over bare HTTP. On one machine R=3 writes three times
 * the bytes of a raw write on the same disk and cores, so an upload at a third of the raw
 * write is the disk's limit; the targets are 0.25x and 0.5x.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  mkdtempSync,
  openSync,
  closeSync,
  writeSync,
  fsyncSync,
  readSync,
  statSync,
  rmSync,
} from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../test/node/cluster.js';
import { median } from './stats.js';

const stepBytes = 8 * 1024 * 1024;

interface Options {
  readonly mb: number;
  readonly repeats: number;
  readonly json: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let mb = 1024;
  let repeats = 3;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const next = Number(argv[i + 1]);
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--mb' && Number.isSafeInteger(next) && next > 0) mb = Number(argv[++i]);
    else if (argv[i] === '--repeats' && Number.isSafeInteger(next) && next > 0) {
      repeats = Number(argv[++i]);
    } else {
      process.stderr.write('usage: node dist/bench/blobs.js [--mb N] [--repeats N] [--json]\n');
      process.exit(2);
    }
  }
  return { mb, repeats, json };
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function rawWrite(source: string, target: string): number {
  const started = process.hrtime.bigint();
  const input = openSync(source, 'r');
  const output = openSync(target, 'w');
  const buffer = Buffer.alloc(stepBytes);
  for (;;) {
    const read = readSync(input, buffer, 0, stepBytes, null);
    if (read === 0) break;
    writeSync(output, buffer, 0, read);
  }
  fsyncSync(output);
  closeSync(output);
  closeSync(input);
  return seconds(started);
}

function rawRead(path: string): number {
  const started = process.hrtime.bigint();
  const input = openSync(path, 'r');
  const buffer = Buffer.alloc(stepBytes);
  const hash = createHash('sha256');
  for (;;) {
    const read = readSync(input, buffer, 0, stepBytes, null);
    if (read === 0) break;
    hash.update(buffer.subarray(0, read));
  }
  closeSync(input);
  return seconds(started);
}

function transfer(method: 'PUT' | 'GET', url: string, file: string | null): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method }, (response) => {
      const hash = createHash('sha256');
      response.on('data', (part: Buffer) => hash.update(part));
      response.on('end', () => {
        const ok = method === 'PUT' ? response.statusCode === 201 : response.statusCode === 200;
        if (ok) resolve(seconds(started));
        else reject(new Error(`${method} answered ${response.statusCode}`));
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    if (file === null) request.end();
    else createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(request);
  });
}

/**
 * The bare HTTP server, run as this script with `--serve FILE`: it loads FILE into memory
 * and sends it whole on every GET; it tells its parent its port.
 */
function serve(file: string): void {
  const size = statSync(file).size;
  const parts: Buffer[] = [];
  const input = openSync(file, 'r');
  for (let at = 0; at < size; at += stepBytes) {
    const part = Buffer.allocUnsafe(Math.min(stepBytes, size - at));
    readSync(input, part, 0, part.length, at);
    parts.push(part);
  }
  closeSync(input);
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-length': String(size) });
    let next = 0;
    const more = () => {
      while (next < parts.length) {
        if (!response.write(parts[next++])) return void response.once('drain', more);
      }
      response.end();
    };
    more();
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address !== null ? address.port : 0);
  });
  process.on('disconnect', () => process.exit(0));
}

async function bareServer(file: string): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(import.meta.url);
  const child = fork(script, ['--serve', file], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve(Number(message)));
    child.once('exit', (code) => reject(new Error(`the bare HTTP server exited with ${code}`)));
  });
  return { child, url: `http://127.0.0.1:${port}/` };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serve(process.argv[3] as string);
  const options = parseOptions(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), 'tandem-bench-blobs-'));
  const source = join(root, 'source.bin');
  const fd = openSync(source, 'w');
  for (let written = 0; written < options.mb; written += 8) {
    writeSync(fd, randomBytes(Math.min(8, options.mb - written) * 1024 * 1024));
  }
  closeSync(fd);
  const cluster = await TestCluster.create({ nodes: 3, mode: 'quorum' });
  const times = {
    write: [] as number[],
    read: [] as number[],
    upload: [] as number[],
    download: [] as number[],
    bare: [] as number[],
  };
  const bare = await bareServer(source);
  try {
    cluster.startAll();
    await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
    const leader = await cluster.leader();
    const follower = cluster.nodes.find((node) => node.id !== leader)?.id as string;
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      const copy = join(root, 'copy.bin');
      times.write.push(rawWrite(source, copy));
      times.read.push(rawRead(copy));
      rmSync(copy);
      times.upload.push(await transfer('PUT', `${cluster.url(leader)}/v1/blobs/bench.bin`, source));
      times.download.push(
        await transfer('GET', `${cluster.url(follower)}/v1/blobs/bench.bin`, null),
      );
      times.bare.push(await transfer('GET', bare.url, null));
    }
  } finally {
    bare.child.disconnect();
    await cluster.destroy();
    rmSync(root, { recursive: true, force: true });
  }
  const rate = (list: number[]) => Math.round(options.mb / median(list));
  const figures = {
    mb: options.mb,
    repeats: options.repeats,
    rawWriteMBps: rate(times.write),
    rawReadMBps: rate(times.read),
    uploadMBps: rate(times.upload),
    downloadMBps: rate(times.download),
    bareHttpMBps: rate(times.bare),
  };
  const uploadRatio = Math.round((figures.uploadMBps / figures.rawWriteMBps) * 100) / 100;
  const downloadRatio = Math.round((figures.downloadMBps / figures.rawReadMBps) * 100) / 100;
  const bareRatio = Math.round((figures.downloadMBps / figures.bareHttpMBps) * 100) / 100;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ ...figures, uploadRatio, downloadRatio, bareRatio })}\n`,
    );
    return;
  }
  process.stdout.write(
    [
      `${options.mb} MiB, medians of ${options.repeats} (MiB/s):`,
      `| | Tandem (3 nodes, R=3, quorum) | reference | ratio | target |`,
      `|---|---|---|---|---|`,
      `| upload vs one fsynced write | ${figures.uploadMBps} | ${figures.rawWriteMBps} | ${uploadRatio}x | >= 0.25x |`,
      `| download from a follower vs one read | ${figures.downloadMBps} | ${figures.rawReadMBps} | ${downloadRatio}x | >= 0.5x |`,
      `| download from a follower vs bare HTTP from memory | ${figures.downloadMBps} | ${figures.bareHttpMBps} | ${bareRatio}x | |`,
      '',
    ].join('\n'),
  );
}

await main();
