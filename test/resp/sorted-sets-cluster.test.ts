// Sorted sets on a real three-node cluster: written through the log, they reach a follower
// that missed them through a snapshot, and every node killed at once comes back with them
// from its own snapshot and log, their members, scores, encoding and expiry intact.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from '../node/cluster.js';
import { comparable, RawClient, waitForState } from './raw-client.js';

/** The sets the test writes: a skiplist, a listpack with an expiry, and a stored result. */
const bigMembers = 300;

/** What a node answers about the test's sorted sets, for comparison across nodes. */
async function zsetState(client: RawClient): Promise<unknown> {
  const replies = [];
  for (const args of [
    ['ZCARD', 'big'],
    ['OBJECT', 'ENCODING', 'big'],
    ['ZRANGE', 'big', '0', '1', 'WITHSCORES'],
    ['ZREVRANK', 'big', 'm0'],
    ['ZSCORE', 'big', 'm7'],
    ['ZRANGE', 'small', '0', '-1', 'WITHSCORES'],
    ['OBJECT', 'ENCODING', 'small'],
    ['TYPE', 'small'],
    ['ZRANGE', 'union', '0', '-1', 'WITHSCORES'],
    ['EXISTS', 'gone'],
  ]) {
    replies.push(comparable(await client.call(...args)));
  }
  const ttl = await client.call('TTL', 'small');
  replies.push(typeof ttl === 'number' && ttl > 900 && ttl <= 1000);
  return replies;
}

const expected = [
  bigMembers - 1,
  '$skiplist',
  ['$m0', '$0', '$m1', '$0.10000000000000001'],
  bigMembers - 2,
  '$0.69999999999999996',
  ['$a', '$-inf', '$c', '$3'],
  '$listpack',
  'simple:zset',
  ['$a', '$-inf', '$c', '$6'],
  0,
  true,
];

/** Polls `id`'s answers until they are `expected` (the node may still be applying). */
async function waitForSets(cluster: TestCluster, id: string): Promise<void> {
  await waitForState(cluster.node(id).respPort, zsetState, expected, 30_000);
}

describe('sorted sets on a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a follower that missed the writes gets the sorted sets through a snapshot', async () => {
    // Goal: sorted sets travel in the snapshot a lagging follower installs (members,
    // scores, encoding, expiry, a set emptied by ZREM gone), and survive a restart of every
    // node from its own snapshot and log.
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    await cluster.kill(follower);
    const client = await RawClient.open(cluster.node(leader).respPort);
    try {
      for (let i = 0; i < bigMembers; i++) {
        assert.equal(await client.call('ZADD', 'big', String(i / 10), `m${i}`), 1);
      }
      assert.deepEqual(comparable(await client.call('ZPOPMIN', 'big')), ['$m0', '$0']);
      assert.equal(await client.call('ZADD', 'big', '-1', 'm0'), 1);
      assert.equal(await client.call('ZREM', 'big', 'm0'), 1);
      assert.equal(await client.call('ZADD', 'big', '0', 'm0'), 1);
      assert.equal(await client.call('ZREMRANGEBYRANK', 'big', '-1', '-1'), 1);
      assert.equal(await client.call('ZADD', 'small', '1', 'a', '2', 'b', '3', 'c'), 3);
      assert.equal(await client.call('ZREM', 'small', 'b'), 1);
      assert.deepEqual(comparable(await client.call('ZINCRBY', 'small', '-inf', 'a')), '$-inf');
      assert.equal(await client.call('EXPIRE', 'small', '1000'), 1);
      assert.equal(await client.call('ZUNIONSTORE', 'union', '2', 'small', 'small'), 2);
      assert.equal(await client.call('ZADD', 'gone', '1', 'x'), 1);
      assert.equal(await client.call('ZREM', 'gone', 'x'), 1);
      assert.deepEqual(await zsetState(client), expected);
    } finally {
      client.close();
    }
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(follower);
    await cluster.up(follower);
    await waitForSets(cluster, follower);
    assert.match(cluster.node(follower).output.join(''), /installed a snapshot from the leader/);

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    for (const node of cluster.nodes) await waitForSets(cluster, node.id);
  });
});
