// The blocking list and sorted set commands beside a real redis-server (the same script,
// every reply compared), and on a three-node cluster: clients blocked on the leader and on
// a follower each get their own element, never the same one, and what a client that left
// while its pop was in flight popped goes back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sleep, TestCluster } from '../node/cluster.js';
import { comparable, RawBytesClient, RawClient, waitForState } from './raw-client.js';
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
    seen.push(comparable(await blocked.call('BRPOP', 'nothing', '0')));
    seen.push(comparable(await blocked.call('BLMPOP', '0', '1', 'nothing', 'LEFT')));
    seen.push(comparable(await blocked.call('BLMOVE', 'nothing', 'dst', 'LEFT', 'LEFT', '0')));
    seen.push(comparable(await blocked.call('EXEC')));
  } finally {
    blocked.close();
    other.close();
  }
  return seen;
}

/** The sorted set script: BZPOPMIN, BZPOPMAX and BZMPOP as `script` drives the lists. */
async function zsetScript(port: number): Promise<unknown[]> {
  const blocked = await RawClient.open(port);
  const other = await RawClient.open(port);
  const seen: unknown[] = [];
  try {
    await other.call('DEL', 'z', 'r', 'str', 'w', 'm1', 'm2');
    for (const args of [
      ['BZPOPMIN', 'z', 'abc'],
      ['BZPOPMIN', 'z', '-1'],
      ['BZPOPMAX', 'z', 'inf'],
      ['BZPOPMIN', 'z'],
      ['BZMPOP', '0', '0', 'z', 'MIN'],
      ['BZMPOP', '0', '1', 'z', 'FOO'],
      ['BZMPOP', '0.1', '1', 'z', 'MIN', 'COUNT', '0'],
      ['BZMPOP', '0', '1', 'z', 'MIN', 'COUNT'],
    ]) {
      seen.push(comparable(await blocked.call(...args)));
    }
    await other.call('SET', 'str', 'x');
    seen.push(comparable(await blocked.call('BZPOPMIN', 'str', '0')));
    seen.push(comparable(await blocked.call('BZPOPMAX', 'r', 'str', '0')));
    // Something there: answered at once, as ZMPOP with a count of one.
    await other.call('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c', '4', 'd');
    seen.push(comparable(await blocked.call('BZPOPMIN', 'r', 'z', '0')));
    seen.push(comparable(await blocked.call('BZPOPMAX', 'z', '0')));
    seen.push(comparable(await blocked.call('BZMPOP', '0', '2', 'r', 'z', 'MAX', 'COUNT', '5')));
    // Nothing there: a timeout answers the null.
    seen.push(comparable(await blocked.call('BZPOPMIN', 'r', '0.05')));
    seen.push(comparable(await blocked.call('BZMPOP', '0.05', '1', 'r', 'MAX')));
    // A list on the key does not wake a client waiting for a sorted set.
    const waiting = blocked.call('BZPOPMIN', 'w', '0.3');
    await sleep(100);
    seen.push(comparable(await other.call('RPUSH', 'w', 'x')));
    seen.push(comparable(await waiting));
    // Blocked, then woken by another client's ZADD.
    for (const [command, add] of [
      [
        ['BZPOPMIN', 'r', 'm1', '0'],
        ['ZADD', 'm1', '1.5', 'one', '2', 'two'],
      ],
      [
        ['BZPOPMAX', 'm2', '5'],
        ['ZADD', 'm2', '-inf', 'low', '7', 'high'],
      ],
      [
        ['BZMPOP', '0', '2', 'r', 'm3', 'MIN', 'COUNT', '5'],
        ['ZADD', 'm3', '3', 'p', '0.1', 'q'],
      ],
    ]) {
      const answer = blocked.call(...command);
      await sleep(100);
      seen.push(comparable(await other.call(...add)));
      seen.push(comparable(await answer));
    }
    seen.push(comparable(await other.call('ZRANGE', 'm1', '0', '-1', 'WITHSCORES')));
    seen.push(comparable(await other.call('ZRANGE', 'm2', '0', '-1', 'WITHSCORES')));
    seen.push(comparable(await other.call('EXISTS', 'm3')));
    // Inside MULTI a blocking command does not block.
    seen.push(comparable(await blocked.call('MULTI')));
    seen.push(comparable(await blocked.call('BZPOPMIN', 'r', '0')));
    seen.push(comparable(await blocked.call('BZMPOP', '0', '1', 'r', 'MIN')));
    seen.push(comparable(await blocked.call('EXEC')));
  } finally {
    blocked.close();
    other.close();
  }
  return seen;
}

