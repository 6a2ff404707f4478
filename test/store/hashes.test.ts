// Hashes in both stores: the commands' results and what they leave, the same on SQLite and
// PostgreSQL; a frozen snapshot that no later write reaches; images that keep them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { NodeStore } from '../../src/store/contract.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { loadMemoryImage, memoryImageFormat } from '../../src/store/memory-image.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { HashValue } from '../../src/store/values.js';
import { b, bytesCommand, collect, replay, tempDirectory, TestLog } from './helpers.js';
import type { TextCommand } from './helpers.js';
import { freshDatabase, keyContent, postgresSkipReason, stopServer } from './postgres-helpers.js';

after(stopServer);

const at = 1_000;
const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/** A script of commands and the result each must give, and what the keys hold after. */
const script: [TextCommand, unknown][] = [
  [
    {
      type: 'hset',
      key: 'h',
      pairs: [
        ['a', '1'],
        ['b', '2'],
        ['a', '3'],
      ],
      at,
    },
    { ok: true, value: 2 },
  ],
  [
    { type: 'hset', key: 'h', pairs: [['a', 'x']], condition: 'nx', at },
    { ok: true, value: 0 },
  ],
  [
    { type: 'hset', key: 'h', pairs: [['c', '9']], condition: 'nx', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'hincrby', key: 'h', field: 'c', by: 2n ** 62n, at },
    { ok: true, value: 2n ** 62n + 9n },
  ],
  [
    { type: 'hincrby', key: 'h', field: 'c', by: 2n ** 62n, at },
    { ok: false, error: 'ERR increment or decrement would overflow' },
  ],
  [
    { type: 'hincrby', key: 'h', field: 'b', by: 1n, at },
    { ok: true, value: 3 },
  ],
  [
    { type: 'hincrbyfloat', key: 'h', field: 'f', by: '1.5', at },
    { ok: true, value: b('1.5') },
  ],
  [
    { type: 'set', key: 's', value: 'text', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'hset', key: 's', pairs: [['a', '1']], at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'append', key: 'h', value: 'x', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'incrby', key: 'h', by: 1, at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'getdel', key: 'h', at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'set', key: 'h', value: 'v', returnOld: true, at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'copy', key: 'h', destination: 'h2', at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'rename', key: 'h2', destination: 'h3', at },
    { ok: true, value: 'OK' },
  ],
  [
    { type: 'hdel', key: 'h3', fields: ['a', 'b', 'c', 'zz'], at },
    { ok: true, value: 3 },
  ],
  // The last field gone, the key goes.
  [
    { type: 'hdel', key: 'h3', fields: ['f'], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'hset', key: 'e', pairs: [['a', '1']], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'expire', key: 'e', expiresAt: at + 500, at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'hset', key: 'e', pairs: [['b', '2']], at },
    { ok: true, value: 1 },
  ],
  // Past its expiry the hash is absent: HSET makes a new one, without expiry.
  [
    { type: 'hset', key: 'x', pairs: [['a', '1']], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'expire', key: 'x', expiresAt: at + 10, at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'hset', key: 'x', pairs: [['b', '2']], at: at + 20 },
    { ok: true, value: 1 },
  ],
  [
    { type: 'set', key: 'e2', value: 'v', at },
    { ok: true, value: 'OK' },
  ],
  // SET replaces a hash whatever it held.
  [
    { type: 'hset', key: 'r', pairs: [['a', 'y'.repeat(65)]], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'set', key: 'r', value: 'plain', at },
    { ok: true, value: 'OK' },
  ],
];

/** Everything the script leaves, as the store's reads answer. */
async function leftBehind(store: NodeStore): Promise<unknown> {
  return {
    keys: await keyContent(store),
    types: await Promise.all(['h', 's', 'h3', 'e', 'x', 'r'].map((k) => store.type(b(k), at))),
    values: await store.hashValues(b('h'), [b('a'), b('zz'), b('c')], at),
    size: await store.hashSize(b('h'), at),
    ttl: await store.ttlMs(b('e'), at),
    xTtl: await store.ttlMs(b('x'), at + 20),
    scan: await store.hashScan(b('h'), 0, {}, at),
    wrong: await Promise.resolve()
      .then(() => store.get(b('h'), at))
      .then(
        () => 'read',
        (error: Error) => error.message,
      ),
  };
}

