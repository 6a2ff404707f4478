import { assert, assertIndex } from './assert.js';
import type { Entry, SnapshotMeta } from './types.js';

/** Bytes an entry counts for in message-size limits: its payload plus a fixed header. */
export function entryBytes(entry: Entry): number {
  return 32 + (entry.data?.byteLength ?? 0);
}

/**
 * The core's view of the replication log: the entries after the latest snapshot, which of
 * them are durable, and the commit and applied indexes. It is memory only; the driver
 * makes it durable from each Ready.
 *
 * Invariants: `#entries[i]` is at index `#snapshot.index + 1 + i`; terms never decrease
 * along the log; `applied <= lastIndex` except right after a snapshot restore;
 * entries at or below `stableIndex` are durable on this node's disk.
 */
export class RaftLog {
  #snapshot: SnapshotMeta;
  #entries: Entry[];
  /** The first index not yet durable (written and synced) on this node's disk. */
  #unstableFrom: number;
  /**
   * The first index not yet handed to the driver for writing. Between the two are the
   * entries being written: a driver keeps taking Readies while its disk syncs.
   */
  #handedFrom: number;
  commit: number;
  applied: number;

  constructor(snapshot: SnapshotMeta, entries: readonly Entry[], commit: number, applied: number) {
    this.#snapshot = snapshot;
    this.#entries = [...entries];
    this.#entries.forEach((entry, i) =>
      assert(entry.index === snapshot.index + 1 + i, `log entry ${i} has index ${entry.index}`),
    );
    this.#unstableFrom = this.lastIndex() + 1;
    this.#handedFrom = this.#unstableFrom;
    assertIndex(commit, 'commit');
    assertIndex(applied, 'applied');
    // A restarted node's commit can trail its applied index (commit is synced lazily), and
    // after a forced snapshot restore its stored commit can exceed the shorter log: commit is
    // only knowledge of what the cluster committed, so it is clamped to what this log holds.
    this.commit = Math.min(Math.max(commit, snapshot.index), this.lastIndex());
    this.applied = Math.max(applied, snapshot.index);
  }

  /** The meta of the snapshot the log starts after. */
  get snapshot(): SnapshotMeta {
    return this.#snapshot;
  }

  /** The first index still held (the one after the snapshot). */
  firstIndex(): number {
    return this.#snapshot.index + 1;
  }

  lastIndex(): number {
    return this.#snapshot.index + this.#entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  /** The last index durable on disk. */
  stableIndex(): number {
    return this.#unstableFrom - 1;
  }

  /** The term at `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.#snapshot.index) return this.#snapshot.term;
    return this.entry(index)?.term;
  }

  /** The entry at `index`, or undefined when it is compacted away or beyond the end. */
  entry(index: number): Entry | undefined {
    const offset = index - this.#snapshot.index - 1;
    return offset >= 0 && offset < this.#entries.length ? this.#entries[offset] : undefined;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is a log ending at (lastIndex, lastTerm) at least as up to date? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myLastTerm = this.lastTerm();
    return lastTerm > myLastTerm || (lastTerm === myLastTerm && lastIndex >= this.lastIndex());
  }

  /** Appends entries that continue the log (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(
        entry.index === this.lastIndex() + 1,
        `append at ${entry.index} after ${this.lastIndex()}`,
      );
      assert(entry.term >= this.lastTerm(), `term ${entry.term} after ${this.lastTerm()}`);
      this.#entries.push(entry);
    }
  }

  /**
   * The index of the first entry in `entries` that is new or conflicts with the log, or 0
   * if every one is already here.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /** Replaces the log from `entries[0].index` on with `entries`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(
      first > this.#snapshot.index,
      `overwrite at ${first} inside snapshot ${this.#snapshot.index}`,
    );
    assert(first <= this.lastIndex() + 1, `gap: append at ${first} after ${this.lastIndex()}`);
    this.#entries.length = first - this.firstIndex();
    this.#unstableFrom = Math.min(this.#unstableFrom, first);
    this.#handedFrom = Math.min(this.#handedFrom, first);
    this.append(entries);
  }

  /**
   * For fast back-off: the largest index at or below `index` whose term is at most `term`,
   * with that term. A leader probing with (index, term) can skip every entry above it.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let candidate = Math.min(index, this.lastIndex());
    while (candidate > this.#snapshot.index) {
      const candidateTerm = this.term(candidate) as number;
      if (candidateTerm <= term) return { index: candidate, term: candidateTerm };
      candidate--;
    }
    return { index: this.#snapshot.index, term: this.#snapshot.term };
  }

  /**
   * Entries in [from, toExclusive), at most `maxCount` and about `maxBytes` (at least one
   * entry whatever its size). `from` must not be compacted.
   */
  slice(from: number, toExclusive: number, maxCount: number, maxBytes: number): Entry[] {
    assert(from >= this.firstIndex(), `slice from compacted index ${from}`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = from; index < toExclusive && result.length < maxCount; index++) {
      const entry = this.entry(index);
      assert(entry !== undefined, `slice beyond the log at ${index}`);
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > maxBytes) break;
      result.push(entry);
    }
    return result;
  }

  /** Whether any entry waits to be handed out for writing (cheap: for `hasReady`, called often). */
  hasUnhandedEntries(): boolean {
    return this.#handedFrom <= this.lastIndex();
  }

  /**
   * The entries the driver has not yet been asked to write, from the first, up to
   * `bytesMax` of them (at least one); they count as handed out now.
   */
  takeUnhandedEntries(bytesMax: number): Entry[] {
    // `#entries[i]` is at log index `i + firstIndex()`.
    const from = this.#handedFrom - this.firstIndex();
    let end = from;
    let bytes = 0;
    while (end < this.#entries.length) {
      bytes += entryBytes(this.#entries[end] as Entry);
      if (end > from && bytes > bytesMax) break;
      end++;
    }
    const entries = this.#entries.slice(from, end);
    this.#handedFrom += entries.length;
    return entries;
  }

  /** The last index handed out to be written (every entry before it was too). */
  get handedThrough(): number {
    return this.#handedFrom - 1;
  }

  /**
   * Records that `written`, and everything before it, is durable: unless the log has
   * since replaced it (a newer leader's entries overwrote it while it was being written),
   * in which case the write that carries the replacement will say so.
   */
  stableTo(written: Entry): void {
    if (this.entry(written.index) !== written) return;
    this.#unstableFrom = Math.max(this.#unstableFrom, written.index + 1);
  }

  /** Drops the entries up to `meta.index`, which a snapshot now stands for. */
  compact(meta: SnapshotMeta): void {
    assert(meta.index <= this.applied, `compact at ${meta.index} beyond applied ${this.applied}`);
    assert(meta.index <= this.commit, `compact at ${meta.index} beyond commit ${this.commit}`);
    assert(
      meta.index <= this.stableIndex(),
      `compact at ${meta.index} beyond stable ${this.stableIndex()}`,
    );
    if (meta.index <= this.#snapshot.index) return;
    assert(
      this.term(meta.index) === meta.term,
      `compact meta term ${meta.term} does not match the log`,
    );
    this.#entries = this.#entries.slice(meta.index - this.#snapshot.index);
    this.#snapshot = meta;
  }

  /** Replaces the whole log by a snapshot: the state is now the snapshot's. */
  restore(meta: SnapshotMeta): void {
    this.#snapshot = meta;
    this.#entries = [];
    this.#unstableFrom = meta.index + 1;
    this.#handedFrom = meta.index + 1;
    this.commit = meta.index;
    this.applied = meta.index;
  }
}
