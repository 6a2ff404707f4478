/**
 * The SQLite store's snapshot image: its SQL database and its in-memory key-value
 * namespace (keyspace.ts) in one file, both at one log position.
 *
 *   header (64 bytes)
 *     0   8  magic "TNDMKV01"
 *     8   4  format (u32, `memoryImageFormat`)
 *     12  4  reserved, 0
 *     16  8  index (f64, a safe integer)
 *     24  8  term
 *     32  8  bytes of the SQLite database that follows the header
 *     40  8  keys that follow the database
 *     48  8  the sequence number the next new key gets
 *     56  8  reserved, 0
 *   the SQLite database (sqlite3_serialize of the store's SQL tables, sessions and meta)
 *   one record per key, in sequence order: a flags byte (1: the key expires, 2: it holds
 *   a hash, 4: the hash is a hashtable), then as unsigned LEB128 varints the key's length,
 *   the value's length (a hash: its field count), the version index, the version term and
 *   the sequence number, then the expiry (f64 ms) when flagged, the key and the value.
 *   A hash's value is a varint (the sequence number its next field gets) then per field,
 *   in sequence order, varints of the field's length, the value's length and the field's
 *   sequence number, the field and the value. A set (flag 8; with 4 a hashtable, else an
 *   intset) has its member count as the value's length, and as its value a varint (the
 *   sequence number its next member gets) then per member, in sequence order, varints of
 *   the member's length and sequence number, then the member. A sorted set (flag 16; with
 *   32 a skiplist, else a listpack) has its member count as the value's length, and as its
 *   value a varint (the sequence number its next member gets) then per member, in sequence
 *   order, a varint of the member's length, a varint of its sequence number, its score
 *   (f64) and the member. A list (flag 64) counts its elements as the value's length, and
 *   its value is, per element from the head, a varint of its length and its bytes. A
 *   record flags one structured type at most, an encoding bit only with its type, and no
 *   bit this build does not know. Format 1 (earlier builds) is format 3 without hashes,
 *   sets, sorted sets or lists, format 2 without lists; both still load, and a build
 *   without lists refuses an image that holds one (an impossible flag) rather than
 *   misread it.
 *
 * Records are a few bytes of numbers and the raw bytes, so that a million keys write and
 * read in about a second and take little more room than their data: a node restarts by reading its latest image and the log after
 * it. The file as a whole is checksummed by the snapshot machinery (CRC32C); a reader
 * still checks every length against the file, so a damaged image is refused, never read
 * past its end.
 */
import { crc32c } from '@node-rs/crc32';
import Database from 'better-sqlite3';
import { open, readFile } from 'node:fs/promises';
import { TandemError } from '../core/errors.js';
import { keyBytesMax } from './commands.js';
import type { LogPosition, RestoreMeta } from './contract.js';
import { Keyspace, type FrozenKeyspace, type Item } from './keyspace.js';
import { hashTablesSchema, listTablesSchema, setTablesSchema, zsetTablesSchema } from './kv.js';
import {
  Deque,
  type HashField,
  type HashValue,
  type ListValue,
  type SetValue,
  type ZsetMember,
  type ZsetValue,
} from './values.js';
import { ScoreList } from './sorted-set.js';
import { checksumText, snapshotChunkBytes } from './snapshot-images.js';

/** The first bytes of a memory image. */
export const memoryImageMagic = Buffer.from('TNDMKV01', 'latin1');
/** The layout this build writes and reads. */
export const memoryImageFormat = 3;
/** The earlier layouts (no hashes, then no lists), which this build still reads. */
const memoryImageFormatStrings = 1;
const memoryImageFormatHashes = 2;
const headerBytes = 64;
/** The most bytes a record takes besides its key and value: flags, five varints, expiry. */
const recordHeaderBytesMax = 1 + 5 * 8 + 8;
/** The most bytes a hash field's record takes besides its field and value: three varints. */
const fieldHeaderBytesMax = 3 * 8;
const expiresFlag = 1;
const hashFlag = 2;
const hashtableFlag = 4;
const setFlag = 8;
const zsetFlag = 16;
const skiplistFlag = 32;
const listFlag = 64;
/** Every flag this build knows: a record with any other bit set is refused. */
const flagsKnown =
  expiresFlag | hashFlag | hashtableFlag | setFlag | zsetFlag | skiplistFlag | listFlag;
