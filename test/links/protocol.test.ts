import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hlc } from '../../src/links/hlc.js';
import {
  LinkPuller,
  LinkedState,
  MemoryLinkStore,
  planBatch,
  type LinkBatch,
} from '../../src/links/protocol.js';

function writer(cluster: string) {
  const clock = new Hlc(cluster);
  const state = new LinkedState(cluster);
  let wallMs = 1_000;
  return {
    clock,
    state,
    set(key: string, value: string) {
      state.applyLocal(key, {
        kind: 'write',
        stamp: clock.now((wallMs += 1)),
        value: Buffer.from(value),
        expiresAtMs: null,
      });
    },
    incr(key: string, delta: bigint) {
      state.applyLocal(key, { kind: 'increment', stamp: clock.now((wallMs += 1)), delta });
    },
  };
}

const text = (value: Uint8Array | null) => (value === null ? null : Buffer.from(value).toString());

test('a batch moves the position and applies each record once, however often it comes', () => {
  const a = writer('a');
  a.set('k', 'one');
  a.incr('n', 2n);
  a.incr('n', 3n);
  const b = new LinkedState('b');
  const batch = a.state.batchAfter(0, 10);
  assert.deepEqual([batch.after, batch.through, batch.records.length], [0, 3, 3]);
  assert.deepEqual(b.applyBatch(batch), { ok: true, applied: 3, skipped: 0 });
  assert.deepEqual(b.applyBatch(batch), { ok: true, applied: 0, skipped: 3 });
  assert.equal(b.position('a'), 3);
  assert.equal(text(b.read('n', 0)), '5');
  assert.equal(text(b.read('k', 0)), 'one');
  // b forwards what it applied; a gets its own operations back and skips them all.
  assert.equal(b.streamLength, 3);
  assert.deepEqual(a.state.applyBatch(b.batchAfter(0, 10)), { ok: true, applied: 0, skipped: 3 });
  assert.equal(text(a.state.read('n', 0)), '5');
});

test('a batch past the position, out of order, or from this cluster changes nothing', () => {
  const a = writer('a');
  for (let i = 0; i < 4; i++) a.incr('n', 1n);
  const b = new LinkedState('b');
  const later = a.state.batchAfter(2, 10);
  assert.deepEqual(b.applyBatch(later), { ok: false, refusal: 'gap' });
  const whole = a.state.batchAfter(0, 10);
  const shuffled: LinkBatch = { ...whole, records: [...whole.records].reverse() };
  assert.deepEqual(b.applyBatch(shuffled), { ok: false, refusal: 'malformed' });
  assert.deepEqual(b.applyBatch({ ...whole, through: 3 }), { ok: false, refusal: 'malformed' });
  const twice: LinkBatch = { ...whole, records: [whole.records[0]!, ...whole.records] };
  assert.deepEqual(b.applyBatch(twice), { ok: false, refusal: 'malformed' });
  assert.deepEqual(a.state.applyBatch(whole), { ok: false, refusal: 'own' });
  assert.equal(b.position('a'), 0);
  assert.equal(b.read('n', 0), null);
  assert.deepEqual(planBatch(0, {}, whole), { ok: true, apply: whole.records, skipped: 0 });
});

test('a puller asks from the committed position, drops late answers and waits for its batch', () => {
  const a = writer('a');
  for (let i = 0; i < 6; i++) a.incr('n', 1n);
  const puller = new LinkPuller('a', { recordsMax: 4, retryTicks: 10, idleTicks: 2 });
  const clock = new Hlc('b');
  const first = puller.poll(0, 0);
  assert.deepEqual(first, { from: 'a', after: 0, recordsMax: 4 });
  assert.equal(puller.poll(0, 1), null, 'one request at a time');
  const answer = a.state.batchAfter(0, 4);
  const proposed = puller.answer(answer, 0, 2, clock, 1_000);
  assert.deepEqual([proposed?.after, proposed?.through], [0, 4]);
  assert.equal(puller.answer(answer, 0, 3, clock, 1_000), null, 'a duplicate answer');
  assert.equal(puller.poll(0, 4), null, 'waits for its batch to commit');
  assert.deepEqual(puller.poll(4, 5), { from: 'a', after: 4, recordsMax: 4 });
  assert.equal(puller.answer(answer, 4, 6, clock, 1_000), null, 'an answer to an old request');
  // A proposal that never commits is asked for again after retryTicks.
  const next = puller.answer(a.state.batchAfter(4, 4), 4, 6, clock, 1_000);
  assert.deepEqual([next?.after, next?.through], [4, 6]);
  assert.equal(puller.poll(4, 10), null);
  assert.deepEqual(puller.poll(4, 16), { from: 'a', after: 4, recordsMax: 4 });
});

