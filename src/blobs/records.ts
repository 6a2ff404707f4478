/**
 * How blob metadata and uploads are kept in the replicated store: as keys of the system
 * database (store/databases.ts), which no client can name and FLUSHALL keeps, so they ride
 * the log, snapshots and store images as any key does, on SQLite and PostgreSQL alike.
 *
 * - `blob:NAME` holds a blob's committed metadata (`BlobMeta`, JSON).
 * - `upload:ID` holds an upload that began (`UploadRecord` without its version, JSON). The
 *   key's own version, the log index that wrote it, is the upload's version; the key
 *   expires when the upload does, so an abandoned upload goes without anyone's help.
 * - `part:ID:N` records chunk N of a resumable upload once its holders have it (`PartRecord`,
 *   JSON), expiring with the upload; completing the upload removes them.
 *
 * Pure: bytes in, records out, every field checked (a record is read back from the store,
 * but the store holds what the log carried, and the log what a node proposed).
 */
import { TandemError } from '../core/errors.js';
import { systemKey } from '../store/databases.js';
import type { BlobMeta, ChunkMeta, UploadRecord } from './contract.js';

/** The longest blob name, in UTF-8 bytes. */
export const blobNameBytesMax = 1024;
/** Default size of every chunk but a blob's last (the design's 8 MiB). */
export const chunkBytesDefault = 8 * 1024 * 1024;
/** The largest chunk size a cluster may choose (each chunk is held in memory while it moves). */
export const chunkBytesMax = 64 * 1024 * 1024;
/** The smallest chunk size a cluster may choose. */
export const chunkBytesMin = 64 * 1024;
/** Default largest blob (5 GiB). */
export const blobBytesDefaultMax = 5 * 1024 * 1024 * 1024;
/** How long an upload may stay open before it expires and its chunks are collected. */
export const uploadTtlMsDefault = 24 * 60 * 60 * 1000;

const hashPattern = /^[0-9a-f]{64}$/;
const blobPrefix = 'blob:';
const uploadPrefix = 'upload:';
const partPrefix = 'part:';

/**
 * The most chunks one blob may have (a 5 GiB blob of 8 MiB chunks has 640): its metadata,
 * one log entry, stays under about 1.5 MB.
 */
export const chunksPerBlobMax = 10_000;

/** A chunk of a resumable upload that reached its holders. */
export interface PartRecord {
  readonly index: number;
  readonly hash: string;
  readonly bytes: number;
  readonly holders: readonly string[];
}

/** Checks a blob name: 1 to 1024 bytes of UTF-8 without control characters. */
export function checkBlobName(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > blobNameBytesMax) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `a blob name takes 1 to ${blobNameBytesMax} bytes of UTF-8, got ${bytes}`,
    );
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name) || name.includes('\ufffd')) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      'a blob name may not hold control characters or invalid UTF-8',
    );
  }
}

/** The stored key of blob `name`'s metadata. */
export function blobKey(name: string): Buffer {
  return systemKey(Buffer.from(blobPrefix + name, 'utf8'));
}

/** The stored key of upload `id`. */
export function uploadKey(id: string): Buffer {
  return systemKey(Buffer.from(uploadPrefix + id, 'utf8'));
}

/**
 * The glob (the store's SCAN syntax, which matches stored keys) of every blob whose name
 * begins with `prefix`.
 */
export function blobPattern(prefix: string): Buffer {
  return systemPattern(blobPrefix + prefix);
}

/** The stored key of chunk `index` of upload `id`. */
export function partKey(id: string, index: number): Buffer {
  return systemKey(Buffer.from(`${partPrefix}${id}:${index}`, 'utf8'));
}

/** The glob of every chunk record of upload `id`. */
export function partPattern(id: string): Buffer {
  return systemPattern(`${partPrefix}${id}:`);
}

/** A chunk record as stored. */
export function encodePart(part: PartRecord): Buffer {
  return Buffer.from(JSON.stringify(part), 'utf8');
}

/** Reads a chunk record back, checking every field. */
export function decodePart(bytes: Buffer): PartRecord {
  const part = jsonObject(bytes, 'chunk record');
  const index = safeInteger(part.index, 0, 'chunk record index');
  return parseChunk({ ...part, index }, index);
}

/** The glob of every upload record. */
export function uploadPattern(): Buffer {
  return systemPattern(uploadPrefix);
}

function systemPattern(prefix: string): Buffer {
  const escaped = prefix.replace(/[\\*?[\]]/g, (char) => `\\${char}`);
  return systemKey(Buffer.from(`${escaped}*`, 'utf8'));
}

