// The real redis-cli and redis-benchmark against a three-node cluster: a scripted
// session, `redis-cli --pipe` mass insertion of 100,000 keys read back from a follower,
// and redis-benchmark's common tests with no errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { sleep, TestCluster } from '../node/cluster.js';

const installed = spawnSync('redis-cli', ['--version']).status === 0;
const skipMessage = 'redis-cli not installed: apt-get install redis-tools';

/** Runs a tool with `input` on stdin; resolves with its exit code and output. */
function run(
  command: string,
  args: string[],
  input: string | Buffer = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    // A tool that exits before reading all its input (say, a dropped connection) makes
    // the rest unwritable: its exit code and stderr tell why, so keep them, not the EPIPE.
    child.stdin.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error);
      stderr += `[stdin: ${error.code}] `;
    });
    child.stdin.end(input);
  });
}

/** The RESP of `SET key:i value:i` for i in [0, count). */
function massInsertion(count: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `key:${i}`;
    const value = `value:${i}`;
    parts.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`);
  }
  return Buffer.from(parts.join(''));
}

describe('redis-cli and redis-benchmark against a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let leader: string;
  let follower: string;
  const port = (id: string) => String(cluster.node(id).respPort);

  before(async () => {
    if (!installed) return;
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    leader = await cluster.leader();
    follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
  });

  after(async () => {
    await cluster?.destroy();
  });

  /** The socket writes of replies a node has made (INFO's total_writes_processed). */
  const socketWrites = async (id: string): Promise<number> => {
    const info = (await run('redis-cli', ['-p', port(id), 'INFO', 'stats'])).stdout;
    const found = /total_writes_processed:(\d+)/.exec(info);
    assert.ok(found !== null, info);
    return Number(found[1]);
  };

  test('a scripted redis-cli session on a follower', async (t) => {
    // Goal: redis-cli works unchanged, its writes forwarded and read back on the same node.
    if (!installed) return t.skip(skipMessage);
    const script = [
      'PING',
      'SET greeting hello',
      'GET greeting',
      'INCR visits',
      'INCRBY visits 41',
      'SET temp x EX 100',
      'TTL temp',
      'DEL temp',
      'EXISTS greeting temp',
      'FOO bar',
      'ROLE',
    ].join('\n');
    const { code, stdout } = await run('redis-cli', ['-p', port(follower)], script);
    assert.equal(code, 0);
    const lines = stdout.split('\n').filter((line) => line !== '');
    assert.deepEqual(lines.slice(0, 9), ['PONG', 'OK', 'hello', '1', '42', 'OK', '100', '1', '1']);
    assert.equal(lines[9], "ERR unknown command 'FOO', with args beginning with: 'bar' ");
    assert.equal(lines[10], 'slave');
    // RESP3: HELLO 3 answers a map (redis-cli prints it as key value lines when piped).
    const resp3 = await run('redis-cli', ['-3', '-p', port(follower)], 'HELLO 3\nGET nothing\n');
    assert.match(resp3.stdout, /^server redis\nversion 7\.2\.0\nproto 3\n/);
  });

  test('redis-cli: SET KEEPTTL and EXPIRE GT, XX and NX on a follower, as Redis 7', async (t) => {
    // Goal: the expiry options answer as Redis 7 does through redis-cli, errors included.
    if (!installed) return t.skip(skipMessage);
    const script = [
      'SET cli:ttl v EX 100',
      'SET cli:ttl v2 KEEPTTL',
      'TTL cli:ttl',
      'EXPIRE cli:ttl 50 GT',
      'EXPIRE cli:ttl 200 GT',
      'TTL cli:ttl',
      'PERSIST cli:ttl',
      'EXPIRE cli:ttl 10 XX',
      'EXPIRE cli:ttl 10 NX',
      'TTL cli:ttl',
      'EXPIRE cli:ttl 10 NX XX',
      'EXPIRE cli:ttl 10 GT LT',
      'SET cli:ttl v3 EX 10 KEEPTTL',
      'GET cli:ttl',
    ].join('\n');
    const { code, stdout } = await run('redis-cli', ['-p', port(follower)], script);
    assert.equal(code, 0);
    assert.deepEqual(
      stdout.split('\n').filter((line) => line !== ''),
      [
        'OK',
        'OK',
        '100',
        '0',
        '1',
        '200',
        '1',
        '0',
        '1',
        '10',
        'ERR NX and XX, GT or LT options at the same time are not compatible',
        'ERR GT and LT options at the same time are not compatible',
        'ERR syntax error',
        'v2',
      ],
    );
  });

  test('redis-cli --pipe inserts 100,000 keys, read back from a follower', async (t) => {
    // Goal: mass insertion works and every key reaches the followers.
    if (!installed) return t.skip(skipMessage);
    const count = 100_000;
    // The leader now, not the one of the start: the cluster may have elected another since.
    leader = await cluster.leader();
    follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
    const writesBefore = await socketWrites(leader);
    const piped = await run('redis-cli', ['-p', port(leader), '--pipe'], massInsertion(count));
    assert.equal(piped.code, 0, `${piped.stderr}\n${piped.stdout.slice(-2000)}\n${cluster.logs()}`);
    assert.match(piped.stdout, new RegExp(`errors: 0, replies: ${count}`));
    // Past the first writes in flight, each commit frees many of them at once: their
    // replies leave together, not with one socket write each.
    const writes = (await socketWrites(leader)) - writesBefore;
    assert.ok(writes < count / 20, `${writes} socket writes for ${count} replies`);
    const deadline = Date.now() + 20_000;
    let size = '';
    while (Date.now() < deadline) {
      size = (await run('redis-cli', ['-p', port(follower), 'DBSIZE'])).stdout.trim();
      if (Number(size) >= count) break;
      await sleep(200);
    }
    assert.ok(Number(size) >= count, `DBSIZE ${size}`);
    for (const i of [0, 12_345, count - 1]) {
      const got = await run('redis-cli', ['-p', port(follower), 'GET', `key:${i}`]);
      assert.equal(got.stdout.trim(), `value:${i}`);
    }
  });

  test('redis-benchmark -t ping,set,get,incr,mset -n 20000 -q completes with no errors', async (t) => {
    // Goal: the standard benchmark runs to the end against a Tandem node.
    if (!installed) return t.skip(skipMessage);
    const result = await run('redis-benchmark', [
      '-p',
      port(leader),
      '-t',
      'ping,set,get,incr,mset',
      '-n',
      '20000',
      '-q',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const output = (result.stdout + result.stderr).replace(/\r/g, '\n');
    assert.doesNotMatch(output, /error|ERR/i);
    for (const name of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET']) {
      assert.match(output, new RegExp(`${name}.*: [\\d.]+ requests per second`));
    }
  });
});