/** The most bytes a set member's record takes besides the member: two varints. */
const memberHeaderBytesMax = 2 * 8;
/** The most bytes a sorted set member's record takes besides the member: two varints, f64. */
const zsetMemberHeaderBytesMax = 2 * 8 + 8;
/** The most bytes a list element's record takes besides its bytes: one varint. */
const elementHeaderBytesMax = 8;

/** What a memory image's header says. */
export interface MemoryImageHeader {
  /** The layout: `memoryImageFormat`, or an earlier one this build reads. */
  readonly format: number;
  readonly position: LogPosition;
  readonly sqliteBytes: number;
  readonly keyCount: number;
  readonly nextSeq: number;
}

function corrupt(message: string): TandemError {
  return new TandemError('TANDEM_CORRUPT', `the snapshot image is damaged: ${message}`);
}

function safeAt(buffer: Buffer, offset: number, what: string): number {
  const value = buffer.readDoubleLE(offset);
  if (!Number.isSafeInteger(value) || value < 0) throw corrupt(`impossible ${what} ${value}`);
  return value;
}

/** Reads and checks the header at the start of `buffer`. */
export function readMemoryImageHeader(buffer: Buffer): MemoryImageHeader {
  if (buffer.byteLength < headerBytes || !buffer.subarray(0, 8).equals(memoryImageMagic)) {
    throw corrupt('no memory image header');
  }
  const format = buffer.readUInt32LE(8);
  if (
    format !== memoryImageFormat &&
    format !== memoryImageFormatStrings &&
    format !== memoryImageFormatHashes
  ) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `the snapshot image has format ${format}; this build reads format ${memoryImageFormat}`,
    );
  }
  return {
    format,
    position: { index: safeAt(buffer, 16, 'index'), term: safeAt(buffer, 24, 'term') },
    sqliteBytes: safeAt(buffer, 32, 'database size'),
    keyCount: safeAt(buffer, 40, 'key count'),
    nextSeq: safeAt(buffer, 48, 'next sequence number'),
  };
}

/** Reads the header of the image in `file`. */
export async function readMemoryImageFileHeader(file: string): Promise<MemoryImageHeader> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(headerBytes);
    const { bytesRead } = await handle.read(buffer, 0, headerBytes, 0);
    return readMemoryImageHeader(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** An image being written is synced every this many bytes, so it never floods the disk. */
export const imageSyncEveryBytes = 8 * 1024 * 1024;

/**
 * Writes an image of `database` (serialized SQLite bytes) and `keyspace` at `position`
 * into `file` (created; it must not exist), in chunks, yielding to the event loop between
 * them, and syncs it. Returns its size and CRC32C.
 */
export async function writeMemoryImage(
  file: string,
  position: LogPosition,
  database: Buffer,
  keyspace: FrozenKeyspace,
): Promise<{ readonly bytes: number; readonly checksum: string }> {
  const handle = await open(file, 'wx');
  let crc = 0;
  let bytes = 0;
  let unsynced = 0;
  const put = async (chunk: Buffer): Promise<void> => {
    crc = crc32c(chunk, crc);
    bytes += chunk.byteLength;
    for (let offset = 0; offset < chunk.byteLength;) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
      offset += bytesWritten;
    }
    unsynced += chunk.byteLength;
    if (unsynced >= imageSyncEveryBytes) {
      // A whole image left dirty in the page cache is written back in one burst, and the
      // log's fdatasyncs (each write's durability) queue behind it: sync as it goes.
      unsynced = 0;
      await handle.datasync();
    }
  };
  try {
    const header = Buffer.alloc(headerBytes);
    memoryImageMagic.copy(header, 0);
    header.writeUInt32LE(memoryImageFormat, 8);
    header.writeDoubleLE(position.index, 16);
    header.writeDoubleLE(position.term, 24);
    header.writeDoubleLE(database.byteLength, 32);
    header.writeDoubleLE(keyspace.keys.length, 40);
    header.writeDoubleLE(keyspace.nextSeq, 48);
    await put(header);
    await put(database);
    let chunk = Buffer.allocUnsafe(snapshotChunkBytes);
    let used = 0;
    for (let i = 0; i < keyspace.keys.length; i++) {
      const key = keyspace.keys[i] as string;
      const item = keyspace.items[i] as Item;
      const size = recordBytesMax(key, item);
      if (used + size > chunk.byteLength) {
        if (used > 0) await put(chunk.subarray(0, used));
        chunk = Buffer.allocUnsafe(Math.max(snapshotChunkBytes, size));
        used = 0;
      }
      used = writeRecord(chunk, used, key, item);
    }
    if (used > 0) await put(chunk.subarray(0, used));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes, checksum: checksumText(crc) };
}

