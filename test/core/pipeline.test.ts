/**
 * The Ready pipeline (`core/pipeline.ts`) on a real core: what it hands its driver while
 * syncs and applies are slow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftCore } from '../../src/core/core.js';
import { ReadyPipeline, type PipelineDriver } from '../../src/core/pipeline.js';
import { Prng } from '../../src/core/prng.js';
import type { Entry } from '../../src/core/types.js';

/** A single voter with a driver whose syncs end at once and whose applies wait to be released. */
function singleVoter(maxApplyBatchEntries: number) {
  const core = new RaftCore({
    id: 'n1',
    random: new Prng(7),
    bootstrap: { voters: ['n1'], learners: [] },
    config: { maxApplyBatchEntries, maxPendingProposals: 100_000 },
  });
  const applies: (readonly Entry[])[] = [];
  let syncs = 0;
  const driver: PipelineDriver = {
    taken: () => undefined,
    send: () => undefined,
    write: () => undefined,
    startSync: () => {
      syncs++;
      queueMicrotask(() => pipeline.synced());
    },
    startApply: (entries) => {
      applies.push(entries);
    },
    startBarrier: () => pipeline.barrierDone(),
    answer: () => undefined,
  };
  const pipeline = new ReadyPipeline(core, driver);
  return { core, pipeline, applies, syncs: () => syncs };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

test('Readies taken during a slow apply are applied in batches of at most maxApplyBatchEntries', async () => {
  const { core, pipeline, applies } = singleVoter(64);
  for (let i = 0; i < 30 && core.role !== 'leader'; i++) {
    core.tick();
    pipeline.pump();
    await settle();
  }
  assert.equal(core.role, 'leader');
  // The first apply (the leader's noop) is held; meanwhile 40 Readies of 10 entries each.
  for (let ready = 0; ready < 40; ready++) {
    for (let i = 0; i < 10; i++) core.propose(new Uint8Array([ready, i]));
    pipeline.pump();
    await settle();
  }
  let applied = 0;
  while (applies.length > 0) {
    const entries = applies.shift() as readonly Entry[];
    assert.ok(entries.length <= 64, `an apply of ${entries.length} entries`);
    applied += entries.length;
    pipeline.appliedDone();
    await settle();
  }
  assert.equal(applied, 401, 'the noop and every proposal applied');
  assert.equal(core.status().applied, 401);
});
