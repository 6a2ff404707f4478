/**
 * `tandem cluster`: a local cluster of separate node processes on loopback (DESIGN
 * section 4). Node i is `n<i>` with peers on 7000+i, HTTP on 9000+i, RESP on 6380+i, data
 * in `<dir>/n<i>` and its log lines in `<dir>/n<i>.log` (files, so that the terminal keeps
 * the endpoints table and the how-to readable; a node that dies has its last lines
 * printed). The cluster secret is generated once into `<dir>/cluster-secret` (mode 0600)
 * so that a restart of the cluster on the same directory reuses it.
 *
 * With `--secure` the cluster also gets, in the same directory, a CA and node certificates
 * (`tls/`, see certificates.ts), an admin password (`admin-password`, mode 0600) and a
 * users file naming it (`users.json`); every node then runs peer TLS and client TLS
 * (HTTPS, and RESP over TLS only), and the printed commands say how to connect.
 *
 * A node that exits on its own (a crash, a kill -9) is started again after a backoff
 * (1 s, doubling to 30 s, back to 1 s once it has run a minute), logged and counted;
 * `--no-restart` leaves it down, as a test of failover may want. The nodes never outlive
 * this process: each is its child over an IPC channel and stops cleanly when the channel
 * closes (this process exited, was killed, or its terminal closed). Ctrl-C sends SIGTERM
 * to every node still running and reports how each stopped, and which were already down.
 */
import type { Topology } from '../core/types.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portMax } from '../api/http/address.js';
import { exchange, HttpAgents } from '../client/http.js';
import type { NodeStatus } from '../node/api.js';
import { DataDirectoryLock, liveLockHolder, lockedError } from '../node/data-dir-lock.js';
import {
  failureExitCode,
  parseCommandArgs,
  parseDurability,
  parseTopology,
  parseInteger,
  UsageError,
} from './options.js';
import {
  CertificateError,
  ensureClusterCertificates,
  type ClusterCertificates,
} from './certificates.js';
import { clusterSecretCharsMin } from './start.js';
import { readUsersFile, UsersFileError } from '../access/users-file.js';
import { formatTable } from './table.js';
import { parse as parseYaml } from 'yaml';

/** The most nodes of a local cluster: enough for any failover demo, few enough for a laptop. */
export const clusterNodesMax = 9;

/** Help of `tandem cluster`. */
export const clusterHelp = `usage: tandem cluster [--nodes 3] [--dir .tandem] [--mode quorum] [--topology star] [--base-port-offset 0]

Starts a local cluster of node processes on 127.0.0.1 and prints its endpoints.
Node i is n<i>: peers 7000+i, HTTP 9000+i, RESP 6380+i (each plus the offset),
data in DIR/n<i>, log lines in DIR/n<i>.log. Ctrl-C stops every node cleanly.

  --nodes N               how many nodes, 1-${clusterNodesMax} (default 3)
  --dir DIR               where data, logs and the cluster secret go (default .tandem);
                          locked while the cluster runs: one cluster per directory
  --mode MODE             durability: async, semi-sync, quorum, sync (default quorum)
  --topology T            star (the leader sends the log to each node, the default) or
                          chain (to a head, each node passing it on); later: tandem topology
  --base-port-offset N    added to every port, to run clusters side by side (default 0)
  --stores S1,S2,..       each node's store, in node order: sqlite (the default) or a
                          postgres:// URL of a database of that node's own
  --users FILE            users, passwords and roles (JSON or YAML), given to every
                          node as tandem start --users; the first user with a password
                          in it is the one this command asks the nodes' status as
  --no-restart            leave a node that exits on its own down (default: restart it
                          after 1 s, doubling to 30 s while it keeps exiting)
  --secure                TLS everywhere: makes a CA and node certificates in DIR/tls
                          (with the openssl command), an admin password in
                          DIR/admin-password and DIR/users.json; HTTPS, and RESP over
                          TLS only (redis-cli --tls), on the same ports
  -h, --help              this help
`;

