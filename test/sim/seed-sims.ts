/**
 * Checks shared by the tests of the protocol simulators that run seeds of their own (the
 * blob and link simulators): a seed replays exactly, and the command line behaves as a
 * user runs it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** What a seed's result has that the checks read. */
interface TracedResult {
  readonly trace: readonly string[];
  readonly traceDigest: string | null;
  readonly violations: readonly string[];
  readonly stats: unknown;
}

/** The same seed twice gives the same trace, another seed a different one; tracing only records. */
export function checkReplaysExactly(run: (seed: number, trace: boolean) => TracedResult): void {
  const first = run(7, true);
  const second = run(7, true);
  const other = run(8, true);
  assert.ok(first.trace.length > 100, 'the trace records the run');
  assert.equal(first.traceDigest, second.traceDigest);
  assert.deepEqual(first.trace, second.trace);
  assert.deepEqual(first.violations, second.violations);
  assert.deepEqual(first.stats, second.stats);
  assert.notEqual(first.traceDigest, other.traceDigest);
  assert.deepEqual(run(7, false).stats, first.stats);
}

/**
 * `npm run COMMAND`'s command line (the script at `cli`): --help lists every mutant, bad
 * flags exit 2 with the usage and no stack, --json ends with a summary, and a mutant's
 * failing seed prints a replay command that fails again with a violation matching
 * `violation`.
 */
export function checkSeedCli(options: {
  readonly cli: string;
  readonly command: string;
  readonly mutants: readonly { readonly name: string }[];
  readonly failingMutant: string;
  readonly violation: RegExp;
}): void {
  const { cli, command } = options;
  const run = (args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.ok(help.stdout.startsWith(`usage: npm run ${command} -- [--seeds N]`), help.stdout);
  for (const mutant of options.mutants) assert.ok(help.stdout.includes(mutant.name));
  for (const [args, message] of [
    [['--bogus'], `${command}: Unknown option '--bogus'`],
    [['--seeds', '0'], `${command}: --seeds must be a positive integer, got "0"`],
    [['--seeds', '1e3'], `${command}: --seeds must be a positive integer, got "1e3"`],
    [['--from=-1'], `${command}: --from must be a non-negative integer, got "-1"`],
    [['--mutant', 'nope'], `${command}: no mutant is named "nope"`],
  ] as const) {
    const refused = run([...args]);
    assert.equal(refused.status, 2, args.join(' '));
    assert.ok(refused.stderr.includes(message), refused.stderr);
    assert.ok(refused.stderr.includes(`usage: npm run ${command}`));
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
  assert.doesNotMatch(clean.stdout, /NaN/);
  // A mutant's failing seed prints the command that replays it, and that command does.
  const failing = run(['--seeds', '30', '--mutant', options.failingMutant]);
  assert.equal(failing.status, 1);
  const replay = new RegExp(`replay: npm run ${command} -- (.*)`).exec(failing.stdout);
  assert.ok(replay !== null, failing.stdout);
  const replayed = run((replay[1] as string).split(' '));
  assert.equal(replayed.status, 1);
  assert.match(replayed.stdout, options.violation);
  const firstFailure = /seed (\d+) FAILED[^]*?\n {2}- (.*)/.exec(failing.stdout);
  assert.ok(firstFailure !== null);
  assert.ok(replayed.stdout.includes(firstFailure[2] as string), 'the same violation again');
}
