#!/usr/bin/env node
/**
 * Runs the deterministic simulator over a range of seeds and prints a summary.
 *
 *   npm run sim -- --seeds N [--from S] [--json] [--trace]
 *
 * With --json the last line is {"seeds":N,"violations":V,"lostAsyncWrites":L,"seconds":T}.
 * A failing seed prints its violations and the command that replays it; --trace prints
 * the trace of every seed run (use it with --seeds 1).
 */
import { parseArgs } from 'node:util';
import { integerFlag } from './flags.js';
import { replayCommand, runSeeds } from './runner.js';
import { runSimulation, type SimulationResult } from './simulator.js';

const usage = `usage: npm run sim -- [--seeds N] [--from S] [--json] [--trace]

Runs the deterministic simulator on seeds S to S+N-1 (default 100 seeds from 1) and
prints a summary; a failing seed prints its violations and the command that replays it.

  --seeds N   how many seeds (a positive integer; default 100)
  --from S    the first seed (a non-negative integer; default 1)
  --json      end with one JSON line: {"seeds","violations","lostAsyncWrites","seconds"}
  --trace     print every seed's trace (use it with --seeds 1)
  --help      this text
`;

/** Exits 2 with `message` and the usage: bad input is never a stack trace. */
function usageError(message: string): never {
  process.stderr.write(`sim: ${message}\n\n${usage}`);
  process.exit(2);
}

function main(): void {
  let values: { seeds?: string; from?: string; json?: boolean; trace?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        json: { type: 'boolean', default: false },
        trace: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  const count = integerFlag(values.seeds, 'seeds', 100, 1, usageError);
  const from = integerFlag(values.from, 'from', 1, 0, usageError);
  if (values.trace) return traceSeeds(from, count);
  const summary = runSeeds({
    from,
    count,
    onResult: (result) => {
      if (result.violations.length > 0) printFailure(result);
    },
  });
  const perSecond = summary.seeds / summary.seconds;
  console.log(
    `${summary.seeds} seeds in ${summary.seconds.toFixed(1)} s (${perSecond.toFixed(1)} seeds/s): ` +
      `${summary.violations} violations, ${summary.lostAsyncWrites} acknowledged async/semi-sync writes lost at failover, ` +
      `${(summary.faults / summary.seeds).toFixed(1)} faults per seed, ` +
      `${summary.writesAcknowledged} writes acknowledged, ${summary.readsCompleted} reads checked`,
  );
  if (values.json) {
    console.log(
      JSON.stringify({
        seeds: summary.seeds,
        violations: summary.violations,
        lostAsyncWrites: summary.lostAsyncWrites,
        seconds: Number(summary.seconds.toFixed(2)),
      }),
    );
  }
  process.exitCode = summary.violations > 0 ? 1 : 0;
}

function printFailure(result: SimulationResult): void {
  console.log(`seed ${result.seed} FAILED (${result.description}):`);
  for (const violation of result.violations) console.log(`  - ${violation}`);
  console.log(`  replay: ${replayCommand(result.seed)}`);
}

function traceSeeds(from: number, count: number): void {
  let failed = false;
  for (let seed = from; seed < from + count; seed++) {
    const result = runSimulation({ seed, trace: true });
    for (const line of result.trace) console.log(line);
    console.log(
      `seed ${seed}: ${result.description}; ${result.faults} faults; trace digest ${result.traceDigest}`,
    );
    if (result.violations.length > 0) {
      failed = true;
      printFailure(result);
    } else {
      console.log(`seed ${seed}: no violations`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main();
