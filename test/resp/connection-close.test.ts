// A client the RESP server refuses (past maxclients) is closed whole, as Redis does, not
// left half open with its bytes piling up. A real one-node node and RESP server in this
// process, real sockets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startRespServer } from '../../src/api/resp/server.js';
import { startNode } from '../../src/node/node.js';
import type { Logger } from '../../src/transport/contract.js';
import { makeCertificates, opensslAvailable, type Credentials } from '../transport/helpers.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

function open(port: number, allowHalfOpen = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A one-node node in a temporary directory, closed with the test. */
async function oneNode(t: import('node:test').TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-close-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const node = await startNode({
    id: 'n1',
    dir,
    clusterId: 'tandem',
    clusterSecret: 'a-test-secret-of-length',
    host: '127.0.0.1',
    peerPort: 0,
    httpPort: 0,
    respPort: null,
    peers: new Map(),
    durability: 'quorum',
    join: false,
    logger: quiet,
  });
  t.after(() => node.close());
  return node;
}

test('a client past maxclients gets the error and a closed connection', async (t) => {
  // Goal: the refused connection does not stay half open while the client keeps sending.
  const node = await oneNode(t);
  const server = await startRespServer(node, {
    host: '127.0.0.1',
    port: 0,
    logger: quiet,
    maxClients: 1,
  });
  t.after(() => server.close());
  assert.ok(server.port !== null);
  const first = await open(server.port);
  t.after(() => first.destroy());
  const refused = await open(server.port, true);
  const outcome = await new Promise<{ reply: string; closed: boolean }>((resolve) => {
    let reply = '';
    let sender: NodeJS.Timeout | null = null;
    const finish = (closed: boolean) => {
      clearTimeout(giveUp);
      if (sender !== null) clearInterval(sender);
      refused.destroy();
      resolve({ reply, closed });
    };
    const giveUp = setTimeout(() => finish(false), 3_000);
    refused.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      sender ??= setInterval(() => refused.write('PING\r\n'), 20);
    });
    refused.on('error', () => finish(true));
    refused.on('close', () => finish(true));
  });
  assert.equal(outcome.reply, '-ERR max number of clients reached\r\n');
  assert.equal(outcome.closed, true, 'the refused connection was left half open');
  first.write('PING\r\n');
  const pong = await new Promise<string>((resolve) => first.once('data', (c) => resolve(`${c}`)));
  assert.equal(pong, '+PONG\r\n');
});

test(
  'close() ends connections of the TLS port still in their handshake, at once',
  { timeout: 10_000 },
  async (t) => {
    // Goal: a client that opened the TLS port and never spoke TLS neither holds the port open
    // past close() (Node would wait out its two-minute handshake timeout) nor stalls a shutdown.
    if (!opensslAvailable()) return void t.skip('openssl not in PATH');
    const pem = makeCertificates('close-ca', ['n1']).get('n1') as Credentials;
    const node = await oneNode(t);
    const server = await startRespServer(node, {
      host: '127.0.0.1',
      port: null,
      tlsPort: 0,
      tls: { cert: pem.cert, key: pem.key },
      logger: quiet,
    });
    const silent = await open(server.tlsPort as number);
    const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.on('error', () => {});
    const started = Date.now();
    await server.close();
    await closed;
    assert.ok(Date.now() - started < 2_000, `close() took ${Date.now() - started} ms`);
  },
);
