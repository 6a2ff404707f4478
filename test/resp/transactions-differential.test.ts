// Differential: MULTI, EXEC, DISCARD, WATCH and UNWATCH driven with the same random
// transactions on redis-server 7 and on a Tandem node (string and key commands, errors at
// queue time and at run time, DISCARD, WATCH with a write from a second connection), every
// reply compared; transactions that mix reads and writes of hashes, sets, sorted sets and
// lists and WATCH them, on the SQLite store and on PostgreSQL; and by hand, EXEC's nil byte
// for byte, watched keys that expire, a transaction's read limit, and permissions checked
// when queued and again at EXEC.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { sleep } from '../node/cluster.js';
import { comparable, RawBytesClient, RawClient, sameReply } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';
import { transactionBytesMax } from '../../src/store/commands.js';

const key = fc.constantFrom('k1', 'k2', 'k3');
const value = fc.constantFrom('', 'v', '10', '-3', 'hello', '1.5');
const amount = fc.constantFrom('1', '-2', '0', 'x', '99999999999999999999');

/** String and key commands, valid ones and ones that fail when they run. */
const command: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('SET', 'GETSET', 'SETNX', 'APPEND'), key, value).map((c) => [...c]),
  fc
    .tuple(fc.constant('SET'), key, value, fc.constantFrom('NX', 'XX', 'GET', 'BAD', 'EX'))
    .map((c) => [...c]),
  fc
    .tuple(fc.constantFrom('GET', 'INCR', 'DECR', 'STRLEN', 'TYPE', 'GETDEL', 'PERSIST'), key)
    .map((c) => [...c]),
  fc.tuple(fc.constantFrom('INCRBY', 'DECRBY'), key, amount).map((c) => [...c]),
  fc.tuple(fc.constant('INCRBYFLOAT'), key, fc.constantFrom('1.5', 'x', '-2')).map((c) => [...c]),
  fc.tuple(fc.constantFrom('DEL', 'EXISTS', 'MGET'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('MSET'), key, value, key, value).map((c) => [...c]),
  fc
    .tuple(fc.constantFrom('EXPIRE', 'PEXPIRE'), key, fc.constantFrom('100000', 'x', '-1'))
    .map((c) => [...c]),
  fc.tuple(fc.constantFrom('TTL', 'EXPIRETIME'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('RENAME', 'RENAMENX', 'COPY'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('GETRANGE'), key, amount, amount).map((c) => [...c]),
  fc.tuple(fc.constant('SETRANGE'), key, fc.constantFrom('0', '2', '-1'), value).map((c) => [...c]),
  // Refused when queued: wrong arity and unknown commands (EXEC then answers EXECABORT).
  fc.constantFrom(['GET'], ['SET', 'k1'], ['NOSUCH', 'k1'], ['INCR', 'k1', 'k2']),
  // Not queued: they answer inside MULTI and the transaction goes on.
  fc.constantFrom(['MULTI'], ['WATCH', 'k1'], ['UNWATCH'], ['PING'], ['ECHO', 'hi']),
);

/** A write from another connection between WATCH and EXEC, or none. */
const concurrent = fc.option(
  fc.oneof(
    fc.tuple(fc.constantFrom('SET', 'APPEND'), key, value).map((c) => [...c]),
    fc.tuple(fc.constantFrom('DEL', 'INCR', 'PERSIST'), key).map((c) => [...c]),
    fc.tuple(fc.constant('EXPIRE'), key, fc.constant('100000')).map((c) => [...c]),
    fc
      .tuple(fc.constant('GETEX'), key, fc.constant('PX'), fc.constant('200000'))
      .map((c) => [...c]),
  ),
  { nil: undefined },
);

/** One transaction: what it watches, when the other connection writes, how it ends. */
const transaction = fc.record({
  watched: fc.array(key, { maxLength: 2 }),
  concurrent,
  writeAfterMulti: fc.boolean(),
  queued: fc.array(command, { maxLength: 6 }),
  end: fc.constantFrom('EXEC', 'EXEC', 'EXEC', 'DISCARD', 'EXEC x'),
});
const block = fc.oneof(
  command.map((args) => ({ kind: 'plain' as const, args })),
  transaction.map((t) => ({ kind: 'transaction' as const, ...t })),
);

/** Both servers' main connection and a second one for concurrent writes. */
interface Clients {
  readonly ours: RawClient;
  readonly theirs: RawClient;
  readonly otherOurs: RawClient;
  readonly otherTheirs: RawClient;
}

/** Sends a write on both second connections (its reply compared too). */
function elsewhere(clients: Clients, args: readonly string[]): Promise<void> {
  return sameReply(clients.otherOurs, clients.otherTheirs, args);
}

/** One drawn transaction. */
type Transaction = typeof transaction extends fc.Arbitrary<infer T> ? T : never;

async function runTransaction(clients: Clients, t: Transaction) {
  const same = (args: readonly string[]) => sameReply(clients.ours, clients.theirs, args);
  if (t.watched.length > 0) await same(['WATCH', ...t.watched]);
  if (t.concurrent !== undefined && !t.writeAfterMulti) await elsewhere(clients, t.concurrent);
  await same(['MULTI']);
  for (const args of t.queued) await same(args);
  if (t.concurrent !== undefined && t.writeAfterMulti) await elsewhere(clients, t.concurrent);
  await same(t.end.split(' '));
  // Whatever the ending, the connection is out of MULTI and unwatched afterwards.
  await same(['EXEC']);
}

describe('Tandem and redis-server answer transactions alike', { timeout: 300_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random transactions give the same replies', { skip: redisSkip }, async () => {
    // Goal: QUEUED, EXEC's arrays (run-time errors in place), EXECABORT, DISCARD, nested
    // MULTI and WATCH inside MULTI, and WATCH's aborts after another connection's write are
    // Redis 7.0's, for any sequence; a failing sequence shrinks to a short one.
    const clients: Clients = {
      ours: await RawClient.open(ports().tandem),
      theirs: await RawClient.open(ports().redis),
      otherOurs: await RawClient.open(ports().tandem),
      otherTheirs: await RawClient.open(ports().redis),
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(block, { minLength: 1, maxLength: 6 }), async (blocks) => {
          // A failed run (fast-check shrinks by running again) may leave the two apart.
          for (const client of [clients.ours, clients.theirs]) {
            await client.call('DISCARD');
            await client.call('UNWATCH');
            await client.call('DEL', 'k1', 'k2', 'k3');
          }
          for (const item of blocks) {
            if (item.kind === 'plain') await sameReply(clients.ours, clients.theirs, item.args);
            else await runTransaction(clients, item);
          }
          for (const k of ['k1', 'k2', 'k3']) {
            await sameReply(clients.ours, clients.theirs, ['GET', k]);
            await sameReply(clients.ours, clients.theirs, ['TTL', k]);
          }
        }),
        { numRuns: 200 },
      );
    } finally {
      for (const client of Object.values(clients)) client.close();
    }
  });

  test("EXEC's nil is the null array, in RESP2 and in RESP3", { skip: redisSkip }, async () => {
    // Goal: an aborted EXEC answers `*-1` in RESP2 and `_` in RESP3, byte for byte as
    // Redis, not the null bulk string.
    for (const protocol of ['2', '3']) {
      const [mine, redis7] = await Promise.all([
        abortedExecBytes(ports().tandem, protocol),
        abortedExecBytes(ports().redis, protocol),
      ]);
      assert.equal(mine, redis7, `RESP${protocol}`);
      assert.ok(mine.endsWith(protocol === '2' ? '*-1\r\n' : '_\r\n'), mine);
    }
  });

  test(
    'a watched key that expires aborts EXEC, one expired before WATCH does not',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: Redis 7.0's rule for expiry under WATCH: a key alive at WATCH and expired at
      // EXEC counts as changed; a key already expired when watched does not.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const same = (...args: string[]) => sameReply(ours, theirs, args);
      try {
        await same('SET', 'soon', 'v', 'PX', '300');
        await same('WATCH', 'soon');
        await sleep(600);
        await same('MULTI');
        await same('GET', 'soon');
        await same('EXEC');
        await same('SET', 'gone', 'v', 'PX', '100');
        await sleep(300);
        await same('WATCH', 'gone');
        await same('MULTI');
        await same('GET', 'gone');
        await same('EXEC');
        // An expiry changed by another connection counts as a change too.
        await same('SET', 'ttl', 'v');
        await same('WATCH', 'ttl');
        const [otherOurs, otherTheirs] = [
          await RawClient.open(ports().tandem),
          await RawClient.open(ports().redis),
        ];
        await sameReply(otherOurs, otherTheirs, ['GETEX', 'ttl', 'EX', '1000']);
        otherOurs.close();
        otherTheirs.close();
        await same('MULTI');
        await same('SET', 'ttl', 'w');
        await same('EXEC');
        await same('GET', 'ttl');
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );
});

