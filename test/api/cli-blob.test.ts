/**
 * `tandem blob` as a user runs it: the built CLI in a child process against a real
 * three-node cluster of `tandem start` processes on loopback. A 10 MB random file goes up
 * and comes back identical, is listed, and is removed; bad usage exits with status 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../node/cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

let cluster: TestCluster;
let followerUrl: string;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tandem-cli-blob-'));
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  const leader = await cluster.leader();
  followerUrl = cluster.url(cluster.nodes.find((node) => node.id !== leader)?.id as string);
});

after(async () => {
  await cluster?.destroy();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to its exit, over an environment without the machine's TANDEM_* variables. */
function tandem(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ['TANDEM_ENDPOINTS', 'TANDEM_URL', 'TANDEM_USER', 'TANDEM_PASSWORD']) {
    if (env[name] === undefined) delete childEnv[name];
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: childEnv });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end();
  });
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

test('a 10 MB file goes up with put and comes back identical with get', async () => {
  // Goal: put and get stream a file through a follower, check its SHA-256 both ways, and
  // report their progress on stderr as one final line when stderr is not a terminal.
  const original = randomBytes(10 * 1024 * 1024);
  const source = join(dir, 'source.bin');
  writeFileSync(source, original);
  const put = await tandem([
    'blob',
    'put',
    source,
    'backups/source.bin',
    '--content-type',
    'application/x-test',
    '--url',
    followerUrl,
  ]);
  assert.equal(put.status, 0, put.stderr);
  assert.match(put.stdout, /^backups\/source\.bin {2}version [0-9]+ {2}10485760 bytes/);
  assert.match(put.stderr, /put backups\/source\.bin: 10\.0 MiB of 10\.0 MiB in [0-9.]+ s/);

  const target = join(dir, 'copy.bin');
  const get = await tandem(['blob', 'get', 'backups/source.bin', target], {
    TANDEM_ENDPOINTS: followerUrl,
  });
  assert.equal(get.status, 0, get.stderr);
  assert.match(get.stderr, /get backups\/source\.bin: 10\.0 MiB of 10\.0 MiB/);
  assert.equal(existsSync(`${target}.partial`), false);
  assert.equal(sha256(readFileSync(target)), sha256(original));
});

test('ls shows the blob in a table and rm removes it', async () => {
  // Goal: ls lists name, size, version, content type and creation time; rm deletes, and
  // rm of an absent blob fails with status 1.
  const ls = await tandem(['blob', 'ls', 'backups/', '--url', followerUrl]);
  assert.equal(ls.status, 0, ls.stderr);
  const [header, row, ...rest] = ls.stdout.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME +SIZE +VERSION +CONTENT TYPE +CREATED$/);
  assert.match(
    row ?? '',
    /^backups\/source\.bin +10\.0 MiB +[0-9]+ +application\/x-test +20[0-9-]+T/,
  );
  assert.deepEqual(rest, []);
  const none = await tandem(['blob', 'ls', 'nothing-here/', '--url', followerUrl]);
  assert.equal(none.stdout.trimEnd().split('\n').length, 1);

  const rm = await tandem(['blob', 'rm', 'backups/source.bin', '--url', followerUrl]);
  assert.equal(rm.status, 0, rm.stderr);
  const again = await tandem(['blob', 'rm', 'backups/source.bin', '--url', followerUrl]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /no blob "backups\/source\.bin"/);
  const gone = await tandem([
    'blob',
    'get',
    'backups/source.bin',
    join(dir, 'x'),
    '--url',
    followerUrl,
  ]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /TANDEM_NOT_FOUND/);
  assert.equal(existsSync(join(dir, 'x.partial')), false);
});

test('bad usage exits with status 2 and names the problem', async () => {
  // Goal: a missing operand, an extra one, an unknown subcommand or a flag of another
  // subcommand is a usage error, not a failure, and nothing is sent.
  const cases: [string[], RegExp][] = [
    [['blob'], /missing the subcommand/],
    [['blob', 'put', 'only-a-file'], /put: missing NAME/],
    [['blob', 'get', 'name'], /get: missing FILE/],
    [['blob', 'rm', 'a', 'b'], /rm: unexpected argument b/],
    [['blob', 'cp', 'a', 'b'], /unknown blob subcommand "cp"/],
    [['blob', 'ls', '--content-type', 'x'], /ls takes no --content-type/],
  ];
  for (const [args, message] of cases) {
    const run = await tandem([...args, '--url', followerUrl]);
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
    assert.match(run.stderr, /tandem blob --help/);
  }
  const help = await tandem(['blob', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: tandem blob put FILE NAME/);
});
