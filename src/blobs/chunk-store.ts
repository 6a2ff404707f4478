/**
 * One node's chunk files: the bytes of large objects, cut into chunks, each stored whole in
 * a file named after its content. A chunk `{ hash, version }` lives at
 * `<root>/<hash[0..2]>/<hash>.<version>`: the two-digit fan-out keeps any one directory
 * small, and the name alone says what the file must hold, so nothing else on disk has to
 * agree with it.
 *
 * Every chunk is checked against its hash whenever it is read (and by the scrubber in the
 * background); a chunk that fails the check is deleted at once and reported to the owner,
 * which fetches it again from another holder. A corrupt chunk is never served.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import { makeDirectory, syncDirectory, writeFully } from '../log/files.js';
import type { ChunkId } from './contract.js';

/**
 * The largest chunk accepted by default. A chunk is read whole into memory to check its
 * hash, so this bounds the memory one read or one scrub step takes.
 */
export const chunkBytesMaxDefault = 64 * 1024 * 1024;

/** Options of `ChunkStore.open`. */
export interface ChunkStoreOptions {
  /** Writes of more bytes are refused with `TANDEM_ENTRY_TOO_LARGE`. */
  readonly chunkBytesMax?: number;
}

/** Options of one pass of `ChunkStore.scrub`. */
export interface ScrubOptions {
  /** The pass reads no faster than this, so it leaves the disk to the node's real work. */
  readonly bytesPerSecondMax: number;
  /** Stops the pass: `scrub` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called after each chunk is checked, with whether it was intact. */
  readonly onChunk?: (id: ChunkId, ok: boolean) => void;
}

/** What one scrub pass found. */
export interface ScrubResult {
  /** Chunks whose bytes were read and hashed. */
  readonly checked: number;
  /** Of those, the chunks that failed their hash and were deleted. */
  readonly corrupt: number;
}

const hashPattern = /^[0-9a-f]{64}$/;
/** A chunk's file name: its hash, a dot, its version in decimal without leading zeros. */
const chunkFilePattern = /^([0-9a-f]{64})\.([1-9][0-9]*)$/;
/** The infix of a temporary file a write renames into place once its bytes are durable. */
const temporaryInfix = '.tmp-';
/** A temporary file: a chunk's file name, the infix, and random hex digits. */
const temporaryFilePattern = /^[0-9a-f]{64}\.[1-9][0-9]*\.tmp-[0-9a-f]+$/;
/** The name of a fan-out directory: the first two hex digits of its chunks' hashes. */
const fanOutPattern = /^[0-9a-f]{2}$/;

/**
 * One chunk in the index. A fresh object per write (or per file found at open), so that a
 * read that began on one generation of a name never quarantines the next one.
 */
interface IndexEntry {
  readonly id: ChunkId;
  /** The chunk's file name inside its fan-out directory. */
  readonly name: string;
  readonly bytes: number;
}

/**
 * The chunk files of one node, and an in-memory index of them (hash, version, size) built
 * at open by listing the directories. The index is what the store answers from: a chunk
 * is present when its entry is, and a deleted or quarantined chunk leaves the index at
 * once even when its file must wait for reads in progress before it is unlinked.
 */
export class ChunkStore {
  readonly root: string;
  readonly chunkBytesMax: number;
  /**
   * Set by the owner: called once for each chunk found corrupt (by a read or a scrub),
   * after its file is gone, so that the owner can fetch it again from another holder.
   */
  onCorrupt: ((id: ChunkId) => void) | null = null;

  /** By chunk key (`hash.version`). */
  readonly #index = new Map<string, IndexEntry>();
  /** Writes in progress by chunk key: a second write of the same chunk waits on the first. */
  readonly #writing = new Map<string, Promise<void>>();
  /** Reads in progress by chunk key; absent means none. */
  readonly #readers = new Map<string, number>();
  /** Chunks out of the index whose files are unlinked when their last reader finishes. */
  readonly #unlinkWhenIdle = new Set<string>();
  /** Unlinks in progress by chunk key: a write of the chunk waits for its old file to go. */
  readonly #unlinking = new Map<string, Promise<void>>();
  /** Fan-out directories known to exist durably. */
  readonly #directories = new Set<string>();
  #bytes = 0;
  #corruptFound = 0;
  #closed = false;

