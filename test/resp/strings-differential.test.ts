// Differential: the string commands beside SET and GET (SETNX, SETEX, PSETEX, GETSET,
// GETDEL, GETEX, SETRANGE, GETRANGE, SUBSTR, MSETNX, INCRBYFLOAT, LCS and the bit commands)
// driven with the same random commands on redis-server 7 and on a Tandem node, every reply
// compared, and the TTLs they leave compared within a slack.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { byteRange } from '../../src/api/resp/keys.js';
import { valueBytesMax } from '../../src/store/commands.js';
import { comparable, RawClient, sameReply } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** How far the two servers' TTLs may differ: they read their clocks apart. */
const ttlSlackMs = 2_000;

const key = fc.constantFrom('k1', 'k2', 'k3');
const value = fc.oneof(
  fc.constantFrom('', 'v', 'hello world', 'ohmytext', 'mynewtext', '3.5', '-1e3', '10'),
  fc.string({ maxLength: 12 }),
);
/** Offsets and amounts: small ones, negative ones, 64-bit edges and non-integers. */
const amount = fc.oneof(
  fc.integer({ min: -20, max: 20 }).map(String),
  fc.constantFrom('0', '-1', '9223372036854775807', '-9223372036854775808', '9223372036854775808'),
  fc.constantFrom('1.5', 'x', '', ' 1', '01', '+1'),
);
/**
 * SETEX's and PSETEX's amounts: none so short that the key could expire between the two
 * servers' commands (their clocks differ), but the refused ones and the 64-bit edges.
 */
