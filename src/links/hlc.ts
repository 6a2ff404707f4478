/**
 * Hybrid logical clocks for linked clusters (pure: the wall clock is passed in).
 *
 * Every write a linked cluster accepts is stamped by its leader with an HLC stamp: the
 * wall-clock millisecond it was taken at, a logical counter for stamps within one
 * millisecond (or while the wall clock lags a stamp already seen), and the cluster's id.
 * Stamps of one clock only grow, and a clock that observes a remote stamp moves past it,
 * so a write made after another was seen (in this cluster or through a link) always has
 * the greater stamp, however far apart the wall clocks are. The cluster id breaks ties,
 * so every two stamps of different writes are ordered the same way on every side.
 *
 * A remote stamp far in the future would drag every later local stamp with it; a clock
 * refuses to observe one more than `skewMsMax` ahead of its wall clock, and the caller
 * counts and reports the refusal.
 */
import { assert } from '../core/assert.js';

/** One write's place in the order of every linked cluster's writes. */
export interface Stamp {
  /** The wall-clock milliseconds of the stamp (at least the wall clock's when taken). */
  readonly ms: number;
  /** Orders stamps within one `ms`: 0 to `logicalMax`. */
  readonly logical: number;
  /** The id of the cluster that took the stamp (breaks ties between clusters). */
  readonly cluster: string;
}

/** The largest logical counter; past it a clock moves to the next millisecond. */
export const logicalMax = 0xffff_ffff;

/** How far ahead of the wall clock a remote stamp may be, by default. */
export const skewMsMaxDefault = 60_000;

/** Negative, zero or positive as `a` is before, the same as, or after `b`. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  if (a.cluster === b.cluster) return 0;
  return a.cluster < b.cluster ? -1 : 1;
}

/** Whether two stamps are the same write's. */
export function sameStamp(a: Stamp, b: Stamp): boolean {
  return compareStamps(a, b) === 0;
}

/**
 * A stamp as text that sorts as the stamps do among one cluster's stamps (fixed-width
 * hexadecimal time and counter, then the cluster id): `0000019ae4b1c2f0.00000003@eu`.
 */
export function formatStamp(stamp: Stamp): string {
  assertStamp(stamp);
  const ms = stamp.ms.toString(16).padStart(16, '0');
  const logical = stamp.logical.toString(16).padStart(8, '0');
  return `${ms}.${logical}@${stamp.cluster}`;
}

/** The stamp `formatStamp` wrote, or null for text that is not one. */
export function parseStamp(text: string): Stamp | null {
  const match = /^([0-9a-f]{16})\.([0-9a-f]{8})@(.+)$/.exec(text);
  if (match === null) return null;
  const ms = Number.parseInt(match[1] as string, 16);
  if (!Number.isSafeInteger(ms)) return null;
  return { ms, logical: Number.parseInt(match[2] as string, 16), cluster: match[3] as string };
}

/** Throws unless `stamp` has a safe non-negative time, a counter in range and a cluster. */
export function assertStamp(stamp: Stamp): void {
  assert(Number.isSafeInteger(stamp.ms) && stamp.ms >= 0, `stamp time ${stamp.ms}`);
  assert(
    Number.isInteger(stamp.logical) && stamp.logical >= 0 && stamp.logical <= logicalMax,
    `stamp counter ${stamp.logical}`,
  );
  assert(stamp.cluster.length > 0, 'a stamp names its cluster');
}

/** What `observe` did with a remote stamp. */
export type Observed =
  | { readonly ok: true }
  /** Refused: the stamp was `aheadMs` ahead of the wall clock, more than allowed. */
  | { readonly ok: false; readonly aheadMs: number };

/** One cluster's clock (kept by its leader; a new leader starts past the log's stamps). */
export class Hlc {
  readonly cluster: string;
  readonly skewMsMax: number;
  #last: Stamp;

  /**
   * `last` is the greatest stamp this clock must stay past (a new leader passes the
   * greatest stamp in its log). The cluster id must be non-empty and the skew a
   * non-negative integer (asserted: the caller validates configuration first).
   */
  constructor(cluster: string, options: { skewMsMax?: number; last?: Stamp } = {}) {
    assert(cluster.length > 0, 'a clock names its cluster');
    const skewMsMax = options.skewMsMax ?? skewMsMaxDefault;
    assert(Number.isSafeInteger(skewMsMax) && skewMsMax >= 0, `skew ${skewMsMax}`);
    this.cluster = cluster;
    this.skewMsMax = skewMsMax;
    this.#last = options.last ?? { ms: 0, logical: 0, cluster };
    assertStamp(this.#last);
  }

  /** The greatest stamp taken or observed so far. */
  get last(): Stamp {
    return this.#last;
  }

  /** A new stamp, after every stamp taken or observed, at `wallMs` or later. */
  now(wallMs: number): Stamp {
    assert(Number.isSafeInteger(wallMs) && wallMs >= 0, `wall clock ${wallMs}`);
    const stamp = this.#after(this.#last, wallMs);
    this.#last = stamp;
    return stamp;
  }

  /**
   * Moves the clock past a remote stamp, so that every stamp taken afterwards is greater.
   * Refuses (and does not move) when `remote` is more than `skewMsMax` ahead of `wallMs`.
   */
  observe(remote: Stamp, wallMs: number): Observed {
    assertStamp(remote);
    assert(Number.isSafeInteger(wallMs) && wallMs >= 0, `wall clock ${wallMs}`);
    const aheadMs = remote.ms - wallMs;
    if (aheadMs > this.skewMsMax) return { ok: false, aheadMs };
    if (compareStamps(remote, this.#last) > 0) {
      this.#last = { ms: remote.ms, logical: remote.logical, cluster: this.cluster };
    }
    return { ok: true };
  }

  #after(last: Stamp, wallMs: number): Stamp {
    if (wallMs > last.ms) return { ms: wallMs, logical: 0, cluster: this.cluster };
    if (last.logical < logicalMax) {
      return { ms: last.ms, logical: last.logical + 1, cluster: this.cluster };
    }
    return { ms: last.ms + 1, logical: 0, cluster: this.cluster };
  }
}
