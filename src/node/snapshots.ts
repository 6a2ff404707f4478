import { crc32c } from '@node-rs/crc32';
import type { NodeId, SnapshotMessage, SnapshotMeta } from '../core/types.js';
import type { DiskStorage } from '../log/disk-storage.js';
import { formatChecksum } from '../log/snapshot-files.js';
import type { Logger } from '../transport/contract.js';
import type { PeerTransport } from '../transport/transport.js';

/** One chunk of a snapshot streamed from the leader to a follower. */
export interface SnapshotChunkFrame {
  readonly kind: 'snapshot-chunk';
  /** The header of the core's snapshot message this stream carries. */
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly meta: SnapshotMeta;
  readonly checksum: string;
  readonly totalBytes: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly last: boolean;
}

/** The largest snapshot a follower accepts into memory. */
export const snapshotBytesMax = 1024 * 1024 * 1024;
/** One snapshot stream to a follower. */
interface Stream {
  readonly index: number;
  sentBytes: number;
  totalBytes: number;
  /** Set when a newer snapshot replaced this one. */
  cancelled: boolean;
}

/** How long a stream waits for room in a full send queue before giving up. */
const queueWaitMsMax = 30_000;

/**
 * Streams this node's latest snapshot to followers the core says are behind the
 * compacted log, one stream per follower, in chunks that respect the transport's queue
 * limits. Progress shows in the logs and in `progress()`.
 */
/** What a `SnapshotSender` reports as it streams (for metrics). */
export interface SnapshotStreamObserver {
  sentBytes(bytes: number): void;
  ended(outcome: 'sent' | 'failed'): void;
}

export class SnapshotSender {
  readonly #storage: DiskStorage;
  readonly #transport: PeerTransport;
  readonly #logger: Logger;
  #compaction: Promise<void> = Promise.resolve();
  #streams = new Map<NodeId, Stream>();

  /** Told how each stream ended and of every chunk's bytes sent (the node's metrics). */
  readonly #observe: SnapshotStreamObserver;

  constructor(
    storage: DiskStorage,
    transport: PeerTransport,
    logger: Logger,
    observe: SnapshotStreamObserver = { sentBytes: () => {}, ended: () => {} },
  ) {
    this.#storage = storage;
    this.#transport = transport;
    this.#logger = logger;
    this.#observe = observe;
  }

  /** Streams in progress now. */
  get active(): number {
    return this.#streams.size;
  }

  /** Registers a snapshot being saved: streams wait for it, so they send the newest one. */
  compacting(saving: Promise<void>): void {
    // A failed save is the node's to handle (it stops serving); it must not poison the
    // chain for streams that wait on later saves.
    this.#compaction = this.#compaction.then(() => saving).catch(() => undefined);
  }

  /** Resolves once every snapshot being saved is on disk. */
  ready(): Promise<void> {
    return this.#compaction;
  }

  /** The stream in progress to `id`, if any. */
  progress(id: NodeId): { index: number; sentBytes: number; totalBytes: number } | null {
    const stream = this.#streams.get(id);
    if (stream === undefined) return null;
    return { index: stream.index, sentBytes: stream.sentBytes, totalBytes: stream.totalBytes };
  }

