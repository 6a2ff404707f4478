/**
 * The contract between the node runtime (and the simulator) and a state machine. The
 * runtime hands over committed entries in log order, takes snapshots to compact the log
 * and to ship to slow followers, and restores snapshots it receives. A state machine does
 * its own I/O; it never sees terms change, leaders, or messages.
 */
import type { Entry } from '../core/types.js';
import type { AccessState } from './access-state.js';
import type { Bytes, SqlParams } from './commands.js';
import type { HashScanPage, KvEntry, ScanPage, SetScanPage } from './kv.js';
import type {
  HashEncoding,
  ListPositionOptions,
  SetEncoding,
  ValueType,
  ZsetEncoding,
} from './values.js';
import type { ZsetRange, ZsetSelection } from './sorted-set.js';
import type { KeyspaceStats, ScanOptions, ZsetScanPage } from './keyspace.js';
import type { SqlRow } from './sql-exec.js';

export type { KeyspaceStats } from './keyspace.js';

/** A value, or a promise of it: SQLite answers at once, PostgreSQL over a connection. */
export type MaybePromise<T> = T | Promise<T>;

/** A log position: index and term (0, 0 before anything is applied). */
export interface LogPosition {
  readonly index: number;
  readonly term: number;
}

/** What a snapshot must match to be restored: the runtime takes these from the sender. */
export interface RestoreMeta {
  readonly index: number;
  readonly term: number;
  /** CRC32C of the snapshot's bytes, as 8 lower-case hex digits. */
  readonly checksum: string;
}

/** A state machine replicated by the log. */
export interface StateMachine {
  /** The last log index applied, and its term (0, 0 when empty), read from the store itself. */
  readonly applied: LogPosition;

  /**
   * Applies committed entries in order (`entries[0].index === applied.index + 1`, asserted,
   * and consecutive) in ONE transaction that also records the new applied index and term,
   * so that a crash never leaves data without its applied index or the reverse. Returns one
   * result per entry, `results[i]` for `entries[i]`. Deterministic: the same entries on the
   * same state give the same state and the same results on every replica.
   *
   * Throws (and applies nothing of the batch) on an entry that cannot be applied the same
   * way everywhere: TANDEM_CORRUPT for an entry that does not decode to a command,
   * TANDEM_STORAGE_FAILED when the disk fails. A command that fails by its own meaning
   * (INCR of a non-integer, a SQL constraint) is not such a failure: its result says so.
   */
  apply(entries: readonly Entry[]): MaybePromise<ApplyResult[]>;

  /** Starts a consistent snapshot; cheap to start; does not block apply for long. */
  snapshot(): Promise<StoreSnapshot>;

  /**
   * Replaces all state with a snapshot's. Verifies the checksum, and that the image says it
   * is at `meta.index` and `meta.term`, BEFORE replacing anything: a mismatch throws
   * TANDEM_CORRUPT naming what differed and leaves the current state untouched.
   */
  restore(meta: RestoreMeta, chunks: AsyncIterable<Uint8Array>): Promise<void>;

  /**
   * How many items an image of the store holds now, when the store is rebuilt from its
   * image at start (in memory): the runtime snapshots at most once per that many entries.
   */
  imageItems?(): number;

  /** Releases the store's files or connections. Idempotent. */
  close(): MaybePromise<void>;
}

/**
 * The reads the API layers make of a node's store, always of applied state. Each takes the
 * reader's clock (`nowMs`) to judge expiry. A store may answer at once or later; callers
 * await every answer.
 */
