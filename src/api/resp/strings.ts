/**
 * The string commands past GET and SET's family: INCRBYFLOAT, LCS and the bit commands
 * (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO), with Redis 7's replies and
 * error texts. Writes are replicated commands (their meaning is in store/kv-commands.ts);
 * reads are answered from the local store's value, as GET is.
 */
import type { StoreReader } from '../../store/contract.js';
import {
  bitAt,
  bitcount,
  bitfieldBytes,
  bitpos,
  runBitfield,
  type BitfieldOperation,
  type BitfieldOverflow,
  type BitopOperation,
  type BitRange,
} from '../../store/bits.js';
import { bitOffsetRange, valueBytesMax, type Command } from '../../store/commands.js';
import { tooLarge } from '../../store/kv-rules.js';
import { int64Arg } from './expiry.js';
import { notAnInteger, syntaxError, type Args } from './keys.js';
import { error, map, type ErrorReply, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { oneKey, type CommandSpec, type KeySpec } from './spec.js';

/**
 * Redis's bound on bit offsets, from its default proto-max-bulk-len (512 MB): GETBIT takes
 * any offset below it (a read past the value is 0). SETBIT and BITFIELD are bounded by
 * Tandem's own `valueBytesMax` instead, since they write.
 */
const redisBitOffsetLimit = 512n * 1024n * 1024n * 8n;
/**
 * The largest table (in Redis's 4-byte cells) LCS builds: (length + 1) * (length + 1)
 * cells of the two values. Redis's own bound is proto-max-bulk-len in bytes (512 MB); this
 * one keeps one LCS from holding the event loop for long.
 */
export const lcsTableBytesMax = 16 * 1024 * 1024;

const integerReply = (value: unknown): Reply => value as number;

/** The value of `key` at `now` as bytes, or null when absent. */
async function valueAt(store: StoreReader, key: Buffer, now: number): Promise<Buffer | null> {
  return (await store.get(key, now))?.value ?? null;
}

/** INCRBYFLOAT key increment: the new value, as Redis formats it. */
function incrbyfloat(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  // Redis looks at the key's type before the increment: the store checks both, in order.
  const command: Command = {
    type: 'incrbyfloat',
    key: args.raw[1],
    by: args.raw[2],
    at: Date.now(),
  };
  return writeFor(context, session, command, (value) => value as Buffer, args.raw);
}

/** A bit offset below `limit` bits (Redis's getBitOffsetFromArgument), or null. */
function bitOffset(text: string, limit: bigint): number | null {
  const offset = int64Arg(text);
  return offset === null || offset < 0n || offset >= limit ? null : Number(offset);
}

/** SETBIT key offset 0|1: the bit's old value. */
function setbit(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const offset = bitOffset(args.text[2], BigInt(valueBytesMax) * 8n);
  if (offset === null) return error(bitOffsetRange);
  const bit = int64Arg(args.text[3]);
  if (bit !== 0n && bit !== 1n) return error('ERR bit is not an integer or out of range');
  const command: Command = {
    type: 'setbit',
    key: args.raw[1],
    offset,
    bit: bit === 1n ? 1 : 0,
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** GETBIT key offset: 0 or 1 (0 past the value, or for an absent key). */
function getbit(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const offset = bitOffset(args.text[2], redisBitOffsetLimit);
  if (offset === null) return error(bitOffsetRange);
  return readFor(context, session, async (store, now) => {
    const value = await valueAt(store, args.raw[1], now);
    return value === null ? 0 : bitAt(value, offset);
  });
}

/** BYTE or BIT (any case), or null. */
function rangeUnit(text: string): 'byte' | 'bit' | null {
  const unit = text.toLowerCase();
  return unit === 'byte' || unit === 'bit' ? unit : null;
}

/**
 * BITCOUNT key [start end [BYTE|BIT]]. Redis 7.0 looks the key up first: an absent key is
 * 0 whatever the arguments.
 */
function bitcountCommand(
  context: ServerContext,
  session: Session,
  args: Args,
): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const value = await valueAt(store, args.raw[1], now);
    if (value === null) return 0;
    if (args.text.length === 2) return bitcount(value);
    if (args.text.length > 5 || args.text.length === 3) return syntaxError;
    const start = int64Arg(args.text[2]);
    const end = int64Arg(args.text[3]);
    if (start === null || end === null) return notAnInteger;
    // Redis 7.0 answers an empty negative range before it reads the unit.
    if (start < 0n && end < 0n && start > end) return 0;
    const unit = args.text.length === 5 ? rangeUnit(args.text[4]) : 'byte';
    if (unit === null) return syntaxError;
    return bitcount(value, { start, end, unit });
  });
}

