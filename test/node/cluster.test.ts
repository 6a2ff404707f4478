// A real three-node cluster of `tandem start` processes on loopback: replication, failover
// after kill -9, catch-up, snapshots, membership changes, and refused strangers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, sleep, TestCluster } from './cluster.js';
import { checkExactIntegers } from './sql-integers.js';

async function put(cluster: TestCluster, id: string, key: string, value: string): Promise<number> {
  const response = await call('PUT', `${cluster.url(id)}/v1/kv/${key}`, { value });
  assert.equal(response.status, 200, `PUT ${key} via ${id}: ${JSON.stringify(response.body)}`);
  return response.body.index as number;
}

async function get(
  cluster: TestCluster,
  id: string,
  key: string,
  afterIndex: number,
): Promise<string | null> {
  const response = await call(
    'GET',
    `${cluster.url(id)}/v1/kv/${key}?consistency=ryw&after=${afterIndex}`,
  );
  if (response.status === 404) return null;
  assert.equal(response.status, 200, `GET ${key} on ${id}: ${JSON.stringify(response.body)}`);
  return response.body.value as string;
}

describe('a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3, snapshotEvery: 200 });
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a write through any node is readable on every node at ryw with its index', async () => {
    // Goal: followers forward writes to the leader, and every node serves the write once
    // it has applied the index the write returned.
    for (const writer of ['n1', 'n2', 'n3']) {
      const index = await put(cluster, writer, `from-${writer}`, `value-${writer}`);
      for (const reader of ['n1', 'n2', 'n3']) {
        assert.equal(await get(cluster, reader, `from-${writer}`, index), `value-${writer}`);
      }
    }
  });

  test('metrics count Readies, log writes and peer frames as the writes go by', async () => {
    // Goal: the batching counters move with real writes: the leader takes Readies, writes
    // every entry to its log, and sends frames in no more socket writes than frames.
    const leader = await cluster.leader();
    const scrape = async (): Promise<Record<string, number>> => {
      const text = await (await fetch(`${cluster.url(leader)}/metrics`)).text();
      const value = (name: string): number => {
        const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'm').exec(text);
        assert.ok(match, `${name} is exposed`);
        return Number(match[1]);
      };
      return {
        readies: value('tandem_readies_total'),
        logged: value('tandem_log_entries_written_total'),
        frames: value('tandem_peer_frames_sent_total'),
        socketWrites: value('tandem_peer_socket_writes_total'),
      };
    };
    const before = await scrape();
    for (let i = 0; i < 20; i++) await put(cluster, leader, `metric-${i}`, 'v');
    const after = await scrape();
    assert.ok(after.readies - before.readies >= 20, 'one Ready at least per awaited write');
    assert.ok(after.logged - before.logged >= 20, 'every write is written to the log');
    assert.ok(after.frames - before.frames >= 40, 'each write goes to both followers');
    assert.ok(after.socketWrites > before.socketWrites);
    assert.ok(after.socketWrites <= after.frames, 'a socket write carries one frame or more');
  });

  test('SQL integers past 2^53 are stored and read back exactly on every node', async () => {
    // Goal: 9007199254740993 and int8's ends, written through a follower as JSON numbers,
    // come back as the same digits from every replica, by value and in a listing.
    const leader = await cluster.leader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
    await checkExactIntegers(cluster, follower, ['n1', 'n2', 'n3'], 'big_integers');
  });

  test('kill -9 of the leader: a new leader takes writes and nothing acknowledged is lost', async () => {
    // Goal: failover is automatic, and in quorum mode every acknowledged write survives it.
    const acknowledged: { key: string; index: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const key = `before-kill-${i}`;
      acknowledged.push({ key, index: await put(cluster, 'n1', key, `v${i}`) });
    }
    const oldLeader = await cluster.leader();
    await cluster.kill(oldLeader);
    const survivors = cluster.nodes.map((node) => node.id).filter((id) => id !== oldLeader);
    // A linearizable read asked of a follower whose leader just died is answered (served
    // through the new leader, or refused with a code), never left hanging.
    const asked = Date.now();
    const read = await call(
      'GET',
      `${cluster.url(survivors[0] as string)}/v1/kv/before-kill-0?consistency=linearizable`,
    );
    assert.ok(Date.now() - asked < 8000, `the read took ${Date.now() - asked} ms`);
    assert.ok([200, 503, 504].includes(read.status), JSON.stringify(read));
    const newLeader = await cluster.leader(20_000, survivors);
    assert.notEqual(newLeader, oldLeader);
    const index = await put(cluster, newLeader, 'after-kill', 'yes');
    for (const { key, index: written } of acknowledged) {
      assert.equal(await get(cluster, newLeader, key, written), `v${key.split('-').at(-1)}`);
    }
    // The killed node restarts and catches up.
    cluster.start(oldLeader);
    await cluster.up(oldLeader);
    assert.equal(await get(cluster, oldLeader, 'after-kill', index), 'yes');
    for (const { key, index: written } of acknowledged) {
      assert.equal(await get(cluster, oldLeader, key, written), `v${key.split('-').at(-1)}`);
    }
  });

  test('a node whose log was compacted past catches up from a snapshot', async () => {
    // Goal: a follower that missed more than the leader keeps in its log gets a snapshot,
    // one larger than a store takes in one chunk (about 6 MiB).
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    await cluster.kill(follower);
    let last = 0;
    const large = 'x'.repeat(500 * 1024);
    for (let i = 0; i < 12; i++) last = await put(cluster, leader, `large-${i}`, `${i}${large}`);
    for (let i = 0; i < 500; i++) last = await put(cluster, leader, `bulk-${i}`, `b${i}`);
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, `the leader never compacted: ${JSON.stringify(view)}`);
    cluster.start(follower);
    await cluster.up(follower);
    assert.equal(await get(cluster, follower, 'bulk-499', last), 'b499');
    assert.equal(await get(cluster, follower, 'bulk-3', last), 'b3');
    assert.equal(await get(cluster, follower, 'large-11', last), `11${large}`);
    const logs = cluster.node(follower).output.join('');
    assert.match(logs, /installed a snapshot from the leader/);
    // And in the metrics: the leader took and streamed it, the follower installed it.
    const metric = async (id: string, name: string): Promise<number> => {
      const text = await (await fetch(`${cluster.url(id)}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(name));
      return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    assert.ok((await metric(leader, 'tandem_snapshots_taken_total{')) >= 1);
    assert.ok((await metric(leader, 'tandem_snapshot_index{')) > 0);
    assert.ok((await metric(leader, 'tandem_snapshot_streams_total{outcome="sent"')) >= 1);
    assert.ok((await metric(leader, 'tandem_snapshot_bytes_sent_total{')) > 5 * 1024 * 1024);
    assert.ok((await metric(follower, 'tandem_snapshots_installed_total{')) >= 1);
    assert.ok((await metric(follower, 'tandem_snapshot_bytes{')) > 5 * 1024 * 1024);
  });

  test('a fourth node joins as a learner, is promoted, and a node is removed', async () => {
    // Goal: membership changes at run time through the HTTP API.
    const leader = await cluster.leader();
    const n4 = await cluster.addNodeSpec('n4');
    cluster.start('n4', { join: true });
    await cluster.up('n4');
    const added = await call('POST', `${cluster.url(leader)}/v1/cluster/members`, {
      id: 'n4',
      address: `127.0.0.1:${n4.peerPort}`,
      learner: true,
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const index = await put(cluster, leader, 'seen-by-n4', 'hello');
    assert.equal(await get(cluster, 'n4', 'seen-by-n4', index), 'hello');
    const promoted = await call('POST', `${cluster.url(leader)}/v1/cluster/members`, {
      id: 'n4',
      address: `127.0.0.1:${n4.peerPort}`,
      learner: false,
    });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    let view = await cluster.status(leader);
    assert.ok(view.membership.voters.includes('n4'), JSON.stringify(view.membership));
    const victim = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
    const removed = await call('DELETE', `${cluster.url(leader)}/v1/cluster/members/${victim}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    view = await cluster.status(leader);
    assert.ok(!view.membership.voters.includes(victim), JSON.stringify(view.membership));
    await put(cluster, leader, 'after-remove', 'still writable');
    // The removed node is told: it serves nothing and says so, instead of old data.
    const deadline = Date.now() + 10_000;
    let victimView = await call('GET', `${cluster.url(victim)}/v1/cluster`);
    while (victimView.body['removed'] !== true && Date.now() < deadline) {
      await sleep(100);
      victimView = await call('GET', `${cluster.url(victim)}/v1/cluster`);
    }
    assert.equal(victimView.body['removed'], true, JSON.stringify(victimView.body));
    const stale = await call('GET', `${cluster.url(victim)}/v1/kv/seen-by-n4?consistency=stale`);
    assert.equal(stale.status, 410, JSON.stringify(stale.body));
    assert.equal(stale.body['code'], 'TANDEM_REMOVED');
    const written = await call('PUT', `${cluster.url(victim)}/v1/kv/by-removed`, { value: 'x' });
    assert.equal(written.body['code'], 'TANDEM_REMOVED', JSON.stringify(written.body));
    const ready = await call('GET', `${cluster.url(victim)}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body['code'], 'TANDEM_REMOVED');
    await cluster.stop(victim);
  });

  test('promote hands leadership to a chosen follower', async () => {
    // Goal: an operator's promote makes the named voter the leader.
    const leader = await cluster.leader();
    const view = await cluster.status(leader);
    const target = view.membership.voters.find((id) => id !== leader) as string;
    const response = await call('POST', `${cluster.url(leader)}/v1/cluster/promote`, {
      id: target,
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const running = view.membership.voters.filter((id) => cluster.node(id).process !== null);
    assert.equal(await cluster.leader(10_000, running), target);
  });

  test('a node with the wrong cluster secret is refused and the cluster is unharmed', async () => {
    // Goal: the handshake keeps out a node that does not know the secret.
    const intruder = await cluster.addNodeSpec('n9');
    cluster.start('n9', { join: true, secret: 'not-the-cluster-secret-at-all' });
    await cluster.up('n9');
    const members = cluster.nodes.filter((node) => node.process !== null && node.id !== 'n9');
    const leader = await cluster.leader(
      20_000,
      members.map((node) => node.id),
    );
    await call('POST', `${cluster.url(leader)}/v1/cluster/members`, {
      id: 'n9',
      address: `127.0.0.1:${intruder.peerPort}`,
      learner: true,
    });
    const index = await put(cluster, leader, 'secret-test', 'kept');
    await sleep(1500);
    const response = await call('GET', `${cluster.url('n9')}/v1/kv/secret-test?consistency=stale`);
    assert.notEqual(response.body.value, 'kept', 'the intruder received data');
    const intruderView = await cluster.status('n9');
    assert.equal(intruderView.leaderId, null, 'the intruder found a leader');
    assert.match(cluster.node(leader).output.join(''), /the cluster secrets differ/);
    const running = cluster.nodes.filter((node) => node.process !== null && node.id !== 'n9');
    for (const node of running)
      assert.equal(await get(cluster, node.id, 'secret-test', index), 'kept');
  });
});
