// Sets in both stores: the commands' results and what they leave, the same on SQLite and
// PostgreSQL; a frozen snapshot that no later write reaches; a failed batch undone whole;
// images that keep them, SQLite's own and converted to and from PostgreSQL.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { NodeStore } from '../../src/store/contract.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { drawIndexes, drawSeeded } from '../../src/store/kv-commands.js';
import { loadMemoryImage } from '../../src/store/memory-image.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { SetValue } from '../../src/store/values.js';
import { b, bytesCommand, collect, replay, tempDirectory, TestLog } from './helpers.js';
import type { TextCommand } from './helpers.js';
import { freshDatabase, keyContent, postgresSkipReason, stopServer } from './postgres-helpers.js';

after(stopServer);

const at = 1_000;
const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const members = (...texts: string[]): Buffer[] => texts.map(b);
/** SPOP's seed draws from the set's sequence order: the members it takes from `order`. */
const seeded = (order: string[], count: number, seed: number): Buffer[] =>
  members(...drawSeeded(order, count, seed));

/** A script of commands and the result each must give, and what the keys hold after. */
const script: [TextCommand, unknown][] = [
  [
    { type: 'sadd', key: 'i', members: ['3', '1', '2', '1'], at },
    { ok: true, value: 3 },
  ],
  [
    { type: 'sadd', key: 'i', members: ['2'], at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'sadd', key: 'w', members: ['x', '1', 'y'], at },
    { ok: true, value: 3 },
  ],
  [
    { type: 'srem', key: 'w', members: ['y', 'zz'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'srem', key: 'none', members: ['a'], at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'set', key: 's', value: 'text', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'sadd', key: 's', members: ['a'], at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'append', key: 'i', value: 'x', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'hset', key: 'i', pairs: [['f', 'v']], at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'getdel', key: 'i', at },
    { ok: false, error: wrongType },
  ],
  // SMOVE: an absent source answers 0 before the destination's type is looked at.
  [
    { type: 'smove', key: 'none', destination: 's', member: 'a', at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'smove', key: 'i', destination: 's', member: '1', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'smove', key: 'i', destination: 'i', member: '1', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'smove', key: 'i', destination: 'm', member: '9', at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'smove', key: 'w', destination: 'm', member: '1', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'smove', key: 'w', destination: 'm', member: 'x', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'setstore', operation: 'union', destination: 'u', keys: ['i', 'm', 'none'], at },
    { ok: true, value: 4 },
  ],
  [
    { type: 'setstore', operation: 'inter', destination: 'n', keys: ['i', 'u'], at },
    { ok: true, value: 3 },
  ],
  [
    { type: 'setstore', operation: 'diff', destination: 'd', keys: ['u', 'i'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'setstore', operation: 'inter', destination: 's', keys: ['i', 'none'], at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'setstore', operation: 'union', destination: 'd2', keys: ['i', 'r'], at },
    { ok: true, value: 3 },
  ],
  [
    { type: 'set', key: 'r', value: 'v', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'setstore', operation: 'union', destination: 'd2', keys: ['i', 'r'], at },
    { ok: false, error: wrongType },
  ],
  // SPOP removes the members the leader named, then draws the rest by the seed.
  [
    { type: 'spop', key: 'u', members: ['x', 'gone'], count: 2, seed: 7, at },
    { ok: true, value: [b('x'), ...seeded(['3', '1', '2'], 1, 7)] },
  ],
  [
    { type: 'spop', key: 'none', members: [], count: 3, seed: 1, at },
    { ok: true, value: [] },
  ],
  [
    { type: 'spop', key: 'n', members: [], count: 9, seed: 5, at },
    { ok: true, value: seeded(['3', '1', '2'], 3, 5) },
  ],
  [
    { type: 'spop', key: 's', members: [], count: 1, seed: 5, at },
    { ok: true, value: [] },
  ],
  [
    { type: 'spop', key: 'r', members: [], count: 1, seed: 5, at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'copy', key: 'i', destination: 'i2', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'rename', key: 'i2', destination: 'i3', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'sadd', key: 'e', members: ['a'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'expire', key: 'e', expiresAt: at + 500, at },
    { ok: true, value: 1 },
  ],
  // SADD keeps a live set's expiry; past it the set is absent and SADD makes a new one.
  [
    { type: 'sadd', key: 'e', members: ['b'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'sadd', key: 'x', members: ['a'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'expire', key: 'x', expiresAt: at + 10, at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'sadd', key: 'x', members: ['b'], at: at + 20 },
    { ok: true, value: 1 },
  ],
  // A set made of 513 integers is a hashtable; so is one begun with a word.
  [
    {
      type: 'sadd',
      key: 'big',
      members: Array.from({ length: 513 }, (_, i) => String(i)),
      at,
    },
    { ok: true, value: 513 },
  ],
  // SET replaces a set whatever it held.
  [
    { type: 'sadd', key: 'q', members: ['a'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'set', key: 'q', value: 'plain', at },
    { ok: true, value: 'OK' },
  ],
];

/** Everything the script leaves, as the store's reads answer. */
async function leftBehind(store: NodeStore): Promise<unknown> {
  const types = ['i', 'w', 'm', 'u', 'n', 'd', 's', 'i3', 'e', 'x', 'big', 'q', 'd2'];
  return {
    keys: await keyContent(store),
    types: await Promise.all(types.map((k) => store.type(b(k), at))),
    encodings: await Promise.all(['i', 'm', 'big', 'i3'].map((k) => store.setEncoding(b(k), at))),
    all: await store.setAll(b('i'), at),
    contains: await store.setContains(b('i'), [b('1'), b('9'), b('3')], at),
    size: await store.setSize(b('big'), at),
    ttl: await store.ttlMs(b('e'), at),
    xTtl: await store.ttlMs(b('x'), at + 20),
    scan: await store.setScan(b('i'), 0, { count: 1 }, at),
    page: await store.setScan(b('big'), 0, { count: 2 }, at),
    wrong: await Promise.resolve()
      .then(() => store.get(b('i'), at))
      .then(
        () => 'read',
        (error: Error) => error.message,
      ),
  };
}

const expected = {
  types: [
    'set',
    'none',
    'set',
    'set',
    'none',
    'set',
    'none',
    'set',
    'set',
    'set',
    'set',
    'string',
    'set',
  ],
  encodings: ['intset', 'hashtable', 'hashtable', 'intset'],
  all: members('1', '2', '3'),
  contains: [true, false, true],
  size: 513,
  ttl: 500,
  xTtl: -1,
  // An intset comes whole, ascending, whatever the count; a hashtable by pages.
  scan: { cursor: 0, members: members('1', '2', '3') },
  page: { cursor: 2, members: members('0', '1') },
  wrong: wrongType,
};

async function runScript(store: NodeStore): Promise<unknown> {
  const log = new TestLog();
  const results = [];
  for (const [command] of script) results.push(...(await store.apply([log.command(command)])));
  assert.deepEqual(
    results,
    script.map(([, result]) => result),
  );
  const left = (await leftBehind(store)) as Record<string, unknown>;
  const { keys, ...rest } = left;
  assert.deepEqual(rest, expected);
  return keys;
}

test('the set commands give Redis results and leave the same keys on SQLite and PostgreSQL', async (t) => {
  // Goal: one script of set commands (and other commands on sets) gives the same results on
  // both stores: WRONGTYPE both ways, SMOVE's order of checks, the last member's removal
  // removing the key, the stores' results, SPOP's named and seeded draws, expiry kept by
  // SADD and ended on an expired set, RENAME and COPY of a set, the encodings.
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'sets.db'));
  t.after(() => sqlite.close());
  const sqliteKeys = await runScript(sqlite);
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.diagnostic(`PostgreSQL half skipped: ${skip}`);
    return;
  }
  const postgres = await PostgresStore.open(await freshDatabase(), {
    clusterId: 'sets',
    snapshotsDirectory: path.join(directory, 'pg'),
  });
  try {
    assert.deepEqual(await runScript(postgres), sqliteKeys);
  } finally {
    await postgres.close();
  }
});

/** A keyspace reached through its commands, as a store drives it. */
function apply(keyspace: Keyspace, log: TestLog, command: TextCommand): unknown {
  const entry = log.command(command);
  return keyspace.execute(bytesCommand(command) as never, entry);
}

test('an SADD while a snapshot is frozen changes the live set, never the frozen one', () => {
  // Goal: a frozen snapshot's set stays as it was at the freeze while SADD, SREM and SPOP
  // go on (the live set is copied before its first change after a freeze), through two
  // freezes, and a failed batch's changes to a set are undone whole.
  const keyspace = new Keyspace();
  const log = new TestLog();
  const many = Array.from({ length: 1000 }, (_, i) => `m${i}`);
  apply(keyspace, log, { type: 'sadd', key: 'big', members: many, at });
  const frozen = keyspace.freeze().items[0]?.value as SetValue;
  apply(keyspace, log, { type: 'sadd', key: 'big', members: ['new'], at });
  apply(keyspace, log, { type: 'srem', key: 'big', members: ['m0', 'm1'], at });
  apply(keyspace, log, { type: 'spop', key: 'big', members: ['m2'], count: 1, seed: 0, at });
  assert.equal(frozen.members.size, 1000);
  assert.ok(frozen.members.has('m0') && frozen.members.has('m2') && !frozen.members.has('new'));
  assert.equal(keyspace.setSize(b('big'), at), 998);
  const second = keyspace.freeze().items[0]?.value as SetValue;
  apply(keyspace, log, { type: 'srem', key: 'big', members: ['m3'], at });
  assert.ok(second.members.has('m3'));
  assert.deepEqual(keyspace.setContains(b('big'), [b('m3'), b('new')], at), [false, true]);
  // A batch that fails is undone: members, encoding and the removal of an emptied set.
  apply(keyspace, log, { type: 'sadd', key: 'small', members: ['1', '2'], at });
  keyspace.begin();
  apply(keyspace, log, { type: 'sadd', key: 'small', members: ['word', '3'], at });
  apply(keyspace, log, { type: 'srem', key: 'big', members: ['m4', 'm5'], at });
  apply(keyspace, log, { type: 'spop', key: 'small', members: [], count: 9, seed: 3, at });
  assert.equal(keyspace.type(b('small'), at), 'none');
  keyspace.rollback();
  assert.deepEqual(keyspace.setAll(b('small'), at), members('1', '2'));
  assert.equal(keyspace.setEncoding(b('small'), at), 'intset');
  assert.deepEqual(keyspace.setContains(b('big'), [b('m4'), b('m5')], at), [true, true]);
  assert.equal(keyspace.setSize(b('big'), at), 997);
});

/** The commands whose sets every image below must carry. */
function setEntries(log: TestLog): ReturnType<TestLog['command']>[] {
  const many = Array.from({ length: 600 }, (_, i) => String(i * 7));
  return [
    log.command({ type: 'sadd', key: 'small', members: ['30', '-2', '7'], at }),
    log.command({ type: 'sadd', key: 'big', members: many, at }),
    log.command({ type: 'sadd', key: 'words', members: ['z', 'a', 'm'], at }),
    log.command({ type: 'srem', key: 'words', members: ['a'], at }),
    log.command({ type: 'sadd', key: 'words', members: ['a'], at }),
    log.command({ type: 'expire', key: 'small', expiresAt: at + 5_000, at }),
    log.command({ type: 'set', key: 'str', value: 'v', at }),
  ];
}

/** What every store holding `setEntries` answers. */
async function checkSets(store: NodeStore): Promise<void> {
  assert.deepEqual(await store.setAll(b('small'), at), members('-2', '7', '30'));
  assert.equal(await store.setEncoding(b('small'), at), 'intset');
  assert.equal(await store.setEncoding(b('big'), at), 'hashtable');
  assert.equal(await store.setSize(b('big'), at), 600);
  // A member removed and added again goes last in the sequence order.
  assert.deepEqual(await store.setAll(b('words'), at), members('z', 'm', 'a'));
  assert.equal(await store.ttlMs(b('small'), at), 5_000);
  assert.equal(await store.type(b('str'), at), 'string');
}

test('sets survive a snapshot image and a restart of the store', async (t) => {
  // Goal: a memory image carries sets (members, sequence order, encoding, expiry) into a
  // store restored from it and into the keyspace read back from the file, and the next
  // SPOP draws the same members from either.
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  source.apply(setEntries(log));
  const snapshot = await source.snapshot();
  const target = SqliteStore.open(path.join(directory, 'target.db'));
  t.after(() => target.close());
  await target.restore(
    { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
    replay(await collect(snapshot.chunks())),
  );
  for (const store of [source, target]) await checkSets(store);
  const file = path.join(directory, 'image');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, Buffer.concat(await collect(snapshot.chunks())));
  const loaded = await loadMemoryImage(file);
  assert.equal(loaded.keyspace.setSize(b('big'), at), 600);
  const pop = new TestLog(snapshot.index, snapshot.term).command({
    type: 'spop',
    key: 'big',
    members: [],
    count: 5,
    seed: 42,
    at,
  });
  assert.deepEqual(target.apply([pop]), source.apply([pop]));
  assert.equal(target.setSize(b('big'), at), 595);
  await snapshot.dispose();
});

test('sets cross between the stores through their snapshot images', async (t) => {
  // Goal: a SQLite image restored into PostgreSQL, and a PostgreSQL image restored into
  // SQLite, hold the same sets (members, order, encoding, expiry), and the same SPOP and
  // SADD afterwards give the same results and leave the same keys on each.
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.skip(`PostgreSQL not available: ${skip}`);
    return;
  }
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'sqlite.db'));
  t.after(() => sqlite.close());
  const open = async (name: string): Promise<PostgresStore> =>
    await PostgresStore.open(await freshDatabase(), {
      clusterId: 'sets',
      snapshotsDirectory: path.join(directory, name),
    });
  const postgres = await open('pg');
  const restored = await open('restored');
  const back = SqliteStore.open(path.join(directory, 'back.db'));
  t.after(() => back.close());
  try {
    const log = new TestLog();
    const entries = setEntries(log);
    sqlite.apply(entries);
    await postgres.apply(entries);
    const fromSqlite = await sqlite.snapshot();
    await restored.restore(
      { index: fromSqlite.index, term: fromSqlite.term, checksum: fromSqlite.checksum },
      fromSqlite.chunks(),
    );
    await fromSqlite.dispose();
    const fromPostgres = await postgres.snapshot();
    await back.restore(
      { index: fromPostgres.index, term: fromPostgres.term, checksum: fromPostgres.checksum },
      fromPostgres.chunks(),
    );
    await fromPostgres.dispose();
    const stores: NodeStore[] = [sqlite, postgres, restored, back];
    for (const store of stores) await checkSets(store);
    const content = await keyContent(sqlite);
    for (const store of stores) assert.deepEqual(await keyContent(store), content);
    const next = [
      log.command({ type: 'spop', key: 'big', members: ['0'], count: 4, seed: 9, at }),
      log.command({ type: 'spop', key: 'words', members: [], count: 1, seed: 2, at }),
      log.command({ type: 'sadd', key: 'small', members: ['1', 'word'], at }),
      log.command({ type: 'smove', key: 'small', destination: 'words', member: '7', at }),
    ];
    const results = sqlite.apply(next);
    for (const store of stores.slice(1)) assert.deepEqual(await store.apply(next), results);
    const after = await keyContent(sqlite);
    for (const store of stores) assert.deepEqual(await keyContent(store), after);
    assert.equal(await restored.setEncoding(b('small'), at), 'hashtable');
  } finally {
    await postgres.close();
    await restored.close();
  }
});

