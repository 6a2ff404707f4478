/**
 * The embedded state machine: a SQLite database (better-sqlite3, WAL mode) holding the
 * key-value namespace, the users' SQL tables, and the applied log position, all changed
 * in one transaction per batch of committed entries.
 *
 * Durability: `synchronous = NORMAL`. In WAL mode that keeps the file consistent after a
 * crash or power loss but may lose the last transactions, which would need FULL to keep.
 * They need not be kept: the replication log is the durable record. The runtime writes
 * (and fsyncs) entries to the log before they are applied, so whatever the store loses is
 * still in the log, and because the applied position is written in the same transaction
 * as the data, a store that lost a tail says so exactly: the log re-applies from
 * `applied.index + 1`, and nothing is applied twice. The store can therefore be behind the
 * log after a crash, never ahead of what the log holds durably. The one duty this puts on
 * the runtime: it must not compact the log past the store's applied index unless it keeps
 * a snapshot at or beyond that index, because a crash may roll the store back to before
 * the compaction point, and then only that snapshot can bring it forward.
 */
import Database from 'better-sqlite3';
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { assert, AssertionError } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { Entry } from '../core/types.js';
import { decodeCommand, type Bytes, type Command, type SqlParams } from './commands.js';
import type {
  ApplyResult,
  LogPosition,
  NodeStore,
  RestoreMeta,
  StoreSnapshot,
} from './contract.js';
import { KvTable, kvSchema, upgradeKvTable, type KvEntry, type ScanPage } from './kv.js';
import {
  backupPagesPerStep,
  checkRestoreMeta,
  imagePath,
  metaSchema,
  readPosition,
  resetSnapshotsDirectory,
  sealSnapshot,
  snapshotsDirectory,
} from './snapshot-images.js';
import { receiveStoreImage } from './image-kinds.js';
import { SessionTable, sessionsSchema } from './sessions.js';
import { buildSqliteFromImage } from './sqlite-from-postgres.js';
import { SqlExecutor, type SqlRow } from './sql-exec.js';

/** The most entries one `apply` call takes: a bound on the length of one transaction. */
export const applyEntriesMax = 65_536;

/**
 * Connection settings that change what SQL means; every replica must run with the same
 * ones, whatever the SQLite build defaults to.
 */
const semanticPragmas = ['foreign_keys = ON', 'recursive_triggers = ON'];

/** One open database file and everything prepared on it; replaced whole by a restore. */
class Connection {
  readonly db: Database.Database;
  readonly kv: KvTable;
  readonly sql: SqlExecutor;
  readonly sessions: SessionTable;
  readonly begin: Database.Statement;
  readonly commit: Database.Statement;
  readonly rollback: Database.Statement;
  readonly setApplied: Database.Statement<[number, number]>;

  constructor(file: string) {
    this.db = new Database(file);
    try {
      const mode = this.db.pragma('journal_mode = WAL', { simple: true }) as string;
      assert(mode === 'wal', `SQLite refused WAL mode (got ${mode})`);
      this.db.pragma('synchronous = NORMAL');
      // The one temporary table (see SqlExecutor) is rewritten before every statement.
      this.db.pragma('temp_store = MEMORY');
      for (const pragma of semanticPragmas) this.db.pragma(pragma);
      this.db.transaction(() => {
        upgradeKvTable(this.db);
        this.db.exec(kvSchema + metaSchema + sessionsSchema);
      })();
      this.kv = new KvTable(this.db);
      this.sql = new SqlExecutor(this.db);
      this.sessions = new SessionTable(this.db);
      // IMMEDIATE takes the write lock at once, so a second process on the same file
      // fails at BEGIN rather than halfway through a batch.
      this.begin = this.db.prepare('BEGIN IMMEDIATE');
      this.commit = this.db.prepare('COMMIT');
      this.rollback = this.db.prepare('ROLLBACK');
      this.setApplied = this.db.prepare(
        'UPDATE _tandem_meta SET applied_index = ?, applied_term = ? WHERE id = 1',
      );
    } catch (error) {
      this.db.close();
      throw error;
    }
  }
}

/** Options of `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** Pages a snapshot backup copies per step (default `backupPagesPerStep`). */
  readonly backupPagesPerStep?: number;
}

/** Wraps a failure of the machine (not of a command) with a stable code. */
function storageError(error: unknown, doing: string): unknown {
  if (error instanceof TandemError || error instanceof AssertionError) return error;
  const code = error instanceof Database.SqliteError ? error.code : '';
  const corrupt = code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB');
  return new TandemError(
    corrupt ? 'TANDEM_CORRUPT' : 'TANDEM_STORAGE_FAILED',
    `${doing} failed: ${(error as Error).message}`,
    { cause: error },
  );
}

