import { Packr } from 'msgpackr';
import type { Message } from '../core/types.js';
import { encodeFrame, frameHeaderBytes, sealFrame } from './frame.js';
import { binaryMessageTag, decodeBinaryMessage, encodeBinaryMessage } from './message-codec.js';

/**
 * The codec of frame payloads. A payload is msgpack, except the runtime's frame of a core
 * message, `{ kind: 'raft', message }`, whose message has a binary form
 * (`message-codec.ts`: the hot replication messages): that payload starts with
 * `binaryMessageTag`, 0xc1, the one byte msgpack never uses, so no msgpack payload starts
 * with it, and decodes to the same `{ kind: 'raft', message }`. Either way a payload
 * decodes to what msgpack would have given for the same value.
 *
 * Records (msgpackr's shared-structure extension) are off, so every frame decodes on its
 * own, whatever frames came before it on any link. Binary fields are copied out on decode,
 * so that a small Uint8Array kept in memory (an entry in the core's log) does not pin the
 * whole frame or socket chunk it arrived in.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** The longest decode error text kept: msgpackr quotes the data it read, which may be big. */
const decodeErrorCharsMax = 200;

/** Encodes a payload; throws on a value msgpack cannot carry (a programmer error). */
export function encodePayload(value: unknown): Buffer {
  const message = raftMessageOf(value);
  return (message === null ? null : encodeBinaryMessage(message)) ?? packr.pack(value);
}

/**
 * Encodes a payload and frames it (`encodeFrame(encodePayload(value))`), writing a binary
 * message straight into the frame instead of copying it there.
 */
export function encodeFramedPayload(value: unknown): Buffer {
  const message = raftMessageOf(value);
  const binary = message === null ? null : encodeBinaryMessage(message, frameHeaderBytes);
  return binary === null ? encodeFrame(packr.pack(value)) : sealFrame(binary);
}

/** The message of a runtime `{ kind: 'raft', message }` frame, or null for any other value. */
function raftMessageOf(value: unknown): Message | null {
  if (typeof value !== 'object' || value === null) return null;
  const frame = value as { readonly kind?: unknown; readonly message?: unknown };
  if (frame.kind !== 'raft' || typeof frame.message !== 'object' || frame.message === null) {
    return null;
  }
  return frame.message as Message;
}

/** The outcome of decoding one payload. */
export type DecodeResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/**
 * Decodes one payload, which must hold exactly one value (binary or msgpack) and nothing
 * after it.
 */
export function decodePayload(bytes: Uint8Array): DecodeResult {
  if (bytes[0] === binaryMessageTag) {
    const decoded = decodeBinaryMessage(bytes);
    return decoded.ok
      ? { ok: true, value: { kind: 'raft', message: decoded.message } }
      : { ok: false, reason: `undecodable payload: ${decoded.reason}` };
  }
  try {
    return { ok: true, value: packr.unpack(bytes) };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `undecodable payload: ${text.slice(0, decodeErrorCharsMax)}` };
  }
}
