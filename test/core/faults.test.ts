/**
 * Scenario tests for the core under faults and bad peers: each names what it proves and
 * fails if the rule it tests is broken (each failed on the core before its fix).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TandemError,
  type CoreConfig,
  type Message,
  type NodeId,
  type RaftCore,
} from '../../src/core/index.js';
import { Harness } from './harness.js';

function cluster(
  voters: number,
  config: Partial<CoreConfig> = {},
  learners: readonly NodeId[] = [],
): Harness {
  const harness = new Harness();
  const ids = Array.from({ length: voters }, (_, i) => String(i + 1));
  harness.addNodes(voters + learners.length, {
    voters: ids,
    learners: [...learners],
    config,
  });
  return harness;
}

function elect(harness: Harness, id: NodeId): void {
  harness.campaign(id);
  harness.stabilize();
  assert.equal(harness.node(id).core.role, 'leader', `${id} should have won`);
}

function tickUntil(harness: Harness, done: () => boolean, what: string, ids?: NodeId[]): void {
  for (let tick = 0; tick < 300; tick++) {
    if (done()) return;
    harness.tickAll(1, ids ?? harness.ids());
  }
  assert.fail(`${what}: not reached within 300 ticks`);
}

/** Delivers queued messages that pass `filter` and carries out Readies until quiet. */
function settle(harness: Harness, filter: (message: Message) => boolean): void {
  for (let round = 0; round < 1000; round++) {
    const readies = harness.processReadies();
    const delivered = harness.deliverMessages(filter);
    if (!readies && !delivered) return;
  }
  assert.fail('not quiet after 1000 rounds');
}

function errorCode(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof TandemError) return error.code;
    throw error;
  }
  return 'no error';
}

/** An async cluster whose leader 1, cut off, applied x1..x3 alone; 2 then leads term 2 with `y`. */
function deposedAsyncLeader(config: Partial<CoreConfig> = {}): Harness {
  const harness = cluster(3, { durability: 'async', checkQuorum: false, ...config });
  elect(harness, '1');
  harness.propose('1', 'a', 'quorum');
  harness.stabilize();
  harness.isolate('1');
  for (const data of ['x1', 'x2', 'x3']) harness.propose('1', data);
  harness.stabilize();
  assert.deepEqual(harness.node('1').state, ['a', 'x1', 'x2', 'x3']);
  tickUntil(harness, () => harness.node('2').core.role === 'leader', '2 leads', ['2', '3']);
  harness.propose('2', 'y', 'quorum');
  harness.stabilize();
  assert.deepEqual(harness.node('2').state, ['a', 'y']);
  return harness;
}

/** Heals the cluster and lets only heartbeats (and reads) through: no append reaches node 1. */
const noAppendTo1 = (message: Message): boolean =>
  !(message.to === '1' && (message.type === 'append' || message.type === 'snapshot'));

test('item 1: a deposed leader rolls back its uncommitted async tail as soon as it learns of the new term, so no read there shows it', () => {
  // Goal: once node 1 is no longer leader its state machine holds only committed entries, before any conflicting append arrives; and a linearizable read on it waits for the new leader's write.
  const harness = deposedAsyncLeader();
  harness.heal();
  harness.tick('2', 1);
  settle(harness, noAppendTo1);
  const node1 = harness.node('1');
  assert.equal(node1.core.role, 'follower');
  assert.equal(node1.rollbacks, 1, 'the tail was rolled back at step-down');
  assert.deepEqual(node1.state, ['a'], 'a stale read now shows only committed writes');

  node1.core.readIndex('r');
  harness.tick('2', 1);
  settle(harness, noAppendTo1);
  const read = node1.readStates.find((state) => state.readId === 'r');
  assert.ok(read !== undefined && read.error === null, 'the read index arrived');
  assert.ok(
    node1.core.status().applied < read.index,
    'node 1 must wait to apply the read index: it has not got y yet',
  );
  harness.stabilize();
  assert.deepEqual(node1.state, ['a', 'y']);
});

test('item 1: a leader restarted with an applied async tail rolls it back before serving as a follower', () => {
  // Goal: a node whose store applied beyond what it knows committed (async, as leader) starts by rolling back.
  const harness = cluster(3, { durability: 'async' });
  elect(harness, '1');
  harness.propose('1', 'a', 'quorum');
  harness.stabilize();
  harness.isolate('1');
  harness.propose('1', 'x');
  harness.stabilize();
  harness.crash('1');
  harness.processReady('1');
  assert.equal(harness.node('1').rollbacks, 1);
  assert.deepEqual(harness.node('1').state, ['a']);
});