export interface StoreReader {
  /**
   * A string key's value (bytes, as every key and value of the namespace), version and
   * expiry. A key of another type throws TANDEM_BAD_REQUEST with Redis's WRONGTYPE text
   * (`WrongTypeError`), as does every read of one type on a key of another below.
   */
  get(key: Bytes, nowMs: number): MaybePromise<KvEntry | null>;
  /**
   * The version and expiry of the live key at `key`, of any type (WATCH's note, EXPIRETIME);
   * null when absent or expired.
   */
  versionOf(key: Bytes, nowMs: number): MaybePromise<KeyVersion | null>;
  /** How many of `keys` exist (a key named twice counts twice, as in Redis). */
  exists(keys: readonly Bytes[], nowMs: number): MaybePromise<number>;
  /** Milliseconds to live; -1 without expiry, -2 when absent (Redis's PTTL). */
  ttlMs(key: Bytes, nowMs: number): MaybePromise<number>;
  type(key: Bytes, nowMs: number): MaybePromise<ValueType | 'none'>;
  /** The values of `fields` of the hash at `key` (null for an absent field); null without it. */
  hashValues(
    key: Bytes,
    fields: readonly Bytes[],
    nowMs: number,
  ): MaybePromise<(Buffer | null)[] | null>;
  /** How many fields the hash at `key` holds; 0 when absent. */
  hashSize(key: Bytes, nowMs: number): MaybePromise<number>;
  /** Every field and value of the hash at `key`, in its order; none when absent. */
  hashAll(key: Bytes, nowMs: number): MaybePromise<[Buffer, Buffer][]>;
  /** The hash's encoding (OBJECT ENCODING), null when absent. */
  hashEncoding(key: Bytes, nowMs: number): MaybePromise<HashEncoding | null>;
  /** One page of an HSCAN from `cursor` (0 starts; a returned 0 ends). */
  hashScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): MaybePromise<HashScanPage>;
  /**
   * Every member of the set at `key`, none when absent: an intset's in ascending order (as
   * Redis answers them), a hashtable's in its own order.
   */
  setAll(key: Bytes, nowMs: number): MaybePromise<Buffer[]>;
  /** Whether each of `members` is in the set at `key` (all false when absent). */
  setContains(key: Bytes, members: readonly Bytes[], nowMs: number): MaybePromise<boolean[]>;
  /**
   * `count` members of the set at `key` drawn at random, none when absent: distinct ones
   * (at most all of them) unless `repeats`. Costs what it draws, not the set's size.
   */
  setRandom(key: Bytes, count: number, repeats: boolean, nowMs: number): MaybePromise<Buffer[]>;
  /** How many members the set at `key` holds; 0 when absent. */
  setSize(key: Bytes, nowMs: number): MaybePromise<number>;
  /** The set's encoding (OBJECT ENCODING), null when absent. */
  setEncoding(key: Bytes, nowMs: number): MaybePromise<SetEncoding | null>;
  /** One page of an SSCAN from `cursor` (0 starts; a returned 0 ends). */
  setScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): MaybePromise<SetScanPage>;
  /** The scores of `members` of the sorted set at `key` (null for each absent); null without it. */
  zsetScores(
    key: Bytes,
    members: readonly Bytes[],
    nowMs: number,
  ): MaybePromise<(number | null)[] | null>;
  /** How many members the sorted set at `key` holds; 0 when absent. */
  zsetSize(key: Bytes, nowMs: number): MaybePromise<number>;
  /** A member's 0-based rank (from the highest score when `reverse`); null when absent. */
  zsetRank(key: Bytes, member: Bytes, reverse: boolean, nowMs: number): MaybePromise<number | null>;
  /** The members `selection` picks, in its order, with their scores; none when absent. */
  zsetRange(key: Bytes, selection: ZsetSelection, nowMs: number): MaybePromise<[Buffer, number][]>;
  /** How many members a score or member range covers; 0 when absent. */
  zsetCount(key: Bytes, range: ZsetRange, nowMs: number): MaybePromise<number>;
  /** The sorted set's encoding (OBJECT ENCODING), null when absent. */
  zsetEncoding(key: Bytes, nowMs: number): MaybePromise<ZsetEncoding | null>;
  /** One page of a ZSCAN from `cursor` (0 starts; a returned 0 ends). */
  zsetScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): MaybePromise<ZsetScanPage>;
  /** How many elements the list at `key` holds (LLEN); 0 when absent. */
  listSize(key: Bytes, nowMs: number): MaybePromise<number>;
  /** LRANGE: the elements from `start` to `stop` (negative from the tail); none when absent. */
  listElements(key: Bytes, start: number, stop: number, nowMs: number): MaybePromise<Buffer[]>;
  /** LINDEX: the element at `index` (negative from the tail); null when absent or out of range. */
  listElement(key: Bytes, index: number, nowMs: number): MaybePromise<Buffer | null>;
  /** LPOS: the indexes where `element` is, as the options say; null when the key is absent. */
  listIndexes(
    key: Bytes,
    element: Bytes,
    options: ListPositionOptions,
    nowMs: number,
  ): MaybePromise<number[] | null>;
  /**
   * The live keys at `nowMs`. This and the four reads after it take a database (0 to 15,
   * databases.ts): given, they keep to its keys (stored keys, prefix included); absent,
   * they read every key held.
   */
  dbsize(nowMs: number, db?: number): MaybePromise<number>;
  /**
   * What INFO keyspace says of the live keys at `nowMs`: how many, how many of them have an
   * expiry, and their average time to live in milliseconds (0 when none has one).
   */
  keyspaceStats(nowMs: number, db?: number): MaybePromise<KeyspaceStats>;
  /**
   * A live key picked at random (Redis RANDOMKEY), never an expired one; null when no key
   * is live. Each call draws again: two replicas need not pick the same key.
   */
  randomKey(nowMs: number, db?: number): MaybePromise<Buffer | null>;
  /** The live keys matching a Redis glob pattern (matched on bytes), in byte order. */
  keys(pattern: Bytes, nowMs: number, db?: number): MaybePromise<Buffer[]>;
  scan(cursor: number, options: ScanOptions, nowMs: number): MaybePromise<ScanPage>;
  /** A read-only SQL query with `?` (or named) parameters; the rows it returns. */
  query(sql: string, params?: SqlParams): MaybePromise<SqlRow[]>;
}

