/**
 * Proves the simulator's invariants have teeth: runs seeds against each deliberately
 * broken core until one seed catches it. Exits 0 only if every mutant is caught.
 *
 *   npm run sim:mutants [-- --max-seeds N] [-- --mutant NAME]
 */
import { parseArgs } from 'node:util';
import { replayCommand, runSeeds } from '../../src/sim/runner.js';
import { mutants } from './mutants.js';

const { values } = parseArgs({
  options: { 'max-seeds': { type: 'string' }, mutant: { type: 'string' } },
});
const maxSeeds = Number(values['max-seeds'] ?? 2000);
const selected = mutants.filter((mutant) => values.mutant === undefined || mutant.name === values.mutant);
if (!Number.isSafeInteger(maxSeeds) || maxSeeds <= 0 || selected.length === 0) {
  console.error(`usage: sim:mutants [--max-seeds N] [--mutant ${mutants.map((m) => m.name).join('|')}]`);
  process.exit(2);
}

let escaped = 0;
for (const mutant of selected) {
  const summary = runSeeds({ from: 1, count: maxSeeds, makeCore: mutant.makeCore, stopAtFirstFailure: true });
  const caught = summary.failedSeeds[0];
  if (caught === undefined) {
    escaped++;
    console.log(`ESCAPED ${mutant.name} (${mutant.description}): ${maxSeeds} seeds found nothing`);
  } else {
    console.log(`caught  ${mutant.name} (${mutant.description}) by seed ${caught.seed} after ${summary.seeds} seeds:`);
    console.log(`        ${(caught.violations[0] ?? '').split('\n')[0]}`);
    console.log(`        replay with the mutant: npm run sim:mutants -- --mutant ${mutant.name}; seed replay: ${replayCommand(caught.seed)}`);
  }
}
console.log(escaped === 0 ? `all ${selected.length} mutants caught` : `${escaped} of ${selected.length} mutants escaped`);
process.exitCode = escaped === 0 ? 0 : 1;
