/**
 * The state machine kept in PostgreSQL: the key-value namespace, client sessions and the
 * applied position in a schema `tandem`, the users' SQL tables in `public`, all changed in
 * one transaction per batch of committed entries, with the same results as SqliteStore.
 *
 * Applying a batch costs two round trips, three when it holds SQL commands:
 *
 * 1. BEGIN, lock the meta row (`FOR UPDATE`) and read the applied position, every key and
 *    session the batch names, and the few rows an expire-sweep or a session purge could
 *    remove. Entries at or below the recorded position were applied by an earlier call
 *    whose COMMIT went through unacknowledged: they are skipped (asserted a prefix).
 * 2. Key-value commands and session checks run in memory (postgres-kv.ts,
 *    postgres-sessions.ts); SQL commands go to the server as one simple-query string, each
 *    command in a SAVEPOINT, with parameters inlined as literals (postgres-sql.ts). When a
 *    statement fails, the string is rolled back to its start and the commands are run one
 *    statement at a time, so that the failing command is rolled back alone and its error
 *    names its statement.
 * 3. The final state of every touched key and session goes back in set-based statements,
 *    with the users and tokens when an acl command changed them (postgres-access.ts), the
 *    new applied position, and COMMIT.
 *
 * Durability is the server's (`synchronous_commit` as configured). A database that goes
 * away makes every call throw TANDEM_STORE_UNAVAILABLE and `healthy()` false until a call
 * succeeds again; the pool reconnects by itself, and the next apply re-reads the applied
 * position under its lock before it goes on.
 */
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import {
  databasePrefix,
  inDatabaseText,
  reservedPrefix,
  swapHoldingDatabase,
  systemDatabase,
} from './databases.js';
import type { Entry } from '../core/types.js';
import {
  decodeCommand,
  type Bytes,
  type Command,
  type SqlCommand,
  type SqlParams,
} from './commands.js';
import type {
  ApplyResult,
  KeyVersion,
  LogPosition,
  NodeStore,
  RestoreMeta,
  SqlStatementResult,
  StoreSnapshot,
  KeyspaceStats,
} from './contract.js';
import type { Glob } from './glob.js';
import { asBuffer, compileGlob, scanCount, WrongTypeError } from './kv-rules.js';
import { drawIndexes } from './kv-commands.js';
import {
  compareIntegerMembers,
  listPositions,
  listRange,
  type HashEncoding,
  type ListPositionOptions,
  type SetEncoding,
  type ValueType,
  type ZsetEncoding,
} from './values.js';
import {
  countRange,
  rankSpan,
  ScoreList,
  selectRange,
  type LexBound,
  type ScoreBound,
  type ZsetRange,
  type ZsetSelection,
} from './sorted-set.js';
import type { ZsetScanPage } from './keyspace.js';
import {
  keysResultMax,
  startsWith,
  sweepKeysMax,
  type KvCommand,
  type KvEntry,
  type ScanOptions,
  type ScanPage,
  type HashScanPage,
  type SetScanPage,
} from './kv.js';
import {
  bytesLiteral,
  clientQueryTimeoutMs,
  expiryLiteral,
  float8Text,
  integerLiteral,
  isConnectionFailure,
  isStatementFailure,
  q,
  q1,
  resultList,
  sessionSettings,
  storeError,
  typeParsers,
  userTables,
} from './postgres-connection.js';

export { clientQueryTimeoutMs } from './postgres-connection.js';
import {
  ImageReader,
  ImageWriter,
  newImagePath,
  publishImage,
  resetImages,
  type ImageHeader,
  type ImageTable,
} from './postgres-image.js';
import { receiveStoreImage } from './image-kinds.js';
import { sqliteFileFromMemoryImage } from './memory-image.js';
import { loadSqliteImage } from './postgres-from-sqlite.js';
import {
  commandKeys,
  commandFields,
  commandListNeeds,
  KvBatch,
  type ListMeta,
  type ListNeeds,
  type ListWrites,
  type LoadedLists,
  type FieldNeeds,
  type FieldRow,
  type HashMeta,
  type SetMeta,
  type SetWrites,
  type LoadedSets,
  type MemberNeeds,
  commandMembers,
  commandScored,
  type LoadedZsets,
  type ScoredNeeds,
  type ScoredRow,
  type ZsetMeta,
  type ZsetWrites,
  type HashWrites,
  type LoadedHashes,
  keyBytes,
  keyId,
  type KvRow,
  type SweepCandidate,
  type DatabaseSwap,
} from './postgres-kv.js';
import {
  mayEvict,
  packResult,
  rememberedResult,
  sessionCandidatesMax,
  SessionBatch,
  type SessionCandidate,
  type SessionRow,
} from './postgres-sessions.js';
import { inlineSql, quoteIdentifier, quoteLiteral, SqlTranslationError } from './postgres-sql.js';
import { sessionIdleMsMax, sessionsMax } from './sessions.js';
import { checkStatement, isSchemaChange } from './sql-check.js';
import { queryRowsMax, sqlResultRowsMax, type SqlRow } from './sql-exec.js';
import { checkRestoreMeta, FileSnapshot, storeFormat } from './snapshot-images.js';
import { applyEntriesMax } from './sqlite.js';
import { emptyAccessState, type AccessState } from './access-state.js';
import {
  AccessBatch,
  accessImageTable,
  accessTableSchema,
  accessUpsert,
  readAccessStatement,
  storedAccess,
} from './postgres-access.js';

/** The most connections the store's pool opens (applies take one, reads the others). */
export const poolConnectionsMax = 8;
/** How long getting a connection may take before the database counts as unavailable. */
export const connectTimeoutMsDefault = 5_000;
/** The server-side bound on one read (statement_timeout of every connection). */
export const queryTimeoutMsDefault = 10_000;
/** The server-side bound on one statement of an apply; past it the batch fails and is retried. */
export const applyStatementTimeoutMsDefault = 60_000;
/** The most rows one multi-row INSERT of the write-back carries. */
export const writeRowsPerStatementMax = 500;
/** The most key rows KEYS examines per page while it walks the keyspace. */
export const keysPageRowsMax = 10_000;

/** The schema the store creates on first use, in one transaction. */
const schema = `
  CREATE SCHEMA tandem;
  CREATE TABLE tandem.meta (
    id integer PRIMARY KEY CHECK (id = 1),
    format integer NOT NULL,
    cluster_id text NOT NULL,
    applied_index bigint NOT NULL,
    applied_term bigint NOT NULL,
    session_count bigint NOT NULL
  );
  CREATE TABLE tandem.kv (
    key bytea PRIMARY KEY,
    value bytea NOT NULL,
    version_index bigint NOT NULL,
    version_term bigint NOT NULL,
    expires_at bigint,
    seq bigint NOT NULL UNIQUE
  );
  CREATE INDEX kv_expiry ON tandem.kv (expires_at, key) WHERE expires_at IS NOT NULL;
  CREATE TABLE tandem.sessions (
    id text COLLATE "C" PRIMARY KEY,
    last_seq bigint NOT NULL,
    last_at bigint NOT NULL,
    result bytea NOT NULL,
    result_index bigint NOT NULL,
    result_term bigint NOT NULL
  );
  CREATE INDEX sessions_age ON tandem.sessions (last_at, id);
  CREATE TABLE tandem.ddl (position bigint PRIMARY KEY, statement text NOT NULL);
`;

/**
 * The hash tables, created at open if absent (a database of an earlier build has none):
 * a key is a hash when `hashes` has its row, and each field is one row of `hash_fields`,
 * so one HSET writes one field row (and its key's two small rows), never the whole hash.
 */
const hashTablesSchema = `
  CREATE TABLE IF NOT EXISTS tandem.hashes (
    key bytea PRIMARY KEY,
    encoding text NOT NULL,
    length bigint NOT NULL,
    next_seq bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS tandem.hash_fields (
    key bytea NOT NULL,
    field bytea NOT NULL,
    value bytea NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (key, field)
  );
  CREATE UNIQUE INDEX IF NOT EXISTS hash_fields_order ON tandem.hash_fields (key, seq);
`;

/**
 * The set tables, created at open if absent (a database of an earlier build has none): a
 * key is a set when `sets` has its row (encoding, member count, the next member's sequence
 * number), and each member is one row of `set_members`, so one SADD writes one member row
 * (and its key's two small rows), never the whole set.
 */
const setTablesSchema = `
  CREATE TABLE IF NOT EXISTS tandem.sets (
    key bytea PRIMARY KEY,
    encoding text NOT NULL,
    length bigint NOT NULL,
    next_seq bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS tandem.set_members (
    key bytea NOT NULL,
    member bytea NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (key, member)
  );
  CREATE UNIQUE INDEX IF NOT EXISTS set_members_order ON tandem.set_members (key, seq);
`;

/**
 * The sorted set tables, created at open if absent (a database of an earlier build has
 * none): a key is a sorted set when `zsets` has its row (encoding, member count, the next
 * member's sequence number), and each member is one row of `zset_members` with its score,
 * so one ZADD writes one member row (and its key's two small rows), never the whole set.
 * `zset_members_order` serves ranks and ranges by score (and, among equal scores, by
 * member: bytea compares as memcmp, Redis's order), ZPOPMIN and ZPOPMAX from either end.
 * A score is a double precision, which keeps -0 and the infinities (never NaN). Each
 * member also keeps the sequence number it got when added, as in the in-memory namespace:
 * ZSCAN of a skiplist walks members in that order with it as the cursor, so a scan sees
 * each member present throughout exactly once however scores change meanwhile (a cursor
 * by score would skip or repeat a member whose score moves), and pages the same as on a
 * SQLite node.
 */
const zsetTablesSchema = `
  CREATE TABLE IF NOT EXISTS tandem.zsets (
    key bytea PRIMARY KEY,
    encoding text NOT NULL,
    length bigint NOT NULL,
    next_seq bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS tandem.zset_members (
    key bytea NOT NULL,
    member bytea NOT NULL,
    score double precision NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (key, member)
  );
  CREATE INDEX IF NOT EXISTS zset_members_order ON tandem.zset_members (key, score, member);
  CREATE UNIQUE INDEX IF NOT EXISTS zset_members_scan ON tandem.zset_members (key, seq);
`;

/** The sorted set tables as a snapshot image carries them (only when there are some). */
const zsetImageTables: readonly ImageTable[] = [
  { schema: 'tandem', name: 'zsets', columns: ['key', 'encoding', 'length', 'next_seq'] },
  { schema: 'tandem', name: 'zset_members', columns: ['key', 'member', 'score', 'seq'] },
];

/** The set tables as a snapshot image carries them (only when there are sets). */
const setImageTables: readonly ImageTable[] = [
  { schema: 'tandem', name: 'sets', columns: ['key', 'encoding', 'length', 'next_seq'] },
  { schema: 'tandem', name: 'set_members', columns: ['key', 'member', 'seq'] },
];

/**
 * The list tables, created at open if absent: a key is a list when `lists` has its row;
 * its elements are the rows of `list_items` at positions `head` to `head + length - 1`
 * (signed: a push at the head takes `head - 1`, one at the tail `head + length`), so a
 * push or pop writes one element row (and its key's two small rows), never the list.
 */
const listTablesSchema = `
  CREATE TABLE IF NOT EXISTS tandem.lists (
    key bytea PRIMARY KEY,
    head bigint NOT NULL,
    length bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS tandem.list_items (
    key bytea NOT NULL,
    pos bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (key, pos)
  );
`;

/** The list tables as a snapshot image carries them (only when there are lists). */
const listImageTables: readonly ImageTable[] = [
  { schema: 'tandem', name: 'lists', columns: ['key', 'head', 'length'] },
  { schema: 'tandem', name: 'list_items', columns: ['key', 'pos', 'value'] },
];

/** The hash tables as a snapshot image carries them (only when there are hashes). */
const hashImageTables: readonly ImageTable[] = [
  { schema: 'tandem', name: 'hashes', columns: ['key', 'encoding', 'length', 'next_seq'] },
  { schema: 'tandem', name: 'hash_fields', columns: ['key', 'field', 'value', 'seq'] },
];

/** The tandem tables a snapshot carries, with their columns (meta travels in the header). */
const tandemTables: readonly ImageTable[] = [
  {
    schema: 'tandem',
    name: 'kv',
    columns: ['key', 'value', 'version_index', 'version_term', 'expires_at', 'seq'],
  },
  {
    schema: 'tandem',
    name: 'sessions',
    columns: ['id', 'last_seq', 'last_at', 'result', 'result_index', 'result_term'],
  },
];

/** A lock id that serialises the creation of the schema by two stores opening at once. */
const schemaLockId = 0x74616e64;
/**
 * The advisory lock a store holds on its database for as long as it is open, on a
 * connection of its own: a second node given the same database by mistake is refused
 * instead of sharing it (and silently taking the cluster's redundancy away).
 */
const ownerLockId = 0x74616e65;

/** Options of `PostgresStore.open`. */
export interface PostgresStoreOptions {
  /** The cluster this store belongs to; a database of another cluster is refused. */
  readonly clusterId: string;
  /** Where snapshot images are written and received. */
  readonly snapshotsDirectory: string;
  /** Connections in the pool (default `poolConnectionsMax`). */
  readonly poolConnections?: number;
  /** Bound on getting a connection (default `connectTimeoutMsDefault`). */
  readonly connectTimeoutMs?: number;
  /** Bound on one read (default `queryTimeoutMsDefault`). */
  readonly queryTimeoutMs?: number;
  /** Bound on one statement of an apply (default `applyStatementTimeoutMsDefault`). */
  readonly applyStatementTimeoutMs?: number;
}

