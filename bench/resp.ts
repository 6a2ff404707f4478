/**
 * The Redis protocol face against Redis itself (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/resp.js [--scale 1] [--repeats 3] [--warmup 100000] [--only SUBSTRING] [--json]
 *
 * In one run, with redis-benchmark (64-byte values, 100 000 random keys), on:
 *  - volatile: Redis 7, a primary and one replica, without persistence, beside a
 *    three-node Tandem cluster in `async` mode;
 *  - durable: Redis 7, a primary and one replica with `appendonly yes` and `appendfsync
 *    always` (each write durable on each node), beside a three-node Tandem cluster in
 *    `quorum` mode (each write durable on two nodes before it is answered).
 * Tests: SET and GET with 50 connections, SET with one connection, SET and GET with
 * 16-deep pipelining, GET on a follower (Tandem) and on the replica (Redis), and HSET,
 * LPUSH, LPOP, SADD, ZADD and LRANGE_100 with 50 connections. Each test
 * runs long enough to reach a steady state on both systems (`--scale` multiplies the
 * requests). Besides requests per second and latency, each test reports the CPU time
 * per request of the whole system (every Tandem node; Redis's primary and replica),
 * read from /proc before and after. Each figure is the median of `--repeats` runs,
 * Redis and Tandem alternately; the ratio is Tandem's median over Redis's (for CPU,
 * Tandem's over Redis's: lower is better). `--only` keeps the tests whose name holds it.
 * Before the first measurement each system takes `--warmup` SETs with 50 connections, not
 * measured: a Node process runs its hot paths unoptimized at first and spends CPU compiling
 * them (a tenth of a follower's CPU in the first 50,000 writes), so the figures are the
 * steady state of both systems, as a server that has run for a while has it.
 */
import { spawnSync } from 'node:child_process';
import { TestCluster, type TestNode } from '../test/node/cluster.js';
import { cpuMicros, missingPrograms, RedisPair, type Scenario } from './redis.js';
import { median } from './stats.js';

/** One redis-benchmark test. */
interface Test {
  readonly name: string;
  /** redis-benchmark's test (`-t`, lower case) and the name it prints for it in CSV. */
  readonly command: 'SET' | 'GET' | 'HSET' | 'LPUSH' | 'LPOP' | 'SADD' | 'ZADD' | 'LRANGE_100';
  readonly csvName?: string;
  readonly clients: number;
  readonly pipeline: number;
  readonly requests: number;
  /** Run against Tandem's follower and Redis's replica instead of the leader and primary. */
  readonly replica?: boolean;
}

const tests: readonly Test[] = [
  { name: 'SET -c 50', command: 'SET', clients: 50, pipeline: 1, requests: 50_000 },
  { name: 'SET -c 1', command: 'SET', clients: 1, pipeline: 1, requests: 5_000 },
  { name: 'GET -c 50', command: 'GET', clients: 50, pipeline: 1, requests: 200_000 },
  {
    name: 'GET -c 50 replica',
    command: 'GET',
    clients: 50,
    pipeline: 1,
    requests: 200_000,
    replica: true,
  },
  { name: 'SET -c 50 -P 16', command: 'SET', clients: 50, pipeline: 16, requests: 200_000 },
  { name: 'GET -c 50 -P 16', command: 'GET', clients: 50, pipeline: 16, requests: 1_000_000 },
  // The data types, as redis-benchmark drives them: each on one key (`myhash`, `mylist`,
  // `myset`, `myzset`) with random fields or members. LPOP pops what LPUSH pushed.
  // LRANGE_100 reads the first 100 elements of a list that redis-benchmark fills with as
  // many LPUSHes first, in the same run: its CPU per request counts those too.
  { name: 'HSET -c 50', command: 'HSET', clients: 50, pipeline: 1, requests: 50_000 },
  { name: 'LPUSH -c 50', command: 'LPUSH', clients: 50, pipeline: 1, requests: 50_000 },
  { name: 'LPOP -c 50', command: 'LPOP', clients: 50, pipeline: 1, requests: 50_000 },
  { name: 'SADD -c 50', command: 'SADD', clients: 50, pipeline: 1, requests: 50_000 },
  { name: 'ZADD -c 50', command: 'ZADD', clients: 50, pipeline: 1, requests: 50_000 },
  {
    name: 'LRANGE_100 -c 50',
    command: 'LRANGE_100',
    csvName: 'LRANGE_100 (first 100 elements)',
    clients: 50,
    pipeline: 1,
    requests: 50_000,
  },
];

