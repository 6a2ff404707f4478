// A node with --requirepass holds unauthenticated clients to Redis's small request
// limits, over a real socket: big requests before AUTH close that connection with
// Redis's error, while AUTH followed by a big request in the same write works.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from '../node/cluster.js';

function multibulk(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

/** Writes `input` in one go and collects the answer until the server closes or `idleMs`. */
function exchange(port: number, input: string, idleMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let timer = setTimeout(() => socket.destroy(), idleMs);
    socket.on('data', (chunk) => {
      text += chunk.toString();
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), idleMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(input);
  });
}

describe('request limits before AUTH', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let port: number;

  before(async () => {
    cluster = await TestCluster.create({
      nodes: 1,
      extraArgs: () => ['--requirepass', 'sesame'],
      // The password guards the HTTP API too: the user default needs it there.
      statusHeaders: { authorization: `Basic ${btoa('default:sesame')}` },
    });
    cluster.startAll();
    await cluster.leader();
    port = cluster.node('n1').respPort;
  });

  after(async () => {
    await cluster.destroy();
  });

  test('a big bulk or a long multibulk before AUTH closes that connection only', async () => {
    // Goal: a stranger cannot make the node buffer large requests.
    const bulk = await exchange(port, multibulk('SET', 'k', 'v'.repeat(20_000)));
    assert.equal(bulk, '-ERR Protocol error: unauthenticated bulk length\r\n');
    const long = await exchange(port, multibulk(...Array.from({ length: 12 }, () => 'x')));
    assert.equal(long, '-ERR Protocol error: unauthenticated multibulk length\r\n');
    const small = await exchange(port, multibulk('GET', 'k'), 300);
    assert.equal(small, '-NOAUTH Authentication required.\r\n');
  });

  test('AUTH then a big request in the same write is served', async () => {
    // Goal: limits lift as soon as AUTH succeeds, even for bytes already received.
    const value = 'v'.repeat(100_000);
    const answer = await exchange(
      port,
      multibulk('AUTH', 'sesame') + multibulk('SET', 'big', value) + multibulk('STRLEN', 'big'),
      500,
    );
    assert.equal(answer, '+OK\r\n+OK\r\n:100000\r\n');
  });
});
