// Transactions on a three-node cluster of real processes: MULTI/EXEC sent to a follower
// goes to the leader whole and applies once, as one entry, so that a reader on another node
// never sees half of it; a WATCH on the follower aborts EXEC when another node's client
// wrote the key, and lets it run when nobody did; a follower's transaction reads hashes,
// sorted sets and lists after its own writes, and a WATCH of a hash or sorted set holds
// across nodes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep, TestCluster } from '../node/cluster.js';
import { comparable, RawClient } from './raw-client.js';

/** Transactions the writer sends through the follower. */
const transactions = 40;

describe('transactions on a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let follower: string;
  let other: string;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    const leader = await cluster.leader();
    const followers = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    [follower, other] = followers as [string, string];
  });
  after(() => cluster.destroy());

  const open = (id: string) => RawClient.open(cluster.node(id).respPort);

  test('a transaction sent to a follower applies once, and whole on every node', async () => {
    // Goal: each EXEC through the follower answers its own increments and reads (the reads
    // see the writes before them), the counters end at exactly the number of transactions,
    // and a reader on the third node, polling all along, never sees one counter ahead.
    const writer = await open(follower);
    const reader = await open(other);
    try {
      assert.deepEqual(comparable(await writer.call('MSET', 'a', '0', 'b', '0')), 'simple:OK');
      let done = false;
      let reads = 0;
      const polling = (async () => {
        while (!done) {
          const [a, b] = comparable(await reader.call('MGET', 'a', 'b')) as [string, string];
          assert.equal(a, b, 'a reader saw half of a transaction');
          reads++;
        }
      })();
      for (let i = 1; i <= transactions; i++) {
        const replies = await writer.pipeline([
          ['MULTI'],
          ['INCR', 'a'],
          ['GET', 'a'],
          ['INCR', 'b'],
          ['MGET', 'a', 'b'],
          ['EXEC'],
        ]);
        assert.deepEqual(comparable(replies[5]), [i, `$${i}`, i, [`$${i}`, `$${i}`]]);
      }
      done = true;
      await polling;
      assert.ok(reads > 0);
      for (const node of cluster.nodes) {
        const client = await open(node.id);
        try {
          let seen: unknown;
          for (let attempt = 0; attempt < 100; attempt++) {
            seen = comparable(await client.call('MGET', 'a', 'b'));
            if (JSON.stringify(seen) === JSON.stringify([`$${transactions}`, `$${transactions}`])) {
              break;
            }
            await sleep(50);
          }
          assert.deepEqual(seen, [`$${transactions}`, `$${transactions}`], node.id);
        } finally {
          client.close();
        }
      }
    } finally {
      writer.close();
      reader.close();
    }
  });

  test("a WATCH on a follower sees another node's write, and only that", async () => {
    // Goal: the versions a follower's WATCH saw travel with the transaction to the leader:
    // a write of the watched key through another node aborts EXEC (nil, nothing applied);
    // with no write in between, the same transaction runs.
    const watcher = await open(follower);
    const writer = await open(other);
    try {
      await watcher.call('SET', 'w', '1');
      await watcher.call('SET', 'out', 'before');
      assert.deepEqual(comparable(await watcher.call('WATCH', 'w')), 'simple:OK');
      assert.deepEqual(comparable(await writer.call('SET', 'w', '2')), 'simple:OK');
      const aborted = await watcher.pipeline([['MULTI'], ['SET', 'out', 'x'], ['EXEC']]);
      assert.equal(aborted[2], null);
      assert.deepEqual(comparable(await watcher.call('GET', 'out')), '$before');
      // Once the follower has applied the other write, a new WATCH sees its version.
      while (comparable(await watcher.call('GET', 'w')) !== '$2') await sleep(20);
      await watcher.call('WATCH', 'w');
      const ran = await watcher.pipeline([['MULTI'], ['SET', 'out', 'y'], ['EXEC']]);
      assert.deepEqual(comparable(ran[2]), ['simple:OK']);
      assert.deepEqual(comparable(await watcher.call('GET', 'out')), '$y');
    } finally {
      watcher.close();
      writer.close();
    }
  });

  test('a transaction through a follower reads a hash, a sorted set and a list after its writes', async () => {
    // Goal: the follower forwards the whole transaction; the leader's apply answers each
    // structured read in place, seeing the writes queued before it, as redis-server would.
    const client = await open(follower);
    try {
      await client.call('DEL', 'ch', 'cz', 'cl');
      await client.call('HSET', 'ch', 'f', '1', 'g', '2');
      await client.call('ZADD', 'cz', '1', 'a', '2', 'b');
      await client.call('RPUSH', 'cl', 'x', 'y');
      const replies = await client.pipeline([
        ['MULTI'],
        ['HGET', 'ch', 'f'],
        ['HSET', 'ch', 'h', '3'],
        ['HGETALL', 'ch'],
        ['ZINCRBY', 'cz', '5', 'a'],
        ['ZRANGE', 'cz', '0', '-1', 'WITHSCORES'],
        ['ZRANK', 'cz', 'a'],
        ['LPOP', 'cl'],
        ['LRANGE', 'cl', '0', '-1'],
        ['LLEN', 'cl'],
        ['EXEC'],
      ]);
      assert.deepEqual(comparable(replies.at(-1)), [
        '$1',
        1,
        ['$f', '$1', '$g', '$2', '$h', '$3'],
        '$6',
        ['$b', '$2', '$a', '$6'],
        1,
        '$x',
        ['$y'],
        1,
      ]);
    } finally {
      client.close();
    }
  });

  test('a WATCH of a hash or a sorted set on a follower holds across nodes', async () => {
    // Goal: the version a follower's WATCH saw of a structured key travels to the leader:
    // a write of it through another node aborts EXEC; reads through another node, or no
    // access at all, let the same transaction run.
    const watcher = await open(follower);
    const writer = await open(other);
    try {
      await watcher.call('DEL', 'wh', 'wz', 'wout');
      await watcher.call('HSET', 'wh', 'f', '1');
      await watcher.call('ZADD', 'wz', '1', 'm');
      assert.deepEqual(comparable(await watcher.call('WATCH', 'wh', 'wz')), 'simple:OK');
      assert.equal(await writer.call('HSET', 'wh', 'f', '2'), 0);
      const aborted = await watcher.pipeline([['MULTI'], ['SET', 'wout', 'x'], ['EXEC']]);
      assert.equal(aborted[2], null);
      assert.equal(await watcher.call('EXISTS', 'wout'), 0);
      while (comparable(await watcher.call('HGET', 'wh', 'f')) !== '$2') await sleep(20);
      await watcher.call('WATCH', 'wh', 'wz');
      await writer.call('HGETALL', 'wh');
      await writer.call('ZRANGE', 'wz', '0', '-1');
      const ran = await watcher.pipeline([
        ['MULTI'],
        ['SET', 'wout', 'y'],
        ['HGET', 'wh', 'f'],
        ['ZSCORE', 'wz', 'm'],
        ['EXEC'],
      ]);
      assert.deepEqual(comparable(ran[4]), ['simple:OK', '$2', '$1']);
      await watcher.call('WATCH', 'wz');
      assert.equal((await writer.call('ZINCRBY', 'wz', '1', 'm')) !== null, true);
      const again = await watcher.pipeline([['MULTI'], ['ZSCORE', 'wz', 'm'], ['EXEC']]);
      assert.equal(again[2], null);
    } finally {
      watcher.close();
      writer.close();
    }
  });
});
