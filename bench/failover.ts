/**
 * Failover time of a real 3-node cluster (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/failover.js [--kills 20] [--json]
 *
 * One cluster of `tandem start` processes on loopback with the default timeouts (100 ms
 * ticks: a 1-2 s election timeout). Each round:
 *  1. waits for a leader every node agrees on and for one acknowledged write;
 *  2. starts a write loop against every node but the leader (a fresh key every ~5 ms per
 *     node, each request cut off after 500 ms, failures ignored), and SIGKILLs the leader;
 *  3. failover time = from the kill to the first 200 answer to a PUT issued after the kill,
 *     from any surviving node;
 *  4. restarts the killed node and waits until a read-your-writes read of the last
 *     acknowledged write succeeds on it, so that every round starts from three healthy nodes.
 * Alongside, it polls `GET /v1/cluster` on the survivors to say when one of them first
 * gave up on the old leader (a pre-vote or election began) and when one first led.
 */
import { call, sleep, TestCluster, type ClusterView } from '../test/node/cluster.js';
import { median } from './stats.js';

const targetMedianMs = 1000;
const writeEveryMs = 5;
const requestTimeoutMs = 500;
const roundTimeoutMs = 30_000;
const catchUpTimeoutMs = 60_000;
const statusPollMs = 10;

interface Options {
  readonly kills: number;
  readonly json: boolean;
}

interface Round {
  readonly round: number;
  readonly killed: string;
  readonly oldTerm: number;
  /** Kill to the first 200 answer to a PUT issued after the kill; null if none came. */
  readonly failoverMs: number | null;
  /** The survivor that gave that answer. */
  readonly answeredBy: string | null;
  /** Kill to the first status poll where a survivor no longer named the old leader. */
  readonly leaderLostMs: number | null;
  /** Kill to the first status poll where a survivor led in a newer term. */
  readonly electedMs: number | null;
  readonly newLeader: string | null;
  readonly newTerm: number | null;
  /** Answers to PUTs issued after the kill and before the first success, by kind. */
  readonly failures: Record<string, number>;
  /** Restart of the killed node to its ryw read of the last write. */
  readonly catchUpMs: number;
}

function parseOptions(argv: string[]): Options {
  let kills = 20;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') json = true;
    else if (arg === '--kills' || arg?.startsWith('--kills=')) {
      const text = arg === '--kills' ? argv[++i] : arg.slice('--kills='.length);
      const value = Number(text);
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new Error(`--kills must be a positive integer, got ${text}`);
      }
      kills = value;
    } else {
      throw new Error(`unknown argument ${arg}; usage: failover.js [--kills 20] [--json]`);
    }
  }
  return { kills, json };
}

/** A PUT with a short timeout; resolves to the status, or to a failure kind. */
async function put(
  url: string,
  key: string,
  value: string,
): Promise<{ status: number; index?: number } | { failure: string }> {
  try {
    const response = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (response.status !== 200) {
      let code = '';
      try {
        code = String((JSON.parse(text) as { code?: unknown }).code ?? '');
      } catch {
        // not JSON: the status alone says enough
      }
      return { failure: code === '' ? `http ${response.status}` : `${response.status} ${code}` };
    }
    return { status: 200, index: (JSON.parse(text) as { index: number }).index };
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { failure: 'client timeout' };
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    return { failure: typeof code === 'string' ? code : 'fetch error' };
  }
}

/** Retries a PUT on `url` until it is acknowledged; returns the key and its index. */
async function writeUntilAcknowledged(
  url: string,
  key: string,
  timeoutMs: number,
): Promise<{ key: string; index: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call('PUT', `${url}/v1/kv/${encodeURIComponent(key)}`, {
      value: 'ready',
    }).catch((error: unknown) => ({
      status: 0,
      body: { error: String(error) } as Record<string, unknown>,
    }));
    if (answer.status === 200) return { key, index: answer.body.index as number };
    if (Date.now() > deadline) {
      throw new Error(`no acknowledged write within ${timeoutMs} ms: ${JSON.stringify(answer)}`);
    }
    await sleep(50);
  }
}

