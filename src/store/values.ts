/**
 * The kinds of value a key holds, and what every data type shares: the type tag that TYPE
 * answers, Redis's WRONGTYPE refusal, and the copy-on-write rule of structured values.
 *
 * A key's value is either a string (its bytes as a latin1 string, one character per byte)
 * or a structured value: an object tagged with its `type` ('hash', 'set', 'zset' or
 * 'list'). Strings are immutable, so a snapshot that
 * shares them needs nothing; a structured value is changed in place when no frozen
 * snapshot can see it, and copied first when one can (`generation` below), so a write
 * costs what the change costs, never a copy of the whole value.
 *
 * This file imports nothing of its siblings but the sorted sets' pure order (sorted-set.ts):
 * both stores, the image code and the commands take their types from it.
 */
import { ScoreList } from './sorted-set.js';

/** Every type a live key can have, as Redis's TYPE names it. */
export type ValueType = 'string' | 'hash' | 'set' | 'zset' | 'list';

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

/**
 * The encoding OBJECT ENCODING names for every list: redis-server 7.0 answers `quicklist`
 * for a list of any size (its nodes are listpacks of list-max-listpack-size, -2 or 8 KB,
 * each; a list that is one small listpack came with Redis 7.2).
 */
export const listEncoding = 'quicklist';

/**
 * A double-ended queue of latin1 strings in a ring buffer: pushing or popping at either
 * end is O(1) (amortized: the buffer doubles when full, halves when a quarter full);
 * reading by index is O(1); inserting or removing inside moves the shorter side.
 *
 * Invariant: element `i` (0 is the head) is `#slots[(#head + i) & (#slots.length - 1)]`,
 * for `0 <= i < #length`; `#slots.length` is a power of two, at least `dequeSlotsMin`.
 */
export class Deque {
  #slots: (string | undefined)[];
  #head = 0;
  #length = 0;

  constructor(slots = dequeSlotsMin) {
    this.#slots = new Array<string | undefined>(slots);
  }

  /** A deque holding `elements`, head first. */
  static of(elements: readonly string[]): Deque {
    let slots = dequeSlotsMin;
    while (slots < elements.length) slots *= 2;
    const deque = new Deque(slots);
    for (const element of elements) deque.pushBack(element);
    return deque;
  }

  get length(): number {
    return this.#length;
  }

  #slot(index: number): number {
    return (this.#head + index) & (this.#slots.length - 1);
  }

  /** Element `index` (0 <= index < length). */
  at(index: number): string {
    return this.#slots[this.#slot(index)] as string;
  }

  /** Replaces element `index` (0 <= index < length). */
  set(index: number, element: string): void {
    this.#slots[this.#slot(index)] = element;
  }

  pushFront(element: string): void {
    this.#grow();
    this.#head = (this.#head - 1) & (this.#slots.length - 1);
    this.#slots[this.#head] = element;
    this.#length++;
  }

  pushBack(element: string): void {
    this.#grow();
    this.#slots[this.#slot(this.#length)] = element;
    this.#length++;
  }

  /** Removes and returns the head (the deque must not be empty). */
  popFront(): string {
    const element = this.#slots[this.#head] as string;
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#slots.length - 1);
    this.#length--;
    this.#shrink();
    return element;
  }

  /** Removes and returns the tail (the deque must not be empty). */
  popBack(): string {
    const slot = this.#slot(this.#length - 1);
    const element = this.#slots[slot] as string;
    this.#slots[slot] = undefined;
    this.#length--;
    this.#shrink();
    return element;
  }

