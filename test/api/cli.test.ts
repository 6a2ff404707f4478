/**
 * Tests of the `tandem` command as a user runs it: the built CLI in child processes, real
 * node processes on loopback, real HTTP. No fakes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/options.js';
import { resolveStartSettings } from '../../src/cli/start.js';
import { portOffset } from './cluster-ports.js';
import { makeCertificates, opensslAvailable, type Credentials } from '../transport/helpers.js';

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

/** The least flags of `tandem start` for a node n1 in `dir`. */
function nodeFlags(dir: string): string[] {
  return ['--id', 'n1', '--dir', join(dir, 'n1'), '--cluster-secret', 'a-long-enough-secret'];
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

test('tandem start refuses bad client TLS settings at start, naming the file', (t) => {
  // Goal: a key without a certificate, an unreadable file, a file that is no PEM, a key of
  // another certificate and a TLS port without a certificate each stop the start with a
  // message saying which setting is wrong, before any port opens.
  if (!opensslAvailable()) return void t.skip('openssl not in PATH');
  const dir = temporaryDirectory(t);
  const pems = makeCertificates('usage-ca', ['a', 'b']);
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const cert = file('a.pem', (pems.get('a') as Credentials).cert);
  const key = file('a.key', (pems.get('a') as Credentials).key);
  const otherKey = file('b.key', (pems.get('b') as Credentials).key);
  const garbage = file('garbage.pem', 'not a certificate\n');
  const start = ['start', ...nodeFlags(dir)];
  const cases: [string[], RegExp][] = [
    [['--client-tls-key', key], /--client-tls-cert and --client-tls-key go together/],
    [['--client-tls-cert', cert], /--client-tls-cert and --client-tls-key go together/],
    [['--client-tls-ca', cert], /--client-tls-ca needs both/],
    [
      ['--client-tls-cert', join(dir, 'missing.pem'), '--client-tls-key', key],
      /--client-tls-cert: cannot read .*missing\.pem/,
    ],
    [
      ['--client-tls-cert', garbage, '--client-tls-key', key],
      /--client-tls-cert: .*garbage\.pem holds no PEM certificate/,
    ],
    [
      ['--client-tls-cert', cert, '--client-tls-key', garbage],
      /--client-tls-key: .*garbage\.pem holds no PEM private key/,
    ],
    [
      ['--client-tls-cert', cert, '--client-tls-key', otherKey],
      /b\.key is not the key of the certificate in .*a\.pem/,
    ],
    [
      ['--client-tls-cert', cert, '--client-tls-key', key, '--client-tls-ca', garbage],
      /--client-tls-ca: .*holds no PEM certificate/,
    ],
    [['--resp-tls-port', '6390'], /--resp-tls-port needs --client-tls-cert and --client-tls-key/],
    [
      ['--client-tls-cert', cert, '--client-tls-key', key, '--resp-tls-port', '9001'],
      /ports must differ/,
    ],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => resolveStartSettings([...start.slice(1), ...args], {}),
      (error: Error) => error instanceof UsageError && message.test(error.message),
      args.join(' '),
    );
  }
  // The same settings from a config file, named as flags or in camelCase.
  const config = file(
    'node.json',
    JSON.stringify({
      clientTlsCert: cert,
      'client-tls-key': key,
      respTlsPort: 6390,
      insecureOpen: true,
    }),
  );
  const fromFile = resolveStartSettings([...start.slice(1), '--config', config], {});
  assert.equal(fromFile.clientTls?.cert, (pems.get('a') as Credentials).cert);
  assert.equal(fromFile.respTlsPort, 6390);
  assert.equal(fromFile.httpTls, true);
  assert.equal(fromFile.insecureOpen, true);
  // And from the command line: exit 2 with the message.
  const run = tandem(...start, ...(cases[0] as [string[], RegExp])[0]);
  assert.equal(run.status, 2);
  assert.match(run.stderr, (cases[0] as [string[], RegExp])[1]);
});

test('loading tandem start does not load the PostgreSQL client', () => {
  // Goal: a node on the embedded store never pays for pg at start; the PostgreSQL store is
  // imported only when a node is given one (a value import of the store's public index
  // from the product's code would bring it back).
  const start = fileURLToPath(new URL('../../src/cli/start.js', import.meta.url));
  const script = `import(${JSON.stringify(start)}).then(() => { const loaded = Object.keys(require.cache); console.log(JSON.stringify({ modules: loaded.length, pg: loaded.filter((file) => /node_modules[\\/]pg[\\/]/.test(file)) })); });`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 0, run.stderr);
  const loaded = JSON.parse(run.stdout) as { modules: number; pg: string[] };
  assert.ok(loaded.modules > 10, 'the CommonJS modules start loads are seen');
  assert.deepEqual(loaded.pg, []);
});

