/**
 * `tandem cluster` as a supervisor, with real processes: a node killed with SIGKILL is
 * started again (and says so), `--no-restart` leaves it down and Ctrl-C then reports it as
 * already down rather than as a failed stop, and no node outlives a `tandem cluster` that
 * is itself killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { liveLockHolder } from '../../src/node/data-dir-lock.js';
import { portOffset } from './cluster-ports.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running `tandem cluster`: its process, what it printed, and its data directory. */
interface Supervisor {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  readonly dir: string;
  readonly offset: number;
}

async function startCluster(t: TestContext, extra: readonly string[]): Promise<Supervisor> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-supervise-'));
  const offset = await portOffset();
  const args = ['cluster', '--dir', dir, '--base-port-offset', String(offset), ...extra];
  const child = spawn(process.execPath, [cli, ...args]);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(async () => {
    child.kill('SIGKILL');
    for (const id of ['n1', 'n2', 'n3']) {
      const holder = liveLockHolder(join(dir, id));
      if (holder !== null) process.kill(holder.pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await until(
    () => output.includes('Ctrl-C stops the cluster'),
    40_000,
    () => output,
  );
  return { child, output: () => output, exited, dir, offset };
}

async function until(done: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    assert.ok(Date.now() < deadline, `timed out:\n${what()}`);
    await sleep(100);
  }
}

/** The PID of the node process holding `id`'s data directory, or null. */
function nodePid(cluster: Supervisor, id: string): number | null {
  return liveLockHolder(join(cluster.dir, id))?.pid ?? null;
}

async function healthy(cluster: Supervisor, i: number): Promise<boolean> {
  const url = `http://127.0.0.1:${9000 + i + cluster.offset}/healthz`;
  return fetch(url, { signal: AbortSignal.timeout(1_000) })
    .then((answer) => answer.ok)
    .catch(() => false);
}

test('a node killed with SIGKILL is started again, and none outlives a killed supervisor', async (t) => {
  const cluster = await startCluster(t, []);
  const before = nodePid(cluster, 'n2');
  assert.ok(before !== null, 'n2 holds its directory');
  process.kill(before, 'SIGKILL');
  await until(
    () => cluster.output().includes('n2 started again (restart 1'),
    20_000,
    cluster.output,
  );
  assert.match(
    cluster.output(),
    /n2 exited on its own \(SIGKILL\); restarting it in 1 s \(restart 1\)/,
  );
  let after: number | null = null;
  await until(
    () => {
      after = nodePid(cluster, 'n2');
      return after !== null && after !== before;
    },
    20_000,
    cluster.output,
  );
  const deadline = Date.now() + 20_000;
  while (!(await healthy(cluster, 2))) {
    assert.ok(Date.now() < deadline, 'the restarted n2 answers');
    await sleep(200);
  }
  // kill -9 of the supervisor: its nodes see their IPC channel close and stop.
  const pids = ['n1', 'n2', 'n3'].map((id) => nodePid(cluster, id));
  assert.ok(pids.every((pid) => pid !== null));
  cluster.child.kill('SIGKILL');
  await cluster.exited;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await until(
    () => pids.every((pid) => !alive(pid as number)),
    15_000,
    () => 'nodes still run',
  );
});

test('--no-restart leaves a dead node down, and Ctrl-C reports it as already down', async (t) => {
  const cluster = await startCluster(t, ['--no-restart']);
  const pid = nodePid(cluster, 'n3');
  assert.ok(pid !== null);
  process.kill(pid, 'SIGKILL');
  await until(() => cluster.output().includes('left down (--no-restart)'), 20_000, cluster.output);
  await sleep(1_500);
  assert.equal(nodePid(cluster, 'n3'), null, 'n3 stays down');
  // Restarted by hand as the README says: the cluster's secret and the same settings.
  const secret = readFileSync(join(cluster.dir, 'cluster-secret'), 'utf8').trim();
  const port = (base: number, i: number) => String(base + i + cluster.offset);
  const peers = [1, 2, 3].map((i) => `n${i}=127.0.0.1:${port(7000, i)}`).join(',');
  const byHand = spawn(
    process.execPath,
    [
      cli,
      'start',
      '--id',
      'n3',
      '--dir',
      join(cluster.dir, 'n3'),
      '--peers',
      peers,
      '--peer-port',
      port(7000, 3),
      '--http-port',
      port(9000, 3),
      '--resp-port',
      port(6380, 3),
    ],
    { env: { ...process.env, TANDEM_CLUSTER_SECRET: secret }, stdio: 'ignore' },
  );
  t.after(() => byHand.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  while (!(await healthy(cluster, 3))) {
    assert.ok(Date.now() < deadline, 'n3 started by hand answers');
    await sleep(200);
  }
  const view = (await (await fetch(`http://127.0.0.1:${port(9000, 3)}/v1/cluster`)).json()) as {
    leaderId: string | null;
  };
  assert.ok(view.leaderId !== null, 'n3 rejoined and knows the leader');
  byHand.kill('SIGTERM');
  await new Promise((resolve) => byHand.once('exit', resolve));
  cluster.child.kill('SIGINT');
  assert.equal(await cluster.exited, 0, cluster.output());
  assert.match(cluster.output(), /n3 was already down \(it exited on its own, SIGKILL, at /);
  assert.match(cluster.output(), /\nstopped\n/);
  assert.doesNotMatch(cluster.output(), /did not stop cleanly/);
});