// ------------------------------------------------------------------ structured types

/** One key of each structured type, and a string: each family mostly names its own. */
const hashKey = fc.constantFrom('h1', 'h1', 'h1', 'h2', 'k1', 'l1');
const setKey = fc.constantFrom('s1', 's1', 's1', 's2', 'k1', 'h1');
const zsetKey = fc.constantFrom('z1', 'z1', 'z1', 'z2', 's1', 'k1');
const listKey = fc.constantFrom('l1', 'l1', 'l1', 'l2', 'k1', 'z1');
const anyKey = fc.constantFrom('h1', 's1', 'z1', 'l1', 'k1', 'h2', 'z2');
const structuredKeys = ['h1', 'h2', 's1', 's2', 'z1', 'z2', 'l1', 'l2', 'k1'];
const field = fc.constantFrom('f', 'g', 'e');
const small = fc.constantFrom('1', '2', '-3', 'x', '10');
/** Integer members: an intset's, which both servers answer in ascending order. */
const setMember = fc.constantFrom('1', '2', '3', '-5', '10');
const zMember = fc.constantFrom('a', 'b', 'c', 'd');
const score = fc.constantFrom('1', '2', '-1.5', '0', '+inf', 'x');
const rank = fc.constantFrom('0', '1', '-1', '-2', '5', 'x');
const element = fc.constantFrom('a', 'b', 'c');
const many = <T>(arbitrary: fc.Arbitrary<T>) => fc.array(arbitrary, { minLength: 1, maxLength: 3 });
const flat = (...parts: (string | readonly string[])[]): string[] => parts.flat();

const hashCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constant('HSET'), hashKey, field, small).map((c) => flat(...c)),
  fc.tuple(fc.constant('HDEL'), hashKey, many(field)).map((c) => flat(...c)),
  fc.tuple(fc.constant('HINCRBY'), hashKey, field, small).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('HGET', 'HEXISTS', 'HSTRLEN'), hashKey, field).map((c) => flat(...c)),
  fc.tuple(fc.constant('HMGET'), hashKey, many(field)).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('HGETALL', 'HKEYS', 'HVALS', 'HLEN'), hashKey).map((c) => flat(...c)),
  fc.tuple(fc.constant('HSCAN'), hashKey, fc.constantFrom('0', 'x')).map((c) => flat(...c)),
);
const setCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('SADD', 'SREM'), setKey, many(setMember)).map((c) => flat(...c)),
  fc.tuple(fc.constant('SMOVE'), setKey, setKey, setMember).map((c) => flat(...c)),
  fc.tuple(fc.constant('SISMEMBER'), setKey, setMember).map((c) => flat(...c)),
  fc.tuple(fc.constant('SMISMEMBER'), setKey, many(setMember)).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('SMEMBERS', 'SCARD'), setKey).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('SINTER', 'SUNION', 'SDIFF'), many(setKey)).map((c) => flat(...c)),
  fc.tuple(fc.constant('SUNIONSTORE'), setKey, many(setKey)).map((c) => flat(...c)),
  fc.tuple(fc.constant('SINTERCARD'), fc.constant('2'), setKey, setKey).map((c) => flat(...c)),
);
const zsetCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constant('ZADD'), zsetKey, score, zMember).map((c) => flat(...c)),
  fc.tuple(fc.constant('ZINCRBY'), zsetKey, score, zMember).map((c) => flat(...c)),
  fc.tuple(fc.constant('ZREM'), zsetKey, many(zMember)).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('ZPOPMIN', 'ZPOPMAX'), zsetKey).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('ZSCORE', 'ZRANK', 'ZREVRANK'), zsetKey, zMember).map((c) => flat(...c)),
  fc.tuple(fc.constant('ZMSCORE'), zsetKey, many(zMember)).map((c) => flat(...c)),
  fc.tuple(fc.constant('ZCARD'), zsetKey).map((c) => flat(...c)),
  fc
    .tuple(
      fc.constantFrom('ZRANGE', 'ZREVRANGE'),
      zsetKey,
      rank,
      rank,
      fc.constantFrom([], ['WITHSCORES']),
    )
    .map((c) => flat(...c)),
  fc
    .tuple(fc.constantFrom('ZRANGEBYSCORE', 'ZCOUNT'), zsetKey, score, score)
    .map((c) => flat(...c)),
  fc
    .tuple(
      fc.constantFrom('ZUNION', 'ZINTER', 'ZDIFF'),
      fc.constant('2'),
      zsetKey,
      zsetKey,
      fc.constantFrom([], ['WITHSCORES']),
    )
    .map((c) => flat(...c)),
  fc.tuple(fc.constant('ZSCAN'), zsetKey, fc.constant('0')).map((c) => flat(...c)),
);
const listCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('LPUSH', 'RPUSH'), listKey, many(element)).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('LPOP', 'RPOP'), listKey).map((c) => flat(...c)),
  fc.tuple(fc.constant('LSET'), listKey, rank, element).map((c) => flat(...c)),
  fc
    .tuple(fc.constant('LREM'), listKey, fc.constantFrom('0', '1', '-1'), element)
    .map((c) => flat(...c)),
  fc.tuple(fc.constant('LTRIM'), listKey, rank, rank).map((c) => flat(...c)),
  fc.tuple(fc.constant('LRANGE'), listKey, rank, rank).map((c) => flat(...c)),
  fc.tuple(fc.constant('LINDEX'), listKey, rank).map((c) => flat(...c)),
  fc.tuple(fc.constant('LLEN'), listKey).map((c) => flat(...c)),
  fc.tuple(fc.constant('LPOS'), listKey, element).map((c) => flat(...c)),
);
/** Key commands on keys of every type. */
const keyCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('TYPE', 'EXISTS', 'TTL', 'EXPIRETIME', 'PERSIST', 'DEL'), anyKey)
    .map((c) => flat(...c)),
  fc.tuple(fc.constant('OBJECT'), fc.constant('ENCODING'), anyKey).map((c) => flat(...c)),
  fc.tuple(fc.constant('EXPIRE'), anyKey, fc.constantFrom('100000', '-1')).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('RENAME', 'COPY'), anyKey, anyKey).map((c) => flat(...c)),
  fc.tuple(fc.constantFrom('SET', 'APPEND'), anyKey, small).map((c) => flat(...c)),
  fc.tuple(fc.constant('GET'), anyKey).map((c) => flat(...c)),
);
const structuredCommand = fc.oneof(
  { weight: 3, arbitrary: hashCommand },
  { weight: 3, arbitrary: setCommand },
  { weight: 3, arbitrary: zsetCommand },
  { weight: 3, arbitrary: listCommand },
  { weight: 2, arbitrary: keyCommand },
);
/** Another connection's command between WATCH and EXEC: a write, a write that changes nothing, or a read. */
const structuredConcurrent = fc.option(
  fc.oneof(
    fc.tuple(fc.constant('HSET'), fc.constant('h1'), field, small).map((c) => flat(...c)),
    fc.tuple(fc.constant('SADD'), fc.constant('s1'), setMember).map((c) => flat(...c)),
    fc.tuple(fc.constant('ZADD'), fc.constant('z1'), score, zMember).map((c) => flat(...c)),
    fc.tuple(fc.constant('RPUSH'), fc.constant('l1'), element).map((c) => flat(...c)),
    fc.tuple(fc.constantFrom('DEL', 'PERSIST'), anyKey).map((c) => flat(...c)),
    fc.tuple(fc.constant('EXPIRE'), anyKey, fc.constant('100000')).map((c) => flat(...c)),
    fc.tuple(fc.constantFrom('HGETALL', 'SMEMBERS', 'LLEN', 'TYPE'), anyKey).map((c) => flat(...c)),
  ),
  { nil: undefined },
);
const structuredTransaction = fc.record({
  watched: fc.array(anyKey, { maxLength: 3 }),
  concurrent: structuredConcurrent,
  writeAfterMulti: fc.boolean(),
  queued: fc.array(structuredCommand, { maxLength: 8 }),
  end: fc.constantFrom('EXEC', 'EXEC', 'EXEC', 'EXEC', 'DISCARD'),
});
const structuredBlock = fc.oneof(
  structuredCommand.map((args) => ({ kind: 'plain' as const, args })),
  structuredTransaction.map((t) => ({ kind: 'transaction' as const, ...t })),
);

