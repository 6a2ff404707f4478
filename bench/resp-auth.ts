/**
 * What RESP users and ACLs cost (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/resp-auth.js [--repeats 4]
 *
 * One three-node Tandem cluster (`quorum`) whose users are a password-free `default` with
 * every role and a `writer` (role write, keys `key:*`, a scrypt password). redis-benchmark
 * (50 connections, 64-byte values, 100 000 random keys) runs SET and GET on the leader, and
 * SET (forwarded to the leader as its user) and GET on a follower, each once as `default`
 * (no AUTH) and once with `--user writer -a` (redis-benchmark's form), each first in every
 * other repeat, `--repeats` times; each figure is the median, of requests per second and
 * of the cluster's CPU time (all three nodes) per request, which other load on the machine
 * disturbs less. Both runs check every
 * command; the writer's also checks its keys against `key:*` and, on a follower, is
 * authenticated again on the leader per write.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster, type TestNode } from '../test/node/cluster.js';
import { cpuMicros } from './redis.js';
import { median } from './stats.js';

interface Case {
  readonly name: string;
  readonly command: 'set' | 'get';
  readonly follower: boolean;
  readonly requests: number;
}

const cases: readonly Case[] = [
  { name: 'SET leader', command: 'set', follower: false, requests: 50_000 },
  { name: 'GET leader', command: 'get', follower: false, requests: 200_000 },
  { name: 'SET follower', command: 'set', follower: true, requests: 50_000 },
  { name: 'GET follower', command: 'get', follower: true, requests: 200_000 },
];

const login = ['--user', 'writer', '-a', 'writer-password'];

/** One run's requests per second, and the cluster's CPU time per request (µs). */
interface Figure {
  readonly requestsPerSecond: number;
  readonly cpuUsPerRequest: number;
}

/** One redis-benchmark run; throws on any error it printed. */
function measure(
  port: number,
  test: Case,
  extra: readonly string[],
  pids: readonly number[],
): Figure {
  const args = ['-p', String(port), '-t', test.command, '-n', String(test.requests)];
  // redis-benchmark's keys are key:<random>: inside the writer's pattern.
  args.push('-c', '50', '-d', '64', '-r', '100000', '--csv', ...extra);
  const cpuBefore = cpuMicros(pids);
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  const cpu = cpuMicros(pids) - cpuBefore;
  const errors = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((line) => /error|ERR|NOPERM/i.test(line) && !line.startsWith('"'));
  if (run.status !== 0 || errors.length > 0) {
    throw new Error(`redis-benchmark failed: ${errors.slice(0, 3).join(' / ')}`);
  }
  for (const line of run.stdout.split('\n')) {
    const [name, rps] = line.split(',').map((cell) => cell.replace(/"/g, ''));
    if (name === test.command.toUpperCase()) {
      return { requestsPerSecond: Number(rps), cpuUsPerRequest: cpu / test.requests };
    }
  }
  throw new Error(`redis-benchmark printed no ${test.command} figure:\n${run.stdout}`);
}

/** Runs `run` again (once) after a failover: a lost leader is the machine's load, not auth. */
async function retriedOnFailover(run: () => Promise<Figure>): Promise<Figure> {
  try {
    return await run();
  } catch (error) {
    if (!/TRYAGAIN|TANDEM_LEADERSHIP_LOST/.test(String(error))) throw error;
    process.stderr.write(`a failover during the run; once more: ${String(error)}\n`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    return run();
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--repeats');
  const repeats = at === -1 ? 4 : Number(process.argv[at + 1]);
  let usersFile = '';
  const cluster = await TestCluster.create({ nodes: 3, extraArgs: () => ['--users', usersFile] });
  usersFile = join(cluster.root, 'users.json');
  writeFileSync(
    usersFile,
    JSON.stringify({
      users: [
        { name: 'default', nopass: true, roles: ['admin'] },
        { name: 'writer', password: 'writer-password', roles: ['write'], keys: ['key:*'] },
      ],
    }),
  );
  const figures = new Map<string, Figure[]>();
  try {
    cluster.startAll();
    const pids = cluster.nodes.map((node) => node.process?.pid as number);
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const test of cases) {
        // Asked each time: on this shared machine a loaded leader may lose its lease.
        const port = async (): Promise<number> => {
          const leader = await cluster.leader();
          const follower = cluster.nodes.find((node) => node.id !== leader) as TestNode;
          return test.follower ? follower.respPort : cluster.node(leader).respPort;
        };
        const runs = [
          ['default', []],
          ['--user -a', login],
        ] as const;
        // Each goes first in every other repeat: a SET run that comes second overwrites
        // keys the first one made, and a GET run reads a warmer store.
        for (const [label, extra] of repeat % 2 === 0 ? runs : [...runs].reverse()) {
          const key = `${test.name} ${label}`;
          const figure = await retriedOnFailover(async () =>
            measure(await port(), test, extra, pids),
          );
          process.stderr.write(`${key}: ${JSON.stringify(figure)}\n`);
          figures.set(key, [...(figures.get(key) ?? []), figure]);
        }
      }
    }
  } finally {
    await cluster.destroy();
  }
  console.log(
    '| test | requests/s default | requests/s --user -a | ratio | CPU µs/request default | CPU µs/request --user -a |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  const of = (key: string, pick: (figure: Figure) => number): number =>
    median((figures.get(key) ?? []).map(pick));
  for (const test of cases) {
    const [open, authed] = [`${test.name} default`, `${test.name} --user -a`];
    const rps = [of(open, (f) => f.requestsPerSecond), of(authed, (f) => f.requestsPerSecond)];
    const cpu = [of(open, (f) => f.cpuUsPerRequest), of(authed, (f) => f.cpuUsPerRequest)];
    console.log(
      `| ${test.name} | ${Math.round(rps[0])} | ${Math.round(rps[1])} | ${(rps[1] / rps[0]).toFixed(2)} | ${cpu[0].toFixed(1)} | ${cpu[1].toFixed(1)} |`,
    );
  }
}

await main();