/**
 * BITPOS key 0|1 [start [end [BYTE|BIT]]]. Redis 7.0 reads the bit, then looks the key up:
 * an absent key is -1 for 1 and 0 for 0 whatever the range.
 */
function bitposCommand(
  context: ServerContext,
  session: Session,
  args: Args,
): Reply | Promise<Reply> {
  const bit = int64Arg(args.text[2]);
  if (bit === null) return notAnInteger;
  if (bit !== 0n && bit !== 1n) return error('ERR The bit argument must be 1 or 0.');
  const wanted = bit === 1n ? 1 : 0;
  return readFor(context, session, async (store, now) => {
    const value = await valueAt(store, args.raw[1], now);
    if (value === null) return wanted === 1 ? -1 : 0;
    if (args.text.length === 3) return bitpos(value, wanted, undefined, false);
    const range = bitposRange(args.text, value.byteLength);
    if ('kind' in range) return range;
    return bitpos(value, wanted, range, args.text.length >= 5);
  });
}

/** BITPOS's range, in Redis's order of reading: start, unit, end. */
function bitposRange(text: readonly string[], length: number): BitRange | ErrorReply {
  if (text.length > 6) return syntaxError;
  const start = int64Arg(text[3]);
  if (start === null) return notAnInteger;
  const unit = text.length === 6 ? rangeUnit(text[5]) : 'byte';
  if (unit === null) return syntaxError;
  if (text.length < 5) {
    const end = unit === 'bit' ? BigInt(length) * 8n + 7n : BigInt(length) - 1n;
    return { start, end, unit };
  }
  const end = int64Arg(text[4]);
  return end === null ? notAnInteger : { start, end, unit };
}

const bitopOperations: ReadonlySet<string> = new Set<BitopOperation>(['and', 'or', 'xor', 'not']);

