// node-redis (the `redis` package) against a real three-node cluster of `tandem start`
// processes: the common commands over RESP2 and RESP3, a pipeline and same-tick batches
// without MULTI, and reconnection after the leader is killed with SIGKILL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { TestCluster } from '../node/cluster.js';
import { retrying } from './retrying.js';

/** A node-redis client for a node's RESP port, reconnecting every 100 ms while it is down. */
function makeClient(port: number, resp: 2 | 3) {
  return createClient({
    socket: { host: '127.0.0.1', port, reconnectStrategy: 100 },
    RESP: resp,
  });
}

type NodeRedis = ReturnType<typeof makeClient>;

describe('node-redis against a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const clients: NodeRedis[] = [];
  let leader: string;
  let followers: string[];

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    leader = await cluster.leader();
    followers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  });

  after(async () => {
    for (const redis of clients) redis.destroy();
    await cluster.destroy();
  });

  const open = async (id: string, resp: 2 | 3 = 2): Promise<NodeRedis> => {
    const redis = makeClient(cluster.node(id).respPort, resp);
    // Errors while a node is down are expected; node-redis reconnects by itself.
    redis.on('error', () => {});
    clients.push(redis);
    await redis.connect();
    return redis;
  };

  test('the common commands answer as Redis does, over RESP2 and RESP3, through a follower too', async () => {
    // Goal: a node-redis user sees Redis semantics whichever node and protocol they use.
    for (const [id, resp] of [
      [leader, 2],
      [followers[0] as string, 3],
    ] as const) {
      const redis = await open(id, resp);
      const key = (name: string): string => `nr:${id}:${resp}:${name}`;
      assert.equal(await redis.set(key('s'), 'v1'), 'OK');
      assert.equal(await redis.get(key('s')), 'v1');
      assert.equal(await redis.set(key('s'), 'v2', { condition: 'NX' }), null);
      assert.equal(await redis.set(key('s'), 'v3', { GET: true }), 'v1');
      assert.equal(await redis.incr(key('n')), 1);
      assert.equal(await redis.incrBy(key('n'), 41), 42);
      assert.equal(await redis.decr(key('n')), 41);
      assert.equal(await redis.append(key('s'), '!'), 3);
      assert.equal(await redis.strLen(key('s')), 3);
      assert.equal(await redis.mSet([key('a'), '1', key('b'), '2']), 'OK');
      assert.deepEqual(await redis.mGet([key('a'), key('b'), key('none')]), ['1', '2', null]);
      assert.equal(await redis.pExpire(key('a'), 100_000), 1);
      const pttl = await redis.pTTL(key('a'));
      assert.ok(pttl > 98_000 && pttl <= 100_000, `pttl ${pttl}`);
      assert.equal(await redis.persist(key('a')), 1);
      assert.equal(await redis.exists([key('a'), key('b'), key('none')]), 2);
      assert.equal(await redis.type(key('a')), 'string');
      assert.equal(await redis.del([key('a'), key('none')]), 1);
      assert.deepEqual((await redis.keys(`nr:${id}:${resp}:*`)).sort(), [
        key('b'),
        key('n'),
        key('s'),
      ]);
      const seen: string[] = [];
      for await (const keys of redis.scanIterator({ MATCH: `nr:${id}:${resp}:*`, COUNT: 2 })) {
        seen.push(...keys);
      }
      assert.deepEqual(seen.sort(), [key('b'), key('n'), key('s')]);
      await assert.rejects(redis.incr(key('s')), /ERR value is not an integer or out of range/);
      await assert.rejects(
        redis.sendCommand(['nosuch', 'x']),
        /ERR unknown command 'nosuch', with args beginning with: 'x'/,
      );
      assert.equal(await redis.ping(), 'PONG');
      assert.ok((await redis.dbSize()) >= 3);
    }
  });

  test('a pipeline and same-tick batches answer in order and read their own writes', async () => {
    // Goal: pipelined and batched commands on a follower are forwarded in order, and each
    // read sees the writes that came before it on the connection.
    const redis = await open(followers[0] as string);
    const pipeline = redis.multi();
    for (let i = 0; i < 100; i++) {
      pipeline.set(`nrp:${i}`, `v${i}`);
      pipeline.incr('nrp:count');
      pipeline.get(`nrp:${i}`);
    }
    const results = await pipeline.execAsPipeline();
    for (let i = 0; i < 100; i++) {
      assert.equal(results[3 * i], 'OK');
      assert.equal(results[3 * i + 1], i + 1);
      assert.equal(results[3 * i + 2], `v${i}`);
    }
    // node-redis writes commands issued in one tick to the socket together.
    const batch = await Promise.all(
      Array.from({ length: 200 }, (_, i) => redis.set(`nrb:${i}`, String(i))),
    );
    assert.ok(batch.every((value) => value === 'OK'));
    assert.deepEqual(await redis.mGet(['nrb:0', 'nrb:199']), ['0', '199']);
    // The leader has every one of them, and says so with WAIT semantics.
    const onLeader = await open(leader);
    assert.equal(await onLeader.get('nrp:count'), '100');
  });

  test('after kill -9 of the leader, node-redis reconnects and writes reach the new leader', async () => {
    // Goal: a client on a follower keeps writing across failover, with node-redis's typed
    // helpers for hashes, lists, sets, sorted sets and MULTI too; a client on the killed
    // node reconnects by itself once the node is back and reads what happened meanwhile.
    const survivor = followers[0] as string;
    const onSurvivor = await open(survivor);
    const onOldLeader = await open(leader);
    assert.equal(await onSurvivor.set('nr-before-kill', 'yes'), 'OK');
    // node-redis's typed helpers for every type, and a transaction, before the kill.
    assert.equal(await onSurvivor.hSet('nr-h', { f1: 'a', f2: 'b' }), 2);
    assert.equal(await onSurvivor.rPush('nr-l', ['x', 'y', 'z']), 3);
    assert.equal(await onSurvivor.sAdd('nr-s', ['m1', 'm2']), 2);
    assert.equal(
      await onSurvivor.zAdd('nr-z', [
        { score: 1, value: 'one' },
        { score: 2.5, value: 'two' },
      ]),
      2,
    );
    assert.deepEqual(
      await onSurvivor
        .multi()
        .hIncrBy('nr-h', 'n', 5)
        .lPop('nr-l')
        .zIncrBy('nr-z', 1, 'one')
        .exec(),
      [5, 'x', 2],
    );
    await cluster.kill(leader);
    const newLeader = await cluster.leader(20_000, followers);
    assert.notEqual(newLeader, leader);
    assert.equal(await retrying(() => onSurvivor.set('nr-after-kill', 'yes')), 'OK');
    assert.equal(await onSurvivor.get('nr-before-kill'), 'yes');
    // Every acknowledged write of every type is there under the new leader, which takes
    // more of them (the cluster has one now: these are not retried, so none runs twice).
    assert.deepEqual({ ...(await onSurvivor.hGetAll('nr-h')) }, { f1: 'a', f2: 'b', n: '5' });
    assert.deepEqual(await onSurvivor.lRange('nr-l', 0, -1), ['y', 'z']);
    assert.deepEqual((await onSurvivor.sMembers('nr-s')).sort(), ['m1', 'm2']);
    assert.deepEqual(await onSurvivor.zRangeWithScores('nr-z', 0, -1), [
      { value: 'one', score: 2 },
      { value: 'two', score: 2.5 },
    ]);
    assert.equal(await onSurvivor.hIncrBy('nr-h', 'n', 1), 6);
    assert.equal(await onSurvivor.rPush('nr-l', 'w'), 3);
    assert.equal(await onSurvivor.sRem('nr-s', 'm1'), 1);
    assert.equal(await onSurvivor.zIncrBy('nr-z', 2, 'two'), 4.5);
    cluster.start(leader);
    await cluster.up(leader);
    await retrying(() => onOldLeader.ping());
    assert.equal(await onOldLeader.sendCommand(['TANDEM.CONSISTENCY', 'linearizable']), 'OK');
    assert.equal(await retrying(() => onOldLeader.get('nr-after-kill')), 'yes');
    assert.equal(await onOldLeader.hGet('nr-h', 'n'), '6');
    assert.deepEqual(await onOldLeader.lRange('nr-l', 0, -1), ['y', 'z', 'w']);
    assert.deepEqual(await onOldLeader.sMembers('nr-s'), ['m2']);
    assert.equal(await onOldLeader.zScore('nr-z', 'two'), 4.5);
  });
});
