// The store operations of the sixteen databases (databases.ts): FLUSHDB of one database,
// SWAPDB, MOVE, and DBSIZE, KEYS, SCAN, RANDOMKEY and INFO keyspace kept to one database,
// on the in-memory namespace and on PostgreSQL, with the same results and contents.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { databasePrefix, storedKey, systemDatabase, systemKey } from '../../src/store/databases.js';
import type { NodeStore } from '../../src/store/contract.js';
import { keyContent, postgresSkipReason, stopServer, Twins } from './postgres-helpers.js';
import { openStore, TestLog, type TextCommand } from './helpers.js';

const skip = postgresSkipReason();
const at = 1_000;
after(stopServer);

/** Key `name` of database `db`, stored form. */
function k(db: number, name: string): Buffer {
  return storedKey(db, Buffer.from(name));
}

/** Keys of every type in databases 0, 1 and 2, one with an expiry, one already expired. */
function seed(): TextCommand[] {
  return [
    { type: 'set', key: k(0, 's'), value: 'zero', at },
    { type: 'set', key: k(1, 's'), value: 'one', at, expiresAt: at + 10_000 },
    { type: 'set', key: k(1, 'gone'), value: 'x', at, expiresAt: at + 1 },
    { type: 'hset', key: k(1, 'h'), pairs: [['f', 'v']], at },
    { type: 'lpush', key: k(2, 'l'), elements: ['a', 'b'], end: 'left', at },
    { type: 'sadd', key: k(2, 'set'), members: ['m'], at },
    { type: 'zadd', key: k(1, 'z'), pairs: [['1', 'm']], at },
  ];
}

/** What each database holds, read through the per-database reads. */
async function perDatabase(store: NodeStore, nowMs: number): Promise<unknown[]> {
  const answers: unknown[] = [];
  for (const db of [0, 1, 2]) {
    const keys = (await store.keys(Buffer.from('*'), nowMs, db)).map(String);
    const scanned = (await store.scan(0, { count: 1000, db }, nowMs)).keys.map(String).sort();
    const stats = await store.keyspaceStats(nowMs, db);
    answers.push([db, await store.dbsize(nowMs, db), keys, scanned, stats.keys, stats.expires]);
  }
  return answers;
}

test(
  'FLUSHDB, SWAPDB and MOVE change only the databases they name, on both stores',
  { skip },
  async (t) => {
    // Goal: the new operations mean the same on PostgreSQL as in memory, in one batch and
    // one command per batch: a FLUSHDB of database 1 leaves 0 and 2, SWAPDB exchanges two
    // databases' live keys (expired ones go), MOVE answers 0 onto an existing key or from
    // an absent one; the per-database reads keep to their database.
    for (const perBatch of [false, true]) {
      const twins = await Twins.open(t);
      const log = new TestLog();
      const apply = async (...commands: TextCommand[]): Promise<unknown[]> => {
        if (!perBatch) return await twins.apply(commands.map((c) => log.command(c)));
        const results: unknown[] = [];
        for (const c of commands) results.push(...(await twins.apply([log.command(c)])));
        return results;
      };
      await apply(...seed());
      const before = await twins.read((store) => perDatabase(store, at + 2));
      assert.deepEqual(before, [
        [0, 1, ['s'].map((n) => k(0, n).toString()), ['s'], 1, 0],
        [
          1,
          3,
          ['h', 's', 'z'].map((n) => k(1, n).toString()).sort(),
          ['h', 's', 'z'].map((n) => k(1, n).toString()).sort(),
          3,
          1,
        ],
        [
          2,
          2,
          ['l', 'set'].map((n) => k(2, n).toString()).sort(),
          ['l', 'set'].map((n) => k(2, n).toString()).sort(),
          2,
          0,
        ],
      ]);

      const moved = await apply(
        { type: 'rename', key: k(0, 's'), destination: k(1, 's'), condition: 'move', at: at + 2 },
        {
          type: 'rename',
          key: k(0, 'none'),
          destination: k(3, 'none'),
          condition: 'move',
          at: at + 2,
        },
        { type: 'rename', key: k(2, 'l'), destination: k(3, 'l'), condition: 'move', at: at + 2 },
        { type: 'swapdb', a: 1, b: 0, at: at + 2 },
        { type: 'set', key: k(1, 'after'), value: 'swap', at: at + 2 },
        { type: 'flush', db: 2, at: at + 2 },
        { type: 'set', key: k(2, 'new'), value: 'after flush', at: at + 2 },
      );
      assert.deepEqual(
        moved.map((r) => (r as { value: unknown }).value),
        [0, 0, 1, 'OK', 'OK', 'OK', 'OK'],
      );
      const content = await twins.read((store) => keyContent(store));
      assert.deepEqual(
        (content as [Buffer][]).map(([key]) => key.toString('latin1')).sort(),
        [
          's',
          'h',
          'z', // database 1's live keys, now 0's
          k(1, 's').toString('latin1'), // database 0's s, now 1's
          k(1, 'after').toString('latin1'),
          k(2, 'new').toString('latin1'),
          k(3, 'l').toString('latin1'),
        ].sort(),
      );
      const swapped = await twins.read((store) => store.get(Buffer.from('s'), at + 2));
      assert.equal(String(swapped?.value), 'one', 'database 1 s is database 0 s');
      assert.equal(swapped?.expiresAt, at + 10_000, 'with its expiry');
      for (const store of [twins.sqlite, twins.postgres]) {
        // Each store draws its own: a key of the database asked for, whichever it is.
        for (const db of [0, 1, 2, 3]) {
          const key = await store.randomKey(at + 2, db);
          assert.ok(key !== null, `database ${db} has a key`);
          const prefix = db === 0 ? null : databasePrefix(db);
          assert.ok(
            prefix === null ? key[0] !== 0xff : key.subarray(0, prefix.length).equals(prefix),
            `${key.toString('hex')} is of database ${db}`,
          );
        }
      }
      assert.equal(
        await twins.read((store) => store.randomKey(at + 2, 9)),
        null,
        'database 9 is empty',
      );
      await apply({ type: 'flush', db: 0, at: at + 2 });
      assert.equal(await twins.read((store) => store.dbsize(at + 2, 0)), 0);
      assert.equal(
        await twins.read((store) => store.dbsize(at + 2)),
        4,
        'databases 1 (two keys), 2 and 3 keep theirs',
      );
      await twins.close();
    }
  },
);

