/**
 * The key-value commands' meaning, written once for both stores: the in-memory namespace
 * of the SQLite store (keyspace.ts) and the PostgreSQL store's batch of loaded rows
 * (postgres-kv.ts) each say how to read, write and remove a key, and inherit what every
 * command does with them. So the two cannot drift apart, and a new command or data type
 * is written once.
 *
 * Keys and values are bytes held as latin1 strings (one character per byte, compared in
 * byte order). A write decides expiry with the command's `at`, the leader's clock carried
 * in the entry, so that every replica agrees whether a key was alive.
 */
import type { AclCommand } from './access-state.js';
import type {
  Bytes,
  Command,
  ExpireCondition,
  HashCommand,
  ZsetCommand,
  ZsetRangeText,
  ListCommand,
  ListEnd,
  MultiCommand,
  SetFamilyCommand,
  SqlCommand,
  Version,
  WatchedKey,
} from './commands.js';
import { bitOffsetRange, valueBytesMax } from './commands.js';
import { databaseOfText, movedKeyText, swapHoldingDatabase, systemKeyText } from './databases.js';
import { decodeBatch } from '../links/codec.js';
import { readValue } from '../links/merge.js';
import { LinkedState, planBatch, type UnstampedOp } from '../links/protocol.js';
import {
  StoredLinkStore,
  decodeLinkMeta,
  linkMetaName,
  newLinkMeta,
  type StoredLinkMeta,
  type SystemRecords,
} from '../links/records.js';
import { TandemError } from '../core/errors.js';
import type { ApplyResult, KeyEvent, KeyEventClass, KeyReader } from './contract.js';
import { bitfieldBytes, bitop, grown, runBitfield, setBitAt, bitAt } from './bits.js';
import { addLongDouble, formatLongDouble, parseLongDouble } from './long-double.js';
import {
  asBuffer,
  parseInt64,
  failed,
  notAnInteger,
  noSuchKey,
  ok,
  overflow,
  setHolds,
  tooLarge,
  versionHolds,
} from './kv-rules.js';
import {
  compareIntegerMembers,
  hashEncodingAfter,
  isIntegerMember,
  listRange,
  setEncodingAfterAdd,
  setEncodingFor,
  setIntsetEntriesMax,
  wrongType,
  zsetEncodingFor,
  zsetListpackEntriesMax,
  zsetListpackValueBytesMax,
  type HashEncoding,
  type SetEncoding,
  type ZsetEncoding,
} from './values.js';
import {
  combineSets,
  formatScore,
  parseLexBound,
  parseScore,
  parseScoreBound,
  scoreIsNan,
  sortedEntries,
  type ZsetRange,
  type ZsetSelection,
} from './sorted-set.js';

/** LSET's text for an index past either end of the list. */
export const indexOutOfRange = 'ERR index out of range';

/** HINCRBY's and HINCRBYFLOAT's texts for a field that holds no number. */
export const hashNotAnInteger = 'ERR hash value is not an integer';
export const hashNotAFloat = 'ERR hash value is not a float';
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
export { parseInt64 };

/** INCRBYFLOAT's texts: an unreadable number, and a sum past the format's range. */
export const notAFloat = 'ERR value is not a valid float';
export const notFinite = 'ERR increment would produce NaN or Infinity';
const zeroText = Buffer.from('0');

/** The most keys one expire-sweep purges, so that a sweep never makes a long apply. */
export const sweepKeysMax = 1000;

/** The key-value commands (everything but SQL). */
export type KvCommand = Exclude<Command, SqlCommand | AclCommand>;

/** The command types a linked cluster runs: string commands, whose effects merge. */
const linkedTypes: ReadonlySet<KvCommand['type']> = new Set([
  'set',
  'mset',
  'del',
  'incrby',
  'append',
  'expire',
  'getdel',
  'getex',
  'setrange',
  'msetnx',
  'incrbyfloat',
  'setbit',
]);

/** Commands a linked cluster runs as any cluster does: they change no key that merges. */
const linkedNeutralTypes: ReadonlySet<KvCommand['type']> = new Set(['expire-sweep', 'publish']);

/** The text of a command a linked cluster refuses. */
export function linkedRefusal(type: string): string {
  return `ERR ${type.toUpperCase()} is not allowed on a linked cluster: only string commands (SET, DEL, INCRBY, EXPIRE, APPEND, ...) merge across clusters`;
}

/** The text of a SQL write a linked cluster refuses: tables do not merge across clusters. */
export const linkedSqlRefusal =
  'ERR SQL writes are not allowed on a linked cluster: tables do not merge across clusters (only string keys do); SQL reads still answer';

/** The stored key of the linked state's meta. */
const linkMetaKey = systemKeyText(linkMetaName);

/** The stored keys of the string keys a command of `linkedTypes` writes. */
function linkedKeys(command: KvCommand): string[] {
  switch (command.type) {
    case 'mset':
    case 'msetnx':
      return [...new Set(command.pairs.map(([key]) => keyString(key)))];
    case 'del':
      return [...new Set(command.keys.map(keyString))];
    default:
      return 'key' in command ? [keyString(command.key as Bytes)] : [];
  }
}

/**
 * What a command needs to know of a structured value: its type tag (values.ts) and its
 * encoding. Each store has its own object for it; the fields, members or elements are
 * reached through the store's methods for the type.
 */
export type StructureState = HashStructure | SetStructure | ZsetStructure | ListStructure;

/** A hash's state: the fields are reached through the store's hash methods. */
export interface HashStructure {
  readonly type: 'hash';
  readonly encoding: HashEncoding;
}

/** A list's state (one encoding): the elements are reached through the store's list methods. */
export interface ListStructure {
  readonly type: 'list';
}

/** A set's state: the members are reached through the store's set methods. */
export interface SetStructure {
  readonly type: 'set';
  readonly encoding: SetEncoding;
}

/** What a command needs to know of a sorted set: its tag and encoding. */
export interface ZsetStructure {
  readonly type: 'zset';
  readonly encoding: ZsetEncoding;
}

/** What a command needs to know of a key. */
export interface KeyState {
  /** A string's bytes as a latin1 string, or a structured value's state. */
  readonly value: string | StructureState;
  readonly index: number;
  readonly term: number;
  /** Absolute ms, or null when the key does not expire. */
  readonly expiresAt: number | null;
}

/** A key holding a string. */
type StringState = KeyState & { readonly value: string };
/** A key holding a hash. */
type HashState = KeyState & { readonly value: HashStructure };
/** A key holding a set. */
type SetState = KeyState & { readonly value: SetStructure };
/** A key holding a sorted set. */
type ZsetState = KeyState & { readonly value: ZsetStructure };
/** A key holding a list. */
type ListState = KeyState & { readonly value: ListStructure };

function holdsString(state: KeyState): state is StringState {
  return typeof state.value === 'string';
}

/** A key's bytes as the string the stores key their maps by. */
export function keyString(key: Bytes): string {
  return asBuffer(key).toString('latin1');
}

/** Whether a key is alive at `nowMs`. */
export function isLive<T extends KeyState>(state: T | undefined, nowMs: number): state is T {
  return state !== undefined && (state.expiresAt === null || state.expiresAt > nowMs);
}

