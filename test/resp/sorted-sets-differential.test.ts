// Differential: the sorted set commands (ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK
// ZREVRANK ZCOUNT ZLEXCOUNT ZRANGE and its older forms, ZRANGESTORE, ZPOPMIN ZPOPMAX ZMPOP,
// ZREMRANGEBY*, ZRANDMEMBER, ZSCAN, ZUNION ZINTER ZDIFF and their STORE forms), the string
// and hash commands on sorted set keys and the reverse (WRONGTYPE), and the key commands on
// sorted sets (TYPE, OBJECT ENCODING, SCAN TYPE, RENAME, COPY, EXPIRE, DEL), driven with the
// same random commands on redis-server 7 and on a Tandem node, every reply compared.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  zrandmemberRepeatsMax,
  zrandmemberRepeatsRefused,
} from '../../src/api/resp/sorted-sets.js';
import type { Reply } from '../../src/api/resp/reply.js';
import { comparable, RawClient } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** How far the two servers' TTLs may differ: they read their clocks apart. */
const ttlSlackMs = 2_000;
/** How long either server may take to answer one command before the test fails. */
const replyTimeoutMs = 10_000;
/** Redis's LONG_MAX, the bound of ZRANDMEMBER's count. */
const longMax = 2n ** 63n - 1n;

/**
 * Two keys of sorted sets of any scores, one (zl) whose members all score 0 (member
 * ranges are Redis's only on such a set), one string.
 */
const keys = ['z1', 'z2', 'zl', 's1'] as const;
const key = fc.constantFrom('z1', 'z2', 'zl', 's1');
/** Keys whose scores any command may change (never zl). */
const scoredKey = fc.constantFrom('z1', 'z2', 's1');
const member = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'ab', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant('m'.repeat(65)) },
);
const score = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('1.5', '-0', '0.1', 'inf', '-inf', '+inf', '1e100', '3.0', '1e-5'),
  },
  { weight: 1, arbitrary: fc.constantFrom('x', '', 'nan', '1e400', ' 1', '1e17', '-2.5e-3') },
);
const bound = fc.constantFrom('-inf', '+inf', '(1', '1', '0', '(0', '5', '-1', 'x', '(', '', '2.5');
const lexBound = fc.constantFrom('-', '+', '[a', '(b', '[c', '(ab', '[', 'a', '(');
const rank = fc.constantFrom('0', '1', '-1', '-2', '3', '10', 'x', '-100');
const count = fc.oneof(
  fc.integer({ min: -4, max: 4 }).map(String),
  fc.constantFrom('x', '9223372036854775807', '-9223372036854775808', '-9223372036854775807'),
);
const limit = fc.constantFrom(
  [],
  ['LIMIT', '0', '2'],
  ['LIMIT', '1', '-1'],
  ['LIMIT', '-1', '2'],
  ['LIMIT', '0'],
  ['LIMIT', 'x', '1'],
);
const pairs = fc
  .array(fc.tuple(score, member), { minLength: 1, maxLength: 3 })
  .map((list) => list.flat());
const zaddFlags = fc.subarray(['NX', 'XX', 'GT', 'LT', 'CH', 'INCR']);
/** ZADD of 129 members at once: past zset-max-listpack-entries (128 in Redis 7.0). */
const manyMembers = Array.from({ length: 129 }, (_, i) => [String(i % 7), `m${i}`]).flat();
const setKeys = fc.array(key, { minLength: 1, maxLength: 3 });
const operationOptions = fc.constantFrom(
  [],
  ['WITHSCORES'],
  ['AGGREGATE', 'MIN'],
  ['AGGREGATE', 'max', 'WITHSCORES'],
  ['AGGREGATE', 'bad'],
  ['WEIGHTS'],
  ['BAD'],
);

const zsetCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(scoredKey, zaddFlags, pairs).map(([k, f, p]) => ['ZADD', k, ...f, ...p]),
  fc
    .tuple(fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([m]) => ['ZADD', 'zl', ...m.flatMap((one) => ['0', one])]),
  fc.tuple(scoredKey, score, member).map(([k, s, m]) => ['ZINCRBY', k, s, m]),
  fc
    .tuple(key, fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([k, m]) => ['ZREM', k, ...m]),
  fc.tuple(fc.constantFrom('ZCARD'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('ZSCORE', 'ZRANK', 'ZREVRANK'), key, member).map((c) => [...c]),
  fc
    .tuple(key, fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([k, m]) => ['ZMSCORE', k, ...m]),
  fc.tuple(key, bound, bound).map(([k, a, b]) => ['ZCOUNT', k, a, b]),
  fc.tuple(lexBound, lexBound).map(([a, b]) => ['ZLEXCOUNT', 'zl', a, b]),
  fc
    .tuple(key, rank, rank, fc.subarray(['REV', 'WITHSCORES']))
    .map(([k, a, b, o]) => ['ZRANGE', k, a, b, ...o]),
  fc
    .tuple(key, bound, bound, fc.subarray(['REV', 'WITHSCORES']), limit)
    .map(([k, a, b, o, l]) => ['ZRANGE', k, a, b, 'BYSCORE', ...o, ...l]),
  fc
    .tuple(lexBound, lexBound, fc.subarray(['REV']), limit)
    .map(([a, b, o, l]) => ['ZRANGE', 'zl', a, b, 'BYLEX', ...o, ...l]),
  fc
    .tuple(
      key,
      rank,
      rank,
      fc.constantFrom([], ['WITHSCORES'], ['LIMIT', '0', '1'], ['BYLEX', 'BYSCORE']),
    )
    .map(([k, a, b, o]) => ['ZRANGE', k, a, b, ...o]),
  fc
    .tuple(key, rank, rank, fc.subarray(['WITHSCORES']))
    .map(([k, a, b, o]) => ['ZREVRANGE', k, a, b, ...o]),
  fc
    .tuple(
      fc.constantFrom('ZRANGEBYSCORE', 'ZREVRANGEBYSCORE'),
      key,
      bound,
      bound,
      fc.subarray(['WITHSCORES']),
      limit,
    )
    .map(([n, k, a, b, o, l]) => [n, k, a, b, ...o, ...l]),
  fc
    .tuple(fc.constantFrom('ZRANGEBYLEX', 'ZREVRANGEBYLEX'), lexBound, lexBound, limit)
    .map(([n, a, b, l]) => [n, 'zl', a, b, ...l]),
  fc
    .tuple(scoredKey, key, bound, bound, fc.subarray(['REV']), limit)
    .map(([d, k, a, b, o, l]) => ['ZRANGESTORE', d, k, a, b, 'BYSCORE', ...o, ...l]),
  fc.tuple(scoredKey, key, rank, rank).map(([d, k, a, b]) => ['ZRANGESTORE', d, k, a, b]),
  fc
    .tuple(scoredKey, lexBound, lexBound, fc.subarray(['REV']), limit)
    .map(([d, a, b, o, l]) => ['ZRANGESTORE', d, 'zl', a, b, 'BYLEX', ...o, ...l]),
  fc
    .tuple(
      scoredKey,
      key,
      rank,
      rank,
      fc.constantFrom(['REV'], ['WITHSCORES'], ['LIMIT', '0', '-1']),
    )
    .map(([d, k, a, b, o]) => ['ZRANGESTORE', d, k, a, b, ...o]),
  fc
    .tuple(
      fc.constantFrom('ZUNIONSTORE', 'ZINTERSTORE'),
      scoredKey,
      setKeys,
      fc.constantFrom('2', '-0.5', 'x'),
    )
    .map(([n, d, k, w]) => [
      n,
      d,
      String(k.length),
      ...k,
      'WEIGHTS',
      ...k.map(() => w),
      'AGGREGATE',
      'SUM',
    ]),
  fc.tuple(fc.constantFrom('ZPOPMIN', 'ZPOPMAX'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('ZPOPMIN', 'ZPOPMAX'), key, count).map((c) => [...c]),
  fc
    .tuple(
      setKeys,
      fc.constantFrom('MIN', 'MAX', 'x'),
      fc.constantFrom([], ['COUNT', '2'], ['COUNT', '0'], ['COUNT']),
    )
    .map(([k, w, c]) => ['ZMPOP', String(k.length), ...k, w, ...c]),
  fc.constantFrom(
    ['ZMPOP', '0', 'z1', 'MIN'],
    ['ZMPOP', '3', 'z1', 'MIN'],
    ['ZMPOP', 'x', 'z1', 'MIN'],
  ),
  fc.tuple(scoredKey, rank, rank).map(([k, a, b]) => ['ZREMRANGEBYRANK', k, a, b]),
  fc.tuple(scoredKey, bound, bound).map(([k, a, b]) => ['ZREMRANGEBYSCORE', k, a, b]),
  fc.tuple(lexBound, lexBound).map(([a, b]) => ['ZREMRANGEBYLEX', 'zl', a, b]),
  fc.tuple(key).map(([k]) => ['ZRANDMEMBER', k]),
  fc.tuple(key, count).map(([k, c]) => ['ZRANDMEMBER', k, c]),
  fc
    .tuple(key, count, fc.constantFrom('WITHSCORES', 'withscores', 'X'))
    .map(([k, c, w]) => ['ZRANDMEMBER', k, c, w]),
  fc
    .tuple(
      key,
      fc.constantFrom('0', '0', 'x', '-1'),
      fc.constantFrom([], ['MATCH', 'a*'], ['COUNT', '2'], ['COUNT', '0'], ['MATCH'], ['BAD', '1']),
    )
    .map(([k, c, o]) => ['ZSCAN', k, c, ...o]),
  fc
    .tuple(fc.constantFrom('ZUNION', 'ZINTER', 'ZDIFF'), setKeys, operationOptions)
    .map(([n, k, o]) => [n, String(k.length), ...k, ...o]),
  fc
    .tuple(
      fc.constantFrom('ZUNION', 'ZINTER'),
      setKeys,
      fc.constantFrom('2', '-1', '0.5', 'x', 'inf'),
    )
    .map(([n, k, w]) => [n, String(k.length), ...k, 'WEIGHTS', ...k.map(() => w), 'WITHSCORES']),
  fc
    .tuple(
      fc.constantFrom('ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE'),
      scoredKey,
      setKeys,
      operationOptions,
    )
    .map(([n, d, k, o]) => [n, d, String(k.length), ...k, ...o.filter((x) => x !== 'WITHSCORES')]),
  fc.constantFrom(
    ['ZUNION', '0', 'z1'],
    ['ZUNIONSTORE', 'z2', '0', 'z1'],
    ['ZINTER', '3', 'z1'],
    ['ZDIFF', 'x', 'z1'],
    ['ZADD', 'z1', ...manyMembers],
    ['ZADD', 'z2', '1', 'x'.repeat(70)],
    ['ZADD', 'z1'],
    ['ZADD', 'z1', '1'],
    ['ZADD', 'z1', 'NX', '1'],
    ['ZINCRBY', 'z1', '1'],
    ['ZRANGE', 'z1', '0'],
    ['ZPOPMIN'],
    ['ZPOPMIN', 'z1', '1', '2'],
    ['ZSCORE', 'z1'],
  ),
);
/** Commands of the other families on any key: WRONGTYPE, or the same effect on a sorted set. */
const otherCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'STRLEN', 'INCR', 'TYPE', 'HLEN'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('SET', 'APPEND'), key, member).map((c) => [...c]),
  fc.tuple(key).map(([k]) => ['HSET', k, 'f', 'v']),
  fc.tuple(fc.constantFrom('DEL', 'EXISTS', 'PERSIST'), key).map((c) => [...c]),
  fc.tuple(fc.constant('OBJECT'), fc.constant('ENCODING'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('RENAME', 'COPY'), scoredKey, scoredKey).map((c) => [...c]),
  fc.tuple(fc.constant('COPY'), scoredKey, scoredKey, fc.constant('REPLACE')).map((c) => [...c]),
  fc.tuple(fc.constant('EXPIRE'), key, fc.constantFrom('100', '1000')).map((c) => [...c]),
  fc.constantFrom(['SCAN', '0', 'TYPE', 'zset', 'COUNT', '100']),
);
const command = fc.oneof(zsetCommand, zsetCommand, zsetCommand, otherCommand);

