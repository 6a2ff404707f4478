/**
 * Tests of the `tandem` command as a user runs it: the built CLI in child processes, real
 * node processes on loopback, real HTTP. No fakes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

function tandem(...args: string[]) {
  const env = { ...process.env, TANDEM_CLUSTER_SECRET: '' };
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 20_000 });
}

function temporaryDirectory(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port offset for `tandem cluster` below the ephemeral range, different per run. */
function portOffset(): number {
  return 10_000 + Math.floor(Math.random() * 900) * 10;
}

/** Runs `tandem cluster ARGS` to its exit (SIGINT after 30 s) and returns its status and stderr. */
function runCluster(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'cluster', ...args]);
    const timer = setTimeout(() => child.kill('SIGINT'), 30_000);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A `tandem cluster` process that printed its endpoints; killed when the test ends. */
interface RunningCluster {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** Starts `tandem cluster ARGS` and waits (up to 40 s) until it says how to stop it. */
async function startCluster(t: TestContext, args: readonly string[]): Promise<RunningCluster> {
  const child = spawn(process.execPath, [cli, 'cluster', ...args]);
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 40_000;
  while (!output.includes('Ctrl-C stops the cluster')) {
    assert.ok(
      Date.now() < deadline && child.exitCode === null,
      `cluster did not come up:\n${output}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, output: () => output, exited };
}

test('bad usage exits 2 with a message naming the setting', () => {
  // Goal: every setting is validated before anything starts, and the message says which.
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['start', '--id', 'n1'], /--dir is required/],
    [['start', '--id', 'n 1', '--dir', 'd'], /--id must be a node id/],
    [['start', '--id', 'n1', '--dir', 'd', '--http-port', '70000'], /--http-port must be a port/],
    [
      ['start', '--id', 'n1', '--dir', 'd', '--peers', 'n2=host'],
      /--peers address of n2 must be HOST:PORT/,
    ],
    [['start', '--id', 'n1', '--dir', 'd', '--mode', 'fast'], /--mode must be one of async/],
    [['start', '--id', 'n1', '--dir', 'd'], /a cluster secret is required/],
    [['start', '--id', 'n1', '--dir', 'd', '--cluster-secret', 'short'], /at least 16 characters/],
    [['start', '--id', 'n1', '--dir', 'd', '--config', '/nonexistent.yaml'], /cannot be read/],
    [['cluster', '--nodes', '12'], /--nodes must be 1-9/],
    [['cluster', '--base-port-offset=-3'], /--base-port-offset must be a non-negative integer/],
    [['status', '--url', 'ftp://x'], /--url must be an http/],
    [['join', 'n4'], /missing ID and HOST:PORT/],
    [['promote', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const run = tandem(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, message, args.join(' '));
  }
  for (const command of ['', 'start', 'cluster', 'status', 'promote', 'join', 'remove']) {
    const run = tandem(...(command === '' ? [] : [command]), '--help');
    assert.equal(run.status, 0, command);
    assert.match(run.stdout, /usage: tandem/);
  }
});

test('tandem cluster refuses to start when one of its ports is taken, naming it', async (t) => {
  // Goal: the port check runs before any node starts and names the port and its use.
  const offset = portOffset();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(9002 + offset, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const dir = temporaryDirectory(t);
  const run = await runCluster(['--dir', dir, '--base-port-offset', String(offset)]);
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    new RegExp(`port ${9002 + offset} \\(HTTP of n2\\) on 127.0.0.1 is already in use`),
  );
  // The way out it suggests must not lead to a second cluster on the same directory.
  assert.match(run.stderr, /--base-port-offset N and a --dir of its own/);
});

test('tandem cluster refuses a directory another cluster runs on, before starting any node', async (t) => {
  // Goal: a second cluster on the same --dir (even on other ports) is refused with a
  // message naming the directory and the PID that holds it; it starts no node, and the
  // first cluster keeps serving.
  const dir = temporaryDirectory(t);
  const first = portOffset();
  const holder = await startCluster(t, [
    '--nodes',
    '1',
    '--dir',
    dir,
    '--base-port-offset',
    String(first),
  ]);
  const logBefore = readFileSync(join(dir, 'n1.log'), 'utf8');
  const second = first + 5;
  const run = await runCluster([
    '--nodes',
    '1',
    '--dir',
    dir,
    '--base-port-offset',
    String(second),
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.ok(run.stderr.includes(dir), run.stderr);
  assert.match(run.stderr, new RegExp(`PID ${holder.child.pid}\\b`));
  assert.equal(readFileSync(join(dir, 'n1.log'), 'utf8'), logBefore, 'a node was started');
  const put = await fetch(`http://127.0.0.1:${9001 + first}/v1/kv/still`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: 'here' }),
  });
  assert.equal(put.status, 200);
  holder.child.kill('SIGINT');
  assert.equal(await holder.exited, 0, holder.output());
});

