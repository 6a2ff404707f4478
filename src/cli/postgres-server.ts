/**
 * A throwaway PostgreSQL server for tests, examples and benchmarks: a fresh data directory
 * made by `initdb`, a postmaster listening on 127.0.0.1 only (and a unix socket inside the
 * data directory), trust authentication, and one database created for the caller.
 *
 * PostgreSQL refuses to run as root, so when this process is root the server's programs
 * run as the `postgres` user (through `runuser`), in a temporary directory handed to that
 * user; otherwise they run as the current user.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The programs a server needs, all found in one directory. */
const programs = ['initdb', 'pg_ctl', 'postgres'] as const;
/** Where distributions install PostgreSQL's programs; the newest major version wins, 15 first. */
const distributionRoot = '/usr/lib/postgresql';
/** The major version preferred when several are installed. */
const preferredMajor = '15';
/** How long `pg_ctl` waits for the server to start or stop, in seconds. */
const pgCtlWaitSeconds = 30;
/** How many times a start is tried when the chosen port turns out to be taken. */
const startAttemptsMax = 3;
/** The OS user the server's programs run as when this process is root. */
const serverUser = 'postgres';

/** A running throwaway server. */
export interface PostgresServer {
  /** A connection URL for the caller's database. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server cleanly (fast shutdown); its data stays. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and data. */
  start(): Promise<void>;
  /** Kills the postmaster with SIGKILL, as a crash would; `start()` recovers it. */
  kill(): Promise<void>;
  /** Stops the server and removes its data. Idempotent. */
  destroy(): Promise<void>;
}

/** Options of `startPostgres`. */
export interface StartPostgresOptions {
  /** The TCP port; a free one is chosen when absent. */
  readonly port?: number;
  /** The parent directory of the data directory (default: the system's temp directory). */
  readonly dir?: string;
  /** The database to create (default `tandem`). */
  readonly database?: string;
  /**
   * Whether the server fsyncs (default true). False makes tests faster; a killed server
   * still keeps every commit (the WAL reaches the OS at each commit), a power loss does not.
   */
  readonly fsync?: boolean;
}

/**
 * The directory holding `initdb`, `pg_ctl` and `postgres`: a distribution's
 * `/usr/lib/postgresql/<major>/bin` (15 preferred, else the newest), else the PATH. Says what
 * is missing when none has them all.
 */
export function findPostgresBinaries(): { dir: string } | { missing: string } {
  const candidates: string[] = [];
  if (existsSync(distributionRoot)) {
    const majors = readdirSync(distributionRoot)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    const ordered = majors.includes(preferredMajor)
      ? [preferredMajor, ...majors.filter((major) => major !== preferredMajor)]
      : majors;
    candidates.push(...ordered.map((major) => path.join(distributionRoot, major, 'bin')));
  }
  candidates.push(...(process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== ''));
  for (const dir of candidates) {
    if (programs.every((program) => existsSync(path.join(dir, program)))) return { dir };
  }
  return {
    missing: `${programs.join(', ')} in ${distributionRoot}/*/bin or on the PATH (install the postgresql server package)`,
  };
}

/** Whether the server's programs must run as another user: PostgreSQL refuses root. */
function runsAsServerUser(): boolean {
  return process.getuid?.() === 0;
}

