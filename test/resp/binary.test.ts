// Binary keys and values through the real redis-cli, on a cluster that mixes SQLite and
// PostgreSQL nodes: `redis-cli -x SET` of a binary file (forwarded by a follower) reads
// back byte for byte on every node, bytes that are not UTF-8 are never replaced, binary
// keys match KEYS patterns bytewise, and a follower that installs a snapshot of the other
// store kind holds the same bytes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  findPostgresBinaries,
  startPostgres,
  type PostgresServer,
} from '../../src/cli/postgres-server.js';
import { sleep, TestCluster } from '../node/cluster.js';
import { RawClient } from './raw-client.js';

const installed = spawnSync('redis-cli', ['--version']).status === 0;
const binaries = findPostgresBinaries();
const skip = !installed
  ? 'redis-cli not installed: apt-get install redis-tools'
  : 'missing' in binaries
    ? `PostgreSQL binaries not found: ${binaries.missing}`
    : false;

/** A binary file of a few hundred KiB: under the value limit, full of non-UTF-8 bytes. */
const binaryFile = '/bin/ls';

/** Runs redis-cli with `args` and `input` on stdin; resolves with its exit code and raw output. */
function redisCli(
  port: number,
  args: string[],
  input: string | Buffer = '',
): Promise<{ code: number | null; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port), ...args], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(chunks) }));
    // A redis-cli that could not connect exits before reading its input.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/**
 * `GET key` with --raw: the value's bytes (redis-cli adds one newline after a reply), or
 * null when redis-cli failed (a node still starting).
 */
async function getRaw(port: number, key: string): Promise<Buffer | null> {
  const { code, stdout } = await redisCli(port, ['--raw', 'GET', key]);
  if (code !== 0 || stdout.at(-1) !== 0x0a) return null;
  return stdout.subarray(0, -1);
}

/** Waits until `read` on a node gives `expected` (a follower applies a little later). */
async function eventually(read: () => Promise<Buffer | null>, expected: Buffer): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (value?.equals(expected) === true) return;
    assert.ok(
      Date.now() < deadline,
      `read ${value?.length ?? 'no'} bytes, not the ${expected.length} expected`,
    );
    await sleep(100);
  }
}

/** `redis-cli -x SET key` with `value` on stdin, retried while the node is still starting. */
async function setFromStdin(port: number, key: string, value: Buffer): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { stdout } = await redisCli(port, ['-x', 'SET', key], value);
    if (stdout.toString() === 'OK\n') return;
    assert.ok(Date.now() < deadline, `SET ${key} answered ${stdout.toString()}`);
    await sleep(100);
  }
}

