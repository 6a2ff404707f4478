/**
 * The key-value namespace in memory: Redis-style strings and counters with optional
 * expiry, each key carrying the version (log index and term) of its last write.
 *
 * The replication log is the durable record, so the namespace need not be durable on its
 * own: a node rebuilds it from its latest snapshot image and the log after it, as Redis
 * rebuilds its keys from an RDB file and the AOF. Applying a write is then a Map update,
 * not a B-tree page written to a WAL, and a read is a Map lookup.
 *
 * Expiry has two clocks. A write decides with the command's `at` (the leader's clock,
 * carried in the entry), so that every replica agrees whether a key was alive; a read
 * decides with the reader's clock, so that an expired key reads as absent at once even
 * before a sweep purges it.
 *
 * Keys and values are bytes, held as latin1 strings (one character per byte, which V8
 * stores one byte per character) and compared as such, which is byte order. Items are
 * never changed in place, only replaced, so a snapshot is a copy of the references
 * (`freeze`), consistent at one index while applies go on. A structured value (a hash,
 * values.ts) is the one thing changed in place, and only when no snapshot can see it: each
 * `freeze` ends a generation, and a value made in an ended generation is copied (into the
 * current one) before its first change, so a frozen snapshot never sees a later write and
 * a write costs what it changes, not a copy of the value.
 *
 * Every key has a sequence number, given when it is created and kept while it lives (an
 * overwrite keeps it, as a SQLite row keeps its rowid), so that SCAN's cursor, a sequence
 * number, visits every key present for the whole scan exactly once. Sequence numbers and
 * everything else here are decided by the entries alone, so every replica that applies
 * the same log from the same image holds the same namespace.
 */
import { TandemError } from '../core/errors.js';
import type { Bytes, Version } from './commands.js';
import {
  databaseOfText,
  inDatabaseText,
  swapHoldingDatabase,
  systemDatabase,
} from './databases.js';
import type { KeyVersion } from './contract.js';
import { drawIndexes, isLive, KeyValueCommands, keyString, type KeyState } from './kv-commands.js';
import { asBuffer, compileGlob, keysResultMax, scanCount, WrongTypeError } from './kv-rules.js';
import {
  compareIntegerMembers,
  copyHash,
  copySet,
  copyList,
  emptyHash,
  emptySet,
  emptyList,
  listPositions,
  listRange,
  typeOf,
  type Deque,
  type ListPositionOptions,
  type ListValue,
  type HashEncoding,
  type HashField,
  type HashValue,
  type SetEncoding,
  type SetValue,
  type StoredValue,
  type ValueType,
  copyZset,
  emptyZset,
  type ZsetEncoding,
  type ZsetMember,
  type ZsetValue,
} from './values.js';
import { countRange, selectRange, type ZsetRange, type ZsetSelection } from './sorted-set.js';

export {
  expireConditionHolds,
  isLive,
  keyString,
  sweepKeysMax,
  type KvCommand,
} from './kv-commands.js';
export { keysResultMax, scanCountDefault, scanCountMax } from './kv-rules.js';

/** A live key as a read sees it. */
export interface KvEntry {
  readonly value: Buffer;
  readonly version: Version;
  /** Absolute ms, or null when the key does not expire. */
  readonly expiresAt: number | null;
}

/** One page of an HSCAN: `cursor` 0 means the scan is complete; fields with values. */
export interface HashScanPage {
  readonly cursor: number;
  readonly entries: [Buffer, Buffer][];
}

/** One page of an SSCAN: `cursor` 0 means the scan is complete. */
export interface SetScanPage {
  readonly cursor: number;
  readonly members: Buffer[];
}

/** SCAN's options: a MATCH glob, a COUNT, and the database (databases.ts) to keep to. */
export interface ScanOptions {
  readonly match?: Bytes;
  readonly count?: number;
  readonly db?: number;
}

/** One page of a SCAN: `cursor` 0 means the scan is complete. */
export interface ScanPage {
  readonly cursor: number;
  readonly keys: Buffer[];
}

/** One key's state. Never changed in place: a write replaces it. */
export interface Item {
  /** A string's bytes as a latin1 string, or a structured value (values.ts). */
  readonly value: StoredValue;
  readonly index: number;
  readonly term: number;
  /** Absolute ms, or null when the key does not expire. */
  readonly expiresAt: number | null;
  /** The key's sequence number: its SCAN place, given at creation. */
  readonly seq: number;
}

/** A key with its value, version and expiry, as `held` lists it. */
export interface HeldKey extends KvEntry {
  readonly key: Buffer;
  /** For a hash (whose `value` is then empty): its encoding and fields, in order. */
  readonly hash?: HeldHash;
  /** For a set (whose `value` is then empty): its encoding and members, in sequence order. */
  readonly set?: HeldSet;
  /** For a sorted set (whose `value` is then empty): its encoding and members, in order. */
  readonly zset?: HeldZset;
}

/** A set as `held` lists it. */
export interface HeldSet {
  readonly encoding: SetEncoding;
  readonly members: readonly Buffer[];
}

/** A sorted set as `held` lists it: members with scores, by score then member. */
export interface HeldZset {
  readonly encoding: ZsetEncoding;
  readonly members: readonly (readonly [Buffer, number])[];
}

/** The live keys of a store (INFO keyspace's `keys`, `expires` and `avg_ttl`). */
export interface KeyspaceStats {
  readonly keys: number;
  readonly expires: number;
  /** The average milliseconds to live of the keys with an expiry; 0 when there are none. */
  readonly averageTtlMs: number;
}

/** One page of a ZSCAN: `cursor` 0 means the scan is complete; members with scores. */
export interface ZsetScanPage {
  readonly cursor: number;
  readonly entries: [Buffer, number][];
  /** For a list (whose `value` is then empty): its elements, head first. */
  readonly list?: readonly Buffer[];
}

/** A hash as `held` lists it. */
export interface HeldHash {
  readonly encoding: HashEncoding;
  readonly fields: readonly (readonly [Buffer, Buffer])[];
}

