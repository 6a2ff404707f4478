/**
 * INCRBYFLOAT's arithmetic, exactly as Redis 7 does it on x86-64: both operands read with
 * `strtold` into the 80-bit extended format (a 64-bit significand, exponents down to
 * 2^-16445 and up to 2^16384), added with one rounding to nearest-even, and the sum
 * printed with `%.17Lf` and its trailing zeros trimmed. It is written on bigints, with no
 * floating point at all, so that every replica (whatever its CPU and C library) computes
 * the same bytes from the same command.
 */

/** A finite extended-precision value: `significand * 2^exponent`, the sign in the significand. */
interface Finite {
  readonly kind: 'finite';
  readonly significand: bigint;
  readonly exponent: number;
}

/** A value `strtold` reads: finite, or an infinity (NaN is refused by Redis's reader). */
export type LongDouble = Finite | { readonly kind: 'infinite'; readonly negative: boolean };

/** Redis's MAX_LONG_DOUBLE_CHARS: a number of this many bytes or more is not one. */
export const longDoubleBytesMax = 5 * 1024;

/** The significand's bits: 64, the integer bit explicit. */
const significandBits = 64;
const significandMin = 1n << BigInt(significandBits - 1);
const significandLimit = 1n << BigInt(significandBits);
/** The exponent of the smallest subnormal (2^-16445) as `1 * 2^exponentMin`. */
const exponentMin = -16445;
/** The largest exponent of a 64-bit significand: the largest value is just under 2^16384. */
const exponentMax = 16384 - significandBits;
/**
 * Decimal magnitudes past which a number is certainly out of range (the format reaches
 * about 1.19e4932 and down to 3.6e-4951): beyond them no exact arithmetic is needed.
 */
const decimalOverflowDigits = 4940;
const decimalUnderflowDigits = -4970;

/** The number of bits of a positive bigint. */
function bitLength(value: bigint): number {
  return value.toString(2).length;
}

/**
 * `numerator / denominator` (both positive) rounded to nearest-even in the extended
 * format; null when it overflows (strtold's HUGE_VAL, an addition's infinity). A result
 * below the smallest subnormal's half is zero.
 */
function roundRatio(numerator: bigint, denominator: bigint, negative: boolean): Finite | null {
  let exponent = bitLength(numerator) - bitLength(denominator) - significandBits;
  if (exponent < exponentMin) exponent = exponentMin;
  // Invariant: the quotient at `exponent` is below 2^64 (it may be below 2^63 only when
  // `exponent` is exponentMin: a subnormal).
  for (;;) {
    const scaled = scale(numerator, denominator, exponent);
    if (scaled.quotient >= significandLimit) exponent++;
    else if (scaled.quotient < significandMin && exponent > exponentMin) exponent--;
    else break;
  }
  const { quotient, remainder, divisor } = scale(numerator, denominator, exponent);
  let significand = quotient;
  const twice = remainder * 2n;
  if (twice > divisor || (twice === divisor && (significand & 1n) === 1n)) significand++;
  if (significand === significandLimit) {
    significand = significandMin;
    exponent++;
  }
  if (exponent > exponentMax) return null;
  return { kind: 'finite', significand: negative ? -significand : significand, exponent };
}

/** `numerator / denominator / 2^exponent` as an integer quotient and remainder. */
function scale(
  numerator: bigint,
  denominator: bigint,
  exponent: number,
): { quotient: bigint; remainder: bigint; divisor: bigint } {
  const top = exponent < 0 ? numerator << BigInt(-exponent) : numerator;
  const divisor = exponent > 0 ? denominator << BigInt(exponent) : denominator;
  return { quotient: top / divisor, remainder: top % divisor, divisor };
}

const zero: Finite = { kind: 'finite', significand: 0n, exponent: 0 };

/** A decimal number's digits and exponent as strtold reads them, or null when out of range. */
function decimalValue(digits: string, exponent: number, negative: boolean): Finite | null {
  const significant = digits.replace(/^0+/, '');
  if (significant === '') return zero;
  const magnitude = exponent + significant.length;
  if (magnitude > decimalOverflowDigits || magnitude < decimalUnderflowDigits) return null;
  const mantissa = BigInt(significant);
  const value =
    exponent >= 0
      ? roundRatio(mantissa * 10n ** BigInt(exponent), 1n, negative)
      : roundRatio(mantissa, 10n ** BigInt(-exponent), negative);
  // Underflow to zero is refused as Redis refuses it (strtold's ERANGE with a zero).
  return value === null || value.significand === 0n ? null : value;
}

