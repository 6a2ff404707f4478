// Lists in both stores: the commands' results and what they leave, the same on SQLite and
// PostgreSQL; a frozen snapshot that no later write reaches; a batch undone whole; images
// that keep them, between the two kinds of store too.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Command } from '../../src/store/commands.js';
import type { NodeStore } from '../../src/store/contract.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { loadMemoryImage, memoryImageFormat } from '../../src/store/memory-image.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ListValue } from '../../src/store/values.js';
import { b, bytesCommand, collect, replay, tempDirectory, TestLog } from './helpers.js';
import type { TextCommand } from './helpers.js';
import { freshDatabase, keyContent, postgresSkipReason, stopServer } from './postgres-helpers.js';

after(stopServer);

const at = 1_000;
const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const elements = (...texts: string[]): Buffer[] => texts.map(b);

/** A script of commands and the result each must give; `leftBehind` says what they leave. */
const script: [TextCommand, unknown][] = [
  [
    { type: 'lpush', key: 'l', elements: ['a', 'b'], end: 'left', at },
    { ok: true, value: 2 },
  ],
  [
    { type: 'lpush', key: 'l', elements: ['c', 'd'], end: 'right', at },
    { ok: true, value: 4 },
  ],
  // l: b a c d
  [
    { type: 'lpush', key: 'none', elements: ['x'], end: 'left', condition: 'xx', at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'lpop', key: 'l', end: 'left', at },
    { ok: true, value: b('b') },
  ],
  [
    { type: 'lpop', key: 'l', end: 'right', count: 2, at },
    { ok: true, value: elements('d', 'c') },
  ],
  [
    { type: 'lpop', key: 'none', end: 'right', count: 2, at },
    { ok: true, value: null },
  ],
  [
    { type: 'lpop', key: 'l', end: 'right', count: 0, at },
    { ok: true, value: [] },
  ],
  // l: a
  [
    { type: 'lpush', key: 'l', elements: ['x', 'y', 'x', 'z'], end: 'right', at },
    { ok: true, value: 5 },
  ],
  // l: a x y x z
  [
    { type: 'lset', key: 'l', index: -1, element: 'Z', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'lset', key: 'l', index: 5, element: 'Z', at },
    { ok: false, error: 'ERR index out of range' },
  ],
  [
    { type: 'lset', key: 'none', index: 0, element: 'Z', at },
    { ok: false, error: 'ERR no such key' },
  ],
  [
    { type: 'linsert', key: 'l', where: 'before', pivot: 'y', element: 'in', at },
    { ok: true, value: 6 },
  ],
  [
    { type: 'linsert', key: 'l', where: 'after', pivot: 'nope', element: 'in', at },
    { ok: true, value: -1 },
  ],
  [
    { type: 'linsert', key: 'none', where: 'after', pivot: 'a', element: 'in', at },
    { ok: true, value: 0 },
  ],
  // l: a x in y x Z
  [
    { type: 'lrem', key: 'l', count: -1, element: 'x', at },
    { ok: true, value: 1 },
  ],
  // l: a x in y Z
  [
    { type: 'ltrim', key: 'l', start: 1, stop: -2, at },
    { ok: true, value: 'OK' },
  ],
  // l: x in y
  [
    { type: 'lmove', key: 'l', destination: 'm', from: 'left', to: 'right', at },
    { ok: true, value: b('x') },
  ],
  [
    { type: 'lmove', key: 'l', destination: 'l', from: 'right', to: 'left', at },
    { ok: true, value: b('y') },
  ],
  // l: y in; m: x
  [
    { type: 'lmove', key: 'none', destination: 's', from: 'left', to: 'left', at },
    { ok: true, value: null },
  ],
  [
    { type: 'set', key: 's', value: 'text', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'lmove', key: 'l', destination: 's', from: 'left', to: 'left', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'lpush', key: 's', elements: ['a'], end: 'left', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'append', key: 'l', value: 'x', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'hset', key: 'l', pairs: [['f', 'v']], at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'lmpop', keys: ['none', 'm', 'l'], end: 'left', count: 5, at },
    { ok: true, value: [b('m'), elements('x')] },
  ],
  // The last element gone, the key goes.
  [
    { type: 'lmpop', keys: ['none', 'm'], end: 'left', count: 5, at },
    { ok: true, value: null },
  ],
  [
    { type: 'lmpop', keys: ['s', 'l'], end: 'left', count: 1, at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'copy', key: 'l', destination: 'l2', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'rename', key: 'l2', destination: 'l3', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'lrem', key: 'l3', count: 0, element: 'in', at },
    { ok: true, value: 1 },
  ],
  // An expiry kept by a push; past it a push makes a new list without one.
  [
    { type: 'expire', key: 'l3', expiresAt: at + 500, at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'lpush', key: 'l3', elements: ['w'], end: 'right', at },
    { ok: true, value: 2 },
  ],
  [
    { type: 'lpush', key: 'e', elements: ['1'], end: 'left', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'expire', key: 'e', expiresAt: at + 10, at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'lpush', key: 'e', elements: ['2'], end: 'left', at: at + 20 },
    { ok: true, value: 1 },
  ],
  // SET replaces a list whatever it held; LTRIM to nothing removes the key.
  [
    { type: 'lpush', key: 'r', elements: ['1', '2'], end: 'left', at },
    { ok: true, value: 2 },
  ],
  [
    { type: 'set', key: 'r', value: 'plain', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'lpush', key: 't', elements: ['1', '2'], end: 'left', at },
    { ok: true, value: 2 },
  ],
  [
    { type: 'ltrim', key: 't', start: 5, stop: 9, at },
    { ok: true, value: 'OK' },
  ],
  // A transaction's list steps, in order, with a failing one in place.
  [
    {
      type: 'multi',
      steps: [
        { type: 'lpush', key: 'x', elements: ['1', '2', '3'], end: 'right', at },
        { type: 'lpop', key: 'x', end: 'left', count: 2, at },
        { type: 'lset', key: 'x', index: 3, element: 'v', at },
        { type: 'lpush', key: 'x', elements: ['0'], end: 'left', at },
      ],
      watched: [],
      at,
    },
    {
      ok: true,
      value: [
        { ok: true, value: 3 },
        { ok: true, value: elements('1', '2') },
        { ok: false, error: 'ERR index out of range' },
        { ok: true, value: 2 },
      ],
    },
  ],
];

