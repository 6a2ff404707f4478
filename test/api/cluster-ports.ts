/** Ports for `tandem cluster` processes in tests: an offset whose ports are free now. */
import { createServer } from 'node:net';

/** Whether nothing listens on `port` of 127.0.0.1 now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A `--base-port-offset` below the ephemeral range, different per run, whose ports (peer
 * 7000+i, HTTP 9000+i, RESP 6380+i of `nodes` nodes) are free now: other test files'
 * clusters take random ports of the same range.
 */
export async function portOffset(nodes = 3): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * 900) * 10;
    const ports = Array.from({ length: nodes }, (_, k) => k + 1).flatMap((i) =>
      [7000 + i, 9000 + i, 6380 + i].map((port) => port + offset),
    );
    const free = await Promise.all(ports.map(portFree));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}
