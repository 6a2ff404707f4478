/**
 * A tokenizer for SQLite's SQL, just precise enough to judge a statement by its words:
 * string literals, quoted identifiers and comments are recognised exactly as SQLite does
 * (tokenize.c), so that `SELECT 'random()'` is a string and `SELECT random()` a call.
 */

/**
 * What a token is:
 * - `word`: a bare identifier or keyword (`text` as written; `upper` folded for comparison);
 * - `identifier`: a quoted identifier ("x", [x], `x`), `text` unquoted;
 * - `string`: a string or blob literal, `text` unquoted;
 * - `number`, `parameter` (?, ?1, :a, @a, $a), `punct` (operators, parentheses, `;`).
 */
export type TokenKind = 'word' | 'identifier' | 'string' | 'number' | 'parameter' | 'punct';

/** One token of a statement. */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** `text` in upper case (ASCII only, as SQLite folds keywords). */
  readonly upper: string;
  /** The offset of the token's first character in the SQL text. */
  readonly offset: number;
}

/** Thrown for SQL that cannot be tokenized; the message says where and why. */
export class SqlTokenError extends Error {
  override readonly name = 'SqlTokenError';
}

const isSpace = (c: string): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
/** SQLite treats every character above ASCII as part of an identifier. */
const isWordStart = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c.charCodeAt(0) > 0x7f;
const isWordPart = (c: string): boolean => isWordStart(c) || isDigit(c) || c === '$';

/** Two-character operators, so that `||` or `<=` stay one token. */
const twoCharOperators = new Set(['||', '<=', '>=', '==', '!=', '<>', '<<', '>>', '->']);

/** Splits `sql` into tokens, dropping whitespace and comments. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, text: string, offset: number): void => {
    tokens.push({ kind, text, upper: text.toUpperCase(), offset });
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1] ?? '';
    if (isSpace(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      // SQLite accepts an unterminated block comment as running to the end of the text.
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else if (c === "'") {
      const [text, end] = readQuoted(sql, i, "'");
      push('string', text, i);
      i = end;
    } else if ((c === 'x' || c === 'X') && next === "'") {
      const [text, end] = readQuoted(sql, i + 1, "'");
      push('string', text, i);
      i = end;
    } else if (c === '"' || c === '`') {
      const [text, end] = readQuoted(sql, i, c);
      push('identifier', text, i);
      i = end;
    } else if (c === '[') {
      const end = sql.indexOf(']', i + 1);
      if (end === -1) throw new SqlTokenError(`unterminated [identifier] at offset ${i}`);
      push('identifier', sql.slice(i + 1, end), i);
      i = end + 1;
    } else {
      i = readPlain(sql, i, push);
    }
  }
  return tokens;
}

/** Reads a token quoted by `quote` starting at `start`, where a doubled quote stands for one. */
function readQuoted(sql: string, start: number, quote: string): [string, number] {
  let text = '';
  let i = start + 1;
  for (;;) {
    const end = sql.indexOf(quote, i);
    if (end === -1)
      throw new SqlTokenError(`unterminated ${quote}quoted${quote} text at offset ${start}`);
    text += sql.slice(i, end);
    if (sql[end + 1] !== quote) return [text, end + 1];
    text += quote;
    i = end + 2;
  }
}

/** Reads a word, number, parameter or operator at `start`; returns the offset after it. */
function readPlain(
  sql: string,
  start: number,
  push: (kind: TokenKind, text: string, offset: number) => void,
): number {
  const c = sql[start] as string;
  let i = start + 1;
  if (isWordStart(c)) {
    while (i < sql.length && isWordPart(sql[i] as string)) i++;
    push('word', sql.slice(start, i), start);
  } else if (isDigit(c) || (c === '.' && isDigit(sql[i] ?? ''))) {
    // Numbers, hex and exponents: digits, letters, dots and a sign after an exponent.
    while (i < sql.length) {
      const d = sql[i] as string;
      const signed = (d === '+' || d === '-') && /[eE]/.test(sql[i - 1] as string);
      if (!(isWordPart(d) || d === '.' || signed)) break;
      i++;
    }
    push('number', sql.slice(start, i), start);
  } else if (c === '?' || c === ':' || c === '@' || c === '$') {
    while (i < sql.length && isWordPart(sql[i] as string)) i++;
    push('parameter', sql.slice(start, i), start);
  } else {
    const pair = sql.slice(start, start + 2);
    if (twoCharOperators.has(pair)) {
      push('punct', pair, start);
      return start + 2;
    }
    push('punct', c, start);
  }
  return i;
}
