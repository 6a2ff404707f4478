/**
 * The merge rules of linked clusters, for one key (pure).
 *
 * Every cluster applies its own writes and every remote one to a `KeyState`; two clusters
 * that applied the same operations, in any causal order and with any duplicates, hold the
 * same state and read the same value (the property tests in `test/links/merge.test.ts`).
 * The link delivers operations causally: a cluster forwards what it applied in the order
 * it applied it, so an operation never arrives before one its writer had seen.
 *
 * - **Writes** (SET, DEL, and anything else that replaces the value) are last-writer-wins
 *   by stamp (`hlc.ts`): the value is always that of the write with the greatest stamp.
 *   A write carries `seen`, the key's clock at its writer: the stamps of every operation
 *   on the key its writer had applied. A write that replaces a value its writer had not
 *   seen, or that loses to one, is a conflict: the losing write is recorded.
 * - **Increments** (INCR, INCRBY, DECR, DECRBY) are a counter that merges: each one is
 *   counted once, on top of the winning write's value, unless that write's writer had seen
 *   it (then the value already holds it). A SET concurrent with an INCR elsewhere therefore
 *   ends as the SET's value plus the increment on every side. When the winning value is
 *   not an integer, increments it had not seen are left out of the value and recorded as
 *   lost.
 * - **Expiry** (EXPIRE, PERSIST, and the expiry a SET sets or clears) is its own
 *   last-writer-wins register.
 *
 * A key's state stays small however many increments it takes: it keeps, per origin, how
 * many of that origin's increments were applied and their sum, and how many of them (and
 * their sum) the winning write had seen. Each origin's increments on a key arrive in the
 * order of their stamps (delivery is causal), so "the ones a write had seen" are a prefix
 * of them; the running sums of that sequence live beside the state in an
 * `IncrementHistory`, where a write that had seen only some of them finds their sum by a
 * binary search on the stamps. An increment costs the same with the millionth as with the
 * first; only a remote write that had seen part of an origin's increments reads the
 * history (about log2 of their number reads).
 */
import { assert } from '../core/assert.js';
import { parseInt64 } from '../store/kv-rules.js';
import { compareStamps, type Stamp } from './hlc.js';

/**
 * For each cluster, the greatest stamp of its operations on the key that were applied
 * (delivery is causal, so every earlier operation of that cluster on the key was too).
 */
export type Clock = Readonly<Record<string, Stamp>>;

/** An operation on one key, as its cluster stamped it. */
export type KeyOp =
  | {
      /** Replaces the value (`value` null: deletes it) and sets or clears its expiry. */
      readonly kind: 'write';
      readonly stamp: Stamp;
      /** The key's clock at the writer when it wrote, this write's own stamp included. */
      readonly seen: Clock;
      readonly value: Uint8Array | null;
      readonly expiresAtMs: number | null;
    }
  | { readonly kind: 'increment'; readonly stamp: Stamp; readonly delta: bigint }
  | { readonly kind: 'expire'; readonly stamp: Stamp; readonly expiresAtMs: number | null };

/** A write or increment that lost to a concurrent write. */
export interface Conflict {
  readonly lost: Stamp;
  readonly kind: 'write' | 'increment';
  /**
   * The lost write's value (null for a delete), or the lost increments' sum as text (an
   * increment's delta; the sum of one origin's increments that a winning value which is
   * not an integer left out, `lost` the last of them).
   */
  readonly value: Uint8Array | null;
  /** The write that won. */
  readonly winner: Stamp;
}

/** How many increments, and their sum. */
export interface Counted {
  readonly count: number;
  readonly sum: bigint;
}

/** One origin's increments on a key: how many were applied, their sum, the last stamp. */
export interface OriginIncrements extends Counted {
  readonly last: Stamp;
}

/** One key's state on one cluster. */
export interface KeyState {
  /** The winning write: the one with the greatest stamp (null: only increments so far). */
  readonly winner: Stamp | null;
  /** Its value; null when it deleted the key (or there is no write). */
  readonly value: Uint8Array | null;
  /** The winning write's `seen`: the increments within it are part of `value`. */
  readonly base: Clock;
  /** Every operation on the key applied here (each cluster's greatest stamp). */
  readonly seen: Clock;
  /** Every increment applied here, by origin. */
  readonly increments: Readonly<Record<string, OriginIncrements>>;
  /** Of those, by origin, the ones `base` holds: inside `value` (none: absent). */
  readonly inside: Readonly<Record<string, Counted>>;
  /** The expiry register: the stamp that set it last, and the expiry (null: none). */
  readonly expiry: { readonly stamp: Stamp; readonly atMs: number | null } | null;
}

