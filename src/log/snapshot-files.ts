import { crc32c } from '@node-rs/crc32';
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TandemError } from '../core/errors.js';
import type { Membership, SnapshotMeta } from '../core/types.js';
import { makeDirectory, syncDirectory, writeFully } from './files.js';

/** A stored snapshot: its meta, size and checksum. */
export interface SnapshotInfo {
  readonly meta: SnapshotMeta;
  readonly bytes: number;
  /** CRC32C of the data, as 8 hex digits. */
  readonly checksum: string;
  /** The data file's name in the snapshot directory. */
  readonly file: string;
}

/** Chunks of snapshot data, from memory or streamed. */
export type SnapshotChunks = Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Bytes read per chunk when a snapshot is streamed out. */
export const snapshotChunkBytes = 256 * 1024;
/**
 * Older snapshots kept besides the newest: none. Saving a snapshot compacts the log up to
 * it, so an older one could not be brought forward (the entries after it are gone); it
 * would only double what a node keeps on disk. A node whose newest snapshot is damaged
 * is refused at start with the file named, and is seeded again from the leader.
 */
const olderSnapshotsKept = 0;

/** The checksum format snapshots carry. */
export function formatChecksum(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}

/**
 * Snapshot files: `snapshot-<index>.data` holds the bytes, `snapshot-<index>.json` the
 * meta, size and CRC32C. Each is written to a temporary name, synced, and renamed, data
 * first: a meta file exists only for complete, durable data, so a crash midway leaves the
 * previous snapshot in charge.
 */
export class SnapshotFiles {
  readonly directory: string;

  private constructor(directory: string) {
    this.directory = directory;
  }

  static async open(directory: string): Promise<SnapshotFiles> {
    await makeDirectory(directory);
    for (const name of await readdir(directory)) {
      if (name.endsWith('.tmp')) await unlink(join(directory, name)); // an interrupted save
    }
    return new SnapshotFiles(directory);
  }

