import { assert } from '../core/assert.js';
import type { Durability, Entry, EntryKind, Membership } from '../core/types.js';
import { crc32cOf } from './crc.js';

/**
 * The on-disk framing of one log entry. Little-endian:
 *
 * | offset | bytes | field                                                     |
 * | ------ | ----- | --------------------------------------------------------- |
 * | 0      | 4     | CRC32C of bytes [4, 8 + bodyBytes): the length and body   |
 * | 4      | 4     | bodyBytes                                                 |
 * | 8      | 8     | index (a safe integer)                                    |
 * | 16     | 8     | term (a safe integer)                                     |
 * | 24     | 1     | kind: 0 command, 1 noop, 2 membership                     |
 * | 25     | 1     | durability: 0 async, 1 semi-sync, 2 quorum, 3 sync        |
 * | 26     | 1     | flags: bit 0 set when the entry carries a payload         |
 * | 27     | 1     | reserved, zero                                            |
 * | 28     | n     | payload: command bytes, or membership as UTF-8 JSON       |
 *
 * The CRC covers the length too, so a flipped length bit is caught as corruption rather
 * than sending the reader to a wrong offset with a plausible record there.
 */
export const recordHeaderBytes = 8;
/** Fixed body bytes before the payload. */
export const recordBodyFixedBytes = 20;

const kinds: readonly EntryKind[] = ['command', 'noop', 'membership'];
const durabilities: readonly Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];
const hasPayloadFlag = 1;

/** The bytes `entry` takes on disk. */
export function recordBytes(entry: Entry): number {
  return recordHeaderBytes + recordBodyFixedBytes + payloadOf(entry).byteLength;
}

function payloadOf(entry: Entry): Uint8Array {
  if (entry.kind === 'membership') {
    assert(entry.membership !== undefined, `membership entry ${entry.index} without members`);
    return Buffer.from(JSON.stringify(entry.membership), 'utf8');
  }
  return entry.data ?? emptyPayload;
}

const emptyPayload = new Uint8Array(0);

/** Writes `value` (a safe non-negative integer) as a 64-bit little-endian unsigned integer. */
function writeUint64(target: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `not a safe index or term: ${value}`);
  target.writeUInt32LE(value % 0x1_0000_0000, offset);
  target.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

/** Reads a 64-bit little-endian unsigned integer; undefined when it is not a safe integer. */
function readUint64(source: Buffer, offset: number): number | undefined {
  const high = u32(source, offset + 4);
  if (high > 0x1f_ffff) return undefined;
  return high * 0x1_0000_0000 + u32(source, offset);
}

/**
 * The little-endian u32 at `offset`, which the caller knows is in bounds: `readUInt32LE`
 * checks its argument on every call, a tenth of a restart's scan of the log.
 */
function u32(source: Buffer, offset: number): number {
  return (
    (source[offset] as number) +
    (source[offset + 1] as number) * 0x100 +
    (source[offset + 2] as number) * 0x1_0000 +
    (source[offset + 3] as number) * 0x100_0000
  );
}

/** Frames one entry as a record. */
export function encodeRecord(entry: Entry): Buffer {
  const payload = payloadOf(entry);
  const bodyBytes = recordBodyFixedBytes + payload.byteLength;
  const record = Buffer.allocUnsafe(recordHeaderBytes + bodyBytes);
  record.writeUInt32LE(bodyBytes, 4);
  writeUint64(record, 8, entry.index);
  writeUint64(record, 16, entry.term);
  record[24] = kinds.indexOf(entry.kind);
  record[25] = durabilities.indexOf(entry.durability);
  record[26] = entry.kind === 'membership' || entry.data !== undefined ? hasPayloadFlag : 0;
  record[27] = 0;
  record.set(payload, recordHeaderBytes + recordBodyFixedBytes);
  record.writeUInt32LE(crc32cOf(record, 4, record.length), 0);
  return record;
}

/** The outcome of reading one record at an offset. */
export type DecodeResult =
  | { readonly status: 'ok'; readonly entry: Entry; readonly bytes: number }
  /** The bytes end before the record does: a torn write at the end of a file. */
  | { readonly status: 'short' }
  /** The record is there but wrong: bad CRC, impossible length, bad field. */
  | { readonly status: 'corrupt'; readonly reason: string };

/** A sound record's fields, before any entry object is made of them. */
export interface RecordFields {
  readonly status: 'ok';
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly durability: Durability;
  /** Whether the entry carries a payload (a membership entry always does). */
  readonly hasPayload: boolean;
  /** Where the payload starts and ends in the source. */
  readonly payloadStart: number;
  readonly end: number;
  /** The whole record's bytes, header included. */
  readonly bytes: number;
  /** A membership entry's members, parsed (so that a bad one is corruption here too). */
  readonly membership: Membership | undefined;
}

/**
 * Checks the record at `offset` of `source` (which holds valid file bytes up to its end)
 * as `decodeRecord` does, and gives its fields without copying its payload: what a scan
 * that only needs each record's index and term reads.
 */