  /** Starts streaming the snapshot a core message names, unless one is already on its way. */
  send(message: SnapshotMessage): void {
    const current = this.#streams.get(message.to);
    if (current !== undefined && current.index === message.meta.index) return;
    // A newer snapshot replaces a stream still running: two interleaved streams would make
    // the follower drop both.
    if (current !== undefined) current.cancelled = true;
    const stream: Stream = {
      index: message.meta.index,
      sentBytes: 0,
      totalBytes: 0,
      cancelled: false,
    };
    this.#streams.set(message.to, stream);
    void this.#stream(message, stream)
      .then((sent) => {
        if (sent) this.#observe.ended('sent');
      })
      .catch((error: unknown) => {
        this.#observe.ended('failed');
        this.#logger.warn({ to: message.to, err: error }, 'snapshot stream failed');
      })
      .finally(() => {
        if (this.#streams.get(message.to) === stream) this.#streams.delete(message.to);
      });
  }

  /** Streams the latest snapshot to `message.to`; true once the whole of it was sent. */
  async #stream(message: SnapshotMessage, stream: Stream): Promise<boolean> {
    await this.ready();
    const info = await this.#storage.snapshots.latest();
    // The latest snapshot goes, even one taken after the core decided to send (it is at
    // or below the commit index all the same); one older than the core named is not out yet.
    if (info === null || info.meta.index < message.meta.index) {
      this.#logger.warn({ to: message.to, wanted: message.meta.index }, 'snapshot not on disk yet');
      return false;
    }
    stream.totalBytes = info.bytes;
    this.#logger.info(
      { to: message.to, index: info.meta.index, bytes: info.bytes },
      'sending a snapshot',
    );
    let nextReportBytes = 0;
    let offset = 0;
    const chunks = this.#storage.snapshots.chunks(info)[Symbol.asyncIterator]();
    let next = await chunks.next();
    for (;;) {
      if (stream.cancelled) return false;
      const data = next.done === true ? new Uint8Array(0) : next.value;
      const following = next.done === true ? next : await chunks.next();
      const last = following.done === true;
      const frame: SnapshotChunkFrame = {
        kind: 'snapshot-chunk',
        from: message.from,
        to: message.to,
        term: message.term,
        meta: info.meta,
        checksum: info.checksum,
        totalBytes: info.bytes,
        offset,
        data,
        last,
      };
      await this.#sendWithRoom(message.to, frame);
      offset += data.byteLength;
      stream.sentBytes = offset;
      this.#observe.sentBytes(data.byteLength);
      if (offset >= nextReportBytes) {
        this.#logger.info(
          { to: message.to, sentBytes: offset, totalBytes: info.bytes },
          'snapshot progress',
        );
        nextReportBytes += Math.max(4 * 1024 * 1024, Math.ceil(info.bytes / 4));
      }
      if (last) break;
      next = following;
    }
    this.#logger.info({ to: message.to, index: info.meta.index }, 'snapshot sent');
    return true;
  }

  async #sendWithRoom(to: NodeId, frame: SnapshotChunkFrame): Promise<void> {
    const deadline = Date.now() + queueWaitMsMax;
    while (!this.#transport.send(to, frame)) {
      if (Date.now() > deadline) throw new Error(`no room to send a snapshot chunk to ${to}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Reassembles snapshot streams and checks them before the core sees them. */
export class SnapshotReceiver {
  readonly #logger: Logger;
  #incoming = new Map<
    NodeId,
    { frame: SnapshotChunkFrame; parts: Uint8Array[]; received: number; crc: number }
  >();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Takes one chunk; returns the core's snapshot message once a whole, sound snapshot is in. */
  accept(from: NodeId, frame: SnapshotChunkFrame): SnapshotMessage | null {
    if (frame.totalBytes > snapshotBytesMax) {
      this.#logger.warn(
        { from, bytes: frame.totalBytes },
        'refused a snapshot over the size limit',
      );
      return null;
    }
    let incoming = this.#incoming.get(from);
    if (frame.offset === 0) {
      // Only the newest stream is kept: a leader that died mid-stream leaves nothing behind.
      this.#incoming.clear();
      incoming = { frame, parts: [], received: 0, crc: 0 };
      this.#incoming.set(from, incoming);
      this.#logger.info(
        { from, index: frame.meta.index, bytes: frame.totalBytes },
        'receiving a snapshot',
      );
    }
    if (
      incoming === undefined ||
      incoming.received !== frame.offset ||
      incoming.frame.meta.index !== frame.meta.index
    ) {
      this.#incoming.delete(from);
      this.#logger.warn(
        { from, offset: frame.offset },
        'snapshot chunk out of order; dropped the stream',
      );
      return null;
    }
    const data = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    incoming.parts.push(data);
    incoming.received += data.length;
    incoming.crc = crc32c(data, incoming.crc);
    if (!frame.last) return null;
    this.#incoming.delete(from);
    const checksum = formatChecksum(incoming.crc);
    if (checksum !== frame.checksum || incoming.received !== frame.totalBytes) {
      this.#logger.warn(
        { from, checksum, expected: frame.checksum },
        'snapshot failed its checksum; dropped',
      );
      return null;
    }
    return {
      type: 'snapshot',
      // The authenticated peer, never what the frame claims.
      from,
      to: frame.to,
      term: frame.term,
      meta: frame.meta,
      data: Buffer.concat(incoming.parts),
    };
  }
}
