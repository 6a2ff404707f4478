#!/usr/bin/env node
/**
 * Runs the blob protocol simulator over a range of seeds and prints a summary.
 *
 *   npm run sim:blobs -- --seeds N [--from S] [--json] [--mutant NAME] [--trace]
 *
 * A failing seed prints its violations and the command that replays it; --mutant runs
 * under one deliberately broken rule (to watch the invariants catch it); --trace prints
 * each seed's trace (use it with --seeds 1). Exits 1 when any seed found a violation.
 */
import { parseArgs } from 'node:util';
import { integerFlag } from './flags.js';
import {
  blobMutants,
  blobReplayCommand,
  runBlobSeeds,
  runBlobSimulation,
  type BlobMutant,
  type BlobSimulationResult,
} from './blobs.js';

const usage = `usage: npm run sim:blobs -- [--seeds N] [--from S] [--json] [--mutant NAME] [--trace]

Runs the blob protocol simulator on seeds S to S+N-1 (default 100 seeds from 1) and
prints a summary; a failing seed prints its violations and the command that replays it.
Exits 1 when any seed found a violation.

  --seeds N      how many seeds (a positive integer; default 100)
  --from S       the first seed (a non-negative integer; default 1)
  --json         end with one JSON line: {"seeds","violations","failedSeeds","seconds","mutant"}
  --mutant NAME  run under one broken rule instead of the real ones
  --trace        print every seed's trace (use it with --seeds 1)
  --help         this text

mutants:
${blobMutants.map((mutant) => `  ${mutant.name.padEnd(32)} ${mutant.description}`).join('\n')}
`;

/** Exits 2 with `message` and the usage: bad input is never a stack trace. */
function usageError(message: string): never {
  process.stderr.write(`sim:blobs: ${message}\n\n${usage}`);
  process.exit(2);
}

interface Flags {
  seeds?: string;
  from?: string;
  mutant?: string;
  json?: boolean;
  trace?: boolean;
  help?: boolean;
}

function parseFlags(): Flags {
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
    usageError(error instanceof Error ? error.message : String(error));
  }
}

function main(): void {
  const flags = parseFlags();
  if (flags.help === true) {
    process.stdout.write(usage);
    return;
  }
  const count = integerFlag(flags.seeds, 'seeds', 100, 1, usageError);
  const from = integerFlag(flags.from, 'from', 1, 0, usageError);
  let mutant: BlobMutant | undefined;
  if (flags.mutant !== undefined) {
    mutant = blobMutants.find((candidate) => candidate.name === flags.mutant);
    if (mutant === undefined) usageError(`no mutant is named ${JSON.stringify(flags.mutant)}`);
  }
  if (flags.trace === true) return traceSeeds(from, count, mutant);
  const summary = runBlobSeeds({
    from,
    count,
    rules: mutant?.rules,
    onResult: (result) => {
      if (result.violations.length > 0) printFailure(result, mutant);
    },
  });
  const { totals } = summary;
  const against = mutant === undefined ? '' : ` against ${mutant.name}`;
  console.log(
    `${summary.seeds} seeds${against} in ${summary.seconds.toFixed(1)} s ` +
      `(${(summary.seeds / summary.seconds).toFixed(0)} seeds/s): ` +
      `${summary.violations} violations in ${summary.failedSeeds.length} seeds; ` +
      `${totals.uploadsCompleted} of ${totals.uploadsBegun} uploads completed, ` +
      `${totals.readsServed} reads checked, ${totals.corruptionsDetected} corrupt copies found, ` +
      `${totals.chunksDeletedStale} stale chunks deleted, ${totals.chunksFetched} fetched, ` +
      `${totals.membersReplaced} members replaced, ${totals.faults} faults`,
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

function printFailure(result: BlobSimulationResult, mutant: BlobMutant | undefined): void {
  console.log(`seed ${result.seed} FAILED (${result.description}):`);
  for (const violation of result.violations) console.log(`  - ${violation}`);
  console.log(`  replay: ${blobReplayCommand(result.seed, mutant?.name)}`);
}

function traceSeeds(from: number, count: number, mutant: BlobMutant | undefined): void {
  let failed = false;
  for (let seed = from; seed < from + count; seed++) {
    const result = runBlobSimulation({ seed, rules: mutant?.rules, trace: true });
    for (const line of result.trace) console.log(line);
    console.log(
      `seed ${seed}: ${result.description}; commit index ${result.commitIndex}; ` +
        `trace digest ${result.traceDigest}`,
    );
    if (result.violations.length > 0) {
      failed = true;
      printFailure(result, mutant);
    } else {
      console.log(`seed ${seed}: no violations`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main();