/** Everything the script leaves, as the store's reads answer. */
async function leftBehind(store: NodeStore): Promise<unknown> {
  return {
    keys: await keyContent(store),
    types: await Promise.all(
      ['l', 'm', 'l3', 'e', 'r', 't', 'x'].map((k) => store.type(b(k), at + 20)),
    ),
    l: await store.listElements(b('l'), 0, -1, at),
    l3: await store.listElements(b('l3'), -5, 5, at),
    x: await store.listElements(b('x'), 0, -1, at),
    size: await store.listSize(b('l'), at),
    index: [
      await store.listElement(b('l'), -1, at),
      await store.listElement(b('l'), 2, at),
      await store.listElement(b('none'), 0, at),
    ],
    positions: [
      await store.listIndexes(b('l3'), b('w'), { rank: 1, count: null, maxlen: 0 }, at),
      await store.listIndexes(b('l'), b('in'), { rank: -1, count: 0, maxlen: 1 }, at),
      await store.listIndexes(b('none'), b('w'), { rank: 1, count: 0, maxlen: 0 }, at),
    ],
    ttl: await store.ttlMs(b('l3'), at),
    eTtl: await store.ttlMs(b('e'), at + 20),
    wrong: await Promise.resolve()
      .then(() => store.get(b('l'), at))
      .then(
        () => 'read',
        (error: Error) => error.message,
      ),
    wrongList: await Promise.resolve()
      .then(() => store.listSize(b('s'), at))
      .then(
        () => 'read',
        (error: Error) => error.message,
      ),
  };
}

const expected = {
  types: ['list', 'none', 'list', 'list', 'string', 'none', 'list'],
  l: elements('y', 'in'),
  l3: elements('y', 'w'),
  x: elements('0', '3'),
  size: 2,
  index: [b('in'), null, null],
  positions: [[1], [1], null],
  ttl: 500,
  eTtl: -1,
  wrong: wrongType,
  wrongList: wrongType,
};

async function runScript(store: NodeStore): Promise<unknown> {
  const log = new TestLog();
  const results = [];
  for (const [command] of script) results.push(...(await store.apply([log.command(command)])));
  assert.deepEqual(
    results,
    script.map(([, result]) => result),
  );
  // The same commands in one batch: the PostgreSQL store reads a batch's rows once.
  const { keys, ...rest } = (await leftBehind(store)) as Record<string, unknown>;
  assert.deepEqual(rest, expected);
  return keys;
}

/** The whole script as one batch (one apply), on a fresh store: the same results. */
async function runBatch(store: NodeStore): Promise<unknown> {
  const log = new TestLog();
  const results = await store.apply(script.map(([command]) => log.command(command)));
  assert.deepEqual(
    results,
    script.map(([, result]) => result),
  );
  const { keys, ...rest } = (await leftBehind(store)) as Record<string, unknown>;
  assert.deepEqual(rest, expected);
  return keys;
}

