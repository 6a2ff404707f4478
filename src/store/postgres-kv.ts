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
import { databaseCount, databaseOfText, inDatabaseText } from './databases.js';
import { KeyValueCommands, keyString, type KeyState, type KvCommand } from './kv-commands.js';
import { ScoreList, selectRange, type ZsetSelection } from './sorted-set.js';
import { viewOf, type Item, type Keyspace } from './keyspace.js';
import {
  Deque,
  type HashEncoding,
  type HashField,
  type SetEncoding,
  type StoredValue,
  type ZsetEncoding,
  type ZsetMember,
} from './values.js';

/**
 * A hash key's row of `tandem.hashes`: its encoding, field count and the sequence number
 * its next new field gets. A key is a hash exactly when it has one; its `tandem.kv` row
 * (with an empty value) carries the version and expiry, as any key's.
 */
export interface HashMeta {
  readonly type: 'hash';
  readonly encoding: HashEncoding;
  readonly length: number;
  readonly nextSeq: number;
}

/**
 * A set key's row of `tandem.sets`: its encoding, member count and the sequence number
 * its next new member gets. A key is a set exactly when it has one; its `tandem.kv` row
 * (with an empty value) carries the version and expiry, as any key's.
 */
export interface SetMeta {
  readonly type: 'set';
  readonly encoding: SetEncoding;
  readonly length: number;
  readonly nextSeq: number;
}

/**
 * A sorted set key's row of `tandem.zsets`: its encoding, member count and the sequence
 * number its next new member gets. A key is a sorted set exactly when it has one; its
 * `tandem.kv` row (with an empty value) carries the version and expiry, as any key's.
 */
export interface ZsetMeta {
  readonly type: 'zset';
  readonly encoding: ZsetEncoding;
  readonly length: number;
  readonly nextSeq: number;
}

/**
 * A member's row of `tandem.zset_members`: its score and its sequence number, given when
 * it is added and kept while it stays (ZSCAN's cursor, as in the in-memory namespace).
 */
export interface ScoredRow {
  readonly score: number;
  readonly seq: number;
}

/** The members of one sorted set a command reads: those named, or all of them. */
export interface ScoredNeeds {
  readonly key: string;
  readonly members: readonly string[] | 'all';
}

/** What the batch leaves to write of sorted sets, after the key rows (by `keyId`). */
export interface ZsetWrites {
  /** Keys whose stored members and sorted set row all go first (removed, overwritten, recreated). */
  readonly cleared: readonly string[];
  readonly upserts: readonly (readonly [string, ZsetMeta])[];
  readonly memberDeletes: readonly (readonly [string, string])[];
  readonly memberUpserts: readonly (readonly [string, string, ScoredRow])[];
}

/** The sorted sets a batch read: rows of `tandem.zsets`, and the member rows its commands need. */
export interface LoadedZsets {
  readonly metas: ReadonlyMap<string, ZsetMeta>;
  /** By key, then member (members named but absent are missing). */
  readonly members: ReadonlyMap<string, ReadonlyMap<string, ScoredRow>>;
  readonly needs: readonly ScoredNeeds[];
}

/**
 * The sorted set members a key-value command reads, beyond its keys' rows: the named ones
 * for ZADD and ZREM, a whole set for every command that selects by rank, score or member
 * (ZPOPMIN, ZREMRANGEBY*, ZRANGESTORE, ZUNIONSTORE and the others) or copies (RENAME, COPY).
 */
export function commandScored(command: KvCommand): ScoredNeeds[] {
  switch (command.type) {
    case 'zadd':
      return [
        { key: keyId(command.key), members: command.pairs.map(([, member]) => keyId(member)) },
      ];
    case 'zrem':
      return [{ key: keyId(command.key), members: command.members.map(keyId) }];
    case 'zpop':
    case 'zsetstore':
      return command.keys.map((key) => ({ key: keyId(key), members: 'all' as const }));
    case 'zremrange':
    case 'zrangestore':
    case 'rename':
    case 'copy':
      return [{ key: keyId(command.key), members: 'all' }];
    case 'multi':
      return command.steps.flatMap((step) =>
        step.type === 'read'
          ? step.keys.map((key) => ({ key: keyId(key), members: 'all' as const }))
          : commandScored(step),
      );
    default:
      return [];
  }
}

/** A field's row of `tandem.hash_fields`: its value and its place (HSCAN's cursor). */
export interface FieldRow {
  readonly value: Buffer;
  readonly seq: number;
}

/** The fields of one hash a command reads: those named, or all of them (RENAME, COPY). */
export interface FieldNeeds {
  readonly key: string;
  readonly fields: readonly string[] | 'all';
}

/** What the batch leaves to write of hashes, after the key rows (by `keyId`). */
export interface HashWrites {
  /** Keys whose stored fields and hash row all go first (removed, overwritten, recreated). */
  readonly cleared: readonly string[];
  readonly upserts: readonly (readonly [string, HashMeta])[];
  readonly fieldDeletes: readonly (readonly [string, string])[];
  readonly fieldUpserts: readonly (readonly [string, string, FieldRow])[];
}

/** The members of one set a command reads: those named, or all of them (SPOP, SINTERSTORE). */
export interface MemberNeeds {
  readonly key: string;
  readonly members: readonly string[] | 'all';
}

