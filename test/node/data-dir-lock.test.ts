// The lock a node holds on its data directory: a second process on the same directory is
// refused before it touches a file, and a node killed with SIGKILL leaves no lock behind
// that blocks its restart. Real `tandem start` processes on loopback.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DataDirectoryLock,
  liveLockHolder,
  lockFileName,
  type LockHolder,
} from '../../src/node/data-dir-lock.js';
import { call, freePort, TestCluster } from './cluster.js';

const tandem = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));
/** How long a refused second node may take to exit. */
const refusalWaitMs = 20_000;

/** Runs `tandem start` on `dir` with ports of its own; its exit code and output. */
async function startSecondNode(
  dir: string,
  secret: string,
): Promise<{ code: number | null; output: string }> {
  const args = ['--peer-port', String(await freePort()), '--http-port', String(await freePort())];
  const child = spawn(
    process.execPath,
    [tandem, 'start', '--id', 'n1', '--dir', dir, '--host', '127.0.0.1', ...args],
    { env: { ...process.env, TANDEM_CLUSTER_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), refusalWaitMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

describe('the data directory lock', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 1 });
    cluster.start('n1');
    await cluster.leader();
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a second node on a held directory is refused, naming it and the holder', async () => {
    // Goal: two processes never run on the same files; the refusal says which directory
    // and which process holds it, and the holder keeps serving.
    const written = await call('PUT', `${cluster.url('n1')}/v1/kv/kept`, { value: 'one' });
    assert.equal(written.status, 200);
    const node = cluster.node('n1');
    const holderPid = node.process?.pid;
    assert.ok(holderPid !== undefined);
    const second = await startSecondNode(node.dir, cluster.secret);
    assert.equal(second.code, 1, `the second node was not refused:\n${second.output}`);
    assert.ok(second.output.includes(node.dir), second.output);
    assert.match(second.output, new RegExp(`PID ${holderPid}\\b`));
    const read = await call('GET', `${cluster.url('n1')}/v1/kv/kept`);
    assert.equal(read.status, 200);
    assert.equal(read.body.value, 'one');
    const again = await call('PUT', `${cluster.url('n1')}/v1/kv/after`, { value: 'two' });
    assert.equal(again.status, 200, cluster.logs());
  });

  test('a node killed with SIGKILL restarts on its directory', async () => {
    // Goal: the lock left by a dead process is stale and does not block the restart.
    await cluster.kill('n1');
    cluster.start('n1');
    await cluster.leader();
    const read = await call('GET', `${cluster.url('n1')}/v1/kv/kept`);
    assert.equal(read.status, 200, cluster.logs());
    assert.equal(read.body.value, 'one');
  });
});

function temporaryDirectory(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A lock file as another process would have left it. */
function writeLockFile(dir: string, holder: LockHolder): void {
  writeFileSync(join(dir, lockFileName), `${JSON.stringify(holder)}\n`);
}

/** The start token the lock records for `pid` (boot id and start time, as on Linux). */
function startToken(pid: number): string {
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return `${bootId}:${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
}

/** A child process that sleeps until killed; killed when the test ends. */
function sleeper(t: TestContext): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
  });
  t.after(() => child.kill('SIGKILL'));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

describe('DataDirectoryLock', () => {
  const linux = existsSync('/proc/self/stat');

  test('a directory locked here is refused a second time until released', (t) => {
    // Goal: the lock is exclusive within one process too, and release frees it.
    const dir = temporaryDirectory(t);
    const lock = DataDirectoryLock.acquire(dir, 'tandem node n1');
    assert.equal(liveLockHolder(dir)?.pid, process.pid);
    assert.throws(
      () => DataDirectoryLock.acquire(dir, 'tandem node n2'),
      (error: Error & { code?: string }) =>
        error.code === 'TANDEM_BAD_CONFIG' &&
        error.message.includes(dir) &&
        error.message.includes(`tandem node n1 (PID ${process.pid}`),
    );
    lock.release();
    assert.equal(existsSync(join(dir, lockFileName)), false);
    assert.equal(liveLockHolder(dir), null);
    DataDirectoryLock.acquire(dir, 'tandem node n1').release();
  });

  test('a lock left by a process that is gone is taken over', (t) => {
    // Goal: kill -9 of a node must not keep its restart out.
    const dir = temporaryDirectory(t);
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
      encoding: 'utf8',
    });
    const pid = Number(gone.stdout.trim());
    writeLockFile(dir, { pid, started: null, holder: 'tandem node n1', since: 'then' });
    assert.equal(liveLockHolder(dir), null);
    const lock = DataDirectoryLock.acquire(dir, 'tandem node n1');
    assert.equal(liveLockHolder(dir)?.pid, process.pid);
    lock.release();
  });

  test('a lock naming a live process is held only if that process started when it says', (t) => {
    // Goal: a PID reused by an unrelated process after a crash does not hold the lock, the
    // process that wrote it does.
    if (!linux) return t.skip('no /proc here: a live PID counts as the holder');
    const dir = temporaryDirectory(t);
    const pid = sleeper(t);
    const holder = { pid, started: 'another-boot:1', holder: 'tandem node n1', since: 'then' };
    writeLockFile(dir, holder);
    assert.equal(liveLockHolder(dir), null);
    writeLockFile(dir, { ...holder, started: startToken(pid) });
    assert.equal(liveLockHolder(dir)?.pid, pid);
    assert.throws(() => DataDirectoryLock.acquire(dir, 'tandem node n1'), new RegExp(`PID ${pid}`));
  });

  test('a damaged lock file is stale, and release leaves a lock it no longer owns', (t) => {
    // Goal: garbage names no holder; a lock taken over by another is not removed by us.
    const dir = temporaryDirectory(t);
    writeFileSync(join(dir, lockFileName), 'garbage');
    const lock = DataDirectoryLock.acquire(dir, 'tandem node n1');
    const pid = sleeper(t);
    writeLockFile(dir, { pid, started: null, holder: 'tandem node n9', since: 'now' });
    lock.release();
    assert.equal(liveLockHolder(dir)?.holder, 'tandem node n9');
  });
});