/** Writes `value` (a safe non-negative integer) as an unsigned LEB128 varint. */
function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  while (rest >= 0x80) {
    buffer[at++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buffer[at++] = rest;
  return at;
}

/** The most bytes the record of `key` takes. */
function recordBytesMax(key: string, item: Item): number {
  const value = item.value;
  if (typeof value === 'string') return recordHeaderBytesMax + key.length + value.length;
  if (value.type === 'zset') {
    let zsetBytes = recordHeaderBytesMax + key.length + 8;
    for (const member of value.members.keys()) {
      zsetBytes += zsetMemberHeaderBytesMax + member.length;
    }
    return zsetBytes;
  }
  let bytes = recordHeaderBytesMax + key.length + 8;
  if (value.type === 'list') {
    for (let i = 0; i < value.elements.length; i++) {
      bytes += elementHeaderBytesMax + value.elements.at(i).length;
    }
    return bytes;
  }
  if (value.type === 'set') {
    for (const member of value.members.keys()) bytes += memberHeaderBytesMax + member.length;
    return bytes;
  }
  for (const [field, { value: fieldValue }] of value.fields) {
    bytes += fieldHeaderBytesMax + field.length + fieldValue.length;
  }
  return bytes;
}

function recordFlags(item: Item): number {
  const expires = item.expiresAt === null ? 0 : expiresFlag;
  if (typeof item.value === 'string') return expires;
  if (item.value.type === 'set') {
    return expires | setFlag | (item.value.encoding === 'hashtable' ? hashtableFlag : 0);
  }
  if (item.value.type === 'zset') {
    return expires | zsetFlag | (item.value.encoding === 'skiplist' ? skiplistFlag : 0);
  }
  if (item.value.type === 'list') return expires | listFlag;
  return expires | hashFlag | (item.value.encoding === 'hashtable' ? hashtableFlag : 0);
}

function writeRecord(buffer: Buffer, offset: number, key: string, item: Item): number {
  const value = item.value;
  if (typeof value !== 'string' && value.type === 'zset') {
    return writeZsetRecord(buffer, offset, key, item, value);
  }
  buffer[offset] = recordFlags(item);
  let at = writeVarint(buffer, offset + 1, key.length);
  at = writeVarint(buffer, at, recordLength(value));
  at = writeVarint(buffer, at, item.index);
  at = writeVarint(buffer, at, item.term);
  at = writeVarint(buffer, at, item.seq);
  if (item.expiresAt !== null) at = buffer.writeDoubleLE(item.expiresAt, at);
  at += buffer.write(key, at, 'latin1');
  if (typeof value === 'string') return at + buffer.write(value, at, 'latin1');
  if (value.type === 'set') return writeSetMembers(buffer, at, value);
  if (value.type === 'list') {
    for (let i = 0; i < value.elements.length; i++) {
      const element = value.elements.at(i);
      at = writeVarint(buffer, at, element.length);
      at += buffer.write(element, at, 'latin1');
    }
    return at;
  }
  at = writeVarint(buffer, at, value.nextSeq);
  for (const [field, { value: fieldValue, seq }] of value.fields) {
    at = writeVarint(buffer, at, field.length);
    at = writeVarint(buffer, at, fieldValue.length);
    at = writeVarint(buffer, at, seq);
    at += buffer.write(field, at, 'latin1');
    at += buffer.write(fieldValue, at, 'latin1');
  }
  return at;
}

/** A set's part of its record: the next sequence number, then each member. */
function writeSetMembers(buffer: Buffer, offset: number, set: SetValue): number {
  let at = writeVarint(buffer, offset, set.nextSeq);
  for (const [member, seq] of set.members) {
    at = writeVarint(buffer, at, member.length);
    at = writeVarint(buffer, at, seq);
    at += buffer.write(member, at, 'latin1');
  }
  return at;
}

/** A sorted set's record: as a hash's, its members with their scores in sequence order. */
function writeZsetRecord(
  buffer: Buffer,
  offset: number,
  key: string,
  item: Item,
  zset: ZsetValue,
): number {
  buffer[offset] = recordFlags(item);
  let at = writeVarint(buffer, offset + 1, key.length);
  at = writeVarint(buffer, at, zset.members.size);
  at = writeVarint(buffer, at, item.index);
  at = writeVarint(buffer, at, item.term);
  at = writeVarint(buffer, at, item.seq);
  if (item.expiresAt !== null) at = buffer.writeDoubleLE(item.expiresAt, at);
  at += buffer.write(key, at, 'latin1');
  at = writeVarint(buffer, at, zset.nextSeq);
  for (const [member, { score, seq }] of zset.members) {
    at = writeVarint(buffer, at, member.length);
    at = writeVarint(buffer, at, seq);
    at = buffer.writeDoubleLE(score, at);
    at += buffer.write(member, at, 'latin1');
  }
  return at;
}

/**
 * Whether a record's flags name at most one kind of structured value, with only that
 * kind's encoding bit, and no bit this build does not know.
 */
function flagsPossible(flags: number, format: number): boolean {
  if (format === memoryImageFormatStrings) return flags <= expiresFlag;
  if ((flags & ~flagsKnown) !== 0) return false;
  const hash = (flags & hashFlag) !== 0;
  const set = (flags & setFlag) !== 0;
  const zset = (flags & zsetFlag) !== 0;
  const list = (flags & listFlag) !== 0;
  // Lists came with format 3.
  if (list && format === memoryImageFormatHashes) return false;
  if (Number(hash) + Number(set) + Number(zset) + Number(list) > 1) return false;
  if ((flags & hashtableFlag) !== 0 && !hash && !set) return false;
  return (flags & skiplistFlag) === 0 || zset;
}

/** A sorted set's members (`count` of them, in sequence order) as a record holds them. */
function readZset(reader: Reader, count: number, encoding: ZsetValue['encoding']): ZsetValue {
  const nextSeq = reader.varint('next member sequence number');
  const members = new Map<string, ZsetMember>();
  const order = new ScoreList();
  let last = 0;
  for (let i = 0; i < count; i++) {
    const memberLength = reader.varint('member length');
    const seq = reader.varint('member sequence number');
    if (seq <= last || seq >= nextSeq) throw corrupt('sorted set members out of sequence order');
    last = seq;
    const score = reader.float();
    if (Number.isNaN(score)) throw corrupt('a score that is not a number');
    const member = reader.latin1(memberLength);
    if (members.has(member)) throw corrupt('a sorted set member twice');
    members.set(member, { score, seq });
    order.insert(score, member);
  }
  if (count === 0) throw corrupt('an empty sorted set');
  // A loaded value belongs to no generation yet: the keyspace copies it before a change.
  return { type: 'zset', members, order, nextSeq, encoding, generation: 0 };
}
/**
 * A record's value length: a string's bytes, a hash's fields, a set's or sorted set's
 * members, a list's elements.
 */
function recordLength(value: Item['value']): number {
  if (typeof value === 'string') return value.length;
  switch (value.type) {
    case 'hash':
      return value.fields.size;
    case 'set':
    case 'zset':
      return value.members.size;
    case 'list':
      return value.elements.length;
  }
}

/** A memory image read whole: its header, its SQLite database and its namespace. */
export interface LoadedMemoryImage {
  readonly header: MemoryImageHeader;
  readonly database: Buffer;
  readonly keyspace: Keyspace;
}

/** Reads and checks the image in `file`; TANDEM_CORRUPT for any inconsistency. */
export async function loadMemoryImage(file: string): Promise<LoadedMemoryImage> {
  return parseMemoryImage(await readFile(file));
}

/** Whether a stream that starts with `bytes` is a memory image. */
export function isMemoryImageStart(bytes: Uint8Array): boolean {
  return (
    bytes.byteLength >= memoryImageMagic.byteLength &&
    Buffer.from(bytes.buffer, bytes.byteOffset, memoryImageMagic.byteLength).equals(
      memoryImageMagic,
    )
  );
}

/**
 * Receives a memory image into memory (a restore loads it whole anyway, so it is not
 * written to a file first), checking its checksum against `meta` and each chunk against
 * `chunkBytesMax`; then reads and checks it. TANDEM_CORRUPT on any mismatch.
 */
export async function receiveMemoryImage(
  meta: RestoreMeta,
  chunks: AsyncIterable<Uint8Array>,
  chunkBytesMax: number,
): Promise<LoadedMemoryImage> {
  const parts: Buffer[] = [];
  let crc = 0;
  let bytes = 0;
  for await (const chunk of chunks) {
    if (chunk.byteLength > chunkBytesMax) {
      throw corrupt(`a chunk of ${chunk.byteLength} bytes is over the maximum of ${chunkBytesMax}`);
    }
    crc = crc32c(chunk, crc);
    bytes += chunk.byteLength;
    // Copied: a sender may reuse its chunk buffers.
    parts.push(Buffer.from(chunk));
  }
  const checksum = checksumText(crc);
  if (checksum !== meta.checksum) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `snapshot checksum mismatch: expected ${meta.checksum}, the ${bytes} bytes received have ${checksum}`,
    );
  }
  const loaded = parseMemoryImage(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
  const { index, term } = loaded.header.position;
  if (index !== meta.index || term !== meta.term) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `the snapshot image is at index ${index} term ${term}, but was sent as index ${meta.index} term ${meta.term}`,
    );
  }
  return loaded;
}

