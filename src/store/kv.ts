/**
 * The key-value namespace in SQLite: Redis-style strings and counters with optional expiry,
 * each key carrying the version (log index and term) of its last write.
 *
 * Expiry has two clocks. A write decides with the command's `at` (the leader's clock,
 * carried in the entry), so that every replica agrees whether a key was alive; a read
 * decides with the reader's clock, so that an expired key reads as absent at once even
 * before a sweep purges its row.
 */
import type Database from 'better-sqlite3';
import { TandemError } from '../core/errors.js';
import type { Bytes, Command, ExpireCondition, SqlCommand, Version } from './commands.js';
import { valueBytesMax } from './commands.js';
import type { ApplyResult } from './contract.js';
import {
  asBuffer,
  compileGlob,
  failed,
  keysResultMax,
  notAnInteger,
  ok,
  overflow,
  parseInteger,
  scanCount,
  setHolds,
  tooLarge,
  versionHolds,
} from './kv-rules.js';

/** The most rows one expire-sweep purges, so that a sweep never makes a long transaction. */
export const sweepKeysMax = 1000;
export { keysResultMax, scanCountDefault, scanCountMax } from './kv-rules.js';

/**
 * The schema of the key-value table; `expires_at` is absolute ms, null for no expiry. Keys
 * and values are BLOBs: any bytes, compared bytewise (the order KEYS returns).
 */
export const kvSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_kv (
    key BLOB PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    version_index INTEGER NOT NULL,
    version_term INTEGER NOT NULL,
    expires_at INTEGER
  ) STRICT;
  CREATE INDEX IF NOT EXISTS _tandem_kv_expiry ON _tandem_kv (expires_at, key)
    WHERE expires_at IS NOT NULL;
