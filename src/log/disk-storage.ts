import { join } from 'node:path';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core/types.js';
import type { ReplicationStorage, StoredState } from './contract.js';
import { makeDirectory } from './files.js';
import { GroupCommit } from './group-commit.js';
import { HardStateFile } from './hard-state.js';
import { SegmentLog, type RecoveryReport, type SegmentLogLimits } from './segment-log.js';
import { SnapshotFiles, type SnapshotChunks, type SnapshotInfo } from './snapshot-files.js';

/** Options of a node's disk storage. */
export interface DiskStorageOptions {
  readonly limits?: Partial<SegmentLogLimits>;
}

/**
 * A node's durable storage in one directory: `log/` (segment files), `hard-state` (term,
 * vote, commit) and `snapshots/`. It keeps the `ReplicationStorage` contract with real
 * files: `sync()` calls share flushes through a `GroupCommit`, and each flush writes the
 * queued log records and hard state and syncs them together.
 */
export class DiskStorage implements ReplicationStorage {
  readonly directory: string;
  readonly log: SegmentLog;
  readonly hardState: HardStateFile;
  readonly snapshots: SnapshotFiles;
  readonly #groupCommit: GroupCommit;
  #snapshot: SnapshotInfo | null;

  private constructor(
    directory: string,
    log: SegmentLog,
    hardState: HardStateFile,
    snapshots: SnapshotFiles,
    latest: SnapshotInfo | null,
  ) {
    this.directory = directory;
    this.log = log;
    this.hardState = hardState;
    this.snapshots = snapshots;
    this.#snapshot = latest;
    this.#groupCommit = new GroupCommit(async () => {
      await Promise.all([this.log.flush(), this.hardState.flush()]);
    });
  }

  /** Opens the storage in `directory`, creating it on first use and recovering the log's tail. */
  static async open(directory: string, options: DiskStorageOptions = {}): Promise<DiskStorage> {
    await makeDirectory(directory);
    // The snapshots first: the latest one's index bounds what recovery must sum (see
    // `SegmentLog.open`). One that cannot be read is `load`'s to report; recovery then
    // sums every record.
    const snapshots = await SnapshotFiles.open(join(directory, 'snapshots'));
    const latest = await snapshots.latest().catch(() => null);
    const log = await SegmentLog.open(
      join(directory, 'log'),
      options.limits,
      latest?.meta.index ?? 0,
    );
    const hardState = await HardStateFile.open(join(directory, 'hard-state'));
    return new DiskStorage(directory, log, hardState, snapshots, latest);
  }

  /** What recovery cut off the log's tail at open. */
  get recovery(): RecoveryReport {
    return this.log.recovery;
  }

  /** Flushes done so far (each one fdatasync per file touched), for the benchmark. */
  get flushes(): number {
    return this.#groupCommit.flushes;
  }

  async load(): Promise<StoredState> {
    // The one `open` read, unless there was none or it could not be read (then this
    // reports why).
    const info = this.#snapshot ?? (await this.snapshots.latest());
    this.#snapshot = info;
    if (info === null && this.log.lastIndex >= this.log.firstIndex && this.log.firstIndex !== 1) {
      throw new TandemError(
        'TANDEM_CORRUPT',
        `log in ${this.log.directory} starts at index ${this.log.firstIndex} and no snapshot covers the entries before it`,
      );
    }
    const entries = info === null ? await this.log.readFrom(1) : await this.#readAfter(info.meta);
    return { hardState: this.hardState.current, snapshot: info?.meta ?? null, entries };
  }

  /**
   * The entries after the snapshot `meta`, when the log on disk carries on from it (Raft's
   * rule for keeping it: it holds the snapshot's entry with its term, or starts right
   * after it). When it does not (a crash between storing a received snapshot and dropping
   * the log it replaces), the log is reset to start after the snapshot, and there are
   * none. The snapshot's own entry is read with the rest: one scan of its segment.
   */
  async #readAfter(meta: SnapshotMeta): Promise<Entry[]> {
    const log = this.log;
    if (log.firstIndex === meta.index + 1) return log.readFrom(meta.index + 1);
    if (log.firstIndex <= meta.index && log.lastIndex >= meta.index) {
      const entries = await log.readFrom(meta.index);
      assert(entries[0]?.index === meta.index, `log holds no entry at ${meta.index}`);
      if (entries[0].term === meta.term) return entries.slice(1);
    }
    log.reset(meta.index + 1);
    await this.sync();
    return [];
  }

  writeEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    const snapshotIndex = this.#snapshot?.meta.index ?? 0;
    assert(
      first === undefined || first.index > snapshotIndex,
      `write at ${first?.index} behind the snapshot at ${snapshotIndex}`,
    );
    this.log.writeEntries(entries);
  }

  writeHardState(hardState: HardState): void {
    this.hardState.write(hardState);
  }

  sync(): Promise<void> {
    return this.#groupCommit.request();
  }

  async saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    await this.saveSnapshotChunks(meta, [data]);
  }

  /**
   * Stores a snapshot streamed in chunks (a snapshot received from the leader, or this
   * node's own); with `expectedChecksum` a mismatch is refused before anything changes.
   */
  async saveSnapshotChunks(
    meta: SnapshotMeta,
    chunks: SnapshotChunks,
    expectedChecksum?: string,
  ): Promise<SnapshotInfo> {
    return this.#saveSnapshot(meta, () => this.snapshots.save(meta, chunks, expectedChecksum));
  }

  /**
   * Stores this node's own snapshot from the image file its store wrote (`bytes` bytes,
   * CRC32C `checksum`), moved into the snapshot directory rather than copied.
   */
  async saveSnapshotFile(
    meta: SnapshotMeta,
    file: string,
    bytes: number,
    checksum: string,
  ): Promise<SnapshotInfo> {
    return this.#saveSnapshot(meta, () => this.snapshots.adopt(meta, file, bytes, checksum));
  }

  async #saveSnapshot(
    meta: SnapshotMeta,
    save: () => Promise<SnapshotInfo>,
  ): Promise<SnapshotInfo> {
    await this.sync();
    const current = this.#snapshot;
    if (current !== null && current.meta.index >= meta.index && meta.index > 0) {
      // A snapshot at or behind the one stored (an own save overtaken by a leader's
      // snapshot) would replace newer state: keep the newer one.
      return current;
    }
    const info = await save();
    this.#snapshot = info;
    if (this.log.term(meta.index) === meta.term) {
      await this.log.compact(meta.index);
    } else {
      this.log.reset(meta.index + 1);
      await this.sync();
    }
    return info;
  }

  async readSnapshot(): Promise<Snapshot | null> {
    const info = this.#snapshot ?? (await this.snapshots.latest());
    if (info === null) return null;
    return { meta: info.meta, data: await this.snapshots.read(info) };
  }

  /** Flushes what is queued and closes the files. */
  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    await this.log.close();
    await this.hardState.close();
  }
}
