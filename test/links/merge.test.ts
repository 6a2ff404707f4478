import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Hlc, compareStamps, formatStamp, type Stamp } from '../../src/links/hlc.js';
import {
  applyOp,
  clockHolds,
  emptyKeyState,
  MemoryIncrementHistory,
  mergeClocks,
  readValue,
  type Conflict,
  type IncrementHistory,
  type KeyOp,
  type KeyState,
} from '../../src/links/merge.js';

const nowMs = 1_000_000;
const keys = ['k1', 'k2'] as const;
type Key = (typeof keys)[number];

/** One step of a run of linked clusters. */
type Step =
  | { type: 'write'; at: number; key: Key; value: string | null; expires: boolean }
  | { type: 'increment'; at: number; key: Key; delta: number }
  | { type: 'expire'; at: number; key: Key; expires: boolean }
  | { type: 'deliver'; from: number; to: number; count: number }
  | { type: 'duplicate'; from: number; to: number; pick: number };

function stepArbitrary(clusters: number): fc.Arbitrary<Step> {
  const at = fc.integer({ min: 0, max: clusters - 1 });
  const key = fc.constantFrom(...keys);
  const value = fc.oneof(
    fc.constant(null),
    fc.integer({ min: -50, max: 50 }).map(String),
    fc.constantFrom('abc', '010', ''),
  );
  return fc.oneof(
    fc.record({ type: fc.constant('write' as const), at, key, value, expires: fc.boolean() }),
    fc.record({
      type: fc.constant('increment' as const),
      at,
      key,
      delta: fc.integer({ min: -5, max: 5 }),
    }),
    fc.record({ type: fc.constant('expire' as const), at, key, expires: fc.boolean() }),
    fc.record({ type: fc.constant('deliver' as const), from: at, to: at, count: fc.nat(6) }),
    fc.record({ type: fc.constant('duplicate' as const), from: at, to: at, pick: fc.nat() }),
  );
}

interface KeyedOp {
  readonly key: Key;
  readonly op: KeyOp;
}

/** One cluster: its clock (its wall clock off by `skewMs`), its keys, and what it applied. */
class Cluster {
  readonly clock: Hlc;
  readonly states = new Map<Key, KeyState>();
  readonly histories = new Map<Key, MemoryIncrementHistory>();
  /** Every operation it applied (its own and remote ones), in order: what it forwards. */
  readonly log: KeyedOp[] = [];
  readonly conflicts: Conflict[] = [];
  /** How much of each other cluster's log it has read. */
  readonly cursors: number[];
  #wallMs = 0;

  constructor(
    readonly id: string,
    readonly skewMs: number,
    clusters: number,
  ) {
    this.clock = new Hlc(id, { skewMsMax: 1_000_000 });
    this.cursors = new Array<number>(clusters).fill(0);
  }

  state(key: Key): KeyState {
    return this.states.get(key) ?? emptyKeyState;
  }