const expected = {
  types: ['hash', 'string', 'none', 'hash', 'hash', 'string'],
  values: [b('3'), null, b(String(2n ** 62n + 9n))],
  size: 4,
  ttl: 500,
  xTtl: -1,
  scan: {
    cursor: 0,
    entries: [
      [b('a'), b('3')],
      [b('b'), b('3')],
      [b('c'), b(String(2n ** 62n + 9n))],
      [b('f'), b('1.5')],
    ],
  },
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

test('the hash commands give Redis results and leave the same keys on SQLite and PostgreSQL', async (t) => {
  // Goal: one script of hash commands (and string commands on hashes) gives the same
  // results on both stores, WRONGTYPE both ways, HDEL of the last field removing the key,
  // expiry kept by HSET and ended by it on an expired hash, RENAME and COPY of a hash.
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'hashes.db'));
  t.after(() => sqlite.close());
  const sqliteKeys = await runScript(sqlite);
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.diagnostic(`PostgreSQL half skipped: ${skip}`);
    return;
  }
  const postgres = await PostgresStore.open(await freshDatabase(), {
    clusterId: 'hashes',
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

test('an HSET while a snapshot is frozen changes the live hash, never the frozen one', () => {
  // Goal: a frozen snapshot's hash stays as it was at the freeze while HSET and HDEL go on
  // (the live hash is copied before its first change after a freeze), through two freezes.
  const keyspace = new Keyspace();
  const log = new TestLog();
  const pairs = Array.from({ length: 1000 }, (_, i) => [`f${i}`, `v${i}`] as [string, string]);
  apply(keyspace, log, { type: 'hset', key: 'big', pairs, at });
  const frozen = keyspace.freeze();
  const frozenHash = frozen.items[0]?.value as HashValue;
  apply(keyspace, log, {
    type: 'hset',
    key: 'big',
    pairs: [
      ['f0', 'changed'],
      ['new', 'x'],
    ],
    at,
  });
  const copied = keyspace.hashAll(b('big'), at);
  apply(keyspace, log, { type: 'hdel', key: 'big', fields: ['f1'], at });
  apply(keyspace, log, { type: 'hset', key: 'big', pairs: [['f2', 'again']], at });
  assert.equal(frozenHash.fields.size, 1000);
  assert.equal(frozenHash.fields.get('f0')?.value, 'v0');
  assert.equal(frozenHash.fields.get('f1')?.value, 'v1');
  assert.equal(frozenHash.fields.has('new'), false);
  assert.equal(copied.length, 1001);
  assert.deepEqual(keyspace.hashValues(b('big'), [b('f0'), b('f1'), b('f2')], at), [
    b('changed'),
    null,
    b('again'),
  ]);
  // A second freeze shares the live hash again: the next changes reach neither frozen copy.
  const second = keyspace.freeze().items[0]?.value as HashValue;
  apply(keyspace, log, { type: 'hset', key: 'big', pairs: [['f4', 'x']], at });
  apply(keyspace, log, { type: 'hdel', key: 'big', fields: ['f5'], at });
  assert.deepEqual(keyspace.hashValues(b('big'), [b('f4'), b('f5')], at), [b('x'), null]);
  assert.equal(second.fields.get('f4')?.value, 'v4');
  assert.equal(second.fields.get('f5')?.value, 'v5');
  assert.equal(second.fields.get('f0')?.value, 'changed');
  assert.equal(frozenHash.fields.get('f4')?.value, 'v4');
});

test('hashes survive a snapshot image and a restart of the store', async (t) => {
  // Goal: a memory image carries hashes (fields, order, encoding, expiry) into a store
  // restored from it and into the keyspace read back from the file.
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  const many = Array.from({ length: 600 }, (_, i) => [`m${i}`, String(i)] as [string, string]);
  source.apply([
    log.command({
      type: 'hset',
      key: 'small',
      pairs: [
        ['z', '1'],
        ['a', '2'],
      ],
      at,
    }),
    log.command({ type: 'hset', key: 'big', pairs: many.slice(0, 300), at }),
    log.command({ type: 'hset', key: 'big', pairs: many.slice(300), at }),
    log.command({ type: 'expire', key: 'small', expiresAt: at + 5_000, at }),
    log.command({ type: 'set', key: 'str', value: 'v', at }),
  ]);
  const snapshot = await source.snapshot();
  const target = SqliteStore.open(path.join(directory, 'target.db'));
  t.after(() => target.close());
  await target.restore(
    { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
    replay(await collect(snapshot.chunks())),
  );
  for (const store of [source, target]) {
    assert.deepEqual(store.hashAll(b('small'), at), [
      [b('z'), b('1')],
      [b('a'), b('2')],
    ]);
    assert.equal(store.hashEncoding(b('small'), at), 'listpack');
    assert.equal(store.hashEncoding(b('big'), at), 'hashtable');
    assert.equal(store.hashSize(b('big'), at), 600);
    assert.equal(store.ttlMs(b('small'), at), 5_000);
    assert.equal(store.type(b('str'), at), 'string');
  }
  const file = path.join(directory, 'image');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, Buffer.concat(await collect(snapshot.chunks())));
  const loaded = await loadMemoryImage(file);
  assert.equal(loaded.header.format, memoryImageFormat);
  assert.equal(loaded.keyspace.hashSize(b('big'), at), 600);
  // A write after the load changes the loaded hash, and the next image carries it.
  target.apply([
    new TestLog(snapshot.index, snapshot.term).command({
      type: 'hdel',
      key: 'small',
      fields: ['z'],
      at,
    }),
  ]);
  assert.deepEqual(target.hashAll(b('small'), at), [[b('a'), b('2')]]);
  await snapshot.dispose();
});