/** What the batch leaves to write of sets, after the key rows (by `keyId`). */
export interface SetWrites {
  /** Keys whose stored members and set row all go first (removed, overwritten, recreated). */
  readonly cleared: readonly string[];
  readonly upserts: readonly (readonly [string, SetMeta])[];
  readonly memberDeletes: readonly (readonly [string, string])[];
  /** Key, member and the member's sequence number. */
  readonly memberUpserts: readonly (readonly [string, string, number])[];
}

/** The sets a batch read: rows of `tandem.sets`, and the member rows its commands need. */
export interface LoadedSets {
  readonly metas: ReadonlyMap<string, SetMeta>;
  /** By key, then member: its sequence number (members named but absent are missing). */
  readonly members: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly needs: readonly MemberNeeds[];
}

/** The set members a key-value command reads, beyond its keys' rows. */
export function commandMembers(command: KvCommand): MemberNeeds[] {
  switch (command.type) {
    case 'sadd':
    case 'srem':
      return [{ key: keyId(command.key), members: command.members.map(keyId) }];
    case 'spop':
      // Named members may be gone, and the seed then draws from the whole set.
      return [{ key: keyId(command.key), members: 'all' }];
    case 'smove': {
      const member = [keyId(command.member)];
      return [
        { key: keyId(command.key), members: member },
        { key: keyId(command.destination), members: member },
      ];
    }
    // ZUNIONSTORE and its kin take a set as an operand too, each member scored 1.
    case 'setstore':
    case 'zsetstore':
      return command.keys.map((key) => ({ key: keyId(key), members: 'all' as const }));
    case 'rename':
    case 'copy':
      return [{ key: keyId(command.key), members: 'all' }];
    case 'multi':
      return command.steps.flatMap((step) =>
        step.type === 'read'
          ? step.keys.map((key) => ({ key: keyId(key), members: 'all' as const }))
          : commandMembers(step),
      );
    default:
      return [];
  }
}

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

/** One SWAPDB: databases `a` and `b` exchange their keys, written at `version`, at `at`. */
export interface DatabaseSwap {
  readonly a: number;
  readonly b: number;
  readonly version: Version;
  readonly at: number;
}