/** How long the cluster may take to elect its first leader. */
export const leaderWaitMs = 30_000;
/** How often the nodes are asked whether a leader is elected. */
const leaderPollMs = 250;
/** How long one status request may take while waiting for the leader. */
const statusRequestMs = 1_000;
/** Log lines printed of a node that exits on its own. */
const logTailLines = 15;
/** The first wait before a node that exited is started again; doubled per quick exit. */
export const restartBackoffMsFirst = 1_000;
/** The longest wait between restarts. */
export const restartBackoffMsMax = 30_000;
/** A node that ran this long before it exited is restarted after the first wait again. */
const restartResetMs = 60_000;
const host = '127.0.0.1';

/** One node of the local cluster. */
interface PlannedNode {
  readonly id: string;
  readonly peerPort: number;
  readonly httpPort: number;
  readonly respPort: number;
  /** `sqlite` or a PostgreSQL URL (`--store`). */
  readonly store: string;
  readonly dir: string;
  readonly logFile: string;
}

/** Runs `tandem cluster` until Ctrl-C. */
export async function runCluster(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, {
    nodes: { type: 'string' },
    dir: { type: 'string' },
    mode: { type: 'string' },
    topology: { type: 'string' },
    'base-port-offset': { type: 'string' },
    stores: { type: 'string' },
    secure: { type: 'boolean' },
    users: { type: 'string' },
    'no-restart': { type: 'boolean' },
  });
  if (args.values.help === true) return void process.stdout.write(clusterHelp);
  const count = parseInteger((args.values.nodes as string | undefined) ?? '3', '--nodes');
  if (count < 1 || count > clusterNodesMax) {
    throw new UsageError(`--nodes must be 1-${clusterNodesMax}, got ${count}`);
  }
  const dir = (args.values.dir as string | undefined) ?? '.tandem';
  const mode = parseDurability((args.values.mode as string | undefined) ?? 'quorum', '--mode');
  const topology = parseTopology(
    (args.values.topology as string | undefined) ?? 'star',
    '--topology',
  );
  const offsetText = (args.values['base-port-offset'] as string | undefined) ?? '0';
  const offset = parseInteger(offsetText, '--base-port-offset');
  if (9000 + count + offset > portMax) {
    throw new UsageError(`--base-port-offset ${offset} puts ports past ${portMax}`);
  }
  const stores = parseStores(args.values.stores as string | undefined, count);
  const plan = planNodes(count, dir, offset, stores);
  lockClusterDirectory(dir, plan);
  const taken = await firstTakenPort(plan);
  if (taken !== null) {
    console.error(
      `tandem cluster: ${taken} on ${host} is already in use; stop what holds it, or run ` +
        'this cluster beside it with --base-port-offset N and a --dir of its own (two ' +
        'clusters must never share a data directory)',
    );
    process.exit(failureExitCode);
  }
  const secret = loadOrCreateSecret(join(dir, 'cluster-secret'));
  const usersFile = args.values.users as string | undefined;
  if (usersFile !== undefined && args.values.secure === true) {
    throw new UsageError('--secure makes its own users file: give --users or --secure, not both');
  }
  const statusAuth = usersFile === undefined ? {} : await statusCredentials(usersFile);
  const secure = args.values.secure === true ? prepareSecurity(dir, plan) : null;
  const nodeUsers = secure?.usersFile ?? usersFile;
  const restart = args.values['no-restart'] !== true;
  const nodes = plan.map(
    (node) =>
      new SupervisedNode(
        node,
        () => spawnNode(node, plan, mode, topology, secret, secure, nodeUsers),
        restart,
      ),
  );
  const stop = stopOnSignals(nodes);
  const agents = new HttpAgents(secure === null ? {} : { ca: readFileSync(secure.ca, 'utf8') });
  const auth = secure === null ? statusAuth : basicHeader('admin', secure.password);
  const leader = await waitForLeader(plan, nodes, agents, secure !== null, auth);
  agents.destroy();
  if (leader === null) {
    console.error(
      `tandem cluster: no leader was elected within ${leaderWaitMs / 1000} s; see the logs in ${join(dir, 'n*.log')}`,
    );
    await stop(failureExitCode);
    return;
  }
  const served = await respServed(plan[0].respPort);
  printEndpoints(plan, leader, mode, dir, offset, served, secure, usersFile !== undefined);
}

