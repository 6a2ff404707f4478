// A two-voter cluster (primary and replica) under the loss of either node: what each read
// level answers, on real processes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, TestCluster } from './cluster.js';

test('two voters: with the replica dead the primary answers linearizable reads at once; with the primary dead the replica refuses them fast', async () => {
  // Goal: a linearizable read on a two-voter primary needs no round (every election needs its vote), and a replica without a leader fails the read quickly instead of hanging.
  const cluster = await TestCluster.create({ nodes: 2 });
  try {
    cluster.startAll();
    const primary = await cluster.leader();
    const replica = primary === 'n1' ? 'n2' : 'n1';
    const written = await call('PUT', `${cluster.url(primary)}/v1/kv/k`, { value: 'v1' });
    assert.equal(written.status, 200, JSON.stringify(written.body));

    await cluster.kill(replica);
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const read = await call('GET', `${cluster.url(primary)}/v1/kv/k?consistency=linearizable`);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(read.body['value'], 'v1');
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    }
    const plain = await call('GET', `${cluster.url(primary)}/v1/kv/k`);
    assert.equal(plain.status, 200, 'the default read on the primary keeps answering');

    cluster.start(replica);
    await cluster.up(replica);
    const again = await call('PUT', `${cluster.url(primary)}/v1/kv/k`, { value: 'v2' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    const caughtUp = await call(
      'GET',
      `${cluster.url(replica)}/v1/kv/k?consistency=ryw&after=${String(again.body['index'])}`,
    );
    assert.equal(caughtUp.body['value'], 'v2', JSON.stringify(caughtUp.body));
    await cluster.kill(primary);
    // Once the replica notices its leader is gone, reads that need one fail at once.
    let refused: { status: number; body: Record<string, unknown> } | undefined;
    for (let attempt = 0; attempt < 40 && refused === undefined; attempt++) {
      const started = Date.now();
      const read = await call('GET', `${cluster.url(replica)}/v1/kv/k?consistency=linearizable`);
      assert.notEqual(read.status, 200, 'a linearizable read without a leader');
      if (Date.now() - started < 1000) refused = read;
    }
    assert.ok(refused !== undefined, 'the replica kept making linearizable reads wait');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    const stale = await call('GET', `${cluster.url(replica)}/v1/kv/k?consistency=stale`);
    assert.equal(stale.status, 200);
    assert.equal(stale.body['value'], 'v2', 'stale reads serve the committed state');
  } finally {
    await cluster.destroy();
  }
});
