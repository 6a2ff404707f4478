/**
 * Tests of the `tandem` data commands as a user runs them: `--version`, the endpoint
 * settings, `kv`, `sql` and `shell` (lines piped in), each the built CLI in a child process
 * against a real three-node cluster of `tandem start` processes on loopback. No fakes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { call, freePort, sleep, TestCluster } from '../node/cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));
const packageJson = fileURLToPath(new URL('../../../package.json', import.meta.url));

let cluster: TestCluster;
let leaderUrl: string;
let followerUrl: string;
/** A loopback URL where nothing listens. */
let deadUrl: string;
/** The user's home of the CLI processes: a shell must write nothing there when piped. */
let home: string;

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'tandem-cli-home-'));
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  const leader = await cluster.leader();
  const follower = cluster.nodes.find((node) => node.id !== leader)?.id as string;
  leaderUrl = cluster.url(leader);
  followerUrl = cluster.url(follower);
  deadUrl = `http://127.0.0.1:${await freePort()}`;
});

after(async () => {
  await cluster?.destroy();
  if (home !== undefined) rmSync(home, { recursive: true, force: true });
});

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI to its exit with `env` over a clean environment (no TANDEM_* variables of
 * the machine), `input` on its stdin (a pipe, not a terminal).
 */
function tandem(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...options.env };
  for (const name of ['TANDEM_ENDPOINTS', 'TANDEM_URL', 'TANDEM_USER', 'TANDEM_PASSWORD']) {
    if (options.env?.[name] === undefined) delete env[name];
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the CLI on the follower and asserts it succeeded; returns its stdout. */
async function onFollower(...args: string[]): Promise<string> {
  const run = await tandem([...args, '--url', followerUrl]);
  assert.equal(run.status, 0, `tandem ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

test('tandem --version, -v and version print the version of package.json and exit 0', async () => {
  // Goal: the version comes from the package's own manifest, under each spelling.
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  for (const spelling of ['--version', '-v', 'version']) {
    const run = await tandem([spelling]);
    assert.equal(run.status, 0, spelling);
    assert.equal(run.stdout, `tandem ${version}\n`, spelling);
  }
});

test('a bare tandem prints the usage to stderr and exits 2; --help prints it to stdout', async () => {
  // Goal: no command is a usage error (status 2, nothing on stdout); asked-for help is not.
  const bare = await tandem([]);
  assert.equal(bare.status, 2);
  assert.equal(bare.stdout, '');
  assert.match(bare.stderr, /^usage: tandem <command>/);
  assert.match(bare.stderr, /kv +get, put, del and ls keys/);
  for (const help of ['--help', 'help']) {
    const run = await tandem([help]);
    assert.equal(run.status, 0, help);
    assert.match(run.stdout, /^usage: tandem <command>/);
    assert.match(run.stdout, /TANDEM_ENDPOINTS/);
  }
  for (const command of ['kv', 'sql', 'shell', 'status']) {
    const run = await tandem([command, '--help']);
    assert.equal(run.status, 0, command);
    assert.match(run.stdout, /usage: tandem/, command);
    assert.match(
      run.stdout,
      /else the\s+TANDEM_ENDPOINTS variable [^\n]*else\s+TANDEM_URL, else http/,
      command,
    );
  }
});

test('bad inputs to the data commands exit 2 with a message naming what is wrong', async () => {
  // Goal: every setting and argument is checked before any node is called, and the
  // message says which one is wrong (the endpoints here are dead: nothing is called).
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['kv'], /tandem kv: missing the subcommand: get, put, del or ls/],
    [['kv', 'frob'], /unknown kv subcommand "frob"/],
    [['kv', 'get'], /get: missing KEY/],
    [['kv', 'put', 'k'], /put: missing VALUE/],
    [['kv', 'put'], /put: missing KEY and VALUE/],
    [['kv', 'del', 'a', 'b'], /del: unexpected argument b/],
    [['kv', 'put', 'k', 'v', '--ttl-ms', '0'], /--ttl-ms must be a positive integer, got "0"/],
    [['kv', 'put', 'k', 'v', '--ttl-ms', '1.5'], /--ttl-ms must be a positive integer/],
    [['kv', 'put', 'k', 'v', '--ttl-ms=-5'], /--ttl-ms must be a positive integer, got "-5"/],
    [['kv', 'put', 'k', 'v', '--ttl-ms', 'soon'], /--ttl-ms must be a positive integer/],
    [['kv', 'get', 'k', '--ttl-ms', '5'], /get takes no --ttl-ms/],
    [['kv', 'ls', '--limit', '0'], /--limit must be a positive integer/],
    [['kv', 'ls', '--limit', '100001'], /--limit must be at most 100000/],
    [['kv', 'get', 'k', '--consistency', 'eventual'], /--consistency must be one of/],
    [['kv', 'get', 'k', '--bogus'], /Unknown option '--bogus'/],
    [['kv', 'get', 'k', '--url', 'ftp://x'], /--url must be an http/],
    [['kv', 'get', 'k'], /TANDEM_ENDPOINTS must be a URL/, { TANDEM_ENDPOINTS: 'nowhere' }],
    [['status'], /TANDEM_URL must be a URL/, { TANDEM_URL: 'nowhere' }],
    [['kv', 'get', 'k', '--user', 'ops'], /--password \(or TANDEM_PASSWORD\) is needed/],
    [['sql'], /tandem sql: missing the STATEMENT/],
    [['sql', '  '], /missing the STATEMENT/],
    [['shell', 'extra'], /Unexpected argument 'extra'/],
    [['version', 'extra'], /unexpected argument extra/],
  ];
  // Four processes at a time: each is a separate run, and the machine's cores are few.
  for (let first = 0; first < cases.length; first += 4) {
    const batch = cases.slice(first, first + 4);
    const runs = await Promise.all(
      batch.map(([args, , env]) => tandem(args, { env: { TANDEM_URL: deadUrl, ...env } })),
    );
    batch.forEach(([args, message], k) => {
      const run = runs[k] as Run;
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.match(run.stderr, /\(see tandem( [a-z]+)? --help\)\n$/, args.join(' '));
    });
  }
});

test('the endpoints come from --url, else TANDEM_ENDPOINTS, else TANDEM_URL; a dead first one is skipped', async () => {
  // Goal: with several endpoints the first that answers serves the command (admin and data
  // commands alike), the sources rank as documented, and none answering fails with status 1.
  const status = await tandem(['status'], {
    env: { TANDEM_ENDPOINTS: `${deadUrl},${followerUrl}` },
  });
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /^leader n[1-3], term \d+, mode quorum/);
  const put = await tandem(['kv', 'put', 'endpoint-key', 'via-env'], {
    env: { TANDEM_ENDPOINTS: ` ${deadUrl} , ${followerUrl}` },
  });
  assert.equal(put.status, 0, put.stderr);
  const viaUrlVariable = await tandem(['kv', 'get', 'endpoint-key'], {
    env: { TANDEM_URL: `${deadUrl},${followerUrl}` },
  });
  assert.equal(viaUrlVariable.stdout, 'via-env', viaUrlVariable.stderr);
  // --url ranks above TANDEM_ENDPOINTS, which ranks above TANDEM_URL.
  const flagFirst = await tandem(['kv', 'get', 'endpoint-key', '--url', followerUrl], {
    env: { TANDEM_ENDPOINTS: deadUrl },
  });
  assert.equal(flagFirst.status, 0, flagFirst.stderr);
  const endpointsFirst = await tandem(['status'], {
    env: { TANDEM_ENDPOINTS: deadUrl, TANDEM_URL: followerUrl },
  });
  assert.equal(endpointsFirst.status, 1);
  assert.match(
    endpointsFirst.stderr,
    new RegExp(`tandem status: cannot reach ${deadUrl}: ECONNREFUSED`),
  );
  const started = Date.now();
  const noneAnswers = await tandem(['kv', 'get', 'endpoint-key', '--url', deadUrl]);
  assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
  assert.equal(noneAnswers.status, 1);
  assert.match(noneAnswers.stderr, /^tandem kv: TANDEM_UNREACHABLE: /);
});

test('tandem kv put, get, ls and del round-trip through a follower', async () => {
  // Goal: writes sent to a follower reach the leader, reads there see them at once (each
  // command a new process), get prints the exact bytes when piped, ls lists by prefix with
  // glob characters taken literally, and an absent key fails with status 1.
  assert.match(await onFollower('kv', 'put', 'user:1', 'Ada Lovelace'), /^version \d+\.\d+\n$/);
  assert.equal(await onFollower('kv', 'get', 'user:1'), 'Ada Lovelace');
  const onLeader = await call('GET', `${leaderUrl}/v1/kv/user%3A1?consistency=linearizable`);
  assert.equal(onLeader.body.value, 'Ada Lovelace');
  for (const key of ['user:2', 'users', 'a*b', 'abc', 'other']) {
    await onFollower('kv', 'put', key, `value of ${key}`);
  }
  assert.equal(await onFollower('kv', 'ls', '--prefix', 'user:'), 'user:1\nuser:2\n');
  assert.equal(await onFollower('kv', 'ls', '--prefix', 'a*'), 'a*b\n');
  const all = (await onFollower('kv', 'ls')).split('\n').filter((line) => line !== '');
  for (const key of ['a*b', 'abc', 'other', 'user:1', 'user:2', 'users']) {
    assert.ok(all.includes(key), `${key} in ${all.join(' ')}`);
  }
  assert.deepEqual(all, [...all].sort());
  const limited = await tandem([
    'kv',
    'ls',
    '--prefix',
    'user',
    '--limit',
    '2',
    '--url',
    followerUrl,
  ]);
  assert.equal(limited.stdout.split('\n').length - 1, 2, limited.stdout);
  assert.match(limited.stderr, /the first 2 keys found; --limit N lists more/);

  const before = Date.now();
  await onFollower('kv', 'put', 'session', 'token', '--ttl-ms', '60000');
  const expiring = await call('GET', `${leaderUrl}/v1/kv/session?consistency=linearizable`);
  const expiresAt = expiring.body.expiresAt as number;
  assert.ok(expiresAt >= before + 60_000 && expiresAt <= Date.now() + 60_000, String(expiresAt));

  assert.equal(await onFollower('kv', 'del', 'user:1'), 'deleted 1\n');
  assert.equal(await onFollower('kv', 'del', 'user:1'), 'deleted 0\n');
  const absent = await tandem(['kv', 'get', 'user:1', '--url', followerUrl]);
  assert.equal(absent.status, 1);
  assert.equal(absent.stdout, '');
  assert.equal(absent.stderr, 'tandem kv: no key "user:1"\n');
});

test('tandem sql runs writes through the log and prints queries as a table or as JSON', async () => {
  // Goal: a statement that reads is a query (table and row count), any other a write (rows
  // affected and its index); parameters bind as JSON scalars or text; --json is exact to
  // 64 bits; an error answer fails with status 1 and the node's code.
  const created = await onFollower(
    'sql',
    'CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, salary REAL)',
  );
  assert.match(created, /^0 rows affected \(index \d+\)\n$/);
  const insert = 'INSERT INTO emp (name, salary) VALUES (?, ?)';
  assert.match(await onFollower('sql', insert, 'Ada', '100.5'), /^1 row affected \(index \d+\)\n$/);
  const json = JSON.parse(await onFollower('sql', insert, '"Grace"', 'null', '--json')) as Record<
    string,
    unknown
  >;
  assert.equal(json.changes, 1);
  assert.equal(json.lastInsertRowid, 2);
  assert.ok(Number.isSafeInteger(json.index) && (json.index as number) > 0);
  assert.equal(
    await onFollower('sql', 'SELECT * FROM emp ORDER BY id'),
    'id  name   salary\n1   Ada    100.5\n2   Grace  NULL\n(2 rows)\n',
  );
  assert.deepEqual(JSON.parse(await onFollower('sql', 'SELECT * FROM emp ORDER BY id', '--json')), {
    rows: [
      { id: 1, name: 'Ada', salary: 100.5 },
      { id: 2, name: 'Grace', salary: null },
    ],
  });
  const withQuery = 'WITH rich AS (SELECT name FROM emp WHERE salary > ?) SELECT name FROM rich';
  assert.equal(await onFollower('sql', withQuery, '50'), 'name\nAda\n(1 row)\n');
  assert.equal(
    await onFollower('sql', 'SELECT ? AS code, typeof(?) AS kind', '007', '007'),
    'code  kind\n007   text\n(1 row)\n',
  );
  assert.equal(
    await onFollower('sql', 'SELECT ? AS big', '9223372036854775807', '--json'),
    '{"rows":[{"big":9223372036854775807}]}\n',
  );
  assert.equal(await onFollower('sql', 'SELECT name FROM emp WHERE id > 5'), '(0 rows)\n');
  const negative = await tandem(['sql', '--url', followerUrl, 'SELECT ? + 1 AS n', '--', '-5']);
  assert.equal(negative.stdout, 'n\n-4\n(1 row)\n', negative.stderr);
  const failed = await tandem(['sql', 'INSERT INTO nowhere VALUES (1)', '--url', followerUrl]);
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /^tandem sql: TANDEM_BAD_REQUEST: .*no such table: nowhere/);
});

test('tandem shell runs piped SQL and dot commands, goes on after errors and ends at .quit or end of input', async () => {
  // Goal: each line's answer in order on stdout, each error on stderr without ending the
  // shell, exit status 0 at end of input, nothing after .quit run, and no history written
  // for lines that did not come from a terminal.
  const script = [
    'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);',
    "INSERT INTO notes (body) VALUES ('first')",
    '-- a comment line, and a blank one, do nothing',
    '',
    'SELEC broken',
    '.put greeting hello there',
    '.get greeting',
    '.get missing',
    '.frobnicate',
    '.put lonely',
    '.ls gree',
    '.del greeting',
    '.status',
    'SELECT id, body FROM notes',
  ].join('\n');
  const run = await tandem(['shell', '--url', `${deadUrl},${followerUrl}`], {
    input: `${script}\n`,
  });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n');
  assert.match(lines[0] as string, /^0 rows affected \(index \d+\)$/);
  assert.match(lines[1] as string, /^1 row affected \(index \d+\)$/);
  assert.match(lines[2] as string, /^version \d+\.\d+$/);
  assert.deepEqual(lines.slice(3, 6), ['hello there', 'greeting', 'deleted 1']);
  assert.match(lines[6] as string, /^leader n[1-3], term \d+/);
  assert.match(lines[7] as string, /^id +role +term/);
  assert.deepEqual(lines.slice(11), ['id  body', '1   first', '(1 row)', '']);
  assert.deepEqual(run.stderr.split('\n'), [
    'error: TANDEM_BAD_REQUEST: statement 1: near "SELEC": syntax error',
    'error: no key "missing"',
    'error: unknown command .frobnicate (.help lists them)',
    'error: .put needs a KEY and a VALUE',
    '',
  ]);

  const quit = await tandem(['shell', '--url', followerUrl], {
    input: '.help\n.quit\n.put after-quit yes\n',
  });
  assert.equal(quit.status, 0, quit.stderr);
  assert.match(quit.stdout, /^SQL statement +run it/);
  const afterQuit = await tandem(['kv', 'get', 'after-quit', '--url', followerUrl]);
  assert.equal(afterQuit.status, 1, 'a line after .quit must not run');
  assert.throws(() => readFileSync(join(home, '.tandem_history')), { code: 'ENOENT' });
});

test('tandem shell on a terminal prompts, keeps the last 1,000 lines in ~/.tandem_history and leaves at Ctrl-D', async (t) => {
  // Goal: on a terminal (a pseudo-terminal from util-linux's script) the history file
  // gets the lines typed, after the ones it held, cut to its newest 1,000, readable by its
  // owner only; Ctrl-D ends the shell with status 0.
  if (spawnSync('script', ['--version']).status !== 0) return void t.skip('script not in PATH');
  const terminalHome = mkdtempSync(join(tmpdir(), 'tandem-cli-tty-'));
  t.after(() => rmSync(terminalHome, { recursive: true, force: true }));
  const historyFile = join(terminalHome, '.tandem_history');
  const held = Array.from({ length: 1_005 }, (_, i) => `-- held ${i + 1}`);
  writeFileSync(historyFile, `${held.join('\n')}\n`);
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} shell --url ${followerUrl}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: { ...process.env, HOME: terminalHome },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const status = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Each line is typed once the shell prompts for it, in the terminal's raw mode, as a
  // user types; Ctrl-D is then the shell's end of input, not the terminal driver's.
  const prompts = async (count: number): Promise<void> => {
    while ((output.match(/tandem> /g) ?? []).length < count) {
      assert.equal(child.exitCode, null, output);
      await sleep(20);
    }
  };
  for (const [k, keys] of ["SELECT 'typed' AS word\r", '.help\r', '\u0004'].entries()) {
    await prompts(k + 1);
    child.stdin.write(keys);
  }
  const code = await status;
  clearTimeout(timer);
  assert.equal(code, 0, output);
  assert.match(output, /tandem> /);
  assert.match(output, /word\r?\ntyped\r?\n\(1 row\)/);
  const history = readFileSync(historyFile, 'utf8').split('\n');
  assert.equal(history.length, 1_001, 'one line each and a final newline');
  assert.deepEqual(history.slice(-3), ["SELECT 'typed' AS word", '.help', '']);
  assert.equal(history[0], '-- held 8');
  assert.equal(statSync(historyFile).mode & 0o777, 0o600);
});
