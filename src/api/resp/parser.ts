/**
 * The RESP2 request parser: bytes in, commands (arrays of byte strings) out, with no
 * socket. It accepts what a Redis server accepts from a client: multibulk requests
 * (`*<n>\r\n$<len>\r\n<bytes>\r\n...`) and inline commands (`SET k v\r\n`, quotes allowed),
 * with Redis's limits and Redis's exact protocol error texts (networking.c,
 * `processMultibulkBuffer` and `processInlineBuffer`), so that a client sees the same
 * errors against Tandem as against Redis.
 *
 * It resumes across chunks without rescanning: a partial line remembers how far it was
 * searched, and a bulk string being received is copied once into a buffer of its final
 * size, however many chunks it arrives in.
 */

/** The longest bulk string a request may carry by default (Redis's `proto-max-bulk-len`). */
export const bulkBytesMaxDefault = 512 * 1024 * 1024;
/** The most arguments one multibulk request may have (Redis's classic limit). */
export const multibulkLengthMax = 1024 * 1024;
/**
 * The longest inline request, and the longest `*<n>` or `$<len>` line, in bytes (Redis's
 * PROTO_INLINE_MAX_SIZE): past it without a line end, the client is not speaking RESP.
 */
export const inlineBytesMax = 64 * 1024;
/**
 * Before a client has authenticated, Redis accepts only small requests, so that a
 * stranger cannot make the server buffer much: at most this many arguments...
 */
export const unauthenticatedMultibulkLengthMax = 10;
/** ...and bulk strings of at most this many bytes. */
export const unauthenticatedBulkBytesMax = 16 * 1024;

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;

/** A request the client framed wrongly; its message is Redis's text, without the `ERR `. */
export class RespProtocolError extends Error {
  override readonly name = 'RespProtocolError';
}

/** Options of a parser. */
export interface RequestParserOptions {
  /** The longest bulk string accepted (default `bulkBytesMaxDefault`). */
  readonly bulkBytesMax?: number;
}

/** One parsed command: its arguments as bytes, the name first. */
export type RespCommand = Buffer[];

/**
 * Where the parser stands between chunks:
 * - `start`: at the start of a request;
 * - `argCount`: inside the `*<n>` line;
 * - `bulkHeader`: expecting a `$<len>` line for argument `args.length`;
 * - `bulkBody`: copying `bulk` (the argument's bytes, then its `\r\n`);
 * - `inline`: inside an inline request line.
 */
type State = 'start' | 'argCount' | 'bulkHeader' | 'bulkBody' | 'inline';

/** A resumable RESP2 request parser. After a protocol error it stays failed (`failure`). */
export class RequestParser {
  readonly #bulkBytesMax: number;
  /** Unconsumed bytes; `#buffer[#offset]` is the next byte to parse. */
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;
  /** How far past `#offset` the current line has already been searched for its end. */
  #scanned = 0;
  #state: State = 'start';
  #argsExpected = 0;
  #args: Buffer[] = [];
  /** The argument being received and how many of its bytes (plus `\r\n`) have arrived. */
  #bulk: Buffer | null = null;
  #bulkFilled = 0;
  #failure: RespProtocolError | null = null;
  #unauthenticated = false;
  /** Set after an AUTH, HELLO or TANDEM.LINK parsed while unauthenticated. */
  #paused = false;

  constructor(options: RequestParserOptions = {}) {
    this.#bulkBytesMax = options.bulkBytesMax ?? bulkBytesMaxDefault;
  }

  /**
   * Whether the client has yet to authenticate: then requests are held to the small
   * limits Redis sets for strangers, and parsing pauses after an AUTH or HELLO so that the
   * caller can run it and say (through this setter and `resume`) whether the rest of the
   * input is parsed with the small limits or the normal ones, as Redis, which parses one
   * command at a time, would.
   */
  set unauthenticated(value: boolean) {
    this.#unauthenticated = value;
  }

  /** Whether parsing paused after an AUTH or HELLO (see `unauthenticated`). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Parses on after a pause; returns the commands that completes. */
  resume(): RespCommand[] {
    this.#paused = false;
    return this.feed(new Uint8Array(0));
  }

  /** Bytes held that do not yet form a whole command (for limits and metrics). */
  get bufferedBytes(): number {
    return this.#buffer.length - this.#offset + this.#bulkFilled;
  }

  /** The protocol error met, if any: then the connection must be answered and closed. */
  get failure(): RespProtocolError | null {
    return this.#failure;
  }

