/**
 * Exactly-once writes across retries. A client names each write with a session id and an
 * increasing sequence number; the state machine remembers, per session, the last sequence
 * it applied and that write's result, in `_tandem_sessions`, inside the same transaction
 * as the data. A command whose sequence is at or below the remembered one is not applied
 * again: the same sequence gets the remembered result (the retry of a write whose answer
 * was lost), an older one gets `ERR duplicate request`.
 *
 * Everything here is decided by the log alone (the command's `at`, the entries' order), so
 * every replica keeps the same sessions, evicts the same ones and answers the same way.
 * The table is bounded: a session idle for `sessionIdleMsMax` (by the commands' `at`) is
 * forgotten, and past `sessionsMax` sessions the least recently used one goes first. A
 * retry that arrives after its session was forgotten is applied again: the bound is the
 * price of a bounded table, and one hour is far beyond any client's retry window.
 *
 * A session allows one write in flight at a time: two concurrent writes of one session
 * may enter the log in either order, and the later sequence would make the earlier one a
 * "duplicate". A client that writes concurrently uses one session per concurrent write.
 */
import type Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { Version } from './commands.js';
import type { ApplyResult } from './contract.js';

/** The most sessions remembered; past it the least recently used session is evicted. */
export const sessionsMax = 10_000;
/** A session unused for this long (by the commands' `at`, in ms) is forgotten. */
export const sessionIdleMsMax = 60 * 60 * 1000;
/** The longest session id, in UTF-8 bytes. */
export const sessionIdBytesMax = 128;
/** The most expired sessions one command purges, so that no purge makes a long transaction. */
export const sessionExpiryPurgeMax = 100;
/** The largest result remembered; a larger one is remembered as an error saying so. */
export const sessionResultBytesMax = 256 * 1024;
/** The error of a command whose sequence is below its session's last one. */
export const duplicateRequestError = 'ERR duplicate request';

/** A write's place in its client's session. */
export interface Session {
  /** The client's session id: 1 to `sessionIdBytesMax` bytes of `[A-Za-z0-9_.:-]`. */
  readonly id: string;
  /** The write's sequence number in the session: a positive safe integer, increasing. */
  readonly seq: number;
}

/** What a session id may contain: it travels in HTTP headers and log entries. */
export const sessionIdPattern = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The schema of the sessions table; `last_at` is the `at` of the session's last command. */
export const sessionsSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    result BLOB NOT NULL,
    result_index INTEGER NOT NULL,
    result_term INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS _tandem_sessions_age ON _tandem_sessions (last_at, id);
`;

/** Describes what is wrong with `value` as a session, or returns null. */
export function sessionProblem(value: unknown): string | null {
  const fine =
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 2 &&
    typeof (value as Session).id === 'string' &&
    sessionIdPattern.test((value as Session).id) &&
    Number.isSafeInteger((value as Session).seq) &&
    (value as Session).seq > 0;
  return fine ? null : 'session must be { id, seq } with id of 1-128 [A-Za-z0-9_.:-] and seq > 0';
}

/**
 * The same settings as the command codec: plain maps, and 64-bit integers read back as the
 * bigints they were (a SQL result's integers past 2^53), so a retry gets the exact answer.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'bigint' });

interface SessionRow {
  readonly last_seq: number;
  readonly result: Buffer;
  readonly result_index: number;
  readonly result_term: number;
}

/** The sessions table of one connection. Every call runs inside the batch transaction. */
export class SessionTable {
  readonly #purgeExpired: Database.Statement<[number, number]>;
  readonly #find: Database.Statement<[string], SessionRow>;
  readonly #count: Database.Statement<[], { count: number }>;
  readonly #evictOldest: Database.Statement<[number]>;
  readonly #upsert: Database.Statement<[string, number, number, Buffer, number, number]>;

  constructor(db: Database.Database) {
    this.#purgeExpired = db.prepare(
      `DELETE FROM _tandem_sessions WHERE id IN (SELECT id FROM _tandem_sessions
         WHERE last_at < ? ORDER BY last_at, id LIMIT ?)`,
    );
    this.#find = db.prepare(
      'SELECT last_seq, result, result_index, result_term FROM _tandem_sessions WHERE id = ?',
    );
    this.#count = db.prepare('SELECT count(*) AS count FROM _tandem_sessions');
    this.#evictOldest = db.prepare(
      `DELETE FROM _tandem_sessions WHERE id IN (SELECT id FROM _tandem_sessions
         ORDER BY last_at, id LIMIT ?)`,
    );
    this.#upsert = db.prepare(
      `INSERT INTO _tandem_sessions (id, last_seq, last_at, result, result_index, result_term)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq, last_at = excluded.last_at,
           result = excluded.result, result_index = excluded.result_index,
           result_term = excluded.result_term`,
    );
  }

  /**
   * Purges expired sessions as of `at`, then answers for a command of `session`: the
   * remembered result (with the position of the entry that earned it) when its sequence is
   * the last one, `ERR duplicate request` when it is older, and null when it is new and
   * must be applied.
   */
  check(session: Session, at: number): ApplyResult | null {
    this.#purgeExpired.run(at - sessionIdleMsMax, sessionExpiryPurgeMax);
    const row = this.#find.get(session.id);
    if (row === undefined || session.seq > row.last_seq) return null;
    if (session.seq < row.last_seq) return { ok: false, error: duplicateRequestError };
    const duplicateOf: Version = { index: row.result_index, term: row.result_term };
    const remembered = packr.unpack(row.result) as
      { ok: true; value: unknown } | { ok: false; error: string };
    return { ...remembered, duplicateOf };
  }

  /**
   * Remembers `result` as the answer to `session`'s last command, applied at `position`.
   * A new session beyond `sessionsMax` evicts the least recently used ones first.
   */
  record(session: Session, at: number, result: ApplyResult, position: Version): void {
    if (result === null) return;
    if (this.#find.get(session.id) === undefined) {
      const excess = this.#count.get()!.count - sessionsMax + 1;
      if (excess > 0) this.#evictOldest.run(excess);
    }
    let bytes = packr.pack(result.ok ? { ok: true, value: result.value } : result);
    if (bytes.byteLength > sessionResultBytesMax) {
      bytes = packr.pack({
        ok: false,
        error: `${duplicateRequestError}: the original was applied, but its result of ${bytes.byteLength} bytes was too large to remember`,
      });
    }
    this.#upsert.run(session.id, session.seq, at, bytes, position.index, position.term);
  }
}
