/**
 * Proves the simulator's invariants have teeth: runs seeds against each deliberately
 * broken core until one seed catches it. Exits 0 only if every mutant is caught.
 *
 *   npm run sim:mutants [-- --max-seeds N] [--from S] [--mutant NAME] [--trace]
 *
 * With --trace (and one --mutant) it replays seed --from against that mutant, printing
 * the trace and what the checks found.
 */
import { parseArgs } from 'node:util';
import { runSeeds } from '../../src/sim/runner.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { mutants } from './mutants.js';

const { values } = parseArgs({
  options: {
    'max-seeds': { type: 'string' },
    from: { type: 'string' },
    mutant: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
const maxSeeds = Number(values['max-seeds'] ?? 2000);
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
  const result = runSimulation({ seed: from, makeCore: mutant.makeCore, trace: true });
  for (const line of result.trace) console.log(line);
  console.log(`seed ${from} against ${mutant.name}: ${result.violations.length} violations`);
  for (const violation of result.violations) console.log(`  - ${violation}`);
  process.exitCode = result.violations.length > 0 ? 0 : 1;
} else {
  runAll();
}

function runAll(): void {
  let escaped = 0;
  for (const mutant of selected) {
    const summary = runSeeds({
      from,
      count: maxSeeds,
      makeCore: mutant.makeCore,
      stopAtFirstFailure: true,
    });
    const caught = summary.failedSeeds[0];
    if (caught === undefined) {
      escaped++;
      console.log(
        `ESCAPED ${mutant.name} (${mutant.description}): ${maxSeeds} seeds found nothing`,
      );
    } else {
      console.log(
        `caught  ${mutant.name} (${mutant.description}) by seed ${caught.seed} after ${summary.seeds} seeds:`,
      );
      console.log(`        ${(caught.violations[0] ?? '').split('\n')[0]}`);
      console.log(
        `        replay: npm run sim:mutants -- --mutant ${mutant.name} --from ${caught.seed} --trace`,
      );
    }
  }
  console.log(
    escaped === 0
      ? `all ${selected.length} mutants caught`
      : `${escaped} of ${selected.length} mutants escaped`,
  );
  process.exitCode = escaped === 0 ? 0 : 1;
}