/** Flushes a directory's entries (a rename) to disk. */
function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The SQLite state machine. Reads take the reader's clock (`nowMs`) to judge expiry. */
export class SqliteStore implements NodeStore {
  readonly kind = 'sqlite';
  /** The database file. */
  readonly path: string;
  readonly #snapshots: string;
  readonly #backupPagesPerStep: number;
  #connection: Connection | null;
  #applied: LogPosition;
  /** Backups in progress: a restore waits for them before it closes the connection. */
  readonly #backups = new Set<Promise<unknown>>();

  private constructor(file: string, options: SqliteStoreOptions) {
    this.path = file;
    this.#snapshots = snapshotsDirectory(file);
    this.#backupPagesPerStep = options.backupPagesPerStep ?? backupPagesPerStep;
    assert(
      Number.isSafeInteger(this.#backupPagesPerStep) && this.#backupPagesPerStep > 0,
      `backupPagesPerStep must be a positive integer, got ${this.#backupPagesPerStep}`,
    );
    resetSnapshotsDirectory(this.#snapshots);
    try {
      this.#connection = new Connection(file);
      this.#applied = readPosition(this.#connection.db);
    } catch (error) {
      throw storageError(error, `opening the store ${file}`);
    }
  }

  /** Opens (creating on first use) the store in the database file at `file`. */
  static open(file: string, options: SqliteStoreOptions = {}): SqliteStore {
    return new SqliteStore(file, options);
  }

  /** The last applied index and term, as the database records them. */
  get applied(): LogPosition {
    return this.#applied;
  }

  /** Whether the database is open (a failed restore that could not reopen it closes it). */
  healthy(): boolean {
    return this.#connection !== null;
  }

  #open(): Connection {
    assert(this.#connection !== null, `the store ${this.path} is closed`);
    return this.#connection;
  }

  /** Applies committed entries in one transaction; see `StateMachine.apply`. */
  apply(entries: readonly Entry[]): ApplyResult[] {
    const connection = this.#open();
    if (entries.length === 0) return [];
    assert(entries.length <= applyEntriesMax, `apply of ${entries.length} entries at once`);
    const last = entries[entries.length - 1] as Entry;
    connection.begin.run();
    let results: ApplyResult[];
    try {
      results = this.#applyAll(connection, entries);
      connection.setApplied.run(last.index, last.term);
      connection.commit.run();
    } catch (error) {
      if (connection.db.inTransaction) connection.rollback.run();
      throw storageError(error, `applying entries ${entries[0]?.index} to ${last.index}`);
    }
    this.#applied = { index: last.index, term: last.term };
    return results;
  }

  /** Applies each entry inside the open transaction; `entries[i]` is at `applied.index + 1 + i`. */
  #applyAll(connection: Connection, entries: readonly Entry[]): ApplyResult[] {
    const results: ApplyResult[] = new Array<ApplyResult>(entries.length);
    let previous = this.#applied;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      assert(entry.index === previous.index + 1, `apply ${entry.index} after ${previous.index}`);
      assert(
        Number.isSafeInteger(entry.term) && entry.term >= previous.term,
        `entry ${entry.index} has term ${entry.term} after term ${previous.term}`,
      );
      results[i] = this.#applyEntry(connection, entry);
      previous = entry;
    }
    return results;
  }