interface Options {
  readonly scale: number;
  readonly repeats: number;
  readonly warmup: number;
  readonly only: string | null;
  readonly json: boolean;
}

/** One redis-benchmark run's figures. */
interface Figure {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of the whole system (every process of it) per request, in microseconds. */
  readonly cpuUsPerRequest: number;
}

const valueBytes = 64;
const keySpace = 100_000;

/**
 * Runs one redis-benchmark test against `port`, measuring the CPU time of `pids`
 * meanwhile; throws when the test gave errors (redis-benchmark prints them and goes on).
 */
function benchmark(port: number, test: Test, scale: number, pids: readonly number[]): Figure {
  const requests = Math.max(1, Math.round(test.requests * scale));
  const args = ['-p', String(port), '-t', test.command.toLowerCase(), '-n', String(requests)];
  args.push('-c', String(test.clients), '-d', String(valueBytes), '-r', String(keySpace));
  args.push('-P', String(test.pipeline), '--csv');
  const cpuBefore = cpuMicros(pids);
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  const cpu = cpuMicros(pids) - cpuBefore;
  const errors = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((line) => /error|ERR/i.test(line) && !line.startsWith('"'));
  if (run.status !== 0 || errors.length > 0) {
    throw new Error(`redis-benchmark on ${port} failed: ${errors.slice(0, 3).join(' / ')}`);
  }
  for (const line of run.stdout.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replace(/"/g, ''));
    const [name, rps, , , p50, , p99] = cells;
    if (name !== (test.csvName ?? test.command)) continue;
    return {
      requestsPerSecond: Number(rps),
      p50Ms: Number(p50),
      p99Ms: Number(p99),
      cpuUsPerRequest: Math.round((cpu / requests) * 10) / 10,
    };
  }
  throw new Error(`redis-benchmark printed no ${test.command} figure`);
}

/** A three-node Tandem cluster: its leader's and a follower's RESP ports, its node PIDs. */
async function startTandem(
  mode: string,
): Promise<{ cluster: TestCluster; port: number; followerPort: number; pids: number[] }> {
  const cluster = await TestCluster.create({ nodes: 3, mode });
  cluster.startAll();
  for (const node of cluster.nodes) await cluster.up(node.id);
  const leader = await cluster.leader();
  const follower = cluster.nodes.find((node) => node.id !== leader) as TestNode;
  return {
    cluster,
    port: cluster.node(leader).respPort,
    followerPort: follower.respPort,
    pids: cluster.nodes.map((node) => node.process?.pid as number),
  };
}

/** Measures one scenario: Redis and Tandem alternately, `repeats` times. */
async function measure(
  options: Options,
  scenario: Scenario,
  chosen: readonly Test[],
): Promise<{ redis: Map<string, Figure[]>; tandem: Map<string, Figure[]> }> {
  const redis = new Map<string, Figure[]>();
  const tandem = new Map<string, Figure[]>();
  const pair = await RedisPair.start(scenario);
  const tandemCluster = await startTandem(scenario === 'durable' ? 'quorum' : 'async');
  const record = (into: Map<string, Figure[]>, test: Test, figure: Figure) => {
    into.set(test.name, [...(into.get(test.name) ?? []), figure]);
  };
  try {
    if (options.warmup > 0) {
      const warmup: Test = { ...tests[0], name: 'warm-up', requests: options.warmup };
      benchmark(pair.port, warmup, 1, pair.pids);
      benchmark(tandemCluster.port, warmup, 1, tandemCluster.pids);
    }
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      // SET first: GET then reads the keys it wrote.
      for (const test of chosen) {
        const redisPort = test.replica === true ? pair.replicaPort : pair.port;
        record(redis, test, benchmark(redisPort, test, options.scale, pair.pids));
        const port = test.replica === true ? tandemCluster.followerPort : tandemCluster.port;
        record(tandem, test, benchmark(port, test, options.scale, tandemCluster.pids));
      }
    }
  } finally {
    await pair.stop();
    await tandemCluster.cluster.destroy();
  }
  return { redis, tandem };
}

function medianFigure(figures: readonly Figure[]): Figure {
  const of = (pick: (figure: Figure) => number): number => median(figures.map(pick));
  return {
    requestsPerSecond: Math.round(of((figure) => figure.requestsPerSecond)),
    p50Ms: of((figure) => figure.p50Ms),
    p99Ms: of((figure) => figure.p99Ms),
    cpuUsPerRequest: of((figure) => figure.cpuUsPerRequest),
  };
}

