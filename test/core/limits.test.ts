/**
 * The core's byte limits on a real core: what one Ready hands out to be written
 * (`maxReadyEntryBytes`) and what a leader holds unanswered (`maxPendingProposalBytes`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoreConfig } from '../../src/core/config.js';
import { RaftCore } from '../../src/core/core.js';
import { TandemError } from '../../src/core/errors.js';
import { Prng } from '../../src/core/prng.js';
import type { Ready } from '../../src/core/types.js';

/** A single voter that has become leader, with every Ready carried out. */
function leader(config: Partial<CoreConfig>): RaftCore {
  const core = new RaftCore({
    id: 'n1',
    random: new Prng(11),
    bootstrap: { voters: ['n1'], learners: [] },
    config,
  });
  for (let i = 0; i < 50 && core.role !== 'leader'; i++) {
    core.tick();
    drain(core);
  }
  assert.equal(core.role, 'leader');
  return core;
}

/** Carries out every Ready the core has, returning them. */
function drain(core: RaftCore): Ready[] {
  const readies: Ready[] = [];
  while (core.hasReady()) {
    const ready = core.ready();
    readies.push(ready);
    core.advance(ready);
  }
  return readies;
}

test('a Ready hands out entries up to maxReadyEntryBytes, at least one, and no commit past them', () => {
  // Goal: a burst of large proposals reaches the driver in bounded batches, one oversized
  // entry alone, and the hard state a Ready hands out never commits an entry it does not.
  // Each entry counts its payload and 32 bytes (entryBytes): two of 100 fit in 300.
  const core = leader({ maxReadyEntryBytes: 300 });
  const sizes = [100, 100, 100, 100, 400, 100];
  for (const size of sizes) core.propose(new Uint8Array(size));
  const first = core.ready();
  assert.deepEqual(
    first.entries.map((entry) => entry.data?.byteLength),
    [100, 100],
  );
  core.advance(first);
  const rest = drain(core);
  const handed = [first, ...rest].flatMap((ready) =>
    ready.entries.map((entry) => entry.data?.byteLength),
  );
  assert.deepEqual(handed, sizes);
  const batches = rest
    .filter((ready) => ready.entries.length > 0)
    .map((ready) => ready.entries.map((entry) => entry.data?.byteLength));
  assert.deepEqual(batches, [[100, 100], [400], [100]]);
  for (const ready of [first, ...rest]) {
    const lastHanded = ready.entries.at(-1)?.index;
    if (ready.hardState !== null && lastHanded !== undefined) {
      assert.ok(ready.hardState.commit <= lastHanded, 'commit within what the Ready hands out');
    }
  }
  assert.equal(core.status().commit, core.status().lastIndex);
});

test('a leader refuses a write past maxPendingProposalBytes until earlier ones are answered', () => {
  // Goal: unanswered writes are bounded in bytes as well as in number, with a clear error;
  // a single write larger than the limit still goes when nothing else waits.
  const core = leader({ maxPendingProposalBytes: 1000 });
  core.propose(new Uint8Array(600));
  assert.throws(
    () => core.propose(new Uint8Array(600)),
    (error: unknown) =>
      error instanceof TandemError &&
      error.code === 'TANDEM_TOO_MANY_PENDING' &&
      /maxPendingProposalBytes/.test(error.message),
  );
  drain(core);
  core.propose(new Uint8Array(600));
  drain(core);
  core.propose(new Uint8Array(5000));
  drain(core);
  assert.equal(core.status().commit, core.status().lastIndex);
});