test('a batch is cut before the first stamp too far ahead of the clock, and counted', () => {
  const ahead = new Hlc('a');
  const state = new LinkedState('a');
  state.applyLocal('n', { kind: 'increment', stamp: ahead.now(1_000), delta: 1n });
  state.applyLocal('n', { kind: 'increment', stamp: ahead.now(90_000), delta: 1n });
  const puller = new LinkPuller('a', { recordsMax: 4, retryTicks: 10, idleTicks: 2 });
  const clock = new Hlc('b', { skewMsMax: 60_000 });
  puller.poll(0, 0);
  const proposed = puller.answer(state.batchAfter(0, 4), 0, 1, clock, 1_000);
  assert.deepEqual([proposed?.through, proposed?.records.length], [1, 1]);
  assert.equal(puller.refusedForSkew, 1);
  assert.equal(clock.last.ms, 1_000, 'the clock did not jump to the refused stamp');
});

test("a cluster's own writes are stamped as they apply, past every stamp applied before", () => {
  const ahead = writer('a');
  ahead.set('k', 'from a');
  const b = new LinkedState('b');
  b.applyBatch(ahead.state.batchAfter(0, 10));
  const remote = ahead.state.keyState('k').winner;
  assert.ok(remote !== null);
  // b's command time is far behind a's stamp (b's wall clock is behind, or its leader new).
  const op = b.applyLocalAt(
    'k',
    { kind: 'write', value: Buffer.from('from b'), expiresAtMs: null },
    5,
  );
  assert.ok(op.stamp.ms >= remote.ms, 'the stamp is past the remote one');
  assert.equal(op.stamp.cluster, 'b');
  assert.equal(text(b.read('k', 0)), 'from b', 'the later write wins, as its writer saw the first');
  assert.equal(b.conflictsTotal, 0, 'overwriting a value its writer had seen is no conflict');
  const next = b.applyLocalAt('n', { kind: 'increment', delta: 1n }, 5);
  assert.ok(next.stamp.ms > op.stamp.ms || next.stamp.logical > op.stamp.logical);
  assert.deepEqual(b.stampAt(5).cluster, 'b');
});

test('a memory store keeps the latest conflicts, and the state counts them all', () => {
  const store = new MemoryLinkStore({ conflictsMax: 2 });
  const a = new LinkedState('a', store);
  const b = new LinkedState('b');
  for (let i = 0; i < 4; i++) {
    b.applyLocalAt('k', { kind: 'write', value: Buffer.from(`b${i}`), expiresAtMs: null }, 10 + i);
  }
  // a writes the key at a later time without having seen b's writes: each later b write
  // then conflicts as it arrives, one at a time.
  a.applyLocalAt('k', { kind: 'write', value: Buffer.from('a'), expiresAtMs: null }, 1_000);
  for (let i = 0; i < 4; i++) {
    const batch = b.batchAfter(i, 1);
    a.applyBatch(batch);
  }
  assert.equal(a.conflictsTotal, 4);
  assert.equal(store.conflicts().length, 2);
  assert.equal(text(a.read('k', 0)), 'a');
});

test("an answer leaves out the requester's own operations, and its position still moves past them", () => {
  const a = writer('a');
  a.incr('n', 5n);
  const b = writer('b');
  assert.deepEqual(b.state.applyBatch(a.state.batchAfter(0, 10)), {
    ok: true,
    applied: 1,
    skipped: 0,
  });
  b.incr('n', 2n);
  // b's stream: a's increment (forwarded), then b's own.
  assert.equal(b.state.streamLength, 2);
  const forA = b.state.batchAfter(0, 10, 'a');
  assert.deepEqual(
    forA.records.map((record) => record.position),
    [2],
  );
  assert.equal(forA.through, 2);
  assert.deepEqual(b.state.batchAfter(0, 10).records.length, 2, 'for anyone else, all of it');
  assert.deepEqual(a.state.applyBatch(forA), { ok: true, applied: 1, skipped: 0 });
  assert.equal(a.state.position('b'), 2);
  assert.equal(Buffer.from(a.state.read('n', 0) ?? []).toString(), '7');
  assert.equal(Buffer.from(b.state.read('n', 0) ?? []).toString(), '7');
});