/**
 * A reply as it is compared: exactly, but for what is random or order-free by design:
 * ZRANDMEMBER's picks (their count), a skiplist's ZSCAN page (its order is Redis's hash
 * table's), SCAN's keys (sorted), and a string's encoding.
 */
function compared(args: readonly string[], reply: Reply | 'closed', encoding: unknown): unknown {
  const name = (args[0] as string).toUpperCase();
  const value = comparable(reply);
  if (!Array.isArray(value)) {
    if (name === 'OBJECT' && ['$raw', '$embstr', '$int'].includes(value as string)) {
      return 'a string';
    }
    return name === 'ZRANDMEMBER' && typeof value === 'string' && value.startsWith('$')
      ? 'a member'
      : value;
  }
  if (name === 'ZRANDMEMBER') return `${value.length} elements`;
  if (name === 'SCAN') return [value[0], [...(value[1] as unknown[])].sort()];
  if (name === 'ZSCAN' && encoding === '$skiplist') return 'a page of a skiplist';
  return value;
}

/** `server`'s reply to `args`, failing the test when it does not come within replyTimeoutMs. */
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
 * Whether `args` is a ZRANDMEMBER that Redis 7.0 answers with more picks than
 * zrandmemberRepeatsMax (a negative count it takes): never sent to it, as HRANDFIELD's.
 */