test('tandem cluster refuses when a live process holds one of its node directories', async (t) => {
  // Goal: a node left running on DIR/n2 (its cluster killed, say) keeps a new cluster out,
  // and the message names the node directory and the PID.
  const dir = temporaryDirectory(t);
  const lockModule = fileURLToPath(new URL('../../src/node/data-dir-lock.js', import.meta.url));
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { DataDirectoryLock } = await import(${JSON.stringify(lockModule)});
       DataDirectoryLock.acquire(${JSON.stringify(join(dir, 'n2'))}, 'tandem node n2');
       console.log('locked');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => holder.kill('SIGKILL'));
  const locked = await new Promise<boolean>((resolve) => {
    holder.stdout.once('data', () => resolve(true));
    holder.once('exit', () => resolve(false));
  });
  assert.ok(locked, 'the holder could not lock the directory');
  const run = tandem('cluster', '--dir', dir, '--base-port-offset', String(portOffset()));
  assert.equal(run.status, 1, run.stderr);
  assert.ok(run.stderr.includes(join(dir, 'n2')), run.stderr);
  assert.match(run.stderr, new RegExp(`tandem node n2 \\(PID ${holder.pid}\\b`));
});

test('tandem cluster runs three nodes that elect, forward writes and stop cleanly', async (t) => {
  // Goal: the local cluster elects a leader, prints its endpoints, serves a write on any
  // node and the read on another, reports every member in tandem status, and stops on SIGINT
  // with exit status 0, keeping its secret private.
  const offset = portOffset();
  const dir = temporaryDirectory(t);
  const cluster = await startCluster(t, ['--dir', dir, '--base-port-offset', String(offset)]);
  const output = cluster.output();
  assert.match(output, new RegExp(`n3 .*http://127.0.0.1:${9003 + offset}`));
  assert.equal(statSync(join(dir, 'cluster-secret')).mode & 0o777, 0o600);

  const url = (i: number) => `http://127.0.0.1:${9000 + i + offset}`;
  const leaderId = /leader (n[1-3])/.exec(output)?.[1];
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== leaderId) as string;
  const followerUrl = url(Number(follower.slice(1)));
  const put = await fetch(`${followerUrl}/v1/kv/hello`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: 'world' }),
  });
  assert.equal(put.status, 200);
  assert.equal(put.headers.get('x-tandem-leader'), leaderId);
  const { index } = (await put.json()) as { index: number };
  const other = ['n1', 'n2', 'n3'].find((id) => id !== leaderId && id !== follower) as string;
  const get = await fetch(`${url(Number(other.slice(1)))}/v1/kv/hello?after=${index}`);
  assert.equal(get.status, 200);
  assert.equal(((await get.json()) as { value: string }).value, 'world');
  assert.equal(get.headers.get('etag'), put.headers.get('etag'));

  const status = tandem('status', '--url', followerUrl);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^leader ${leaderId}, term \\d+, mode quorum`));
  assert.equal(status.stdout.match(/^n[1-3] +(leader|follower) /gm)?.length, 3, status.stdout);

  cluster.child.kill('SIGINT');
  assert.equal(await cluster.exited, 0, cluster.output());
  assert.match(cluster.output(), /stopped\n$/);
});
