/**
 * The employees service under load (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/employees.js [--seconds 5] [--connections 50] [--repeats 3] [--json]
 *
 * One three-node cluster (`tandem start` processes, quorum) and the example service in a
 * process of its own. In the same run, each figure beside its reference:
 *  1. the service, through autocannon: `GET /employees/:id` and `POST /employees` (a fresh
 *     id per request), against the raw node calls the service makes for them
 *     (`POST /v1/query` on a follower, `POST /v1/sql` on the leader), so that the ratio is
 *     the service's own cost (Fastify, validation, the client);
 *  2. the client library against raw `http.request` calls on a keep-alive agent (and the
 *     global `fetch`, for comparison), in this process, with as many concurrent loops as
 *     connections: the client's own overhead;
 *  3. the client's `kv.set` (PUT /v1/kv on the leader) with as many concurrent loops as
 *     connections, against redis-benchmark's SET with as many connections on the same
 *     cluster's RESP port (skipped when redis-benchmark is missing): the HTTP face's cost
 *     beside the Redis face's for the same writes.
 * Each figure is the median over `--repeats` runs; ratios are of medians.
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createClient, type TandemClient } from '../src/client/index.js';
import { freePort, sleep, TestCluster } from '../test/node/cluster.js';
import { median, parseCountOptions } from './stats.js';

interface Options {
  readonly seconds: number;
  readonly connections: number;
  readonly repeats: number;
  readonly json: boolean;
}

/** One load run's figures. */
interface Load {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const serviceMain = fileURLToPath(new URL('../examples/employees/main.js', import.meta.url));
const readSql = 'SELECT id, name, salary, version FROM emp WHERE id = ?';
const insertSql = 'INSERT INTO emp (id, name, salary) VALUES (?, ?, ?)';

function medianLoad(loads: readonly Load[]): Load {
  return {
    requestsPerSecond: Math.round(median(loads.map((load) => load.requestsPerSecond))),
    p50Ms: median(loads.map((load) => load.p50Ms)),
    p99Ms: median(loads.map((load) => load.p99Ms)),
    errors: loads.reduce((sum, load) => sum + load.errors, 0),
  };
}

/** Fresh employee ids: each request of every run gets its own. */
let nextId = 1_000_000;

/** Runs autocannon against one request shape; `body` makes each request's body. */
async function cannon(
  options: Options,
  url: string,
  method: 'GET' | 'POST',
  body?: () => string,
): Promise<Load> {
  const result = await autocannon({
    url,
    method,
    connections: options.connections,
    duration: options.seconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      body === undefined
        ? { method }
        : { method, setupRequest: (request) => ({ ...request, body: body() }) },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
  };
}

/** Runs `call` in `options.connections` concurrent loops for the run's seconds. */
async function loops(options: Options, call: () => Promise<unknown>): Promise<Load> {
  const latenciesMs: number[] = [];
  let errors = 0;
  const started = performance.now();
  const endAt = started + options.seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const begun = performance.now();
      try {
        await call();
        latenciesMs.push(performance.now() - begun);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  const seconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  const at = (q: number): number =>
    latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))] ?? 0;
  return {
    requestsPerSecond: Math.round(latenciesMs.length / seconds),
    p50Ms: Math.round(at(0.5) * 100) / 100,
    p99Ms: Math.round(at(0.99) * 100) / 100,
    errors,
  };
}

/** Keep-alive sockets for the raw calls, as many as the loops. */
const rawAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * A raw HTTP call that must answer 200, the way a careful hand-written caller would make
 * it: `http.request` on a keep-alive agent, the whole answer read and parsed.
 */
