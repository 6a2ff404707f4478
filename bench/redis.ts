/**
 * What the benchmarks that compare with Redis share: a Redis primary with one replica,
 * the check that Redis's programs are installed, and CPU time read from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../test/node/cluster.js';

/** Without persistence (volatile), or with every write fsynced on each node (durable). */
export type Scenario = 'volatile' | 'durable';

/** Says which of the needed programs are missing, or null when all are there. */
export function missingPrograms(): string | null {
  const missing = ['redis-server', 'redis-cli', 'redis-benchmark'].filter(
    (program) => spawnSync('which', [program]).status !== 0,
  );
  return missing.length === 0
    ? null
    : `${missing.join(', ')} not found: install the Debian packages redis-server and redis-tools`;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const userHz = 100;

/** User plus system CPU time of the processes, in microseconds, from /proc. */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / userHz;
}

/** A Redis primary and one replica in a directory of their own. */
export class RedisPair {
  readonly port: number;
  readonly replicaPort: number;
  readonly #processes: ChildProcess[] = [];
  readonly #dir: string;

  private constructor(port: number, replicaPort: number, dir: string) {
    this.port = port;
    this.replicaPort = replicaPort;
    this.#dir = dir;
  }

  /** The bytes of the primary's append-only file (all its parts). */
  aofBytes(): number {
    return directoryBytes(join(this.#dir, 'appendonlydir'));
  }

  get pids(): number[] {
    return this.#processes.map((child) => child.pid as number);
  }

  static async start(scenario: Scenario): Promise<RedisPair> {
    const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-redis-'));
    const pair = new RedisPair(await freePort(), await freePort(), dir);
    const replicaPort = pair.replicaPort;
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

/** The bytes of every file under `path`. */
export function directoryBytes(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + directoryBytes(join(path, name)), 0);
}