/** A blob's metadata as stored. */
export function encodeBlobMeta(meta: BlobMeta): Buffer {
  return Buffer.from(JSON.stringify(meta), 'utf8');
}

/** An upload as stored (its version is its key's). */
export function encodeUpload(upload: Omit<UploadRecord, 'version'>): Buffer {
  return Buffer.from(JSON.stringify(upload), 'utf8');
}

function corrupt(what: string): never {
  throw new TandemError('TANDEM_CORRUPT', `stored blob record: ${what}`);
}

/** A stored record's JSON object; anything else is corruption, named as `what`. */
function jsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    corrupt(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null) corrupt(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function safeInteger(value: unknown, least: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
    corrupt(`${what} is not an integer of at least ${least}`);
  }
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') corrupt(`${what} is not a string`);
  return value;
}

function hash(value: unknown, what: string): string {
  const hex = text(value, what);
  if (!hashPattern.test(hex)) corrupt(`${what} is not a SHA-256 in hex`);
  return hex;
}

function parseChunk(value: unknown, index: number): ChunkMeta {
  const chunk = value as Record<string, unknown> | null;
  if (typeof chunk !== 'object' || chunk === null) corrupt(`chunk ${index} is not an object`);
  if (chunk.index !== index) corrupt(`chunk ${index} says it is chunk ${String(chunk.index)}`);
  const holders = chunk.holders;
  if (!Array.isArray(holders) || holders.some((holder) => typeof holder !== 'string')) {
    corrupt(`chunk ${index}'s holders are not node ids`);
  }
  return {
    index,
    hash: hash(chunk.hash, `chunk ${index}'s hash`),
    bytes: safeInteger(chunk.bytes, 1, `chunk ${index}'s size`),
    holders: holders as string[],
  };
}

/** Reads a blob's stored metadata back, checking every field. */
export function decodeBlobMeta(bytes: Buffer): BlobMeta {
  const meta = jsonObject(bytes, 'metadata');
  if (!Array.isArray(meta.chunks)) corrupt('metadata has no chunk list');
  return {
    name: text(meta.name, 'name'),
    version: safeInteger(meta.version, 1, 'version'),
    bytes: safeInteger(meta.bytes, 0, 'size'),
    contentType: text(meta.contentType, 'content type'),
    chunkBytes: safeInteger(meta.chunkBytes, 1, 'chunk size'),
    sha256: hash(meta.sha256, 'sha256'),
    createdAtMs: safeInteger(meta.createdAtMs, 0, 'creation time'),
    chunks: (meta.chunks as unknown[]).map(parseChunk),
  };
}

/** Reads an upload back; `version` is the index of the entry that wrote its key. */
export function decodeUpload(bytes: Buffer, version: number): UploadRecord {
  const upload = jsonObject(bytes, 'upload');
  return {
    id: text(upload.id, 'upload id'),
    name: text(upload.name, 'upload name'),
    version,
    chunkBytes: safeInteger(upload.chunkBytes, 1, 'chunk size'),
    contentType: text(upload.contentType, 'content type'),
    startedAtMs: safeInteger(upload.startedAtMs, 0, 'start time'),
    expiresAtMs: safeInteger(upload.expiresAtMs, 0, 'expiry'),
  };
}

/**
 * Checks that a list of chunks describes a whole blob of `bytes` cut at `chunkBytes`:
 * indexes 0 to n-1 in order, every chunk but the last full, sizes adding up.
 */
export function checkChunkList(chunks: readonly ChunkMeta[], bytes: number, chunkBytes: number) {
  let total = 0;
  chunks.forEach((chunk, i) => {
    if (chunk.index !== i) {
      throw new TandemError('TANDEM_BAD_REQUEST', `chunk ${i} is missing (got ${chunk.index})`);
    }
    if (!hashPattern.test(chunk.hash)) {
      throw new TandemError('TANDEM_BAD_REQUEST', `chunk ${i}'s hash is not a SHA-256 in hex`);
    }
    const last = i === chunks.length - 1;
    if (chunk.bytes < 1 || chunk.bytes > chunkBytes || (!last && chunk.bytes !== chunkBytes)) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `chunk ${i} holds ${chunk.bytes} bytes; every chunk but the last holds ${chunkBytes}`,
      );
    }
    total += chunk.bytes;
  });
  if (total !== bytes) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `the chunks hold ${total} bytes, the blob ${bytes}`,
    );
  }
}
