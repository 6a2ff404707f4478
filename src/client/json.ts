/**
 * The wire's JSON with SQL's 64-bit integers exact. The server writes an integer outside
 * the safe range as its digits (`9223372036854775807`), which `JSON.parse` would round;
 * here it becomes a bigint. A bigint the caller passes (a SQL parameter) is written as its
 * digits, which `JSON.stringify` refuses to do. Every other value reads and writes as
 * `JSON.parse` and `JSON.stringify` do.
 */
import { parse, stringify } from 'lossless-json';

/**
 * `Number.MAX_SAFE_INTEGER` has 16 digits, so an integer with fewer is exact as a number,
 * and a text with no run of 16 digits parses the same with `JSON.parse`.
 */
const unsafeDigitsMin = 16;
const unsafeDigits = new RegExp(`[0-9]{${unsafeDigitsMin}}`);
const integerSyntax = /^-?[0-9]+$/;

/** A JSON number's text as a value: a bigint when it is an integer outside the safe range. */
function exactNumber(text: string): number | bigint {
  if (text.length >= unsafeDigitsMin && integerSyntax.test(text)) {
    const value = BigInt(text);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }
  return Number(text);
}

/** Parses an answer's JSON; integers outside the safe range become bigints. Throws SyntaxError. */
export function parseAnswerJson(text: string): unknown {
  if (!unsafeDigits.test(text)) return JSON.parse(text);
  return parse(text, null, {
    parseNumber: exactNumber,
    onDuplicateKey: ({ newValue }) => newValue,
  });
}

/** JSON text of a request body, bigints written as their digits. */
export function requestJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    // JSON.stringify refuses a bigint with a TypeError; anything else is the caller's.
    if (!(error instanceof TypeError)) throw error;
    return stringify(value) as string;
  }
}
