// A node's state lives in memory and in its log and snapshots: a whole cluster killed with
// kill -9 comes back from each node's own disk, with every acknowledged write.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { call, TestCluster } from './cluster.js';

describe('a node restarted from its own disk', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 100 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('rebuilds its keys and SQL tables from its latest snapshot and the log after it', async () => {
    // Goal: with every node killed at once, the two started again (a majority) must serve
    // every acknowledged write, each rebuilt from its own snapshot image and the entries
    // its log holds after it, not from a snapshot sent by the other.
    const leader = await cluster.leader();
    const url = cluster.url(leader);
    const created = await call('POST', `${url}/v1/sql`, {
      sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    let last = 0;
    for (let i = 0; i < 350; i++) {
      const put = await call('PUT', `${url}/v1/kv/key-${i}`, { value: `value-${i}` });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      last = put.body.index as number;
      if (i % 50 === 0) {
        const insert = await call('POST', `${url}/v1/sql`, {
          sql: 'INSERT INTO t VALUES (?, ?)',
          params: [i, `row-${i}`],
        });
        assert.equal(insert.status, 200, JSON.stringify(insert.body));
        last = insert.body.index as number;
      }
    }
    const deleted = await call('DELETE', `${url}/v1/kv/key-7`);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    last = deleted.body.index as number;
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `no snapshot was taken: ${JSON.stringify(view)}`);
    assert.ok(view.snapshotIndex < last, 'the log holds entries after the snapshot');

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    const restarted = cluster.nodes.slice(0, 2).map((node) => node.id);
    for (const id of restarted) cluster.start(id);
    for (const id of restarted) {
      await cluster.up(id);
      const read = (key: string) =>
        call('GET', `${cluster.url(id)}/v1/kv/${key}?consistency=ryw&after=${last}`);
      for (const i of [0, 1, 99, 100, 250, 349]) {
        const answer = await read(`key-${i}`);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.value, `value-${i}`);
      }
      assert.equal((await read('key-7')).status, 404, 'the delete after the snapshot holds');
      const rows = await call('POST', `${cluster.url(id)}/v1/query`, {
        sql: 'SELECT id, name FROM t ORDER BY id',
        consistency: 'stale',
      });
      assert.equal(rows.status, 200, JSON.stringify(rows.body));
      assert.deepEqual(
        rows.body.rows,
        [0, 50, 100, 150, 200, 250, 300].map((row) => ({ id: row, name: `row-${row}` })),
      );
      const output = cluster.node(id).output.join('');
      assert.match(output, /loaded the state machine from the snapshot/);
      assert.doesNotMatch(output, /installed a snapshot from the leader/);
      assert.ok(!readdirSync(cluster.node(id).dir).includes('state.db'), 'no store file');
    }
  });
});
