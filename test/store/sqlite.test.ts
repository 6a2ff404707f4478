import { Packr } from 'msgpackr';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { AssertionError } from '../../src/core/assert.js';
import { TandemError } from '../../src/core/errors.js';
import { valueBytesMax } from '../../src/store/commands.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import {
  caseKey,
  expireCaseCommands,
  expireCases,
  keepTtlCases,
  optionsAt,
} from './expiry-options.js';
import {
  b,
  asText,
  applyCommands,
  applyOne,
  collect,
  databaseImageFile,
  dump,
  imageOfFile,
  openStore,
  replay,
  tempDirectory,
  TestLog,
  textKvSchema,
} from './helpers.js';

const at = 1_000;

test('apply takes entries strictly in log order and records the applied position', (t) => {
  // Goal: the applied index and term follow the last entry, and gaps, repeats and
  // decreasing terms are refused as programmer errors without changing anything.
  const store = openStore(t);
  const log = new TestLog();
  assert.deepEqual(store.applied, { index: 0, term: 0 });
  const batch = [log.command({ type: 'set', key: 'a', value: '1', at }), log.noop()];
  log.term = 2;
  batch.push(log.membership());
  assert.deepEqual(store.apply(batch), [{ ok: true, value: 'OK' }, null, null]);
  assert.deepEqual(store.applied, { index: 3, term: 2 });
  assert.deepEqual(store.apply([]), []);

  const before = dump(store);
  assert.throws(() => store.apply(batch), AssertionError, 'the same batch twice');
  const gap = new TestLog(4, 2);
  assert.throws(() => store.apply([gap.noop()]), AssertionError, 'a gap');
  const inside = new TestLog(3, 2);
  assert.throws(() => store.apply([inside.noop(), { ...inside.noop(), index: 6 }]), AssertionError);
  assert.throws(() => store.apply([new TestLog(3, 1).noop()]), AssertionError, 'a lower term');
  assert.equal(dump(store), before);
  assert.deepEqual(store.applied, { index: 3, term: 2 });
});

test('a store opens empty, and its snapshot image brings back the applied position and data', async (t) => {
  // Goal: the log and its snapshots are the durable record: a store opens at index 0, and
  // restoring its image gives the same applied position and data, after which it
  // accepts exactly the next index.
  const directory = tempDirectory(t);
  const log = new TestLog(0, 3);
  let store = SqliteStore.open(path.join(directory, 'store.db'));
  applyCommands(store, log, { type: 'set', key: 'k', value: 'v', at });
  applyCommands(store, log, { type: 'sql', statements: [{ sql: 'CREATE TABLE t (x)' }] });
  store.apply([log.noop()]);
  const before = dump(store);
  const image = await store.snapshot();
  const data = await collect(image.chunks());
  store.close();
  store.close(); // idempotent

  store = SqliteStore.open(path.join(directory, 'store.db'));
  t.after(() => store.close());
  assert.deepEqual(store.applied, { index: 0, term: 0 });
  assert.equal(asText(store).get('k', at), null);
  await store.restore({ index: 3, term: 3, checksum: image.checksum }, replay(data));
  assert.deepEqual(store.applied, { index: 3, term: 3 });
  assert.equal(dump(store), before);
  assert.throws(() => store.apply([new TestLog(0, 3).noop()]), AssertionError);
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'n', by: 1, at }), 1);
  assert.deepEqual(store.applied, { index: 4, term: 3 });
});

test('a batch that fails midway leaves nothing of itself', (t) => {
  // Goal: apply is one transaction: when an entry cannot be applied (a corrupt command),
  // the earlier key writes and SQL of the same batch vanish and applied stays put.
  const log = new TestLog();
  const store = openStore(t);
  applyCommands(store, log, { type: 'set', key: 'before', value: '0', at });
  const before = dump(store);
  const batch = [
    log.command({ type: 'set', key: 'a', value: '1', at }),
    log.command({ type: 'sql', statements: [{ sql: 'CREATE TABLE t (x)' }] }),
    log.command({ type: 'sql', statements: [{ sql: 'INSERT INTO t VALUES (1)' }] }),
    log.raw(new Uint8Array([0xc1])), // 0xc1 is never used in MessagePack
  ];
  assert.throws(
    () => store.apply(batch),
    (error: unknown) => error instanceof TandemError && error.code === 'TANDEM_CORRUPT',
  );
  assert.deepEqual(store.applied, { index: 1, term: 1 });
  assert.equal(asText(store).get('a', at), null);
  assert.equal(dump(store), before);
  assert.deepEqual(store.query("SELECT name FROM sqlite_schema WHERE name = 't'"), []);

  // A command entry without its command is just as corrupt.
  const bare = { ...new TestLog(1).command({ type: 'flush', at }), data: undefined };
  assert.throws(() => store.apply([bare]), /carries no command/);
  // The good part of the batch applies once the bad entry is replaced.
  const retry = new TestLog(1);
  applyCommands(store, retry, { type: 'set', key: 'a', value: '1', at });
  assert.equal(asText(store).get('a', at)?.value, '1');
});

