// GroupCommit on its own, with flushes that take a turn of the event loop like a real
// fdatasync: a lone writer waits for nothing but its flush; concurrent callers share them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from '../../src/log/group-commit.js';

/** A flush that ends on a later turn of the event loop, as a thread-pool fdatasync does. */
const slowFlush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

test("a lone writer's next flush starts at once, not a turn of the event loop later", async () => {
  // Goal: one caller syncing one write at a time never waits for the loop between flushes.
  const groupCommit = new GroupCommit(slowFlush);
  for (let round = 1; round <= 5; round++) {
    // Each request is made the moment the one before it resolved.
    const synced = groupCommit.request();
    assert.equal(groupCommit.flushes, round, `flush ${round} waited to start`);
    await synced;
  }
});

test('callers woken by one flush all join the next one', async () => {
  // Goal: group commit still holds for concurrent callers: one flush per round of all of them.
  const groupCommit = new GroupCommit(slowFlush);
  const callers = 16;
  const rounds = 10;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let round = 0; round < rounds; round++) await groupCommit.request();
    }),
  );
  assert.ok(
    groupCommit.flushes <= rounds + 1,
    `${groupCommit.flushes} flushes for ${rounds} rounds`,
  );
});

test('a failed flush rejects every caller that waited for it, and the next one runs', async () => {
  // Goal: an error reaches each caller of that flush; later callers get a flush of their own.
  let fail = true;
  const groupCommit = new GroupCommit(async () => {
    await slowFlush();
    if (fail) throw new Error('disk gone');
  });
  const first = groupCommit.request();
  const joined = [groupCommit.request(), groupCommit.request()];
  await assert.rejects(first, /disk gone/);
  fail = false;
  const results = await Promise.allSettled(joined);
  assert.deepEqual(
    results.map((result) => result.status),
    ['fulfilled', 'fulfilled'],
  );
  await groupCommit.request();
});