/**
 * Whether EXPIRE's `condition` lets a key whose expiry is `currentMs` (null: none) take
 * `nextMs`, as Redis 7 decides it: a key without expiry lives forever, so GT never holds
 * on it and LT always does.
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

/** The commands, over a store's own reads and writes of keys. */
export abstract class KeyValueCommands {
  /** The key's state, expired or not; undefined when absent. */
  protected abstract read(key: string): KeyState | undefined;
  /**
   * Writes a key; an existing one, expired or not, keeps its SCAN place. `held` is what
   * `read(key)` gave just before, with no change in between (null: not read), so that a
   * store need not look the key up again.
   */
  protected abstract write(
    key: string,
    value: string,
    version: Version,
    expiresAt: number | null,
    held?: KeyState | undefined | null,
  ): void;
  /** Removes a key (nothing when absent). */
  protected abstract remove(key: string): void;
  /** Removes every key (FLUSHDB). */
  protected abstract removeAll(): void;
  /** Removes every key of database `db` (databases.ts), expired or not. */
  protected abstract removeDatabase(db: number): void;
  /**
   * SWAPDB of databases `a` and `b` (distinct): every live key of each becomes the other's,
   * with its value and expiry, written at `version`; expired ones are removed. The
   * in-memory namespace moves key by key (`moveDatabases`); a PostgreSQL batch renames rows.
   */
  protected abstract swapDatabases(a: number, b: number, version: Version, at: number): void;
  /** Sets the version and expiry of a key that exists, keeping its value. */
  protected abstract stamp(key: string, version: Version, expiresAt: number | null): void;
  /**
   * Makes `key` an empty hash (listpack) at `version` with `expiresAt`, replacing whatever
   * it held; an existing key keeps its SCAN place. Fields are then added by `hashPut`.
   */
  protected abstract hashCreate(key: string, version: Version, expiresAt: number | null): void;
  /** A field's value in the hash at `key` (which holds one), or undefined. */
  protected abstract hashGet(key: string, field: string): string | undefined;
  /** How many fields the hash at `key` holds. */
  protected abstract hashLength(key: string): number;
  /** Every field and value of the hash at `key`, in its order (RENAME and COPY). */
  protected abstract hashEntries(key: string): [string, string][];
  /** Sets a field of the hash at `key`; a new field goes last, an old one keeps its place. */
  protected abstract hashPut(key: string, field: string, value: string): void;
  /** Removes a field of the hash at `key` (nothing when absent). */
  protected abstract hashDelete(key: string, field: string): void;
  /** Sets the encoding of the hash at `key`. */
  protected abstract hashEncode(key: string, encoding: HashEncoding): void;
  /**
   * Makes `key` an empty set of `encoding` at `version` with `expiresAt`, replacing
   * whatever it held; an existing key keeps its SCAN place. Members are added by `setAdd`.
   */
  protected abstract setCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: SetEncoding,
  ): void;
  /** Whether the set at `key` (which holds one) has `member`. */
  protected abstract setHas(key: string, member: string): boolean;
  /** How many members the set at `key` holds. */
  protected abstract setLength(key: string): number;
  /** Every member of the set at `key`, in sequence order (the order every replica shares). */
  protected abstract setMembers(key: string): string[];
  /** Adds `member` (absent from it) to the set at `key`, last in sequence order. */
  protected abstract setAdd(key: string, member: string): void;
  /** Removes `member` (present in it) from the set at `key`. */
  protected abstract setDelete(key: string, member: string): void;
  /** Sets the encoding of the set at `key`. */
  protected abstract setEncode(key: string, encoding: SetEncoding): void;
  /**
   * Makes `key` an empty sorted set of `encoding` at `version` with `expiresAt`, replacing
   * whatever it held; an existing key keeps its SCAN place. Members come by `zsetPut`.
   */
  protected abstract zsetCreate(
    key: string,
    version: Version,
    expiresAt: number | null,
    encoding: ZsetEncoding,
  ): void;
  /** A member's score in the sorted set at `key` (which holds one), or undefined. */
  protected abstract zsetScore(key: string, member: string): number | undefined;
  /** How many members the sorted set at `key` holds. */
  protected abstract zsetLength(key: string): number;
  /** Sets a member's score in the sorted set at `key` (adding it when absent). */
  protected abstract zsetPut(key: string, member: string, score: number): void;
  /** Removes a member of the sorted set at `key` (nothing when absent). */
  protected abstract zsetDelete(key: string, member: string): void;
  /** Sets the encoding of the sorted set at `key`. */
  protected abstract zsetEncode(key: string, encoding: ZsetEncoding): void;
  /** The members `selection` picks from the sorted set at `key`, in its order, with scores. */
  protected abstract zsetSelect(key: string, selection: ZsetSelection): [string, number][];
  /**
   * Makes `key` an empty list at `version` with `expiresAt`, replacing whatever it held;
   * an existing key keeps its SCAN place. The command then inserts at once: a list that a
   * command leaves empty is removed by it.
   */
  protected abstract listCreate(key: string, version: Version, expiresAt: number | null): void;
  /** How many elements the list at `key` holds. */
  protected abstract listLength(key: string): number;
  /** Element `index` (0 is the head, `0 <= index < length`) of the list at `key`. */
  protected abstract listGet(key: string, index: number): string;
  /** Every element of the list at `key`, head first (RENAME, COPY). */
  protected abstract listEntries(key: string): string[];
  /**
   * Inserts `element` before element `index` (`0 <= index <= length`): 0 pushes at the
   * head and `length` at the tail, each O(1).
   */
  protected abstract listInsert(key: string, index: number, element: string): void;
  /** Removes and returns element `index` (`0 <= index < length`); at an end, O(1). */
  protected abstract listRemove(key: string, index: number): string;
  /** Replaces element `index` (`0 <= index < length`). */
  protected abstract listSet(key: string, index: number, element: string): void;
  /**
   * LREM's removal in one pass: the elements equal to `element`, the first `count` of
   * them from the head (`count` > 0), from the tail (< 0), or all (0). Answers how many.
   */
  protected abstract listRemoveEqual(key: string, element: string, count: number): number;
  /** Purges up to `limit` keys expired at `at`, oldest expiry first, then by key: those keys. */
  protected abstract sweep(at: number, limit: number): string[];
  /**
   * A view of `keys` (distinct) as they are now, for a transaction's read step: it answers
   * every read of them (of every type, expired or not, judged at the reader's clock) as
   * the store answers it, and no later write of the batch changes what it answers.
   */
  protected abstract readView(keys: readonly string[]): KeyReader;

  /**
   * Whether `execute` lists the keyspace events of each command in its result (`events`),
   * for keyspace notifications. Off, it costs nothing.
   */
  keyEvents = false;
  /** The events of the command being executed (a transaction's steps included). */
  #events: KeyEvent[] | null = null;

  /** Records a keyspace event of the command being executed, if events are asked for. */
  #notify(kind: KeyEventClass, event: string, key: string): void {
    this.#events?.push({ kind, event, key: Buffer.from(key, 'latin1') });
  }

  /** Redis's generic `del` event, when `key` was just removed (a container left empty). */
  #notifyIfGone(key: string): void {
    if (this.#events !== null && this.read(key) === undefined) this.#notify('g', 'del', key);
  }

  /** Applies a key-value command written by the entry at `version`. */
  execute(command: KvCommand, version: Version): ApplyResult {
    if (!this.keyEvents || this.#events !== null) return this.#execute(command, version);
    const events: KeyEvent[] = [];
    this.#events = events;
    try {
      const result = this.#execute(command, version);
      return events.length === 0 || result === null || !result.ok ? result : { ...result, events };
    } finally {
      this.#events = null;
    }
  }

  /**
   * Whether this store keeps linked state (the embedded store's in-memory namespace; a
   * PostgreSQL batch loads only the rows its commands name, so it does not).
   */
  protected linkable(): boolean {
    return false;
  }

  #execute(command: KvCommand, version: Version): ApplyResult {
    if (command.type === 'link') return this.#link(command, version);
    const meta = this.#linkMeta();
    return meta === null ? this.#run(command, version) : this.#linked(command, version, meta);
  }

  // ------------------------------------------------------------------ linked clusters

  /** Whether this cluster is linked (its linked state has begun). */
  isLinked(): boolean {
    return this.#linkMeta() !== null;
  }

  /** The linked state's meta, or null when this cluster is not linked. */
  #linkMeta(): StoredLinkMeta | null {
    if (!this.linkable()) return null;
    const held = this.read(linkMetaKey);
    if (held === undefined) return null;
    const text = held.value as string;
    // Every command reads the meta: its text decodes to what it decoded to last time.
    if (this.#metaSeen?.text !== text) this.#metaSeen = { text, meta: decodeLinkMeta(text) };
    return this.#metaSeen.meta;
  }

  #metaSeen: { readonly text: string; readonly meta: StoredLinkMeta } | null = null;

  /** The linked state over this store's system records, written at `version`. */
  #linkedState(meta: StoredLinkMeta, version: Version): LinkedState {
    return new LinkedState(meta.cluster, this.#linkedStore(meta, version));
  }

  /** The linked records over this store's system database, written at `version`. */
  #linkedStore(meta: StoredLinkMeta, version: Version): StoredLinkStore {
    const records: SystemRecords = {
      get: (name) => this.read(systemKeyText(name))?.value as string | undefined,
      set: (name, text) => this.write(systemKeyText(name), text, version, null),
      delete: (name) => this.remove(systemKeyText(name)),
    };
    return new StoredLinkStore(records, meta);
  }

  #link(command: Extract<KvCommand, { type: 'link' }>, version: Version): ApplyResult {
    if (!this.linkable()) {
      return failed('ERR linked clusters need the embedded store; this cluster keeps PostgreSQL');
    }
    const meta = this.#linkMeta();
    if (command.action === 'create') {
      const cluster = command.cluster as string;
      if (meta !== null) {
        return meta.cluster === cluster
          ? ok('OK')
          : failed(`ERR this cluster is linked already, as ${meta.cluster}`);
      }
      const state = this.#linkedState(newLinkMeta(cluster), version);
      state.store.setMeta(state.store.meta());
      return ok('OK');
    }
    if (meta === null) return failed('ERR this cluster is not linked');
    if (command.action === 'seed') return this.#seed(command, meta, version);
    let batch;
    try {
      batch = decodeBatch(Buffer.from(command.batch as Bytes).toString('latin1'));
    } catch (error) {
      if (!(error instanceof TandemError)) throw error;
      return failed(`ERR ${error.message}`);
    }
    const foreign = batch.records.findIndex((record) => databaseOfText(record.key) === null);
    if (foreign >= 0) return failed(`ERR link batch: records[${foreign}].key is not a client key`);
    const state = this.#linkedState(meta, version);
    // A key written here before the link began enters the merge state before a remote
    // operation on it applies, so that its value is not replaced unrecorded (a batch
    // refused, or a record skipped, changes nothing).
    if (batch.from !== meta.cluster) {
      const plan = planBatch(state.position(batch.from), state.origins, batch);
      const keys = plan.ok ? new Set(plan.apply.map((record) => record.key)) : [];
      for (const key of keys) this.#absorb(state, key, command.at);
    }
    const result = state.applyBatch(batch);
    if (!result.ok) return ok({ refused: result.refusal });
    for (const key of new Set(batch.records.map((record) => record.key))) {
      this.#materialize(state, key, version);
    }
    return ok({ applied: result.applied, skipped: result.skipped });
  }

  /**
   * A command on a linked cluster: it runs as on any cluster, and what it did to each
   * string key becomes that key's merge operation (a write, an increment, or an expiry),
   * stamped at the command's time, so that every linked cluster converges on it.
   */
  #linked(command: KvCommand, version: Version, meta: StoredLinkMeta): ApplyResult {
    if (linkedNeutralTypes.has(command.type)) return this.#run(command, version);
    if (!linkedTypes.has(command.type)) return failed(linkedRefusal(command.type));
    // Tandem's own records (the system database) do not merge.
    const keys = linkedKeys(command).filter((key) => databaseOfText(key) !== null);
    if (keys.length === 0) return this.#run(command, version);
    const at = command.at;
    const state = this.#linkedState(meta, version);
    const before = new Map<string, KeyState | undefined>();
    for (const key of keys) {
      // A key written before the link began enters the merge state when first touched.
      if (!this.#absorb(state, key, at)) return failed(linkedRefusal(command.type));
      before.set(key, this.read(key));
    }
    const result = this.#run(command, version);
    if (result === null || !result.ok) return result;
    for (const key of keys) {
      const op = mergeOpOf(command, before.get(key), this.read(key), state, key, version);
      if (op === null) continue;
      state.applyLocalAt(key, op, at);
      this.#materialize(state, key, version);
    }
    return result;
  }

  /**
   * Enters `key`'s value into the merge state as a write of this cluster at `at` when the
   * key was written before the link began (it is live and has no merge state yet). False
   * when it holds a type that does not merge (a hash, a list, ...).
   */
  #absorb(state: LinkedState, key: string, at: number): boolean {
    if (state.store.keyState(key) !== undefined) return true;
    const held = this.read(key);
    if (!isLive(held, at)) return true;
    if (!holdsString(held)) return false;
    const value = Buffer.from(held.value, 'latin1');
    state.applyLocalAt(key, { kind: 'write', value, expiresAtMs: held.expiresAt }, at);
    return true;
  }

  /**
   * One page of the seeding that follows `create`: each string key it names that has no
   * merge state yet (written before the link began, and not touched since) enters it as
   * a write of this cluster, and so reaches the linked clusters through the stream. Keys
   * of other types, the system database's and keys gone since the page was scanned are
   * passed over.
   */
  #seed(
    command: Extract<KvCommand, { type: 'link' }>,
    meta: StoredLinkMeta,
    version: Version,
  ): ApplyResult {
    if (meta.seeded) return ok({ seeded: 0 });
    const store = this.#linkedStore(meta, version);
    const state = new LinkedState(meta.cluster, store);
    let seeded = 0;
    for (const bytes of command.keys ?? []) {
      const key = keyString(bytes);
      if (databaseOfText(key) === null || store.keyState(key) !== undefined) continue;
      this.#absorb(state, key, command.at);
      if (store.keyState(key) !== undefined) seeded += 1;
    }
    if (command.done === true) store.setSeeded();
    return ok({ seeded });
  }

  /** Writes `key` as its merge state reads (expiry aside: the key keeps it). */
  #materialize(state: LinkedState, key: string, version: Version): void {
    const merged = state.keyState(key);
    const value = readValue(merged, Number.NEGATIVE_INFINITY);
    if (value === null) {
      this.remove(key);
      return;
    }
    const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
    this.write(key, text, version, merged.expiry?.atMs ?? null);
  }

  #run(command: KvCommand, version: Version): ApplyResult {
    switch (command.type) {
      case 'set':
        return this.#set(command, version);
      case 'mset':
        for (const [key, value] of command.pairs) {
          this.write(keyString(key), keyString(value), version, null);
          this.#notify('$', 'set', keyString(key));
        }
        return ok('OK');
      case 'del':
        return this.#del(command);
      case 'incrby':
        return this.#incrby(keyString(command.key), command.by, command.at, version);
      case 'append':
        return this.#append(keyString(command.key), command.value, command.at, version);
      case 'expire':
        return this.#expire(command, version);
      case 'getdel':
        return this.#getdel(keyString(command.key), command.at);
      case 'getex':
        return this.#getex(keyString(command.key), command.expiresAt, command.at);
      case 'setrange':
        return this.#setrange(command, version);
      case 'msetnx':
        return this.#msetnx(command, version);
      case 'rename':
        return this.#rename(command, version);
      case 'copy':
        return this.#copy(command, version);
      case 'incrbyfloat':
        return this.#incrbyfloat(command, version);
      case 'setbit':
        return this.#setbit(command, version);
      case 'bitop':
        return this.#bitop(command, version);
      case 'bitfield':
        return this.#bitfield(command, version);
      case 'flush':
        if (command.db === undefined) this.removeAll();
        else this.removeDatabase(command.db);
        return ok('OK');
      case 'swapdb':
        return this.#swapdb(command, version);
      case 'expire-sweep': {
        const purged = this.sweep(command.at, sweepKeysMax);
        for (const key of purged) this.#notify('x', 'expired', key);
        return ok(purged.length);
      }
      case 'publish':
        // Nothing to change: each node delivers it after applying it.
        return null;
      case 'multi':
        return this.#multi(command, version);
      case 'hset':
      case 'hdel':
      case 'hincrby':
      case 'hincrbyfloat':
        return this.#hash(command, version);
      case 'sadd':
      case 'srem':
      case 'spop':
      case 'smove':
      case 'setstore':
        return this.#setFamily(command, version);
      case 'zadd':
      case 'zrem':
      case 'zpop':
      case 'zremrange':
      case 'zrangestore':
      case 'zsetstore':
        return this.#zset(command, version);
      case 'lpush':
      case 'lpop':
      case 'lset':
      case 'linsert':
      case 'lrem':
      case 'ltrim':
      case 'lmove':
      case 'lmpop':
        return this.#list(command, version);
      case 'link':
        return this.#link(command, version);
    }
  }

  /**
   * A transaction: nothing when a watched key changed since its client saw it (null, EXEC's
   * nil), else every step in order, one result each. A read step's result is a view of the
   * keys it named as they are at that step (`readView`), after the writes before it, which
   * the reader answers from as it answers any read, of every type.
   */
  #multi(command: MultiCommand, version: Version): ApplyResult {
    const { steps, watched, at } = command;
    if (!watched.every((key) => this.#unchanged(key, at))) return ok(null);
    const results = steps.map((step) =>
      step.type === 'read'
        ? ok(this.readView([...new Set(step.keys.map(keyString))]))
        : this.execute(step, version),
    );
    return ok(results);
  }

  /** Whether a watched key is live at `at` exactly as seen (version and expiry), or still absent. */
  #unchanged({ key, seen }: WatchedKey, at: number): boolean {
    const live = this.#live(keyString(key), at);
    if (live === undefined || seen === null) return live === undefined && seen === null;
    return (
      live.index === seen.index && live.term === seen.term && live.expiresAt === seen.expiresAt
    );
  }

  #live(key: string, at: number): KeyState | undefined {
    const state = this.read(key);
    return isLive(state, at) ? state : undefined;
  }

  /** The live key when it holds a string, undefined when absent, null for another type. */
  #liveString(key: string, at: number): StringState | undefined | null {
    const live = this.#live(key, at);
    if (live === undefined) return undefined;
    return holdsString(live) ? live : null;
  }

  /**
   * Writes `state`'s value (any type) to `destination` at `version` with `expiresAt`: RENAME
   * and COPY. A hash is copied field by field, with its encoding.
   */
  #writeValue(
    source: string,
    state: KeyState,
    destination: string,
    version: Version,
    expiresAt: number | null,
  ): void {
    if (holdsString(state)) {
      this.write(destination, state.value, version, expiresAt);
      return;
    }
    const structure = state.value as StructureState;
    if (structure.type === 'set') {
      this.#copySet(source, state as SetState, destination, version, expiresAt);
      return;
    }
    if (structure.type === 'zset') {
      const entries = this.zsetSelect(source, wholeSet);
      this.zsetCreate(destination, version, expiresAt, structure.encoding);
      for (const [member, score] of entries) this.zsetPut(destination, member, score);
      return;
    }
    if ((state.value as StructureState).type === 'list') {
      const elements = this.listEntries(source);
      this.listCreate(destination, version, expiresAt);
      elements.forEach((element, i) => this.listInsert(destination, i, element));
      return;
    }
    const entries = this.hashEntries(source);
    this.hashCreate(destination, version, expiresAt);
    for (const [field, value] of entries) this.hashPut(destination, field, value);
    this.hashEncode(destination, (state.value as HashStructure).encoding);
  }

  #set(command: Extract<KvCommand, { type: 'set' }>, version: Version): ApplyResult {
    const { value, at, returnOld, keepTtl } = command;
    const key = keyString(command.key);
    const held = this.read(key);
    const live = isLive(held, at) ? held : undefined;
    // SET ... GET reads the old value first: a key of another type is refused unchanged.
    if (returnOld === true && live !== undefined && !holdsString(live)) return failed(wrongType);
    // A kept expiry is one of a live key, so it is still ahead of `at`.
    const expiresAt = keepTtl === true ? (live?.expiresAt ?? null) : (command.expiresAt ?? null);
    const holds = setHolds(
      command,
      live === undefined ? null : { index: live.index, term: live.term },
    );
    if (holds) {
      // Like Redis SET PXAT with a time already past, the key is written and gone at once.
      if (expiresAt !== null && expiresAt <= at) this.remove(key);
      else this.write(key, keyString(value), version, expiresAt, held);
      this.#notify('$', 'set', key);
      if (command.expiresAt !== undefined && keepTtl !== true) this.#notify('g', 'expire', key);
    }
    if (returnOld === true) {
      return ok(live === undefined ? null : Buffer.from(live.value as string, 'latin1'));
    }
    return ok(holds ? 'OK' : null);
  }

  #del(command: Extract<KvCommand, { type: 'del' }>): ApplyResult {
    const { keys, at, ifVersion } = command;
    if (ifVersion !== undefined) {
      // Compare-and-delete names one key (the codec checks it), and leaves it alone unless
      // it is live at exactly that version now.
      const live = this.#live(keyString(keys[0] as Bytes), at);
      if (!versionHolds(ifVersion, live === undefined ? null : live)) return ok(0);
    }
    let removed = 0;
    for (const key of keys.map(keyString)) {
      // The key goes even when it had expired: a DEL is as good a time as any to purge.
      const state = this.read(key);
      if (isLive(state, at)) {
        removed++;
        this.#notify('g', 'del', key);
      }
      if (state !== undefined) this.remove(key);
    }
    return ok(removed);
  }

  #incrby(key: string, by: number | bigint, at: number, version: Version): ApplyResult {
    const live = this.#liveString(key, at);
    if (live === null) return failed(wrongType);
    // The value is a signed 64-bit integer, as Redis's string2ll reads it.
    const current = live === undefined ? 0n : parseInt64(live.value);
    if (current === null) return failed(notAnInteger);
    const next = current + BigInt(by);
    if (next < int64Min || next > int64Max) return failed(overflow);
    this.write(key, String(next), version, live?.expiresAt ?? null);
    this.#notify('$', 'incrby', key);
    const small = Number(next);
    return ok(Number.isSafeInteger(small) ? small : next);
  }

  #append(key: string, suffix: Bytes, at: number, version: Version): ApplyResult {
    const live = this.#liveString(key, at);
    if (live === null) return failed(wrongType);
    const bytes = (live?.value.length ?? 0) + suffix.byteLength;
    if (bytes > valueBytesMax) return failed(tooLarge);
    this.write(key, (live?.value ?? '') + keyString(suffix), version, live?.expiresAt ?? null);
    this.#notify('$', 'append', key);
    return ok(bytes);
  }

  #getdel(key: string, at: number): ApplyResult {
    const state = this.read(key);
    if (isLive(state, at) && !holdsString(state)) return failed(wrongType);
    if (state !== undefined) this.remove(key);
    if (isLive(state, at)) this.#notify('g', 'del', key);
    return ok(isLive(state, at) ? Buffer.from(state.value as string, 'latin1') : null);
  }

  #getex(key: string, expiresAt: number | null, at: number): ApplyResult {
    const state = this.read(key);
    if (!isLive(state, at)) {
      if (state !== undefined) this.remove(key);
      return ok(null);
    }
    if (!holdsString(state)) return failed(wrongType);
    if (expiresAt !== null && expiresAt <= at) {
      this.remove(key);
      this.#notify('g', 'del', key);
    } else if (expiresAt !== state.expiresAt) {
      // The value did not change, and neither does its version.
      this.stamp(key, { index: state.index, term: state.term }, expiresAt);
    }
    // As Redis: EX and the others are an `expire` even when the expiry is the same one;
    // PERSIST a `persist` only when there was one to remove.
    if (expiresAt !== null && expiresAt > at) this.#notify('g', 'expire', key);
    else if (expiresAt === null && state.expiresAt !== null) this.#notify('g', 'persist', key);
    return ok(Buffer.from(state.value, 'latin1'));
  }

  #setrange(command: Extract<KvCommand, { type: 'setrange' }>, version: Version): ApplyResult {
    const { offset, value, at } = command;
    const key = keyString(command.key);
    const live = this.#liveString(key, at);
    if (live === null) return failed(wrongType);
    const current = live?.value ?? '';
    if (value.byteLength === 0) return ok(current.length);
    const bytes = Math.max(current.length, offset + value.byteLength);
    if (bytes > valueBytesMax) return failed(tooLarge);
    const padded =
      current.length >= offset ? current : current + '\0'.repeat(offset - current.length);
    const next =
      padded.slice(0, offset) + keyString(value) + padded.slice(offset + value.byteLength);
    this.write(key, next, version, live?.expiresAt ?? null);
    this.#notify('$', 'setrange', key);
    return ok(bytes);
  }

  #msetnx(command: Extract<KvCommand, { type: 'msetnx' }>, version: Version): ApplyResult {
    const { pairs, at } = command;
    if (pairs.some(([key]) => this.#live(keyString(key), at) !== undefined)) return ok(0);
    for (const [key, value] of pairs) {
      this.write(keyString(key), keyString(value), version, null);
      this.#notify('$', 'set', keyString(key));
    }
    return ok(1);
  }

  /**
   * RENAME is a write of the destination and a removal of the source. For SCAN the
   * destination is an overwrite when it exists (even expired: it keeps its place) and a
   * new key otherwise (the next place), so a key present for a whole scan keeps its place
   * and is visited once; the source and a new destination were not present throughout.
   */
  #rename(command: Extract<KvCommand, { type: 'rename' }>, version: Version): ApplyResult {
    const { at, condition } = command;
    const key = keyString(command.key);
    const destination = keyString(command.destination);
    const live = this.#live(key, at);
    if (live === undefined) return condition === 'move' ? ok(0) : failed(noSuchKey);
    const answer = (done: boolean): ApplyResult =>
      ok(condition === undefined ? 'OK' : done ? 1 : 0);
    // Redis answers a rename onto itself without touching the key (RENAMENX: 0).
    if (destination === key) return answer(false);
    if (condition !== undefined && this.#live(destination, at) !== undefined) {
      return answer(false);
    }
    this.#writeValue(key, live, destination, version, live.expiresAt);
    this.remove(key);
    const verb = condition === 'move' ? 'move' : 'rename';
    this.#notify('g', `${verb}_from`, key);
    this.#notify('g', `${verb}_to`, destination);
    return answer(true);
  }

  #swapdb(command: Extract<KvCommand, { type: 'swapdb' }>, version: Version): ApplyResult {
    if (command.a !== command.b) this.swapDatabases(command.a, command.b, version, command.at);
    return ok('OK');
  }

  /**
   * SWAPDB in three moves, each into a database left empty: `a` to a holding place (a
   * database index no client can name), `b` to `a`, the holding place to `b`. `keysOf`
   * lists every key held in a database, expired or not, in byte order.
   */
  protected moveDatabases(
    a: number,
    b: number,
    version: Version,
    at: number,
    keysOf: (db: number) => string[],
  ): void {
    for (const [from, to] of [
      [a, swapHoldingDatabase],
      [b, a],
      [swapHoldingDatabase, b],
    ] as const) {
      for (const key of keysOf(from)) {
        const live = this.#live(key, at);
        if (live !== undefined) {
          this.#writeValue(key, live, movedKeyText(key, from, to), version, live.expiresAt);
        }
        this.remove(key);
      }
    }
  }

  #copy(command: Extract<KvCommand, { type: 'copy' }>, version: Version): ApplyResult {
    const { at, replace } = command;
    const key = keyString(command.key);
    const live = this.#live(key, at);
    if (live === undefined) return ok(0);
    const destination = keyString(command.destination);
    if (replace !== true && this.#live(destination, at) !== undefined) return ok(0);
    this.#writeValue(key, live, destination, version, live.expiresAt);
    this.#notify('g', 'copy_to', destination);
    return ok(1);
  }

  #incrbyfloat(
    command: Extract<KvCommand, { type: 'incrbyfloat' }>,
    version: Version,
  ): ApplyResult {
    const key = keyString(command.key);
    const live = this.#liveString(key, command.at);
    if (live === null) return failed(wrongType);
    // Redis reads the value before the increment; either unreadable is the same error.
    const current =
      live === undefined
        ? parseLongDouble(zeroText)
        : parseLongDouble(Buffer.from(live.value, 'latin1'));
    const by = parseLongDouble(command.by);
    if (current === null || by === null) return failed(notAFloat);
    const sum = addLongDouble(current, by);
    if (sum === null) return failed(notFinite);
    const text = formatLongDouble(sum);
    this.write(key, text, version, live?.expiresAt ?? null);
    this.#notify('$', 'incrbyfloat', key);
    return ok(Buffer.from(text, 'latin1'));
  }

  #setbit(command: Extract<KvCommand, { type: 'setbit' }>, version: Version): ApplyResult {
    const { offset, bit, at } = command;
    if (Math.floor(offset / 8) >= valueBytesMax) return failed(bitOffsetRange);
    const key = keyString(command.key);
    const live = this.#liveString(key, at);
    if (live === null) return failed(wrongType);
    const current = Buffer.from(live?.value ?? '', 'latin1');
    const old = bitAt(current, offset);
    const bytes = Math.floor(offset / 8) + 1;
    // Like Redis, a key that neither grows nor changes is not written (its version stays).
    if (live !== undefined && current.byteLength >= bytes && old === bit) return ok(old);
    const next = grown(current, bytes);
    setBitAt(next, offset, bit);
    this.write(key, next.toString('latin1'), version, live?.expiresAt ?? null);
    this.#notify('$', 'setbit', key);
    return ok(old);
  }

  #bitop(command: Extract<KvCommand, { type: 'bitop' }>, version: Version): ApplyResult {
    const { operation, keys, at } = command;
    const lives = keys.map((key) => this.#liveString(keyString(key), at));
    if (lives.includes(null)) return failed(wrongType);
    const sources = lives.map((live) => Buffer.from(live?.value ?? '', 'latin1'));
    const result = bitop(operation, sources);
    const destination = keyString(command.destination);
    if (result.byteLength === 0) {
      if (this.read(destination) !== undefined) {
        this.remove(destination);
        this.#notify('g', 'del', destination);
      }
    } else {
      this.write(destination, result.toString('latin1'), version, null);
      this.#notify('$', 'set', destination);
    }
    return ok(result.byteLength);
  }

  #bitfield(command: Extract<KvCommand, { type: 'bitfield' }>, version: Version): ApplyResult {
    const { operations, at } = command;
    const bytes = bitfieldBytes(operations);
    if (bytes > valueBytesMax) return failed(tooLarge);
    const key = keyString(command.key);
    const live = this.#liveString(key, at);
    if (live === null) return failed(wrongType);
    const before = live?.value ?? '';
    const value = grown(Buffer.from(before, 'latin1'), bytes);
    const answers = runBitfield(value, operations);
    const after = value.toString('latin1');
    // Redis creates or grows the value even when every write failed by FAIL.
    const changed = live === undefined || after !== before;
    if (changed) this.write(key, after, version, live?.expiresAt ?? null);
    // Redis counts a SET or INCRBY that ran (not one FAIL refused) as a change when the key
    // was made or grown or the field's value changed.
    if (
      changed &&
      operations.some((operation, i) => operation.op !== 'get' && answers[i] !== null)
    ) {
      this.#notify('$', 'setbit', key);
    }
    return ok(answers);
  }

  #expire(command: Extract<KvCommand, { type: 'expire' }>, version: Version): ApplyResult {
    const { expiresAt, at, condition } = command;
    const key = keyString(command.key);
    const state = this.read(key);
    if (!isLive(state, at)) {
      if (state !== undefined) this.remove(key);
      return ok(0);
    }
    if (expiresAt === null && state.expiresAt === null) return ok(0);
    if (expiresAt !== null && !expireConditionHolds(condition, state.expiresAt, expiresAt)) {
      return ok(0);
    }
    if (expiresAt !== null && expiresAt <= at) this.remove(key);
    else this.stamp(key, version, expiresAt);
    this.#notify('g', expiresAt === null ? 'persist' : expiresAt <= at ? 'del' : 'expire', key);
    return ok(1);
  }

  // ------------------------------------------------------------------ hashes

  /** The hash commands: WRONGTYPE on a live key of another type, else the command's own. */
  #hash(command: HashCommand, version: Version): ApplyResult {
    const key = keyString(command.key);
    const live = this.#live(key, command.at);
    if (
      live !== undefined &&
      (holdsString(live) || (live.value as StructureState).type !== 'hash')
    ) {
      return failed(wrongType);
    }
    const hash = live as HashState | undefined;
    switch (command.type) {
      case 'hset':
        return this.#hset(key, hash, command, version);
      case 'hdel':
        return this.#hdel(key, hash, command, version);
      case 'hincrby':
        return this.#hincrby(key, hash, command, version);
      case 'hincrbyfloat':
        return this.#hincrbyfloat(key, hash, command, version);
    }
  }

  /**
   * Makes sure `key` holds a live hash to write at `version`: an absent or expired key
   * becomes an empty one (without expiry), a live one takes the version and keeps its
   * expiry. Then `written` (the longest field or value about to be written, by Redis's
   * hashTypeTryConversion) may convert it before the write.
   */
  #hashFor(key: string, hash: HashState | undefined, version: Version, written: number): void {
    if (hash === undefined) this.hashCreate(key, version, null);
    else this.stamp(key, version, hash.expiresAt);
    const encoding = hash?.value.encoding ?? 'listpack';
    const next = hashEncodingAfter(encoding, 0, written);
    if (next !== encoding) this.hashEncode(key, next);
  }

  /** After fields were added: past hash-max-listpack-entries, a listpack converts. */
  #hashGrown(key: string): void {
    const encoding = this.read(key)?.value as HashStructure;
    const next = hashEncodingAfter(encoding.encoding, this.hashLength(key), 0);
    if (next !== encoding.encoding) this.hashEncode(key, next);
  }

  #hset(
    key: string,
    hash: HashState | undefined,
    command: Extract<HashCommand, { type: 'hset' }>,
    version: Version,
  ): ApplyResult {
    let longest = 0;
    for (const [field, value] of command.pairs) {
      longest = Math.max(longest, field.byteLength, value.byteLength);
    }
    const [first] = command.pairs as [readonly [Bytes, Bytes]];
    if (command.condition === 'nx' && hash !== undefined) {
      if (this.hashGet(key, keyString(first[0])) !== undefined) return ok(0);
    }
    this.#hashFor(key, hash, version, longest);
    let created = 0;
    for (const [fieldBytes, value] of command.pairs) {
      const field = keyString(fieldBytes);
      if (this.hashGet(key, field) === undefined) created++;
      this.hashPut(key, field, keyString(value));
    }
    this.#hashGrown(key);
    this.#notify('h', 'hset', key);
    return ok(created);
  }

  #hdel(
    key: string,
    hash: HashState | undefined,
    command: Extract<HashCommand, { type: 'hdel' }>,
    version: Version,
  ): ApplyResult {
    if (hash === undefined) return ok(0);
    let removed = 0;
    for (const field of command.fields.map(keyString)) {
      if (this.hashGet(key, field) === undefined) continue;
      this.hashDelete(key, field);
      removed++;
    }
    // A hash without fields is no key, as in Redis.
    if (this.hashLength(key) === 0) this.remove(key);
    else if (removed > 0) this.stamp(key, version, hash.expiresAt);
    if (removed > 0) {
      this.#notify('h', 'hdel', key);
      this.#notifyIfGone(key);
    }
    return ok(removed);
  }

  #hincrby(
    key: string,
    hash: HashState | undefined,
    command: Extract<HashCommand, { type: 'hincrby' }>,
    version: Version,
  ): ApplyResult {
    const field = keyString(command.field);
    const old = hash === undefined ? undefined : this.hashGet(key, field);
    const current = old === undefined ? 0n : parseInt64(old);
    if (current === null) return failed(hashNotAnInteger);
    const next = current + command.by;
    if (next < int64Min || next > int64Max) return failed(overflow);
    const text = String(next);
    this.#hashFor(key, hash, version, Math.max(field.length, text.length));
    this.hashPut(key, field, text);
    this.#hashGrown(key);
    this.#notify('h', 'hincrby', key);
    return ok(Number.isSafeInteger(Number(next)) ? Number(next) : next);
  }

  #hincrbyfloat(
    key: string,
    hash: HashState | undefined,
    command: Extract<HashCommand, { type: 'hincrbyfloat' }>,
    version: Version,
  ): ApplyResult {
    const by = parseLongDouble(command.by);
    if (by === null) return failed(notAFloat);
    const field = keyString(command.field);
    const old = hash === undefined ? undefined : this.hashGet(key, field);
    const current = parseLongDouble(old === undefined ? zeroText : Buffer.from(old, 'latin1'));
    if (current === null) return failed(hashNotAFloat);
    const sum = addLongDouble(current, by);
    if (sum === null) return failed(notFinite);
    const text = formatLongDouble(sum);
    this.#hashFor(key, hash, version, Math.max(field.length, text.length));
    this.hashPut(key, field, text);
    this.#hashGrown(key);
    this.#notify('h', 'hincrbyfloat', key);
    return ok(Buffer.from(text, 'latin1'));
  }

  // ------------------------------------------------------------------ sets

  /** RENAME's and COPY's set: its members in their order, its encoding kept. */
  #copySet(
    source: string,
    state: SetState,
    destination: string,
    version: Version,
    expiresAt: number | null,
  ): void {
    const members = this.setMembers(source);
    this.setCreate(destination, version, expiresAt, state.value.encoding);
    for (const member of members) this.setAdd(destination, member);
  }

  /**
   * The live set at `key`: undefined when absent, null when the key holds another type
   * (Redis's WRONGTYPE).
   */
  #liveSet(key: string, at: number): SetState | undefined | null {
    const live = this.#live(key, at);
    if (live === undefined) return undefined;
    if (holdsString(live) || (live.value as StructureState).type !== 'set') return null;
    return live as SetState;
  }

  /** The set commands: WRONGTYPE on a live key of another type, else the command's own. */
  #setFamily(command: SetFamilyCommand, version: Version): ApplyResult {
    if (command.type === 'smove') return this.#smove(command, version);
    if (command.type === 'setstore') return this.#setstore(command, version);
    const key = keyString(command.key);
    const set = this.#liveSet(key, command.at);
    if (set === null) return failed(wrongType);
    switch (command.type) {
      case 'sadd':
        return this.#sadd(key, set, command.members.map(keyString), version);
      case 'srem':
        return this.#srem(key, set, command, version);
      case 'spop':
        return this.#spop(key, set, command, version);
    }
  }

  /**
   * Adds `members` to the set at `key` (made when absent, with the encoding Redis's
   * setTypeCreate gives its first member), converting it where Redis 7.0's setTypeAdd
   * does; a live set takes the version (when a member was added) and keeps its expiry.
   * Answers how many were added.
   */
  #sadd(key: string, set: SetState | undefined, members: readonly string[], version: Version) {
    let encoding = set?.value.encoding ?? setEncodingFor(members[0] as string);
    if (set === undefined) this.setCreate(key, version, null, encoding);
    const before = encoding;
    let added = 0;
    for (const member of members) {
      if (this.setHas(key, member)) continue;
      this.setAdd(key, member);
      added++;
      encoding = setEncodingAfterAdd(encoding, member, this.setLength(key));
    }
    if (encoding !== before) this.setEncode(key, encoding);
    if (set !== undefined && added > 0) this.stamp(key, version, set.expiresAt);
    if (added > 0) this.#notify('s', 'sadd', key);
    return ok(added);
  }

  /** Removes `members`; a set left empty goes, as in Redis. Answers how many there were. */
  #srem(
    key: string,
    set: SetState | undefined,
    command: Extract<SetFamilyCommand, { type: 'srem' }>,
    version: Version,
  ): ApplyResult {
    if (set === undefined) return ok(0);
    let removed = 0;
    for (const member of command.members.map(keyString)) {
      if (!this.setHas(key, member)) continue;
      this.setDelete(key, member);
      removed++;
    }
    this.#shrunk(key, set, removed > 0, version);
    if (removed > 0) {
      this.#notify('s', 'srem', key);
      this.#notifyIfGone(key);
    }
    return ok(removed);
  }

  /** After members were removed: an empty set is no key; a changed one takes the version. */
  #shrunk(key: string, set: SetState, changed: boolean, version: Version): void {
    if (this.setLength(key) === 0) this.remove(key);
    else if (changed) this.stamp(key, version, set.expiresAt);
  }

  /**
   * SPOP: removes up to `count` members, those the leader named first (when still
   * present), then members drawn by `seed` from the rest in sequence order, so every
   * replica removes the same ones. Answers the removed members' bytes.
   */
  #spop(
    key: string,
    set: SetState | undefined,
    command: Extract<SetFamilyCommand, { type: 'spop' }>,
    version: Version,
  ): ApplyResult {
    if (set === undefined) return ok([]);
    const size = this.setLength(key);
    const wanted = Math.min(command.count, size);
    const removed: string[] = [];
    for (const member of command.members.map(keyString)) {
      if (removed.length === wanted) break;
      if (!this.setHas(key, member)) continue;
      this.setDelete(key, member);
      removed.push(member);
    }
    if (removed.length < wanted) {
      const rest = drawSeeded(this.setMembers(key), wanted - removed.length, command.seed);
      for (const member of rest) this.setDelete(key, member);
      removed.push(...rest);
    }
    // Redis 7.0's spopWithCountCommand, when few members remain (at most a fifth of those
    // popped), builds a new set of them with setTypeCreate and setTypeAdd: an intset
    // when every one is an integer and they fit.
    const remaining = size - wanted;
    if (wanted < size && remaining * 5 <= command.count) {
      const members = this.setMembers(key);
      const encoding =
        members.length <= setIntsetEntriesMax && members.every(isIntegerMember)
          ? 'intset'
          : 'hashtable';
      if (encoding !== set.value.encoding) this.setEncode(key, encoding);
    }
    this.#shrunk(key, set, removed.length > 0, version);
    if (removed.length > 0) {
      this.#notify('s', 'spop', key);
      this.#notifyIfGone(key);
    }
    return ok(removed.map((member) => Buffer.from(member, 'latin1')));
  }

  /**
   * SMOVE: as Redis 7.0 orders it, an absent source answers 0 before any type check, then
   * either key of another type is WRONGTYPE, then a move onto itself answers whether the
   * member is there.
   */
  #smove(command: Extract<SetFamilyCommand, { type: 'smove' }>, version: Version): ApplyResult {
    const source = keyString(command.key);
    const destination = keyString(command.destination);
    const member = keyString(command.member);
    const from = this.#liveSet(source, command.at);
    if (from === undefined) return ok(0);
    const to = this.#liveSet(destination, command.at);
    if (from === null || to === null) return failed(wrongType);
    if (source === destination) return ok(this.setHas(source, member) ? 1 : 0);
    if (!this.setHas(source, member)) return ok(0);
    this.setDelete(source, member);
    this.#shrunk(source, from, true, version);
    this.#notify('s', 'srem', source);
    this.#notifyIfGone(source);
    if (to === undefined) this.setCreate(destination, version, null, setEncodingFor(member));
    else this.stamp(destination, version, to.expiresAt);
    if (!this.setHas(destination, member)) {
      this.setAdd(destination, member);
      this.#notify('s', 'sadd', destination);
      const encoding = to?.value.encoding ?? setEncodingFor(member);
      const next = setEncodingAfterAdd(encoding, member, this.setLength(destination));
      if (next !== encoding) this.setEncode(destination, next);
    }
    return ok(1);
  }

  /**
   * SINTERSTORE, SUNIONSTORE and SDIFFSTORE: the result replaces the destination (of any
   * type, without expiry), or removes it when empty. As in Redis 7.0 the result is built
   * as a new intset that converts where setTypeAdd does. Answers its size.
   */
  #setstore(command: Extract<SetFamilyCommand, { type: 'setstore' }>, version: Version) {
    const keys = command.keys.map(keyString);
    const sets = keys.map((key) => this.#liveSet(key, command.at));
    if (sets.includes(null)) return failed(wrongType);
    const result = this.#combine(command.operation, keys, sets as (SetState | undefined)[]);
    const destination = keyString(command.destination);
    const existed = this.read(destination) !== undefined;
    if (existed) this.remove(destination);
    if (result.length === 0) {
      if (existed) this.#notify('g', 'del', destination);
      return ok(0);
    }
    this.#notify('s', `s${command.operation}store`, destination);
    this.setCreate(destination, version, null, 'intset');
    let encoding: SetEncoding = 'intset';
    for (const member of result) {
      this.setAdd(destination, member);
      encoding = setEncodingAfterAdd(encoding, member, this.setLength(destination));
    }
    if (encoding !== 'intset') this.setEncode(destination, encoding);
    return ok(result.length);
  }

  /** The members of the intersection, union or difference of the sets at `keys`. */
  #combine(
    operation: 'inter' | 'union' | 'diff',
    keys: readonly string[],
    sets: readonly (SetState | undefined)[],
  ): string[] {
    const present = keys.filter((_, i) => sets[i] !== undefined);
    if (operation === 'union') {
      const union = new Set<string>();
      for (const key of present) for (const member of this.setMembers(key)) union.add(member);
      return [...union];
    }
    if (operation === 'inter') {
      if (present.length < keys.length) return [];
      // Iterate the smallest set, as Redis does, and look the others up (O(1) each).
      const sorted = [...keys].sort((a, b) => this.setLength(a) - this.setLength(b));
      const [smallest, ...others] = sorted as [string, ...string[]];
      return this.setMembers(smallest).filter((member) =>
        others.every((key) => this.setHas(key, member)),
      );
    }
    if (sets[0] === undefined) return [];
    const [first, ...others] = keys as [string, ...string[]];
    const rest = others.filter((_, i) => sets[i + 1] !== undefined);
    return this.setMembers(first).filter((member) => !rest.some((key) => this.setHas(key, member)));
  }

  // ------------------------------------------------------------------ sorted sets

  /** The sorted set commands: WRONGTYPE on a live key of another type, else their own. */
  #zset(command: ZsetCommand, version: Version): ApplyResult {
    switch (command.type) {
      case 'zadd':
        return this.#zadd(command, version);
      case 'zrem':
        return this.#zrem(command, version);
      case 'zpop':
        return this.#zpop(command, version);
      case 'zremrange':
        return this.#zremrange(command, version);
      case 'zrangestore':
        return this.#zrangestore(command, version);
      case 'zsetstore':
        return this.#zsetstore(command, version);
    }
  }

  /** The live key when it holds a sorted set, undefined when absent, null for another type. */
  #liveZset(key: string, at: number): ZsetState | undefined | null {
    const live = this.#live(key, at);
    if (live === undefined) return undefined;
    if (holdsString(live)) return null;
    return (live.value as ZsetStructure).type === 'zset' ? (live as ZsetState) : null;
  }

  /** The encoding of the sorted set at `key` (which holds one). */
  #zsetEncodingOf(key: string): ZsetEncoding {
    return ((this.read(key) as KeyState).value as ZsetStructure).encoding;
  }

  /**
   * Puts a member's score as the set's encoding holds it: a listpack writes an integral
   * score as an integer, so -0 is 0 there (a skiplist keeps the double, -0 included).
   */
  #zsetPutScore(key: string, member: string, score: number): void {
    const stored = score === 0 && this.#zsetEncodingOf(key) === 'listpack' ? 0 : score;
    this.zsetPut(key, member, stored);
  }

  /** Before a new member is added: past either listpack bound, the set becomes a skiplist. */
  #zsetMakeRoom(key: string, memberBytes: number): void {
    if (this.#zsetEncodingOf(key) !== 'listpack') return;
    if (
      this.zsetLength(key) + 1 > zsetListpackEntriesMax ||
      memberBytes > zsetListpackValueBytesMax
    ) {
      this.zsetEncode(key, 'skiplist');
    }
  }

  /** After members were removed: an empty set is no key (as in Redis), else a new version. */
  #zsetRemoved(key: string, live: ZsetState, removed: number, version: Version): void {
    if (this.zsetLength(key) === 0) this.remove(key);
    else if (removed > 0) this.stamp(key, version, live.expiresAt);
  }

  /** ZADD and ZINCRBY, by Redis 7.0's zaddGenericCommand and zsetAdd. */
  #zadd(command: Extract<ZsetCommand, { type: 'zadd' }>, version: Version): ApplyResult {
    const { pairs, condition, compare, increment } = command;
    const key = keyString(command.key);
    const live = this.#liveZset(key, command.at);
    if (live === null) return failed(wrongType);
    const scores = pairs.map(([score]) => parseScore(score));
    if (scores.includes(null)) return failed(notAValidScore);
    const nothing = ok(increment === true ? null : 0);
    if (live === undefined) {
      if (condition === 'xx') return nothing;
      // Redis 7.0 picks the new set's encoding by its first member alone.
      const first = (pairs[0] as readonly [Bytes, Bytes])[1];
      const encoding = first.byteLength > zsetListpackValueBytesMax ? 'skiplist' : 'listpack';
      this.zsetCreate(key, version, null, encoding);
    }
    let added = 0;
    let updated = 0;
    let result: number | null = null;
    for (let i = 0; i < pairs.length; i++) {
      const member = keyString((pairs[i] as readonly [Bytes, Bytes])[1]);
      let score = scores[i] as number;
      const current = this.zsetScore(key, member);
      if (current === undefined) {
        if (condition === 'xx') continue;
        this.#zsetMakeRoom(key, member.length);
        this.#zsetPutScore(key, member, score);
        added++;
        result = score;
        continue;
      }
      if (condition === 'nx') continue;
      if (increment === true) {
        score += current;
        if (Number.isNaN(score)) return failed(scoreIsNan);
      }
      if ((compare === 'lt' && score >= current) || (compare === 'gt' && score <= current)) {
        continue;
      }
      result = score;
      if (score !== current) {
        this.#zsetPutScore(key, member, score);
        updated++;
      }
    }
    if (live !== undefined && added + updated > 0) this.stamp(key, version, live.expiresAt);
    if (added + updated > 0) this.#notify('z', increment === true ? 'zincr' : 'zadd', key);
    if (increment === true) {
      return ok(result === null ? null : Buffer.from(formatScore(result), 'latin1'));
    }
    return ok(command.changed === true ? added + updated : added);
  }

  #zrem(command: Extract<ZsetCommand, { type: 'zrem' }>, version: Version): ApplyResult {
    const key = keyString(command.key);
    const live = this.#liveZset(key, command.at);
    if (live === null) return failed(wrongType);
    if (live === undefined) return ok(0);
    let removed = 0;
    for (const member of command.members.map(keyString)) {
      if (this.zsetScore(key, member) === undefined) continue;
      this.zsetDelete(key, member);
      removed++;
    }
    this.#zsetRemoved(key, live, removed, version);
    if (removed > 0) {
      this.#notify('z', 'zrem', key);
      this.#notifyIfGone(key);
    }
    return ok(removed);
  }

  /** ZPOPMIN, ZPOPMAX and ZMPOP: the first key holding a sorted set gives up its ends. */
  #zpop(command: Extract<ZsetCommand, { type: 'zpop' }>, version: Version): ApplyResult {
    for (const keyBytes of command.keys) {
      const key = keyString(keyBytes);
      const live = this.#liveZset(key, command.at);
      if (live === null) return failed(wrongType);
      if (live === undefined) continue;
      const popped = this.zsetSelect(key, {
        range: { by: 'rank', start: 0, stop: Math.min(command.count, Number.MAX_SAFE_INTEGER) - 1 },
        reverse: command.side === 'max',
      });
      for (const [member] of popped) this.zsetDelete(key, member);
      this.#zsetRemoved(key, live, popped.length, version);
      if (popped.length > 0) {
        this.#notify('z', command.side === 'max' ? 'zpopmax' : 'zpopmin', key);
        this.#notifyIfGone(key);
      }
      return ok({ key: Buffer.from(key, 'latin1'), entries: scoredEntries(popped) });
    }
    return ok(null);
  }

  #zremrange(command: Extract<ZsetCommand, { type: 'zremrange' }>, version: Version): ApplyResult {
    const range = zsetRangeOf(command.range);
    if (range === null) return failed(zsetRangeRefusal(command.range));
    const key = keyString(command.key);
    const live = this.#liveZset(key, command.at);
    if (live === null) return failed(wrongType);
    if (live === undefined) return ok(0);
    const doomed = this.zsetSelect(key, { range });
    for (const [member] of doomed) this.zsetDelete(key, member);
    this.#zsetRemoved(key, live, doomed.length, version);
    if (doomed.length > 0) {
      this.#notify('z', `zremrangeby${command.range.by}`, key);
      this.#notifyIfGone(key);
    }
    return ok(doomed.length);
  }

  #zrangestore(
    command: Extract<ZsetCommand, { type: 'zrangestore' }>,
    version: Version,
  ): ApplyResult {
    const range = zsetRangeOf(command.range);
    if (range === null) return failed(zsetRangeRefusal(command.range));
    const key = keyString(command.key);
    const live = this.#liveZset(key, command.at);
    if (live === null) return failed(wrongType);
    const { offset, count } = command;
    const selection: ZsetSelection = {
      range,
      reverse: command.reverse === true,
      ...(offset === undefined ? {} : { limit: { offset, count: count ?? -1 } }),
    };
    const entries = live === undefined ? [] : this.zsetSelect(key, selection);
    return this.#zsetStore(keyString(command.destination), entries, version, 'zrangestore');
  }

  #zsetstore(command: Extract<ZsetCommand, { type: 'zsetstore' }>, version: Version): ApplyResult {
    const operands: { members: Map<string, number> | null; weight: number }[] = [];
    for (const keyBytes of command.keys) {
      const key = keyString(keyBytes);
      // As in Redis, a set is an operand too, each member scored 1.
      const set = this.#liveSet(key, command.at);
      if (set !== null && set !== undefined) {
        operands.push({ members: new Map(this.setMembers(key).map((m) => [m, 1])), weight: 1 });
        continue;
      }
      const live = this.#liveZset(key, command.at);
      if (live === null) return failed(wrongType);
      const members = live === undefined ? null : new Map(this.zsetSelect(key, wholeSet));
      operands.push({ members, weight: 1 });
    }
    const weights = (command.weights ?? []).map(parseScore);
    if (weights.includes(null)) return failed(weightNotAFloat);
    weights.forEach((weight, i) => {
      (operands[i] as { weight: number }).weight = weight as number;
    });
    const combined = combineSets(command.operation, operands, command.aggregate ?? 'sum');
    const event = `z${command.operation}store`;
    return this.#zsetStore(keyString(command.destination), sortedEntries(combined), version, event);
  }

  /**
   * Stores `entries` at `destination` as a new sorted set, in the encoding its size and
   * longest member call for; none deletes the destination. Answers the set's size.
   */
  #zsetStore(
    destination: string,
    entries: [string, number][],
    version: Version,
    event: string,
  ): ApplyResult {
    if (entries.length === 0) {
      if (this.read(destination) !== undefined) {
        this.remove(destination);
        this.#notify('g', 'del', destination);
      }
      return ok(0);
    }
    this.#notify('z', event, destination);
    let longest = 0;
    for (const [member] of entries) longest = Math.max(longest, member.length);
    this.zsetCreate(destination, version, null, zsetEncodingFor(entries.length, longest));
    for (const [member, score] of entries) this.#zsetPutScore(destination, member, score);
    return ok(entries.length);
  }

  // ------------------------------------------------------------------ lists

  /** The live key when it holds a list, undefined when absent, null for another type. */
  #liveList(key: string, at: number): ListState | undefined | null {
    const live = this.#live(key, at);
    if (live === undefined) return undefined;
    return !holdsString(live) && (live.value as StructureState).type === 'list'
      ? (live as ListState)
      : null;
  }

  /** The list commands: WRONGTYPE on a live key of another type, else the command's own. */
  #list(command: ListCommand, version: Version): ApplyResult {
    switch (command.type) {
      case 'lmove':
        return this.#lmove(command, version);
      case 'lmpop':
        return this.#lmpop(command, version);
      default:
        break;
    }
    const key = keyString(command.key);
    const list = this.#liveList(key, command.at);
    if (list === null) return failed(wrongType);
    switch (command.type) {
      case 'lpush':
        if (list === undefined && command.condition === 'xx') return ok(0);
        return ok(this.#push(key, list, command.elements.map(keyString), command.end, version));
      case 'lpop': {
        if (list === undefined) return ok(null);
        const popped = this.#pop(key, list, command.count ?? 1, command.end, version);
        this.#notifyPopped(key, popped.length, command.end);
        const elements = popped.map((element) => Buffer.from(element, 'latin1'));
        return ok(command.count === undefined ? elements[0] : elements);
      }
      case 'lset':
        return this.#lset(key, list, command, version);
      case 'linsert':
        return this.#linsert(key, list, command, version);
      case 'lrem': {
        if (list === undefined) return ok(0);
        const removed = this.listRemoveEqual(key, keyString(command.element), command.count);
        if (removed > 0) {
          this.#listChanged(key, list, version);
          this.#notify('l', 'lrem', key);
          this.#notifyIfGone(key);
        }
        return ok(removed);
      }
      case 'ltrim':
        if (list !== undefined) {
          this.#ltrim(key, list, command.start, command.stop, version);
          this.#notify('l', 'ltrim', key);
          this.#notifyIfGone(key);
        }
        return ok('OK');
    }
  }

  /** Pushes `elements` one by one at `end` (creating the list): the length after them. */
  #push(
    key: string,
    list: ListState | undefined,
    elements: readonly string[],
    end: ListEnd,
    version: Version,
  ): number {
    if (list === undefined) this.listCreate(key, version, null);
    else this.stamp(key, version, list.expiresAt);
    for (const element of elements) {
      this.listInsert(key, end === 'left' ? 0 : this.listLength(key), element);
    }
    this.#notify('l', end === 'left' ? 'lpush' : 'rpush', key);
    return this.listLength(key);
  }

  /** The events of `count` elements popped from `end` of `key`: lpop or rpop, then del. */
  #notifyPopped(key: string, count: number, end: ListEnd): void {
    if (count === 0) return;
    this.#notify('l', end === 'left' ? 'lpop' : 'rpop', key);
    this.#notifyIfGone(key);
  }

  /** Pops up to `count` elements from `end`, in pop order; an emptied list goes. */
  #pop(key: string, list: ListState, count: number, end: ListEnd, version: Version): string[] {
    const popped: string[] = [];
    const n = Math.min(count, this.listLength(key));
    for (let i = 0; i < n; i++) {
      popped.push(this.listRemove(key, end === 'left' ? 0 : this.listLength(key) - 1));
    }
    if (n > 0) this.#listChanged(key, list, version);
    return popped;
  }

  /** After a change: a list left empty is no key, as in Redis; else it takes the version. */
  #listChanged(key: string, list: ListState, version: Version): void {
    if (this.listLength(key) === 0) this.remove(key);
    else this.stamp(key, version, list.expiresAt);
  }

  #lset(
    key: string,
    list: ListState | undefined,
    command: Extract<ListCommand, { type: 'lset' }>,
    version: Version,
  ): ApplyResult {
    if (list === undefined) return failed(noSuchKey);
    const length = this.listLength(key);
    const index = command.index < 0 ? length + command.index : command.index;
    if (index < 0 || index >= length) return failed(indexOutOfRange);
    this.listSet(key, index, keyString(command.element));
    this.stamp(key, version, list.expiresAt);
    this.#notify('l', 'lset', key);
    return ok('OK');
  }

  /** LINSERT: the length after it, -1 when the pivot is absent, 0 when the key is. */
  #linsert(
    key: string,
    list: ListState | undefined,
    command: Extract<ListCommand, { type: 'linsert' }>,
    version: Version,
  ): ApplyResult {
    if (list === undefined) return ok(0);
    const pivot = keyString(command.pivot);
    const length = this.listLength(key);
    let index = 0;
    while (index < length && this.listGet(key, index) !== pivot) index++;
    if (index === length) return ok(-1);
    this.listInsert(
      key,
      command.where === 'before' ? index : index + 1,
      keyString(command.element),
    );
    this.stamp(key, version, list.expiresAt);
    this.#notify('l', 'linsert', key);
    return ok(length + 1);
  }

  /** LTRIM: keeps elements `start` to `stop` (Redis's indexes), popping the rest from the ends. */
  #ltrim(key: string, list: ListState, start: number, stop: number, version: Version): void {
    const length = this.listLength(key);
    const range = listRange(length, start, stop);
    const fromHead = range === null ? length : range.start;
    const fromTail = range === null ? 0 : length - 1 - range.stop;
    for (let i = 0; i < fromHead; i++) this.listRemove(key, 0);
    for (let i = 0; i < fromTail; i++) this.listRemove(key, this.listLength(key) - 1);
    this.#listChanged(key, list, version);
  }

  /**
   * LMOVE and RPOPLPUSH, in Redis's order: an absent source answers nil (whatever the
   * destination), a source or destination of another type WRONGTYPE (nothing moved); the
   * element pushed before the emptied source goes, so a list rotated onto itself stays.
   */
  #lmove(command: Extract<ListCommand, { type: 'lmove' }>, version: Version): ApplyResult {
    const key = keyString(command.key);
    const destination = keyString(command.destination);
    const source = this.#liveList(key, command.at);
    if (source === null) return failed(wrongType);
    if (source === undefined) return ok(null);
    const target = this.#liveList(destination, command.at);
    if (target === null) return failed(wrongType);
    const element = this.listRemove(key, command.from === 'left' ? 0 : this.listLength(key) - 1);
    this.#push(destination, destination === key ? source : target, [element], command.to, version);
    this.#listChanged(key, source, version);
    // As Redis: the push's event, then the pop's, then the emptied source's del.
    this.#notifyPopped(key, 1, command.from);
    return ok(Buffer.from(element, 'latin1'));
  }

  /** LMPOP: the first non-empty list's name and up to `count` elements; null when none. */
  #lmpop(command: Extract<ListCommand, { type: 'lmpop' }>, version: Version): ApplyResult {
    for (const keyBytes of command.keys) {
      const key = keyString(keyBytes);
      const list = this.#liveList(key, command.at);
      if (list === undefined) continue;
      if (list === null) return failed(wrongType);
      const popped = this.#pop(key, list, command.count, command.end, version);
      this.#notifyPopped(key, popped.length, command.end);
      return ok([Buffer.from(keyBytes), popped.map((element) => Buffer.from(element, 'latin1'))]);
    }
    return ok(null);
  }
}

