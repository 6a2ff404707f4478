// The sixteen databases on a real three-node cluster: a write in database 3 through a
// follower is in database 3 on every node and in no other, SWAPDB is seen alike on every
// node, keyspace events name the database they happened in, and every node killed at
// once (kill -9) comes back with every database from its own snapshot and log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { TestCluster } from '../node/cluster.js';
import { comparable, RawClient, waitForState } from './raw-client.js';

/** What a node holds in databases 0, 3 and 7, for comparison across nodes. */
async function databasesState(client: RawClient): Promise<unknown> {
  const replies: unknown[] = [];
  for (const db of ['0', '3', '7']) {
    await client.call('SELECT', db);
    for (const args of [
      ['DBSIZE'],
      ['GET', 'k'],
      ['HGETALL', 'h'],
      ['LRANGE', 'l', '0', '-1'],
      ['GET', 'bulk:0'],
    ]) {
      replies.push(comparable(await client.call(...args)));
    }
  }
  return replies;
}

/** The state of databases 0, 3 and 7 with `three` in database 3 and `zero` in database 0. */
function expected(three: 'written' | 'empty', zero: 'written' | 'empty'): unknown[] {
  const written = [3, '$in3', ['$f', '$v'], ['$a', '$b'], null];
  const empty = [0, null, [], [], null];
  const bulk = [150, null, [], [], '$v0'];
  return [
    ...(zero === 'written' ? written : empty),
    ...(three === 'written' ? written : empty),
    ...bulk,
  ];
}

describe('the sixteen databases on a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  /** Waits until every node's databases read as `state`. */
  async function everyNodeShows(state: unknown): Promise<void> {
    for (const node of cluster.nodes) {
      await waitForState(cluster.node(node.id).respPort, databasesState, state, 30_000);
    }
  }

  test('databases replicate, swap alike everywhere and survive kill -9', async () => {
    // Goal: the database a key is in travels with it through the log, snapshots and a
    // restart, on every node; a follower forwards writes of its client's database.
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    const sub = new Redis({ port: cluster.node(follower).respPort, lazyConnect: true });
    await sub.connect();
    const events: string[] = [];
    sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
      events.push(`${channel} ${message}`);
    });
    const client = await RawClient.open(cluster.node(follower).respPort);
    try {
      assert.deepEqual(
        comparable(await client.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')),
        'simple:OK',
      );
      await sub.psubscribe('__key*@*__:*');
      assert.deepEqual(comparable(await client.call('SELECT', '3')), 'simple:OK');
      assert.deepEqual(comparable(await client.call('SET', 'k', 'in3')), 'simple:OK');
      assert.equal(await client.call('HSET', 'h', 'f', 'v'), 1);
      assert.equal(await client.call('RPUSH', 'l', 'a', 'b'), 2);
      // Enough entries for the nodes to snapshot databases other than 0.
      await client.call('SELECT', '7');
      for (let i = 0; i < 150; i++) {
        assert.deepEqual(comparable(await client.call('SET', `bulk:${i}`, `v${i}`)), 'simple:OK');
      }
      await everyNodeShows(expected('written', 'empty'));
      const view = await cluster.status(leader);
      assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
      assert.ok(events.includes('__keyspace@3__:k set'), events.join(', '));
      assert.ok(events.includes('__keyevent@3__:hset h'), events.join(', '));
      assert.ok(!events.some((event) => event.startsWith('__keyspace@0__:k')), events.join(', '));

      // A transaction through the follower that selects a database, and FLUSHDB there.
      await client.call('SELECT', '0');
      const exec = await client.pipeline([
        ['MULTI'],
        ['SELECT', '4'],
        ['SET', 'm', 'in4'],
        ['EXEC'],
        ['GET', 'm'],
      ]);
      assert.deepEqual(comparable(exec.slice(3)), [['simple:OK', 'simple:OK'], '$in4']);
      const leaderClient = await RawClient.open(cluster.node(leader).respPort);
      try {
        await leaderClient.call('SELECT', '4');
        assert.deepEqual(comparable(await leaderClient.call('GET', 'm')), '$in4');
        assert.deepEqual(comparable(await client.call('FLUSHDB')), 'simple:OK');
        await waitForState(
          cluster.node(leader).respPort,
          async (c) => [await c.call('SELECT', '4'), await c.call('DBSIZE')].map(comparable),
          ['simple:OK', 0],
          30_000,
        );
      } finally {
        leaderClient.close();
      }

      // SWAPDB through the follower: every node sees database 3's keys in database 0.
      assert.deepEqual(comparable(await client.call('SWAPDB', '3', '0')), 'simple:OK');
      await everyNodeShows(expected('empty', 'written'));
    } finally {
      client.close();
      sub.disconnect();
    }

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    await everyNodeShows(expected('empty', 'written'));
  });
});
