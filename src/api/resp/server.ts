/**
 * The RESP server: the thin adapter that owns the sockets. Each connection feeds its bytes
 * to a `RequestParser`, runs every complete command of a read in order, and answers the
 * whole batch with one socket write. Writes of one batch are proposed back to back (so
 * they share the leader's group commit); a read waits for the connection's earlier writes
 * (read-your-writes). A protocol error answers `-ERR Protocol error: ...` and closes that
 * connection (whole, not half) only.
 *
 * It listens on a plain port, a TLS port (as Redis's `tls-port`), or both; the two serve
 * the same sessions, limits and commands. A client that protected mode refuses is answered
 * `-DENIED ...` on either and closed before anything it sent is read.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { AccessControl } from '../../access/control.js';
import { createServer as createTlsServer } from 'node:tls';
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle } from '../../node/api.js';
import type { UserRecord } from '../../store/access-state.js';
import { clientKey } from '../../store/databases.js';
import type { Session as DedupeSession } from '../../store/index.js';
import { transactionStepsMax } from '../../store/commands.js';
import {
  protectedModeMessage,
  protectedModeRefuses,
  type ProtectedModeOptions,
} from '../protected-mode.js';
import { forwardingTlsOptions, serverTlsOptions, type ClientTls } from '../tls.js';
import type { Logger } from '../../transport/contract.js';
import { aclCommand } from './acl.js';
import {
  clientReplyOf,
  databaseArg,
  dbOutOfRange,
  hasReservedKey,
  inDatabase,
  isArgs,
  reservedKeyRefusal,
  storedKeysValid,
} from './databases.js';
import { adminCommands, refuse } from './admin.js';
import { commandCommand } from './command.js';
import { infoCommands, sampleMemory } from './info.js';
import { sampleIntervalMs, ServerStats, type CommandCounters } from './stats.js';
import { Forwarder, linkProof } from './forward.js';
import { keyCommands, type Args } from './keys.js';
import { stringCommands } from './strings.js';
import {
  discardTransaction,
  queueCommand,
  refusedInMulti,
  transactionCommandsMaxDefault,
  transactionReadBytesMaxDefault,
  transactionCommands,
  transactionControls,
} from './transactions.js';
import { hashCommands } from './hashes.js';
import { setCommands } from './sets.js';
import { sortedSetCommands } from './sorted-sets.js';
import { BlockedClients } from './blocking.js';
import { listCommands } from './lists.js';
import { bulkBytesMaxDefault, RequestParser, type RespCommand } from './parser.js';
import {
  pubsubCommands,
  pubsubOutputBufferBytesMax,
  PubSubHub,
  subscribedModeRefusal,
  subscribedPing,
} from './pubsub.js';
import {
  error,
  ok,
  simple,
  ReplyWriter,
  type ErrorReply,
  type PushReply,
  type Reply,
} from './reply.js';
import {
  errorReply,
  newSession,
  type FollowerWrites,
  type ServerContext,
  type Session,
} from './session.js';
import {
  arityFits,
  noKeyPermission,
  noPermission,
  requirementOf,
  wrongArity,
  type CommandSpec,
  type Requirement,
} from './spec.js';

/** Redis's default `maxclients`. */
export const maxClientsDefault = 10_000;
/**
 * Bytes of replies a client may leave unread before it is disconnected (Redis's
 * client-output-buffer-limit for normal clients is unlimited; an unbounded buffer is how
 * one slow reader takes a server down, so Tandem sets one).
 */
export const outputBufferBytesMaxDefault = 64 * 1024 * 1024;
/** How long a closing connection's last reply may take to leave before it is dropped. */
export const closingReplyMsMax = 10_000;
/** Commands of one connection queued or not yet answered; past it, its socket pauses. */
export const pendingCommandsMax = 16_384;
/**
 * Writes of one connection in flight at once: enough to fill a group commit, well under
 * the node's own proposal limit, so that one pipelining client cannot exhaust it.
 */
export const pendingWritesMax = 1_024;

/**
 * How long a TLS handshake the client has begun may take (Node's default is two minutes).
 * A client that connects and never begins one is like a silent plain client: it stays
 * until it goes or the server closes, which ends it with the rest.
 */
export const tlsHandshakeMsMax = 10_000;

/** Options of `startRespServer`. */
export interface RespServerOptions extends ProtectedModeOptions {
  readonly host: string;
  /** The plain port, or null for none; 0 picks a free port (see `RespServer.port`). */
  readonly port: number | null;
  /** The TLS port (needs `tls`), or null or absent for none; 0 picks a free port. */
  readonly tlsPort?: number | null;
  /** The certificate, key and optional client CA of the TLS port (see ../tls.ts). */
  readonly tls?: ClientTls;
  readonly logger: Logger;
  /** What a follower does with writes (default `forward`). */
  readonly followerWrites?: FollowerWrites;
  readonly maxClients?: number;
  readonly outputBufferBytesMax?: number;
  readonly bulkBytesMax?: number;
  /** The cluster secret: a follower's forwarding links prove with it that they are nodes. */
  readonly clusterSecret?: string;
  /**
   * Who may do what (src/access): users, roles and key patterns, checked on every command.
   * Absent, the node's replicated users alone, with the open mode's `default` user until
   * the log holds some.
   */
  readonly access?: AccessControl;
  /** The most commands one MULTI may queue (default `transactionCommandsMaxDefault`). */
  readonly transactionCommandsMax?: number;
  /**
   * The most bytes the reads of one transaction may answer (default
   * `transactionReadBytesMaxDefault`, 64 MiB); a read past it answers an error in EXEC's array.
   */
  readonly transactionReadBytesMax?: number;
}