/** A SQL command ready to run: its inlined statements, and the refusal that stops it, if any. */
interface SqlPlan {
  /** The batch position of the command's entry. */
  readonly at: number;
  readonly statements: readonly string[];
  readonly isDdl: readonly boolean[];
  readonly refusal: string | null;
}

/** What the first round trip of a batch read. */
interface BatchState {
  /** Whether round trip 1 set the savepoint the SQL commands roll back to. */
  readonly sql: boolean;
  readonly applied: LogPosition;
  /** The users and tokens, as the batch's acl commands change them. */
  readonly access: AccessBatch;
  readonly kv: KvBatch;
  readonly sessions: SessionBatch;
  readonly loadedSessions: ReadonlyMap<string, SessionRow>;
}

/** The PostgreSQL state machine. Reads take the reader's clock (`nowMs`) to judge expiry. */
export class PostgresStore implements NodeStore {
  readonly kind = 'postgres';
  readonly clusterId: string;
  readonly #pool: pg.Pool;
  readonly #snapshots: string;
  readonly #applyStatementTimeoutMs: number;
  #applied: LogPosition = { index: 0, term: 0 };
  /** The users and tokens as the database holds them (unless `#accessUnknown`). */
  #access: AccessState = emptyAccessState;
  /**
   * Set when an apply or a restore failed and may yet have committed: the next apply reads
   * the users and tokens again under its lock, as it reads the applied position.
   */
  #accessUnknown = false;
  #healthy = true;
  #closed = false;
  #keyEvents = false;
  #applying = false;
  readonly #url: string;
  readonly #connectTimeoutMs: number;
  /** The connection holding `ownerLockId`; null once it broke, until it is taken again. */
  #owner: pg.Client | null = null;

  private constructor(pool: pg.Pool, url: string, options: PostgresStoreOptions) {
    this.#pool = pool;
    this.#url = url;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? connectTimeoutMsDefault;
    this.clusterId = options.clusterId;
    this.#snapshots = options.snapshotsDirectory;
    this.#applyStatementTimeoutMs =
      options.applyStatementTimeoutMs ?? applyStatementTimeoutMsDefault;
    // An idle connection that the server drops reports here; without a listener the
    // process would die of it.
    pool.on('error', () => {
      this.#healthy = false;
    });
  }