/** The same commands' RESP3 bytes: the score as a double, the nulls as RESP3's. */
async function zsetResp3Bytes(port: number): Promise<string[]> {
  const client = await RawBytesClient.open(port);
  const seen: string[] = [];
  try {
    for (const args of [
      ['HELLO', '3'],
      ['DEL', 'z3'],
      ['ZADD', 'z3', '1.5', 'a', '2', 'b', '3', 'c'],
      ['BZPOPMIN', 'z3', '0'],
      ['BZMPOP', '0', '1', 'z3', 'MAX', 'COUNT', '2'],
      ['BZPOPMIN', 'z3', '0.05'],
      ['BZMPOP', '0.05', '1', 'z3', 'MIN'],
    ]) {
      const reply = await client.call(args);
      // HELLO's map names the server and its version: only the rest is compared.
      seen.push(args[0] === 'HELLO' ? reply.slice(0, 1) : reply);
    }
  } finally {
    client.close();
  }
  return seen;
}

/**
 * CLIENT UNBLOCK and CLIENT KILL, on the server at `port`: what the unblocked and killed
 * clients saw and what the commands answered. Client ids and addresses differ between the
 * servers, so the script learns them from each and answers with what they did.
 */
async function unblockScript(port: number): Promise<unknown[]> {
  const blocked = await RawClient.open(port);
  const other = await RawClient.open(port);
  const seen: unknown[] = [];
  try {
    await other.call('DEL', 'q', 'z');
    const id = String(await blocked.call('CLIENT', 'ID'));
    // Errors: the reason, the id, the arity; and a client that is not blocked.
    for (const args of [
      ['CLIENT', 'UNBLOCK', id, 'NOW'],
      ['CLIENT', 'UNBLOCK', 'abc'],
      ['CLIENT', 'UNBLOCK', id, 'ERROR', 'extra'],
      ['CLIENT', 'UNBLOCK', id],
      ['CLIENT', 'UNBLOCK', '999999'],
    ]) {
      seen.push(comparable(await other.call(...args)));
    }
    // Blocked, then unblocked: by default with the timeout's reply, or with ERROR.
    for (const [command, reason] of [
      [['BLPOP', 'q', '0'], []],
      [['BLMOVE', 'q', 'z', 'LEFT', 'LEFT', '0'], ['TIMEOUT']],
      [['BZPOPMIN', 'z', '0'], ['ERROR']],
      [['BLMPOP', '0', '1', 'q', 'RIGHT'], ['error']],
    ]) {
      const answer = blocked.call(...command);
      await sleep(100);
      seen.push(comparable(await other.call('CLIENT', 'UNBLOCK', id, ...reason)));
      seen.push(comparable(await answer));
    }
    // Unblocked clients are no longer waiting: a push now stays in the list.
    await other.call('RPUSH', 'q', 'kept');
    seen.push(comparable(await other.call('LRANGE', 'q', '0', '-1')));
    // CLIENT KILL: errors, the old form, filters, and the killed client's hang-up.
    const address = await blocked.call('CLIENT', 'INFO');
    const addr = /addr=(\S+)/.exec(String(address))?.[1] as string;
    for (const args of [
      ['CLIENT', 'KILL', '203.0.113.1:9'],
      ['CLIENT', 'KILL', 'ID', '0'],
      ['CLIENT', 'KILL', 'ID'],
      ['CLIENT', 'KILL', 'TYPE', 'nobody', 'SKIPME', 'yes'],
      ['CLIENT', 'KILL', 'USER', 'nosuchuser', 'SKIPME', 'yes'],
      ['CLIENT', 'KILL', 'SKIPME', 'maybe', 'ID', id],
      ['CLIENT', 'KILL', 'BOGUS', 'x'],
      ['CLIENT', 'KILL', 'ID', '999999'],
      ['CLIENT', 'KILL', 'TYPE', 'master'],
    ]) {
      seen.push(comparable(await other.call(...args)));
    }
    const third = await RawClient.open(port);
    const thirdId = String(await third.call('CLIENT', 'ID'));
    seen.push(comparable(await other.call('CLIENT', 'KILL', 'ID', thirdId, 'TYPE', 'normal')));
    seen.push(await third.call('PING'));
    seen.push(comparable(await other.call('CLIENT', 'KILL', addr)));
    seen.push(await blocked.call('PING'));
    // Its own connection only with SKIPME no; it answers, then closes.
    const ownId = String(await other.call('CLIENT', 'ID'));
    seen.push(comparable(await other.call('CLIENT', 'KILL', 'ID', ownId)));
    seen.push(comparable(await other.call('CLIENT', 'KILL', 'ID', ownId, 'SKIPME', 'no')));
    seen.push(await other.call('PING'));
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

  test('CLIENT UNBLOCK and CLIENT KILL answer as Redis', { skip: redisSkip }, async () => {
    // Goal: a blocked client unblocked from another connection gets the timeout's reply or
    // UNBLOCKED and waits no more; CLIENT KILL's forms, filters and errors close the
    // connections Redis 7.0 closes and answer what it answers.
    assert.deepEqual(await unblockScript(ports().tandem), await unblockScript(ports().redis));
  });

  test('BZPOPMIN, BZPOPMAX and BZMPOP answer as Redis', { skip: redisSkip }, async () => {
    // Goal: the sorted set forms give Redis 7.0's replies too, and wait for a sorted set
    // only (a list pushed on the key leaves them blocked), in RESP2 and in RESP3's bytes.
    assert.deepEqual(await zsetScript(ports().tandem), await zsetScript(ports().redis));
    assert.deepEqual(await zsetResp3Bytes(ports().tandem), await zsetResp3Bytes(ports().redis));
  });
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

describe('a blocked client that leaves while its pop is in flight', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    // In `sync` mode a write is answered once every voter applied it: a paused follower
    // holds a woken client's pop in flight for as long as the test needs.
    cluster = await TestCluster.create({ nodes: 3, mode: 'sync' });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('CLIENT UNBLOCK while its pop is in flight waits for it: served first, not unblocked', async () => {
    // Goal: the two never both happen. A client whose pop is in flight when another asks
    // to unblock it gets its element, and CLIENT UNBLOCK answers 0 once the pop is done;
    // a client still waiting is unblocked at once (1).
    const leader = await cluster.leader();
    const paused = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    const blocked = await RawClient.open(cluster.node(leader).respPort);
    const waiting = await RawClient.open(cluster.node(leader).respPort);
    const other = await RawClient.open(cluster.node(leader).respPort);
    const pausedProcess = cluster.node(paused).process;
    assert.ok(pausedProcess !== null);
    try {
      const id = String(await blocked.call('CLIENT', 'ID'));
      const waitingId = String(await waiting.call('CLIENT', 'ID'));
      const served = blocked.call('BLPOP', 'tasks', '0');
      await sleep(200);
      const stillWaiting = waiting.call('BLPOP', 'other-tasks', '0');
      await sleep(200);
      pausedProcess.kill('SIGSTOP');
      const pushed = other.call('RPUSH', 'tasks', 't1');
      await sleep(500);
      const unblockedAnswer = other.call('CLIENT', 'UNBLOCK', id, 'ERROR');
      await sleep(200);
      pausedProcess.kill('SIGCONT');
      assert.equal(await pushed, 1);
      assert.deepEqual(comparable(await served), ['$tasks', '$t1']);
      assert.equal(await unblockedAnswer, 0);
      assert.equal(await other.call('CLIENT', 'UNBLOCK', waitingId), 1);
      assert.equal(comparable(await stillWaiting), null);
    } finally {
      pausedProcess.kill('SIGCONT');
      blocked.close();
      waiting.close();
      other.close();
    }
  });

  test('what its pop took goes back to the list and the sorted set', async () => {
    // Goal: an element reaches a client or stays in the store, never neither. Without the
    // give-back, the element and the member popped for the clients that left are gone.
    const leader = await cluster.leader();
    const [follower, paused] = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
    const listClient = await RawClient.open(cluster.node(follower).respPort);
    // Each node wakes its blocked clients one at a time: one client on each node, so that
    // both pops are in flight together.
    const zsetClient = await RawClient.open(cluster.node(leader).respPort);
    const pusher = await RawClient.open(cluster.node(leader).respPort);
    const pausedProcess = cluster.node(paused).process;
    assert.ok(pausedProcess !== null);
    try {
      void listClient.call('BLPOP', 'jobs', '0');
      void zsetClient.call('BZPOPMIN', 'ranked', '0');
      await sleep(300);
      pausedProcess.kill('SIGSTOP');
      const pushed = pusher.pipeline([
        ['RPUSH', 'jobs', 'j1', 'j2'],
        ['ZADD', 'ranked', '2.5', 'm1', '7', 'm2'],
      ]);
      // The follower applies both, and each woken client's pop waits on the paused voter.
      await sleep(500);
      listClient.close();
      zsetClient.close();
      await sleep(200);
      pausedProcess.kill('SIGCONT');
      assert.deepEqual(await pushed, [2, 2]);
      for (const node of cluster.nodes) {
        await waitForState(
          node.respPort,
          async (client) => [
            comparable(await client.call('LRANGE', 'jobs', '0', '-1')),
            comparable(await client.call('ZRANGE', 'ranked', '0', '-1', 'WITHSCORES')),
          ],
          [
            ['$j1', '$j2'],
            ['$m1', '$2.5', '$m2', '$7'],
          ],
        );
      }
      for (const id of [follower, leader]) {
        const logged = cluster.node(id).output.join('');
        const gaveBack = logged.split('gave back what a blocked client popped').length - 1;
        assert.equal(gaveBack, 1, `${id}: its client's pop was in flight when it left`);
      }
    } finally {
      pausedProcess.kill('SIGCONT');
      pusher.close();
    }
  });
});
