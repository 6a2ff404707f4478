// Linked clusters' merge state in the embedded store: string commands keep it as they
// apply, batches of another cluster's stream (read from its stored records, as a member
// serves them) merge into it, and both stores then read the same.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { encodeBatch } from '../../src/links/codec.js';
import { decodeConflict, linkConflictPrefix, readStreamBatch } from '../../src/links/records.js';
import { systemKey } from '../../src/store/databases.js';
import { linkedRefusal } from '../../src/store/kv-commands.js';
import type { SqliteStore } from '../../src/store/sqlite.js';
import { applyCommands, applyOne, openStore, TestLog, type TextCommand } from './helpers.js';

interface Side {
  readonly store: SqliteStore;
  readonly log: TestLog;
}

function side(t: TestContext, cluster: string): Side {
  const result = { store: openStore(t, `${cluster}.db`), log: new TestLog() };
  assert.equal(
    applyOne(result.store, result.log, { type: 'link', action: 'create', cluster, at: 1 }),
    'OK',
  );
  return result;
}

function run(on: Side, ...commands: TextCommand[]): unknown[] {
  return applyCommands(on.store, on.log, ...commands);
}

/** The system record `name` of a store, as text. */
function record(store: SqliteStore, name: string): string | undefined {
  return store.get(systemKey(Buffer.from(name, 'latin1')), 0)?.value.toString('latin1');
}

/** Pulls `from`'s stream into `to` in batches of `max`, as a leader's puller does. */
function pull(from: Side, to: Side, fromId: string, max = 3): void {
  for (;;) {
    const meta = JSON.parse(record(to.store, 'link:meta') as string) as {
      positions: Record<string, number>;
    };
    const after = meta.positions[fromId] ?? 0;
    const read = readStreamBatch((name) => record(from.store, name), after, max);
    assert.equal(read.kind, 'batch');
    if (read.kind !== 'batch' || read.batch.through === after) return;
    const value = applyOne(to.store, to.log, {
      type: 'link',
      action: 'batch',
      batch: Buffer.from(encodeBatch(read.batch), 'latin1'),
      at: 1,
    });
    assert.equal(typeof (value as { applied: number }).applied, 'number');
  }
}

const get = (on: Side, key: string, at = 10_000) =>
  on.store.get(Buffer.from(key), at)?.value.toString() ?? null;

test('two linked stores converge: last writer wins, increments add up, expiry merges', (t) => {
  const eu = side(t, 'eu');
  const us = side(t, 'us');
  run(
    eu,
    { type: 'set', key: 'k', value: 'eu', at: 100 },
    { type: 'incrby', key: 'n', by: 5, at: 101 },
    { type: 'set', key: 'gone', value: 'x', at: 102 },
  );
  run(
    us,
    { type: 'incrby', key: 'n', by: 3, at: 100 },
    { type: 'set', key: 'k', value: 'us', at: 200 },
    {
      type: 'mset',
      pairs: [
        ['m1', 'a'],
        ['m2', 'b'],
      ],
      at: 201,
    },
    { type: 'append', key: 'm1', value: 'z', at: 202 },
  );
  pull(eu, us, 'eu');
  pull(us, eu, 'us');
  run(
    eu,
    { type: 'del', keys: ['gone'], at: 300 },
    { type: 'expire', key: 'm2', expiresAt: 5_000, at: 301 },
  );
  run(us, { type: 'incrby', key: 'n', by: -1, at: 302 });
  pull(eu, us, 'eu');
  pull(us, eu, 'us');
  for (const key of ['k', 'n', 'gone', 'm1', 'm2']) {
    assert.equal(get(eu, key), get(us, key), `${key} reads the same on both`);
  }
  assert.equal(get(us, 'k'), 'us', 'the later SET wins');
  assert.equal(get(eu, 'n'), '7', 'every increment counted once: 5 + 3 - 1');
  assert.equal(get(us, 'gone'), null);
  assert.equal(get(us, 'm1'), 'az');
  assert.equal(get(us, 'm2', 4_000), 'b');
  assert.equal(get(us, 'm2', 6_000), null, 'the expiry set on eu holds on us');
  assert.equal(us.store.get(Buffer.from('m2'), 0)?.expiresAt, 5_000);
  // eu's SET of k at 100 lost to us's at 200, which had not seen it: recorded on us,
  // where eu's write arrived after its own.
  const conflict = decodeConflict(record(us.store, `${linkConflictPrefix}1`) as string);
  assert.equal(conflict.key, 'k');
  assert.equal(Buffer.from(conflict.value as Uint8Array).toString(), 'eu');
  assert.equal(conflict.lost.cluster, 'eu');
});

test('a linked store refuses what does not merge, and its batches are checked', (t) => {
  const eu = side(t, 'eu');
  const [hset, again, rename] = run(
    eu,
    { type: 'hset', key: 'h', pairs: [['f', 'v']], at: 10 },
    { type: 'link', action: 'create', cluster: 'other', at: 11 },
    { type: 'rename', key: 'a', destination: 'b', at: 12 },
  ) as { ok: boolean; error?: string }[];
  assert.deepEqual(hset, { ok: false, error: linkedRefusal('hset') });
  assert.match(String(again?.error), /linked already, as eu/);
  assert.deepEqual(rename, { ok: false, error: linkedRefusal('rename') });
  assert.equal(eu.store.type(Buffer.from('h'), 20), 'none');
  const [garbage, own] = run(
    eu,
    { type: 'link', action: 'batch', batch: Buffer.from('{"from":"us"'), at: 13 },
    {
      type: 'link',
      action: 'batch',
      batch: Buffer.from(encodeBatch({ from: 'eu', after: 0, through: 0, records: [] })),
      at: 14,
    },
  ) as { ok: boolean; error?: string; value?: unknown }[];
  assert.match(String(garbage?.error), /^ERR link batch: the batch is not JSON/);
  assert.deepEqual(own?.value, { refused: 'own' });
});