/** A string's encodings: Redis's depends on how the value was made (README). */
const stringEncodings = new Set(['$int', '$embstr', '$raw']);

/**
 * A reply as compared: exactly, but an absolute expiry (EXPIRETIME, inside EXEC's array
 * too), which the two servers' clocks set a few ms apart, is only a time to come, and a
 * string's OBJECT ENCODING only a string's.
 */
function sameBut(reply: unknown): unknown {
  const loose = (one: unknown): unknown => {
    if (Array.isArray(one)) return one.map(loose);
    if (typeof one === 'number' && one > 1e9) return 'a time';
    return typeof one === 'string' && stringEncodings.has(one) ? 'a string encoding' : one;
  };
  return loose(comparable(reply));
}

/** Both servers answer `args` alike (expiry times aside); counted. */
async function alike(clients: Clients, args: readonly string[], count: CommandCount) {
  count.add(1);
  const [mine, redis7] = [await clients.ours.call(...args), await clients.theirs.call(...args)];
  assert.ok(mine !== 'closed' && redis7 !== 'closed', `closed on ${args.join(' ')}`);
  assert.deepEqual(sameBut(mine), sameBut(redis7), args.join(' '));
}

type StructuredTransaction = typeof structuredTransaction extends fc.Arbitrary<infer T> ? T : never;