/** The state of a key no operation has touched. */
export const emptyKeyState: KeyState = {
  winner: null,
  value: null,
  base: {},
  seen: {},
  increments: {},
  inside: {},
  expiry: null,
};

/**
 * The running sums of one key's increments, by origin: the `n`-th increment of `origin`
 * applied (1 for the first) with its stamp and the sum of the first `n`. A key's history
 * grows with its `KeyState` and is kept beside it (`MemoryIncrementHistory`, or records of
 * the store, links/records.ts).
 */
export interface IncrementHistory {
  at(origin: string, n: number): { readonly stamp: Stamp; readonly sum: bigint };
  add(origin: string, n: number, stamp: Stamp, sum: bigint): void;
}

/** An `IncrementHistory` in memory, for one key. */
export class MemoryIncrementHistory implements IncrementHistory {
  readonly #byOrigin = new Map<string, { readonly stamp: Stamp; readonly sum: bigint }[]>();

  at(origin: string, n: number): { readonly stamp: Stamp; readonly sum: bigint } {
    const entry = this.#byOrigin.get(origin)?.[n - 1];
    assert(entry !== undefined, `increment ${n} of ${origin} is in the history`);
    return entry;
  }

  add(origin: string, n: number, stamp: Stamp, sum: bigint): void {
    const list = this.#byOrigin.get(origin) ?? [];
    assert(list.length === n - 1, `increments of ${origin} are added in order`);
    list.push({ stamp, sum });
    this.#byOrigin.set(origin, list);
  }
}

/** Whether `clock` holds `stamp` (its cluster's entry is at or past it). */
export function clockHolds(clock: Clock, stamp: Stamp): boolean {
  const entry = clock[stamp.cluster];
  return entry !== undefined && compareStamps(stamp, entry) <= 0;
}

/** The greater entry of `a` and `b` for each cluster. */
export function mergeClocks(a: Clock, b: Clock): Clock {
  const merged: Record<string, Stamp> = { ...a };
  for (const [cluster, stamp] of Object.entries(b)) {
    const mine = merged[cluster];
    if (mine === undefined || compareStamps(stamp, mine) > 0) merged[cluster] = stamp;
  }
  return merged;
}

/** `clock` with `stamp` added. */
function withStamp(clock: Clock, stamp: Stamp): Clock {
  return mergeClocks(clock, { [stamp.cluster]: stamp });
}

/** What `applyOp` gives: the new state, and the conflicts this operation settled. */
export interface Applied {
  readonly state: KeyState;
  readonly conflicts: readonly Conflict[];
}

/**
 * Applies one operation to a key's state and its history. An operation already applied
 * (the key's clock holds its stamp) changes nothing, so duplicates are harmless.
 */
export function applyOp(state: KeyState, op: KeyOp, history: IncrementHistory): Applied {
  if (clockHolds(state.seen, op.stamp)) return { state, conflicts: [] };
  const seen = withStamp(state.seen, op.stamp);
  switch (op.kind) {
    case 'write':
      assert(clockHolds(op.seen, op.stamp), "a write's clock holds its own stamp");
      return applyWrite({ ...state, seen: mergeClocks(seen, op.seen) }, op, history);
    case 'increment':
      return applyIncrement({ ...state, seen }, op, history);
    case 'expire':
      return { state: { ...state, seen, expiry: laterExpiry(state.expiry, op) }, conflicts: [] };
  }
}

function applyWrite(
  state: KeyState,
  op: Extract<KeyOp, { kind: 'write' }>,
  history: IncrementHistory,
): Applied {
  const expiry = laterExpiry(state.expiry, op);
  const winner = state.winner;
  if (winner !== null && compareStamps(op.stamp, winner) < 0) {
    // It loses, and the winner had not seen it (it would be in the clock otherwise).
    const conflict = { lost: op.stamp, kind: 'write' as const, value: op.value, winner };
    return { state: { ...state, expiry }, conflicts: [conflict] };
  }
  const conflicts: Conflict[] = [];
  if (winner !== null && !clockHolds(op.seen, winner)) {
    conflicts.push({ lost: winner, kind: 'write', value: state.value, winner: op.stamp });
  }
  // The increments the write had seen are inside its value; should a concurrent write
  // beat this one, those it had not seen count again on top of that write's value.
  const inside: Record<string, Counted> = {};
  for (const [origin, counted] of Object.entries(state.increments)) {
    const through = op.seen[origin];
    if (through === undefined) continue;
    const held = prefix(counted, origin, through, history);
    if (held.count > 0) inside[origin] = held;
  }
  const next: KeyState = {
    ...state,
    winner: op.stamp,
    value: op.value,
    base: op.seen,
    inside,
    expiry,
  };
  return { state: next, conflicts: [...conflicts, ...nonIntegerLosses(next)] };
}

