import { crc32c } from '@node-rs/crc32';
import { TandemError } from '../core/errors.js';
import type { Entry } from '../core/types.js';
import {
  checkRecord,
  entryOf,
  type RecordFields,
  recordBodyFixedBytes,
  recordHeaderBytes,
  recordIndexAt,
  recordTermAt,
  soundRecordBytes,
} from './record.js';

/**
 * A segment file starts with a 32-byte header: the magic `TANDEMLG`, format version (u32),
 * reserved (u32), the index of its first record (u64), reserved (u32), and a CRC32C of the
 * 28 bytes before it. Records follow back to back.
 */
export const segmentHeaderBytes = 32;
const segmentMagic = Buffer.from('TANDEMLG', 'ascii');
const segmentFormatVersion = 1;

/** The file name of the segment whose first record is at `firstIndex`: sorts by index. */
export function segmentFileName(firstIndex: number): string {
  return `${String(firstIndex).padStart(20, '0')}.log`;
}

/** The first index a segment file name stands for, or undefined for other files. */
export function parseSegmentFileName(name: string): number | undefined {
  if (!/^\d{20}\.log$/.test(name)) return undefined;
  const index = Number(name.slice(0, 20));
  return Number.isSafeInteger(index) && index >= 1 ? index : undefined;
}

/** The header of a new segment. */
export function encodeSegmentHeader(firstIndex: number): Buffer {
  const header = Buffer.alloc(segmentHeaderBytes);
  segmentMagic.copy(header, 0);
  header.writeUInt32LE(segmentFormatVersion, 8);
  header.writeUInt32LE(firstIndex % 0x1_0000_0000, 16);
  header.writeUInt32LE(Math.floor(firstIndex / 0x1_0000_0000), 20);
  header.writeUInt32LE(crc32c(header.subarray(0, 28)), 28);
  return header;
}

/** Why a segment header is unusable, or null when it is sound and names `firstIndex`. */
export function checkSegmentHeader(file: Buffer, firstIndex: number): string | null {
  if (file.length < segmentHeaderBytes) return 'the header is cut short';
  if (file.readUInt32LE(28) !== crc32c(file.subarray(0, 28))) return 'header CRC32C mismatch';
  if (!file.subarray(0, 8).equals(segmentMagic)) return 'not a Tandem log segment';
  if (file.readUInt32LE(8) !== segmentFormatVersion) return 'unknown segment format version';
  const named = file.readUInt32LE(20) * 0x1_0000_0000 + file.readUInt32LE(16);
  if (named !== firstIndex) return `the header says first index ${named}, the name ${firstIndex}`;
  return null;
}

/** What scanning a segment's bytes found. */
export interface SegmentScan {
  /** `offsets[i]` is the byte offset of the record at index `firstIndex + i`. */
  readonly offsets: number[];
  /** `terms[i]` is the term of the record at index `firstIndex + i`. */
  readonly terms: number[];
  /** The decoded entries, when asked for. */
  readonly entries: Entry[];
  /**
   * Where the records end: the file's length, or where a zero-filled tail starts (the
   * space a log preallocates ahead of its last record), or where `failure` starts.
   */
  readonly end: number;
  /**
   * Where the first bad record starts, and why; null when every byte was a good record or
   * zeros after the last one.
   */
  readonly failure: { readonly offset: number; readonly reason: string } | null;
}

/**
 * Reads every record of a segment, checking CRCs, that indexes run on from `firstIndex`
 * one by one, and that terms never decrease (from `previousTerm`). Zeros from the end of a
 * record to the end of the file are the log's preallocated space, not a record. Stops at
 * the first bad record and says where. Makes entries of the records from index
 * `collectFrom` on (none when null). Records below `verifyFrom`: see `scanRecords`.
 */
export function scanSegment(
  file: Buffer,
  firstIndex: number,
  previousTerm: number,
  bodyBytesMax: number,
  collectFrom: number | null,
  verifyFrom = 0,
): SegmentScan {
  return scanRecords(
    file,
    segmentHeaderBytes,
    firstIndex,
    previousTerm,
    bodyBytesMax,
    collectFrom,
    verifyFrom,
  );
}

/**
 * `scanSegment` over the records of `bytes` from `start` on, the first of them at index
 * `firstIndex`: a segment's records read from a known record offset on.
 *
 * Records below index `verifyFrom` are walked without summing their CRC: a read of the
 * log after a snapshot passes the first index it wants, since the records before it are
 * covered by the snapshot, in a segment that was complete and synced before the next was
 * made. Their lengths, indexes and terms are still checked, so a damaged length there
 * still shows as corruption in the records that follow.
 */
