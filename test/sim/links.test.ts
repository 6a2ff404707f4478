/**
 * The link protocol simulator: seeds under the real rules keep every invariant and do real
 * work, one seed replays exactly, every planted bug is caught by some seed, and the command
 * behaves as a user runs it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  findCatchingLinkSeed,
  linkMutants,
  linkReplayCommand,
  runLinkSeeds,
  runLinkSimulation,
} from '../../src/sim/links.js';

/** Seeds run by the tests; `npm run sim:links -- --seeds 20000` runs more. */
const seedsInTest = 300;
/** Each mutant must be caught within this many seeds. */
const mutantSeedsMax = 100;

const cli = fileURLToPath(new URL('../../src/sim/links-cli.js', import.meta.url));

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('the same seed twice gives the same trace, and another seed a different one', () => {
  const first = runLinkSimulation({ seed: 7, trace: true });
  const second = runLinkSimulation({ seed: 7, trace: true });
  const other = runLinkSimulation({ seed: 8, trace: true });
  assert.ok(first.trace.length > 100, 'the trace records the run');
  assert.equal(first.traceDigest, second.traceDigest);
  assert.deepEqual(first.trace, second.trace);
  assert.deepEqual(first.stats, second.stats);
  assert.notEqual(first.traceDigest, other.traceDigest);
  assert.deepEqual(runLinkSimulation({ seed: 7 }).stats, first.stats);
});

test(`${seedsInTest} seeds of linked clusters under faults converge and keep every invariant`, () => {
  const summary = runLinkSeeds({ from: 1, count: seedsInTest });
  const failures = summary.failedSeeds.map(
    (result) =>
      `seed ${result.seed} (${result.description}): ${result.violations.join(' | ')}\n` +
      `  replay: ${linkReplayCommand(result.seed)}`,
  );
  assert.deepEqual(failures, []);
  // The runs did real work: every fault the invariants guard against happened often.
  const { totals } = summary;
  const perSeed = (count: number) => count / summary.seeds;
  assert.ok(perSeed(totals.writesAcknowledged) >= 100, `${totals.writesAcknowledged} writes`);
  assert.ok(perSeed(totals.writesLost) >= 1, `${totals.writesLost} writes lost in failovers`);
  assert.ok(perSeed(totals.recordsSkipped) >= 50, `${totals.recordsSkipped} records skipped`);
  assert.ok(perSeed(totals.failovers) >= 3, `${totals.failovers} failovers`);
  assert.ok(perSeed(totals.linkCuts) >= 3, `${totals.linkCuts} link cuts`);
  assert.ok(perSeed(totals.messagesDuplicated) >= 5, `${totals.messagesDuplicated} duplicates`);
  assert.ok(perSeed(totals.refusedForSkew) >= 1, `${totals.refusedForSkew} refused for skew`);
  assert.ok(perSeed(totals.conflicts) >= 10, `${totals.conflicts} conflicts recorded`);
});

for (const mutant of linkMutants) {
  test(`the link simulator catches ${mutant.description}`, () => {
    const search = findCatchingLinkSeed(mutant, 1, mutantSeedsMax);
    assert.notEqual(search.caught, null, `${mutant.name} escaped ${search.seedsRun} seeds`);
  });
}

test('npm run sim:links: --help, bad flags, a JSON summary, and a replayable failure', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run sim:links -- \[--seeds N\]/);
  for (const mutant of linkMutants) assert.match(help.stdout, new RegExp(mutant.name));
  for (const [args, message] of [
    [['--bogus'], /sim:links: Unknown option '--bogus'/],
    [['--seeds', '0'], /sim:links: --seeds must be a positive integer, got "0"/],
    [['--mutant', 'nope'], /sim:links: no mutant is named "nope"/],
  ] as const) {
    const refused = run([...args]);
    assert.equal(refused.status, 2, args.join(' '));
    assert.match(refused.stderr, message);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  }
  const clean = run(['--seeds', '5', '--from', '11', '--json']);
  assert.equal(clean.status, 0, clean.stderr);
  const last = JSON.parse(clean.stdout.trim().split('\n').pop() as string) as {
    seeds: number;
    violations: number;
    failedSeeds: number[];
  };
  assert.deepEqual([last.seeds, last.violations, last.failedSeeds], [5, 0, []]);
  const failing = run(['--seeds', '20', '--mutant', 'skew-unbounded']);
  assert.equal(failing.status, 1);
  const replay = /replay: npm run sim:links -- (.*)/.exec(failing.stdout);
  assert.ok(replay !== null, failing.stdout);
  const replayed = run((replay[1] as string).split(' '));
  assert.equal(replayed.status, 1);
  assert.match(replayed.stdout, /VIOLATION .* ms ahead of its clock/);
});
