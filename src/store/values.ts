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
 * This file imports nothing of its siblings: both stores, the image code and the commands
 * take their types from it.
 */

/** Every type a live key can have, as Redis's TYPE names it. */
export type ValueType = 'string' | 'hash';

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
export type StoredValue = string | HashValue;

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
