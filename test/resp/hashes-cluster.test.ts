// Hashes on a real three-node cluster: written through the log, they reach a follower that
// missed them through a snapshot, and every node killed at once comes back with them from
// its own snapshot and log, their fields, encoding and expiry intact.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from '../node/cluster.js';
import { comparable, RawClient, waitForState } from './raw-client.js';

/** The hashes the test writes: a hashtable, a listpack with an expiry, and fields' values. */
const bigFields = 600;

/** What a node answers about the test's hashes, for comparison across nodes. */
async function hashState(client: RawClient): Promise<unknown> {
  const replies = [];
  for (const args of [
    ['HLEN', 'big'],
    ['OBJECT', 'ENCODING', 'big'],
    ['HGET', 'big', 'f0'],
    ['HGET', 'big', `f${bigFields - 1}`],
    ['HGETALL', 'small'],
    ['OBJECT', 'ENCODING', 'small'],
    ['TYPE', 'small'],
    ['EXISTS', 'gone'],
  ]) {
    replies.push(comparable(await client.call(...args)));
  }
  const ttl = await client.call('TTL', 'small');
  replies.push(typeof ttl === 'number' && ttl > 900 && ttl <= 1000);
  return replies;
}

const expected = [
  bigFields,
  '$hashtable',
  '$v0',
  `$v${bigFields - 1}`,
  ['$a', '$1', '$c', '$3'],
  '$listpack',
  'simple:hash',
  0,
  true,
];

/** Polls `id`'s answers until they are `expected` (the node may still be applying). */
async function waitForHashes(cluster: TestCluster, id: string): Promise<void> {
  await waitForState(cluster.node(id).respPort, hashState, expected, 30_000);
}

describe('hashes on a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a follower that missed the writes gets the hashes through a snapshot', async () => {
    // Goal: hashes travel in the snapshot a lagging follower installs (fields, encoding,
    // expiry, a hash emptied by HDEL gone), and survive a restart of every node from its
    // own snapshot and log.
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    await cluster.kill(follower);
    const client = await RawClient.open(cluster.node(leader).respPort);
    try {
      for (let i = 0; i < bigFields; i++) {
        assert.equal(await client.call('HSET', 'big', `f${i}`, `v${i}`), 1);
      }
      assert.equal(await client.call('HSET', 'small', 'a', '1', 'b', '2', 'c', '3'), 3);
      assert.equal(await client.call('HDEL', 'small', 'b'), 1);
      assert.equal(await client.call('EXPIRE', 'small', '1000'), 1);
      assert.equal(await client.call('HSET', 'gone', 'x', '1'), 1);
      assert.equal(await client.call('HDEL', 'gone', 'x'), 1);
      assert.deepEqual(await hashState(client), expected);
    } finally {
      client.close();
    }
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(follower);
    await cluster.up(follower);
    await waitForHashes(cluster, follower);
    assert.match(cluster.node(follower).output.join(''), /installed a snapshot from the leader/);

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    for (const node of cluster.nodes) await waitForHashes(cluster, node.id);
  });
});
