/**
 * Redis 7's rules for expiry amounts, on 64-bit integers as Redis has them: an amount is
 * any signed 64-bit integer (past JavaScript's safe range too, so the arithmetic is on
 * bigints), and a time that overflows once converted to absolute milliseconds is refused
 * with Redis's "invalid expire time" text. The result is the absolute expiry a command
 * carries: 0 for any time already past (the write deletes the key), and past 2^53 ms (the
 * year 287,396) the nearest double, at most `expiresAtMsMax`.
 */
import { expiresAtMsMax } from '../../store/commands.js';

const int64Max = 2n ** 63n - 1n;
const int64Min = -(2n ** 63n);
/** Redis's integer syntax (string2ll): no sign on zero, no leading zeros, no spaces. */
const int64Syntax = /^(?:0|-?[1-9][0-9]{0,18})$/;

/** The signed 64-bit integer `text` spells exactly, as Redis's string2ll reads it, or null. */
export function int64Arg(text: string): bigint | null {
  if (!int64Syntax.test(text)) return null;
  const value = BigInt(text);
  return value >= int64Min && value <= int64Max ? value : null;
}

/** The units of SET's expiry options: relative or absolute, in seconds or ms. */
export type SetExpiryUnit = 'EX' | 'PX' | 'EXAT' | 'PXAT';

/**
 * SET's EX, PX, EXAT or PXAT amount as an absolute expiry in ms at `nowMs`, or null where
 * Redis 7 answers "invalid expire time": an amount of zero or less, seconds that overflow
 * as ms, or a relative time that overflows once `nowMs` is added.
 */
export function setExpiryMs(unit: SetExpiryUnit, amount: bigint, nowMs: number): number | null {
  const seconds = unit === 'EX' || unit === 'EXAT';
  if (amount <= 0n || (seconds && amount > int64Max / 1000n)) return null;
  const ms = seconds ? amount * 1000n : amount;
  const when = unit === 'EX' || unit === 'PX' ? ms + BigInt(nowMs) : ms;
  return when > int64Max ? null : carried(when);
}

/**
 * EXPIRE's, PEXPIRE's, EXPIREAT's or PEXPIREAT's amount, in units of `unitMs` after
 * `baseMs` (now, or 0 for the AT forms), as an absolute expiry in ms, or null where Redis 7
 * answers "invalid expire time": seconds that overflow as ms (either way: bigint division
 * truncates toward zero as C's does), or a sum past the 64-bit range. A negative result is
 * allowed: the key is deleted.
 */
export function expireAtMs(amount: bigint, unitMs: 1 | 1000, baseMs: number): number | null {
  if (unitMs === 1000 && (amount > int64Max / 1000n || amount < int64Min / 1000n)) return null;
  const ms = amount * BigInt(unitMs);
  const base = BigInt(baseMs);
  return ms > int64Max - base ? null : carried(ms + base);
}

/** An absolute expiry as a command carries it: 0 when past, else the nearest double. */
function carried(when: bigint): number {
  if (when <= 0n) return 0;
  return Math.min(Number(when), expiresAtMsMax);
}