test('item 1: a restart keeps the state applied by quorum entries when the stored commit trails it', () => {
  // Goal: a lazily synced commit index does not force a rollback of entries that were applied only once committed.
  const harness = cluster(3);
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  const node3 = harness.node('3');
  node3.storage.hardState = { ...node3.storage.hardState, commit: 1 };
  harness.crash('3');
  assert.equal(node3.core.status().commit, 2);
  assert.equal(node3.core.hasReady() && node3.core.ready().rollback, null);
});

test('item 2: a sync write is not acknowledged on an applied report for entries the voter does not hold', () => {
  // Goal: the deposed leader reports the applied index of its divergent tail; the new leader must not count it for a sync write node 1 never received.
  const harness = deposedAsyncLeader();
  harness.heal();
  harness.tick('2', 1);
  settle(harness, noAppendTo1);
  const z = harness.propose('2', 'z', 'sync');
  for (let tick = 0; tick < 5; tick++) {
    harness.tick('2', 1);
    settle(harness, noAppendTo1);
  }
  assert.ok(!harness.node('1').state.includes('z'), 'node 1 has not applied z');
  assert.ok(
    !harness.node('2').responses.some((r) => r.index === z.index && r.outcome === 'acknowledged'),
    'z acknowledged while voter 1 has not applied it',
  );
  harness.stabilize();
  assert.ok(
    harness.node('2').responses.some((r) => r.index === z.index && r.outcome === 'acknowledged'),
  );
});

test('item 3: a two-voter primary answers linearizable reads when its replica is gone; the replica refuses them fast', () => {
  // Goal: with two voters the leader needs no read round (every election needs its vote), and a replica that lost its leader refuses reads instead of hanging.
  const harness = cluster(2, { checkQuorum: false });
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  harness.isolate('2');
  harness.tickAll(30);
  harness.node('1').core.readIndex('primary');
  harness.stabilize();
  assert.deepEqual(harness.node('1').readStates.at(-1), {
    readId: 'primary',
    index: 2,
    error: null,
  });
  harness.node('2').core.readIndex('replica');
  harness.tickAll(30);
  const replica = harness.node('2').readStates.at(-1);
  assert.equal(replica?.readId, 'replica');
  assert.notEqual(replica?.error, null, 'refused, not left waiting');
});

test('item 3: a leader of three whose majority is silent refuses reads at once with TANDEM_NO_QUORUM', () => {
  // Goal: a read that cannot be confirmed fails fast rather than waiting forever.
  const harness = cluster(3, { checkQuorum: false });
  elect(harness, '1');
  harness.isolate('1');
  harness.tickAll(25, ['1']);
  harness.node('1').core.readIndex('r');
  harness.stabilize();
  assert.deepEqual(harness.node('1').readStates.at(-1), {
    readId: 'r',
    index: 0,
    error: 'TANDEM_NO_QUORUM',
  });
});

test('item 4: a semi-sync write is not acknowledged by a learner alone, and is refused when no other voter is up', () => {
  // Goal: semi-sync means another voter holds the write durably; a learner never takes over.
  const harness = cluster(3, { durability: 'async', syncTimeoutTicks: 5 }, ['4']);
  elect(harness, '1');
  harness.stabilize();
  harness.cut('1', '2');
  harness.cut('1', '3');
  const w = harness.propose('1', 'w', 'semi-sync');
  harness.stabilize();
  assert.ok(harness.node('4').core.status().lastIndex >= w.index, 'the learner has it');
  assert.ok(
    !harness.node('1').responses.some((r) => r.index === w.index && r.outcome === 'acknowledged'),
    'acknowledged with only a learner holding it',
  );
  harness.tickAll(6, ['1', '4']);
  assert.equal(
    errorCode(() => harness.propose('1', 'v', 'semi-sync')),
    'TANDEM_REPLICA_UNAVAILABLE',
  );
});

