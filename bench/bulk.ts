/**
 * Bulk loading, footprint and restart, against Redis (a benchmark: figures, not pass/fail).
 *
 *   node dist/bench/bulk.js [--keys 1000000] [--json]
 *
 * One file of `--keys` SET commands (keys `key:0000000001`..., 60-byte values) in RESP,
 * piped with `redis-cli --pipe` into:
 *  - Redis 7, a primary and one replica with `appendonly yes` and `appendfsync always`;
 *  - the leader of a three-node Tandem cluster in `quorum` mode.
 * Reported: load time and rate of each (and the ratio, Tandem over Redis in rate); the
 * size of Redis's append-only files and of each Tandem node's data directory (log,
 * snapshots), with the ratio, once compaction has run (no node took a snapshot for the
 * least snapshot interval and two seconds more); and the restart of a Tandem follower killed with SIGKILL:
 * from its start to answering a read of the last key written, at read-your-writes after
 * the leader's commit index, served from its own store.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshotMinIntervalMsDefault } from '../src/node/node.js';
import { call, sleep, TestCluster } from '../test/node/cluster.js';
import { directoryBytes, missingPrograms, RedisPair } from './redis.js';

const valueBytes = 60;

interface Options {
  readonly keys: number;
  readonly json: boolean;
  /** The nodes' `--snapshot-every` (unset: their default). */
  readonly snapshotEvery: number | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  let keys = 1_000_000;
  let json = false;
  let snapshotEvery: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') json = true;
    else if (argv[i] === '--keys' && Number.isSafeInteger(Number(argv[i + 1]))) {
      keys = Number(argv[++i]);
    } else if (argv[i] === '--snapshot-every' && Number.isSafeInteger(Number(argv[i + 1]))) {
      snapshotEvery = Number(argv[++i]);
    } else {
      throw new Error(
        `bad argument ${argv[i]}; usage: bulk.js [--keys 1000000] [--snapshot-every N] [--json]`,
      );
    }
  }
  return { keys, json, snapshotEvery };
}

const keyOf = (i: number): string => `key:${String(i).padStart(10, '0')}`;

