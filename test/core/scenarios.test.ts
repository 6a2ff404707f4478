/**
 * Named scenarios for the classic hard cases of leader-based replication, driven through
 * the in-memory cluster of harness.ts. Each asserts what would break if the rule it is
 * about were broken in the core.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TandemError, type CoreConfig, type NodeId, type ReadState } from '../../src/core/index.js';
import { Harness } from './harness.js';

function ids(count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => String(i + 1));
}

function cluster(count: number, config: Partial<CoreConfig> = {}): Harness {
  const harness = new Harness();
  harness.addNodes(count, { voters: ids(count), config });
  return harness;
}

/** Makes `id` campaign and runs the cluster until it is quiet; `id` must then lead. */
function elect(harness: Harness, id: NodeId): void {
  harness.campaign(id);
  harness.stabilize();
  assert.equal(harness.node(id).core.role, 'leader', `${id} should have won`);
}

/** Ticks every node in `ticking` once and stabilizes, until `done` holds. */
function tickUntil(
  harness: Harness,
  done: () => boolean,
  what: string,
  ticking: readonly NodeId[] = harness.ids(),
  maxTicks = 200,
): void {
  for (let tick = 0; tick < maxTicks; tick++) {
    if (done()) return;
    harness.tickAll(1, ticking);
  }
  assert.fail(`${what}: not reached within ${maxTicks} ticks`);
}

/** The leader among `among` with the highest term, if any. */
function leaderAmong(harness: Harness, among: readonly NodeId[]): NodeId | undefined {
  let best: NodeId | undefined;
  for (const id of among) {
    const core = harness.node(id).core;
    if (core.role !== 'leader') continue;
    if (best === undefined || core.term > harness.node(best).core.term) best = id;
  }
  return best;
}

function assertSameState(harness: Harness, nodes: readonly NodeId[]): void {
  const reference = harness.node(nodes[0] as NodeId).state;
  for (const id of nodes) {
    assert.deepEqual(harness.node(id).state, reference, `state of ${id}`);
  }
}

/** Runs Figure 8 up to the moment the term-3 leader holds index 2 (term 1) on a majority. */
function figure8UpToMajorityOfOldEntry(): { harness: Harness; a: { index: number; term: number } } {
  // Classic Raft: no pre-vote, no leases; one entry per append so replication is step by step.
  const harness = cluster(5, { preVote: false, checkQuorum: false, maxEntriesPerMessage: 1 });
  elect(harness, '1');
  // Term 1: node 1 replicates "a" at index 2 to node 2 only.
  for (const id of ['3', '4', '5']) harness.cut('1', id);
  const a = harness.propose('1', 'a');
  harness.stabilize();
  assert.deepEqual(a, { index: 2, term: 1 });
  assert.equal(harness.node('2').termAt(2), 1);
  assert.equal(harness.node('1').core.status().commit, 1, 'a is on 2 of 5 nodes');
  // Term 2: node 5 wins with the votes of 3 and 4 and appends its noop at index 2, but is cut
  // off before sending it.
  harness.isolate('1');
  harness.campaign('5');
  for (let round = 0; round < 20 && harness.node('5').core.role !== 'leader'; round++) {
    harness.deliver();
  }
  assert.equal(harness.node('5').core.role, 'leader');
  assert.equal(harness.node('5').core.term, 2);
  harness.heal();
  harness.isolate('5');
  harness.stabilize();
  assert.equal(harness.node('5').termAt(2), 2);
  // Node 1 hears term 2 (it has no lease to keep), steps down, and wins term 3 with the
  // votes of 2, 3 and 4: its log (ending 2/1) is at least as up to date as theirs.
  harness.tick('1');
  harness.stabilize();
  assert.equal(harness.node('1').core.role, 'follower');
  harness.campaign('1');
  return { harness, a };
}

/** How many voters the leader counts as holding `index` (itself included). */
function replicasOf(harness: Harness, leader: NodeId, index: number): number {
  const status = harness.node(leader).core.status();
  const followers = status.followers.filter((f) => f.voter && f.match >= index).length;
  return followers + (status.stableIndex >= index ? 1 : 0);
}

/** Heals the network and ticks until `node` follows `leader` and has applied as far. */
function healAndCatchUp(harness: Harness, node: NodeId, leader: NodeId, what: string): void {
  harness.heal();
  tickUntil(
    harness,
    () =>
      harness.node(node).core.leaderId === leader &&
      harness.node(node).core.status().applied === harness.node(leader).core.status().applied,
    what,
  );
}