  /**
   * Stores a snapshot durably from its chunks. With `expectedChecksum`, data that does not
   * match is refused with `TANDEM_CORRUPT` and nothing is kept.
   */
  async save(
    meta: SnapshotMeta,
    chunks: SnapshotChunks,
    expectedChecksum?: string,
  ): Promise<SnapshotInfo> {
    const base = `snapshot-${String(meta.index).padStart(20, '0')}`;
    const dataTemp = join(this.directory, `${base}.data.tmp`);
    const handle = await open(dataTemp, 'w');
    let crc = 0;
    let bytes = 0;
    try {
      for await (const chunk of chunks) {
        crc = crc32c(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), crc);
        await writeFully(handle, chunk, bytes);
        bytes += chunk.byteLength;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    const checksum = formatChecksum(crc);
    if (expectedChecksum !== undefined && checksum !== expectedChecksum) {
      await unlink(dataTemp);
      throw new TandemError(
        'TANDEM_CORRUPT',
        `snapshot at index ${meta.index}: received data has checksum ${checksum}, expected ${expectedChecksum}`,
      );
    }
    await rename(dataTemp, join(this.directory, `${base}.data`));
    return this.#commit(meta, base, bytes, checksum);
  }

  /**
   * Stores a snapshot whose data is the whole of `file` (of `bytes` bytes, CRC32C
   * `checksum`, as its writer computed them) by syncing it and renaming it into this
   * directory: the bytes are not read or written again. A file on another file system is
   * copied, and its checksum checked, as `save` does.
   */
  async adopt(
    meta: SnapshotMeta,
    file: string,
    bytes: number,
    checksum: string,
  ): Promise<SnapshotInfo> {
    const base = `snapshot-${String(meta.index).padStart(20, '0')}`;
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      if (size !== bytes) {
        throw new TandemError(
          'TANDEM_STORAGE_FAILED',
          `the snapshot image ${file} holds ${size} bytes, expected ${bytes}`,
        );
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(file, join(this.directory, `${base}.data`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      return this.save(meta, createReadStream(file), checksum);
    }
    return this.#commit(meta, base, bytes, checksum);
  }

  /** Once `<base>.data` holds the snapshot durably: its meta, then older snapshots go. */
  async #commit(
    meta: SnapshotMeta,
    base: string,
    bytes: number,
    checksum: string,
  ): Promise<SnapshotInfo> {
    // The data's name is durable before the meta that points at it exists.
    await syncDirectory(this.directory);
    const info: SnapshotInfo = { meta, bytes, checksum, file: `${base}.data` };
    await writeFileDurably(join(this.directory, `${base}.json`), JSON.stringify(info));
    await syncDirectory(this.directory);
    await this.#removeOlderThan(meta.index);
    return info;
  }

  /** The newest complete snapshot, or null. Throws `TANDEM_CORRUPT` for a damaged meta file. */
  async latest(): Promise<SnapshotInfo | null> {
    const metas = (await readdir(this.directory))
      .filter((name) => /^snapshot-\d{20}\.json$/.test(name))
      .sort();
    const newest = metas.at(-1);
    if (newest === undefined) return null;
    const info = parseInfo(await readFile(join(this.directory, newest), 'utf8'), newest);
    const size = await stat(join(this.directory, info.file)).then(
      (stats) => stats.size,
      () => -1,
    );
    if (size !== info.bytes) {
      throw new TandemError(
        'TANDEM_CORRUPT',
        `snapshot file ${info.file} holds ${size < 0 ? 'nothing' : `${size} bytes`}; its meta says ${info.bytes}`,
      );
    }
    return info;
  }

  /**
   * Streams a snapshot's data. The checksum is checked as the last chunk is read; a
   * mismatch throws `TANDEM_CORRUPT`, so a consumer must not act on the data before the
   * stream has ended without error.
   */
  async *chunks(info: SnapshotInfo): AsyncGenerator<Buffer> {
    let crc = 0;
    let bytes = 0;
    const stream = createReadStream(join(this.directory, info.file), {
      highWaterMark: snapshotChunkBytes,
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      crc = crc32c(chunk, crc);
      bytes += chunk.length;
      yield chunk;
    }
    const checksum = formatChecksum(crc);
    if (checksum !== info.checksum || bytes !== info.bytes) {
      throw new TandemError(
        'TANDEM_CORRUPT',
        `snapshot file ${info.file} is corrupt: ${bytes} bytes with checksum ${checksum}, expected ${info.bytes} bytes with ${info.checksum}`,
      );
    }
  }

  /** A snapshot's whole data, verified. */
  async read(info: SnapshotInfo): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(info)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  async #removeOlderThan(index: number): Promise<void> {
    const names = (await readdir(this.directory)).filter((name) =>
      /^snapshot-\d{20}\.(json|data)$/.test(name),
    );
    const indexes = [...new Set(names.map((name) => Number(name.slice(9, 29))))]
      .filter((i) => i < index)
      .sort((a, b) => b - a);
    for (const old of indexes.slice(olderSnapshotsKept)) {
      const base = `snapshot-${String(old).padStart(20, '0')}`;
      // The meta first, so that a crash midway never leaves a meta without its data.
      await unlink(join(this.directory, `${base}.json`)).catch(() => undefined);
      await unlink(join(this.directory, `${base}.data`)).catch(() => undefined);
    }
  }
}

async function writeFileDurably(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

function parseInfo(text: string, file: string): SnapshotInfo {
  const fail = (why: string): TandemError =>
    new TandemError('TANDEM_CORRUPT', `snapshot meta file ${file} is corrupt: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail(String(error));
  }
  const info = value as Partial<SnapshotInfo> & { meta?: Partial<SnapshotMeta> };
  const meta = info.meta;
  const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (meta === undefined || !isIndex(meta.index) || !isIndex(meta.term))
    throw fail('bad index or term');
  if (!isMembership(meta.membership)) throw fail('bad membership');
  if (!isIndex(info.bytes) || typeof info.checksum !== 'string' || typeof info.file !== 'string') {
    throw fail('bad size, checksum or file name');
  }
  return {
    meta: meta as SnapshotMeta,
    bytes: info.bytes,
    checksum: info.checksum,
    file: info.file,
  };
}

function isMembership(value: unknown): value is Membership {
  const members = value as Partial<Membership> | undefined;
  const isIdList = (list: unknown): boolean =>
    Array.isArray(list) && list.every((id) => typeof id === 'string');
  return members !== undefined && isIdList(members.voters) && isIdList(members.learners);
}