  /** Inserts `element` before element `index` (0 <= index <= length), moving the shorter side. */
  insert(index: number, element: string): void {
    if (index === 0) return this.pushFront(element);
    if (index === this.#length) return this.pushBack(element);
    if (index < this.#length / 2) {
      this.pushFront(this.at(0));
      for (let i = 1; i < index; i++) this.set(i, this.at(i + 1));
    } else {
      this.pushBack(this.at(this.#length - 1));
      for (let i = this.#length - 2; i > index; i--) this.set(i, this.at(i - 1));
    }
    this.set(index, element);
  }

  /** Removes and returns element `index` (0 <= index < length), moving the shorter side. */
  removeAt(index: number): string {
    const element = this.at(index);
    if (index < this.#length / 2) {
      for (let i = index; i > 0; i--) this.set(i, this.at(i - 1));
      this.popFront();
    } else {
      for (let i = index; i < this.#length - 1; i++) this.set(i, this.at(i + 1));
      this.popBack();
    }
    return element;
  }

  /** Elements `start` to `stop` inclusive (clamped by the caller to 0..length-1). */
  slice(start: number, stop: number): string[] {
    const out: string[] = [];
    for (let i = start; i <= stop; i++) out.push(this.at(i));
    return out;
  }

  /**
   * A new deque without the elements equal to `element`: the first `count` of them from
   * the head (`count` > 0), from the tail (< 0), or all (0); and how many it left out.
   */
  withoutEqual(element: string, count: number): { kept: Deque; removed: number } {
    const limit = count === 0 ? Infinity : Math.abs(count);
    const drop = new Set<number>();
    for (let step = 0; step < this.#length && drop.size < limit; step++) {
      const index = count < 0 ? this.#length - 1 - step : step;
      if (this.at(index) === element) drop.add(index);
    }
    const kept: string[] = [];
    for (let i = 0; i < this.#length; i++) if (!drop.has(i)) kept.push(this.at(i));
    return { kept: Deque.of(kept), removed: drop.size };
  }

  /** A copy (the strings are shared: they never change). */
  copy(): Deque {
    return Deque.of(this.slice(0, this.#length - 1));
  }

  #grow(): void {
    if (this.#length < this.#slots.length) return;
    this.#resize(this.#slots.length * 2);
  }

  #shrink(): void {
    if (this.#slots.length > dequeSlotsMin && this.#length < this.#slots.length / 4) {
      this.#resize(this.#slots.length / 2);
    }
  }

  #resize(slots: number): void {
    const next = new Array<string | undefined>(slots);
    for (let i = 0; i < this.#length; i++) next[i] = this.at(i);
    this.#slots = next;
    this.#head = 0;
  }
}

/** The fewest slots a deque keeps (a power of two). */
const dequeSlotsMin = 8;

/**
 * A list in memory: its elements (latin1), head first. `generation` is as a hash's: an
 * object of an ended generation may be shared with a frozen snapshot and is copied
 * before a change. A list is never empty: the command that empties it removes the key.
 */
export interface ListValue {
  readonly type: 'list';
  /** Replaced whole only by LREM (which rebuilds it in one pass) and its undoing. */
  elements: Deque;
  readonly generation: number;
}

/** A new empty list of `generation` (the command that makes it pushes at once). */
export function emptyList(generation: number): ListValue {
  return { type: 'list', elements: new Deque(), generation };
}

/** A copy of `list` owned by `generation`. */
export function copyList(list: ListValue, generation: number): ListValue {
  return { type: 'list', elements: list.elements.copy(), generation };
}

/** A key's value: a string's bytes (latin1), or a structured value tagged with its type. */
export type StoredValue = string | HashValue | SetValue | ZsetValue | ListValue;

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

// ------------------------------------------------------------------ lists

/**
 * The inclusive range of indexes LRANGE and LTRIM take of a list of `length` for
 * `start` and `stop`, by Redis's rules (a negative index counts from the tail; the range
 * is clamped to the list), or null when it is empty.
 */
export function listRange(
  length: number,
  start: number,
  stop: number,
): { start: number; stop: number } | null {
  let from = start < 0 ? length + start : start;
  let to = stop < 0 ? length + stop : stop;
  if (from < 0) from = 0;
  if (from > to || from >= length) return null;
  if (to >= length) to = length - 1;
  return { start: from, stop: to };
}

/** LPOS's options: RANK (not 0; negative searches from the tail), COUNT (0: all), MAXLEN (0: all). */
export interface ListPositionOptions {
  readonly rank: number;
  /** Null when COUNT was not given (one position or null is the answer). */
  readonly count: number | null;
  readonly maxlen: number;
}

/**
 * LPOS over a list of `length` whose element `i` is `at(i)`: the indexes of `element`, as
 * Redis's lposCommand finds them (skipping the first `rank - 1` matches, looking at most
 * at `maxlen` elements, stopping after `count`).
 */
export function listPositions(
  length: number,
  at: (index: number) => string,
  element: string,
  options: ListPositionOptions,
): number[] {
  const fromTail = options.rank < 0;
  const rank = Math.abs(options.rank);
  const wanted = options.count ?? 1;
  const found: number[] = [];
  let matches = 0;
  for (let step = 0; step < length && (options.maxlen === 0 || step < options.maxlen); step++) {
    const index = fromTail ? length - 1 - step : step;
    if (at(index) !== element) continue;
    matches++;
    if (matches < rank) continue;
    found.push(index);
    if (wanted !== 0 && found.length >= wanted) break;
  }
  return found;
}
