import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LinkedState, MemoryLinkStore, type UnstampedOp } from '../../src/links/protocol.js';
import {
  StoredLinkStore,
  decodeConflict,
  decodeKeyState,
  decodeLinkMeta,
  encodeLinkMeta,
  linkConflictPrefix,
  linkMetaName,
  linkStreamPrefix,
  newLinkMeta,
  type SystemRecords,
} from '../../src/links/records.js';

/** System records in a map of text: everything stored goes through its text form. */
function textRecords(): SystemRecords & { readonly map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    get: (name) => map.get(name),
    set: (name, text) => void map.set(name, text),
    delete: (name) => void map.delete(name),
  };
}

interface Step {
  readonly cluster: 0 | 1;
  readonly key: string;
  readonly op: UnstampedOp;
  readonly atMs: number;
  readonly exchange: boolean;
}

const keys = ['a', 'b', '\u00ff\u0000k'];
const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  cluster: fc.constantFrom(0 as const, 1 as const),
  key: fc.constantFrom(...keys),
  op: fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      value: fc.option(
        fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
        { nil: null },
      ),
      expiresAtMs: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
    }),
    fc.record({ kind: fc.constant('increment' as const), delta: fc.bigInt(-5n, 5n) }),
    fc.record({
      kind: fc.constant('expire' as const),
      expiresAtMs: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
    }),
  ),
  atMs: fc.integer({ min: 0, max: 5_000 }),
  exchange: fc.boolean(),
});

/** Two linked clusters over stores of one kind, after `steps`. */
function run(steps: readonly Step[], stored: boolean) {
  const records = [textRecords(), textRecords()];
  const states = ['eu', 'us'].map((cluster, i) =>
    stored
      ? new LinkedState(cluster, new StoredLinkStore(records[i]!, newLinkMeta(cluster)))
      : new LinkedState(cluster, new MemoryLinkStore()),
  ) as [LinkedState, LinkedState];
  for (const step of steps) {
    states[step.cluster].applyLocalAt(step.key, step.op, step.atMs);
    if (step.exchange) {
      const [eu, us] = states;
      us.applyBatch(eu.batchAfter(us.position('eu'), 3));
      eu.applyBatch(us.batchAfter(eu.position('us'), 3));
    }
  }
  return { states, records };
}

test('a linked state kept as stored records behaves exactly as one in memory', () => {
  fc.assert(
    fc.property(fc.array(stepArbitrary, { maxLength: 40 }), (steps) => {
      const memory = run(steps, false);
      const stored = run(steps, true);
      for (const i of [0, 1]) {
        const [m, s] = [memory.states[i]!, stored.states[i]!];
        assert.deepEqual(s.store.meta().positions, m.store.meta().positions);
        assert.deepEqual(s.origins, m.origins);
        assert.equal(s.streamLength, m.streamLength);
        assert.equal(s.conflictsTotal, m.conflictsTotal);
        assert.deepEqual(s.batchAfter(0, 1_000), m.batchAfter(0, 1_000));
        for (const key of keys) {
          assert.deepEqual(s.keyState(key), m.keyState(key), `key ${JSON.stringify(key)}`);
          for (const nowMs of [0, 3_000, 20_000]) {
            assert.deepEqual(s.read(key, nowMs), m.read(key, nowMs));
          }
        }
        // The meta is stored after every operation, and reads back as it was.
        const text = stored.records[i]!.map.get(linkMetaName);
        if (s.streamLength > 0) assert.deepEqual(decodeLinkMeta(text!), s.store.meta());
      }
    }),
    { numRuns: 200 },
  );
});

test('stored conflicts name the key, the lost write and the winner, in reused slots', () => {
  const records = textRecords();
  const eu = new LinkedState('eu', new StoredLinkStore(records, newLinkMeta('eu')));
  const us = new LinkedState('us');
  us.applyLocalAt('k', { kind: 'write', value: Buffer.from('us'), expiresAtMs: null }, 10);
  eu.applyLocalAt('k', { kind: 'write', value: Buffer.from('eu'), expiresAtMs: null }, 20);
  eu.applyBatch(us.batchAfter(0, 10));
  assert.equal(eu.conflictsTotal, 1);
  const conflict = decodeConflict(records.map.get(`${linkConflictPrefix}1`)!);
  assert.equal(conflict.key, 'k');
  assert.equal(conflict.kind, 'write');
  assert.equal(Buffer.from(conflict.value!).toString(), 'us');
  assert.equal(conflict.lost.cluster, 'us');
  assert.equal(conflict.winner.cluster, 'eu');
});

test('the oldest stream records go past the number kept, and the start moves', () => {
  const records = textRecords();
  const store = new StoredLinkStore(records, newLinkMeta('eu'), { streamRecordsKept: 3 });
  const eu = new LinkedState('eu', store);
  for (let i = 0; i < 5; i++) eu.applyLocalAt('n', { kind: 'increment', delta: 1n }, 100 + i);
  assert.equal(store.meta().streamStart, 3);
  assert.equal(records.map.has(`${linkStreamPrefix}2`), false);
  assert.equal(store.streamRecord(2), null, 'a record no longer kept');
  assert.equal(store.streamRecord(5)?.position, 5);
  assert.equal(Buffer.from(eu.read('n', 0)!).toString(), '5');
  assert.throws(() => eu.batchAfter(0, 10), /no longer kept/);
});

test('a stored record that does not decode is TANDEM_CORRUPT, naming it', () => {
  assert.throws(
    () => decodeKeyState('{"winner":7}', 'k'),
    (error: Error & { code?: string }) =>
      error.code === 'TANDEM_CORRUPT' && /link:k:k/.test(error.message),
  );
  assert.throws(() => decodeLinkMeta('not json'), { code: 'TANDEM_CORRUPT' });
  const meta = newLinkMeta('eu');
  assert.deepEqual(decodeLinkMeta(encodeLinkMeta(meta)), meta);
});