  /**
   * Opens the store in the database at `url`, creating its schema on first use. Throws
   * TANDEM_BAD_CONFIG for a database of another cluster or one that holds tables but no
   * store, TANDEM_STORE_UNAVAILABLE when the database cannot be reached.
   */
  static async open(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = makePool(url, options);
    const store = new PostgresStore(pool, url, options);
    try {
      resetImages(options.snapshotsDirectory);
      const opened = await store.#transaction('opening the store', (client) =>
        openSchema(client, options.clusterId),
      );
      store.#applied = opened.applied;
      store.#access = opened.access;
      await store.#takeOwnership(
        (database) =>
          new TandemError(
            'TANDEM_BAD_CONFIG',
            `another Tandem node is using the database ${database}: give each node a database of its own`,
          ),
      );
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /**
   * Takes the store's advisory lock on a connection of its own; throws `taken(database)`
   * when another store holds it, TANDEM_STORE_UNAVAILABLE when the database is away.
   */
  async #takeOwnership(taken: (database: string) => TandemError): Promise<void> {
    const owner = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: this.#connectTimeoutMs,
      keepAlive: true,
    });
    // A connection that breaks loses the lock with it; the next apply takes it again.
    owner.on('error', () => {
      if (this.#owner === owner) this.#owner = null;
    });
    owner.on('end', () => {
      if (this.#owner === owner) this.#owner = null;
    });
    try {
      await owner.connect();
      const { rows } = await owner.query<{ ok: boolean; db: string }>(
        'SELECT pg_try_advisory_lock($1) AS ok, current_database() AS db',
        [ownerLockId],
      );
      if (rows[0]?.ok !== true) throw taken(rows[0]?.db ?? 'given');
    } catch (error) {
      await owner.end().catch(() => undefined);
      throw storeError(error, 'locking the database for this node');
    }
    this.#owner = owner;
  }

  /** The last applied index and term, as last read from or written to the database. */
  get applied(): LogPosition {
    return this.#applied;
  }

  /**
   * The users and tokens, as applied: held in memory, loaded at open and after a restore,
   * and replaced by a batch's only once it committed.
   */
  accessState(): AccessState {
    return this.#access;
  }

  /** False after the database went away, until a later call succeeds. */
  setKeyEvents(on: boolean): void {
    this.#keyEvents = on;
  }

  healthy(): boolean {
    return this.#healthy && !this.#closed;
  }

  /** Runs `work` on a pooled connection, classifying failures and tracking health. */
  async #withClient<T>(doing: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    assert(!this.#closed, 'the store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      this.#healthy = false;
      throw storeError(error, doing);
    }
    let broken: Error | undefined;
    // A connection the server or the network closes while it is checked out reports here as
    // well as to its query; without a listener the process would die of it.
    const onError = (error: Error): void => {
      this.#healthy = false;
      broken = error;
    };
    client.on('error', onError);
    try {
      const result = await work(client);
      this.#healthy = true;
      return result;
    } catch (error) {
      if (isConnectionFailure(error)) {
        this.#healthy = false;
        broken = error as Error;
      }
      throw storeError(error, doing);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** Runs `work` in a transaction: COMMIT when it returns, ROLLBACK when it throws. */
  async #transaction<T>(
    doing: string,
    work: (client: pg.PoolClient) => Promise<T>,
    begin = 'BEGIN',
  ): Promise<T> {
    return await this.#withClient(doing, async (client) => {
      await q1(client, begin);
      try {
        const result = await work(client);
        await q1(client, 'COMMIT');
        return result;
      } catch (error) {
        if (!isConnectionFailure(error)) await q1(client, 'ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /** Applies committed entries in one transaction; see `StateMachine.apply` and the module comment. */
  async apply(entries: readonly Entry[]): Promise<ApplyResult[]> {
    if (entries.length === 0) return [];
    assert(entries.length <= applyEntriesMax, `apply of ${entries.length} entries at once`);
    assert(!this.#applying, 'apply called again before the previous apply finished');
    if (this.#owner === null) {
      // The lock went with a broken connection: nobody else may have taken the database
      // meanwhile, or this node would be writing into another node's state.
      await this.#takeOwnership(
        (database) =>
          new TandemError(
            'TANDEM_STORAGE_FAILED',
            `another Tandem node took the database ${database} while this one was cut off from it`,
          ),
      );
    }
    const commands = entries.map(decodeEntry);
    this.#applying = true;
    try {
      // A SWAPDB renames rows in SQL that no other entry's rows may be in memory beside:
      // it commits in a transaction of its own, between those of the entries around it
      // (a retry skips what committed, as for any batch whose answer was lost).
      const results: ApplyResult[] = [];
      let start = 0;
      for (let i = 0; i <= entries.length; i++) {
        const swap = i < entries.length && commands[i]?.type === 'swapdb';
        if (i < entries.length && !swap) continue;
        if (i > start) {
          results.push(
            ...(await this.#applyRun(entries.slice(start, i), commands.slice(start, i))),
          );
        }
        if (swap) results.push(...(await this.#applyRun([entries[i]], [commands[i] ?? null])));
        start = i + 1;
      }
      return results;
    } finally {
      this.#applying = false;
    }
  }

  /** Applies `entries` (with their decoded `commands`) in one transaction. */
  async #applyRun(
    entries: readonly Entry[],
    commands: readonly (Command | null)[],
  ): Promise<ApplyResult[]> {
    const last = entries.at(-1) as Entry;
    return await this.#withClient(
      `applying entries ${entries[0]?.index} to ${last.index}`,
      async (client) => {
        try {
          return await this.#applyBatch(client, entries, commands);
        } catch (error) {
          // The batch may have committed without its answer arriving.
          this.#accessUnknown = true;
          if (!isConnectionFailure(error)) await q1(client, 'ROLLBACK').catch(() => undefined);
          throw error;
        }
      },
    );
  }

  async #applyBatch(
    client: pg.PoolClient,
    entries: readonly Entry[],
    commands: readonly (Command | null)[],
  ): Promise<ApplyResult[]> {
    const state = await this.#readBatchState(client, commands);
    // A position re-read here is the truth, whatever happened to the last acknowledgement.
    this.#applied = state.applied;
    const skip = alreadyApplied(entries, state.applied);
    const results: (ApplyResult | undefined)[] = entries
      .slice(0, skip)
      .map((entry, i) => resultOfApplied(entry, commands[i] ?? null, state.loadedSessions));
    if (skip === entries.length) {
      await q1(client, 'ROLLBACK');
      return results as ApplyResult[];
    }
    checkOrder(entries.slice(skip), state.applied);
    const plans: SqlPlan[] = [];
    for (let i = skip; i < entries.length; i++) {
      results[i] = planEntry(entries[i] as Entry, commands[i] ?? null, i, state, plans);
    }
    if (plans.length > 0) await runSqlCommands(client, plans, results);
    resolvePending(results, entries);
    const last = entries.at(-1) as Entry;
    await q(client, writeBack(state, results as ApplyResult[], last));
    this.#applied = { index: last.index, term: last.term };
    this.#access = state.access.state;
    return results as ApplyResult[];
  }

  /** Round trip 1: BEGIN, lock and read the applied position, and read what the batch needs. */
  async #readBatchState(
    client: pg.PoolClient,
    commands: readonly (Command | null)[],
  ): Promise<BatchState> {
    const needs = batchNeeds(commands);
    const reload = this.#accessUnknown;
    const statements = [
      'BEGIN',
      `SET LOCAL statement_timeout = ${integerLiteral(this.#applyStatementTimeoutMs)}`,
      'SELECT cluster_id, applied_index, applied_term, session_count FROM tandem.meta WHERE id = 1 FOR UPDATE',
      ...(reload ? [readAccessStatement] : []),
      ...batchReads(needs),
      // The SQL commands' one string rolls back to here when a statement fails. It must be
      // set before that string is sent: a syntax error anywhere in a string fails it before
      // its first statement runs.
      ...(needs.sql ? ['SAVEPOINT tandem_run'] : []),
    ];
    const results = resultList(await q(client, statements.join(';\n')));
    const meta = results[2]?.rows[0] as
      | { cluster_id: string; applied_index: number; applied_term: number; session_count: number }
      | undefined;
    if (meta === undefined || meta.cluster_id !== this.clusterId) {
      throw new TandemError(
        'TANDEM_BAD_CONFIG',
        `the database's Tandem store changed under this node: it belongs to cluster ${meta?.cluster_id ?? '(none)'}, not ${this.clusterId}`,
      );
    }
    if (reload) {
      // Read under the meta row's lock, this is what every commit so far left.
      this.#access = storedAccess(results[3]?.rows ?? [], 'the database') ?? emptyAccessState;
      this.#accessUnknown = false;
    }
    const reads = results.slice(reload ? 4 : 3, needs.sql ? -1 : undefined);
    const state = batchState(needs, reads, meta, new AccessBatch(this.#access));
    state.kv.keyEvents = this.#keyEvents;
    return state;
  }

  /** The live value of `key` with its version and expiry, or null when absent or expired. */
  async get(key: Bytes, nowMs: number): Promise<KvEntry | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    const structured = row.encoding ?? row.setEncoding ?? row.list ?? row.zset;
    if (structured !== null) throw new WrongTypeError();
    return {
      value: row.value,
      version: { index: row.versionIndex, term: row.versionTerm },
      expiresAt: row.expiresAt,
    };
  }

  /** The live key's version and expiry, of any type; null when absent or expired. */
  async versionOf(key: Bytes, nowMs: number): Promise<KeyVersion | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    return {
      version: { index: row.versionIndex, term: row.versionTerm },
      expiresAt: row.expiresAt,
    };
  }

  /**
   * A key's row, with its hash's encoding and length when it holds a hash (else null), its
   * set's when it holds a set, its list's row when it holds a list and its sorted set's row
   * when it holds one (else null).
   */
  async #readKey(key: Bytes): Promise<
    | (KvRow & {
        encoding: HashEncoding | null;
        length: number;
        setEncoding: SetEncoding | null;
        setLength: number;
        list: ListMeta | null;
        zset: ZsetMeta | null;
      })
    | null
  > {
    const { rows } = await this.#read('reading a key', (client) =>
      q1(
        client,
        `SELECT kv.value, kv.version_index, kv.version_term, kv.expires_at, kv.seq, h.encoding, h.length,
          s.encoding AS set_encoding, s.length AS set_length,
          l.head AS list_head, l.length AS list_length,
          z.encoding AS zset_encoding, z.length AS zset_length, z.next_seq AS zset_next_seq
          FROM tandem.kv kv LEFT JOIN tandem.hashes h ON h.key = kv.key
          LEFT JOIN tandem.sets s ON s.key = kv.key
          LEFT JOIN tandem.lists l ON l.key = kv.key
          LEFT JOIN tandem.zsets z ON z.key = kv.key WHERE kv.key = $1`,
        [asBuffer(key)],
      ),
    );
    if (rows.length === 0) return null;
    const row = rows[0] as Record<string, unknown>;
    return {
      ...kvRow(row),
      encoding: row.encoding === null ? null : hashMeta(row).encoding,
      length: Number(row.length ?? 0),
      setEncoding:
        row.set_encoding === null
          ? null
          : setMeta({ encoding: row.set_encoding, length: 0, next_seq: 0 }).encoding,
      setLength: Number(row.set_length ?? 0),
      list:
        row.list_head === null
          ? null
          : { type: 'list', head: Number(row.list_head), length: Number(row.list_length) },
      zset:
        row.zset_encoding === null
          ? null
          : zsetMeta({
              encoding: row.zset_encoding,
              length: row.zset_length,
              next_seq: row.zset_next_seq,
            }),
    };
  }

  /** The live set row of `key` (null when absent); WRONGTYPE when it holds another type. */
  async #liveSet(
    key: Bytes,
    nowMs: number,
  ): Promise<{ encoding: SetEncoding; length: number } | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    if (row.setEncoding === null) throw new WrongTypeError();
    return { encoding: row.setEncoding, length: row.setLength };
  }

  /** Every member of the set at `key`: an intset's ascending, a hashtable's by sequence. */
  async setAll(key: Bytes, nowMs: number): Promise<Buffer[]> {
    const set = await this.#liveSet(key, nowMs);
    if (set === null) return [];
    const { rows } = await this.#read('reading a set', (client) =>
      q1(client, 'SELECT member FROM tandem.set_members WHERE key = $1 ORDER BY seq', [
        asBuffer(key),
      ]),
    );
    const members = rows.map((row) => row.member as Buffer);
    if (set.encoding !== 'intset') return members;
    return members
      .map((member) => member.toString('latin1'))
      .sort(compareIntegerMembers)
      .map((member) => Buffer.from(member, 'latin1'));
  }

  /** Whether each of `members` is in the set at `key`: one indexed lookup for them all. */
  async setContains(key: Bytes, members: readonly Bytes[], nowMs: number): Promise<boolean[]> {
    if ((await this.#liveSet(key, nowMs)) === null) return members.map(() => false);
    const { rows } = await this.#read('reading set members', (client) =>
      q1(
        client,
        'SELECT member FROM tandem.set_members WHERE key = $1 AND member = ANY($2::bytea[])',
        [asBuffer(key), members.map(asBuffer)],
      ),
    );
    const found = new Set(rows.map((row) => keyId(row.member as Buffer)));
    return members.map((member) => found.has(keyId(member)));
  }

  /**
   * `count` members of the set at `key` drawn at random: positions drawn here, the members
   * at them read by their place in sequence order, so only those rows travel.
   */
  async setRandom(key: Bytes, count: number, repeats: boolean, nowMs: number): Promise<Buffer[]> {
    const set = await this.#liveSet(key, nowMs);
    if (set === null) return [];
    const indexes = drawIndexes(set.length, count, repeats);
    if (indexes.length === 0) return [];
    const { rows } = await this.#read('drawing set members', (client) =>
      q1(
        client,
        `SELECT member, i FROM (SELECT member, row_number() OVER (ORDER BY seq) - 1 AS i
          FROM tandem.set_members WHERE key = $1) m WHERE i = ANY($2::bigint[])`,
        [asBuffer(key), [...new Set(indexes)]],
      ),
    );
    const found = new Map(rows.map((row) => [Number(row.i), row.member as Buffer]));
    // A set changed between the two reads may lack a position: those draws are left out.
    return indexes.flatMap((index) => found.get(index) ?? []);
  }

  /** How many members the set at `key` holds. */
  async setSize(key: Bytes, nowMs: number): Promise<number> {
    return (await this.#liveSet(key, nowMs))?.length ?? 0;
  }

  /** The set's encoding, null when absent. */
  async setEncoding(key: Bytes, nowMs: number): Promise<SetEncoding | null> {
    return (await this.#liveSet(key, nowMs))?.encoding ?? null;
  }

  /** One page of an SSCAN from `cursor`; an intset comes whole (ascending), as in Redis. */
  async setScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): Promise<SetScanPage> {
    const count = scanCount(cursor, options);
    const set = await this.#liveSet(key, nowMs);
    if (set === null) return { cursor: 0, members: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const matching = (members: readonly Buffer[]): Buffer[] =>
      members.filter((member) => glob === null || glob.matches(member));
    if (set.encoding === 'intset')
      return { cursor: 0, members: matching(await this.setAll(key, nowMs)) };
    const { rows } = await this.#read('scanning a set', (client) =>
      q1(
        client,
        'SELECT member, seq FROM tandem.set_members WHERE key = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [asBuffer(key), cursor, count + 1],
      ),
    );
    const page = rows.slice(0, count);
    const members = matching(page.map((row) => row.member as Buffer));
    return { cursor: rows.length > count ? Number(page.at(-1)?.seq) : 0, members };
  }

  /** The live list row of `key` (null when absent); WRONGTYPE for another type. */
  async #liveList(key: Bytes, nowMs: number): Promise<ListMeta | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    if (row.list === null) throw new WrongTypeError();
    return row.list;
  }

  /** How many elements the list at `key` holds. */
  async listSize(key: Bytes, nowMs: number): Promise<number> {
    return (await this.#liveList(key, nowMs))?.length ?? 0;
  }

  /** LRANGE's elements of the list at `key`: one range of positions. */
  async listElements(key: Bytes, start: number, stop: number, nowMs: number): Promise<Buffer[]> {
    const list = await this.#liveList(key, nowMs);
    if (list === null) return [];
    const range = listRange(list.length, start, stop);
    if (range === null) return [];
    const { rows } = await this.#read('reading a list', (client) =>
      q1(
        client,
        'SELECT value FROM tandem.list_items WHERE key = $1 AND pos BETWEEN $2 AND $3 ORDER BY pos',
        [asBuffer(key), list.head + range.start, list.head + range.stop],
      ),
    );
    return rows.map((row) => row.value as Buffer);
  }

  /** LINDEX's element of the list at `key`: one position. */
  async listElement(key: Bytes, index: number, nowMs: number): Promise<Buffer | null> {
    const list = await this.#liveList(key, nowMs);
    if (list === null) return null;
    const at = index < 0 ? list.length + index : index;
    if (at < 0 || at >= list.length) return null;
    const { rows } = await this.#read('reading a list element', (client) =>
      q1(client, 'SELECT value FROM tandem.list_items WHERE key = $1 AND pos = $2', [
        asBuffer(key),
        list.head + at,
      ]),
    );
    return (rows[0]?.value as Buffer | undefined) ?? null;
  }

  /** LPOS's indexes in the list at `key`: its elements read in order, from the side searched. */
  async listIndexes(
    key: Bytes,
    element: Bytes,
    options: ListPositionOptions,
    nowMs: number,
  ): Promise<number[] | null> {
    const list = await this.#liveList(key, nowMs);
    if (list === null) return null;
    const fromTail = options.rank < 0;
    const { rows } = await this.#read('searching a list', (client) =>
      q1(
        client,
        `SELECT value FROM tandem.list_items WHERE key = $1 ORDER BY pos ${fromTail ? 'DESC' : 'ASC'} LIMIT $2`,
        [asBuffer(key), options.maxlen === 0 ? null : options.maxlen],
      ),
    );
    // The rows are the `reach` elements nearest the side searched; head first, they begin
    // at list index `offset`.
    const reach = rows.length;
    const values = rows.map((row) => (row.value as Buffer).toString('latin1'));
    if (fromTail) values.reverse();
    const offset = fromTail ? list.length - reach : 0;
    const wanted = asBuffer(element).toString('latin1');
    return listPositions(reach, (i) => values[i] as string, wanted, {
      ...options,
      maxlen: 0,
    }).map((index) => index + offset);
  }

  /** The live hash row of `key` (null when absent); WRONGTYPE when it holds a string. */
  async #liveHash(
    key: Bytes,
    nowMs: number,
  ): Promise<{ encoding: HashEncoding; length: number } | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    if (row.encoding === null) throw new WrongTypeError();
    return { encoding: row.encoding, length: row.length };
  }

  /** The values of `fields` of the hash at `key`, null without it. */
  async hashValues(
    key: Bytes,
    fields: readonly Bytes[],
    nowMs: number,
  ): Promise<(Buffer | null)[] | null> {
    if ((await this.#liveHash(key, nowMs)) === null) return null;
    const { rows } = await this.#read('reading hash fields', (client) =>
      q1(
        client,
        'SELECT field, value FROM tandem.hash_fields WHERE key = $1 AND field = ANY($2::bytea[])',
        [asBuffer(key), fields.map(asBuffer)],
      ),
    );
    const found = new Map(rows.map((row) => [keyId(row.field as Buffer), row.value as Buffer]));
    return fields.map((field) => found.get(keyId(field)) ?? null);
  }

  /** How many fields the hash at `key` holds. */
  async hashSize(key: Bytes, nowMs: number): Promise<number> {
    return (await this.#liveHash(key, nowMs))?.length ?? 0;
  }

  /** The hash's encoding, null when absent. */
  async hashEncoding(key: Bytes, nowMs: number): Promise<HashEncoding | null> {
    return (await this.#liveHash(key, nowMs))?.encoding ?? null;
  }

  /** Every field and value of the hash at `key`, in its order. */
  async hashAll(key: Bytes, nowMs: number): Promise<[Buffer, Buffer][]> {
    if ((await this.#liveHash(key, nowMs)) === null) return [];
    const { rows } = await this.#read('reading a hash', (client) =>
      q1(client, 'SELECT field, value FROM tandem.hash_fields WHERE key = $1 ORDER BY seq', [
        asBuffer(key),
      ]),
    );
    return rows.map((row) => [row.field as Buffer, row.value as Buffer]);
  }

  /** One page of an HSCAN from `cursor`; a listpack hash comes whole, as in Redis. */
  async hashScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): Promise<HashScanPage> {
    const count = scanCount(cursor, options);
    const hash = await this.#liveHash(key, nowMs);
    if (hash === null) return { cursor: 0, entries: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const whole = hash.encoding === 'listpack';
    const { rows } = await this.#read('scanning a hash', (client) =>
      q1(
        client,
        'SELECT field, value, seq FROM tandem.hash_fields WHERE key = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [asBuffer(key), whole ? 0 : cursor, whole ? null : count + 1],
      ),
    );
    const page = whole ? rows : rows.slice(0, count);
    const entries = page
      .filter((row) => glob === null || glob.matches(row.field as Buffer))
      .map((row): [Buffer, Buffer] => [row.field as Buffer, row.value as Buffer]);
    const more = !whole && rows.length > count;
    return { cursor: more ? Number(page.at(-1)?.seq) : 0, entries };
  }

  /** Runs a read on a pooled connection (bounded by the connection's statement timeout). */
  async #read<T>(doing: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return await this.#withClient(doing, work);
  }

  /** How many of `keys` are live (Redis EXISTS: repeats count each time). */
  async exists(keys: readonly Bytes[], nowMs: number): Promise<number> {
    if (keys.length === 0) return 0;
    const { rows } = await this.#read('reading keys', (client) =>
      q1(client, 'SELECT key, expires_at FROM tandem.kv WHERE key = ANY($1::bytea[])', [
        keys.map(asBuffer),
      ]),
    );
    const live = new Set(
      rows
        .filter((row) => liveAt(row.expires_at as number | null, nowMs))
        .map((row) => keyId(row.key as Buffer)),
    );
    return keys.filter((key) => live.has(keyId(key))).length;
  }

  /** Milliseconds `key` has to live; -1 when it does not expire, -2 when it is absent. */
  async ttlMs(key: Bytes, nowMs: number): Promise<number> {
    const entry = await this.#readKey(key);
    if (entry === null || !liveAt(entry.expiresAt, nowMs)) return -2;
    return entry.expiresAt === null ? -1 : entry.expiresAt - nowMs;
  }

  /** The live key's type, 'none' when absent or expired. */
  async type(key: Bytes, nowMs: number): Promise<ValueType | 'none'> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return 'none';
    if (row.setEncoding !== null) return 'set';
    if (row.list !== null) return 'list';
    if (row.zset !== null) return 'zset';
    return row.encoding === null ? 'string' : 'hash';
  }

  /** The live sorted set row of `key` (null when absent); WRONGTYPE for another type. */
  async #liveZset(key: Bytes, nowMs: number): Promise<ZsetMeta | null> {
    const row = await this.#readKey(key);
    if (row === null || !liveAt(row.expiresAt, nowMs)) return null;
    if (row.zset === null) throw new WrongTypeError();
    return row.zset;
  }

  /** The scores of `members` of the sorted set at `key`: one indexed lookup for them all. */
  async zsetScores(
    key: Bytes,
    members: readonly Bytes[],
    nowMs: number,
  ): Promise<(number | null)[] | null> {
    if ((await this.#liveZset(key, nowMs)) === null) return null;
    const { rows } = await this.#read('reading sorted set scores', (client) =>
      q1(
        client,
        'SELECT member, score FROM tandem.zset_members WHERE key = $1 AND member = ANY($2::bytea[])',
        [asBuffer(key), members.map(asBuffer)],
      ),
    );
    const found = new Map(rows.map((row) => [keyId(row.member as Buffer), scoreOfRow(row)]));
    return members.map((member) => found.get(keyId(member)) ?? null);
  }

  /** How many members the sorted set at `key` holds (its row's count). */
  async zsetSize(key: Bytes, nowMs: number): Promise<number> {
    return (await this.#liveZset(key, nowMs))?.length ?? 0;
  }

  /**
   * A member's rank: the count of the members ordered before it (after it when `reverse`),
   * read on the order index. That costs O(rank) rows, not the in-memory skip list's
   * O(log n): the index keeps no counts.
   */
  async zsetRank(
    key: Bytes,
    member: Bytes,
    reverse: boolean,
    nowMs: number,
  ): Promise<number | null> {
    if ((await this.#liveZset(key, nowMs)) === null) return null;
    const { rows } = await this.#read('ranking a sorted set member', (client) =>
      q1(
        client,
        `SELECT (SELECT count(*) FROM tandem.zset_members o WHERE o.key = m.key
            AND (o.score, o.member) ${reverse ? '>' : '<'} (m.score, m.member)) AS rank
          FROM tandem.zset_members m WHERE m.key = $1 AND m.member = $2`,
        [asBuffer(key), asBuffer(member)],
      ),
    );
    return rows.length === 0 ? null : Number(rows[0]?.rank);
  }

  /**
   * The members `selection` picks: a rank or score range is one read in index order (from
   * the top when reversed) with OFFSET and LIMIT; a member range on a set whose scores are
   * all equal (the sets Redis defines member ranges on) reads by member. A member range on
   * a set of mixed scores reads the whole set and selects as the in-memory namespace does,
   * so every node answers alike.
   */
  async zsetRange(
    key: Bytes,
    selection: ZsetSelection,
    nowMs: number,
  ): Promise<[Buffer, number][]> {
    const zset = await this.#liveZset(key, nowMs);
    if (zset === null) return [];
    const { range } = selection;
    if (range.by === 'lex' && !(await this.#uniformScores(key))) {
      return selectRange(await this.#wholeZset(key), selection).map(([member, score]) => [
        keyBytes(member),
        score,
      ]);
    }
    const reverse = selection.reverse === true;
    let offset: number;
    let count: number | null;
    if (range.by === 'rank') {
      const [from, to] = rankSpan(zset.length, range.start, range.stop, reverse);
      offset = reverse ? zset.length - to : from;
      count = to - from;
    } else {
      const limit = selection.limit;
      if (limit !== undefined && limit.offset < 0) return [];
      offset = limit?.offset ?? 0;
      count = limit === undefined || limit.count < 0 ? null : limit.count;
    }
    if (count === 0) return [];
    const direction = reverse ? 'DESC' : 'ASC';
    const { rows } = await this.#read('reading a sorted set range', (client) =>
      q1(
        client,
        `SELECT member, score FROM tandem.zset_members WHERE key = $1 AND ${rangeCondition(range)}
          ORDER BY score ${direction}, member ${direction} OFFSET $2 LIMIT $3`,
        [asBuffer(key), offset, count],
      ),
    );
    return rows.map((row) => [row.member as Buffer, scoreOfRow(row)]);
  }

  /** How many members a score or member range covers: a count on the order index. */
  async zsetCount(key: Bytes, range: ZsetRange, nowMs: number): Promise<number> {
    const zset = await this.#liveZset(key, nowMs);
    if (zset === null) return 0;
    if (range.by === 'rank') {
      const [from, to] = rankSpan(zset.length, range.start, range.stop);
      return to - from;
    }
    if (range.by === 'lex' && !(await this.#uniformScores(key))) {
      return countRange(await this.#wholeZset(key), range);
    }
    const { rows } = await this.#read('counting a sorted set range', (client) =>
      q1(
        client,
        `SELECT count(*) AS count FROM tandem.zset_members WHERE key = $1 AND ${rangeCondition(range)}`,
        [asBuffer(key)],
      ),
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Whether every member of the sorted set at `key` has one score: its two ends, indexed. */
  async #uniformScores(key: Bytes): Promise<boolean> {
    const { rows } = await this.#read('reading a sorted set', (client) =>
      q1(
        client,
        'SELECT min(score) = max(score) AS uniform FROM tandem.zset_members WHERE key = $1',
        [asBuffer(key)],
      ),
    );
    return rows[0]?.uniform !== 0;
  }

  /** The whole sorted set at `key` in its order, as the in-memory namespace holds it. */
  async #wholeZset(key: Bytes): Promise<ScoreList> {
    const { rows } = await this.#read('reading a sorted set', (client) =>
      q1(client, 'SELECT member, score FROM tandem.zset_members WHERE key = $1', [asBuffer(key)]),
    );
    const order = new ScoreList();
    for (const row of rows) order.insert(scoreOfRow(row), keyId(row.member as Buffer));
    return order;
  }

  /** The sorted set's encoding, null when absent. */
  async zsetEncoding(key: Bytes, nowMs: number): Promise<ZsetEncoding | null> {
    return (await this.#liveZset(key, nowMs))?.encoding ?? null;
  }

  /**
   * One page of a ZSCAN from `cursor`: a listpack set comes whole in its order (by score),
   * as in Redis; a skiplist's members come in sequence order, the cursor the sequence
   * number of the last one examined, exactly as the in-memory namespace pages them.
   */
  async zsetScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): Promise<ZsetScanPage> {
    const count = scanCount(cursor, options);
    const zset = await this.#liveZset(key, nowMs);
    if (zset === null) return { cursor: 0, entries: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const matching = (rows: readonly Record<string, unknown>[]): [Buffer, number][] =>
      rows
        .filter((row) => glob === null || glob.matches(row.member as Buffer))
        .map((row) => [row.member as Buffer, scoreOfRow(row)]);
    if (zset.encoding === 'listpack') {
      const { rows } = await this.#read('scanning a sorted set', (client) =>
        q1(
          client,
          'SELECT member, score FROM tandem.zset_members WHERE key = $1 ORDER BY score, member',
          [asBuffer(key)],
        ),
      );
      return { cursor: 0, entries: matching(rows) };
    }
    const { rows } = await this.#read('scanning a sorted set', (client) =>
      q1(
        client,
        'SELECT member, score, seq FROM tandem.zset_members WHERE key = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [asBuffer(key), cursor, count + 1],
      ),
    );
    const page = rows.slice(0, count);
    return {
      cursor: rows.length > count ? Number(page.at(-1)?.seq) : 0,
      entries: matching(page),
    };
  }

  /** The live keys, those with an expiry (counted on the expiry index), their average TTL. */
  async keyspaceStats(nowMs: number, db?: number): Promise<KeyspaceStats> {
    const within = db === undefined ? '' : ` AND ${databaseCondition(db)}`;
    const { rows } = await this.#read('counting keys', (client) =>
      q1(
        client,
        `SELECT (SELECT count(*) FROM tandem.kv WHERE (expires_at IS NULL OR expires_at > $1)${within}) AS keys,
                count(*) AS expires, coalesce(floor(avg(expires_at - $1)), 0) AS average
           FROM tandem.kv WHERE expires_at > $1${within}`,
        [nowMs],
      ),
    );
    const row = rows[0] as {
      keys: number | string;
      expires: number | string;
      average: number | string;
    };
    return {
      keys: Number(row.keys),
      expires: Number(row.expires),
      averageTtlMs: Number(row.average),
    };
  }

  /** The number of live keys. */
  async dbsize(nowMs: number, db?: number): Promise<number> {
    const within = db === undefined ? '' : ` AND ${databaseCondition(db)}`;
    const { rows } = await this.#read('counting keys', (client) =>
      q1(
        client,
        `SELECT count(*) AS count FROM tandem.kv WHERE (expires_at IS NULL OR expires_at > $1)${within}`,
        [nowMs],
      ),
    );
    return (rows[0] as { count: number }).count;
  }

  /**
   * A live key picked at random, or null when none is live (Redis RANDOMKEY): the first
   * live key in SCAN order from a random sequence number between the lowest and the
   * highest, else the first from the start. Both halves read the seq index, in one query.
   */
  async randomKey(nowMs: number, db?: number): Promise<Buffer | null> {
    const sql = randomKeySql(db === undefined ? 'TRUE' : databaseCondition(db, 'kv.key'));
    const { rows } = await this.#read('picking a random key', (client) =>
      q1(client, sql, [Math.random(), nowMs]),
    );
    return rows.length === 0 ? null : (rows[0]?.key as Buffer);
  }

  /**
   * The live keys matching a Redis glob pattern, in byte order, read in pages from the
   * pattern's literal prefix within one read-only snapshot. TANDEM_BAD_REQUEST past
   * `keysResultMax` matches.
   */
  async keys(pattern: Bytes, nowMs: number, db?: number): Promise<Buffer[]> {
    const glob = compileGlob(pattern);
    const prefix = glob.prefix;
    return await this.#read('listing keys', async (client) => {
      await q1(client, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const found = await collectKeys(client, prefix, glob, nowMs);
        await q1(client, 'COMMIT');
        return db === undefined
          ? found
          : found.filter((key) => inDatabaseText(key.toString('latin1'), db));
      } catch (error) {
        if (!isConnectionFailure(error)) await q1(client, 'ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /** One page of a SCAN from `cursor` (0 starts; a returned 0 ends); see kv.ts. */
  async scan(cursor: number, options: ScanOptions, nowMs: number): Promise<ScanPage> {
    if (options.db === systemDatabase) return this.#scanSystem(options, nowMs);
    const count = scanCount(cursor, options);
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const { rows } = await this.#read('scanning keys', (client) =>
      q1(
        client,
        'SELECT seq, key, expires_at FROM tandem.kv WHERE seq > $1 ORDER BY seq LIMIT $2',
        [cursor, count],
      ),
    );
    const keys = rows
      .map((row) => ({ key: row.key as Buffer, expiresAt: row.expires_at }))
      .filter((row) => liveAt(row.expiresAt as number | null, nowMs))
      .filter((row) => glob === null || glob.matches(row.key))
      .filter(
        (row) => options.db === undefined || inDatabaseText(row.key.toString('latin1'), options.db),
      )
      .map((row) => row.key);
    const next = rows.length < count ? 0 : (rows.at(-1)?.seq as number);
    return { cursor: next, keys };
  }

  /**
   * A scan of the system database (databases.ts): every live key that matches, in one page
   * (cursor 0), read by the range of its prefix on the primary key, so the blob layer's
   * scans of its few records never walk the client keys. No client can name it.
   */
  async #scanSystem(options: ScanOptions, nowMs: number): Promise<ScanPage> {
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const { rows } = await this.#read('scanning the system database', (client) =>
      q1(
        client,
        `SELECT key, expires_at FROM tandem.kv WHERE ${databaseCondition(systemDatabase)} ORDER BY key`,
      ),
    );
    const keys = rows
      .filter((row) => liveAt(row.expires_at as number | null, nowMs))
      .map((row) => row.key as Buffer)
      .filter((key) => glob === null || glob.matches(key));
    return { cursor: 0, keys };
  }

  /**
   * Runs a read-only query: in a READ ONLY transaction, through a cursor that fetches at
   * most `queryRowsMax + 1` rows, in one round trip. Only SELECT, VALUES and WITH without
   * writes can be declared as a cursor; anything else is TANDEM_BAD_REQUEST.
   */
  async query(sql: string, params?: SqlParams): Promise<SqlRow[]> {
    const text = readableQuery(sql, params);
    const rows = await this.#read('running a query', async (client) => {
      try {
        const results = resultList(
          await q(
            client,
            `BEGIN READ ONLY;\nDECLARE tandem_query NO SCROLL CURSOR FOR ${text};\nFETCH FORWARD ${queryRowsMax + 1} FROM tandem_query;\nCOMMIT`,
          ),
        );
        return results[2]?.rows ?? [];
      } catch (error) {
        if (isConnectionFailure(error)) throw error;
        await q1(client, 'ROLLBACK').catch(() => undefined);
        if (!isStatementFailure(error) && (error as { code?: string }).code !== '25006') {
          throw error;
        }
        throw new TandemError('TANDEM_BAD_REQUEST', `query failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
    if (rows.length > queryRowsMax) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `the query returns more than ${queryRowsMax} rows; add a LIMIT and page through them`,
      );
    }
    return rows as SqlRow[];
  }

  /**
   * Takes a snapshot image: every table read in one REPEATABLE READ READ ONLY transaction
   * with COPY, the DDL that recreates the user tables, and the position the transaction
   * saw; see postgres-image.ts for the format.
   */
  async snapshot(): Promise<StoreSnapshot> {
    const temporary = newImagePath(this.#snapshots, 'tmp');
    try {
      const { header, bytes, checksum } = await this.#transaction(
        'taking a snapshot',
        (client) => writeImage(client, temporary, this.clusterId),
        'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      );
      const file = await publishImage(temporary, this.#snapshots);
      return new FileSnapshot(file, header, bytes, checksum);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /**
   * Replaces all state with an image's, of either store kind (see image-kinds.ts). The
   * image is received and checked (checksum, kind, structure, index, term, and the cluster
   * of a PostgreSQL image) before anything changes; then one transaction drops and
   * recreates the user tables, empties the tandem tables, copies the rows in (converting a
   * SQLite image's, see postgres-from-sqlite.ts) and records the position.
   */
  async restore(meta: RestoreMeta, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    checkRestoreMeta(meta);
    const file = newImagePath(this.#snapshots, 'restore');
    const image = await receiveStoreImage(file, meta, chunks, this.clusterId);
    // A SQLite store's memory image converts through a SQLite file of its whole state.
    const converted = image.kind === 'memory' ? newImagePath(this.#snapshots, 'restore') : null;
    try {
      if (converted !== null) await sqliteFileFromMemoryImage(file, converted);
      const access = await this.#transaction('restoring a snapshot', async (client) => {
        if (image.kind === 'postgres') await loadImage(client, file, image.header);
        else await loadConvertedImage(client, converted ?? file);
        const { rows } = await q1(client, readAccessStatement);
        return storedAccess(rows, 'the snapshot image') ?? emptyAccessState;
      });
      this.#applied = { index: meta.index, term: meta.term };
      this.#access = access;
    } catch (error) {
      // A COMMIT whose answer was lost may have replaced the users all the same.
      this.#accessUnknown = true;
      throw error;
    } finally {
      await rm(file, { force: true });
      if (converted !== null) await rm(converted, { force: true });
    }
  }

  /** Ends the pool. Idempotent; snapshots already taken stay readable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const owner = this.#owner;
    this.#owner = null;
    await owner?.end().catch(() => undefined);
    await this.#pool.end();
  }
}

/** The pool, with every connection's settings and bounds. */
function makePool(url: string, options: PostgresStoreOptions): pg.Pool {
  const queryTimeoutMs = options.queryTimeoutMs ?? queryTimeoutMsDefault;
  const applyTimeoutMs = options.applyStatementTimeoutMs ?? applyStatementTimeoutMsDefault;
  const connections = options.poolConnections ?? poolConnectionsMax;
  assert(
    Math.max(queryTimeoutMs, applyTimeoutMs) < clientQueryTimeoutMs,
    `statement timeouts must stay under the client's bound of ${clientQueryTimeoutMs} ms`,
  );
  assert(
    Number.isSafeInteger(connections) && connections >= 2 && connections <= poolConnectionsMax,
    `poolConnections must be 2 to ${poolConnectionsMax}, got ${connections}`,
  );
  return new pg.Pool({
    connectionString: url,
    max: connections,
    connectionTimeoutMillis: options.connectTimeoutMs ?? connectTimeoutMsDefault,
    idleTimeoutMillis: 30_000,
    statement_timeout: queryTimeoutMs,
    // A server that stops answering without closing the socket is found by keepalive
    // probes, and every query but COPY also carries `clientQueryTimeoutMs`.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: sessionSettings.map((setting) => `-c ${setting}`).join(' '),
    types: typeParsers as never,
  });
}

/**
 * Creates the schema on first use, or checks that the database is this cluster's store.
 * Runs in one transaction holding an advisory lock, so two stores opening at once agree.
 */
async function openSchema(
  client: pg.PoolClient,
  clusterId: string,
): Promise<{ applied: LogPosition; access: AccessState }> {
  await q1(client, 'SELECT pg_advisory_xact_lock($1)', [schemaLockId]);
  const { rows: where } = await q1(
    client,
    "SELECT current_database() AS database, to_regclass('tandem.meta') IS NOT NULL AS exists",
  );
  const { database, exists } = where[0] as { database: string; exists: number };
  if (exists === 0) {
    const { rows: tables } = await q1(
      client,
      "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY relname LIMIT 5",
    );
    if (tables.length > 0) {
      throw new TandemError(
        'TANDEM_BAD_CONFIG',
        `the database ${database} already holds tables in its public schema (${tables.map((row) => row.relname as string).join(', ')}) but no Tandem store; give each node an empty database of its own`,
      );
    }
    await q(client, schema);
    await q1(
      client,
      'INSERT INTO tandem.meta (id, format, cluster_id, applied_index, applied_term, session_count) VALUES (1, $1, $2, 0, 0, 0)',
      [storeFormat, clusterId],
    );
  }
  const { rows } = await q1(
    client,
    'SELECT format, cluster_id, applied_index, applied_term FROM tandem.meta WHERE id = 1',
  );
  const meta = rows[0] as
    { format: number; cluster_id: string; applied_index: number; applied_term: number } | undefined;
  if (meta === undefined) {
    throw new TandemError('TANDEM_CORRUPT', `the database ${database} has no Tandem meta row`);
  }
  if (meta.cluster_id !== clusterId) {
    throw new TandemError(
      'TANDEM_BAD_CONFIG',
      `the database ${database} holds the store of cluster ${meta.cluster_id}, not of cluster ${clusterId}; give each cluster's nodes databases of their own`,
    );
  }
  if (meta.format !== storeFormat) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `the database ${database} holds a store of format ${meta.format}; this build reads format ${storeFormat}`,
    );
  }
  // A store made before the users were kept has no table for them yet: no users.
  await q1(client, accessTableSchema);
  // Nor one made before hashes: no hashes; nor one made before lists.
  await q(client, hashTablesSchema);
  // Nor one made before sets: no sets.
  await q(client, setTablesSchema);
  await q(client, listTablesSchema);
  // Nor one made before sorted sets: none.
  await q(client, zsetTablesSchema);
  const { rows: access } = await q1(client, readAccessStatement);
  return {
    applied: { index: meta.applied_index, term: meta.applied_term },
    access: storedAccess(access, `the database ${database}`) ?? emptyAccessState,
  };
}

