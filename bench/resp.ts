/**
 * The Redis protocol face against Redis itself (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/resp.js [--set-requests 20000] [--get-requests 200000]
 *     [--pipelined-set-requests 200000] [--pipelined-get-requests 1000000] [--repeats 3] [--json]
 *
 * In one run, with redis-benchmark (50 clients, 64-byte values, 100 000 random keys),
 * without and with 16-deep pipelining, SET and GET on:
 *  - Redis 7, a primary and one replica, without persistence, beside a three-node Tandem
 *    cluster in `async` mode (target: at least 0.5x);
 *  - Redis 7, a primary and one replica with `appendonly yes` and `appendfsync always`
 *    (each write durable on one node), beside a three-node Tandem cluster in `quorum` mode
 *    (each write durable on two nodes) (target for SET: at least 1.0x).
 * Each test runs long enough to reach a steady state on both systems (GET is much faster
 * than a durable SET, so it gets more requests). Tandem is measured on its leader. Each figure is the median of `--repeats` runs; the
 * ratio is Tandem's median over Redis's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep, TestCluster } from '../test/node/cluster.js';
import { median, parseCountOptions } from './stats.js';

interface Options {
  /** Requests of each test, by test and pipeline depth. */
  readonly requests: Readonly<
    Record<`${(typeof tests)[number]} -P ${(typeof pipelines)[number]}`, number>
  >;
  readonly repeats: number;
  readonly json: boolean;
}

