// The blocking list commands beside a real redis-server (the same script, every reply
// compared), and on a three-node cluster: clients blocked on the leader and on a follower
// each get their own element, never the same one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep, TestCluster } from '../node/cluster.js';
import { comparable, RawClient } from './raw-client.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** Runs the script on the server at `port`: what each blocked and each waking client saw. */
async function script(port: number): Promise<unknown[]> {
  const blocked = await RawClient.open(port);
  const other = await RawClient.open(port);
  const seen: unknown[] = [];
  try {
    await other.call('DEL', 'q', 'r', 'dst', 'str', 'm1', 'm2');
    // Errors first: the timeout's form, then a key of another type.
    for (const args of [
      ['BLPOP', 'q', 'abc'],
      ['BLPOP', 'q', '-1'],
      ['BRPOP', 'q', 'inf'],
      ['BLMOVE', 'q', 'dst', 'UP', 'LEFT', '0'],
      ['BLMPOP', '0', '0', 'q', 'LEFT'],
    ]) {
      seen.push(comparable(await blocked.call(...args)));
    }
    await other.call('SET', 'str', 'x');
    seen.push(comparable(await blocked.call('BLPOP', 'str', '0')));
    // Something there: answered at once, as the non-blocking twin.
    await other.call('RPUSH', 'q', 'a', 'b', 'c');
    seen.push(comparable(await blocked.call('BLPOP', 'r', 'q', '0')));
    seen.push(comparable(await blocked.call('BRPOP', 'q', '0')));
    // Nothing there: a timeout answers the null.
    seen.push(comparable(await blocked.call('BLPOP', 'r', '0.05')));
    seen.push(comparable(await blocked.call('BLMOVE', 'r', 'dst', 'LEFT', 'RIGHT', '0.05')));
    // Blocked, then woken by another client's push, in the key order given.
    for (const [command, push] of [
      [
        ['BLPOP', 'r', 'm1', '0'],
        ['RPUSH', 'm1', 'one', 'two'],
      ],
      [
        ['BLMOVE', 'r', 'dst', 'RIGHT', 'LEFT', '0'],
        ['LPUSH', 'r', 'x', 'y'],
      ],
      [
        ['BRPOPLPUSH', 'm2', 'dst', '5'],
        ['RPUSH', 'm2', 'z'],
      ],
      [
        ['BLMPOP', '0', '2', 'm1', 'm2', 'RIGHT', 'COUNT', '5'],
        ['RPUSH', 'm2', 'p', 'q'],
      ],
    ]) {
      const answer = blocked.call(...command);
      await sleep(100);
      seen.push(comparable(await other.call(...push)));
      seen.push(comparable(await answer));
    }
    seen.push(comparable(await other.call('LRANGE', 'dst', '0', '-1')));
    seen.push(comparable(await other.call('LRANGE', 'q', '0', '-1')));
    // Inside MULTI a blocking command does not block.
    seen.push(comparable(await blocked.call('MULTI')));
    seen.push(comparable(await blocked.call('BLPOP', 'r', '0')));
    seen.push(comparable(await blocked.call('EXEC')));
  } finally {
    blocked.close();
    other.close();
  }
  return seen;
}

describe('the blocking list commands beside redis-server', { timeout: 60_000 }, () => {
  const ports = redisBesideTandem();

  test(
    'BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP answer as Redis',
    { skip: redisSkip },
    async () => {
      // Goal: errors, at-once answers, timeouts, wake-ups by another client's push and
      // MULTI all give Redis 7.0's replies.
      const expected = await script(ports().redis);
      const actual = await script(ports().tandem);
      assert.deepEqual(actual, expected);
    },
  );
});

describe('blocked clients on a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('clients blocked on the leader and a follower each get one element, never the same', async () => {
    // Goal: the pop of a woken client is a write through the log, so one element goes to
    // exactly one client, wherever the clients are blocked; the others stay blocked.
    const leader = await cluster.leader();
    const ids = cluster.nodes.map((node) => node.id);
    const clients = await Promise.all(
      [leader, ...ids.filter((id) => id !== leader)].map((id) =>
        RawClient.open(cluster.node(id).respPort),
      ),
    );
    const pusher = await RawClient.open(cluster.node(leader).respPort);
    try {
      const answers = clients.map((client) => client.call('BLPOP', 'jobs', '0'));
      await sleep(300);
      const got: string[] = [];
      const settled = answers.map((answer) =>
        answer.then((reply) => {
          const [, element] = comparable(reply) as [string, string];
          got.push(element);
        }),
      );
      for (const job of ['j1', 'j2', 'j3']) {
        assert.equal(await pusher.call('RPUSH', 'jobs', job), 1);
        const deadline = Date.now() + 10_000;
        while (got.length < Number(job.slice(1))) {
          assert.ok(Date.now() < deadline, `${job} reached no blocked client: ${got.join(',')}`);
          await sleep(20);
        }
        await sleep(200);
        assert.equal(got.length, Number(job.slice(1)), `one client per element: ${got.join(',')}`);
      }
      await Promise.all(settled);
      assert.deepEqual([...got].sort(), ['$j1', '$j2', '$j3']);
      assert.equal(await pusher.call('LLEN', 'jobs'), 0);
    } finally {
      for (const client of clients) client.close();
      pusher.close();
    }
  });
});
