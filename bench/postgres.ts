/**
 * Tandem on PostgreSQL against PostgreSQL's own replication (a benchmark: figures, not
 * pass/fail).
 *
 *   node dist/bench/postgres.js [--seconds 10] [--clients 50] [--repeats 3] [--json]
 *
 * In one run, single-row upserts of a 64-byte value under random keys, 50 clients:
 *  - the reference: PostgreSQL 15, a primary and one synchronous streaming standby,
 *    `synchronous_commit = remote_apply` (a commit returns once the standby applied it),
 *    driven by pgbench;
 *  - Tandem: two nodes in `sync` mode (a write returns once both nodes applied it), each
 *    keeping its state in a PostgreSQL server of its own (fsync on), driven by autocannon
 *    through `POST /v1/sql` on the leader.
 * Both run the same statement. Each figure is the median of `--repeats` runs; the ratio is
 * Tandem's median over the reference's (target: at least 1.0x).
 */
import autocannon from 'autocannon';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findPostgresBinaries,
  startPostgres,
  type PostgresServer,
} from '../src/cli/postgres-server.js';
import { freePort, TestCluster } from '../test/node/cluster.js';
import { median, parseCountOptions } from './stats.js';

interface Options {
  readonly seconds: number;
  readonly clients: number;
  readonly repeats: number;
  readonly json: boolean;
}

const value = 'x'.repeat(64);
const keySpace = 100_000_000;
const upsert = 'INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v';