  local(step: Extract<Step, { type: 'write' | 'increment' | 'expire' }>): void {
    this.#wallMs += 1;
    const stamp = this.clock.now(Math.max(0, this.#wallMs + this.skewMs));
    const expiresAtMs = (expires: boolean) => (expires ? nowMs * 2 : null);
    let op: KeyOp;
    if (step.type === 'write') {
      const seen = mergeClocks(this.state(step.key).seen, { [stamp.cluster]: stamp });
      const value = step.value === null ? null : Buffer.from(step.value);
      op = { kind: 'write', stamp, seen, value, expiresAtMs: expiresAtMs(step.expires) };
    } else if (step.type === 'increment') {
      op = { kind: 'increment', stamp, delta: BigInt(step.delta) };
    } else {
      op = { kind: 'expire', stamp, expiresAtMs: expiresAtMs(step.expires) };
    }
    this.apply({ key: step.key, op });
  }

  /** Applies an operation; one it holds already changes nothing and is not forwarded. */
  apply(keyed: KeyedOp): void {
    const before = this.state(keyed.key);
    if (clockHolds(before.seen, keyed.op.stamp)) return;
    this.clock.observe(keyed.op.stamp, Math.max(0, this.#wallMs + this.skewMs));
    const { state, conflicts } = applyOp(before, keyed.op, historyOf(this.histories, keyed.key));
    this.states.set(keyed.key, state);
    this.conflicts.push(...conflicts);
    this.log.push(keyed);
  }
}

/** The history of `key` in `histories`, new when there is none yet. */
function historyOf<K>(histories: Map<K, MemoryIncrementHistory>, key: K): IncrementHistory {
  let history = histories.get(key);
  if (history === undefined) {
    history = new MemoryIncrementHistory();
    histories.set(key, history);
  }
  return history;
}

function run(clusterCount: number, skews: number[], steps: Step[]): Cluster[] {
  const clusters = skews
    .slice(0, clusterCount)
    .map((skew, index) => new Cluster(`c${index}`, skew, clusterCount));
  for (const step of steps) {
    if (step.type === 'deliver') {
      if (step.from === step.to) continue;
      const from = clusters[step.from] as Cluster;
      const to = clusters[step.to] as Cluster;
      const end = Math.min(from.log.length, (to.cursors[step.from] as number) + step.count);
      for (let i = to.cursors[step.from] as number; i < end; i++) to.apply(from.log[i] as KeyedOp);
      to.cursors[step.from] = end;
    } else if (step.type === 'duplicate') {
      // A batch sent again: an operation the receiver has already read.
      const from = clusters[step.from] as Cluster;
      const to = clusters[step.to] as Cluster;
      const read = to.cursors[step.from] as number;
      if (step.from !== step.to && read > 0) to.apply(from.log[step.pick % read] as KeyedOp);
    } else {
      (clusters[step.at] as Cluster).local(step);
    }
  }
  healAll(clusters);
  return clusters;
}

/** Delivers everything until no cluster has anything left to read. */
function healAll(clusters: Cluster[]): void {
  for (let moved = true; moved;) {
    moved = false;
    for (const to of clusters) {
      clusters.forEach((from, index) => {
        if (from === to) return;
        while ((to.cursors[index] as number) < from.log.length) {
          to.apply(from.log[to.cursors[index] as number] as KeyedOp);
          to.cursors[index] = (to.cursors[index] as number) + 1;
          moved = true;
        }
      });
    }
  }
}

function readable(state: KeyState): string | null {
  const value = readValue(state, nowMs);
  return value === null ? null : Buffer.from(value).toString('latin1');
}

const world = fc.record({
  clusterCount: fc.integer({ min: 2, max: 3 }),
  // Wall clocks seconds apart, either way.
  skews: fc.array(fc.integer({ min: -5_000, max: 5_000 }), { minLength: 3, maxLength: 3 }),
  steps: fc.array(stepArbitrary(3), { maxLength: 80 }),
});

function normalise(steps: Step[], clusterCount: number): Step[] {
  return steps.map((step) => {
    if (step.type === 'deliver' || step.type === 'duplicate') {
      return { ...step, from: step.from % clusterCount, to: step.to % clusterCount };
    }
    return { ...step, at: step.at % clusterCount };
  });
}

test('linked clusters that applied the same operations read the same value of every key', () => {
  fc.assert(
    fc.property(world, ({ clusterCount, skews, steps }) => {
      const clusters = run(clusterCount, skews, normalise(steps, clusterCount));
      for (const key of keys) {
        const first = clusters[0] as Cluster;
        for (const other of clusters.slice(1)) {
          assert.equal(readable(other.state(key)), readable(first.state(key)), key);
          assert.deepEqual(other.state(key).winner, first.state(key).winner);
        }
      }
    }),
    { numRuns: 300 },
  );
});

/** What the rules say a key reads, computed from every operation at once. */
function expected(ops: readonly KeyOp[]): string | null {
  const writes = ops.filter((op) => op.kind === 'write');
  const winner = writes.reduce<(typeof writes)[number] | null>(
    (best, op) => (best === null || compareStamps(op.stamp, best.stamp) > 0 ? op : best),
    null,
  );
  const expiries = ops.filter((op) => op.kind !== 'increment');
  const expiry = expiries.reduce<(typeof expiries)[number] | null>(
    (best, op) => (best === null || compareStamps(op.stamp, best.stamp) > 0 ? op : best),
    null,
  );
  if (expiry !== null && expiry.expiresAtMs !== null && expiry.expiresAtMs <= nowMs) return null;
  const outside = ops.filter(
    (op) => op.kind === 'increment' && (winner === null || !clockHolds(winner.seen, op.stamp)),
  );
  const value = winner?.value ?? null;
  const text = value === null ? null : Buffer.from(value).toString('latin1');
  if (outside.length === 0) return text;
  const base = text === null ? 0n : /^(?:0|-?[1-9][0-9]{0,18})$/.test(text) ? BigInt(text) : null;
  if (base === null) return text;
  return outside
    .reduce((sum, op) => sum + (op.kind === 'increment' ? op.delta : 0n), base)
    .toString();
}

test('the value is the latest write plus every increment it had not seen (the rules, at once)', () => {
  fc.assert(
    fc.property(world, ({ clusterCount, skews, steps }) => {
      const clusters = run(clusterCount, skews, normalise(steps, clusterCount));
      const all = clusters.flatMap((cluster) => cluster.log);
      for (const key of keys) {
        const unique = new Map<string, KeyOp>();
        for (const keyed of all) {
          if (keyed.key === key) unique.set(formatStamp(keyed.op.stamp), keyed.op);
        }
        assert.equal(readable((clusters[0] as Cluster).state(key)), expected([...unique.values()]));
      }
    }),
    { numRuns: 300 },
  );
});

test('any causal order of the operations, with duplicates, gives the same state', () => {
  fc.assert(
    fc.property(
      world,
      fc.array(fc.nat(), { minLength: 1, maxLength: 400 }),
      ({ clusterCount, skews, steps }, picks) => {
        const clusters = run(clusterCount, skews, normalise(steps, clusterCount));
        // Interleave the clusters' logs at random, sometimes going back: each log is in
        // causal order, so any interleaving of them is a causal delivery.
        const cursors = clusters.map(() => 0);
        const fresh = new Map<Key, KeyState>();
        const histories = new Map<Key, MemoryIncrementHistory>();
        const apply = (keyed: KeyedOp) =>
          fresh.set(
            keyed.key,
            applyOp(
              fresh.get(keyed.key) ?? emptyKeyState,
              keyed.op,
              historyOf(histories, keyed.key),
            ).state,
          );
        for (const pick of picks) {
          const index = pick % clusters.length;
          const log = (clusters[index] as Cluster).log;
          if (pick % 7 === 0 && (cursors[index] as number) > 0) {
            apply(log[pick % (cursors[index] as number)] as KeyedOp); // a duplicate
          } else if ((cursors[index] as number) < log.length) {
            apply(log[cursors[index] as number] as KeyedOp);
            cursors[index] = (cursors[index] as number) + 1;
          }
        }
        clusters.forEach((cluster, index) => {
          for (let i = cursors[index] as number; i < cluster.log.length; i++) {
            apply(cluster.log[i] as KeyedOp);
          }
        });
        for (const key of keys) {
          const reference = (clusters[0] as Cluster).state(key);
          const state = fresh.get(key) ?? emptyKeyState;
          assert.equal(readable(state), readable(reference));
          assert.deepEqual(state.winner, reference.winner);
          assert.deepEqual(state.seen, reference.seen);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('every write that is not the winner was seen by a later write or recorded as lost where it was made', () => {
  fc.assert(
    fc.property(world, ({ clusterCount, skews, steps }) => {
      const clusters = run(clusterCount, skews, normalise(steps, clusterCount));
      const recordedBy = new Map(
        clusters.map((cluster) => [
          cluster.id,
          new Set(cluster.conflicts.map((conflict) => formatStamp(conflict.lost))),
        ]),
      );
      const recordedAnywhere = new Set([...recordedBy.values()].flatMap((names) => [...names]));
      for (const key of keys) {
        const ops = (clusters[0] as Cluster).log.filter((keyed) => keyed.key === key);
        const writes = ops.flatMap((keyed) => (keyed.op.kind === 'write' ? [keyed.op] : []));
        const winner = (clusters[0] as Cluster).state(key).winner;
        for (const write of writes) {
          const name = formatStamp(write.stamp);
          if (winner !== null && compareStamps(write.stamp, winner) === 0) {
            assert.ok(!recordedAnywhere.has(name), 'the winner is never recorded as lost');
            continue;
          }
          const seenLater = writes.some(
            (other) => other !== write && clockHolds(other.seen, write.stamp),
          );
          const atOrigin = recordedBy.get(write.stamp.cluster)?.has(name) === true;
          assert.ok(seenLater || atOrigin, `write ${name} vanished unrecorded`);
        }
      }
      // A lost write names a winner with a greater stamp.
      for (const conflict of clusters.flatMap((cluster) => cluster.conflicts)) {
        if (conflict.kind === 'write') assert.ok(compareStamps(conflict.winner, conflict.lost) > 0);
      }
    }),
    { numRuns: 300 },
  );
});

test("a write that had seen some of an origin's increments counts the rest, found in the history", () => {
  const a = new Hlc('a');
  const b = new Hlc('b');
  const onA = new MemoryIncrementHistory();
  const onB = new MemoryIncrementHistory();
  let stateA = emptyKeyState;
  let stateB = emptyKeyState;
  let sum = 0n;
  let seenAt: Stamp | null = null;
  let sumSeen = 0n;
  for (let i = 1; i <= 10_000; i++) {
    const op: KeyOp = { kind: 'increment', stamp: a.now(i), delta: BigInt((i % 7) - 3) };
    stateA = applyOp(stateA, op, onA).state;
    sum += (op as { delta: bigint }).delta;
    if (i <= 4_321) {
      // B has applied the first 4,321 when it writes.
      stateB = applyOp(stateB, op, onB).state;
      seenAt = op.stamp;
      sumSeen = sum;
    }
  }
  assert.equal(readable(stateA), sum.toString());
  assert.equal(readable(stateB), sumSeen.toString());
  const stamp = b.now(20_000);
  const write: KeyOp = {
    kind: 'write',
    stamp,
    seen: { a: seenAt as Stamp, b: stamp },
    value: Buffer.from('100'),
    expiresAtMs: null,
  };
  // Reads of the history: a binary search over 10,000 stamps.
  let reads = 0;
  const counting: IncrementHistory = {
    at: (origin, n) => {
      reads += 1;
      return onA.at(origin, n);
    },
    add: (origin, n, at, total) => onA.add(origin, n, at, total),
  };
  const merged = applyOp(stateA, write, counting).state;
  assert.equal(readable(merged), (100n + sum - sumSeen).toString());
  assert.ok(reads <= 16, `${reads} history reads`);
  assert.deepEqual(merged.inside, { a: { count: 4_321, sum: sumSeen } });
  // The key's state stays a few fields however many increments it took.
  assert.ok(
    JSON.stringify(merged, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).length <
      1_000,
  );
});

test('a SET and a concurrent INCR elsewhere end as the SET plus the increment on both sides', () => {
  const a = new Hlc('a');
  const b = new Hlc('b');
  const set = a.now(10);
  const incr = b.now(20);
  const write: KeyOp = {
    kind: 'write',
    stamp: set,
    seen: { a: set },
    value: Buffer.from('5'),
    expiresAtMs: null,
  };
  const increment: KeyOp = { kind: 'increment', stamp: incr, delta: 1n };
  const h1 = new MemoryIncrementHistory();
  const h2 = new MemoryIncrementHistory();
  const one = applyOp(applyOp(emptyKeyState, write, h1).state, increment, h1).state;
  const other = applyOp(applyOp(emptyKeyState, increment, h2).state, write, h2).state;
  assert.equal(readable(one), '6');
  assert.equal(readable(other), '6');
  // A later SET that had seen both replaces them.
  const later = a.now(30);
  const reset: KeyOp = {
    kind: 'write',
    stamp: later,
    seen: mergeClocks(one.seen, { a: later }),
    value: Buffer.from('0'),
    expiresAtMs: null,
  };
  assert.equal(readable(applyOp(one, reset, h1).state), '0');
});

test('two concurrent SETs: the later stamp wins on both sides and both record the loser', () => {
  const a = new Hlc('a');
  const b = new Hlc('b');
  const first: KeyOp = {
    kind: 'write',
    stamp: a.now(10),
    seen: {},
    value: Buffer.from('from a'),
    expiresAtMs: null,
  };
  const firstOp = { ...first, seen: { a: first.stamp } } as KeyOp;
  const secondStamp = b.now(11);
  const secondOp: KeyOp = {
    kind: 'write',
    stamp: secondStamp,
    seen: { b: secondStamp },
    value: Buffer.from('from b'),
    expiresAtMs: null,
  };
  const h1 = new MemoryIncrementHistory();
  const h2 = new MemoryIncrementHistory();
  const onA = applyOp(applyOp(emptyKeyState, firstOp, h1).state, secondOp, h1);
  const onB = applyOp(applyOp(emptyKeyState, secondOp, h2).state, firstOp, h2);
  assert.equal(readable(onA.state), 'from b');
  assert.equal(readable(onB.state), 'from b');
  assert.deepEqual(
    onA.conflicts.map((c) => [c.lost, c.winner]),
    [[firstOp.stamp, secondStamp]],
  );
  assert.deepEqual(
    onB.conflicts.map((c) => [c.lost, c.winner]),
    [[firstOp.stamp, secondStamp]],
  );
});