/** Decodes a command entry (TANDEM_CORRUPT when it does not decode); null for the others. */
function decodeEntry(entry: Entry): Command | null {
  if (entry.kind !== 'command') return null;
  if (entry.data === undefined) {
    throw new TandemError('TANDEM_CORRUPT', `command entry ${entry.index} carries no command`);
  }
  return decodeCommand(entry.data);
}

/**
 * How many leading entries are at or below the recorded position: applied by an earlier
 * call whose COMMIT landed unacknowledged. They must be exactly the entries up to it.
 */
function alreadyApplied(entries: readonly Entry[], applied: LogPosition): number {
  const skip = entries.filter((entry) => entry.index <= applied.index).length;
  if (skip === 0) return 0;
  const lastSkipped = entries[skip - 1] as Entry;
  assert(
    lastSkipped.index === applied.index && lastSkipped.term === applied.term,
    `entries up to ${lastSkipped.index} (term ${lastSkipped.term}) replayed, but the store is at ${applied.index} (term ${applied.term})`,
  );
  entries.slice(0, skip).forEach((entry, i) => {
    assert(entry.index === (entries[0] as Entry).index + i, 'replayed entries are consecutive');
  });
  return skip;
}

/** Entries strictly after `applied`, consecutive, terms not decreasing. */
function checkOrder(entries: readonly Entry[], applied: LogPosition): void {
  let previous = applied;
  for (const entry of entries) {
    assert(entry.index === previous.index + 1, `apply ${entry.index} after ${previous.index}`);
    assert(
      Number.isSafeInteger(entry.term) && entry.term >= previous.term,
      `entry ${entry.index} has term ${entry.term} after term ${previous.term}`,
    );
    previous = entry;
  }
}

