/**
 * Benchmarks of the replication core (not tests: figures, not pass/fail).
 *
 * - core throughput: writes acknowledged per second by an in-memory cluster of cores
 *   driven synchronously (no disk, no network), in batches as the runtime's group commit
 *   makes them, for 3 and 5 voters, reported as a ratio to a single-voter core measured
 *   in the same run;
 * - simulator speed: seeds per second.
 * Each figure is the median of several rounds; the machines are shared and noisy.
 */
import { RaftCore } from '../src/core/core.js';
import { Prng } from '../src/core/prng.js';
import type { Durability, Message, NodeId } from '../src/core/types.js';
import { runSeeds } from '../src/sim/runner.js';
import { median } from './stats.js';

const rounds = 5;
const writesPerRound = 20_000;

/** Acknowledged writes per second for a cluster of `voters`, proposing `batch` writes per round trip. */
function coreThroughput(voters: number, batch: number, durability: Durability): number {
  const ids: NodeId[] = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
  const cores = new Map(
    ids.map((id, i) => [
      id,
      new RaftCore({
        id,
        random: new Prng(i + 1),
        bootstrap: { voters: ids, learners: [] },
        config: { durability },
      }),
    ]),
  );
  const queue: Message[] = [];
  let acknowledged = 0;
  const drain = (): void => {
    for (let busy = true; busy;) {
      busy = false;
      for (const core of cores.values()) {
        while (core.hasReady()) {
          busy = true;
          const ready = core.ready();
          queue.push(...ready.messages);
          for (const response of ready.responses)
            if (response.outcome === 'acknowledged') acknowledged++;
          core.advance(ready);
        }
      }
      // Deliver by index, then clear: shifting a long array one at a time is quadratic.
      for (let i = 0; i < queue.length; i++) {
        busy = true;
        const message = queue[i] as Message;
        (cores.get(message.to) as RaftCore).step(message);
      }
      queue.length = 0;
    }
  };
  const first = cores.get('n1') as RaftCore;
  while (first.role !== 'leader') {
    first.tick();
    drain();
  }
  const payload = new Uint8Array(64);
  const started = performance.now();
  let proposed = 0;
  while (proposed < writesPerRound) {
    for (let i = 0; i < batch; i++, proposed++) first.propose(payload);
    drain();
    if (proposed % 2_048 < batch) first.compact(first.status().applied);
  }
  const seconds = (performance.now() - started) / 1000;
  if (acknowledged !== proposed) {
    throw new Error(
      `acknowledged ${acknowledged} of ${proposed}: ${JSON.stringify([...cores.values()].map((core) => core.status()))}`,
    );
  }
  return proposed / seconds;
}

function main(): void {
  coreThroughput(3, 16, 'quorum'); // warm up the JIT before anything is measured
  console.log(
    `core throughput, median of ${rounds} rounds of ${writesPerRound} writes (64-byte payloads):`,
  );
  for (const batch of [1, 64]) {
    const single = median(Array.from({ length: rounds }, () => coreThroughput(1, batch, 'quorum')));
    console.log(`  batch ${batch}: 1 voter ${Math.round(single)} writes/s (reference)`);
    for (const [voters, durability] of [
      [3, 'quorum'],
      [3, 'sync'],
      [5, 'quorum'],
    ] as const) {
      const value = median(
        Array.from({ length: rounds }, () => coreThroughput(voters, batch, durability)),
      );
      console.log(
        `  batch ${batch}: ${voters} voters ${durability}: ${Math.round(value)} writes/s = ${(value / single).toFixed(2)}x the single voter`,
      );
    }
  }
  const simRounds = Array.from({ length: 3 }, () => {
    const summary = runSeeds({ from: 1, count: 100 });
    return summary.seeds / summary.seconds;
  });
  console.log(`simulator: ${median(simRounds).toFixed(1)} seeds/s (median of 3 runs of 100 seeds)`);
}

main();
