// ioredis against a real three-node cluster of `tandem start` processes: the common
// commands, pipelines, a follower reading its own forwarded writes, protocol errors that
// close one connection only, and reconnection after the leader is killed with SIGKILL.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { call, sleep, TestCluster } from '../node/cluster.js';
import { retrying } from './retrying.js';

function client(cluster: TestCluster, id: string): Redis {
  return new Redis({
    port: cluster.node(id).respPort,
    host: '127.0.0.1',
    lazyConnect: false,
    maxRetriesPerRequest: 50,
    retryStrategy: () => 100,
  }).on('error', () => {
    // Connection errors while a node is down are expected; ioredis reconnects by itself.
  });
}

describe('ioredis against a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const clients: Redis[] = [];
  let leader: string;
  let followers: string[];

  before(async () => {
    cluster = await TestCluster.create({
      nodes: 3,
      extraArgs: (id) => (id === 'n3' ? ['--follower-writes', 'readonly'] : []),
    });
    cluster.startAll();
    leader = await cluster.leader();
    if (leader === 'n3') {
      // n3 is the readonly follower the tests need: hand leadership to n1.
      const promoted = await call('POST', `${cluster.url('n3')}/v1/cluster/promote`, { id: 'n1' });
      assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
      const deadline = Date.now() + 20_000;
      while ((leader = await cluster.leader()) === 'n3' && Date.now() < deadline) await sleep(100);
    }
    assert.notEqual(leader, 'n3');
    followers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  });

  after(async () => {
    for (const redis of clients) redis.disconnect();
    await cluster.destroy();
  });

  const open = (id: string): Redis => {
    const redis = client(cluster, id);
    clients.push(redis);
    return redis;
  };

  test('the common commands answer as Redis does, on the leader and through a forwarding follower', async () => {
    // Goal: an ioredis user sees Redis semantics whichever node they connect to.
    const forwarding = followers.find((id) => id !== 'n3') ?? leader;
    for (const id of [leader, forwarding]) {
      const redis = open(id);
      const key = (name: string) => `${id}:${name}`;
      assert.equal(await redis.set(key('s'), 'v1'), 'OK');
      assert.equal(await redis.get(key('s')), 'v1');
      assert.equal(await redis.set(key('s'), 'v2', 'NX'), null);
      assert.equal(await redis.set(key('s'), 'v3', 'XX', 'GET'), 'v1');
      assert.equal(await redis.incr(key('n')), 1);
      assert.equal(await redis.incrby(key('n'), 10), 11);
      assert.equal(await redis.decrby(key('n'), 2), 9);
      assert.equal(await redis.decr(key('n')), 8);
      assert.equal(await redis.append(key('s'), '!'), 3);
      assert.equal(await redis.strlen(key('s')), 3);
      assert.equal(await redis.mset(key('a'), '1', key('b'), '2'), 'OK');
      assert.deepEqual(await redis.mget(key('a'), key('b'), key('none')), ['1', '2', null]);
      assert.equal(await redis.expire(key('a'), 100), 1);
      const ttl = await redis.ttl(key('a'));
      assert.ok(ttl > 98 && ttl <= 100, `ttl ${ttl}`);
      assert.ok((await redis.pttl(key('a'))) > 98_000);
      assert.equal(await redis.persist(key('a')), 1);
      assert.equal(await redis.ttl(key('a')), -1);
      assert.equal(await redis.expireat(key('a'), Math.floor(Date.now() / 1000) + 200), 1);
      const atTtl = await redis.ttl(key('a'));
      assert.ok(atTtl > 197 && atTtl <= 200, `ttl after EXPIREAT ${atTtl}`);
      assert.equal(await redis.persist(key('a')), 1);
      assert.equal(await redis.exists(key('a'), key('b'), key('none')), 2);
      assert.equal(await redis.type(key('a')), 'string');
      assert.equal(await redis.del(key('a'), key('none')), 1);
      // PEXPIREAT in the past removes the key at once, as in Redis.
      assert.equal(await redis.set(key('gone'), 'x'), 'OK');
      assert.equal(await redis.pexpireat(key('gone'), Date.now() - 1000), 1);
      assert.equal(await redis.exists(key('gone')), 0);
      assert.deepEqual((await redis.keys(`${id}:*`)).sort(), [key('b'), key('n'), key('s')]);
      const [cursor, found] = await redis.scan('0', 'MATCH', `${id}:*`, 'COUNT', 1000);
      assert.equal(cursor, '0');
      assert.deepEqual(found.sort(), [key('b'), key('n'), key('s')]);
      await assert.rejects(redis.incr(key('s')), /^ReplyError: ERR value is not an integer/);
      await assert.rejects(redis.call('nosuch', 'x'), /ERR unknown command 'nosuch'/);
      await assert.rejects(redis.call('get'), /ERR wrong number of arguments for 'get' command/);
      assert.ok((await redis.dbsize()) >= 3);
      assert.equal(await redis.ping(), 'PONG');
      assert.equal(await redis.echo('hé'), 'hé');
      assert.equal(await redis.select(0), 'OK');
    }
  });

  test('SET KEEPTTL and EXPIRE NX, XX, GT and LT answer as Redis 7, errors in its words', async () => {
    // Goal: the Redis 7 expiry options work on the leader and through a forwarding
    // follower, and bad combinations are refused with Redis's exact error texts.
    const forwarding = followers.find((id) => id !== 'n3') ?? leader;
    for (const id of [leader, forwarding]) {
      const redis = open(id);
      const k = `${id}:options`;
      const ttl = async (): Promise<number> => await redis.ttl(k);
      assert.equal(await redis.set(k, 'v', 'EX', 100), 'OK');
      assert.equal(await redis.set(k, 'v2', 'KEEPTTL'), 'OK');
      assert.equal(await redis.get(k), 'v2');
      assert.equal(await ttl(), 100, 'KEEPTTL kept the expiry');
      assert.equal(await redis.call('set', k, 'v3', 'XX', 'GET', 'KEEPTTL'), 'v2');
      assert.equal(await ttl(), 100);
      assert.equal(await redis.expire(k, 50, 'GT'), 0);
      assert.equal(await ttl(), 100);
      assert.equal(await redis.expire(k, 200, 'GT'), 1);
      assert.equal(await ttl(), 200);
      assert.equal(await redis.expire(k, 300, 'LT'), 0);
      assert.equal(await redis.call('pexpire', k, 150_000, 'XX', 'LT'), 1);
      assert.equal(await ttl(), 150);
      assert.equal(await redis.expire(k, 10, 'NX'), 0);
      assert.equal(await redis.persist(k), 1);
      assert.equal(await redis.expire(k, 10, 'XX'), 0);
      assert.equal(await redis.expire(k, 10, 'GT'), 0, 'no expiry counts as infinite');
      assert.equal(await redis.call('expire', k, 10, 'XX', 'LT'), 0);
      assert.equal(await ttl(), -1);
      assert.equal(await redis.expire(k, 10, 'NX'), 1);
      assert.equal(await ttl(), 10);
      assert.equal(await redis.expire(`${id}:none`, 10, 'LT'), 0, 'an absent key');
      assert.equal(await redis.set(k, 'v4'), 'OK');
      assert.equal(
        await redis.call('expire', k, 30, 'lt'),
        1,
        'options in any case; LT on no expiry',
      );
      assert.equal(await redis.expire(k, -1, 'LT'), 1, 'a time past removes the key');
      assert.equal(await redis.exists(k), 0);
      const inSeconds = Math.floor(Date.now() / 1000) + 100;
      assert.equal(await redis.set(k, 'v5', 'EXAT', inSeconds), 'OK');
      assert.ok(Math.abs((await ttl()) - 100) <= 1);

      const refused = async (args: (string | number)[], text: string): Promise<void> => {
        await assert.rejects(redis.call(String(args[0]), ...args.slice(1)), (error: Error) => {
          assert.equal(error.message, text, args.join(' '));
          return true;
        });
      };
      const nxAnd = 'ERR NX and XX, GT or LT options at the same time are not compatible';
      await refused(['expire', k, 10, 'NX', 'XX'], nxAnd);
      await refused(['pexpire', k, 10, 'GT', 'NX'], nxAnd);
      await refused(['expire', k, 'abc', 'LT', 'NX'], nxAnd);
      await refused(
        ['expire', k, 10, 'GT', 'LT'],
        'ERR GT and LT options at the same time are not compatible',
      );
      await refused(['expire', k, 10, 'XX', 'FOO'], 'ERR Unsupported option FOO');
      await refused(['expire', k, 'abc', 'NX'], 'ERR value is not an integer or out of range');
      await refused(['set', k, 'v', 'EX', 10, 'KEEPTTL'], 'ERR syntax error');
      await refused(['set', k, 'v', 'KEEPTTL', 'PXAT', 10], 'ERR syntax error');
      await refused(['set', k, 'v', 'EX', 10, 'PX', 10], 'ERR syntax error');
      await refused(['set', k, 'v', 'NX', 'XX'], 'ERR syntax error');
      await refused(['set', k, 'v', 'EX', 'abc', 'BAD'], 'ERR syntax error');
      await refused(['set', k, 'v', 'EX'], 'ERR syntax error');
      await refused(['set', k, 'v', 'EX', 0], "ERR invalid expire time in 'set' command");
      await refused(['set', k, 'v', 'PX', 'x'], 'ERR value is not an integer or out of range');
      assert.equal(await redis.get(k), 'v5', 'nothing refused was written');
    }
  });

  test('a pipeline of 600 commands on a follower answers in order and reads its own writes', async () => {
    // Goal: pipelined writes are forwarded in order, and each read sees the writes before it.
    const forwarding = followers.find((id) => id !== 'n3') ?? leader;
    const redis = open(forwarding);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 200; i++) {
      pipeline.set(`p:${i}`, `v${i}`);
      pipeline.incr('p:count');
      pipeline.get(`p:${i}`);
    }
    const results = await pipeline.exec();
    assert.ok(results !== null);
    for (let i = 0; i < 200; i++) {
      assert.deepEqual(results[3 * i], [null, 'OK']);
      assert.deepEqual(results[3 * i + 1], [null, i + 1]);
      assert.deepEqual(results[3 * i + 2], [null, `v${i}`]);
    }
    // MULTI-less batch with ioredis's auto-pipelining of concurrent calls.
    const values = await Promise.all(
      Array.from({ length: 100 }, (_, i) => redis.set(`b:${i}`, String(i))),
    );
    assert.ok(values.every((value) => value === 'OK'));
    assert.deepEqual(await redis.mget('b:0', 'b:99'), ['0', '99']);
  });

  test('a readonly follower refuses writes with Redis READONLY, ROLE and INFO speak Redis', async () => {
    // Goal: --follower-writes readonly behaves like a Redis replica; replication is visible.
    const replica = open('n3');
    await assert.rejects(replica.set('ro', '1'), /^ReplyError: READONLY You can't write/);
    const role = (await replica.role()) as unknown[];
    assert.equal(role[0], 'slave');
    assert.equal(role[2], cluster.node(leader).respPort);
    const info = await replica.info('replication');
    assert.match(info, /role:slave/);
    assert.match(info, /master_link_status:up/);
    const primary = open(leader);
    await primary.set('w', '1');
    assert.equal(await primary.wait(2, 5000), 2);
    const leaderInfo = await primary.info('replication');
    assert.match(leaderInfo, /connected_slaves:2/);
    assert.match(leaderInfo, /slave0:ip=127\.0\.0\.1,port=\d+,state=online,offset=\d+,lag=\d+/);
    const [index, term] = (await primary.call('tandem.version', 'w')) as number[];
    assert.ok(index > 0 && term > 0);
  });

  test('a protocol error closes that connection only', async () => {
    // Goal: garbage from one client never disturbs the server or the other clients.
    const redis = open(leader);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(cluster.node(leader).respPort, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.write('PING\r\n*1\r\nx\r\n');
    });
    assert.equal(answer, "+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n");
    assert.equal(await redis.ping(), 'PONG');
  });

  test('after kill -9 of the leader, clients reconnect and writes go to the new leader', async () => {
    // Goal: ioredis on a follower keeps working across failover, its typed helpers for
    // hashes, lists, sets, sorted sets and MULTI included; ioredis on the killed node
    // reconnects by itself once the node is back and reads what happened meanwhile.
    const survivor = followers.find((id) => id !== 'n3') ?? followers[0];
    const onSurvivor = open(survivor);
    const onOldLeader = open(leader);
    await onSurvivor.set('before-kill', 'yes');
    // ioredis's typed helpers for every type, and a transaction, before the kill.
    assert.equal(await onSurvivor.hset('io-h', { f1: 'a', f2: 'b' }), 2);
    assert.equal(await onSurvivor.rpush('io-l', 'x', 'y', 'z'), 3);
    assert.equal(await onSurvivor.sadd('io-s', 'm1', 'm2'), 2);
    assert.equal(await onSurvivor.zadd('io-z', 1, 'one', 2.5, 'two'), 2);
    assert.deepEqual(
      await onSurvivor
        .multi()
        .hincrby('io-h', 'n', 5)
        .lpop('io-l')
        .zincrby('io-z', 1, 'one')
        .exec(),
      [
        [null, 5],
        [null, 'x'],
        [null, '2'],
      ],
    );
    await cluster.kill(leader);
    // Issued while the node is down: ioredis queues it and sends it once it reconnects.
    const queued = onOldLeader.echo('queued-while-down');
    const newLeader = await cluster.leader(20_000, followers);
    assert.notEqual(newLeader, leader);
    assert.equal(await retrying(() => onSurvivor.set('after-kill', 'yes')), 'OK');
    assert.equal(await onSurvivor.get('before-kill'), 'yes');
    // Every acknowledged write of every type is there under the new leader, which takes
    // more of them (the cluster has one now: these are not retried, so none runs twice).
    assert.deepEqual(await onSurvivor.hgetall('io-h'), { f1: 'a', f2: 'b', n: '5' });
    assert.deepEqual(await onSurvivor.lrange('io-l', 0, -1), ['y', 'z']);
    assert.deepEqual((await onSurvivor.smembers('io-s')).sort(), ['m1', 'm2']);
    assert.deepEqual(await onSurvivor.zrange('io-z', '0', '-1', 'WITHSCORES'), [
      'one',
      '2',
      'two',
      '2.5',
    ]);
    assert.equal(await onSurvivor.hincrby('io-h', 'n', 1), 6);
    assert.equal(await onSurvivor.rpush('io-l', 'w'), 3);
    assert.equal(await onSurvivor.srem('io-s', 'm1'), 1);
    assert.equal(await onSurvivor.zincrby('io-z', 2, 'two'), '4.5');
    cluster.start(leader);
    await cluster.up(leader);
    assert.equal(await queued, 'queued-while-down');
    // The reconnected session has written nothing, so ask for a linearizable read: it must
    // see the writes the new leader took while this node was dead.
    assert.equal(await onOldLeader.call('tandem.consistency', 'linearizable'), 'OK');
    assert.equal(await retrying(() => onOldLeader.get('after-kill')), 'yes');
    assert.equal(await onOldLeader.hget('io-h', 'n'), '6');
    assert.deepEqual(await onOldLeader.lrange('io-l', 0, -1), ['y', 'z', 'w']);
    assert.deepEqual(await onOldLeader.smembers('io-s'), ['m2']);
    assert.equal(await onOldLeader.zscore('io-z', 'two'), '4.5');
  });
});