/**
 * `count` members of `members` (fewer when it holds fewer) drawn by a partial Fisher-Yates
 * shuffle driven by `seed` (mulberry32, integer arithmetic only), so that every replica
 * draws the same ones from the same sequence order.
 */
export function drawSeeded(members: readonly string[], count: number, seed: number): string[] {
  const pool = [...members];
  const wanted = Math.min(count, pool.length);
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  // pool[0..i) holds the members drawn so far; the rest are still candidates.
  for (let i = 0; i < wanted; i++) {
    const j = i + (next() % (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  return pool.slice(0, wanted);
}

/**
 * `count` positions in `[0, size)` drawn at random, in random order: distinct ones (at most
 * `size` of them, by Floyd's algorithm) unless `repeats`. O(count), whatever the size, so a
 * store can draw members of a large set without listing it. `random` gives [0, 1).
 */
export function drawIndexes(
  size: number,
  count: number,
  repeats: boolean,
  random: () => number = Math.random,
): number[] {
  const pick = (below: number): number => Math.floor(random() * below);
  if (size === 0) return [];
  if (repeats) return Array.from({ length: count }, () => pick(size));
  const wanted = Math.min(count, size);
  const chosen = new Set<number>();
  for (let j = size - wanted; j < size; j++) {
    const t = pick(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  // Floyd's algorithm gives a uniform set, not a uniform order: shuffle it.
  const drawn = [...chosen];
  for (let i = drawn.length - 1; i > 0; i--) {
    const j = pick(i + 1);
    [drawn[i], drawn[j]] = [drawn[j] as number, drawn[i] as number];
  }
  return drawn;
}

/** Sorts integer members (latin1) ascending by value, as an intset answers them. */
export function intsetOrder(members: string[]): string[] {
  return members.sort(compareIntegerMembers);
}

/** The whole of a sorted set, in order. */
export const wholeSet: ZsetSelection = { range: { by: 'rank', start: 0, stop: -1 } };

/** ZADD's text for a score that does not parse. */
export const notAValidScore = 'ERR value is not a valid float';
/** ZUNIONSTORE's and ZINTERSTORE's text for a weight that does not parse. */
export const weightNotAFloat = 'ERR weight value is not a float';

/** Members with their scores' reply texts, as pops and ranges answer them. */
export function scoredEntries(entries: readonly [string, number][]): [Buffer, Buffer][] {
  return entries.map(([member, score]) => [
    Buffer.from(member, 'latin1'),
    Buffer.from(formatScore(score), 'latin1'),
  ]);
}

/** A rank as a range carries it: a signed 64-bit integer, kept within the safe integers. */
function rankOf(bytes: Bytes): number | null {
  const value = parseInt64(keyString(bytes));
  if (value === null) return null;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(value > safe ? safe : value < -safe ? -safe : value);
}

/** A range's text read as Redis reads it, or null where Redis refuses it. */
export function zsetRangeOf(text: ZsetRangeText): ZsetRange | null {
  switch (text.by) {
    case 'rank': {
      const start = rankOf(text.min);
      const stop = rankOf(text.max);
      return start === null || stop === null ? null : { by: 'rank', start, stop };
    }
    case 'score': {
      const min = parseScoreBound(text.min);
      const max = parseScoreBound(text.max);
      return min === null || max === null ? null : { by: 'score', min, max };
    }
    case 'lex': {
      const min = parseLexBound(text.min);
      const max = parseLexBound(text.max);
      return min === null || max === null ? null : { by: 'lex', min, max };
    }
  }
}

/** Redis's text for a range of `text`'s kind that does not parse. */
export function zsetRangeRefusal(text: ZsetRangeText): string {
  if (text.by === 'rank') return notAnInteger;
  return text.by === 'score'
    ? 'ERR min or max is not a float'
    : 'ERR min or max not valid string range item';
}

/**
 * The merge operation of what `command` did to `key` (null: nothing to merge): `before`
 * and `after` are the key as it was and is. An INCRBY of a live key, or of one no write
 * holds, is an increment; EXPIRE and GETEX that kept the value change only its expiry;
 * anything else that wrote or removed the key is a write of its new value.
 */
function mergeOpOf(
  command: KvCommand,
  before: KeyState | undefined,
  after: KeyState | undefined,
  state: LinkedState,
  key: string,
  version: Version,
): UnstampedOp | null {
  const at = command.at;
  const wrote =
    after !== undefined
      ? after.index === version.index && after.term === version.term
      : before !== undefined;
  if (!wrote) return null;
  if (!isLive(before, at) && after === undefined) return null;
  if (command.type === 'incrby') {
    const absent = readValue(state.keyState(key), Number.NEGATIVE_INFINITY) === null;
    if (isLive(before, at) || absent) return { kind: 'increment', delta: BigInt(command.by) };
  }
  const kept =
    after !== undefined &&
    isLive(before, at) &&
    holdsString(before) &&
    holdsString(after) &&
    before.value === after.value;
  if ((command.type === 'expire' || command.type === 'getex') && (kept || after === undefined)) {
    return { kind: 'expire', expiresAtMs: command.expiresAt };
  }
  if (after === undefined) return { kind: 'write', value: null, expiresAtMs: null };
  const value = Buffer.from(after.value as string, 'latin1');
  return { kind: 'write', value, expiresAtMs: after.expiresAt };
}
