/**
 * Client sessions (exactly-once writes, see sessions.ts) for the PostgreSQL store, decided
 * in memory for a whole batch with exactly the rules of sessions.ts.
 *
 * A batch reads, in its first round trip, the rows of the sessions it names and the
 * candidates for purging and eviction: both take the oldest sessions first, in
 * (last_at, id) order, so every purge and eviction takes a prefix of that order, and the
 * first rows of it (as many as the batch's commands could remove) are all a batch can ever
 * need. A command's result may not be known when its session is recorded (a SQL command
 * runs later, on the server): the row then refers to the entry's place in the batch, and
 * the result is packed once the batch has it.
 */
import { Packr } from 'msgpackr';
import { assert } from '../core/assert.js';
import type { Version } from './commands.js';
import type { ApplyResult } from './contract.js';
import {
  duplicateRequestError,
  sessionExpiryPurgeMax,
  sessionIdleMsMax,
  sessionResultBytesMax,
  sessionsMax,
  type Session,
} from './sessions.js';

/** The same settings as sessions.ts: the remembered result reads back the same way. */
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'bigint' });

/** A session's row. `result` is packed, or the batch position of the entry whose result it is. */
export interface SessionRow {
  readonly lastSeq: number;
  readonly lastAt: number;
  readonly result: Uint8Array | { readonly pending: number };
  readonly resultIndex: number;
  readonly resultTerm: number;
}

/** A session's place in the purge and eviction order. */
export interface SessionCandidate {
  readonly id: string;
  readonly lastAt: number;
}

/** What `check` answers: null to apply, a result, or the result of an earlier entry of the batch. */
export type SessionVerdict =
  | null
  | { readonly result: ApplyResult }
  | { readonly pending: number; readonly duplicateOf: Version };

/** The most rows one batch of `commands` session commands may purge or evict. */
export function sessionCandidatesMax(commands: number, sessionCount: number): number {
  return (sessionExpiryPurgeMax + 2) * commands + Math.max(0, sessionCount - sessionsMax);
}

/** Whether a batch of `commands` session commands might evict, given `sessionCount` rows. */
export function mayEvict(commands: number, sessionCount: number): boolean {
  return sessionCount + commands > sessionsMax;
}

/** Packs a result as sessions.ts remembers it (too large a result becomes an error). */
export function packResult(result: ApplyResult): Uint8Array {
  assert(result !== null, 'a session remembers only command results');
  const bytes = packr.pack(result.ok ? { ok: true, value: result.value } : result);
  if (bytes.byteLength <= sessionResultBytesMax) return bytes;
  return packr.pack({
    ok: false,
    error: `${duplicateRequestError}: the original was applied, but its result of ${bytes.byteLength} bytes was too large to remember`,
  });
}

/** A remembered result, as the retry of its command receives it. */
export function rememberedResult(bytes: Uint8Array, duplicateOf: Version): ApplyResult {
  const remembered = packr.unpack(bytes) as
    { ok: true; value: unknown } | { ok: false; error: string };
  return { ...remembered, duplicateOf };
}