/** The least ratio of requests per second each test aims at, by scenario and test. */
const targets: Record<string, number> = {
  'volatile SET -c 50': 0.5,
  'volatile SET -c 50 -P 16': 0.5,
  'volatile GET -c 50': 1.0,
  'volatile GET -c 50 replica': 1.0,
  'durable SET -c 50': 0.5,
  'durable SET -c 1': 0.5,
  'durable GET -c 50': 1.0,
  'durable GET -c 50 replica': 1.0,
  'durable HSET -c 50': 0.5,
  'durable LPUSH -c 50': 0.5,
  'durable LPOP -c 50': 0.5,
  'durable SADD -c 50': 0.5,
  'durable ZADD -c 50': 0.5,
  'durable LRANGE_100 -c 50': 0.5,
};

function parseOptions(argv: readonly string[]): Options {
  const usage = 'resp.js [--scale 1] [--repeats 3] [--warmup 100000] [--only SUBSTRING] [--json]';
  let scale = 1;
  let repeats = 3;
  let warmup = 100_000;
  let only: string | null = null;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--json') json = true;
    else if (arg === '--scale' && Number(value) > 0) scale = Number(argv[++i]);
    else if (arg === '--repeats' && Number.isSafeInteger(Number(value)) && Number(value) > 0)
      repeats = Number(argv[++i]);
    else if (arg === '--warmup' && Number.isSafeInteger(Number(value)) && Number(value) >= 0)
      warmup = Number(argv[++i]);
    else if (arg === '--only' && value !== undefined) only = argv[++i] as string;
    else throw new Error(`bad argument ${arg}; usage: ${usage}`);
  }
  return { scale, repeats, warmup, only, json };
}

interface Row {
  readonly key: string;
  readonly redis: Figure;
  readonly tandem: Figure;
  readonly ratio: number;
  readonly cpuRatio: number;
  readonly target: number | null;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const missing = missingPrograms();
  if (missing !== null) {
    console.error(`bench:resp needs Redis to compare against: ${missing}`);
    process.exit(2);
  }
  const rows: Row[] = [];
  for (const scenario of ['volatile', 'durable'] as const) {
    const chosen = tests.filter(
      (test) => options.only === null || `${scenario} ${test.name}`.includes(options.only),
    );
    if (chosen.length === 0) continue;
    const { redis, tandem } = await measure(options, scenario, chosen);
    for (const test of chosen) {
      const redisFigure = medianFigure(redis.get(test.name) ?? []);
      const tandemFigure = medianFigure(tandem.get(test.name) ?? []);
      const key = `${scenario} ${test.name}`;
      rows.push({
        key,
        redis: redisFigure,
        tandem: tandemFigure,
        ratio:
          Math.round((tandemFigure.requestsPerSecond / redisFigure.requestsPerSecond) * 100) / 100,
        cpuRatio:
          Math.round((tandemFigure.cpuUsPerRequest / redisFigure.cpuUsPerRequest) * 10) / 10,
        target: targets[key] ?? null,
      });
    }
  }
  if (options.json) {
    console.log(JSON.stringify({ options, rows }));
    return;
  }
  console.log(
    `redis-benchmark, ${valueBytes}-byte values, ${keySpace} keys, median of ${options.repeats}, after ${options.warmup} SETs of warm-up`,
  );
  console.log('volatile: Redis primary + replica, no persistence | Tandem 3 nodes, async');
  console.log('durable: Redis primary + replica, appendfsync always | Tandem 3 nodes, quorum');
  console.log('CPU: microseconds of CPU per request, all processes of the system\n');
  console.log(
    '| test | Redis req/s | Tandem req/s | ratio | target | Redis p50 ms | Tandem p50 ms | Redis CPU us | Tandem CPU us | CPU ratio |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const target = row.target === null ? '' : `≥ ${row.target.toFixed(1)}x`;
    console.log(
      `| ${row.key} | ${row.redis.requestsPerSecond.toLocaleString('en')} | ${row.tandem.requestsPerSecond.toLocaleString('en')} | ${row.ratio.toFixed(2)}x | ${target} | ${row.redis.p50Ms} | ${row.tandem.p50Ms} | ${row.redis.cpuUsPerRequest} | ${row.tandem.cpuUsPerRequest} | ${row.cpuRatio.toFixed(1)}x |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
