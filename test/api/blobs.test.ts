/**
 * Large objects on a real 3-node cluster: a 200 MB file uploaded through a follower reads
 * back byte-identical from every node; ranges, HEAD, ETags, listing and deletion; a node
 * that was down while a blob was overwritten is told its chunks are stale, deletes them and
 * then serves the new version from its own copies; a flipped byte in a chunk file is never
 * served and is repaired; kill -9 of a holder during an upload ends in the old version or
 * the whole new one; of two uploads with the same If-Match one wins.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
  closeSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { call, sleep, TestCluster } from '../node/cluster.js';

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly sha256: string;
  readonly bytes: number;
  readonly body: Buffer | null;
}

/** One HTTP request with a streamed body; the answer's body is hashed as it arrives. */
function request(
  method: string,
  url: string,
  body: Readable | Buffer | null,
  headers: Record<string, string> = {},
  keep = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (response) => {
      const hash = createHash('sha256');
      const parts: Buffer[] = [];
      let bytes = 0;
      response.on('data', (part: Buffer) => {
        hash.update(part);
        bytes += part.length;
        if (keep) parts.push(part);
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          sha256: hash.digest('hex'),
          bytes,
          body: keep ? Buffer.concat(parts) : null,
        }),
      );
      response.on('error', reject);
    });
    req.on('error', reject);
    if (body === null) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The chunk files a node holds: `hash.version` names. */
function chunkFiles(cluster: TestCluster, id: string): string[] {
  const root = join(cluster.node(id).dir, 'blobs');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => readdirSync(join(root, entry.name)).map((name) => name))
    .filter((name) => /^[0-9a-f]{64}\.[0-9]+$/.test(name));
}

async function until<T>(
  what: string,
  check: () => Promise<T | null>,
  timeoutMs = 40_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(250);
  }
}

