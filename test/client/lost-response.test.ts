// A write whose answer is lost after the leader applied it: the client library retries it
// with the same session and sequence number and the leader answers from the session's
// memory, so the write is applied once. A TCP proxy in front of the node (the node
// advertises the proxy's URL with --advertise-http) cuts the connection when the answer
// to the first write comes back.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient } from '../../src/client/index.js';
import { freePort, TestCluster } from '../node/cluster.js';

/** A proxy that can drop the answer to the next `POST /v1/sql` it carries. */
class DroppingProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Set to drop the next SQL write's answer (and close that connection). */
  armed = false;
  /** Answers dropped so far. */
  dropped = 0;

  private constructor(port: number, server: Server) {
    this.port = port;
    this.#server = server;
  }

  static async start(targetPort: number): Promise<DroppingProxy> {
    const port = await freePort();
    const server = createServer();
    const proxy = new DroppingProxy(port, server);
    server.on('connection', (client) => proxy.#carry(client, targetPort));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return proxy;
  }

  #carry(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    this.#sockets.add(client).add(upstream);
    let dropping = false;
    client.on('data', (chunk) => {
      if (this.armed && chunk.toString('latin1').startsWith('POST /v1/sql')) {
        this.armed = false;
        dropping = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!dropping) return void client.write(chunk);
      // The leader has applied the write and answered: the answer never arrives.
      this.dropped++;
      client.destroy();
      upstream.destroy();
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

describe('a write whose answer is lost', { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let proxy: DroppingProxy;

  before(async () => {
    // Ports are reserved at create and the flags read at start: the node advertises the
    // proxy, and the proxy forwards to the node.
    let advertised = '';
    cluster = await TestCluster.create({
      nodes: 1,
      extraArgs: () => ['--advertise-http', advertised],
    });
    proxy = await DroppingProxy.start(cluster.node('n1').httpPort);
    advertised = `http://127.0.0.1:${proxy.port}`;
    cluster.startAll();
    await cluster.leader();
  });

  after(async () => {
    await proxy.close();
    await cluster.destroy();
  });

  test('is retried by the client and applied exactly once', async () => {
    // Goal: the client's session and sequence number make a retry after a lost answer
    // harmless: one row, and the retry is answered with the first result.
    const url = `http://127.0.0.1:${proxy.port}`;
    const client = createClient({ nodes: [url], retries: 3, healthCheckIntervalMs: 0 });
    try {
      await client.sql.execute('CREATE TABLE t (v TEXT)');
      proxy.armed = true;
      const result = await client.sql.execute('INSERT INTO t (v) VALUES (?)', ['once']);
      assert.equal(proxy.dropped, 1, 'the first answer was dropped');
      assert.deepEqual(result.results, [{ changes: 1, lastInsertRowid: 1 }]);
      const rows = await client.sql.query('SELECT count(*) AS n FROM t WHERE v = ?', ['once'], {
        consistency: 'linearizable',
      });
      assert.deepEqual(rows, [{ n: 1 }]);
    } finally {
      client.close();
    }
  });
});
