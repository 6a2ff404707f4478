/**
 * The Redis rules both key-value implementations follow (`kv.ts` on SQLite,
 * `postgres-kv.ts` on PostgreSQL): error texts, integer syntax, result shapes, and the
 * checks of a SCAN or KEYS request. One copy, so the two stores cannot drift apart.
 */
import { TandemError } from '../core/errors.js';
import type { Command, Version } from './commands.js';
import type { ApplyResult } from './contract.js';
import { Glob, globPatternLengthMax } from './glob.js';
import { wrongType } from './values.js';

/**
 * A read of a key of another type than the command's (GET of a hash): Redis's WRONGTYPE
 * text, which the RESP layer answers as it is.
 */
export class WrongTypeError extends TandemError {
  constructor() {
    super('TANDEM_BAD_REQUEST', wrongType);
  }
}

/** The most keys KEYS returns; past it the caller is told to use SCAN. */
export const keysResultMax = 100_000;
/** The most rows one SCAN call examines. */
export const scanCountMax = 10_000;
/** The rows SCAN examines when the caller does not say. */
export const scanCountDefault = 10;

export const notAnInteger = 'ERR value is not an integer or out of range';
export const overflow = 'ERR increment or decrement would overflow';
/** RENAME's answer for an absent source. */
export const noSuchKey = 'ERR no such key';
export const tooLarge = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';
/** Redis's integer syntax: no sign on zero, no leading zeros, no spaces, at most 19 digits. */
const integerSyntax = /^(?:0|-?[1-9][0-9]{0,18})$/;

/** A command's value. */
export function ok(value: unknown): ApplyResult {
  return { ok: true, value };
}

/** Redis's string2ll syntax: no sign on zero, no leading zeros, at most 19 digits. */
const int64Syntax = /^(?:0|-?[1-9][0-9]{0,18})$/;

/** A signed 64-bit integer as Redis's string2ll reads it (latin1 text), or null. */
export function parseInt64(text: string): bigint | null {
  if (!int64Syntax.test(text)) return null;
  const value = BigInt(text);
  return value >= -(2n ** 63n) && value <= 2n ** 63n - 1n ? value : null;
}

/** A command that failed by its own meaning, with Redis's text. */
export function failed(error: string): ApplyResult {
  return { ok: false, error };
}

/** Bytes as a Buffer without copying (Buffer methods: compare, equals, toString). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Redis INCR's integer (the value's bytes). Values past JavaScript's safe integer range (which Redis would
 * take up to 2^63) are out of range here: results travel as JavaScript numbers.
 */
export function parseInteger(bytes: Uint8Array): number | null {
  // Latin-1 maps each byte to one character, so only ASCII digits and '-' can match.
  const text = asBuffer(bytes).toString('latin1');
  if (!integerSyntax.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** A KEYS or SCAN MATCH pattern (bytes), refused when too long. */
export function compileGlob(pattern: Uint8Array): Glob {
  if (pattern.byteLength > globPatternLengthMax) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `the pattern is ${pattern.byteLength} bytes, over the maximum of ${globPatternLengthMax}`,
    );
  }
  return new Glob(pattern);
}

/** Checks a SCAN's cursor and COUNT; returns the count to use. */
export function scanCount(cursor: number, options: { readonly count?: number }): number {
  const count = options.count ?? scanCountDefault;
  if (!Number.isSafeInteger(cursor) || cursor < 0) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'ERR invalid cursor');
  }
  if (!Number.isSafeInteger(count) || count < 1 || count > scanCountMax) {
    throw new TandemError('TANDEM_BAD_REQUEST', `SCAN COUNT must be 1 to ${scanCountMax}`);
  }
  return count;
}

/**
 * Whether a SET's NX, XX and compare-and-set conditions let it write, given the key's live
 * version (null when the key is absent or expired at the command's time).
 */
export function setHolds(
  command: Extract<Command, { type: 'set' }>,
  live: Version | null,
): boolean {
  const { condition, ifVersion } = command;
  return (
    (condition !== 'nx' || live === null) &&
    (condition !== 'xx' || live !== null) &&
    versionHolds(ifVersion, live)
  );
}

/**
 * Whether a compare-and-set or compare-and-delete on `expected` may go ahead on a key whose
 * live version is `live` (null when absent or expired): always without an expectation,
 * else only on a live key at exactly that version.
 */
export function versionHolds(expected: Version | undefined, live: Version | null): boolean {
  return (
    expected === undefined ||
    (live !== null && live.index === expected.index && live.term === expected.term)
  );
}
