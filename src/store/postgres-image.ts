/**
 * The snapshot image of the PostgreSQL store: one file, written once, checksummed with
 * CRC32C, streamed in chunks of at most `snapshotChunkBytes`.
 *
 * Format (all integers big-endian):
 *
 *     image   := magic header table* end
 *     magic   := the 8 bytes "TNDMPG01"
 *     header  := length:u32 JSON (UTF-8) of ImageHeader: format, cluster id, the applied
 *                index and term and the session count the image holds, the DDL to replay
 *                (in order) to recreate the user tables, and each table's name and columns
 *     table   := nameLength:u16 name (UTF-8, "schema.table") frame* zero:u32
 *     frame   := length:u32 (1 .. imageFrameBytesMax) bytes of COPY text-format data
 *     end     := nameLength:u16 = 0
 *
 * The tandem tables are `kv` and `sessions`, then `acl` (the users and tokens) only when
 * it holds its row: an image without it, as builds before it wrote them all, means no users.
 * Tables appear in the header's order; each one's frames, joined, are exactly what
 * `COPY schema.table (columns) TO STDOUT` produced inside the snapshot's transaction, and
 * what `COPY ... FROM STDIN` takes back. Everything the header names was read in that same
 * REPEATABLE READ transaction, so the index and term always match the rows.
 */
import { crc32c } from '@node-rs/crc32';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { RestoreMeta } from './contract.js';
import { checkImagePosition, checksumText } from './snapshot-images.js';

/** The image format's magic bytes, with its version: the first bytes of every image. */
export const postgresImageMagic = Buffer.from('TNDMPG01', 'latin1');
/** The largest header: the DDL log travels in it. */
export const imageHeaderBytesMax = 64 * 1024 * 1024;
/** The largest frame of COPY data; COPY streams in far smaller pieces. */
export const imageFrameBytesMax = 4 * 1024 * 1024;
/** The longest table name in an image, in UTF-8 bytes. */
const tableNameBytesMax = 1024;
/** File names of this store's images, so that a shared directory keeps other files. */
const imagePrefix = 'pg-';

/** A table in an image: its qualified name and the columns COPY moves, in order. */
export interface ImageTable {
  readonly schema: 'tandem' | 'public';
  readonly name: string;
  readonly columns: readonly string[];
}

/** The header of an image. */
export interface ImageHeader {
  readonly format: number;
  readonly clusterId: string;
  readonly index: number;
  readonly term: number;
  readonly sessionCount: number;
  /** The DDL statements to run, in order, on an empty public schema. */
  readonly ddl: readonly string[];
  readonly tables: readonly ImageTable[];
}

function corrupt(message: string): TandemError {
  return new TandemError('TANDEM_CORRUPT', message);
}

/** Removes this store's leftover images from `directory` (creating it): none survives a restart. */
export function resetImages(directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const name of readdirSync(directory)) {
    if (name.startsWith(imagePrefix)) rmSync(path.join(directory, name), { force: true });
  }
}

/** A fresh image file name. */
export function newImagePath(directory: string, purpose: 'snapshot' | 'restore' | 'tmp'): string {
  return path.join(directory, `${imagePrefix}${purpose}-${randomUUID()}.image`);
}

/** Writes an image file, computing its size and checksum as it goes. */
export class ImageWriter {
  readonly #handle: FileHandle;
  #crc = 0;
  #bytes = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** Creates the file and writes the magic and the header. */
  static async create(file: string, header: ImageHeader): Promise<ImageWriter> {
    const writer = new ImageWriter(await open(file, 'wx'));
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    assert(json.byteLength <= imageHeaderBytesMax, `an image header of ${json.byteLength} bytes`);
    await writer.#write(postgresImageMagic);
    await writer.#write(u32(json.byteLength));
    await writer.#write(json);
    return writer;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    this.#crc = crc32c(bytes, this.#crc);
    this.#bytes += bytes.byteLength;
    for (let offset = 0; offset < bytes.byteLength;) {
      const { bytesWritten } = await this.#handle.write(bytes, offset);
      offset += bytesWritten;
    }
  }

  /** Writes one table: its name, then its COPY data in frames. */
  async table(name: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const nameBytes = Buffer.from(name, 'utf8');
    assert(nameBytes.byteLength > 0 && nameBytes.byteLength <= tableNameBytesMax, 'table name');
    await this.#write(u16(nameBytes.byteLength));
    await this.#write(nameBytes);
    for await (const chunk of data) {
      for (let offset = 0; offset < chunk.byteLength; offset += imageFrameBytesMax) {
        const frame = chunk.subarray(offset, offset + imageFrameBytesMax);
        await this.#write(u32(frame.byteLength));
        await this.#write(frame);
      }
    }
    await this.#write(u32(0));
  }

