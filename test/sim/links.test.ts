/**
 * The link protocol simulator: seeds under the real rules keep every invariant and do real
 * work, one seed replays exactly, every planted bug is caught by some seed, and the command
 * behaves as a user runs it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  findCatchingLinkSeed,
  linkMutants,
  linkReplayCommand,
  runLinkSeeds,
  runLinkSimulation,
} from '../../src/sim/links.js';
import { checkReplaysExactly, checkSeedCli } from './seed-sims.js';

/** Seeds run by the tests; `npm run sim:links -- --seeds 20000` runs more. */
const seedsInTest = 300;
/** Each mutant must be caught within this many seeds. */
const mutantSeedsMax = 100;

const cli = fileURLToPath(new URL('../../src/sim/links-cli.js', import.meta.url));

test('the same seed twice gives the same trace, and another seed a different one', () => {
  checkReplaysExactly((seed, trace) => runLinkSimulation({ seed, trace }));
});

test(`${seedsInTest} seeds of linked clusters under faults converge and keep every invariant`, () => {
  const summary = runLinkSeeds({ from: 1, count: seedsInTest });
  const failures = summary.failedSeeds.map(
    (result) =>
      `seed ${result.seed} (${result.description}): ${result.violations.join(' | ')}\n` +
      `  replay: ${linkReplayCommand(result.seed)}`,
  );
  assert.deepEqual(failures, []);
  // The runs did real work: every fault the invariants guard against happened often.
  const { totals } = summary;
  const perSeed = (count: number) => count / summary.seeds;
  assert.ok(perSeed(totals.writesAcknowledged) >= 100, `${totals.writesAcknowledged} writes`);
  assert.ok(perSeed(totals.writesLost) >= 1, `${totals.writesLost} writes lost in failovers`);
  assert.ok(perSeed(totals.recordsSkipped) >= 50, `${totals.recordsSkipped} records skipped`);
  assert.ok(perSeed(totals.failovers) >= 3, `${totals.failovers} failovers`);
  assert.ok(perSeed(totals.linkCuts) >= 3, `${totals.linkCuts} link cuts`);
  assert.ok(perSeed(totals.messagesDuplicated) >= 5, `${totals.messagesDuplicated} duplicates`);
  assert.ok(perSeed(totals.refusedForSkew) >= 1, `${totals.refusedForSkew} refused for skew`);
  assert.ok(perSeed(totals.conflicts) >= 10, `${totals.conflicts} conflicts recorded`);
});

for (const mutant of linkMutants) {
  test(`the link simulator catches ${mutant.description}`, () => {
    const search = findCatchingLinkSeed(mutant, 1, mutantSeedsMax);
    assert.notEqual(search.caught, null, `${mutant.name} escaped ${search.seedsRun} seeds`);
  });
}

test('npm run sim:links: --help, bad flags, a JSON summary, and a replayable failure', () => {
  checkSeedCli({
    cli,
    command: 'sim:links',
    mutants: linkMutants,
    failingMutant: 'skew-unbounded',
    violation: /VIOLATION .* ms ahead of its clock/,
  });
});
