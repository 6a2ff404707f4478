/**
 * `npm run example:employees`: starts a local Tandem cluster (`tandem cluster`, HTTP on
 * 9001.. plus EXAMPLE_PORT_OFFSET, data in `.tandem-employees`) and the employees service on PORT (default 8080),
 * then prints curl lines to try. Defaults to the seed's walkthrough: a primary and one
 * replica in `sync` mode (EXAMPLE_NODES=3 EXAMPLE_MODE=quorum for a failover cluster).
 * Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startService } from './main.js';

const tandem = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));
const nodeCount = Number(process.env.EXAMPLE_NODES ?? 2);
const mode = process.env.EXAMPLE_MODE ?? 'sync';
const port = Number(process.env.PORT ?? 8080);
const dir = process.env.EXAMPLE_DIR ?? '.tandem-employees';
/** Added to every port of the cluster (`tandem cluster --base-port-offset`). */
const portOffset = Number(process.env.EXAMPLE_PORT_OFFSET ?? 0);
if (!Number.isSafeInteger(portOffset) || portOffset < 0 || portOffset > 50_000) {
  console.error(`EXAMPLE_PORT_OFFSET must be an integer from 0 to 50000, got ${portOffset}`);
  process.exit(2);
}
const urls = Array.from(
  { length: nodeCount },
  (_, i) => `http://127.0.0.1:${9001 + i + portOffset}`,
);

async function waitForLeader(deadlineMs: number): Promise<string> {
  for (;;) {
    for (const url of urls) {
      const view = await fetch(`${url}/v1/cluster`, { signal: AbortSignal.timeout(1000) })
        .then(async (response) => (await response.json()) as { leaderId: string | null })
        .catch(() => null);
      if (view?.leaderId != null) return view.leaderId;
    }
    if (Date.now() > deadlineMs) throw new Error('the cluster elected no leader in time');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** What `runExample` starts besides the defaults. */
export interface ExampleOptions {
  /** Each node's store (`--stores`), or undefined for SQLite on every node. */
  readonly stores?: readonly string[];
  /** Lines printed after the curl lines. */
  readonly extraLines?: readonly string[];
  /** Called once everything else has stopped. */
  readonly onStop?: () => Promise<void>;
}

/** Starts the cluster and the service, prints what to try, and stops both on Ctrl-C. */
export async function runExample(options: ExampleOptions = {}): Promise<void> {
  const args = [tandem, 'cluster', '--nodes', String(nodeCount), '--mode', mode, '--dir', dir];
  args.push('--base-port-offset', String(portOffset));
  if (options.stores !== undefined) args.push('--stores', options.stores.join(','));
  const cluster = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const stopped = async (code: number): Promise<never> => {
    await options.onStop?.();
    process.exit(code);
  };
  cluster.once('exit', (code) => {
    console.error(`tandem cluster exited (${code}); stopping`);
    void stopped(code ?? 1);
  });
  const leaderId = await waitForLeader(Date.now() + 30_000);
  const service = await startService({ port, nodes: urls });
  const base = `http://127.0.0.1:${port}`;
  console.log(`
employees service on ${base} (cluster: ${nodeCount} nodes, ${mode} mode, leader ${leaderId})
cluster nodes: ${urls.join(' ')}

  curl -s ${base}/employees
  curl -s ${base}/employees/101 -i
  curl -s -X POST ${base}/employees -H 'content-type: application/json' -d '{"id":103,"name":"John","salary":135000}'
  curl -s ${base}/employees/103
  curl -s -X PUT ${base}/employees/103 -H 'content-type: application/json' -H 'If-Match: "1"' -d '{"name":"John","salary":140000}'
  curl -s -X DELETE ${base}/employees/103
  curl -s -X POST ${base}/employees -H 'content-type: application/json' -d '{"id":-1,"name":"","salary":-5}'
  # stop a replica (kill the n2 process: see ${dir}/n2.log), then POST again: 503 in sync mode
  curl -s -X POST ${base}/employees -H 'content-type: application/json' -d '{"id":104,"name":"Ann","salary":99000}'
${(options.extraLines ?? []).join('\n')}`);
  const stop = (): void => {
    void service.close().then(() => {
      cluster.removeAllListeners('exit');
      cluster.once('exit', () => void stopped(0));
      cluster.kill('SIGINT');
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runExample().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