describe('large objects on a 3-node cluster', () => {
  let cluster: TestCluster;
  let leader: string;
  let followers: string[];

  before(async () => {
    // Repair rounds every second, so that the tests wait for them briefly.
    cluster = await TestCluster.create({ nodes: 3, extraArgs: () => ['--blob-repair-ms', '1000'] });
    cluster.startAll();
    await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
    leader = await cluster.leader();
    followers = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('uploads 200 MB through a follower and reads it back identical from every node', async () => {
    const file = join(cluster.root, 'big.bin');
    const hash = createHash('sha256');
    const fd = openSync(file, 'w');
    for (let i = 0; i < 25; i++) {
      const part = randomBytes(8 * 1024 * 1024);
      hash.update(part);
      writeSync(fd, part);
    }
    closeSync(fd);
    const expected = hash.digest('hex');
    const url = `${cluster.url(followers[0] as string)}/v1/blobs/videos%2Fbig.bin`;
    const put = await request(
      'PUT',
      url,
      createReadStream(file),
      { 'content-type': 'video/mp4' },
      true,
    );
    assert.equal(put.status, 201, put.body?.toString());
    const answer = JSON.parse((put.body as Buffer).toString()) as {
      sha256: string;
      bytes: number;
      version: number;
    };
    assert.equal(answer.sha256, expected);
    assert.equal(answer.bytes, 200 * 1024 * 1024);
    assert.equal(put.headers.etag, `"${answer.version}"`);
    for (const node of cluster.nodes) {
      const got = await request('GET', `${cluster.url(node.id)}/v1/blobs/videos%2Fbig.bin`, null);
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], 'video/mp4');
      assert.equal(got.bytes, 200 * 1024 * 1024);
      assert.equal(got.sha256, expected, `${node.id} served other bytes`);
    }
    // Every node holds every chunk (three voters, three replicas), and says so.
    const meta = await call('GET', `${cluster.url(leader)}/v1/blobs/videos%2Fbig.bin/meta`);
    assert.equal(meta.status, 200);
    const chunks = meta.body.chunks as { index: number; version: number; holders: string[] }[];
    assert.equal(chunks.length, 25);
    for (const chunk of chunks) {
      assert.equal(chunk.version, answer.version);
      assert.deepEqual([...chunk.holders].sort(), cluster.nodes.map((node) => node.id).sort());
    }
    await until('every node holds the 25 chunks', async () =>
      cluster.nodes.every((node) => chunkFiles(cluster, node.id).length >= 25) ? true : null,
    );
    for (const node of cluster.nodes) {
      const local = await request(
        'GET',
        `${cluster.url(node.id)}/v1/blobs/videos%2Fbig.bin?source=local`,
        null,
      );
      assert.equal(local.status, 200);
      assert.equal(local.sha256, expected);
    }
  });

  it('serves ranges, HEAD and ETags, lists by prefix and deletes', async () => {
    const bytes = randomBytes(300_000);
    const url = `${cluster.url(leader)}/v1/blobs/docs%2Fa.bin`;
    const put = await request('PUT', url, bytes, { 'content-type': 'application/pdf' }, true);
    assert.equal(put.status, 201);
    const etag = put.headers.etag as string;
    const range = await request('GET', url, null, { range: 'bytes=1000-1999' }, true);
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 1000-1999/${bytes.length}`);
    assert.deepEqual(range.body, bytes.subarray(1000, 2000));
    const suffix = await request('GET', url, null, { range: 'bytes=-10' }, true);
    assert.deepEqual(suffix.body, bytes.subarray(bytes.length - 10));
    const outside = await request('GET', url, null, { range: `bytes=${bytes.length}-` }, true);
    assert.equal(outside.status, 416);
    const head = await request(
      'HEAD',
      `${cluster.url(followers[1] as string)}/v1/blobs/docs%2Fa.bin`,
      null,
    );
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(bytes.length));
    assert.equal(head.headers.etag, etag);
    assert.equal(head.bytes, 0);
    const unchanged = await request('GET', url, null, { 'if-none-match': etag });
    assert.equal(unchanged.status, 304);
    const create = await request('PUT', url, Buffer.from('x'), { 'if-none-match': '*' }, true);
    assert.equal(create.status, 412);
    await request('PUT', `${cluster.url(leader)}/v1/blobs/docs%2Fb.bin`, Buffer.from('b'));
    const listed = await call(
      'GET',
      `${cluster.url(followers[0] as string)}/v1/blobs?prefix=docs%2F`,
    );
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (listed.body.blobs as { name: string }[]).map((blob) => blob.name),
      ['docs/a.bin', 'docs/b.bin'],
    );
    const wrongDelete = await request('DELETE', url, null, { 'if-match': '"1"' });
    assert.equal(wrongDelete.status, 412);
    const deleted = await request('DELETE', url, null, { 'if-match': etag });
    assert.equal(deleted.status, 204);
    const gone = await request('GET', url, null);
    assert.equal(gone.status, 404);
    const bad = await request(
      'PUT',
      `${cluster.url(leader)}/v1/blobs/a%01b`,
      Buffer.from('x'),
      {},
      true,
    );
    assert.equal(bad.status, 400);
  });

  it('tells a node that was down while a blob was overwritten that its chunks are stale', async () => {
    const name = 'stale.bin';
    const first = randomBytes(3 * 1024 * 1024);
    const url = `${cluster.url(leader)}/v1/blobs/${name}`;
    const put = await request('PUT', url, first, {}, true);
    assert.equal(put.status, 201);
    const oldVersion = (JSON.parse((put.body as Buffer).toString()) as { version: number }).version;
    const down = followers[1] as string;
    const oldFile = `${sha256(first)}.${oldVersion}`;
    await until(`${down} holds the first version`, async () =>
      chunkFiles(cluster, down).includes(oldFile) ? true : null,
    );
    await cluster.stop(down);
    const second = randomBytes(3 * 1024 * 1024);
    const overwrite = await request('PUT', url, second, {}, true);
    assert.equal(overwrite.status, 201, overwrite.body?.toString());
    const newVersion = (JSON.parse((overwrite.body as Buffer).toString()) as { version: number })
      .version;
    cluster.start(down);
    await cluster.up(down);
    await until(`${down} deleted its stale chunk and fetched the new one`, async () => {
      const files = chunkFiles(cluster, down);
      return !files.includes(oldFile) && files.includes(`${sha256(second)}.${newVersion}`)
        ? true
        : null;
    });
    const local = await request('GET', `${cluster.url(down)}/v1/blobs/${name}?source=local`, null);
    assert.equal(local.status, 200);
    assert.equal(local.sha256, sha256(second));
    // The repair shows in the node's status and metrics.
    const status = await call('GET', `${cluster.url(down)}/v1/cluster/blobs`);
    assert.equal(status.status, 200);
    assert.ok((status.body.staleDeleted as number) >= 1, JSON.stringify(status.body));
    assert.ok((status.body.chunksRepaired as number) >= 1, JSON.stringify(status.body));
    assert.equal(status.body.chunksMissing, 0);
    assert.equal(status.body.bytesMissing, 0);
    assert.ok((status.body.bytesRepaired as number) >= second.length, JSON.stringify(status.body));
    assert.ok((status.body.repairBytesPerSecond as number) > 0, JSON.stringify(status.body));
    const metrics = await request('GET', `${cluster.url(down)}/metrics`, null, {}, true);
    const text = (metrics.body as Buffer).toString();
    assert.match(
      text,
      new RegExp(`tandem_blob_stale_chunks_deleted_total\\{node="${down}"\\} [1-9]`),
    );
    assert.match(text, new RegExp(`tandem_blob_bytes_missing\\{node="${down}"\\} 0\n`));
    assert.match(text, new RegExp(`tandem_blob_repair_bytes_per_second\\{node="${down}"\\} [1-9]`));
  });

  it('never serves a flipped byte in a chunk file, and repairs it from another holder', async () => {
    const bytes = randomBytes(1024 * 1024);
    const put = await request('PUT', `${cluster.url(leader)}/v1/blobs/flip.bin`, bytes, {}, true);
    assert.equal(put.status, 201);
    const version = (JSON.parse((put.body as Buffer).toString()) as { version: number }).version;
    const victim = followers[0] as string;
    const fileName = `${sha256(bytes)}.${version}`;
    const hash = sha256(bytes);
    const path = join(cluster.node(victim).dir, 'blobs', hash.slice(0, 2), fileName);
    await until(`${victim} holds the chunk`, async () => (existsSync(path) ? true : null));
    const fd = openSync(path, 'r+');
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, 5000);
    one[0] = (one[0] as number) ^ 0xff;
    writeSync(fd, one, 0, 1, 5000);
    closeSync(fd);
    // A read from the victim gets the right bytes: its own copy fails its hash, another
    // holder's serves.
    const got = await request('GET', `${cluster.url(victim)}/v1/blobs/flip.bin`, null);
    assert.equal(got.status, 200);
    assert.equal(got.sha256, sha256(bytes));
    const status = await call('GET', `${cluster.url(victim)}/v1/cluster/blobs`);
    assert.ok((status.body.corruptFound as number) >= 1, JSON.stringify(status.body));
    await until(`${victim} repaired the chunk`, async () => {
      const local = await request(
        'GET',
        `${cluster.url(victim)}/v1/blobs/flip.bin?source=local`,
        null,
      );
      return local.status === 200 && local.sha256 === sha256(bytes) ? true : null;
    });
  });

  it('ends a kill -9 of a holder during an upload in one whole version', async () => {
    const name = 'killed.bin';
    const url = `${cluster.url(followers[0] as string)}/v1/blobs/${name}`;
    const before = randomBytes(1024 * 1024);
    assert.equal((await request('PUT', url, before)).status, 201);
    const file = join(cluster.root, 'killed.bin');
    writeFileSync(file, randomBytes(64 * 1024 * 1024));
    const upload = request(
      'PUT',
      url,
      createReadStream(file, { highWaterMark: 256 * 1024 }),
      {},
      true,
    );
    await sleep(300);
    const victim = followers[1] as string;
    await cluster.kill(victim);
    const answer = await upload;
    const after = await request('GET', `${cluster.url(leader)}/v1/blobs/${name}`, null);
    assert.equal(after.status, 200);
    const whole = createHash('sha256').update(readFileSyncBytes(file)).digest('hex');
    if (answer.status === 201) assert.equal(after.sha256, whole);
    else assert.equal(after.sha256, sha256(before));
    cluster.start(victim);
    await cluster.up(victim);
  });

  it('takes a resumable upload chunk by chunk, to any node, in any order, retried', async () => {
    const name = 'resumable.bin';
    const bytes = randomBytes(20 * 1024 * 1024);
    const nodes = cluster.nodes.map((node) => node.id);
    const begin = await call(
      'POST',
      `${cluster.url(followers[0] as string)}/v1/blobs/${name}/uploads`,
    );
    assert.equal(begin.status, 201, JSON.stringify(begin.body));
    const id = begin.body.uploadId as string;
    const chunkBytes = begin.body.chunkBytes as number;
    const pieces = [0, 1, 2].map((n) => bytes.subarray(n * chunkBytes, (n + 1) * chunkBytes));
    const chunkUrl = (node: string, n: number) =>
      `${cluster.url(node)}/v1/blobs/${name}/uploads/${id}/chunks/${n}`;
    // A chunk whose SHA-256 is not the one sent is refused, and nothing is kept of it.
    const wrong = await request(
      'PUT',
      chunkUrl(leader, 2),
      pieces[2] as Buffer,
      {
        'x-tandem-sha256': sha256(pieces[1] as Buffer),
      },
      true,
    );
    assert.equal(wrong.status, 400, wrong.body?.toString());
    for (const n of [2, 0, 1, 0]) {
      const put = await request(
        'PUT',
        chunkUrl(nodes[n % 3] as string, n),
        pieces[n] as Buffer,
        {
          'x-tandem-sha256': sha256(pieces[n] as Buffer),
        },
        true,
      );
      assert.equal(put.status, 200, put.body?.toString());
    }
    // Nothing is visible before the upload completes.
    assert.equal(
      (await request('GET', `${cluster.url(leader)}/v1/blobs/${name}`, null)).status,
      404,
    );
    const complete = await call(
      'POST',
      `${cluster.url(followers[1] as string)}/v1/blobs/${name}/uploads/${id}/complete`,
      { sha256: sha256(bytes) },
    );
    assert.equal(complete.status, 201, JSON.stringify(complete.body));
    assert.equal(complete.body.sha256, sha256(bytes));
    for (const node of nodes) {
      const got = await request('GET', `${cluster.url(node)}/v1/blobs/${name}`, null);
      assert.equal(got.sha256, sha256(bytes), `${node} served other bytes`);
    }
    const again = await call(
      'POST',
      `${cluster.url(leader)}/v1/blobs/${name}/uploads/${id}/complete`,
      {},
    );
    assert.equal(again.status, 404);
  });

  it('aborts a resumable upload, and refuses to complete one with a gap', async () => {
    const name = 'aborted.bin';
    const begin = await call('POST', `${cluster.url(leader)}/v1/blobs/${name}/uploads`);
    const id = begin.body.uploadId as string;
    const chunkBytes = begin.body.chunkBytes as number;
    const put = await request(
      'PUT',
      `${cluster.url(leader)}/v1/blobs/${name}/uploads/${id}/chunks/1`,
      randomBytes(chunkBytes),
    );
    assert.equal(put.status, 200);
    const gap = await call(
      'POST',
      `${cluster.url(leader)}/v1/blobs/${name}/uploads/${id}/complete`,
      {},
    );
    assert.equal(gap.status, 400, JSON.stringify(gap.body));
    const abort = await request(
      'DELETE',
      `${cluster.url(followers[0] as string)}/v1/blobs/${name}/uploads/${id}`,
      null,
    );
    assert.equal(abort.status, 204);
    const late = await call(
      'POST',
      `${cluster.url(leader)}/v1/blobs/${name}/uploads/${id}/complete`,
      {},
    );
    assert.equal(late.status, 404);
  });

  it('refuses an upload whose holders are down, cleanly, and keeps serving', async () => {
    const down = followers[1] as string;
    await cluster.stop(down);
    try {
      const url = `${cluster.url(leader)}/v1/blobs/refused.bin?ack=sync`;
      const put = await request('PUT', url, randomBytes(48 * 1024 * 1024), {}, true);
      assert.equal(put.status, 503, put.body?.toString());
      assert.match((put.body as Buffer).toString(), /TANDEM_REPLICA_UNAVAILABLE/);
      const gone = await request('GET', `${cluster.url(leader)}/v1/blobs/refused.bin`, null);
      assert.equal(gone.status, 404);
      const other = await request(
        'PUT',
        `${cluster.url(leader)}/v1/blobs/after.bin`,
        Buffer.from('ok'),
      );
      assert.equal(other.status, 201);
    } finally {
      cluster.start(down);
      await cluster.up(down);
    }
  });

  it('lets one of two uploads with the same If-Match win', async () => {
    const name = 'race.bin';
    const url = `${cluster.url(leader)}/v1/blobs/${name}`;
    const put = await request('PUT', url, Buffer.from('v1'), {}, true);
    const etag = put.headers.etag as string;
    const [a, b] = await Promise.all([
      request('PUT', url, randomBytes(200_000), { 'if-match': etag }, true),
      request(
        'PUT',
        `${cluster.url(followers[0] as string)}/v1/blobs/${name}`,
        randomBytes(200_000),
        { 'if-match': etag },
        true,
      ),
    ]);
    assert.deepEqual(
      [a.status, b.status].sort(),
      [201, 412],
      `${a.body?.toString()} ${b.body?.toString()}`,
    );
  });
});

describe('large objects when a holder leaves the cluster for good', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({
      nodes: 4,
      extraArgs: () => ['--blob-replicas', '2', '--blob-repair-ms', '1000'],
    });
    cluster.startAll();
    await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('places the chunks of a removed holder on another voter, which fetches them', async () => {
    const leader = await cluster.leader();
    const bytes = randomBytes(2 * 1024 * 1024);
    const put = await request('PUT', `${cluster.url(leader)}/v1/blobs/moved.bin`, bytes, {}, true);
    assert.equal(put.status, 201, put.body?.toString());
    const before = await call('GET', `${cluster.url(leader)}/v1/blobs/moved.bin/meta`);
    const holders = (before.body.chunks as { holders: string[] }[])[0]?.holders as string[];
    assert.equal(holders.length, 2);
    const departing = holders.find((id) => id !== leader) as string;
    const removed = await call('DELETE', `${cluster.url(leader)}/v1/cluster/members/${departing}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const moved = await until('the leader re-placed the chunk', async () => {
      const meta = await call('GET', `${cluster.url(leader)}/v1/blobs/moved.bin/meta`);
      const now = (meta.body.chunks as { holders: string[] }[])[0]?.holders as string[];
      return now.length === 2 && !now.includes(departing) ? now : null;
    });
    const newcomer = moved.find((id) => !holders.includes(id)) as string;
    assert.ok(newcomer !== undefined, `new holders ${moved.join(', ')}`);
    await until(`${newcomer} fetched the chunk`, async () => {
      const local = await request(
        'GET',
        `${cluster.url(newcomer)}/v1/blobs/moved.bin?source=local`,
        null,
      );
      return local.status === 200 && local.sha256 === sha256(bytes) ? true : null;
    });
  });
});

function readFileSyncBytes(path: string): Buffer {
  const fd = openSync(path, 'r');
  const parts: Buffer[] = [];
  const buffer = Buffer.alloc(1024 * 1024);
  for (;;) {
    const read = readSync(fd, buffer, 0, buffer.length, null);
    if (read === 0) break;
    parts.push(Buffer.from(buffer.subarray(0, read)));
  }
  closeSync(fd);
  return Buffer.concat(parts);
}