/** What `--secure` made: the certificates, the admin password and the users file. */
interface Security extends ClusterCertificates {
  readonly passwordFile: string;
  /** The admin's password (in `passwordFile`): the command asks the nodes' status with it. */
  readonly password: string;
  readonly usersFile: string;
}

/**
 * Makes (or keeps) the certificates, the admin password and the users file of a secure
 * cluster; exits with the reason when openssl cannot make them.
 */
function prepareSecurity(dir: string, plan: readonly PlannedNode[]): Security {
  let certificates: ClusterCertificates;
  try {
    certificates = ensureClusterCertificates(
      dir,
      plan.map((node) => node.id),
    );
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    console.error(`tandem cluster: ${error.message}`);
    process.exit(failureExitCode);
  }
  const passwordFile = join(dir, 'admin-password');
  const password = loadOrCreateSecret(passwordFile);
  const usersFile = join(dir, 'users.json');
  const users = { users: [{ name: 'admin', password, roles: ['admin'] }] };
  // Written each start, so that it always names the password in admin-password.
  writeFileSync(usersFile, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  return { ...certificates, passwordFile, password, usersFile };
}

/**
 * Locks `dir` for this process's lifetime (released at exit) and checks that no live
 * process holds a node directory of the plan, so that a second cluster on the same
 * directory is refused before anything starts; exits with a message naming the holder.
 */
function lockClusterDirectory(dir: string, plan: readonly PlannedNode[]): void {
  try {
    DataDirectoryLock.acquire(dir, 'tandem cluster');
  } catch (error) {
    console.error(`tandem cluster: ${(error as Error).message}`);
    process.exit(failureExitCode);
  }
  for (const node of plan) {
    const holder = liveLockHolder(node.dir);
    if (holder !== null) {
      console.error(`tandem cluster: ${lockedError(node.dir, holder).message}`);
      process.exit(failureExitCode);
    }
  }
}

/** `--stores`: one store per node, `sqlite` for each when not given. */
function parseStores(text: string | undefined, count: number): string[] {
  if (text === undefined) return Array.from({ length: count }, () => 'sqlite');
  const stores = text.split(',').map((store) => store.trim());
  if (stores.length !== count) {
    throw new UsageError(`--stores must name ${count} stores (one per node), got ${stores.length}`);
  }
  for (const store of stores) {
    if (store !== 'sqlite' && !/^postgres(ql)?:\/\//.test(store)) {
      throw new UsageError(`--stores: each must be sqlite or a postgres:// URL, got ${store}`);
    }
  }
  return stores;
}

function planNodes(
  count: number,
  dir: string,
  offset: number,
  stores: readonly string[],
): PlannedNode[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + 1;
    return {
      id: `n${i}`,
      store: stores[k] ?? 'sqlite',
      peerPort: 7000 + i + offset,
      httpPort: 9000 + i + offset,
      respPort: 6380 + i + offset,
      dir: join(dir, `n${i}`),
      logFile: join(dir, `n${i}.log`),
    };
  });
}

/** The first planned port something already listens on, described, or null. */
async function firstTakenPort(plan: readonly PlannedNode[]): Promise<string | null> {
  for (const node of plan) {
    const ports = { peer: node.peerPort, HTTP: node.httpPort, RESP: node.respPort };
    for (const [what, port] of Object.entries(ports)) {
      if (!(await portFree(port))) return `port ${port} (${what} of ${node.id})`;
    }
  }
  return null;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** The secret of `file`, or a new one written there readable by this user only. */
function loadOrCreateSecret(file: string): string {
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length < clusterSecretCharsMin) {
      console.error(
        `tandem cluster: ${file} holds a secret under ${clusterSecretCharsMin} characters; delete it to make a new one`,
      );
      process.exit(failureExitCode);
    }
    if ((statSync(file).mode & 0o077) !== 0) {
      console.error(`tandem cluster: warning: ${file} is readable by others; chmod 600 it`);
    }
    return secret;
  }
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

