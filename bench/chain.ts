/**
 * `npm run bench:chain`: star beside chain, in one run. Two five-node `quorum` clusters of
 * real `tandem start` processes (one `--topology star`, one `--topology chain`) take the
 * same SET load from redis-benchmark on the leader's RESP port, with 64-byte and 64 KiB
 * values, one cluster at a time. For each: writes per second, p50 and p99 latency, and the
 * bytes the leader sent to its peers per write (`tandem_peer_bytes_sent_total`, summed
 * over peers: every frame, heartbeats included). Medians of `--repeats` runs.
 *
 *   npm run bench:chain [-- --repeats 3 --requests 20000 --clients 50 --json]
 *
 * On one machine every link is loopback: the chain saves the leader's outgoing bytes,
 * which is what matters across a wide-area link, but the relays' own copying costs the
 * same cores the leader runs on, so the throughput here is no guide to a real network.
 */
import { spawnSync } from 'node:child_process';
import { TestCluster } from '../test/node/cluster.js';
import { median, parseCountOptions } from './stats.js';

const usage = 'npm run bench:chain [-- --repeats N --requests N --clients N --json]';

interface Figure {
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly leaderBytesPerWrite: number;
}

/** Bytes the leader has sent to all its peers, from its metrics. */
async function leaderBytesSent(cluster: TestCluster, leader: string): Promise<number> {
  const text = await (await fetch(`${cluster.url(leader)}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^tandem_peer_bytes_sent_total\{[^}]*\} (\d+)/.exec(line);
    if (match !== null) total += Number(match[1]);
  }
  return total;
}

/** Waits until the chain's leader has every other member in its chain. */
async function wholeChain(cluster: TestCluster, leader: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = (await cluster.status(leader)) as unknown as { chain: string[] };
    if (status.chain.length === cluster.nodes.length - 1) return;
    if (Date.now() > deadline) throw new Error(`no whole chain: ${status.chain.join(' > ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function setLoad(port: number, requests: number, clients: number, valueBytes: number) {
  const args = ['-p', String(port), '-t', 'set', '-n', String(requests), '-c', String(clients)];
  args.push('-d', String(valueBytes), '-r', '100000', '--csv');
  const run = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 900_000 });
  if (run.status !== 0) throw new Error(`redis-benchmark failed: ${run.stderr}`);
  for (const line of run.stdout.split('\n')) {
    const cells = line.split(',').map((cell) => cell.replace(/"/g, ''));
    const [name, rps, , , p50, , p99] = cells;
    if (name === 'SET') return { rps: Number(rps), p50: Number(p50), p99: Number(p99) };
  }
  throw new Error(`redis-benchmark printed no SET figure: ${run.stdout}`);
}

async function measure(
  topology: 'star' | 'chain',
  valueBytes: number,
  requests: number,
  clients: number,
): Promise<Figure> {
  const cluster = await TestCluster.create({
    nodes: 5,
    mode: 'quorum',
    extraArgs: () => ['--topology', topology],
  });
  try {
    cluster.startAll();
    for (const node of cluster.nodes) await cluster.up(node.id);
    const leader = await cluster.leader();
    if (topology === 'chain') await wholeChain(cluster, leader);
    const port = cluster.node(leader).respPort;
    // A short warm-up, not measured: the nodes compile their hot paths.
    setLoad(port, Math.min(5_000, requests), clients, valueBytes);
    const before = await leaderBytesSent(cluster, leader);
    const load = setLoad(port, requests, clients, valueBytes);
    const after = await leaderBytesSent(cluster, leader);
    return {
      writesPerSecond: load.rps,
      p50Ms: load.p50,
      p99Ms: load.p99,
      leaderBytesPerWrite: Math.round((after - before) / requests),
    };
  } finally {
    await cluster.destroy();
  }
}

async function main(): Promise<void> {
  const options = parseCountOptions(
    process.argv.slice(2),
    { repeats: 3, requests: 20_000, clients: 50 },
    usage,
  );
  if (spawnSync('redis-benchmark', ['--version']).status !== 0) {
    throw new Error('redis-benchmark is needed (Debian: apt-get install redis-tools)');
  }
  const rows: Record<string, unknown>[] = [];
  for (const valueBytes of [64, 64 * 1024]) {
    // Large values: fewer requests, so that one run stays within a minute or two.
    const requests = valueBytes > 1024 ? Math.ceil(options.requests / 10) : options.requests;
    const figures = { star: [] as Figure[], chain: [] as Figure[] };
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      for (const topology of ['star', 'chain'] as const) {
        figures[topology].push(await measure(topology, valueBytes, requests, options.clients));
      }
    }
    for (const topology of ['star', 'chain'] as const) {
      const list = figures[topology];
      const pick = (key: keyof Figure): number => median(list.map((figure) => figure[key]));
      rows.push({
        value: valueBytes === 64 ? '64 B' : '64 KiB',
        topology,
        writesPerSecond: Math.round(pick('writesPerSecond')),
        p50Ms: pick('p50Ms'),
        p99Ms: pick('p99Ms'),
        leaderBytesPerWrite: pick('leaderBytesPerWrite'),
      });
    }
    const star = rows.at(-2) as { leaderBytesPerWrite: number; writesPerSecond: number };
    const chain = rows.at(-1) as { leaderBytesPerWrite: number; writesPerSecond: number };
    rows[rows.length - 1] = {
      ...chain,
      bytesRatio: Math.round((chain.leaderBytesPerWrite / star.leaderBytesPerWrite) * 100) / 100,
      throughputRatio: Math.round((chain.writesPerSecond / star.writesPerSecond) * 100) / 100,
    };
  }
  if (options.json) return void console.log(JSON.stringify(rows));
  console.log(
    `five nodes, quorum, SET with ${options.clients} connections on the leader, medians of ${options.repeats}`,
  );
  console.log(
    '| value | topology | writes/s | p50 ms | p99 ms | leader bytes/write | chain/star bytes | chain/star writes |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${String(row.value)} | ${String(row.topology)} | ${String(row.writesPerSecond)} | ${String(row.p50Ms)} | ${String(row.p99Ms)} | ${String(row.leaderBytesPerWrite)} | ${String(row.bytesRatio ?? '')} | ${String(row.throughputRatio ?? '')} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