test('figure 8: a leader never commits an entry of an earlier term by counting replicas', () => {
  // Goal: index 2 (term 1) on a majority is not committed by the term-3 leader until its own term-3 entry is on a majority.
  const { harness, a } = figure8UpToMajorityOfOldEntry();
  let sawOldEntryOnMajority = false;
  for (let round = 0; round < 50 && harness.deliver(); round++) {
    const leader = harness.node('1').core;
    if (leader.role !== 'leader' || leader.term !== 3) continue;
    const oldEntryOnMajority = replicasOf(harness, '1', 2) >= 3;
    const ownEntryOnMajority = replicasOf(harness, '1', 3) >= 3;
    if (oldEntryOnMajority && !ownEntryOnMajority) {
      sawOldEntryOnMajority = true;
      assert.ok(
        leader.status().commit < 2,
        `commit ${leader.status().commit} counted replicas of a term-1 entry in term 3`,
      );
    }
  }
  assert.ok(sawOldEntryOnMajority, 'the run must pass through the dangerous state');
  harness.stabilize();
  // Once the term-3 noop is on a majority, both commit together.
  const status = harness.node('1').core.status();
  assert.equal(status.role, 'leader');
  assert.equal(status.commit, 3);
  assert.equal(harness.node('1').termAt(3), 3);
  assert.deepEqual(harness.node('1').state, ['a']);
  assert.ok(
    !harness.node('1').responses.some((r) => r.index === a.index && r.outcome === 'acknowledged'),
  );
});

test('figure 8: an earlier-term entry held by a majority can still be overwritten, so it must not count as committed', () => {
  // Goal: show why the rule matters: a majority holding 2/1 is overwritten by a term-4 leader, and no node ever applies it.
  const { harness, a } = figure8UpToMajorityOfOldEntry();
  // Stop node 1 right when index 2 (term 1) is on a majority but its term-3 noop is not.
  let stopped = false;
  for (let round = 0; round < 50 && harness.deliver(); round++) {
    if (harness.node('1').core.role !== 'leader') continue;
    if (replicasOf(harness, '1', 2) >= 3 && replicasOf(harness, '1', 3) < 3) {
      harness.isolate('1');
      stopped = true;
      break;
    }
  }
  assert.ok(stopped, 'the run must pass through the dangerous state');
  harness.stabilize();
  assert.equal(harness.node('1').core.status().commit, 1);
  // Node 5 (log ending 2/2), still leading term 2, comes back: it hears term 3 and steps
  // down, then wins term 4 with the votes of 3 and 4, whose logs end at term 1 (a first
  // attempt at term 3 is refused: they already voted for node 1 in it).
  harness.heal();
  harness.isolate('1');
  harness.tick('5');
  harness.stabilize();
  assert.equal(harness.node('5').core.role, 'follower');
  for (let attempt = 0; attempt < 5 && harness.node('5').core.role !== 'leader'; attempt++) {
    harness.campaign('5');
    harness.stabilize();
  }
  assert.equal(harness.node('5').core.role, 'leader');
  assert.ok(harness.node('5').core.term >= 4);
  // Everyone, node 1 included once healed, ends with 2/2 where "a" was.
  harness.heal();
  tickUntil(
    harness,
    () =>
      harness
        .ids()
        .every(
          (id) => harness.node(id).termAt(2) === 2 && harness.node(id).core.status().applied >= 3,
        ),
    'everyone overwrites index 2',
    ['5'],
  );
  for (const id of harness.ids()) {
    assert.equal(harness.node(id).termAt(2), 2, `index 2 on ${id}`);
    assert.ok(!harness.node(id).state.includes('a'), `${id} applied the overwritten entry`);
  }
  const outcomes = harness
    .node('1')
    .responses.filter((r) => r.index === a.index && r.term === a.term);
  assert.ok(outcomes.every((r) => r.outcome !== 'acknowledged'));
});