/** A value as `held` lists it: a string's bytes, or an empty value and the hash. */
export function heldValue(value: StoredValue): {
  value: Buffer;
  hash?: HeldHash;
  set?: HeldSet;
  zset?: HeldZset;
  list?: readonly Buffer[];
} {
  if (typeof value === 'string') return { value: Buffer.from(value, 'latin1') };
  if (value.type === 'set') {
    const members = [...value.members.keys()].map((member) => Buffer.from(member, 'latin1'));
    return { value: Buffer.alloc(0), set: { encoding: value.encoding, members } };
  }
  if (value.type === 'zset') {
    const members = [...value.order.entries()].map(
      ([member, score]) => [Buffer.from(member, 'latin1'), score] as const,
    );
    return { value: Buffer.alloc(0), zset: { encoding: value.encoding, members } };
  }
  if (value.type === 'list') {
    const elements = value.elements.slice(0, value.elements.length - 1);
    return { value: Buffer.alloc(0), list: elements.map((bytes) => Buffer.from(bytes, 'latin1')) };
  }
  const fields = [...value.fields].map(
    ([field, { value: bytes }]) =>
      [Buffer.from(field, 'latin1'), Buffer.from(bytes, 'latin1')] as const,
  );
  return { value: Buffer.alloc(0), hash: { encoding: value.encoding, fields } };
}

/** A consistent copy of the namespace, in sequence order, for a snapshot image. */
export interface FrozenKeyspace {
  readonly keys: readonly string[];
  readonly items: readonly Item[];
  /** The sequence number the next new key gets. */
  readonly nextSeq: number;
}

/**
 * RANDOMKEY's draws of a random SCAN slot before it walks the slots in order: while most
 * slots hold live keys, one of the first draws finds one, each live key as likely as any.
 */
const randomKeyDrawsMax = 8;

/** The part of a glob pattern before its first special character, as a latin1 string. */
function literalPrefix(pattern: Bytes): string {
  const text = Buffer.from(pattern.buffer, pattern.byteOffset, pattern.byteLength).toString(
    'latin1',
  );
  const special = text.search(/[*?[\\]/);
  return special < 0 ? text : text.slice(0, special);
}

/** The stale SCAN slots tolerated beyond the live keys before the order is compacted. */
const staleSlotsSlack = 1024;

/** Whether `bytes` begins with `prefix`. */
export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return (
    bytes.byteLength >= prefix.byteLength &&
    asBuffer(bytes).compare(prefix, 0, prefix.byteLength, 0, prefix.byteLength) === 0
  );
}

/** A change made in place to a hash of the current generation, as it was before. */
type HashUndo =
  | {
      readonly hash: HashValue;
      readonly field: string;
      readonly old: HashField | undefined;
      readonly nextSeq: number;
    }
  | { readonly hash: HashValue; readonly encoding: HashEncoding };

/** A change made in place to a set of the current generation, as it was before. */
type SetUndo =
  | {
      readonly set: SetValue;
      readonly member: string;
      /** The member's sequence number before (undefined: it was absent). */
      readonly old: number | undefined;
      readonly nextSeq: number;
    }
  | { readonly set: SetValue; readonly encoding: SetEncoding };
/** A change made in place to a sorted set of the current generation, as it was before. */
type ZsetUndo =
  | {
      readonly zset: ZsetValue;
      readonly member: string;
      readonly old: ZsetMember | undefined;
      readonly nextSeq: number;
    }
  | { readonly zset: ZsetValue; readonly encoding: ZsetEncoding };

/**
 * A change made in place to a list of the current generation, as it can be undone: an
 * element inserted at `index` (undone by removing it), removed from `index` (put back), or
 * replaced there (the old element put back).
 */
type ListUndo =
  | { readonly list: ListValue; readonly inserted: number }
  | { readonly list: ListValue; readonly removed: number; readonly element: string }
  | { readonly list: ListValue; readonly replaced: number; readonly element: string }
  | { readonly list: ListValue; readonly elements: Deque };

/** What a batch changed, so that a batch that fails can be undone whole. */
interface Undo {
  /** Each key's item before the batch first changed it (undefined: it was absent). */
  readonly items: Map<string, Item | undefined>;
  /** The in-place changes of hashes, in order (undone last first, before the items). */
  readonly hashes: HashUndo[];
  /** The in-place changes of sets, in order (undone last first, before the items). */
  readonly sets: SetUndo[];
  /** The in-place changes of sorted sets, in order (undone as the hashes' are). */
  readonly zsets: ZsetUndo[];
  /** The in-place changes of lists, in order (undone last first, before the items). */
  readonly lists: ListUndo[];
  readonly orderLength: number;
  readonly nextSeq: number;
}

/** The in-memory key-value namespace of one store; the commands' meaning is kv-commands.ts. */
export class Keyspace extends KeyValueCommands {
  readonly #items = new Map<string, Item>();
  /** Keys by sequence number; a slot whose key is gone or was created again is stale. */
  #order: string[] = [];
  #orderSeqs: number[] = [];
  #nextSeq = 1;
  /** The keys that have an expiry. */
  readonly #volatile = new Set<string>();
  #undo: Undo | null = null;
  /**
   * The current generation: structured values made in it are the live namespace's alone
   * (changed in place); `freeze` ends it, so older ones are copied before a change.
   */
  #generation = 1;
  /**
   * Structured values a transaction's read step shares (`readView`): changed in place
   * meanwhile, the view would see a later write, so each is copied before its next change,
   * as a frozen snapshot's are. Only the values read pay for it, once each.
   */
  readonly #viewed = new WeakSet<StructuredValue>();

  /**
   * How many keys each database holds, expired or not (`[db]`; the holding database of a
   * SWAPDB is index 16, the system database 17), kept as keys come and go, so INFO keyspace and DBSIZE of one
   * database count its expired keys only, as they did the whole namespace's.
   */
  readonly #databaseSizes: number[] = new Array<number>(systemDatabase + 1).fill(0);

  /**
   * The keys of the system database (databases.ts), kept apart so that the blob layer's
   * scans of its few records never walk the whole keyspace: a node with a million keys
   * scanning them every few seconds would hold its event loop, and its heartbeats.
   */
  readonly #systemKeys = new Set<string>();

  #setItem(key: string, item: Item): void {
    // One lookup: the map grew only if the key is new (a load of a million keys spent 40%
    // of its time in a lookup before each set).
    const size = this.#items.size;
    this.#items.set(key, item);
    if (this.#items.size === size) return;
    const db = this.#databaseIndex(key);
    this.#databaseSizes[db]++;
    if (db === systemDatabase) this.#systemKeys.add(key);
  }

  #deleteItem(key: string): void {
    if (!this.#items.delete(key)) return;
    const db = this.#databaseIndex(key);
    this.#databaseSizes[db]--;
    if (db === systemDatabase) this.#systemKeys.delete(key);
  }