  private constructor(root: string, chunkBytesMax: number) {
    this.root = root;
    this.chunkBytesMax = chunkBytesMax;
  }

  /**
   * Opens the chunk files under `root`, creating it durably if missing. Temporary files
   * of writes a crash interrupted are removed (their chunks were never reported written).
   * The index is built from the names and sizes alone, without reading any chunk: hashing
   * a whole disk would hold the node's start for minutes, and the scrubber does it in the
   * background at a bounded rate. Throws `TANDEM_BAD_CONFIG` for a bad `chunkBytesMax`.
   */
  static async open(root: string, options: ChunkStoreOptions = {}): Promise<ChunkStore> {
    const chunkBytesMax = options.chunkBytesMax ?? chunkBytesMaxDefault;
    if (!Number.isSafeInteger(chunkBytesMax) || chunkBytesMax < 1) {
      throw new TandemError(
        'TANDEM_BAD_CONFIG',
        `chunkBytesMax must be a positive safe integer, got ${chunkBytesMax}`,
      );
    }
    await makeDirectory(root);
    const store = new ChunkStore(root, chunkBytesMax);
    const entries = await readdir(root, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.isDirectory() && fanOutPattern.test(entry.name)) await store.#load(entry.name);
    }
    return store;
  }

  /** The number of chunks found corrupt (by reads and scrubs) since open. */
  get corruptFound(): number {
    return this.#corruptFound;
  }

  /** Whether the chunk is present: written, not deleted, and not found corrupt. */
  has(id: ChunkId): boolean {
    return this.#index.has(keyOf(id));
  }

  /** The chunk's size in bytes, or null when it is absent. */
  bytesOf(id: ChunkId): number | null {
    return this.#index.get(keyOf(id))?.bytes ?? null;
  }

  /**
   * Every chunk present, sorted by hash and then version: the order the owner compares
   * with what the metadata says the node should hold.
   */
  inventory(): ChunkId[] {
    return [...this.#index.values()].map((entry) => entry.id).sort(compareChunkIds);
  }

  /** How many chunks are present and their bytes in total. */
  stats(): { chunks: number; bytes: number } {
    return { chunks: this.#index.size, bytes: this.#bytes };
  }

  /**
   * Stores a chunk durably. Resolves only once its bytes and its name are fsynced, so a
   * chunk reported written survives a crash. Bytes whose SHA-256 is not `id.hash` are
   * refused with `TANDEM_CORRUPT` and nothing is written; more than `chunkBytesMax` bytes
   * with `TANDEM_ENTRY_TOO_LARGE`; a bad id with `TANDEM_BAD_REQUEST`. Writing a chunk
   * already present does nothing and succeeds, so a retry after a lost answer is safe; two
   * writes of one chunk at once share one write (the same hash means the same bytes).
   * `bytes` are hashed before they are written and not copied: the caller leaves them
   * unchanged until the write resolves. Throws `TANDEM_STORAGE_FAILED` when the disk
   * refuses the write. With `hashed`, the caller vouches that it hashed these very bytes
   * itself (the node that cut them from an upload) and the second hashing is skipped.
   */
  async write(id: ChunkId, bytes: Uint8Array, hashed = false): Promise<void> {
    assert(!this.#closed, 'a chunk store is not written after close');
    const key = keyOf(id);
    if (bytes.byteLength > this.chunkBytesMax) {
      throw new TandemError(
        'TANDEM_ENTRY_TOO_LARGE',
        `chunk ${key} holds ${bytes.byteLength} bytes, more than chunkBytesMax ${this.chunkBytesMax}`,
      );
    }
    const actual = hashed ? id.hash : sha256Hex(bytes);
    if (actual !== id.hash) {
      throw new TandemError(
        'TANDEM_CORRUPT',
        `chunk ${key}: its bytes have SHA-256 ${actual}, expected ${id.hash}; nothing written`,
      );
    }
    if (this.#index.has(key)) return;
    const inFlight = this.#writing.get(key);
    if (inFlight !== undefined) return inFlight;
    const writing = this.#writeFile({ hash: id.hash, version: id.version }, key, bytes).finally(
      () => this.#writing.delete(key),
    );
    this.#writing.set(key, writing);
    return writing;
  }

  /**
   * The chunk's bytes, checked against its hash, or null when it is absent. A chunk that
   * fails the check (or whose file is gone or changed size) is quarantined: it leaves the
   * index, its file is deleted, `onCorrupt` is called, and the read returns null, so a
   * corrupt chunk is never served. Throws `TANDEM_BAD_REQUEST` for a bad id and
   * `TANDEM_STORAGE_FAILED` when the disk refuses the read.
   */
  async read(id: ChunkId): Promise<Buffer | null> {
    const entry = this.#index.get(keyOf(id));
    if (entry === undefined) return null;
    return this.#readChecked(entry);
  }

  /**
   * Deletes a chunk; returns whether it was present. It leaves the index at once, so `has`
   * is false and new reads return null; its file is unlinked when no read of it is in
   * progress (by the last such read otherwise), so a read that began is never cut short.
   * A write of the chunk in progress is waited for first, so that it cannot bring the chunk
   * back after the delete.
   */
  async delete(id: ChunkId): Promise<boolean> {
    const key = keyOf(id);
    await this.#writing.get(key)?.catch(() => undefined);
    const entry = this.#index.get(key);
    if (entry === undefined) return false;
    this.#remove(entry);
    await this.#unlinkUnlessRead(entry.id);
    return true;
  }

  /**
   * Reads and hashes every chunk present once, at most `bytesPerSecondMax` bytes a second
   * on average (it sleeps between chunks to keep the rate), and quarantines each corrupt
   * one as `read` does. One chunk is in memory at a time. Chunks written during the pass
   * are not checked by it (they were hashed as they were written). Throws
   * `TANDEM_BAD_CONFIG` for a rate that is not a positive number; rejects with the signal's
   * reason when `signal` aborts.
   */
  async scrub(options: ScrubOptions): Promise<ScrubResult> {
    const { bytesPerSecondMax, signal, onChunk } = options;
    if (!(Number.isFinite(bytesPerSecondMax) && bytesPerSecondMax > 0)) {
      throw new TandemError(
        'TANDEM_BAD_CONFIG',
        `bytesPerSecondMax must be a positive number, got ${bytesPerSecondMax}`,
      );
    }
    const startedAtMs = performance.now();
    let bytesRead = 0;
    let checked = 0;
    let corrupt = 0;
    for (const id of this.inventory()) {
      signal?.throwIfAborted();
      const entry = this.#index.get(keyOf(id));
      if (entry === undefined) continue; // deleted since the pass began
      const ok = (await this.#readChecked(entry)) !== null;
      checked += 1;
      if (!ok) corrupt += 1;
      onChunk?.(entry.id, ok);
      bytesRead += entry.bytes;
      // The pass may have taken `bytesRead / bytesPerSecondMax` seconds so far at the most.
      const aheadMs = (bytesRead * 1000) / bytesPerSecondMax - (performance.now() - startedAtMs);
      if (aheadMs > 0) await pause(aheadMs, signal);
    }
    return { checked, corrupt };
  }

  /**
   * Waits for writes in progress to finish (they were promised durable); later writes are
   * a programmer error. The store holds no open files between calls, so nothing else needs
   * closing.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#writing.values()]);
  }

  /** Indexes the chunks of one fan-out directory and removes its temporary files. */
  async #load(directory: string): Promise<void> {
    const path = join(this.root, directory);
    let removed = false;
    for (const name of (await readdir(path)).sort()) {
      if (temporaryFilePattern.test(name)) {
        await unlink(join(path, name)); // an interrupted write, never reported done
        removed = true;
        continue;
      }
      const match = chunkFilePattern.exec(name);
      const hash = match?.[1];
      const version = Number(match?.[2]);
      if (hash === undefined || !hash.startsWith(directory) || !Number.isSafeInteger(version)) {
        continue; // not a chunk file: left alone
      }
      const stats = await stat(join(path, name));
      if (!stats.isFile()) continue;
      this.#add({ id: { hash, version }, name, bytes: stats.size });
    }
    if (removed) await syncDirectory(path);
    this.#directories.add(directory);
  }

  /**
   * Writes a chunk to a temporary file in its directory, fsyncs it, renames it into place
   * and fsyncs the directory: only then is the chunk indexed and the write reported done.
   * A crash at any point leaves either no chunk or a whole one, never a torn one under
   * the chunk's name.
   */
  async #writeFile(id: ChunkId, key: string, bytes: Uint8Array): Promise<void> {
    const directory = join(this.root, id.hash.slice(0, 2));
    const name = fileNameOf(id);
    const temporary = join(directory, `${name}${temporaryInfix}${randomBytes(6).toString('hex')}`);
    // A deleted chunk whose old file still waits for its readers: the new file takes its
    // name, so the old one must no longer be unlinked when they finish. One being unlinked
    // right now must be gone before the new file is renamed to its name.
    const revived = this.#unlinkWhenIdle.delete(key);
    let renamed = false;
    try {
      await this.#unlinking.get(key)?.catch(() => undefined);
      await this.#makeDirectoryOf(id);
      const handle = await open(temporary, 'wx');
      try {
        await writeFully(handle, bytes, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, join(directory, name));
      renamed = true;
      await syncDirectory(directory);
    } catch (error) {
      if (!renamed) await unlink(temporary).catch(() => undefined);
      if (revived && !renamed) await this.#unlinkUnlessRead(id).catch(() => undefined);
      throw new TandemError('TANDEM_STORAGE_FAILED', `chunk ${key}: write failed: ${error}`, {
        cause: error,
      });
    }
    this.#add({ id, name, bytes: bytes.byteLength });
  }

  /**
   * Reads a chunk whole and checks its hash, as a reader of it: while this runs the file
   * is not unlinked. Returns null after quarantining a chunk that fails the check.
   */
  async #readChecked(entry: IndexEntry): Promise<Buffer | null> {
    const key = keyOf(entry.id);
    this.#readers.set(key, (this.#readers.get(key) ?? 0) + 1);
    let quarantined = false;
    try {
      const bytes = await this.#readWhole(entry);
      if (bytes !== null && sha256Hex(bytes) === entry.id.hash) return bytes;
      quarantined = this.#quarantine(entry);
      return null;
    } finally {
      await this.#readerFinished(entry.id);
      // After the file is gone, so that the owner's fetch of a fresh copy cannot race it.
      if (quarantined) this.onCorrupt?.(entry.id);
    }
  }

  /**
   * The chunk file's bytes, or null when the file is gone or its size is not the indexed
   * one (both as good as corrupt: the chunk is lost). At most `entry.bytes` are read, so a
   * file that grew cannot make a read take more memory than the index promised.
   */
  async #readWhole(entry: IndexEntry): Promise<Buffer | null> {
    const path = join(this.root, entry.id.hash.slice(0, 2), entry.name);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw storageFailed(entry, error);
    }
    try {
      if ((await handle.stat()).size !== entry.bytes) return null;
      const buffer = Buffer.allocUnsafe(entry.bytes);
      // `buffer[0, filled)` holds the file's bytes `[0, filled)`.
      let filled = 0;
      while (filled < entry.bytes) {
        const { bytesRead } = await handle.read(buffer, filled, entry.bytes - filled, filled);
        if (bytesRead === 0) return null; // truncated under us
        filled += bytesRead;
      }
      return buffer;
    } catch (error) {
      throw storageFailed(entry, error);
    } finally {
      await handle.close();
    }
  }

  /**
   * Takes a corrupt chunk out of the index and has its file unlinked when its readers
   * finish. Returns false, doing nothing, when the entry is no longer the indexed one: the
   * chunk was deleted (its file is already on its way out) or written again since.
   */
  #quarantine(entry: IndexEntry): boolean {
    const key = keyOf(entry.id);
    if (this.#index.get(key) !== entry) return false;
    this.#remove(entry);
    this.#unlinkWhenIdle.add(key); // this read holds it
    this.#corruptFound += 1;
    return true;
  }

  /** Takes an entry out of the index; the caller sees to its file. */
  #remove(entry: IndexEntry): void {
    const key = keyOf(entry.id);
    this.#index.delete(key);
    this.#bytes -= entry.bytes;
    assert(this.#bytes >= 0, `chunk bytes went negative removing ${key}`);
  }

  /**
   * One reader of a chunk is done; the last one unlinks a file that was deleted meanwhile.
   * An unlink that fails here is not the reader's failure: the file is out of the index
   * and stays so until the next open finds it, where it is listed as stale (or found
   * corrupt by the scrubber) and deleted again.
   */
  async #readerFinished(id: ChunkId): Promise<void> {
    const key = keyOf(id);
    const readers = (this.#readers.get(key) ?? 0) - 1;
    assert(readers >= 0, `chunk ${key} has more reads finished than begun`);
    if (readers > 0) {
      this.#readers.set(key, readers);
      return;
    }
    this.#readers.delete(key);
    if (this.#unlinkWhenIdle.has(key)) await this.#unlink(id).catch(() => undefined);
  }

  /**
   * Unlinks the file of a chunk already out of the index now, or, while reads of it are in
   * progress, has the last of them unlink it.
   */
  async #unlinkUnlessRead(id: ChunkId): Promise<void> {
    const key = keyOf(id);
    if (this.#readers.has(key)) this.#unlinkWhenIdle.add(key);
    else await this.#unlink(id);
  }

  /** Unlinks a chunk's file, durably; the chunk is already out of the index. */
  #unlink(id: ChunkId): Promise<void> {
    const key = keyOf(id);
    this.#unlinkWhenIdle.delete(key);
    const unlinking = this.#unlinkFile(id).finally(() => this.#unlinking.delete(key));
    this.#unlinking.set(key, unlinking);
    return unlinking;
  }

  async #unlinkFile(id: ChunkId): Promise<void> {
    const key = keyOf(id);
    const directory = join(this.root, id.hash.slice(0, 2));
    try {
      await unlink(join(directory, fileNameOf(id)));
    } catch (error) {
      if (isMissing(error)) return;
      throw new TandemError('TANDEM_STORAGE_FAILED', `chunk ${key}: unlink failed: ${error}`, {
        cause: error,
      });
    }
    await syncDirectory(directory);
  }

  /** Creates the chunk's fan-out directory durably the first time it is needed. */
  async #makeDirectoryOf(id: ChunkId): Promise<void> {
    const fanOut = id.hash.slice(0, 2);
    if (this.#directories.has(fanOut)) return;
    await makeDirectory(join(this.root, fanOut));
    this.#directories.add(fanOut);
  }

  #add(entry: IndexEntry): void {
    const key = keyOf(entry.id);
    assert(!this.#index.has(key), `chunk ${key} indexed twice`);
    assert(Number.isSafeInteger(entry.bytes) && entry.bytes >= 0, `chunk ${key}: bad size`);
    this.#index.set(key, entry);
    this.#bytes += entry.bytes;
  }
}