/** What the batch leaves to write: SWAPDBs and emptied databases first, then the touched keys (by `keyId`). */
export interface KvWrites {
  /** SWAPDBs to do first (see `KvBatch.swapDatabases`). */
  readonly swaps: readonly DatabaseSwap[];
  /** Databases (databases.ts) whose stored keys go first, before the touched keys' rows. */
  readonly flushedDatabases: readonly number[];
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
    case 'hset':
    case 'hdel':
    case 'hincrby':
    case 'hincrbyfloat':
    case 'lpush':
    case 'lpop':
    case 'lset':
    case 'linsert':
    case 'lrem':
    case 'ltrim':
      return [keyId(command.key)];
    case 'sadd':
    case 'srem':
    case 'spop':
      return [keyId(command.key)];
    case 'smove':
      return [keyId(command.key), keyId(command.destination)];
    case 'setstore':
      return [command.destination, ...command.keys].map(keyId);
    case 'zadd':
    case 'zrem':
    case 'zremrange':
      return [keyId(command.key)];
    case 'zrangestore':
      return [keyId(command.key), keyId(command.destination)];
    case 'zpop':
      return command.keys.map(keyId);
    case 'zsetstore':
      return [command.destination, ...command.keys].map(keyId);
    case 'lmove':
      return [keyId(command.key), keyId(command.destination)];
    case 'lmpop':
      return command.keys.map(keyId);
    case 'flush':
    case 'swapdb':
    case 'expire-sweep':
    case 'publish':
    case 'link':
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

/** The hash fields a key-value command reads, beyond its keys' rows. */
export function commandFields(command: KvCommand): FieldNeeds[] {
  switch (command.type) {
    case 'hset':
      return [{ key: keyId(command.key), fields: command.pairs.map(([field]) => keyId(field)) }];
    case 'hdel':
      return [{ key: keyId(command.key), fields: command.fields.map(keyId) }];
    case 'hincrby':
    case 'hincrbyfloat':
      return [{ key: keyId(command.key), fields: [keyId(command.field)] }];
    case 'rename':
    case 'copy':
      return [{ key: keyId(command.key), fields: 'all' }];
    case 'multi':
      // A transaction's writes read the fields they would alone; its reads, whole values.
      return command.steps.flatMap((step) =>
        step.type === 'read'
          ? step.keys.map((key) => ({ key: keyId(key), fields: 'all' as const }))
          : commandFields(step),
      );
    default:
      return [];
  }
}

/**
 * A list key's row of `tandem.lists`: its elements are the rows of `tandem.list_items`
 * at positions `head` to `head + length - 1`, with no gaps (element `i` at `head + i`), so
 * a push at the head writes position `head - 1` and one at the tail `head + length`.
 */
export interface ListMeta {
  readonly type: 'list';
  readonly head: number;
  readonly length: number;
}

/**
 * The list rows a command reads beyond its keys' rows: as many from the head and from the
 * tail as it may pop, or the whole list (LSET, LINSERT, LREM, LTRIM, RENAME, COPY).
 */
export interface ListNeeds {
  readonly key: string;
  readonly head: number;
  readonly tail: number;
  readonly all: boolean;
}

/** The list rows a key-value command reads (see `ListNeeds`). */
export function commandListNeeds(command: KvCommand): ListNeeds[] {
  const ends = (key: Bytes, end: 'left' | 'right', count: number): ListNeeds => ({
    key: keyId(key),
    head: end === 'left' ? count : 0,
    tail: end === 'right' ? count : 0,
    all: false,
  });
  const all = (key: Bytes): ListNeeds => ({ key: keyId(key), head: 0, tail: 0, all: true });
  switch (command.type) {
    case 'lpop':
      return [ends(command.key, command.end, command.count ?? 1)];
    case 'lmove':
      return [ends(command.key, command.from, 1)];
    case 'lmpop':
      return command.keys.map((key) => ends(key, command.end, command.count));
    case 'lset':
    case 'linsert':
    case 'lrem':
    case 'ltrim':
    case 'rename':
    case 'copy':
      return [all(command.key)];
    case 'multi':
      return command.steps.flatMap((step) =>
        step.type === 'read' ? step.keys.map(all) : commandListNeeds(step),
      );
    default:
      return [];
  }
}

/** A list's rows as a batch read them: its row of `tandem.lists`, the elements by position. */
export interface LoadedLists {
  readonly metas: ReadonlyMap<string, ListMeta>;
  readonly elements: ReadonlyMap<string, ReadonlyMap<number, Buffer>>;
  /** Keys read whole. */
  readonly complete: ReadonlySet<string>;
}

/** What the batch leaves to write of lists, after the key rows (by `keyId`). */
export interface ListWrites {
  /** Keys whose stored elements and list row all go first (removed, overwritten, recreated). */
  readonly cleared: readonly string[];
  readonly upserts: readonly (readonly [string, ListMeta])[];
  readonly elementDeletes: readonly (readonly [string, number])[];
  readonly elementUpserts: readonly (readonly [string, number, Buffer])[];
}

/** The hashes a batch read: rows of `tandem.hashes`, and the field rows its commands need. */
export interface LoadedHashes {
  readonly metas: ReadonlyMap<string, HashMeta>;
  /** By key, then field: the rows read (fields named but absent are missing). */
  readonly fields: ReadonlyMap<string, ReadonlyMap<string, FieldRow>>;
  readonly needs: readonly FieldNeeds[];
}

/** The key-value state of one batch: loaded rows, changed in memory by the shared commands. */
export class KvBatch extends KeyValueCommands {
  /** Loaded and changed rows; null for a key known to be absent. */
  readonly #rows = new Map<string, KvRow | null>();
  readonly #changed = new Set<string>();
  readonly #candidates: readonly SweepCandidate[];
  readonly #candidatesComplete: boolean;
  /** The SWAPDBs of this batch (one, alone in its batch), done at write-back. */
  readonly #swaps: DatabaseSwap[] = [];
  /** Databases FLUSHDB emptied in this batch: their stored rows go at write-back. */
  readonly #flushedDatabases = new Set<number>();
  #nextSeq: number;
  /** Each loaded or touched key's hash row; null for a key known to hold no hash. */
  readonly #hashes = new Map<string, HashMeta | null>();
  /** Known fields of hashes, by key: a row, or null for a field known to be absent. */
  readonly #fields = new Map<string, Map<string, FieldRow | null>>();
  /** Keys whose every field is in `#fields` (read whole, or made in this batch). */
  readonly #complete = new Set<string>();
  /** Keys whose stored hash goes at write-back, before what the batch writes of them. */
  readonly #cleared = new Set<string>();
  /** Fields written or deleted, by key. */
  readonly #changedFields = new Map<string, Set<string>>();
  /** Each loaded or touched key's set row; null for a key known to hold no set. */
  readonly #sets = new Map<string, SetMeta | null>();
  /** Known members of sets, by key: a sequence number, or null for one known absent. */
  readonly #members = new Map<string, Map<string, number | null>>();
  /** Keys whose every member is in `#members` (read whole, or made in this batch). */
  readonly #completeSets = new Set<string>();
  /** Keys whose stored set goes at write-back, before what the batch writes of them. */
  readonly #clearedSets = new Set<string>();
  /** Members added or removed, by key. */
  readonly #changedMembers = new Map<string, Set<string>>();
  /** Each loaded or touched key's list row; null for a key known to hold no list. */
  readonly #lists = new Map<string, ListMeta | null>();
  /** Known elements of lists, by key, then position: null for a position known empty. */
  readonly #elements = new Map<string, Map<number, string | null>>();
  /** Keys whose every element is in `#elements` (read whole, or made in this batch). */
  readonly #listComplete = new Set<string>();
  /** Keys whose stored list goes at write-back, before what the batch writes of them. */
  readonly #listCleared = new Set<string>();
  /** Positions written or emptied, by key. */
  readonly #changedPositions = new Map<string, Set<number>>();
  /** Keys read with a list row: the ones that have stored rows (until a flush). */
  readonly #storedLists = new Set<string>();
  /** Each loaded or touched key's sorted set row; null for a key known to hold none. */
  readonly #zsets = new Map<string, ZsetMeta | null>();
  /** Known members of sorted sets, by key: a row, or null for one known absent. */
  readonly #scored = new Map<string, Map<string, ScoredRow | null>>();
  /** Keys whose every member is in `#scored` (read whole, or made in this batch). */
  readonly #completeZsets = new Set<string>();
  /**
   * The order (score, then member) of complete sorted sets that a command selected from,
   * kept up to date by every later change; built on a key's first selection.
   */
  readonly #orders = new Map<string, ScoreList>();
  /** Keys whose stored sorted set goes at write-back, before what the batch writes of them. */
  readonly #clearedZsets = new Set<string>();
  /** Members added, rescored or removed, by key. */
  readonly #changedScored = new Map<string, Set<string>>();

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
    hashes: LoadedHashes = { metas: new Map(), fields: new Map(), needs: [] },
    sets: LoadedSets = { metas: new Map(), members: new Map(), needs: [] },
    lists: LoadedLists = { metas: new Map(), elements: new Map(), complete: new Set() },
    zsets: LoadedZsets = { metas: new Map(), members: new Map(), needs: [] },
  ) {
    super();
    for (const key of keys) {
      this.#rows.set(key, loaded.get(key) ?? null);
      this.#hashes.set(key, hashes.metas.get(key) ?? null);
      this.#sets.set(key, sets.metas.get(key) ?? null);
      this.#zsets.set(key, zsets.metas.get(key) ?? null);
      this.#lists.set(key, lists.metas.get(key) ?? null);
      if (lists.metas.has(key)) this.#storedLists.add(key);
    }
    this.#loadMembers(sets);
    this.#loadScored(zsets);
    for (const [key, elements] of lists.elements) {
      const known = this.#elementsOf(key);
      for (const [pos, value] of elements) known.set(pos, value.toString('latin1'));
    }
    for (const key of lists.complete) this.#listComplete.add(key);
    for (const { key, fields } of hashes.needs) {
      const read = hashes.fields.get(key);
      const known = this.#fieldsOf(key);
      if (fields === 'all') {
        for (const [field, row] of read ?? []) known.set(field, row);
        this.#complete.add(key);
      } else {
        for (const field of fields) known.set(field, read?.get(field) ?? null);
      }
    }
    this.#nextSeq = seqMax + 1;
    this.#candidates = candidates;
    this.#candidatesComplete = candidatesComplete;
  }

