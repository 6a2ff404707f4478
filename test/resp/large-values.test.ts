// Values of 16 MiB (the store's value limit) on a real three-node cluster: written on the
// leader and through a follower, over RESP and HTTP, they reach a follower that was down
// while they were written (the leader compacted past them meanwhile) and survive every
// node killed at once, from each node's own snapshot and log; past the limit, a write is
// refused with a clear error and nothing changes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { valueBytesMax } from '../../src/store/commands.js';
import { sleep, TestCluster } from '../node/cluster.js';
import { comparable, RawClient, waitForState } from './raw-client.js';

/** A full-size value that is not one repeated byte, so that a mix-up shows. */
function bigValue(seed: string): string {
  const block = createHash('sha256').update(seed).digest('hex');
  return block.repeat(Math.ceil(valueBytesMax / block.length)).slice(0, valueBytesMax);
}

const values = { big: bigValue('big'), forwarded: bigValue('forwarded') };

function digest(text: string): string {
  return createHash('sha256').update(text, 'latin1').digest('hex');
}

/** What a node answers for the large keys: lengths, and each value's digest. */
async function largeState(client: RawClient): Promise<unknown> {
  const answers: unknown[] = [];
  for (const key of ['big', 'forwarded', 'ranged', 'http']) {
    answers.push(await client.call('STRLEN', key));
  }
  for (const key of ['big', 'forwarded']) {
    const reply = comparable(await client.call('GET', key));
    answers.push(typeof reply === 'string' ? digest(reply.slice(1)) : reply);
  }
  return answers;
}

const expected = [
  valueBytesMax,
  valueBytesMax,
  valueBytesMax,
  valueBytesMax,
  digest(values.big),
  digest(values.forwarded),
];

async function waitForLarge(cluster: TestCluster, id: string): Promise<void> {
  await waitForState(cluster.node(id).respPort, largeState, expected, 60_000);
}

describe('16 MiB values on a three-node cluster', { timeout: 300_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 2 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('full-size values replicate, travel in snapshots, survive restarts; larger are refused', async () => {
    // Goal: a 16 MiB value is one write like any other on every path (RESP on the leader,
    // RESP forwarded by a follower, HTTP), and one byte more is refused, APPEND included.
    const leader = await cluster.leader();
    const [forwarder, lagging] = cluster.nodes
      .map((node) => node.id)
      .filter((id) => id !== leader) as [string, string];
    await cluster.kill(lagging);
    const client = await RawClient.open(cluster.node(leader).respPort);
    const viaFollower = await RawClient.open(cluster.node(forwarder).respPort);
    try {
      assert.equal(comparable(await client.call('SET', 'big', values.big)), 'simple:OK');
      assert.equal(
        comparable(await viaFollower.call('SET', 'forwarded', values.forwarded)),
        'simple:OK',
      );
      assert.equal(
        await client.call('SETRANGE', 'ranged', String(valueBytesMax - 1), 'z'),
        valueBytesMax,
      );
      const http = await fetch(`${cluster.url(leader)}/v1/kv/http`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from(values.big, 'latin1'),
      });
      assert.equal(http.status, 200, await http.text());

      // One byte past the limit, by SET, APPEND or SETRANGE: refused, nothing written.
      const over = comparable(await client.call('SET', 'over', `${values.big}x`));
      assert.match(String(over), new RegExp(`^error:ERR .*over the maximum of ${valueBytesMax}`));
      assert.equal(
        comparable(await client.call('APPEND', 'big', 'x')),
        'error:ERR string exceeds maximum allowed size (proto-max-bulk-len)',
      );
      assert.equal(
        comparable(await client.call('SETRANGE', 'ranged', String(valueBytesMax), 'z')),
        'error:ERR string exceeds maximum allowed size (proto-max-bulk-len)',
      );
      assert.equal(await client.call('EXISTS', 'over'), 0);
      // Writes after them until the leader has compacted past them.
      const written = (await cluster.status(leader)).commitIndex;
      for (let round = 0; (await cluster.status(leader)).snapshotIndex <= written; round++) {
        assert.ok(round < 100, 'the leader never compacted past the large values');
        await client.pipeline(Array.from({ length: 200 }, (_, i) => ['SET', `small:${i}`, 'v']));
        await sleep(100);
      }
      assert.deepEqual(await largeState(client), expected);
    } finally {
      client.close();
      viaFollower.close();
    }
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(lagging);
    await cluster.up(lagging);
    await waitForLarge(cluster, lagging);

    await Promise.all(cluster.nodes.map((node) => cluster.kill(node.id)));
    for (const node of cluster.nodes) cluster.start(node.id);
    for (const node of cluster.nodes) await cluster.up(node.id);
    await cluster.leader();
    for (const node of cluster.nodes) await waitForLarge(cluster, node.id);
  });
});
