/**
 * The shapes of large objects (blobs) that every part of the blob layer shares: the
 * metadata that commits through the log, the chunk identities nodes hold on disk, and the
 * repair decisions. Imports nothing of its siblings.
 *
 * A blob's bytes never enter the replication log. They are cut into chunks that travel
 * node to node; only a blob's metadata (name, version, size, and each chunk's hash, size
 * and holders) commits through the log. A blob's version is the log index of the entry that
 * began its upload: the leader assigns it before any byte moves (as GFS's master raises a
 * chunk's version before it grants a lease), so every chunk of the upload is written under
 * its final name, `hash.version`, and a node can tell a chunk of an old version from a
 * chunk of the current one by name alone.
 */
import type { NodeId } from '../core/types.js';

/** One chunk as a node holds it: its bytes' SHA-256 (64 lowercase hex) and its version. */
export interface ChunkId {
  readonly hash: string;
  readonly version: number;
}

/** One chunk of a blob, as its metadata records it. */
export interface ChunkMeta {
  /** Its place in the blob: chunk `index` holds bytes `[index * chunkBytes, ...)`. */
  readonly index: number;
  /** SHA-256 of its bytes, 64 lowercase hex digits. */
  readonly hash: string;
  readonly bytes: number;
  /** The members that must hold it (its placement), in placement order. */
  readonly holders: readonly NodeId[];
}

/** A blob's committed metadata: the one visible version of a name. */
export interface BlobMeta {
  readonly name: string;
  /** The log index that began this version's upload; every chunk carries it. */
  readonly version: number;
  readonly bytes: number;
  readonly contentType: string;
  /** The size of every chunk but the last. */
  readonly chunkBytes: number;
  /** SHA-256 of the whole blob, 64 lowercase hex digits. */
  readonly sha256: string;
  readonly createdAtMs: number;
  readonly chunks: readonly ChunkMeta[];
}

/**
 * An upload that began and has not completed or been aborted: while it is committed, the
 * chunks of its version are not stale. It expires (`expiresAtMs`), after which its chunks
 * are collected.
 */
export interface UploadRecord {
  readonly id: string;
  readonly name: string;
  /** The log index of the entry that began it: the version of its chunks and blob. */
  readonly version: number;
  readonly chunkBytes: number;
  readonly contentType: string;
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
}

/** What a node must do to its chunk files so that it holds exactly what it should. */
export interface RepairPlan {
  /** Chunks it holds that nothing committed refers to any more: delete them. */
  readonly stale: readonly ChunkId[];
  /**
   * Chunks it should hold and lacks: fetch each (of `bytes` bytes) from one of `from`
   * (other holders).
   */
  readonly missing: readonly {
    readonly chunk: ChunkId;
    readonly bytes: number;
    readonly from: readonly NodeId[];
  }[];
}
