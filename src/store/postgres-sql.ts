/**
 * SQLite-style statements made ready for PostgreSQL. Commands carry SQL with `?`, `?NNN`,
 * `:name`, `@name` and `$name` parameters; PostgreSQL numbers its own as `$1..$n`. This
 * module scans a statement by PostgreSQL's lexical rules (string literals with their `E`
 * escapes, quoted identifiers, nested block comments, dollar quotes, `::` casts) and
 * rewrites every parameter found outside them.
 *
 * A parameter can be rewritten two ways. `translateSql` gives `$n` placeholders and their
 * values, for one statement on the extended protocol. `inlineSql` writes each value as a
 * quoted literal: PostgreSQL types a quoted literal exactly as it types a parameter sent as
 * text with no declared type (both are of type `unknown` and take their type from where
 * they stand), which is what node-postgres sends. Inlined statements can therefore be
 * joined into one simple-query string, and a whole batch of commands costs one round trip
 * instead of one per statement, with the same meaning as bound parameters.
 *
 * Values: strings as they are, numbers in their shortest exact decimal form, bigints as
 * their exact digits (so an int8 column gets all 64 bits), booleans as 1 and 0 (as the
 * SQLite store binds them), null as NULL.
 */
import type { SqlParams, SqlValue } from './commands.js';

/** A statement that cannot be prepared for PostgreSQL; the message is the command's error. */
export class SqlTranslationError extends Error {
  override readonly name = 'SqlTranslationError';
}

/** A piece of a scanned statement: text to copy, or a reference to a parameter. */
type Piece =
  | { readonly text: string }
  | { readonly position: number }
  | { readonly named: string; readonly written: string };

const isWordStart = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c.charCodeAt(0) > 0x7f;
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isWordPart = (c: string): boolean => isWordStart(c) || isDigit(c) || c === '$';

/** Scans one statement into pieces; stops at the first `;` outside quotes and comments. */
function scan(sql: string): Piece[] {
  const pieces: Piece[] = [];
  let copyFrom = 0;
  let nextPosition = 1;
  let i = 0;
  const cut = (to: number): void => {
    if (to > copyFrom) pieces.push({ text: sql.slice(copyFrom, to) });
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1] ?? '';
    if (c === ';') {
      cut(i);
      if (!onlyTrailing(sql, i)) {
        throw new SqlTranslationError('one SQL string holds more than one statement');
      }
      return pieces;
    }
    if (c === '?' || ((c === ':' || c === '@' || c === '$') && isWordStart(next))) {
      const end = parameterEnd(sql, i);
      if (c === '$' && sql[end] === '$') {
        // `$tag$` opens a dollar-quoted string, not a parameter.
        i = skipDollarQuoted(sql, i, end + 1);
        continue;
      }
      cut(i);
      const written = sql.slice(i, end);
      if (c !== '?') pieces.push({ named: written.slice(1), written });
      else if (written.length === 1) pieces.push({ position: nextPosition++ });
      else {
        const position = Number(written.slice(1));
        pieces.push({ position });
        nextPosition = Math.max(nextPosition, position + 1);
      }
      copyFrom = i = end;
      continue;
    }
    i = skipToken(sql, i);
  }
  cut(sql.length);
  return pieces;
}

/** The offset after a parameter's name (or digits, for `?NNN`) starting at `start`. */
function parameterEnd(sql: string, start: number): number {
  let end = start + 1;
  if (sql[start] === '?') {
    while (end < sql.length && isDigit(sql[end] as string)) end++;
  } else {
    // `$` may be part of a name, but a second `$` ends a dollar-quote tag.
    while (end < sql.length && isWordPart(sql[end] as string) && sql[end] !== '$') end++;
  }
  return end;
}

/** Whether everything after the `;` at `at` is more semicolons, spaces or comments. */
function onlyTrailing(sql: string, at: number): boolean {
  for (let i = at; i < sql.length;) {
    const c = sql[i] as string;
    if (c === ';' || /\s/.test(c)) i++;
    else if (c === '-' && sql[i + 1] === '-') i = skipToken(sql, i);
    else if (c === '/' && sql[i + 1] === '*') i = skipToken(sql, i);
    else return false;
  }
  return true;
}

/** Skips one token that holds no parameter; returns the offset after it. */
function skipToken(sql: string, i: number): number {
  const c = sql[i] as string;
  const next = sql[i + 1] ?? '';
  if (c === '-' && next === '-') {
    const end = sql.indexOf('\n', i);
    return end === -1 ? sql.length : end + 1;
  }
  if (c === '/' && next === '*') return skipBlockComment(sql, i);
  if (c === "'") {
    const escapes = i > 0 && /[eE]/.test(sql[i - 1] as string) && !isWordPart(sql[i - 2] ?? ' ');
    return skipQuoted(sql, i, "'", escapes);
  }
  if (c === '"') return skipQuoted(sql, i, '"', false);
  if (c === ':' && next === ':') return i + 2;
  if (c === '$' && next === '$') return skipDollarQuoted(sql, i, i + 2);
  if (isWordStart(c)) {
    let end = i + 1;
    while (end < sql.length && isWordPart(sql[end] as string)) end++;
    return end;
  }
  if (c === '$' && isDigit(next)) {
    throw new SqlTranslationError(
      `PostgreSQL's own $${next} placeholders are not taken; write ? or a named parameter`,
    );
  }
  return i + 1;
}

