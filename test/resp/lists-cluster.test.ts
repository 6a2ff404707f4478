// Lists on a real three-node cluster: pushed on the leader through the log, they reach a
// follower that missed them through a snapshot, stay whole when the leader dies and another
// takes over, and come back on every node killed at once from its own snapshot and log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from '../node/cluster.js';
import { comparable, RawBytesClient, RawClient, waitForState } from './raw-client.js';

/** The pushes the test makes at each end of `q` (more entries than a snapshot's worth). */
const pushes = 150;

/** What a node answers about the test's lists, for comparison across nodes. */
async function listState(client: RawClient): Promise<unknown> {
  const replies = [];
  for (const args of [
    ['LLEN', 'q'],
    ['LINDEX', 'q', '0'],
    ['LINDEX', 'q', '-1'],
    ['LRANGE', 'q', '148', '150'],
    ['LPOS', 'q', 'r7'],
    ['LRANGE', 'small', '0', '-1'],
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

/**
 * The answers after the writes: `q` is l148..l0 r0..r148, and after the failover's push
 * `first` before them.
 */
function expected(failedOver: boolean): unknown[] {
  const shift = failedOver ? 1 : 0;
  return [
    298 + shift,
    failedOver ? '$first' : '$l148',
    '$r148',
    failedOver ? ['$l1', '$l0', '$r0'] : ['$l0', '$r0', '$r1'],
    156 + shift,
    ['$c', '$x', '$b'],
    '$quicklist',
    'simple:list',
    0,
    true,
  ];
}

/** Polls `id`'s answers until they are `want` (the node may still be applying). */
async function waitForLists(cluster: TestCluster, id: string, want: unknown): Promise<void> {
  await waitForState(cluster.node(id).respPort, listState, want, 30_000);
}

/** The writes on the leader, each answer checked as Redis gives it. */
async function write(client: RawClient): Promise<void> {
  const call = async (...args: string[]): Promise<unknown> =>
    comparable(await client.call(...args));
  for (let i = 0; i < pushes; i++) {
    assert.equal(await call('LPUSH', 'q', `l${i}`), 2 * i + 1);
    assert.equal(await call('RPUSH', 'q', `r${i}`), 2 * i + 2);
  }
  assert.equal(await call('RPOP', 'q'), '$r149');
  assert.deepEqual(await call('LPOP', 'q', '1'), ['$l149']);
  assert.equal(await call('RPOPLPUSH', 'q', 'gone'), '$r148');
  // The last element moved out, `gone` is no key.
  assert.equal(await call('LMOVE', 'gone', 'q', 'LEFT', 'RIGHT'), '$r148');
  assert.equal(await call('RPUSH', 'small', 'a', 'b', 'c'), 3);
  assert.equal(await call('LSET', 'small', '0', 'x'), 'simple:OK');
  assert.equal(await call('LINSERT', 'small', 'BEFORE', 'x', 'c'), 4);
  assert.equal(await call('LREM', 'small', '-1', 'c'), 1);
  assert.equal(await call('LPUSH', 'small', 'z'), 4);
  assert.equal(await call('LTRIM', 'small', '1', '-1'), 'simple:OK');
  assert.equal(await call('EXPIRE', 'small', '1000'), 1);
}

describe('lists on a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('lists pushed on the leader are read on followers after a snapshot, a failover and a restart', async () => {
    // Goal: lists travel in the snapshot a lagging follower installs (elements in order,
    // expiry, a list emptied by a move gone); once the leader dies the new leader and the
    // other node agree on them and take more pushes; every node restarted keeps them.
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    await cluster.kill(follower);
    const client = await RawClient.open(cluster.node(leader).respPort);
    try {
      await write(client);
      assert.deepEqual(await listState(client), expected(false));
    } finally {
      client.close();
    }
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(follower);
    await cluster.up(follower);
    await waitForLists(cluster, follower, expected(false));
    assert.match(cluster.node(follower).output.join(''), /installed a snapshot from the leader/);

    // The leader dies: one of the two others leads, and both answer alike.
    await cluster.kill(leader);
    const next = await cluster.leader();
    assert.notEqual(next, leader);
    const survivor = await RawClient.open(cluster.node(next).respPort);
    try {
      assert.equal(await survivor.call('LPUSH', 'q', 'first'), 299);
    } finally {
      survivor.close();
    }
    for (const node of cluster.nodes.filter((node) => node.id !== leader)) {
      await waitForLists(cluster, node.id, expected(true));
    }
    // A follower forwards list writes to the leader and answers with Redis's frames, the
    // null array of a pop with a count from an absent list included.
    const other = cluster.nodes.find((node) => node.id !== leader && node.id !== next)
      ?.id as string;
    const forwarded = await RawBytesClient.open(cluster.node(other).respPort);
    try {
      assert.equal(await forwarded.call(['LPOP', 'none', '2']), '*-1\r\n');
      assert.equal(await forwarded.call(['LMPOP', '1', 'none', 'LEFT']), '*-1\r\n');
      assert.equal(await forwarded.call(['RPUSH', 'none', 'v']), ':1\r\n');
      assert.equal(await forwarded.call(['LPOP', 'none', '2']), '*1\r\n$1\r\nv\r\n');
    } finally {
      forwarded.close();
    }
    cluster.start(leader);
    await cluster.up(leader);
    await waitForLists(cluster, leader, expected(true));

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    for (const node of cluster.nodes) await waitForLists(cluster, node.id, expected(true));
  });
});