async function runStructured(clients: Clients, t: StructuredTransaction, count: CommandCount) {
  const same = (args: readonly string[]) => alike(clients, args, count);
  if (t.watched.length > 0) await same(['WATCH', ...t.watched]);
  if (t.concurrent !== undefined && !t.writeAfterMulti) await elsewhere(clients, t.concurrent);
  await same(['MULTI']);
  for (const args of t.queued) await same(args);
  if (t.concurrent !== undefined && t.writeAfterMulti) await elsewhere(clients, t.concurrent);
  await same([t.end]);
}

for (const store of ['sqlite', 'postgres'] as const) {
  describe(
    `transactions of hashes, sets, sorted sets and lists on ${store}, beside redis-server`,
    {
      timeout: 300_000,
    },
    () => {
      const ports = redisBesideTandem([], store);

      test(
        'random transactions reading and writing every type give the same replies',
        {
          skip: redisSkip,
        },
        async (t) => {
          // Goal: inside MULTI every read of a hash, set, sorted set or list answers as Redis
          // 7.0 answers it, after the writes queued before it, and a WATCH of a key of any type
          // lets EXEC run unless the key really changed (another connection's write, expiry,
          // DEL), in any order of reads and writes; the keys agree afterwards.
          const clients: Clients = {
            ours: await RawClient.open(ports().tandem),
            theirs: await RawClient.open(ports().redis),
            otherOurs: await RawClient.open(ports().tandem),
            otherTheirs: await RawClient.open(ports().redis),
          };
          const count = new CommandCount();
          try {
            await fc.assert(
              fc.asyncProperty(
                fc.array(structuredBlock, { minLength: 1, maxLength: 5 }),
                async (blocks) => {
                  for (const client of [clients.ours, clients.theirs]) {
                    await client.call('DISCARD');
                    await client.call('UNWATCH');
                    await client.call('DEL', ...structuredKeys);
                    // Every run starts from a value of each type.
                    await client.call('HSET', 'h1', 'f', '1', 'g', 'v');
                    await client.call('SADD', 's1', '1', '3');
                    await client.call('ZADD', 'z1', '1', 'a', '2', 'b');
                    await client.call('RPUSH', 'l1', 'a', 'b', 'a');
                    await client.call('SET', 'k1', '5');
                  }
                  for (const item of blocks) {
                    if (item.kind === 'plain') await alike(clients, item.args, count);
                    else await runStructured(clients, item, count);
                  }
                  for (const k of structuredKeys) {
                    await alike(clients, ['TYPE', k], count);
                    await alike(clients, ['TTL', k], count);
                  }
                  await alike(clients, ['HGETALL', 'h1'], count);
                  await alike(clients, ['SMEMBERS', 's1'], count);
                  await alike(clients, ['ZRANGE', 'z1', '0', '-1', 'WITHSCORES'], count);
                  await alike(clients, ['LRANGE', 'l1', '0', '-1'], count);
                },
              ),
              { numRuns: differentialRuns(store === 'sqlite' ? 150 : 60, 20), ...seedOption },
            );
          } finally {
            for (const client of Object.values(clients)) client.close();
          }
          count.report(t);
        },
      );

      for (const protocol of ['2', '3']) {
        test(
          `RESP${protocol}: EXEC's array of structured reads is Redis 7.0's, byte for byte`,
          {
            skip: redisSkip,
          },
          async () => {
            // Goal: the maps, sets, doubles and nested arrays of structured reads keep their
            // frames inside EXEC's array, byte for byte.
            const frames = async (port: number) => {
              const client = await RawBytesClient.open(port);
              try {
                await client.call(['HELLO', protocol]);
                await client.call(['DEL', 'rh', 'rs', 'rz', 'rl']);
                await client.call(['MULTI']);
                for (const args of [
                  ['HSET', 'rh', 'f', '1', 'g', '2'],
                  ['HGETALL', 'rh'],
                  ['SADD', 'rs', '3', '1'],
                  ['SMEMBERS', 'rs'],
                  ['ZADD', 'rz', '1.5', 'a', '-2', 'b'],
                  ['ZSCORE', 'rz', 'a'],
                  ['ZRANGE', 'rz', '0', '-1', 'WITHSCORES'],
                  ['ZPOPMIN', 'rz'],
                  ['RPUSH', 'rl', 'x', 'y'],
                  ['LRANGE', 'rl', '0', '-1'],
                  ['LPOS', 'rl', 'nothing'],
                  ['HGET', 'rh', 'nothing'],
                ]) {
                  await client.call(args);
                }
                return await client.call(['EXEC']);
              } finally {
                client.close();
              }
            };
            const [mine, redis7] = [await frames(ports().tandem), await frames(ports().redis)];
            assert.equal(mine, redis7);
            assert.ok(mine.startsWith('*12\r\n'), mine);
          },
        );
      }

      test(
        'a watched hash, set, sorted set or list nobody touched lets EXEC run',
        {
          skip: redisSkip,
        },
        async () => {
          // Goal: WATCH notes the version of a key of any type: EXEC runs when only reads
          // (here and elsewhere) came between, and answers nil after one real write of it.
          const ours = await RawClient.open(ports().tandem);
          const theirs = await RawClient.open(ports().redis);
          const other = [await RawClient.open(ports().tandem), await RawClient.open(ports().redis)];
          const same = (...args: string[]) => sameReply(ours, theirs, args);
          const there = (...args: string[]) =>
            sameReply(other[0] as RawClient, other[1] as RawClient, args);
          try {
            await same('DEL', 'wh', 'ws', 'wz', 'wl');
            await same('HSET', 'wh', 'f', '1');
            await same('SADD', 'ws', '1');
            await same('ZADD', 'wz', '1', 'a');
            await same('RPUSH', 'wl', 'a');
            await same('WATCH', 'wh', 'ws', 'wz', 'wl');
            await there('HGETALL', 'wh');
            await there('SADD', 'ws', '1'); // already a member: no change
            await same('MULTI');
            await same('HGET', 'wh', 'f');
            await same('SMEMBERS', 'ws');
            await same('ZRANGE', 'wz', '0', '-1', 'WITHSCORES');
            await same('LRANGE', 'wl', '0', '-1');
            const [ran, redisRan] = [await ours.call('EXEC'), await theirs.call('EXEC')];
            assert.deepEqual(comparable(ran), comparable(redisRan));
            assert.ok(Array.isArray(ran) && ran.length === 4, 'EXEC ran');
            await same('WATCH', 'wz');
            await there('ZINCRBY', 'wz', '1', 'a');
            await same('MULTI');
            await same('ZSCORE', 'wz', 'a');
            await same('EXEC');
            await same('WATCH', 'wl');
            await there('EXPIRE', 'wl', '1000');
            await same('MULTI');
            await same('LLEN', 'wl');
            await same('EXEC');
            await same('EXPIRETIME', 'wh');
            await same('EXPIRE', 'wh', '100000');
            await same('PERSIST', 'wh');
            await same('PEXPIRETIME', 'wh');
          } finally {
            for (const client of [ours, theirs, ...other]) client.close();
          }
        },
      );
    },
  );
}

