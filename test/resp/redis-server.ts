/** A throwaway redis-server for the differential tests: a free port, nothing saved. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, sleep } from '../node/cluster.js';

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