describe('--requirepass', { timeout: 60_000 }, () => {
  test('a node with --requirepass refuses commands until AUTH, and HELLO AUTH works', async () => {
    // Goal: the password guards every command but AUTH and HELLO, with Redis's own errors.
    const cluster = await TestCluster.create({
      nodes: 1,
      extraArgs: () => ['--requirepass', 'open-sesame'],
      // The password guards the HTTP API too: the user default needs it there.
      statusHeaders: { authorization: `Basic ${btoa('default:open-sesame')}` },
    });
    try {
      cluster.startAll();
      await cluster.leader();
      const port = cluster.node('n1').respPort;
      // RESP2, so that connecting sends no HELLO (which Redis, too, refuses before AUTH).
      const anonymous = new Redis({
        port,
        protocol: 2,
        lazyConnect: true,
        enableReadyCheck: false,
      });
      await anonymous.connect();
      await assert.rejects(anonymous.get('x'), /^ReplyError: NOAUTH Authentication required\./);
      await assert.rejects(anonymous.auth('wrong'), /WRONGPASS invalid username-password pair/);
      assert.equal(await anonymous.auth('open-sesame'), 'OK');
      assert.equal(await anonymous.set('x', '1'), 'OK');
      anonymous.disconnect();
      // ioredis 6 speaks RESP3 by default: it connects with HELLO 3 AUTH default <password>.
      const viaHello = new Redis({ port, password: 'open-sesame' });
      assert.equal(await viaHello.get('x'), '1');
      assert.match(String(await viaHello.call('client', 'info')), / resp=3\n$/);
      viaHello.disconnect();
    } finally {
      await cluster.destroy();
    }
  });
});
