/**
 * The embedded state machine, held in memory: the key-value namespace (keyspace.ts) and
 * an in-memory SQLite database (better-sqlite3) with the users' SQL tables, the
 * exactly-once sessions and the applied log position.
 *
 * Durability: the replication log is the durable record, and snapshots are its
 * compaction. The runtime writes (and fsyncs) entries to the log before they are applied,
 * and at start restores the store from its latest snapshot image and applies the log
 * after it, as Redis loads its RDB file and replays its AOF. So a store opens empty, at
 * index 0, and nothing is written per batch but the log: applying a SET is a Map update.
 * A batch is still all or nothing: a failure undoes the namespace's changes and rolls
 * back the SQL transaction.
 *
 * A snapshot is consistent at one index while applies go on: the SQL database is copied
 * whole (sqlite3_serialize, a memory copy of its pages) and the namespace's items by
 * reference (they are replaced, never changed in place), synchronously between two
 * batches; the image (memory-image.ts) is then written to disk in chunks.
 */
import Database from 'better-sqlite3';
import { readFileSync, rmSync } from 'node:fs';
import { assert, AssertionError } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { Entry } from '../core/types.js';
import {
  accessSchema,
  applyAclChange,
  decodeStoredAccess,
  emptyAccessState,
  encodeAccessState,
  type AccessState,
  type AclCommand,
} from './access-state.js';
import { decodeCommand, type Bytes, type Command, type SqlParams } from './commands.js';
import type {
  ApplyResult,
  KeyVersion,
  LogPosition,
  NodeStore,
  RestoreMeta,
  StoreSnapshot,
  KeyspaceStats,
} from './contract.js';
import { receiveStoreImage } from './image-kinds.js';
import {
  Keyspace,
  type HashScanPage,
  type HeldKey,
  type KvEntry,
  type ScanOptions,
  type ScanPage,
  type SetScanPage,
} from './keyspace.js';
import type {
  HashEncoding,
  ListPositionOptions,
  SetEncoding,
  ValueType,
  ZsetEncoding,
} from './values.js';
import type { ZsetRange, ZsetSelection } from './sorted-set.js';
import type { ZsetScanPage } from './keyspace.js';
import { kvSchema, upgradeKvTable } from './kv.js';
import { linkedSqlRefusal } from './kv-commands.js';
import {
  isMemoryImageStart,
  loadMemoryImage,
  receiveMemoryImage,
  takeKeyspaceFromTable,
  writeMemoryImage,
} from './memory-image.js';
import {
  checkRestoreMeta,
  FileSnapshot,
  imagePath,
  metaSchema,
  readPosition,
  resetSnapshotsDirectory,
  restoreChunkBytesMax,
  snapshotsDirectory,
} from './snapshot-images.js';
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

/** Bytes 18 and 19 of a SQLite file: its write and read versions, 2 for a WAL database. */
const fileFormatVersionOffsets = [18, 19] as const;

/** One in-memory database and everything prepared on it; replaced whole by a restore. */
class Connection {
  readonly db: Database.Database;
  readonly sql: SqlExecutor;
  readonly sessions: SessionTable;
  readonly begin: Database.Statement;
  readonly commit: Database.Statement;
  readonly rollback: Database.Statement;
  readonly setApplied: Database.Statement<[number, number]>;
  readonly saveAccess: Database.Statement<[Uint8Array]>;
  /** The users and tokens as of the last change applied (or being applied). */
  access: AccessState;

