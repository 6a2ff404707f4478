/**
 * `npm run bench:links`: two linked clusters, in one run. Two three-node `quorum` clusters
 * of real `tandem start` processes (`--cluster-id east` and `west`):
 * - SET throughput on east's leader (redis-benchmark, 64-byte values) before the link and
 *   once linked (west pulling all of it), medians of `--repeats` runs;
 * - the copy of the keys east took before the link: from linking to both clusters seeded
 *   and west holding as many keys;
 * - link lag: from a SET's acknowledgement on east to its value being read on west's
 *   leader, idle and while the linked throughput run loads east (median and p99);
 * - conflicts: with both links removed, east writes keys 0-999 and west 500-1499; linked
 *   again, the conflicts recorded (the 500 overlapping keys, each a lost write).
 *
 *   npm run bench:links [-- --repeats 3 --requests 20000 --clients 50 --json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { call, TestCluster } from '../test/node/cluster.js';
import { median, parseCountOptions } from './stats.js';

const usage = 'npm run bench:links [-- --repeats N --requests N --clients N --json]';

function benchmarkArgs(port: number, requests: number, clients: number): string[] {
  return [
    '-p',
    String(port),
    '-t',
    'set',
    '-n',
    String(requests),
    '-c',
    String(clients),
    '-d',
    '64',
    '-r',
    '100000',
    '--csv',
  ];
}

function setRate(stdout: string): number {
  for (const line of stdout.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replace(/"/g, ''));
    if (cells[0] === 'SET') return Number(cells[1]);
  }
  throw new Error(`redis-benchmark printed no SET figure: ${stdout}`);
}

function setLoad(port: number, requests: number, clients: number): number {
  const run = spawnSync('redis-benchmark', benchmarkArgs(port, requests, clients), {
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (run.status !== 0) throw new Error(`redis-benchmark failed: ${run.stderr}`);
  return setRate(run.stdout);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function client(cluster: TestCluster, id: string): Promise<Redis> {
  const redis = new Redis({
    host: '127.0.0.1',
    port: cluster.node(id).respPort,
    lazyConnect: true,
  });
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

/** Lag samples (ms): one SET on `from`, then `to` polled until it reads the value. */
async function lagSamples(
  from: Redis,
  to: Redis,
  count: number,
  until?: () => boolean,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count && (until === undefined || !until()); i++) {
    const value = `v${i}-${Date.now()}`;
    // An election on a loaded machine answers TRYAGAIN: the probe retries as a client would.
    for (let attempt = 0; ; attempt++) {
      try {
        await from.set('lag:probe', value);
        break;
      } catch (error) {
        if (attempt > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const acked = performance.now();
    for (;;) {
      if ((await to.get('lag:probe').catch(() => null)) === value) break;
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (performance.now() - acked > 30_000)
        throw new Error('a write never reached the other cluster');
    }
    samples.push(performance.now() - acked);
  }
  return samples;
}

async function main(): Promise<void> {
  const options = parseCountOptions(
    process.argv.slice(2),
    { repeats: 3, requests: 20_000, clients: 50 },
    usage,
  );
  const json = options.json;
  const make = async (name: string) => {
    const cluster = await TestCluster.create({
      nodes: 3,
      secret: `bench-links-secret-${name}`,
      extraArgs: () => ['--cluster-id', name],
    });
    cluster.startAll();
    return cluster;
  };
  const east = await make('east');
  const west = await make('west');
  try {
    const [eastLeader, westLeader] = await Promise.all([east.leader(30_000), west.leader(30_000)]);
    const eastPort = east.node(eastLeader).respPort;
    const unlinked: number[] = [];
    for (let i = 0; i < options.repeats; i++)
      unlinked.push(setLoad(eastPort, options.requests, options.clients));

    for (const [from, to] of [
      [east, west],
      [west, east],
    ] as const) {
      const answer = await call('POST', `${from.url(eastLeader)}/v1/links`, { url: to.url('n1') });
      if (answer.status !== 201) throw new Error(`link failed: ${JSON.stringify(answer.body)}`);
    }
    const [a, b] = await Promise.all([client(east, eastLeader), client(west, westLeader)]);
    // The keys east took alone are copied to west once linked: wait for it, and time it.
    const seedStarted = performance.now();
    const keysBefore = await a.dbsize();
    for (;;) {
      const seeded = await Promise.all(
        [east, west].map(
          async (side) => (await call('GET', `${side.url('n1')}/v1/links`)).body['seeded'],
        ),
      );
      if (seeded.every((one) => one === true) && (await b.dbsize()) >= keysBefore) break;
      if (performance.now() - seedStarted > 300_000) throw new Error('the seeding never ended');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seedMs = performance.now() - seedStarted;
    const idleLag = await lagSamples(a, b, 200);

    const linked: number[] = [];
    const loadedLag: number[] = [];
    // A run that redis-benchmark ended on an error reply (a write whose leader lost its
    // leadership: six nodes and the load share two cores) is reported and run again.
    const failedRuns: string[] = [];
    for (let i = 0; i < options.repeats && failedRuns.length <= 2 * options.repeats; i++) {
      const load = spawn(
        'redis-benchmark',
        benchmarkArgs(eastPort, options.requests, options.clients),
      );
      let out = '';
      let done = false;
      load.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      load.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const ended = new Promise<void>((resolve) =>
        load.once('exit', () => ((done = true), resolve())),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      loadedLag.push(...(await lagSamples(a, b, 100_000, () => done)));
      await ended;
      const failure = /^Error from server: .*$/m.exec(out);
      if (failure !== null) {
        failedRuns.push(failure[0]);
        i -= 1;
        continue;
      }
      linked.push(setRate(out));
    }

    // Conflicts: both links removed, writes on overlapping keys, linked again.
    for (const [side, other] of [
      [east, 'west'],
      [west, 'east'],
    ] as const) {
      await call('DELETE', `${side.url('n1')}/v1/links/${other}`);
    }
    const before = Number(
      (await call('GET', `${east.url('n1')}/v1/conflicts?limit=0`)).body['total'],
    );
    const pipeEast = a.pipeline();
    for (let k = 0; k < 1000; k++) pipeEast.set(`overlap:${k}`, `east-${k}`);
    await pipeEast.exec();
    const pipeWest = b.pipeline();
    for (let k = 500; k < 1500; k++) pipeWest.set(`overlap:${k}`, `west-${k}`);
    await pipeWest.exec();
    for (const [from, to] of [
      [east, west],
      [west, east],
    ] as const) {
      await call('POST', `${from.url('n1')}/v1/links`, { url: to.url('n1') });
    }
    const deadline = Date.now() + 60_000;
    let conflicts = 0;
    for (;;) {
      const [eastTotal, westTotal] = await Promise.all(
        [east, west].map(async (side) =>
          Number((await call('GET', `${side.url('n1')}/v1/conflicts?limit=0`)).body['total']),
        ),
      );
      conflicts = Math.max(eastTotal, westTotal) - before;
      const [x, y] = await Promise.all([a.dbsize(), b.dbsize()]);
      if (x === y && conflicts >= 500) break;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    a.disconnect();
    b.disconnect();

    const figures = {
      setUnlinked: median(unlinked),
      setLinked: median(linked),
      ratio: median(linked) / median(unlinked),
      idleLagP50Ms: percentile(idleLag, 50),
      idleLagP99Ms: percentile(idleLag, 99),
      keysSeeded: keysBefore,
      seedMs,
      failedRuns,
      loadedLagP50Ms: percentile(loadedLag, 50),
      loadedLagP99Ms: percentile(loadedLag, 99),
      loadedLagSamples: loadedLag.length,
      overlappingKeys: 500,
      conflictsRecorded: conflicts,
    };
    if (json) return void console.log(JSON.stringify(figures));
    const f = (n: number) => n.toFixed(1);
    console.log(`| figure | value |\n|---|---|`);
    console.log(`| SET -c ${options.clients}, east alone | ${Math.round(figures.setUnlinked)}/s |`);
    console.log(
      `| SET -c ${options.clients}, east linked to west | ${Math.round(figures.setLinked)}/s (${figures.ratio.toFixed(2)}x) |`,
    );
    console.log(
      `| copying the ${keysBefore} keys east held before the link to west | ${(seedMs / 1000).toFixed(1)} s (${Math.round(keysBefore / (seedMs / 1000))} keys/s) |`,
    );
    console.log(
      `| link lag, idle (p50 / p99) | ${f(figures.idleLagP50Ms)} / ${f(figures.idleLagP99Ms)} ms |`,
    );
    console.log(
      `| link lag, under that load (p50 / p99, ${loadedLag.length} probes) | ${f(figures.loadedLagP50Ms)} / ${f(figures.loadedLagP99Ms)} ms |`,
    );
    console.log(`| conflicts for 500 keys written on both sides | ${conflicts} |`);
    for (const failed of failedRuns)
      console.log(`a linked run ended early and was run again: ${failed}`);
  } finally {
    await east.destroy();
    await west.destroy();
  }
}

await main();
