import { Packr } from 'msgpackr';

/**
 * The msgpack codec of frame payloads. Records (msgpackr's shared-structure extension) are
 * off, so every frame decodes on its own, whatever frames came before it on any link.
 * Binary fields are copied out on decode, so that a small Uint8Array kept in memory (an
 * entry in the core's log) does not pin the whole frame or socket chunk it arrived in.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** The longest decode error text kept: msgpackr quotes the data it read, which may be big. */
const decodeErrorCharsMax = 200;

/** Encodes a payload; throws on a value msgpack cannot carry (a programmer error). */
export function encodePayload(value: unknown): Buffer {
  return packr.pack(value);
}

/** The outcome of decoding one payload. */
export type DecodeResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** Decodes one payload, which must hold exactly one msgpack value and nothing after it. */
export function decodePayload(bytes: Uint8Array): DecodeResult {
  try {
    return { ok: true, value: packr.unpack(bytes) };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `undecodable payload: ${text.slice(0, decodeErrorCharsMax)}` };
  }
}