  /** An empty database, or one deserialized from a database file's bytes. */
  constructor(image?: Buffer) {
    if (image !== undefined) {
      // A database copied from a WAL-mode file says so in its header; in memory it uses
      // a rollback journal, which versions 1 say.
      for (const offset of fileFormatVersionOffsets) {
        if (image.byteLength > offset && image[offset] === 2) image[offset] = 1;
      }
    }
    this.db = image === undefined ? new Database(':memory:') : new Database(image);
    try {
      this.db.pragma('temp_store = MEMORY');
      for (const pragma of semanticPragmas) this.db.pragma(pragma);
      this.db.transaction(() => {
        upgradeKvTable(this.db);
        this.db.exec(kvSchema + metaSchema + sessionsSchema + accessSchema);
      })();
      this.sql = new SqlExecutor(this.db);
      this.sessions = new SessionTable(this.db);
      this.begin = this.db.prepare('BEGIN');
      this.commit = this.db.prepare('COMMIT');
      this.rollback = this.db.prepare('ROLLBACK');
      this.setApplied = this.db.prepare(
        'UPDATE _tandem_meta SET applied_index = ?, applied_term = ? WHERE id = 1',
      );
      this.saveAccess = this.db.prepare(
        'INSERT INTO _tandem_acl (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state',
      );
      const row = this.db.prepare('SELECT state FROM _tandem_acl WHERE id = 1').get() as
        { state: Buffer } | undefined;
      this.access =
        row === undefined ? emptyAccessState : decodeStoredAccess(row.state, 'the database');
    } catch (error) {
      this.db.close();
      throw error;
    }
  }
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

/** The first chunk of a stream (null when it is empty), and the whole stream again. */
async function peek(
  chunks: AsyncIterable<Uint8Array>,
): Promise<{ first: Uint8Array | null; all: AsyncIterable<Uint8Array> }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const head = await iterator.next();
  const first = head.done === true ? null : head.value;
  async function* all(): AsyncGenerator<Uint8Array> {
    if (first === null) return;
    yield first;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
      yield next.value;
    }
  }
  return { first, all: all() };
}

/** Whether applying `command` touches the SQL database (SQL, or a session to remember). */
function touchesDatabase(command: Command | null): boolean {
  return (
    command !== null &&
    (command.type === 'sql' || command.type === 'acl' || command.session !== undefined)
  );
}

/** The SQLite state machine. Reads take the reader's clock (`nowMs`) to judge expiry. */
export class SqliteStore implements NodeStore {
  readonly kind = 'sqlite';
  /** The path the store is named by: its snapshot images live in a directory beside it. */
  readonly path: string;
  readonly #snapshots: string;
  #connection: Connection | null;
  #keyspace = new Keyspace();
  #applied: LogPosition = { index: 0, term: 0 };
  #keyEvents = false;