/** A live key's version (the entry that last wrote it) and expiry (absolute ms, or null). */
export interface KeyVersion {
  readonly version: LogPosition;
  readonly expiresAt: number | null;
}

/**
 * The reads of a few keys, with no read of the whole keyspace: what a transaction's read
 * step answers (`multi`), a view of the keys it named as the apply saw them at that step.
 * Synchronous: the view is in memory.
 */
export type KeyReader = {
  readonly [K in Exclude<keyof StoreReader, 'dbsize' | 'randomKey' | 'keys' | 'scan' | 'query'>]: (
    ...args: Parameters<StoreReader[K]>
  ) => Awaited<ReturnType<StoreReader[K]>>;
};

/**
 * What a node keeps its state in: a state machine the log drives and the API layers read.
 * `healthy()` says whether the store can serve now (a PostgreSQL that went away cannot).
 */
export interface NodeStore extends StateMachine, StoreReader {
  /** `sqlite` or `postgres`, for the status report. */
  readonly kind: string;
  healthy(): boolean;
  /** The users and tokens as applied (access-state.ts); in memory, so always at once. */
  accessState(): AccessState;
  /**
   * Whether `apply` lists each key-value command's keyspace events in its result
   * (`events`, for keyspace notifications); off by default, and free while off.
   */
  setKeyEvents(on: boolean): void;
}

/**
 * A snapshot image taken by `StateMachine.snapshot()`. Its index and term are those the
 * image itself records, so they always match its content.
 */