/** The result of an entry applied before: what its session remembers, when it can tell. */
function resultOfApplied(
  entry: Entry,
  command: Command | null,
  sessions: ReadonlyMap<string, SessionRow>,
): ApplyResult {
  if (command === null) return null;
  const row = command.session === undefined ? undefined : sessions.get(command.session.id);
  if (
    row !== undefined &&
    row.lastSeq === command.session?.seq &&
    row.resultIndex === entry.index &&
    !('pending' in row.result)
  ) {
    // The entry earned this result itself: it is its answer, not a duplicate's.
    const result = { ...rememberedResult(row.result, entry) } as { duplicateOf?: unknown };
    delete result.duplicateOf;
    return result as ApplyResult;
  }
  return {
    ok: false,
    error: `ERR entry ${entry.index} was applied before the store lost its connection; its result is unknown (a retry in the same session returns it)`,
  };
}

/** What the first round trip must read for a batch. */
interface BatchNeeds {
  /** Whether the batch holds SQL commands. */
  readonly sql: boolean;
  readonly keys: ReadonlySet<string>;
  /** The hash fields the commands read. */
  readonly fields: readonly FieldNeeds[];
  /** The set members the commands read. */
  readonly members: readonly MemberNeeds[];
  /** The list rows the commands read. */
  readonly lists: readonly ListNeeds[];
  /** The sorted set members the commands read. */
  readonly scored: readonly ScoredNeeds[];
  readonly sweeps: number;
  readonly sweepAtMax: number;
  readonly sessionIds: ReadonlySet<string>;
  readonly sessionCommands: number;
  readonly sessionAtMax: number;
}

function batchNeeds(commands: readonly (Command | null)[]): BatchNeeds {
  const keys = new Set<string>();
  const fields: FieldNeeds[] = [];
  const members: MemberNeeds[] = [];
  const lists: ListNeeds[] = [];
  const scored: ScoredNeeds[] = [];
  const sessionIds = new Set<string>();
  let sweeps = 0;
  let sweepAtMax = 0;
  let sessionCommands = 0;
  let sessionAtMax = 0;
  let sql = false;
  for (const command of commands) {
    if (command === null) continue;
    sql ||= command.type === 'sql';
    if (command.type !== 'sql' && command.type !== 'acl') {
      for (const key of commandKeys(command)) keys.add(key);
      fields.push(...commandFields(command));
      members.push(...commandMembers(command));
      lists.push(...commandListNeeds(command));
      scored.push(...commandScored(command));
    }
    if (command.type === 'expire-sweep') {
      sweeps++;
      sweepAtMax = Math.max(sweepAtMax, command.at);
    }
    if (command.session !== undefined) {
      sessionIds.add(command.session.id);
      sessionCommands++;
      sessionAtMax = Math.max(sessionAtMax, command.at ?? 0);
    }
  }
  return {
    sql,
    keys,
    fields,
    members,
    lists,
    scored,
    sweeps,
    sweepAtMax,
    sessionIds,
    sessionCommands,
    sessionAtMax,
  };
}

/** The limit of the sweep candidates read: enough for every sweep of the batch. */
function sweepCandidatesMax(needs: BatchNeeds): number {
  return needs.sweeps * sweepKeysMax + needs.keys.size;
}

/** The reads of round trip 1 after the meta row, in the order `batchState` takes them. */
function batchReads(needs: BatchNeeds): string[] {
  const reads: string[] = [];
  const keyList = [...needs.keys].map((id) => bytesLiteral(keyBytes(id))).join(', ');
  reads.push(
    needs.keys.size === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, value, version_index, version_term, expires_at, seq FROM tandem.kv WHERE key IN (${keyList})`,
    'SELECT coalesce(max(seq), 0) AS seq_max FROM tandem.kv',
    needs.sweeps === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, expires_at FROM tandem.kv WHERE expires_at IS NOT NULL AND expires_at <= ${integerLiteral(needs.sweepAtMax)} ORDER BY expires_at, key LIMIT ${integerLiteral(sweepCandidatesMax(needs))}`,
    needs.keys.size === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, encoding, length, next_seq FROM tandem.hashes WHERE key IN (${keyList})`,
    fieldsRead(needs.fields),
    needs.keys.size === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, encoding, length, next_seq FROM tandem.sets WHERE key IN (${keyList})`,
    membersRead(needs.members),
    needs.keys.size === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, head, length FROM tandem.lists WHERE key IN (${keyList})`,
    elementsRead(needs.lists),
    needs.keys.size === 0
      ? 'SELECT NULL LIMIT 0'
      : `SELECT key, encoding, length, next_seq FROM tandem.zsets WHERE key IN (${keyList})`,
    scoredRead(needs.scored),
  );
  if (needs.sessionIds.size === 0) return reads;
  const idList = [...needs.sessionIds].map((id) => quoteLiteral(id)).join(', ');
  const n = needs.sessionCommands;
  const count = '(SELECT session_count FROM tandem.meta WHERE id = 1)';
  reads.push(
    `SELECT id, last_seq, last_at, result, result_index, result_term FROM tandem.sessions WHERE id IN (${idList})`,
    // Every candidate when the batch may evict, else only those old enough to purge; as many
    // as `sessionCandidatesMax`, computed from the count read under the same lock.
    `SELECT id, last_at FROM tandem.sessions WHERE last_at < ${integerLiteral(needs.sessionAtMax - sessionIdleMsMax)} OR ${count} + ${n} > ${integerLiteral(sessionsMax)} ORDER BY last_at, id LIMIT ${integerLiteral(sessionCandidatesMax(n, 0))} + greatest(0, ${count} - ${integerLiteral(sessionsMax)})`,
  );
  return reads;
}

/** Builds the batch's in-memory state from the rows round trip 1 read. */
function batchState(
  needs: BatchNeeds,
  reads: readonly pg.QueryResult[],
  meta: { applied_index: number; applied_term: number; session_count: number },
  access: AccessBatch,
): BatchState {
  const [keyRows, seqRow, sweepRows, hashRows, fieldRows, setRows, memberRows] = reads;
  const [listRows, elementRows, zsetRows, scoredRows] = reads.slice(7);
  const [sessionRows, candidateRows] = reads.slice(11);
  const loaded = new Map<string, KvRow>();
  for (const row of keyRows?.rows ?? []) {
    loaded.set(keyId(row.key as Buffer), kvRow(row));
  }
  const candidates: SweepCandidate[] = (sweepRows?.rows ?? []).map((row) => ({
    key: keyId(row.key as Buffer),
    expiresAt: row.expires_at as number,
  }));
  const kv = new KvBatch(
    needs.keys,
    loaded,
    (seqRow?.rows[0] as { seq_max: number }).seq_max,
    candidates,
    candidates.length < sweepCandidatesMax(needs),
    loadedHashes(needs, hashRows?.rows ?? [], fieldRows?.rows ?? []),
    loadedSets(needs, setRows?.rows ?? [], memberRows?.rows ?? []),
    loadedLists(needs, listRows?.rows ?? [], elementRows?.rows ?? []),
    loadedZsets(needs, zsetRows?.rows ?? [], scoredRows?.rows ?? []),
  );
  const loadedSessions = new Map<string, SessionRow>();
  for (const row of sessionRows?.rows ?? []) {
    loadedSessions.set(row.id as string, {
      lastSeq: row.last_seq as number,
      lastAt: row.last_at as number,
      result: row.result as Buffer,
      resultIndex: row.result_index as number,
      resultTerm: row.result_term as number,
    });
  }
  const sessionCandidates: SessionCandidate[] = (candidateRows?.rows ?? []).map((row) => ({
    id: row.id as string,
    lastAt: row.last_at as number,
  }));
  const n = needs.sessionCommands;
  const sessions = new SessionBatch(
    needs.sessionIds,
    loadedSessions,
    sessionCandidates,
    sessionCandidates.length < sessionCandidatesMax(n, meta.session_count),
    mayEvict(n, meta.session_count),
    meta.session_count,
  );
  const applied = { index: meta.applied_index, term: meta.applied_term };
  return { sql: needs.sql, applied, access, kv, sessions, loadedSessions };
}

/**
 * The read of the hash fields a batch's commands need: the named ones and, for RENAME and
 * COPY, all of a source's. One statement, whatever the count.
 */
function fieldsRead(needs: readonly FieldNeeds[]): string {
  const whole = needs.filter((need) => need.fields === 'all').map((need) => need.key);
  const pairs = needs.flatMap(({ key, fields }) =>
    fields === 'all' ? [] : fields.map((field) => [key, field] as const),
  );
  if (whole.length === 0 && pairs.length === 0) return 'SELECT NULL LIMIT 0';
  const conditions: string[] = [];
  if (whole.length > 0) {
    conditions.push(`key IN (${whole.map((id) => bytesLiteral(keyBytes(id))).join(', ')})`);
  }
  if (pairs.length > 0) {
    const list = pairs.map(
      ([key, field]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(field))})`,
    );
    conditions.push(`(key, field) IN (${list.join(', ')})`);
  }
  return `SELECT key, field, value, seq FROM tandem.hash_fields WHERE ${conditions.join(' OR ')}`;
}