/** BITOP AND|OR|XOR|NOT destkey key [key ...]: the length of the result. */
function bitopCommand(
  context: ServerContext,
  session: Session,
  args: Args,
): Reply | Promise<Reply> {
  const operation = args.text[1].toLowerCase();
  if (!bitopOperations.has(operation)) return syntaxError;
  if (operation === 'not' && args.raw.length !== 4) {
    return error('ERR BITOP NOT must be called with a single source key.');
  }
  const command: Command = {
    type: 'bitop',
    operation: operation as BitopOperation,
    destination: args.raw[2],
    keys: args.raw.slice(3),
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

const bitfieldTypeError = error(
  'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.',
);

/** A BITFIELD type, `i1`..`i64` or `u1`..`u63` (Redis's getBitfieldTypeFromArgument). */
function bitfieldType(text: string): { signed: boolean; bits: number } | null {
  const sign = text[0];
  if (sign !== 'i' && sign !== 'u') return null;
  const bits = int64Arg(text.slice(1));
  if (bits === null || bits < 1n || bits > (sign === 'i' ? 64n : 63n)) return null;
  return { signed: sign === 'i', bits: Number(bits) };
}

/**
 * A BITFIELD offset: `n` bits, or `#n` fields of `bits` (multiplied as C multiplies a
 * 64-bit integer), below Tandem's value limit in bits.
 */
function bitfieldOffset(text: string, bits: number): number | null {
  const hash = text.startsWith('#');
  let offset = int64Arg(hash ? text.slice(1) : text);
  if (offset === null) return null;
  if (hash) offset = BigInt.asIntN(64, offset * BigInt(bits));
  return offset < 0n || offset >= BigInt(valueBytesMax) * 8n ? null : Number(offset);
}

/**
 * BITFIELD's operations as Redis 7 reads them, in order, each error at the first bad
 * argument: the subcommand (with its arguments present), the type, the offset, the value.
 */
function bitfieldOperations(args: Args): BitfieldOperation[] | ErrorReply {
  const operations: BitfieldOperation[] = [];
  let overflow: BitfieldOverflow = 'wrap';
  for (let j = 2; j < args.text.length; j++) {
    const remaining = args.text.length - j - 1;
    const name = args.text[j].toLowerCase();
    if (name === 'overflow' && remaining >= 1) {
      const kind = args.text[++j].toLowerCase();
      if (kind !== 'wrap' && kind !== 'sat' && kind !== 'fail') {
        return error('ERR Invalid OVERFLOW type specified');
      }
      overflow = kind;
      continue;
    }
    const op = name === 'get' || name === 'set' || name === 'incrby' ? name : null;
    if (op === null || remaining < (op === 'get' ? 2 : 3)) return syntaxError;
    const type = bitfieldType(args.text[j + 1]);
    if (type === null) return bitfieldTypeError;
    const offset = bitfieldOffset(args.text[j + 2], type.bits);
    if (offset === null) return error(bitOffsetRange);
    let value = 0n;
    if (op !== 'get') {
      const given = int64Arg(args.text[j + 3]);
      if (given === null) return notAnInteger;
      value = given;
    }
    operations.push({ op, ...type, offset, value, overflow });
    j += op === 'get' ? 2 : 3;
  }
  return operations;
}

/** BITFIELD's answers as replies: safe integers as numbers, and null for a FAIL refused. */
function bitfieldReply(value: unknown): Reply {
  return (value as (bigint | null)[]).map((answer) => {
    if (answer === null) return null;
    const small = Number(answer);
    return Number.isSafeInteger(small) ? small : answer;
  });
}

/**
 * BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
 * [OVERFLOW WRAP|SAT|FAIL] ...; BITFIELD_RO takes GETs only. Without a write it is a read.
 */
function bitfield(readOnly: boolean) {
  return (context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> => {
    const operations = bitfieldOperations(args);
    if (!Array.isArray(operations)) return operations;
    const writes = operations.some(({ op }) => op !== 'get');
    if (!writes) {
      return readFor(context, session, async (store, now) => {
        const value = (await valueAt(store, args.raw[1], now)) ?? Buffer.alloc(0);
        return bitfieldReply(runBitfield(value, operations));
      });
    }
    if (readOnly) return error('ERR BITFIELD_RO only supports the GET subcommand');
    if (bitfieldBytes(operations) > valueBytesMax) return error(tooLarge);
    const command: Command = { type: 'bitfield', key: args.raw[1], operations, at: Date.now() };
    return writeFor(context, session, command, bitfieldReply, args.raw);
  };
}

/** LCS's options. */
interface LcsOptions {
  readonly length: boolean;
  readonly indexes: boolean;
  readonly withMatchLength: boolean;
  readonly minMatchLength: bigint;
}

/** LCS's options as Redis 7 reads them (after the keys), or its error. */
function lcsOptions(text: readonly string[]): LcsOptions | ErrorReply {
  let length = false;
  let indexes = false;
  let withMatchLength = false;
  let minMatchLength = 0n;
  for (let j = 3; j < text.length; j++) {
    const option = text[j].toUpperCase();
    if (option === 'IDX') indexes = true;
    else if (option === 'LEN') length = true;
    else if (option === 'WITHMATCHLEN') withMatchLength = true;
    else if (option === 'MINMATCHLEN' && j + 1 < text.length) {
      const given = int64Arg(text[++j]);
      if (given === null) return notAnInteger;
      minMatchLength = given < 0n ? 0n : given;
    } else {
      return syntaxError;
    }
  }
  if (indexes && length) {
    return error('ERR If you want both the length and indexes, please just use IDX.');
  }
  return { length, indexes, withMatchLength, minMatchLength };
}

/** LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. */
function lcsCommand(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const types = [await store.type(args.raw[1], now), await store.type(args.raw[2], now)];
    if (types.some((type) => type !== 'none' && type !== 'string')) {
      return error('ERR The specified keys must contain string values');
    }
    const a = (await valueAt(store, args.raw[1], now)) ?? Buffer.alloc(0);
    const b = (await valueAt(store, args.raw[2], now)) ?? Buffer.alloc(0);
    const options = lcsOptions(args.text);
    if ('kind' in options) return options;
    if ((a.byteLength + 1) * (b.byteLength + 1) * 4 > lcsTableBytesMax) {
      return error('ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len');
    }
    return lcsReply(a, b, options);
  });
}

/** Redis's lcsCommand on two values: the table, then the walk back from its corner. */
export function lcsReply(a: Buffer, b: Buffer, options: LcsOptions): Reply {
  const width = b.byteLength + 1;
  // table[i * width + j] is the LCS length of a[0, i) and b[0, j).
  const table = new Uint32Array((a.byteLength + 1) * width);
  for (let i = 1; i <= a.byteLength; i++) {
    for (let j = 1; j <= b.byteLength; j++) {
      table[i * width + j] =
        a[i - 1] === b[j - 1]
          ? table[(i - 1) * width + j - 1] + 1
          : Math.max(table[(i - 1) * width + j], table[i * width + j - 1]);
    }
  }
  const total = table[a.byteLength * width + b.byteLength];
  if (options.length) return total;
  const result = Buffer.alloc(total);
  const matches: Reply[] = [];
  let idx = total;
  let i = a.byteLength;
  let j = b.byteLength;
  // The range being matched: aStart === a.byteLength means none.
  let aStart = a.byteLength;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      result[idx - 1] = a[i - 1];
      if (aStart === a.byteLength) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else {
        emit = true;
      }
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (table[(i - 1) * width + j] > table[i * width + j - 1]) i--;
      else j--;
      if (aStart !== a.byteLength) emit = true;
    }
    if (emit) {
      const matchLength = aEnd - aStart + 1;
      if (options.minMatchLength === 0n || BigInt(matchLength) >= options.minMatchLength) {
        const match: Reply[] = [
          [aStart, aEnd],
          [bStart, bEnd],
        ];
        if (options.withMatchLength) match.push(matchLength);
        matches.push(match);
      }
      aStart = a.byteLength;
    }
  }
  if (!options.indexes) return result;
  return map([
    ['matches', matches],
    ['len', total],
  ]);
}