function compareAge(a: SessionCandidate, b: SessionCandidate): number {
  return a.lastAt - b.lastAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The sessions of one batch: loaded rows and candidates, changed in memory. */
export class SessionBatch {
  readonly #rows = new Map<string, SessionRow | null>();
  readonly #changed = new Set<string>();
  readonly #candidates: readonly SessionCandidate[];
  readonly #candidatesComplete: boolean;
  readonly #evictionAllowed: boolean;
  #count: number;

  /**
   * `loaded` holds the rows of the sessions the batch names; `candidates` the oldest rows
   * (all of them when `evictionAllowed`, else only those old enough to purge), complete
   * unless the read hit its limit; `count` the number of sessions stored.
   */
  constructor(
    ids: Iterable<string>,
    loaded: ReadonlyMap<string, SessionRow>,
    candidates: readonly SessionCandidate[],
    candidatesComplete: boolean,
    evictionAllowed: boolean,
    count: number,
  ) {
    for (const id of ids) this.#rows.set(id, loaded.get(id) ?? null);
    this.#candidates = candidates;
    this.#candidatesComplete = candidatesComplete;
    this.#evictionAllowed = evictionAllowed;
    this.#count = count;
  }

  /** The number of sessions once the batch is written. */
  get count(): number {
    return this.#count;
  }

  /** Purges expired sessions as of `at`, then answers for a command of `session`; see sessions.ts. */
  check(session: Session, at: number): SessionVerdict {
    this.#removeOldest(sessionExpiryPurgeMax, at - sessionIdleMsMax);
    const row = this.#rows.get(session.id);
    assert(row !== undefined, `the session ${session.id} was not loaded for its batch`);
    if (row === null || session.seq > row.lastSeq) return null;
    if (session.seq < row.lastSeq) return { result: { ok: false, error: duplicateRequestError } };
    const duplicateOf: Version = { index: row.resultIndex, term: row.resultTerm };
    if ('pending' in row.result) return { pending: row.result.pending, duplicateOf };
    return { result: rememberedResult(row.result, duplicateOf) };
  }

  /** Remembers the result of the entry at batch position `pending` for `session`. */
  record(session: Session, at: number, pending: number, position: Version): void {
    const existing = this.#rows.get(session.id);
    assert(existing !== undefined, `the session ${session.id} was not loaded for its batch`);
    if (existing === null) {
      const excess = this.#count - sessionsMax + 1;
      if (excess > 0) {
        assert(this.#evictionAllowed, 'a session eviction the batch did not read candidates for');
        this.#removeOldest(excess, Number.POSITIVE_INFINITY);
      }
      this.#count++;
    }
    this.#rows.set(session.id, {
      lastSeq: session.seq,
      lastAt: at,
      result: { pending },
      resultIndex: position.index,
      resultTerm: position.term,
    });
    this.#changed.add(session.id);
  }

  /**
   * Removes up to `limit` sessions older than `before`, oldest first. Sessions the batch
   * names are judged by their rows in the batch, the others by the candidates read.
   */
  #removeOldest(limit: number, before: number): void {
    const eligible: SessionCandidate[] = [];
    for (const candidate of this.#candidates) {
      if (!this.#rows.has(candidate.id) && candidate.lastAt < before) eligible.push(candidate);
    }
    for (const [id, row] of this.#rows) {
      if (row !== null && row.lastAt < before) eligible.push({ id, lastAt: row.lastAt });
    }
    if (eligible.length === 0) return;
    eligible.sort(compareAge);
    const removed = eligible.slice(0, limit);
    // Rows the read left out come after the last candidate (see the module comment).
    const last = this.#candidates.at(-1);
    assert(
      this.#candidatesComplete ||
        last === undefined ||
        last.lastAt >= before ||
        (removed.length === limit && compareAge(removed.at(-1) as SessionCandidate, last) <= 0),
      'a session purge needed rows beyond the candidates read for its batch',
    );
    for (const { id } of removed) {
      this.#rows.set(id, null);
      this.#changed.add(id);
      this.#count--;
    }
  }

  /**
   * The rows to write back, with pending results packed by `resultOf`, and the ids to delete.
   */
  writes(resultOf: (pending: number) => Uint8Array): {
    upserts: [string, SessionRow & { readonly result: Uint8Array }][];
    deletes: string[];
  } {
    const upserts: [string, SessionRow & { readonly result: Uint8Array }][] = [];
    const deletes: string[] = [];
    for (const id of this.#changed) {
      const row = this.#rows.get(id);
      if (row === undefined || row === null) {
        deletes.push(id);
        continue;
      }
      const result = 'pending' in row.result ? resultOf(row.result.pending) : row.result;
      upserts.push([id, { ...row, result }]);
    }
    return { upserts, deletes };
  }
}