/** Starts `tandem start` for `node`; its output goes to its log file. */
function spawnNode(
  node: PlannedNode,
  plan: readonly PlannedNode[],
  mode: string,
  topology: Topology,
  secret: string,
  secure: Security | null,
  usersFile: string | undefined,
): ChildProcess {
  const peers = plan.map((other) => `${other.id}=${host}:${other.peerPort}`).join(',');
  const cli = fileURLToPath(new URL('./tandem.js', import.meta.url));
  const log = openSync(node.logFile, 'a');
  // Each node gets its own process group: a terminal's Ctrl-C then reaches only this
  // process, which stops the nodes one signal each instead of racing the terminal's.
  const child = spawn(
    process.execPath,
    [
      cli,
      'start',
      '--id',
      node.id,
      '--dir',
      node.dir,
      '--peers',
      peers,
      '--http-port',
      String(node.httpPort),
      secure === null ? '--resp-port' : '--resp-tls-port',
      String(node.respPort),
      '--host',
      host,
      '--mode',
      mode,
      '--topology',
      topology,
      '--store',
      node.store,
      ...(secure === null ? [] : securityArgs(node, secure)),
      ...(usersFile === undefined ? [] : ['--users', usersFile]),
    ],
    {
      env: { ...process.env, TANDEM_CLUSTER_SECRET: secret },
      // The IPC channel is the node's tie to this process: when it closes, the node stops.
      stdio: ['ignore', log, log, 'ipc'],
      detached: true,
    },
  );
  closeSync(log);
  return child;
}

/** The TLS flags of a secure cluster's node: one certificate for the peer and client ports. */
function securityArgs(node: PlannedNode, secure: Security): string[] {
  const files = secure.nodes.get(node.id);
  if (files === undefined) throw new Error(`no certificate made for ${node.id}`);
  return [
    '--tls-cert',
    files.cert,
    '--tls-key',
    files.key,
    '--tls-ca',
    secure.ca,
    '--client-tls-cert',
    files.cert,
    '--client-tls-key',
    files.key,
  ];
}