/** Writes the RESP commands of `keys` SETs into `file`. */
async function writeCommands(file: string, keys: number): Promise<void> {
  const out = createWriteStream(file);
  const value = 'v'.repeat(valueBytes);
  const batch: string[] = [];
  for (let i = 1; i <= keys; i++) {
    const key = keyOf(i);
    batch.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${valueBytes}\r\n${value}\r\n`);
    if (batch.length === 10_000 || i === keys) {
      if (!out.write(batch.join('')))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      batch.length = 0;
    }
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** Pipes the file into `port` with redis-cli --pipe; the seconds it took. */
async function pipe(port: number, file: string, keys: number): Promise<number> {
  const started = performance.now();
  const child = spawn('sh', ['-c', `redis-cli -p ${port} --pipe < "${file}"`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0 || !output.includes(`errors: 0, replies: ${keys}`)) {
    throw new Error(`redis-cli --pipe into ${port} failed: ${output.trim()}`);
  }
  return seconds;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const missing = missingPrograms();
  if (missing !== null) {
    console.error(`bench:bulk needs Redis to compare against: ${missing}`);
    process.exit(2);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'tandem-bench-bulk-'));
  const file = join(scratch, 'commands.resp');
  await writeCommands(file, options.keys);
  const pair = await RedisPair.start('durable');
  const cluster = await TestCluster.create({
    nodes: 3,
    mode: 'quorum',
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
  });
  try {
    const redisSeconds = await pipe(pair.port, file, options.keys);
    const aofBytes = pair.aofBytes();
    await pair.stop();

    cluster.startAll();
    for (const node of cluster.nodes) await cluster.up(node.id);
    const leader = await cluster.leader();
    const termBefore = (await cluster.status(leader)).term;
    const tandemSeconds = await pipe(cluster.node(leader).respPort, file, options.keys);
    const afterLoad = await cluster.status(leader);
    const commit = afterLoad.commitIndex;
    // The load must not cost the leader its leadership (heartbeats never wait for the disk).
    const termsDuringLoad = afterLoad.term - termBefore;
    if (termsDuringLoad > 0) {
      for (const node of cluster.nodes) {
        const changes = node.output
          .join('')
          .split('\n')
          .filter((line) => /became leader|role changed|unavailable|failed/.test(line));
        console.error(`${node.id}:\n${changes.join('\n')}`);
      }
    }
    // Every node applies the load (and takes the snapshots it brings) before it is measured.
    for (const node of cluster.nodes) {
      for (;;) {
        const view = await cluster.status(node.id);
        if (view.appliedIndex >= commit) break;
        await sleep(200);
      }
    }
    // Measured once compaction has run: a snapshot that the least interval held back
    // comes within that interval, so wait until no node has taken one for the interval
    // and two seconds more (at most a minute).
    const settleStarted = performance.now();
    const quietMs = snapshotMinIntervalMsDefault + 2000;
    let snapshots = '';
    let changedAt = performance.now();
    while (performance.now() - changedAt < quietMs && performance.now() - settleStarted < 60_000) {
      const views = await Promise.all(cluster.nodes.map((node) => cluster.status(node.id)));
      const now = views.map((view) => view.snapshotIndex).join(',');
      if (now !== snapshots) {
        snapshots = now;
        changedAt = performance.now();
      }
      await sleep(500);
    }
    const settleSeconds = (performance.now() - settleStarted) / 1000;
    const nodeBytes = cluster.nodes.map((node) => directoryBytes(node.dir));

    const follower = cluster.nodes.find((node) => node.id !== leader)?.id as string;
    await cluster.kill(follower);
    const started = performance.now();
    cluster.start(follower);
    const last = keyOf(options.keys);
    for (;;) {
      const answer = await call(
        'GET',
        `${cluster.url(follower)}/v1/kv/${last}?consistency=ryw&after=${commit}`,
      ).catch(() => null);
      if (answer?.status === 200) break;
      if (performance.now() - started > 120_000) {
        const tail = cluster.node(follower).output.join('').split('\n').slice(-30).join('\n');
        throw new Error(`the follower did not come back; the end of its log:\n${tail}`);
      }
      await sleep(20);
    }
    const restartSeconds = (performance.now() - started) / 1000;
    const tandemLog = cluster.node(follower).output.join('');
    // Stopped cleanly, so that a profile of its restart is written when the nodes run
    // with TANDEM_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR'.
    await cluster.stop(follower);
    const loaded = /"ms":(\d+)[^\n]*loaded the state machine from the snapshot/.exec(tandemLog);
    const logRead = /"entries":(\d+),"ms":(\d+)[^\n]*read the log after the snapshot/.exec(
      tandemLog,
    );
    const replayed = /"ms":(\d+)[^\n]*applied the committed log after the snapshot/.exec(tandemLog);

    const result = {
      keys: options.keys,
      redis: {
        seconds: redisSeconds,
        perSecond: Math.round(options.keys / redisSeconds),
        aofBytes,
      },
      tandem: {
        seconds: tandemSeconds,
        perSecond: Math.round(options.keys / tandemSeconds),
        nodeBytes,
        restartSeconds,
        settleSeconds,
        termsDuringLoad,
        snapshotLoadMs: loaded === null ? null : Number(loaded[1]),
        logEntriesAfterSnapshot: logRead === null ? null : Number(logRead[1]),
        logReadMs: logRead === null ? null : Number(logRead[2]),
        replayMs: replayed === null ? null : Number(replayed[1]),
      },
      ratio: Math.round((redisSeconds / tandemSeconds) * 100) / 100,
      footprintRatio: Math.round((Math.max(...nodeBytes) / aofBytes) * 100) / 100,
    };
    if (options.json) {
      console.log(JSON.stringify(result));
      return;
    }
    const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `${options.keys.toLocaleString('en')} SETs (${valueBytes}-byte values) through redis-cli --pipe`,
    );
    console.log(
      '| | Redis (primary + replica, appendfsync always) | Tandem (3 nodes, quorum) | ratio |',
    );
    console.log('|---|---|---|---|');
    console.log(
      `| load | ${redisSeconds.toFixed(1)} s (${result.redis.perSecond.toLocaleString('en')}/s) | ${tandemSeconds.toFixed(1)} s (${result.tandem.perSecond.toLocaleString('en')}/s) | ${result.ratio.toFixed(2)}x |`,
    );
    console.log(
      `| on disk | AOF ${mb(aofBytes)} | largest data directory ${mb(Math.max(...nodeBytes))} (${nodeBytes.map(mb).join(', ')}) | ${result.footprintRatio.toFixed(2)}x |`,
    );
    console.log(
      `| follower restart to a ryw read of the last key | | ${restartSeconds.toFixed(2)} s (snapshot load ${result.tandem.snapshotLoadMs ?? '?'} ms; ${result.tandem.logEntriesAfterSnapshot ?? '?'} log entries after it read in ${result.tandem.logReadMs ?? '?'} ms, applied in ${result.tandem.replayMs ?? '?'} ms) | |`,
    );
    console.log(
      `| elections during the load | | ${termsDuringLoad} (term ${termBefore} to ${afterLoad.term}) | |`,
    );
    console.log(
      `| waited after the load for the snapshots (disk and restart measured after) | | ${settleSeconds.toFixed(1)} s | |`,
    );
  } finally {
    await pair.stop().catch(() => undefined);
    await cluster.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