test('item 5: impossible peer messages are dropped with a reason and change nothing', () => {
  // Goal: a wrong addressee, a forged sender, bad numbers, a read round or entries never sent, a stray read index or transfer order never stop the node nor confirm anything.
  const harness = cluster(3, { checkQuorum: false });
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  const leader: RaftCore = harness.node('1').core;
  const term = leader.term;
  const before = leader.status();
  const bad: Message[] = [
    { type: 'heartbeat-response', from: '2', to: '9', term, round: 0, applied: 0 },
    { type: 'heartbeat-response', from: '1', to: '1', term, round: 0, applied: 0 },
    { type: 'heartbeat-response', from: '2', to: '1', term: -1, round: 0, applied: 0 },
    { type: 'heartbeat-response', from: '2', to: '1', term: 1.5, round: 0, applied: 0 },
    { type: 'heartbeat-response', from: '2', to: '1', term, round: 99, applied: 0 },
    {
      type: 'append-response',
      from: '2',
      to: '1',
      term,
      reject: false,
      index: 50,
      hintIndex: 0,
      hintTerm: 0,
      applied: 50,
    },
    { type: 'append', from: '2', to: '1', term, prevIndex: 0, prevTerm: 0, entries: [], commit: 9 },
    {
      type: 'snapshot',
      from: '2',
      to: '1',
      term: term + 1,
      meta: { index: 9, term: 1, membership: { voters: ['1'], learners: [] } },
      data: null,
    },
    { type: 'bogus', from: '2', to: '1', term } as unknown as Message,
  ];
  for (const message of bad) {
    assert.notEqual(leader.step(message), null, `dropped: ${JSON.stringify(message)}`);
  }
  assert.equal(leader.role, 'leader');
  assert.equal(leader.term, before.term);
  assert.equal(leader.status().commit, before.commit);

  // A read round can be confirmed only by what the leader sent: 2 and 3 are cut off.
  harness.isolate('1');
  leader.readIndex('r');
  for (const from of ['2', '3']) {
    assert.notEqual(
      leader.step({ type: 'heartbeat-response', from, to: '1', term, round: 1000, applied: 2 }),
      null,
    );
  }
  harness.stabilize();
  assert.equal(
    harness.node('1').readStates.find((s) => s.readId === 'r'),
    undefined,
  );

  // A follower takes a read index and a transfer order only from its leader.
  const follower = harness.node('2').core;
  follower.readIndex('f');
  harness.processReady('2');
  assert.notEqual(
    follower.step({
      type: 'read-index-response',
      from: '3',
      to: '2',
      term,
      readId: 'f',
      index: 0,
      rejected: false,
    }),
    null,
  );
  assert.notEqual(follower.step({ type: 'timeout-now', from: '3', to: '2', term }), null);
  assert.equal(follower.role, 'follower');
});

test('item 6: a stranger cannot be made a voter directly', () => {
  // Goal: only a learner that has caught up may become a voter.
  const harness = cluster(3);
  elect(harness, '1');
  assert.equal(
    errorCode(() => harness.changeMembers('1', { type: 'add-voter', id: '9' })),
    'TANDEM_MEMBERSHIP_INVALID',
  );
  assert.deepEqual(harness.node('1').core.membership.voters, ['1', '2', '3']);
});

test('item 6: repeated leadership transfers do not postpone check-quorum', () => {
  // Goal: an isolated leader steps down within two election timeouts even while an operator keeps asking it to transfer.
  const harness = cluster(3, { checkQuorum: true, electionTicks: 10 });
  elect(harness, '1');
  harness.isolate('1');
  const leader = harness.node('1').core;
  for (let tick = 0; tick < 25 && leader.role === 'leader'; tick++) {
    leader.transferLeadership(tick % 2 === 0 ? '2' : '3');
    harness.tickAll(1, ['1']);
  }
  assert.equal(leader.role, 'follower');
});

