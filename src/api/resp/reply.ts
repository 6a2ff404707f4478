/**
 * Replies and their encoding. A command handler returns a `Reply` value; the encoder
 * writes it in the connection's protocol: RESP2 by default, RESP3 after `HELLO 3` (maps,
 * sets, doubles, verbatim strings and the null type get their own RESP3 types; in RESP2
 * they fall back to arrays, bulk strings and `$-1`, exactly as Redis falls back).
 */

/** A RESP protocol version, as HELLO negotiates it. */
export type Protocol = 2 | 3;

/** A status reply: `+OK`. */
export interface SimpleReply {
  readonly kind: 'simple';
  readonly text: string;
}

/** An error reply; `text` starts with its code (`ERR ...`, `WRONGTYPE ...`). */
export interface ErrorReply {
  readonly kind: 'error';
  readonly text: string;
}

/** A map (RESP3 `%`; a flat array of keys and values in RESP2). */
export interface MapReply {
  readonly kind: 'map';
  readonly entries: readonly (readonly [Reply, Reply])[];
}

/** A set (RESP3 `~`; an array in RESP2). */
export interface SetReply {
  readonly kind: 'set';
  readonly items: readonly Reply[];
}

/** A double (RESP3 `,`; a bulk string in RESP2). */
export interface DoubleReply {
  readonly kind: 'double';
  readonly value: number;
  /** The text to write instead of `formatDouble`'s (a sorted set's score: Redis's `%.17g`). */
  readonly text?: string;
}

/** A verbatim text (RESP3 `=` with format `txt`; a bulk string in RESP2), as INFO answers. */
export interface VerbatimReply {
  readonly kind: 'verbatim';
  readonly text: string;
}

/**
 * An out-of-band message (RESP3 `>`; an array in RESP2), as pub/sub's `message` and
 * `subscribe` are.
 */
export interface PushReply {
  readonly kind: 'push';
  readonly items: readonly Reply[];
}

/** Several replies written one after another for one command (SUBSCRIBE's, one per channel). */
export interface FramesReply {
  readonly kind: 'frames';
  readonly frames: readonly Reply[];
}

/** The null array (RESP2 `*-1`, RESP3 `_`): EXEC's answer when a watched key changed. */
export interface NullArrayReply {
  readonly kind: 'null-array';
}

/** The null array, shared. */
export const nullArray: NullArrayReply = { kind: 'null-array' };

/**
 * Every reply: a number is an integer (a safe integer), a bigint one past the safe range
 * (BITFIELD's 64-bit fields), a string or Buffer a bulk string,
 * null the null bulk string (RESP3 null), an array an array.
 */
export type Reply =
  | number
  | bigint
  | string
  | Buffer
  | null
  | readonly Reply[]
  | SimpleReply
  | ErrorReply
  | MapReply
  | SetReply
  | DoubleReply
  | VerbatimReply
  | PushReply
  | FramesReply
  | NullArrayReply;

/** `+text`; `text` must not hold CR or LF. */
export function simple(text: string): SimpleReply {
  return { kind: 'simple', text };
}

/** `-text`; CR and LF in `text` become spaces, since an error is one line. */
export function error(text: string): ErrorReply {
  return { kind: 'error', text: text.replace(/[\r\n]+/g, ' ') };
}

/** A map reply from pairs. */
export function map(entries: readonly (readonly [Reply, Reply])[]): MapReply {
  return { kind: 'map', entries };
}

/** `+OK`, shared. */
export const ok: SimpleReply = simple('OK');

/**
 * Collects encoded replies for one socket write. Headers and short strings are joined in a
 * string and turned into bytes once; Buffers are kept as they are.
 */
export class ReplyWriter {
  readonly #parts: Buffer[] = [];
  #text = '';
  #bytes = 0;

  /** Appends `reply` encoded in `protocol`. */
  write(reply: Reply, protocol: Protocol): void {
    if (reply === null) return this.#add(protocol === 3 ? '_\r\n' : '$-1\r\n');
    if (typeof reply === 'number' || typeof reply === 'bigint') return this.#add(`:${reply}\r\n`);
    if (typeof reply === 'string') {
      return this.#add(`$${Buffer.byteLength(reply, 'utf8')}\r\n${reply}\r\n`);
    }
    if (Buffer.isBuffer(reply)) {
      this.#add(`$${reply.length}\r\n`);
      this.#addBytes(reply);
      return this.#add('\r\n');
    }
    if (Array.isArray(reply)) return this.#aggregate('*', reply as readonly Reply[], protocol);
    this.#writeTagged(
      reply as Exclude<Reply, number | bigint | string | Buffer | null | readonly Reply[]>,
      protocol,
    );
  }

  #writeTagged(
    reply: Exclude<Reply, number | bigint | string | Buffer | null | readonly Reply[]>,
    protocol: Protocol,
  ): void {
    switch (reply.kind) {
      case 'simple':
        return this.#add(`+${reply.text}\r\n`);
      case 'error':
        return this.#add(`-${reply.text}\r\n`);
      case 'map':
        if (protocol === 3) {
          this.#add(`%${reply.entries.length}\r\n`);
          for (const [key, value] of reply.entries) {
            this.write(key, protocol);
            this.write(value, protocol);
          }
          return;
        }
        return this.#aggregate('*', reply.entries.flat(), protocol);
      case 'set':
        return this.#aggregate(protocol === 3 ? '~' : '*', reply.items, protocol);
      case 'double': {
        const text = reply.text ?? formatDouble(reply.value);
        return protocol === 3 ? this.#add(`,${text}\r\n`) : this.write(text, protocol);
      }
      case 'verbatim':
        if (protocol === 2) return this.write(reply.text, protocol);
        return this.#add(`=${Buffer.byteLength(reply.text, 'utf8') + 4}\r\ntxt:${reply.text}\r\n`);
      case 'push':
        return this.#aggregate(protocol === 3 ? '>' : '*', reply.items, protocol);
      case 'frames':
        for (const frame of reply.frames) this.write(frame, protocol);
        return;
      case 'null-array':
        return this.#add(protocol === 3 ? '_\r\n' : '*-1\r\n');
    }
  }

  #aggregate(type: string, items: readonly Reply[], protocol: Protocol): void {
    this.#add(`${type}${items.length}\r\n`);
    for (const item of items) this.write(item, protocol);
  }

  #add(text: string): void {
    this.#text += text;
  }

  #addBytes(bytes: Buffer): void {
    this.#flushText();
    this.#parts.push(bytes);
    this.#bytes += bytes.length;
  }

  #flushText(): void {
    if (this.#text === '') return;
    const bytes = Buffer.from(this.#text, 'utf8');
    this.#parts.push(bytes);
    this.#bytes += bytes.length;
    this.#text = '';
  }

  /** Everything written so far as one Buffer; the writer is empty afterwards. */
  take(): Buffer {
    this.#flushText();
    const out = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#bytes);
    this.#parts.length = 0;
    this.#bytes = 0;
    return out;
  }
}

/** A double as Redis writes it: `inf`, `-inf`, `nan`, else the shortest exact form. */
function formatDouble(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

/** Encodes one reply on its own (tests and one-off answers). */
export function encodeReply(reply: Reply, protocol: Protocol = 2): Buffer {
  const writer = new ReplyWriter();
  writer.write(reply, protocol);
  return writer.take();
}
