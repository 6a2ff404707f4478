/** A throwaway redis-server for the differential tests: a free port, nothing saved. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { after, before } from 'node:test';
import { startPostgres, type PostgresServer } from '../../src/cli/postgres-server.js';
import { freePort, sleep, TestCluster } from '../node/cluster.js';

/** Whether something accepts TCP connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a redis-server on a free port with nothing saved; resolves once it listens. */
export async function startRedis(): Promise<{ server: ChildProcess; port: number }> {
  const port = await freePort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await listening(port)) return { server, port };
    await sleep(50);
  }
  server.kill('SIGKILL');
  throw new Error('redis-server did not start');
}

/** Whether redis-server is installed here, and the skip message of a test that needs it. */
export const redisInstalled = spawnSync('redis-server', ['--version']).status === 0;
export const redisSkip = redisInstalled
  ? false
  : 'redis-server not installed: apt-get install redis-server';

/** The RESP ports of the two servers a differential suite compares. */
export interface Pair {
  /** redis-server's port. */
  readonly redis: number;
  /** The Tandem node's RESP port. */
  readonly tandem: number;
}

/**
 * Registers, in the calling suite, a redis-server and a one-node Tandem cluster started
 * before its tests and stopped after them (neither when redis-server is not installed);
 * the returned function gives their ports once started. The node keeps its keys in its
 * embedded store, or in a PostgreSQL server of its own when TANDEM_DIFFERENTIAL_STORE is
 * `postgres` (`npm run soak:redis -- --store postgres`), or when `storeKind` says so.
 */
export function redisBesideTandem(
  tandemArgs: readonly string[] = [],
  storeKind?: 'sqlite' | 'postgres',
): () => Pair {
  let cluster: TestCluster | undefined;
  let redis: { server: ChildProcess; port: number } | undefined;
  let postgres: PostgresServer | undefined;
  before(async () => {
    if (!redisInstalled) return;
    redis = await startRedis();
    const store = storeKind ?? process.env.TANDEM_DIFFERENTIAL_STORE ?? 'sqlite';
    if (store !== 'sqlite' && store !== 'postgres') {
      throw new Error(`TANDEM_DIFFERENTIAL_STORE is sqlite or postgres, not ${store}`);
    }
    if (store === 'postgres') postgres = await startPostgres({ fsync: false });
    const storeArgs = postgres === undefined ? [] : ['--store', postgres.url];
    cluster = await TestCluster.create({
      nodes: 1,
      extraArgs: () => [...tandemArgs, ...storeArgs],
    });
    cluster.startAll();
    await cluster.leader();
  });
  after(async () => {
    redis?.server.kill('SIGKILL');
    await cluster?.destroy();
    await postgres?.destroy();
  });
  return () => {
    if (redis === undefined || cluster === undefined) throw new Error('the servers are not up');
    return { redis: redis.port, tandem: cluster.node('n1').respPort };
  };
}