test('the list commands give Redis results and leave the same keys on SQLite and PostgreSQL', async (t) => {
  // Goal: one script of list commands (and string and hash commands on lists) gives the
  // same results on both stores, entry by entry and as one batch: WRONGTYPE both ways, an
  // emptied list removed, expiry kept by a push and ended on an expired list, RENAME,
  // COPY and a transaction of list steps.
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'lists.db'));
  t.after(() => sqlite.close());
  const sqliteKeys = await runScript(sqlite);
  const batched = SqliteStore.open(path.join(directory, 'batched.db'));
  t.after(() => batched.close());
  assert.deepEqual(await runBatch(batched), sqliteKeys);
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.diagnostic(`PostgreSQL half skipped: ${skip}`);
    return;
  }
  for (const run of [runScript, runBatch]) {
    const postgres = await PostgresStore.open(await freshDatabase(), {
      clusterId: 'lists',
      snapshotsDirectory: path.join(directory, `pg-${run.name}`),
    });
    try {
      assert.deepEqual(await run(postgres), sqliteKeys);
    } finally {
      await postgres.close();
    }
  }
});

test('a push writes one element row on PostgreSQL, at a signed position', async (t) => {
  // Goal: LPUSH takes the position before the head, RPUSH the one after the tail, a pop
  // deletes its row: no write rewrites the list.
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.skip(skip);
    return;
  }
  const store = await PostgresStore.open(await freshDatabase(), {
    clusterId: 'lists',
    snapshotsDirectory: path.join(tempDirectory(t), 'pg'),
  });
  try {
    const log = new TestLog();
    await store.apply([log.command({ type: 'lpush', key: 'q', elements: ['m'], end: 'left', at })]);
    await store.apply([log.command({ type: 'lpush', key: 'q', elements: ['h'], end: 'left', at })]);
    await store.apply([
      log.command({ type: 'lpush', key: 'q', elements: ['t'], end: 'right', at }),
    ]);
    await store.apply([log.command({ type: 'lpop', key: 'q', end: 'right', at })]);
    const rows = await store.query(
      "SELECT pos, convert_from(value, 'UTF8') AS value FROM tandem.list_items ORDER BY pos",
    );
    assert.deepEqual(
      rows.map((row) => [Number(row.pos), row.value]),
      [
        [-1, 'h'],
        [0, 'm'],
      ],
    );
    const meta = await store.query('SELECT head, length FROM tandem.lists');
    assert.deepEqual(
      meta.map((row) => [Number(row.head), Number(row.length)]),
      [[-1, 2]],
    );
  } finally {
    await store.close();
  }
});

/** A keyspace reached through its commands, as a store drives it. */
function apply(keyspace: Keyspace, log: TestLog, command: TextCommand): unknown {
  const entry = log.command(command);
  return keyspace.execute(bytesCommand(command) as never, entry);
}

test('a push while a snapshot is frozen changes the live list, never the frozen one', () => {
  // Goal: a frozen snapshot's list stays as it was at the freeze while pushes, pops, LSET,
  // LINSERT and LREM go on (the live list is copied before its first change after a
  // freeze), through two freezes.
  const keyspace = new Keyspace();
  const log = new TestLog();
  const many = Array.from({ length: 1000 }, (_, i) => `e${i}`);
  apply(keyspace, log, { type: 'lpush', key: 'big', elements: many, end: 'right', at });
  const frozen = keyspace.freeze().items[0]?.value as ListValue;
  apply(keyspace, log, { type: 'lpush', key: 'big', elements: ['head'], end: 'left', at });
  apply(keyspace, log, { type: 'lpop', key: 'big', end: 'right', count: 3, at });
  apply(keyspace, log, { type: 'lset', key: 'big', index: 5, element: 'set', at });
  assert.equal(frozen.elements.length, 1000);
  assert.equal(frozen.elements.at(0), 'e0');
  assert.equal(frozen.elements.at(4), 'e4');
  assert.equal(frozen.elements.at(999), 'e999');
  assert.equal(keyspace.listSize(b('big'), at), 998);
  assert.deepEqual(keyspace.listElements(b('big'), 0, 1, at), elements('head', 'e0'));
  const second = keyspace.freeze().items[0]?.value as ListValue;
  apply(keyspace, log, {
    type: 'linsert',
    key: 'big',
    where: 'after',
    pivot: 'e0',
    element: 'i',
    at,
  });
  apply(keyspace, log, { type: 'lrem', key: 'big', count: 0, element: 'e7', at });
  assert.equal(second.elements.length, 998);
  assert.equal(second.elements.at(2), 'e1');
  assert.equal(second.elements.at(5), 'set');
  assert.equal(second.elements.at(8), 'e7');
  assert.deepEqual(keyspace.listElements(b('big'), 0, 3, at), elements('head', 'e0', 'i', 'e1'));
  assert.equal(keyspace.listSize(b('big'), at), 998);
  assert.equal(frozen.elements.at(5), 'e5');
});