describe(
  'binary values through redis-cli on a SQLite and PostgreSQL cluster',
  { skip, timeout: 180_000 },
  () => {
    let cluster: TestCluster;
    let server: PostgresServer;
    let leader: string;
    let follower: string;
    const port = (id: string): number => cluster.node(id).respPort;
    const ids = ['n1', 'n2', 'n3'];

    before(async () => {
      server = await startPostgres({ fsync: false });
      cluster = await TestCluster.create({
        nodes: 3,
        snapshotEvery: 50,
        extraArgs: (id) => (id === 'n2' ? ['--store', server.url] : []),
      });
      cluster.startAll();
      leader = await cluster.leader();
      follower = ids.find((id) => id !== leader) as string;
    });

    after(async () => {
      await cluster?.destroy();
      await server?.destroy();
    });

    test('redis-cli -x SET of a binary file on a follower reads back byte for byte everywhere', async () => {
      // Goal: a forwarded SET keeps every byte; GET and STRLEN agree with the file on every
      // node, whichever store it keeps.
      const file = readFileSync(binaryFile);
      const set = await redisCli(port(follower), ['-x', 'SET', 'file'], file);
      assert.equal(set.stdout.toString(), 'OK\n');
      // Each redis-cli call is a connection of its own, which reads this node's state as it
      // is: the forwarded write shows once the follower has applied it.
      await eventually(() => getRaw(port(follower), 'file'), file);
      const strlen = await redisCli(port(follower), ['STRLEN', 'file']);
      assert.equal(strlen.stdout.toString(), `${file.length}\n`);
      for (const id of ids) await eventually(() => getRaw(port(id), 'file'), file);
    });

    test('INCRBYFLOAT and a 64-bit BITFIELD on a follower: exact replies, the same bytes on every store', async () => {
      // Goal: forwarded writes whose results need long double arithmetic or 64-bit
      // integers answer exactly as Redis does, and every node (SQLite and PostgreSQL)
      // stores the same bytes.
      const client = await RawClient.open(port(follower));
      try {
        const float = await client.call('INCRBYFLOAT', 'float', '10.6');
        assert.deepEqual(float, Buffer.from('10.6'));
        const sum = await client.call('INCRBYFLOAT', 'float', '5.0e3');
        assert.deepEqual(sum, Buffer.from('5010.60000000000000009'));
        const fields = await client.call(
          'BITFIELD',
          'field',
          'SET',
          'i64',
          '0',
          '-9223372036854775807',
          'INCRBY',
          'i64',
          '0',
          '-1',
          'GET',
          'u63',
          '1',
        );
        assert.deepEqual(fields, [0, -9223372036854775808n, 0]);
      } finally {
        client.close();
      }
      const field = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0]);
      for (const id of ids) {
        await eventually(() => getRaw(port(id), 'float'), Buffer.from('5010.60000000000000009'));
        await eventually(() => getRaw(port(id), 'field'), field);
      }
    });

    test("printf 'caf\\xe9' | redis-cli -x SET stores the four bytes, no replacement character", async () => {
      // Goal: a byte that is not UTF-8 on its own (0xE9) is stored as it came.
      const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
      await setFromStdin(port(follower), 'cafe', cafe);
      for (const id of ids) await eventually(() => getRaw(port(id), 'cafe'), cafe);
      const strlen = await redisCli(port(leader), ['STRLEN', 'cafe']);
      assert.equal(strlen.stdout.toString(), '4\n');
    });

    test('binary keys: SET, GET and KEYS with \\x escapes match bytewise', async () => {
      // Goal: a key of bytes that are not UTF-8 is stored, found by a byte pattern, and
      // listed with its exact bytes.
      const script = [
        'SET "\\xff\\x00key" "\\xe9"',
        'GET "\\xff\\x00key"',
        'KEYS "\\xff*"',
        'KEYS "?\\x00key"',
        'EXISTS "\\xff\\x00key" "\\xfe\\x00key"',
      ].join('\n');
      const { code, stdout } = await redisCli(port(follower), ['--raw'], script);
      assert.equal(code, 0);
      const expected = Buffer.concat([
        Buffer.from('OK\n'),
        Buffer.from([0xe9, 0x0a]),
        Buffer.from([0xff, 0x00, 0x6b, 0x65, 0x79, 0x0a]),
        Buffer.from([0xff, 0x00, 0x6b, 0x65, 0x79, 0x0a]),
        Buffer.from('1\n'),
      ]);
      assert.deepEqual(stdout, expected);
    });

    test('a follower of the other store kind that installs a snapshot holds the same bytes', async () => {
      // Goal: binary values survive a snapshot converted between SQLite and PostgreSQL.
      const other = leader === 'n2' ? 'n1' : 'n2';
      await cluster.kill(other);
      const file = readFileSync(binaryFile);
      const values = Array.from({ length: 300 }, (_, i) =>
        Buffer.from([i, 0xff, 0xe9, 0x00, 0x80, i ^ 0xaa]),
      );
      for (const [i, value] of values.entries()) {
        await setFromStdin(port(leader), `snap:${i}`, value);
      }
      const view = await cluster.status(leader);
      assert.ok(view.snapshotIndex > 0, 'the leader compacted its log');
      cluster.start(other);
      await cluster.up(other);
      await eventually(() => getRaw(port(other), 'snap:299'), values[299] as Buffer);
      assert.deepEqual(await getRaw(port(other), 'snap:7'), values[7]);
      assert.deepEqual(await getRaw(port(other), 'file'), file);
      assert.deepEqual(await getRaw(port(other), 'cafe'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      assert.match(cluster.node(other).output.join(''), /installed a snapshot from the leader/);
    });
  },
);