/** Waits until a ryw read of `key` at `index` succeeds on `url`. */
async function waitCaughtUp(url: string, key: string, index: number): Promise<void> {
  const deadline = Date.now() + catchUpTimeoutMs;
  const target = `${url}/v1/kv/${encodeURIComponent(key)}?consistency=ryw&after=${index}`;
  for (;;) {
    const status = await fetch(target, { signal: AbortSignal.timeout(5000) })
      .then((response) => response.arrayBuffer().then(() => response.status))
      .catch(() => 0);
    if (status === 200) return;
    if (Date.now() > deadline) {
      throw new Error(`${url} did not catch up to index ${index} (last status ${status})`);
    }
    await sleep(50);
  }
}

async function runRound(cluster: TestCluster, round: number): Promise<Round> {
  const leader = await cluster.leader(30_000);
  const leaderUrl = cluster.url(leader);
  let last = await writeUntilAcknowledged(leaderUrl, `failover/${round}/ready`, 30_000);
  const oldTerm = (await cluster.status(leader)).term;
  const survivors = cluster.nodes
    .map((node) => node.id)
    .filter((id) => id !== leader && cluster.node(id).process !== null);

  let killAt = Infinity;
  let firstSuccess: { at: number; by: string } | null = null;
  const failures: Record<string, number> = {};
  let stop = false;
  const inFlight = new Set<Promise<void>>();

  // The write loops: one per survivor, a fresh key every ~5 ms, never waiting for answers.
  const loops = survivors.map(async (id) => {
    const url = cluster.url(id);
    for (let seq = 0; !stop; seq++) {
      const issuedAt = performance.now();
      const key = `failover/${round}/${id}/${seq}`;
      const request = put(url, key, `v${seq}`).then((answer) => {
        const answeredAt = performance.now();
        if ('status' in answer && answer.index !== undefined) {
          if (answer.index > last.index) last = { key, index: answer.index };
          if (issuedAt >= killAt && (firstSuccess === null || answeredAt < firstSuccess.at)) {
            firstSuccess = { at: answeredAt, by: id };
            stop = true;
          }
        } else if ('failure' in answer && issuedAt >= killAt && firstSuccess === null) {
          failures[answer.failure] = (failures[answer.failure] ?? 0) + 1;
        }
      });
      const tracked = request.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      await sleep(writeEveryMs);
    }
  });

  // The status poller: when a survivor stops naming the old leader, and when one leads.
  let leaderLostAt: number | null = null;
  let elected: { at: number; id: string; term: number } | null = null;
  const poller = (async () => {
    while (!stop) {
      const views = await Promise.all(
        survivors.map((id) => cluster.status(id).catch((): ClusterView | null => null)),
      );
      const now = performance.now();
      if (now >= killAt) {
        for (const view of views) {
          if (view === null) continue;
          if (leaderLostAt === null && (view.leaderId !== leader || view.term > oldTerm)) {
            leaderLostAt = now;
          }
          if (elected === null && view.role === 'leader' && view.term > oldTerm) {
            elected = { at: now, id: view.id, term: view.term };
          }
        }
      }
      await sleep(statusPollMs);
    }
  })();

  await sleep(100); // the loops run (and their connections are open) before the kill
  killAt = performance.now();
  await cluster.kill(leader);
  const deadline = killAt + roundTimeoutMs;
  while (firstSuccess === null && performance.now() < deadline) await sleep(5);
  stop = true;
  await Promise.all([...loops, poller]);
  await Promise.allSettled([...inFlight]);

  const success = firstSuccess as { at: number; by: string } | null;
  const lost = leaderLostAt as number | null;
  const won = elected as { at: number; id: string; term: number } | null;

  // Back to three healthy nodes: restart the killed one and wait until it has the last write.
  const restartedAt = performance.now();
  cluster.start(leader);
  await cluster.up(leader);
  await waitCaughtUp(cluster.url(leader), last.key, last.index);
  const catchUpMs = performance.now() - restartedAt;

  return {
    round,
    killed: leader,
    oldTerm,
    failoverMs: success === null ? null : success.at - killAt,
    answeredBy: success?.by ?? null,
    leaderLostMs: lost === null ? null : lost - killAt,
    electedMs: won === null ? null : won.at - killAt,
    newLeader: won?.id ?? null,
    newTerm: won?.term ?? null,
    failures,
    catchUpMs,
  };
}