export interface StoreSnapshot {
  readonly index: number;
  readonly term: number;
  /** The image's size in bytes. */
  readonly bytes: number;
  /** CRC32C of the image, as 8 lower-case hex digits. */
  readonly checksum: string;
  /** The image, in order, in chunks of at most the store's chunk size. May be read many times. */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * Hands over the file that holds the image, for the caller to rename into a place of
   * its own instead of copying the bytes (the runtime's own snapshots). Afterwards
   * `chunks()` may not be called. Absent where an image is not one file.
   */
  takeFile?(): string;
  /** Deletes the image. Idempotent; `chunks()` may not be called afterwards. */
  dispose(): Promise<void>;
}

/** The result of one SQL statement of a `sql` command. */
export type SqlStatementResult =
  /**
   * A statement that returns no rows: the rows it changed, and the rowid of the last row
   * it inserted itself (0 when it inserted none, unlike SQLite's connection-wide value).
   */
  | { readonly changes: number; readonly lastInsertRowid: number | bigint }
  /** A statement that returns rows (SELECT, or a write with RETURNING). */
  | { readonly rows: readonly Record<string, unknown>[] };

/**
 * What applying one entry gave: null for `noop` and `membership` entries and for `publish`
 * (which changes nothing; each node delivers it to its own subscribers); otherwise the
 * command's value or its error. The value of each command type:
 *
 * - `set`: 'OK', or null when its NX/XX condition or its `ifVersion` did not hold (nothing
 *   written). With `returnOld` it is instead the previous value (bytes, or null when the
 *   key was absent or expired), whether or not it wrote, as Redis SET ... GET does.
 * - `mset`: 'OK'.
 * - `del`: the number of keys that existed (unexpired) and were removed.
 * - `incrby`: the new integer value, a safe integer.
 * - `append`: the length of the new value in bytes.
 * - `expire`: 1 when the expiry was set (or the key removed, for a time already past) or
 *   removed by PERSIST; 0 when the key is absent, or PERSIST found no expiry.
 * - `getdel`: the removed value (bytes), or null when the key was absent or expired.
 * - `getex`: the value (bytes, before its expiry changed), or null when absent or expired.
 * - `setrange`: the length of the value in bytes after it (of the present one when
 *   `value` is empty).
 * - `msetnx`: 1 when every pair was set, 0 when a key was live and nothing was.
 * - `rename`: 'OK' (also for a key renamed to itself, which changes nothing); with the
 *   'nx' condition 1 when it moved the key, 0 when the destination was live or is the
 *   key itself. The error 'ERR no such key' when the source is absent or expired.
 * - `copy`: 1 when it copied, 0 when the source is absent or expired, or the destination
 *   is live and `replace` is not set.
 * - `incrbyfloat`: the new value's bytes (Redis's formatting); fails with Redis's "not a
 *   valid float" or "would produce NaN or Infinity" text, and then changes nothing.
 * - `setbit`: the bit's old value, 0 or 1.
 * - `bitop`: the length of the result in bytes (0: the destination was removed).
 * - `bitfield`: an array with one entry per operation: a bigint, or null for a write that
 *   FAIL refused; fails with the too-large text when a field ends past `valueBytesMax`.
 * - `flush`: 'OK'.
 * - `expire-sweep`: the number of expired rows purged.
 * - `sql`: an array of `SqlStatementResult`, one per statement, in order.
 *
 * Errors are Redis-style texts for the key-value commands ('ERR value is not an integer or
 * out of range', 'ERR increment or decrement would overflow', 'ERR string exceeds maximum
 * allowed size') and, for `sql`, "statement N: " followed by SQLite's message or the
 * reason the statement was refused; a failed `sql` command changes nothing.
 *
 * A command carrying a session (see sessions.ts) whose sequence its session already
 * applied is not applied again: for the last sequence its result is the remembered one,
 * with `duplicateOf` the position of the entry that earned it; for an older sequence it is
 * the error 'ERR duplicate request'.
 */
export type ApplyResult =
  | {
      readonly ok: true;
      readonly value: unknown;
      readonly duplicateOf?: LogPosition;
      readonly events?: readonly KeyEvent[];
    }
  | { readonly ok: false; readonly error: string; readonly duplicateOf?: LogPosition }
  | null;

/**
 * The class of a keyspace event, as Redis's `notify-keyspace-events` names it: `g`
 * generic (DEL, EXPIRE, RENAME...), `$` strings, `l` lists, `s` sets, `h` hashes, `z`
 * sorted sets, `x` expired keys.
 */
export type KeyEventClass = 'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x';

/**
 * A keyspace event of an applied command (Redis's notifyKeyspaceEvent): what happened to
 * which key. A store that was asked to (`keyEvents`) lists them, in Redis's order, in the
 * result of the entry that caused them.
 */
export interface KeyEvent {
  readonly kind: KeyEventClass;
  readonly event: string;
  readonly key: Buffer;
}