const expiry = fc.oneof(
  fc.integer({ min: 100, max: 100_000 }).map(String),
  fc.constantFrom('0', '-1', '9223372036854775807', '9223372036854775', '1.5', 'x', '', '01'),
);
/** INCRBYFLOAT's increments: decimals, exponents, hex, infinities and non-numbers. */
const float = fc.oneof(
  fc.double({ noNaN: true, min: -1e6, max: 1e6 }).map(String),
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc
    .tuple(fc.integer({ min: -999, max: 999 }), fc.integer({ min: -30, max: 30 }))
    .map(([m, e]) => `${m}e${e}`),
  fc.constantFrom('0.1', '-0.1', '1.5', '3.0000000000000000001', '0x1p-18', '0xA.8p2', '.5'),
  fc.constantFrom('1e4000', '-1e4000', '1e5000', '1e-5000', '1e308', 'inf', '-inf', 'nan'),
  fc.constantFrom('', ' 1', '1 ', 'x', '1e', '0x', '+', '1.2.3'),
);
/** Bit offsets: small ones, and refused ones (past Redis's 2^32 and Tandem's limit alike). */
const bitOffset = fc.oneof(
  fc.integer({ min: 0, max: 100 }).map(String),
  fc.constantFrom('-1', 'x', '1.5', '4294967296', '9223372036854775807', ''),
);
/** A BITFIELD type: valid ones, and the refused u64, i65, i0 and others. */
const bitfieldType = fc.oneof(
  fc.tuple(fc.constantFrom('i', 'u'), fc.integer({ min: 1, max: 64 })).map(([s, n]) => `${s}${n}`),
  fc.constantFrom('u64', 'i65', 'i0', 'x8', 'I8', 'u', 'i08'),
);
const bitfieldOffset = fc.oneof(
  fc.integer({ min: 0, max: 70 }).map(String),
  fc.integer({ min: 0, max: 8 }).map((n) => `#${n}`),
  fc.constantFrom('-1', 'x', '#-1', '4294967296', '#9223372036854775807'),
);
const bitfieldValue = fc.oneof(
  fc.integer({ min: -300, max: 300 }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775808', 'x'),
);
const bitfieldOp = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'get'), bitfieldType, bitfieldOffset).map((c) => [...c]),
  fc
    .tuple(fc.constantFrom('SET', 'INCRBY', 'incrby'), bitfieldType, bitfieldOffset, bitfieldValue)
    .map((c) => [...c]),
  fc
    .tuple(fc.constant('OVERFLOW'), fc.constantFrom('WRAP', 'SAT', 'FAIL', 'fail', 'BAD'))
    .map((c) => [...c]),
  fc.constantFrom(['GET', 'u8'], ['SET', 'u8', '0'], ['OVERFLOW'], ['BOGUS', 'u8', '0']),
);
/** BITCOUNT's and BITPOS's ranges: none, bytes or bits, and bad ones. */
const rangeEnd = fc.oneof(
  fc.integer({ min: -40, max: 40 }).map(String),
  fc.constantFrom('x', '9223372036854775807'),
);
const bitRange = fc.oneof(
  fc.constant([] as string[]),
  fc.tuple(rangeEnd).map((c) => [...c]),
  fc.tuple(rangeEnd, rangeEnd).map((c) => [...c]),
  fc.tuple(rangeEnd, rangeEnd, fc.constantFrom('BYTE', 'BIT', 'bit', 'BAD')).map((c) => [...c]),
  fc.constant(['0', '-1', 'BIT', 'extra']),
);
const lcsOption = fc.constantFrom(
  ['LEN'],
  ['IDX'],
  ['idx'],
  ['WITHMATCHLEN'],
  ['MINMATCHLEN', '2'],
  ['MINMATCHLEN', '-1'],
  ['MINMATCHLEN', 'x'],
  ['MINMATCHLEN'],
  ['BAD'],
);
const bitCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constant('INCRBYFLOAT'), key, float).map((c) => [...c]),
  fc
    .tuple(fc.constant('SETBIT'), key, bitOffset, fc.constantFrom('0', '1', '1', '2', '-1', 'x'))
    .map((c) => [...c]),
  fc.tuple(fc.constant('GETBIT'), key, bitOffset).map((c) => [...c]),
  fc.tuple(fc.constant('BITCOUNT'), key, bitRange).map(([n, k, r]) => [n, k, ...r]),
  fc
    .tuple(fc.constant('BITPOS'), key, fc.constantFrom('0', '1', '2', 'x'), bitRange)
    .map(([n, k, b, r]) => [n, k, b, ...r]),
  fc
    .tuple(
      fc.constant('BITOP'),
      fc.constantFrom('AND', 'OR', 'XOR', 'NOT', 'and', 'BAD'),
      key,
      fc.array(key, { minLength: 1, maxLength: 3 }),
    )
    .map(([n, op, dest, sources]) => [n, op, dest, ...sources]),
  fc
    .tuple(fc.constantFrom('BITFIELD', 'BITFIELD_RO'), key, fc.array(bitfieldOp, { maxLength: 4 }))
    .map(([n, k, ops]) => [n, k, ...ops.flat()]),
  fc
    .tuple(fc.constant('LCS'), key, key, fc.array(lcsOption, { maxLength: 3 }))
    .map(([n, a, b, options]) => [n, a, b, ...options.flat()]),
);
const command: fc.Arbitrary<string[]> = fc.oneof(
  bitCommand,
  bitCommand,
  fc.tuple(fc.constant('SET'), key, value).map((c) => [...c]),
  fc.tuple(fc.constant('GET'), key).map((c) => [...c]),
  fc.tuple(fc.constant('SETNX'), key, value).map((c) => [...c]),
  fc.tuple(fc.constantFrom('SETEX', 'PSETEX'), key, expiry, value).map((c) => [...c]),
  fc.tuple(fc.constant('GETSET'), key, value).map((c) => [...c]),
  fc.tuple(fc.constantFrom('GETRANGE', 'SUBSTR'), key, amount, amount).map((c) => [...c]),
  fc.tuple(fc.constant('APPEND'), key, value).map((c) => [...c]),
  fc.tuple(fc.constant('GETDEL'), key).map((c) => [...c]),
  fc.tuple(fc.constant('GETEX'), key).map((c) => [...c]),
  fc.tuple(fc.constant('GETEX'), key, fc.constantFrom('EX', 'PX', 'ex'), expiry).map((c) => [...c]),
  fc.tuple(fc.constant('GETEX'), key, fc.constantFrom('PERSIST', 'persist')).map((c) => [...c]),
  fc.constantFrom(
    ['GETEX', 'k1', 'EX', '100', 'PERSIST'],
    ['GETEX', 'k1', 'PERSIST', 'EX', '100'],
    ['GETEX', 'k1', 'EX', '100', 'PX', '100000'],
    ['GETEX', 'k1', 'EX'],
    ['GETEX', 'k1', 'BOGUS'],
    ['GETEX', 'k2', 'EXAT', '1'],
    ['GETEX', 'k2', 'PXAT', '9999999999999'],
  ),
  fc
    .tuple(
      fc.constant('SETRANGE'),
      key,
      fc.oneof(
        fc.integer({ min: 0, max: 40 }).map(String),
        // Past Redis's 512 MB and Tandem's value limit alike (Tandem's is lower: between
        // the two, Redis writes and Tandem refuses).
        fc.constantFrom('-1', 'x', '536870912', '9223372036854775807'),
      ),
      value,
    )
    .map((c) => [...c]),
  fc
    .tuple(fc.constant('MSETNX'), key, value, fc.option(fc.tuple(key, value), { nil: undefined }))
    .map(([name, k, v, more]) => [name, k, v, ...(more ?? [])]),
  fc.constantFrom(['MSETNX', 'k1', 'v', 'k2'], ['GETDEL'], ['SETRANGE', 'k1', '0']),
  fc.tuple(fc.constant('STRLEN'), key).map((c) => [...c]),
  fc.tuple(fc.constant('DEL'), key).map((c) => [...c]),
  // Wrong arities: Redis's error text.
  fc.constantFrom(['SETNX', 'k1'], ['SETEX', 'k1', '10'], ['GETRANGE', 'k1', '0'], ['GETSET']),
);

