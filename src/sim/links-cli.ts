#!/usr/bin/env node
/**
 * Runs the link protocol simulator over a range of seeds and prints a summary.
 *
 *   npm run sim:links -- --seeds N [--from S] [--json] [--mutant NAME] [--trace]
 *
 * A failing seed prints its violations and the command that replays it; --mutant runs
 * under one deliberately broken rule (to watch the invariants catch it); --trace prints
 * each seed's trace (use it with --seeds 1). Exits 1 when any seed found a violation.
 */
import { linkMutants, linkReplayCommand, runLinkSeeds, runLinkSimulation } from './links.js';
import { runSeedCli } from './seed-cli.js';

runSeedCli({
  command: 'sim:links',
  what: 'the link protocol simulator',
  mutants: linkMutants,
  run: (seed, rules, trace) => runLinkSimulation({ seed, rules, trace }),
  runSeeds: runLinkSeeds,
  describeTotals: (totals) =>
    `${totals.writesAcknowledged} of ${totals.writesProposed} writes acknowledged, ` +
    `${totals.batchesApplied} batches applied (${totals.recordsApplied} records new, ` +
    `${totals.recordsSkipped} skipped), ${totals.failovers} failovers, ${totals.linkCuts} link cuts, ` +
    `${totals.messagesLost} messages lost, ${totals.messagesDuplicated} duplicated, ` +
    `${totals.refusedForSkew} refused for skew, ${totals.conflicts} conflicts recorded`,
  describeTraced: (result) =>
    `${result.stats.writesAcknowledged} writes acknowledged, ${result.stats.healSteps} steps to converge`,
  replayCommand: linkReplayCommand,
});
