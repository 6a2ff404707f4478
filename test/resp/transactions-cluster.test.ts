// Transactions on a three-node cluster of real processes: MULTI/EXEC sent to a follower
// goes to the leader whole and applies once, as one entry, so that a reader on another node
// never sees half of it; a WATCH on the follower aborts EXEC when another node's client
// wrote the key, and lets it run when nobody did.
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
});