test('a key written before the link enters the merge state when first touched', (t) => {
  const eu = { store: openStore(t, 'eu.db'), log: new TestLog() };
  run(eu, { type: 'set', key: 'n', value: '10', at: 5 });
  run(eu, { type: 'link', action: 'create', cluster: 'eu', at: 6 });
  run(eu, { type: 'incrby', key: 'n', by: 1, at: 7 });
  assert.equal(get(eu, 'n'), '11');
  const us = side(t, 'us');
  pull(eu, us, 'eu');
  assert.equal(get(us, 'n'), '11', 'the old value travels with the first increment');
});

test('seeding enters the keys written before the link, once, and they reach the other side', (t) => {
  const eu = { store: openStore(t, 'eu.db'), log: new TestLog() };
  run(
    eu,
    { type: 'set', key: 'a', value: 'old-a', at: 5 },
    { type: 'set', key: 'ttl', value: 'soon', expiresAt: 900_000, at: 5 },
    { type: 'hset', key: 'h', pairs: [['f', 'v']], at: 5 },
    { type: 'set', key: 'touched', value: '1', at: 5 },
  );
  run(eu, { type: 'link', action: 'create', cluster: 'eu', at: 6 });
  assert.equal(JSON.parse(record(eu.store, 'link:meta') as string).seeded, false);
  run(eu, { type: 'incrby', key: 'touched', by: 1, at: 7 });
  const page = ['a', 'ttl', 'h', 'touched', 'gone'].map((key) => Buffer.from(key));
  const [first] = run(eu, { type: 'link', action: 'seed', keys: page, at: 8 });
  assert.deepEqual(
    first,
    { ok: true, value: { seeded: 2 } },
    'a and ttl; the hash does not merge, touched is in',
  );
  const [again] = run(eu, { type: 'link', action: 'seed', keys: page, done: true, at: 9 });
  assert.deepEqual(again, { ok: true, value: { seeded: 0 } });
  assert.equal(JSON.parse(record(eu.store, 'link:meta') as string).seeded, true);
  const [after] = run(eu, { type: 'link', action: 'seed', keys: page, at: 10 });
  assert.deepEqual(after, { ok: true, value: { seeded: 0 } }, 'a seeded state takes no more pages');

  const us = side(t, 'us');
  pull(eu, us, 'eu');
  assert.equal(get(us, 'a'), 'old-a');
  assert.equal(get(us, 'ttl'), 'soon');
  assert.equal(us.store.get(Buffer.from('ttl'), 10)?.expiresAt, 900_000);
  assert.equal(get(us, 'touched'), '2');
  assert.equal(get(us, 'h'), null, 'a hash is not copied');
});

test('a remote write to a key written here before the link does not replace it unrecorded', (t) => {
  const eu = { store: openStore(t, 'eu.db'), log: new TestLog() };
  run(eu, { type: 'set', key: 'k', value: 'eu-before', at: 5 });
  run(eu, { type: 'link', action: 'create', cluster: 'eu', at: 6 });
  const us = side(t, 'us');
  run(us, { type: 'set', key: 'k', value: 'us-after', at: 300 });
  // Pulled at 400, before eu's seeding reached k: k enters eu's merge state at 400.
  const read = readStreamBatch((name) => record(us.store, name), 0, 10);
  assert.equal(read.kind, 'batch');
  if (read.kind !== 'batch') return;
  applyOne(eu.store, eu.log, {
    type: 'link',
    action: 'batch',
    batch: Buffer.from(encodeBatch(read.batch), 'latin1'),
    at: 400,
  });
  pull(eu, us, 'eu');
  assert.equal(get(eu, 'k'), 'eu-before');
  assert.equal(get(us, 'k'), 'eu-before');
  for (const store of [eu.store, us.store]) {
    const conflict = decodeConflict(record(store, `${linkConflictPrefix}1`) as string);
    assert.equal(conflict.key, 'k');
    assert.equal(Buffer.from(conflict.value ?? []).toString(), 'us-after');
  }
});

test("a counter's merge state stays small however many increments it takes", (t) => {
  const eu = side(t, 'eu');
  const us = side(t, 'us');
  const commands: TextCommand[] = [];
  for (let i = 0; i < 5_000; i++) commands.push({ type: 'incrby', key: 'n', by: 2, at: 10 + i });
  run(eu, ...commands);
  run(us, { type: 'set', key: 'n', value: '1000', at: 3 });
  pull(eu, us, 'eu', 1_000);
  pull(us, eu, 'us', 1_000);
  // us's SET had seen none of eu's increments: they count on top of it, on both sides.
  assert.equal(get(eu, 'n'), '11000');
  assert.equal(get(us, 'n'), '11000');
  for (const store of [eu.store, us.store]) {
    const state = record(store, `link:k:${'n'}`);
    assert.ok(state !== undefined && state.length < 1_000, `state of ${state?.length} bytes`);
  }
});