test('tandem start takes the least time between snapshots from a flag or the config file', (t) => {
  // Goal: the default is 10 s, 0 turns the wait off, the file's camelCase key works, and a
  // value out of range stops the start naming the setting.
  const dir = temporaryDirectory(t);
  const start = nodeFlags(dir);
  assert.equal(resolveStartSettings(start, {}).snapshotMinIntervalMs, 10_000);
  const off = resolveStartSettings([...start, '--snapshot-min-interval-ms', '0'], {});
  assert.equal(off.snapshotMinIntervalMs, 0);
  const config = join(dir, 'node.json');
  writeFileSync(config, JSON.stringify({ snapshotMinIntervalMs: 2500 }));
  const fromFile = resolveStartSettings([...start, '--config', config], {});
  assert.equal(fromFile.snapshotMinIntervalMs, 2500);
  assert.throws(
    () => resolveStartSettings([...start, '--snapshot-min-interval-ms', '-1'], {}),
    (error: Error) =>
      error instanceof UsageError && /--snapshot-min-interval-ms/.test(error.message),
  );
});

test('tandem start --insecure-open warns that protected mode is off', async (t) => {
  // Goal: opting out of protected mode is never silent.
  const dir = temporaryDirectory(t);
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const child = spawn(
    process.execPath,
    [
      cli,
      'start',
      '--id',
      'n1',
      '--dir',
      join(dir, 'n1'),
      '--peer-port',
      String(port),
      '--http-port',
      String(port + 1),
      '--insecure-open',
    ],
    { env: { ...process.env, TANDEM_CLUSTER_SECRET: 'a-long-enough-secret' } },
  );
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 15_000;
  while (!output.includes('serving HTTP') && Date.now() < deadline && child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.match(output, /"level":40,.*--insecure-open: protected mode is off/);
});

test('tandem cluster refuses to start when one of its ports is taken, naming it', async (t) => {
  // Goal: the port check runs before any node starts and names the port and its use.
  const offset = await portOffset();
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
  const first = await portOffset();
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
  const run = tandem('cluster', '--dir', dir, '--base-port-offset', String(await portOffset()));
  assert.equal(run.status, 1, run.stderr);
  assert.ok(run.stderr.includes(join(dir, 'n2')), run.stderr);
  assert.match(run.stderr, new RegExp(`tandem node n2 \\(PID ${holder.pid}\\b`));
});

test('tandem cluster runs three nodes that elect, forward writes and stop cleanly', async (t) => {
  // Goal: the local cluster elects a leader, prints its endpoints, serves a write on any
  // node and the read on another, reports every member in tandem status, and stops on SIGINT
  // with exit status 0, keeping its secret private.
  const offset = await portOffset();
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

test('tandem cluster --users gives every node the users, and asks their status as one of them', async (t) => {
  // Goal: --users reaches each node (a request without credentials is refused everywhere,
  // one with them is served), and the command still learns the leader (through the
  // file's first user with a password); a users file without one is refused up front.
  const offset = await portOffset();
  const dir = temporaryDirectory(t);
  const users = join(dir, 'users.yaml');
  writeFileSync(
    users,
    'users:\n  - { name: ops, password: "ops-pw", roles: [admin] }\n  - { name: r, nopass: true, roles: [read] }\n',
  );
  const cluster = await startCluster(t, [
    '--dir',
    join(dir, 'c'),
    '--base-port-offset',
    String(offset),
    '--users',
    users,
  ]);
  assert.match(cluster.output(), /leader n[1-3] \(term \d+\)/);
  assert.match(cluster.output(), /with --users: curl -u NAME:PASSWORD/);
  const ops = { authorization: `Basic ${Buffer.from('ops:ops-pw').toString('base64')}` };
  for (let i = 1; i <= 3; i++) {
    const url = `http://127.0.0.1:${9000 + i + offset}/v1/kv/k${i}`;
    const body = JSON.stringify({ value: 'v' });
    const json = { 'content-type': 'application/json' };
    const refused = await fetch(url, { method: 'PUT', headers: json, body });
    assert.equal(refused.status, 401, `n${i} without credentials`);
    const served = await fetch(url, { method: 'PUT', headers: { ...json, ...ops }, body });
    assert.equal(served.status, 200, `n${i} as ops: ${await served.text()}`);
  }
  cluster.child.kill('SIGINT');
  assert.equal(await cluster.exited, 0, cluster.output());
  writeFileSync(users, 'users:\n  - { name: r, nopass: true, roles: [read] }\n');
  const refused = tandem('cluster', '--dir', join(dir, 'd'), '--users', users);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /no user has a plain password/);
});

test('tandem cluster --secure runs TLS everywhere, and its printed curl and redis-cli lines work', async (t) => {
  // Goal: --secure makes the CA, node certificates, admin password and users file (private),
  // starts HTTPS and RESP-over-TLS-only nodes with peer TLS, and every command it prints,
  // pasted into a shell, succeeds over TLS: a write through a follower, a read elsewhere.
  if (!opensslAvailable()) return void t.skip('openssl not in PATH');
  const offset = await portOffset();
  const dir = temporaryDirectory(t);
  const cluster = await startCluster(t, [
    '--secure',
    '--dir',
    dir,
    '--base-port-offset',
    String(offset),
  ]);
  const output = cluster.output();
  for (const file of ['admin-password', 'users.json', 'tls/ca.key', 'tls/n1.key']) {
    assert.equal(statSync(join(dir, file)).mode & 0o077, 0, `${file} is private`);
  }
  const password = readFileSync(join(dir, 'admin-password'), 'utf8').trim();
  assert.ok(password.length >= 32);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'users.json'), 'utf8')), {
    users: [{ name: 'admin', password, roles: ['admin'] }],
  });
  assert.match(
    output,
    new RegExp(`n3 .*https://127.0.0.1:${9003 + offset} +tls 127.0.0.1:${6383 + offset}`),
  );
  assert.doesNotMatch(output, new RegExp(password), 'the password is not printed');
  // Plain HTTP and plain RESP are not served.
  await assert.rejects(fetch(`http://127.0.0.1:${9001 + offset}/healthz`));

  const lines = output.split('\n').map((line) => line.trim());
  const shell = (line: string) =>
    spawnSync('sh', ['-c', line], { encoding: 'utf8', timeout: 15_000 });
  const curls = lines.filter((line) => line.startsWith('curl --cacert'));
  assert.equal(curls.length, 2, output);
  const put = shell(curls[0] as string);
  assert.equal(put.status, 0, put.stderr);
  assert.match(put.stdout, /"index":\d+/);
  const get = shell(curls[1] as string);
  assert.equal(get.status, 0, get.stderr);
  assert.match(get.stdout, /"value":"world"/);
  // The users file reached the nodes: without the admin's credentials the API says 401.
  const anonymous = shell(
    `${(curls[1] as string).replace(/ -u admin:"\$\(cat [^)]*\)"/, '')} -o /dev/null -w '%{http_code}'`,
  );
  assert.equal(anonymous.stdout, '401', anonymous.stderr);
  const status = lines.find((line) => line.includes(' tandem status ')) as string;
  const ran = shell(status.replace(' tandem status ', ` ${process.execPath} ${cli} status `));
  assert.equal(ran.status, 0, ran.stderr);
  assert.equal(ran.stdout.match(/^n[1-3] +(leader|follower) /gm)?.length, 3, ran.stdout);
  if (spawnSync('redis-cli', ['--version']).status === 0) {
    // The printed lines authenticate as admin: redis-cli warns of no failed AUTH, and
    // without credentials the same SET is refused.
    const redis = lines.filter((line) => line.startsWith('redis-cli --tls --cacert'));
    assert.equal(redis.length, 2, output);
    const set = shell(redis[0] as string);
    assert.equal(set.stdout.trim(), 'OK', set.stderr);
    assert.doesNotMatch(set.stderr, /AUTH failed/);
    const anonymousSet = shell(
      (redis[0] as string).replace(/ --user admin --pass "\$\(cat [^)]*\)"/, ''),
    );
    assert.match(anonymousSet.stdout, /NOAUTH/, anonymousSet.stderr);
    const read = shell(redis[1] as string);
    assert.equal(read.stdout.trim(), 'hi', read.stderr);
  }
  cluster.child.kill('SIGINT');
  assert.equal(await cluster.exited, 0, cluster.output());
});
