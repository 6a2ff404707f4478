/**
 * One node's large objects: uploads cut into chunks and pushed to their holders, reads
 * that stream a blob from local copies or from other holders, the metadata steps the
 * leader commits, and the background repair that brings this node's chunk files to what
 * the committed metadata says it should hold.
 *
 * An upload, on whichever node it arrives:
 * 1. begin: the leader commits an upload record (records.ts); the log index that wrote it
 *    is the upload's version, so every chunk is named `hash.version` before it moves;
 * 2. each chunk (`chunkBytes`, the last one shorter) is hashed and sent to its holders,
 *    chosen by rendezvous hashing over the voters (plan.ts `placement`), this node's own
 *    copy written to its chunk store; the upload waits until `acksNeeded` holders have it
 *    durably (the durability mode's count), with at most `chunksInFlightMax` chunks moving;
 * 3. complete: the leader commits the blob's metadata in one transaction that also removes
 *    the upload record, watching both keys, so a reader sees the old version or the new
 *    one and never a mix, and of two concurrent uploads of one name with `If-Match` one wins.
 *
 * Repair: every `repairIntervalMs` (and soon after start) the node sends its inventory to
 * the leader, which answers stale chunks (delete) and missing ones (fetch from another
 * holder) from its committed state (plan.ts `repairPlan`); the leader also re-places chunks
 * whose holders left the membership (`rereplicate`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { Durability, NodeId } from '../core/types.js';
import type { Consistency, NodeHandle } from '../node/api.js';
import type { Logger } from '../transport/contract.js';
import { systemDatabase } from '../store/databases.js';
import { delKeysMax, type WatchedKey } from '../store/commands.js';
import type { StoreReader } from '../store/contract.js';
import type { KvEntry } from '../store/keyspace.js';
import type { ChunkStore } from './chunk-store.js';
import type { BlobMeta, ChunkId, ChunkMeta, RepairPlan, UploadRecord } from './contract.js';
import type { PeerClient } from './peers.js';
import { acksNeeded, placement, repairPlan, rereplicate } from './plan.js';
import {
  blobBytesDefaultMax,
  blobKey,
  blobPattern,
  checkBlobName,
  checkChunkList,
  chunkBytesDefault,
  chunksPerBlobMax,
  decodePart,
  encodePart,
  partKey,
  partPattern,
  type PartRecord,
  decodeBlobMeta,
  decodeUpload,
  encodeBlobMeta,
  encodeUpload,
  uploadKey,
  uploadPattern,
  uploadTtlMsDefault,
} from './records.js';

/** Chunks of one upload moving to their holders at once (each is held in memory). */
export const chunksInFlightMax = 4;
/** How often a node checks its chunks against the committed metadata. */
export const repairIntervalMsDefault = 10_000;
/** Commits of a transaction retried when a concurrent write changed what it watched. */
const commitAttemptsMax = 5;
/** How fast the background scrubber re-reads chunk files, by default. */
export const scrubBytesPerSecondDefault = 32 * 1024 * 1024;
/** How long the scrubber rests between two passes over every chunk. */
export const scrubPauseMsDefault = 60 * 60 * 1000;
/** How long a member may take to tell its chunk status (`clusterStatus`). */
const statusCallMs = 2_000;

/** A long repair round logs its progress at most this often. */
const repairLogEveryMs = 5_000;
/** Blobs listed at most in one answer. */
export const blobListMax = 10_000;

/** Options of a `BlobService`. */
export interface BlobServiceOptions {
  readonly node: NodeHandle;
  readonly chunks: ChunkStore;
  readonly peers: PeerClient;
  readonly logger: Logger;
  /** Copies of each chunk (default 3, or every voter when fewer). */
  readonly replicas?: number;
  readonly chunkBytes?: number;
  readonly blobBytesMax?: number;
  readonly uploadTtlMs?: number;
  readonly repairIntervalMs?: number;
  /** The scrubber's pace; 0 turns it off. */
  readonly scrubBytesPerSecond?: number;
}

/** A condition of a write on the blob's current version (HTTP `If-Match`, `If-None-Match`). */
export interface BlobCondition {
  /** The write goes ahead only when the current version is this one. */
  readonly ifMatch?: number;
  /** `*`: only when the name holds no blob; a number: only when it is not that version. */
  readonly ifNoneMatch?: '*' | number;
}

/** What a node tells about its repairs (`/v1/cluster`, metrics). */
export interface RepairStatus {
  readonly chunksHeld: number;
  readonly bytesHeld: number;
  /** From the latest plan: chunks still to fetch. */
  readonly chunksMissing: number;
  /** From the latest plan: the bytes of those chunks. */
  readonly bytesMissing: number;
  /**
   * Bytes fetched per second by the repair round in progress, or by the last round that
   * fetched anything (0 before any).
   */
  readonly repairBytesPerSecond: number;
  readonly chunksRepaired: number;
  readonly bytesRepaired: number;
  readonly staleDeleted: number;
  readonly lastRepairAtMs: number | null;
  /** Chunks found failing their hash (by reads and the scrubber) since start. */
  readonly corruptFound: number;
  readonly scrubbedChunks: number;
}