/** The value at quantile `q` (nearest rank) of a non-empty list. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}

const ms = (value: number | null): string => (value === null ? '-' : `${value.toFixed(0)} ms`);
const round1 = (value: number): number => Math.round(value * 10) / 10;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line: string): void => {
    if (!options.json) console.log(line);
  };
  const cluster = await TestCluster.create({ nodes: 3 });
  const cleanUp = (): void => {
    void cluster.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', cleanUp);
  process.once('SIGTERM', cleanUp);
  const rounds: Round[] = [];
  try {
    cluster.startAll();
    await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
    log(
      `failover: 3 nodes, default timeouts (100 ms ticks, election timeout 1-2 s), ${options.kills} leader kills (SIGKILL)`,
    );
    log(
      `  writes: every ${writeEveryMs} ms to each survivor, ${requestTimeoutMs} ms client timeout`,
    );
    for (let round = 1; round <= options.kills; round++) {
      const result = await runRound(cluster, round);
      rounds.push(result);
      const failures = Object.entries(result.failures)
        .map(([kind, count]) => `${kind} x${count}`)
        .join(', ');
      log(
        `  round ${String(round).padStart(2)}: killed ${result.killed} (term ${result.oldTerm}): ` +
          `failover ${ms(result.failoverMs)}` +
          ` [old leader dropped ${ms(result.leaderLostMs)}, ${result.newLeader ?? '?'} leads ${ms(result.electedMs)}` +
          `, first 200 from ${result.answeredBy ?? '-'}]` +
          `${failures === '' ? '' : ` refused: ${failures}`}; caught up in ${ms(result.catchUpMs)}`,
      );
    }
  } finally {
    await cluster.destroy();
  }

  const times = rounds.flatMap((r) => (r.failoverMs === null ? [] : [r.failoverMs]));
  const missed = rounds.length - times.length;
  const summary = {
    kills: rounds.length,
    failedRounds: missed,
    medianMs: times.length === 0 ? null : round1(median(times)),
    p90Ms: times.length === 0 ? null : round1(quantile(times, 0.9)),
    maxMs: times.length === 0 ? null : round1(Math.max(...times)),
  };
  const met = summary.medianMs !== null && missed === 0 && summary.medianMs < targetMedianMs;
  const context = {
    etcdElectionTimeoutMs: 1000,
    redisSentinelDownAfterMs: 30_000,
    patroniTtlMs: 30_000,
  };
  if (options.json) {
    console.log(
      JSON.stringify({
        ...summary,
        targetMedianMs,
        targetMet: met,
        settings: { tickMs: 100, electionTicks: 10, writeEveryMs, requestTimeoutMs },
        context,
        rounds: rounds.map((r) => ({
          ...r,
          failoverMs: r.failoverMs === null ? null : round1(r.failoverMs),
          leaderLostMs: r.leaderLostMs === null ? null : round1(r.leaderLostMs),
          electedMs: r.electedMs === null ? null : round1(r.electedMs),
          catchUpMs: round1(r.catchUpMs),
        })),
      }),
    );
    return;
  }
  console.log(
    `failover over ${summary.kills} kills: median ${ms(summary.medianMs)}, p90 ${ms(summary.p90Ms)}, max ${ms(summary.maxMs)}` +
      (missed > 0
        ? `; ${missed} rounds had no acknowledged write within ${roundTimeoutMs} ms`
        : ''),
  );
  console.log(
    `target: median under ${targetMedianMs} ms: ${met ? 'met' : 'NOT met'} ` +
      `(context: etcd's default election timeout is 1 s; Redis Sentinel's down-after-milliseconds ` +
      `defaults to 30 s; Patroni's ttl defaults to 30 s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
