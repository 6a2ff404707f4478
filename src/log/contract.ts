import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';

/** A value or a promise of it: the simulated disk answers at once, the real one later. */
export type MaybePromise<T> = T | Promise<T>;

/** What a node's storage holds durably, as read back at start. */
export interface StoredState {
  readonly hardState: HardState;
  /** The latest durable snapshot's meta, or null when the node never took or received one. */
  readonly snapshot: SnapshotMeta | null;
  /** The log after the snapshot: `entries[i]` is at index `(snapshot?.index ?? 0) + 1 + i`. */
  readonly entries: readonly Entry[];
}

/**
 * The storage contract a node's driver persists each Ready through. Two implementations
 * keep it: `SimDisk` (memory, virtual time, a crash model) and `DiskStorage` (segment
 * files, a hard-state file, snapshot files). One test suite runs against both.
 *
 * Ordering and durability:
 * - `writeEntries` and `writeHardState` queue writes in call order; nothing queued is
 *   durable until a later `sync()` resolves. A crash keeps every synced write and a
 *   prefix of the queued ones (the last possibly torn, which recovery cuts off): never a
 *   later write without the earlier ones.
 * - `sync()` makes every write queued before the call durable. Concurrent callers share
 *   syncs (group commit). A hard state that changes only `commit` may stay unsynced:
 *   commit is knowledge a restarted node re-learns, while `term` and `vote` are synced.
 * - `saveSnapshot` first makes every queued write durable, then stores the snapshot
 *   durably, then drops the log prefix it covers. If the log does not hold the entry
 *   `meta.index` at `meta.term` (a snapshot received from the leader), the whole log is
 *   dropped and the next entry written must be `meta.index + 1`.
 *
 * Ranges: `writeEntries(entries)` needs consecutive indexes with
 * `firstWritable <= entries[0].index <= lastIndex + 1`; a first index at or below the
 * last one truncates the log from there (a follower's divergent tail) before writing.
 */
export interface ReplicationStorage {
  /** The durable state, after recovery. Throws `TANDEM_CORRUPT` naming the file and offset. */
  load(): MaybePromise<StoredState>;
  /** Queues log entries (see the ranges above). Throws `TANDEM_ENTRY_TOO_LARGE` above the limits. */
  writeEntries(entries: readonly Entry[]): void;
  /** Queues the hard state; term and vote changes are synced by the next `sync()`. */
  writeHardState(hardState: HardState): void;
  /** Makes every write queued before the call durable. */
  sync(): MaybePromise<void>;
  /** Stores a snapshot durably and compacts the log behind it (see above). */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): MaybePromise<void>;
  /** The latest durable snapshot, verified against its checksum; null when there is none. */
  readSnapshot(): MaybePromise<Snapshot | null>;
}
