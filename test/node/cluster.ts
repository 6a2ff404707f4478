import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built `tandem` command. */
const tandem = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

/** Ports this process has handed out, so no two nodes of any test share one. */
const portsHandedOut = new Set<number>();
/**
 * Test ports come from below the kernel's ephemeral range (32768 and up on Linux): a port
 * from `listen(0)` lies in that range, and an outgoing connection may take it between the
 * check and the node's own bind.
 */
const testPortMin = 20_000;
const testPortMax = 32_000;

/** A free TCP port on loopback, outside the ephemeral range, never handed out twice here. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = testPortMin + Math.floor(Math.random() * (testPortMax - testPortMin));
    if (portsHandedOut.has(port)) continue;
    if (await canListen(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${testPortMin}-${testPortMax}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** One node of a test cluster: its ports and, while running, its process. */
export interface TestNode {
  readonly id: string;
  readonly peerPort: number;
  readonly httpPort: number;
  /** The node's RESP port (`--resp-port`). */
  readonly respPort: number;
  readonly dir: string;
  process: ChildProcess | null;
  output: string[];
}

/** Options of a test cluster. */
export interface ClusterOptions {
  readonly nodes: number;
  readonly mode?: string;
  readonly snapshotEvery?: number;
  readonly secret?: string;
  /** Extra `tandem start` arguments for a node (TLS files, say). */
  readonly extraArgs?: (id: string) => string[];
  /** Headers of the cluster's own status requests (credentials, when users are configured). */
  readonly statusHeaders?: Record<string, string>;
  /**
   * The CA (PEM) of the nodes' client-port certificates, when they serve HTTPS: `url()`
   * says https and the cluster's own requests trust it (and present `clientCert`).
   */
  readonly clientCa?: string;
  /** A client certificate and key for the cluster's own requests (mutual TLS). */
  readonly clientCert?: { readonly cert: string; readonly key: string };
  /** Give each node's RESP port as `--resp-tls-port` (TLS only) instead of `--resp-port`. */
  readonly respTls?: boolean;
}

/** A cluster of real `tandem start` processes on loopback, in a temporary directory. */
export class TestCluster {
  readonly root: string;
  readonly nodes: TestNode[] = [];
  readonly secret: string;
  readonly #options: ClusterOptions;

  private constructor(root: string, options: ClusterOptions) {
    this.root = root;
    this.#options = options;
    this.secret = options.secret ?? 'test-cluster-secret';
  }

  static async create(options: ClusterOptions): Promise<TestCluster> {
    const cluster = new TestCluster(mkdtempSync(join(tmpdir(), 'tandem-cluster-')), options);
    for (let i = 1; i <= options.nodes; i++) await cluster.addNodeSpec(`n${i}`);
    return cluster;
  }

  /** Reserves ports and a directory for a node (started later). */
  async addNodeSpec(id: string): Promise<TestNode> {
    const node: TestNode = {
      id,
      peerPort: await freePort(),
      httpPort: await freePort(),
      respPort: await freePort(),
      dir: join(this.root, id),
      process: null,
      output: [],
    };
    this.nodes.push(node);
    return node;
  }

