/**
 * Runs the employees service: `PORT` (default 8080) and `TANDEM_NODES`, comma-separated
 * HTTP URLs of the cluster (default the local cluster's `http://127.0.0.1:9001..9003`).
 * `HEALTH_CHECK_MS` sets the replica health check period (default 20 000). On a cluster with
 * users, `TANDEM_USER` and `TANDEM_PASSWORD` (or `TANDEM_TOKEN`) name the service's user, which
 * needs the write role (and admin once, to create the table; see `ensureSchema`).
 */
import { pathToFileURL } from 'node:url';
import { createClient, type ClientAuth, type TandemClient } from '../../src/client/index.js';
import { buildServer, ensureSchema } from './server.js';

/** The service, started: close it to stop. */
export interface RunningService {
  readonly url: string;
  readonly client: TandemClient;
  close(): Promise<void>;
}

/** Starts the service on `port` in front of the cluster at `nodes`. */
export async function startService(options: {
  readonly port: number;
  readonly nodes: readonly string[];
  readonly healthCheckIntervalMs?: number;
  /** The service's credentials on a cluster with users (none for an open cluster). */
  readonly auth?: ClientAuth;
  readonly log?: (line: string) => void;
}): Promise<RunningService> {
  const log = options.log ?? ((line: string) => console.log(line));
  const client = createClient({
    nodes: options.nodes,
    readFrom: 'followers',
    consistency: 'ryw',
    timeoutMs: 5_000,
    // About 3 s of backoff: past an election, short enough for a caller waiting on a 503.
    retries: 5,
    healthCheckIntervalMs: options.healthCheckIntervalMs ?? 20_000,
    ...(options.auth === undefined ? {} : { auth: options.auth }),
  });
  client.on('replicaDown', (id, url) => log(`health check: replica ${id} (${url}) is DOWN`));
  client.on('replicaUp', (id, url) => log(`health check: replica ${id} (${url}) is back UP`));
  client.on('leaderChanged', (id) => log(`leader is now ${id}`));
  try {
    await ensureSchema(client);
  } catch (error) {
    client.close();
    throw error;
  }
  const app = buildServer(client);
  const address = await app.listen({ port: options.port, host: '127.0.0.1' });
  return {
    url: address,
    client,
    close: async () => {
      client.close();
      await app.close();
    },
  };
}

/** The service's credentials from `TANDEM_TOKEN`, or `TANDEM_USER` and `TANDEM_PASSWORD`. */
export function authFromEnv(env: NodeJS.ProcessEnv): { auth?: ClientAuth } {
  if (env.TANDEM_TOKEN) return { auth: { token: env.TANDEM_TOKEN } };
  if (env.TANDEM_USER)
    return { auth: { user: env.TANDEM_USER, password: env.TANDEM_PASSWORD ?? '' } };
  return {};
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const nodes = (
    process.env.TANDEM_NODES ?? 'http://127.0.0.1:9001,http://127.0.0.1:9002,http://127.0.0.1:9003'
  )
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  const healthCheckIntervalMs = Number(process.env.HEALTH_CHECK_MS ?? 20_000);
  const auth = authFromEnv(process.env);
  const service = await startService({ port, nodes, healthCheckIntervalMs, ...auth });
  console.log(`employees service on ${service.url}`);
  const stop = (): void => void service.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