/** A PTTL reply as a number (one past 2^53 ms arrives as a bigint), or the reply itself. */
function ttlOf(reply: unknown): unknown {
  return typeof reply === 'bigint' ? Number(reply) : reply;
}

describe('Tandem and redis-server answer the string commands alike', { timeout: 300_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
    // Goal: each command's replies, error texts included, and the keys and TTLs it leaves,
    // are Redis 7's, for any sequence; a failing sequence shrinks to a short one.
    const counted = new CommandCount();
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          counted.add(commands.length);
          await ours.call('DEL', 'k1', 'k2', 'k3');
          await theirs.call('DEL', 'k1', 'k2', 'k3');
          for (const args of commands) await sameReply(ours, theirs, args);
          for (const k of ['k1', 'k2', 'k3']) {
            await sameReply(ours, theirs, ['GET', k]);
            const [a, b] = [ttlOf(await ours.call('PTTL', k)), ttlOf(await theirs.call('PTTL', k))];
            if (typeof a === 'number' && typeof b === 'number' && a >= 0 && b >= 0) {
              assert.ok(Math.abs(a - b) <= ttlSlackMs, `PTTL ${k}: ${a} beside ${b}`);
            } else {
              assert.equal(a, b, `PTTL ${k}`);
            }
          }
        }),
        { numRuns: differentialRuns(60), ...seedOption },
      );
    } finally {
      counted.report(t);
      ours.close();
      theirs.close();
    }
  });

  test("Tandem's lower limits refuse with Redis's texts", { skip: redisSkip }, async () => {
    // Goal: where Tandem's value limit (16 MiB) is below Redis's (512 MB), the bit
    // commands refuse past it with the texts Redis gives past its own, and nothing is
    // written; just under it they work.
    const ours = await RawClient.open(ports().tandem);
    const bits = valueBytesMax * 8;
    try {
      await ours.call('DEL', 'lim');
      const replies = [
        await ours.call('SETBIT', 'lim', String(bits), '1'),
        await ours.call('BITFIELD', 'lim', 'SET', 'u8', String(bits - 4), '1'),
        await ours.call('BITFIELD', 'lim', 'GET', 'u8', String(bits)),
        await ours.call('EXISTS', 'lim'),
        await ours.call('SETBIT', 'lim', String(bits - 1), '1'),
        await ours.call('STRLEN', 'lim'),
        await ours.call('GETBIT', 'lim', String(4 * 1024 ** 3 - 1)),
        await ours.call('BITFIELD', 'lim', 'INCRBY', 'i64', String(bits - 64), '-1'),
      ];
      assert.deepEqual(replies.map(comparable), [
        'error:ERR bit offset is not an integer or out of range',
        'error:ERR string exceeds maximum allowed size (proto-max-bulk-len)',
        'error:ERR bit offset is not an integer or out of range',
        0,
        0,
        valueBytesMax,
        0,
        [0],
      ]);
      await ours.call('SET', 'lim', 'x'.repeat(4096));
      assert.deepEqual(
        comparable(await ours.call('LCS', 'lim', 'lim')),
        'error:ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len',
      );
    } finally {
      await ours.call('DEL', 'lim');
      ours.close();
    }
  });
});

test('GETRANGE clamps offsets as Redis does', () => {
  // Goal: the offset rules, on their own, at the edges the differential test draws rarely.
  const v = Buffer.from('This is a string');
  const range = (start: bigint, end: bigint) => byteRange(v, start, end).toString();
  assert.equal(range(0n, 3n), 'This');
  assert.equal(range(-3n, -1n), 'ing');
  assert.equal(range(0n, -1n), 'This is a string');
  assert.equal(range(10n, 100n), 'string');
  assert.equal(range(-1n, -3n), '');
  assert.equal(range(5n, 2n), '');
  assert.equal(range(-100n, 2n), 'Thi');
  assert.equal(byteRange(Buffer.alloc(0), 0n, -1n).toString(), '');
});