/** Reads and checks an image held in `buffer`; TANDEM_CORRUPT for any inconsistency. */
export function parseMemoryImage(buffer: Buffer): LoadedMemoryImage {
  const header = readMemoryImageHeader(buffer);
  const databaseEnd = headerBytes + header.sqliteBytes;
  if (databaseEnd > buffer.byteLength) throw corrupt('the database runs past the end');
  const database = buffer.subarray(headerBytes, databaseEnd);
  const keyspace = new Keyspace();
  const reader = new Reader(buffer, databaseEnd);
  for (let i = 0; i < header.keyCount; i++) readRecord(reader, keyspace, header.format);
  if (reader.offset !== buffer.byteLength) throw corrupt('bytes after the last key');
  if (header.nextSeq <= keyspace.lastSeq) throw corrupt('a key beyond the next sequence number');
  keyspace.finishLoad(header.nextSeq);
  return { header, database, keyspace };
}

/** A cursor over an image's records; every read checks the bounds. */
class Reader {
  offset: number;
  readonly #buffer: Buffer;

  constructor(buffer: Buffer, offset: number) {
    this.#buffer = buffer;
    this.offset = offset;
  }

  byte(): number {
    if (this.offset >= this.#buffer.byteLength) throw corrupt('a key record is cut short');
    return this.#buffer[this.offset++] as number;
  }

  /** An unsigned LEB128 varint, at most a safe integer. */
  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 49) throw corrupt(`an overlong ${what}`);
    }
    if (!Number.isSafeInteger(value)) throw corrupt(`impossible ${what} ${value}`);
    return value;
  }

  double(what: string): number {
    if (this.offset + 8 > this.#buffer.byteLength) throw corrupt('a key record is cut short');
    const value = this.#buffer.readDoubleLE(this.offset);
    this.offset += 8;
    // An expiry is a whole number of ms, possibly past 2^53 (Redis takes any 64-bit time).
    if (!Number.isInteger(value)) throw corrupt(`impossible ${what} ${value}`);
    return value;
  }

  /** Any double but NaN's checks are the caller's: a score. */
  float(): number {
    if (this.offset + 8 > this.#buffer.byteLength) throw corrupt('a key record is cut short');
    const value = this.#buffer.readDoubleLE(this.offset);
    this.offset += 8;
    return value;
  }

  latin1(length: number): string {
    const end = this.offset + length;
    if (end > this.#buffer.byteLength) throw corrupt('a key record runs past the end');
    const text = this.#buffer.toString('latin1', this.offset, end);
    this.offset = end;
    return text;
  }
}

function readRecord(reader: Reader, keyspace: Keyspace, format: number): void {
  const flags = reader.byte();
  if (!flagsPossible(flags, format)) throw corrupt('an impossible key record');
  const keyLength = reader.varint('key length');
  const valueLength = reader.varint('value length');
  const index = reader.varint('version index');
  const term = reader.varint('version term');
  const seq = reader.varint('sequence number');
  const expiresAt = (flags & expiresFlag) !== 0 ? reader.double('expiry') : null;
  if (keyLength > keyBytesMax) throw corrupt(`a key of ${keyLength} bytes`);
  if (seq <= keyspace.lastSeq) throw corrupt('keys out of sequence order');
  const key = reader.latin1(keyLength);
  const hashtable = (flags & hashtableFlag) !== 0;
  const value =
    (flags & listFlag) !== 0
      ? readList(reader, valueLength)
      : (flags & zsetFlag) !== 0
        ? readZset(reader, valueLength, (flags & skiplistFlag) === 0 ? 'listpack' : 'skiplist')
        : (flags & setFlag) !== 0
          ? readSet(reader, valueLength, hashtable ? 'hashtable' : 'intset')
          : (flags & hashFlag) === 0
            ? reader.latin1(valueLength)
            : readHash(reader, valueLength, hashtable ? 'hashtable' : 'listpack');
  keyspace.load(key, { value, index, term, expiresAt, seq });
}

/** A hash's fields (`count` of them, in sequence order) as a record holds them. */
function readHash(reader: Reader, count: number, encoding: HashValue['encoding']): HashValue {
  const nextSeq = reader.varint('next field sequence number');
  const fields = new Map<string, HashField>();
  let last = 0;
  for (let i = 0; i < count; i++) {
    const fieldLength = reader.varint('field length');
    const valueLength = reader.varint('field value length');
    const seq = reader.varint('field sequence number');
    if (seq <= last || seq >= nextSeq) throw corrupt('hash fields out of sequence order');
    last = seq;
    const field = reader.latin1(fieldLength);
    if (fields.has(field)) throw corrupt('a hash field twice');
    fields.set(field, { value: reader.latin1(valueLength), seq });
  }
  if (count === 0) throw corrupt('an empty hash');
  // A loaded value belongs to no generation yet: the keyspace copies it before a change.
  return { type: 'hash', fields, nextSeq, encoding, generation: 0 };
}

/** A set's members (`count` of them, in sequence order) as a record holds them. */
function readSet(reader: Reader, count: number, encoding: SetValue['encoding']): SetValue {
  const nextSeq = reader.varint('next member sequence number');
  const members = new Map<string, number>();
  let last = 0;
  for (let i = 0; i < count; i++) {
    const memberLength = reader.varint('member length');
    const seq = reader.varint('member sequence number');
    if (seq <= last || seq >= nextSeq) throw corrupt('set members out of sequence order');
    last = seq;
    const member = reader.latin1(memberLength);
    if (members.has(member)) throw corrupt('a set member twice');
    members.set(member, seq);
  }
  if (count === 0) throw corrupt('an empty set');
  // A loaded value belongs to no generation yet: the keyspace copies it before a change.
  return { type: 'set', members, nextSeq, encoding, generation: 0 };
}

/** A list's elements (`count` of them, head first) as a record holds them. */
function readList(reader: Reader, count: number): ListValue {
  if (count === 0) throw corrupt('an empty list');
  const elements: string[] = [];
  for (let i = 0; i < count; i++) elements.push(reader.latin1(reader.varint('element length')));
  // A loaded value belongs to no generation yet: the keyspace copies it before a change.
  return { type: 'list', elements: Deque.of(elements), generation: 0 };
}

/**
 * Builds a self-contained SQLite file holding a memory image's whole state, the keys in
 * `_tandem_kv` with their sequence numbers as rowids: the form the PostgreSQL store
 * converts from (postgres-from-sqlite.ts).
 */
export async function sqliteFileFromMemoryImage(image: string, out: string): Promise<void> {
  const loaded = await loadMemoryImage(image);
  const db = new Database(loaded.database);
  try {
    db.exec(hashTablesSchema + setTablesSchema + listTablesSchema + zsetTablesSchema);
    const insert = db.prepare(
      'INSERT INTO _tandem_kv (rowid, key, value, version_index, version_term, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertHash = db.prepare(
      'INSERT INTO _tandem_hash_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
    );
    const insertField = db.prepare(
      'INSERT INTO _tandem_hash_fields (key, field, value, seq) VALUES (?, ?, ?, ?)',
    );
    const insertSet = db.prepare(
      'INSERT INTO _tandem_set_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
    );
    const insertMember = db.prepare(
      'INSERT INTO _tandem_set_members (key, member, seq) VALUES (?, ?, ?)',
    );
    const insertZset = db.prepare(
      'INSERT INTO _tandem_zset_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
    );
    const insertScored = db.prepare(
      'INSERT INTO _tandem_zset_members (key, member, score, seq) VALUES (?, ?, ?, ?)',
    );
    const insertElement = db.prepare(
      'INSERT INTO _tandem_list_items (key, pos, value) VALUES (?, ?, ?)',
    );
    const frozen = loaded.keyspace.freeze();
    db.transaction(() => {
      for (let i = 0; i < frozen.keys.length; i++) {
        const item = frozen.items[i] as Item;
        const key = Buffer.from(frozen.keys[i] as string, 'latin1');
        const value = item.value;
        const bytes = Buffer.from(typeof value === 'string' ? value : '', 'latin1');
        insert.run(item.seq, key, bytes, item.index, item.term, item.expiresAt);
        if (typeof value === 'string') continue;
        if (value.type === 'zset') {
          insertZset.run(key, value.encoding, value.nextSeq);
          for (const [member, { score, seq }] of value.members) {
            insertScored.run(key, Buffer.from(member, 'latin1'), scoreBytes(score), seq);
          }
          continue;
        }
        if (value.type === 'set') {
          insertSet.run(key, value.encoding, value.nextSeq);
          for (const [member, seq] of value.members) {
            insertMember.run(key, Buffer.from(member, 'latin1'), seq);
          }
          continue;
        }
        if (value.type === 'list') {
          for (let pos = 0; pos < value.elements.length; pos++) {
            insertElement.run(key, pos, Buffer.from(value.elements.at(pos), 'latin1'));
          }
          continue;
        }
        insertHash.run(key, value.encoding, value.nextSeq);
        for (const [field, { value: fieldValue, seq }] of value.fields) {
          insertField.run(
            key,
            Buffer.from(field, 'latin1'),
            Buffer.from(fieldValue, 'latin1'),
            seq,
          );
        }
      }
    })();
    await db.backup(out);
  } finally {
    db.close();
  }
}

/**
 * Moves the keys of a SQLite image's `_tandem_kv` table (a legacy image, or one built
 * from a PostgreSQL image) into a namespace, rowids as sequence numbers, and empties the
 * table.
 */
export function takeKeyspaceFromTable(db: Database.Database): Keyspace {
  const keyspace = new Keyspace();
  // Read before the key rows' iteration starts: SQLite runs one statement at a time.
  const hashes = hashesOfTable(db);
  const sets = setsOfTable(db);
  const lists = listsOfTable(db);
  const zsets = zsetsOfTable(db);
  const rows = db
    .prepare<
      [],
      {
        rowid: number;
        key: Buffer;
        value: Buffer;
        version_index: number;
        version_term: number;
        expires_at: number | null;
      }
    >(
      'SELECT rowid, key, value, version_index, version_term, expires_at FROM _tandem_kv ORDER BY rowid',
    )
    .iterate();
  for (const row of rows) {
    const key = row.key.toString('latin1');
    keyspace.load(key, {
      value:
        hashes.get(key) ??
        sets.get(key) ??
        lists.get(key) ??
        zsets.get(key) ??
        row.value.toString('latin1'),
      index: row.version_index,
      term: row.version_term,
      expiresAt: row.expires_at,
      seq: row.rowid,
    });
  }
  keyspace.finishLoad(keyspace.lastSeq + 1);
  db.exec('DELETE FROM _tandem_kv; DELETE FROM _tandem_hash_keys; DELETE FROM _tandem_hash_fields');
  db.exec('DELETE FROM _tandem_set_keys; DELETE FROM _tandem_set_members');
  db.exec('DELETE FROM _tandem_list_items');
  db.exec('DELETE FROM _tandem_zset_keys; DELETE FROM _tandem_zset_members');
  return keyspace;
}

/** A score as the table form holds it: its 8 bytes, an IEEE 754 double, little-endian. */
export function scoreBytes(score: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(score);
  return bytes;
}

/** A score of the table form; TANDEM_CORRUPT unless 8 bytes of a number. */
export function scoreOfBytes(bytes: Uint8Array): number {
  if (bytes.length !== 8) throw corrupt(`a sorted set score of ${bytes.length} bytes`);
  const score = Buffer.from(bytes.buffer, bytes.byteOffset, 8).readDoubleLE(0);
  if (Number.isNaN(score)) throw corrupt('a sorted set score that is not a number');
  return score;
}

/** The sorted sets of a table form (none in one made before them), by key. */
function zsetsOfTable(db: Database.Database): Map<string, ZsetValue> {
  db.exec(zsetTablesSchema);
  const zsets = new Map<string, ZsetValue>();
  const keys = db
    .prepare<[], { key: Buffer; encoding: string; next_seq: number }>(
      'SELECT key, encoding, next_seq FROM _tandem_zset_keys',
    )
    .all();
  for (const { key, encoding, next_seq: nextSeq } of keys) {
    if (encoding !== 'listpack' && encoding !== 'skiplist') {
      throw corrupt(`a sorted set of encoding ${JSON.stringify(encoding)}`);
    }
    zsets.set(key.toString('latin1'), {
      type: 'zset',
      members: new Map(),
      order: new ScoreList(),
      nextSeq,
      encoding,
      generation: 0,
    });
  }
  const members = db
    .prepare<[], { key: Buffer; member: Buffer; score: Buffer; seq: number }>(
      'SELECT key, member, score, seq FROM _tandem_zset_members ORDER BY key, seq',
    )
    .iterate();
  for (const { key, member, score: bytes, seq } of members) {
    const zset = zsets.get(key.toString('latin1'));
    if (zset === undefined) throw corrupt('sorted set members of a key that holds no sorted set');
    if (seq >= zset.nextSeq) throw corrupt('a sorted set member past its next sequence number');
    const name = member.toString('latin1');
    const score = scoreOfBytes(bytes);
    zset.members.set(name, { score, seq });
    zset.order.insert(score, name);
  }
  for (const zset of zsets.values()) {
    if (zset.members.size === 0) throw corrupt('an empty sorted set');
  }
  return zsets;
}

/** The hashes of a table form (none in one made before hashes), by key. */
function hashesOfTable(db: Database.Database): Map<string, HashValue> {
  db.exec(hashTablesSchema);
  const hashes = new Map<string, HashValue>();
  const keys = db
    .prepare<[], { key: Buffer; encoding: string; next_seq: number }>(
      'SELECT key, encoding, next_seq FROM _tandem_hash_keys',
    )
    .all();
  for (const { key, encoding, next_seq: nextSeq } of keys) {
    if (encoding !== 'listpack' && encoding !== 'hashtable') {
      throw corrupt(`a hash of encoding ${JSON.stringify(encoding)}`);
    }
    hashes.set(key.toString('latin1'), {
      type: 'hash',
      fields: new Map(),
      nextSeq,
      encoding,
      generation: 0,
    });
  }
  const fields = db
    .prepare<[], { key: Buffer; field: Buffer; value: Buffer; seq: number }>(
      'SELECT key, field, value, seq FROM _tandem_hash_fields ORDER BY key, seq',
    )
    .iterate();
  for (const { key, field, value, seq } of fields) {
    const hash = hashes.get(key.toString('latin1'));
    if (hash === undefined) throw corrupt('hash fields of a key that holds no hash');
    hash.fields.set(field.toString('latin1'), { value: value.toString('latin1'), seq });
  }
  return hashes;
}

/** The sets of a table form (none in one made before sets), by key. */
function setsOfTable(db: Database.Database): Map<string, SetValue> {
  db.exec(setTablesSchema);
  const sets = new Map<string, SetValue>();
  const keys = db
    .prepare<[], { key: Buffer; encoding: string; next_seq: number }>(
      'SELECT key, encoding, next_seq FROM _tandem_set_keys',
    )
    .all();
  for (const { key, encoding, next_seq: nextSeq } of keys) {
    if (encoding !== 'intset' && encoding !== 'hashtable') {
      throw corrupt(`a set of encoding ${JSON.stringify(encoding)}`);
    }
    sets.set(key.toString('latin1'), {
      type: 'set',
      members: new Map(),
      nextSeq,
      encoding,
      generation: 0,
    });
  }
  const members = db
    .prepare<[], { key: Buffer; member: Buffer; seq: number }>(
      'SELECT key, member, seq FROM _tandem_set_members ORDER BY key, seq',
    )
    .iterate();
  for (const { key, member, seq } of members) {
    const set = sets.get(key.toString('latin1'));
    if (set === undefined) throw corrupt('set members of a key that holds no set');
    set.members.set(member.toString('latin1'), seq);
  }
  return sets;
}

/** The lists of a table form (none in one made before lists), by key. */
function listsOfTable(db: Database.Database): Map<string, ListValue> {
  db.exec(listTablesSchema);
  const elements = new Map<string, string[]>();
  const rows = db
    .prepare<[], { key: Buffer; value: Buffer }>(
      'SELECT key, value FROM _tandem_list_items ORDER BY key, pos',
    )
    .iterate();
  for (const { key, value } of rows) {
    const id = key.toString('latin1');
    let list = elements.get(id);
    if (list === undefined) {
      list = [];
      elements.set(id, list);
    }
    list.push(value.toString('latin1'));
  }
  const lists = new Map<string, ListValue>();
  for (const [key, list] of elements) {
    lists.set(key, { type: 'list', elements: Deque.of(list), generation: 0 });
  }
  return lists;
}
