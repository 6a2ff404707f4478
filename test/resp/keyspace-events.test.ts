// Keyspace notifications beside redis-server: CONFIG SET and GET of notify-keyspace-events
// give Redis 7.0's answers, and the same random commands of every type publish the same
// keyspace and keyevent messages, in the same order, byte for byte, to a subscriber of
// `__key*__:*`. On a three-node cluster, a subscriber on a follower hears the events of
// writes sent to the leader.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { sleep, TestCluster } from '../node/cluster.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { comparable, RawClient, Transcript } from './raw-client.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** Commands of every type that publish events, and some that publish none. */
const commands: readonly (readonly string[])[] = [
  ['SET', 'k1', 'v'],
  ['SET', 'k1', 'v', 'EX', '100'],
  ['SET', 'k1', 'w', 'KEEPTTL'],
  ['SET', 'k2', 'v', 'NX'],
  ['SETNX', 'k1', 'v'],
  ['SETEX', 'k2', '100', 'v'],
  ['GETSET', 'k1', 'x'],
  ['GETDEL', 'k1'],
  ['GETEX', 'k2', 'EX', '50'],
  ['GETEX', 'k2', 'PERSIST'],
  ['APPEND', 'k1', 'abc'],
  ['SETRANGE', 'k1', '2', 'zz'],
  ['SETRANGE', 'k1', '0', ''],
  ['INCR', 'n'],
  ['INCRBY', 'n', '5'],
  ['DECR', 'n'],
  ['INCRBYFLOAT', 'n', '1.5'],
  ['SETBIT', 'b', '7', '1'],
  ['BITOP', 'OR', 'b2', 'b', 'k1'],
  ['BITOP', 'AND', 'b3', 'nothing'],
  ['BITFIELD', 'b', 'SET', 'u8', '0', '255'],
  ['BITFIELD', 'b', 'OVERFLOW', 'FAIL', 'INCRBY', 'u8', '0', '1'],
  ['MSET', 'k1', 'a', 'k2', 'b'],
  ['MSETNX', 'k3', 'c', 'k4', 'd'],
  ['DEL', 'k1', 'k2', 'k3'],
  ['UNLINK', 'k4', 'n'],
  ['EXPIRE', 'k1', '100'],
  ['EXPIRE', 'k2', '0'],
  ['PERSIST', 'k1'],
  ['PEXPIRE', 'h', '100000', 'NX'],
  ['RENAME', 'k1', 'k2'],
  ['RENAMENX', 'k2', 'k1'],
  ['RENAME', 'l', 'l'],
  ['COPY', 'k1', 'k5'],
  ['COPY', 'h', 'k5', 'REPLACE'],
  ['HSET', 'h', 'f', 'v'],
  ['HSET', 'h', 'f', 'v2', 'g', 'w'],
  ['HSETNX', 'h', 'f', 'x'],
  ['HSETNX', 'h', 'nf', 'x'],
  ['HDEL', 'h', 'f'],
  ['HDEL', 'h', 'f', 'g', 'nf', 'c', 'a'],
  ['HINCRBY', 'h', 'c', '2'],
  ['HINCRBYFLOAT', 'h', 'c', '0.5'],
  ['HMSET', 'h', 'a', '1'],
  ['LPUSH', 'l', 'a', 'b'],
  ['RPUSH', 'l', 'c'],
  ['LPUSHX', 'l2', 'x'],
  ['RPUSHX', 'l', 'd'],
  ['LPOP', 'l'],
  ['RPOP', 'l', '2'],
  ['LPOP', 'l', '0'],
  ['LSET', 'l', '0', 'q'],
  ['LINSERT', 'l', 'BEFORE', 'a', 'z'],
  ['LREM', 'l', '0', 'a'],
  ['LTRIM', 'l', '0', '0'],
  ['LTRIM', 'l2', '5', '10'],
  ['LMOVE', 'l', 'l2', 'LEFT', 'RIGHT'],
  ['RPOPLPUSH', 'l2', 'l'],
  ['LMOVE', 'l', 'l', 'RIGHT', 'LEFT'],
  ['LMPOP', '2', 'l', 'l2', 'LEFT', 'COUNT', '2'],
  ['SADD', 's', 'a', 'b', 'c'],
  ['SADD', 's', 'a'],
  ['SREM', 's', 'a'],
  ['SREM', 's', 'b', 'c'],
  ['SPOP', 's', '100'],
  ['SMOVE', 's', 's2', 'a'],
  ['SMOVE', 's2', 's', 'a'],
  ['SINTERSTORE', 's3', 's', 's2'],
  ['SUNIONSTORE', 's3', 's', 's2'],
  ['SDIFFSTORE', 's3', 's', 's2'],
  ['ZADD', 'z', '1', 'a', '2', 'b'],
  ['ZADD', 'z', 'XX', '5', 'a'],
  ['ZADD', 'z', 'NX', '1', 'a'],
  ['ZADD', 'z', 'INCR', '1', 'a'],
  ['ZINCRBY', 'z', '0', 'a'],
  ['ZREM', 'z', 'a'],
  ['ZPOPMIN', 'z'],
  ['ZPOPMAX', 'z', '5'],
  ['ZREMRANGEBYRANK', 'z', '0', '0'],
  ['ZREMRANGEBYSCORE', 'z', '-inf', '+inf'],
  ['ZREMRANGEBYLEX', 'z', '-', '+'],
  ['ZRANGESTORE', 'z2', 'z', '0', '-1'],
  ['ZUNIONSTORE', 'z3', '2', 'z', 'z2'],
  ['ZINTERSTORE', 'z3', '2', 'z', 's'],
  ['ZDIFFSTORE', 'z3', '2', 'z', 'z2'],
  ['ZMPOP', '1', 'z', 'MIN'],
  ['LPUSH', 'h', 'x'],
  ['GET', 'k1'],
  // Databases: events on the channels of the database where each happened.
  ['SET', 'k4', 'v'],
  ['MOVE', 'k4', '5'],
  ['COPY', 'k1', 'k1', 'DB', '5', 'REPLACE'],
  ['SELECT', '5'],
  ['RENAME', 'k4', 'k5'],
  ['LPUSH', 'l', 'x'],
  ['SELECT', '0'],
  ['SWAPDB', '0', '5'],
  ['FLUSHALL'],
];