`;

/**
 * Brings a key-value table of an older database, whose keys and values were TEXT, to the
 * BLOB schema, in the caller's transaction: every row keeps its rowid (its SCAN place) and
 * becomes its text's UTF-8 bytes, which order as the text did. A no-op on a current table.
 * Run before `kvSchema`, which then finds the table and creates its index.
 */
export function upgradeKvTable(db: Database.Database): void {
  const column = db
    .prepare("SELECT type FROM pragma_table_info('_tandem_kv') WHERE name = 'value'")
    .get() as { type: string } | undefined;
  if (column === undefined || column.type.toUpperCase() !== 'TEXT') return;
  db.exec(`
    DROP INDEX IF EXISTS _tandem_kv_expiry;
    ALTER TABLE _tandem_kv RENAME TO _tandem_kv_text;
    ${kvSchema}
    INSERT INTO _tandem_kv (rowid, key, value, version_index, version_term, expires_at)
      SELECT rowid, CAST(key AS BLOB), CAST(value AS BLOB), version_index, version_term,
        expires_at FROM _tandem_kv_text ORDER BY rowid;
    DROP TABLE _tandem_kv_text;
  `);
}

/** The key-value commands (everything but SQL). */
export type KvCommand = Exclude<Command, SqlCommand>;

/** A live key as a read sees it. */
export interface KvEntry {
  readonly value: Buffer;
  readonly version: Version;
  /** Absolute ms, or null when the key does not expire. */
  readonly expiresAt: number | null;
}

/** One page of a SCAN: `cursor` 0 means the scan is complete. */
export interface ScanPage {
  readonly cursor: number;
  readonly keys: Buffer[];
}

interface Row {
  readonly value: Buffer;
  readonly version_index: number;
  readonly version_term: number;
  readonly expires_at: number | null;
}

/** Whether `bytes` begins with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return (
    bytes.byteLength >= prefix.byteLength &&
    asBuffer(bytes).compare(prefix, 0, prefix.byteLength, 0, prefix.byteLength) === 0
  );
}

function isLive<T extends { readonly expires_at: number | null }>(
  row: T | undefined,
  nowMs: number,
): row is T {
  return row !== undefined && (row.expires_at === null || row.expires_at > nowMs);
}

/**
 * Whether EXPIRE's `condition` lets a key whose expiry is `currentMs` (null: none) take
 * `nextMs`, as Redis 7 decides it: a key without expiry lives forever, so GT never holds
 * on it and LT always does. Both stores call this, so that they agree by construction.
 */
export function expireConditionHolds(
  condition: ExpireCondition | undefined,
  currentMs: number | null,
  nextMs: number,
): boolean {
  switch (condition) {
    case undefined:
      return true;
    case 'nx':
      return currentMs === null;
    case 'xx':
      return currentMs !== null;
    case 'gt':
      return currentMs !== null && nextMs > currentMs;
    case 'lt':
      return currentMs === null || nextMs < currentMs;
    case 'xx-lt':
      return currentMs !== null && nextMs < currentMs;
  }
}

/** The key-value table of one open database: its prepared statements, writes and reads. */
export class KvTable {
  readonly #select: Database.Statement<[Bytes], Row>;
  readonly #upsert: Database.Statement<[Bytes, Bytes, number, number, number | null]>;
  readonly #delete: Database.Statement<[Bytes], { expires_at: number | null }>;
  readonly #setExpiry: Database.Statement<[number | null, number, number, Bytes]>;
  readonly #deleteAll: Database.Statement<[]>;
  readonly #sweep: Database.Statement<[number, number]>;
  readonly #count: Database.Statement<[number], { count: number }>;
  readonly #from: Database.Statement<[Bytes], { key: Buffer; expires_at: number | null }>;
  readonly #page: Database.Statement<
    [number, number],
    { rowid: number; key: Buffer; expires_at: number | null }
  >;

  constructor(db: Database.Database) {
    this.#select = db.prepare(
      'SELECT value, version_index, version_term, expires_at FROM _tandem_kv WHERE key = ?',
    );
    this.#upsert = db.prepare(
      `INSERT INTO _tandem_kv (key, value, version_index, version_term, expires_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value,
         version_index = excluded.version_index, version_term = excluded.version_term,
         expires_at = excluded.expires_at`,
    );
    this.#delete = db.prepare('DELETE FROM _tandem_kv WHERE key = ? RETURNING expires_at');
    this.#setExpiry = db.prepare(
      'UPDATE _tandem_kv SET expires_at = ?, version_index = ?, version_term = ? WHERE key = ?',
    );
    this.#deleteAll = db.prepare('DELETE FROM _tandem_kv');
    // Oldest expiry first, then key: the same rows go on every replica whatever the limit.
    this.#sweep = db.prepare(
      `DELETE FROM _tandem_kv WHERE key IN (SELECT key FROM _tandem_kv
         WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, key LIMIT ?)`,
    );
    this.#count = db.prepare(
      'SELECT count(*) AS count FROM _tandem_kv WHERE expires_at IS NULL OR expires_at > ?',
    );
    this.#from = db.prepare('SELECT key, expires_at FROM _tandem_kv WHERE key >= ? ORDER BY key');
    this.#page = db.prepare(
      'SELECT rowid, key, expires_at FROM _tandem_kv WHERE rowid > ? ORDER BY rowid LIMIT ?',
    );
  }

  /** Applies a key-value command written by the entry at `version`. */
  execute(command: KvCommand, version: Version): ApplyResult {
    switch (command.type) {
      case 'set':
        return this.#set(command, version);
      case 'mset':
        for (const [key, value] of command.pairs) {
          this.#upsert.run(key, value, version.index, version.term, null);
        }
        return ok('OK');
      case 'del':
        return this.#del(command);
      case 'incrby':
        return this.#incrby(command.key, command.by, command.at, version);
      case 'append':
        return this.#append(command.key, command.value, command.at, version);
      case 'expire':
        return this.#expire(command, version);
      case 'flush':
        this.#deleteAll.run();
        return ok('OK');
      case 'expire-sweep':
        return ok(this.#sweep.run(command.at, sweepKeysMax).changes);
    }
  }

  #set(command: Extract<KvCommand, { type: 'set' }>, version: Version): ApplyResult {
    const { key, value, at, condition, ifVersion, returnOld, keepTtl } = command;
    // The common SET reads nothing: one upsert.
    const needsOld =
      condition !== undefined || ifVersion !== undefined || returnOld === true || keepTtl === true;
    const old = needsOld ? this.#select.get(key) : undefined;
    const live = isLive(old, at) ? old : undefined;
    // A kept expiry is one of a live key, so it is still ahead of `at`.
    const expiresAt = keepTtl === true ? (live?.expires_at ?? null) : (command.expiresAt ?? null);
    const holds = setHolds(
      command,
      live === undefined ? null : { index: live.version_index, term: live.version_term },
    );
    if (holds) {
      // Like Redis SET PXAT with a time already past, the key is written and gone at once.
      if (expiresAt !== null && expiresAt <= at) this.#delete.get(key);
      else this.#upsert.run(key, value, version.index, version.term, expiresAt);
    }
    if (returnOld === true) return ok(live?.value ?? null);
    return ok(holds ? 'OK' : null);
  }

  #del(command: Extract<KvCommand, { type: 'del' }>): ApplyResult {
    const { keys, at, ifVersion } = command;
    if (ifVersion !== undefined) {
      // Compare-and-delete names one key (the codec checks it), and leaves it alone unless
      // it is live at exactly that version now.
      const row = this.#select.get(keys[0] as Bytes);
      const live = isLive(row, at) ? { index: row.version_index, term: row.version_term } : null;
      if (!versionHolds(ifVersion, live)) return ok(0);
    }
    let removed = 0;
    for (const key of keys) {
      // The row goes even when it had expired: a DEL is as good a time as any to purge.
      if (isLive(this.#delete.get(key), at)) removed++;
    }
    return ok(removed);
  }

  #incrby(key: Bytes, by: number, at: number, version: Version): ApplyResult {
    const row = this.#select.get(key);
    const live = isLive(row, at) ? row : undefined;
    const current = live === undefined ? 0 : parseInteger(live.value);
    if (current === null) return failed(notAnInteger);
    const next = current + by;
    if (!Number.isSafeInteger(next)) return failed(overflow);
    const value = Buffer.from(String(next), 'latin1');
    this.#upsert.run(key, value, version.index, version.term, live?.expires_at ?? null);
    return ok(next);
  }

  #append(key: Bytes, suffix: Bytes, at: number, version: Version): ApplyResult {
    const row = this.#select.get(key);
    const live = isLive(row, at) ? row : undefined;
    const bytes = (live?.value.byteLength ?? 0) + suffix.byteLength;
    if (bytes > valueBytesMax) return failed(tooLarge);
    const value = live === undefined ? suffix : Buffer.concat([live.value, suffix]);
    this.#upsert.run(key, value, version.index, version.term, live?.expires_at ?? null);
    return ok(bytes);
  }

  #expire(command: Extract<KvCommand, { type: 'expire' }>, version: Version): ApplyResult {
    const { key, expiresAt, at, condition } = command;
    const row = this.#select.get(key);
    if (!isLive(row, at)) {
      if (row !== undefined) this.#delete.get(key);
      return ok(0);
    }
    if (expiresAt === null && row.expires_at === null) return ok(0);
    if (expiresAt !== null && !expireConditionHolds(condition, row.expires_at, expiresAt)) {
      return ok(0);
    }
    if (expiresAt !== null && expiresAt <= at) this.#delete.get(key);
    else this.#setExpiry.run(expiresAt, version.index, version.term, key);
    return ok(1);
  }

  /** The live value of `key` at `nowMs`, or null when it is absent or expired. */
  get(key: Bytes, nowMs: number): KvEntry | null {
    const row = this.#select.get(key);
    if (!isLive(row, nowMs)) return null;
    return {
      value: row.value,
      version: { index: row.version_index, term: row.version_term },
      expiresAt: row.expires_at,
    };
  }

  /** How many of `keys` are live at `nowMs`, counting repeats, as Redis EXISTS does. */
  exists(keys: readonly Bytes[], nowMs: number): number {
    return keys.filter((key) => isLive(this.#select.get(key), nowMs)).length;
  }

  /** Milliseconds `key` has to live; -1 when it does not expire, -2 when it is absent. */
  ttlMs(key: Bytes, nowMs: number): number {
    const row = this.#select.get(key);
    if (!isLive(row, nowMs)) return -2;
    return row.expires_at === null ? -1 : row.expires_at - nowMs;
  }

  /** 'string' for a live key, 'none' otherwise (the only type this namespace holds). */
  type(key: Bytes, nowMs: number): 'string' | 'none' {
    return isLive(this.#select.get(key), nowMs) ? 'string' : 'none';
  }

  /** The number of live keys at `nowMs`. */
  dbsize(nowMs: number): number {
    return (this.#count.get(nowMs) as { count: number }).count;
  }

  /**
   * The live keys matching a Redis glob `pattern`, in byte order. Seeks to the pattern's
   * literal prefix instead of scanning every key. Throws TANDEM_BAD_REQUEST past
   * `keysResultMax` matches.
   */
  keys(pattern: Bytes, nowMs: number): Buffer[] {
    const glob = compileGlob(pattern);
    const prefix = glob.prefix;
    const found: Buffer[] = [];
    for (const row of this.#from.iterate(prefix)) {
      if (!startsWith(row.key, prefix)) break;
      if (!isLive(row, nowMs) || !glob.matches(row.key)) continue;
      if (found.length === keysResultMax) {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          `KEYS matches more than ${keysResultMax} keys; use SCAN to walk them in pages`,
        );
      }
      found.push(row.key);
    }
    return found;
  }

  /**
   * One page of SCAN from `cursor` (0 to start). Examines up to `count` rows and returns the
   * live ones that match; like Redis, a page may be empty before the end. A key present
   * for the whole scan is returned exactly once: its row keeps its place (rowid) when it is
   * overwritten.
   */
  scan(cursor: number, options: { match?: Bytes; count?: number }, nowMs: number): ScanPage {
    const count = scanCount(cursor, options);
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const rows = this.#page.all(cursor, count);
    const keys = rows
      .filter((row) => isLive(row, nowMs) && (glob === null || glob.matches(row.key)))
      .map((row) => row.key);
    const next = rows.length < count ? 0 : (rows.at(-1) as { rowid: number }).rowid;
    return { cursor: next, keys };
  }
}