  /** Writes the end mark, syncs and closes; returns the image's size and checksum. */
  async finish(): Promise<{ bytes: number; checksum: string }> {
    await this.#write(u16(0));
    await this.#handle.sync();
    await this.#handle.close();
    return { bytes: this.#bytes, checksum: checksumText(this.#crc) };
  }

  /** Closes the file without finishing it. */
  async abandon(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }
}

function u32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function u16(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

/** Reads an image file sequentially, checking every length against its bound. */
export class ImageReader {
  readonly #handle: FileHandle;
  #position = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** Opens an image and reads its header; TANDEM_CORRUPT if it is not an image. */
  static async open(file: string): Promise<{ reader: ImageReader; header: ImageHeader }> {
    const reader = new ImageReader(await open(file, 'r'));
    try {
      const start = await reader.#read(postgresImageMagic.byteLength);
      if (!start.equals(postgresImageMagic))
        throw corrupt('the snapshot image is not a PostgreSQL store image');
      const length = (await reader.#read(4)).readUInt32BE();
      if (length > imageHeaderBytesMax) throw corrupt(`an image header of ${length} bytes`);
      const header = parseHeader((await reader.#read(length)).toString('utf8'));
      return { reader, header };
    } catch (error) {
      await reader.close();
      throw error;
    }
  }

  async #read(bytes: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(bytes);
    const { bytesRead } = await this.#handle.read(buffer, 0, bytes, this.#position);
    if (bytesRead !== bytes) throw corrupt('the snapshot image ends early');
    this.#position += bytes;
    return buffer;
  }

  /** The next table's name, or null at the end mark. */
  async nextTable(): Promise<string | null> {
    const length = (await this.#read(2)).readUInt16BE();
    if (length === 0) return null;
    if (length > tableNameBytesMax) throw corrupt(`an image table name of ${length} bytes`);
    return (await this.#read(length)).toString('utf8');
  }

  /** The current table's COPY data, frame by frame, up to its zero frame. */
  async *frames(): AsyncGenerator<Buffer> {
    for (;;) {
      const length = (await this.#read(4)).readUInt32BE();
      if (length === 0) return;
      if (length > imageFrameBytesMax) throw corrupt(`an image frame of ${length} bytes`);
      yield await this.#read(length);
    }
  }

  /** Whether the whole file has been read. */
  async atEnd(): Promise<boolean> {
    return (await this.#handle.stat()).size === this.#position;
  }

  async close(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
  }
}

function parseHeader(text: string): ImageHeader {
  let header: ImageHeader;
  try {
    header = JSON.parse(text) as ImageHeader;
  } catch {
    throw corrupt('the snapshot image header is not JSON');
  }
  const fine =
    typeof header === 'object' &&
    header !== null &&
    Number.isSafeInteger(header.format) &&
    typeof header.clusterId === 'string' &&
    Number.isSafeInteger(header.index) &&
    header.index >= 0 &&
    Number.isSafeInteger(header.term) &&
    header.term >= 0 &&
    Number.isSafeInteger(header.sessionCount) &&
    Array.isArray(header.ddl) &&
    header.ddl.every((statement) => typeof statement === 'string') &&
    Array.isArray(header.tables) &&
    header.tables.every(
      (table) =>
        (table.schema === 'tandem' || table.schema === 'public') &&
        typeof table.name === 'string' &&
        Array.isArray(table.columns) &&
        (table.columns as unknown[]).every((column) => typeof column === 'string'),
    );
  if (!fine) throw corrupt('the snapshot image header is malformed');
  return header;
}

/**
 * Walks a whole image to check that it is well formed: every table the header names, in
 * order, each ending with its zero frame, then the end mark and nothing after it.
 */
export async function verifyImageStructure(file: string): Promise<ImageHeader> {
  const { reader, header } = await ImageReader.open(file);
  try {
    for (const table of header.tables) {
      const name = await reader.nextTable();
      if (name !== `${table.schema}.${table.name}`) {
        throw corrupt(`the snapshot image holds ${name} where its header says ${table.name}`);
      }
      for await (const frame of reader.frames()) assert(frame.byteLength > 0, 'empty frame');
    }
    if ((await reader.nextTable()) !== null || !(await reader.atEnd())) {
      throw corrupt('the snapshot image has data past its last table');
    }
    return header;
  } finally {
    await reader.close();
  }
}

/** Moves a finished temporary image to its final name (the rename is what makes it whole). */
export async function publishImage(temporary: string, directory: string): Promise<string> {
  const file = newImagePath(directory, 'snapshot');
  await rename(temporary, file);
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return file;
}

/**
 * Checks a received image: its structure, that its header records `meta.index` and
 * `meta.term`, and (unless `clusterId` is null, for a store that has no cluster id) that it
 * belongs to that cluster. Returns its header; throws TANDEM_CORRUPT naming what differed.
 */
export async function checkImage(
  file: string,
  meta: RestoreMeta,
  clusterId: string | null,
): Promise<ImageHeader> {
  const header = await verifyImageStructure(file);
  checkImagePosition(header, meta);
  if (clusterId !== null && header.clusterId !== clusterId) {
    throw corrupt(
      `the snapshot image belongs to cluster ${header.clusterId}, not to this store's cluster ${clusterId}`,
    );
  }
  return header;
}
