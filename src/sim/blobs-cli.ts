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
import { blobMutants, blobReplayCommand, runBlobSeeds, runBlobSimulation } from './blobs.js';
import { runSeedCli } from './seed-cli.js';

runSeedCli({
  command: 'sim:blobs',
  what: 'the blob protocol simulator',
  mutants: blobMutants,
  run: (seed, rules, trace) => runBlobSimulation({ seed, rules, trace }),
  runSeeds: runBlobSeeds,
  describeTotals: (totals) =>
    `${totals.uploadsCompleted} of ${totals.uploadsBegun} uploads completed, ` +
    `${totals.readsServed} reads checked, ${totals.corruptionsDetected} corrupt copies found, ` +
    `${totals.chunksDeletedStale} stale chunks deleted, ${totals.chunksFetched} fetched, ` +
    `${totals.membersReplaced} members replaced, ${totals.faults} faults`,
  describeTraced: (result) => `commit index ${result.commitIndex}`,
  replayCommand: blobReplayCommand,
});
