/**
 * Running ranges of seeds, shared by the protocol simulators that run seeds of their own
 * (`sim/blobs.ts`, `sim/links.ts`): totals of their counts, the failing seeds, and the
 * search for a seed that catches a planted bug.
 */
import { assert } from '../core/assert.js';

/** What a seed's result must have to be summed and searched. */
export interface CountedResult<Stats> {
  readonly violations: readonly string[];
  readonly stats: Stats;
}

/** The totals of a range of seeds. */
export interface SeedRangeSummary<Stats, Result> {
  readonly seeds: number;
  readonly violations: number;
  readonly seconds: number;
  readonly totals: Stats;
  readonly failedSeeds: readonly Result[];
}

/**
 * Runs seeds `from .. from + count - 1` through `run`, summing every count of their stats
 * into `totals` (a record of zeros to start from).
 */
export function runSeedRange<Stats extends object, Result extends CountedResult<Stats>>(
  options: {
    readonly from: number;
    readonly count: number;
    readonly onResult?: (result: Result) => void;
  },
  totals: Stats,
  run: (seed: number) => Result,
): SeedRangeSummary<Stats, Result> {
  assert(options.count > 0, 'at least one seed');
  const started = performance.now();
  // Every field of a simulator's stats is a count.
  const sums = { ...totals } as Record<string, number>;
  let violations = 0;
  const failedSeeds: Result[] = [];
  for (let seed = options.from; seed < options.from + options.count; seed++) {
    const result = run(seed);
    const counts = result.stats as Record<string, number>;
    for (const key of Object.keys(sums))
      sums[key] = (sums[key] as number) + (counts[key] as number);
    violations += result.violations.length;
    if (result.violations.length > 0) failedSeeds.push(result);
    options.onResult?.(result);
  }
  const seconds = (performance.now() - started) / 1000;
  return { seeds: options.count, violations, seconds, totals: sums as Stats, failedSeeds };
}

/**
 * Runs seeds from `from` under a mutant (`mutated`) until one has violations that the real
 * rules (`real`) do not have on the same seed.
 */
export function findCatchingSeed<Result extends { readonly violations: readonly string[] }>(
  from: number,
  maxSeeds: number,
  mutated: (seed: number) => Result,
  real: (seed: number) => Result,
): { readonly caught: Result | null; readonly seedsRun: number } {
  for (let seed = from; seed < from + maxSeeds; seed++) {
    const result = mutated(seed);
    if (result.violations.length === 0) continue;
    if (real(seed).violations.length > 0) continue;
    return { caught: result, seedsRun: seed - from + 1 };
  }
  return { caught: null, seedsRun: maxSeeds };
}

/** The command that replays one seed of `command` (`sim:blobs`) with its trace. */
export function replayCommand(command: string, seed: number, mutant?: string): string {
  const against = mutant === undefined ? '' : ` --mutant ${mutant}`;
  return `npm run ${command} -- --seeds 1 --from ${seed}${against} --trace`;
}
