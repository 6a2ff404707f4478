/**
 * `tandem backup` and `tandem restore` with real processes: a backup taken from a
 * follower of a 3-node cluster holds every kind of state (keys, a hash, SQL rows); a
 * damaged, cut or foreign file is refused before anything is written; and a new one-node
 * cluster restored from the backup serves that state and takes writes after it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { call, freePort, sleep, TestCluster } from '../node/cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

function tandem(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
}

let cluster: TestCluster;
let follower: string;
let backupFile: string;

before(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  const leader = await cluster.leader();
  follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
  const url = cluster.url(leader);
  for (let i = 0; i < 300; i++) {
    const put = await call('PUT', `${url}/v1/kv/key-${i}`, { value: `value-${i}` });
    assert.equal(put.status, 200);
  }
  await call('POST', `${url}/v1/command`, {
    args: ['HSET', 'user:1', 'name', 'Ada', 'lang', 'en'],
  });
  await call('POST', `${url}/v1/sql`, {
    sql: 'CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)',
  });
  const last = await call('POST', `${url}/v1/sql`, {
    statements: [{ sql: "INSERT INTO emp VALUES (1, 'John'), (2, 'Grace')" }],
  });
  // The follower has applied everything: its backup is as of the last write.
  const index = last.body.index as number;
  await call('GET', `${cluster.url(follower)}/v1/kv/key-0?after=${index}`);
  backupFile = join(cluster.root, 'cluster.backup');
});

after(async () => {
  await cluster?.destroy();
});

test('tandem backup writes a checked backup of a follower, with its progress', () => {
  const run = tandem('backup', backupFile, '--url', cluster.url(follower));
  assert.equal(run.status, 0, run.stderr);
  assert.match(
    run.stdout,
    new RegExp(
      `^backup of ${follower} at index \\d+ \\(term \\d+\\): \\d+ bytes, checksum [0-9a-f]{8}, written to `,
    ),
  );
  assert.match(run.stderr, /\] 100% \d+\/\d+ bytes/);
  assert.ok(existsSync(backupFile));
  assert.ok(!existsSync(`${backupFile}.partial`));
  const header = JSON.parse(readFileSync(backupFile, 'utf8').split('\n', 1)[0] as string) as {
    format: string;
    membership: { voters: string[] };
  };
  assert.equal(header.format, 'tandem-backup');
  assert.equal(header.membership.voters.length, 3);
});

test('a damaged, cut or foreign backup is refused before anything is written', () => {
  const bytes = readFileSync(backupFile);
  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 10] ^= 0xff;
  const cases: [string, Buffer, RegExp][] = [
    ['damaged', damaged, /is damaged: its image's checksum is [0-9a-f]{8}, its header says/],
    ['cut', bytes.subarray(0, bytes.length - 100), /it is cut or padded/],
    ['foreign', Buffer.from('hello\nworld'), /does not start with a Tandem backup header/],
  ];
  for (const [name, content, message] of cases) {
    const file = join(cluster.root, `${name}.backup`);
    writeFileSync(file, content);
    const dir = join(cluster.root, `restore-${name}`);
    const run = tandem('restore', file, '--dir', dir);
    assert.equal(run.status, 1, `${name}: ${run.stderr}`);
    assert.match(run.stderr, message, name);
    assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, `${name}: nothing written`);
  }
  const busy = join(cluster.root, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'something'), 'x');
  const refused = tandem('restore', backupFile, '--dir', busy);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /is not empty/);
  assert.equal(tandem('restore', backupFile).status, 2, '--dir is required');
});

test('a new cluster restored from the backup serves its state and takes writes', async (t) => {
  const dir = join(cluster.root, 'restored');
  const run = tandem('restore', backupFile, '--dir', dir, '--voters', 'm1');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /restored .* into .*; voters m1/);
  const [peer, httpPort, respPort] = [await freePort(), await freePort(), await freePort()];
  const node = spawn(
    process.execPath,
    [
      cli,
      'start',
      '--id',
      'm1',
      '--dir',
      dir,
      '--peers',
      `m1=127.0.0.1:${peer}`,
      '--http-port',
      String(httpPort),
      '--resp-port',
      String(respPort),
    ],
    {
      env: { ...process.env, TANDEM_CLUSTER_SECRET: 'a-secret-for-the-restored-one' },
      stdio: 'ignore',
    },
  );
  t.after(() => node.kill('SIGKILL'));
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const view = await call('GET', `${url}/v1/cluster`).catch(() => null);
    if (view?.body.role === 'leader') break;
    assert.ok(Date.now() < deadline, 'the restored node leads');
    await sleep(100);
  }
  assert.equal((await call('GET', `${url}/v1/kv/key-299`)).body.value, 'value-299');
  assert.equal((await call('GET', `${url}/v1/kv/key-0`)).body.value, 'value-0');
  const hash = await call('POST', `${url}/v1/command`, {
    args: ['HGETALL', 'user:1'],
    readOnly: true,
  });
  assert.deepEqual(hash.body.reply, { name: 'Ada', lang: 'en' });
  const rows = await call('POST', `${url}/v1/query`, {
    sql: 'SELECT id, name FROM emp ORDER BY id',
  });
  assert.deepEqual(rows.body.rows, [
    { id: 1, name: 'John' },
    { id: 2, name: 'Grace' },
  ]);
  const header = JSON.parse(readFileSync(backupFile, 'utf8').split('\n', 1)[0] as string) as {
    index: number;
  };
  const written = await call('PUT', `${url}/v1/kv/after-restore`, { value: 'new' });
  assert.equal(written.status, 200, JSON.stringify(written.body));
  assert.ok((written.body.index as number) > header.index, 'the log carries on after the backup');
  node.kill('SIGTERM');
});