/** A running RESP server. */
export interface RespServer {
  /** The plain port bound, or null when it has none. */
  readonly port: number | null;
  /** The TLS port bound, or null when it has none. */
  readonly tlsPort: number | null;
  /** The RESP counters in Prometheus's text format (see `ServerStats.prometheusText`). */
  metricsText(): string;
  /** Runs one command outside any connection (see `OneShotRequest`). */
  run(request: OneShotRequest): Promise<OneShotAnswer>;
  /** Stops listening, closes every connection and the forwarding pool. */
  close(): Promise<void>;
}

/**
 * One command run outside any connection, for the HTTP API's `POST /v1/command`: checked
 * for `user` as a connection's command is (arity, role, key patterns), run by the same
 * handler, in a session of its own. A write on a follower is not forwarded here: it throws
 * TANDEM_NOT_LEADER for the caller to send on; so does every other failure that is not
 * the command's own (which is its error reply).
 */
export interface OneShotRequest {
  readonly user: string;
  /** The command and its arguments, as a connection would send them. */
  readonly args: readonly Buffer[];
  /** The caller's address, for audit lines. */
  readonly clientHost: string;
  /** How its reads are served: the level, and the write they must see. */
  readonly consistency: Consistency;
  readonly afterIndex?: number;
  readonly afterTerm?: number;
  readonly maxLagEntries?: number;
  /** The exactly-once session and sequence its write carries. */
  readonly dedupe?: DedupeSession;
  /** The durability its write asks for; absent, the cluster's mode. */
  readonly durability?: Durability;
  /** Refuse a write (a read that must not change anything, served by any node). */
  readonly readOnly?: boolean;
}

/** A one-shot command's reply, and the log position of its write (0 and 0 for none). */
export interface OneShotAnswer {
  readonly reply: Reply;
  readonly index: number;
  readonly term: number;
}

/**
 * Commands that act on their connection (who it is, its protocol, its transaction, its
 * subscriptions, its own writes) or wait for other clients: not run one-shot.
 */
const connectionBound: ReadonlySet<string> = new Set([
  'auth',
  'hello',
  'select',
  'readonly',
  'readwrite',
  'client',
  'wait',
  'reset',
  'quit',
  'multi',
  'exec',
  'discard',
  'watch',
  'unwatch',
  'subscribe',
  'unsubscribe',
  'psubscribe',
  'punsubscribe',
  'tandem.consistency',
  'tandem.wait',
  'tandem.exec',
  'tandem.forward',
  'tandem.forwardas',
  'tandem.forwardin',
  'tandem.link',
]);

/** Commands the server answers itself, since they act on the connection. */
const connectionCommands: Record<string, CommandSpec> = {
  quit: { arity: -1, write: false, role: 'read', noauth: true, run: () => ok },
  reset: { arity: 1, write: false, role: 'read', noauth: true, run: () => simple('RESET') },
  // The form older followers send: the command runs as this connection's user, an admin.
  'tandem.forward': { arity: -2, write: false, role: 'admin', run: () => ok },
  // TANDEM.LINK proof: a forwarding link's proof that a node of the cluster holds it.
  'tandem.link': {
    arity: 2,
    write: false,
    role: 'read',
    noauth: true,
    serial: true,
    run: () => ok,
  },
  // TANDEM.FORWARDAS user password cmd...: authenticates on its own, as AUTH does.
  'tandem.forwardas': { arity: -4, write: false, role: 'read', noauth: true, run: () => ok },
  // TANDEM.FORWARDIN db user password cmd...: the same, for a client in database `db`.
  'tandem.forwardin': { arity: -5, write: false, role: 'read', noauth: true, run: () => ok },
};

/** Commands other than writes that a follower sends its leader (see `forwardAs`). */
const forwardedOthers: ReadonlySet<string> = new Set(['acl', 'tandem.wait']);

/** The table every command is dispatched and checked from. */
export function buildCommandTable(): Record<string, CommandSpec> {
  const table: Record<string, CommandSpec> = {};
  Object.assign(
    table,
    keyCommands,
    stringCommands,
    hashCommands,
    setCommands,
    sortedSetCommands,
    listCommands,
    adminCommands,
    infoCommands,
    pubsubCommands,
    connectionCommands,
  );
  table.ping = subscribedPing(table.ping);
  table.command = commandCommand(table);
  table.acl = aclCommand(table);
  Object.assign(table, transactionCommands(table));
  return table;
}

