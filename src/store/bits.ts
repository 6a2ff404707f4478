/**
 * The bit commands' arithmetic on a value's bytes, as Redis 7's bitops.c does it: bit 0 is
 * the most significant bit of the first byte, a value reads as zero bits past its end, and
 * BITFIELD's integers are big-endian in bits, of 1 to 64 bits signed or 1 to 63 unsigned,
 * with WRAP, SAT or FAIL on overflow. Pure functions, shared by the stores' apply (SETBIT,
 * BITOP, BITFIELD's writes) and the RESP reads (GETBIT, BITCOUNT, BITPOS, BITFIELD's GETs).
 */

/** BITOP's operations. */
export type BitopOperation = 'and' | 'or' | 'xor' | 'not';

/** BITFIELD's overflow rules. */
export type BitfieldOverflow = 'wrap' | 'sat' | 'fail';

/**
 * One BITFIELD operation: GET, SET (to `value`, answering the old one) or INCRBY (by
 * `value`, answering the new one), on the `bits`-wide integer at bit `offset`.
 */
export interface BitfieldOperation {
  readonly op: 'get' | 'set' | 'incrby';
  readonly signed: boolean;
  /** 1 to 64 when signed, 1 to 63 when not. */
  readonly bits: number;
  readonly offset: number;
  /** SET's value or INCRBY's increment, a signed 64-bit integer; 0n for GET. */
  readonly value: bigint;
  readonly overflow: BitfieldOverflow;
}

/** Whether bit `offset` of `value` is set; bits past the end are 0. */
export function bitAt(value: Uint8Array, offset: number): 0 | 1 {
  const byte = Math.floor(offset / 8);
  if (byte >= value.byteLength) return 0;
  return ((value[byte] >> (7 - (offset % 8))) & 1) as 0 | 1;
}

/** A copy of `value` at least `bytes` long, zero padded. */
export function grown(value: Uint8Array, bytes: number): Buffer {
  const copy = Buffer.alloc(Math.max(value.byteLength, bytes));
  copy.set(value);
  return copy;
}

/** Sets bit `offset` of `value` (long enough) to `bit`, in place. */
export function setBitAt(value: Uint8Array, offset: number, bit: 0 | 1): void {
  const byte = Math.floor(offset / 8);
  const mask = 1 << (7 - (offset % 8));
  value[byte] = bit === 1 ? value[byte] | mask : value[byte] & ~mask;
}

/** The number of set bits of `bytes`. */
export function popcount(bytes: Uint8Array): number {
  let count = 0;
  for (const byte of bytes) {
    let rest = byte;
    while (rest !== 0) {
      rest &= rest - 1;
      count++;
    }
  }
  return count;
}

/** BITOP of `sources` (an absent key is empty): as long as the longest, zero padded. */
export function bitop(operation: BitopOperation, sources: readonly Uint8Array[]): Buffer {
  const length = Math.max(0, ...sources.map((source) => source.byteLength));
  const result = Buffer.alloc(length);
  const byteOf = (source: Uint8Array, i: number): number => (i < source.byteLength ? source[i] : 0);
  for (let i = 0; i < length; i++) {
    let output = byteOf(sources[0], i);
    if (operation === 'not') output = ~output & 0xff;
    for (let k = 1; k < sources.length; k++) {
      const byte = byteOf(sources[k], i);
      if (operation === 'and') output &= byte;
      else if (operation === 'or') output |= byte;
      else output ^= byte;
    }
    result[i] = output;
  }
  return result;
}

/** The unsigned `bits`-wide integer at bit `offset` (bits past the end are 0). */
function unsignedAt(value: Uint8Array, offset: number, bits: number): bigint {
  let result = 0n;
  for (let j = 0; j < bits; j++) result = (result << 1n) | BigInt(bitAt(value, offset + j));
  return result;
}

/** The integer at bit `offset`, signed (two's complement) or not. */
export function bitfieldAt(
  value: Uint8Array,
  offset: number,
  bits: number,
  signed: boolean,
): bigint {
  const raw = unsignedAt(value, offset, bits);
  return signed ? BigInt.asIntN(bits, raw) : raw;
}

/** Writes the low `bits` bits of `field` at bit `offset` of `value` (long enough), in place. */
function setFieldAt(value: Uint8Array, offset: number, bits: number, field: bigint): void {
  const unsigned = BigInt.asUintN(bits, field);
  for (let j = 0; j < bits; j++) {
    setBitAt(value, offset + j, Number((unsigned >> BigInt(bits - 1 - j)) & 1n) as 0 | 1);
  }
}

/**
 * `current + increment` as a `bits`-wide integer under `overflow`: the result to store, or
 * null when it overflows under FAIL. Redis's checkSignedBitfieldOverflow and
 * checkUnsignedBitfieldOverflow, on exact integers (the increment is a signed 64-bit one,
 * and an unsigned one is added as C adds it to a uint64).
 */