/** The keys the commands use, deleted before each run. */
const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'n', 'b', 'b2', 'b3', 'h', 'l', 'l2', 's', 's2'];
keys.push('s3', 'z', 'z2', 'z3');

/**
 * Runs `script` on the server at `port` with a subscriber to every keyspace event: each
 * command's reply, and the bytes the subscriber received (a PING after each command is
 * the subscriber's barrier: Redis answers it after every message published before it).
 */
/** A subscribed client's answer to PING (RESP2). */
const pong = '*2\r\n$4\r\npong\r\n$0\r\n\r\n';

async function notifications(port: number, script: readonly (readonly string[])[]) {
  const client = await RawClient.open(port);
  const subscriber = await Transcript.open(port);
  try {
    await client.call('DEL', ...keys);
    await subscriber.send(['PSUBSCRIBE', '__key*__:*']);
    const replies: unknown[] = [];
    for (const args of script) {
      const reply = comparable(await client.call(...args));
      // SPOP's members come in an order of each server's own.
      replies.push(args[0] === 'SPOP' && Array.isArray(reply) ? reply.sort() : reply);
      await subscriber.sendUntil(['PING'], pong);
    }
    return { replies, messages: subscriber.bytes.toString('latin1') };
  } finally {
    client.close();
    subscriber.close();
  }
}

