import assert from 'node:assert/strict';
import test from 'node:test';
import { replayCommand, runSeeds } from '../../src/sim/runner.js';
import { eventsPerSeedMax, runSimulation } from '../../src/sim/simulator.js';
import { findCatchingSeed, mutants } from './mutants.js';

/** Seeds run by `npm test`; `npm run sim -- --seeds 20000` runs more. */
const seedsInTest = 1_000;
/** Each mutant must be caught within this many seeds (as `npm run sim:mutants` requires). */
const mutantSeedsMax = 3_000;

test('the same seed twice gives the same trace, and another seed a different one', () => {
  const first = runSimulation({ seed: 7, trace: true });
  const second = runSimulation({ seed: 7, trace: true });
  const other = runSimulation({ seed: 8, trace: true });
  assert.ok(first.trace.length > 100, 'the trace records the run');
  assert.equal(first.traceDigest, second.traceDigest);
  assert.deepEqual(first.trace, second.trace);
  assert.deepEqual(first.violations, second.violations);
  assert.notEqual(first.traceDigest, other.traceDigest);
});

test(`${seedsInTest} random seeds of clusters under faults keep every invariant and converge`, () => {
  const summary = runSeeds({ from: 1, count: seedsInTest });
  const failures = summary.failedSeeds.map(
    (result) =>
      `seed ${result.seed} (${result.description}): ${result.violations.join(' | ')}\n  replay: ${replayCommand(result.seed)}`,
  );
  assert.deepEqual(failures, []);
  assert.equal(summary.seeds, seedsInTest);
  // The runs did real work: faults were injected, writes acknowledged, reads checked.
  assert.ok(
    summary.faults / summary.seeds >= 10,
    `only ${summary.faults} faults in ${summary.seeds} seeds`,
  );
  assert.ok(summary.writesAcknowledged > seedsInTest * 10, 'writes were acknowledged');
  assert.ok(summary.readsCompleted > seedsInTest * 10, 'reads were checked');
});

test('a seed that cannot converge fails within its budget of virtual time and of events', () => {
  // Every message lost for ever: no leader is elected, nothing converges.
  const dropEverything = { messagesBySync: () => ({ beforeSync: [], afterSync: [] }) };
  const stuck = runSimulation({ seed: 3, driver: dropEverything });
  assert.match(stuck.violations.join('\n'), /did not converge within/);
  assert.ok(stuck.virtualMs <= 25_000, `ran ${stuck.virtualMs} virtual ms`);
  const budgeted = runSimulation({ seed: 3, driver: dropEverything, eventsMax: 2_000 });
  assert.match(budgeted.violations.join('\n'), /used up its budget of 2000 events/);
  assert.ok(budgeted.events <= 2_001, `${budgeted.events} events`);
  assert.ok(eventsPerSeedMax >= 100_000, 'the default budget leaves room for a busy seed');
});

for (const mutant of mutants) {
  test(`the simulator catches a broken ${mutant.driver === undefined ? 'core' : 'driver'}: ${mutant.description}`, () => {
    const search = findCatchingSeed(mutant, 1, mutantSeedsMax);
    assert.notEqual(search.caught, null, `${mutant.name} escaped ${search.seedsRun} seeds`);
  });
}
