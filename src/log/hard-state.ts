import { crc32c } from '@node-rs/crc32';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { HardState } from '../core/types.js';
import { syncDirectory, writeFully, writeFullySync } from './files.js';

/**
 * The hard state file holds two slots, each on its own 4 KiB page:
 *
 * | offset | bytes | field                                   |
 * | ------ | ----- | --------------------------------------- |
 * | 0      | 4     | CRC32C of bytes [4, 8 + bodyBytes)      |
 * | 4      | 4     | bodyBytes                               |
 * | 8      | 8     | sequence number of this write           |
 * | 16     | 8     | term                                    |
 * | 24     | 8     | commit                                  |
 * | 32     | 2     | vote length in bytes (0: no vote)       |
 * | 34     | n     | vote: the node id, UTF-8                |
 *
 * A write goes to the slot that does not hold the latest synced state, so a torn write
 * can only damage a slot nobody relies on; loading takes the sound slot with the higher
 * sequence number. A write covers only the slot's used bytes (34 plus the vote): whatever
 * lies after them in the slot is never read.
 */
const slotBytes = 4096;
const slotFixedBytes = 34;
/** The longest node id a vote may name, in UTF-8 bytes. */
export const voteBytesMax = 255;

/** What the two slots hold at load. */
interface Slot {
  readonly sequence: number;
  readonly hardState: HardState;
}

/** The term, vote and commit of a node, stored apart from the log. */
export class HardStateFile {
  readonly path: string;
  readonly #handle: FileHandle;
  /** The slot holding the latest synced state; writes go to the other one. */
  #durableSlot: number;
  #sequence: number;
  #durable: HardState;
  /** The latest state written to the file, synced or not (a commit-only change is not). */
  #written: HardState;
  #queued: HardState | null = null;
  #failure: TandemError | null = null;
  /** What each write is encoded into: the write is done before the next can start. */
  readonly #slot = Buffer.alloc(slotFixedBytes + voteBytesMax);
  /** fdatasync calls made, for the benchmark. */
  syncs = 0;

  private constructor(path: string, handle: FileHandle, latest: Slot, slot: number) {
    this.path = path;
    this.#handle = handle;
    this.#durableSlot = slot;
    this.#sequence = latest.sequence;
    this.#durable = latest.hardState;
    this.#written = latest.hardState;
  }

