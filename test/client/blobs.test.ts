/**
 * The client's blob calls against a real 3-node cluster of `tandem start` processes: a
 * 20 MB upload streamed from an async generator through a follower, read back identical;
 * ranges, metadata, listing, deletion, and a failed If-Match as Conflict.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Conflict, createClient, type TandemClient } from '../../src/client/index.js';
import { TestCluster } from '../node/cluster.js';

let cluster: TestCluster;
let client: TandemClient;
let followerUrl: string;
let leaderId: string;

/** The upload's size and the size of each piece the generator yields. */
const blobBytes = 20 * 1024 * 1024;
const pieceBytes = 256 * 1024;
/** The blob's bytes: one random piece repeated, each copy with its index stamped in front. */
const seed = randomBytes(pieceBytes);

function piece(index: number): Uint8Array {
  const bytes = Buffer.from(seed);
  bytes.writeUInt32BE(index, 0);
  return bytes;
}

async function* pieces(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < blobBytes / pieceBytes; i++) yield piece(i);
}

function expectedSha256(): string {
  const hash = createHash('sha256');
  for (let i = 0; i < blobBytes / pieceBytes; i++) hash.update(piece(i));
  return hash.digest('hex');
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return Buffer.concat(parts);
}

before(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  leaderId = await cluster.leader();
  followerUrl = cluster.url(cluster.nodes.find((node) => node.id !== leaderId)?.id as string);
  // Given only a follower, the client sends the bytes there: any node takes an upload.
  client = createClient({ nodes: [followerUrl], healthCheckIntervalMs: 0, timeoutMs: 10_000 });
});