function withOverflow(
  current: bigint,
  increment: bigint,
  bits: number,
  signed: boolean,
  overflow: BitfieldOverflow,
): bigint | null {
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const min = signed ? -max - 1n : 0n;
  const sum = current + increment;
  if (sum >= min && sum <= max) return sum;
  if (overflow === 'fail') return null;
  if (overflow === 'sat') return sum > max ? max : min;
  return signed ? BigInt.asIntN(bits, sum) : BigInt.asUintN(bits, sum);
}

/** The bytes BITFIELD's writes need the value to have (0 when it has no write). */
export function bitfieldBytes(operations: readonly BitfieldOperation[]): number {
  let bytes = 0;
  for (const { op, offset, bits } of operations) {
    if (op !== 'get') bytes = Math.max(bytes, Math.floor((offset + bits - 1) / 8) + 1);
  }
  return bytes;
}

/**
 * Runs BITFIELD's operations in order on `value` (already grown to `bitfieldBytes`, when
 * any writes), in place; answers each one's integer, or null for a write FAIL refused.
 */
export function runBitfield(
  value: Uint8Array,
  operations: readonly BitfieldOperation[],
): (bigint | null)[] {
  return operations.map(({ op, signed, bits, offset, value: amount, overflow }) => {
    const current = bitfieldAt(value, offset, bits, signed);
    if (op === 'get') return current;
    const next =
      op === 'incrby'
        ? withOverflow(current, amount, bits, signed, overflow)
        : // C stores SET's value in the field's type first: an unsigned one as a uint64.
          withOverflow(signed ? amount : BigInt.asUintN(64, amount), 0n, bits, signed, overflow);
    if (next === null) return null;
    setFieldAt(value, offset, bits, next);
    return op === 'incrby' ? next : current;
  });
}

/** Redis's redisBitpos: the first `bit` of `bytes`; for 0, past the end when none; for 1, -1. */
function firstBit(bytes: Uint8Array, bit: 0 | 1): number {
  for (let i = 0; i < bytes.byteLength; i++) {
    const byte = bytes[i];
    if ((bit === 1 && byte !== 0) || (bit === 0 && byte !== 0xff)) {
      for (let j = 0; j < 8; j++) if (((byte >> (7 - j)) & 1) === bit) return i * 8 + j;
    }
  }
  return bit === 1 ? -1 : bytes.byteLength * 8;
}

/** A range of a value in bytes (`start` and `end` inclusive) or in bits, as the user gave it. */
export interface BitRange {
  readonly start: bigint;
  readonly end: bigint;
  readonly unit: 'byte' | 'bit';
}

/**
 * A range clamped to a value of `length` bytes as Redis 7's BITCOUNT and BITPOS clamp it:
 * negative offsets count from the end; the result is in the range's unit, empty when
 * `start > end`.
 */
function clamped(range: BitRange, length: number): { start: number; end: number } {
  const total = BigInt(range.unit === 'bit' ? length * 8 : length);
  let start = range.start < 0n ? total + range.start : range.start;
  let end = range.end < 0n ? total + range.end : range.end;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  // Past the value both ends are beyond any safe integer's use: keep them ordered.
  const clamp = (n: bigint): number => Number(n > total ? total : n);
  return { start: clamp(start), end: start > end ? -1 : clamp(end) };
}

/** BITCOUNT of `value` over `range` (the whole value when absent). */
export function bitcount(value: Uint8Array, range?: BitRange): number {
  if (range === undefined) return popcount(value);
  if (range.start < 0n && range.end < 0n && range.start > range.end) return 0;
  const { start, end } = clamped(range, value.byteLength);
  if (start > end) return 0;
  if (range.unit === 'byte') return popcount(value.subarray(start, end + 1));
  let count = 0;
  for (let i = start; i <= end; i++) count += bitAt(value, i);
  return count;
}

/**
 * BITPOS of `bit` in `value` from `range.start`, to `range.end` when `endGiven` (else to
 * the end, and a 0 bit past the value counts when none is found: the value is zero
 * padded). Redis 7's answers: -1 when an empty range, or an explicit one, holds no such bit.
 */
export function bitpos(
  value: Uint8Array,
  bit: 0 | 1,
  range: BitRange | undefined,
  endGiven: boolean,
): number {
  // Without a range the value is searched whole; an empty one holds no bit at all.
  if (range === undefined) return value.byteLength === 0 ? -1 : firstBit(value, bit);
  const { start, end } = clamped(range, value.byteLength);
  if (start > end) return -1;
  if (range.unit === 'byte') {
    const pos = firstBit(value.subarray(start, end + 1), bit);
    if (endGiven && bit === 0 && pos === (end - start + 1) * 8) return -1;
    return pos === -1 ? -1 : pos + start * 8;
  }
  for (let i = start; i <= end; i++) if (bitAt(value, i) === bit) return i;
  // No such bit in range: for 0 without an end, the first bit past the range's last byte.
  if (bit === 1 || endGiven) return -1;
  return (Math.floor(end / 8) + 1) * 8;
}
