// The inbox that holds what reaches a core while its driver is busy (an fsync, an apply):
// peer messages and ticks are fed to the core in the order they came.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Inbox } from '../../src/core/inbox.js';
import type { Message } from '../../src/core/types.js';
import { Harness } from './harness.js';

test('the inbox feeds messages and ticks in arrival order, and bounds the messages', () => {
  const inbox = new Inbox(2);
  const order: string[] = [];
  const target = {
    step: (message: Message) => order.push(`m${message.term}`),
    tick: () => order.push('t'),
  };
  inbox.tick();
  assert.ok(inbox.push({ term: 1 } as Message));
  inbox.tick();
  inbox.tick();
  assert.ok(inbox.push({ term: 2 } as Message));
  assert.equal(inbox.push({ term: 3 } as Message), false, 'full: dropped');
  inbox.tick();
  assert.equal(inbox.pending, true);
  inbox.drain(target);
  assert.deepEqual(order, ['t', 'm1', 't', 't', 'm2', 't']);
  assert.equal(inbox.pending, false);
});

/**
 * A follower whose driver is stalled for three election timeouts (a slow fsync) while its
 * leader's heartbeats keep arriving, then fed the backlog in arrival order or, as the
 * drivers did before, messages first and ticks after. Returns whether it campaigned.
 */
function stalledFollowerCampaigns(order: 'arrival' | 'messages-first'): boolean {
  const harness = new Harness();
  harness.addNodes(3, { voters: ['1', '2', '3'], config: { preVote: true } });
  harness.campaign('1');
  harness.stabilize();
  assert.equal(harness.node('1').core.role, 'leader');
  const follower = harness.node('2');
  const term = follower.core.term;
  const draws = follower.draws;
  const inbox = new Inbox(10_000);
  const arrived: Message[] = [];
  const stallTicks = 3 * (follower.core.config.electionTicks as number);
  for (let tick = 0; tick < stallTicks; tick++) {
    harness.tick('1');
    harness.processReady('1');
    const toFollower = harness.queue.filter((m) => m.to === '2');
    harness.queue = harness.queue.filter((m) => m.to !== '2');
    harness.deliverMessages();
    harness.processReadies(['1', '3']);
    for (const message of toFollower) {
      inbox.push(message);
      arrived.push(message);
    }
    inbox.tick();
  }
  assert.ok(
    arrived.some((m) => m.type === 'heartbeat'),
    'heartbeats arrived meanwhile',
  );
  if (order === 'arrival') {
    inbox.drain(follower.core);
  } else {
    for (const message of arrived) follower.core.step(message);
    for (let tick = 0; tick < stallTicks; tick++) follower.core.tick();
  }
  return follower.draws > draws || follower.core.term !== term;
}

test('a follower stalled past its election timeout while heartbeats arrive does not campaign', () => {
  // Goal: a slow disk on a follower never deposes a healthy leader. In arrival order the
  // follower heard its leader every tick; messages first and ticks after (the drivers'
  // order before) makes the whole stall look like silence after the last heartbeat.
  assert.equal(stalledFollowerCampaigns('arrival'), false);
  assert.equal(stalledFollowerCampaigns('messages-first'), true, 'the old order campaigns');
});
