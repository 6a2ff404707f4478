import { assert } from '../core/assert.js';
import type { Prng } from '../core/prng.js';
import type { Entry, HardState, PersistedState, SnapshotMeta } from '../core/types.js';

/** A write that reached the simulated disk's cache but is not yet synced. */
type PendingWrite =
  | { readonly kind: 'entries'; readonly entries: readonly Entry[] }
  | { readonly kind: 'hard-state'; readonly hardState: HardState }
  | { readonly kind: 'snapshot'; readonly meta: SnapshotMeta; readonly data: Uint8Array };

/** What a crash did to the unsynced writes, for the trace and the fault counters. */
export interface CrashDamage {
  readonly writesKept: number;
  readonly writesLost: number;
  readonly torn: boolean;
}

/**
 * A simulated disk for one node: a log, a hard state and a snapshot. Writes land in a
 * cache and become durable only at `sync()`. A crash keeps a random prefix of the unsynced
 * writes (the ones that happened to reach the platter) and may tear the last of them:
 * its tail of entries is cut off, as recovery cuts a torn record.
 */
export class SimDisk {
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  #snapshot: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  /** Durable entries after the snapshot: `#entries[i]` is at index `snapshotIndex + 1 + i`. */
  #entries: Entry[] = [];
  #pending: PendingWrite[] = [];
  syncs = 0;

  /** Queues the log entries of a Ready; the first may overwrite the log from its index. */
  writeEntries(entries: readonly Entry[]): void {
    if (entries.length > 0) this.#pending.push({ kind: 'entries', entries });
  }

  writeHardState(hardState: HardState): void {
    this.#pending.push({ kind: 'hard-state', hardState });
  }

  writeSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    this.#pending.push({ kind: 'snapshot', meta, data });
  }

  /** Makes every queued write durable. */
  sync(): void {
    for (const write of this.#pending) this.#commitWrite(write);
    this.#pending = [];
    this.syncs++;
  }

  /** The node's own compaction: the snapshot is written and synced, then the log prefix dropped. */
  compact(meta: SnapshotMeta, data: Uint8Array): void {
    assert(this.#pending.length === 0, 'compact with unsynced writes');
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    assert(meta.index > snapshotIndex, `compact at ${meta.index} behind snapshot ${snapshotIndex}`);
    this.#entries = this.#entries.slice(meta.index - snapshotIndex);
    this.#snapshot = { meta, data };
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

  /** What a restarting node reads back. `applied` comes from the state machine. */
  load(applied: number): PersistedState {
    return {
      hardState: this.#hardState,
      snapshot: this.#snapshot?.meta ?? null,
      entries: [...this.#entries],
      applied,
    };
  }

  /** The durable snapshot, if any. */
  get snapshot(): { meta: SnapshotMeta; data: Uint8Array } | null {
    return this.#snapshot;
  }

  #commitWrite(write: PendingWrite): void {
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    if (write.kind === 'hard-state') {
      this.#hardState = write.hardState;
    } else if (write.kind === 'snapshot') {
      this.#snapshot = { meta: write.meta, data: write.data };
      this.#entries = [];
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