export function scanRecords(
  bytes: Buffer,
  start: number,
  firstIndex: number,
  previousTerm: number,
  bodyBytesMax: number,
  collectFrom: number | null,
  verifyFrom = 0,
): SegmentScan {
  const file = bytes;
  const offsets: number[] = [];
  const terms: number[] = [];
  const kept: RecordFields[] = [];
  const none: Entry[] = [];
  let offset = start;
  let lastTerm = previousTerm;
  while (offset < file.length) {
    const expectedIndex = firstIndex + offsets.length;
    // The fast path: a record not collected and sound takes no object, only its index and
    // term read. Anything else (a record to collect, or one not sound: a torn tail, the
    // zeros after the last record) goes through `checkRecord`, which says why.
    const collect = collectFrom !== null && expectedIndex >= collectFrom;
    const sound = collect
      ? 0
      : soundRecordBytes(file, offset, bodyBytesMax, expectedIndex >= verifyFrom);
    if (sound > 0) {
      const index = recordIndexAt(file, offset);
      const term = recordTermAt(file, offset);
      if (index !== expectedIndex || term < lastTerm) {
        const reason = `record index ${index} term ${term} after term ${lastTerm}, expected index ${expectedIndex}`;
        return { offsets, terms, entries: none, end: offset, failure: { offset, reason } };
      }
      offsets.push(offset);
      terms.push(term);
      lastTerm = term;
      offset += sound;
      continue;
    }
    const result = checkRecord(file, offset, bodyBytesMax);
    if (result.status !== 'ok' && isZeroFrom(file, offset)) {
      return { offsets, terms, entries: entriesOf(file, kept), end: offset, failure: null };
    }
    if (result.status === 'short') {
      const failure = { offset, reason: 'a record is cut short' };
      return { offsets, terms, entries: none, end: offset, failure };
    }
    if (result.status === 'corrupt') {
      const failure = { offset, reason: result.reason };
      return { offsets, terms, entries: none, end: offset, failure };
    }
    if (result.index !== expectedIndex || result.term < lastTerm) {
      const reason = `record index ${result.index} term ${result.term} after term ${lastTerm}, expected index ${expectedIndex}`;
      return { offsets, terms, entries: none, end: offset, failure: { offset, reason } };
    }
    offsets.push(offset);
    terms.push(result.term);
    if (collectFrom !== null && result.index >= collectFrom) kept.push(result);
    lastTerm = result.term;
    offset += result.bytes;
  }
  return { offsets, terms, entries: entriesOf(file, kept), end: offset, failure: null };
}

/**
 * The entries of `kept` (consecutive records of `file`). Their payloads are views of one
 * copy of the records' bytes: one allocation and one copy for the lot instead of one per
 * entry, and they pin only those bytes, not the file's buffer.
 */
function entriesOf(file: Buffer, kept: readonly RecordFields[]): Entry[] {
  const first = kept[0];
  const last = kept.at(-1);
  if (first === undefined || last === undefined) return [];
  const base = first.end - first.bytes;
  const block = Buffer.from(file.subarray(base, last.end));
  return kept.map((fields) => entryOf(block, fields, base));
}

/** Zeros compared at a time: a compare of whole blocks runs at memory speed. */
const zeroBlock = Buffer.alloc(64 * 1024);

/** Whether every byte of `file` from `offset` to its end is zero. */
export function isZeroFrom(file: Buffer, offset: number): boolean {
  for (let start = offset; start < file.length; start += zeroBlock.length) {
    const end = Math.min(start + zeroBlock.length, file.length);
    if (file.compare(zeroBlock, 0, end - start, start, end) !== 0) return false;
  }
  return true;
}

/**
 * Where the first sound record with an index above `afterIndex` starts after `from`, or
 * -1. Recovery asks this to tell a torn tail (nothing valid follows the bad record) from
 * corruption in the middle of the log (valid records follow). It searches byte by byte, so
 * a damaged length field cannot hide the records after it.
 */
export function nextSoundRecord(
  file: Buffer,
  from: number,
  afterIndex: number,
  bodyBytesMax: number,
): number {
  const last = file.length - recordHeaderBytes - recordBodyFixedBytes;
  for (let offset = from + 1; offset <= last; offset++) {
    const bodyBytes = file.readUInt32LE(offset + 4);
    if (bodyBytes < recordBodyFixedBytes || bodyBytes > bodyBytesMax) continue;
    if (file.readUInt32LE(offset + 12) !== 0) continue; // index above 2^32: not plausible
    const index = file.readUInt32LE(offset + 8);
    if (index <= afterIndex) continue;
    if (checkRecord(file, offset, bodyBytesMax).status === 'ok') return offset;
  }
  return -1;
}

/** The error for a damaged log: it names the file and the byte offset. */
export function corruptionError(file: string, offset: number, reason: string): TandemError {
  return new TandemError(
    'TANDEM_CORRUPT',
    `log segment ${file} is corrupt at byte offset ${offset}: ${reason}; ` +
      'this is not a torn write at the end of the log, so the node refuses to start rather ' +
      'than skip it (restore the node from a snapshot or remove it and re-add it)',
  );
}