/** One redis-benchmark test's figures. */
interface Figure {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

type Scenario = 'volatile' | 'durable';
const tests = ['SET', 'GET'] as const;
const pipelines = [1, 16] as const;
const clients = 50;
const valueBytes = 64;
const keySpace = 100_000;

/** Says which of the needed programs are missing, or null when all are there. */
function missingPrograms(): string | null {
  const missing = ['redis-server', 'redis-cli', 'redis-benchmark'].filter(
    (program) => spawnSync('which', [program]).status !== 0,
  );
  return missing.length === 0
    ? null
    : `${missing.join(', ')} not found: install the Debian packages redis-server and redis-tools`;
}

/**
 * Runs redis-benchmark for SET and GET against `port`; throws when a test gave errors
 * (redis-benchmark prints them and goes on).
 */
function benchmark(
  port: number,
  pipeline: number,
  test: (typeof tests)[number],
  requests: number,
): Map<string, Figure> {
  const args = ['-p', String(port), '-t', test.toLowerCase(), '-n', String(requests)];
  args.push('-c', String(clients), '-d', String(valueBytes), '-r', String(keySpace));
  args.push('-P', String(pipeline), '--csv');
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  const errors = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((line) => /error|ERR/i.test(line) && !line.startsWith('"'));
  if (run.status !== 0 || errors.length > 0) {
    throw new Error(`redis-benchmark on ${port} failed: ${errors.slice(0, 3).join(' / ')}`);
  }
  const figures = new Map<string, Figure>();
  for (const line of run.stdout.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replace(/"/g, ''));
    const [test, rps, , , p50, , p99] = cells;
    if (test === undefined || !tests.includes(test as (typeof tests)[number])) continue;
    figures.set(test, { requestsPerSecond: Number(rps), p50Ms: Number(p50), p99Ms: Number(p99) });
  }
  if (!figures.has(test)) throw new Error(`redis-benchmark printed no ${test} figure`);
  return figures;
}

/** A Redis primary and one replica in a directory of their own. */
class RedisPair {
  readonly port: number;
  readonly #processes: ChildProcess[] = [];
  readonly #dir: string;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.#dir = dir;
  }

  static async start(scenario: Scenario): Promise<RedisPair> {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-redis-'));
    const pair = new RedisPair(await freePort(), dir);
    const replicaPort = await freePort();
    const persistence =
      scenario === 'durable'
        ? ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
        : ['--save', '', '--appendonly', 'no'];
    pair.#spawn(['--port', String(pair.port), '--dir', dir, ...persistence]);
    const replicaDir = join(dir, 'replica');
    spawnSync('mkdir', ['-p', replicaDir]);
    pair.#spawn([
      '--port',
      String(replicaPort),
      '--dir',
      replicaDir,
      '--replicaof',
      '127.0.0.1',
      String(pair.port),
      ...persistence,
    ]);
    for (let attempt = 0; ; attempt++) {
      const info = spawnSync('redis-cli', ['-p', String(replicaPort), 'info', 'replication'], {
        encoding: 'utf8',
      });
      if (info.stdout.includes('master_link_status:up')) break;
      if (attempt === 100) throw new Error('the Redis replica did not connect in 20 s');
      await sleep(200);
    }
    return pair;
  }

  #spawn(args: string[]): void {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', ...args], { stdio: 'ignore' });
    this.#processes.push(child);
  }

  async stop(): Promise<void> {
    for (const child of this.#processes) child.kill('SIGKILL');
    await sleep(200);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** A three-node Tandem cluster; measured on its leader's RESP port. */
async function startTandem(mode: string): Promise<{ cluster: TestCluster; port: number }> {
  const cluster = await TestCluster.create({ nodes: 3, mode });
  cluster.startAll();
  for (const node of cluster.nodes) await cluster.up(node.id);
  const leader = await cluster.leader();
  return { cluster, port: cluster.node(leader).respPort };
}

/** The key of one figure: `volatile SET -P 1`. */
const figureKey = (scenario: Scenario, test: string, pipeline: number): string =>
  `${scenario} ${test} -P ${pipeline}`;

/** Measures one scenario: Redis and Tandem alternately, `repeats` times. */
async function measure(
  options: Options,
  scenario: Scenario,
): Promise<{ redis: Map<string, Figure[]>; tandem: Map<string, Figure[]> }> {
  const redis = new Map<string, Figure[]>();
  const tandem = new Map<string, Figure[]>();
  const pair = await RedisPair.start(scenario);
  const { cluster, port } = await startTandem(scenario === 'durable' ? 'quorum' : 'async');
  const record = (into: Map<string, Figure[]>, figures: Map<string, Figure>, pipeline: number) => {
    for (const [test, figure] of figures) {
      const key = figureKey(scenario, test, pipeline);
      into.set(key, [...(into.get(key) ?? []), figure]);
    }
  };
  try {
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      for (const pipeline of pipelines) {
        // SET first: GET then reads the keys it wrote.
        for (const test of tests) {
          const requests = options.requests[`${test} -P ${pipeline}`];
          record(redis, benchmark(pair.port, pipeline, test, requests), pipeline);
          record(tandem, benchmark(port, pipeline, test, requests), pipeline);
        }
      }
    }
  } finally {
    await pair.stop();
    await cluster.destroy();
  }
  return { redis, tandem };
}

function medianFigure(figures: readonly Figure[]): Figure {
  return {
    requestsPerSecond: Math.round(median(figures.map((figure) => figure.requestsPerSecond))),
    p50Ms: median(figures.map((figure) => figure.p50Ms)),
    p99Ms: median(figures.map((figure) => figure.p99Ms)),
  };
}

const targets: Record<string, number> = {
  'volatile SET -P 1': 0.5,
  'volatile GET -P 1': 0.5,
  'volatile SET -P 16': 0.5,
  'volatile GET -P 16': 0.5,
  'durable SET -P 1': 1.0,
  'durable SET -P 16': 1.0,
};

async function main(): Promise<void> {
  const counts = parseCountOptions(
    process.argv.slice(2),
    {
      'set-requests': 20_000,
      'get-requests': 200_000,
      'pipelined-set-requests': 200_000,
      'pipelined-get-requests': 1_000_000,
      repeats: 3,
    },
    'resp.js [--set-requests 20000] [--get-requests 200000] [--pipelined-set-requests 200000] [--pipelined-get-requests 1000000] [--repeats 3] [--json]',
  );
  const options: Options = {
    requests: {
      'SET -P 1': counts['set-requests'],
      'GET -P 1': counts['get-requests'],
      'SET -P 16': counts['pipelined-set-requests'],
      'GET -P 16': counts['pipelined-get-requests'],
    },
    repeats: counts.repeats,
    json: counts.json,
  };
  const missing = missingPrograms();
  if (missing !== null) {
    console.error(`bench:resp needs Redis to compare against: ${missing}`);
    process.exit(2);
  }
  const rows: {
    key: string;
    redis: Figure;
    tandem: Figure;
    ratio: number;
    target: number | null;
  }[] = [];
  for (const scenario of ['volatile', 'durable'] as const) {
    const { redis, tandem } = await measure(options, scenario);
    for (const [key, figures] of redis) {
      const redisFigure = medianFigure(figures);
      const tandemFigure = medianFigure(tandem.get(key) ?? []);
      rows.push({
        key,
        redis: redisFigure,
        tandem: tandemFigure,
        ratio:
          Math.round((tandemFigure.requestsPerSecond / redisFigure.requestsPerSecond) * 100) / 100,
        target: targets[key] ?? null,
      });
    }
  }
  if (options.json) {
    console.log(JSON.stringify({ options, rows }));
    return;
  }
  console.log(
    `redis-benchmark, ${clients} clients, ${valueBytes}-byte values, ${keySpace} keys, median of ${options.repeats}`,
  );
  console.log('volatile: Redis primary + replica, no persistence | Tandem 3 nodes, async');
  console.log('durable: Redis primary + replica, appendfsync always | Tandem 3 nodes, quorum\n');
  console.log(
    '| test | Redis req/s | Tandem req/s | ratio | target | Redis p50 ms | Tandem p50 ms |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const target = row.target === null ? '' : `≥ ${row.target.toFixed(1)}x`;
    console.log(
      `| ${row.key} | ${row.redis.requestsPerSecond.toLocaleString('en')} | ${row.tandem.requestsPerSecond.toLocaleString('en')} | ${row.ratio.toFixed(2)}x | ${target} | ${row.redis.p50Ms} | ${row.tandem.p50Ms} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