test('a batch that fails leaves the lists as they were before it', () => {
  // Goal: a rollback undoes every in-place change of a batch (pushes, pops at both ends,
  // LSET, LINSERT, LREM and a list emptied), in reverse order, back to the exact elements.
  const keyspace = new Keyspace();
  const log = new TestLog();
  apply(keyspace, log, {
    type: 'lpush',
    key: 'l',
    elements: ['a', 'b', 'c', 'b', 'd'],
    end: 'right',
    at,
  });
  apply(keyspace, log, { type: 'lpush', key: 'one', elements: ['x'], end: 'right', at });
  keyspace.begin();
  apply(keyspace, log, { type: 'lpush', key: 'l', elements: ['0', '1'], end: 'left', at });
  apply(keyspace, log, { type: 'lpop', key: 'l', end: 'right', count: 2, at });
  apply(keyspace, log, { type: 'lset', key: 'l', index: 2, element: 'S', at });
  apply(keyspace, log, {
    type: 'linsert',
    key: 'l',
    where: 'before',
    pivot: 'c',
    element: 'I',
    at,
  });
  apply(keyspace, log, { type: 'lrem', key: 'l', count: 0, element: 'b', at });
  apply(keyspace, log, { type: 'lpush', key: 'l', elements: ['2'], end: 'right', at });
  apply(keyspace, log, { type: 'lpop', key: 'one', end: 'left', at });
  assert.equal(keyspace.type(b('one'), at), 'none');
  keyspace.rollback();
  assert.deepEqual(keyspace.listElements(b('l'), 0, -1, at), elements('a', 'b', 'c', 'b', 'd'));
  assert.deepEqual(keyspace.listElements(b('one'), 0, -1, at), elements('x'));
});

test('lists survive a snapshot image, a restart, and the way to PostgreSQL and back', async (t) => {
  // Goal: a memory image carries lists (elements in order, expiry) into a store restored
  // from it and into the keyspace read back from the file; a PostgreSQL store restored
  // from that image holds the same lists, and its own image restores into SQLite again.
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  const many = Array.from({ length: 3000 }, (_, i) => `element ${i}`);
  source.apply([
    log.command({ type: 'lpush', key: 'small', elements: ['z', 'a'], end: 'left', at }),
    log.command({ type: 'lpush', key: 'big', elements: many.slice(0, 1000), end: 'left', at }),
    log.command({ type: 'lpush', key: 'big', elements: many.slice(1000), end: 'right', at }),
    log.command({ type: 'expire', key: 'small', expiresAt: at + 5_000, at }),
    log.command({ type: 'set', key: 'str', value: 'v', at }),
    log.command({ type: 'hset', key: 'h', pairs: [['f', 'v']], at }),
  ]);
  const snapshot = await source.snapshot();
  const target = SqliteStore.open(path.join(directory, 'target.db'));
  t.after(() => target.close());
  const meta = { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum };
  await target.restore(meta, replay(await collect(snapshot.chunks())));
  const content = await keyContent(source);
  assert.deepEqual(await keyContent(target), content);
  for (const store of [source, target]) {
    assert.deepEqual(store.listElements(b('small'), 0, -1, at), elements('a', 'z'));
    assert.equal(store.listSize(b('big'), at), 3000);
    assert.deepEqual(store.listElement(b('big'), 0, at), b('element 999'));
    assert.deepEqual(store.listElement(b('big'), -1, at), b('element 2999'));
    assert.equal(store.ttlMs(b('small'), at), 5_000);
    assert.equal(store.type(b('str'), at), 'string');
  }
  const file = path.join(directory, 'image');
  await writeFile(file, Buffer.concat(await collect(snapshot.chunks())));
  const loaded = await loadMemoryImage(file);
  assert.equal(loaded.header.format, memoryImageFormat);
  assert.equal(loaded.keyspace.listSize(b('big'), at), 3000);
  // A write after the load changes the loaded list, and the next image carries it.
  const after = new TestLog(snapshot.index, snapshot.term);
  target.apply([after.command({ type: 'lpop', key: 'small', end: 'left', at })]);
  assert.deepEqual(target.listElements(b('small'), 0, -1, at), elements('z'));
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.diagnostic(`PostgreSQL half skipped: ${skip}`);
    await snapshot.dispose();
    return;
  }
  const postgres = await PostgresStore.open(await freshDatabase(), {
    clusterId: 'lists',
    snapshotsDirectory: path.join(directory, 'pg'),
  });
  try {
    await postgres.restore(meta, replay(await collect(snapshot.chunks())));
    assert.deepEqual(await keyContent(postgres), content);
    // PostgreSQL's own pushes after the conversion, then its image into SQLite.
    const pgLog = new TestLog(snapshot.index, snapshot.term);
    await postgres.apply([
      pgLog.command({ type: 'lpush', key: 'big', elements: ['first'], end: 'left', at }),
      pgLog.command({ type: 'lpop', key: 'small', end: 'right', at }),
    ]);
    const pgSnapshot = await postgres.snapshot();
    const back = SqliteStore.open(path.join(directory, 'back.db'));
    t.after(() => back.close());
    await back.restore(
      { index: pgSnapshot.index, term: pgSnapshot.term, checksum: pgSnapshot.checksum },
      replay(await collect(pgSnapshot.chunks())),
    );
    assert.deepEqual(await keyContent(back), await keyContent(postgres));
    assert.deepEqual(back.listElements(b('big'), 0, 1, at), elements('first', 'element 999'));
    assert.deepEqual(back.listElements(b('small'), 0, -1, at), elements('a'));
    await pgSnapshot.dispose();
  } finally {
    await postgres.close();
    await snapshot.dispose();
  }
});