test('every write stamps the key with the index and term of its entry', (t) => {
  // Goal: versions are (index, term) of the last write; failed conditions, errors and a
  // no-op PERSIST leave the version alone.
  const store = openStore(t);
  const log = new TestLog();
  applyCommands(store, log, { type: 'set', key: 'a', value: '1', at }); // 1
  applyCommands(store, log, { type: 'set', key: 'b', value: 'x', at }); // 2
  log.term = 4;
  applyCommands(store, log, { type: 'incrby', key: 'a', by: 2, at }); // 3
  assert.deepEqual(asText(store).get('a', at)?.version, { index: 3, term: 4 });
  assert.deepEqual(asText(store).get('b', at)?.version, { index: 2, term: 1 });

  applyCommands(
    store,
    log,
    { type: 'set', key: 'a', value: 'no', at, condition: 'nx' }, // 4: not written
    { type: 'incrby', key: 'b', by: 1, at }, // 5: error
    { type: 'expire', key: 'b', expiresAt: null, at }, // 6: nothing to persist
  );
  assert.deepEqual(asText(store).get('a', at)?.version, { index: 3, term: 4 });
  assert.deepEqual(asText(store).get('b', at)?.version, { index: 2, term: 1 });
  applyCommands(
    store,
    log,
    { type: 'expire', key: 'b', expiresAt: at + 10, at }, // 7
    { type: 'append', key: 'a', value: '0', at }, // 8
    { type: 'mset', pairs: [['c', '1']], at }, // 9
  );
  assert.deepEqual(asText(store).get('b', at)?.version, { index: 7, term: 4 });
  assert.deepEqual(asText(store).get('a', at), {
    value: '30',
    version: { index: 8, term: 4 },
    expiresAt: null,
  });
  assert.deepEqual(asText(store).get('c', at)?.version, { index: 9, term: 4 });
});

test('INCRBY follows Redis: absent is 0, strict integer syntax, overflow refused, TTL kept', (t) => {
  // Goal: INCRBY's values and its two error texts, and that an error changes nothing but
  // still advances the applied index.
  const store = openStore(t);
  const log = new TestLog();
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'n', by: 5, at }), 5);
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'n', by: -7, at }), -2);
  assert.equal(asText(store).get('n', at)?.value, '-2');

  const notInteger = { ok: false, error: 'ERR value is not an integer or out of range' };
  const past = '9223372036854775808';
  for (const text of ['abc', '', ' 1', '1 ', '01', '+1', '-0', '1.5', '1e3', past]) {
    applyCommands(store, log, { type: 'set', key: 's', value: text, at });
    const results = applyCommands(store, log, { type: 'incrby', key: 's', by: 1, at });
    assert.deepEqual(results, [notInteger], `INCRBY of ${JSON.stringify(text)}`);
    assert.equal(asText(store).get('s', at)?.value, text);
  }
  // Values are signed 64-bit integers, as in Redis, past JavaScript's safe integers.
  applyCommands(store, log, {
    type: 'set',
    key: 'big',
    value: String(Number.MAX_SAFE_INTEGER),
    at,
  });
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'big', by: 2, at }), 9007199254740993n);
  applyCommands(store, log, { type: 'set', key: 'max', value: '9223372036854775807', at });
  const overflow = applyCommands(store, log, { type: 'incrby', key: 'max', by: 1, at });
  assert.deepEqual(overflow, [{ ok: false, error: 'ERR increment or decrement would overflow' }]);
  assert.deepEqual(store.applied.index, log.index, 'a failed command still counts as applied');
  const low = -Number.MAX_SAFE_INTEGER;
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'low', by: low, at }), low);

  applyCommands(store, log, { type: 'set', key: 'ttl', value: '1', at, expiresAt: at + 500 });
  assert.equal(applyOne(store, log, { type: 'incrby', key: 'ttl', by: 1, at }), 2);
  assert.equal(asText(store).get('ttl', at)?.expiresAt, at + 500);
});