describe("Tandem's own limits on transactions", { timeout: 120_000 }, () => {
  const ports = redisBesideTandem(['--max-entry-bytes', String(512 * 1024)]);

  test(
    'past the queued-command limit or the entry size, EXEC applies nothing',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: limits Redis has not are clear errors, never a partial transaction: the
      // 10,001st queued command is refused (EXECABORT follows), and a transaction over the
      // node's maxEntryBytes (set to 512 KiB here) answers why and writes none of its keys,
      // and so does one whose queued commands pass 16.5 MiB.
      const ours = await RawClient.open(ports().tandem);
      try {
        const queued = Array.from({ length: 10_001 }, (_, i) => ['SET', `many:${i}`, 'v']);
        const replies = await ours.pipeline([['MULTI'], ...queued, ['EXEC']]);
        assert.deepEqual(comparable(replies[10_000]), 'simple:QUEUED');
        assert.deepEqual(
          comparable(replies[10_001]),
          'error:ERR a transaction holds at most 10000 commands',
        );
        assert.deepEqual(
          comparable(replies[10_002]),
          'error:EXECABORT Transaction discarded because of previous errors.',
        );
        assert.equal(await ours.call('EXISTS', 'many:0'), 0);
        const big = 'x'.repeat(300 * 1024);
        const large = await ours.pipeline([
          ['MULTI'],
          ['SET', 'big:1', big],
          ['SET', 'big:2', big],
          ['EXEC'],
        ]);
        assert.match(
          String(comparable(large[3])),
          /^error:ERR the transaction is too large for one log entry: .*maxEntryBytes/,
        );
        assert.equal(await ours.call('EXISTS', 'big:1', 'big:2'), 0);
        // Queued bytes are bounded too: past 16.5 MiB of arguments, a command is refused.
        const half = 'y'.repeat(512 * 1024);
        const heavy = Array.from({ length: 34 }, (_, i) => ['SET', `heavy:${i}`, half]);
        const heavyReplies = (await ours.pipeline([['MULTI'], ...heavy, ['EXEC']])).map(comparable);
        assert.ok(
          heavyReplies.includes(
            `error:ERR a transaction holds at most ${transactionBytesMax} bytes of commands`,
          ),
        );
        assert.equal(
          heavyReplies.at(-1),
          'error:EXECABORT Transaction discarded because of previous errors.',
        );
        // The connection is out of MULTI and serves on.
        assert.deepEqual(comparable(await ours.call('SET', 'big:1', 'ok')), 'simple:OK');
      } finally {
        ours.close();
      }
    },
  );
});

