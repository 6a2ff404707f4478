// Protected mode: with no users configured, the client ports serve loopback clients only.
// The address rule is tested as a pure function; the refusal itself on real sockets of a
// real one-node node's HTTP and RESP servers (plain and TLS), started with an address rule
// that counts loopback as remote, since every client a test can open is on loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { AccessControl } from '../../src/access/control.js';
import { requirePassUser } from '../../src/access/users-file.js';
import { buildHttpServer } from '../../src/api/http/server.js';
import {
  isLoopback,
  protectedModeCode,
  protectedModeMessage,
  type ProtectedModeOptions,
} from '../../src/api/protected-mode.js';
import { startRespServer } from '../../src/api/resp/server.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import type { Logger } from '../../src/transport/contract.js';
import { tlsCall } from '../node/cluster.js';
import { makeCertificates, opensslAvailable, type Credentials } from '../transport/helpers.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };
/** Counts every address as another machine's: what a remote client would meet. */
const nothingIsLocal = { isLocalAddress: () => false } as const;

test('isLoopback: 127.0.0.0/8, ::1 and IPv4-mapped 127.x are loopback; nothing else is', () => {
  // Goal: the one address rule of protected mode, in every spelling a socket may report.
  for (const address of [
    '127.0.0.1',
    '127.255.255.254',
    '127.1.2.3',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '::FFFF:127.10.0.1',
    '0:0:0:0:0:ffff:127.0.0.2',
  ]) {
    assert.equal(isLoopback(address), true, address);
  }
  for (const address of [
    '128.0.0.1',
    '126.255.255.255',
    '10.0.0.1',
    '192.168.1.127',
    '0.0.0.0',
    '::',
    '::2',
    'fe80::1',
    '::ffff:10.0.0.1',
    '::ffff:128.0.0.1',
    'localhost',
    '127.0.0.1.evil',
    '',
  ]) {
    assert.equal(isLoopback(address), false, address);
  }
});

/** Sends `request` on a fresh connection; resolves with all it got back and whether it closed. */
function exchange(
  open: () => import('node:net').Socket,
  request: string,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = open();
    let text = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 3_000);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('error', reject);
    socket.once('close', () => {
      clearTimeout(giveUp);
      resolve({ text, closed: true });
    });
    socket.write(request);
  });
}

describe('protected mode on the client ports', { timeout: 30_000 }, () => {
  let dir: string;
  let node: RunningNode;
  let credentials: Credentials | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tandem-protected-'));
    if (opensslAvailable()) credentials = makeCertificates('protected-ca', ['n1']).get('n1');
    node = await startNode({
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
  });

  after(async () => {
    await node?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An HTTP server of `node` on a free port; its base URL. */
  async function http(options: ProtectedModeOptions & { tls?: boolean }): Promise<string> {
    const tls = options.tls === true && credentials !== undefined ? credentials : undefined;
    const app = buildHttpServer(node, {
      logger: false,
      ...options,
      tls: tls === undefined ? undefined : { cert: tls.cert, key: tls.key },
    });
    after(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    return `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${address.port}`;
  }

  test('HTTP: a remote client gets 403 TANDEM_PROTECTED_MODE saying how to configure users', async () => {
    // Goal: the refusal comes before any route, names every way out, and keeps serving.
    const url = await http(nothingIsLocal);
    for (const path of ['/v1/kv/k', '/healthz', '/no/such/route']) {
      const response = await fetch(`${url}${path}`);
      assert.equal(response.status, 403, path);
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, protectedModeCode);
      assert.equal(body.message, protectedModeMessage);
    }
    const put = await fetch(`${url}/v1/kv/k`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'v' }),
    });
    assert.equal(put.status, 403);
    assert.match(protectedModeMessage, /--users FILE/);
    assert.match(protectedModeMessage, /--requirepass PASSWORD/);
    assert.match(protectedModeMessage, /--insecure-open/);
  });

  test('HTTP: loopback, --insecure-open and configured users are served', async () => {
    // Goal: protected mode refuses only a remote client of a node without users.
    for (const options of [
      {},
      { ...nothingIsLocal, insecureOpen: true },
      { ...nothingIsLocal, usersConfigured: () => true },
    ]) {
      const response = await fetch(`${await http(options)}/healthz`);
      assert.equal(response.status, 200, JSON.stringify(options));
    }
  });

  test('HTTPS: a remote client is refused with the same answer', async (t) => {
    // Goal: the check holds behind TLS termination too.
    if (credentials === undefined) return void t.skip('openssl not in PATH');
    const url = await http({ ...nothingIsLocal, tls: true });
    const answer = await tlsCall('GET', `${url}/healthz`, { ca: credentials.ca });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, protectedModeCode);
  });

  test('RESP: a remote client gets -DENIED with the text, then the connection closes', async (t) => {
    // Goal: as Redis's protected mode: one error line, then closed, on the plain port and
    // on the TLS port; nothing the client sent is run.
    const tls = credentials;
    const server = await startRespServer(node, {
      host: '127.0.0.1',
      port: 0,
      tlsPort: tls === undefined ? null : 0,
      tls: tls === undefined ? undefined : { cert: tls.cert, key: tls.key },
      logger: quiet,
      ...nothingIsLocal,
    });
    t.after(() => server.close());
    const denied = `-DENIED ${protectedModeMessage}\r\n`;
    const plain = await exchange(
      () => connect({ host: '127.0.0.1', port: server.port as number }),
      'SET k refused\r\n',
    );
    assert.deepEqual(plain, { text: denied, closed: true });
    if (tls !== undefined) {
      const secure = await exchange(
        () => connectTls({ host: '127.0.0.1', port: server.tlsPort as number, ca: tls.ca }),
        'PING\r\n',
      );
      assert.deepEqual(secure, { text: denied, closed: true });
    }
    assert.equal(
      (await node.read({ consistency: 'stale' }, (store) => store.get(Buffer.from('k'), 0))).value,
      null,
    );
  });

  test('RESP: --requirepass lifts protected mode by default, and so do configured users', async (t) => {
    // Goal: the RESP server's default rule is "users are configured" (here the default
    // user's --requirepass password); a predicate overrides it.
    const access = new AccessControl({
      state: () => node.accessState(),
      bootstrap: [await requirePassUser('secret-password')],
    });
    const withPassword = await startRespServer(node, {
      host: '127.0.0.1',
      port: 0,
      logger: quiet,
      access,
      ...nothingIsLocal,
    });
    t.after(() => withPassword.close());
    const port = withPassword.port as number;
    const answer = await exchange(() => connect({ host: '127.0.0.1', port }), 'PING\r\nQUIT\r\n');
    assert.match(answer.text, /^-NOAUTH /);
    const withUsers = await startRespServer(node, {
      host: '127.0.0.1',
      port: 0,
      logger: quiet,
      usersConfigured: () => true,
      ...nothingIsLocal,
    });
    t.after(() => withUsers.close());
    const served = await exchange(
      () => connect({ host: '127.0.0.1', port: withUsers.port as number }),
      'PING\r\nQUIT\r\n',
    );
    assert.equal(served.text, '+PONG\r\n+OK\r\n');
  });
});
