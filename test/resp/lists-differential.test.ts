// Differential: the list commands (LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX
// LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP), the string and hash commands on
// list keys and the list commands on string and hash keys (WRONGTYPE), and the key
// commands on lists (TYPE, OBJECT ENCODING, SCAN TYPE, RENAME, COPY, EXPIRE, DEL), driven
// with the same random commands on redis-server 7 and on a Tandem node, every reply
// compared, and in MULTI/EXEC.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Reply } from '../../src/api/resp/reply.js';
import { comparable, RawBytesClient, RawClient } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** How far the two servers' TTLs may differ: they read their clocks apart. */
const ttlSlackMs = 2_000;

const keys = ['l1', 'l2', 's1', 'h1'] as const;
/** Two keys that hold lists, one a string and one a hash (each run sets them first). */
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('l1', 'l2') },
  { weight: 1, arbitrary: fc.constantFrom('s1', 'h1') },
);
const element = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'c', '1', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(70)) },
);
const elements = fc.array(element, { minLength: 1, maxLength: 4 });
/** Indexes and counts: small ones both ways, the int64 bounds, and what is no integer. */
const index = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -6, max: 6 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '9223372036854775807',
      '-9223372036854775808',
      '9223372036854775808',
      'x',
      '',
      '01',
      '+1',
      '1.5',
    ),
  },
);
const end = fc.constantFrom('LEFT', 'RIGHT', 'left', 'Right', 'UP');
const lposOption = fc.oneof(
  fc.tuple(
    fc.constant('RANK'),
    fc.constantFrom('1', '2', '-1', '-2', '0', 'x', '-9223372036854775807'),
  ),
  fc.tuple(fc.constantFrom('COUNT', 'count'), fc.constantFrom('0', '1', '2', '-1', 'x')),
  fc.tuple(fc.constant('MAXLEN'), fc.constantFrom('0', '1', '3', '-1', 'x')),
  fc.constant(['BAD', '1'] as const),
);

const listCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('LPUSH', 'RPUSH', 'LPUSHX', 'RPUSHX', 'rpush'), key, elements)
    .map(([n, k, e]) => [n, k, ...e]),
  fc.tuple(fc.constantFrom('LPOP', 'RPOP'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('LPOP', 'RPOP'), key, index).map((c) => [...c]),
  fc.tuple(fc.constant('LLEN'), key).map((c) => [...c]),
  fc.tuple(fc.constant('LRANGE'), key, index, index).map((c) => [...c]),
  fc.tuple(fc.constant('LRANGE'), key, fc.constant('0'), fc.constant('-1')).map((c) => [...c]),
  fc.tuple(fc.constant('LINDEX'), key, index).map((c) => [...c]),
  fc.tuple(fc.constant('LSET'), key, index, element).map((c) => [...c]),
  fc
    .tuple(
      fc.constant('LINSERT'),
      key,
      fc.constantFrom('BEFORE', 'after', 'MIDDLE'),
      element,
      element,
    )
    .map((c) => [...c]),
  fc.tuple(fc.constant('LREM'), key, index, element).map((c) => [...c]),
  fc.tuple(fc.constant('LTRIM'), key, index, index).map((c) => [...c]),
  fc
    .tuple(fc.constant('LPOS'), key, element, fc.array(lposOption, { maxLength: 3 }))
    .map(([n, k, e, o]) => [n, k, e, ...o.flat()]),
  fc.tuple(fc.constant('LMOVE'), key, key, end, end).map((c) => [...c]),
  fc.tuple(fc.constant('RPOPLPUSH'), key, key).map((c) => [...c]),
  fc
    .tuple(
      fc.constant('LMPOP'),
      fc.array(key, { minLength: 1, maxLength: 3 }),
      end,
      fc.constantFrom([], ['COUNT', '2'], ['COUNT', '10'], ['COUNT', '0'], ['COUNT'], ['X']),
    )
    .map(([n, k, e, o]) => [n, String(k.length), ...k, e, ...o]),
  fc.constantFrom(
    ['LMPOP', '0', 'l1', 'LEFT'],
    ['LMPOP', 'x', 'l1', 'LEFT'],
    ['LMPOP', '3', 'l1', 'LEFT'],
    ['LMPOP', '1', 'l1', 'LEFT', 'COUNT', '1', 'COUNT', '1'],
    ['LPUSH', 'l1'],
    ['LPOP'],
    ['LPOP', 'l1', '1', '2'],
    ['LRANGE', 'l1', '0'],
    ['LSET', 'l1', '0'],
    ['LINSERT', 'l1', 'BEFORE', 'a'],
    ['LPOS', 'l1'],
    ['LMOVE', 'l1', 'l2', 'LEFT'],
    ['RPOPLPUSH', 'l1'],
    ['RPUSH', 'l2', ...Array.from({ length: 300 }, (_, i) => `e${i % 7}`)],
  ),
);
/** Commands of the other families on any key: WRONGTYPE, or the same effect on a list. */
const otherCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('GET', 'STRLEN', 'INCR', 'GETDEL', 'TYPE', 'HLEN', 'HGETALL'), key)
    .map((c) => [...c]),
  fc.tuple(fc.constantFrom('SET', 'APPEND'), key, element).map((c) => [...c]),
  fc.tuple(fc.constant('HSET'), key, element, element).map((c) => [...c]),
  fc.tuple(fc.constant('MGET'), key, key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('DEL', 'EXISTS', 'PERSIST'), key).map((c) => [...c]),
  fc.tuple(fc.constant('OBJECT'), fc.constant('ENCODING'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('RENAME', 'RENAMENX', 'COPY'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('COPY'), key, key, fc.constant('REPLACE')).map((c) => [...c]),
  fc.tuple(fc.constant('EXPIRE'), key, fc.constantFrom('100', '1000')).map((c) => [...c]),
  fc.constantFrom(['SCAN', '0', 'TYPE', 'list', 'COUNT', '100'], ['SCAN', '0', 'TYPE', 'string']),
);
const command = fc.oneof(listCommand, listCommand, listCommand, otherCommand);

/**
 * A reply as it is compared: exactly, but for SCAN's keys (sorted) and a string's int,
 * embstr or raw (Redis's depends on how the value was made).
 */
function compared(args: readonly string[], reply: Reply | 'closed'): unknown {
  const name = (args[0] as string).toUpperCase();
  const value = comparable(reply);
  if (!Array.isArray(value)) {
    if (name === 'OBJECT' && ['$raw', '$embstr', '$int'].includes(value as string)) {
      return 'a string';
    }
    return value;
  }
  if (name === 'SCAN') return [value[0], [...(value[1] as unknown[])].sort()];
  return value;
}

/** Sends `args` to both servers and checks their replies alike. */
async function sameAnswer(
  ours: RawClient,
  theirs: RawClient,
  args: readonly string[],
): Promise<void> {
  const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
  assert.ok(mine !== 'closed' && redis7 !== 'closed', `closed on ${args.join(' ')}`);
  assert.deepEqual(compared(args, mine), compared(args, redis7), args.join(' ').slice(0, 200));
}

/** What a key holds at the end of a run, on both servers: type, encoding, elements, TTL. */
async function sameKey(ours: RawClient, theirs: RawClient, k: string): Promise<void> {
  for (const args of [
    ['TYPE', k],
    ['OBJECT', 'ENCODING', k],
    ['LLEN', k],
    ['LRANGE', k, '0', '-1'],
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

/** Both servers' keys as each run starts: two lists, a string and a hash. */
async function setUp(client: RawClient): Promise<void> {
  await client.call('DEL', ...keys);
  await client.call('SET', 's1', '5');
  await client.call('HSET', 'h1', 'f', 'v');
  await client.call('RPUSH', 'l1', 'a', 'b', 'c', 'a');
}

describe('Tandem and redis-server answer the list commands alike', { timeout: 600_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
    // Goal: each list command's replies, error texts included (WRONGTYPE both ways), and
    // the type, encoding, elements and TTL it leaves, are Redis 7.0's, for any sequence.
    const counted = new CommandCount();
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          counted.add(commands.length);
          for (const client of [ours, theirs]) await setUp(client);
          for (const args of commands) await sameAnswer(ours, theirs, args);
          for (const k of keys) await sameKey(ours, theirs, k);
        }),
        { numRuns: differentialRuns(60), ...seedOption },
      );
    } finally {
      counted.report(t);
      ours.close();
      theirs.close();
    }
  });

  test('the same random transactions give the same replies', { skip: redisSkip }, async () => {
    // Goal: list writes and reads queued in MULTI apply in order with Redis's replies in
    // EXEC's array (each read after the writes before it), errors in place (WRONGTYPE, "no
    // such key") without stopping the rest.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    const write = listCommand.filter(
      (args) => !(args[0] === 'LSET' && !/^-?[0-9]+$/.test(args[2] ?? '')),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 8 }), async (commands) => {
          for (const client of [ours, theirs]) await setUp(client);
          await sameAnswer(ours, theirs, ['MULTI']);
          for (const args of commands) await sameAnswer(ours, theirs, args);
          await sameAnswer(ours, theirs, ['EXEC']);
          for (const k of keys) await sameKey(ours, theirs, k);
        }),
        { numRuns: 30 },
      );
    } finally {
      ours.close();
      theirs.close();
    }
  });

  for (const protocol of ['2', '3']) {
    test(
      `RESP${protocol} frames of the list commands are Redis 7.0's, byte for byte`,
      { skip: redisSkip },
      async () => {
        // Goal: the nils, null arrays and nested arrays (LPOP with a count, LMPOP, LPOS,
        // LMOVE of an absent source) come in the same frames as Redis's, in RESP2 and RESP3.
        const ours = await RawBytesClient.open(ports().tandem);
        const theirs = await RawBytesClient.open(ports().redis);
        try {
          // HELLO's own reply names the server: it is read and not compared.
          for (const client of [ours, theirs]) await client.call(['HELLO', protocol]);
          for (const args of [
            ['DEL', 'r3', 'none'],
            ['LPOP', 'none'],
            ['LPOP', 'none', '2'],
            ['LPOP', 'none', '0'],
            ['LMPOP', '1', 'none', 'LEFT'],
            ['LMOVE', 'none', 'r3', 'LEFT', 'RIGHT'],
            ['LPOS', 'none', 'a'],
            ['LPOS', 'none', 'a', 'COUNT', '0'],
            ['RPUSH', 'r3', 'a', 'b', 'a'],
            ['LPOP', 'r3', '0'],
            ['LINDEX', 'r3', '9'],
            ['LPOS', 'r3', 'z'],
            ['LPOS', 'r3', 'a', 'COUNT', '0'],
            ['LMPOP', '2', 'none', 'r3', 'RIGHT', 'COUNT', '2'],
            ['LRANGE', 'r3', '0', '-1'],
            ['RPOPLPUSH', 'r3', 'r3'],
            ['LPOP', 'r3', '5'],
            ['EXISTS', 'r3'],
          ]) {
            const [mine, redis7] = [await ours.call(args), await theirs.call(args)];
            assert.ok(redis7 !== '', `no reply to ${args.join(' ')}`);
            assert.equal(mine, redis7, args.join(' '));
          }
        } finally {
          ours.close();
          theirs.close();
        }
      },
    );
  }

  test('lists past 8 KB and many elements answer as Redis does', { skip: redisSkip }, async () => {
    // Goal: a long list (thousands of pushes at both ends, pops, inner inserts and
    // removals) holds the same elements as Redis's, and OBJECT ENCODING is quicklist.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    const steps: string[][] = [['DEL', 'big']];
    for (let i = 0; i < 200; i++) {
      steps.push([
        i % 2 === 0 ? 'LPUSH' : 'RPUSH',
        'big',
        ...Array.from({ length: 10 }, (_, j) => `v${(i * 10 + j) % 13}`),
      ]);
      if (i % 7 === 0) steps.push(['LPOP', 'big', '3'], ['RPOP', 'big']);
      if (i % 11 === 0)
        steps.push(['LINSERT', 'big', 'BEFORE', 'v5', 'in'], ['LREM', 'big', '-2', 'v3']);
      if (i % 13 === 0) steps.push(['LSET', 'big', String(i), 'set'], ['RPOPLPUSH', 'big', 'big']);
    }
    steps.push(
      ['LLEN', 'big'],
      ['OBJECT', 'ENCODING', 'big'],
      ['LRANGE', 'big', '0', '-1'],
      ['LPOS', 'big', 'v5', 'COUNT', '0'],
      ['LPOS', 'big', 'v5', 'RANK', '-3', 'COUNT', '4', 'MAXLEN', '900'],
      ['LREM', 'big', '0', 'v1'],
      ['LTRIM', 'big', '100', '-100'],
      ['LRANGE', 'big', '0', '-1'],
      ['LINDEX', 'big', '-7'],
      ['LTRIM', 'big', '5', '1'],
      ['EXISTS', 'big'],
    );
    try {
      for (const args of steps) await sameAnswer(ours, theirs, args);
    } finally {
      ours.close();
      theirs.close();
    }
  });
});