/**
 * A chunk's key in the index, after checking that the id is well formed. Ids come from the
 * network and become file names, so a bad one is refused here with `TANDEM_BAD_REQUEST`
 * (and can never name a path outside the store).
 */
function keyOf(id: ChunkId): string {
  const hash: unknown = id?.hash;
  const version: unknown = id?.version;
  if (typeof hash !== 'string' || !hashPattern.test(hash)) {
    const shown = typeof hash === 'string' ? JSON.stringify(hash.slice(0, 80)) : typeof hash;
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `chunk id: hash must be 64 lowercase hex digits, got ${shown}`,
    );
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `chunk id ${hash}: version must be a positive safe integer, got ${String(version)}`,
    );
  }
  return fileNameOf({ hash, version });
}

/** A chunk's file name in its fan-out directory; also its key in the index. */
function fileNameOf(id: ChunkId): string {
  return `${id.hash}.${id.version}`;
}

/** Orders chunk ids by hash and then by version. */
function compareChunkIds(a: ChunkId, b: ChunkId): number {
  if (a.hash !== b.hash) return a.hash < b.hash ? -1 : 1;
  return a.version - b.version;
}

/** Sleeps `delayMs`; rejects with the signal's reason when it aborts. */
async function pause(delayMs: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function storageFailed(entry: IndexEntry, error: unknown): TandemError {
  return new TandemError(
    'TANDEM_STORAGE_FAILED',
    `chunk ${keyOf(entry.id)}: read failed: ${error}`,
    { cause: error },
  );
}
