import type { CoreFactory, DriverRules } from './node.js';
import { runSimulation, type SimulationResult } from './simulator.js';

/** The totals of a batch of seeds. */
export interface BatchSummary {
  readonly seeds: number;
  readonly violations: number;
  readonly lostAsyncWrites: number;
  readonly seconds: number;
  readonly faults: number;
  readonly writesAcknowledged: number;
  readonly readsCompleted: number;
  readonly failedSeeds: readonly SimulationResult[];
}

/** Runs seeds `from .. from + count - 1`; stops at the first failing seed when `stopAtFirstFailure`. */
export function runSeeds(options: {
  readonly from: number;
  readonly count: number;
  readonly makeCore?: CoreFactory;
  readonly driver?: Partial<DriverRules>;
  readonly stopAtFirstFailure?: boolean;
  readonly onResult?: (result: SimulationResult) => void;
}): BatchSummary {
  const started = performance.now();
  let seeds = 0;
  let violations = 0;
  let lostAsyncWrites = 0;
  let faults = 0;
  let writesAcknowledged = 0;
  let readsCompleted = 0;
  const failedSeeds: SimulationResult[] = [];
  for (let seed = options.from; seed < options.from + options.count; seed++) {
    const result = runSimulation({ seed, makeCore: options.makeCore, driver: options.driver });
    seeds++;
    violations += result.violations.length;
    lostAsyncWrites += result.lostAsyncWrites;
    faults += result.faults;
    writesAcknowledged += result.writesAcknowledged;
    readsCompleted += result.readsCompleted;
    options.onResult?.(result);
    if (result.violations.length > 0) {
      failedSeeds.push(result);
      if (options.stopAtFirstFailure) break;
    }
  }
  return {
    seeds,
    violations,
    lostAsyncWrites,
    seconds: (performance.now() - started) / 1000,
    faults,
    writesAcknowledged,
    readsCompleted,
    failedSeeds,
  };
}

/** The command that replays one seed with its trace. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seeds 1 --from ${seed} --trace`;
}
