/**
 * PostgreSQL's COPY text format, for converting snapshot images between the two stores: a
 * parser that takes the bytes of `COPY ... TO STDOUT` in pieces cut anywhere and yields
 * whole rows, and an encoder that writes rows for `COPY ... FROM STDIN`.
 *
 * The format: one row per line ended by `\n`, fields separated by a tab, `\N` alone for
 * NULL, and backslash escapes for the bytes that would break that framing. A raw tab or
 * newline byte never occurs inside a field, so rows and fields are cut on bytes before any
 * escape is undone, and text is decoded only once a field is whole.
 */
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';

/**
 * The longest row the parser holds while it waits for the row's end. A key-value row is
 * at most about twice `valueBytesMax` (its value travels as hex); user rows larger than
 * this cannot be converted.
 */
export const copyRowBytesMax = 64 * 1024 * 1024;
/** The size the encoder gathers rows up to before it hands a chunk to COPY. */
export const copyChunkBytes = 256 * 1024;

/** One field of a row: its unescaped bytes, or null for SQL NULL. */
export type CopyField = Buffer | null;

const tab = 0x09;
const newline = 0x0a;
const backslash = 0x5c;

/** The byte each single-letter escape stands for. */
const letterEscapes: ReadonlyMap<number, number> = new Map([
  [0x62, 0x08], // \b
  [0x66, 0x0c], // \f
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
  [0x76, 0x0b], // \v
]);

function corrupt(message: string): TandemError {
  return new TandemError('TANDEM_CORRUPT', message);
}

function isOctal(byte: number | undefined): byte is number {
  return byte !== undefined && byte >= 0x30 && byte <= 0x37;
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

/**
 * Undoes the escapes of one field, as PostgreSQL reads them: `\b \f \n \r \t \v`, up to
 * three octal digits, `\x` with one or two hex digits, and any other byte after a
 * backslash standing for itself. A field without a backslash is returned without copying.
 */
export function unescapeField(raw: Buffer): Buffer {
  if (!raw.includes(backslash)) return raw;
  // The result is never longer than the field: every escape shrinks or keeps its length.
  const out = Buffer.allocUnsafe(raw.byteLength);
  let length = 0;
  for (let i = 0; i < raw.byteLength; i++) {
    const byte = raw[i] as number;
    if (byte !== backslash) {
      out[length++] = byte;
      continue;
    }
    if (i + 1 >= raw.byteLength) throw corrupt('a COPY field ends with a lone backslash');
    const next = raw[++i] as number;
    if (isOctal(next)) {
      let value = next - 0x30;
      for (let digits = 1; digits < 3 && isOctal(raw[i + 1]); digits++) {
        value = value * 8 + ((raw[++i] as number) - 0x30);
      }
      out[length++] = value & 0xff;
    } else if (next === 0x78 && hexValue(raw[i + 1]) >= 0) {
      let value = hexValue(raw[++i]);
      if (hexValue(raw[i + 1]) >= 0) value = value * 16 + hexValue(raw[++i]);
      out[length++] = value;
    } else {
      out[length++] = letterEscapes.get(next) ?? next;
    }
  }
  return out.subarray(0, length);
}

/** Cuts one line (without its newline) into fields, each unescaped, `\N` as null. */
function parseLine(line: Buffer, columns: number): CopyField[] {
  const fields: CopyField[] = [];
  let start = 0;
  for (;;) {
    const end = line.indexOf(tab, start);
    const raw = line.subarray(start, end === -1 ? line.byteLength : end);
    const isNull = raw.byteLength === 2 && raw[0] === backslash && raw[1] === 0x4e;
    fields.push(isNull ? null : unescapeField(raw));
    if (fields.length > columns) break;
    if (end === -1) break;
    start = end + 1;
  }
  if (fields.length !== columns) {
    throw corrupt(`a COPY row has ${fields.length} fields where its table has ${columns} columns`);
  }
  return fields;
}

/**
 * Parses COPY text data of a table of `columns` columns, given in pieces cut anywhere.
 * Holds at most one unfinished row, of at most `rowBytesMax` bytes.
 */
export class CopyTextParser {
  readonly #columns: number;
  readonly #rowBytesMax: number;
  /** The start of an unfinished row, in the pieces it arrived in. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(columns: number, rowBytesMax = copyRowBytesMax) {
    assert(Number.isSafeInteger(columns) && columns > 0, `a COPY table of ${columns} columns`);
    this.#columns = columns;
    this.#rowBytesMax = rowBytesMax;
  }

  /** The rows that `piece` completes, in order. */
  *push(piece: Buffer): Generator<CopyField[]> {
    let start = 0;
    for (;;) {
      const end = piece.indexOf(newline, start);
      if (end === -1) {
        this.#keep(piece.subarray(start));
        return;
      }
      yield parseLine(this.#takeLine(piece.subarray(start, end)), this.#columns);
      start = end + 1;
    }
  }

  /** Checks that the data ended with a whole row. */
  end(): void {
    if (this.#pendingBytes > 0 || this.#pending.length > 0) {
      throw corrupt(`the COPY data ends inside a row (${this.#pendingBytes} bytes left over)`);
    }
  }

  #keep(part: Buffer): void {
    if (part.byteLength === 0) return;
    this.#pendingBytes += part.byteLength;
    if (this.#pendingBytes > this.#rowBytesMax) {
      throw corrupt(`a COPY row is longer than the maximum of ${this.#rowBytesMax} bytes`);
    }
    // A copy: the piece's buffer may be reused by its reader once this call returns.
    this.#pending.push(Buffer.from(part));
  }

  /** The whole line ending with `last`: the pending start joined with it. */
  #takeLine(last: Buffer): Buffer {
    if (this.#pending.length === 0) return last;
    this.#keep(last);
    const line = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return line;
  }
}

/** One value to write: text, bytes (written as a bytea's hex form), or null. */
export type CopyValue = string | Uint8Array | null;

/** Escapes text for a COPY field; PostgreSQL text cannot hold U+0000, so that is refused. */
export function escapeText(text: string): string {
  if (text.includes('\0')) {
    throw corrupt('a text value holds the character U+0000, which PostgreSQL text cannot hold');
  }
  return text.replace(/[\\\n\r\t]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t',
  );
}

/** One row as a line of COPY text, newline included. */
export function encodeRow(values: readonly CopyValue[]): string {
  const fields = values.map((value) => {
    if (value === null) return '\\N';
    if (typeof value === 'string') return escapeText(value);
    // bytea's hex input form, \x followed by the bytes, its backslash escaped for COPY.
    return `\\\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  });
  return `${fields.join('\t')}\n`;
}

/**
 * Gathers encoded rows into chunks of about `copyChunkBytes`, so that COPY receives a few
 * large writes instead of one per row; no chunk holds more than one row past that size.
 */
export function* copyChunks(rows: Iterable<readonly CopyValue[]>): Generator<Buffer> {
  let lines: string[] = [];
  let bytes = 0;
  for (const row of rows) {
    const line = encodeRow(row);
    lines.push(line);
    bytes += Buffer.byteLength(line, 'utf8');
    if (bytes >= copyChunkBytes) {
      yield Buffer.from(lines.join(''), 'utf8');
      lines = [];
      bytes = 0;
    }
  }
  if (lines.length > 0) yield Buffer.from(lines.join(''), 'utf8');
}