function repeatsPastTandemsBound(args: readonly string[]): boolean {
  if (args[0]?.toUpperCase() !== 'ZRANDMEMBER' || args.length < 3 || args.length > 4) return false;
  if (args.length === 4 && args[3]?.toLowerCase() !== 'withscores') return false;
  if (!/^-[0-9]+$/.test(args[2] as string)) return false;
  const n = BigInt(args[2] as string);
  const lowest = args.length === 4 ? -longMax / 2n : -longMax;
  return n >= lowest && -n > BigInt(zrandmemberRepeatsMax);
}

/** The key whose encoding a command's reply order depends on. */
function keyOf(args: readonly string[]): string {
  return args[1] ?? '';
}

/** Sends `args` to both servers and checks their replies alike, as `compared` says. */
async function sameAnswer(ours: RawClient, theirs: RawClient, args: readonly string[]) {
  const encoding = comparable(
    await replyOf(theirs, 'redis-server', ['OBJECT', 'ENCODING', keyOf(args)]),
  );
  if (repeatsPastTandemsBound(args) && (encoding === '$listpack' || encoding === '$skiplist')) {
    const refused = comparable(zrandmemberRepeatsRefused);
    assert.deepEqual(comparable(await replyOf(ours, 'Tandem', args)), refused, args.join(' '));
    return;
  }
  const mine = await replyOf(ours, 'Tandem', args);
  const redis7 = await replyOf(theirs, 'redis-server', args);
  assert.deepEqual(
    compared(args, mine, encoding),
    compared(args, redis7, encoding),
    args.join(' ').slice(0, 200),
  );
}

