/**
 * Proves the simulator's invariants have teeth: runs seeds against each deliberately
 * broken core or driver until a seed catches it (one the real core passes). Exits 0 only
 * if every mutant is caught.
 *
 *   npm run sim:mutants [-- --max-seeds N] [--from S] [--mutant NAME] [--trace]
 *
 * With --trace (and one --mutant) it replays seed --from against that mutant, printing
 * the trace and what the checks found.
 */
import { parseArgs } from 'node:util';
import { runSimulation } from '../../src/sim/simulator.js';
import { findCatchingSeed, mutants } from './mutants.js';

/** Seeds each mutant gets by default: each must be caught within them. */
const maxSeedsDefault = 3_000;

const { values } = parseArgs({
  options: {
    'max-seeds': { type: 'string' },
    from: { type: 'string' },
    mutant: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
const maxSeeds = Number(values['max-seeds'] ?? maxSeedsDefault);
const from = Number(values.from ?? 1);
const selected = mutants.filter(
  (mutant) => values.mutant === undefined || mutant.name === values.mutant,
);
if (!Number.isSafeInteger(maxSeeds) || maxSeeds <= 0 || selected.length === 0) {
  console.error(
    `usage: sim:mutants [--max-seeds N] [--mutant ${mutants.map((m) => m.name).join('|')}]`,
  );
  process.exit(2);
}

if (values.trace) {
  const mutant = selected[0];
  if (selected.length !== 1 || mutant === undefined) {
    console.error('--trace replays one seed of one mutant: give --mutant NAME --from SEED');
    process.exit(2);
  }
  const result = runSimulation({
    seed: from,
    makeCore: mutant.makeCore,
    driver: mutant.driver,
    trace: true,
  });
  for (const line of result.trace) console.log(line);
  console.log(`seed ${from} against ${mutant.name}: ${result.violations.length} violations`);
  for (const violation of result.violations) console.log(`  - ${violation}`);
  process.exitCode = result.violations.length > 0 ? 0 : 1;
} else {
  runAll();
}

function runAll(): void {
  const started = performance.now();
  let escaped = 0;
  for (const mutant of selected) {
    const search = findCatchingSeed(mutant, from, maxSeeds);
    const caught = search.caught;
    const skipped =
      search.seedsFailingAnyway.length === 0
        ? ''
        : ` (skipped ${search.seedsFailingAnyway.length} seeds the real core fails too)`;
    if (caught === null) {
      escaped++;
      console.log(
        `ESCAPED ${mutant.name} (${mutant.description}): ${maxSeeds} seeds found nothing${skipped}`,
      );
    } else {
      console.log(
        `caught  ${mutant.name} (${mutant.description}) by seed ${caught.seed} after ${search.seedsRun} seeds${skipped}:`,
      );
      console.log(`        ${(caught.violations[0] ?? '').split('\n')[0]}`);
      console.log(
        `        replay: npm run sim:mutants -- --mutant ${mutant.name} --from ${caught.seed} --trace`,
      );
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    escaped === 0
      ? `all ${selected.length} mutants caught in ${seconds} s`
      : `${escaped} of ${selected.length} mutants escaped (${seconds} s)`,
  );
  process.exitCode = escaped === 0 ? 0 : 1;
}
