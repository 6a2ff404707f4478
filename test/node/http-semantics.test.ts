// The HTTP API's promises over a real three-node cluster of `tandem start` processes:
// conditional requests decided at apply on the leader and through a follower, and the
// default read level keeping its read-your-writes promise for a plain HTTP user.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, TestCluster } from './cluster.js';
import { checkConditionalRequests } from './conditions.js';

/** Enough rounds that a default read served stale once in a hundred fails for sure. */
const readYourWritesRounds = 300;

describe('the HTTP API of a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let leader: string;
  let follower: string;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    leader = await cluster.leader();
    follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
  });

  after(async () => {
    await cluster.destroy();
  });

  test('conditional requests are decided at apply, on the leader and through a follower', async () => {
    // Goal: DELETE If-Match and PUT If-None-Match answer 412 and change nothing when their
    // condition fails, GET If-None-Match answers 304, and every conditional header a route
    // does not honour is refused with 400: the same through the leader and a follower.
    await checkConditionalRequests(cluster.url(leader), 'on-leader');
    await checkConditionalRequests(cluster.url(follower), 'via-follower');
  });

  test('a PUT then a default GET through the same follower always sees the PUT', async () => {
    // Goal: without `after`, the default read of a follower (ryw) still reads the user's
    // own write: it is served as linearizable, never from a lagging local state.
    const url = cluster.url(follower);
    for (let round = 0; round < readYourWritesRounds; round++) {
      const written = await call('PUT', `${url}/v1/kv/ryw`, { value: `v${round}` });
      assert.equal(written.status, 200, JSON.stringify(written.body));
      const read = await call('GET', `${url}/v1/kv/ryw`);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(read.body.value, `v${round}`, `round ${round}: the read missed the write`);
    }
  });

  test('a SQL write then a default query through the same follower always sees the write', async () => {
    // Goal: POST /v1/query without `after` keeps the same promise as GET /v1/kv.
    const url = cluster.url(follower);
    const created = await call('POST', `${url}/v1/sql`, {
      sql: 'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    for (let round = 0; round < readYourWritesRounds; round++) {
      const written = await call('POST', `${url}/v1/sql`, {
        sql: 'INSERT INTO counter (id, n) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET n = ?',
        params: [round, round],
      });
      assert.equal(written.status, 200, JSON.stringify(written.body));
      const read = await call('POST', `${url}/v1/query`, { sql: 'SELECT n FROM counter' });
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.deepEqual(
        read.body.rows,
        [{ n: round }],
        `round ${round}: the query missed the write`,
      );
    }
  });

  test('ryw with after waits for that index; stale reads stay available', async () => {
    // Goal: the explicit levels keep working as documented next to the new default.
    const url = cluster.url(follower);
    const written = await call('PUT', `${url}/v1/kv/after`, { value: 'x' });
    assert.equal(written.status, 200);
    const index = written.body.index as number;
    const read = await call('GET', `${url}/v1/kv/after?consistency=ryw&after=${index}`);
    assert.equal(read.body.value, 'x');
    assert.ok(Number(read.headers.get('x-tandem-applied-index')) >= index);
    const stale = await call('GET', `${url}/v1/kv/after?consistency=stale`);
    assert.ok(stale.status === 200 || stale.status === 404, JSON.stringify(stale.body));
  });
});