  #applyEntry(connection: Connection, entry: Entry): ApplyResult {
    if (entry.kind !== 'command') return null;
    if (entry.data === undefined) {
      throw new TandemError('TANDEM_CORRUPT', `command entry ${entry.index} carries no command`);
    }
    const command = decodeCommand(entry.data);
    const { session, at } = command;
    if (session === undefined) return this.#execute(connection, command, entry);
    // The codec refuses a session without a time, so `at` is there.
    assert(at !== undefined, `entry ${entry.index} has a session but no time`);
    const remembered = connection.sessions.check(session, at);
    if (remembered !== null) return remembered;
    const result = this.#execute(connection, command, entry);
    connection.sessions.record(session, at, result, entry);
    return result;
  }

  #execute(connection: Connection, command: Command, entry: Entry): ApplyResult {
    if (command.type === 'sql') return connection.sql.execute(command);
    return connection.kv.execute(command, entry);
  }

  /** The live value of `key` with its version and expiry, or null when absent or expired. */
  get(key: Bytes, nowMs: number): KvEntry | null {
    return this.#open().kv.get(key, nowMs);
  }

  /** How many of `keys` are live (Redis EXISTS: repeats count each time). */
  exists(keys: readonly Bytes[], nowMs: number): number {
    return this.#open().kv.exists(keys, nowMs);
  }

  /** Milliseconds `key` has to live; -1 when it does not expire, -2 when it is absent. */
  ttlMs(key: Bytes, nowMs: number): number {
    return this.#open().kv.ttlMs(key, nowMs);
  }

  /** 'string' for a live key, 'none' otherwise. */
  type(key: Bytes, nowMs: number): 'string' | 'none' {
    return this.#open().kv.type(key, nowMs);
  }

  /** The number of live keys. */
  dbsize(nowMs: number): number {
    return this.#open().kv.dbsize(nowMs);
  }

  /** The live keys matching a Redis glob pattern, in byte order (bounded: see `keysResultMax`). */
  keys(pattern: Bytes, nowMs: number): Buffer[] {
    return this.#open().kv.keys(pattern, nowMs);
  }

  /** One page of a SCAN from `cursor` (0 starts; a returned 0 ends). */
  scan(cursor: number, options: { match?: Bytes; count?: number }, nowMs: number): ScanPage {
    return this.#open().kv.scan(cursor, options, nowMs);
  }

  /** Runs a read-only query on the local state; TANDEM_BAD_REQUEST for anything that writes. */
  query(sql: string, params?: SqlParams): SqlRow[] {
    return this.#open().sql.query(sql, params);
  }

  /** Copies the database into a snapshot image; see `StateMachine.snapshot`. */
  async snapshot(): Promise<StoreSnapshot> {
    const connection = this.#open();
    const file = imagePath(this.#snapshots, 'snapshot');
    // The backup runs on the connection that applies. SQLite then carries every apply made
    // during the backup into the copy as it happens, instead of restarting the copy; so
    // the copy ends at whatever was applied when the backup finished, and the snapshot's
    // position is read from the copy itself, never from `applied` at the start.
    const copying = connection.db.backup(file, { progress: () => this.#backupPagesPerStep });
    this.#backups.add(copying);
    try {
      await copying;
    } catch (error) {
      rmSync(file, { force: true });
      throw storageError(error, 'taking a snapshot');
    } finally {
      this.#backups.delete(copying);
    }
    return sealSnapshot(file);
  }

  /**
   * Replaces the database by a verified image of either store kind; see
   * `StateMachine.restore`.
   */
  async restore(meta: RestoreMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.#open();
    checkRestoreMeta(meta);
    const file = await this.#receive(meta, chunks);
    // Closing the connection under a running backup would fail that snapshot; the swap
    // below is synchronous, so no new backup can start between this wait and the swap.
    while (this.#backups.size > 0) await Promise.allSettled([...this.#backups]);
    if (this.#connection === null) {
      rmSync(file, { force: true });
      throw new TandemError('TANDEM_STORAGE_FAILED', 'the store was closed during a restore');
    }
    this.#swapIn(this.#connection, file);
    assert(
      this.#applied.index === meta.index && this.#applied.term === meta.term,
      `restored store is at ${this.#applied.index}, not ${meta.index}`,
    );
  }

  /**
   * Receives and checks an image of either kind (see image-kinds.ts) before anything
   * changes; returns a SQLite file ready to swap in: the image itself, or the file built
   * from a PostgreSQL image (see sqlite-from-postgres.ts).
   */
  async #receive(meta: RestoreMeta, chunks: AsyncIterable<Uint8Array>): Promise<string> {
    const image = await receiveStoreImage(
      imagePath(this.#snapshots, 'restore'),
      meta,
      chunks,
      null,
    );
    if (image.kind === 'sqlite') return image.file;
    const built = imagePath(this.#snapshots, 'restore');
    try {
      await buildSqliteFromImage(image.file, image.header, built);
    } catch (error) {
      throw storageError(error, 'converting a PostgreSQL snapshot image');
    } finally {
      rmSync(image.file, { force: true });
    }
    return built;
  }

  /**
   * Replaces the live file by a verified image. The old WAL is checkpointed, then deleted
   * before the rename: a WAL left beside the new file would be replayed into it. A crash
   * at any point leaves either the old file or the new one, each whole.
   */
  #swapIn(connection: Connection, image: string): void {
    try {
      connection.db.pragma('wal_checkpoint(TRUNCATE)');
      connection.db.close();
      this.#connection = null;
      rmSync(`${this.path}-wal`, { force: true });
      rmSync(`${this.path}-shm`, { force: true });
      renameSync(image, this.path);
      fsyncDirectory(path.dirname(this.path));
      this.#connection = new Connection(this.path);
      this.#applied = readPosition(this.#connection.db);
    } catch (error) {
      rmSync(image, { force: true });
      this.#reopenAfterFailedSwap();
      throw storageError(error, `restoring a snapshot into ${this.path}`);
    }
  }

  /** After a failed swap, opens whichever whole file is in place, if any will open. */
  #reopenAfterFailedSwap(): void {
    if (this.#connection !== null) return;
    try {
      this.#connection = new Connection(this.path);
      this.#applied = readPosition(this.#connection.db);
    } catch {
      // The store stays closed; every later call fails its open-store assertion, and the
      // caller already has the error that explains why.
      this.#connection = null;
    }
  }

  /** Closes the database. Idempotent; snapshots already taken stay readable. */
  close(): void {
    this.#connection?.db.close();
    this.#connection = null;
  }
}
