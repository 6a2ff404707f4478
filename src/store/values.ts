/**
 * The kinds of value a key holds, and what every data type shares: the type tag that TYPE
 * answers, Redis's WRONGTYPE refusal, and the copy-on-write rule of structured values.
 *
 * A key's value is either a string (its bytes as a latin1 string, one character per byte)
 * or a structured value: an object tagged with its `type` ('hash' now; lists, sets and
 * sorted sets add their own tag and shape here). Strings are immutable, so a snapshot that
 * shares them needs nothing; a structured value is changed in place when no frozen
 * snapshot can see it, and copied first when one can (`generation` below), so a write
 * costs what the change costs, never a copy of the whole value.
 *
 * This file imports nothing of its siblings but the sorted sets' pure order (sorted-set.ts):
 * both stores, the image code and the commands take their types from it.
 */
import { ScoreList } from './sorted-set.js';

/** Every type a live key can have, as Redis's TYPE names it. */
export type ValueType = 'string' | 'hash' | 'set' | 'zset';

/** Redis's refusal of a command on a key of another type, byte for byte. */
export const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/**
 * Redis 7.0's encodings of a hash: `listpack` while it is small, `hashtable` once it
 * outgrew it (and forever after, as in Redis: deleting fields never converts back).
 */
export type HashEncoding = 'listpack' | 'hashtable';

/**
 * Redis 7.0's default hash-max-listpack-entries (512, as `CONFIG GET` on redis-server 7.0
 * answers; sorted sets' is 128): past this many fields a hash is a hashtable.
 */
export const hashListpackEntriesMax = 512;
/** Redis's default hash-max-listpack-value: a field or value longer than this converts. */
export const hashListpackValueBytesMax = 64;

/**
 * One field's value (latin1) and its sequence number in its hash: given when the field is
 * created, kept while it lives, so that HSCAN's cursor (a sequence number) visits every
 * field present for the whole scan exactly once, as SCAN does keys. Never changed in
 * place: an update replaces it.
 */
export interface HashField {
  readonly value: string;
  readonly seq: number;
}

/**
 * A hash in memory. `fields` maps each field (latin1) to its value, in the order the
 * fields were created (which is sequence order), as Redis's listpack keeps them; an update
 * keeps a field's place. `nextSeq` is the sequence number the next new field gets.
 *
 * `generation` is the keyspace generation that made this object. A keyspace freezes a
 * snapshot by ending its current generation: an object of an ended generation may be
 * shared with a frozen snapshot and is copied before a change, one of the current
 * generation belongs to the live keyspace alone and is changed in place.
 */
export interface HashValue {
  readonly type: 'hash';
  readonly fields: Map<string, HashField>;
  nextSeq: number;
  encoding: HashEncoding;
  readonly generation: number;
}

/** A key's value: a string's bytes (latin1), or a structured value tagged with its type. */
export type StoredValue = string | HashValue | SetValue | ZsetValue;

/** The type of a value, as TYPE answers it. */
export function typeOf(value: StoredValue): ValueType {
  return typeof value === 'string' ? 'string' : value.type;
}

/** A new empty hash of `generation`. */
export function emptyHash(generation: number): HashValue {
  return { type: 'hash', fields: new Map(), nextSeq: 1, encoding: 'listpack', generation };
}

/** A copy of `hash` owned by `generation` (its fields copied, its encoding kept). */
export function copyHash(hash: HashValue, generation: number): HashValue {
  return {
    type: 'hash',
    fields: new Map(hash.fields),
    nextSeq: hash.nextSeq,
    encoding: hash.encoding,
    generation,
  };
}

/**
 * The encoding a hash of `encoding` takes after holding `length` fields with a field or
 * value of `longest` bytes written, by Redis 7.0's rules (hashTypeTryConversion and
 * hashTypeSet): once past either bound it is a hashtable for good.
 */
export function hashEncodingAfter(
  encoding: HashEncoding,
  length: number,
  longest: number,
): HashEncoding {
  if (encoding === 'hashtable') return encoding;
  return length > hashListpackEntriesMax || longest > hashListpackValueBytesMax
    ? 'hashtable'
    : 'listpack';
}

// ------------------------------------------------------------------ sets

/**
 * Redis 7.0's encodings of a set: `intset` while every member is an integer and there are
 * at most `setIntsetEntriesMax` of them, `hashtable` otherwise (and forever after, as in
 * Redis: removing members never converts back). Redis 7.0 has no listpack sets (7.2 added
 * them, with set-max-listpack-entries): redis-server 7.0 answers these two only.
 */
export type SetEncoding = 'intset' | 'hashtable';

/** Redis 7.0's default set-max-intset-entries: past this many members an intset converts. */
export const setIntsetEntriesMax = 512;

