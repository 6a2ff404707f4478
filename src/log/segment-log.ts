import { readFileSync } from 'node:fs';
import { open, readFile, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { Entry } from '../core/types.js';
import { makeDirectory, syncDirectory, writeFully, writeFullySync } from './files.js';
import { encodeRecord, recordHeaderBytes } from './record.js';
import {
  checkSegmentHeader,
  corruptionError,
  encodeSegmentHeader,
  parseSegmentFileName,
  scanRecords,
  scanSegment,
  segmentFileName,
  segmentHeaderBytes,
  isZeroFrom,
  nextSoundRecord,
  type SegmentScan,
} from './segment.js';

/** Limits of a segment log; every one has a default. */
export interface SegmentLogLimits {
  /** A new segment is started once the current one would grow past this. */
  readonly segmentBytesMax: number;
  /** The largest record (header, fields and payload) accepted. */
  readonly recordBytesMax: number;
  /** The most bytes one `writeEntries` call may queue. */
  readonly batchBytesMax: number;
  /** The most bytes queued and not yet flushed; above it writers get an error. */
  readonly pendingBytesMax: number;
  /**
   * A run of records up to this many bytes is written on the event loop's thread (a copy
   * into the page cache, a few microseconds); a longer one goes through the thread pool, so
   * that copying it (and the kernel throttling a writer of many dirty pages) never stalls
   * the event loop for long.
   */
  readonly syncWriteBytesMax: number;
  /**
   * The newest segment is zero-filled this far ahead of its last record (0: not at all).
   * An append then writes inside the file's size, into blocks already allocated and
   * written, so its fdatasync has no file metadata to commit: on ext4 and XFS it skips the
   * journal commit that an append growing the file needs, and flushes data alone. The
   * space is extended once less than half of it is left, and cut off when the segment is
   * complete.
   */
  readonly preallocateBytes: number;
}

/** The default limits. */
export const defaultSegmentLogLimits: SegmentLogLimits = {
  segmentBytesMax: 64 * 1024 * 1024,
  // One entry of the core's largest (maxEntryBytes, 17 MiB) with its record's framing.
  recordBytesMax: 18 * 1024 * 1024,
  // One Ready's entries are written as one batch; the pipeline stops taking Readies once
  // 32 MiB wait for a sync, so these bound what a burst of large entries may queue.
  batchBytesMax: 256 * 1024 * 1024,
  pendingBytesMax: 512 * 1024 * 1024,
  syncWriteBytesMax: 256 * 1024,
  preallocateBytes: 4 * 1024 * 1024,
};

/** What recovery did when the log was opened. */
export interface RecoveryReport {
  /** Segment files found. */
  readonly segments: number;
  /** A torn or corrupt tail that was cut off, or null when the log ended cleanly. */
  readonly cut: {
    readonly file: string;
    readonly offset: number;
    readonly bytes: number;
    readonly reason: string;
  } | null;
}

/** One segment file, as the log plans it: queued writes are already counted. */
interface Segment {
  readonly firstIndex: number;
  readonly file: string;
  handle: FileHandle | null;
  /** Planned size in bytes, queued writes included. */
  size: number;
  /** Planned record count, queued writes included. */
  count: number;
  /** Where the records on disk end: the planned `size` once every queued write is done. */
  written: number;
  /** The file's size on disk: `written` and the zero-filled space after it. */
  allocated: number;
  /** `offsets[i]` is where the record at `firstIndex + i` starts; null until scanned. */
  offsets: number[] | null;
  /** `terms[i]` is the term at `firstIndex + i`; null until scanned. */
  terms: number[] | null;
}

/** A queued change to the files, carried out in order by the next flush. */
type Operation =
  | { readonly kind: 'create'; readonly segment: Segment }
  | {
      readonly kind: 'write';
      readonly segment: Segment;
      readonly position: number;
      readonly chunks: Buffer[];
      bytes: number;
    }
  | {
      readonly kind: 'truncate';
      readonly deletes: readonly Segment[];
      readonly cut: { readonly segment: Segment; readonly offset: number } | null;
    };

/**
 * The replication log on disk: append-only segment files of CRC-framed records.
 *
 * Writes are planned at once in memory (so `lastIndex` and `term` see them) and carried
 * out on disk by `flush()`, which the owner calls through a `GroupCommit`: everything
 * queued while one flush runs goes out in the next, with one fdatasync per segment
 * touched. Truncating a divergent tail is synced before any write after it, so a crash
 * can never leave old entries behind new ones.
 *
 * A flush writes each run of records with one pwrite on the event loop's thread (up to
 * `syncWriteBytesMax`; longer runs through the thread pool): the write only copies into
 * the page cache, and a trip through the thread pool costs more CPU than the copy. Only
 * the fdatasyncs, which wait for the disk, go to the thread pool.
 *
 * The newest segment is zero-filled ahead of its last record (`preallocateBytes`), so that
 * appends do not grow the file and their fdatasyncs flush data without a metadata commit;
 * a scan takes zeros from the end of a record to the end of the file as that space, and a
 * segment is cut back to its last record once the next one starts.
 *
 * Segment names give each segment's first index, so the first and last index are known
 * after scanning only the last segment; older segments are read when needed.
 */
export class SegmentLog {
  readonly directory: string;
  readonly limits: SegmentLogLimits;
  readonly recovery: RecoveryReport;
  #segments: Segment[];
  /** The index the first entry will have while there are no segments. */
  #nextIndexWhenEmpty: number;
  #operations: Operation[] = [];
  #pendingBytes = 0;
  #failure: unknown = null;
  #closed = false;
  /** fdatasync calls made, for the benchmark. */
  syncs = 0;

  private constructor(
    directory: string,
    limits: SegmentLogLimits,
    segments: Segment[],
    recovery: RecoveryReport,
  ) {
    this.directory = directory;
    this.limits = limits;
    this.#segments = segments;
    this.recovery = recovery;
    this.#nextIndexWhenEmpty = 1;
  }

  /**
   * Opens (creating if needed) the log in `directory`, recovering a torn tail.
   *
   * `syncedThrough` is an index every record at or below which was synced: the latest
   * snapshot's (a node snapshots only entries it holds durably, installs a received one
   * only once every write before it is synced, and never writes an entry at or below it
   * afterwards). Such records cannot be a torn tail, so recovery walks them without
   * summing their CRC, as a read after the snapshot does in older segments.
   */
  static async open(
    directory: string,
    limits?: Partial<SegmentLogLimits>,
    syncedThrough = 0,
  ): Promise<SegmentLog> {
    const resolved = { ...defaultSegmentLogLimits, ...limits };
    assert(resolved.recordBytesMax <= resolved.batchBytesMax, 'a record must fit in a batch');
    await makeDirectory(directory);
    const segments: Segment[] = [];
    for (const name of (await readdir(directory)).sort()) {
      const firstIndex = parseSegmentFileName(name);
      if (firstIndex === undefined) continue;
      segments.push({
        firstIndex,
        file: name,
        handle: null,
        size: 0,
        count: 0,
        written: 0,
        allocated: 0,
        offsets: null,
        terms: null,
      });
    }
    for (let i = 0; i + 1 < segments.length; i++) {
      const segment = segments[i] as Segment;
      segment.count = (segments[i + 1] as Segment).firstIndex - segment.firstIndex;
      assert(segment.count > 0, `segments ${segment.file} and the next overlap`);
    }
    const cut = await recoverTail(directory, segments, resolved.recordBytesMax, syncedThrough);
    return new SegmentLog(directory, resolved, segments, { segments: segments.length, cut });
  }

  /** The first index held on disk (a snapshot may cover more of it). */
  get firstIndex(): number {
    return this.#segments[0]?.firstIndex ?? this.#nextIndexWhenEmpty;
  }

  /** The last index written or queued; `firstIndex - 1` when the log is empty. */
  get lastIndex(): number {
    const last = this.#segments.at(-1);
    return last === undefined ? this.#nextIndexWhenEmpty - 1 : last.firstIndex + last.count - 1;
  }

  /** Bytes queued and not yet flushed. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** The term of the entry at `index`, or undefined outside [firstIndex, lastIndex]. */
  term(index: number): number | undefined {
    const segment = this.#segmentHolding(index);
    if (segment === undefined) return undefined;
    this.#ensureScanned(segment);
    return (segment.terms as number[])[index - segment.firstIndex];
  }

  /**
   * Queues entries. They must be consecutive, and the first must be at most
   * `lastIndex + 1` and at least `firstIndex`; a first index at or below `lastIndex`
   * truncates the log from there. Throws `TANDEM_ENTRY_TOO_LARGE` for a record or batch
   * above the limits and `TANDEM_TOO_MANY_PENDING` when too much waits for a flush; in
   * both cases nothing is queued.
   */
  writeEntries(entries: readonly Entry[]): void {
    this.#throwIfFailed();
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    assert(first <= this.lastIndex + 1, `write at ${first} leaves a gap after ${this.lastIndex}`);
    assert(first >= this.firstIndex, `write at ${first} behind the log`);
    const records = this.#encodeWithinLimits(entries);
    if (first <= this.lastIndex) this.#planTruncate(first - 1);
    if (this.#segments.length === 0) this.#nextIndexWhenEmpty = first;
    let previousTerm = this.term(first - 1) ?? 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      assert(entry.index === first + i, `entries not consecutive at ${entry.index}`);
      assert(entry.term >= previousTerm, `term falls at ${entry.index}`);
      previousTerm = entry.term;
      this.#planRecord(entry, records[i] as Buffer);
    }
  }

  /** Drops every entry and makes `nextIndex` the next one written (snapshot install). */
  reset(nextIndex: number): void {
    this.#throwIfFailed();
    this.#operations.push({ kind: 'truncate', deletes: this.#segments, cut: null });
    this.#segments = [];
    this.#nextIndexWhenEmpty = nextIndex;
  }

  /**
   * Carries out every queued operation and makes it durable. Only one flush may run at a
   * time (the owner's `GroupCommit` sees to that). A failed flush leaves the log unusable:
   * after a failed fdatasync the kernel may have dropped the dirty pages, so retrying
   * could report lost data as durable.
   */
  async flush(): Promise<void> {
    this.#throwIfFailed();
    const operations = this.#operations;
    this.#operations = [];
    this.#pendingBytes = 0;
    try {
      await this.#carryOut(operations);
    } catch (error) {
      this.#failure = error;
      throw new TandemError('TANDEM_STORAGE_FAILED', `log write failed: ${String(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Deletes whole segments whose every entry is at or below `throughIndex` (covered by a
   * durable snapshot). The newest segment always stays. Oldest first, so a crash midway
   * leaves a log that still starts at a segment boundary.
   */
  async compact(throughIndex: number): Promise<void> {
    const doomed: Segment[] = [];
    while (
      this.#segments.length > 1 &&
      (this.#segments[1] as Segment).firstIndex <= throughIndex + 1
    ) {
      doomed.push(this.#segments.shift() as Segment);
    }
    for (const segment of doomed) {
      await closeHandle(segment);
      await unlinkIfPresent(join(this.directory, segment.file));
    }
    if (doomed.length > 0) await syncDirectory(this.directory);
  }

  /**
   * Reads the durable entries from `fromIndex` to the end, checking every record. Throws
   * `TANDEM_CORRUPT` naming the file and offset of the first bad one.
   */
  async readFrom(fromIndex: number): Promise<Entry[]> {
    assert(this.#operations.length === 0, 'read with writes queued');
    const result: Entry[] = [];
    let previousTerm = 0;
    for (const segment of this.#segments) {
      if (segment.firstIndex + segment.count - 1 < fromIndex) continue;
      if (segment.offsets !== null && fromIndex > segment.firstIndex) {
        // Scanned already (the newest segment at open, an older one for a term): only the
        // records from `fromIndex` on are read again, and checked again as they are.
        const entries = await this.#readTail(segment, fromIndex);
        previousTerm = entries.at(-1)?.term ?? previousTerm;
        for (const entry of entries) result.push(entry);
        continue;
      }
      // Read whole: either every record is wanted, or it is an older segment not scanned
      // yet, complete and synced before the next one was made, whose records before
      // `fromIndex` (covered by the snapshot) are walked without their CRC.
      const file = await readFile(join(this.directory, segment.file));
      const scan = this.#scanWhole(segment, file, previousTerm, fromIndex);
      previousTerm = scan.terms.at(-1) ?? previousTerm;
      for (const entry of scan.entries) result.push(entry);
    }
    return result;
  }

  /** The entries of a scanned segment from `fromIndex` on; TANDEM_CORRUPT if they changed. */
  async #readTail(segment: Segment, fromIndex: number): Promise<Entry[]> {
    const offsets = segment.offsets as number[];
    const terms = segment.terms as number[];
    const first = fromIndex - segment.firstIndex;
    const start = offsets[first] as number;
    const bytes = Buffer.allocUnsafe(segment.written - start);
    const handle = await open(join(this.directory, segment.file), 'r');
    try {
      for (let done = 0; done < bytes.length;) {
        const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    const previousTerm = first > 0 ? (terms[first - 1] as number) : 0;
    const scan = scanRecords(
      bytes,
      0,
      fromIndex,
      previousTerm,
      this.limits.recordBytesMax,
      fromIndex,
    );
    const expected = segment.count - first;
    if (scan.failure !== null || scan.offsets.length !== expected || scan.end !== bytes.length) {
      const reason =
        scan.failure?.reason ??
        `holds ${scan.offsets.length} records from index ${fromIndex}, ${expected} were scanned`;
      throw corruptionError(segment.file, start + (scan.failure?.offset ?? scan.end), reason);
    }
    return scan.entries;
  }

  /** Closes the open files. Queued writes that were not flushed are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const operation of this.#operations) {
      if (operation.kind === 'truncate')
        for (const segment of operation.deletes) await closeHandle(segment);
    }
    this.#operations = [];
    for (const segment of this.#segments) await closeHandle(segment);
  }

  #throwIfFailed(): void {
    assert(!this.#closed, 'the log is closed');
    if (this.#failure !== null) {
      throw new TandemError(
        'TANDEM_STORAGE_FAILED',
        'the log failed earlier and takes no more writes',
        {
          cause: this.#failure,
        },
      );
    }
  }

  #encodeWithinLimits(entries: readonly Entry[]): Buffer[] {
    let total = 0;
    const records = entries.map((entry) => {
      const record = encodeRecord(entry);
      if (record.length > this.limits.recordBytesMax) {
        throw new TandemError(
          'TANDEM_ENTRY_TOO_LARGE',
          `log entry ${entry.index} takes ${record.length} bytes; the limit is ${this.limits.recordBytesMax}`,
        );
      }
      total += record.length;
      return record;
    });
    if (total > this.limits.batchBytesMax) {
      throw new TandemError(
        'TANDEM_ENTRY_TOO_LARGE',
        `a batch of ${entries.length} entries takes ${total} bytes; the limit is ${this.limits.batchBytesMax}`,
      );
    }
    if (this.#pendingBytes + total > this.limits.pendingBytesMax) {
      throw new TandemError(
        'TANDEM_TOO_MANY_PENDING',
        `${this.#pendingBytes} bytes already wait for the disk; the limit is ${this.limits.pendingBytesMax}`,
      );
    }
    this.#pendingBytes += total;
    return records;
  }

  #planRecord(entry: Entry, record: Buffer): void {
    let segment = this.#segments.at(-1);
    if (
      segment === undefined ||
      (segment.count > 0 && segment.size + record.length > this.limits.segmentBytesMax)
    ) {
      segment = this.#planSegment(entry.index);
    }
    this.#ensureScanned(segment);
    (segment.offsets as number[]).push(segment.size);
    (segment.terms as number[]).push(entry.term);
    const last = this.#operations.at(-1);
    if (
      last?.kind === 'write' &&
      last.segment === segment &&
      last.position + last.bytes === segment.size
    ) {
      last.chunks.push(record);
      last.bytes += record.length;
    } else {
      this.#operations.push({
        kind: 'write',
        segment,
        position: segment.size,
        chunks: [record],
        bytes: record.length,
      });
    }
    segment.size += record.length;
    segment.count++;
  }

  #planSegment(firstIndex: number): Segment {
    const segment: Segment = {
      firstIndex,
      file: segmentFileName(firstIndex),
      handle: null,
      size: segmentHeaderBytes,
      count: 0,
      written: 0,
      allocated: 0,
      offsets: [],
      terms: [],
    };
    this.#segments.push(segment);
    this.#operations.push({ kind: 'create', segment });
    return segment;
  }

  /** Plans dropping every entry after `afterIndex`. */
  #planTruncate(afterIndex: number): void {
    const deletes: Segment[] = [];
    while ((this.#segments.at(-1)?.firstIndex ?? 0) > afterIndex) {
      deletes.push(this.#segments.pop() as Segment);
    }
    let cut: { segment: Segment; offset: number } | null = null;
    const last = this.#segments.at(-1);
    if (last !== undefined && last.firstIndex + last.count - 1 > afterIndex) {
      this.#ensureScanned(last);
      const keep = afterIndex + 1 - last.firstIndex;
      const offset = (last.offsets as number[])[keep] as number;
      (last.offsets as number[]).length = keep;
      (last.terms as number[]).length = keep;
      last.count = keep;
      last.size = offset;
      cut = { segment: last, offset };
    }
    if (this.#segments.length === 0) this.#nextIndexWhenEmpty = afterIndex + 1;
    this.#operations.push({ kind: 'truncate', deletes, cut });
  }

  #segmentHolding(index: number): Segment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i] as Segment;
      if (segment.firstIndex <= index) {
        return index < segment.firstIndex + segment.count ? segment : undefined;
      }
    }
    return undefined;
  }

  /** Reads an older segment's record offsets (rare: a truncation or a term lookup reaching it). */
  #ensureScanned(segment: Segment): void {
    if (segment.offsets !== null) return;
    this.#scanWhole(segment, readFileSync(join(this.directory, segment.file)), 0, null);
  }

  /**
   * Scans a segment that must be whole (any but a torn newest one): a bad header or record,
   * or fewer records than the next segment's name implies, is corruption. Records the
   * offsets, terms and size it found.
   */
  #scanWhole(
    segment: Segment,
    file: Buffer,
    previousTerm: number,
    collectFrom: number | null,
  ): SegmentScan {
    const headerProblem = checkSegmentHeader(file, segment.firstIndex);
    if (headerProblem !== null) throw corruptionError(segment.file, 0, headerProblem);
    const scan = scanSegment(
      file,
      segment.firstIndex,
      previousTerm,
      this.limits.recordBytesMax,
      collectFrom,
      collectFrom ?? 0,
    );
    if (scan.failure !== null) {
      throw corruptionError(segment.file, scan.failure.offset, scan.failure.reason);
    }
    if (scan.offsets.length !== segment.count) {
      throw corruptionError(
        segment.file,
        file.length,
        `holds ${scan.offsets.length} records, the next segment expects ${segment.count}`,
      );
    }
    segment.offsets = scan.offsets;
    segment.terms = scan.terms;
    segment.size = scan.end;
    segment.written = scan.end;
    segment.allocated = file.length;
    return scan;
  }

  async #carryOut(operations: readonly Operation[]): Promise<void> {
    const dirty = new Set<Segment>();
    let directoryChanged = false;
    for (const operation of operations) {
      if (operation.kind === 'create') {
        // The segments before a new one are complete and durable before it exists, so a
        // crash can tear only the newest segment, never leave a hole before it. They end at
        // their last record: the space preallocated after it goes.
        for (const segment of await this.#trimPreallocated(operation.segment)) dirty.add(segment);
        await this.#syncSegments(dirty);
        dirty.clear();
        const handle = await open(join(this.directory, operation.segment.file), 'w+');
        operation.segment.handle = handle;
        writeFullySync(handle.fd, encodeSegmentHeader(operation.segment.firstIndex), 0);
        operation.segment.written = segmentHeaderBytes;
        operation.segment.allocated = segmentHeaderBytes;
        dirty.add(operation.segment);
        directoryChanged = true;
      } else if (operation.kind === 'write') {
        const segment = operation.segment;
        const handle = segment.handle ?? (await this.#reopen(segment));
        const bytes =
          operation.chunks.length === 1
            ? (operation.chunks[0] as Buffer)
            : Buffer.concat(operation.chunks, operation.bytes);
        if (bytes.length <= this.limits.syncWriteBytesMax) {
          writeFullySync(handle.fd, bytes, operation.position);
        } else {
          await writeFully(handle, bytes, operation.position);
        }
        segment.written = operation.position + bytes.length;
        segment.allocated = Math.max(segment.allocated, segment.written);
        await this.#preallocate(segment, handle);
        dirty.add(segment);
      } else {
        for (const segment of operation.deletes) dirty.delete(segment);
        await this.#syncSegments(dirty);
        dirty.clear();
        await this.#truncate(operation.deletes, operation.cut);
      }
    }
    const directorySync = directoryChanged ? syncDirectory(this.directory) : Promise.resolve();
    await Promise.all([this.#syncSegments(dirty), directorySync]);
    // Only the newest segment stays open between flushes. A copy of the list: compaction
    // may shift it while a close is awaited.
    for (const segment of this.#segments.slice(0, -1)) {
      if (segment.handle !== null) await closeHandle(segment);
    }
  }

  async #truncate(
    deletes: readonly Segment[],
    cut: { segment: Segment; offset: number } | null,
  ): Promise<void> {
    for (const segment of deletes) {
      await closeHandle(segment);
      await unlinkIfPresent(join(this.directory, segment.file));
    }
    if (cut !== null) {
      const handle = cut.segment.handle ?? (await this.#reopen(cut.segment));
      await handle.truncate(cut.offset);
      cut.segment.written = cut.offset;
      cut.segment.allocated = cut.offset;
      await handle.datasync();
      this.syncs++;
    }
    if (deletes.length > 0) await syncDirectory(this.directory);
  }

  /**
   * Zero-fills the newest segment ahead of its last record once less than half of the
   * preallocated space is left, up to the segment size limit. The flush's fdatasync of the
   * segment makes the zeros durable with the records.
   */
  async #preallocate(segment: Segment, handle: FileHandle): Promise<void> {
    const ahead = this.limits.preallocateBytes;
    if (ahead <= 0 || segment.allocated - segment.written >= ahead / 2) return;
    const target = Math.min(segment.written + ahead, this.limits.segmentBytesMax);
    for (let position = segment.allocated; position < target; position += zeros.length) {
      const bytes = Math.min(zeros.length, target - position);
      await writeFully(handle, zeros.subarray(0, bytes), position);
      segment.allocated = position + bytes;
    }
  }

  /**
   * Cuts the preallocated zeros off every segment but `newest` (each ends at its last
   * record again, as a segment written before preallocation does), and returns the
   * segments changed.
   */
  async #trimPreallocated(newest: Segment): Promise<Segment[]> {
    const trimmed: Segment[] = [];
    for (const segment of this.#segments) {
      if (segment === newest || segment.allocated <= segment.written) continue;
      const handle = segment.handle ?? (await this.#reopen(segment));
      await handle.truncate(segment.written);
      segment.allocated = segment.written;
      trimmed.push(segment);
    }
    return trimmed;
  }

  async #syncSegments(segments: ReadonlySet<Segment>): Promise<void> {
    const syncs: Promise<void>[] = [];
    for (const segment of segments) {
      if (segment.handle === null) continue;
      syncs.push(segment.handle.datasync());
      this.syncs++;
    }
    await Promise.all(syncs);
  }

  /** Opens a segment that is not open (the newest one after a restart or a truncation). */
  async #reopen(segment: Segment): Promise<FileHandle> {
    const handle = await open(join(this.directory, segment.file), 'r+');
    segment.handle = handle;
    return handle;
  }
}

