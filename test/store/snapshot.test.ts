import { crc32c } from '@node-rs/crc32';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Entry } from '../../src/core/types.js';
import type { StoreSnapshot } from '../../src/store/contract.js';
import { snapshotChunkBytes } from '../../src/store/snapshot-images.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import {
  asText,
  applyCommands,
  checksummedGarbage,
  collect,
  dump,
  isCorrupt,
  openStore,
  replay,
  tempDirectory,
  TestLog,
} from './helpers.js';

const at = 1_000;

/** `bytes` with the meta of an honest checksum, at `index` and `term`. */
function checksummed(
  bytes: Buffer,
  index: number,
  term: number,
): { meta: { index: number; term: number; checksum: string }; data: Uint8Array } {
  const checksum = (crc32c(bytes) >>> 0).toString(16).padStart(8, '0');
  return { meta: { index, term, checksum }, data: bytes };
}

/** Entries that build about 1 MiB of keys and a SQL table: a file of several chunks. */
function workload(log: TestLog, count: number): Entry[] {
  const entries: Entry[] = [
    log.command({
      type: 'sql',
      statements: [
        { sql: 'CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT)' },
      ],
    }),
  ];
  for (let i = 0; i < count; i++) {
    const body = `${i}:`.padEnd(500, 'x');
    entries.push(
      i % 2 === 0
        ? log.command({
            type: 'set',
            key: `k${i}`,
            value: body,
            at,
            expiresAt: i % 10 === 0 ? at + i : null,
          })
        : log.command({
            type: 'sql',
            statements: [{ sql: 'INSERT INTO events (body) VALUES (?)', params: [body] }],
          }),
    );
  }
  return entries;
}

/** A store holding other content, to show that a refused restore leaves it as it was. */
function otherStore(t: TestContext): SqliteStore {
  const store = openStore(t, 'other.db');
  applyCommands(store, new TestLog(), { type: 'set', key: 'mine', value: 'untouched', at });
  return store;
}

function snapshotFiles(store: SqliteStore): string[] {
  return readdirSync(`${store.path}-snapshots`);
}

test('a snapshot restored into another store reproduces its content and applied position', async (t) => {
  // Goal: snapshot then restore gives an identical dump and applied position, over
  // several bounded chunks, replacing whatever the target held before.
  const source = openStore(t);
  const log = new TestLog(0, 2);
  source.apply(workload(log, 2000));
  const snapshot = await source.snapshot();
  t.after(() => snapshot.dispose());
  assert.deepEqual({ index: snapshot.index, term: snapshot.term }, source.applied);
  assert.match(snapshot.checksum, /^[0-9a-f]{8}$/);

  const chunks = await collect(snapshot.chunks());
  assert.ok(chunks.length > 1, 'the image spans several chunks');
  assert.ok(chunks.every((chunk) => chunk.byteLength <= snapshotChunkBytes));
  assert.equal(
    chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0),
    snapshot.bytes,
  );

  const target = otherStore(t);
  await target.restore(snapshot, snapshot.chunks());
  assert.deepEqual(target.applied, source.applied);
  assert.equal(dump(target), dump(source));
  assert.equal(asText(target).get('mine', at), null);
  // The restored store goes on applying from the snapshot's index.
  applyCommands(target, log, { type: 'incrby', key: 'after', by: 1, at });
  assert.equal(asText(target).get('after', at)?.version.index, snapshot.index + 1);

  await snapshot.dispose();
  assert.deepEqual(snapshotFiles(source), [], 'dispose removes the image');
  assert.deepEqual(snapshotFiles(target), [], 'the received image was renamed into place');
});

test('a restore of a damaged or mislabelled image is refused and changes nothing', async (t) => {
  // Goal: a flipped bit, a truncated stream, a wrong index or term, and bytes that are not
  // a store are each refused with TANDEM_CORRUPT naming what differed, before the target
  // is touched, and leave no file behind.
  const source = openStore(t);
  source.apply(workload(new TestLog(0, 3), 200));
  const snapshot = await source.snapshot();
  t.after(() => snapshot.dispose());
  const chunks = await collect(snapshot.chunks());
  const target = otherStore(t);
  const before = dump(target);
  const meta = { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum };

  const flipped = chunks.map((chunk) => Uint8Array.from(chunk));
  (flipped[0] as Uint8Array)[5000] ^= 0x10;
  await assert.rejects(
    target.restore(meta, replay(flipped)),
    isCorrupt(/checksum mismatch: expected/),
  );
  await assert.rejects(
    target.restore(meta, replay(chunks.slice(0, -1))),
    isCorrupt(/checksum mismatch/),
  );
  await assert.rejects(
    target.restore({ ...meta, index: meta.index + 1 }, replay(chunks)),
    isCorrupt(
      new RegExp(`image is at index ${meta.index} term 3, but was sent as index ${meta.index + 1}`),
    ),
  );
  await assert.rejects(
    target.restore({ ...meta, term: 4 }, replay(chunks)),
    isCorrupt(/term 3, but was sent as .* term 4/),
  );
  const garbage = checksummedGarbage('not a database at all, but checksummed honestly');
  await assert.rejects(
    target.restore(garbage.meta, replay([garbage.data])),
    isCorrupt(/not a Tandem store/),
  );
  await assert.rejects(
    target.restore({ ...meta, checksum: 'XYZ' }, replay(chunks)),
    isCorrupt(/impossible snapshot meta/),
  );

  assert.equal(dump(target), before);
  assert.deepEqual(target.applied, { index: 1, term: 1 });
  assert.deepEqual(snapshotFiles(target), []);
  await target.restore(meta, replay(chunks)); // the intact stream still restores
  assert.equal(dump(target), dump(source));
});