/** What a key holds at the end of a run, on both servers: type, encoding, members, TTL. */
async function sameKey(ours: RawClient, theirs: RawClient, k: string): Promise<void> {
  for (const args of [
    ['TYPE', k],
    ['OBJECT', 'ENCODING', k],
    ['ZCARD', k],
    ['ZRANGE', k, '0', '-1', 'WITHSCORES'],
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

/** Every run starts from the same keys on both servers. */
async function reset(client: RawClient): Promise<void> {
  await client.call('DEL', ...keys);
  await client.call('SET', 's1', '5');
  await client.call('ZADD', 'z1', '1', 'a', '2', 'b', '2', 'c', '-0.5', 'd');
  await client.call('ZADD', 'zl', '0', 'a', '0', 'b', '0', 'c', '0', 'd');
}

/** A command as RESP bytes. */
function encoded(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/**
 * The bytes `port` answers to each of `commands` after HELLO 3, one command at a time
 * (each answer complete once nothing more comes for a while: the replies are small).
 */
async function resp3Bytes(port: number, commands: readonly string[][]): Promise<string[]> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  const settled = async (): Promise<string> => {
    let seen = -1;
    while (seen !== received.length || received.length === 0) {
      seen = received.length;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const answer = received;
    received = '';
    return answer;
  };
  try {
    socket.write(encoded(['HELLO', '3']));
    await settled();
    const answers = [];
    for (const args of commands) {
      socket.write(encoded(args));
      answers.push(await settled());
    }
    return answers;
  } finally {
    socket.destroy();
  }
}

describe(
  'Tandem and redis-server answer the sorted set commands alike',
  { timeout: 600_000 },
  () => {
    const ports = redisBesideTandem();

    test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
      // Goal: each sorted set command's replies, error texts included (WRONGTYPE both ways),
      // and the type, encoding, members, scores and TTL it leaves, are Redis 7.0's.
      const counted = new CommandCount();
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
            counted.add(commands.length);
            for (const client of [ours, theirs]) await reset(client);
            for (const args of commands) await sameAnswer(ours, theirs, args);
            for (const k of keys) await sameKey(ours, theirs, k);
          }),
          { numRuns: differentialRuns(100), ...seedOption },
        );
      } finally {
        counted.report(t);
        ours.close();
        theirs.close();
      }
    });

    test('RESP3 replies are Redis 7.0 bytes for byte', { skip: redisSkip }, async () => {
      // Goal: in RESP3 scores are doubles written as Redis 7.0 writes them, pairs nest where
      // Redis nests them (ZRANGE WITHSCORES, ZPOPMIN with a count, ZMPOP), and a ZMPOP of
      // nothing is RESP3's null.
      const commands = [
        ['DEL', 'r3'],
        ['ZADD', 'r3', '0.1', 'a', '1e100', 'b', '-inf', 'c', '3', 'd'],
        ['ZRANGE', 'r3', '0', '-1', 'WITHSCORES'],
        ['ZSCORE', 'r3', 'a'],
        ['ZMSCORE', 'r3', 'b', 'zz'],
        ['ZPOPMIN', 'r3', '1'],
        ['ZPOPMIN', 'r3'],
        ['ZINCRBY', 'r3', '1', 'q'],
        ['ZADD', 'r3', 'INCR', '2', 'q'],
        ['ZRANDMEMBER', 'r3', '-1', 'WITHSCORES'],
        ['ZUNION', '1', 'r3', 'WITHSCORES'],
        ['ZSCAN', 'r3', '0'],
        ['ZMPOP', '1', 'r3', 'MAX', 'COUNT', '2'],
        ['ZMPOP', '1', 'absent', 'MAX'],
        ['DEL', 'r3'],
      ];
      const mine = await resp3Bytes(ports().tandem, commands);
      const redis7 = await resp3Bytes(ports().redis, commands);
      commands.forEach((args, i) => {
        const name = args.join(' ');
        // A random member: only the reply's shape is the same.
        if (args[0] === 'ZRANDMEMBER') assert.match(mine[i] ?? '', /^\*1\r\n\*2\r\n/, name);
        else assert.equal(mine[i], redis7[i], name);
      });
    });

    test(
      'scores are parsed, ordered and formatted as Redis 7.0 does',
      { skip: redisSkip },
      async () => {
        // Goal: the scores' texts (%.17g, inf, -0 in a skiplist but 0 in a listpack), the
        // order of equal scores by member bytes, ZINCRBY's NaN refusal, and the encodings
        // (listpack up to 128 members of 64 bytes, then skiplist; a stored result made in the
        // encoding its size calls for) are Redis's, step by step.
        const ours = await RawClient.open(ports().tandem);
        const theirs = await RawClient.open(ports().redis);
        const long = 'x'.repeat(65);
        const steps = [
          ['DEL', 'o', 'p', 'q'],
          ['ZADD', 'o', '0.1', 'a', '1e100', 'b', '3.0', 'c', '-0.0', 'd', 'inf', 'e', '1e-5', 'f'],
          ['ZADD', 'o', '123456789012345678', 'g', '1e17', 'h', '-inf', 'i', '2', 'B', '2', 'b2'],
          ['ZRANGE', 'o', '0', '-1', 'WITHSCORES'],
          ['ZSCORE', 'o', 'd'],
          ['ZSCAN', 'o', '0'],
          ['ZINCRBY', 'o', '-inf', 'e'],
          ['ZADD', 'o', 'INCR', '-inf', 'e'],
          ['ZINCRBY', 'o', '1', 'zz'],
          ['OBJECT', 'ENCODING', 'o'],
          ['ZADD', 'o', '-0', long],
          ['OBJECT', 'ENCODING', 'o'],
          ['ZADD', 'o', '-0', 'neg'],
          ['ZSCORE', 'o', 'neg'],
          ['ZSCORE', 'o', 'd'],
          ['ZRANGE', 'o', '0', '-1', 'WITHSCORES'],
          ['ZREM', 'o', long],
          ['OBJECT', 'ENCODING', 'o'],
          ['ZRANGESTORE', 'p', 'o', '0', '-1'],
          ['OBJECT', 'ENCODING', 'p'],
          ['ZSCORE', 'p', 'neg'],
          ['ZUNIONSTORE', 'q', '2', 'o', 'p', 'WEIGHTS', '1', '-1'],
          ['ZRANGE', 'q', '0', '-1', 'WITHSCORES'],
          ['ZINTERSTORE', 'q', '2', 'o', 'p', 'AGGREGATE', 'MAX'],
          ['ZRANGE', 'q', '0', '-1', 'WITHSCORES'],
          ['ZADD', 'p', ...Array.from({ length: 128 }, (_, i) => [String(i), `n${i}`]).flat()],
          ['OBJECT', 'ENCODING', 'p'],
          ['DEL', 'p'],
          ['ZADD', 'p', ...Array.from({ length: 128 }, (_, i) => [String(i), `n${i}`]).flat()],
          ['OBJECT', 'ENCODING', 'p'],
          ['ZADD', 'p', '1', 'one-more'],
          ['OBJECT', 'ENCODING', 'p'],
          ['ZRANK', 'p', 'n100'],
          ['ZREVRANK', 'p', 'n100'],
          ['ZRANGE', 'p', '(5', '10', 'BYSCORE', 'LIMIT', '1', '3', 'WITHSCORES'],
          ['ZRANGE', 'p', '10', '(5', 'BYSCORE', 'REV', 'LIMIT', '1', '3'],
          ['ZREMRANGEBYRANK', 'p', '0', '9'],
          ['ZCARD', 'p'],
          ['ZPOPMAX', 'p', '3'],
          ['ZMPOP', '2', 'absent', 'p', 'MIN', 'COUNT', '2'],
          ['ZDIFFSTORE', 'q', '2', 'p', 'o'],
          ['OBJECT', 'ENCODING', 'q'],
          ['ZREMRANGEBYSCORE', 'p', '-inf', '+inf'],
          ['EXISTS', 'p'],
          ['DEL', 'o', 'p', 'q'],
          // A transaction's sorted set writes apply in order, each answered in EXEC's array.
          ['MULTI'],
          ['ZADD', 'o', '1', 'a', '2', 'b'],
          ['ZINCRBY', 'o', '5', 'a'],
          ['ZPOPMAX', 'o'],
          ['ZADD', 'o', 'INCR', 'inf', 'b'],
          ['ZINCRBY', 'o', '-inf', 'b'],
          ['ZUNIONSTORE', 'p', '1', 'o'],
          ['ZADD', 'p', 'x', 'y'],
          ['TYPE', 'o'],
          ['EXEC'],
          ['ZRANGE', 'p', '0', '-1', 'WITHSCORES'],
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
      },
    );
  },
);