test('SET honours NX, XX, compare-and-set and returnOld', (t) => {
  // Goal: each condition writes exactly when it holds, and the results say so.
  const store = openStore(t);
  const log = new TestLog();
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '1', at, condition: 'xx' }),
    null,
  );
  assert.equal(asText(store).get('k', at), null);
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '1', at, condition: 'nx' }),
    'OK',
  );
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '2', at, condition: 'nx' }),
    null,
  );
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '3', at, condition: 'xx' }),
    'OK',
  );
  assert.equal(asText(store).get('k', at)?.value, '3');
  const version = asText(store).get('k', at)?.version;
  assert.deepEqual(version, { index: 4, term: 1 });

  const stale = { index: 2, term: 1 };
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '4', at, ifVersion: stale }),
    null,
  );
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '4', at, ifVersion: version }),
    'OK',
  );
  assert.equal(asText(store).get('k', at)?.value, '4');
  const absent = {
    type: 'set',
    key: 'none',
    value: 'x',
    at,
    ifVersion: { index: 0, term: 0 },
  } as const;
  assert.equal(applyOne(store, log, absent), null, 'compare-and-set never creates a key');

  assert.deepEqual(
    applyOne(store, log, { type: 'set', key: 'k', value: '5', at, returnOld: true }),
    b('4'),
  );
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'new', value: 'v', at, returnOld: true }),
    null,
  );
  const refused = {
    type: 'set',
    key: 'k',
    value: '6',
    at,
    condition: 'nx',
    returnOld: true,
  } as const;
  assert.deepEqual(
    applyOne(store, log, refused),
    b('5'),
    'like SET NX GET, the old value either way',
  );
  assert.equal(asText(store).get('k', at)?.value, '5');
});

test('expiry is decided by the command time for writes and by the reader clock for reads', (t) => {
  // Goal: a key expires at expiresAt for readers; a write at or after that time treats it
  // as absent; PERSIST, EXPIRE in the past, SET without TTL and sweeps behave as documented.
  const store = openStore(t);
  const log = new TestLog();
  applyCommands(store, log, { type: 'set', key: 'k', value: '1', at: 0, expiresAt: 1000 });
  assert.equal(asText(store).get('k', 999)?.value, '1');
  assert.equal(asText(store).ttlMs('k', 400), 600);
  assert.equal(asText(store).get('k', 1000), null);
  assert.equal(asText(store).ttlMs('k', 1000), -2);
  assert.equal(asText(store).type('k', 1000), 'none');
  assert.equal(store.dbsize(999), 1);
  assert.equal(store.dbsize(1000), 0);
  // INFO keyspace's counts: the key and its expiry while it lives, nothing once it expired.
  assert.deepEqual(store.keyspaceStats(400), { keys: 1, expires: 1, averageTtlMs: 600 });
  assert.deepEqual(store.keyspaceStats(1000), { keys: 0, expires: 0, averageTtlMs: 0 });
  assert.deepEqual(asText(store).keys('*', 1000), []);

  // Written at 999 the key is alive; at 1000 it is gone, whatever the reader's clock.
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '2', at: 999, condition: 'nx' }),
    null,
  );
  assert.equal(
    applyOne(store, log, { type: 'set', key: 'k', value: '2', at: 1000, condition: 'nx' }),
    'OK',
  );
  assert.equal(asText(store).get('k', 5000)?.expiresAt, null, 'the new key has no expiry');

  applyCommands(store, log, { type: 'set', key: 'c', value: '10', at: 0, expiresAt: 50 });
  assert.equal(
    applyOne(store, log, { type: 'incrby', key: 'c', by: 1, at: 50 }),
    1,
    'expired counts as 0',
  );
  assert.equal(asText(store).ttlMs('c', 60), -1);

  applyCommands(store, log, { type: 'set', key: 'p', value: 'v', at: 0, expiresAt: 100 });
  assert.equal(applyOne(store, log, { type: 'expire', key: 'p', expiresAt: null, at: 10 }), 1);
  assert.equal(applyOne(store, log, { type: 'expire', key: 'p', expiresAt: null, at: 10 }), 0);
  assert.equal(asText(store).ttlMs('p', 5000), -1);
  assert.equal(applyOne(store, log, { type: 'expire', key: 'p', expiresAt: 10, at: 10 }), 1);
  assert.equal(asText(store).get('p', 0), null, 'an expiry already past removes the key');
  assert.equal(applyOne(store, log, { type: 'expire', key: 'p', expiresAt: 99, at: 10 }), 0);
  applyCommands(store, log, { type: 'set', key: 'q', value: 'v', at: 0, expiresAt: 100 });
  applyCommands(store, log, { type: 'set', key: 'q', value: 'w', at: 0 });
  assert.equal(asText(store).ttlMs('q', 0), -1, 'SET without expiresAt removes the TTL');

  applyCommands(
    store,
    log,
    { type: 'set', key: 'e1', value: 'v', at: 0, expiresAt: 20 },
    { type: 'set', key: 'e2', value: 'v', at: 0, expiresAt: 30 },
    { type: 'set', key: 'e3', value: 'v', at: 0, expiresAt: 40 },
  );
  assert.equal(applyOne(store, log, { type: 'expire-sweep', at: 30 }), 2);
  assert.deepEqual(
    store
      .heldKeys()
      .map((held) => held.key.toString())
      .filter((key) => key.startsWith('e')),
    ['e3'],
    'the sweep purged the keys expired at its time only',
  );
});