/** Blob uploads a node answered with 201, from its Prometheus counter. */
async function uploadsServed(id: string): Promise<number> {
  const text = await (await fetch(`${cluster.url(id)}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('tandem_http_requests_total{') &&
      line.includes('route="/v1/blobs/:name"') &&
      line.includes('method="PUT"') &&
      line.includes('status="201"')
    ) {
      total += Number(line.split(' ').pop());
    }
  }
  return total;
}

after(async () => {
  client?.close();
  await cluster?.destroy();
});

test('a 20 MB blob streamed from a generator through a follower reads back identical', async () => {
  // Goal: put streams an async iterable with progress up to the total, and get returns
  // the same bytes, with headers that agree with the upload's answer.
  const leaderUploadsBefore = await uploadsServed(leaderId);
  const progress: number[] = [];
  const info = await client.blobs.put('videos/one.bin', pieces(), {
    contentType: 'video/mp4',
    onProgress: (sent) => progress.push(sent),
  });
  const sha256 = expectedSha256();
  assert.equal(info.name, 'videos/one.bin');
  assert.equal(info.bytes, blobBytes);
  assert.equal(info.sha256, sha256);
  assert.equal(info.contentType, 'video/mp4');
  assert.ok(info.chunks >= 1 && info.version >= 1);
  assert.equal(progress.at(-1), blobBytes);
  assert.ok(progress.length > 1, 'progress is reported as the body goes out, not once');
  assert.ok(progress.every((sent, i) => i === 0 || sent > (progress[i - 1] as number)));
  assert.equal(await uploadsServed(leaderId), leaderUploadsBefore, 'a follower took the upload');
  const followers = cluster.nodes.filter((node) => node.id !== leaderId);
  const served = await Promise.all(followers.map((node) => uploadsServed(node.id)));
  assert.equal(
    served.reduce((sum, count) => sum + count, 0),
    1,
  );

  const download = await client.blobs.get('videos/one.bin');
  assert.deepEqual(download.info, {
    version: info.version,
    bytes: blobBytes,
    contentType: 'video/mp4',
    sha256,
    start: 0,
    end: blobBytes,
  });
  const hash = createHash('sha256');
  let received = 0;
  for await (const part of download.body) {
    hash.update(part);
    received += part.byteLength;
  }
  assert.equal(received, blobBytes);
  assert.equal(hash.digest('hex'), sha256);
});

test('a range reads exactly those bytes, across a chunk boundary too', async () => {
  // Goal: range maps to Range: bytes=a-b and the body is that slice of the blob.
  const meta = await client.blobs.meta('videos/one.bin');
  const start = meta.chunkBytes - 10;
  const end = meta.chunkBytes + 9;
  const ranged = await client.blobs.get('videos/one.bin', { range: { start, end } });
  assert.equal(ranged.info.start, start);
  assert.equal(ranged.info.end, end + 1);
  assert.equal(ranged.info.bytes, blobBytes);
  const whole = Buffer.concat(Array.from({ length: blobBytes / pieceBytes }, (_, i) => piece(i)));
  assert.deepEqual(await collect(ranged.body), whole.subarray(start, end + 1));
  const tail = await client.blobs.get('videos/one.bin', { range: { start: blobBytes - 5 } });
  assert.deepEqual(await collect(tail.body), whole.subarray(blobBytes - 5));
});

test('meta lists every chunk with its holders, and list finds blobs by prefix', async () => {
  // Goal: meta's chunks cover the blob in order, and list filters by prefix and limit.
  const meta = await client.blobs.meta('videos/one.bin');
  assert.equal(meta.bytes, blobBytes);
  assert.equal(
    meta.chunks.reduce((sum, chunk) => sum + chunk.bytes, 0),
    blobBytes,
  );
  meta.chunks.forEach((chunk, i) => {
    assert.equal(chunk.index, i);
    assert.match(chunk.hash, /^[0-9a-f]{64}$/);
    assert.ok(chunk.holders.length >= 1);
    assert.equal(chunk.version, meta.version);
  });
  await client.blobs.put('videos/two.bin', new Uint8Array([1, 2, 3]));
  await client.blobs.put('docs/readme.txt', new TextEncoder().encode('hello'), {
    contentType: 'text/plain',
  });
  const videos = await client.blobs.list('videos/');
  assert.deepEqual(
    videos.map((blob) => [blob.name, blob.bytes]),
    [
      ['videos/one.bin', blobBytes],
      ['videos/two.bin', 3],
    ],
  );
  assert.equal((await client.blobs.list('', 1)).length, 1);
  assert.equal((await client.blobs.list()).length, 3);
});

test('If-Match and If-None-Match failures are Conflict (412), and nothing is written', async () => {
  // Goal: the conditions reach the node and its 412 maps to the client's Conflict.
  const first = await client.blobs.put('cas.txt', new TextEncoder().encode('v1'), {
    ifNoneMatch: '*',
  });
  await assert.rejects(
    client.blobs.put('cas.txt', new TextEncoder().encode('again'), { ifNoneMatch: '*' }),
    (error: unknown) => error instanceof Conflict && error.status === 412,
  );
  const second = await client.blobs.put('cas.txt', new TextEncoder().encode('v2'), {
    ifMatch: first.version,
  });
  assert.ok(second.version > first.version);
  await assert.rejects(
    client.blobs.put('cas.txt', pieces(), { ifMatch: first.version }),
    (error: unknown) => error instanceof Conflict && error.status === 412,
  );
  await assert.rejects(
    client.blobs.delete('cas.txt', { ifMatch: first.version }),
    (error: unknown) => error instanceof Conflict,
  );
  const body = await collect((await client.blobs.get('cas.txt')).body);
  assert.equal(body.toString('utf8'), 'v2');
});

test('delete removes a blob, and says false when there is none', async () => {
  // Goal: delete resolves true then false, and the blob is gone for get, meta and list.
  assert.equal(await client.blobs.delete('videos/two.bin'), true);
  assert.equal(await client.blobs.delete('videos/two.bin'), false);
  await assert.rejects(client.blobs.get('videos/two.bin'), { status: 404 });
  await assert.rejects(client.blobs.meta('videos/two.bin'), { code: 'TANDEM_NOT_FOUND' });
  assert.deepEqual(
    (await client.blobs.list('videos/')).map((blob) => blob.name),
    ['videos/one.bin'],
  );
});
