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
 * - `compact` folds increments every cluster has seen into one sum and drops a deleted
 *   key's state once its deletion is that stable, so a key's state stays bounded.
 */
import { assert } from '../core/assert.js';
import { parseInt64 } from '../store/kv-rules.js';
import { compareStamps, formatStamp, type Stamp } from './hlc.js';

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
  /** The lost write's value (null for a delete), or the lost increment's delta as text. */
  readonly value: Uint8Array | null;
  /** The write that won. */
  readonly winner: Stamp;
}

/** An increment the winning write had not seen. */
interface Increment {
  readonly stamp: Stamp;
  readonly delta: bigint;
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
  /**
   * Every increment applied and not folded, by `formatStamp` of its stamp; those `base`
   * holds are inside `value`.
   */
  readonly increments: Readonly<Record<string, Increment>>;
  /** Increments folded by `compact` (all outside `base` when folded). */
  readonly folded: bigint;
  /** The greatest stamp of a folded increment, by cluster. */
  readonly foldedThrough: Clock;
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
  folded: 0n,
  foldedThrough: {},
  expiry: null,
};

/** Whether `clock` holds `stamp` (its cluster's entry is at or past it). */
export function clockHolds(clock: Clock, stamp: Stamp): boolean {
  const entry = clock[stamp.cluster];
  return entry !== undefined && compareStamps(stamp, entry) <= 0;
}

/** Whether `a` holds every entry of `b`. */
export function clockCovers(a: Clock, b: Clock): boolean {
  return Object.values(b).every((stamp) => clockHolds(a, stamp));
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
 * Applies one operation. An operation already applied (the key's clock holds its stamp)
 * changes nothing, so duplicates are harmless.
 */
export function applyOp(state: KeyState, op: KeyOp): Applied {
  if (clockHolds(state.seen, op.stamp)) return { state, conflicts: [] };
  const seen = withStamp(state.seen, op.stamp);
  switch (op.kind) {
    case 'write':
      assert(clockHolds(op.seen, op.stamp), "a write's clock holds its own stamp");
      return applyWrite({ ...state, seen: mergeClocks(seen, op.seen) }, op);
    case 'increment':
      return applyIncrement({ ...state, seen }, op);
    case 'expire':
      return { state: { ...state, seen, expiry: laterExpiry(state.expiry, op) }, conflicts: [] };
  }
}

function applyWrite(state: KeyState, op: Extract<KeyOp, { kind: 'write' }>): Applied {
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
  // Increments the write had seen stay: should a concurrent write beat this one, they
  // count again on top of that write's value.
  const foldedSeen = clockCovers(op.seen, state.foldedThrough);
  const next: KeyState = {
    ...state,
    winner: op.stamp,
    value: op.value,
    base: op.seen,
    folded: foldedSeen ? 0n : state.folded,
    foldedThrough: foldedSeen ? {} : state.foldedThrough,
    expiry,
  };
  return { state: next, conflicts: [...conflicts, ...nonIntegerLosses(next, outside(next))] };
}

/** The increments the winning write had not seen. */
function outside(state: KeyState): Increment[] {
  return Object.values(state.increments).filter(
    (increment) => !clockHolds(state.base, increment.stamp),
  );
}

function applyIncrement(state: KeyState, op: Extract<KeyOp, { kind: 'increment' }>): Applied {
  // Not inside `base`: `base` is within the key's clock, which does not hold it yet.
  const increment = { stamp: op.stamp, delta: op.delta };
  const next = {
    ...state,
    increments: { ...state.increments, [formatStamp(op.stamp)]: increment },
  };
  return { state: next, conflicts: nonIntegerLosses(next, [increment]) };
}

/** The increments of `increments` that a non-integer winning value leaves out. */
function nonIntegerLosses(state: KeyState, increments: readonly Increment[]): Conflict[] {
  if (state.winner === null || integerOf(state.value) !== null) return [];
  const winner = state.winner;
  return increments.map((increment) => ({
    lost: increment.stamp,
    kind: 'increment',
    value: Buffer.from(increment.delta.toString()),
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
  const increments = outside(state);
  const anyFolded = Object.keys(state.foldedThrough).length > 0;
  if (increments.length === 0 && !anyFolded) return state.value;
  const base = integerOf(state.value);
  if (base === null) return state.value;
  const sum = increments.reduce((total, increment) => total + increment.delta, base + state.folded);
  return Buffer.from(sum.toString());
}

/**
 * Folds the increments `stable` holds (every cluster has applied them, so no write that
 * had not seen them can still arrive) into one sum. Returns null, dropping the state,
 * when the key is deleted (with no expiry pending) and that too is stable: a later
 * operation on it has seen the deletion, so it applies to an empty state exactly as it
 * would to this one.
 */
export function compact(state: KeyState, stable: Clock): KeyState | null {
  const increments: Record<string, Increment> = {};
  let folded = state.folded;
  let foldedThrough = state.foldedThrough;
  for (const [name, increment] of Object.entries(state.increments)) {
    if (!clockHolds(stable, increment.stamp)) {
      increments[name] = increment;
    } else if (!clockHolds(state.base, increment.stamp)) {
      folded += increment.delta;
      foldedThrough = withStamp(foldedThrough, increment.stamp);
    }
    // A stable increment inside the winning value is dropped: every later write has seen
    // it too, so it can never count again.
  }
  const next = { ...state, increments, folded, foldedThrough };
  const deleted =
    next.value === null &&
    Object.keys(next.foldedThrough).length === 0 &&
    (next.expiry === null || next.expiry.atMs === null) &&
    Object.keys(increments).length === 0 &&
    clockCovers(stable, next.seen);
  return deleted ? null : next;
}