test('SWAPDB in memory is O(n) renames that keep each value whole', (t) => {
  // Goal: without PostgreSQL too, a swap of two databases holding the same names moves
  // every type's content across and back (a swap twice is no change but the versions).
  const store = openStore(t);
  const log = new TestLog();
  store.apply(seed().map((c) => log.command(c)));
  store.apply([log.command({ type: 'set', key: k(2, 's'), value: 'two', at })]);
  const before = [1, 2].map((db) => store.keys(Buffer.from('*'), at + 2, db).map(String));
  store.apply([log.command({ type: 'swapdb', a: 1, b: 2, at: at + 2 })]);
  assert.equal(String(store.get(k(2, 's'), at + 2)?.value), 'one');
  assert.equal(String(store.get(k(1, 's'), at + 2)?.value), 'two');
  assert.deepEqual(
    store.hashAll(k(2, 'h'), at + 2).map((pair) => pair.map(String)),
    [['f', 'v']],
  );
  assert.deepEqual(store.listElements(k(1, 'l'), 0, -1, at + 2).map(String), ['b', 'a']);
  store.apply([log.command({ type: 'swapdb', a: 2, b: 1, at: at + 2 })]);
  const after = [1, 2].map((db) => store.keys(Buffer.from('*'), at + 2, db).map(String));
  assert.deepEqual(
    after,
    before.map((keys, i) => keys.filter((key) => i !== 0 || !key.endsWith('gone'))),
  );
});

test(
  'the system database is apart from the sixteen: scanned alone, and kept by FLUSHALL',
  { skip },
  async (t) => {
    // Goal: the blob layer's records (database 17) never show in a client's database, are
    // found by a scan of their own database without walking the others, and outlive
    // FLUSHALL, on both stores alike.
    const twins = await Twins.open(t);
    const log = new TestLog();
    const system = (name: string) => systemKey(Buffer.from(name));
    await twins.apply(
      [
        ...seed(),
        { type: 'set', key: system('blob:a'), value: 'meta-a', at },
        { type: 'set', key: system('upload:u1'), value: 'up', at, expiresAt: at + 10_000 },
        { type: 'set', key: system('upload:u0'), value: 'old', at, expiresAt: at + 1 },
      ].map((c) => log.command(c as TextCommand)),
    );
    const scanSystem = (match: string) =>
      twins.read(async (store) =>
        (
          await store.scan(0, { match: system(match), count: 1000, db: systemDatabase }, at + 5)
        ).keys.map((key) => key.subarray(databasePrefix(systemDatabase).length).toString()),
      );
    assert.deepEqual(await scanSystem('upload:*'), ['upload:u1']);
    assert.deepEqual(await scanSystem('blob:*'), ['blob:a']);
    // A pattern's literal start narrows the scan; what follows it still matches as a glob.
    assert.deepEqual(await scanSystem('blob:?'), ['blob:a']);
    assert.deepEqual(await scanSystem('u[p]load:*'), ['upload:u1']);
    assert.deepEqual(await scanSystem('blob:\\a'), ['blob:a']);
    assert.deepEqual(await scanSystem('blob:a'), ['blob:a']);
    assert.deepEqual(await scanSystem('blob:b*'), []);
    const zero = await twins.read(async (store) => [
      await store.dbsize(at + 5, 0),
      (await store.keys(Buffer.from('*'), at + 5, 0)).map(String),
    ]);
    assert.deepEqual(zero, [1, ['s']]);
    await twins.apply([log.command({ type: 'flush', at: at + 5 } as TextCommand)]);
    assert.deepEqual(await scanSystem('*'), ['blob:a', 'upload:u1']);
    const emptied = await twins.read(async (store) =>
      Promise.all([0, 1, 2].map((db) => store.dbsize(at + 5, db))),
    );
    assert.deepEqual(emptied, [0, 0, 0]);
    await twins.close();
  },
);