  /** Opens the file, creating it (synced, with its directory entry) the first time. */
  static async open(path: string): Promise<HardStateFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDWR);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL);
      await writeFully(handle, Buffer.alloc(2 * slotBytes), 0);
      await handle.sync();
      await syncDirectory(dirname(path));
    }
    const file = Buffer.alloc(2 * slotBytes);
    await handle.read(file, 0, file.length, 0);
    const slots = [decodeSlot(file, 0), decodeSlot(file, slotBytes)];
    const [first, second] = slots;
    const best = (second?.sequence ?? -1) > (first?.sequence ?? -1) ? 1 : 0;
    const latest = slots[best] ?? { sequence: 0, hardState: { term: 0, vote: null, commit: 0 } };
    if (slots[0] === null && slots[1] === null && !isZero(file)) {
      // Both slots damaged: the first write was torn (it was never synced, so nothing
      // relied on it) only if the other slot was never written; else this is damage.
      if (!isZero(file.subarray(0, slotBytes)) && !isZero(file.subarray(slotBytes))) {
        await handle.close();
        throw new TandemError('TANDEM_CORRUPT', `hard state file ${path}: both slots are corrupt`);
      }
    }
    // The slot just read may be only in the page cache (written unsynced before a process
    // crash); syncing once here makes it the durable slot that writes must not overwrite.
    await handle.datasync();
    return new HardStateFile(path, handle, latest, best);
  }

  /** The latest state written (queued or durable). */
  get current(): HardState {
    return this.#queued ?? this.#written;
  }

  /** Queues a hard state for the next flush. */
  write(hardState: HardState): void {
    assert(Number.isSafeInteger(hardState.term) && hardState.term >= 0, 'bad term');
    assert(Number.isSafeInteger(hardState.commit) && hardState.commit >= 0, 'bad commit');
    if (hardState.vote !== null) {
      const bytes = Buffer.byteLength(hardState.vote, 'utf8');
      if (bytes > voteBytesMax) {
        throw new TandemError(
          'TANDEM_BAD_CONFIG',
          `node id of ${bytes} bytes; the limit is ${voteBytesMax}`,
        );
      }
    }
    this.#queued = hardState;
  }

  /**
   * Writes the queued state. Term and vote changes are synced; a commit-only change is
   * written without a sync (commit is knowledge a restarted node re-learns), to the
   * scratch slot, so it never endangers the synced one.
   *
   * The write is a pwrite of a few dozen bytes into the page cache, made on the calling
   * thread: a trip through the thread pool would cost more than the write. A commit-only
   * change is still written with every flush that carries one, not every few flushes:
   * losing it is safe (at start the node applies what the stored commit says, raises
   * commit to its store's last applied `quorum` or `sync` entry, and re-learns the rest
   * from the leader), but a stored commit far behind what the store applied makes a
   * restarted node roll its state machine back to a snapshot when `async` entries lie
   * past it, and the write costs only a few microseconds.
   */
  async flush(): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    const queued = this.#queued;
    if (queued === null) return;
    this.#queued = null;
    try {
      await this.#write(queued);
    } catch (error) {
      // After a failed write or fdatasync nothing is known about the file; a later flush
      // must not report this state as durable.
      this.#failure = new TandemError(
        'TANDEM_STORAGE_FAILED',
        `hard state write failed: ${String(error)}`,
        {
          cause: error,
        },
      );
      throw this.#failure;
    }
  }

  async #write(queued: HardState): Promise<void> {
    const sync = queued.term !== this.#durable.term || queued.vote !== this.#durable.vote;
    this.#sequence++;
    const scratch = 1 - this.#durableSlot;
    const slot = encodeSlot(this.#slot, this.#sequence, queued);
    writeFullySync(this.#handle.fd, slot, scratch * slotBytes);
    this.#written = queued;
    if (!sync) return;
    await this.#handle.datasync();
    this.syncs++;
    this.#durableSlot = scratch;
    this.#durable = queued;
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/**
 * Encodes the used bytes of a slot holding `hardState` into `target` (which has room for
 * the longest vote, checked by `write`) and returns them.
 */
function encodeSlot(target: Buffer, sequence: number, hardState: HardState): Buffer {
  const voteBytes =
    hardState.vote === null ? 0 : target.write(hardState.vote, slotFixedBytes, 'utf8');
  const slot = target.subarray(0, slotFixedBytes + voteBytes);
  const bodyBytes = slotFixedBytes - 8 + voteBytes;
  slot.writeUInt32LE(bodyBytes, 4);
  writeSafeInteger(slot, 8, sequence);
  writeSafeInteger(slot, 16, hardState.term);
  writeSafeInteger(slot, 24, hardState.commit);
  slot.writeUInt16LE(voteBytes, 32);
  slot.writeUInt32LE(crc32c(slot.subarray(4, 8 + bodyBytes)), 0);
  return slot;
}

function decodeSlot(file: Buffer, offset: number): Slot | null {
  const bodyBytes = file.readUInt32LE(offset + 4);
  if (bodyBytes < slotFixedBytes - 8 || bodyBytes > slotFixedBytes - 8 + voteBytesMax) return null;
  if (file.readUInt32LE(offset) !== crc32c(file.subarray(offset + 4, offset + 8 + bodyBytes))) {
    return null;
  }
  const voteBytes = file.readUInt16LE(offset + 32);
  if (voteBytes !== bodyBytes - (slotFixedBytes - 8)) return null;
  const vote = voteBytes === 0 ? null : file.toString('utf8', offset + 34, offset + 34 + voteBytes);
  return {
    sequence: readSafeInteger(file, offset + 8),
    hardState: {
      term: readSafeInteger(file, offset + 16),
      vote,
      commit: readSafeInteger(file, offset + 24),
    },
  };
}

function writeSafeInteger(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value % 0x1_0000_0000, offset);
  target.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

function readSafeInteger(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset + 4) * 0x1_0000_0000 + source.readUInt32LE(offset);
}

function isZero(bytes: Buffer): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}