/** Runs one of the server's programs, as the server user when this process is root. */
async function runProgram(binaries: string, program: string, args: string[]): Promise<string> {
  const file = path.join(binaries, program);
  const [command, commandArgs] = runsAsServerUser()
    ? ['runuser', ['-u', serverUser, '--', file, ...args]]
    : [file, args];
  try {
    const { stdout } = await run(command, commandArgs, { timeout: (pgCtlWaitSeconds + 5) * 1000 });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${stderr ?? ''}${stdout ?? ''}`, {
      cause: error,
    });
  }
}

/** A port that was free a moment ago on 127.0.0.1 (bound to 0, then released). */
async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh directory for the data, owned by the user the server runs as. */
function makeDataDirectory(parent: string): { root: string; dataDir: string } {
  const root = mkdtempSync(path.join(parent, 'tandem-postgres-'));
  const dataDir = path.join(root, 'data');
  if (runsAsServerUser()) {
    const found = spawnSync('id', ['-u', serverUser], { encoding: 'utf8' });
    const group = spawnSync('id', ['-g', serverUser], { encoding: 'utf8' });
    if (found.status !== 0 || group.status !== 0) {
      throw new Error(`running as root needs a '${serverUser}' user to run PostgreSQL as`);
    }
    chownSync(root, Number(found.stdout.trim()), Number(group.stdout.trim()));
  }
  return { root, dataDir };
}

/** The user name the server's superuser gets: the server user's, as initdb would choose. */
function superuserName(): string {
  return runsAsServerUser() ? serverUser : os.userInfo().username;
}

/** The postmaster's process id, from the first line of its pid file, or null when it has none. */
function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether a process is alive. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Creates `database` through the server's default database. */
async function createDatabase(port: number, user: string, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

/**
 * Initialises a data directory and starts a server on it; resolves once it accepts
 * connections and the database exists.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const found = findPostgresBinaries();
  if ('missing' in found) throw new Error(`PostgreSQL binaries not found: ${found.missing}`);
  const database = options.database ?? 'tandem';
  const { root, dataDir } = makeDataDirectory(options.dir ?? os.tmpdir());
  const user = superuserName();
  try {
    await runProgram(found.dir, 'initdb', [
      '-D',
      dataDir,
      '-U',
      user,
      '--auth=trust',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    let port = options.port ?? (await freePort());
    for (let attempt = 1; ; attempt++) {
      try {
        await startServer(found.dir, dataDir, port, options.fsync ?? true);
        break;
      } catch (error) {
        // Another process may have taken the port between the probe and the start.
        if (options.port !== undefined || attempt === startAttemptsMax) throw error;
        port = await freePort();
      }
    }
    await createDatabase(port, user, database);
    return new Server(found.dir, root, dataDir, port, options.fsync ?? true, user, database);
  } catch (error) {
    await stopServer(found.dir, dataDir).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** Starts the postmaster with `pg_ctl`, waiting until it accepts connections. */
async function startServer(
  binaries: string,
  dataDir: string,
  port: number,
  fsync: boolean,
): Promise<void> {
  const settings = [
    `-p ${port}`,
    `-k ${dataDir}`,
    "-c listen_addresses='127.0.0.1'",
    `-c fsync=${fsync ? 'on' : 'off'}`,
    `-c full_page_writes=${fsync ? 'on' : 'off'}`,
    '-c max_connections=200',
  ];
  await runProgram(binaries, 'pg_ctl', [
    '-D',
    dataDir,
    '-l',
    path.join(dataDir, 'server.log'),
    '-o',
    settings.join(' '),
    '-w',
    '-t',
    String(pgCtlWaitSeconds),
    'start',
  ]);
}

/** Stops the postmaster (fast shutdown: connections are ended, no wait for clients). */
async function stopServer(binaries: string, dataDir: string): Promise<void> {
  if (postmasterPid(dataDir) === null) return;
  await runProgram(binaries, 'pg_ctl', [
    '-D',
    dataDir,
    '-m',
    'fast',
    '-w',
    '-t',
    String(pgCtlWaitSeconds),
    'stop',
  ]);
}

/** A server started by `startPostgres`. */
class Server implements PostgresServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly #binaries: string;
  readonly #root: string;
  readonly #fsync: boolean;
  #destroyed = false;

  constructor(
    binaries: string,
    root: string,
    dataDir: string,
    port: number,
    fsync: boolean,
    user: string,
    database: string,
  ) {
    this.#binaries = binaries;
    this.#root = root;
    this.dataDir = dataDir;
    this.port = port;
    this.#fsync = fsync;
    this.url = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  }

  async stop(): Promise<void> {
    await stopServer(this.#binaries, this.dataDir);
  }

  async start(): Promise<void> {
    // After a kill the old server's backends may take a moment to notice and exit; the new
    // postmaster refuses to start while they still hold the shared memory.
    for (let attempt = 1; ; attempt++) {
      try {
        await startServer(this.#binaries, this.dataDir, this.port, this.#fsync);
        return;
      } catch (error) {
        if (attempt === startAttemptsMax) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async kill(): Promise<void> {
    const pid = postmasterPid(this.dataDir);
    if (pid === null || !isAlive(pid)) return;
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    try {
      await this.stop();
    } catch {
      await this.kill();
    }
    rmSync(this.#root, { recursive: true, force: true });
  }
}