/** Redis's string2ll syntax (no sign on zero, no leading zeros, at most 19 digits). */
const integerSyntax = /^(?:0|-?[1-9][0-9]{0,18})$/;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/**
 * Whether `member` (latin1) is a signed 64-bit integer as Redis's string2ll reads it: the
 * members an intset can hold (isSdsRepresentableAsLongLong).
 */
export function isIntegerMember(member: string): boolean {
  if (!integerSyntax.test(member)) return false;
  const value = BigInt(member);
  return value >= int64Min && value <= int64Max;
}

/**
 * A set in memory. `members` maps each member (latin1) to its sequence number, in the
 * order the members were added (which is sequence order): SSCAN's cursor on a hashtable,
 * and the one order every replica agrees on (SPOP draws by it). An intset answers in
 * ascending numeric order instead, as Redis's does. `generation` as in `HashValue`.
 */
export interface SetValue {
  readonly type: 'set';
  readonly members: Map<string, number>;
  nextSeq: number;
  encoding: SetEncoding;
  readonly generation: number;
}

/** A new empty set of `generation` with `encoding`. */
export function emptySet(generation: number, encoding: SetEncoding): SetValue {
  return { type: 'set', members: new Map(), nextSeq: 1, encoding, generation };
}

/** A copy of `set` owned by `generation` (its members copied, its encoding kept). */
export function copySet(set: SetValue, generation: number): SetValue {
  return {
    type: 'set',
    members: new Map(set.members),
    nextSeq: set.nextSeq,
    encoding: set.encoding,
    generation,
  };
}

/**
 * The encoding a set made by adding `first` starts with, by Redis 7.0's setTypeCreate: an
 * intset when that member is an integer, else a hashtable.
 */
export function setEncodingFor(first: string): SetEncoding {
  return isIntegerMember(first) ? 'intset' : 'hashtable';
}

/**
 * The encoding a set of `encoding` takes after `member` was added and it holds `length`
 * members, by Redis 7.0's setTypeAdd: an intset converts for a member that is no integer,
 * or once it holds more than set-max-intset-entries.
 */
export function setEncodingAfterAdd(
  encoding: SetEncoding,
  member: string,
  length: number,
): SetEncoding {
  if (encoding === 'hashtable') return encoding;
  return !isIntegerMember(member) || length > setIntsetEntriesMax ? 'hashtable' : 'intset';
}

/** Orders integer members (latin1) by value, as an intset holds them. */
export function compareIntegerMembers(a: string, b: string): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

// ------------------------------------------------------------------ sorted sets

/**
 * Redis 7.0's encodings of a sorted set: `listpack` while it is small, `skiplist` once it
 * outgrew it (and for good, but for a ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE or ZRANGESTORE
 * result, which is made in the encoding its size calls for).
 */
export type ZsetEncoding = 'listpack' | 'skiplist';

/** Redis 7.0's default zset-max-listpack-entries: past this many members, a skiplist. */
export const zsetListpackEntriesMax = 128;
/** Redis's default zset-max-listpack-value: a member longer than this converts. */
export const zsetListpackValueBytesMax = 64;

/**
 * One member's score and its sequence number in its set: given when the member is added,
 * kept while it lives, so that ZSCAN's cursor visits every member present for the whole
 * scan once, as HSCAN does fields. Never changed in place: a new score replaces it.
 */
export interface ZsetMember {
  readonly score: number;
  readonly seq: number;
}

/**
 * A sorted set in memory: `members` maps each member (latin1) to its score, in the order
 * the members were added (sequence order, for ZSCAN), and `order` holds the same elements
 * ordered by (score, member) for ranks and ranges. `generation` is as a hash's.
 */
export interface ZsetValue {
  readonly type: 'zset';
  readonly members: Map<string, ZsetMember>;
  readonly order: ScoreList;
  nextSeq: number;
  encoding: ZsetEncoding;
  readonly generation: number;
}

/** A new empty sorted set of `generation`. */
export function emptyZset(generation: number, encoding: ZsetEncoding): ZsetValue {
  return {
    type: 'zset',
    members: new Map(),
    order: new ScoreList(),
    nextSeq: 1,
    encoding,
    generation,
  };
}

/** A copy of `zset` owned by `generation` (members and order copied, encoding kept). */
export function copyZset(zset: ZsetValue, generation: number): ZsetValue {
  return {
    type: 'zset',
    members: new Map(zset.members),
    order: zset.order.copy(),
    nextSeq: zset.nextSeq,
    encoding: zset.encoding,
    generation,
  };
}

/**
 * The encoding a sorted set made for `length` members, the longest `longest` bytes, takes
 * (zsetConvertToListpackIfNeeded, and ZADD's creation by its first member).
 */
export function zsetEncodingFor(length: number, longest: number): ZsetEncoding {
  return length > zsetListpackEntriesMax || longest > zsetListpackValueBytesMax
    ? 'skiplist'
    : 'listpack';
}