test('a partitioned leader: writes never acknowledged, a new leader elected, its tail overwritten on rejoin', () => {
  // Goal: a leader cut off from the majority acknowledges nothing, and what it wrote alone is replaced by the new leader's log.
  const harness = cluster(5);
  elect(harness, '1');
  harness.propose('1', 'before');
  harness.stabilize();
  harness.isolate('1');
  const x = harness.propose('1', 'x');
  const x2 = harness.propose('1', 'x2');
  // Every node keeps ticking: the majority elects a new leader; node 1 steps down (check-quorum).
  let newLeader: NodeId | undefined;
  tickUntil(
    harness,
    () => (newLeader = leaderAmong(harness, ['2', '3', '4', '5'])) !== undefined,
    'a new leader in the majority',
  );
  const leader = newLeader as NodeId;
  assert.ok(harness.node(leader).core.term > 1);
  const y = harness.propose(leader, 'y');
  harness.stabilize();
  assert.ok(
    harness.node(leader).responses.some((r) => r.index === y.index && r.outcome === 'acknowledged'),
  );
  tickUntil(harness, () => harness.node('1').core.role !== 'leader', 'node 1 steps down');
  // Heal: node 1 follows the new leader and its uncommitted entries are overwritten.
  healAndCatchUp(harness, '1', leader, 'node 1 catches up');
  for (const receipt of [x, x2]) {
    const outcomes = harness
      .node('1')
      .responses.filter((r) => r.index === receipt.index && r.term === receipt.term);
    assert.ok(outcomes.length > 0, 'every proposal gets an outcome');
    assert.ok(
      outcomes.every((r) => r.outcome !== 'acknowledged'),
      `write ${receipt.index} was acknowledged`,
    );
    assert.notEqual(
      harness.node('1').termAt(receipt.index),
      receipt.term,
      `entry ${receipt.index} not overwritten`,
    );
  }
  for (const id of harness.ids()) {
    assert.deepEqual(harness.node(id).state, ['before', 'y'], `state of ${id}`);
  }
});

/**
 * Cuts node 3 off for 25 ticks and heals it for 5, `cycles` times, with a write each cycle.
 * Returns the highest term any node reached and the ticks at which node 1 was not leading.
 */
function flap(harness: Harness, cycles: number): { maxTerm: number; ticksWithoutLeader1: number } {
  let maxTerm = 0;
  let ticksWithoutLeader1 = 0;
  const tick = (): void => {
    harness.tickAll(1);
    for (const id of harness.ids()) maxTerm = Math.max(maxTerm, harness.node(id).core.term);
    if (harness.node('1').core.role !== 'leader') ticksWithoutLeader1++;
  };
  for (let cycle = 0; cycle < cycles; cycle++) {
    harness.isolate('3');
    for (let i = 0; i < 25; i++) tick();
    const leader = harness.leader();
    if (leader !== undefined) {
      harness.propose(leader.id, `w${cycle}`);
      harness.stabilize();
    }
    harness.heal();
    for (let i = 0; i < 5; i++) tick();
  }
  return { maxTerm, ticksWithoutLeader1 };
}

test('a flapping follower never disrupts the leader thanks to pre-vote, and catches up', () => {
  // Goal: a follower cut off and healed again and again never raises any term or unseats the leader, and ends up with every write.
  const harness = cluster(3);
  elect(harness, '1');
  const { maxTerm, ticksWithoutLeader1 } = flap(harness, 6);
  assert.equal(maxTerm, 1, 'the cut-off node only pre-campaigned');
  assert.equal(ticksWithoutLeader1, 0, 'node 1 led throughout');
  assert.equal(harness.node('3').core.leaderId, '1');
  assertSameState(harness, ['1', '2', '3']);
  assert.deepEqual(harness.node('3').state, ['w0', 'w1', 'w2', 'w3', 'w4', 'w5']);

  // The same run without pre-vote does disrupt: node 3 comes back with a higher term and
  // the leader steps down.
  const control = cluster(3, { preVote: false });
  elect(control, '1');
  const disrupted = flap(control, 6);
  assert.ok(disrupted.maxTerm > 1, 'without pre-vote the cut-off node raises its term');
  assert.ok(disrupted.ticksWithoutLeader1 > 0, 'without pre-vote the leader is unseated');
});

test('snapshot install during a membership change: a learner behind the compacted log gets a snapshot, catches up, is promoted', () => {
  // Goal: a learner added after the leader compacted its log is brought up by a snapshot, refused promotion until caught up, then counts as a voter.
  const harness = cluster(3);
  elect(harness, '1');
  for (const command of ['a', 'b', 'c', 'd']) harness.propose('1', command);
  harness.stabilize();
  const applied = harness.node('1').core.status().applied;
  harness.compact('1', applied);
  assert.equal(harness.node('1').core.status().firstIndex, applied + 1);

  harness.changeMembers('1', { type: 'add-learner', id: '4' });
  harness.cut('1', '4');
  harness.stabilize();
  assert.deepEqual(harness.node('1').core.membership, { voters: ['1', '2', '3'], learners: ['4'] });
  assert.throws(
    () => harness.changeMembers('1', { type: 'add-voter', id: '4' }),
    (error: unknown) => error instanceof TandemError && error.code === 'TANDEM_NOT_CAUGHT_UP',
  );

  harness.heal();
  tickUntil(
    harness,
    () => harness.node('4').core.status().applied === harness.node('1').core.status().applied,
    'the learner catches up',
  );
  assert.equal(harness.node('4').snapshotsInstalled, 1);
  assert.ok(harness.delivered.some((m) => m.type === 'snapshot' && m.to === '4'));
  assert.deepEqual(harness.node('4').state, ['a', 'b', 'c', 'd']);
  assert.equal(harness.node('4').core.role, 'follower');

  harness.changeMembers('1', { type: 'add-voter', id: '4' });
  harness.stabilize();
  for (const id of harness.ids()) {
    assert.deepEqual(harness.node(id).core.membership, {
      voters: ['1', '2', '3', '4'],
      learners: [],
    });
  }
  // Four voters need three acknowledgements: with node 2 and node 3 cut off, 1 and 4 are not enough...
  harness.cut('1', '2');
  harness.cut('1', '3');
  const e = harness.propose('1', 'e');
  harness.stabilize();
  assert.ok(harness.node('1').core.status().commit < e.index);
  // ...and with node 3 back, node 4's acknowledgement makes the third.
  harness.heal();
  harness.cut('1', '2');
  tickUntil(harness, () => harness.node('1').core.status().commit >= e.index, 'e commits', ['1']);
  tickUntil(harness, () => harness.node('4').state.includes('e'), 'node 4 applies e', ['1']);
  assert.deepEqual(harness.node('4').state, ['a', 'b', 'c', 'd', 'e']);
});