/** Runs a PostgreSQL program, as the postgres user when this process is root. */
function runAsServer(binaries: string, program: string, args: string[]): string {
  const file = join(binaries, program);
  const root = process.getuid?.() === 0;
  const run = root
    ? spawnSync('runuser', ['-u', 'postgres', '--', file, ...args], { encoding: 'utf8' })
    : spawnSync(file, args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${program} failed: ${run.stderr}${run.stdout}`);
  return run.stdout;
}

/** The reference: a primary and a synchronous standby, as PostgreSQL's own docs set it up. */
class StreamingPair {
  readonly port: number;
  readonly #binaries: string;
  readonly #root: string;

  private constructor(binaries: string, root: string, port: number) {
    this.#binaries = binaries;
    this.#root = root;
    this.port = port;
  }

  static async start(binaries: string): Promise<StreamingPair> {
    const root = mkdtempSync(join(tmpdir(), 'tandem-bench-pg-'));
    if (process.getuid?.() === 0) {
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
      chownSync(root, uid, gid);
    }
    const pair = new StreamingPair(binaries, root, await freePort());
    const standbyPort = await freePort();
    const primary = join(root, 'primary');
    const standby = join(root, 'standby');
    runAsServer(binaries, 'initdb', ['-D', primary, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const conf = [
      `port=${pair.port}`,
      "listen_addresses='127.0.0.1'",
      `unix_socket_directories='${root}'`,
      'wal_level=replica',
      'max_wal_senders=5',
      "synchronous_standby_names='s1'",
      'max_connections=200',
    ];
    appendFileSync(join(primary, 'postgresql.conf'), `${conf.join('\n')}\n`);
    appendFileSync(join(primary, 'pg_hba.conf'), 'host replication postgres 127.0.0.1/32 trust\n');
    runAsServer(binaries, 'pg_ctl', ['-D', primary, '-l', `${primary}.log`, '-w', 'start']);
    runAsServer(binaries, 'pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(pair.port),
      '-U',
      'postgres',
      '-D',
      standby,
      '-R',
    ]);
    appendFileSync(
      join(standby, 'postgresql.auto.conf'),
      `port=${standbyPort}\nprimary_conninfo='host=127.0.0.1 port=${pair.port} user=postgres application_name=s1'\n`,
    );
    runAsServer(binaries, 'pg_ctl', ['-D', standby, '-l', `${standby}.log`, '-w', 'start']);
    pair.#psql('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
    return pair;
  }

  #psql(sql: string): string {
    const run = spawnSync(
      'psql',
      ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-Atqc', sql, 'postgres'],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`psql failed: ${run.stderr}`);
    return run.stdout;
  }

  /** Upserts per second under `remote_apply`, from pgbench. */
  pgbench(options: Options): number {
    const script = join(this.#root, 'upsert.sql');
    writeFileSync(
      script,
      `\\set k random(1, ${keySpace})\nINSERT INTO kv VALUES ('k' || :k, '${value}') ON CONFLICT (k) DO UPDATE SET v = excluded.v;\n`,
    );
    const args = ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-n'];
    args.push('-c', String(options.clients), '-j', '2', '-T', String(options.seconds));
    args.push('-f', script, 'postgres');
    const run = spawnSync(join(this.#binaries, 'pgbench'), args, {
      encoding: 'utf8',
      env: { ...process.env, PGOPTIONS: '-c synchronous_commit=remote_apply' },
    });
    const tps = /tps = ([\d.]+)/.exec(run.stdout);
    if (run.status !== 0 || tps === null) throw new Error(`pgbench failed: ${run.stderr}`);
    return Number(tps[1]);
  }

  stop(): void {
    for (const dir of ['standby', 'primary']) {
      try {
        runAsServer(this.#binaries, 'pg_ctl', [
          '-D',
          join(this.#root, dir),
          '-m',
          'immediate',
          'stop',
        ]);
      } catch {
        // Already down.
      }
    }
    rmSync(this.#root, { recursive: true, force: true });
  }
}

/** Upserts per second through Tandem's leader, and the count of failed requests. */
async function tandemUpserts(options: Options, leaderUrl: string): Promise<number> {
  const result = await autocannon({
    url: `${leaderUrl}/v1/sql`,
    method: 'POST',
    connections: options.clients,
    duration: options.seconds,
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            sql: upsert,
            params: [`k${1 + Math.floor(Math.random() * keySpace)}`, value],
          }),
        }),
      },
    ],
  });
  const failed = result.errors + result.non2xx + result.timeouts;
  if (failed > 0) throw new Error(`${failed} Tandem upserts failed`);
  return result.requests.average;
}

async function main(): Promise<void> {
  const options = parseCountOptions(
    process.argv.slice(2),
    { seconds: 10, clients: 50, repeats: 3 },
    'postgres.js [--seconds 10] [--clients 50] [--repeats 3] [--json]',
  );
  const binaries = findPostgresBinaries();
  if ('missing' in binaries) {
    console.error(`bench:postgres needs PostgreSQL: ${binaries.missing}`);
    process.exit(2);
  }
  const reference: number[] = [];
  const tandem: number[] = [];
  const pair = await StreamingPair.start(binaries.dir);
  const servers: PostgresServer[] = [];
  let cluster: TestCluster | null = null;
  try {
    for (let i = 0; i < 2; i++) servers.push(await startPostgres({ database: 'bench' }));
    cluster = await TestCluster.create({
      nodes: 2,
      mode: 'sync',
      extraArgs: (id) => ['--store', (servers[Number(id.slice(1)) - 1] as PostgresServer).url],
    });
    cluster.startAll();
    const leader = await cluster.leader();
    const create = await fetch(`${cluster.url(leader)}/v1/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)' }),
    });
    if (create.status !== 200) throw new Error(`CREATE TABLE failed: ${await create.text()}`);
    for (let repeat = 0; repeat < options.repeats; repeat++) {
      reference.push(pair.pgbench(options));
      tandem.push(await tandemUpserts(options, cluster.url(leader)));
    }
  } finally {
    pair.stop();
    await cluster?.destroy();
    for (const server of servers) await server.destroy();
  }
  const figures = {
    referenceUpsertsPerSecond: Math.round(median(reference)),
    tandemUpsertsPerSecond: Math.round(median(tandem)),
    ratio: Math.round((median(tandem) / median(reference)) * 100) / 100,
    reference,
    tandem,
  };
  if (options.json) {
    console.log(JSON.stringify({ options, ...figures }));
    return;
  }
  console.log(
    `single-row upserts, ${options.clients} clients, ${options.seconds} s runs, median of ${options.repeats}\n`,
  );
  console.log('| system | upserts/s | ratio |');
  console.log('|---|---|---|');
  console.log(
    `| PostgreSQL 15 primary + sync standby, remote_apply (pgbench) | ${figures.referenceUpsertsPerSecond.toLocaleString('en')} | |`,
  );
  console.log(
    `| Tandem, 2 nodes, sync, each on its own PostgreSQL | ${figures.tandemUpsertsPerSecond.toLocaleString('en')} | ${figures.ratio.toFixed(2)}x (target ≥ 1.0x) |`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