test('EXPIRE NX, XX, GT and LT set the expiry exactly when Redis 7 would', (t) => {
  // Goal: every condition on a key without expiry, with one and absent gives Redis's
  // answer and leaves Redis's expiry; a refused condition leaves the version alone.
  const store = openStore(t);
  const log = new TestLog();
  for (const [i, c] of expireCases.entries()) {
    const results = applyCommands(store, log, ...expireCaseCommands(c, i));
    const what = JSON.stringify(c);
    assert.deepEqual(results.at(-1), { ok: true, value: c.result }, what);
    const entry = asText(store).get(caseKey(i), 0);
    if (c.after === 'gone') {
      assert.equal(entry, null, what);
      continue;
    }
    assert.equal(entry?.expiresAt, c.after, what);
    // Written by the EXPIRE when it held, by the SET before it when it did not.
    const writer = c.result === 1 ? log.index : log.index - 1;
    assert.deepEqual(entry?.version, { index: writer, term: 1 }, what);
  }
});

test('SET KEEPTTL keeps the expiry of a live key and of nothing else', (t) => {
  // Goal: KEEPTTL keeps a live key's expiry, gives none to an absent or expired key, and
  // combines with NX, XX and GET as Redis's SET does.
  const store = openStore(t);
  const log = new TestLog();
  for (const c of keepTtlCases) {
    applyCommands(store, log, ...c.setup);
    assert.deepEqual(applyOne(store, log, c.set), c.result, c.name);
    const entry = asText(store).get(c.set.key as string, optionsAt);
    assert.deepEqual(
      entry === null ? null : { value: entry.value, expiresAt: entry.expiresAt },
      c.after,
      c.name,
    );
  }
});

test('DEL, MSET, APPEND and FLUSH give Redis results', (t) => {
  // Goal: counts and lengths as Redis returns them, expired keys not counted.
  const store = openStore(t);
  const log = new TestLog();
  applyCommands(store, log, {
    type: 'mset',
    pairs: [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
    ],
    at,
  });
  assert.equal(asText(store).get('a', at)?.value, '3', 'the later pair wins');
  applyCommands(store, log, { type: 'set', key: 'gone', value: 'v', at, expiresAt: at + 1 });
  assert.equal(
    applyOne(store, log, { type: 'del', keys: ['a', 'a', 'gone', 'none'], at: at + 1 }),
    1,
  );
  assert.deepEqual(
    store.query("SELECT count(*) AS n FROM _tandem_kv WHERE key = CAST('gone' AS BLOB)"),
    [{ n: 0 }],
  );
  assert.equal(
    applyOne(store, log, { type: 'append', key: 'b', value: 'é', at }),
    3,
    'bytes, not characters',
  );
  assert.equal(asText(store).get('b', at)?.value, '2é');
  const big = 'x'.repeat(valueBytesMax);
  assert.deepEqual(applyCommands(store, log, { type: 'append', key: 'b', value: big, at }), [
    { ok: false, error: 'ERR string exceeds maximum allowed size (proto-max-bulk-len)' },
  ]);
  assert.equal(asText(store).exists(['b', 'b', 'a'], at), 2);
  assert.equal(applyOne(store, log, { type: 'flush', at }), 'OK');
  assert.equal(store.dbsize(at), 0);
});