/** An HTTP Basic header for `user` and `password`. */
function basicHeader(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/**
 * The credentials the command asks the nodes' status with: the first user of the users
 * file that has a plain password (any role reads the status). Checks the file as a node
 * would, so that a bad one fails here, before any node starts.
 */
async function statusCredentials(file: string): Promise<Record<string, string>> {
  try {
    await readUsersFile(file);
  } catch (error) {
    if (error instanceof UsersFileError) throw new UsageError(error.message);
    throw error;
  }
  const users = (parseYaml(readFileSync(file, 'utf8')) as { users: Record<string, unknown>[] })
    .users;
  const withPassword = users.find((user) => typeof user.password === 'string');
  if (withPassword === undefined) {
    throw new UsageError(
      `--users ${file}: no user has a plain password, so tandem cluster cannot ask the nodes whether a leader is elected; add one (any role)`,
    );
  }
  return basicHeader(withPassword.name as string, withPassword.password as string);
}

/** Polls the nodes until one reports a leader; null on timeout or when every node died. */
async function waitForLeader(
  plan: readonly PlannedNode[],
  children: readonly SupervisedNode[],
  agents: HttpAgents,
  secure: boolean,
  auth: Record<string, string>,
): Promise<NodeStatus | null> {
  const deadline = Date.now() + leaderWaitMs;
  while (Date.now() < deadline) {
    if (children.every((child) => child.down)) return null;
    for (const node of plan) {
      const status = await fetchStatus(agents, `${nodeUrl(node, secure)}/v1/cluster`, auth);
      if (status?.leaderId) return status;
    }
    await new Promise((resolve) => setTimeout(resolve, leaderPollMs));
  }
  return null;
}

function nodeUrl(node: PlannedNode, secure: boolean): string {
  return `${secure ? 'https' : 'http'}://${host}:${node.httpPort}`;
}

async function fetchStatus(
  agents: HttpAgents,
  url: string,
  auth: Record<string, string>,
): Promise<NodeStatus | null> {
  try {
    const answer = await exchange(agents, {
      url,
      method: 'GET',
      headers: auth,
      body: undefined,
      signal: undefined,
      timeoutMs: statusRequestMs,
    });
    return answer.status === 200 ? (JSON.parse(answer.text) as NodeStatus) : null;
  } catch {
    return null; // not listening yet
  }
}

/** Whether something answers TCP on the RESP port (a node may have failed to open it). */
function respServed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(statusRequestMs, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

function printEndpoints(
  plan: readonly PlannedNode[],
  leader: NodeStatus,
  mode: string,
  dir: string,
  offset: number,
  resp: boolean,
  secure: Security | null,
  users: boolean,
): void {
  const rows = plan.map((node) => [
    node.id + (node.id === leader.leaderId ? ' *' : ''),
    nodeUrl(node, secure !== null),
    resp ? `${secure === null ? '' : 'tls '}${host}:${node.respPort}` : '-',
    `${host}:${node.peerPort}`,
    node.logFile,
  ]);
  const first = plan[0];
  const lines = [
    `tandem cluster of ${plan.length} node(s), mode ${mode}, leader ${leader.leaderId} (term ${leader.term}); data in ${dir}/`,
    '',
    formatTable([['node', 'http', 'resp', 'peers', 'log'], ...rows]),
    '',
    'try:',
    ...(secure === null ? plainTries(plan, offset, resp) : secureTries(plan, secure, resp)),
    resp ? [] : [`  (RESP port ${first.respPort} did not answer; see ${first.logFile})`],
    users
      ? [
          '  (with --users: curl -u NAME:PASSWORD, redis-cli --user NAME --pass PASSWORD,',
          '   tandem status --user NAME --password PASSWORD)',
        ]
      : [],
    '',
    '(tandem is node dist/src/cli/tandem.js when not installed.) Ctrl-C stops the cluster.',
  ].flat();
  console.log(lines.join('\n'));
}

/** The commands to try on a plain cluster. */
function plainTries(plan: readonly PlannedNode[], offset: number, resp: boolean): string[] {
  const first = plan[0];
  const second = plan[1] ?? first;
  const statusCommand =
    offset === 0 ? 'tandem status' : `tandem status --url http://${host}:${first.httpPort}`;
  return [
    `  curl -X PUT localhost:${first.httpPort}/v1/kv/hello -H 'content-type: application/json' -d '{"value":"world"}'`,
    `  curl localhost:${second.httpPort}/v1/kv/hello`,
    `  ${statusCommand}`,
    ...(resp
      ? [
          `  redis-cli -p ${first.respPort} SET greeting hi   then   redis-cli -p ${second.respPort} GET greeting`,
        ]
      : []),
  ];
}

/**
 * The commands to try on a secure cluster, one per line so that each can be pasted into a
 * shell as it is; the password is read from its file rather than shown.
 */
function secureTries(plan: readonly PlannedNode[], secure: Security, resp: boolean): string[] {
  const first = plan[0];
  const second = plan[1] ?? first;
  const password = `"$(cat ${shellQuote(secure.passwordFile)})"`;
  const ca = shellQuote(secure.ca);
  const curl = `curl --cacert ${ca} -u admin:${password}`;
  const redis = `redis-cli --tls --cacert ${ca} --user admin --pass ${password}`;
  return [
    `  ${curl} -X PUT https://${host}:${first.httpPort}/v1/kv/hello -H 'content-type: application/json' -d '{"value":"world"}'`,
    `  ${curl} https://${host}:${second.httpPort}/v1/kv/hello`,
    `  TANDEM_PASSWORD=${password} tandem status --user admin --url https://${host}:${first.httpPort} --cacert ${ca}`,
    ...(resp
      ? [
          `  ${redis} -h ${host} -p ${first.respPort} SET greeting hi`,
          `  ${redis} -h ${host} -p ${second.respPort} GET greeting`,
        ]
      : []),
  ];
}

/** `text` quoted for a POSIX shell when it holds anything but safe characters. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A node process of the cluster, started again when it exits on its own (unless not). */
class SupervisedNode {
  readonly #plan: PlannedNode;
  readonly #spawn: () => ChildProcess;
  readonly #restart: boolean;
  #child: ChildProcess;
  #startedAt = Date.now();
  #backoffMs = restartBackoffMsFirst;
  #timer: NodeJS.Timeout | null = null;
  #stopping = false;
  /** How many times it was started again. */
  restarts = 0;
  /** When it last exited on its own while no restart followed yet (or ever), else null. */
  downSince: Date | null = null;
  /** Why it last exited on its own (`SIGKILL`, `code 1`). */
  lastExit = '';

  constructor(plan: PlannedNode, spawnNode: () => ChildProcess, restart: boolean) {
    this.#plan = plan;
    this.#spawn = spawnNode;
    this.#restart = restart;
    this.#child = this.#launch();
  }

  get id(): string {
    return this.#plan.id;
  }

  /** Whether its process is not running (exited, or waiting to be started again). */
  get down(): boolean {
    return this.downSince !== null;
  }

  #launch(): ChildProcess {
    const child = this.#spawn();
    this.#startedAt = Date.now();
    this.downSince = null;
    // A node that cannot reach this process any more stops on its own; nothing to report.
    child.on('error', () => {});
    child.once('exit', (code, signal) => this.#exited(child, code, signal));
    return child;
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#stopping || child !== this.#child) return;
    const { id, logFile } = this.#plan;
    this.lastExit = signal ?? `code ${code}`;
    this.downSince = new Date();
    const ranMs = Date.now() - this.#startedAt;
    if (ranMs >= restartResetMs) this.#backoffMs = restartBackoffMsFirst;
    const next = this.#restart
      ? `restarting it in ${this.#backoffMs / 1000} s (restart ${this.restarts + 1})`
      : 'left down (--no-restart)';
    console.error(`${id} exited on its own (${this.lastExit}); ${next}; last lines of ${logFile}:`);
    console.error(tail(logFile, logTailLines));
    if (!this.#restart) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopping) return;
      this.restarts += 1;
      this.#child = this.#launch();
      console.error(`${id} started again (restart ${this.restarts}, pid ${this.#child.pid})`);
    }, this.#backoffMs);
    this.#backoffMs = Math.min(restartBackoffMsMax, this.#backoffMs * 2);
  }

  /**
   * Stops it: SIGTERM to a running process, and resolves how it ended, `clean`,
   * `unclean` (an exit code other than 0, or a signal) or `down` (it was not running).
   */
  stop(): Promise<'clean' | 'unclean' | 'down'> {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const child = this.#child;
    if (this.down || child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve('down');
    }
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code === 0 ? 'clean' : 'unclean'));
      child.kill('SIGTERM');
    });
  }

  kill(): void {
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#child.kill('SIGKILL');
  }
}