function rawPost(url: string, body: unknown): Promise<unknown> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent: rawAgent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          if (response.statusCode !== 200)
            reject(new Error(`${url} answered ${response.statusCode}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        });
      },
    );
    request.on('error', reject);
    request.end(text);
  });
}

/** The same call through the global `fetch`, for comparison. */
async function fetchPost(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer: unknown = await response.json();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return answer;
}

async function startService(
  nodes: readonly string[],
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [serviceMain], {
    env: { ...process.env, PORT: String(port), TANDEM_NODES: nodes.join(',') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the service did not start in 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('employees service on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the service exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

const employeeBody = (): string => JSON.stringify({ id: nextId++, name: 'Bench', salary: 100_000 });

/** redis-benchmark's SET on `port` with `connections` connections; null without redis-benchmark. */
function respSet(port: number, connections: number): Load | null {
  const args = ['-p', String(port), '-t', 'set', '-n', '20000', '-c', String(connections)];
  args.push('-d', '64', '-r', '100000', '--csv');
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 120_000 });
  if (run.error !== undefined || run.status !== 0) return null;
  const line = run.stdout.split('\n').find((each) => each.startsWith('"SET"'));
  if (line === undefined) return null;
  const cells = line.split(',').map((cell) => Number(cell.replace(/"/g, '')));
  return {
    requestsPerSecond: cells[1] as number,
    p50Ms: cells[4] as number,
    p99Ms: cells[6] as number,
    errors: 0,
  };
}

let nextKey = 0;
const kvValue = 'v'.repeat(64);

async function measure(
  options: Options,
  service: string,
  leader: string,
  follower: string,
  client: TandemClient,
  leaderRespPort: number,
): Promise<Record<string, Load>> {
  const resp = respSet(leaderRespPort, options.connections);
  const queryBody = JSON.stringify({ sql: readSql, params: [101], consistency: 'stale' });
  const insertBody = (): string =>
    JSON.stringify({ sql: insertSql, params: [nextId++, 'Bench', 100_000] });
  return {
    serviceGet: await cannon(options, `${service}/employees/101`, 'GET'),
    rawQuery: await cannon(options, `${follower}/v1/query`, 'POST', () => queryBody),
    servicePost: await cannon(options, `${service}/employees`, 'POST', employeeBody),
    rawSql: await cannon(options, `${leader}/v1/sql`, 'POST', insertBody),
    clientQuery: await loops(options, () =>
      client.sql.query(readSql, [101], { consistency: 'stale' }),
    ),
    rawHttpQuery: await loops(options, () =>
      rawPost(`${follower}/v1/query`, { sql: readSql, params: [101], consistency: 'stale' }),
    ),
    fetchQuery: await loops(options, () =>
      fetchPost(`${follower}/v1/query`, { sql: readSql, params: [101], consistency: 'stale' }),
    ),
    clientExecute: await loops(options, () =>
      client.sql.execute(insertSql, [nextId++, 'Bench', 100_000]),
    ),
    rawHttpExecute: await loops(options, () =>
      rawPost(`${leader}/v1/sql`, { sql: insertSql, params: [nextId++, 'Bench', 100_000] }),
    ),
    clientKvSet: await loops(options, () => client.kv.set(`key:${nextKey++ % 100_000}`, kvValue)),
    ...(resp === null ? {} : { respSet: resp }),
  };
}

function report(options: Options, figures: Record<string, Load>): void {
  const row = (name: string, key: string, reference: string): string => {
    const load = figures[key] as Load;
    const base = figures[reference] as Load;
    const ratio =
      key === reference ? '' : `${(load.requestsPerSecond / base.requestsPerSecond).toFixed(2)}x`;
    return `| ${name} | ${load.requestsPerSecond.toLocaleString('en')} | ${load.p50Ms} | ${load.p99Ms} | ${load.errors} | ${ratio} |`;
  };
  console.log(
    `employees service, 3 nodes (quorum), ${options.connections} connections, ${options.seconds} s runs, median of ${options.repeats}\n`,
  );
  console.log('| load | req/s | p50 ms | p99 ms | errors | ratio to its raw reference |');
  console.log('|---|---|---|---|---|---|');
  console.log(row('service GET /employees/:id', 'serviceGet', 'rawQuery'));
  console.log(row('raw POST /v1/query (follower)', 'rawQuery', 'rawQuery'));
  console.log(row('service POST /employees', 'servicePost', 'rawSql'));
  console.log(row('raw POST /v1/sql (leader)', 'rawSql', 'rawSql'));
  console.log(row('client sql.query', 'clientQuery', 'rawHttpQuery'));
  console.log(row('raw http.request /v1/query', 'rawHttpQuery', 'rawHttpQuery'));
  console.log(row('(global fetch /v1/query)', 'fetchQuery', 'rawHttpQuery'));
  console.log(row('client sql.execute', 'clientExecute', 'rawHttpExecute'));
  console.log(row('raw http.request /v1/sql', 'rawHttpExecute', 'rawHttpExecute'));
  if (figures.respSet !== undefined) {
    console.log(row('client kv.set (PUT /v1/kv)', 'clientKvSet', 'respSet'));
    console.log(row('redis-benchmark SET (RESP)', 'respSet', 'respSet'));
  } else {
    console.log(row('client kv.set (PUT /v1/kv)', 'clientKvSet', 'clientKvSet'));
  }
}

async function main(): Promise<void> {
  const options = parseCountOptions(
    process.argv.slice(2),
    { seconds: 5, connections: 50, repeats: 3 },
    'employees.js [--seconds 5] [--connections 50] [--repeats 3] [--json]',
  );
  const cluster = await TestCluster.create({ nodes: 3, mode: 'quorum' });
  let service: { url: string; child: ChildProcess } | null = null;
  let client: TandemClient | null = null;
  try {
    cluster.startAll();
    for (const node of cluster.nodes) await cluster.up(node.id);
    const leaderId = await cluster.leader();
    const followerId = cluster.nodes.find((node) => node.id !== leaderId)?.id as string;
    const urls = cluster.nodes.map((node) => cluster.url(node.id));
    service = await startService(urls);
    client = createClient({ nodes: urls, readFrom: 'followers', timeoutMs: 10_000 });
    await sleep(500);
    const runs: Record<string, Load>[] = [];
    for (let i = 0; i < options.repeats; i++) {
      runs.push(
        await measure(
          options,
          service.url,
          cluster.url(leaderId),
          cluster.url(followerId),
          client,
          cluster.node(leaderId).respPort,
        ),
      );
    }
    const figures = Object.fromEntries(
      Object.keys(runs[0] as Record<string, Load>).map((key) => [
        key,
        medianLoad(runs.map((run) => run[key] as Load)),
      ]),
    );
    if (options.json) console.log(JSON.stringify({ options, figures }));
    else report(options, figures);
  } finally {
    rawAgent.destroy();
    client?.close();
    service?.child.kill('SIGTERM');
    await cluster.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