test('RENAME, RENAMENX and COPY give Redis 7 results, expiries and the entry version', (t) => {
  // Goal: the store contract of the moving commands: RENAME's OK and 'no such key',
  // RENAMENX's 1 and 0, COPY's 1 and 0 with and without REPLACE; the moved or copied key
  // carries the source's expiry and the version of the entry that wrote it; a rename onto
  // itself and every refusal leave the keys, versions and expiries as they were.
  const store = openStore(t);
  const log = new TestLog();
  applyCommands(
    store,
    log,
    { type: 'set', key: 'a', value: 'va', at, expiresAt: at + 500 }, // 1
    { type: 'set', key: 'b', value: 'vb', at, expiresAt: at + 900 }, // 2
    { type: 'set', key: 'gone', value: 'vg', at, expiresAt: at + 1 }, // 3
  );
  log.term = 2;
  const results = applyCommands(
    store,
    log,
    { type: 'rename', key: 'none', destination: 'x', at }, // 4
    { type: 'rename', key: 'gone', destination: 'x', at: at + 1 }, // 5
    { type: 'rename', key: 'a', destination: 'a', at }, // 6
    { type: 'rename', key: 'a', destination: 'a', condition: 'nx', at }, // 7
    { type: 'rename', key: 'a', destination: 'b', condition: 'nx', at }, // 8
    { type: 'copy', key: 'a', destination: 'b', at }, // 9
    { type: 'copy', key: 'none', destination: 'b', at, replace: true }, // 10
  );
  assert.deepEqual(results, [
    { ok: false, error: 'ERR no such key' },
    { ok: false, error: 'ERR no such key' },
    { ok: true, value: 'OK' },
    { ok: true, value: 0 },
    { ok: true, value: 0 },
    { ok: true, value: 0 },
    { ok: true, value: 0 },
  ]);
  assert.deepEqual(asText(store).get('a', at), {
    value: 'va',
    version: { index: 1, term: 1 },
    expiresAt: at + 500,
  });
  assert.equal(asText(store).get('x', at), null);
  assert.equal(applyOne(store, log, { type: 'copy', key: 'a', destination: 'c', at }), 1); // 11
  assert.deepEqual(asText(store).get('c', at), {
    value: 'va',
    version: { index: 11, term: 2 },
    expiresAt: at + 500,
  });
  assert.equal(applyOne(store, log, { type: 'set', key: 'c', value: 'vc', at }), 'OK'); // 12
  assert.equal(
    applyOne(store, log, { type: 'copy', key: 'c', destination: 'b', at, replace: true }), // 13
    1,
  );
  assert.deepEqual(asText(store).get('b', at), {
    value: 'vc',
    version: { index: 13, term: 2 },
    expiresAt: null,
  });
  assert.equal(applyOne(store, log, { type: 'rename', key: 'a', destination: 'b', at }), 'OK'); // 14
  assert.deepEqual(asText(store).get('b', at), {
    value: 'va',
    version: { index: 14, term: 2 },
    expiresAt: at + 500,
  });
  assert.equal(asText(store).get('a', at), null);
  assert.equal(
    applyOne(store, log, { type: 'rename', key: 'b', destination: 'a', condition: 'nx', at }), // 15
    1,
  );
  assert.deepEqual(asText(store).get('a', at)?.version, { index: 15, term: 2 });
  assert.deepEqual(asText(store).keys('*', at + 1), ['a', 'c']);
});

test('DEL with a version deletes the key only while it is at that version', (t) => {
  // Goal: the compare-and-delete behind DELETE If-Match is decided at apply, on the version
  // the key has then: a stale version, an absent key and an expired key are left alone.
  const store = openStore(t);
  const log = new TestLog();
  applyCommands(store, log, { type: 'set', key: 'k', value: '1', at });
  const version = asText(store).get('k', at)?.version;
  assert.deepEqual(version, { index: 1, term: 1 });
  applyCommands(store, log, { type: 'set', key: 'k', value: '2', at });
  const now = asText(store).get('k', at)?.version;
  assert.deepEqual(
    applyCommands(store, log, { type: 'del', keys: ['k'], at, ifVersion: version }),
    [{ ok: true, value: 0 }],
  );
  assert.equal(asText(store).get('k', at)?.value, '2', 'a stale version deletes nothing');
  assert.equal(
    applyOne(store, log, { type: 'del', keys: ['none'], at, ifVersion: { index: 0, term: 0 } }),
    0,
  );
  applyCommands(store, log, { type: 'set', key: 'gone', value: 'v', at, expiresAt: at + 1 });
  const gone = asText(store).get('gone', at)?.version;
  assert.equal(
    applyOne(store, log, { type: 'del', keys: ['gone'], at: at + 1, ifVersion: gone }),
    0,
    'an expired key is absent, whatever its row says',
  );
  assert.equal(applyOne(store, log, { type: 'del', keys: ['k'], at, ifVersion: now }), 1);
  assert.equal(asText(store).get('k', at), null);
  // A key that is not UTF-8 is compared and deleted by its bytes.
  const binary = Buffer.from([0xff, 0x00, 0xe9]);
  applyCommands(store, log, { type: 'set', key: binary, value: Buffer.from([0x80]), at });
  const binaryVersion = store.get(binary, at)?.version;
  assert.equal(applyOne(store, log, { type: 'del', keys: [binary], at, ifVersion: now }), 0);
  assert.deepEqual(store.get(binary, at)?.value, Buffer.from([0x80]));
  assert.equal(
    applyOne(store, log, { type: 'del', keys: [binary], at, ifVersion: binaryVersion }),
    1,
  );
  assert.equal(store.get(binary, at), null);
});