const table = buildCommandTable();

/** A command whose connection is closed rather than answered (its user is gone). */
const unanswered: unique symbol = Symbol('unanswered');

/** Redis's unknown-command text: the name, then arguments quoted, up to 128 characters. */
function unknownCommand(args: readonly string[]): Reply {
  let listed = '';
  for (let i = 1; i < args.length && listed.length < 128; i++) {
    listed += `'${args[i].slice(0, 128 - listed.length)}' `;
  }
  return error(
    `ERR unknown command '${args[0].slice(0, 128)}', with args beginning with: ${listed}`,
  );
}

/** Whether `reply` is an error reply. */
function isError(reply: Reply): reply is ErrorReply {
  return (
    typeof reply === 'object' && reply !== null && (reply as { kind?: unknown }).kind === 'error'
  );
}

function isRequirement(value: Requirement | Reply): value is Requirement {
  return typeof value === 'object' && value !== null && 'display' in value;
}

/** Starts a RESP server for `node`, on its plain port, its TLS port, or both. */
export async function startRespServer(
  node: NodeHandle,
  options: RespServerOptions,
): Promise<RespServer> {
  const tlsPort = options.tlsPort ?? null;
  assert(options.port !== null || tlsPort !== null, 'a RESP server needs a plain or a TLS port');
  assert(tlsPort === null || options.tls !== undefined, 'a RESP TLS port needs a certificate');
  const commandsMax = options.transactionCommandsMax ?? transactionCommandsMaxDefault;
  assert(
    Number.isSafeInteger(commandsMax) && commandsMax >= 1 && commandsMax <= transactionStepsMax,
    `transactionCommandsMax must be 1 to ${transactionStepsMax}`,
  );
  const readBytesMax = options.transactionReadBytesMax ?? transactionReadBytesMaxDefault;
  assert(
    Number.isSafeInteger(readBytesMax) && readBytesMax >= 1,
    'transactionReadBytesMax must be a positive integer',
  );
  const sessions = new Map<number, Session>();
  const proof = options.clusterSecret === undefined ? null : linkProof(options.clusterSecret);
  const access =
    options.access ?? new AccessControl({ state: () => node.accessState(), bootstrap: [] });
  const context: ServerContext = {
    node,
    logger: options.logger,
    access,
    followerWrites: options.followerWrites ?? 'forward',
    forwarder: new Forwarder(options.logger, proof, forwardingTlsOptions(options.tls)),
    sessions,
    pubsub: new PubSubHub(),
    blocked: new BlockedClients(node, options.logger),
    keyEvents: { flags: 0 },
    startedAtMs: Date.now(),
    maxClients: options.maxClients ?? maxClientsDefault,
    transactionReadBytesMax: readBytesMax,
    port: options.port ?? tlsPort ?? 0,
    stats: new ServerStats(),
    runId: randomBytes(20).toString('hex'),
  };
  // Redis's serverCron samples its rates and memory peak ten times a second; so does this.
  const sampler = setInterval(() => {
    context.stats.sample(Date.now());
    sampleMemory(context.stats);
  }, sampleIntervalMs);
  sampler.unref();
  const sockets = new Set<Socket>();
  let nextId = 1;
  const accept = (socket: Socket) => {
    context.stats.connectionsReceived++;
    if (protectedModeRefuses(options, () => access.configured(), socket.remoteAddress)) {
      context.stats.rejectedConnections++;
      socket.write(`-DENIED ${protectedModeMessage}\r\n`);
      closeAfterReply(socket);
      return;
    }
    if (sessions.size >= context.maxClients) {
      context.stats.rejectedConnections++;
      socket.write('-ERR max number of clients reached\r\n');
      closeAfterReply(socket);
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new Connection(context, socket, nextId++, options, proof);
  };
  const servers: Server[] = [];
  const stopDelivery = node.onApplied((entries, results) => {
    context.pubsub.onApplied(entries, results, context.keyEvents.flags);
    context.blocked.onApplied(entries);
  });
  const close = () => {
    clearInterval(sampler);
    stopDelivery();
    return closeServers(servers, sockets, context);
  };
  // Every TCP connection, TLS ones still in their handshake included, so that close()
  // ends them all rather than wait for them.
  const track = (server: Server): Server =>
    server.on('connection', (raw: Socket) => {
      sockets.add(raw);
      raw.once('close', () => sockets.delete(raw));
    });
  try {
    const plain =
      options.port === null
        ? null
        : await listen(track(createServer(accept)), options.host, options.port);
    if (plain !== null) servers.push(plain.server);
    const secure =
      tlsPort === null
        ? null
        : await listen(track(tlsServer(options, accept)), options.host, tlsPort);
    if (secure !== null) servers.push(secure.server);
    (context as { port: number }).port = plain?.port ?? secure?.port ?? 0;
    return {
      port: plain?.port ?? null,
      tlsPort: secure?.port ?? null,
      run: (request) => runOneShot(context, request),
      metricsText: () => context.stats.prometheusText(node.id, sessions.size),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs `request` (see `OneShotRequest`). */
async function runOneShot(context: ServerContext, request: OneShotRequest): Promise<OneShotAnswer> {
  const none = (reply: Reply): OneShotAnswer => ({ reply, index: 0, term: 0 });
  const raw = [...request.args];
  if (raw.length === 0) return none(error('ERR a command needs its name'));
  const args: Args = { raw, text: raw.map((arg) => arg.toString('utf8')) };
  const name = args.text[0].toLowerCase();
  const spec = Object.hasOwn(table, name) ? table[name] : undefined;
  if (spec === undefined) return none(unknownCommand(args.text));
  if (connectionBound.has(name) || spec.blocks === true) {
    return none(error(`ERR ${args.text[0]} acts on a connection: send it over RESP`));
  }
  if (request.readOnly === true && spec.write) {
    return none(error(`ERR ${args.text[0]} is a write: send it as a command, not a read`));
  }
  if (!arityFits(spec.arity, raw.length)) return none(wrongArity(name));
  const requirement = requirementOf(name, spec, args);
  if (!isRequirement(requirement)) return none(requirement);
  // A one-shot command runs in database 0, whose keys are stored as they are.
  if (hasReservedKey(requirement.keys)) return none(reservedKeyRefusal);
  const session = newSession(
    0,
    { remote: request.clientHost, local: '', clientHost: request.clientHost },
    { user: request.user, password: null, forwarded: true },
  );
  const counters = context.stats.counters(requirement.display);
  const refusal = context.access.check(request.user, requirement.role, requirement.keys);
  if (refusal !== null) {
    counters.rejectedCalls++;
    return none(refusal.role === null ? noKeyPermission : noPermission(requirement.display));
  }
  if (requirement.audit) {
    context.access.audit.admin(request.user, requirement.display, {
      client: request.clientHost,
      via: 'http',
    });
  }
  session.protocol = 3;
  session.consistency = request.consistency;
  session.lastWriteIndex = request.afterIndex ?? 0;
  session.lastWriteTerm = request.afterTerm ?? 0;
  if (request.maxLagEntries !== undefined) session.maxLagEntries = request.maxLagEntries;
  session.dedupe = request.dedupe ?? null;
  if (request.durability !== undefined) session.durability = request.durability;
  session.lastCommand = name;
  const before = session.lastWriteIndex;
  let reply: Reply;
  const startedMs = performance.now();
  try {
    const running = spec.run(context, session, args);
    // INFO commandstats counts the handler's time on the event loop, as for a connection.
    context.stats.ran(counters, Math.round((performance.now() - startedMs) * 1000));
    reply = await running;
    context.stats.answered(counters, startedMs);
  } catch (thrown) {
    // The command's own refusals are its reply; the node's (no leader, a timeout) the caller's.
    if (thrown instanceof TandemError && !ownRefusals.has(thrown.code)) throw thrown;
    reply = errorReply(thrown, context.logger);
  }
  return session.lastWriteIndex > before
    ? { reply, index: session.lastWriteIndex, term: session.lastWriteTerm }
    : none(reply);
}

/** Errors a command throws that are its answer (`ERR ...`), not the node's failure. */
const ownRefusals: ReadonlySet<string> = new Set(['TANDEM_BAD_REQUEST', 'TANDEM_ENTRY_TOO_LARGE']);

/** The TLS listener: a failed handshake is the client's problem, logged at debug level. */
function tlsServer(options: RespServerOptions, accept: (socket: Socket) => void): Server {
  assert(options.tls !== undefined, 'a RESP TLS port needs a certificate');
  const server = createTlsServer(
    { ...serverTlsOptions(options.tls), handshakeTimeout: tlsHandshakeMsMax },
    accept,
  );
  server.on('tlsClientError', (cause, socket) => {
    options.logger.debug(
      { err: cause, client: `${socket.remoteAddress}:${socket.remotePort}` },
      'RESP TLS handshake failed',
    );
  });
  return server;
}

/** Binds `server`; resolves with the port bound. */
async function listen(
  server: Server,
  host: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : port };
}

async function closeServers(
  servers: readonly Server[],
  sockets: Set<Socket>,
  context: ServerContext,
): Promise<void> {
  const closed = servers
    .filter((server) => server.listening)
    .map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
  for (const socket of sockets) socket.destroy();
  context.forwarder.close();
  await Promise.all(closed);
}

/**
 * Closes `socket` once what was written to it has gone out, as Redis does after QUIT, a
 * protocol error or a refused connection. Only ending it would leave it half open, reading
 * (or buffering) whatever the client goes on sending, for as long as the client likes; a
 * client that never reads its last reply does not keep it past `closingReplyMsMax` either.
 */
function closeAfterReply(socket: Socket): void {
  socket.end(() => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), closingReplyMsMax);
  socket.once('close', () => clearTimeout(timer));
}

/** One client connection: parser, session, and the ordered stream of reply batches. */
class Connection {
  readonly #context: ServerContext;
  readonly #socket: Socket;
  readonly #session: Session;
  readonly #parser: RequestParser;
  readonly #outputBytesMax: number;
  /** Settles once every batch so far has been written: batches are answered in order. */
  #previous: Promise<void> | null = null;
  #pendingCommands = 0;
  /** Parsed commands not yet run; `#queue[#head]` runs next. */
  #queue: RespCommand[] = [];
  #head = 0;
  /** A serial command still running (an AUTH hashing, say): nothing after it runs yet. */
  #blocked: Promise<void> | null = null;
  /** A pump is queued for the writes settling now (see `onWriteSettled` below). */
  #pumpQueued = false;
  /** Set when the connection's user is gone: it closes once earlier replies are out. */
  #killed = false;
  /** What TANDEM.LINK must show (see `linkProof`), or null when this node has no secret. */
  readonly #proof: string | null;
  /** Bytes of pub/sub pushes waiting for earlier replies before they are written. */
  #queuedPushBytes = 0;
  /** The most commands one MULTI of this connection may queue. */
  readonly #transactionCommandsMax: number;
  /** The counters of the command `#run` last ran, or null when it ran none. */
  #ran: CommandCounters | null = null;
  /** When that command started (performance.now()) if its reply is a promise, else -1. */
  #ranStartedMs = -1;

  constructor(
    context: ServerContext,
    socket: Socket,
    id: number,
    options: RespServerOptions,
    proof: string | null,
  ) {
    this.#context = context;
    this.#proof = proof;
    this.#socket = socket;
    this.#outputBytesMax = options.outputBufferBytesMax ?? outputBufferBytesMaxDefault;
    this.#transactionCommandsMax = options.transactionCommandsMax ?? transactionCommandsMaxDefault;
    this.#parser = new RequestParser({ bulkBytesMax: options.bulkBytesMax ?? bulkBytesMaxDefault });
    const addresses = {
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      local: `${socket.localAddress}:${socket.localPort}`,
      clientHost: socket.remoteAddress ?? '',
    };
    this.#session = newSession(id, addresses, {
      user: context.access.initialUser(),
      password: null,
      forwarded: false,
    });
    (context.sessions as Map<number, Session>).set(id, this.#session);
    this.#session.disconnect = () => {
      this.#session.closing = true;
      socket.destroy();
    };
    // An apply settles a whole batch of writes at once: pumping once after all of them
    // (a microtask queued behind their settling) runs as many commands as slots freed, as
    // one batch with one socket write for its replies, instead of one batch and one write
    // per settled reply.
    this.#session.onWriteSettled = () => {
      if (this.#pumpQueued || this.#head >= this.#queue.length) return;
      this.#pumpQueued = true;
      queueMicrotask(() => {
        this.#pumpQueued = false;
        if (this.#head < this.#queue.length) this.#pump();
      });
    };
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('drain', () => this.#maybeResume());
    socket.on('error', (cause) =>
      context.logger.debug({ err: cause, client: addresses.remote }, 'RESP client error'),
    );
    context.pubsub.attach(this.#session, (reply) => this.#push(reply));
    socket.once('close', () => {
      this.#session.closing = true;
      context.pubsub.detach(this.#session);
      context.blocked.forget(this.#session);
      (context.sessions as Map<number, Session>).delete(id);
    });
  }

  #onData(chunk: Buffer): void {
    this.#context.stats.readsProcessed++;
    this.#context.stats.netInputBytes += chunk.length;
    if (this.#session.closing) return;
    // Until the client authenticates, requests are held to Redis's small limits; the
    // parser pauses after an AUTH or HELLO so that it runs before the rest is parsed.
    this.#parser.unauthenticated = this.#stranger();
    this.#take(this.#parser.feed(chunk));
  }

  /** Queues `commands` and runs them, resuming a paused parser once nothing blocks it. */
  #take(commands: RespCommand[]): void {
    for (;;) {
      for (const command of commands) this.#queue.push(command);
      this.#pump();
      if (!this.#parser.paused || this.#session.closing || this.#blocked !== null) return;
      this.#parser.unauthenticated = this.#stranger();
      commands = this.#parser.resume();
    }
  }

  /** Whether the connection is held to a stranger's request limits. */
  #stranger(): boolean {
    return this.#session.user === null && !this.#session.peerLink;
  }

  /** Runs nothing more on this connection until `done` settles, then goes on. */
  #block(done: Promise<unknown>): void {
    const released = done.then(
      () => {},
      () => {},
    );
    this.#blocked = released;
    void released.then(() => {
      if (this.#blocked === released) this.#blocked = null;
      if (!this.#session.closing) this.#take([]);
    });
  }

  /**
   * Runs queued commands in order until the queue is empty, a serial command is still
   * running, or the connection has `pendingWritesMax` writes in flight (then a settling
   * write calls this again), and answers what ran as one batch. Backpressure: a client
   * that pipelines faster than the log commits waits here, and its socket is paused,
   * instead of overrunning the node's proposal queue.
   */
  #pump(): void {
    const replies: (Reply | Promise<Reply>)[] = [];
    // `ran[i]` counts `replies[i]`'s command, which ran (null: refused, or none ran);
    // `started[i]` is when it started, for a reply that settles later (else -1).
    const ran: (CommandCounters | null)[] = [];
    const started: number[] = [];
    let asynchronous = false;
    while (this.#head < this.#queue.length && !this.#session.closing && this.#blocked === null) {
      if (this.#session.unsettledWrites.size >= pendingWritesMax) break;
      const reply = this.#run(this.#queue[this.#head++]);
      if (reply === unanswered) continue;
      if (reply instanceof Promise) asynchronous = true;
      replies.push(reply);
      ran.push(this.#ran);
      started.push(this.#ranStartedMs);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      const failure = this.#parser.failure;
      if (failure !== null && !this.#session.closing) {
        this.#context.logger.debug(
          { client: this.#session.remoteAddress, protocolError: failure.message },
          'RESP protocol error',
        );
        replies.push(error(`ERR ${failure.message}`));
        ran.push(null);
        started.push(-1);
        this.#session.closing = true;
      }
    }
    this.#pendingCommands += replies.length;
    if (
      this.#queue.length - this.#head > pendingCommandsMax ||
      this.#pendingCommands > pendingCommandsMax
    ) {
      this.#socket.pause();
    }
    if (replies.length === 0) {
      if (this.#killed) {
        const socket = this.#socket;
        void (this.#previous ?? Promise.resolve()).then(() => closeAfterReply(socket));
      }
      return;
    }
    const before = this.#previous;
    if (!asynchronous && before === null) return this.#send(replies as Reply[], ran, started);
    const send = (done: readonly Reply[]): void => {
      this.#send(done, ran, started);
      if (this.#previous === batch) this.#previous = null;
    };
    // One reaction for the common batch of one pending reply (a write, unpipelined).
    const batch =
      before !== null
        ? before.then(() => Promise.all(replies)).then(send)
        : replies.length === 1
          ? (replies[0] as Promise<Reply>).then((done) => send([done]))
          : Promise.all(replies).then(send);
    this.#previous = batch;
  }

  /**
   * Runs one command; never throws (errors become error replies). Sets `#ran` to the
   * command's counters when it ran, so that its reply, once known, can count a failure.
   */
  #run(command: RespCommand): Reply | Promise<Reply> | typeof unanswered {
    const context = this.#context;
    const session = this.#session;
    const stats = context.stats;
    this.#ran = null;
    this.#ranStartedMs = -1;
    const args: Args = { raw: command, text: command.map((arg) => arg.toString('utf8')) };
    const name = args.text[0].toLowerCase();
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (spec === undefined) return refusedInMulti(session, name, unknownCommand(args.text));
    if (!arityFits(spec.arity, args.text.length)) {
      stats.counters(name).rejectedCalls++;
      return refusedInMulti(session, name, wrongArity(name));
    }
    const requirement = requirementOf(name, spec, args);
    if (!isRequirement(requirement)) return refusedInMulti(session, name, requirement);
    const counters = stats.counters(requirement.display);
    if (spec.noauth === true) {
      if (session.user !== null && context.access.user(session.user) === null) return this.#kill();
    } else {
      if (session.user === null) {
        counters.rejectedCalls++;
        return error('NOAUTH Authentication required.');
      }
      const refused = this.#authorize(session, requirement);
      if (refused === unanswered) return this.#kill();
      if (refused !== null) {
        counters.rejectedCalls++;
        return refusedInMulti(session, name, refused);
      }
    }
    const subscribed = subscribedModeRefusal(context, session, name, requirement.display);
    if (subscribed !== null) {
      counters.rejectedCalls++;
      return subscribed;
    }
    // The keys, checked above as the client named them, become the database's stored keys.
    // A forwarded command's keys are in their stored form already.
    const stored = name.startsWith('tandem.forward')
      ? args
      : inDatabase(session.transaction?.db ?? session.db, requirement.keys, args);
    if (!isArgs(stored)) {
      counters.rejectedCalls++;
      return refusedInMulti(session, name, stored);
    }
    if (session.transaction !== null && !transactionControls.has(name)) {
      const commandsMax = this.#transactionCommandsMax;
      return queueCommand(session, name, spec, stored, commandsMax);
    }
    const startedMs = performance.now();
    const reply = clientReplyOf(name, this.#dispatch(name, spec, stored));
    const usec = Math.round((performance.now() - startedMs) * 1000);
    stats.ran(counters, usec);
    // A reply that settles later counts its latency when it is sent (`#send`).
    if (reply instanceof Promise) this.#ranStartedMs = startedMs;
    else counters.latencyUsec += usec;
    this.#ran = counters;
    return reply;
  }

  /** Runs a command that passed every check (the connection's own ones here). */
  #dispatch(name: string, spec: CommandSpec, args: Args): Reply | Promise<Reply> {
    const session = this.#session;
    session.lastCommand = name;
    if (name === 'quit') session.closing = true;
    if (name === 'reset') this.#reset();
    if (name === 'tandem.forwardas') return this.#forwardedAs(args, 0);
    if (name === 'tandem.forwardin') {
      const db = databaseArg(args.text[1]);
      if (db === null) return dbOutOfRange;
      return this.#forwardedAs({ raw: args.raw.slice(1), text: args.text.slice(1) }, db);
    }
    const reply =
      name === 'tandem.forward'
        ? this.#forwarded(args)
        : name === 'tandem.link'
          ? this.#link(args)
          : this.#execute(session, spec, args);
    const settling = session.databaseSettling;
    session.databaseSettling = false;
    if ((spec.serial === true || spec.blocks === true || settling) && reply instanceof Promise) {
      this.#block(reply);
    }
    return reply;
  }

  /**
   * Checks `session`'s user for `requirement`, resolving the user by name as this node
   * applied the users now: null when it may run it, else Redis's NOPERM, or `unanswered`
   * when the user is gone (deleted or disabled: Redis closes such a user's connections).
   * Logs an admin action that it allows.
   */
  #authorize(session: Session, requirement: Requirement): Reply | null | typeof unanswered {
    const access = this.#context.access;
    const user = session.user as string;
    const refusal = access.check(user, requirement.role, requirement.keys);
    if (refusal !== null) {
      if (access.user(user) === null) return unanswered;
      return refusal.role === null ? noKeyPermission : noPermission(requirement.display);
    }
    if (requirement.audit) {
      access.audit.admin(user, requirement.display, {
        client: session.remoteAddress,
        ...(session.forwarded ? { forwarded: true } : {}),
      });
    }
    return null;
  }

  /** Closes the connection instead of answering: its user was deleted or disabled. */
  #kill(): typeof unanswered {
    this.#context.logger.info(
      { client: this.#session.remoteAddress, user: this.#session.user },
      'closing a connection whose user was deleted or disabled',
    );
    this.#session.closing = true;
    this.#killed = true;
    return unanswered;
  }

  #execute(session: Session, spec: CommandSpec, args: Args): Reply | Promise<Reply> {
    try {
      const reply = spec.run(this.#context, session, args);
      return reply instanceof Promise
        ? reply.catch((thrown) => errorReply(thrown, this.#context.logger))
        : reply;
    } catch (thrown) {
      return errorReply(thrown, this.#context.logger);
    }
  }

  #reset(): void {
    const session = this.#session;
    session.protocol = 2;
    session.name = null;
    session.consistency = 'ryw';
    session.db = 0;
    session.user = this.#context.access.initialUser();
    session.password = null;
    discardTransaction(session);
    this.#context.pubsub.reset(session);
  }

  /** TANDEM.LINK proof: a follower's forwarding link shows it holds the cluster secret. */
  #link(args: Args): Reply | Promise<Reply> {
    const given = Buffer.from(args.text[1]);
    const expected = Buffer.from(this.#proof ?? '');
    if (
      this.#proof !== null &&
      given.length === expected.length &&
      timingSafeEqual(given, expected)
    ) {
      this.#session.peerLink = true;
      return ok;
    }
    return this.#context.access.audit
      .failure('resp', this.#session.clientHost, null)
      .then(() => error('ERR TANDEM.LINK proof does not match this cluster'));
  }

  /**
   * TANDEM.FORWARD cmd args...: an older follower's write, run here as this connection's
   * user (an admin: the link authenticated as the shared `default`), answered
   * `[index, reply, term]`.
   */
  #forwarded(args: Args): Reply | Promise<Reply> {
    const raw = args.raw.slice(1);
    const spec = table[raw[0].toString('utf8').toLowerCase()];
    if (spec === undefined || !spec.write) return error('ERR TANDEM.FORWARD takes a write command');
    return this.#runForwarded(this.#session.user as string, this.#session.password, raw);
  }

  /**
   * TANDEM.FORWARDAS user password cmd args...: a follower's command, run as `user` once
   * `password` authenticates it, checked here as it was on the follower (the follower's
   * view of the users may be older than this leader's), answered `[index, reply, term]`.
   * Authentication answers at once when it needs no hashing (`verifyPassword` remembers
   * its successes); otherwise nothing after it on the link runs until it has, so the
   * link's commands still enter the log in the order they came.
   */
  #forwardedAs(args: Args, db: number): Reply | Promise<Reply> {
    const [user, password] = [args.text[1], args.text[2]];
    const raw = args.raw.slice(3);
    const name = raw[0].toString('utf8').toLowerCase();
    const spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (spec === undefined || !(spec.write || forwardedOthers.has(name))) {
      return error('ERR TANDEM.FORWARDAS takes a command a follower forwards');
    }
    const access = this.#context.access;
    const run = (found: UserRecord | null): Reply | Promise<Reply> =>
      found === null
        ? refuse(this.#context, this.#session.clientHost, user)
        : this.#runForwarded(found.name, password, raw, db);
    const known = access.authenticateNow(user, password);
    if (known !== undefined && known !== null) return run(known);
    const started = access
      .authenticate(user, password)
      .then(async (found) => ({ reply: found === null ? await run(null) : run(found) }));
    this.#block(started);
    return started.then((done) => done.reply);
  }

  /** Runs `raw` as `user` in a session of its own (which must not forward again). */
  #runForwarded(
    user: string,
    password: string | null,
    raw: Buffer[],
    db = 0,
  ): Reply | Promise<Reply> {
    const args: Args = { raw, text: raw.map((arg) => arg.toString('utf8')) };
    const name = args.text[0].toLowerCase();
    const spec = table[name] as CommandSpec;
    if (!arityFits(spec.arity, raw.length)) return wrongArity(name);
    const stored = requirementOf(name, spec, args);
    if (!isRequirement(stored)) return stored;
    // A follower sends the keys in their stored form; the user's patterns are of the client's.
    if (!storedKeysValid(stored.keys)) return reservedKeyRefusal;
    const requirement = { ...stored, keys: stored.keys.map(clientKey) };
    const inner = newSession(
      this.#session.id,
      {
        remote: this.#session.remoteAddress,
        local: this.#session.localAddress,
        clientHost: this.#session.clientHost,
      },
      { user, password, forwarded: true },
    );
    inner.db = db;
    const refused = this.#authorize(inner, requirement);
    if (refused === unanswered) return error('NOAUTH Authentication required.');
    if (refused !== null) return refused;
    const reply = this.#execute(inner, spec, args);
    if ((spec.serial === true || spec.blocks === true) && reply instanceof Promise) {
      this.#block(reply);
    }
    // The write notes its index on `inner` before its reply settles.
    return Promise.resolve(reply).then((done) => [inner.lastWriteIndex, done, inner.lastWriteTerm]);
  }

  /**
   * Writes one batch of replies with one socket write; enforces the output limit. Counts
   * the error replies, the failures of the commands that ran (`ran[i]` for `replies[i]`),
   * and the latency of those answered later (started at `started[i]`).
   */
  #send(
    replies: readonly Reply[],
    ran: readonly (CommandCounters | null)[],
    started: readonly number[],
  ): void {
    this.#pendingCommands -= replies.length;
    const stats = this.#context.stats;
    for (let i = 0; i < replies.length; i++) {
      const reply = replies[i];
      const startedMs = started[i] as number;
      const counters = ran[i] as CommandCounters | null;
      if (startedMs >= 0 && counters !== null) stats.answered(counters, startedMs);
      if (!isError(reply)) continue;
      stats.errorReplied(reply);
      if (counters !== null) counters.failedCalls++;
    }
    if (this.#socket.destroyed) return;
    const writer = new ReplyWriter();
    for (const reply of replies) writer.write(reply, this.#session.protocol);
    const bytes = writer.take();
    stats.netOutputBytes += bytes.length;
    stats.writesProcessed++;
    const flushed = this.#socket.write(bytes);
    if (this.#session.closing) {
      closeAfterReply(this.#socket);
      return;
    }
    if (this.#socket.writableLength > this.#outputBytesMax) {
      this.#context.logger.warn(
        { client: this.#session.remoteAddress, bytes: this.#socket.writableLength },
        'closing a client over the output buffer limit',
      );
      this.#socket.destroy();
      return;
    }
    if (!flushed) this.#socket.pause();
    else this.#maybeResume();
  }

  /**
   * Writes a pub/sub push; disconnects a subscriber whose unread output passes
   * `pubsubOutputBufferBytesMax`, as Redis's pubsub output limit does. In RESP3 a push is
   * out of band and goes at once, as Redis writes it (so a PUBLISH to the connection's own
   * channel has its message before its reply); a RESP2 message is an array like a reply,
   * so it waits for the replies before it.
   */
  #push(reply: PushReply): void {
    if (this.#socket.destroyed || this.#session.closing) return;
    const bytes = new ReplyWriter();
    bytes.write(reply, this.#session.protocol);
    const frame = bytes.take();
    const before = this.#previous;
    if (before === null || this.#session.protocol === 3) return this.#writePush(frame);
    this.#queuedPushBytes += frame.length;
    if (this.#overPubsubLimit()) return;
    const next = before.then(() => {
      this.#queuedPushBytes -= frame.length;
      this.#writePush(frame);
    });
    this.#previous = next;
    void next.then(() => {
      if (this.#previous === next) this.#previous = null;
    });
  }

  #writePush(frame: Buffer): void {
    if (this.#socket.destroyed) return;
    this.#socket.write(frame);
    this.#overPubsubLimit();
  }

  /** Closes the connection when its unread replies and messages are over the pub/sub limit. */
  #overPubsubLimit(): boolean {
    const bytes = this.#socket.writableLength + this.#queuedPushBytes;
    if (bytes <= pubsubOutputBufferBytesMax) return false;
    this.#context.logger.warn(
      { client: this.#session.remoteAddress, bytes },
      'closing a subscriber over the pub/sub output buffer limit',
    );
    this.#socket.destroy();
    return true;
  }

  #maybeResume(): void {
    const queued = this.#queue.length - this.#head;
    if (
      queued <= pendingCommandsMax &&
      this.#pendingCommands <= pendingCommandsMax &&
      this.#socket.writableLength === 0
    ) {
      this.#socket.resume();
    }
  }
}
