// A node's chunk files on real files: durable content-addressed writes, hash checks on every
// read, quarantine of corrupt chunks, deletes that wait for reads, and the paced scrubber.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ChunkStore } from '../../src/blobs/chunk-store.js';
import type { ChunkId } from '../../src/blobs/contract.js';
import { TandemError } from '../../src/core/errors.js';

/** Runs `body` with a fresh directory, removed afterwards whatever happens. */
async function withDirectory(body: (root: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tandem-chunks-'));
  try {
    await body(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Random bytes and the id they are stored under. */
function chunkOf(bytes: number, version = 1): { id: ChunkId; data: Buffer } {
  const data = randomBytes(bytes);
  return { id: { hash: createHash('sha256').update(data).digest('hex'), version }, data };
}

function fileOf(root: string, id: ChunkId): string {
  return join(root, id.hash.slice(0, 2), `${id.hash}.${id.version}`);
}

/** Every file under `root`, as paths relative to it. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(root.length + 1))
    .sort();
}

/** Flips one bit of the byte at `offset` in place, as a failing disk might. */
function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    byte[0] = (byte[0] as number) ^ 0x01;
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

function isTandemError(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof TandemError, String(error));
    assert.equal(error.code, code);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

describe('ChunkStore', () => {
  it('reads back exactly the bytes written, from a content-addressed file', async () => {
    // Goal: a written chunk is on disk under <hash[0..2]>/<hash>.<version> and reads back intact.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const { id, data } = chunkOf(100_000, 7);
      await store.write(id, data);
      assert.ok(existsSync(fileOf(root, id)));
      assert.equal(store.has(id), true);
      assert.equal(store.bytesOf(id), data.length);
      assert.deepEqual(await store.read(id), data);
      assert.equal(await store.read({ hash: id.hash, version: 8 }), null);
      assert.equal(store.bytesOf({ hash: id.hash, version: 8 }), null);
      assert.deepEqual(store.stats(), { chunks: 1, bytes: data.length });
      assert.deepEqual(filesUnder(root), [`${id.hash.slice(0, 2)}/${id.hash}.7`]);
      await store.close();
    });
  });

  it('refuses bytes that do not match their hash and writes nothing', async () => {
    // Goal: a chunk is only ever stored under the SHA-256 of its bytes.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const { id } = chunkOf(1000);
      const other = randomBytes(1000);
      const actual = createHash('sha256').update(other).digest('hex');
      await assert.rejects(
        store.write(id, other),
        isTandemError('TANDEM_CORRUPT', new RegExp(`${actual}.*expected ${id.hash}`)),
      );
      assert.equal(store.has(id), false);
      assert.deepEqual(readdirSync(root), []);
      await store.close();
    });
  });

  it('refuses a chunk larger than chunkBytesMax', async () => {
    // Goal: the limit on one chunk (and so on one read's memory) holds for writes.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root, { chunkBytesMax: 1024 });
      const { id, data } = chunkOf(1025);
      await assert.rejects(store.write(id, data), isTandemError('TANDEM_ENTRY_TOO_LARGE', /1025/));
      assert.deepEqual(readdirSync(root), []);
      const fits = chunkOf(1024);
      await store.write(fits.id, fits.data);
      assert.equal(store.has(fits.id), true);
      await store.close();
    });
  });

  it('treats a rewrite as done and shares concurrent writes of one chunk', async () => {
    // Goal: a retried or duplicated write succeeds without a second file or a second index entry.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const { id, data } = chunkOf(50_000);
      await Promise.all([store.write(id, data), store.write(id, data), store.write(id, data)]);
      await store.write(id, data);
      assert.deepEqual(store.stats(), { chunks: 1, bytes: data.length });
      assert.deepEqual(filesUnder(root), [`${id.hash.slice(0, 2)}/${id.hash}.1`]);
      assert.deepEqual(await store.read(id), data);
      await store.close();
    });
  });

  it('lists its chunks sorted by hash and then version', async () => {
    // Goal: the inventory is complete and in a stable order, versions compared as numbers.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const chunks = [chunkOf(10), chunkOf(20), chunkOf(30)];
      const first = chunks[0] as { id: ChunkId; data: Buffer };
      const ids: ChunkId[] = [
        ...chunks.map((chunk) => chunk.id),
        { hash: first.id.hash, version: 10 },
        { hash: first.id.hash, version: 9 },
      ];
      for (const id of ids) {
        await store.write(id, chunks.find((chunk) => chunk.id.hash === id.hash)?.data as Buffer);
      }
      const expected = [...ids].sort((a, b) =>
        a.hash === b.hash ? a.version - b.version : a.hash < b.hash ? -1 : 1,
      );
      assert.deepEqual(store.inventory(), expected);
      assert.deepEqual(store.stats(), { chunks: 5, bytes: 10 * 3 + 20 + 30 });
      await store.close();
    });
  });

  it('finds its chunks again at open and removes temporary files of interrupted writes', async () => {
    // Goal: the index is rebuilt from the directories; a torn write never shows as a chunk.
    await withDirectory(async (root) => {
      const first = await ChunkStore.open(root);
      const a = chunkOf(3000, 2);
      const b = chunkOf(4000, 5);
      await first.write(a.id, a.data);
      await first.write(b.id, b.data);
      await first.close();
      const temporary = `${fileOf(root, a.id).replace(/\.2$/, '.3')}.tmp-0123abcd`;
      writeFileSync(temporary, a.data.subarray(0, 100));
      const unrelated = join(root, a.id.hash.slice(0, 2), 'notes.txt');
      writeFileSync(unrelated, 'left alone');

      const second = await ChunkStore.open(root);
      assert.equal(existsSync(temporary), false);
      assert.equal(existsSync(unrelated), true);
      assert.equal(second.has({ hash: a.id.hash, version: 3 }), false);
      const expected = [a.id, b.id].sort((x, y) => (x.hash < y.hash ? -1 : 1));
      assert.deepEqual(second.inventory(), expected);
      assert.deepEqual(second.stats(), { chunks: 2, bytes: 7000 });
      assert.equal(second.bytesOf(b.id), 4000);
      assert.deepEqual(await second.read(a.id), a.data);
      assert.deepEqual(await second.read(b.id), b.data);
      await second.close();
    });
  });

  it('never serves a chunk with a flipped byte: it is deleted and reported', async () => {
    // Goal: a read checks the hash; a corrupt chunk leaves the index and the disk, and the
    // owner is told so that it can fetch a good copy.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const reported: ChunkId[] = [];
      store.onCorrupt = (id) => reported.push(id);
      const bad = chunkOf(10_000);
      const good = chunkOf(10_000);
      await store.write(bad.id, bad.data);
      await store.write(good.id, good.data);
      flipByte(fileOf(root, bad.id), 4321);

      assert.equal(await store.read(bad.id), null);
      assert.deepEqual(reported, [bad.id]);
      assert.equal(existsSync(fileOf(root, bad.id)), false);
      assert.equal(store.has(bad.id), false);
      assert.equal(store.corruptFound, 1);
      assert.deepEqual(store.stats(), { chunks: 1, bytes: 10_000 });
      assert.equal(await store.read(bad.id), null);
      assert.equal(store.corruptFound, 1, 'an absent chunk is not corrupt again');

      // A fresh copy can be written under the same name once the bad one is gone.
      await store.write(bad.id, bad.data);
      assert.deepEqual(await store.read(bad.id), bad.data);
      assert.deepEqual(await store.read(good.id), good.data);
      await store.close();
    });
  });

  it('treats a truncated chunk file as corrupt', async () => {
    // Goal: a file whose size is not the indexed one is never served.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const reported: ChunkId[] = [];
      store.onCorrupt = (id) => reported.push(id);
      const { id, data } = chunkOf(5000);
      await store.write(id, data);
      truncateSync(fileOf(root, id), 4999);
      assert.equal(await store.read(id), null);
      assert.deepEqual(reported, [id]);
      assert.equal(existsSync(fileOf(root, id)), false);
      await store.close();
    });
  });

  it('deletes at once from the index but unlinks only after the reads in progress', async () => {
    // Goal: a delete never cuts short a read that began; the file goes when the read ends.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const { id, data } = chunkOf(200_000);
      await store.write(id, data);
      const reading = store.read(id);
      assert.equal(await store.delete(id), true);
      assert.equal(store.has(id), false);
      assert.equal(await store.read(id), null, 'a read begun after the delete finds nothing');
      assert.ok(existsSync(fileOf(root, id)), 'the file waits for the read in progress');
      assert.deepEqual(await reading, data);
      assert.equal(existsSync(fileOf(root, id)), false);
      assert.equal(await store.delete(id), false);
      assert.deepEqual(store.stats(), { chunks: 0, bytes: 0 });
      await store.close();
    });
  });

  it('unlinks a chunk that no one is reading as it is deleted', async () => {
    // Goal: a plain delete removes the file before it resolves, and the chunk stays gone at reopen.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const { id, data } = chunkOf(1000);
      await store.write(id, data);
      assert.equal(await store.delete(id), true);
      assert.equal(existsSync(fileOf(root, id)), false);
      await store.close();
      const reopened = await ChunkStore.open(root);
      assert.deepEqual(reopened.inventory(), []);
      await reopened.close();
    });
  });

  it('scrubs every chunk, quarantines the corrupt one, and keeps to its rate', async () => {
    // Goal: the scrubber finds corruption no read has touched yet, and paces itself.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      const reported: ChunkId[] = [];
      store.onCorrupt = (id) => reported.push(id);
      const chunks = Array.from({ length: 4 }, () => chunkOf(2000));
      for (const { id, data } of chunks) await store.write(id, data);
      const bad = chunks[2] as { id: ChunkId; data: Buffer };
      flipByte(fileOf(root, bad.id), 0);

      const seen: [ChunkId, boolean][] = [];
      const startedAtMs = performance.now();
      // 8000 bytes at 20000 bytes a second take 400 ms; only a generous floor is asserted.
      const result = await store.scrub({
        bytesPerSecondMax: 20_000,
        onChunk: (id, ok) => seen.push([id, ok]),
      });
      const elapsedMs = performance.now() - startedAtMs;
      assert.deepEqual(result, { checked: 4, corrupt: 1 });
      assert.ok(elapsedMs >= 250, `the scrub took only ${elapsedMs} ms`);
      assert.equal(seen.length, 4);
      assert.deepEqual(
        seen.filter(([, ok]) => !ok).map(([id]) => id),
        [bad.id],
      );
      assert.deepEqual(reported, [bad.id]);
      assert.equal(store.corruptFound, 1);
      assert.equal(store.has(bad.id), false);
      assert.equal(existsSync(fileOf(root, bad.id)), false);
      for (const { id, data } of chunks.filter((chunk) => chunk !== bad)) {
        assert.deepEqual(await store.read(id), data);
      }
      await store.close();
    });
  });

  it('stops a scrub when its signal aborts', async () => {
    // Goal: the owner can stop a slow pass (at shutdown) without waiting for it to finish.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(root);
      for (let i = 0; i < 3; i++) {
        const { id, data } = chunkOf(1000);
        await store.write(id, data);
      }
      const controller = new AbortController();
      let checked = 0;
      const startedAtMs = performance.now();
      // At 100 bytes a second the whole pass would take 30 s.
      const scrubbing = store.scrub({
        bytesPerSecondMax: 100,
        signal: controller.signal,
        onChunk: () => {
          checked += 1;
          if (checked === 1) controller.abort(new Error('shutting down'));
        },
      });
      await assert.rejects(scrubbing, /shutting down/);
      assert.equal(checked, 1);
      assert.ok(performance.now() - startedAtMs < 10_000);
      await store.close();
    });
  });

  it('refuses malformed chunk ids before they can name a file', async () => {
    // Goal: ids come from the network; none may escape the store's directory.
    await withDirectory(async (root) => {
      const store = await ChunkStore.open(join(root, 'chunks'));
      const { id, data } = chunkOf(100);
      const bad: ChunkId[] = [
        { hash: '../x', version: 1 },
        { hash: `../../${id.hash.slice(6)}`, version: 1 },
        { hash: id.hash.slice(1), version: 1 },
        { hash: id.hash.toUpperCase(), version: 1 },
        { hash: id.hash, version: 0 },
        { hash: id.hash, version: -1 },
        { hash: id.hash, version: 1.5 },
        { hash: id.hash, version: Number.MAX_SAFE_INTEGER + 1 },
      ];
      for (const badId of bad) {
        await assert.rejects(store.write(badId, data), isTandemError('TANDEM_BAD_REQUEST'));
        await assert.rejects(store.read(badId), isTandemError('TANDEM_BAD_REQUEST'));
        await assert.rejects(store.delete(badId), isTandemError('TANDEM_BAD_REQUEST'));
        assert.throws(() => store.has(badId), isTandemError('TANDEM_BAD_REQUEST'));
      }
      assert.deepEqual(readdirSync(root), ['chunks']);
      assert.deepEqual(readdirSync(join(root, 'chunks')), []);
      await store.close();
    });
  });
});