test('KEYS and SCAN match Redis globs, and SCAN visits every key exactly once', (t) => {
  // Goal: glob semantics (*, ?, classes, escapes) and a complete, duplicate-free SCAN.
  const store = openStore(t);
  const log = new TestLog();
  const names = [
    'user:1',
    'user:2',
    'user:10',
    'uxer:1',
    'admin',
    'a*b',
    'hello',
    'hallo',
    'hxllo',
  ];
  applyCommands(store, log, { type: 'mset', pairs: names.map((name) => [name, 'v']), at });
  assert.deepEqual(asText(store).keys('user:*', at), ['user:1', 'user:10', 'user:2']);
  assert.deepEqual(asText(store).keys('u?er:1', at), ['user:1', 'uxer:1']);
  assert.deepEqual(asText(store).keys('h[ae]llo', at), ['hallo', 'hello']);
  assert.deepEqual(asText(store).keys('h[^e]llo', at), ['hallo', 'hxllo']);
  assert.deepEqual(asText(store).keys('h[a-e]llo', at), ['hallo', 'hello']);
  assert.deepEqual(asText(store).keys('a\\*b', at), ['a*b']);
  assert.equal(asText(store).keys('*', at).length, names.length);

  const seen: string[] = [];
  let cursor = 0;
  do {
    const page = asText(store).scan(cursor, { count: 2 }, at);
    seen.push(...page.keys);
    cursor = page.cursor;
  } while (cursor !== 0);
  assert.deepEqual(seen.sort(), [...names].sort());
  const matched = asText(store).scan(0, { match: 'user:*', count: 100 }, at);
  assert.deepEqual(matched, { cursor: 0, keys: ['user:1', 'user:2', 'user:10'] });
  assert.throws(() => asText(store).scan(-1, {}, at), /invalid cursor/);
});

test('SQL commands apply atomically and a failing one is rolled back alone', (t) => {
  // Goal: statement results, a failure that undoes its own command only (the earlier
  // statements of that command too), and the applied index advancing past it.
  const store = openStore(t);
  const log = new TestLog();
  const created = applyOne(store, log, {
    type: 'sql',
    statements: [
      { sql: 'CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT UNIQUE, active INTEGER)' },
      { sql: 'INSERT INTO employees (name, active) VALUES (?, ?)', params: ['ada', true] },
      {
        sql: 'INSERT INTO employees (name, active) VALUES (:name, :active)',
        params: { name: 'bob', active: false },
      },
      { sql: 'UPDATE employees SET name = upper(name) WHERE id = 1 RETURNING id, name' },
      { sql: 'UPDATE employees SET active = 1 WHERE id = 2' },
    ],
  });
  // lastInsertRowid is the statement's own insert, never the connection's history.
  assert.deepEqual(created, [
    { changes: 0, lastInsertRowid: 0 },
    { changes: 1, lastInsertRowid: 1 },
    { changes: 1, lastInsertRowid: 2 },
    { rows: [{ id: 1, name: 'ADA' }] },
    { changes: 1, lastInsertRowid: 0 },
  ]);
  const results = store.apply([
    log.command({
      type: 'sql',
      statements: [
        { sql: "INSERT INTO employees (name) VALUES ('cy')" },
        { sql: "INSERT INTO employees (name) VALUES ('bob')" },
      ],
    }),
    log.command({ type: 'sql', statements: [{ sql: 'INSERT INTO nowhere VALUES (1)' }] }),
    log.command({
      type: 'sql',
      statements: [{ sql: "INSERT INTO employees (name) VALUES ('di')" }],
    }),
  ]);
  assert.deepEqual(results.slice(0, 2), [
    { ok: false, error: 'statement 2: UNIQUE constraint failed: employees.name' },
    { ok: false, error: 'statement 1: no such table: nowhere' },
  ]);
  assert.equal(results[2]?.ok, true);
  assert.deepEqual(store.applied.index, log.index);
  assert.deepEqual(
    store.query('SELECT name, active FROM employees ORDER BY id'),
    [
      { name: 'ADA', active: 1 },
      { name: 'bob', active: 1 },
      { name: 'di', active: null },
    ],
    'cy went with the failed command',
  );
});

test('apply refuses non-deterministic SQL that skipped the leader, the same way everywhere', (t) => {
  // Goal: the store re-checks statements, so random() or transaction control cannot run
  // even when a leader failed to refuse them, and the batch transaction survives.
  const store = openStore(t);
  const log = new TestLog();
  applyOne(store, log, { type: 'sql', statements: [{ sql: 'CREATE TABLE t (x)' }] });
  const results = store.apply([
    log.command({ type: 'sql', statements: [{ sql: 'INSERT INTO t VALUES (random())' }] }),
    log.command({ type: 'sql', statements: [{ sql: 'COMMIT' }] }),
    log.command({ type: 'sql', statements: [{ sql: 'INSERT OR ROLLBACK INTO t VALUES (1)' }] }),
    log.command({ type: 'sql', statements: [{ sql: 'INSERT INTO t VALUES (2)' }] }),
  ]);
  assert.match((results[0] as { error: string }).error, /^statement 1: SQL refused: random\(\)/);
  assert.match((results[1] as { error: string }).error, /COMMIT is transaction control/);
  assert.match((results[2] as { error: string }).error, /ROLLBACK/);
  assert.equal(results[3]?.ok, true);
  assert.deepEqual(store.query('SELECT x FROM t'), [{ x: 2 }]);
});

