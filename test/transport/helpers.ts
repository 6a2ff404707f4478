import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '../../src/core/types.js';
import { decodePayload, encodePayload } from '../../src/transport/codec.js';
import type {
  Logger,
  PeerAddress,
  TransportLimits,
  TransportOptions,
} from '../../src/transport/contract.js';
import { encodeFrame, FrameParser } from '../../src/transport/frame.js';
import {
  AcceptorHandshake,
  DialerHandshake,
  parseHandshakeMessage,
} from '../../src/transport/handshake.js';
import { PeerTransport } from '../../src/transport/transport.js';

/** One log line as a test logger keeps it. */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error' | 'debug';
  readonly object: Record<string, unknown>;
  readonly message: string | undefined;
}

/** A logger that keeps every line, so tests can assert what was warned and what never leaked. */
export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];
  info(object: object, message?: string): void {
    this.#add('info', object, message);
  }
  warn(object: object, message?: string): void {
    this.#add('warn', object, message);
  }
  error(object: object, message?: string): void {
    this.#add('error', object, message);
  }
  debug(object: object, message?: string): void {
    this.#add('debug', object, message);
  }
  #add(level: LogLine['level'], object: object, message: string | undefined): void {
    this.lines.push({ level, object: object as Record<string, unknown>, message });
  }

  /** The warnings whose reason matches `pattern`. */
  warnings(pattern: RegExp): LogLine[] {
    return this.lines.filter(
      (line) => line.level === 'warn' && pattern.test(String(line.object.reason)),
    );
  }

  /** Everything logged, as one string, to check that a secret never appears in it. */
  text(): string {
    return JSON.stringify(this.lines);
  }
}

/** The secret every good node in these tests shares. */
export const goodSecret = 'correct horse battery staple';

/** Limits that keep the tests fast: quick reconnects and handshake timeouts. */
export const fastLimits: Partial<TransportLimits> = {
  reconnectDelayMsMin: 10,
  reconnectDelayMsMax: 100,
  handshakeTimeoutMs: 1000,
};

/** A started transport with what it received and its logger. */
export interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly logger: RecordingLogger;
  readonly received: { from: NodeId; payload: unknown }[];
}

/** Starts a transport on 127.0.0.1 that records what it receives. */
export async function startNode(
  id: NodeId,
  overrides: Partial<TransportOptions> = {},
): Promise<TestNode> {
  const logger = new RecordingLogger();
  const transport = await PeerTransport.start({
    nodeId: id,
    clusterId: 'cluster-1',
    clusterSecret: goodSecret,
    listen: { host: '127.0.0.1', port: 0 },
    advertisement: { httpUrl: `http://127.0.0.1/${id}`, resp: `127.0.0.1:63${id.length}` },
    peers: new Map(),
    logger,
    ...overrides,
    limits: { ...fastLimits, ...overrides.limits },
  });
  const received: TestNode['received'] = [];
  transport.onMessage((from, payload) => received.push({ from, payload }));
  return { id, transport, logger, received };
}

/** Tells every node of `nodes` where every other one listens. */
export function connectAll(nodes: readonly TestNode[]): void {
  for (const node of nodes) {
    for (const other of nodes) {
      if (other !== node) node.transport.setPeer(other.id, other.transport.address);
    }
  }
}

/** Polls `condition` until it holds, or fails naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port on 127.0.0.1 that was free a moment ago: nothing listens there now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A hand-driven peer on a raw socket: it can play the dialer's handshake properly, then
 * send whatever bytes a test wants, well-formed or not.
 */
