import { assert } from '../core/assert.js';
import type { Prng } from '../core/prng.js';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';
import type { ReplicationStorage, StoredState } from '../log/contract.js';

/** A write that reached the simulated disk's cache but is not yet synced. */
type PendingWrite =
  | { readonly kind: 'entries'; readonly entries: readonly Entry[] }
  | { readonly kind: 'hard-state'; readonly hardState: HardState };

/** What a crash did to the unsynced writes, for the trace and the fault counters. */
export interface CrashDamage {
  readonly writesKept: number;
  readonly writesLost: number;
  readonly torn: boolean;
}

/**
 * A simulated disk for one node: a log, a hard state and a snapshot, keeping the same
 * `ReplicationStorage` contract as the real `DiskStorage`, synchronously. Writes land in a
 * cache and become durable only at `sync()`. A crash keeps a random prefix of the unsynced
 * writes (the ones that happened to reach the platter) and may tear the last of them:
 * its tail of entries is cut off, as recovery cuts a torn record.
 */
export class SimDisk implements ReplicationStorage {
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  #snapshot: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  /** Durable entries after the snapshot: `#entries[i]` is at index `snapshotIndex + 1 + i`. */
  #entries: Entry[] = [];
  #pending: PendingWrite[] = [];
  /** Writes queued since the disk was created: `mark()` and `syncThrough()` count in these. */
  #written = 0;
  syncs = 0;

  /** The hard state last made durable. */
  get hardState(): HardState {
    return this.#hardState;
  }

  /** Queues the log entries of a Ready; the first may overwrite the log from its index. */
  writeEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.#pending.push({ kind: 'entries', entries });
    this.#written++;
  }

  writeHardState(hardState: HardState): void {
    this.#pending.push({ kind: 'hard-state', hardState });
    this.#written++;
  }

  /** The writes queued so far, for a sync that covers them and no later ones. */
  mark(): number {
    return this.#written;
  }

  /** Makes every queued write durable. */
  sync(): void {
    this.syncThrough(this.#written);
  }

  /** Makes the writes queued before `mark()` returned `mark` durable; later ones stay queued. */
  syncThrough(mark: number): void {
    const later = this.#written - mark;
    const covered = this.#pending.length - later;
    for (let i = 0; i < covered; i++) this.#commitWrite(this.#pending[i] as PendingWrite);
    this.#pending = this.#pending.slice(Math.max(0, covered));
    this.syncs++;
  }

  /**
   * Stores the snapshot durably and drops the durable log it covers: only the prefix when
   * the log holds `meta.index` at `meta.term`, else all of it. Queued writes stay queued
   * (they are of entries beyond a compaction's index; a received snapshot is installed
   * with nothing queued).
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    const offset = meta.index - snapshotIndex - 1;
    const continues =
      offset >= 0 && offset < this.#entries.length && this.#entries[offset]?.term === meta.term;
    this.#entries = continues ? this.#entries.slice(offset + 1) : [];
    this.#snapshot = { meta, data };
  }

  readSnapshot(): Snapshot | null {
    return this.#snapshot;
  }

  /** Loses what a crash loses; returns what happened. */
  crash(random: Prng): CrashDamage {
    const pending = this.#pending;
    this.#pending = [];
    const kept = pending.length === 0 ? 0 : random.intBetween(0, pending.length + 1);
    for (let i = 0; i < kept - 1; i++) this.#commitWrite(pending[i] as PendingWrite);
    let torn = false;
    const last = pending[kept - 1];
    if (last !== undefined) {
      if (last.kind === 'entries' && last.entries.length > 0 && random.chance(1, 2)) {
        torn = true;
        this.#commitWrite({
          kind: 'entries',
          entries: last.entries.slice(0, random.intBetween(0, last.entries.length)),
        });
      } else {
        this.#commitWrite(last);
      }
    }
    return { writesKept: kept, writesLost: pending.length - kept, torn };
  }

  /**
   * Whether the entry at `index` of `term` is durable here: synced in the log, or covered by
   * the snapshot (which only ever stands for committed history).
   */
  holdsDurably(index: number, term: number): boolean {
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    if (index <= snapshotIndex) return true;
    return this.#entries[index - snapshotIndex - 1]?.term === term;
  }

  /** What a restarting node reads back. */
  load(): StoredState {
    return {
      hardState: this.#hardState,
      snapshot: this.#snapshot?.meta ?? null,
      entries: [...this.#entries],
    };
  }

  #commitWrite(write: PendingWrite): void {
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    if (write.kind === 'hard-state') {
      this.#hardState = write.hardState;
    } else if (write.entries.length > 0) {
      const first = (write.entries[0] as Entry).index;
      assert(
        first > snapshotIndex && first <= snapshotIndex + this.#entries.length + 1,
        `disk write at ${first} leaves a gap`,
      );
      this.#entries.length = first - snapshotIndex - 1;
      this.#entries.push(...write.entries);
    }
  }
}