test('an SPOP that leaves few members rebuilds the set as Redis 7.0 does, on both stores', async (t) => {
  // Goal: Redis 7.0's spopWithCountCommand rebuilds a set it leaves at most a fifth of
  // what it popped, so a hashtable left with integers only is an intset again, and one
  // left with a word stays a hashtable; an SPOP that leaves more keeps its encoding.
  const directory = tempDirectory(t);
  const stores: NodeStore[] = [SqliteStore.open(path.join(directory, 'rebuild.db'))];
  t.after(() => (stores[0] as SqliteStore).close());
  if (postgresSkipReason() === undefined) {
    stores.push(
      await PostgresStore.open(await freshDatabase(), {
        clusterId: 'sets',
        snapshotsDirectory: path.join(directory, 'pg'),
      }),
    );
  }
  try {
    for (const store of stores) {
      const log = new TestLog();
      const sadd = (key: string, ...list: string[]) =>
        log.command({ type: 'sadd', key, members: list, at });
      const spop = (key: string, list: string[], count: number) =>
        log.command({ type: 'spop', key, members: list, count, seed: 1, at });
      await store.apply([
        sadd('ints', 'a', '1', '2', '3', '4', '5'),
        spop('ints', ['a', '1', '2', '3', '4'], 5),
        sadd('word', 'a', '1', '2', '3', '4', '5'),
        spop('word', ['1', '2', '3', '4', '5'], 5),
        sadd('more', 'a', '1', '2', '3', '4', '5', '6', '7', '8', '9'),
        spop('more', ['a', '1', '2'], 3),
      ]);
      assert.equal(await store.setEncoding(b('ints'), at), 'intset');
      assert.deepEqual(await store.setAll(b('ints'), at), members('5'));
      assert.equal(await store.setEncoding(b('word'), at), 'hashtable');
      assert.equal(await store.setEncoding(b('more'), at), 'hashtable');
      assert.equal(await store.setSize(b('more'), at), 7);
    }
  } finally {
    if (stores[1] !== undefined) await (stores[1] as PostgresStore).close();
  }
});

