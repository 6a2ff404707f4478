/**
 * The kinds of snapshot image, told apart by their first bytes. A cluster may mix
 * SQLite and PostgreSQL stores, and a leader sends its own store's image to a follower
 * that fell behind its compacted log; each store therefore receives every kind, checks
 * it before it changes anything, and converts another kind's image.
 *
 * - A SQLite store's image is the memory image of memory-image.ts (its SQL database and
 *   its key-value namespace), which starts with the magic "TNDMKV01" and records its
 *   position in its header.
 * - Older builds' SQLite store images, and the files built from a PostgreSQL image, are
 *   a SQLite database file, which starts with the 16 bytes "SQLite format 3\0", holds
 *   the keys in `_tandem_kv`, the users and tokens in `_tandem_acl` (absent before they
 *   were kept: no users) and records its applied position in `_tandem_meta`.
 * - A PostgreSQL store's image is the format of postgres-image.ts, which starts with its
 *   magic "TNDMPG01" and records its applied position in its header.
 */
import { open, rm } from 'node:fs/promises';
import { TandemError } from '../core/errors.js';
import type { RestoreMeta } from './contract.js';
import {
  memoryImageMagic,
  readMemoryImageFileHeader,
  type MemoryImageHeader,
} from './memory-image.js';
import { checkImage, postgresImageMagic, type ImageHeader } from './postgres-image.js';
import {
  checkImagePosition,
  receiveFile,
  sqliteImagePosition,
  storeFormat,
} from './snapshot-images.js';

/** The first bytes of every SQLite database file. */
export const sqliteImageMagic = Buffer.from('SQLite format 3\0', 'latin1');

/** Which store made an image. */
export type ImageKind = 'memory' | 'sqlite' | 'postgres';

/** A received image whose checksum, structure and position were checked. */
export type ReceivedImage =
  | { readonly kind: 'memory'; readonly file: string; readonly header: MemoryImageHeader }
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly file: string; readonly header: ImageHeader };

/** The kind of the image in `file`, by its first bytes; TANDEM_CORRUPT for neither. */
export async function readImageKind(file: string): Promise<ImageKind> {
  const start = Buffer.alloc(sqliteImageMagic.byteLength);
  const handle = await open(file, 'r');
  let bytesRead: number;
  try {
    ({ bytesRead } = await handle.read(start, 0, start.byteLength, 0));
  } finally {
    await handle.close();
  }
  const head = start.subarray(0, bytesRead);
  if (head.equals(sqliteImageMagic)) return 'sqlite';
  if (head.subarray(0, memoryImageMagic.byteLength).equals(memoryImageMagic)) return 'memory';
  const magicBytes = postgresImageMagic.byteLength;
  if (bytesRead >= magicBytes && head.subarray(0, magicBytes).equals(postgresImageMagic)) {
    return 'postgres';
  }
  throw new TandemError(
    'TANDEM_CORRUPT',
    `the snapshot image is not a Tandem store: it starts with none of the memory image magic, a SQLite database header and the PostgreSQL image magic (its first bytes are ${head.toString('hex') || 'none'})`,
  );
}

/**
 * Receives an image of either kind into `file`, durably, and checks it before anything
 * else happens: the checksum, the kind, the structure, and that it records `meta.index`
 * and `meta.term` (and, for a PostgreSQL image, `clusterId` unless that is null). Throws
 * TANDEM_CORRUPT naming what differed, having removed the file.
 */
export async function receiveStoreImage(
  file: string,
  meta: RestoreMeta,
  chunks: AsyncIterable<Uint8Array>,
  clusterId: string | null,
): Promise<ReceivedImage> {
  await receiveFile(file, meta, chunks);
  try {
    const kind = await readImageKind(file);
    if (kind === 'memory') {
      const header = await readMemoryImageFileHeader(file);
      checkImagePosition(header.position, meta);
      return { kind, file, header };
    }
    if (kind === 'sqlite') {
      checkImagePosition(sqliteImagePosition(file), meta);
      return { kind, file };
    }
    const header = await checkImage(file, meta, clusterId);
    if (header.format !== storeFormat) {
      throw new TandemError(
        'TANDEM_CORRUPT',
        `the snapshot image has format ${header.format}; this build reads format ${storeFormat}`,
      );
    }
    return { kind, file, header };
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}