/** One node's blob layer; see the module comment. */
export class BlobService {
  readonly #node: NodeHandle;
  readonly #chunks: ChunkStore;
  readonly #peers: PeerClient;
  readonly #logger: Logger;
  readonly replicas: number;
  readonly chunkBytes: number;
  readonly blobBytesMax: number;
  readonly #uploadTtlMs: number;
  readonly #repairIntervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #repairing: Promise<void> | null = null;
  #closed = false;
  #status: RepairStatus = {
    chunksHeld: 0,
    bytesHeld: 0,
    chunksMissing: 0,
    bytesMissing: 0,
    repairBytesPerSecond: 0,
    chunksRepaired: 0,
    bytesRepaired: 0,
    staleDeleted: 0,
    lastRepairAtMs: null,
    corruptFound: 0,
    scrubbedChunks: 0,
  };
  readonly #scrubBytesPerSecond: number;
  readonly #scrubStop = new AbortController();
  #scrubbing: Promise<void> | null = null;

  constructor(options: BlobServiceOptions) {
    this.#node = options.node;
    this.#chunks = options.chunks;
    this.#peers = options.peers;
    this.#logger = options.logger;
    this.replicas = options.replicas ?? 3;
    this.chunkBytes = options.chunkBytes ?? chunkBytesDefault;
    this.blobBytesMax = options.blobBytesMax ?? blobBytesDefaultMax;
    this.#uploadTtlMs = options.uploadTtlMs ?? uploadTtlMsDefault;
    this.#repairIntervalMs = options.repairIntervalMs ?? repairIntervalMsDefault;
    this.#scrubBytesPerSecond = options.scrubBytesPerSecond ?? scrubBytesPerSecondDefault;
    assert(Number.isSafeInteger(this.replicas) && this.replicas >= 1, 'replicas must be >= 1');
    this.#chunks.onCorrupt = (id) => {
      this.#logger.warn({ chunk: id }, 'a chunk failed its hash: deleted, to be repaired');
      this.#scheduleRepair(0);
    };
  }

  /** Starts the background repair (soon, then every `repairIntervalMs`) and the scrubber. */
  start(): void {
    this.#scheduleRepair(1_000);
    if (this.#scrubBytesPerSecond > 0) {
      // Its end is logged here, at once: a rejection (the disk, or the close's abort) must
      // never go unhandled.
      this.#scrubbing = this.#scrubForever().catch((error: unknown) => {
        if (!this.#closed) this.#logger.error({ err: error }, 'the chunk scrubber stopped');
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#scrubStop.abort(new Error('closing'));
    await this.#repairing?.catch(() => undefined);
    await this.#scrubbing?.catch(() => undefined);
    this.#peers.close();
  }

  /**
   * Re-hashes every chunk file at a bounded pace, pass after pass with a rest between:
   * a chunk that rotted on disk is found even if nobody reads it, deleted, and repaired
   * from another holder by the next repair round (the store's `onCorrupt`).
   */
  async #scrubForever(): Promise<void> {
    const signal = this.#scrubStop.signal;
    while (!this.#closed) {
      await sleep(scrubPauseMsDefault, undefined, { signal });
      const result = await this.#chunks.scrub({
        bytesPerSecondMax: this.#scrubBytesPerSecond,
        signal,
        onChunk: () => {
          this.#status = { ...this.#status, scrubbedChunks: this.#status.scrubbedChunks + 1 };
        },
      });
      this.#logger.info(result, 'scrubbed every chunk file');
    }
  }

  // ------------------------------------------------------------------ reads

  /** A blob's committed metadata at `consistency`, or null. */
  async meta(name: string, consistency: Consistency): Promise<BlobMeta | null> {
    checkBlobName(name);
    const read = await this.#node.read({ consistency }, (store) =>
      store.get(blobKey(name), Date.now()),
    );
    return read.value === null ? null : decodeBlobMeta(read.value.value);
  }

  /** Blobs whose name begins with `prefix`, by name, at most `limit`. */
  async list(prefix: string, consistency: Consistency, limit = blobListMax): Promise<BlobMeta[]> {
    const read = await this.#node.read({ consistency }, (store) =>
      systemRecords(store, blobPattern(prefix)),
    );
    // Keys are listed in byte order, which for UTF-8 names is their code point order.
    return read.value.slice(0, limit).map((entry) => decodeBlobMeta(entry.value));
  }

  /**
   * The bytes `[start, end)` of `meta`'s blob, chunk by chunk: this node's copy when it has
   * a sound one, else another holder's (checked against its hash). With `localOnly` a
   * chunk this node lacks fails the read instead (`hasLocally` tells beforehand). The next
   * chunk is read (and hashed) while the current one is sent: one chunk ahead, no more.
   */
  async *read(
    meta: BlobMeta,
    start: number,
    end: number,
    localOnly: boolean,
  ): AsyncGenerator<Buffer> {
    assert(start >= 0 && end <= meta.bytes && start <= end, 'a read within the blob');
    const wanted = meta.chunks.filter((chunk) => {
      const chunkStart = chunk.index * meta.chunkBytes;
      return chunkStart + chunk.bytes > start && chunkStart < end;
    });
    const load = (chunk: ChunkMeta) =>
      this.#chunkBytes({ hash: chunk.hash, version: meta.version }, chunk, localOnly);
    let next = wanted.length > 0 ? load(wanted[0] as ChunkMeta) : null;
    for (let i = 0; i < wanted.length; i++) {
      const chunk = wanted[i] as ChunkMeta;
      const bytes = await (next as Promise<Buffer>);
      next = i + 1 < wanted.length ? load(wanted[i + 1] as ChunkMeta) : null;
      // A read ahead that fails is reported when its turn comes, not as an unhandled one.
      next?.catch(() => undefined);
      const chunkStart = chunk.index * meta.chunkBytes;
      yield bytes.subarray(
        Math.max(0, start - chunkStart),
        Math.min(chunk.bytes, end - chunkStart),
      );
    }
  }

  /** Whether this node holds every chunk of `meta` itself (for `?source=local`). */
  hasLocally(meta: BlobMeta): boolean {
    return meta.chunks.every((chunk) =>
      this.#chunks.has({ hash: chunk.hash, version: meta.version }),
    );
  }

  async #chunkBytes(id: ChunkId, chunk: ChunkMeta, localOnly: boolean): Promise<Buffer> {
    const local = await this.#chunks.read(id);
    if (local !== null) return local;
    if (localOnly) {
      throw new TandemError(
        'TANDEM_REPLICA_UNAVAILABLE',
        `node ${this.#node.id} holds no sound copy of chunk ${chunk.index}`,
      );
    }
    for (const holder of chunk.holders) {
      if (holder === this.#node.id) continue;
      const bytes = await this.#fetch(holder, id).catch(() => null);
      if (bytes !== null) return bytes;
    }
    throw new TandemError(
      'TANDEM_REPLICA_UNAVAILABLE',
      `no holder of chunk ${chunk.index} (${chunk.holders.join(', ')}) has a sound copy now`,
    );
  }

  /** A chunk from `holder`, checked against its hash; null when it has none. */
  async #fetch(holder: NodeId, id: ChunkId): Promise<Buffer | null> {
    const url = this.#memberUrl(holder);
    if (url === null) return null;
    const answer = await this.#peers.call(url, 'GET', chunkPath(id), null);
    if (answer.status !== 200) return null;
    const hash = createHash('sha256').update(answer.body).digest('hex');
    return hash === id.hash ? answer.body : null;
  }

  #memberUrl(id: NodeId): string | null {
    if (id === this.#node.id) return this.#node.status().httpUrl;
    return this.#node.status().members.find((member) => member.id === id)?.httpUrl ?? null;
  }

  // ------------------------------------------------------------------ uploads

  /**
   * Uploads a whole blob from `body` (any size up to `blobBytesMax`): begin, chunks to
   * their holders, complete. Resolves with the committed metadata.
   */
  async put(
    name: string,
    body: AsyncIterable<Uint8Array>,
    options: { contentType: string; durability: Durability; condition: BlobCondition },
  ): Promise<BlobMeta> {
    checkBlobName(name);
    const upload = await this.#begin(name, options.contentType);
    try {
      return await this.#putChunks(upload, body, options);
    } catch (error) {
      // The upload is dead: its record goes now (not at its expiry), so the repair rounds
      // collect its chunks soon. Best effort: a record left behind still expires.
      this.abortUpload(name, upload.id).catch(() => undefined);
      throw error;
    }
  }

  async #putChunks(
    upload: UploadRecord,
    body: AsyncIterable<Uint8Array>,
    options: { durability: Durability; condition: BlobCondition },
  ): Promise<BlobMeta> {
    const name = upload.name;
    const voters = this.#node.status().membership.voters;
    const whole = createHash('sha256');
    const chunks: ChunkMeta[] = [];
    const moving: Promise<void>[] = [];
    let total = 0;
    for await (const bytes of cut(body, upload.chunkBytes)) {
      total += bytes.length;
      if (total > this.blobBytesMax) {
        throw new TandemError(
          'TANDEM_ENTRY_TOO_LARGE',
          `blob ${name} is larger than the limit of ${this.blobBytesMax} bytes`,
        );
      }
      const index = chunks.length;
      if (index === chunksPerBlobMax) {
        throw new TandemError(
          'TANDEM_ENTRY_TOO_LARGE',
          `blob ${name} needs more than ${chunksPerBlobMax} chunks of ${upload.chunkBytes} bytes`,
        );
      }
      whole.update(bytes);
      const hash = createHash('sha256').update(bytes).digest('hex');
      const holders = placement(name, upload.version, index, voters, this.replicas);
      chunks.push({ index, hash, bytes: bytes.length, holders });
      const placed = this.#place(
        { hash, version: upload.version },
        bytes,
        holders,
        options.durability,
      );
      // Handled now, awaited in turn: a chunk that fails while the body is still being
      // read must fail the upload, never the process (an unhandled rejection).
      placed.catch(() => undefined);
      moving.push(placed);
      if (moving.length >= chunksInFlightMax) await moving.shift();
    }
    await Promise.all(moving);
    return this.#complete({
      uploadId: upload.id,
      bytes: total,
      sha256: whole.digest('hex'),
      chunks,
      condition: options.condition,
      durability: options.durability,
    });
  }

  /**
   * Writes a chunk to its holders; resolves once `acksNeeded` of them hold it durably,
   * rejects once too many failed for that. The other copies go on in the background.
   */
  #place(id: ChunkId, bytes: Buffer, holders: readonly NodeId[], durability: Durability) {
    const needed = acksNeeded(durability, holders.length);
    return new Promise<void>((resolve, reject) => {
      let acked = 0;
      let failed = 0;
      const reasons: string[] = [];
      for (const holder of holders) {
        this.#storeAt(holder, id, bytes).then(
          () => {
            acked++;
            if (acked === needed) resolve();
          },
          (error: unknown) => {
            failed++;
            reasons.push(`${holder}: ${error instanceof Error ? error.message : String(error)}`);
            if (holders.length - failed < needed) {
              reject(
                new TandemError(
                  'TANDEM_REPLICA_UNAVAILABLE',
                  `chunk ${id.hash.slice(0, 12)} reached ${acked} of the ${needed} holders it needs (${reasons.join('; ')})`,
                ),
              );
            } else if (acked < needed) {
              this.#logger.warn({ holder, error: String(error) }, 'a chunk holder failed');
            }
          },
        );
      }
    });
  }

  async #storeAt(holder: NodeId, id: ChunkId, bytes: Buffer): Promise<void> {
    if (holder === this.#node.id) return this.#chunks.write(id, bytes, true);
    const url = this.#memberUrl(holder);
    if (url === null) throw new Error(`no address known for ${holder}`);
    const answer = await this.#peers.call(url, 'PUT', chunkPath(id), bytes);
    if (answer.status !== 204) {
      throw new Error(`answered ${answer.status}: ${answer.body.toString().slice(0, 200)}`);
    }
  }

  /** Stores a chunk another node pushed here (the peer route). */
  receiveChunk(id: ChunkId, bytes: Buffer): Promise<void> {
    return this.#chunks.write(id, bytes);
  }

  /** This node's copy of a chunk, checked (the peer route); null when it has none. */
  localChunk(id: ChunkId): Promise<Buffer | null> {
    return this.#chunks.read(id);
  }

  // ------------------------------------------------------------------ resumable uploads

  /** Begins a resumable upload of `name` (on the leader, asked from any node). */
  beginUpload(name: string, contentType: string): Promise<UploadRecord> {
    checkBlobName(name);
    return this.#begin(name, contentType);
  }

  /** The open upload `id` of `name`, read linearizably; 404 when it is not open. */
  async #openUpload(name: string, id: string): Promise<UploadRecord> {
    const read = await this.#node.read({ consistency: 'linearizable' }, (store) =>
      store.get(uploadKey(id), Date.now()),
    );
    const upload =
      read.value === null ? null : decodeUpload(read.value.value, read.value.version.index);
    if (upload === null || upload.name !== name) {
      throw new TandemError(
        'TANDEM_NOT_FOUND',
        `blob ${name} has no open upload ${id}: it completed, was aborted, or expired`,
      );
    }
    return upload;
  }

  /**
   * Chunk `index` of a resumable upload, to any node, in any order, as often as needed:
   * checked against `sha256` when the client sends it, placed, written to its holders,
   * and recorded through the log once they have it. Sending a chunk again replaces it.
   */
  async putPart(
    name: string,
    id: string,
    index: number,
    bytes: Buffer,
    options: { sha256?: string; durability: Durability },
  ): Promise<PartRecord> {
    const upload = await this.#openUpload(name, id);
    if (!Number.isSafeInteger(index) || index < 0 || index >= chunksPerBlobMax) {
      throw new TandemError('TANDEM_BAD_REQUEST', `a chunk index is 0 to ${chunksPerBlobMax - 1}`);
    }
    if (bytes.length < 1 || bytes.length > upload.chunkBytes) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `chunk ${index} holds ${bytes.length} bytes; this upload's chunks hold 1 to ${upload.chunkBytes} (all but the last exactly ${upload.chunkBytes})`,
      );
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (options.sha256 !== undefined && options.sha256 !== hash) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `chunk ${index} has SHA-256 ${hash}, not the ${options.sha256} sent with it; nothing kept`,
      );
    }
    const voters = this.#node.status().membership.voters;
    const holders = placement(name, upload.version, index, voters, this.replicas);
    await this.#place({ hash, version: upload.version }, bytes, holders, options.durability);
    const part: PartRecord = { index, hash, bytes: bytes.length, holders };
    if (this.#node.status().role === 'leader') await this.partHere(id, part);
    else await this.#peers.json(this.#leaderUrl(), '/v1/internal/blobs/part', { id, part });
    return part;
  }

  /** Records a chunk of an open upload (the leader only), expiring with the upload. */
  async partHere(id: string, part: PartRecord): Promise<void> {
    const read = await this.#node.read({ consistency: 'linearizable' }, (store) =>
      store.get(uploadKey(id), Date.now()),
    );
    if (read.value === null) {
      throw new TandemError('TANDEM_NOT_FOUND', `upload ${id} is not open`);
    }
    const record = decodePart(encodePart(part));
    await this.#node.write({
      type: 'set',
      key: partKey(id, record.index),
      value: encodePart(record),
      at: Date.now(),
      expiresAt: read.value.expiresAt,
    });
  }

  /**
   * Completes a resumable upload from any node: its chunk records must cover 0 to n-1;
   * the whole blob is read back through its holders to compute its SHA-256 (checked
   * against `sha256` when the client sends it), so a version never becomes visible with a
   * chunk no holder can give; then the leader commits it as a one-request upload is.
   */
  async completeUpload(
    name: string,
    id: string,
    options: { sha256?: string; condition: BlobCondition },
  ): Promise<BlobMeta> {
    const upload = await this.#openUpload(name, id);
    const parts = await this.#parts(id);
    const chunks = parts.map(({ index, hash, bytes, holders }) => ({
      index,
      hash,
      bytes,
      holders,
    }));
    const total = chunks.reduce((sum, chunk) => sum + chunk.bytes, 0);
    checkChunkList(chunks, total, upload.chunkBytes);
    const draft: BlobMeta = {
      name,
      version: upload.version,
      bytes: total,
      contentType: upload.contentType,
      chunkBytes: upload.chunkBytes,
      sha256: '0'.repeat(64),
      createdAtMs: 0,
      chunks,
    };
    const whole = createHash('sha256');
    for await (const bytes of this.read(draft, 0, total, false)) whole.update(bytes);
    const sha256 = whole.digest('hex');
    if (options.sha256 !== undefined && options.sha256 !== sha256) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `the chunks make a blob with SHA-256 ${sha256}, not the ${options.sha256} sent`,
      );
    }
    return this.#complete({
      uploadId: id,
      bytes: total,
      sha256,
      chunks,
      condition: options.condition,
      parts: parts.map((part) => part.index),
    });
  }

  /** The chunk records of upload `id`, by index. */
  async #parts(id: string): Promise<PartRecord[]> {
    const read = await this.#node.read({ consistency: 'linearizable' }, (store) =>
      systemRecords(store, partPattern(id)),
    );
    return read.value.map((entry) => decodePart(entry.value)).sort((a, b) => a.index - b.index);
  }

  /** Aborts an open upload from any node: its records go, its chunks are collected. */
  async abortUpload(name: string, id: string): Promise<void> {
    await this.#openUpload(name, id);
    const parts = (await this.#parts(id)).map((part) => part.index);
    if (this.#node.status().role === 'leader') return this.abortHere(id, parts);
    await this.#peers.json(this.#leaderUrl(), '/v1/internal/blobs/abort', { id, parts });
  }

  /** Removes an upload's records (the leader only). */
  async abortHere(id: string, parts: readonly number[]): Promise<void> {
    await this.#transaction(
      [],
      deletes([uploadKey(id), ...parts.map((index) => partKey(id, index))]),
    );
  }

  /** Step 1 on the leader, or asked of it. */
  async #begin(name: string, contentType: string): Promise<UploadRecord> {
    if (this.#node.status().role === 'leader') return this.beginHere(name, contentType);
    return this.#peers.json<UploadRecord>(this.#leaderUrl(), `/v1/internal/blobs/begin`, {
      name,
      contentType,
    });
  }

  /** Step 3 on the leader, or asked of it. */
  async #complete(request: CompleteRequest): Promise<BlobMeta> {
    if (this.#node.status().role === 'leader') return this.completeHere(request);
    return this.#peers.json<BlobMeta>(this.#leaderUrl(), `/v1/internal/blobs/complete`, request);
  }

  #leaderUrl(): string {
    const url = this.#node.leaderHttpUrl();
    if (url === null) throw new TandemError('TANDEM_NO_LEADER', 'no leader is known now');
    return url;
  }

  /** Begins an upload (the leader only): commits its record, whose index is its version. */
  async beginHere(name: string, contentType: string): Promise<UploadRecord> {
    checkBlobName(name);
    const at = Date.now();
    const record = {
      id: randomUUID(),
      name,
      chunkBytes: this.chunkBytes,
      contentType,
      startedAtMs: at,
      expiresAtMs: at + this.#uploadTtlMs,
    };
    const write = await this.#node.write({
      type: 'set',
      key: uploadKey(record.id),
      value: encodeUpload(record),
      at,
      expiresAt: record.expiresAtMs,
    });
    return { ...record, version: write.index };
  }

  /**
   * Completes an upload (the leader only): the blob's metadata and the upload record's
   * removal in one transaction watching both, retried when another write slipped between
   * the read and the commit, refused (412) when the condition no longer holds.
   */
  async completeHere(request: CompleteRequest): Promise<BlobMeta> {
    for (let attempt = 1; ; attempt++) {
      const { upload, uploadEntry, current, currentEntry } = await this.#readForComplete(
        request.uploadId,
      );
      checkCondition(upload.name, current, request.condition);
      checkChunkList(request.chunks, request.bytes, upload.chunkBytes);
      const meta: BlobMeta = {
        name: upload.name,
        version: upload.version,
        bytes: request.bytes,
        contentType: upload.contentType,
        chunkBytes: upload.chunkBytes,
        sha256: request.sha256,
        createdAtMs: Date.now(),
        chunks: request.chunks,
      };
      const committed = await this.#transaction(
        [watch(uploadKey(upload.id), uploadEntry), watch(blobKey(upload.name), currentEntry)],
        [
          { type: 'set', key: blobKey(upload.name), value: encodeBlobMeta(meta), at: Date.now() },
          ...deletes([
            uploadKey(upload.id),
            ...(request.parts ?? []).map((n) => partKey(upload.id, n)),
          ]),
        ],
        request.durability,
      );
      if (committed) return meta;
      if (attempt === commitAttemptsMax) {
        throw new TandemError(
          'TANDEM_PRECONDITION_FAILED',
          `blob ${upload.name} changed under ${commitAttemptsMax} attempts to complete its upload`,
        );
      }
    }
  }

  async #readForComplete(uploadId: string) {
    const read = await this.#node.read({ consistency: 'linearizable' }, async (store) => {
      const uploadEntry = await store.get(uploadKey(uploadId), Date.now());
      if (uploadEntry === null) return null;
      const upload = decodeUpload(uploadEntry.value, uploadEntry.version.index);
      const currentEntry = await store.get(blobKey(upload.name), Date.now());
      return { upload, uploadEntry, currentEntry };
    });
    if (read.value === null) {
      throw new TandemError(
        'TANDEM_NOT_FOUND',
        `upload ${uploadId} does not exist: it completed, was aborted, or expired`,
      );
    }
    const { currentEntry } = read.value;
    const current = currentEntry === null ? null : decodeBlobMeta(currentEntry.value);
    return { ...read.value, current };
  }

  /** Deletes a blob (the leader only): its chunks are collected by the repair rounds. */
  async deleteHere(name: string, condition: BlobCondition): Promise<boolean> {
    checkBlobName(name);
    for (let attempt = 1; attempt <= commitAttemptsMax; attempt++) {
      const read = await this.#node.read({ consistency: 'linearizable' }, (store) =>
        store.get(blobKey(name), Date.now()),
      );
      const entry = read.value;
      const current = entry === null ? null : decodeBlobMeta(entry.value);
      checkCondition(name, current, condition);
      if (entry === null) return false;
      const committed = await this.#transaction(
        [watch(blobKey(name), entry)],
        [{ type: 'del', keys: [blobKey(name)], at: Date.now() }],
      );
      if (committed) return true;
    }
    throw new TandemError('TANDEM_PRECONDITION_FAILED', `blob ${name} kept changing while deleted`);
  }

  /** Deletes a blob from any node: the leader commits it. */
  delete(name: string, condition: BlobCondition): Promise<boolean> {
    if (this.#node.status().role === 'leader') return this.deleteHere(name, condition);
    return this.#peers
      .json<{ deleted: boolean }>(this.#leaderUrl(), '/v1/internal/blobs/delete', {
        name,
        condition,
      })
      .then((answer) => answer.deleted);
  }

  async #transaction(
    watched: WatchedKey[],
    steps: TransactionSteps,
    durability?: Durability,
  ): Promise<boolean> {
    const write = await this.#node.write(
      { type: 'multi', watched, steps, at: Date.now() },
      durability === undefined ? {} : { durability },
    );
    const result = write.result;
    if (result === null || !result.ok) {
      throw new TandemError(
        'TANDEM_STORAGE_FAILED',
        `a blob transaction failed: ${String(result && !result.ok ? result.error : 'no result')}`,
      );
    }
    return result.value !== null;
  }

  // ------------------------------------------------------------------ repair

  /** The leader's answer to a node's inventory (the leader only). */
  async planFor(node: NodeId, held: readonly ChunkId[]): Promise<RepairPlan> {
    const { blobs, uploads, appliedIndex } = await this.#committedState();
    return repairPlan(node, held, blobs, uploads, appliedIndex);
  }

  /**
   * The leader's committed blobs and uploads, and an applied index the uploads read is at
   * least as new as. The uploads are read first, then the blobs: an upload is removed only
   * by the transaction that commits its blob (or by its abort or expiry), so a chunk whose
   * upload the first read missed is found by the second, unless it is truly unreferenced.
   * A chunk of a version past the index, an upload begun since, is never called stale.
   */
  async #committedState() {
    const appliedIndex = this.#node.applied().index;
    const read = await this.#node.read({ consistency: 'stale' }, (store) =>
      systemRecords(store, uploadPattern()),
    );
    const uploads = read.value.map((entry) => decodeUpload(entry.value, entry.version.index));
    const blobs = await this.list('', 'linearizable', Number.MAX_SAFE_INTEGER);
    return { blobs, uploads, appliedIndex };
  }

  /** What this node holds and what it still lacks. */
  status(): RepairStatus {
    const stats = this.#chunks.stats();
    return {
      ...this.#status,
      chunksHeld: stats.chunks,
      bytesHeld: stats.bytes,
      corruptFound: this.#chunks.corruptFound,
    };
  }

  /**
   * Every member's `status()`, asked of each over its peer route (this node's own
   * directly); a member that does not answer within the call's time is `reachable: false`.
   */
  async clusterStatus(): Promise<({ node: NodeId; reachable: boolean } & Partial<RepairStatus>)[]> {
    const { membership } = this.#node.status();
    const members = [...membership.voters, ...membership.learners].sort();
    return Promise.all(
      members.map(async (id) => {
        if (id === this.#node.id) return { node: id, reachable: true, ...this.status() };
        const url = this.#memberUrl(id);
        if (url === null) return { node: id, reachable: false };
        try {
          const path = '/v1/internal/blobs/status';
          const answer = await this.#peers.call(url, 'GET', path, null, undefined, statusCallMs);
          if (answer.status !== 200) return { node: id, reachable: false };
          return {
            node: id,
            reachable: true,
            ...(JSON.parse(answer.body.toString()) as RepairStatus),
          };
        } catch {
          return { node: id, reachable: false };
        }
      }),
    );
  }

  /** The blob layer's metrics in Prometheus's text format, labelled with the node. */
  metricsText(): string {
    const status = this.status();
    const node = `{node="${this.#node.id}"}`;
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${node} ${value}`);
    };
    metric('tandem_blob_chunks_held', 'gauge', 'Chunk files this node holds', status.chunksHeld);
    metric(
      'tandem_blob_bytes_held',
      'gauge',
      'Bytes of the chunk files this node holds',
      status.bytesHeld,
    );
    metric(
      'tandem_blob_chunks_missing',
      'gauge',
      'Chunks this node should hold and still lacks (latest repair plan)',
      status.chunksMissing,
    );
    metric(
      'tandem_blob_bytes_missing',
      'gauge',
      'Bytes of the chunks this node should hold and still lacks (latest repair plan)',
      status.bytesMissing,
    );
    metric(
      'tandem_blob_repair_bytes_per_second',
      'gauge',
      'Bytes fetched per second by the repair round in progress, or by the last one that fetched',
      status.repairBytesPerSecond,
    );
    metric(
      'tandem_blob_chunks_repaired_total',
      'counter',
      'Chunks fetched from another holder by repair',
      status.chunksRepaired,
    );
    metric(
      'tandem_blob_bytes_repaired_total',
      'counter',
      'Bytes fetched from other holders by repair',
      status.bytesRepaired,
    );
    metric(
      'tandem_blob_stale_chunks_deleted_total',
      'counter',
      'Stale chunk files deleted',
      status.staleDeleted,
    );
    metric(
      'tandem_blob_corrupt_chunks_total',
      'counter',
      'Chunk files found failing their hash',
      status.corruptFound,
    );
    metric(
      'tandem_blob_chunks_scrubbed_total',
      'counter',
      'Chunk files re-hashed by the scrubber',
      status.scrubbedChunks,
    );
    return `${lines.join('\n')}\n`;
  }

  #scheduleRepair(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#repairing !== null) return this.#scheduleRepair(this.#repairIntervalMs);
      this.#repairing = this.repairOnce()
        .catch((error: unknown) =>
          this.#logger.warn({ err: error }, 'a blob repair round failed; it runs again'),
        )
        .finally(() => {
          this.#repairing = null;
          this.#scheduleRepair(this.#repairIntervalMs);
        });
    }, delayMs);
    this.#timer.unref();
  }

  /**
   * One repair round: on the leader, chunks re-placed away from departed holders first;
   * then this node's inventory against the leader's plan: stale chunks deleted, missing
   * ones fetched from another holder, one at a time.
   */
  async repairOnce(): Promise<void> {
    const status = this.#node.status();
    if (status.leaderId === null) return;
    if (status.role === 'leader') await this.#rereplicateAll();
    const held = this.#chunks.inventory();
    const plan =
      status.role === 'leader'
        ? await this.planFor(this.#node.id, held)
        : await this.#peers.json<RepairPlan>(this.#leaderUrl(), '/v1/internal/blobs/plan', {
            node: this.#node.id,
            held,
          });
    for (const chunk of plan.stale) {
      if (await this.#chunks.delete(chunk)) {
        this.#status = { ...this.#status, staleDeleted: this.#status.staleDeleted + 1 };
      }
    }
    if (plan.stale.length > 0) {
      this.#logger.info({ chunks: plan.stale.length }, 'deleted stale chunks');
    }
    await this.#fetchMissing(plan);
  }

  async #fetchMissing(plan: RepairPlan): Promise<void> {
    let left = plan.missing.length;
    let bytesLeft = plan.missing.reduce((sum, wanted) => sum + wanted.bytes, 0);
    const bytesTotal = bytesLeft;
    this.#status = { ...this.#status, chunksMissing: left, bytesMissing: bytesLeft };
    if (left > 0) {
      this.#logger.info({ chunks: left, bytes: bytesLeft }, 'fetching missing chunks');
    }
    const startedAtMs = performance.now();
    let fetched = 0;
    let loggedAtMs = startedAtMs;
    for (const { chunk, bytes: size, from } of plan.missing) {
      if (this.#closed) return;
      let bytes: Buffer | null = null;
      for (const holder of from) {
        bytes = await this.#fetch(holder, chunk).catch(() => null);
        if (bytes !== null) break;
      }
      left--;
      bytesLeft -= size;
      if (bytes === null) {
        this.#logger.warn({ chunk }, 'no holder could give a missing chunk; trying next round');
        this.#status = { ...this.#status, chunksMissing: left, bytesMissing: bytesLeft };
        continue;
      }
      await this.#chunks.write(chunk, bytes);
      fetched += bytes.length;
      const nowMs = performance.now();
      const rate = Math.round((fetched * 1000) / Math.max(1, nowMs - startedAtMs));
      this.#status = {
        ...this.#status,
        chunksMissing: left,
        bytesMissing: bytesLeft,
        repairBytesPerSecond: rate,
        chunksRepaired: this.#status.chunksRepaired + 1,
        bytesRepaired: this.#status.bytesRepaired + bytes.length,
      };
      if (nowMs - loggedAtMs >= repairLogEveryMs && left > 0) {
        loggedAtMs = nowMs;
        this.#logger.info(
          { chunksLeft: left, bytesLeft, bytesTotal, bytesPerSecond: rate },
          'fetching missing chunks: progress',
        );
      }
    }
    this.#status = { ...this.#status, lastRepairAtMs: Date.now() };
    if (plan.missing.length > 0) {
      this.#logger.info(
        {
          repaired: plan.missing.length - left,
          total: plan.missing.length,
          bytes: fetched,
          bytesPerSecond: this.#status.repairBytesPerSecond,
        },
        'missing chunks fetched',
      );
    }
  }

  /** The leader re-places every chunk whose holder left the voters. */
  async #rereplicateAll(): Promise<void> {
    const voters = this.#node.status().membership.voters;
    const blobs = await this.list('', 'linearizable', Number.MAX_SAFE_INTEGER);
    for (const blob of blobs) {
      const moved = rereplicate(blob, voters, this.replicas);
      if (moved === null) continue;
      const entry = await this.#node.read({ consistency: 'linearizable' }, (store) =>
        store.get(blobKey(blob.name), Date.now()),
      );
      if (entry.value === null || decodeBlobMeta(entry.value.value).version !== blob.version)
        continue;
      await this.#transaction(
        [watch(blobKey(blob.name), entry.value)],
        [{ type: 'set', key: blobKey(blob.name), value: encodeBlobMeta(moved), at: Date.now() }],
      );
      this.#logger.info(
        { blob: blob.name, version: blob.version },
        're-placed chunks of departed holders',
      );
    }
  }
}

/** Step 3's request: the upload, its size and hash, its chunks, and the condition. */
export interface CompleteRequest {
  readonly uploadId: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly chunks: readonly ChunkMeta[];
  readonly condition: BlobCondition;
  /** A resumable upload's chunk records, removed with the upload record. */
  readonly parts?: readonly number[];
  /** The metadata's commit asks for this much (the request's `?ack=`); the cluster's otherwise. */
  readonly durability?: Durability;
}

/** DEL steps for `keys`, at most `delKeysMax` keys each (DEL's own limit). */
function deletes(keys: readonly Buffer[]): { type: 'del'; keys: Buffer[]; at: number }[] {
  const steps: { type: 'del'; keys: Buffer[]; at: number }[] = [];
  for (let i = 0; i < keys.length; i += delKeysMax) {
    steps.push({ type: 'del', keys: keys.slice(i, i + delKeysMax), at: Date.now() });
  }
  return steps;
}

type TransactionSteps = Parameters<NodeHandle['write']>[0] extends infer C
  ? C extends { type: 'multi'; steps: infer S }
    ? S
    : never
  : never;

/**
 * The live records of the system database whose stored keys match `pattern`, in key
 * order: one scan (both stores answer a scan of that database in one page, from its keys
 * alone), then each record's entry.
 */
async function systemRecords(store: StoreReader, pattern: Buffer): Promise<KvEntry[]> {
  const now = Date.now();
  const page = await store.scan(0, { match: pattern, db: systemDatabase }, now);
  assert(page.cursor === 0, 'a scan of the system database answers in one page');
  const entries: KvEntry[] = [];
  for (const key of [...page.keys].sort(Buffer.compare)) {
    const entry = await store.get(key, now);
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

/** The peer route's path of a chunk. */
export function chunkPath(id: ChunkId): string {
  return `/v1/internal/chunks/${id.hash}/${id.version}`;
}

function watch(key: Buffer, entry: KvEntry | null): WatchedKey {
  return {
    key,
    seen:
      entry === null
        ? null
        : { index: entry.version.index, term: entry.version.term, expiresAt: entry.expiresAt },
  };
}

/** Refuses (412) a write whose condition the current version does not meet. */
export function checkCondition(name: string, current: BlobMeta | null, condition: BlobCondition) {
  const version = current?.version ?? null;
  if (condition.ifMatch !== undefined && version !== condition.ifMatch) {
    throw new TandemError(
      'TANDEM_PRECONDITION_FAILED',
      `blob ${name} is at version ${version ?? 'none'}, not ${condition.ifMatch}`,
    );
  }
  if (condition.ifNoneMatch === '*' && version !== null) {
    throw new TandemError('TANDEM_PRECONDITION_FAILED', `blob ${name} exists (version ${version})`);
  }
  if (typeof condition.ifNoneMatch === 'number' && version === condition.ifNoneMatch) {
    throw new TandemError('TANDEM_PRECONDITION_FAILED', `blob ${name} is at version ${version}`);
  }
}

/**
 * Cuts a byte stream into pieces of exactly `size` bytes (the last one shorter), each
 * copied once into a buffer of its own (the stream may reuse its parts once consumed).
 */
export async function* cut(body: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let piece = Buffer.allocUnsafe(size);
  let held = 0;
  for await (const part of body) {
    let offset = 0;
    while (offset < part.byteLength) {
      const take = Math.min(size - held, part.byteLength - offset);
      piece.set(part.subarray(offset, offset + take), held);
      held += take;
      offset += take;
      if (held === size) {
        yield piece;
        piece = Buffer.allocUnsafe(size);
        held = 0;
      }
    }
  }
  if (held > 0) yield piece.subarray(0, held);
}