  /** The database of a stored key (16 for the holding database of a SWAPDB, 17 the system's). */
  #databaseIndex(key: string): number {
    const db = databaseOfText(key);
    if (db !== null) return db;
    if (inDatabaseText(key, swapHoldingDatabase)) return swapHoldingDatabase;
    return inDatabaseText(key, systemDatabase) ? systemDatabase : 0;
  }

  /** The number of keys held, expired or not. */
  get size(): number {
    return this.#items.size;
  }

  // ------------------------------------------------------------------ batches

  /** Starts a batch: until `commit`, `rollback` undoes every change. */
  begin(): void {
    this.#undo = {
      items: new Map(),
      hashes: [],
      sets: [],
      zsets: [],
      lists: [],
      orderLength: this.#order.length,
      nextSeq: this.#nextSeq,
    };
  }

  /** Keeps the batch's changes. */
  commit(): void {
    this.#undo = null;
    if (this.#order.length > 2 * this.#items.size + staleSlotsSlack) this.#compactOrder();
  }

  /** Undoes every change since `begin`. */
  rollback(): void {
    const undo = this.#undo;
    if (undo === null) return;
    this.#undo = null;
    for (const change of undo.hashes.reverse()) {
      if ('encoding' in change) change.hash.encoding = change.encoding;
      else {
        if (change.old === undefined) change.hash.fields.delete(change.field);
        else change.hash.fields.set(change.field, change.old);
        change.hash.nextSeq = change.nextSeq;
      }
    }
    for (const change of undo.sets.reverse()) {
      if ('encoding' in change) change.set.encoding = change.encoding;
      else {
        if (change.old === undefined) change.set.members.delete(change.member);
        else change.set.members.set(change.member, change.old);
        change.set.nextSeq = change.nextSeq;
      }
    }
    undoZsetChanges(undo.zsets);
    for (const change of undo.lists.reverse()) {
      const elements = change.list.elements;
      if ('inserted' in change) elements.removeAt(change.inserted);
      else if ('removed' in change) elements.insert(change.removed, change.element);
      else if ('replaced' in change) elements.set(change.replaced, change.element);
      else change.list.elements = change.elements;
    }
    for (const [key, item] of undo.items) {
      if (item === undefined) this.#deleteItem(key);
      else this.#setItem(key, item);
      if (item?.expiresAt === null || item === undefined) this.#volatile.delete(key);
      else this.#volatile.add(key);
    }
    this.#order.length = undo.orderLength;
    this.#orderSeqs.length = undo.orderLength;
    this.#nextSeq = undo.nextSeq;
  }

  // ------------------------------------------------------------------ writes

  /** The whole namespace is in memory, so it keeps linked clusters' merge state too. */
  protected override linkable(): boolean {
    return true;
  }

  protected read(key: string): Item | undefined {
    return this.#items.get(key);
  }

  /** FLUSHALL: every key of the sixteen databases; the system database's stay. */
  protected removeAll(): void {
    for (const key of [...this.#items.keys()]) {
      if (!inDatabaseText(key, systemDatabase)) this.remove(key);
    }
  }

  /** O(n) in every key held: the namespace is one `Map`, not one per database. */
  protected removeDatabase(db: number): void {
    for (const key of this.#databaseKeys(db)) this.remove(key);
  }

  /** O(n) in every key held, as FLUSHDB. */
  protected swapDatabases(a: number, b: number, version: Version, at: number): void {
    this.moveDatabases(a, b, version, at, (db) => this.#databaseKeys(db));
  }

  #databaseKeys(db: number): string[] {
    const found: string[] = [];
    for (const key of this.#items.keys()) if (inDatabaseText(key, db)) found.push(key);
    return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Purges up to `limit` keys expired at `at`, oldest expiry first, then by key. */
  protected sweep(at: number, limit: number): string[] {
    const expired: { key: string; expiresAt: number }[] = [];
    for (const key of this.#volatile) {
      const expiresAt = (this.#items.get(key) as Item).expiresAt as number;
      if (expiresAt <= at) expired.push({ key, expiresAt });
    }
    expired.sort((a, b) =>
      a.expiresAt !== b.expiresAt ? a.expiresAt - b.expiresAt : a.key < b.key ? -1 : 1,
    );
    const purged = expired.slice(0, limit);
    for (const { key } of purged) this.remove(key);
    return purged.map(({ key }) => key);
  }

  #remember(key: string, item: Item | undefined): void {
    const undo = this.#undo;
    if (undo !== null && !undo.items.has(key)) undo.items.set(key, item);
  }

  /** Writes `key`; an existing key, expired or not, keeps its sequence number. */
  protected write(
    key: string,
    value: string,
    version: Version,
    expiresAt: number | null,
    held: KeyState | undefined | null = null,
  ): void {
    this.#put(key, value, version, expiresAt, held as Item | undefined | null);
  }

  /** `held`: the key's item as just read (null: not read). */
  #put(
    key: string,
    value: StoredValue,
    version: Version,
    expiresAt: number | null,
    held: Item | undefined | null = null,
  ): void {
    const old = held === null ? this.#items.get(key) : held;
    this.#remember(key, old);
    let seq: number;
    if (old === undefined) {
      seq = this.#nextSeq++;
      this.#order.push(key);
      this.#orderSeqs.push(seq);
    } else {
      seq = old.seq;
    }
    const item: Item = { value, index: version.index, term: version.term, expiresAt, seq };
    this.#setItem(key, item);
    if (expiresAt !== null) this.#volatile.add(key);
    else if (old !== undefined && old.expiresAt !== null) this.#volatile.delete(key);
  }

  protected stamp(key: string, version: Version, expiresAt: number | null): void {
    const old = this.#items.get(key) as Item;
    this.#remember(key, old);
    this.#setItem(key, { ...old, index: version.index, term: version.term, expiresAt });
    if (expiresAt === null) this.#volatile.delete(key);
    else this.#volatile.add(key);
  }

  protected hashCreate(key: string, version: Version, expiresAt: number | null): void {
    this.#put(key, emptyHash(this.#generation), version, expiresAt);
  }

  protected hashGet(key: string, field: string): string | undefined {
    return this.#hashAt(key).fields.get(field)?.value;
  }

  protected hashLength(key: string): number {
    return this.#hashAt(key).fields.size;
  }

  protected hashEntries(key: string): [string, string][] {
    return [...this.#hashAt(key).fields].map(([field, { value }]) => [field, value]);
  }

  protected hashPut(key: string, field: string, value: string): void {
    const hash = this.#ownedHash(key);
    const old = hash.fields.get(field);
    this.#undo?.hashes.push({ hash, field, old, nextSeq: hash.nextSeq });
    hash.fields.set(field, { value, seq: old?.seq ?? hash.nextSeq++ });
  }

  protected hashDelete(key: string, field: string): void {
    const hash = this.#ownedHash(key);
    const old = hash.fields.get(field);
    if (old === undefined) return;
    this.#undo?.hashes.push({ hash, field, old, nextSeq: hash.nextSeq });
    hash.fields.delete(field);
  }

  protected hashEncode(key: string, encoding: HashEncoding): void {
    const hash = this.#ownedHash(key);
    this.#undo?.hashes.push({ hash, encoding: hash.encoding });
    hash.encoding = encoding;
  }

  protected setCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: SetEncoding,
  ): void {
    this.#put(key, emptySet(this.#generation, encoding), version, expiresAt);
  }

  protected setHas(key: string, member: string): boolean {
    return this.#setAt(key).members.has(member);
  }

  protected setLength(key: string): number {
    return this.#setAt(key).members.size;
  }

  protected setMembers(key: string): string[] {
    return [...this.#setAt(key).members.keys()];
  }

  protected setAdd(key: string, member: string): void {
    const set = this.#ownedSet(key);
    this.#undo?.sets.push({ set, member, old: undefined, nextSeq: set.nextSeq });
    set.members.set(member, set.nextSeq++);
  }

  protected setDelete(key: string, member: string): void {
    const set = this.#ownedSet(key);
    const old = set.members.get(member);
    if (old === undefined) return;
    this.#undo?.sets.push({ set, member, old, nextSeq: set.nextSeq });
    set.members.delete(member);
  }

  protected setEncode(key: string, encoding: SetEncoding): void {
    const set = this.#ownedSet(key);
    this.#undo?.sets.push({ set, encoding: set.encoding });
    set.encoding = encoding;
  }

  #setAt(key: string): SetValue {
    return (this.#items.get(key) as Item).value as SetValue;
  }

  /** The set at `key`, made the current generation's first (as `#ownedHash`). */
  #ownedSet(key: string): SetValue {
    const item = this.#items.get(key) as Item;
    const set = item.value as SetValue;
    if (set.generation === this.#generation && !this.#viewed.has(set)) return set;
    const copy = copySet(set, this.#generation);
    this.#remember(key, item);
    this.#setItem(key, { ...item, value: copy });
    return copy;
  }

  #hashAt(key: string): HashValue {
    return (this.#items.get(key) as Item).value as HashValue;
  }

  /**
   * The hash at `key`, made the current generation's first when a frozen snapshot may
   * share it: copied once per generation, then changed in place.
   */
  #ownedHash(key: string): HashValue {
    const item = this.#items.get(key) as Item;
    const hash = item.value as HashValue;
    if (hash.generation === this.#generation && !this.#viewed.has(hash)) return hash;
    const copy = copyHash(hash, this.#generation);
    this.#remember(key, item);
    this.#setItem(key, { ...item, value: copy });
    return copy;
  }

  protected zsetCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: ZsetEncoding,
  ): void {
    this.#put(key, emptyZset(this.#generation, encoding), version, expiresAt);
  }

  protected zsetScore(key: string, member: string): number | undefined {
    return this.#zsetAt(key).members.get(member)?.score;
  }

  protected zsetLength(key: string): number {
    return this.#zsetAt(key).members.size;
  }

  protected zsetPut(key: string, member: string, score: number): void {
    const zset = this.#ownedZset(key);
    const old = zset.members.get(member);
    this.#undo?.zsets.push({ zset, member, old, nextSeq: zset.nextSeq });
    if (old !== undefined) zset.order.delete(old.score, member);
    zset.members.set(member, { score, seq: old?.seq ?? zset.nextSeq++ });
    zset.order.insert(score, member);
  }

  protected zsetDelete(key: string, member: string): void {
    const zset = this.#ownedZset(key);
    const old = zset.members.get(member);
    if (old === undefined) return;
    this.#undo?.zsets.push({ zset, member, old, nextSeq: zset.nextSeq });
    zset.members.delete(member);
    zset.order.delete(old.score, member);
  }

  protected zsetEncode(key: string, encoding: ZsetEncoding): void {
    const zset = this.#ownedZset(key);
    this.#undo?.zsets.push({ zset, encoding: zset.encoding });
    zset.encoding = encoding;
  }

  protected zsetSelect(key: string, selection: ZsetSelection): [string, number][] {
    return selectRange(this.#zsetAt(key).order, selection);
  }

  #zsetAt(key: string): ZsetValue {
    return (this.#items.get(key) as Item).value as ZsetValue;
  }

  /** The sorted set at `key`, copied into the current generation first as `#ownedHash` does. */
  #ownedZset(key: string): ZsetValue {
    const item = this.#items.get(key) as Item;
    const zset = item.value as ZsetValue;
    if (zset.generation === this.#generation && !this.#viewed.has(zset)) return zset;
    const copy = copyZset(zset, this.#generation);
    this.#remember(key, item);
    this.#setItem(key, { ...item, value: copy });
    return copy;
  }

  protected listCreate(key: string, version: Version, expiresAt: number | null): void {
    this.#put(key, emptyList(this.#generation), version, expiresAt);
  }

  protected listLength(key: string): number {
    return this.#listAt(key).elements.length;
  }

  protected listGet(key: string, index: number): string {
    return this.#listAt(key).elements.at(index);
  }

  protected listEntries(key: string): string[] {
    const elements = this.#listAt(key).elements;
    return elements.slice(0, elements.length - 1);
  }

  protected listInsert(key: string, index: number, element: string): void {
    const list = this.#ownedList(key);
    this.#undo?.lists.push({ list, inserted: index });
    list.elements.insert(index, element);
  }

  protected listRemove(key: string, index: number): string {
    const list = this.#ownedList(key);
    const element = list.elements.removeAt(index);
    this.#undo?.lists.push({ list, removed: index, element });
    return element;
  }

  protected listSet(key: string, index: number, element: string): void {
    const list = this.#ownedList(key);
    this.#undo?.lists.push({ list, replaced: index, element: list.elements.at(index) });
    list.elements.set(index, element);
  }

  protected listRemoveEqual(key: string, element: string, count: number): number {
    const list = this.#ownedList(key);
    const { kept, removed } = list.elements.withoutEqual(element, count);
    if (removed === 0) return 0;
    this.#undo?.lists.push({ list, elements: list.elements });
    list.elements = kept;
    return removed;
  }

  #listAt(key: string): ListValue {
    return (this.#items.get(key) as Item).value as ListValue;
  }

  /** The list at `key`, copied into the current generation first when a snapshot may share it. */
  #ownedList(key: string): ListValue {
    const item = this.#items.get(key) as Item;
    const list = item.value as ListValue;
    if (list.generation === this.#generation && !this.#viewed.has(list)) return list;
    const copy = copyList(list, this.#generation);
    this.#remember(key, item);
    this.#setItem(key, { ...item, value: copy });
    return copy;
  }

  protected remove(key: string): void {
    const old = this.#items.get(key);
    if (old === undefined) return;
    this.#remember(key, old);
    this.#deleteItem(key);
    this.#volatile.delete(key);
  }

  /**
   * A transaction's read step: a namespace of `keys` alone, sharing their items. A
   * structured value it shares is copied before its next change (`#viewed`), so a later
   * write, of this batch or another, leaves the view as it was.
   */
  protected readView(keys: readonly string[]): Keyspace {
    const found: [string, Item][] = [];
    for (const key of keys) {
      const item = this.#items.get(key);
      if (item !== undefined) found.push([key, item]);
    }
    for (const [, { value }] of found) if (typeof value !== 'string') this.#viewed.add(value);
    return viewOf(found);
  }

  /** Drops the stale SCAN slots; the order of the rest is kept. */
  #compactOrder(): void {
    const order: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.#order.length; i++) {
      const key = this.#order[i] as string;
      const seq = this.#orderSeqs[i] as number;
      if (this.#items.get(key)?.seq === seq) {
        order.push(key);
        seqs.push(seq);
      }
    }
    this.#order = order;
    this.#orderSeqs = seqs;
  }

  // ------------------------------------------------------------------ reads

  /** The live value of `key` at `nowMs`, or null when it is absent or expired. */
  get(key: Bytes, nowMs: number): KvEntry | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    if (typeof item.value !== 'string') throw new WrongTypeError();
    return {
      value: Buffer.from(item.value, 'latin1'),
      version: { index: item.index, term: item.term },
      expiresAt: item.expiresAt,
    };
  }

  /** The live key's version and expiry, of any type; null when it is absent or expired. */
  versionOf(key: Bytes, nowMs: number): KeyVersion | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    return { version: { index: item.index, term: item.term }, expiresAt: item.expiresAt };
  }

  /** How many of `keys` are live at `nowMs`, counting repeats, as Redis EXISTS does. */
  exists(keys: readonly Bytes[], nowMs: number): number {
    return keys.filter((key) => isLive(this.#items.get(keyString(key)), nowMs)).length;
  }

  /** Milliseconds `key` has to live; -1 when it does not expire, -2 when it is absent. */
  ttlMs(key: Bytes, nowMs: number): number {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return -2;
    return item.expiresAt === null ? -1 : item.expiresAt - nowMs;
  }

  /** The live key's type, 'none' when it is absent or expired. */
  type(key: Bytes, nowMs: number): ValueType | 'none' {
    const item = this.#items.get(keyString(key));
    return isLive(item, nowMs) ? typeOf(item.value) : 'none';
  }

  /** The live hash at `key`; null when absent; Redis's WRONGTYPE for another type. */
  #liveHash(key: Bytes, nowMs: number): HashValue | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    if (typeof item.value === 'string' || item.value.type !== 'hash') throw new WrongTypeError();
    return item.value;
  }

  /** The live list at `key`; null when absent; Redis's WRONGTYPE for another type. */
  #liveList(key: Bytes, nowMs: number): ListValue | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    if (typeof item.value === 'string' || item.value.type !== 'list') throw new WrongTypeError();
    return item.value;
  }

  /** The live set at `key`; null when absent; Redis's WRONGTYPE for another type. */
  #liveSet(key: Bytes, nowMs: number): SetValue | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    if (typeof item.value === 'string' || item.value.type !== 'set') throw new WrongTypeError();
    return item.value;
  }

  /**
   * Every member of the set at `key` (none when absent): an intset's in ascending order
   * as Redis answers them, a hashtable's in sequence order.
   */
  setAll(key: Bytes, nowMs: number): Buffer[] {
    const set = this.#liveSet(key, nowMs);
    if (set === null) return [];
    const members = [...set.members.keys()];
    if (set.encoding === 'intset') members.sort(compareIntegerMembers);
    return members.map((member) => Buffer.from(member, 'latin1'));
  }

  /** Whether each of `members` is in the set at `key` (all false when absent): O(1) each. */
  setContains(key: Bytes, members: readonly Bytes[], nowMs: number): boolean[] {
    const set = this.#liveSet(key, nowMs);
    return members.map((member) => set?.members.has(keyString(member)) ?? false);
  }

  /**
   * `count` members of the set at `key` drawn at random (none when absent): distinct ones,
   * at most all of them, unless `repeats`. Walks the members once up to the last position
   * drawn, listing none of the others.
   */
  setRandom(
    key: Bytes,
    count: number,
    repeats: boolean,
    nowMs: number,
    random: () => number = Math.random,
  ): Buffer[] {
    const set = this.#liveSet(key, nowMs);
    if (set === null) return [];
    const indexes = drawIndexes(set.members.size, count, repeats, random);
    const wanted = new Set(indexes);
    const found = new Map<number, Buffer>();
    let last = -1;
    for (const index of wanted) last = Math.max(last, index);
    let position = 0;
    // `position` is the place in sequence order of the member the walk is at.
    for (const member of set.members.keys()) {
      if (position > last) break;
      if (wanted.has(position)) found.set(position, Buffer.from(member, 'latin1'));
      position++;
    }
    return indexes.map((index) => found.get(index) as Buffer);
  }

  /** How many members the set at `key` holds (0 when absent). */
  setSize(key: Bytes, nowMs: number): number {
    return this.#liveSet(key, nowMs)?.members.size ?? 0;
  }

  /** The set's encoding as OBJECT ENCODING names it, null when absent. */
  setEncoding(key: Bytes, nowMs: number): SetEncoding | null {
    return this.#liveSet(key, nowMs)?.encoding ?? null;
  }

  /**
   * One page of SSCAN from `cursor`: up to `count` members after the cursor's sequence
   * number. Like Redis, an intset comes whole in one page (in ascending order) whatever
   * the count.
   */
  setScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): SetScanPage {
    const count = scanCount(cursor, options);
    const set = this.#liveSet(key, nowMs);
    if (set === null) return { cursor: 0, members: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const matching = (members: Iterable<string>): Buffer[] => {
      const found: Buffer[] = [];
      for (const member of members) {
        const bytes = Buffer.from(member, 'latin1');
        if (glob === null || glob.matches(bytes)) found.push(bytes);
      }
      return found;
    };
    if (set.encoding === 'intset') {
      return { cursor: 0, members: matching([...set.members.keys()].sort(compareIntegerMembers)) };
    }
    const page: string[] = [];
    // Members iterate in sequence order: skip those the cursor passed.
    for (const [member, seq] of set.members) {
      if (seq <= cursor) continue;
      if (page.length === count)
        return {
          cursor: set.members.get(page.at(-1) as string) as number,
          members: matching(page),
        };
      page.push(member);
    }
    return { cursor: 0, members: matching(page) };
  }

  /** How many elements the list at `key` holds (0 when absent). */
  listSize(key: Bytes, nowMs: number): number {
    return this.#liveList(key, nowMs)?.elements.length ?? 0;
  }

  /** LRANGE: the elements from `start` to `stop` (Redis's indexes); none when absent. */
  listElements(key: Bytes, start: number, stop: number, nowMs: number): Buffer[] {
    const list = this.#liveList(key, nowMs);
    if (list === null) return [];
    const range = listRange(list.elements.length, start, stop);
    if (range === null) return [];
    return list.elements
      .slice(range.start, range.stop)
      .map((element) => Buffer.from(element, 'latin1'));
  }

  /** LINDEX: the element at `index` (negative from the tail); null when out of range or absent. */
  listElement(key: Bytes, index: number, nowMs: number): Buffer | null {
    const list = this.#liveList(key, nowMs);
    if (list === null) return null;
    const at = index < 0 ? list.elements.length + index : index;
    if (at < 0 || at >= list.elements.length) return null;
    return Buffer.from(list.elements.at(at), 'latin1');
  }

  /** LPOS: the indexes of `element` as the options say; null when the key is absent. */
  listIndexes(
    key: Bytes,
    element: Bytes,
    options: ListPositionOptions,
    nowMs: number,
  ): number[] | null {
    const list = this.#liveList(key, nowMs);
    if (list === null) return null;
    const elements = list.elements;
    return listPositions(elements.length, (i) => elements.at(i), keyString(element), options);
  }

  /** The values of `fields` in the hash at `key` (null for each absent); null without a hash. */
  hashValues(key: Bytes, fields: readonly Bytes[], nowMs: number): (Buffer | null)[] | null {
    const hash = this.#liveHash(key, nowMs);
    if (hash === null) return null;
    return fields.map((field) => {
      const found = hash.fields.get(keyString(field));
      return found === undefined ? null : Buffer.from(found.value, 'latin1');
    });
  }

  /** How many fields the hash at `key` holds (0 when absent). */
  hashSize(key: Bytes, nowMs: number): number {
    return this.#liveHash(key, nowMs)?.fields.size ?? 0;
  }

  /** The hash's encoding as OBJECT ENCODING names it, null when absent. */
  hashEncoding(key: Bytes, nowMs: number): HashEncoding | null {
    return this.#liveHash(key, nowMs)?.encoding ?? null;
  }

  /** Every field and value of the hash at `key`, in its order (empty when absent). */
  hashAll(key: Bytes, nowMs: number): [Buffer, Buffer][] {
    const hash = this.#liveHash(key, nowMs);
    if (hash === null) return [];
    return [...hash.fields].map(([field, { value }]) => [
      Buffer.from(field, 'latin1'),
      Buffer.from(value, 'latin1'),
    ]);
  }

  /**
   * One page of HSCAN from `cursor`: up to `count` fields after the cursor's sequence
   * number. Like Redis, a listpack hash comes whole in one page whatever the count.
   */
  hashScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): HashScanPage {
    const count = scanCount(cursor, options);
    const hash = this.#liveHash(key, nowMs);
    if (hash === null) return { cursor: 0, entries: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const whole = hash.encoding === 'listpack';
    const entries: [Buffer, Buffer][] = [];
    let examined = 0;
    let last = 0;
    // Fields iterate in sequence order: skip those the cursor passed.
    for (const [field, { value, seq }] of hash.fields) {
      if (seq <= cursor && !whole) continue;
      if (examined === count && !whole) return { cursor: last, entries };
      examined++;
      last = seq;
      const bytes = Buffer.from(field, 'latin1');
      if (glob === null || glob.matches(bytes)) entries.push([bytes, Buffer.from(value, 'latin1')]);
    }
    return { cursor: 0, entries };
  }

  /** The live sorted set at `key`; null when absent; Redis's WRONGTYPE for another type. */
  #liveZset(key: Bytes, nowMs: number): ZsetValue | null {
    const item = this.#items.get(keyString(key));
    if (!isLive(item, nowMs)) return null;
    if (typeof item.value === 'string' || item.value.type !== 'zset') throw new WrongTypeError();
    return item.value;
  }

  /** The scores of `members` in the sorted set at `key` (null for each absent); null without it. */
  zsetScores(key: Bytes, members: readonly Bytes[], nowMs: number): (number | null)[] | null {
    const zset = this.#liveZset(key, nowMs);
    if (zset === null) return null;
    return members.map((member) => zset.members.get(keyString(member))?.score ?? null);
  }

  /** How many members the sorted set at `key` holds (0 when absent). */
  zsetSize(key: Bytes, nowMs: number): number {
    return this.#liveZset(key, nowMs)?.members.size ?? 0;
  }

  /** A member's 0-based rank (from the top when `reverse`), null when it or the set is absent. */
  zsetRank(key: Bytes, member: Bytes, reverse: boolean, nowMs: number): number | null {
    const zset = this.#liveZset(key, nowMs);
    const name = keyString(member);
    const found = zset?.members.get(name);
    if (zset === null || found === undefined) return null;
    const rank = zset.order.rankOf(found.score, name);
    return reverse ? zset.order.length - 1 - rank : rank;
  }

  /** The members `selection` picks, in its order, with their scores; none when absent. */
  zsetRange(key: Bytes, selection: ZsetSelection, nowMs: number): [Buffer, number][] {
    const zset = this.#liveZset(key, nowMs);
    if (zset === null) return [];
    return selectRange(zset.order, selection).map(([member, score]) => [
      Buffer.from(member, 'latin1'),
      score,
    ]);
  }

  /** How many members `range` covers (ZCOUNT, ZLEXCOUNT); 0 when absent. */
  zsetCount(key: Bytes, range: ZsetRange, nowMs: number): number {
    const zset = this.#liveZset(key, nowMs);
    return zset === null ? 0 : countRange(zset.order, range);
  }

  /** The sorted set's encoding as OBJECT ENCODING names it, null when absent. */
  zsetEncoding(key: Bytes, nowMs: number): ZsetEncoding | null {
    return this.#liveZset(key, nowMs)?.encoding ?? null;
  }

  /**
   * One page of ZSCAN from `cursor`: up to `count` members after the cursor's sequence
   * number. Like Redis, a listpack set comes whole in one page, in its order (by score).
   */
  zsetScan(
    key: Bytes,
    cursor: number,
    options: { match?: Bytes; count?: number },
    nowMs: number,
  ): ZsetScanPage {
    const count = scanCount(cursor, options);
    const zset = this.#liveZset(key, nowMs);
    if (zset === null) return { cursor: 0, entries: [] };
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const matching = (member: string): boolean =>
      glob === null || glob.matches(Buffer.from(member, 'latin1'));
    const entries: [Buffer, number][] = [];
    if (zset.encoding === 'listpack') {
      for (const [member, score] of zset.order.entries()) {
        if (matching(member)) entries.push([Buffer.from(member, 'latin1'), score]);
      }
      return { cursor: 0, entries };
    }
    let examined = 0;
    let last = 0;
    // Members iterate in sequence order: skip those the cursor passed.
    for (const [member, { score, seq }] of zset.members) {
      if (seq <= cursor) continue;
      if (examined === count) return { cursor: last, entries };
      examined++;
      last = seq;
      if (matching(member)) entries.push([Buffer.from(member, 'latin1'), score]);
    }
    return { cursor: 0, entries };
  }

  /**
   * The live keys at `nowMs`, those with an expiry, and their average time to live; of
   * database `db` only when it is given (databases.ts), else of every key held.
   */
  keyspaceStats(nowMs: number, db?: number): KeyspaceStats {
    let expired = 0;
    let expires = 0;
    let ttlSumMs = 0;
    for (const key of this.#volatile) {
      if (db !== undefined && !inDatabaseText(key, db)) continue;
      const expiresAt = (this.#items.get(key) as Item).expiresAt as number;
      if (expiresAt <= nowMs) {
        expired++;
      } else {
        expires++;
        ttlSumMs += expiresAt - nowMs;
      }
    }
    const averageTtlMs = expires === 0 ? 0 : Math.floor(ttlSumMs / expires);
    return { keys: this.#held(db) - expired, expires, averageTtlMs };
  }

  /** The number of live keys at `nowMs` (of database `db` when given). */
  dbsize(nowMs: number, db?: number): number {
    let expired = 0;
    for (const key of this.#volatile) {
      if (db !== undefined && !inDatabaseText(key, db)) continue;
      if (((this.#items.get(key) as Item).expiresAt as number) <= nowMs) expired++;
    }
    return this.#held(db) - expired;
  }

  /** How many keys are held (expired or not), of database `db` when given. */
  #held(db: number | undefined): number {
    return db === undefined ? this.#items.size : (this.#databaseSizes[db] ?? 0);
  }

  /**
   * A live key at `nowMs` picked at random (Redis RANDOMKEY), null when none is live.
   * Draws random slots first; when they all miss (most keys expired or gone), walks every
   * slot once from a random one, so that an expired key is never the answer and a live
   * one always is when there is one. `random` gives numbers in [0, 1).
   */
  randomKey(nowMs: number, db?: number, random: () => number = Math.random): Buffer | null {
    const slots = this.#order.length;
    if (this.#items.size === 0) return null;
    for (let draw = 0; draw < randomKeyDrawsMax; draw++) {
      const key = this.#liveKeyAt(Math.floor(random() * slots), nowMs, db);
      if (key !== null) return key;
    }
    const start = Math.floor(random() * slots);
    for (let step = 0; step < slots; step++) {
      const key = this.#liveKeyAt((start + step) % slots, nowMs, db);
      if (key !== null) return key;
    }
    return null;
  }

  /**
   * The key of SCAN slot `slot` when the slot is current, its key live at `nowMs` and of
   * database `db` (when given).
   */
  #liveKeyAt(slot: number, nowMs: number, db: number | undefined): Buffer | null {
    const key = this.#order[slot] as string;
    if (db !== undefined && !inDatabaseText(key, db)) return null;
    const item = this.#items.get(key);
    if (item?.seq !== this.#orderSeqs[slot] || !isLive(item, nowMs)) return null;
    return Buffer.from(key, 'latin1');
  }

  /**
   * The live keys matching a Redis glob `pattern`, in byte order. Throws
   * TANDEM_BAD_REQUEST past `keysResultMax` matches.
   */
  keys(pattern: Bytes, nowMs: number, db?: number): Buffer[] {
    const glob = compileGlob(pattern);
    const prefix = keyString(glob.prefix);
    const found: string[] = [];
    for (const [key, item] of this.#items) {
      if (!key.startsWith(prefix) || !isLive(item, nowMs)) continue;
      if (db !== undefined && !inDatabaseText(key, db)) continue;
      if (!glob.matches(Buffer.from(key, 'latin1'))) continue;
      if (found.length === keysResultMax) {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          `KEYS matches more than ${keysResultMax} keys; use SCAN to walk them in pages`,
        );
      }
      found.push(key);
    }
    found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return found.map((key) => Buffer.from(key, 'latin1'));
  }

  /**
   * One page of SCAN from `cursor` (0 to start). Examines up to `count` keys and returns
   * the live ones that match; like Redis, a page may be empty before the end. A key
   * present for the whole scan is returned exactly once: it keeps its sequence number
   * when it is overwritten.
   */
  scan(cursor: number, options: ScanOptions, nowMs: number): ScanPage {
    if (options.db === systemDatabase) return this.#scanSystem(options, nowMs);
    const count = scanCount(cursor, options);
    const glob = options.match === undefined ? null : compileGlob(options.match);
    const keys: Buffer[] = [];
    let examined = 0;
    let last = 0;
    for (let i = this.#firstSlotAfter(cursor); i < this.#order.length && examined < count; i++) {
      const key = this.#order[i] as string;
      const seq = this.#orderSeqs[i] as number;
      const item = this.#items.get(key);
      if (item?.seq !== seq) continue;
      examined++;
      last = seq;
      if (!isLive(item, nowMs)) continue;
      if (options.db !== undefined && !inDatabaseText(key, options.db)) continue;
      const bytes = Buffer.from(key, 'latin1');
      if (glob === null || glob.matches(bytes)) keys.push(bytes);
    }
    return { cursor: examined < count ? 0 : last, keys };
  }

  /**
   * A scan of the system database: every live key that matches, in one page (cursor 0),
   * from the system keys alone. No client reaches it (no client can name the database).
   */
  #scanSystem(options: ScanOptions, nowMs: number): ScanPage {
    const glob = options.match === undefined ? null : compileGlob(options.match);
    // The pattern's literal start narrows the keys before anything is sorted or matched:
    // a linked cluster holds a system key per key and per stream record, and its leader
    // looks up its few link records many times a second.
    const prefix = options.match === undefined ? '' : literalPrefix(options.match);
    const matched: string[] = [];
    for (const key of this.#systemKeys) {
      if (!key.startsWith(prefix)) continue;
      const item = this.#items.get(key);
      if (item === undefined || !isLive(item, nowMs)) continue;
      if (glob === null || glob.matches(Buffer.from(key, 'latin1'))) matched.push(key);
    }
    return { cursor: 0, keys: matched.sort().map((key) => Buffer.from(key, 'latin1')) };
  }

  /** The first slot whose sequence number is above `seq` (binary search). */
  #firstSlotAfter(seq: number): number {
    let low = 0;
    let high = this.#orderSeqs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#orderSeqs[middle] as number) <= seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Every key held, expired or not yet purged, in byte order, with everything it carries
   * but its sequence number: what two replicas that applied the same entries agree on.
   */
  held(): HeldKey[] {
    return [...this.#items]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => ({
        key: Buffer.from(key, 'latin1'),
        ...heldValue(item.value),
        version: { index: item.index, term: item.term },
        expiresAt: item.expiresAt,
      }));
  }

  // ------------------------------------------------------------------ images

  /** A consistent copy of every key, in sequence order; cheap: items are shared. */
  freeze(): FrozenKeyspace {
    // The values frozen now are shared: from here on they are copied before a change.
    this.#generation++;
    // The map holds its keys in the order they were added, which is sequence order unless
    // a rollback put a key back: then the order's slots say which keys are live, in order.
    // Arrays of the final size, filled by index: twice as fast as pushed (100,000 keys).
    const size = this.#items.size;
    const mapKeys = new Array<string>(size);
    const mapItems = new Array<Item>(size);
    let count = 0;
    let lastSeq = 0;
    for (const [key, item] of this.#items) {
      if (item.seq <= lastSeq) break;
      lastSeq = item.seq;
      mapKeys[count] = key;
      mapItems[count++] = item;
    }
    if (count === size) return { keys: mapKeys, items: mapItems, nextSeq: this.#nextSeq };
    const keys: string[] = [];
    const items: Item[] = [];
    for (let i = 0; i < this.#order.length; i++) {
      const key = this.#order[i] as string;
      const item = this.#items.get(key);
      if (item?.seq === this.#orderSeqs[i]) {
        keys.push(key);
        items.push(item);
      }
    }
    return { keys, items, nextSeq: this.#nextSeq };
  }

  /**
   * Adds a key read from an image. Keys must come in increasing sequence order, each
   * once, into an empty namespace; `finishLoad` then sets the next sequence number.
   */
  load(key: string, item: Item): void {
    this.#setItem(key, item);
    this.#order.push(key);
    this.#orderSeqs.push(item.seq);
    if (item.expiresAt !== null) this.#volatile.add(key);
  }

  /** Ends a load: new keys get sequence numbers from `nextSeq`. */
  finishLoad(nextSeq: number): void {
    this.#nextSeq = nextSeq;
  }

  /** The sequence number of the last key loaded, 0 when none (a load's check). */
  get lastSeq(): number {
    return this.#orderSeqs.at(-1) ?? 0;
  }
}

/**
 * A namespace holding `items` alone (a transaction's view of the keys a read named), in
 * their sequence order, as an image loads them.
 */
export function viewOf(items: readonly (readonly [string, Item])[]): Keyspace {
  const view = new Keyspace();
  const ordered = [...items].sort(([, a], [, b]) => a.seq - b.seq);
  for (const [key, item] of ordered) view.load(key, item);
  view.finishLoad((ordered.at(-1)?.[1].seq ?? 0) + 1);
  return view;
}

/** A value that may be changed in place (every type but a string). */
type StructuredValue = Exclude<StoredValue, string>;

/**
 * Undoes the in-place changes of sorted sets, last first; then each set's member map is put
 * back in sequence order (a member removed and restored would otherwise iterate last, and
 * ZSCAN's cursor relies on that order).
 */
function undoZsetChanges(changes: ZsetUndo[]): void {
  const touched = new Set<ZsetValue>();
  for (const change of changes.reverse()) {
    undoZsetChange(change);
    touched.add(change.zset);
  }
  for (const zset of touched) {
    const members = [...zset.members].sort(([, a], [, b]) => a.seq - b.seq);
    zset.members.clear();
    for (const [member, entry] of members) zset.members.set(member, entry);
  }
}

/** Undoes one in-place change of a sorted set: its member's score (or absence), or encoding. */
function undoZsetChange(change: ZsetUndo): void {
  const zset = change.zset;
  if ('encoding' in change) {
    zset.encoding = change.encoding;
    return;
  }
  const current = zset.members.get(change.member);
  if (current !== undefined) zset.order.delete(current.score, change.member);
  if (change.old === undefined) zset.members.delete(change.member);
  else {
    zset.members.set(change.member, change.old);
    zset.order.insert(change.old.score, change.member);
  }
  zset.nextSeq = change.nextSeq;
}
