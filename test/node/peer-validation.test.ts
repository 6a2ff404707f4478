// A peer with the cluster secret that sends frames claiming another sender, or messages its
// sender cannot know, is ignored: the node counts and logs them and keeps serving.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerTransport } from '../../src/transport/transport.js';
import { RecordingLogger } from '../transport/helpers.js';
import { call, sleep, TestCluster } from './cluster.js';

async function droppedCount(url: string): Promise<number> {
  const response = await fetch(`${url}/metrics`);
  const match = /tandem_dropped_peer_messages_total\{[^}]*\} (\d+)/.exec(await response.text());
  return match === null ? 0 : Number(match[1]);
}

test('forged and impossible peer messages are dropped, counted and logged; the leader keeps leading', async () => {
  // Goal: a frame whose `from` differs from the authenticated peer, and a read round never sent, confirm nothing and stop nothing.
  const cluster = await TestCluster.create({ nodes: 3 });
  const intruder = await PeerTransport.start({
    nodeId: 'n9',
    clusterId: 'tandem',
    clusterSecret: cluster.secret,
    listen: { host: '127.0.0.1', port: 0 },
    advertisement: { httpUrl: 'http://127.0.0.1:1', resp: null },
    peers: new Map(),
    logger: new RecordingLogger(),
  });
  try {
    cluster.startAll();
    const leader = await cluster.leader();
    const view = await cluster.status(leader);
    const url = cluster.url(leader);
    const before = await droppedCount(url);
    intruder.setPeer(leader, { host: '127.0.0.1', port: cluster.node(leader).peerPort });
    const follower = view.membership.voters.find((id) => id !== leader) as string;
    const forged = {
      kind: 'raft',
      message: {
        type: 'heartbeat-response',
        from: follower,
        to: leader,
        term: view.term,
        round: 1e9,
        applied: 0,
      },
    };
    const impossible = {
      kind: 'raft',
      message: {
        type: 'append',
        from: 'n9',
        to: leader,
        term: view.term,
        prevIndex: -1,
        prevTerm: 0,
        entries: [],
        commit: 0,
      },
    };
    const deadline = Date.now() + 10_000;
    while ((await droppedCount(url)) < before + 2) {
      assert.ok(Date.now() < deadline, 'the leader counts the dropped messages');
      intruder.send(leader, forged);
      intruder.send(leader, impossible);
      await sleep(200);
    }
    assert.match(cluster.node(leader).output.join(''), /dropped an impossible peer message/);
    assert.match(
      cluster.node(leader).output.join(''),
      new RegExp(`claims to come from ${follower}`),
    );
    const written = await call('PUT', `${url}/v1/kv/after-forgery`, { value: 'fine' });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    assert.equal((await cluster.status(leader)).role, 'leader');
  } finally {
    await intruder.close();
    await cluster.destroy();
  }
});