test('query runs read-only statements only', (t) => {
  // Goal: reads work with parameters; writes, transaction control, ATTACH and PRAGMA are
  // refused with TANDEM_BAD_REQUEST and leave the store able to apply.
  const store = openStore(t);
  const log = new TestLog();
  applyOne(store, log, {
    type: 'sql',
    statements: [{ sql: 'CREATE TABLE t (x)' }, { sql: 'INSERT INTO t VALUES (1), (2)' }],
  });
  assert.deepEqual(store.query('SELECT x FROM t WHERE x > ?', [1]), [{ x: 2 }]);
  const badRequest = (error: unknown): boolean =>
    error instanceof TandemError && error.code === 'TANDEM_BAD_REQUEST';
  for (const sql of [
    'INSERT INTO t VALUES (3)',
    'BEGIN',
    "ATTACH DATABASE ':memory:' AS other",
    'PRAGMA synchronous = OFF',
    'PRAGMA user_version',
    'SELECT * FROM missing',
    'SELECT 1; SELECT 2',
  ]) {
    assert.throws(() => store.query(sql), badRequest, sql);
  }
  applyOne(store, log, { type: 'sql', statements: [{ sql: 'INSERT INTO t VALUES (3)' }] });
  assert.deepEqual(store.query('SELECT count(*) AS n FROM t'), [{ n: 3 }]);
});

test('keys and values are bytes: any byte survives, and reads, INCR, APPEND and globs work on bytes', (t) => {
  // Goal: a value or key that is not UTF-8 (0xE9 alone, 0xFF, NUL) is stored and read back
  // byte for byte, and the commands that look inside values or keys do so bytewise.
  const store = openStore(t);
  const log = new TestLog();
  const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
  const binaryKey = Buffer.from([0x00, 0xff, 0x80, 0x2a]);
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  applyCommands(
    store,
    log,
    { type: 'set', key: 'cafe', value: cafe, at },
    { type: 'set', key: binaryKey, value: every, at },
    { type: 'mset', pairs: [[Buffer.from([0xe9]), Buffer.from([0xff, 0xfe])]], at },
    { type: 'set', key: 'n', value: Buffer.from('41'), at },
  );
  assert.deepEqual(store.get(b('cafe'), at)?.value, cafe);
  assert.deepEqual(store.get(binaryKey, at)?.value, every);
  assert.deepEqual(store.get(Buffer.from([0xe9]), at)?.value, Buffer.from([0xff, 0xfe]));
  assert.equal(store.get(Buffer.from([0xef, 0xbf, 0xbd]), at), null, 'no replacement character');

  assert.equal(applyOne(store, log, { type: 'incrby', key: 'n', by: 1, at }), 42);
  assert.deepEqual(store.get(b('n'), at)?.value, b('42'));
  const [notInteger] = applyCommands(store, log, { type: 'incrby', key: 'cafe', by: 1, at });
  assert.deepEqual(notInteger, { ok: false, error: 'ERR value is not an integer or out of range' });
  assert.equal(
    applyOne(store, log, { type: 'append', key: 'cafe', value: Buffer.from([0]), at }),
    5,
  );
  assert.deepEqual(store.get(b('cafe'), at)?.value, Buffer.concat([cafe, Buffer.from([0])]));
  assert.deepEqual(
    applyOne(store, log, { type: 'set', key: 'cafe', value: 'x', at, returnOld: true }),
    Buffer.concat([cafe, Buffer.from([0])]),
  );

  // `?` is one byte, so the two bytes of 'é' need two; classes and ranges take bytes.
  applyCommands(store, log, { type: 'set', key: 'é', value: 'v', at });
  assert.deepEqual(store.keys(b('?'), at), [b('n'), Buffer.from([0xe9])]);
  assert.deepEqual(store.keys(b('??'), at), [b('é')]);
  assert.deepEqual(store.keys(Buffer.from([0x5b, 0xe0, 0x2d, 0xff, 0x5d]), at), [
    Buffer.from([0xe9]),
  ]);
  assert.deepEqual(store.keys(Buffer.from([0x00, 0xff, 0x2a]), at), [binaryKey]);
  assert.deepEqual(store.scan(0, { match: Buffer.from([0x00, 0x2a]), count: 100 }, at).keys, [
    binaryKey,
  ]);
  assert.equal(store.exists([binaryKey, Buffer.from([0x00])], at), 1);
  const all = store.keys(b('*'), at);
  assert.deepEqual(all, [...all].sort(Buffer.compare), 'KEYS returns byte order');
});

