/**
 * The key-value namespace of the PostgreSQL store, applied in memory for a whole batch.
 *
 * A batch reads, in one round trip, every row its commands name (and the candidates an
 * expire-sweep could purge); the commands then run here on those rows with exactly the
 * semantics of kv.ts, and the final state of every touched key goes back to PostgreSQL in
 * a few set-based statements. Commands of one batch see each other's writes, as they would
 * in SQLite. SQL commands cannot reach these rows (sql-check refuses the tandem schema),
 * so deferring the writes past them changes nothing they could observe.
 *
 * Keys and values are bytes, stored as bytea: byte order is SQLite's order for BLOBs.
 * In memory a key is identified by its `keyId`, a string of one character per byte.
 */
import { assert } from '../core/assert.js';
import type { Bytes, Version } from './commands.js';
import { valueBytesMax } from './commands.js';
import type { ApplyResult } from './contract.js';
import { expireConditionHolds, sweepKeysMax, type KvCommand } from './kv.js';
import {
  asBuffer,
  failed,
  notAnInteger,
  ok,
  overflow,
  parseInteger,
  setHolds,
  tooLarge,
  versionHolds,
} from './kv-rules.js';

/** A key's row as the batch sees it. `seq` is the row's place in SCAN order. */
export interface KvRow {
  readonly value: Buffer;
  readonly versionIndex: number;
  readonly versionTerm: number;
  /** Absolute ms, or null when the key does not expire. */
  readonly expiresAt: number | null;
  readonly seq: number;
}

/** A row an expire-sweep may purge: read in (expires_at, key) order. `key` is its `keyId`. */
export interface SweepCandidate {
  readonly key: string;
  readonly expiresAt: number;
}

/** What the batch leaves to write: an optional emptying first, then the touched keys (by `keyId`). */
export interface KvWrites {
  readonly flushed: boolean;
  readonly upserts: readonly (readonly [string, KvRow])[];
  readonly deletes: readonly string[];
}

function isLive(row: KvRow | null, nowMs: number): row is KvRow {
  return row !== null && (row.expiresAt === null || row.expiresAt > nowMs);
}

/**
 * A key's bytes as a string with one character (code 0 to 255) per byte, to key a Map:
 * such strings compare as the bytes do.
 */
export function keyId(key: Bytes): string {
  return asBuffer(key).toString('latin1');
}

/** The bytes of a `keyId`. */
export function keyBytes(id: string): Buffer {
  return Buffer.from(id, 'latin1');
}

/** Compares key ids by their bytes, as PostgreSQL orders bytea and SQLite orders BLOBs. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The expire-sweep order: oldest expiry first, then key. */
function compareExpiry(a: SweepCandidate, b: SweepCandidate): number {
  return a.expiresAt - b.expiresAt || compareKeys(a.key, b.key);
}

/** The ids (`keyId`) of every key a key-value command names. */
export function commandKeys(command: KvCommand): string[] {
  switch (command.type) {
    case 'set':
    case 'incrby':
    case 'append':
    case 'expire':
      return [keyId(command.key)];
    case 'mset':
      return command.pairs.map(([key]) => keyId(key));
    case 'del':
      return command.keys.map(keyId);
    case 'flush':
    case 'expire-sweep':
      return [];
  }
}

/** The key-value state of one batch: loaded rows, changed in memory. */
export class KvBatch {
  /** Loaded and changed rows; null for a key known to be absent. */
  readonly #rows = new Map<string, KvRow | null>();
  readonly #changed = new Set<string>();
  readonly #candidates: readonly SweepCandidate[];
  readonly #candidatesComplete: boolean;
  #flushed = false;
  #nextSeq: number;

  /**
   * `loaded` holds the rows of every key the batch names (absent keys simply missing);
   * `candidates` the first rows in sweep order that a sweep of the batch could purge,
   * complete unless the read hit its limit.
   */
  constructor(
    keys: Iterable<string>,
    loaded: ReadonlyMap<string, KvRow>,
    seqMax: number,
    candidates: readonly SweepCandidate[],
    candidatesComplete: boolean,
  ) {
    for (const key of keys) this.#rows.set(key, loaded.get(key) ?? null);
    this.#nextSeq = seqMax + 1;
    this.#candidates = candidates;
    this.#candidatesComplete = candidatesComplete;
  }