export function checkRecord(
  source: Buffer,
  offset: number,
  bodyBytesMax: number,
): RecordFields | Exclude<DecodeResult, { status: 'ok' }> {
  if (source.length - offset < recordHeaderBytes) return { status: 'short' };
  const bodyBytes = source.readUInt32LE(offset + 4);
  if (bodyBytes < recordBodyFixedBytes || bodyBytes > bodyBytesMax) {
    return { status: 'corrupt', reason: `impossible record length ${bodyBytes}` };
  }
  const end = offset + recordHeaderBytes + bodyBytes;
  if (end > source.length) return { status: 'short' };
  const expected = source.readUInt32LE(offset);
  const actual = crc32cOf(source, offset + 4, end);
  if (expected !== actual) return { status: 'corrupt', reason: 'CRC32C mismatch' };
  const start = offset + recordHeaderBytes;
  const index = readUint64(source, start);
  const term = readUint64(source, start + 8);
  const kind = kinds[source[start + 16] as number];
  const durability = durabilities[source[start + 17] as number];
  const flags = source[start + 18] as number;
  if (index === undefined || term === undefined || kind === undefined || durability === undefined) {
    return { status: 'corrupt', reason: 'a field out of range' };
  }
  const payloadStart = start + recordBodyFixedBytes;
  let membership: Membership | undefined;
  if (kind === 'membership') {
    membership = parseMembership(source.toString('utf8', payloadStart, end));
    if (membership === undefined) return { status: 'corrupt', reason: 'bad membership payload' };
  }
  const hasPayload = kind === 'membership' || (flags & hasPayloadFlag) !== 0;
  const bytes = end - offset;
  return {
    status: 'ok',
    index,
    term,
    kind,
    durability,
    hasPayload,
    payloadStart,
    end,
    bytes,
    membership,
  };
}

/**
 * The length in bytes of the sound record at `offset`, or 0 when there is none there (cut
 * short, an impossible length, a bad CRC or field, or a membership record, whose members
 * only `checkRecord` parses): a scan's fast path, which makes no object per record and
 * asks `checkRecord` for the details only when this says 0. With `verify` false the CRC
 * is not summed, for records a snapshot already covers (see `scanRecords`).
 */
export function soundRecordBytes(
  source: Buffer,
  offset: number,
  bodyBytesMax: number,
  verify: boolean,
): number {
  if (source.length - offset < recordHeaderBytes) return 0;
  const bodyBytes = u32(source, offset + 4);
  if (bodyBytes < recordBodyFixedBytes || bodyBytes > bodyBytesMax) return 0;
  const end = offset + recordHeaderBytes + bodyBytes;
  if (end > source.length) return 0;
  if (verify && u32(source, offset) !== crc32cOf(source, offset + 4, end)) return 0;
  const start = offset + recordHeaderBytes;
  if (u32(source, start + 4) > 0x1f_ffff || u32(source, start + 12) > 0x1f_ffff) return 0;
  const kind = source[start + 16] as number;
  if (kind >= kinds.length || kinds[kind] === 'membership') return 0;
  if ((source[start + 17] as number) >= durabilities.length) return 0;
  return end - offset;
}

/** The index of the record at `offset`, once `soundRecordBytes` found it sound. */
export function recordIndexAt(source: Buffer, offset: number): number {
  return readUint64(source, offset + recordHeaderBytes) as number;
}

/** The term of the record at `offset`, once `soundRecordBytes` found it sound. */
export function recordTermAt(source: Buffer, offset: number): number {
  return readUint64(source, offset + recordHeaderBytes + 8) as number;
}

/** Reads the record at `offset` of `source`, which holds valid file bytes up to its end. */
export function decodeRecord(source: Buffer, offset: number, bodyBytesMax: number): DecodeResult {
  const fields = checkRecord(source, offset, bodyBytesMax);
  if (fields.status !== 'ok') return fields;
  return { status: 'ok', entry: entryOf(source, fields), bytes: fields.bytes };
}

/**
 * The entry of a checked record. Its payload is copied out of `source`, unless `base` says
 * that `source` is already a copy of the records' bytes (the one that `fields` was read
 * from, from its offset `base` on): then it is a view of `source`.
 */
export function entryOf(source: Buffer, fields: RecordFields, base?: number): Entry {
  const { index, term, kind, durability, membership } = fields;
  if (membership !== undefined) return { index, term, kind, durability, membership };
  if (!fields.hasPayload) return { index, term, kind, durability };
  if (base !== undefined) {
    const start = source.byteOffset + fields.payloadStart - base;
    const data = new Uint8Array(source.buffer, start, fields.end - fields.payloadStart);
    return { index, term, kind, durability, data };
  }
  // A copy, so that entries kept in memory do not pin whole segment buffers.
  const data = new Uint8Array(source.subarray(fields.payloadStart, fields.end));
  return { index, term, kind, durability, data };
}

/** An object of string values (a membership's upstreams). */
function isIdRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((id) => typeof id === 'string')
  );
}

function parseMembership(text: string): Membership | undefined {
  try {
    const value = JSON.parse(text) as Partial<Membership>;
    const isIdList = (list: unknown): list is string[] =>
      Array.isArray(list) && list.every((id) => typeof id === 'string');
    if (!isIdList(value.voters) || !isIdList(value.learners)) return undefined;
    if (value.topology !== undefined && value.topology !== 'chain') return undefined;
    const upstreams: unknown = value.upstreams;
    if (upstreams !== undefined && !isIdRecord(upstreams)) return undefined;
    return {
      voters: value.voters,
      learners: value.learners,
      ...(value.topology === 'chain' ? { topology: 'chain' as const } : {}),
      ...(upstreams === undefined ? {} : { upstreams }),
    };
  } catch {
    return undefined;
  }
}