test('an isolated leader stops acknowledging linearizable reads and refuses them within an election timeout', () => {
  // Goal: read-index on a leader cut off from the majority never yields a read index while partitioned: it is refused with TANDEM_NO_QUORUM after an election timeout, and at once once the majority has been silent that long.
  const harness = cluster(3, { checkQuorum: false });
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  harness.node('1').core.readIndex('before');
  harness.stabilize();
  assert.deepEqual(harness.node('1').readStates, [{ readId: 'before', index: 2, error: null }]);

  harness.isolate('1');
  harness.node('1').core.readIndex('during');
  let newLeader: NodeId | undefined;
  tickUntil(
    harness,
    () => (newLeader = leaderAmong(harness, ['2', '3'])) !== undefined,
    'a new leader among 2 and 3',
  );
  harness.propose(newLeader as NodeId, 'b');
  for (let tick = 0; tick < 50; tick++) harness.tickAll(1);
  assert.equal(
    harness.node('1').core.role,
    'leader',
    'without check-quorum node 1 still believes it leads',
  );
  assert.ok(harness.node(newLeader as NodeId).core.status().commit > 2, 'the majority moved on');
  const during = (): ReadState[] =>
    harness.node('1').readStates.filter((r) => r.readId !== 'before');
  assert.deepEqual(
    during(),
    [{ readId: 'during', index: 0, error: 'TANDEM_NO_QUORUM' }],
    'refused, never answered with an index that could be stale',
  );
  harness.node('1').core.readIndex('later');
  harness.stabilize();
  assert.deepEqual(during().at(-1), { readId: 'later', index: 0, error: 'TANDEM_NO_QUORUM' });
});

test('an async ex-leader that applied an unreplicated entry rolls back to its own snapshot and keeps its committed log', () => {
  // Goal: a node whose state machine ran ahead of the cluster (an async write nobody else got) is reset to its snapshot and re-applies committed entries; it never drops committed entries it acknowledged.
  const harness = cluster(3, { durability: 'async' });
  elect(harness, '1');
  harness.propose('1', 'a');
  harness.stabilize();
  harness.isolate('1');
  const x = harness.propose('1', 'x');
  harness.stabilize();
  assert.deepEqual(harness.node('1').state, ['a', 'x'], 'async applies on the leader alone');
  assert.ok(
    harness.node('1').responses.some((r) => r.index === x.index && r.outcome === 'acknowledged'),
  );

  let newLeader: NodeId | undefined;
  tickUntil(
    harness,
    () => (newLeader = leaderAmong(harness, ['2', '3'])) !== undefined,
    'a new leader among 2 and 3',
  );
  const leader = newLeader as NodeId;
  harness.propose(leader, 'y');
  harness.stabilize();
  // The new leader keeps the entries from x's index on, so it first offers node 1 entries
  // that match its log up to x's index: only node 1 can tell that it applied past them.
  harness.compact(leader, x.index - 1);

  healAndCatchUp(harness, '1', leader, 'node 1 is restored');
  assert.equal(harness.node('1').rollbacks, 1, 'node 1 rolled its state machine back once');
  assert.equal(harness.node('1').snapshotsInstalled, 0, 'no snapshot had to cross the network');
  assert.ok(
    harness.node('1').core.status().firstIndex <= x.index - 1,
    'node 1 kept its committed log',
  );
  assert.notEqual(harness.node('1').termAt(x.index), x.term);
  assertSameState(harness, ['1', '2', '3']);
  assert.deepEqual(harness.node('1').state, ['a', 'y']);
});