  #row(key: string): KvRow | null {
    const row = this.#rows.get(key);
    if (row !== undefined) return row;
    assert(
      this.#flushed,
      `the key ${keyBytes(key).toString('hex')} (hex) was not loaded for its batch`,
    );
    return null;
  }

  /** Writes a key; an existing row (even expired) keeps its SCAN place, as a SQLite rowid does. */
  #put(key: string, value: Buffer, version: Version, expiresAt: number | null): void {
    const seq = this.#row(key)?.seq ?? this.#nextSeq++;
    this.#rows.set(key, {
      value,
      versionIndex: version.index,
      versionTerm: version.term,
      expiresAt,
      seq,
    });
    this.#changed.add(key);
  }

  #delete(key: string): void {
    this.#rows.set(key, null);
    this.#changed.add(key);
  }

  /** Applies a key-value command written by the entry at `version`; see kv.ts. */
  execute(command: KvCommand, version: Version): ApplyResult {
    switch (command.type) {
      case 'set':
        return this.#set(command, version);
      case 'mset':
        for (const [key, value] of command.pairs) {
          this.#put(keyId(key), asBuffer(value), version, null);
        }
        return ok('OK');
      case 'del':
        return this.#del(command);
      case 'incrby':
        return this.#incrby(keyId(command.key), command.by, command.at, version);
      case 'append':
        return this.#append(keyId(command.key), asBuffer(command.value), command.at, version);
      case 'expire':
        return this.#expire(command, version);
      case 'flush':
        this.#flush();
        return ok('OK');
      case 'expire-sweep':
        return ok(this.#sweep(command.at));
    }
  }

  #set(command: Extract<KvCommand, { type: 'set' }>, version: Version): ApplyResult {
    const { at, returnOld, keepTtl } = command;
    const key = keyId(command.key);
    const old = this.#row(key);
    const live = isLive(old, at) ? old : null;
    // A kept expiry is one of a live key, so it is still ahead of `at`.
    const expiresAt = keepTtl === true ? (live?.expiresAt ?? null) : (command.expiresAt ?? null);
    const holds = setHolds(
      command,
      live === null ? null : { index: live.versionIndex, term: live.versionTerm },
    );
    if (holds) {
      if (expiresAt !== null && expiresAt <= at) {
        if (old !== null) this.#delete(key);
      } else this.#put(key, asBuffer(command.value), version, expiresAt);
    }
    if (returnOld === true) return ok(live?.value ?? null);
    return ok(holds ? 'OK' : null);
  }

  #del(command: Extract<KvCommand, { type: 'del' }>): ApplyResult {
    const { keys, at, ifVersion } = command;
    if (ifVersion !== undefined) {
      // As in kv.ts: one key, left alone unless it is live at exactly that version now.
      const row = this.#row(keyId(keys[0] as Bytes));
      const live = isLive(row, at) ? { index: row.versionIndex, term: row.versionTerm } : null;
      if (!versionHolds(ifVersion, live)) return ok(0);
    }
    let removed = 0;
    for (const key of keys.map(keyId)) {
      const row = this.#row(key);
      if (isLive(row, at)) removed++;
      if (row !== null) this.#delete(key);
    }
    return ok(removed);
  }

  #incrby(key: string, by: number, at: number, version: Version): ApplyResult {
    const row = this.#row(key);
    const live = isLive(row, at) ? row : null;
    const current = live === null ? 0 : parseInteger(live.value);
    if (current === null) return failed(notAnInteger);
    const next = current + by;
    if (!Number.isSafeInteger(next)) return failed(overflow);
    this.#put(key, Buffer.from(String(next), 'latin1'), version, live?.expiresAt ?? null);
    return ok(next);
  }

  #append(key: string, suffix: Buffer, at: number, version: Version): ApplyResult {
    const row = this.#row(key);
    const live = isLive(row, at) ? row : null;
    const bytes = (live?.value.byteLength ?? 0) + suffix.byteLength;
    if (bytes > valueBytesMax) return failed(tooLarge);
    const value = live === null ? suffix : Buffer.concat([live.value, suffix]);
    this.#put(key, value, version, live?.expiresAt ?? null);
    return ok(bytes);
  }

  #expire(command: Extract<KvCommand, { type: 'expire' }>, version: Version): ApplyResult {
    const { expiresAt, at, condition } = command;
    const key = keyId(command.key);
    const row = this.#row(key);
    if (!isLive(row, at)) {
      if (row !== null) this.#delete(key);
      return ok(0);
    }
    if (expiresAt === null && row.expiresAt === null) return ok(0);
    if (expiresAt !== null && !expireConditionHolds(condition, row.expiresAt, expiresAt)) {
      return ok(0);
    }
    if (expiresAt !== null && expiresAt <= at) this.#delete(key);
    else {
      this.#rows.set(key, {
        ...row,
        expiresAt,
        versionIndex: version.index,
        versionTerm: version.term,
      });
      this.#changed.add(key);
    }
    return ok(1);
  }

  #flush(): void {
    this.#flushed = true;
    for (const key of this.#rows.keys()) this.#rows.set(key, null);
    // After the emptying, only rows written later in the batch remain to be written.
    this.#changed.clear();
  }

  /**
   * Purges up to `sweepKeysMax` rows expired at `at`, oldest expiry first, then key, from
   * the batch's view: loaded rows as changed, and the database's candidates for the rest.
   * Every sweep takes a prefix of that order, so the candidates read (the first rows of
   * the order, as many as the batch's sweeps and touched keys could need) always hold the
   * rows chosen; the assertion checks that a limited read never ran dry.
   */
  #sweep(at: number): number {
    const eligible: SweepCandidate[] = [];
    if (!this.#flushed) {
      for (const candidate of this.#candidates) {
        if (!this.#rows.has(candidate.key) && candidate.expiresAt <= at) eligible.push(candidate);
      }
    }
    for (const [key, row] of this.#rows) {
      if (row !== null && row.expiresAt !== null && row.expiresAt <= at) {
        eligible.push({ key, expiresAt: row.expiresAt });
      }
    }
    eligible.sort(compareExpiry);
    const purged = eligible.slice(0, sweepKeysMax);
    // Rows the read left out come after the last candidate: they cannot matter when that
    // candidate is not yet expired, or when the purge is full before reaching it.
    const last = this.#candidates.at(-1);
    assert(
      this.#flushed ||
        this.#candidatesComplete ||
        last === undefined ||
        last.expiresAt > at ||
        (purged.length === sweepKeysMax &&
          compareExpiry(purged.at(-1) as SweepCandidate, last) <= 0),
      'an expire-sweep needed rows beyond the candidates read for its batch',
    );
    for (const { key } of purged) this.#delete(key);
    return purged.length;
  }

  /** What to write back: the emptying (if a flush ran) and the final state of touched keys. */
  writes(): KvWrites {
    const upserts: [string, KvRow][] = [];
    const deletes: string[] = [];
    for (const key of this.#changed) {
      const row = this.#rows.get(key);
      if (row === undefined || row === null) deletes.push(key);
      else upserts.push([key, row]);
    }
    return { flushed: this.#flushed, upserts, deletes };
  }
}
