/**
 * Snapshot images on disk: the files a store takes (its image, see memory-image.ts and
 * postgres-image.ts) and receives, in a directory of the store's own, checksummed with
 * CRC32C and streamed in bounded chunks; and the checks of a SQLite database image (an
 * older build's, or one converted from a PostgreSQL image).
 *
 * Files in the directory are all transient: a snapshot lives until its holder disposes of
 * it, and whatever a crash leaves behind is removed when the store next opens.
 */
import { crc32c } from '@node-rs/crc32';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { LogPosition, RestoreMeta, StoreSnapshot } from './contract.js';

/** The size of the chunks a snapshot streams in. */
export const snapshotChunkBytes = 256 * 1024;
/** The largest chunk a restore accepts: a bound on what one read of the stream may hold. */
export const restoreChunkBytesMax = 4 * 1024 * 1024;

/** The version of the store's schema; an image of another version is refused. */
export const storeFormat = 1;

/** The schema of the bookkeeping table: one row, the applied position, written with the data. */
export const metaSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    applied_index INTEGER NOT NULL,
    applied_term INTEGER NOT NULL
  ) STRICT;
  INSERT OR IGNORE INTO _tandem_meta (id, format, applied_index, applied_term)
    VALUES (1, ${storeFormat}, 0, 0);
`;

/** The directory of snapshot images for the database at `databasePath`. */
export function snapshotsDirectory(databasePath: string): string {
  return `${databasePath}-snapshots`;
}

/** Creates the snapshots directory, empty: nothing in it survives the process that made it. */
export function resetSnapshotsDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const name of readdirSync(directory)) {
    rmSync(path.join(directory, name), { force: true, recursive: true });
  }
}

/** A fresh file name in the snapshots directory. */
export function imagePath(directory: string, purpose: 'snapshot' | 'restore'): string {
  return path.join(directory, `${purpose}-${randomUUID()}.db`);
}

/** CRC32C as the 8 lower-case hex digits that travel in snapshot meta. */
export function checksumText(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

function corrupt(message: string, cause?: unknown): TandemError {
  return new TandemError('TANDEM_CORRUPT', message, { cause });
}

/**
 * Reads the applied position a store's database records, checking that it is a store of
 * this format. Throws TANDEM_CORRUPT when it is not.
 */
export function readPosition(db: Database.Database): LogPosition {
  const row = db
    .prepare<[], { format: number; applied_index: number; applied_term: number }>(
      'SELECT format, applied_index, applied_term FROM _tandem_meta WHERE id = 1',
    )
    .get();
  if (row === undefined) throw corrupt('the store has no applied position in _tandem_meta');
  if (row.format !== storeFormat) {
    throw corrupt(`the store has format ${row.format}; this build reads format ${storeFormat}`);
  }
  const { applied_index: index, applied_term: term } = row;
  if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(term) || term < 0) {
    throw corrupt(`the store records an impossible applied position ${index}, term ${term}`);
  }
  return { index, term };
}

/** Opens a database image read-only and reads its position; TANDEM_CORRUPT if it is not a store. */
function inspectImage(file: string): LogPosition {
  let image: Database.Database | undefined;
  try {
    image = new Database(file, { readonly: true, fileMustExist: true });
    return readPosition(image);
  } catch (error) {
    if (error instanceof TandemError) throw error;
    throw corrupt(`the snapshot image is not a Tandem store: ${(error as Error).message}`, error);
  } finally {
    image?.close();
  }
}

/** A file's content in fresh buffers of at most `snapshotChunkBytes`: a reader may keep them. */
async function* readChunks(file: string): AsyncGenerator<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(snapshotChunkBytes);
      const { bytesRead } = await handle.read(buffer, 0, snapshotChunkBytes, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Refuses, before anything is received, restore meta that cannot describe an image. */
export function checkRestoreMeta(meta: RestoreMeta): void {
  const sane =
    Number.isSafeInteger(meta.index) &&
    meta.index >= 0 &&
    Number.isSafeInteger(meta.term) &&
    meta.term >= 0 &&
    /^[0-9a-f]{8}$/.test(meta.checksum);
  if (!sane) {
    throw new TandemError('TANDEM_CORRUPT', `impossible snapshot meta ${JSON.stringify(meta)}`);
  }
}

/** A snapshot image on disk (either kind's), streamed from its file. */
export class FileSnapshot implements StoreSnapshot {
  readonly index: number;
  readonly term: number;
  readonly bytes: number;
  readonly checksum: string;
  readonly #file: string;
  #disposed = false;

  constructor(file: string, position: LogPosition, bytes: number, checksum: string) {
    this.#file = file;
    this.index = position.index;
    this.term = position.term;
    this.bytes = bytes;
    this.checksum = checksum;
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    assert(!this.#disposed, 'chunks() of a disposed snapshot');
    let bytes = 0;
    for await (const chunk of readChunks(this.#file)) {
      bytes += chunk.byteLength;
      yield chunk;
    }
    if (bytes !== this.bytes) {
      throw new TandemError(
        'TANDEM_STORAGE_FAILED',
        `the snapshot file changed size on disk: ${bytes} bytes, expected ${this.bytes}`,
      );
    }
  }

  takeFile(): string {
    assert(!this.#disposed, 'takeFile() of a disposed snapshot');
    this.#disposed = true;
    return this.#file;
  }

  async dispose(): Promise<void> {
    // After `takeFile` the file is gone once it was moved, and removed here if it was not.
    this.#disposed = true;
    await rm(this.#file, { force: true });
  }
}

/** Writes all of `chunk` at the handle's position (a write may take only part of it). */
async function writeAll(
  handle: Awaited<ReturnType<typeof open>>,
  chunk: Uint8Array,
): Promise<void> {
  for (let offset = 0; offset < chunk.byteLength;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, null);
    offset += bytesWritten;
  }
}

/**
 * Receives an image into `file` (created; it must not exist), durably, checking that its
 * checksum is `meta.checksum`. Throws TANDEM_CORRUPT naming what differed, having removed
 * the file. What the image holds is checked by its reader.
 */
export async function receiveFile(
  file: string,
  meta: RestoreMeta,
  chunks: AsyncIterable<Uint8Array>,
): Promise<void> {
  try {
    const handle = await open(file, 'wx');
    let crc = 0;
    let bytes = 0;
    try {
      for await (const chunk of chunks) {
        if (chunk.byteLength > restoreChunkBytesMax) {
          throw corrupt(
            `a snapshot chunk of ${chunk.byteLength} bytes is over the maximum of ${restoreChunkBytesMax}`,
          );
        }
        crc = crc32c(chunk, crc);
        bytes += chunk.byteLength;
        await writeAll(handle, chunk);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    const checksum = checksumText(crc);
    if (checksum !== meta.checksum) {
      throw corrupt(
        `snapshot checksum mismatch: expected ${meta.checksum}, the ${bytes} bytes received have ${checksum}`,
      );
    }
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

/** Throws TANDEM_CORRUPT when the position an image records is not the one it was sent as. */
export function checkImagePosition(position: LogPosition, meta: RestoreMeta): void {
  if (position.index !== meta.index || position.term !== meta.term) {
    throw corrupt(
      `the snapshot image is at index ${position.index} term ${position.term}, but was sent as index ${meta.index} term ${meta.term}`,
    );
  }
}

/** The position a SQLite store image records, opened read-only; TANDEM_CORRUPT if it is not a store. */
export function sqliteImagePosition(file: string): LogPosition {
  return inspectImage(file);
}