test('a memory image damaged under an honest checksum is refused, never read past its end', async (t) => {
  // Goal: the image reader checks every length itself: an image cut short anywhere, or
  // with a byte changed anywhere, and checksummed again, restores whole or is refused
  // with TANDEM_CORRUPT; it never throws anything else, and a refusal changes nothing.
  const source = openStore(t);
  const log = new TestLog(0, 2);
  applyCommands(
    source,
    log,
    { type: 'sql', statements: [{ sql: 'CREATE TABLE t (x)' }] },
    { type: 'set', key: 'plain', value: 'v', at },
    { type: 'set', key: 'expiring', value: 'w', at, expiresAt: at + 10_000 },
    { type: 'incrby', key: 'counter', by: 300, at },
  );
  const snapshot = await source.snapshot();
  const image = Buffer.concat(await collect(snapshot.chunks()));
  await snapshot.dispose();
  const directory = tempDirectory(t);
  const restoreDamaged = async (bytes: Buffer): Promise<void> => {
    const { meta, data } = checksummed(bytes, snapshot.index, snapshot.term);
    const target = SqliteStore.open(path.join(directory, 'target.db'));
    try {
      applyCommands(target, new TestLog(), { type: 'set', key: 'mine', value: 'kept', at });
      const before = dump(target);
      await target.restore(meta, replay([data])).catch((error: unknown) => {
        assert.ok(isCorrupt(/./)(error), `not TANDEM_CORRUPT: ${String(error)}`);
        assert.equal(dump(target), before);
      });
    } finally {
      target.close();
    }
  };
  const tail = image.byteLength - 120; // the key records, after the SQL database
  for (let length = tail; length < image.byteLength; length++) {
    await restoreDamaged(image.subarray(0, length));
  }
  for (let at = tail; at < image.byteLength; at++) {
    for (const change of [0x01, 0x80, 0xff]) {
      const damaged = Buffer.from(image);
      damaged[at] = (damaged[at] as number) ^ change;
      await restoreDamaged(damaged);
    }
  }
  for (const at of [0, 8, 16, 33, 40, 48]) {
    const damaged = Buffer.from(image);
    damaged[at] = (damaged[at] as number) ^ 0x40;
    await restoreDamaged(damaged);
  }
  const target = otherStore(t);
  await target.restore(
    { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
    replay([image]),
  );
  assert.equal(dump(target), dump(source));
});

test('a snapshot taken while applies continue matches its own index', async (t) => {
  // Goal: the image is consistent: it holds exactly the entries up to the index applied
  // when it was taken, though batches were applied while it was being written.
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  const entries = workload(log, 6000);
  const batch = 64;
  let applied = 0;
  const applyNext = (): void => {
    source.apply(entries.slice(applied, applied + batch));
    applied += batch;
  };
  while (applied < 2000) applyNext();
  const startedAt = source.applied.index;

  let snapshot: StoreSnapshot | undefined;
  const taking = source.snapshot().then((taken) => (snapshot = taken));
  while (snapshot === undefined && applied < entries.length) {
    applyNext();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await taking;
  assert.ok(snapshot !== undefined);
  t.after(() => snapshot?.dispose());
  assert.ok(source.applied.index > startedAt, 'applies ran while the image was written');
  assert.equal(snapshot.index, startedAt);

  const restored = SqliteStore.open(path.join(directory, 'restored.db'));
  t.after(() => restored.close());
  await restored.restore(snapshot, snapshot.chunks());
  const reference = SqliteStore.open(path.join(directory, 'reference.db'));
  t.after(() => reference.close());
  reference.apply(entries.slice(0, snapshot.index));
  assert.equal(dump(restored), dump(reference));
});

test('a reopened store clears images left by a previous process', async (t) => {
  // Goal: snapshot images are transient; a crash cannot make them pile up.
  const file = path.join(tempDirectory(t), 'store.db');
  let store = SqliteStore.open(file);
  applyCommands(store, new TestLog(), { type: 'set', key: 'k', value: 'v', at });
  await store.snapshot(); // never disposed, as if the process died
  assert.equal(snapshotFiles(store).length, 1);
  store.close();
  store = SqliteStore.open(file);
  t.after(() => store.close());
  assert.deepEqual(snapshotFiles(store), []);
});
