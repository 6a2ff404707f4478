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

const usage =
  `usage: npm run sim:mutants -- [--max-seeds N] [--from S] [--mutant NAME] [--trace]\n\n` +
  `Runs seeds from S (default 1) against each broken core or driver until one catches it\n` +
  `(at most N each, default ${maxSeedsDefault}); exits 0 only when every mutant is caught.\n` +
  `--trace with one --mutant replays seed S against it.\n\nmutants: ${mutants.map((m) => m.name).join(', ')}\n`;

function usageError(message: string): never {
  process.stderr.write(`sim:mutants: ${message}\n\n${usage}`);
  process.exit(2);
}

let values: {
  'max-seeds'?: string;
  from?: string;
  mutant?: string;
  trace?: boolean;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      'max-seeds': { type: 'string' },
      from: { type: 'string' },
      mutant: { type: 'string' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  usageError(error instanceof Error ? error.message : String(error));
}
if (values.help === true) {
  process.stdout.write(usage);
  process.exit(0);
}
const digits = (text: string | undefined, fallback: number): number =>
  text === undefined ? fallback : /^[0-9]+$/.test(text) ? Number(text) : NaN;
const maxSeeds = digits(values['max-seeds'], maxSeedsDefault);
const from = digits(values.from, 1);
const selected = mutants.filter(
  (mutant) => values.mutant === undefined || mutant.name === values.mutant,
);
if (!Number.isSafeInteger(maxSeeds) || maxSeeds <= 0) {
  usageError(`--max-seeds must be a positive integer, got ${JSON.stringify(values['max-seeds'])}`);
}
if (!Number.isSafeInteger(from)) {
  usageError(`--from must be a non-negative integer, got ${JSON.stringify(values.from)}`);
}
if (selected.length === 0) usageError(`no mutant is named ${JSON.stringify(values.mutant)}`);

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