/** BITOP's keys: the destination and every source. */
const bitopKeys: KeySpec = { first: 2, last: -1, step: 1 };
/** LCS's two keys. */
const twoKeys: KeySpec = { first: 1, last: 2, step: 1 };

/**
 * The string commands of this file: handler, Redis arity (negative: at least), whether it
 * writes, the role it needs and where its keys are.
 */
export const stringCommands: Readonly<Record<string, CommandSpec>> = {
  incrbyfloat: { arity: 3, write: true, role: 'write', keys: oneKey, run: incrbyfloat },
  setbit: { arity: 4, write: true, role: 'write', keys: oneKey, run: setbit },
  getbit: { arity: 3, write: false, role: 'read', keys: oneKey, run: getbit },
  bitcount: { arity: -2, write: false, role: 'read', keys: oneKey, run: bitcountCommand },
  bitpos: { arity: -3, write: false, role: 'read', keys: oneKey, run: bitposCommand },
  bitop: { arity: -4, write: true, role: 'write', keys: bitopKeys, run: bitopCommand },
  bitfield: { arity: -2, write: true, role: 'write', keys: oneKey, run: bitfield(false) },
  bitfield_ro: { arity: -2, write: false, role: 'read', keys: oneKey, run: bitfield(true) },
  lcs: { arity: -3, write: false, role: 'read', keys: twoKeys, run: lcsCommand },
};