test('lists, hashes, sets and sorted sets refuse each other on one namespace', () => {
  // Goal: a key of each structured type refuses the other types' writes with WRONGTYPE and
  // is left as it was; TYPE names each; the set operations refuse a list operand; RENAME
  // and COPY carry a list beside keys of the other types.
  const store = new Keyspace();
  const log = new TestLog();
  const run = (text: Record<string, unknown>): unknown => {
    const command = bytesOfAll(text) as unknown as Command;
    return store.execute(command as never, log.command(command));
  };
  run({ type: 'lpush', key: 'list', elements: ['a', 'b'], end: 'right', at });
  run({ type: 'hset', key: 'hash', pairs: [['f', 'v']], at });
  run({ type: 'sadd', key: 'set', members: ['1', '2'], at });
  run({ type: 'zadd', key: 'zset', pairs: [['1', 'm']], at });
  for (const key of ['hash', 'set', 'zset']) {
    assert.deepEqual(
      run({ type: 'lpush', key, elements: ['x'], end: 'left', at }),
      { ok: false, error: wrongType },
      key,
    );
  }
  for (const command of [
    { type: 'hset', key: 'list', pairs: [['f', 'v']], at },
    { type: 'sadd', key: 'list', members: ['x'], at },
    { type: 'zadd', key: 'list', pairs: [['1', 'x']], at },
    { type: 'setstore', operation: 'union', destination: 'out', keys: ['set', 'list'], at },
    { type: 'zsetstore', operation: 'union', destination: 'out', keys: ['zset', 'list'], at },
  ]) {
    assert.deepEqual(run(command), { ok: false, error: wrongType }, command.type);
  }
  assert.equal(store.type(b('out'), at), 'none');
  assert.deepEqual(
    ['list', 'hash', 'set', 'zset'].map((key) => store.type(b(key), at)),
    ['list', 'hash', 'set', 'zset'],
  );
  assert.deepEqual(store.listElements(b('list'), 0, -1, at), elements('a', 'b'));
  run({ type: 'rename', key: 'list', destination: 'set', at });
  assert.equal(store.type(b('set'), at), 'list');
  run({ type: 'copy', key: 'set', destination: 'zset', replace: true, at });
  assert.equal(store.type(b('zset'), at), 'list');
  assert.deepEqual(store.listElements(b('zset'), 0, -1, at), elements('a', 'b'));
  run({ type: 'copy', key: 'hash', destination: 'set', replace: true, at });
  assert.equal(store.type(b('set'), at), 'hash');
});

/** `text` with every string (nested in arrays too) as bytes, but its type and its operation. */
function bytesOfAll(text: Record<string, unknown>): Record<string, unknown> {
  const convert = (value: unknown): unknown =>
    typeof value === 'string' ? b(value) : Array.isArray(value) ? value.map(convert) : value;
  return Object.fromEntries(
    Object.entries(text).map(([name, value]) =>
      name === 'type' || name === 'operation' || name === 'end'
        ? [name, value]
        : [name, convert(value)],
    ),
  );
}