/**
 * The read of the set members a batch's commands need: the named ones and all of a set
 * that SPOP, SINTERSTORE, RENAME or COPY reads. One statement, whatever the count.
 */
function membersRead(needs: readonly MemberNeeds[]): string {
  const whole = needs.filter((need) => need.members === 'all').map((need) => need.key);
  const pairs = needs.flatMap(({ key, members }) =>
    members === 'all' ? [] : members.map((member) => [key, member] as const),
  );
  if (whole.length === 0 && pairs.length === 0) return 'SELECT NULL LIMIT 0';
  const conditions: string[] = [];
  if (whole.length > 0) {
    conditions.push(`key IN (${whole.map((id) => bytesLiteral(keyBytes(id))).join(', ')})`);
  }
  if (pairs.length > 0) {
    const list = pairs.map(
      ([key, member]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))})`,
    );
    conditions.push(`(key, member) IN (${list.join(', ')})`);
  }
  return `SELECT key, member, seq FROM tandem.set_members WHERE ${conditions.join(' OR ')}`;
}

/**
 * The read of the sorted set members a batch's commands need: the named ones and all of a
 * set that a command selects from or copies. One statement, whatever the count.
 */
function scoredRead(needs: readonly ScoredNeeds[]): string {
  const whole = needs.filter((need) => need.members === 'all').map((need) => need.key);
  const pairs = needs.flatMap(({ key, members }) =>
    members === 'all' ? [] : members.map((member) => [key, member] as const),
  );
  if (whole.length === 0 && pairs.length === 0) return 'SELECT NULL LIMIT 0';
  const conditions: string[] = [];
  if (whole.length > 0) {
    conditions.push(`key IN (${whole.map((id) => bytesLiteral(keyBytes(id))).join(', ')})`);
  }
  if (pairs.length > 0) {
    const list = pairs.map(
      ([key, member]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))})`,
    );
    conditions.push(`(key, member) IN (${list.join(', ')})`);
  }
  return `SELECT key, member, score, seq FROM tandem.zset_members WHERE ${conditions.join(' OR ')}`;
}

/** The sorted set rows and member rows a batch read, for its `KvBatch`. */
function loadedZsets(
  needs: BatchNeeds,
  zsetRows: readonly Record<string, unknown>[],
  scoredRows: readonly Record<string, unknown>[],
): LoadedZsets {
  const metas = new Map<string, ZsetMeta>();
  for (const row of zsetRows) metas.set(keyId(row.key as Buffer), zsetMeta(row));
  const members = new Map<string, Map<string, ScoredRow>>();
  for (const row of scoredRows) {
    const key = keyId(row.key as Buffer);
    let known = members.get(key);
    if (known === undefined) {
      known = new Map();
      members.set(key, known);
    }
    known.set(keyId(row.member as Buffer), { score: scoreOfRow(row), seq: Number(row.seq) });
  }
  return { metas, members, needs: needs.scored };
}

/** The set rows and member rows a batch read, for its `KvBatch`. */
function loadedSets(
  needs: BatchNeeds,
  setRows: readonly Record<string, unknown>[],
  memberRows: readonly Record<string, unknown>[],
): LoadedSets {
  const metas = new Map<string, SetMeta>();
  for (const row of setRows) metas.set(keyId(row.key as Buffer), setMeta(row));
  const members = new Map<string, Map<string, number>>();
  for (const row of memberRows) {
    const key = keyId(row.key as Buffer);
    let known = members.get(key);
    if (known === undefined) {
      known = new Map();
      members.set(key, known);
    }
    known.set(keyId(row.member as Buffer), Number(row.seq));
  }
  return { metas, members, needs: needs.members };
}

/**
 * The read of the list elements a batch's commands need: whole lists, and for the others
 * as many rows from the head and from the tail as the batch's pops could take (their
 * counts summed per key and end). One statement, whatever the count.
 */
function elementsRead(needs: readonly ListNeeds[]): string {
  const whole = new Set<string>();
  const ends = new Map<string, { head: number; tail: number }>();
  for (const need of needs) {
    if (need.all) whole.add(need.key);
    const sum = ends.get(need.key) ?? { head: 0, tail: 0 };
    ends.set(need.key, { head: sum.head + need.head, tail: sum.tail + need.tail });
  }
  const parts: string[] = [];
  if (whole.size > 0) {
    const list = [...whole].map((id) => bytesLiteral(keyBytes(id))).join(', ');
    parts.push(`(SELECT key, pos, value FROM tandem.list_items WHERE key IN (${list}))`);
  }
  for (const [key, { head, tail }] of ends) {
    if (whole.has(key)) continue;
    const literal = bytesLiteral(keyBytes(key));
    for (const [count, order] of [
      [head, 'ASC'],
      [tail, 'DESC'],
    ] as const) {
      if (count === 0) continue;
      parts.push(
        `(SELECT key, pos, value FROM tandem.list_items WHERE key = ${literal} ORDER BY pos ${order} LIMIT ${integerLiteral(count)})`,
      );
    }
  }
  return parts.length === 0 ? 'SELECT NULL LIMIT 0' : parts.join(' UNION ALL ');
}

/** The list rows and element rows a batch read, for its `KvBatch`. */
function loadedLists(
  needs: BatchNeeds,
  listRows: readonly Record<string, unknown>[],
  elementRows: readonly Record<string, unknown>[],
): LoadedLists {
  const metas = new Map<string, ListMeta>();
  for (const row of listRows) {
    metas.set(keyId(row.key as Buffer), {
      type: 'list',
      head: Number(row.head),
      length: Number(row.length),
    });
  }
  const elements = new Map<string, Map<number, Buffer>>();
  for (const row of elementRows) {
    const key = keyId(row.key as Buffer);
    let known = elements.get(key);
    if (known === undefined) {
      known = new Map();
      elements.set(key, known);
    }
    known.set(Number(row.pos), row.value as Buffer);
  }
  const complete = new Set(needs.lists.filter((need) => need.all).map((need) => need.key));
  return { metas, elements, complete };
}

/** The hash rows and field rows a batch read, for its `KvBatch`. */
function loadedHashes(
  needs: BatchNeeds,
  hashRows: readonly Record<string, unknown>[],
  fieldRows: readonly Record<string, unknown>[],
): LoadedHashes {
  const metas = new Map<string, HashMeta>();
  for (const row of hashRows) metas.set(keyId(row.key as Buffer), hashMeta(row));
  const fields = new Map<string, Map<string, FieldRow>>();
  for (const row of fieldRows) {
    const key = keyId(row.key as Buffer);
    let known = fields.get(key);
    if (known === undefined) {
      known = new Map();
      fields.set(key, known);
    }
    known.set(keyId(row.field as Buffer), { value: row.value as Buffer, seq: Number(row.seq) });
  }
  return { metas, fields, needs: needs.fields };
}

/** A hash row as read from the database. */
function hashMeta(row: Record<string, unknown>): HashMeta {
  const encoding = row.encoding;
  if (encoding !== 'listpack' && encoding !== 'hashtable') {
    throw new TandemError('TANDEM_CORRUPT', `a hash of encoding ${JSON.stringify(encoding)}`);
  }
  return {
    type: 'hash',
    encoding,
    length: Number(row.length),
    nextSeq: Number(row.next_seq),
  };
}

/** A set row as read from the database. */
function setMeta(row: Record<string, unknown>): SetMeta {
  const encoding = row.encoding;
  if (encoding !== 'intset' && encoding !== 'hashtable') {
    throw new TandemError('TANDEM_CORRUPT', `a set of encoding ${JSON.stringify(encoding)}`);
  }
  return { type: 'set', encoding, length: Number(row.length), nextSeq: Number(row.next_seq) };
}

/** A sorted set row as read from the database. */
function zsetMeta(row: Record<string, unknown>): ZsetMeta {
  const encoding = row.encoding;
  if (encoding !== 'listpack' && encoding !== 'skiplist') {
    throw new TandemError('TANDEM_CORRUPT', `a sorted set of encoding ${JSON.stringify(encoding)}`);
  }
  return { type: 'zset', encoding, length: Number(row.length), nextSeq: Number(row.next_seq) };
}

/** A member row's score (node-postgres reads a double precision as a number, -0 included). */
function scoreOfRow(row: Record<string, unknown>): number {
  const score = row.score;
  if (typeof score !== 'number' || Number.isNaN(score)) {
    throw new TandemError('TANDEM_CORRUPT', `a sorted set score of ${String(score)}`);
  }
  return score;
}

/** A score as a double precision literal that reads back as exactly the same double. */
function scoreLiteral(score: number): string {
  assert(!Number.isNaN(score), 'a sorted set score is never NaN');
  return `'${float8Text(score)}'::float8`;
}

/** The condition of a score bound: the members above a minimum or below a maximum. */
function scoreBoundCondition(bound: ScoreBound, side: 'min' | 'max'): string {
  const operator = side === 'min' ? (bound.exclusive ? '>' : '>=') : bound.exclusive ? '<' : '<=';
  return `score ${operator} ${scoreLiteral(bound.value)}`;
}

/** The condition of a member bound, as sorted-set.ts reads one (`-` and `+` the two ends). */
function lexBoundCondition(bound: LexBound, side: 'min' | 'max'): string {
  if (bound.kind === 'member') {
    const operator = side === 'min' ? (bound.exclusive ? '>' : '>=') : bound.exclusive ? '<' : '<=';
    return `member ${operator} ${bytesLiteral(keyBytes(bound.member))}`;
  }
  // `-` as a minimum and `+` as a maximum admit every member; the other way round, none.
  return (bound.kind === 'min') === (side === 'min') ? 'true' : 'false';
}

/** The WHERE condition of a score or member range (a rank range has none: it is true). */
function rangeCondition(range: ZsetRange): string {
  switch (range.by) {
    case 'rank':
      return 'true';
    case 'score':
      return `${scoreBoundCondition(range.min, 'min')} AND ${scoreBoundCondition(range.max, 'max')}`;
    case 'lex':
      return `${lexBoundCondition(range.min, 'min')} AND ${lexBoundCondition(range.max, 'max')}`;
  }
}

/** A key row as read from the database. */
function kvRow(row: Record<string, unknown>): KvRow {
  return {
    value: row.value as Buffer,
    versionIndex: row.version_index as number,
    versionTerm: row.version_term as number,
    // An expiry past 2^53 ms comes back as a bigint; as a number it is the double stored.
    expiresAt: row.expires_at === null ? null : Number(row.expires_at as number | bigint),
    seq: row.seq as number,
  };
}

/**
 * RANDOMKEY's query: $1 a random fraction in [0, 1) placing the start between the lowest and
 * the highest sequence number, $2 the reader's clock. The start is computed once
 * (MATERIALIZED), for both halves.
 */
function randomKeySql(within: string): string {
  return `
  WITH start AS MATERIALIZED (
    SELECT min(seq) + floor($1::float8 * (max(seq) - min(seq) + 1))::bigint AS seq FROM tandem.kv
  )
  SELECT key FROM (
    (SELECT kv.key, 0 AS pass FROM tandem.kv kv, start WHERE kv.seq >= start.seq
      AND (kv.expires_at IS NULL OR kv.expires_at > $2) AND ${within} ORDER BY kv.seq LIMIT 1)
    UNION ALL
    (SELECT kv.key, 1 AS pass FROM tandem.kv kv, start WHERE kv.seq < start.seq
      AND (kv.expires_at IS NULL OR kv.expires_at > $2) AND ${within} ORDER BY kv.seq LIMIT 1)
  ) picked ORDER BY pass LIMIT 1`;
}

function liveAt(expiresAt: number | null, nowMs: number): boolean {
  return expiresAt === null || expiresAt > nowMs;
}

/** A result still to come: the SQL result of this batch position. */
interface Pending {
  readonly pending: number;
  readonly duplicateOf?: LogPosition;
}

/**
 * Decides one entry in memory: its result, or a placeholder for a SQL command (planned
 * into `plans`) or for the duplicate of one.
 */