export class RawPeer {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed, whoever closed it. */
  readonly closed: Promise<void>;
  readonly #parser = new FrameParser();
  readonly #messages: unknown[] = [];
  #wake: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#parser.push(chunk);
      for (let result = this.#parser.next(1 << 20); result !== null;) {
        if (result.status === 'corrupt') throw new Error(result.reason);
        const decoded = decodePayload(result.payload);
        if (!decoded.ok) throw new Error(decoded.reason);
        this.#messages.push(decoded.value);
        result = this.#parser.next(1 << 20);
      }
      this.#wake?.();
    });
  }

  /** Connects to `address`. */
  static async connect(address: PeerAddress): Promise<RawPeer> {
    const socket = net.connect(address);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  /** Plays the dialer's side of the handshake as `nodeId` towards `peerId`. */
  async handshake(nodeId: NodeId, peerId: NodeId, secret = goodSecret): Promise<void> {
    const dialer = new DialerHandshake(
      {
        clusterId: 'cluster-1',
        nodeId,
        secret,
        advertisement: { peer: { host: '127.0.0.1', port: 1 }, httpUrl: '', resp: null },
      },
      peerId,
    );
    this.sendValue(dialer.hello());
    for (;;) {
      const message = parseHandshakeMessage(await this.nextMessage());
      if (typeof message === 'string') throw new Error(message);
      const step = dialer.receive(message);
      if (step.kind === 'refuse') throw new Error(step.reason);
      if (step.kind === 'send') this.sendValue(step.message);
      if (step.kind === 'done') return;
    }
  }

  /** The next decoded frame from the other side. */
  async nextMessage(): Promise<unknown> {
    while (this.#messages.length === 0) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return this.#messages.shift();
  }

  /** Sends one well-formed frame holding `value`. */
  sendValue(value: unknown): void {
    this.socket.write(encodeFrame(encodePayload(value)));
  }

  /** Sends `bytes` in pieces of `pieceBytes`, waiting for each to be written. */
  async sendInPieces(bytes: Buffer, pieceBytes: number): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += pieceBytes) {
      const piece = bytes.subarray(offset, offset + pieceBytes);
      await new Promise<void>((resolve, reject) =>
        this.socket.write(piece, (error) => (error ? reject(error) : resolve())),
      );
    }
  }
}

/** Whether `openssl` can be run here. */
export function opensslAvailable(): boolean {
  const result = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return result.error === undefined && result.status === 0;
}

/** A certificate and key in PEM, with the CA that signed it. */
export interface Credentials {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/**
 * Makes a CA, then a certificate for each name signed by it, valid for 127.0.0.1 and as
 * both TLS client and server: each node is both.
 */
export function makeCertificates(
  caName: string,
  names: readonly string[],
): Map<string, Credentials> {
  const directory = mkdtempSync(join(tmpdir(), 'tandem-tls-'));
  const run = (args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: directory, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    run(
      ['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1'].concat([
        '-subj',
        `/CN=${caName}`,
      ]),
    );
    writeFileSync(
      join(directory, 'node.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\n' +
        'extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n',
    );
    const ca = readFileSync(join(directory, 'ca.crt'), 'utf8');
    const credentials = new Map<string, Credentials>();
    for (const name of names) {
      run([
        'req',
        ...ecKey,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${name}`,
      ]);
      run(
        ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key'].concat([
          '-CAcreateserial',
          '-out',
          `${name}.crt`,
          '-days',
          '1',
          '-extfile',
          'node.ext',
        ]),
      );
      credentials.set(name, {
        cert: readFileSync(join(directory, `${name}.crt`), 'utf8'),
        key: readFileSync(join(directory, `${name}.key`), 'utf8'),
        ca,
      });
    }
    return credentials;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * A hand-driven acceptor: it plays the acceptor's handshake properly, then records the
 * frames it receives, and can stop reading to make a sender's socket back up.
 */
export class RawAcceptor {
  readonly received: unknown[] = [];
  readonly #server: net.Server;
  #socket: net.Socket | null = null;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** Listens on 127.0.0.1 as node `nodeId`. */
  static async listen(nodeId: NodeId): Promise<RawAcceptor> {
    const server = net.createServer();
    const acceptor = new RawAcceptor(server);
    server.on('connection', (socket) => acceptor.#serve(socket, nodeId));
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return acceptor;
  }

  get address(): PeerAddress {
    return { host: '127.0.0.1', port: (this.#server.address() as net.AddressInfo).port };
  }

  /** Stops reading from the current connection; the sender's writes back up. */
  pause(): void {
    this.#socket?.pause();
  }

  resume(): void {
    this.#socket?.resume();
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: net.Socket, nodeId: NodeId): void {
    this.#socket = socket;
    const handshake = new AcceptorHandshake({
      clusterId: 'cluster-1',
      nodeId,
      secret: goodSecret,
      advertisement: { peer: this.address, httpUrl: '', resp: null },
    });
    const parser = new FrameParser();
    let established = false;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      for (let result = parser.next(1 << 24); result !== null; result = parser.next(1 << 24)) {
        if (result.status === 'corrupt') throw new Error(result.reason);
        const decoded = decodePayload(result.payload);
        if (!decoded.ok) throw new Error(decoded.reason);
        if (established) {
          this.received.push(decoded.value);
          continue;
        }
        const message = parseHandshakeMessage(decoded.value);
        if (typeof message === 'string') throw new Error(message);
        const step = handshake.receive(message);
        if (step.kind === 'refuse') throw new Error(step.reason);
        if (step.message !== null) socket.write(encodeFrame(encodePayload(step.message)));
        established = step.kind === 'done';
      }
    });
  }
}