describe("a transaction's reads are bounded", { timeout: 60_000 }, () => {
  const readBytesMax = 64 * 1024;
  const ports = redisBesideTandem(['--transaction-read-bytes', String(readBytesMax)]);

  test(
    'reads past transactionReadBytesMax answer an error, the writes apply',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: a transaction cannot build an unbounded reply: once its reads have answered
      // the node's limit (64 KiB here), that read and every later one answer a clear error in
      // EXEC's array, while its writes still apply and a read under the limit answers.
      const ours = await RawClient.open(ports().tandem);
      try {
        const fields = Array.from({ length: 100 }, (_, i) => [`f${i}`, 'x'.repeat(400)]).flat();
        await ours.call('DEL', 'big', 'after');
        await ours.call('HSET', 'big', ...fields);
        const replies = await ours.pipeline([
          ['MULTI'],
          ['HLEN', 'big'],
          ['HGETALL', 'big'],
          ['HGETALL', 'big'],
          ['SET', 'after', 'written'],
          ['HGET', 'big', 'f0'],
          ['EXEC'],
        ]);
        const exec = comparable(replies.at(-1)) as unknown[];
        assert.equal(exec[0], 100);
        assert.equal((exec[1] as unknown[]).length, 200);
        const refusal = `error:ERR the transaction's reads return more than ${readBytesMax} bytes (transactionReadBytesMax)`;
        assert.equal(exec[2], refusal);
        assert.equal(exec[3], 'simple:OK');
        assert.equal(exec[4], refusal);
        assert.equal(comparable(await ours.call('GET', 'after')), '$written');
      } finally {
        ours.close();
      }
    },
  );
});

