/**
 * The simulator's commands as a user runs them: `--help` prints the usage, bad flags are
 * refused with exit 2 and the usage (never a stack trace), and a run ends with its JSON
 * summary line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const sim = fileURLToPath(new URL('../../src/sim/cli.js', import.meta.url));
const mutants = fileURLToPath(new URL('./mutants-cli.js', import.meta.url));

function run(script: string, args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('npm run sim: --help, bad flags and a JSON summary', () => {
  const help = run(sim, ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run sim -- \[--seeds N\]/);
  for (const [args, message] of [
    [['--bogus'], /sim: Unknown option '--bogus'/],
    [['--seeds', '0'], /sim: --seeds must be a positive integer, got "0"/],
    [['--seeds', '1e3'], /sim: --seeds must be a positive integer, got "1e3"/],
    [['--from=-1'], /sim: --from must be a non-negative integer, got "-1"/],
  ] as const) {
    const refused = run(sim, [...args]);
    assert.equal(refused.status, 2, args.join(' '));
    assert.match(refused.stderr, message);
    assert.match(refused.stderr, /usage: npm run sim/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  }
  const ran = run(sim, ['--seeds', '2', '--from', '7', '--json']);
  assert.equal(ran.status, 0, ran.stderr);
  const last = JSON.parse(ran.stdout.trim().split('\n').pop() as string) as Record<string, number>;
  assert.equal(last.seeds, 2);
  assert.equal(last.violations, 0);
  assert.doesNotMatch(ran.stdout, /NaN/);
});

test('npm run sim:mutants: --help and bad flags', () => {
  const help = run(mutants, ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run sim:mutants/);
  for (const [args, message] of [
    [['--mutant', 'nope'], /no mutant is named "nope"/],
    [['--max-seeds', 'x'], /--max-seeds must be a positive integer, got "x"/],
    [['--what'], /Unknown option '--what'/],
  ] as const) {
    const refused = run(mutants, [...args]);
    assert.equal(refused.status, 2, args.join(' '));
    assert.match(refused.stderr, message);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  }
});