/** A hexadecimal number (`0x1.8p3`): `digits * 2^exponent`, or null when out of range. */
function hexValue(digits: string, exponent: number, negative: boolean): Finite | null {
  const significant = digits.replace(/^0+/, '');
  if (significant === '') return zero;
  const magnitude = exponent + significant.length * 4;
  if (magnitude > 16400 || magnitude < -16520) return null;
  const mantissa = BigInt(`0x${significant}`);
  const value =
    exponent >= 0
      ? roundRatio(mantissa << BigInt(exponent), 1n, negative)
      : roundRatio(mantissa, 1n << BigInt(-exponent), negative);
  return value === null || value.significand === 0n ? null : value;
}

/** An exponent's digits, clamped far past any range so that huge ones stay numbers. */
function exponentOf(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = Number(text);
  return Math.max(-1e6, Math.min(1e6, value));
}

const decimalSyntax = /^([+-]?)(?:(\d+)\.?(\d*)|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const hexSyntax =
  /^([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
const infinitySyntax = /^([+-]?)(?:inf|infinity)$/i;

/**
 * The value Redis 7's string2ld reads from `bytes`, or null where it answers "value is not
 * a valid float": empty, `longDoubleBytesMax` bytes or more, leading space, anything
 * strtold leaves unread (a zero byte included), NaN, or a number out of range (overflow,
 * or underflow to zero).
 */
export function parseLongDouble(bytes: Uint8Array): LongDouble | null {
  if (bytes.byteLength === 0 || bytes.byteLength >= longDoubleBytesMax) return null;
  // strtold must read every byte: one stops it at a zero byte, and that is refused too.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const infinity = infinitySyntax.exec(text);
  if (infinity !== null) return { kind: 'infinite', negative: infinity[1] === '-' };
  const hex = hexSyntax.exec(text);
  if (hex !== null) {
    const fraction = hex[3] ?? hex[4] ?? '';
    const digits = (hex[2] ?? '') + fraction;
    return hexValue(digits, exponentOf(hex[5]) - 4 * fraction.length, hex[1] === '-');
  }
  const decimal = decimalSyntax.exec(text);
  if (decimal === null) return null;
  const fraction = decimal[3] ?? decimal[4] ?? '';
  const digits = (decimal[2] ?? '') + fraction;
  return decimalValue(digits, exponentOf(decimal[5]) - fraction.length, decimal[1] === '-');
}

/** `a + b` rounded once, or null for Redis's "would produce NaN or Infinity". */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (a.kind !== 'finite' || b.kind !== 'finite') return null;
  const base = Math.min(a.exponent, b.exponent);
  const sum =
    (a.significand << BigInt(a.exponent - base)) + (b.significand << BigInt(b.exponent - base));
  if (sum === 0n) return zero;
  const negative = sum < 0n;
  const magnitude = negative ? -sum : sum;
  return base >= 0
    ? roundRatio(magnitude << BigInt(base), 1n, negative)
    : roundRatio(magnitude, 1n << BigInt(-base), negative);
}

/** The digits after the point of `%.17Lf`. */
const fractionDigits = 17;

/**
 * A finite value as Redis's ld2string in its human mode writes it: `%.17Lf` (the exact
 * value rounded to 17 decimals, ties to even, as glibc rounds), trailing zeros and a
 * trailing point removed, and "-0" written "0".
 */
export function formatLongDouble(value: LongDouble): string {
  if (value.kind === 'infinite') return value.negative ? '-inf' : 'inf';
  const negative = value.significand < 0n;
  const magnitude = negative ? -value.significand : value.significand;
  const scaled = magnitude * 10n ** BigInt(fractionDigits);
  let units: bigint;
  if (value.exponent >= 0) units = scaled << BigInt(value.exponent);
  else {
    const divisor = 1n << BigInt(-value.exponent);
    units = scaled / divisor;
    const twice = (scaled % divisor) * 2n;
    if (twice > divisor || (twice === divisor && (units & 1n) === 1n)) units++;
  }
  const padded = units.toString().padStart(fractionDigits + 1, '0');
  const whole = padded.slice(0, -fractionDigits);
  const fraction = padded.slice(-fractionDigits).replace(/0+$/, '');
  const text = (negative ? '-' : '') + whole + (fraction === '' ? '' : `.${fraction}`);
  return text === '-0' ? '0' : text;
}