  /**
   * Feeds the next chunk and returns every command it completes, in order. When the input
   * stops being RESP, returns the commands completed before that point and sets `failure`
   * (Redis too runs the commands before a protocol error, then closes); a failed parser
   * takes nothing more.
   */
  feed(chunk: Uint8Array): RespCommand[] {
    if (this.#failure !== null) return [];
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buffer =
      this.#offset >= this.#buffer.length
        ? bytes
        : Buffer.concat([this.#buffer.subarray(this.#offset), bytes]);
    this.#offset = 0;
    const commands: RespCommand[] = [];
    try {
      while (!this.#paused && this.#step(commands)) {
        if (this.#unauthenticated && commands.length > 0) this.#pauseAfterAuth(commands);
      }
    } catch (error) {
      if (!(error instanceof RespProtocolError)) throw error;
      this.#failure = error;
      this.#buffer = Buffer.alloc(0);
      this.#offset = 0;
      this.#bulk = null;
      this.#bulkFilled = 0;
      return commands;
    }
    if (this.#offset >= this.#buffer.length) {
      this.#buffer = Buffer.alloc(0);
      this.#offset = 0;
    }
    return commands;
  }

  #pauseAfterAuth(commands: RespCommand[]): void {
    const name = commands[commands.length - 1]?.[0];
    if (name === undefined || name.length < 4 || name.length > 11) return;
    const upper = name.toString('latin1').toUpperCase();
    // TANDEM.LINK: a follower's forwarding link proving it is a node of the cluster.
    if (upper === 'AUTH' || upper === 'HELLO' || upper === 'TANDEM.LINK') this.#paused = true;
  }

  /** Advances by one element; false when more bytes are needed. */
  #step(commands: RespCommand[]): boolean {
    switch (this.#state) {
      case 'start':
        if (this.#offset >= this.#buffer.length) return false;
        this.#state = this.#buffer[this.#offset] === STAR ? 'argCount' : 'inline';
        this.#scanned = 0;
        return true;
      case 'argCount':
        return this.#argCount();
      case 'bulkHeader':
        return this.#bulkHeader(commands);
      case 'bulkBody':
        return this.#bulkBody(commands);
      case 'inline':
        return this.#inline(commands);
    }
  }

  /**
   * The end of the line starting at `#offset`: the index of its `\r`, or -1 when the `\r`
   * and the byte after it have not both arrived. Like Redis, the byte after `\r` is taken
   * as the `\n` without looking at it.
   */
  #lineEnd(tooLong: string): number {
    const from = this.#offset + this.#scanned;
    const cr = this.#buffer.indexOf(CR, from);
    if (cr === -1 || cr + 1 >= this.#buffer.length) {
      const searched = (cr === -1 ? this.#buffer.length : cr) - this.#offset;
      if (searched > inlineBytesMax) throw new RespProtocolError(tooLong);
      this.#scanned = searched;
      return -1;
    }
    return cr;
  }

  #argCount(): boolean {
    const cr = this.#lineEnd('Protocol error: too big mbulk count string');
    if (cr === -1) return false;
    const count = parseInteger(this.#buffer, this.#offset + 1, cr);
    if (count === null || count > multibulkLengthMax) {
      throw new RespProtocolError('Protocol error: invalid multibulk length');
    }
    if (this.#unauthenticated && count > unauthenticatedMultibulkLengthMax) {
      throw new RespProtocolError('Protocol error: unauthenticated multibulk length');
    }
    this.#offset = cr + 2;
    this.#scanned = 0;
    if (count <= 0) {
      // `*0` and `*-1` are empty requests: Redis skips them without a reply.
      this.#state = 'start';
      return true;
    }
    this.#argsExpected = count;
    this.#args = [];
    this.#state = 'bulkHeader';
    return true;
  }

  #bulkHeader(commands: RespCommand[]): boolean {
    const cr = this.#lineEnd('Protocol error: too big bulk count string');
    if (cr === -1) return false;
    const first = this.#buffer[this.#offset];
    if (first !== DOLLAR) {
      throw new RespProtocolError(
        `Protocol error: expected '$', got '${String.fromCharCode(first)}'`,
      );
    }
    const length = parseInteger(this.#buffer, this.#offset + 1, cr);
    if (length === null || length < 0 || length > this.#bulkBytesMax) {
      throw new RespProtocolError('Protocol error: invalid bulk length');
    }
    if (this.#unauthenticated && length > unauthenticatedBulkBytesMax) {
      throw new RespProtocolError('Protocol error: unauthenticated bulk length');
    }
    this.#offset = cr + 2;
    this.#scanned = 0;
    const available = this.#buffer.length - this.#offset;
    if (available >= length + 2) {
      // The whole argument is here: slice it without copying.
      const arg = this.#buffer.subarray(this.#offset, this.#offset + length);
      this.#offset += length + 2;
      this.#finishArg(arg, commands);
      return true;
    }
    // The argument spans chunks: copy each chunk's part once into its final buffer.
    this.#bulk = Buffer.allocUnsafe(length + 2);
    this.#bulkFilled = 0;
    this.#state = 'bulkBody';
    return true;
  }

  #bulkBody(commands: RespCommand[]): boolean {
    const bulk = this.#bulk as Buffer;
    const copied = this.#buffer.copy(bulk, this.#bulkFilled, this.#offset);
    this.#bulkFilled += copied;
    this.#offset += copied;
    if (this.#bulkFilled < bulk.length) return false;
    this.#bulk = null;
    this.#bulkFilled = 0;
    // The trailing `\r\n` is skipped unchecked, as Redis does.
    this.#finishArg(bulk.subarray(0, bulk.length - 2), commands);
    return true;
  }

  #finishArg(arg: Buffer, commands: RespCommand[]): void {
    this.#args.push(arg);
    if (this.#args.length < this.#argsExpected) {
      this.#state = 'bulkHeader';
      return;
    }
    commands.push(this.#args);
    this.#args = [];
    this.#state = 'start';
  }

  #inline(commands: RespCommand[]): boolean {
    const from = this.#offset + this.#scanned;
    const lf = this.#buffer.indexOf(LF, from);
    if (lf === -1) {
      this.#scanned = this.#buffer.length - this.#offset;
      if (this.#scanned > inlineBytesMax) {
        throw new RespProtocolError('Protocol error: too big inline request');
      }
      return false;
    }
    let end = lf;
    if (end > this.#offset && this.#buffer[end - 1] === CR) end--;
    const args = splitInlineArgs(this.#buffer.subarray(this.#offset, end));
    if (args === null) throw new RespProtocolError('Protocol error: unbalanced quotes in request');
    this.#offset = lf + 1;
    this.#scanned = 0;
    this.#state = 'start';
    // An empty line is no command (Redis skips it too).
    if (args.length > 0) commands.push(args);
    return true;
  }
}

/**
 * Redis's `string2ll` on `bytes[from, to)`: an optional `-`, then digits with no leading
 * zero (except `0` itself), no `+`, no spaces; null when malformed or not a safe integer.
 */
export function parseInteger(bytes: Uint8Array, from: number, to: number): number | null {
  if (from >= to) return null;
  let i = from;
  const negative = bytes[i] === 45; // '-'
  if (negative) i++;
  if (i >= to) return null;
  if (bytes[i] === 48 /* '0' */) {
    return i + 1 === to && !negative ? 0 : null;
  }
  let value = 0;
  for (; i < to; i++) {
    const digit = bytes[i] - 48;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
    if (value > Number.MAX_SAFE_INTEGER) return null;
  }
  return negative ? -value : value;
}

function isSpace(byte: number): boolean {
  // isspace() in the C locale: space, \t, \n, \v, \f, \r.
  return byte === 32 || (byte >= 9 && byte <= 13);
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  if (byte >= 97 && byte <= 102) return byte - 87;
  if (byte >= 65 && byte <= 70) return byte - 55;
  return -1;
}

const escapes: Readonly<Record<number, number>> = { 110: LF, 114: CR, 116: 9, 98: 8, 97: 7 };

/**
 * Redis's `sdssplitargs` on bytes: arguments separated by spaces, `"..."` with C escapes
 * (`\n`, `\xff`, ...), `'...'` with only `\'`. A closing quote must be followed by a space
 * or the end. Returns null on unbalanced quotes.
 */
export function splitInlineArgs(line: Uint8Array): Buffer[] | null {
  const args: Buffer[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && isSpace(line[i])) i++;
    if (i >= line.length) return args;
    const current: number[] = [];
    let quote = 0; // 0 outside quotes, else the quote byte
    for (;;) {
      if (i >= line.length) {
        if (quote !== 0) return null;
        break;
      }
      const byte = line[i];
      if (quote === 0) {
        if (isSpace(byte)) break;
        if (byte === 34 || byte === 39) quote = byte;
        else current.push(byte);
        i++;
        continue;
      }
      if (quote === 34 && byte === 92 && i + 3 < line.length && line[i + 1] === 120) {
        const high = hexValue(line[i + 2]);
        const low = hexValue(line[i + 3]);
        if (high >= 0 && low >= 0) {
          current.push(high * 16 + low);
          i += 4;
          continue;
        }
      }
      if (byte === 92 && i + 1 < line.length && (quote === 34 || line[i + 1] === 39)) {
        const next = line[i + 1];
        current.push(quote === 34 ? (escapes[next] ?? next) : next);
        i += 2;
        continue;
      }
      if (byte === quote) {
        // A closing quote must be followed by a space or the end of the line.
        if (i + 1 < line.length && !isSpace(line[i + 1])) return null;
        i++;
        break;
      }
      current.push(byte);
      i++;
    }
    args.push(Buffer.from(current));
  }
}
