import { crc32c } from '@node-rs/crc32';
import { assert } from '../core/assert.js';

/**
 * The framing of every message between nodes, handshake included. Big-endian (network
 * byte order):
 *
 * | offset | bytes | field                                        |
 * | ------ | ----- | -------------------------------------------- |
 * | 0      | 4     | payloadBytes                                 |
 * | 4      | 4     | CRC32C of the payload                        |
 * | 8      | n     | payload (msgpack, or a binary core message)  |
 *
 * The length comes first so that a reader can refuse an oversized frame from its header
 * alone, before it buffers a single byte of the body.
 */
export const frameHeaderBytes = 8;

/** Frames `payload`; the caller has checked it against its frame limit. */
export function encodeFrame(payload: Uint8Array): Buffer {
  assert(payload.byteLength <= 0xffff_ffff, `frame payload of ${payload.byteLength} bytes`);
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payload.byteLength);
  frame.set(payload, frameHeaderBytes);
  return sealFrame(frame);
}

/**
 * Writes the header of `frame`, whose payload was encoded in place after its first
 * `frameHeaderBytes` (so that framing it costs no copy), and returns it.
 */
export function sealFrame(frame: Buffer): Buffer {
  const payloadBytes = frame.byteLength - frameHeaderBytes;
  assert(
    payloadBytes >= 0 && payloadBytes <= 0xffff_ffff,
    `frame payload of ${payloadBytes} bytes`,
  );
  frame.writeUInt32BE(payloadBytes, 0);
  frame.writeUInt32BE(crc32c(frame.subarray(frameHeaderBytes)), 4);
  return frame;
}

/** One step of the parser: a whole frame's payload, or the reason the stream is corrupt. */
export type FrameResult =
  | { readonly status: 'frame'; readonly payload: Buffer }
  | { readonly status: 'corrupt'; readonly reason: string };

/**
 * Cuts a byte stream into frame payloads. Chunks are kept as they arrive and each byte is
 * copied at most once, into the payload it belongs to (not at all when a payload lies
 * within one chunk), so a frame split over many chunks costs linear time, not the
 * quadratic time of concatenating the buffer on every chunk. A corrupt frame stops the
 * parser for good: past a bad length or CRC nothing in the stream can be trusted.
 */
export class FrameParser {
  /** Unread chunks; the first one's first `#headOffset` bytes are already consumed. */
  readonly #chunks: Buffer[] = [];
  #headOffset = 0;
  /** Unread bytes across `#chunks`. */
  #bufferedBytes = 0;
  /** The header of the frame being read, once its eight bytes have arrived. */
  #pending: { readonly payloadBytes: number; readonly crc: number } | null = null;
  #corrupt: string | null = null;

  /** Bytes received and not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Adds bytes read from the stream. */
  push(chunk: Buffer): void {
    if (this.#corrupt !== null || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;
  }

  /**
   * The next frame, or null when more bytes are needed. `frameBytesMax` bounds the payload
   * of a frame whose header has not been read yet; a caller may lower it, say, until its
   * peer is authenticated.
   */
  next(frameBytesMax: number): FrameResult | null {
    if (this.#corrupt !== null) return { status: 'corrupt', reason: this.#corrupt };
    if (this.#pending === null) {
      if (this.#bufferedBytes < frameHeaderBytes) return null;
      const header = this.#take(frameHeaderBytes);
      const payloadBytes = header.readUInt32BE(0);
      if (payloadBytes > frameBytesMax) {
        return this.#fail(`frame of ${payloadBytes} bytes exceeds the limit of ${frameBytesMax}`);
      }
      this.#pending = { payloadBytes, crc: header.readUInt32BE(4) };
    }
    if (this.#bufferedBytes < this.#pending.payloadBytes) return null;
    const payload = this.#take(this.#pending.payloadBytes);
    const expected = this.#pending.crc;
    this.#pending = null;
    if (crc32c(payload) !== expected) return this.#fail('frame CRC32C mismatch');
    return { status: 'frame', payload };
  }

  #fail(reason: string): FrameResult {
    this.#corrupt = reason;
    this.#chunks.length = 0;
    this.#bufferedBytes = 0;
    return { status: 'corrupt', reason };
  }

  /** Removes and returns the next `bytes` bytes; the caller has checked they are buffered. */
  #take(bytes: number): Buffer {
    assert(bytes <= this.#bufferedBytes, `take ${bytes} of ${this.#bufferedBytes} buffered`);
    this.#bufferedBytes -= bytes;
    const head = this.#chunks[0];
    if (head !== undefined && head.length - this.#headOffset >= bytes) {
      // The common case: the bytes lie within one chunk, so a view will do.
      const view = head.subarray(this.#headOffset, this.#headOffset + bytes);
      this.#consumeHead(bytes);
      return view;
    }
    const target = Buffer.allocUnsafe(bytes);
    let written = 0;
    let spent = 0; // Chunks wholly copied, removed from the list at once below.
    while (written < bytes) {
      const chunk = this.#chunks[spent];
      assert(chunk !== undefined, 'buffered bytes counted but not held');
      const wanted = Math.min(bytes - written, chunk.length - this.#headOffset);
      chunk.copy(target, written, this.#headOffset, this.#headOffset + wanted);
      written += wanted;
      if (this.#headOffset + wanted === chunk.length) {
        spent++;
        this.#headOffset = 0;
      } else {
        this.#headOffset += wanted;
      }
    }
    this.#chunks.splice(0, spent);
    return target;
  }

  #consumeHead(bytes: number): void {
    this.#headOffset += bytes;
    if (this.#headOffset === (this.#chunks[0] as Buffer).length) {
      this.#chunks.shift();
      this.#headOffset = 0;
    }
  }
}