  #loadMembers(sets: LoadedSets): void {
    for (const { key, members } of sets.needs) {
      const read = sets.members.get(key);
      const known = this.#membersOf(key);
      if (members === 'all') {
        for (const [member, seq] of read ?? []) known.set(member, seq);
        this.#completeSets.add(key);
      } else {
        for (const member of members) known.set(member, read?.get(member) ?? null);
      }
    }
  }

  #loadScored(zsets: LoadedZsets): void {
    for (const { key, members } of zsets.needs) {
      const read = zsets.members.get(key);
      const known = this.#scoredOf(key);
      if (members === 'all') {
        for (const [member, row] of read ?? []) known.set(member, row);
        this.#completeZsets.add(key);
      } else {
        for (const member of members) known.set(member, read?.get(member) ?? null);
      }
    }
  }

  #row(key: string): KvRow | null {
    const row = this.#rows.get(key);
    if (row !== undefined) return row;
    assert(false, `the key ${keyBytes(key).toString('hex')} (hex) was not loaded for its batch`);
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
    this.#clearHash(key);
    this.#clearSet(key);
    this.#clearZset(key);
  }

  /** The key holds no sorted set from here on: its stored members and row go at write-back. */
  #clearZset(key: string): void {
    this.#zsets.set(key, null);
    this.#scored.set(key, new Map());
    this.#completeZsets.add(key);
    this.#orders.set(key, new ScoreList());
    this.#changedScored.delete(key);
    this.#clearedZsets.add(key);
  }

  /**
   * Clears the hash, set, list or sorted set the key holds, if any: its rows go at
   * write-back (a key that holds none has no rows to clear). Every write of a new value
   * starts here, whatever the key held.
   */
  #clearStructure(key: string): void {
    if (this.#hashOrNull(key) !== null) this.#clearHash(key);
    if ((this.#sets.get(key) ?? null) !== null) this.#clearSet(key);
    if ((this.#lists.get(key) ?? null) !== null) this.#clearList(key);
    if ((this.#zsets.get(key) ?? null) !== null) this.#clearZset(key);
  }

  #scoredOf(key: string): Map<string, ScoredRow | null> {
    let known = this.#scored.get(key);
    if (known === undefined) {
      known = new Map();
      this.#scored.set(key, known);
    }
    return known;
  }

  #zsetMeta(key: string): ZsetMeta {
    const meta = this.#zsets.get(key);
    assert(meta !== undefined && meta !== null, 'a sorted set method on a key that holds none');
    return meta;
  }

  #scoredRow(key: string, member: string): ScoredRow | null {
    const row = this.#scored.get(key)?.get(member);
    if (row !== undefined) return row;
    assert(this.#completeZsets.has(key), 'a sorted set member was not loaded for its batch');
    return null;
  }

  #changeScored(key: string, member: string, row: ScoredRow | null, meta: ZsetMeta): void {
    this.#scoredOf(key).set(member, row);
    let changed = this.#changedScored.get(key);
    if (changed === undefined) {
      changed = new Set();
      this.#changedScored.set(key, changed);
    }
    changed.add(member);
    this.#zsets.set(key, meta);
    this.#changed.add(key);
  }

  /** The order of the complete sorted set at `key`, built from its members when first asked. */
  #orderOf(key: string): ScoreList {
    assert(this.#completeZsets.has(key), 'a whole sorted set was not loaded for its batch');
    let order = this.#orders.get(key);
    if (order === undefined) {
      order = new ScoreList();
      for (const [member, row] of this.#scored.get(key) ?? []) {
        if (row !== null) order.insert(row.score, member);
      }
      this.#orders.set(key, order);
    }
    return order;
  }

  /** The key holds no set from here on: its stored members and set row go at write-back. */
  #clearSet(key: string): void {
    this.#sets.set(key, null);
    this.#members.set(key, new Map());
    this.#completeSets.add(key);
    this.#changedMembers.delete(key);
    this.#clearedSets.add(key);
  }

  #membersOf(key: string): Map<string, number | null> {
    let known = this.#members.get(key);
    if (known === undefined) {
      known = new Map();
      this.#members.set(key, known);
    }
    return known;
  }

  #setMeta(key: string): SetMeta {
    const meta = this.#sets.get(key);
    assert(meta !== undefined && meta !== null, 'a set method on a key that holds no set');
    return meta;
  }

  #member(key: string, member: string): number | null {
    const seq = this.#members.get(key)?.get(member);
    if (seq !== undefined) return seq;
    assert(this.#completeSets.has(key), 'a set member was not loaded for its batch');
    return null;
  }

  #changeMember(key: string, member: string, seq: number | null, meta: SetMeta): void {
    this.#membersOf(key).set(member, seq);
    let changed = this.#changedMembers.get(key);
    if (changed === undefined) {
      changed = new Set();
      this.#changedMembers.set(key, changed);
    }
    changed.add(member);
    this.#sets.set(key, meta);
    this.#changed.add(key);
    this.#clearList(key);
  }

  /** The key holds no list from here on: its stored elements and list row go at write-back. */
  #clearList(key: string): void {
    this.#lists.set(key, null);
    this.#elements.set(key, new Map());
    this.#listComplete.add(key);
    this.#changedPositions.delete(key);
    // Only a key read with a list has stored rows to delete.
    if (this.#storedLists.has(key)) this.#listCleared.add(key);
  }

  #elementsOf(key: string): Map<number, string | null> {
    let known = this.#elements.get(key);
    if (known === undefined) {
      known = new Map();
      this.#elements.set(key, known);
    }
    return known;
  }

  #listMeta(key: string): ListMeta {
    const meta = this.#lists.get(key);
    assert(meta !== undefined && meta !== null, 'a list method on a key that holds no list');
    return meta;
  }

  /** The element at position `pos` of the list at `key`, which must have been read. */
  #elementAt(key: string, pos: number): string {
    const element = this.#elements.get(key)?.get(pos);
    assert(
      typeof element === 'string',
      `the list element at ${pos} of ${keyBytes(key).toString('hex')} (hex) was not loaded for its batch`,
    );
    return element;
  }

  #changeElement(key: string, pos: number, element: string | null): void {
    this.#elementsOf(key).set(pos, element);
    let changed = this.#changedPositions.get(key);
    if (changed === undefined) {
      changed = new Set();
      this.#changedPositions.set(key, changed);
    }
    changed.add(pos);
    this.#changed.add(key);
  }

  /** The key holds no hash from here on: its stored fields and hash row go at write-back. */
  #clearHash(key: string): void {
    this.#hashes.set(key, null);
    this.#fields.set(key, new Map());
    this.#complete.add(key);
    this.#changedFields.delete(key);
    this.#cleared.add(key);
  }

  #fieldsOf(key: string): Map<string, FieldRow | null> {
    let known = this.#fields.get(key);
    if (known === undefined) {
      known = new Map();
      this.#fields.set(key, known);
    }
    return known;
  }

  #meta(key: string): HashMeta {
    const meta = this.#hashes.get(key);
    assert(meta !== undefined && meta !== null, 'a hash method on a key that holds no hash');
    return meta;
  }

  #field(key: string, field: string): FieldRow | null {
    const row = this.#fields.get(key)?.get(field);
    if (row !== undefined) return row;
    assert(this.#complete.has(key), 'a hash field was not loaded for its batch');
    return null;
  }

  #changeField(key: string, field: string, row: FieldRow | null, meta: HashMeta): void {
    this.#fieldsOf(key).set(field, row);
    let changed = this.#changedFields.get(key);
    if (changed === undefined) {
      changed = new Set();
      this.#changedFields.set(key, changed);
    }
    changed.add(field);
    this.#hashes.set(key, meta);
    this.#changed.add(key);
  }

  protected read(key: string): KeyState | undefined {
    const row = this.#row(key);
    if (row === null) return undefined;
    const meta = this.#hashes.get(key) ?? this.#lists.get(key) ?? null;
    const set = this.#sets.get(key) ?? this.#zsets.get(key) ?? null;
    return {
      value: meta ?? set ?? row.value.toString('latin1'),
      index: row.versionIndex,
      term: row.versionTerm,
      expiresAt: row.expiresAt,
    };
  }

  protected write(key: string, value: string, version: Version, expiresAt: number | null): void {
    this.#clearStructure(key);
    this.#put(key, Buffer.from(value, 'latin1'), version, expiresAt);
  }

  /** The key's hash row as known; null after a flush for a key not written since. */
  #hashOrNull(key: string): HashMeta | null {
    return this.#hashes.get(key) ?? null;
  }

  protected stamp(key: string, version: Version, expiresAt: number | null): void {
    this.#put(key, (this.#row(key) as KvRow).value, version, expiresAt);
  }

  protected hashCreate(key: string, version: Version, expiresAt: number | null): void {
    this.#clearStructure(key);
    this.#clearHash(key);
    this.#put(key, Buffer.alloc(0), version, expiresAt);
    this.#hashes.set(key, { type: 'hash', encoding: 'listpack', length: 0, nextSeq: 1 });
  }

  protected setCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: SetEncoding,
  ): void {
    this.#clearStructure(key);
    this.#clearSet(key);
    this.#put(key, Buffer.alloc(0), version, expiresAt);
    this.#sets.set(key, { type: 'set', encoding, length: 0, nextSeq: 1 });
  }

  protected setHas(key: string, member: string): boolean {
    return this.#member(key, member) !== null;
  }

  protected setLength(key: string): number {
    return this.#setMeta(key).length;
  }

  protected setMembers(key: string): string[] {
    assert(this.#completeSets.has(key), 'a whole set was not loaded for its batch');
    const rows = [...(this.#members.get(key) ?? [])].filter(
      (entry): entry is [string, number] => entry[1] !== null,
    );
    rows.sort((a, b) => a[1] - b[1]);
    return rows.map(([member]) => member);
  }

  protected setAdd(key: string, member: string): void {
    const meta = this.#setMeta(key);
    assert(this.#member(key, member) === null, 'a set member added twice');
    const next = { ...meta, length: meta.length + 1, nextSeq: meta.nextSeq + 1 };
    this.#changeMember(key, member, meta.nextSeq, next);
  }

  protected setDelete(key: string, member: string): void {
    const meta = this.#setMeta(key);
    if (this.#member(key, member) === null) return;
    this.#changeMember(key, member, null, { ...meta, length: meta.length - 1 });
  }

  protected setEncode(key: string, encoding: SetEncoding): void {
    this.#sets.set(key, { ...this.#setMeta(key), encoding });
    this.#changed.add(key);
  }

  protected hashGet(key: string, field: string): string | undefined {
    return this.#field(key, field)?.value.toString('latin1');
  }

  protected hashLength(key: string): number {
    return this.#meta(key).length;
  }

  protected hashEntries(key: string): [string, string][] {
    assert(this.#complete.has(key), 'a whole hash was not loaded for its batch');
    const rows = [...(this.#fields.get(key) ?? [])].filter(
      (entry): entry is [string, FieldRow] => entry[1] !== null,
    );
    rows.sort((a, b) => a[1].seq - b[1].seq);
    return rows.map(([field, row]) => [field, row.value.toString('latin1')]);
  }

  protected hashPut(key: string, field: string, value: string): void {
    const meta = this.#meta(key);
    const old = this.#field(key, field);
    const seq = old?.seq ?? meta.nextSeq;
    const next =
      old === null ? { ...meta, length: meta.length + 1, nextSeq: meta.nextSeq + 1 } : meta;
    this.#changeField(key, field, { value: Buffer.from(value, 'latin1'), seq }, next);
  }

  protected hashDelete(key: string, field: string): void {
    const meta = this.#meta(key);
    if (this.#field(key, field) === null) return;
    this.#changeField(key, field, null, { ...meta, length: meta.length - 1 });
  }

  protected hashEncode(key: string, encoding: HashEncoding): void {
    this.#hashes.set(key, { ...this.#meta(key), encoding });
    this.#changed.add(key);
  }

  protected zsetCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: ZsetEncoding,
  ): void {
    this.#clearStructure(key);
    this.#clearZset(key);
    this.#put(key, Buffer.alloc(0), version, expiresAt);
    this.#zsets.set(key, { type: 'zset', encoding, length: 0, nextSeq: 1 });
  }

  protected zsetScore(key: string, member: string): number | undefined {
    return this.#scoredRow(key, member)?.score;
  }

  protected zsetLength(key: string): number {
    return this.#zsetMeta(key).length;
  }

  /** A new member takes the next sequence number; a rescored one keeps its own. */
  protected zsetPut(key: string, member: string, score: number): void {
    const meta = this.#zsetMeta(key);
    const old = this.#scoredRow(key, member);
    const order = this.#orders.get(key);
    if (old !== null) order?.delete(old.score, member);
    order?.insert(score, member);
    const seq = old?.seq ?? meta.nextSeq;
    const next =
      old === null ? { ...meta, length: meta.length + 1, nextSeq: meta.nextSeq + 1 } : meta;
    this.#changeScored(key, member, { score, seq }, next);
  }

  protected zsetDelete(key: string, member: string): void {
    const meta = this.#zsetMeta(key);
    const old = this.#scoredRow(key, member);
    if (old === null) return;
    this.#orders.get(key)?.delete(old.score, member);
    this.#changeScored(key, member, null, { ...meta, length: meta.length - 1 });
  }

  protected zsetEncode(key: string, encoding: ZsetEncoding): void {
    this.#zsets.set(key, { ...this.#zsetMeta(key), encoding });
    this.#changed.add(key);
  }

  /** Selects in memory from the whole set (loaded for every command that selects). */
  protected zsetSelect(key: string, selection: ZsetSelection): [string, number][] {
    return selectRange(this.#orderOf(key), selection);
  }

  protected listCreate(key: string, version: Version, expiresAt: number | null): void {
    this.#clearStructure(key);
    this.#clearList(key);
    this.#put(key, Buffer.alloc(0), version, expiresAt);
    this.#lists.set(key, { type: 'list', head: 0, length: 0 });
  }

  protected listLength(key: string): number {
    return this.#listMeta(key).length;
  }

  protected listGet(key: string, index: number): string {
    return this.#elementAt(key, this.#listMeta(key).head + index);
  }

  protected listEntries(key: string): string[] {
    const { head, length } = this.#listMeta(key);
    return Array.from({ length }, (_, i) => this.#elementAt(key, head + i));
  }

  /** Inserts at `index`: at an end one row; inside, the shorter side moves one position out. */
  protected listInsert(key: string, index: number, element: string): void {
    const { head, length } = this.#listMeta(key);
    if (index < length / 2) {
      for (let i = 0; i < index; i++) {
        this.#changeElement(key, head - 1 + i, this.#elementAt(key, head + i));
      }
      this.#changeElement(key, head - 1 + index, element);
      this.#lists.set(key, { type: 'list', head: head - 1, length: length + 1 });
    } else {
      for (let i = length; i > index; i--) {
        this.#changeElement(key, head + i, this.#elementAt(key, head + i - 1));
      }
      this.#changeElement(key, head + index, element);
      this.#lists.set(key, { type: 'list', head, length: length + 1 });
    }
  }

  /** Removes at `index`: at an end one row; inside, the shorter side moves one position in. */
  protected listRemove(key: string, index: number): string {
    const { head, length } = this.#listMeta(key);
    const element = this.#elementAt(key, head + index);
    if (index < length / 2) {
      for (let i = index; i > 0; i--) {
        this.#changeElement(key, head + i, this.#elementAt(key, head + i - 1));
      }
      this.#changeElement(key, head, null);
      this.#lists.set(key, { type: 'list', head: head + 1, length: length - 1 });
    } else {
      for (let i = index; i < length - 1; i++) {
        this.#changeElement(key, head + i, this.#elementAt(key, head + i + 1));
      }
      this.#changeElement(key, head + length - 1, null);
      this.#lists.set(key, { type: 'list', head, length: length - 1 });
    }
    this.#changed.add(key);
    return element;
  }

  protected listSet(key: string, index: number, element: string): void {
    this.#changeElement(key, this.#listMeta(key).head + index, element);
  }

  /** LREM in one pass: the kept elements close up from the head; the freed tail rows go. */
  protected listRemoveEqual(key: string, element: string, count: number): number {
    const { head, length } = this.#listMeta(key);
    const elements = this.listEntries(key);
    const limit = count === 0 ? Infinity : Math.abs(count);
    const drop = new Set<number>();
    for (let step = 0; step < length && drop.size < limit; step++) {
      const index = count < 0 ? length - 1 - step : step;
      if (elements[index] === element) drop.add(index);
    }
    if (drop.size === 0) return 0;
    const kept = elements.filter((_, i) => !drop.has(i));
    kept.forEach((value, i) => {
      if (value !== elements[i]) this.#changeElement(key, head + i, value);
    });
    for (let i = kept.length; i < length; i++) this.#changeElement(key, head + i, null);
    this.#lists.set(key, { type: 'list', head, length: kept.length });
    return drop.size;
  }

  /**
   * A transaction's read step: the in-memory namespace's own reads over the keys as this
   * batch holds them now (rows loaded in the apply's transaction, changed by the steps
   * before), each copied whole: the batch reads every key a read step names whole.
   */
  protected readView(keys: readonly string[]): Keyspace {
    const items: [string, Item][] = [];
    for (const key of keys) {
      const row = this.#rows.get(key) ?? null;
      if (row === null) continue;
      items.push([
        key,
        {
          value: this.#valueOf(key, row),
          index: row.versionIndex,
          term: row.versionTerm,
          expiresAt: row.expiresAt,
          seq: row.seq,
        },
      ]);
    }
    return viewOf(items);
  }

  /** The value the key holds now, as the in-memory namespace would hold it. */
  #valueOf(key: string, row: KvRow): StoredValue {
    const bySeq = <T extends { seq: number }>(rows: Map<string, T | null> | undefined) =>
      [...(rows ?? [])]
        .filter((entry): entry is [string, T] => entry[1] !== null)
        .sort(([, a], [, b]) => a.seq - b.seq);
    const hash = this.#hashes.get(key) ?? null;
    if (hash !== null) {
      assert(this.#complete.has(key), 'a hash a transaction reads was not loaded whole');
      const fields = new Map<string, HashField>();
      for (const [field, { value, seq }] of bySeq(this.#fields.get(key))) {
        fields.set(field, { value: value.toString('latin1'), seq });
      }
      return {
        type: 'hash',
        fields,
        nextSeq: hash.nextSeq,
        encoding: hash.encoding,
        generation: 0,
      };
    }
    const set = this.#sets.get(key) ?? null;
    if (set !== null) {
      assert(this.#completeSets.has(key), 'a set a transaction reads was not loaded whole');
      const members = new Map(
        [...(this.#members.get(key) ?? [])]
          .filter((entry): entry is [string, number] => entry[1] !== null)
          .sort(([, a], [, b]) => a - b),
      );
      return { type: 'set', members, nextSeq: set.nextSeq, encoding: set.encoding, generation: 0 };
    }
    const zset = this.#zsets.get(key) ?? null;
    if (zset !== null) {
      assert(this.#completeZsets.has(key), 'a sorted set a transaction reads was not loaded whole');
      const members = new Map<string, ZsetMember>();
      const order = new ScoreList();
      for (const [member, { score, seq }] of bySeq(this.#scored.get(key))) {
        members.set(member, { score, seq });
        order.insert(score, member);
      }
      return {
        type: 'zset',
        members,
        order,
        nextSeq: zset.nextSeq,
        encoding: zset.encoding,
        generation: 0,
      };
    }
    const list = this.#lists.get(key) ?? null;
    if (list !== null) {
      const elements: string[] = [];
      // Element `i` is at position `head + i`.
      for (let i = 0; i < list.length; i++) elements.push(this.#elementAt(key, list.head + i));
      return { type: 'list', elements: Deque.of(elements), generation: 0 };
    }
    return row.value.toString('latin1');
  }

  protected remove(key: string): void {
    if (this.#row(key) !== null) this.#delete(key);
  }

  /**
   * FLUSHALL: the sixteen databases, each as FLUSHDB removes it, so the system database's
   * rows (databases.ts) stay.
   */
  protected removeAll(): void {
    for (let db = 0; db < databaseCount; db++) this.removeDatabase(db);
  }

  /**
   * FLUSHDB of one database: the loaded keys of it go now (every key the batch names was
   * loaded), the stored rows of it at write-back, before the rows written after the flush.
   */
  protected removeDatabase(db: number): void {
    for (const [key, row] of this.#rows) {
      if (row !== null && inDatabaseText(key, db)) this.remove(key);
    }
    this.#flushedDatabases.add(db);
  }

  /**
   * SWAPDB renames the two databases' rows at write-back (`swapStatements`). The store
   * applies a SWAPDB entry in a batch of its own, so no row of the batch is in memory.
   */
  protected swapDatabases(a: number, b: number, version: Version, at: number): void {
    assert(this.#rows.size === 0, 'a SWAPDB shares its batch');
    this.#swaps.push({ a, b, version, at });
  }

  /**
   * Purges up to `limit` rows expired at `at`, oldest expiry first, then key, from
   * the batch's view: loaded rows as changed, and the database's candidates for the rest.
   * Every sweep takes a prefix of that order, so the candidates read (the first rows of
   * the order, as many as the batch's sweeps and touched keys could need) always hold the
   * rows chosen; the assertion checks that a limited read never ran dry.
   */
  protected sweep(at: number, limit: number): string[] {
    const eligible: SweepCandidate[] = [];
    for (const candidate of this.#candidates) {
      if (this.#rows.has(candidate.key) || candidate.expiresAt > at) continue;
      const db = databaseOfText(candidate.key);
      if (db !== null && this.#flushedDatabases.has(db)) continue;
      eligible.push(candidate);
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
      this.#flushedDatabases.size === databaseCount ||
        this.#candidatesComplete ||
        last === undefined ||
        last.expiresAt > at ||
        (purged.length === limit && compareExpiry(purged.at(-1) as SweepCandidate, last) <= 0),
      'an expire-sweep needed rows beyond the candidates read for its batch',
    );
    for (const { key } of purged) this.#delete(key);
    return purged.map(({ key }) => key);
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
    return {
      swaps: this.#swaps,
      flushedDatabases: [...this.#flushedDatabases],
      upserts,
      deletes,
    };
  }

  /** What to write back of lists, after the key rows (see `ListWrites`). */
  listWrites(): ListWrites {
    const upserts: [string, ListMeta][] = [];
    const elementDeletes: [string, number][] = [];
    const elementUpserts: [string, number, Buffer][] = [];
    for (const key of this.#changed) {
      const meta = this.#lists.get(key) ?? null;
      if (meta === null) continue;
      upserts.push([key, meta]);
      for (const pos of this.#changedPositions.get(key) ?? []) {
        const element = this.#elements.get(key)?.get(pos) ?? null;
        if (element === null) elementDeletes.push([key, pos]);
        else elementUpserts.push([key, pos, Buffer.from(element, 'latin1')]);
      }
    }
    return { cleared: [...this.#listCleared], upserts, elementDeletes, elementUpserts };
  }

  /** What to write back of hashes, after the key rows (see `HashWrites`). */
  hashWrites(): HashWrites {
    const upserts: [string, HashMeta][] = [];
    const fieldDeletes: [string, string][] = [];
    const fieldUpserts: [string, string, FieldRow][] = [];
    for (const key of this.#changed) {
      const meta = this.#hashes.get(key) ?? null;
      if (meta === null) continue;
      upserts.push([key, meta]);
      for (const field of this.#changedFields.get(key) ?? []) {
        const row = this.#fields.get(key)?.get(field) ?? null;
        if (row === null) fieldDeletes.push([key, field]);
        else fieldUpserts.push([key, field, row]);
      }
    }
    return { cleared: [...this.#cleared], upserts, fieldDeletes, fieldUpserts };
  }

  /** What to write back of sets, after the key rows (see `SetWrites`). */
  setWrites(): SetWrites {
    const upserts: [string, SetMeta][] = [];
    const memberDeletes: [string, string][] = [];
    const memberUpserts: [string, string, number][] = [];
    for (const key of this.#changed) {
      const meta = this.#sets.get(key) ?? null;
      if (meta === null) continue;
      upserts.push([key, meta]);
      for (const member of this.#changedMembers.get(key) ?? []) {
        const seq = this.#members.get(key)?.get(member) ?? null;
        if (seq === null) memberDeletes.push([key, member]);
        else memberUpserts.push([key, member, seq]);
      }
    }
    return { cleared: [...this.#clearedSets], upserts, memberDeletes, memberUpserts };
  }

  /** What to write back of sorted sets, after the key rows (see `ZsetWrites`). */
  zsetWrites(): ZsetWrites {
    const upserts: [string, ZsetMeta][] = [];
    const memberDeletes: [string, string][] = [];
    const memberUpserts: [string, string, ScoredRow][] = [];
    for (const key of this.#changed) {
      const meta = this.#zsets.get(key) ?? null;
      if (meta === null) continue;
      upserts.push([key, meta]);
      for (const member of this.#changedScored.get(key) ?? []) {
        const row = this.#scored.get(key)?.get(member) ?? null;
        if (row === null) memberDeletes.push([key, member]);
        else memberUpserts.push([key, member, row]);
      }
    }
    return { cleared: [...this.#clearedZsets], upserts, memberDeletes, memberUpserts };
  }
}