/**
 * On SIGINT, SIGTERM or SIGHUP (a closed terminal), stops every node and exits once all
 * have stopped; a second signal kills them. Reports only what is true: the nodes that
 * stopped cleanly, those that did not, and those already down (since when, and why).
 * Returns a function that starts the same stop from code.
 */
function stopOnSignals(nodes: readonly SupervisedNode[]): (exitCode: number) => Promise<void> {
  let stopping = false;
  const stop = async (exitCode: number) => {
    if (stopping) {
      console.error('second signal: killing the nodes');
      for (const node of nodes) node.kill();
      return;
    }
    stopping = true;
    console.log('stopping the nodes...');
    const down = nodes
      .filter((node) => node.down)
      .map(
        (node) =>
          `${node.id} was already down (it exited on its own, ${node.lastExit}, at ${node.downSince?.toLocaleTimeString()})`,
      );
    const outcomes = await Promise.all(nodes.map((node) => node.stop()));
    const unclean = nodes.filter((_, k) => outcomes[k] === 'unclean').map((node) => node.id);
    const restarts = nodes
      .filter((node) => node.restarts > 0)
      .map((node) => `${node.id} was restarted ${node.restarts} time(s)`);
    for (const line of [...down, ...restarts]) console.log(line);
    console.log(
      unclean.length === 0
        ? 'stopped'
        : `stopped; ${unclean.join(', ')} did not stop cleanly (see ${unclean.length === 1 ? 'its log' : 'their logs'})`,
    );
    process.exit(unclean.length > 0 ? failureExitCode : exitCode);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGHUP', () => void stop(0));
  return stop;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