/** The bytes a server answers for a transaction whose watched key another client wrote. */
async function abortedExecBytes(port: number, protocol: string): Promise<string> {
  const writer = await RawClient.open(port);
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const send = async (...args: string[]) => {
    socket.write(`*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`);
    await sleep(50);
  };
  try {
    await send('HELLO', protocol);
    await send('WATCH', 'nil-key');
    await writer.call('SET', 'nil-key', 'changed');
    const before = received.length;
    await send('MULTI');
    await send('GET', 'nil-key');
    await send('EXEC');
    return received.slice(before);
  } finally {
    socket.destroy();
    writer.close();
  }
}

describe('permissions inside transactions, beside redis-server', { timeout: 60_000 }, () => {
  const ports = redisBesideTandem();

  test(
    'NOPERM while queueing aborts EXEC; a change before EXEC refuses in place',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: a command the user may not run, or a key outside its patterns, is refused when
      // queued and EXEC answers EXECABORT; permissions taken away between queueing and EXEC
      // give Redis 7.0's "ACLs rules changed" NOPERM in EXEC's array, the rest applied.
      const admins = [await RawClient.open(ports().tandem), await RawClient.open(ports().redis)];
      const rules = ['on', '>secret', '~app:*', '&*', '+@read', '+@write'];
      await admins[0]?.call('ACL', 'SETUSER', 'app', ...rules);
      await admins[1]?.call('ACL', 'SETUSER', 'app', ...rules, '+@transaction');
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const same = (...args: string[]) => sameReply(ours, theirs, args);
      try {
        await same('AUTH', 'app', 'secret');
        await same('MULTI');
        await same('SET', 'app:1', 'v');
        await same('GET', 'other');
        await same('CONFIG', 'GET', 'maxclients');
        await same('EXEC');
        await same('MULTI');
        await same('SET', 'app:1', 'v');
        await same('INCR', 'app:2');
        const taken = ['ACL', 'SETUSER', 'app', '-@write'];
        const [a, b] = [await admins[0]?.call(...taken), await admins[1]?.call(...taken)];
        assert.deepEqual(comparable(a), comparable(b));
        await same('GET', 'app:1');
        await same('EXEC');
        await same('GET', 'app:1');
      } finally {
        for (const client of [...admins, ours, theirs]) client?.close();
      }
    },
  );
});
