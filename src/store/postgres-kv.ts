/**
 * The key-value namespace of the PostgreSQL store, applied in memory for a whole batch.
 *
 * A batch reads, in one round trip, every row its commands name (and the candidates an
 * expire-sweep could purge); the commands then run here on those rows, and the final state of every touched key goes back to PostgreSQL in
 * a few set-based statements; what each command does is kv-commands.ts, shared with the
 * SQLite store's namespace. Commands of one batch see each other's writes. SQL commands cannot reach these rows (sql-check refuses the tandem schema),
 * so deferring the writes past them changes nothing they could observe.
 *
 * Keys and values are bytes, stored as bytea: byte order is SQLite's order for BLOBs.
 * In memory a key is identified by its `keyId`, a string of one character per byte.
 */
import { assert } from '../core/assert.js';
import type { Bytes, Version } from './commands.js';
import { KeyValueCommands, keyString, type KeyState, type KvCommand } from './kv-commands.js';

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

/**
 * A key's bytes as a string with one character (code 0 to 255) per byte, to key a Map:
 * such strings compare as the bytes do. The namespace's own `keyString`.
 */
export const keyId: (key: Bytes) => string = keyString;

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
    case 'getdel':
    case 'getex':
    case 'setrange':
    case 'incrbyfloat':
    case 'setbit':
    case 'bitfield':
      return [keyId(command.key)];
    case 'rename':
    case 'copy':
      return [keyId(command.key), keyId(command.destination)];
    case 'bitop':
      return [command.destination, ...command.keys].map(keyId);
    case 'mset':
    case 'msetnx':
      return command.pairs.map(([key]) => keyId(key));
    case 'del':
      return command.keys.map(keyId);
    case 'flush':
    case 'expire-sweep':
    case 'publish':
      return [];
    case 'multi':
      return [
        ...command.watched.map(({ key }) => keyId(key)),
        ...command.steps.flatMap((step) =>
          step.type === 'read' ? step.keys.map(keyId) : commandKeys(step),
        ),
      ];
  }
}

/** The key-value state of one batch: loaded rows, changed in memory by the shared commands. */
export class KvBatch extends KeyValueCommands {
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
    super();
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

  protected read(key: string): KeyState | undefined {
    const row = this.#row(key);
    if (row === null) return undefined;
    return {
      value: row.value.toString('latin1'),
      index: row.versionIndex,
      term: row.versionTerm,
      expiresAt: row.expiresAt,
    };
  }

  protected write(key: string, value: string, version: Version, expiresAt: number | null): void {
    this.#put(key, Buffer.from(value, 'latin1'), version, expiresAt);
  }

  protected remove(key: string): void {
    if (this.#row(key) !== null) this.#delete(key);
  }

  protected removeAll(): void {
    this.#flush();
  }

  #flush(): void {
    this.#flushed = true;
    for (const key of this.#rows.keys()) this.#rows.set(key, null);
    // After the emptying, only rows written later in the batch remain to be written.
    this.#changed.clear();
  }

  /**
   * Purges up to `limit` rows expired at `at`, oldest expiry first, then key, from
   * the batch's view: loaded rows as changed, and the database's candidates for the rest.
   * Every sweep takes a prefix of that order, so the candidates read (the first rows of
   * the order, as many as the batch's sweeps and touched keys could need) always hold the
   * rows chosen; the assertion checks that a limited read never ran dry.
   */
  protected sweep(at: number, limit: number): number {
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
    const purged = eligible.slice(0, limit);
    // Rows the read left out come after the last candidate: they cannot matter when that
    // candidate is not yet expired, or when the purge is full before reaching it.
    const last = this.#candidates.at(-1);
    assert(
      this.#flushed ||
        this.#candidatesComplete ||
        last === undefined ||
        last.expiresAt > at ||
        (purged.length === limit && compareExpiry(purged.at(-1) as SweepCandidate, last) <= 0),
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