function planEntry(
  entry: Entry,
  command: Command | null,
  at: number,
  state: BatchState,
  plans: SqlPlan[],
): ApplyResult | undefined {
  if (command === null) return null;
  const { session } = command;
  if (session !== undefined) {
    assert(command.at !== undefined, `entry ${entry.index} has a session but no time`);
    const verdict = state.sessions.check(session, command.at);
    if (verdict !== null) {
      if ('result' in verdict) return verdict.result;
      return { pending: verdict.pending, duplicateOf: verdict.duplicateOf } as never;
    }
  }
  let result: ApplyResult | undefined;
  if (command.type === 'sql') {
    const plan = planSql(command, at);
    if (plan.statements.length === 0) result = { ok: false, error: plan.refusal as string };
    else plans.push(plan);
  } else if (command.type === 'acl') {
    result = state.access.apply(command);
  } else {
    result = state.kv.execute(command as KvCommand, entry);
  }
  if (session !== undefined) state.sessions.record(session, command.at as number, at, entry);
  return result;
}

/**
 * Checks and inlines a SQL command's statements up to the first one refused. The refusal
 * counts only if the statements before it succeed, as it would when they run in order.
 */
function planSql(command: SqlCommand, at: number): SqlPlan {
  const statements: string[] = [];
  const ddl: boolean[] = [];
  for (const [i, statement] of command.statements.entries()) {
    try {
      checkStatement(statement.sql, statement.params);
      statements.push(inlineSql(statement.sql, statement.params));
      // A schema change must be replayed to rebuild the tables.
      ddl.push(isSchemaChange(statement.sql));
    } catch (error) {
      if (!(error instanceof TandemError) && !(error instanceof SqlTranslationError)) throw error;
      return { at, statements, isDdl: ddl, refusal: `statement ${i + 1}: ${error.message}` };
    }
  }
  return { at, statements, isDdl: ddl, refusal: null };
}

/** Records a successful DDL statement, in order, for a restore to replay. */
function recordDdl(statement: string): string {
  return `INSERT INTO tandem.ddl (position, statement) SELECT coalesce(max(position), 0) + 1, ${quoteLiteral(statement)} FROM tandem.ddl`;
}

/** The text of one planned command inside its savepoint, and how many results it yields. */
function planText(plan: SqlPlan): { text: string; results: number } {
  const parts = ['SAVEPOINT tandem_command;\n'];
  plan.statements.forEach((statement, i) => {
    parts.push(`${statement};\n`);
    if (plan.isDdl[i] === true) parts.push(`${recordDdl(statement)};\n`);
  });
  const end =
    plan.refusal === null
      ? ['RELEASE SAVEPOINT tandem_command;\n']
      : ['ROLLBACK TO SAVEPOINT tandem_command;\n', 'RELEASE SAVEPOINT tandem_command;\n'];
  parts.push(...end);
  return { text: parts.join(''), results: parts.length };
}

/**
 * Round trip 2: every planned command in one string. When a statement fails (or returns
 * too many rows) the string is undone to its start and the commands run one at a time.
 */
async function runSqlCommands(
  client: pg.PoolClient,
  plans: readonly SqlPlan[],
  results: (ApplyResult | undefined)[],
): Promise<void> {
  const texts = plans.map(planText);
  let answers: pg.QueryResult[] | null;
  try {
    answers = resultList(await q(client, texts.map((t) => t.text).join('')));
  } catch (error) {
    if (!isStatementFailure(error)) throw error;
    answers = null;
  }
  const fast = answers === null ? null : readAnswers(plans, texts, answers);
  if (fast !== null) {
    fast.forEach((result, i) => (results[(plans[i] as SqlPlan).at] = result));
    return;
  }
  await q1(client, 'ROLLBACK TO SAVEPOINT tandem_run');
  for (const plan of plans) results[plan.at] = await runOneCommand(client, plan);
}

/** The commands' results from the answers of the one string, or null when one is too large. */
function readAnswers(
  plans: readonly SqlPlan[],
  texts: readonly { results: number }[],
  answers: readonly pg.QueryResult[],
): ApplyResult[] | null {
  let next = 0;
  const results: ApplyResult[] = [];
  for (const [i, plan] of plans.entries()) {
    const statementResults: SqlStatementResult[] = [];
    let offset = next + 1;
    for (const [k] of plan.statements.entries()) {
      const answer = answers[offset] as pg.QueryResult;
      if (answer.fields.length > 0 && answer.rows.length > sqlResultRowsMax) return null;
      statementResults.push(statementResult(answer));
      offset += plan.isDdl[k] === true ? 2 : 1;
    }
    next += (texts[i] as { results: number }).results;
    results.push(
      plan.refusal === null
        ? { ok: true, value: statementResults }
        : { ok: false, error: plan.refusal },
    );
  }
  assert(next === answers.length, `${answers.length} answers for ${next} statements`);
  return results;
}

/** A statement's result as SqliteStore reports it. */
function statementResult(answer: pg.QueryResult): SqlStatementResult {
  if (answer.fields.length > 0) return { rows: answer.rows as Record<string, unknown>[] };
  return { changes: answer.rowCount ?? 0, lastInsertRowid: 0 };
}

/** Runs one command a statement at a time, rolling it back alone when a statement fails. */
async function runOneCommand(client: pg.PoolClient, plan: SqlPlan): Promise<ApplyResult> {
  await q1(client, 'SAVEPOINT tandem_command');
  const statementResults: SqlStatementResult[] = [];
  let failure: string | null = null;
  for (const [i, statement] of plan.statements.entries()) {
    try {
      const answer = resultList(await q(client, statement))[0] as pg.QueryResult;
      if (answer.fields.length > 0 && answer.rows.length > sqlResultRowsMax) {
        failure = `statement ${i + 1}: the statement returned more than ${sqlResultRowsMax} rows`;
        break;
      }
      statementResults.push(statementResult(answer));
      if (plan.isDdl[i] === true) await q1(client, recordDdl(statement));
    } catch (error) {
      if (!isStatementFailure(error)) throw error;
      failure = `statement ${i + 1}: ${error.message}`;
      break;
    }
  }
  failure ??= plan.refusal;
  if (failure !== null) {
    await q(client, 'ROLLBACK TO SAVEPOINT tandem_command; RELEASE SAVEPOINT tandem_command');
    return { ok: false, error: failure };
  }
  await q1(client, 'RELEASE SAVEPOINT tandem_command');
  return { ok: true, value: statementResults };
}

/** Replaces each duplicate's placeholder by the result it repeats, as a session remembers it. */
function resolvePending(results: (ApplyResult | undefined)[], entries: readonly Entry[]): void {
  results.forEach((result, i) => {
    if (result === undefined || result === null || !('pending' in result)) return;
    const { pending, duplicateOf } = result as unknown as Pending;
    const original = results[pending];
    assert(original !== undefined && original !== null, `no result at ${pending}`);
    assert(duplicateOf !== undefined, `entry ${entries[i]?.index} repeats without a position`);
    results[i] = rememberedResult(packResult(original), duplicateOf);
  });
  results.forEach((result, i) => assert(result !== undefined, `no result for entry ${i}`));
}

/** Multi-row statements of at most `writeRowsPerStatementMax` rows each. */
function chunked<T>(rows: readonly T[], statement: (chunk: readonly T[]) => string): string[] {
  const statements: string[] = [];
  for (let i = 0; i < rows.length; i += writeRowsPerStatementMax) {
    statements.push(statement(rows.slice(i, i + writeRowsPerStatementMax)));
  }
  return statements;
}

/** Round trip 3: the touched keys and sessions, the new position, and COMMIT. */
function writeBack(state: BatchState, results: readonly ApplyResult[], last: Entry): string {
  const statements: string[] = state.sql ? ['RELEASE SAVEPOINT tandem_run'] : [];
  const kv = state.kv.writes();
  for (const swap of kv.swaps) statements.push(...swapStatements(swap));
  for (const db of kv.flushedDatabases) statements.push(...databaseDeletes(db));
  statements.push(
    ...chunked(
      kv.deletes,
      (keys) =>
        `DELETE FROM tandem.kv WHERE key IN (${keys.map((id) => bytesLiteral(keyBytes(id))).join(', ')})`,
    ),
    ...chunked(kv.upserts, kvUpsert),
    ...hashWriteBack(state.kv.hashWrites()),
    ...setWriteBack(state.kv.setWrites()),
    ...listWriteBack(state.kv.listWrites()),
    ...zsetWriteBack(state.kv.zsetWrites()),
  );
  const sessions = state.sessions.writes((pending) => packResult(results[pending] ?? null));
  statements.push(
    ...chunked(
      sessions.deletes,
      (ids) =>
        `DELETE FROM tandem.sessions WHERE id IN (${ids.map((id) => quoteLiteral(id)).join(', ')})`,
    ),
    ...chunked(sessions.upserts, sessionUpsert),
    ...(state.access.changed ? [accessUpsert(state.access.state)] : []),
    `UPDATE tandem.meta SET applied_index = ${integerLiteral(last.index)}, applied_term = ${integerLiteral(last.term)}, session_count = ${integerLiteral(state.sessions.count)} WHERE id = 1`,
    'COMMIT',
  );
  return statements.join(';\n');
}

/** The tables that hold rows by key, each emptied of a database's keys by FLUSHDB. */
const keyedTables = [
  'kv',
  'hashes',
  'hash_fields',
  'sets',
  'set_members',
  'lists',
  'list_items',
  'zsets',
  'zset_members',
] as const;

/** The SQL condition on `key` that keeps to database `db`'s stored keys (databases.ts). */
export function databaseCondition(db: number, column = 'key'): string {
  if (db === 0) {
    const start = bytesLiteral(reservedPrefix);
    const end = bytesLiteral(prefixEnd(reservedPrefix));
    return `NOT (${column} >= ${start} AND ${column} < ${end})`;
  }
  const prefix = databasePrefix(db);
  return `(${column} >= ${bytesLiteral(prefix)} AND ${column} < ${bytesLiteral(prefixEnd(prefix))})`;
}

/** The first bytes after every key that begins with `prefix` (its last byte is below 0xFF). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]++;
  return end;
}

/** FLUSHDB's statements: every row of database `db`'s keys, in every keyed table. */
function databaseDeletes(db: number): string[] {
  return keyedTables.map((table) => `DELETE FROM tandem.${table} WHERE ${databaseCondition(db)}`);
}

/**
 * SWAPDB's statements: the expired keys of both databases go (as the in-memory namespace
 * moves only live keys), then three renames, each into a range left empty (so no key
 * meets another): `a` to the holding database, `b` to `a`, the holding database to `b`.
 * A moved key takes the entry's version and, as in memory, new sequence numbers.
 */
function swapStatements(swap: DatabaseSwap): string[] {
  const { a, b, version, at } = swap;
  const both = `(${databaseCondition(a)} OR ${databaseCondition(b)})`;
  const expired = `SELECT key FROM tandem.kv WHERE expires_at <= ${integerLiteral(at)} AND ${both}`;
  const statements = keyedTables
    .filter((table) => table !== 'kv')
    .map((table) => `DELETE FROM tandem.${table} WHERE key IN (${expired})`);
  statements.push(`DELETE FROM tandem.kv WHERE expires_at <= ${integerLiteral(at)} AND ${both}`);
  for (const [from, to] of [
    [a, swapHoldingDatabase],
    [b, a],
    [swapHoldingDatabase, b],
  ] as const) {
    const renamed = movedKeySql(from, to);
    for (const table of keyedTables.filter((name) => name !== 'kv')) {
      statements.push(
        `UPDATE tandem.${table} SET key = ${renamed} WHERE ${databaseCondition(from)}`,
      );
    }
    // As in memory, each moved key is a new key: the next sequence numbers, in key order.
    statements.push(
      `UPDATE tandem.kv SET key = ${movedKeySql(from, to, 'kv.key')}, ` +
        `version_index = ${integerLiteral(version.index)}, version_term = ${integerLiteral(version.term)}, ` +
        'seq = top.seq + moved.position ' +
        `FROM (SELECT key, row_number() OVER (ORDER BY key) AS position FROM tandem.kv WHERE ${databaseCondition(from)}) moved, ` +
        '(SELECT coalesce(max(seq), 0) AS seq FROM tandem.kv) top WHERE kv.key = moved.key',
    );
  }
  return statements;
}

/** The SQL expression of a key of database `from` moved to database `to`. */
function movedKeySql(from: number, to: number, column = 'key'): string {
  const key = from === 0 ? column : `substring(${column} from ${databasePrefix(from).length + 1})`;
  return to === 0 ? key : `${bytesLiteral(databasePrefix(to))} || ${key}`;
}

/** The list statements of round trip 3: clears first, then rows, element deletes, upserts. */
function listWriteBack(writes: ListWrites): string[] {
  const keyList = (keys: readonly string[]): string =>
    keys.map((id) => bytesLiteral(keyBytes(id))).join(', ');
  return [
    ...chunked(
      writes.cleared,
      (keys) =>
        `DELETE FROM tandem.lists WHERE key IN (${keyList(keys)}); DELETE FROM tandem.list_items WHERE key IN (${keyList(keys)})`,
    ),
    ...chunked(writes.upserts, (rows) => {
      const values = rows.map(
        ([key, meta]) =>
          `(${bytesLiteral(keyBytes(key))}, ${integerLiteral(meta.head)}, ${integerLiteral(meta.length)})`,
      );
      return `INSERT INTO tandem.lists (key, head, length) VALUES ${values.join(', ')}
        ON CONFLICT (key) DO UPDATE SET head = excluded.head, length = excluded.length`;
    }),
    ...chunked(writes.elementDeletes, (pairs) => {
      const list = pairs.map(
        ([key, pos]) => `(${bytesLiteral(keyBytes(key))}, ${integerLiteral(pos)})`,
      );
      return `DELETE FROM tandem.list_items WHERE (key, pos) IN (${list.join(', ')})`;
    }),
    ...chunked(writes.elementUpserts, (rows) => {
      const values = rows.map(
        ([key, pos, value]) =>
          `(${bytesLiteral(keyBytes(key))}, ${integerLiteral(pos)}, ${bytesLiteral(value)})`,
      );
      return `INSERT INTO tandem.list_items (key, pos, value) VALUES ${values.join(', ')}
        ON CONFLICT (key, pos) DO UPDATE SET value = excluded.value`;
    }),
  ];
}