/** Skips a block comment, which PostgreSQL nests. */
function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  for (let i = start; i < sql.length - 1; i++) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i++;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i++;
      if (depth === 0) return i + 1;
    }
  }
  throw new SqlTranslationError(`unterminated block comment at offset ${start}`);
}

/** Skips text quoted by `quote` (a doubled quote stands for one; `\` escapes in E'...'). */
function skipQuoted(sql: string, start: number, quote: string, escapes: boolean): number {
  for (let i = start + 1; i < sql.length; i++) {
    const c = sql[i];
    if (escapes && c === '\\') i++;
    else if (c === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  throw new SqlTranslationError(`unterminated ${quote}quoted${quote} text at offset ${start}`);
}

/** Skips a dollar-quoted string whose opening tag spans `start` to `bodyStart`. */
function skipDollarQuoted(sql: string, start: number, bodyStart: number): number {
  const tag = sql.slice(start, bodyStart);
  const end = sql.indexOf(tag, bodyStart);
  if (end === -1) throw new SqlTranslationError(`unterminated ${tag} string at offset ${start}`);
  return end + tag.length;
}

/** The value a piece refers to; throws when the parameters do not provide it. */
function valueOf(piece: Piece, params: SqlParams | undefined): SqlValue {
  if ('text' in piece) return null;
  if ('position' in piece) {
    const values = Array.isArray(params) ? (params as readonly SqlValue[]) : [];
    if (piece.position < 1 || piece.position > values.length) {
      throw new SqlTranslationError(
        `too few parameter values were provided (no value for parameter ${piece.position})`,
      );
    }
    return values[piece.position - 1] as SqlValue;
  }
  const named = params !== undefined && !Array.isArray(params) ? params : {};
  if (!Object.hasOwn(named, piece.named)) {
    throw new SqlTranslationError(`missing named parameter "${piece.named}"`);
  }
  return (named as Readonly<Record<string, SqlValue>>)[piece.named] as SqlValue;
}

/** A value as the text PostgreSQL receives for a parameter (null stays null). */
function parameterText(value: SqlValue): string | null {
  if (value === null) return null;
  if (typeof value === 'boolean') return value ? '1' : '0';
  const text = String(value);
  // The protocol ends strings at a NUL byte, and PostgreSQL text cannot hold one.
  if (text.includes('\0')) {
    throw new SqlTranslationError('PostgreSQL text cannot contain the character U+0000');
  }
  return text;
}

/** A value as a quoted literal: doubling quotes is enough with standard_conforming_strings. */
export function quoteLiteral(text: string | null): string {
  return text === null ? 'NULL' : `'${text.replaceAll("'", "''")}'`;
}

/** A name as a quoted identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Refuses a statement that binds values it never uses, as SQLite does for positional ones. */
function checkUnused(pieces: readonly Piece[], params: SqlParams | undefined): void {
  if (!Array.isArray(params)) return;
  const used = pieces.reduce(
    (most, piece) => ('position' in piece ? Math.max(most, piece.position) : most),
    0,
  );
  if (params.length > used) {
    throw new SqlTranslationError(
      `too many parameter values were provided (${params.length} for ${used} parameters)`,
    );
  }
}

function scanChecked(sql: string, params: SqlParams | undefined): Piece[] {
  if (sql.includes('\0')) {
    throw new SqlTranslationError('PostgreSQL SQL text cannot contain the character U+0000');
  }
  const pieces = scan(sql);
  checkUnused(pieces, params);
  if (!pieces.some((piece) => !('text' in piece) || piece.text.trim() !== '')) {
    throw new SqlTranslationError('the statement is empty');
  }
  return pieces;
}

/**
 * One statement with its parameters as `$1..$n` and their values as text. A named
 * parameter written several times binds once. Throws SqlTranslationError.
 */
export function translateSql(
  sql: string,
  params?: SqlParams,
): { readonly text: string; readonly values: (string | null)[] } {
  const values: (string | null)[] = [];
  const numbers = new Map<string, number>();
  let text = '';
  for (const piece of scanChecked(sql, params)) {
    if ('text' in piece) {
      text += piece.text;
      continue;
    }
    const name = 'position' in piece ? `?${piece.position}` : piece.named;
    let number = numbers.get(name);
    if (number === undefined) {
      values.push(parameterText(valueOf(piece, params)));
      number = values.length;
      numbers.set(name, number);
    }
    text += `$${number}`;
  }
  return { text, values };
}

/**
 * One statement with every parameter written as a quoted literal, without its trailing
 * semicolon, ended by a newline (so that a trailing `--` comment cannot swallow whatever is
 * joined after it). Throws SqlTranslationError.
 */
export function inlineSql(sql: string, params?: SqlParams): string {
  let text = '';
  for (const piece of scanChecked(sql, params)) {
    text += 'text' in piece ? piece.text : quoteLiteral(parameterText(valueOf(piece, params)));
  }
  return `${text}\n`;
}
