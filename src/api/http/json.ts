/**
 * JSON that keeps SQL's 64-bit integers exact. `JSON.parse` reads every number as a double,
 * so `9007199254740993` would arrive as `...992`; `JSON.stringify` cannot write a bigint at
 * all. The SQL routes parse their bodies with `parseExactJson` (an integer past the safe
 * range becomes a bigint) and write answers that hold a bigint with `writeExactJson` (its
 * digits, as a JSON number). Everything else is read and written as `JSON.parse` and
 * `JSON.stringify` do. BLOBs leave as base64 strings (as rqlite does).
 */
import type { FastifyInstance } from 'fastify';
import { parse, stringify } from 'lossless-json';
import { exactInteger } from '../../store/commands.js';

/**
 * A run of this many digits is the mark of a JSON integer that may lie outside the safe
 * range: `Number.MAX_SAFE_INTEGER` has 16 digits, so every integer with fewer is exact as
 * a number. A text without such a run parses the same with `JSON.parse`.
 */
const unsafeDigitsMin = 16;
const unsafeDigits = new RegExp(`[0-9]{${unsafeDigitsMin}}`);
const integerSyntax = /^-?[0-9]+$/;

/** A JSON number's text as a value: an integer outside the safe range as a bigint. */
function exactNumber(text: string): number | bigint {
  if (text.length >= unsafeDigitsMin && integerSyntax.test(text)) {
    return exactInteger(BigInt(text));
  }
  return Number(text);
}

/**
 * Parses JSON text like `JSON.parse` (a duplicate key keeps its last value), except that an
 * integer outside the safe range becomes the exact bigint. Throws SyntaxError.
 */
export function parseExactJson(text: string): unknown {
  if (!unsafeDigits.test(text)) return JSON.parse(text);
  return parse(text, null, {
    parseNumber: exactNumber,
    onDuplicateKey: ({ newValue }) => newValue,
  });
}

/** JSON text of `value` with every bigint written as its digits. */
export function writeExactJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    // JSON.stringify refuses a bigint (a TypeError); anything else is not ours to mend.
    if (!(error instanceof TypeError)) throw error;
    return stringify(value) as string;
  }
}

type JsonParser = ReturnType<FastifyInstance['getDefaultJsonParser']>;

/**
 * Makes `app` (a plugin's own context) parse `application/json` bodies with
 * `parseExactJson`. Every body first goes through fastify's own parser, so syntax errors,
 * an empty body and `__proto__` or `constructor.prototype` keys are refused exactly as on
 * every other route; only a body with a long run of digits is parsed a second time, for
 * its exact integers.
 */
export function useExactJson(app: FastifyInstance): void {
  const fastifyParser: JsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (request, text: string | Buffer, done) => {
      const body = text.toString();
      fastifyParser(request, body, (error, lossy) => {
        if (error !== null || !unsafeDigits.test(body)) return done(error, lossy);
        done(null, parseExactJson(body));
      });
    },
  );
}

/**
 * A JSON-safe copy of one SQL value: a bigint stays (for `writeExactJson`), a BLOB becomes
 * base64.
 */
export function jsonSafeValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** A JSON-safe copy of a row or of a statement result (one level of fields). */
export function jsonSafeRecord(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    copy[name] =
      name === 'rows' && Array.isArray(value) ? value.map(jsonSafeRow) : jsonSafeValue(value);
  }
  return copy;
}

function jsonSafeRow(row: unknown): unknown {
  return typeof row === 'object' && row !== null && !(row instanceof Uint8Array)
    ? jsonSafeRecord(row as Record<string, unknown>)
    : jsonSafeValue(row);
}