test('item 11: a removed voter is told, stops campaigning, and refuses reads and writes', () => {
  // Goal: the removed node learns it was removed when the change commits, and when it was away, from its first message to the leader.
  const harness = cluster(4);
  elect(harness, '1');
  harness.changeMembers('1', { type: 'remove', id: '4' });
  harness.stabilize();
  const removed = harness.node('4').core;
  assert.ok(removed.removedAt > 0, 'node 4 was told');
  removed.readIndex('r');
  harness.stabilize();
  assert.equal(harness.node('4').readStates.at(-1)?.error, 'TANDEM_REMOVED');
  assert.equal(
    errorCode(() => harness.propose('4', 'x')),
    'TANDEM_REMOVED',
  );
  const term = removed.term;
  harness.tickAll(60);
  assert.equal(removed.term, term, 'a removed node never campaigns');
  assert.equal(harness.node('1').core.role, 'leader');

  // Node 3 is away while it is removed; when it is back its campaign gets it the news.
  harness.isolate('3');
  harness.changeMembers('1', { type: 'remove', id: '3' });
  harness.stabilize();
  assert.equal(harness.node('3').core.removedAt, 0, 'node 3 was away');
  harness.heal();
  tickUntil(harness, () => harness.node('3').core.removedAt > 0, 'node 3 learns it was removed');
  assert.equal(harness.node('1').core.role, 'leader');
});

test('a node removed while it was away cannot depose a healthy leader with its vote requests', () => {
  // Goal: without check-quorum, a vote request from outside the membership, while the
  // leader is heard, moves no term and gets no vote (the Raft dissertation's rule against
  // disruptive removed servers): here node 4, removed while cut off, woke up holding
  // pre-votes granted before its removal and asks for real votes.
  const harness = cluster(4, { checkQuorum: false });
  elect(harness, '1');
  harness.isolate('4');
  harness.changeMembers('1', { type: 'remove', id: '4' });
  harness.stabilize();
  const leader = harness.node('1').core;
  const term = leader.term;
  for (const to of ['2', '3']) {
    const vote: Message = {
      type: 'vote',
      from: '4',
      to,
      term: term + 1,
      preVote: false,
      lastIndex: leader.status().lastIndex,
      lastTerm: term,
      transfer: false,
    };
    harness.node(to).core.step(vote);
  }
  settle(harness, () => true);
  for (const id of ['1', '2', '3']) assert.equal(harness.node(id).core.term, term, id);
  assert.equal(leader.role, 'leader');
  harness.propose('1', 'after');
  harness.stabilize();
  assert.equal(harness.node('2').core.status().commit, leader.status().commit);
});

test('item 11: a learner that was away while removed learns it when it is back', () => {
  // Goal: a learner never campaigns, yet its keep-alive to the voters gets it the leader's notice.
  const harness = cluster(3, {}, ['4']);
  elect(harness, '1');
  harness.stabilize();
  harness.isolate('4');
  harness.changeMembers('1', { type: 'remove', id: '4' });
  harness.stabilize();
  assert.equal(harness.node('4').core.removedAt, 0, 'node 4 was away');
  harness.heal();
  tickUntil(harness, () => harness.node('4').core.removedAt > 0, 'node 4 learns it was removed');
  assert.equal(harness.node('4').core.leaderId, null);
});

test('item 3: a leader going from three voters to two reads locally only once the change has committed', () => {
  // Goal: while the removal is uncommitted, the others may still elect a leader under the old three voters, so a local read could miss its writes.
  const harness = cluster(3, { checkQuorum: false });
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  harness.isolate('1');
  harness.changeMembers('1', { type: 'remove', id: '3' });
  tickUntil(harness, () => harness.node('2').core.role === 'leader', '2 leads', ['2', '3']);
  harness.propose('2', 'w');
  harness.stabilize();
  assert.deepEqual(harness.node('2').state, ['a', 'w'], 'w committed by 2 and 3');
  harness.node('1').core.readIndex('local');
  harness.stabilize();
  const answer = harness.node('1').readStates.find((state) => state.readId === 'local');
  assert.ok(answer === undefined || answer.error !== null, 'node 1 answered a read that misses w');
});

test('item 1: a read-your-writes read of a write at (index, term) is not served by a deposed leader holding another entry there', () => {
  // Goal: index alone cannot tell the caller's write from a deposed leader's own async entry at the same index; the term can.
  const harness = deposedAsyncLeader();
  const y = harness.node('2').responses.at(-1);
  assert.ok(y !== undefined && y.outcome === 'acknowledged');
  const old = harness.node('1').core;
  assert.ok(old.status().applied >= y.index, 'node 1 applied an entry at that index');
  assert.equal(old.settledWrite(y.index, y.term), false, 'but not the write');
  harness.heal();
  harness.stabilize();
  harness.tickAll(3);
  assert.equal(old.settledWrite(y.index, y.term), true);
  assert.deepEqual(harness.node('1').state, ['a', 'y']);
});