/** How many of `origin`'s increments (`counted`) have stamps at or below `through`, and their sum. */
function prefix(
  counted: OriginIncrements,
  origin: string,
  through: Stamp,
  history: IncrementHistory,
): Counted {
  if (compareStamps(counted.last, through) <= 0) return { count: counted.count, sum: counted.sum };
  // The greatest n whose stamp is at or below `through` (0: none); the n-th stamps grow
  // with n, and the count-th is past `through`.
  let found: Counted = { count: 0, sum: 0n };
  let low = 1;
  let high = counted.count - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const entry = history.at(origin, middle);
    if (compareStamps(entry.stamp, through) <= 0) {
      found = { count: middle, sum: entry.sum };
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

function applyIncrement(
  state: KeyState,
  op: Extract<KeyOp, { kind: 'increment' }>,
  history: IncrementHistory,
): Applied {
  // Not inside `base`: `base` is within the key's clock, which did not hold it.
  const origin = op.stamp.cluster;
  const before = state.increments[origin];
  const counted: OriginIncrements = {
    count: (before?.count ?? 0) + 1,
    sum: (before?.sum ?? 0n) + op.delta,
    last: op.stamp,
  };
  history.add(origin, counted.count, op.stamp, counted.sum);
  const next = { ...state, increments: { ...state.increments, [origin]: counted } };
  if (next.winner === null || integerOf(next.value) !== null) return { state: next, conflicts: [] };
  const lost = { lost: op.stamp, kind: 'increment' as const, winner: next.winner };
  return { state: next, conflicts: [{ ...lost, value: Buffer.from(op.delta.toString()) }] };
}

/** The increments outside the winning write, by origin (those with none left out). */
function outside(state: KeyState): [origin: string, left: Counted, last: Stamp][] {
  const out: [string, Counted, Stamp][] = [];
  for (const [origin, counted] of Object.entries(state.increments)) {
    const inside = state.inside[origin];
    const count = counted.count - (inside?.count ?? 0);
    if (count > 0)
      out.push([origin, { count, sum: counted.sum - (inside?.sum ?? 0n) }, counted.last]);
  }
  return out;
}

/** The increments a winning value that is not an integer leaves out: one conflict per origin. */
function nonIntegerLosses(state: KeyState): Conflict[] {
  if (state.winner === null || integerOf(state.value) !== null) return [];
  const winner = state.winner;
  return outside(state).map(([, left, last]) => ({
    lost: last,
    kind: 'increment',
    value: Buffer.from(left.sum.toString()),
    winner,
  }));
}

function laterExpiry(
  expiry: KeyState['expiry'],
  op: { readonly stamp: Stamp; readonly expiresAtMs: number | null },
): KeyState['expiry'] {
  if (expiry !== null && compareStamps(op.stamp, expiry.stamp) < 0) return expiry;
  return { stamp: op.stamp, atMs: op.expiresAtMs };
}

/** The integer a value holds for counting (an absent value counts from 0), or null. */
function integerOf(value: Uint8Array | null): bigint | null {
  if (value === null) return 0n;
  return parseInt64(
    Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'),
  );
}

/**
 * The key's value as a reader sees it at `nowMs`: null when absent or expired. With
 * increments outside the winning value, an integer value (or none) reads as the sum, in
 * decimal; a value that is not an integer reads as it is.
 */
export function readValue(state: KeyState, nowMs: number): Uint8Array | null {
  if (state.expiry !== null && state.expiry.atMs !== null && state.expiry.atMs <= nowMs) {
    return null;
  }
  const left = outside(state);
  if (left.length === 0) return state.value;
  const base = integerOf(state.value);
  if (base === null) return state.value;
  const sum = left.reduce((total, [, counted]) => total + counted.sum, base);
  return Buffer.from(sum.toString());
}