/** Checks the newest segments at open, cutting off a torn tail; refuses mid-log damage. */
async function recoverTail(
  directory: string,
  segments: Segment[],
  recordBytesMax: number,
  syncedThrough: number,
): Promise<RecoveryReport['cut']> {
  let report: RecoveryReport['cut'] = null;
  for (;;) {
    const last = segments.at(-1);
    if (last === undefined) return report;
    const path = join(directory, last.file);
    const file = await readFile(path);
    const headerProblem = checkSegmentHeader(file, last.firstIndex);
    if (headerProblem !== null) {
      // A header is written once, when the segment is created; a bad one in the newest
      // segment is a creation that a crash interrupted, so the file holds no records.
      // After a power loss the header's page may be lost while later pages survive: a
      // header of zeros is that, a damaged one over records is corruption (zeros after it
      // are space preallocated for records, not records).
      const headerZero = isZero(file.subarray(0, segmentHeaderBytes));
      const recordsFollow = !isZeroFrom(file, segmentHeaderBytes);
      if (file.length > segmentHeaderBytes + recordHeaderBytes && !headerZero && recordsFollow) {
        throw corruptionError(last.file, 0, headerProblem);
      }
      await unlinkIfPresent(path);
      await syncDirectory(directory);
      segments.pop();
      report = { file: last.file, offset: 0, bytes: file.length, reason: headerProblem };
      const previous = segments.at(-1);
      // The segment before a new one was complete and durable before it was created: it
      // must still hold every record up to the deleted segment's first index.
      if (previous !== undefined) previous.offsets = null;
      continue;
    }
    const expectedCount = last.offsets === null && segments.length > 0 ? last.count : null;
    const scan = scanSegment(file, last.firstIndex, 0, recordBytesMax, null, syncedThrough + 1);
    last.offsets = scan.offsets;
    last.terms = scan.terms;
    last.count = scan.offsets.length;
    last.size = scan.end;
    last.written = scan.end;
    last.allocated = file.length;
    if (expectedCount !== null && expectedCount > 0 && scan.offsets.length < expectedCount) {
      throw corruptionError(
        last.file,
        scan.failure?.offset ?? file.length,
        `holds ${scan.offsets.length} records, the next segment expects ${expectedCount}`,
      );
    }
    if (scan.failure === null) return report;
    const { offset, reason } = scan.failure;
    if (!isTornTail(file, offset, last.firstIndex + last.count - 1, recordBytesMax)) {
      throw corruptionError(last.file, offset, reason);
    }
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(offset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    last.size = offset;
    last.written = offset;
    last.allocated = offset;
    return { file: last.file, offset, bytes: file.length - offset, reason };
  }
}

/**
 * Whether bad bytes at `offset` of the newest segment are a torn tail: no sound record
 * follows them, or a whole zero-filled disk sector lies between them and the next sound
 * record (after a power loss, pages of a flush that never finished its fdatasync can reach
 * the disk out of order; a zero sector is such a lost page, not a flipped bit).
 */
function isTornTail(
  file: Buffer,
  offset: number,
  afterIndex: number,
  recordBytesMax: number,
): boolean {
  const next = nextSoundRecord(file, offset, afterIndex, recordBytesMax);
  if (next < 0) return true;
  for (
    let sector = Math.ceil(offset / sectorBytes) * sectorBytes;
    sector + sectorBytes <= next;
    sector += sectorBytes
  ) {
    if (isZero(file.subarray(sector, sector + sectorBytes))) return true;
  }
  return false;
}

/** The zeros that preallocation writes, a block at a time. */
const zeros = Buffer.alloc(1024 * 1024);

/** The smallest unit a disk writes whole. */
const sectorBytes = 512;

function isZero(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

async function closeHandle(segment: Segment): Promise<void> {
  const handle = segment.handle;
  segment.handle = null;
  if (handle !== null) await handle.close();
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
