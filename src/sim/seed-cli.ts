/**
 * The command line shared by the protocol simulators that run seeds of their own (`npm
 * run sim:blobs`, `npm run sim:links`): flags, usage, the summary, failures with the
 * command that replays them, and traces.
 */
import { parseArgs } from 'node:util';
import { integerFlag } from './flags.js';
import type { SeedRangeSummary } from './seeds.js';

/** What every simulator result has. */
export interface SeedResult {
  readonly seed: number;
  readonly description: string;
  readonly violations: readonly string[];
  readonly trace: readonly string[];
  readonly traceDigest: string | null;
}

/** A simulator as its command line sees it. */
export interface SeedSimulator<Rules, Totals, Result extends SeedResult> {
  /** The npm script's name, as in `npm run NAME`. */
  readonly command: string;
  /** What it runs, for the usage text: "the blob protocol simulator". */
  readonly what: string;
  readonly mutants: readonly {
    readonly name: string;
    readonly description: string;
    readonly rules: Partial<Rules>;
  }[];
  run(seed: number, rules: Partial<Rules> | undefined, trace: boolean): Result;
  runSeeds(options: {
    readonly from: number;
    readonly count: number;
    readonly rules?: Partial<Rules>;
    readonly onResult: (result: Result) => void;
  }): SeedRangeSummary<Totals, Result>;
  /** The summary line's counts after "N violations in M seeds; ". */
  describeTotals(totals: Totals): string;
  /** The end of a traced seed's line after "seed N: description; ". */
  describeTraced(result: Result): string;
  replayCommand(seed: number, mutant?: string): string;
}

/** Runs the command line of `simulator` on this process's arguments. */
export function runSeedCli<Rules, Totals, Result extends SeedResult>(
  simulator: SeedSimulator<Rules, Totals, Result>,
): void {
  const usage = usageOf(simulator.command, simulator.what, simulator.mutants);
  const usageError = (message: string): never => {
    process.stderr.write(`${simulator.command}: ${message}\n\n${usage}`);
    process.exit(2);
  };
  const flags = parseFlags(usageError);
  if (flags.help === true) {
    process.stdout.write(usage);
    return;
  }
  const count = integerFlag(flags.seeds, 'seeds', 100, 1, usageError);
  const from = integerFlag(flags.from, 'from', 1, 0, usageError);
  type Mutant = (typeof simulator.mutants)[number];
  let mutant: Mutant | undefined;
  if (flags.mutant !== undefined) {
    mutant = simulator.mutants.find((candidate) => candidate.name === flags.mutant);
    if (mutant === undefined) usageError(`no mutant is named ${JSON.stringify(flags.mutant)}`);
  }
  const printFailure = (result: Result) => {
    console.log(`seed ${result.seed} FAILED (${result.description}):`);
    for (const violation of result.violations) console.log(`  - ${violation}`);
    console.log(`  replay: ${simulator.replayCommand(result.seed, mutant?.name)}`);
  };
  if (flags.trace === true) {
    let failed = false;
    for (let seed = from; seed < from + count; seed++) {
      const result = simulator.run(seed, mutant?.rules, true);
      for (const line of result.trace) console.log(line);
      console.log(
        `seed ${seed}: ${result.description}; ${simulator.describeTraced(result)}; ` +
          `trace digest ${result.traceDigest}`,
      );
      if (result.violations.length > 0) {
        failed = true;
        printFailure(result);
      } else {
        console.log(`seed ${seed}: no violations`);
      }
    }
    process.exitCode = failed ? 1 : 0;
    return;
  }
  const summary = simulator.runSeeds({
    from,
    count,
    ...(mutant === undefined ? {} : { rules: mutant.rules }),
    onResult: (result) => {
      if (result.violations.length > 0) printFailure(result);
    },
  });
  const against = mutant === undefined ? '' : ` against ${mutant.name}`;
  console.log(
    `${summary.seeds} seeds${against} in ${summary.seconds.toFixed(1)} s ` +
      `(${(summary.seeds / summary.seconds).toFixed(0)} seeds/s): ` +
      `${summary.violations} violations in ${summary.failedSeeds.length} seeds; ` +
      simulator.describeTotals(summary.totals),
  );
  if (flags.json === true) {
    console.log(
      JSON.stringify({
        seeds: summary.seeds,
        violations: summary.violations,
        failedSeeds: summary.failedSeeds.map((result) => result.seed),
        seconds: Number(summary.seconds.toFixed(2)),
        mutant: mutant?.name ?? null,
      }),
    );
  }
  process.exitCode = summary.violations > 0 ? 1 : 0;
}

function usageOf(
  command: string,
  what: string,
  mutants: readonly { readonly name: string; readonly description: string }[],
): string {
  return `usage: npm run ${command} -- [--seeds N] [--from S] [--json] [--mutant NAME] [--trace]

Runs ${what} on seeds S to S+N-1 (default 100 seeds from 1) and
prints a summary; a failing seed prints its violations and the command that replays it.
Exits 1 when any seed found a violation.

  --seeds N      how many seeds (a positive integer; default 100)
  --from S       the first seed (a non-negative integer; default 1)
  --json         end with one JSON line: {"seeds","violations","failedSeeds","seconds","mutant"}
  --mutant NAME  run under one broken rule instead of the real ones
  --trace        print every seed's trace (use it with --seeds 1)
  --help         this text

mutants:
${mutants.map((mutant) => `  ${mutant.name.padEnd(32)} ${mutant.description}`).join('\n')}
`;
}

interface Flags {
  seeds?: string;
  from?: string;
  mutant?: string;
  json?: boolean;
  trace?: boolean;
  help?: boolean;
}

function parseFlags(usageError: (message: string) => never): Flags {
  try {
    return parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        mutant: { type: 'string' },
        json: { type: 'boolean', default: false },
        trace: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error));
  }
}
