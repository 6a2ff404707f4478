// When a node snapshots: past its entry threshold, but under a steady load no sooner than
// the least interval after the one before (or after its start, when restarted), unless the
// log after the latest holds as many entries as the store holds keys (the most a restart
// replays).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, sleep, TestCluster } from './cluster.js';

test('a snapshot waits out the least interval until the log after the latest holds as many entries as keys', async () => {
  // Goal: with 200 keys and a threshold of 50 entries, only the first snapshot comes at
  // the threshold; the next waits for 200 entries after it, not for the interval (10 min).
  const cluster = await TestCluster.create({
    nodes: 1,
    extraArgs: () => ['--snapshot-every', '50', '--snapshot-min-interval-ms', '600000'],
  });
  try {
    cluster.startAll();
    const id = await cluster.leader();
    const taken = async (): Promise<number> => {
      const text = await (await fetch(`${cluster.url(id)}/metrics`)).text();
      const match = /^tandem_snapshots_taken_total(?:\{[^}]*\})? (\d+)$/m.exec(text);
      return Number(match?.[1] ?? 0);
    };
    const put = async (key: string): Promise<void> => {
      const response = await call('PUT', `${cluster.url(id)}/v1/kv/${key}`, { value: 'v' });
      assert.equal(response.status, 200, JSON.stringify(response.body));
    };
    const settled = async (count: number): Promise<number> => {
      // Snapshots are taken in the background: give one time to finish.
      for (let i = 0; i < 50 && (await taken()) < count; i++) await sleep(100);
      await sleep(300);
      return taken();
    };
    for (let i = 0; i < 200; i++) await put(`key-${i}`);
    assert.equal(await settled(1), 1, 'the first at the threshold, none within the interval');
    // About 150 entries after the first snapshot now, and 200 keys: 30 more stay below.
    for (let i = 0; i < 30; i++) await put(`key-${i}`);
    assert.equal(await settled(2), 1, 'below as many entries as keys, the interval holds');
    for (let i = 30; i < 80; i++) await put(`key-${i}`);
    assert.equal(await settled(2), 2, 'as many entries as keys: a snapshot at once');
    // About 130 entries after the second snapshot: due, and held by the interval. Killed and
    // started again, the node counts the interval from its start, so it takes none at once
    // (the build before took one on its first apply, while its first reads waited).
    for (let i = 80; i < 210; i++) await put(`key-${i}`);
    assert.equal(await settled(3), 2, 'due but within the interval');
    await cluster.kill(id);
    cluster.start(id);
    await cluster.leader();
    await put('after-restart');
    assert.equal(await settled(1), 0, 'restarted: the interval counts from the start');
    for (let i = 0; i < 100; i++) await put(`key-${i}`);
    assert.equal(await settled(1), 1, 'as many entries as keys after a restart: at once');
  } finally {
    await cluster.destroy();
  }
});
