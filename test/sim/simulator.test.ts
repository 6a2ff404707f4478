import assert from 'node:assert/strict';
import test from 'node:test';
import { replayCommand, runSeeds } from '../../src/sim/runner.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { mutants } from './mutants.js';

/** Seeds run by `npm test`; `npm run sim -- --seeds 2000` runs more. */
const seedsInTest = 1_000;

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
  assert.ok(summary.readsCompleted > seedsInTest * 10, 'linearizable reads were checked');
});

for (const mutant of mutants) {
  test(`the simulator catches a broken core: ${mutant.description}`, () => {
    const summary = runSeeds({
      from: 1,
      count: 1_500,
      makeCore: mutant.makeCore,
      stopAtFirstFailure: true,
    });
    assert.equal(summary.failedSeeds.length, 1, `${mutant.name} escaped ${summary.seeds} seeds`);
  });
}