  private constructor(file: string) {
    this.path = file;
    this.#snapshots = snapshotsDirectory(file);
    resetSnapshotsDirectory(this.#snapshots);
    try {
      this.#connection = new Connection();
    } catch (error) {
      throw storageError(error, `opening the store ${file}`);
    }
  }

  /**
   * Opens an empty store (at index 0) named by `file`; images it takes go to the
   * directory beside it, which is emptied of those of a previous process.
   */
  static open(file: string): SqliteStore {
    return new SqliteStore(file);
  }

  /** The last applied index and term. */
  get applied(): LogPosition {
    return this.#applied;
  }

  /** Every key held, expired or not yet purged, in byte order (for checks and tests). */
  heldKeys(): HeldKey[] {
    this.#open();
    return this.#keyspace.held();
  }

  /** The number of keys an image holds: the weight of a snapshot, for the runtime. */
  imageItems(): number {
    return this.#keyspace.size;
  }

  /** Whether the database is open. */
  healthy(): boolean {
    return this.#connection !== null;
  }

  setKeyEvents(on: boolean): void {
    this.#keyEvents = on;
  }

  #open(): Connection {
    assert(this.#connection !== null, `the store ${this.path} is closed`);
    return this.#connection;
  }

  /** Applies committed entries, all or none; see `StateMachine.apply`. */
  apply(entries: readonly Entry[]): ApplyResult[] {
    const connection = this.#open();
    if (entries.length === 0) return [];
    assert(entries.length <= applyEntriesMax, `apply of ${entries.length} entries at once`);
    const last = entries[entries.length - 1] as Entry;
    // Every entry decodes before anything changes: an undecodable one fails the batch whole.
    const commands = entries.map((entry) => this.#decode(entry));
    const database = commands.some(touchesDatabase);
    const accessBefore = connection.access;
    // A restore replaces the keyspace: it takes the setting at each apply.
    this.#keyspace.keyEvents = this.#keyEvents;
    this.#keyspace.begin();
    if (database) connection.begin.run();
    let results: ApplyResult[];
    try {
      results = this.#applyAll(connection, entries, commands);
      if (database) {
        connection.setApplied.run(last.index, last.term);
        connection.commit.run();
      }
      this.#keyspace.commit();
    } catch (error) {
      this.#keyspace.rollback();
      connection.access = accessBefore;
      if (connection.db.inTransaction) connection.rollback.run();
      throw storageError(error, `applying entries ${entries[0]?.index} to ${last.index}`);
    }
    this.#applied = { index: last.index, term: last.term };
    return results;
  }

  #decode(entry: Entry): Command | null {
    if (entry.kind !== 'command') return null;
    if (entry.data === undefined) {
      throw new TandemError('TANDEM_CORRUPT', `command entry ${entry.index} carries no command`);
    }
    return decodeCommand(entry.data);
  }

  /** Applies each entry; `entries[i]` is at `applied.index + 1 + i`. */
  #applyAll(
    connection: Connection,
    entries: readonly Entry[],
    commands: readonly (Command | null)[],
  ): ApplyResult[] {
    const results: ApplyResult[] = new Array<ApplyResult>(entries.length);
    let previous = this.#applied;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      assert(entry.index === previous.index + 1, `apply ${entry.index} after ${previous.index}`);
      assert(
        Number.isSafeInteger(entry.term) && entry.term >= previous.term,
        `entry ${entry.index} has term ${entry.term} after term ${previous.term}`,
      );
      const command = commands[i] as Command | null;
      results[i] = command === null ? null : this.#applyCommand(connection, command, entry);
      previous = entry;
    }
    return results;
  }

  #applyCommand(connection: Connection, command: Command, entry: Entry): ApplyResult {
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
    if (command.type === 'sql') {
      // Rows do not merge across linked clusters: a write here would silently diverge.
      if (this.#keyspace.isLinked()) return { ok: false, error: linkedSqlRefusal };
      return connection.sql.execute(command);
    }
    if (command.type === 'acl') return this.#applyAcl(connection, command);
    return this.#keyspace.execute(command, entry);
  }

  #applyAcl(connection: Connection, command: AclCommand): ApplyResult {
    const outcome = applyAclChange(connection.access, command);
    if (!outcome.ok) return outcome;
    connection.saveAccess.run(encodeAccessState(outcome.state));
    connection.access = outcome.state;
    return { ok: true, value: outcome.value };
  }

  /** The users and tokens, as applied. */
  accessState(): AccessState {
    return this.#open().access;
  }

  /** The live value of `key` with its version and expiry, or null when absent or expired. */
  get(key: Bytes, nowMs: number): KvEntry | null {
    this.#open();
    return this.#keyspace.get(key, nowMs);
  }

  /** The live key's version and expiry, of any type; null when absent or expired. */
  versionOf(key: Bytes, nowMs: number): KeyVersion | null {
    this.#open();
    return this.#keyspace.versionOf(key, nowMs);
  }

  /** How many of `keys` are live (Redis EXISTS: repeats count each time). */
  exists(keys: readonly Bytes[], nowMs: number): number {
    this.#open();
    return this.#keyspace.exists(keys, nowMs);
  }

  /** Milliseconds `key` has to live; -1 when it does not expire, -2 when it is absent. */
  ttlMs(key: Bytes, nowMs: number): number {
    this.#open();
    return this.#keyspace.ttlMs(key, nowMs);
  }

  /** The live key's type, 'none' when absent or expired. */
  type(key: Bytes, nowMs: number): ValueType | 'none' {
    this.#open();
    return this.#keyspace.type(key, nowMs);
  }

  /** The values of `fields` of the hash at `key`, null without it. */
  hashValues(key: Bytes, fields: readonly Bytes[], nowMs: number): (Buffer | null)[] | null {
    this.#open();
    return this.#keyspace.hashValues(key, fields, nowMs);
  }

  /** How many fields the hash at `key` holds. */
  hashSize(key: Bytes, nowMs: number): number {
    this.#open();
    return this.#keyspace.hashSize(key, nowMs);
  }

  /** Every field and value of the hash at `key`, in its order. */
  hashAll(key: Bytes, nowMs: number): [Buffer, Buffer][] {
    this.#open();
    return this.#keyspace.hashAll(key, nowMs);
  }

  /** The hash's encoding, null when absent. */
  hashEncoding(key: Bytes, nowMs: number): HashEncoding | null {
    this.#open();
    return this.#keyspace.hashEncoding(key, nowMs);
  }

  /** One page of an HSCAN from `cursor`. */
  hashScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): HashScanPage {
    this.#open();
    return this.#keyspace.hashScan(key, cursor, options, nowMs);
  }

  /** Every member of the set at `key` (an intset's ascending). */
  setAll(key: Bytes, nowMs: number): Buffer[] {
    this.#open();
    return this.#keyspace.setAll(key, nowMs);
  }

  /** Whether each of `members` is in the set at `key`. */
  setContains(key: Bytes, members: readonly Bytes[], nowMs: number): boolean[] {
    this.#open();
    return this.#keyspace.setContains(key, members, nowMs);
  }

  /** `count` members of the set at `key` drawn at random. */
  setRandom(key: Bytes, count: number, repeats: boolean, nowMs: number): Buffer[] {
    this.#open();
    return this.#keyspace.setRandom(key, count, repeats, nowMs);
  }

  /** How many members the set at `key` holds. */
  setSize(key: Bytes, nowMs: number): number {
    this.#open();
    return this.#keyspace.setSize(key, nowMs);
  }

  /** The set's encoding, null when absent. */
  setEncoding(key: Bytes, nowMs: number): SetEncoding | null {
    this.#open();
    return this.#keyspace.setEncoding(key, nowMs);
  }

  /** One page of an SSCAN from `cursor`. */
  setScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): SetScanPage {
    this.#open();
    return this.#keyspace.setScan(key, cursor, options, nowMs);
  }

  /** The scores of `members` of the sorted set at `key`, null without it. */
  zsetScores(key: Bytes, members: readonly Bytes[], nowMs: number): (number | null)[] | null {
    this.#open();
    return this.#keyspace.zsetScores(key, members, nowMs);
  }

  /** How many members the sorted set at `key` holds. */
  zsetSize(key: Bytes, nowMs: number): number {
    this.#open();
    return this.#keyspace.zsetSize(key, nowMs);
  }

  /** A member's rank, null when absent. */
  zsetRank(key: Bytes, member: Bytes, reverse: boolean, nowMs: number): number | null {
    this.#open();
    return this.#keyspace.zsetRank(key, member, reverse, nowMs);
  }

  /** The members `selection` picks, with their scores. */
  zsetRange(key: Bytes, selection: ZsetSelection, nowMs: number): [Buffer, number][] {
    this.#open();
    return this.#keyspace.zsetRange(key, selection, nowMs);
  }

  /** How many members a range covers. */
  zsetCount(key: Bytes, range: ZsetRange, nowMs: number): number {
    this.#open();
    return this.#keyspace.zsetCount(key, range, nowMs);
  }

  /** The sorted set's encoding, null when absent. */
  zsetEncoding(key: Bytes, nowMs: number): ZsetEncoding | null {
    this.#open();
    return this.#keyspace.zsetEncoding(key, nowMs);
  }

  /** One page of a ZSCAN from `cursor`. */
  zsetScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): ZsetScanPage {
    this.#open();
    return this.#keyspace.zsetScan(key, cursor, options, nowMs);
  }

  /** How many elements the list at `key` holds. */
  listSize(key: Bytes, nowMs: number): number {
    this.#open();
    return this.#keyspace.listSize(key, nowMs);
  }

  /** LRANGE's elements of the list at `key`. */
  listElements(key: Bytes, start: number, stop: number, nowMs: number): Buffer[] {
    this.#open();
    return this.#keyspace.listElements(key, start, stop, nowMs);
  }

  /** LINDEX's element of the list at `key`. */
  listElement(key: Bytes, index: number, nowMs: number): Buffer | null {
    this.#open();
    return this.#keyspace.listElement(key, index, nowMs);
  }

  /** LPOS's indexes in the list at `key`. */
  listIndexes(
    key: Bytes,
    element: Bytes,
    options: ListPositionOptions,
    nowMs: number,
  ): number[] | null {
    this.#open();
    return this.#keyspace.listIndexes(key, element, options, nowMs);
  }

  /** The live keys, those with an expiry, and their average time to live (of `db` if given). */
  keyspaceStats(nowMs: number, db?: number): KeyspaceStats {
    this.#open();
    return this.#keyspace.keyspaceStats(nowMs, db);
  }

  /** The number of live keys (of `db` if given). */
  dbsize(nowMs: number, db?: number): number {
    this.#open();
    return this.#keyspace.dbsize(nowMs, db);
  }

  /** A live key picked at random, or null when none is live (Redis RANDOMKEY). */
  randomKey(nowMs: number, db?: number): Buffer | null {
    this.#open();
    return this.#keyspace.randomKey(nowMs, db);
  }

  /** The live keys matching a Redis glob pattern, in byte order (bounded: see `keysResultMax`). */
  keys(pattern: Bytes, nowMs: number, db?: number): Buffer[] {
    this.#open();
    return this.#keyspace.keys(pattern, nowMs, db);
  }

  /** One page of a SCAN from `cursor` (0 starts; a returned 0 ends). */
  scan(cursor: number, options: ScanOptions, nowMs: number): ScanPage {
    this.#open();
    return this.#keyspace.scan(cursor, options, nowMs);
  }

  /** Runs a read-only query on the local state; TANDEM_BAD_REQUEST for anything that writes. */
  query(sql: string, params?: SqlParams): SqlRow[] {
    return this.#open().sql.query(sql, params);
  }

  /**
   * Takes a snapshot image at the applied index; see `StateMachine.snapshot`. The copy is
   * made at once, between two batches; the image is then written while applies go on.
   */
  async snapshot(): Promise<StoreSnapshot> {
    const connection = this.#open();
    const position = this.#applied;
    let database: Buffer;
    try {
      connection.setApplied.run(position.index, position.term);
      database = connection.db.serialize();
    } catch (error) {
      throw storageError(error, 'taking a snapshot');
    }
    const keyspace = this.#keyspace.freeze();
    const file = imagePath(this.#snapshots, 'snapshot');
    try {
      const { bytes, checksum } = await writeMemoryImage(file, position, database, keyspace);
      return new FileSnapshot(file, position, bytes, checksum);
    } catch (error) {
      rmSync(file, { force: true });
      throw storageError(error, 'taking a snapshot');
    }
  }

  /**
   * Replaces the whole state by a verified image of any kind (see image-kinds.ts); see
   * `StateMachine.restore`. Nothing changes until the image is read and checked whole.
   */
  async restore(meta: RestoreMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.#open();
    checkRestoreMeta(meta);
    const { first, all } = await peek(chunks);
    let loaded: { connection: Connection; keyspace: Keyspace; position: LogPosition };
    if (first !== null && isMemoryImageStart(first)) {
      const read = await receiveMemoryImage(meta, all, restoreChunkBytesMax);
      try {
        loaded = {
          connection: new Connection(read.database),
          keyspace: read.keyspace,
          position: read.header.position,
        };
      } catch (error) {
        throw storageError(error, 'restoring a snapshot');
      }
    } else {
      const image = await receiveStoreImage(imagePath(this.#snapshots, 'restore'), meta, all, null);
      try {
        loaded =
          image.kind === 'memory'
            ? await this.#loadMemoryFile(image.file)
            : await this.#loadDatabaseImage(image);
      } catch (error) {
        throw storageError(error, 'restoring a snapshot');
      } finally {
        rmSync(image.file, { force: true });
      }
    }
    if (loaded.position.index !== meta.index || loaded.position.term !== meta.term) {
      loaded.connection.db.close();
      throw new TandemError(
        'TANDEM_CORRUPT',
        `the snapshot image is at index ${loaded.position.index} term ${loaded.position.term}, but was sent as index ${meta.index} term ${meta.term}`,
      );
    }
    if (this.#connection === null) {
      loaded.connection.db.close();
      throw new TandemError('TANDEM_STORAGE_FAILED', 'the store was closed during a restore');
    }
    this.#connection.db.close();
    this.#connection = loaded.connection;
    this.#keyspace = loaded.keyspace;
    this.#applied = loaded.position;
  }

  async #loadMemoryFile(
    file: string,
  ): Promise<{ connection: Connection; keyspace: Keyspace; position: LogPosition }> {
    const read = await loadMemoryImage(file);
    return {
      connection: new Connection(read.database),
      keyspace: read.keyspace,
      position: read.header.position,
    };
  }

  /**
   * Loads a SQLite database image (an older build's, or one built from a PostgreSQL
   * image, see sqlite-from-postgres.ts): its keys move from `_tandem_kv` into memory.
   */
  async #loadDatabaseImage(
    image: Awaited<ReturnType<typeof receiveStoreImage>>,
  ): Promise<{ connection: Connection; keyspace: Keyspace; position: LogPosition }> {
    let file = image.file;
    if (image.kind === 'postgres') {
      file = imagePath(this.#snapshots, 'restore');
      try {
        await buildSqliteFromImage(image.file, image.header, file);
      } catch (error) {
        rmSync(file, { force: true });
        throw storageError(error, 'converting a PostgreSQL snapshot image');
      }
    }
    try {
      const connection = new Connection(readFileSync(file));
      try {
        const keyspace = connection.db.transaction(() => takeKeyspaceFromTable(connection.db))();
        return { connection, keyspace, position: readPosition(connection.db) };
      } catch (error) {
        connection.db.close();
        throw error;
      }
    } finally {
      if (file !== image.file) rmSync(file, { force: true });
    }
  }

  /** Closes the database. Idempotent; snapshots already taken stay readable. */
  close(): void {
    this.#connection?.db.close();
    this.#connection = null;
  }
}