test('random members are drawn from the set without listing it, on both stores', async (t) => {
  // Goal: SRANDMEMBER's and SPOP's draw (`setRandom`) answers members of the set, distinct
  // and at most all of them unless repeats are asked for, none for an absent key, WRONGTYPE
  // for a string; and the positions it draws are distinct, in range, and every one of them
  // reachable (drawIndexes, whatever the size).
  const directory = tempDirectory(t);
  const stores: NodeStore[] = [SqliteStore.open(path.join(directory, 'random.db'))];
  t.after(() => (stores[0] as SqliteStore).close());
  if (postgresSkipReason() === undefined) {
    stores.push(
      await PostgresStore.open(await freshDatabase(), {
        clusterId: 'sets',
        snapshotsDirectory: path.join(directory, 'pg'),
      }),
    );
  }
  const all = Array.from({ length: 600 }, (_, i) => `m${i}`);
  try {
    for (const store of stores) {
      const log = new TestLog();
      await store.apply([
        log.command({ type: 'sadd', key: 'big', members: all, at }),
        log.command({ type: 'set', key: 'str', value: 'v', at }),
      ]);
      const texts = async (count: number, repeats: boolean) =>
        (await store.setRandom(b('big'), count, repeats, at)).map(String);
      const five = await texts(5, false);
      assert.equal(new Set(five).size, 5);
      assert.ok(five.every((member) => all.includes(member)));
      const whole = await texts(1_000, false);
      assert.deepEqual([...whole].sort(), [...all].sort());
      const repeated = await texts(2_000, true);
      assert.equal(repeated.length, 2_000);
      assert.ok(repeated.every((member) => all.includes(member)));
      assert.deepEqual(await store.setRandom(b('absent'), 3, false, at), []);
      await assert.rejects(async () => store.setRandom(b('str'), 1, false, at), {
        message: wrongType,
      });
    }
  } finally {
    if (stores[1] !== undefined) await (stores[1] as PostgresStore).close();
  }
  const seen = new Set<number>();
  for (let run = 0; run < 200; run++) {
    const drawn = drawIndexes(10, 3, false);
    assert.equal(new Set(drawn).size, 3);
    for (const index of drawn) {
      assert.ok(Number.isInteger(index) && index >= 0 && index < 10);
      seen.add(index);
    }
  }
  assert.equal(seen.size, 10);
  assert.equal(drawIndexes(5, 9, false).length, 5);
  assert.deepEqual(drawIndexes(0, 3, true), []);
});