test('an image written when keys and values were text restores and reads the same values', async (t) => {
  // Goal: a data directory of the previous version (TEXT keys and values, old log entries
  // with string commands) opens; every value reads back as its text's UTF-8 bytes, SCAN
  // keeps its order, and new writes of any bytes work on the upgraded table.
  const file = path.join(tempDirectory(t), 'old.db');
  const log = new TestLog();
  databaseImageFile(file, (db) => {
    db.exec(`DROP TABLE _tandem_kv; ${textKvSchema}`);
    const insert = db.prepare(
      'INSERT INTO _tandem_kv (rowid, key, value, version_index, version_term, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    insert.run(7, 'zeta', 'naïve ☃', 1, 1, null);
    insert.run(3, 'café', '12', 2, 1, 5000);
    insert.run(9, 'a', '', 3, 1, null);
    db.prepare('UPDATE _tandem_meta SET applied_index = 3, applied_term = 1 WHERE id = 1').run();
  });
  log.index = 3;

  const store = openStore(t);
  const { meta, data } = imageOfFile(file, 3, 1);
  await store.restore(meta, replay([data]));
  assert.deepEqual(store.applied, { index: 3, term: 1 });
  assert.deepEqual(store.get(b('zeta'), at), {
    value: b('naïve ☃'),
    version: { index: 1, term: 1 },
    expiresAt: null,
  });
  assert.deepEqual(store.get(b('café'), at)?.value, b('12'));
  assert.equal(store.ttlMs(b('café'), at), 4000);
  assert.deepEqual(store.get(b('a'), at)?.value, Buffer.alloc(0));
  assert.deepEqual(store.keys(b('*'), at), [b('a'), b('café'), b('zeta')]);
  assert.deepEqual(store.scan(0, { count: 10 }, at).keys, [b('café'), b('zeta'), b('a')]);

  // An old entry (its command a MessagePack string map) still applies after the upgrade.
  const old = new Packr({ useRecords: false });
  store.apply([log.raw(old.pack({ type: 'incrby', key: 'café', by: 1, at }))]);
  assert.deepEqual(store.get(b('café'), at)?.value, b('13'));
  applyCommands(store, log, {
    type: 'set',
    key: Buffer.from([0xff]),
    value: Buffer.from([0xe9]),
    at,
  });
  assert.deepEqual(store.get(Buffer.from([0xff]), at)?.value, Buffer.from([0xe9]));
  // Its next image is a memory image, which restores to the same keys.
  const image = await store.snapshot();
  const restored = openStore(t, 'restored.db');
  await restored.restore(
    { index: image.index, term: image.term, checksum: image.checksum },
    image.chunks(),
  );
  assert.equal(dump(restored), dump(store));
  assert.deepEqual(restored.scan(0, { count: 10 }, at).keys.slice(0, 3), [
    b('café'),
    b('zeta'),
    b('a'),
  ]);
});

test('SQL integers past 2^53 are bound, stored and returned exactly, retries included', (t) => {
  // Goal: better-sqlite3 would round 64-bit integers to doubles; results hold bigints
  // outside the safe range (numbers inside it), in rows, in lastInsertRowid, and in the
  // answer a session remembers for a retry.
  const store = openStore(t);
  const log = new TestLog();
  const values = [9007199254740993n, 9223372036854775807n, -9223372036854775808n];
  applyOne(store, log, {
    type: 'sql',
    statements: [{ sql: 'CREATE TABLE big (id INTEGER PRIMARY KEY, v BIGINT)' }],
  });
  const insert = {
    type: 'sql',
    at,
    session: { id: 'big', seq: 1 },
    statements: [
      ...values.map((v, i) => ({
        sql: 'INSERT INTO big (id, v) VALUES (?, ?)',
        params: [i + 1, v],
      })),
      { sql: 'INSERT INTO big (id, v) VALUES (?, 7) RETURNING id, v', params: [2n ** 63n - 1n] },
      { sql: 'SELECT v, typeof(v) AS type FROM big WHERE v = :v', params: { v: values[0] } },
    ],
  } as const;
  const expected = [
    { changes: 1, lastInsertRowid: 1 },
    { changes: 1, lastInsertRowid: 2 },
    { changes: 1, lastInsertRowid: 3 },
    { rows: [{ id: 9223372036854775807n, v: 7 }] },
    { rows: [{ v: 9007199254740993n, type: 'integer' }] },
  ];
  assert.deepEqual(applyOne(store, log, insert), expected);
  // The same session and sequence again: the remembered answer, digit for digit.
  const retried = store.apply([log.command(insert)])[0];
  assert.deepEqual(retried?.ok === true ? retried.value : retried, expected);
  assert.deepEqual(store.query('SELECT id, v FROM big WHERE id < 4 ORDER BY id'), [
    { id: 1, v: values[0] },
    { id: 2, v: values[1] },
    { id: 3, v: values[2] },
  ]);
});