/**
 * The statements that clear the hashes, sets or sorted sets `cleared` (their row in
 * `table` and their items in `itemsTable`) and upsert the rows `upserts` of `table`
 * (encoding, length, next sequence number), in chunks: the part of a round trip 3 the
 * three share.
 */
function metaWriteBack(
  table: 'hashes' | 'sets' | 'zsets',
  itemsTable: 'hash_fields' | 'set_members' | 'zset_members',
  cleared: readonly string[],
  upserts: readonly (readonly [string, { encoding: string; length: number; nextSeq: number }])[],
): string[] {
  const keyList = (keys: readonly string[]): string =>
    keys.map((id) => bytesLiteral(keyBytes(id))).join(', ');
  return [
    ...chunked(
      cleared,
      (keys) =>
        `DELETE FROM tandem.${table} WHERE key IN (${keyList(keys)}); DELETE FROM tandem.${itemsTable} WHERE key IN (${keyList(keys)})`,
    ),
    ...chunked(upserts, (rows) => {
      const values = rows.map(
        ([key, meta]) =>
          `(${bytesLiteral(keyBytes(key))}, ${quoteLiteral(meta.encoding)}, ${integerLiteral(meta.length)}, ${integerLiteral(meta.nextSeq)})`,
      );
      return `INSERT INTO tandem.${table} (key, encoding, length, next_seq) VALUES ${values.join(', ')}
        ON CONFLICT (key) DO UPDATE SET encoding = excluded.encoding, length = excluded.length, next_seq = excluded.next_seq`;
    }),
  ];
}

/** The hash statements of round trip 3: clears first, then rows, field deletes, field upserts. */
function hashWriteBack(writes: HashWrites): string[] {
  return [
    ...metaWriteBack('hashes', 'hash_fields', writes.cleared, writes.upserts),
    ...chunked(writes.fieldDeletes, (pairs) => {
      const list = pairs.map(
        ([key, field]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(field))})`,
      );
      return `DELETE FROM tandem.hash_fields WHERE (key, field) IN (${list.join(', ')})`;
    }),
    ...chunked(writes.fieldUpserts, (rows) => {
      const values = rows.map(
        ([key, field, row]) =>
          `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(field))}, ${bytesLiteral(row.value)}, ${integerLiteral(row.seq)})`,
      );
      return `INSERT INTO tandem.hash_fields (key, field, value, seq) VALUES ${values.join(', ')}
        ON CONFLICT (key, field) DO UPDATE SET value = excluded.value, seq = excluded.seq`;
    }),
  ];
}

/** The set statements of round trip 3: clears first, then rows, member deletes, member upserts. */
function setWriteBack(writes: SetWrites): string[] {
  return [
    ...metaWriteBack('sets', 'set_members', writes.cleared, writes.upserts),
    ...chunked(writes.memberDeletes, (pairs) => {
      const list = pairs.map(
        ([key, member]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))})`,
      );
      return `DELETE FROM tandem.set_members WHERE (key, member) IN (${list.join(', ')})`;
    }),
    ...chunked(writes.memberUpserts, (rows) => {
      const values = rows.map(
        ([key, member, seq]) =>
          `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))}, ${integerLiteral(seq)})`,
      );
      return `INSERT INTO tandem.set_members (key, member, seq) VALUES ${values.join(', ')}
        ON CONFLICT (key, member) DO UPDATE SET seq = excluded.seq`;
    }),
  ];
}

/** The sorted set statements of round trip 3: clears first, then rows, member deletes, upserts. */
function zsetWriteBack(writes: ZsetWrites): string[] {
  return [
    ...metaWriteBack('zsets', 'zset_members', writes.cleared, writes.upserts),
    ...chunked(writes.memberDeletes, (pairs) => {
      const list = pairs.map(
        ([key, member]) => `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))})`,
      );
      return `DELETE FROM tandem.zset_members WHERE (key, member) IN (${list.join(', ')})`;
    }),
    ...chunked(writes.memberUpserts, (rows) => {
      const values = rows.map(
        ([key, member, row]) =>
          `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(keyBytes(member))}, ${scoreLiteral(row.score)}, ${integerLiteral(row.seq)})`,
      );
      return `INSERT INTO tandem.zset_members (key, member, score, seq) VALUES ${values.join(', ')}
        ON CONFLICT (key, member) DO UPDATE SET score = excluded.score, seq = excluded.seq`;
    }),
  ];
}

function kvUpsert(rows: readonly (readonly [string, KvRow])[]): string {
  const values = rows.map(
    ([key, row]) =>
      `(${bytesLiteral(keyBytes(key))}, ${bytesLiteral(row.value)}, ${integerLiteral(row.versionIndex)}, ${integerLiteral(row.versionTerm)}, ${expiryLiteral(row.expiresAt)}::bigint, ${integerLiteral(row.seq)})`,
  );
  return `INSERT INTO tandem.kv (key, value, version_index, version_term, expires_at, seq) VALUES ${values.join(', ')}
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, version_index = excluded.version_index,
      version_term = excluded.version_term, expires_at = excluded.expires_at, seq = excluded.seq`;
}

function sessionUpsert(
  rows: readonly (readonly [string, SessionRow & { result: Uint8Array }])[],
): string {
  const values = rows.map(
    ([id, row]) =>
      `(${quoteLiteral(id)}, ${integerLiteral(row.lastSeq)}, ${integerLiteral(row.lastAt)}, ${bytesLiteral(row.result)}, ${integerLiteral(row.resultIndex)}, ${integerLiteral(row.resultTerm)})`,
  );
  return `INSERT INTO tandem.sessions (id, last_seq, last_at, result, result_index, result_term) VALUES ${values.join(', ')}
    ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_at = excluded.last_at,
      result = excluded.result, result_index = excluded.result_index, result_term = excluded.result_term`;
}

/** Walks the keys from `prefix` in pages, collecting the live ones that match. */
async function collectKeys(
  client: pg.PoolClient,
  prefix: Buffer,
  glob: Glob,
  nowMs: number,
): Promise<Buffer[]> {
  const found: Buffer[] = [];
  let after: Buffer | null = null;
  for (;;) {
    const { rows } = await q1(
      client,
      after === null
        ? 'SELECT key, expires_at FROM tandem.kv WHERE key >= $1 ORDER BY key LIMIT $2'
        : 'SELECT key, expires_at FROM tandem.kv WHERE key > $1 ORDER BY key LIMIT $2',
      [after ?? prefix, keysPageRowsMax],
    );
    for (const row of rows) {
      const key = row.key as Buffer;
      if (!startsWith(key, prefix)) return found;
      if (!liveAt(row.expires_at as number | null, nowMs) || !glob.matches(key)) continue;
      if (found.length === keysResultMax) {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          `KEYS matches more than ${keysResultMax} keys; use SCAN to walk them in pages`,
        );
      }
      found.push(key);
    }
    if (rows.length < keysPageRowsMax) return found;
    after = rows.at(-1)?.key as Buffer;
  }
}

/** Prefixes of names a read may not use: they reach the server itself, not the data. */
const readRefusedNames = /^(?:pg_|lo_|dblink|set_config$)/i;

/** A read-only query, inlined; TANDEM_BAD_REQUEST for what cannot be one. */
function readableQuery(sql: string, params: SqlParams | undefined): string {
  let text: string;
  try {
    text = inlineSql(sql, params);
  } catch (error) {
    if (!(error instanceof SqlTranslationError)) throw error;
    throw new TandemError('TANDEM_BAD_REQUEST', `query failed: ${error.message}`);
  }
  const words = text.match(/"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*/g) ?? [];
  const refused = words.find((word) => readRefusedNames.test(word.replaceAll('"', '')));
  if (refused !== undefined) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `a query may not use ${refused}: it reaches the server itself, not the replicated data`,
    );
  }
  return text;
}

function qualified(table: ImageTable): string {
  return `${quoteIdentifier(table.schema)}.${quoteIdentifier(table.name)} (${table.columns.map(quoteIdentifier).join(', ')})`;
}

/** Writes the image of what the snapshot transaction sees. */
async function writeImage(
  client: pg.PoolClient,
  file: string,
  clusterId: string,
): Promise<{ header: ImageHeader; bytes: number; checksum: string }> {
  const { rows: metaRows } = await q1(
    client,
    'SELECT applied_index, applied_term, session_count FROM tandem.meta WHERE id = 1',
  );
  const meta = metaRows[0] as {
    applied_index: number;
    applied_term: number;
    session_count: number;
  };
  const { rows: ddlRows } = await q1(client, 'SELECT statement FROM tandem.ddl ORDER BY position');
  const header: ImageHeader = {
    format: storeFormat,
    clusterId,
    index: meta.applied_index,
    term: meta.applied_term,
    sessionCount: meta.session_count,
    ddl: ddlRows.map((row) => row.statement as string),
    tables: [
      ...tandemTables,
      // Only when there are users: such an image is one every earlier build reads too.
      ...((await q1(client, 'SELECT 1 FROM tandem.acl')).rows.length > 0 ? [accessImageTable] : []),
      // Likewise only when there are hashes.
      ...((await q1(client, 'SELECT 1 FROM tandem.hashes LIMIT 1')).rows.length > 0
        ? hashImageTables
        : []),
      // Likewise only when there are sets.
      ...((await q1(client, 'SELECT 1 FROM tandem.sets LIMIT 1')).rows.length > 0
        ? setImageTables
        : []),
      // And only when there are lists.
      ...((await q1(client, 'SELECT 1 FROM tandem.lists LIMIT 1')).rows.length > 0
        ? listImageTables
        : []),
      // And only when there are sorted sets.
      ...((await q1(client, 'SELECT 1 FROM tandem.zsets LIMIT 1')).rows.length > 0
        ? zsetImageTables
        : []),
      ...(await userTables(client)).map(({ name, columns }): ImageTable => ({
        schema: 'public',
        name,
        columns,
      })),
    ],
  };
  const writer = await ImageWriter.create(file, header);
  try {
    for (const table of header.tables) {
      const stream = client.query(copyTo(`COPY ${qualified(table)} TO STDOUT`));
      await writer.table(`${table.schema}.${table.name}`, stream);
    }
    const { bytes, checksum } = await writer.finish();
    return { header, bytes, checksum };
  } catch (error) {
    await writer.abandon();
    throw error;
  }
}

/**
 * Makes the open transaction's store empty for a load: the meta row locked, the user schema
 * dropped and recreated empty, the tandem tables emptied. Triggers and foreign-key checks
 * are turned off for the rest of the transaction where the role allows, as the rows to
 * load were valid where they were written and arrive table by table in any order.
 */
async function emptyForLoad(client: pg.PoolClient): Promise<void> {
  await q1(client, 'SELECT 1 FROM tandem.meta WHERE id = 1 FOR UPDATE');
  await q1(client, 'SAVEPOINT tandem_replica_role');
  try {
    await q1(client, 'SET LOCAL session_replication_role = replica');
  } catch (error) {
    // Without the privilege, tables without triggers or foreign keys still load.
    if (!isStatementFailure(error)) throw error;
    await q1(client, 'ROLLBACK TO SAVEPOINT tandem_replica_role');
  }
  await q(client, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await q1(
    client,
    'TRUNCATE tandem.kv, tandem.sessions, tandem.ddl, tandem.acl, tandem.hashes, tandem.hash_fields, tandem.lists, tandem.list_items',
  );
  await q1(client, 'TRUNCATE tandem.sets, tandem.set_members');
  await q1(client, 'TRUNCATE tandem.zsets, tandem.zset_members');
}

/**
 * Loads a checked image inside the open transaction: the user schema rebuilt by replaying
 * the image's DDL, every table's rows copied in, the position set.
 */
async function loadImage(client: pg.PoolClient, file: string, header: ImageHeader): Promise<void> {
  await emptyForLoad(client);
  for (const statement of header.ddl) await q(client, statement);
  for (const [i, statement] of header.ddl.entries()) {
    await q1(client, 'INSERT INTO tandem.ddl (position, statement) VALUES ($1, $2)', [
      i + 1,
      statement,
    ]);
  }
  const { reader } = await ImageReader.open(file);
  try {
    for (const table of header.tables) {
      assert((await reader.nextTable()) === `${table.schema}.${table.name}`, 'image table order');
      const stream = client.query(copyFrom(`COPY ${qualified(table)} FROM STDIN`));
      await pipeline(Readable.from(reader.frames()), stream);
    }
  } finally {
    await reader.close();
  }
  await setPosition(client, header, header.sessionCount);
}

/** Loads a checked SQLite store image, converted, inside the open transaction. */
async function loadConvertedImage(client: pg.PoolClient, file: string): Promise<void> {
  await emptyForLoad(client);
  const { position, sessionCount } = await loadSqliteImage(client, file);
  await setPosition(client, position, sessionCount);
}

async function setPosition(
  client: pg.PoolClient,
  position: LogPosition,
  sessionCount: number,
): Promise<void> {
  await q1(
    client,
    'UPDATE tandem.meta SET applied_index = $1, applied_term = $2, session_count = $3 WHERE id = 1',
    [position.index, position.term, sessionCount],
  );
}
