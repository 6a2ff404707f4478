/**
 * Chain replication in the core, driven by the in-memory harness: the chain forms as
 * members catch up, the leader then sends entries to the head alone, relays pass them on
 * and pass up what the members after them hold, and the chain closes over a silent member
 * and takes it back at its tail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppendMessage, AppendResponseMessage, Message } from '../../src/core/index.js';
import { Harness } from './harness.js';

function chainCluster(): { harness: Harness; leader: string } {
  const harness = new Harness();
  harness.addNodes(4, {
    voters: ['1', '2', '3', '4'],
    topology: 'chain',
    config: { electionTicks: 8, heartbeatTicks: 1 },
    seed: 3,
  });
  harness.campaign('1');
  harness.stabilize();
  harness.propose('1', 'first');
  harness.stabilize();
  // A few ticks: the members are heard and caught up, and join the chain.
  harness.tickAll(3);
  return { harness, leader: '1' };
}

/** The messages delivered since `from` that match `test`. */
function deliveredSince<T extends Message>(
  harness: Harness,
  from: number,
  test: (message: Message) => message is T,
): T[] {
  return harness.delivered.slice(from).filter(test);
}

const isAppend = (message: Message): message is AppendMessage =>
  message.type === 'append' && message.entries.length > 0;

test('a chain forms in member order and the leader feeds only its head', () => {
  const { harness, leader } = chainCluster();
  const status = harness.node(leader).core.status();
  assert.equal(status.topology, 'chain');
  assert.deepEqual(status.chain, ['2', '3', '4']);
  assert.deepEqual(
    status.followers.map((follower) => [follower.id, follower.upstream]),
    [
      ['2', '1'],
      ['3', '2'],
      ['4', '3'],
    ],
  );
  const mark = harness.delivered.length;
  for (let i = 0; i < 5; i++) harness.propose(leader, `w${i}`);
  harness.stabilize();
  const appends = deliveredSince(harness, mark, isAppend);
  assert.deepEqual(
    [...new Set(appends.map((message) => `${message.from}->${message.to}`))].sort(),
    ['1->2', '2->3', '3->4'],
  );
  for (const message of appends.filter((append) => append.from !== leader)) {
    assert.equal(message.leader, leader, 'a relayed append names the leader');
  }
  // Every member applied every write, and the leader knows each one's match exactly.
  for (const id of ['1', '2', '3', '4']) assert.equal(harness.node(id).state.at(-1), 'w4');
  const last = harness.node(leader).core.status().lastIndex;
  for (const follower of harness.node(leader).core.status().followers) {
    assert.equal(follower.match, last, follower.id);
  }
  // What the tail holds reached the leader only as the relays' covers.
  const answers = harness.delivered
    .slice(mark)
    .filter((message): message is AppendResponseMessage => message.type === 'append-response');
  assert.ok(
    answers.every(
      (answer) => answer.to === answer.from || answer.from !== '4' || answer.to === '3',
    ),
  );
  assert.ok(
    answers.some(
      (answer) =>
        answer.to === leader &&
        answer.covers?.some((claim) => claim.id === '4' && claim.index === last),
    ),
    "the head passed up the tail's claim",
  );
});

test('a quorum write commits on relayed acknowledgements alone', () => {
  const { harness, leader } = chainCluster();
  // The head answers the leader, but it is the chain behind it that makes the majority:
  // with 4 voters a majority is 3, so the leader needs a claim for 3 or 4.
  harness.drop('3', '1');
  harness.drop('4', '1');
  const receipt = harness.propose(leader, 'relayed');
  harness.stabilize();
  assert.ok(harness.node(leader).core.status().commit >= receipt.index);
  harness.heal();
});

test('a silent middle member is bypassed, then rejoins at the tail', () => {
  const { harness, leader } = chainCluster();
  harness.isolate('3');
  const others = ['1', '2', '4'];
  harness.tickAll(4, others);
  assert.deepEqual(harness.node(leader).core.status().chain, ['2', '4']);
  harness.propose(leader, 'around');
  harness.stabilize();
  assert.equal(harness.node('4').state.at(-1), 'around');
  harness.heal();
  harness.tickAll(6);
  assert.deepEqual(harness.node(leader).core.status().chain, ['2', '4', '3']);
  assert.equal(harness.node('3').state.at(-1), 'around');
});

test('a topology switch goes through the log; in a star every member is fed', () => {
  const { harness, leader } = chainCluster();
  harness.changeMembers(leader, { type: 'set-topology', topology: 'star' });
  harness.stabilize();
  for (const id of ['1', '2', '3', '4']) {
    assert.equal(harness.node(id).core.membership.topology, undefined, id);
  }
  assert.throws(
    () => harness.changeMembers(leader, { type: 'set-topology', topology: 'star' }),
    /already star/,
  );
  const mark = harness.delivered.length;
  harness.propose(leader, 'star');
  harness.stabilize();
  const targets = new Set(deliveredSince(harness, mark, isAppend).map((message) => message.to));
  assert.deepEqual([...targets].sort(), ['2', '3', '4']);
});

test('a learner with an upstream is fed by that member, and by the leader while it cannot', () => {
  for (const topology of ['star', 'chain'] as const) {
    const harness = new Harness();
    harness.addNodes(3, {
      voters: ['1', '2', '3'],
      topology,
      config: { electionTicks: 8 },
      seed: 5,
    });
    harness.campaign('1');
    harness.stabilize();
    harness.changeMembers('1', { type: 'add-learner', id: '4', upstream: '3' });
    harness.stabilize();
    harness.tickAll(3);
    const leader = harness.node('1').core;
    assert.equal(leader.membership.upstreams?.['4'], '3', topology);
    const upstream = (): string | undefined =>
      leader.status().followers.find((follower) => follower.id === '4')?.upstream;
    assert.equal(upstream(), '3', topology);
    let mark = harness.delivered.length;
    harness.propose('1', `${topology}-1`);
    harness.stabilize();
    const feeders = new Set(
      deliveredSince(harness, mark, isAppend)
        .filter((message) => message.to === '4')
        .map((message) => message.from),
    );
    assert.deepEqual([...feeders], ['3'], topology);
    assert.equal(harness.node('4').state.at(-1), `${topology}-1`);
    // Its upstream goes silent: the leader feeds it until the upstream is back.
    harness.isolate('3');
    harness.tickAll(5, ['1', '2', '4']);
    assert.equal(upstream(), '1', topology);
    mark = harness.delivered.length;
    harness.propose('1', `${topology}-2`);
    harness.stabilize();
    assert.equal(harness.node('4').state.at(-1), `${topology}-2`);
    harness.heal();
    harness.tickAll(6);
    assert.equal(upstream(), '3', topology);
  }
  // Only a member may be an upstream, and an upstream must not have one itself.
  const harness = new Harness();
  harness.addNodes(3, { voters: ['1', '2', '3'], seed: 6 });
  harness.campaign('1');
  harness.stabilize();
  assert.throws(
    () => harness.changeMembers('1', { type: 'add-learner', id: '4', upstream: '9' }),
    /must be a member/,
  );
  harness.changeMembers('1', { type: 'add-learner', id: '4', upstream: '2' });
  harness.stabilize();
  harness.tickAll(1);
  assert.throws(
    () => harness.changeMembers('1', { type: 'add-learner', id: '5', upstream: '4' }),
    /must not have one itself/,
  );
});
