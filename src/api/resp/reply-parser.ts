/**
 * A RESP2 reply parser for the one client Tandem runs itself: a follower forwarding writes
 * to the leader's RESP port. It parses replies from a Tandem leader, which are small (a
 * write's answer; at most one value of `valueBytesMax`), so an incomplete reply is parsed
 * again from its start when more bytes arrive rather than resumed mid-way: that costs a few
 * rescans of at most one value and keeps this parser a plain recursive function.
 */
import { parseInteger } from './parser.js';
import { error, simple, type Reply } from './reply.js';

/** The deepest nesting of arrays accepted: Tandem's replies nest two or three deep. */
export const replyDepthMax = 8;
/** The most elements of one reply array. */
export const replyElementsMax = 1024 * 1024;
/** The longest bulk string of a reply. */
export const replyBulkBytesMax = 64 * 1024 * 1024;

/** A reply stream that is not RESP2: the connection must be dropped. */
export class ReplyProtocolError extends Error {
  override readonly name = 'ReplyProtocolError';
}

type Parsed = { readonly reply: Reply; readonly end: number } | null;

/** Parses the replies of a stream of chunks, in order. */
export class ReplyParser {
  #buffer: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; returns every reply it completes. Throws `ReplyProtocolError`. */
  feed(chunk: Buffer): Reply[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const replies: Reply[] = [];
    let offset = 0;
    for (;;) {
      const parsed = parseReply(this.#buffer, offset, 0);
      if (parsed === null) break;
      replies.push(parsed.reply);
      offset = parsed.end;
    }
    this.#buffer = this.#buffer.subarray(offset);
    return replies;
  }
}

function line(buffer: Buffer, from: number): { text: Buffer; end: number } | null {
  const cr = buffer.indexOf('\r\n', from);
  return cr === -1 ? null : { text: buffer.subarray(from, cr), end: cr + 2 };
}

function integerOf(text: Buffer): number {
  const value = parseInteger(text, 0, text.length);
  if (value === null) throw new ReplyProtocolError(`bad integer ${JSON.stringify(String(text))}`);
  return value;
}

/** An integer reply: a number, or a bigint past the safe range (a 64-bit BITFIELD field). */
function replyInteger(text: Buffer): number | bigint {
  const value = parseInteger(text, 0, text.length);
  if (value !== null) return value;
  const digits = text.toString('latin1');
  if (!/^-?[1-9][0-9]{15,18}$/.test(digits)) {
    throw new ReplyProtocolError(`bad integer ${JSON.stringify(digits)}`);
  }
  return BigInt(digits);
}

/** One reply starting at `from`, or null when it has not fully arrived. */
function parseReply(buffer: Buffer, from: number, depth: number): Parsed {
  if (from >= buffer.length) return null;
  const header = line(buffer, from + 1);
  if (header === null) return null;
  const text = header.text;
  switch (buffer[from]) {
    case 43: // '+'
      return { reply: simple(text.toString('utf8')), end: header.end };
    case 45: // '-'
      return { reply: error(text.toString('utf8')), end: header.end };
    case 58: // ':'
      return { reply: replyInteger(text), end: header.end };
    case 36: {
      // '$'
      const length = integerOf(text);
      if (length === -1) return { reply: null, end: header.end };
      if (length < 0 || length > replyBulkBytesMax) {
        throw new ReplyProtocolError(`bad bulk length ${length}`);
      }
      if (buffer.length < header.end + length + 2) return null;
      const bytes = Buffer.from(buffer.subarray(header.end, header.end + length));
      return { reply: bytes, end: header.end + length + 2 };
    }
    case 42: // '*'
      return parseArray(buffer, header.end, integerOf(text), depth);
    default:
      throw new ReplyProtocolError(`unexpected reply type byte ${buffer[from]}`);
  }
}

function parseArray(buffer: Buffer, from: number, count: number, depth: number): Parsed {
  if (count === -1) return { reply: null, end: from };
  if (count < 0 || count > replyElementsMax || depth >= replyDepthMax) {
    throw new ReplyProtocolError(`bad array of ${count} at depth ${depth}`);
  }
  const items: Reply[] = [];
  let offset = from;
  for (let i = 0; i < count; i++) {
    const item = parseReply(buffer, offset, depth + 1);
    if (item === null) return null;
    items.push(item.reply);
    offset = item.end;
  }
  return { reply: items, end: offset };
}