  node(id: string): TestNode {
    const node = this.nodes.find((candidate) => candidate.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  url(id: string): string {
    const scheme = this.#options.clientCa === undefined ? 'http' : 'https';
    return `${scheme}://127.0.0.1:${this.node(id).httpPort}`;
  }

  /** `call`, trusting the cluster's client CA when it has one. */
  call(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const ca = this.#options.clientCa;
    if (ca === undefined) return call(method, url, body, headers);
    return tlsCall(method, url, { ca, ...this.#options.clientCert }, body, headers);
  }

  /** Starts a node process; `peers` defaults to every other node of the cluster. */
  start(id: string, options: { join?: boolean; peers?: string[]; secret?: string } = {}): TestNode {
    const node = this.node(id);
    const peers = (options.peers ?? this.nodes.map((other) => other.id))
      .filter((peer) => peer !== id)
      .map((peer) => `${peer}=127.0.0.1:${this.node(peer).peerPort}`)
      .join(',');
    const args = [
      tandem,
      'start',
      '--id',
      id,
      '--dir',
      node.dir,
      '--peers',
      peers,
      '--peer-port',
      String(node.peerPort),
      '--http-port',
      String(node.httpPort),
      this.#options.respTls === true ? '--resp-tls-port' : '--resp-port',
      String(node.respPort),
      '--host',
      '127.0.0.1',
      '--mode',
      this.#options.mode ?? 'quorum',
    ];
    if (this.#options.snapshotEvery !== undefined) {
      // A test that sets how often snapshots come wants them at once, not every 10 s.
      args.push('--snapshot-every', String(this.#options.snapshotEvery));
      args.push('--snapshot-min-interval-ms', '0');
    }
    if (options.join === true) args.push('--join');
    args.push(...(this.#options.extraArgs?.(id) ?? []));
    // TANDEM_NODE_FLAGS passes Node flags to every node process (say, --cpu-prof to profile).
    const flags = (process.env.TANDEM_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
    const child = spawn(process.execPath, [...flags, ...args], {
      env: { ...process.env, TANDEM_CLUSTER_SECRET: options.secret ?? this.secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    node.output = [];
    const keep = (chunk: Buffer): void => {
      node.output.push(chunk.toString());
      if (node.output.length > 2000) node.output.splice(0, 1000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    node.process = child;
    return node;
  }

  /** Waits until a started node answers HTTP. */
  async up(id: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await this.call('GET', `${this.url(id)}/healthz`)
        .then((answer) => answer.status === 200)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${id} did not come up\n${this.logs()}`);
      await sleep(50);
    }
  }

  startAll(): void {
    for (const node of this.nodes) this.start(node.id);
  }

  /** Kills a node with SIGKILL and waits until its process is gone. */
  kill(id: string): Promise<void> {
    return this.#end(id, 'SIGKILL');
  }

  /** Stops a node with SIGTERM (a clean shutdown) and waits for it; SIGKILL after 10 s. */
  stop(id: string): Promise<void> {
    return this.#end(id, 'SIGTERM');
  }

  async #end(id: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (child === null) return;
    node.process = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  /** Kills every process and removes the directory. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node.id)));
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The id of the leader that every running node agrees on, waiting up to `timeoutMs`. */
  async leader(timeoutMs = 20_000, among?: string[]): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const ids = among ?? this.nodes.filter((node) => node.process !== null).map((node) => node.id);
    for (;;) {
      const views = await Promise.all(ids.map((id) => this.status(id).catch(() => null)));
      const leaders = new Set(views.map((view) => view?.leaderId ?? null));
      const [only] = [...leaders];
      if (leaders.size === 1 && typeof only === 'string' && ids.includes(only)) {
        const leaderView = views[ids.indexOf(only)];
        if (leaderView?.role === 'leader') return only;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no agreed leader after ${timeoutMs} ms: ${JSON.stringify(views)}\n${this.logs()}`,
        );
      }
      await sleep(100);
    }
  }

  async status(id: string): Promise<ClusterView> {
    const answer = await this.call(
      'GET',
      `${this.url(id)}/v1/cluster`,
      undefined,
      this.#options.statusHeaders,
    );
    return answer.body as unknown as ClusterView;
  }

  /** The last lines every node printed, for failure messages. */
  logs(): string {
    return this.nodes
      .map((node) => `--- ${node.id}\n${node.output.join('').split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }
}

/** The parts of `GET /v1/cluster` the tests read. */
export interface ClusterView {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  readonly membership: { voters: string[]; learners: string[] };
  readonly members: { id: string; voter: boolean; matchIndex: number | null }[];
}

/** An HTTP call that returns status, headers and parsed JSON body. */
export async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { text };
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** TLS settings of `tlsCall`: PEM text, as node:https takes it. */
export interface TlsCallOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * An HTTPS call with its own CA (and client certificate), which `fetch` cannot take:
 * status, headers and parsed JSON body. Rejects with the socket error (a failed handshake).
 */
export function tlsCall(
  method: string,
  url: string,
  tls: TlsCallOptions,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(url, {
      method,
      ...tls,
      agent: false,
      headers: text === undefined ? headers : { 'content-type': 'application/json', ...headers },
      timeout: 15_000,
    });
    request.once('timeout', () => request.destroy(new Error(`no answer from ${url}`)));
    request.once('error', reject);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () => {
        const answer = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown>;
        try {
          parsed = answer === '' ? {} : (JSON.parse(answer) as Record<string, unknown>);
        } catch {
          parsed = { text: answer };
        }
        resolve({ status: response.statusCode ?? 0, body: parsed, headers: response.headers });
      });
    });
    request.end(text);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
