// Sets on a real three-node cluster: written on the leader through the log, an SPOP's draw
// agreed by every node (asked of the leader, and of a follower that forwards it), a
// follower that missed the writes catching up through a snapshot, and the sets read on a
// follower after the leader fails over and after every node restarts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep, TestCluster } from '../node/cluster.js';
import { comparable, RawClient } from './raw-client.js';

/** The members of the big set (a hashtable), one SADD each so that snapshots are taken. */
const bigMembers = 600;

/** What a node answers about the test's sets, members sorted, for comparison across nodes. */
async function setState(client: RawClient): Promise<unknown> {
  const replies: unknown[] = [];
  for (const args of [
    ['SCARD', 'big'],
    ['OBJECT', 'ENCODING', 'big'],
    ['SMEMBERS', 'big'],
    ['SMEMBERS', 'small'],
    ['OBJECT', 'ENCODING', 'small'],
    ['TYPE', 'small'],
    ['SMEMBERS', 'moved'],
    ['EXISTS', 'gone'],
  ]) {
    const reply = comparable(await client.call(...args));
    replies.push(Array.isArray(reply) ? [...reply].sort() : reply);
  }
  const ttl = await client.call('TTL', 'small');
  replies.push(typeof ttl === 'number' && ttl > 900 && ttl <= 1000);
  return replies;
}

/** `id`'s answers, from a connection of its own. */
async function stateOf(cluster: TestCluster, id: string): Promise<unknown> {
  const client = await RawClient.open(cluster.node(id).respPort);
  try {
    return await setState(client);
  } finally {
    client.close();
  }
}

/** Polls `id`'s answers until they are `expected` (the node may still be applying). */
async function waitForSets(cluster: TestCluster, id: string, expected: unknown): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const seen = await stateOf(cluster, id);
    try {
      assert.deepEqual(seen, expected, `node ${id}`);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/** The members of an SPOP reply (one, or an array of them), as comparable texts. */
function popped(reply: unknown): string[] {
  const value = comparable(reply);
  return (Array.isArray(value) ? value : [value]) as string[];
}

describe('sets on a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('every node agrees on the sets and on what SPOP took, through snapshots, a failover and restarts', async () => {
    // Goal: sets travel in the log and in the snapshot a lagging follower installs
    // (members, encoding, expiry, a set emptied by SREM gone); an SPOP, on the leader or
    // forwarded by a follower, removes the same members on every node; and after the leader
    // fails over and every node restarts, a follower answers the same sets.
    const leader = await cluster.leader();
    const [lagging, other] = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    await cluster.kill(lagging as string);
    const client = await RawClient.open(cluster.node(leader).respPort);
    let expected: unknown;
    try {
      for (let i = 0; i < bigMembers; i++) {
        assert.equal(await client.call('SADD', 'big', `m${i}`), 1);
      }
      assert.equal(await client.call('SADD', 'small', '5', '3', '9', '1', '7'), 5);
      assert.equal(await client.call('EXPIRE', 'small', '1000'), 1);
      assert.equal(await client.call('SADD', 'gone', 'x'), 1);
      assert.equal(await client.call('SREM', 'gone', 'x'), 1);
      const fromBig = popped(await client.call('SPOP', 'big', '3'));
      assert.equal(new Set(fromBig).size, 3);
      const fromSmall = popped(await client.call('SPOP', 'small'));
      assert.equal(fromSmall.length, 1);
      assert.equal(
        await client.call('SMOVE', 'small', 'moved', '9'),
        fromSmall[0] === '$9' ? 0 : 1,
      );
      expected = await setState(client);
      assert.equal((expected as unknown[])[0], bigMembers - 3);
      for (const member of fromBig) {
        assert.equal(await client.call('SISMEMBER', 'big', member.slice(1)), 0);
      }
    } finally {
      client.close();
    }
    await waitForSets(cluster, other as string, expected);

    // A follower forwards an SPOP to the leader, whose draw every node then applies.
    const viaFollower = await RawClient.open(cluster.node(other as string).respPort);
    try {
      assert.equal(popped(await viaFollower.call('SPOP', 'big', '2')).length, 2);
      expected = await setState(viaFollower);
    } finally {
      viaFollower.close();
    }
    await waitForSets(cluster, leader, expected);

    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(lagging as string);
    await cluster.up(lagging as string);
    await waitForSets(cluster, lagging as string, expected);
    assert.match(
      cluster.node(lagging as string).output.join(''),
      /installed a snapshot from the leader/,
    );

    // The leader fails over: the new leader pops, and a follower reads what it took.
    await cluster.kill(leader);
    const next = await cluster.leader();
    const onNext = await RawClient.open(cluster.node(next).respPort);
    try {
      assert.equal(popped(await onNext.call('SPOP', 'big', '4')).length, 4);
      expected = await setState(onNext);
    } finally {
      onNext.close();
    }
    const follower = [lagging, other].find((id) => id !== next) as string;
    await waitForSets(cluster, follower, expected);
    cluster.start(leader);
    await cluster.up(leader);
    await waitForSets(cluster, leader, expected);

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    for (const node of cluster.nodes) await waitForSets(cluster, node.id, expected);
  });
});
