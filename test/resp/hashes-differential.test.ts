// Differential: the hash commands (HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN HSTRLEN
// HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN), the string commands on hash
// keys and the hash commands on string keys (WRONGTYPE), and the key commands on hashes
// (TYPE, OBJECT ENCODING, SCAN TYPE, RENAME, COPY, EXPIRE, DEL), driven with the same
// random commands on redis-server 7 and on a Tandem node, every reply compared.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hrandfieldRepeatsMax, hrandfieldRepeatsRefused } from '../../src/api/resp/hashes.js';
import type { Reply } from '../../src/api/resp/reply.js';
import { comparable, RawClient } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** How far the two servers' TTLs may differ: they read their clocks apart. */
const ttlSlackMs = 2_000;
/** How long either server may take to answer one command before the test fails. */
const replyTimeoutMs = 10_000;
/** Redis's LONG_MAX, the bound of HRANDFIELD's count. */
const longMax = 2n ** 63n - 1n;

const keys = ['h1', 'h2', 's1'] as const;
/** Two keys that hold hashes, and one that holds a string (each run sets it first). */
const key = fc.constantFrom(...keys);
const field = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('f1', 'f2', 'f3', 'n') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
/** Values: short ones, numbers for HINCRBY*, and one past hash-max-listpack-value (64). */
const value = fc.oneof(
  fc.constantFrom('', 'v', '10', '-3', '1.5', '9223372036854775807', 'x'.repeat(65)),
  fc.string({ maxLength: 8 }),
);
const amount = fc.oneof(
  fc.integer({ min: -20, max: 20 }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775808'),
  fc.constantFrom('1.5', 'x', '', ' 1', '01', '+1'),
);
const float = fc.oneof(
  fc.double({ noNaN: true, min: -1e6, max: 1e6 }).map(String),
  fc.constantFrom('0.1', '-0.1', '1e4000', 'inf', 'nan', '', 'x', '1.2.3', '0x10'),
);
const count = fc.oneof(
  fc.integer({ min: -5, max: 5 }).map(String),
  fc.constantFrom('x', '9223372036854775807', '-9223372036854775808', '-9223372036854775807'),
);
const pairs = fc
  .array(fc.tuple(field, value), { minLength: 1, maxLength: 3 })
  .map((list) => list.flat());
/** HSET of 513 fields at once: past hash-max-listpack-entries (512 in Redis 7.0). */
const manyFields = Array.from({ length: 513 }, (_, i) => [`m${i}`, String(i)]).flat();

const hashCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('HSET', 'HMSET', 'hset'), key, pairs).map(([n, k, p]) => [n, k, ...p]),
  fc.tuple(fc.constant('HSETNX'), key, field, value).map((c) => [...c]),
  fc.tuple(fc.constant('HGET'), key, field).map((c) => [...c]),
  fc
    .tuple(fc.constant('HMGET'), key, fc.array(field, { minLength: 1, maxLength: 3 }))
    .map(([n, k, f]) => [n, k, ...f]),
  fc
    .tuple(fc.constant('HDEL'), key, fc.array(field, { minLength: 1, maxLength: 3 }))
    .map(([n, k, f]) => [n, k, ...f]),
  fc.tuple(fc.constantFrom('HEXISTS', 'HSTRLEN'), key, field).map((c) => [...c]),
  fc.tuple(fc.constantFrom('HLEN', 'HKEYS', 'HVALS', 'HGETALL'), key).map((c) => [...c]),
  fc.tuple(fc.constant('HINCRBY'), key, field, amount).map((c) => [...c]),
  fc.tuple(fc.constant('HINCRBYFLOAT'), key, field, float).map((c) => [...c]),
  fc.tuple(fc.constant('HRANDFIELD'), key).map((c) => [...c]),
  fc.tuple(fc.constant('HRANDFIELD'), key, count).map((c) => [...c]),
  fc
    .tuple(fc.constant('HRANDFIELD'), key, count, fc.constantFrom('WITHVALUES', 'withvalues', 'X'))
    .map((c) => [...c]),
  fc
    .tuple(
      fc.constant('HSCAN'),
      key,
      fc.constantFrom('0', '0', 'x', '-1'),
      fc.constantFrom(
        [],
        ['MATCH', 'f*'],
        ['COUNT', '2'],
        ['COUNT', '0'],
        ['COUNT', 'x'],
        ['MATCH'],
        ['TYPE', 'hash'],
        ['BAD', '1'],
      ),
    )
    .map(([n, k, c, o]) => [n, k, c, ...o]),
  fc.constantFrom(['HSET', 'h1', ...manyFields], ['HSET', 'h2', 'big', 'x'.repeat(100)]),
  // Wrong arities: Redis's error texts.
  fc.constantFrom(
    ['HSET', 'h1', 'f1'],
    ['HSET', 'h1', 'f1', 'v', 'f2'],
    ['HMSET', 'h1', 'f1', 'v', 'f2'],
    ['HSETNX', 'h1', 'f1'],
    ['HGET', 'h1'],
    ['HDEL', 'h1'],
    ['HLEN'],
    ['HSCAN', 'h1'],
    ['HRANDFIELD'],
  ),
);
/** Commands of the other families on any key: WRONGTYPE, or the same effect on a hash. */
const otherCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('GET', 'STRLEN', 'INCR', 'GETDEL', 'GETEX', 'TYPE'), key)
    .map((c) => [...c]),
  fc.tuple(fc.constantFrom('SET', 'APPEND', 'GETSET', 'SETNX'), key, value).map((c) => [...c]),
  fc
    .tuple(fc.constant('SET'), key, value, fc.constantFrom('GET', 'NX', 'XX', 'KEEPTTL'))
    .map((c) => [...c]),
  fc.tuple(fc.constant('INCRBYFLOAT'), key, float).map((c) => [...c]),
  fc.tuple(fc.constant('GETRANGE'), key, amount, amount).map((c) => [...c]),
  fc.tuple(fc.constant('SETRANGE'), key, fc.constantFrom('0', '2'), value).map((c) => [...c]),
  fc
    .tuple(fc.constant('SETBIT'), key, fc.constantFrom('1', '9'), fc.constantFrom('0', '1'))
    .map((c) => [...c]),
  fc
    .tuple(fc.constantFrom('GETBIT', 'BITCOUNT'), key, fc.constantFrom('0', '3'))
    .map((c) => [...c]),
  fc.tuple(fc.constant('BITOP'), fc.constantFrom('AND', 'OR'), key, key, key).map((c) => [...c]),
  fc
    .tuple(fc.constant('BITFIELD'), key, fc.constantFrom('GET', 'SET'))
    .map(([n, k, op]) => (op === 'GET' ? [n, k, 'GET', 'u8', '0'] : [n, k, 'SET', 'u8', '0', '1'])),
  fc.tuple(fc.constant('BITFIELD_RO'), key).map(([n, k]) => [n, k, 'GET', 'u8', '0']),
  fc.tuple(fc.constant('LCS'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('MGET'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('MSETNX'), key, value).map((c) => [...c]),
  fc.tuple(fc.constantFrom('DEL', 'EXISTS', 'PERSIST'), key).map((c) => [...c]),
  fc.tuple(fc.constant('OBJECT'), fc.constant('ENCODING'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('RENAME', 'RENAMENX', 'COPY'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('COPY'), key, key, fc.constant('REPLACE')).map((c) => [...c]),
  fc.tuple(fc.constant('EXPIRE'), key, fc.constantFrom('100', '1000')).map((c) => [...c]),
  fc.constantFrom(['SCAN', '0', 'TYPE', 'hash', 'COUNT', '100'], ['SCAN', '0', 'TYPE', 'string']),
);
const command = fc.oneof(hashCommand, hashCommand, hashCommand, otherCommand);

/** Commands whose reply lists a hash's fields in its order (a hashtable's is its own). */
const listing = new Set(['HKEYS', 'HVALS', 'HGETALL', 'HSCAN']);

/** An array reply's elements in pairs (field, value), sorted: a hashtable's order is its own. */
function sortedPairs(items: unknown[]): unknown[] {
  const pairs: string[] = [];
  for (let i = 0; i < items.length; i += 2) pairs.push(JSON.stringify([items[i], items[i + 1]]));
  return pairs.sort();
}

/**
 * A reply as it is compared: exactly, but for what is random or order-free by design:
 * HRANDFIELD's picks (their count and kind), a hashtable's listings (sorted; an HSCAN
 * page of one is only an array, its cursor Redis's own), SCAN's keys (sorted), and a
 * string's int, embstr or raw (Redis's depends on how the value was made).
 */
function compared(args: readonly string[], reply: Reply | 'closed', encoding: unknown): unknown {
  const name = (args[0] as string).toUpperCase();
  const value = comparable(reply);
  if (!Array.isArray(value)) {
    // A string grown in place or made by BITOP is `raw` in Redis; Tandem answers from the value.
    if (name === 'OBJECT' && ['$raw', '$embstr', '$int'].includes(value as string))
      return 'a string';
    return name === 'HRANDFIELD' && typeof value === 'string' && value.startsWith('$')
      ? 'a field'
      : value;
  }
  if (name === 'HRANDFIELD') return `${value.length} elements`;
  if (name === 'SCAN') return [value[0], [...(value[1] as unknown[])].sort()];
  if (!listing.has(name) || encoding !== '$hashtable') return value;
  if (name === 'HSCAN') return 'a page of a hashtable';
  return name === 'HGETALL' ? sortedPairs(value) : [...value].sort();
}

/**
 * `server`'s reply to `args`, failing the test when it does not come within replyTimeoutMs
 * or the server hangs up, and naming the server that did: a hang must not pass for the
 * other server's, nor stop the whole test.
 */
async function replyOf(client: RawClient, server: string, args: readonly string[]) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${server} did not answer ${args.join(' ')} in ${replyTimeoutMs} ms`)),
      replyTimeoutMs,
    );
  });
  try {
    const reply = await Promise.race([client.call(...args), late]);
    assert.ok(reply !== 'closed', `${server} closed the connection on ${args.join(' ')}`);
    return reply;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether `args`, on a hash, is an HRANDFIELD that Redis 7.0 answers with more picks than
 * hrandfieldRepeatsMax: a negative count it takes (down to -LONG_MAX, or half that with
 * WITHVALUES) gives that many picks, one reply element each, however small the hash. Near
 * -2^63 that loop holds Redis's one thread and grows its memory until the process is
 * killed, so such a command is never sent to it; Tandem refuses it.
 */
function repeatsPastTandemsBound(args: readonly string[]): boolean {
  if (args[0]?.toUpperCase() !== 'HRANDFIELD' || args.length < 3 || args.length > 4) return false;
  if (args.length === 4 && args[3]?.toLowerCase() !== 'withvalues') return false;
  if (!/^-[0-9]+$/.test(args[2] as string)) return false;
  const count = BigInt(args[2] as string);
  const lowest = args.length === 4 ? -longMax / 2n : -longMax;
  return count >= lowest && -count > BigInt(hrandfieldRepeatsMax);
}

/** Sends `args` to both servers and checks their replies alike, as `compared` says. */
async function sameAnswer(
  ours: RawClient,
  theirs: RawClient,
  args: readonly string[],
): Promise<void> {
  const encoding = comparable(
    await replyOf(theirs, 'redis-server', ['OBJECT', 'ENCODING', args[1] ?? '']),
  );
  if (repeatsPastTandemsBound(args) && (encoding === '$listpack' || encoding === '$hashtable')) {
    // On a hash Redis would build the reply; elsewhere both answer (empty array, WRONGTYPE).
    const refused = comparable(hrandfieldRepeatsRefused);
    assert.deepEqual(comparable(await replyOf(ours, 'Tandem', args)), refused, args.join(' '));
    return;
  }
  const mine = await replyOf(ours, 'Tandem', args);
  const redis7 = await replyOf(theirs, 'redis-server', args);
  assert.deepEqual(
    compared(args, mine, encoding),
    compared(args, redis7, encoding),
    args.join(' '),
  );
}

/** What a key holds at the end of a run, on both servers: type, encoding, fields, TTL. */
async function sameKey(ours: RawClient, theirs: RawClient, k: string): Promise<void> {
  for (const args of [
    ['TYPE', k],
    ['OBJECT', 'ENCODING', k],
    ['HLEN', k],
    ['HGETALL', k],
    ['GET', k],
  ]) {
    await sameAnswer(ours, theirs, args);
  }
  const [a, b] = [await ours.call('PTTL', k), await theirs.call('PTTL', k)];
  if (typeof a === 'number' && typeof b === 'number' && a >= 0 && b >= 0) {
    assert.ok(Math.abs(a - b) <= ttlSlackMs, `PTTL ${k}: ${a} beside ${b}`);
  } else {
    assert.deepEqual(comparable(a), comparable(b), `PTTL ${k}`);
  }
}

describe('Tandem and redis-server answer the hash commands alike', { timeout: 600_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
    // Goal: each hash command's replies, error texts included (WRONGTYPE both ways), and
    // the type, encoding, fields and TTL it leaves, are Redis 7.0's, for any sequence.
    const counted = new CommandCount();
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          counted.add(commands.length);
          for (const client of [ours, theirs]) {
            await client.call('DEL', ...keys);
            await client.call('SET', 's1', '5');
            await client.call('HSET', 'h1', 'f1', '1', 'f2', 'hello');
          }
          for (const args of commands) await sameAnswer(ours, theirs, args);
          for (const k of keys) await sameKey(ours, theirs, k);
        }),
        { numRuns: differentialRuns(40), ...seedOption },
      );
    } finally {
      counted.report(t);
      ours.close();
      theirs.close();
    }
  });

  test('a listpack hash lists its fields in Redis order', { skip: redisSkip }, async () => {
    // Goal: a small hash answers HKEYS, HVALS, HGETALL and HSCAN in Redis's listpack order
    // (creation order, an update keeps a field's place, a field deleted and set again goes
    // last), and converts to a hashtable exactly where Redis does.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    const steps = [
      ['DEL', 'o'],
      ['HSET', 'o', 'c', '1', 'a', '2', 'b', '3'],
      ['HSET', 'o', 'a', '20', 'd', '4'],
      ['HDEL', 'o', 'c'],
      ['HSETNX', 'o', 'c', '5'],
      ['HINCRBY', 'o', 'e', '7'],
      ['HKEYS', 'o'],
      ['HVALS', 'o'],
      ['HGETALL', 'o'],
      ['HSCAN', 'o', '0', 'COUNT', '1'],
      ['HSCAN', 'o', '0', 'MATCH', '[ab]'],
      ['OBJECT', 'ENCODING', 'o'],
      ['HSETNX', 'o', 'a', 'y'.repeat(65)],
      ['OBJECT', 'ENCODING', 'o'],
      ['HGET', 'o', 'a'],
      ['DEL', 'o'],
      ['HSET', 'o', ...Array.from({ length: 512 }, (_, i) => [`f${i}`, 'v']).flat()],
      ['OBJECT', 'ENCODING', 'o'],
      ['HSET', 'o', 'one-more', 'v'],
      ['OBJECT', 'ENCODING', 'o'],
      ['HDEL', 'o', 'one-more', 'f0', 'f1'],
      ['OBJECT', 'ENCODING', 'o'],
      ['HINCRBYFLOAT', 'p', 'x'.repeat(65), '1.5'],
      ['OBJECT', 'ENCODING', 'p'],
      ['DEL', 'o', 'p'],
    ];
    try {
      for (const args of steps) {
        const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
        assert.deepEqual(comparable(mine), comparable(redis7), args.join(' ').slice(0, 80));
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test(
    'HRANDFIELD past its bound is refused on a hash, answered as Redis elsewhere',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: a negative count of -LONG_MAX on a hash, which keeps redis-server 7.0 building
      // a reply until its memory runs out, is refused at once by Tandem, and the node answers
      // the next command; on an absent key, a string, or past Redis's own ranges, and at the
      // bound itself, Tandem answers what Redis answers.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const past = String(-hrandfieldRepeatsMax - 1);
      try {
        for (const client of [ours, theirs]) {
          await client.call('DEL', 'r', 'rs', 'absent');
          await client.call('HSET', 'r', 'f1', 'v1', 'f2', 'v2');
          await client.call('SET', 'rs', 'x');
        }
        for (const args of [
          ['HRANDFIELD', 'absent', '-9223372036854775807'],
          ['HRANDFIELD', 'rs', '-9223372036854775807'],
          ['HRANDFIELD', 'r', '-9223372036854775808'],
          ['HRANDFIELD', 'r', '-9223372036854775807', 'WITHVALUES'],
          ['HRANDFIELD', 'r', '-9223372036854775807', 'X'],
          ['HRANDFIELD', 'r', String(-hrandfieldRepeatsMax)],
          ['HRANDFIELD', 'absent', past],
        ]) {
          await sameAnswer(ours, theirs, args);
        }
        for (const args of [
          ['HRANDFIELD', 'r', '-9223372036854775807'],
          ['HRANDFIELD', 'r', past],
          ['HRANDFIELD', 'r', past, 'WITHVALUES'],
          ['HRANDFIELD', 'r', '-4611686018427387903', 'withvalues'],
        ]) {
          assert.ok(repeatsPastTandemsBound(args), args.join(' '));
          const reply = await replyOf(ours, 'Tandem', args);
          assert.deepEqual(comparable(reply), comparable(hrandfieldRepeatsRefused), args.join(' '));
        }
        assert.deepEqual(comparable(await replyOf(ours, 'Tandem', ['HLEN', 'r'])), 2);
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );
});