describe('keyspace notifications beside redis-server', { timeout: 600_000 }, () => {
  const ports = redisBesideTandem();

  test(
    'CONFIG SET and GET notify-keyspace-events answer as Redis',
    { skip: redisSkip },
    async () => {
      // Goal: every class letter, A, the channel kinds, their canonical order in CONFIG
      // GET, and a refused letter, as Redis 7.0 answers them.
      const answers = async (port: number): Promise<unknown[]> => {
        const client = await RawClient.open(port);
        const seen: unknown[] = [];
        try {
          for (const value of [
            '',
            'K',
            'KEA',
            'Ag',
            'gxK',
            'AKEmn',
            'Exl$',
            'EKzhs',
            'nmd',
            'x?',
          ]) {
            seen.push(
              comparable(await client.call('CONFIG', 'SET', 'notify-keyspace-events', value)),
            );
            seen.push(comparable(await client.call('CONFIG', 'GET', 'notify-keyspace-events')));
          }
          seen.push(comparable(await client.call('CONFIG', 'SET', 'notify-keyspace-events')));
          await client.call('CONFIG', 'SET', 'notify-keyspace-events', '');
        } finally {
          client.close();
        }
        return seen;
      };
      assert.deepEqual(await answers(ports().tandem), await answers(ports().redis));
    },
  );

  test('every command publishes the events Redis publishes', { skip: redisSkip }, async () => {
    // Goal: each command of the list, in order, and again with only some classes and one
    // channel kind on, publishes Redis's messages and nothing else.
    for (const flags of ['KEA', 'Kl', 'Eg$', 'Ehsz']) {
      const configure = async (port: number): Promise<void> => {
        const client = await RawClient.open(port);
        assert.equal(
          comparable(await client.call('CONFIG', 'SET', 'notify-keyspace-events', flags)),
          'simple:OK',
        );
        client.close();
      };
      await configure(ports().redis);
      await configure(ports().tandem);
      const expected = await notifications(ports().redis, commands);
      const actual = await notifications(ports().tandem, commands);
      assert.deepEqual(actual.replies, expected.replies, `replies with ${flags}`);
      assert.equal(actual.messages, expected.messages, `messages with ${flags}`);
    }
  });

  test(
    'random commands publish the same messages in the same order',
    { skip: redisSkip },
    async (t) => {
      // Goal: whatever the order of the commands (so whatever each key holds when it runs),
      // the messages are Redis's, byte for byte.
      const counted = new CommandCount();
      for (const port of [ports().redis, ports().tandem]) {
        const client = await RawClient.open(port);
        assert.equal(
          comparable(await client.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')),
          'simple:OK',
        );
        client.close();
      }
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.constantFrom(...commands.filter(([name]) => name !== 'FLUSHALL')), {
              minLength: 1,
              maxLength: 20,
            }),
            async (script) => {
              counted.add(script.length);
              const expected = await notifications(ports().redis, script);
              const actual = await notifications(ports().tandem, script);
              assert.deepEqual(actual.replies, expected.replies);
              assert.equal(actual.messages, expected.messages);
            },
          ),
          { numRuns: differentialRuns(15), ...seedOption },
        );
      } finally {
        counted.report(t);
      }
    },
  );
});

describe('keyspace notifications on a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a subscriber on a follower hears the events of writes sent to the leader', async () => {
    // Goal: each node publishes what it applies, whoever proposed it; a node whose
    // setting is off publishes nothing.
    const leader = await cluster.leader();
    const [follower, quiet] = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    const configure = await RawClient.open(cluster.node(follower as string).respPort);
    assert.equal(
      comparable(await configure.call('CONFIG', 'SET', 'notify-keyspace-events', 'Elh')),
      'simple:OK',
    );
    configure.close();
    const subscriber = await Transcript.open(cluster.node(follower as string).respPort);
    const unheard = await Transcript.open(cluster.node(quiet as string).respPort);
    const writer = await RawClient.open(cluster.node(leader).respPort);
    try {
      await subscriber.send(['PSUBSCRIBE', '__keyevent@0__:*']);
      await unheard.send(['PSUBSCRIBE', '__key*__:*']);
      assert.equal(await writer.call('RPUSH', 'jobs', 'a', 'b'), 2);
      assert.equal(await writer.call('HSET', 'user', 'name', 'ada'), 1);
      assert.equal(comparable(await writer.call('SET', 'plain', 'v')), 'simple:OK');
      for (let i = 0; i < 100 && !subscriber.bytes.toString('latin1').includes('hset'); i++) {
        await sleep(20);
      }
      const messages = subscriber.bytes.toString('latin1');
      assert.ok(messages.includes('__keyevent@0__:rpush\r\n$4\r\njobs'), messages);
      assert.ok(messages.includes('__keyevent@0__:hset\r\n$4\r\nuser'), messages);
      assert.ok(!messages.includes('plain'), 'strings are not among the classes asked for');
      await sleep(200);
      assert.ok(!unheard.bytes.toString('latin1').includes('pmessage'), 'its node is off');
    } finally {
      subscriber.close();
      unheard.close();
      writer.close();
    }
  });
});
