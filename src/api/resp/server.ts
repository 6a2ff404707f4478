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
import { createServer, type Server, type Socket } from 'node:net';
import type { AccessControl } from '../../access/control.js';
import { createServer as createTlsServer } from 'node:tls';
import { assert } from '../../core/assert.js';
import type { NodeHandle } from '../../node/api.js';
import {
  protectedModeMessage,
  protectedModeRefuses,
  type ProtectedModeOptions,
} from '../protected-mode.js';
import { forwardingTlsOptions, serverTlsOptions, type ClientTls } from '../tls.js';
import type { Logger } from '../../transport/contract.js';
import { adminCommands, commandCommand, wrongArity } from './admin.js';
import { Forwarder } from './forward.js';
import { keyCommands, type Args, type Handler } from './keys.js';
import { bulkBytesMaxDefault, RequestParser, type RespCommand } from './parser.js';
import { error, ok, simple, ReplyWriter, type Reply } from './reply.js';
import {
  errorReply,
  newSession,
  type FollowerWrites,
  type ServerContext,
  type Session,
} from './session.js';

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
  /** When set, clients must AUTH (or HELLO ... AUTH) with it first. */
  readonly password?: string;
  /** What a follower does with writes (default `forward`). */
  readonly followerWrites?: FollowerWrites;
  readonly maxClients?: number;
  readonly outputBufferBytesMax?: number;
  readonly bulkBytesMax?: number;
  /** Who may do what (src/access); absent, `password` alone guards the port, as before. */
  readonly access?: AccessControl;
}

/** A running RESP server. */
export interface RespServer {
  /** The plain port bound, or null when it has none. */
  readonly port: number | null;
  /** The TLS port bound, or null when it has none. */
  readonly tlsPort: number | null;
  /** Stops listening, closes every connection and the forwarding pool. */
  close(): Promise<void>;
}

interface CommandSpec {
  readonly arity: number;
  readonly write: boolean;
  readonly noauth?: boolean;
  readonly keyed?: boolean;
  readonly run: Handler;
}

/** Commands the server answers itself, since they act on the connection. */
const connectionCommands: Record<string, CommandSpec> = {
  quit: { arity: -1, write: false, noauth: true, run: () => ok },
  reset: { arity: 1, write: false, noauth: true, run: () => simple('RESET') },
  'tandem.forward': { arity: -2, write: false, run: () => ok },
};

function buildTable(): Record<string, CommandSpec> {
  const table: Record<string, CommandSpec> = {};
  for (const [name, spec] of Object.entries(keyCommands)) table[name] = { ...spec, keyed: true };
  Object.assign(table, adminCommands, connectionCommands);
  table.command = { arity: -1, write: false, run: commandCommand(table) };
  return table;
}

const table = buildTable();

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

/** Starts a RESP server for `node`, on its plain port, its TLS port, or both. */
export async function startRespServer(
  node: NodeHandle,
  options: RespServerOptions,
): Promise<RespServer> {
  const tlsPort = options.tlsPort ?? null;
  assert(options.port !== null || tlsPort !== null, 'a RESP server needs a plain or a TLS port');
  assert(tlsPort === null || options.tls !== undefined, 'a RESP TLS port needs a certificate');
  const sessions = new Map<number, Session>();
  const context: ServerContext = {
    node,
    logger: options.logger,
    password: options.password,
    followerWrites: options.followerWrites ?? 'forward',
    forwarder: new Forwarder(options.password, options.logger, forwardingTlsOptions(options.tls)),
    sessions,
    startedAtMs: Date.now(),
    maxClients: options.maxClients ?? maxClientsDefault,
    port: options.port ?? tlsPort ?? 0,
    stats: { commandsProcessed: 0, connectionsReceived: 0, rejected: 0 },
  };
  const sockets = new Set<Socket>();
  let nextId = 1;
  const password = options.password;
  const accept = (socket: Socket) => {
    context.stats.connectionsReceived++;
    if (
      protectedModeRefuses(
        options,
        () => options.access?.configured() ?? password !== undefined,
        socket.remoteAddress,
      )
    ) {
      context.stats.rejected++;
      socket.write(`-DENIED ${protectedModeMessage}\r\n`);
      closeAfterReply(socket);
      return;
    }
    if (sessions.size >= context.maxClients) {
      context.stats.rejected++;
      socket.write('-ERR max number of clients reached\r\n');
      closeAfterReply(socket);
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new Connection(context, socket, nextId++, options);
  };
  const servers: Server[] = [];
  const close = () => closeServers(servers, sockets, context);
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
    return { port: plain?.port ?? null, tlsPort: secure?.port ?? null, close };
  } catch (error) {
    await close();
    throw error;
  }
}

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

  constructor(context: ServerContext, socket: Socket, id: number, options: RespServerOptions) {
    this.#context = context;
    this.#socket = socket;
    this.#outputBytesMax = options.outputBufferBytesMax ?? outputBufferBytesMaxDefault;
    this.#parser = new RequestParser({ bulkBytesMax: options.bulkBytesMax ?? bulkBytesMaxDefault });
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const local = `${socket.localAddress}:${socket.localPort}`;
    this.#session = newSession(id, remote, local, {
      authenticated: context.password === undefined,
      forwarded: false,
    });
    (context.sessions as Map<number, Session>).set(id, this.#session);
    this.#session.onWriteSettled = () => {
      if (this.#head < this.#queue.length) this.#pump();
    };
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('drain', () => this.#maybeResume());
    socket.on('error', (cause) =>
      context.logger.debug({ err: cause, client: remote }, 'RESP client error'),
    );
    socket.once('close', () => {
      this.#session.closing = true;
      (context.sessions as Map<number, Session>).delete(id);
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#session.closing) return;
    // Until the client authenticates, requests are held to Redis's small limits; the
    // parser pauses after an AUTH or HELLO so that it runs before the rest is parsed.
    this.#parser.unauthenticated = !this.#session.authenticated;
    let commands = this.#parser.feed(chunk);
    for (;;) {
      for (const command of commands) this.#queue.push(command);
      this.#pump();
      if (!this.#parser.paused || this.#session.closing) return;
      this.#parser.unauthenticated = !this.#session.authenticated;
      commands = this.#parser.resume();
    }
  }

  /**
   * Runs queued commands in order until the queue is empty or the connection has
   * `pendingWritesMax` writes in flight (then a settling write calls this again), and
   * answers what ran as one batch. Backpressure: a client that pipelines faster than the
   * log commits waits here, and its socket is paused, instead of overrunning the node's
   * proposal queue.
   */
  #pump(): void {
    const replies: (Reply | Promise<Reply>)[] = [];
    let asynchronous = false;
    while (this.#head < this.#queue.length && !this.#session.closing) {
      if (this.#session.pendingWrites >= pendingWritesMax) break;
      const reply = this.#run(this.#queue[this.#head++]);
      if (reply instanceof Promise) asynchronous = true;
      replies.push(reply);
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
    if (replies.length === 0) return;
    if (!asynchronous && this.#previous === null) return this.#send(replies as Reply[]);
    const before = this.#previous ?? Promise.resolve();
    const batch = before.then(() => Promise.all(replies)).then((done) => this.#send(done));
    this.#previous = batch;
    void batch.then(() => {
      if (this.#previous === batch) this.#previous = null;
    });
  }

  /** Runs one command; never throws (errors become error replies). */
  #run(command: RespCommand): Reply | Promise<Reply> {
    const context = this.#context;
    context.stats.commandsProcessed++;
    const args: Args = { raw: command, text: command.map((arg) => arg.toString('utf8')) };
    const name = args.text[0].toLowerCase();
    const spec = table[name];
    if (spec === undefined) return unknownCommand(args.text);
    if (spec.arity > 0 ? args.text.length !== spec.arity : args.text.length < -spec.arity) {
      return wrongArity(name);
    }
    if (!this.#session.authenticated && spec.noauth !== true)
      return error('NOAUTH Authentication required.');
    this.#session.lastCommand = name;
    if (name === 'quit') this.#session.closing = true;
    if (name === 'reset') this.#reset();
    if (name === 'tandem.forward') return this.#forwarded(args);
    try {
      const reply = spec.run(context, this.#session, args);
      return reply instanceof Promise
        ? reply.catch((thrown) => errorReply(thrown, context.logger))
        : reply;
    } catch (thrown) {
      return errorReply(thrown, context.logger);
    }
  }

  #reset(): void {
    const session = this.#session;
    session.protocol = 2;
    session.name = null;
    session.consistency = 'ryw';
    session.authenticated = this.#context.password === undefined;
  }

  /**
   * TANDEM.FORWARD cmd args...: a follower's write, run here as a write of its own
   * session (which must not forward again), answered `[index, reply, term]`.
   */
  #forwarded(args: Args): Reply | Promise<Reply> {
    const raw = args.raw.slice(1);
    const spec = table[raw[0].toString('utf8').toLowerCase()];
    if (spec === undefined || !spec.write) return error('ERR TANDEM.FORWARD takes a write command');
    const inner = newSession(
      this.#session.id,
      this.#session.remoteAddress,
      this.#session.localAddress,
      {
        authenticated: true,
        forwarded: true,
      },
    );
    // The write notes its index on `inner` before its reply settles.
    return Promise.resolve(this.#runAs(inner, spec, raw)).then((done) => [
      inner.lastWriteIndex,
      done,
      inner.lastWriteTerm,
    ]);
  }

  #runAs(session: Session, spec: CommandSpec, raw: Buffer[]): Reply | Promise<Reply> {
    const args: Args = { raw, text: raw.map((arg) => arg.toString('utf8')) };
    const name = args.text[0].toLowerCase();
    if (spec.arity > 0 ? raw.length !== spec.arity : raw.length < -spec.arity)
      return wrongArity(name);
    try {
      const reply = spec.run(this.#context, session, args);
      return reply instanceof Promise
        ? reply.catch((thrown) => errorReply(thrown, this.#context.logger))
        : reply;
    } catch (thrown) {
      return errorReply(thrown, this.#context.logger);
    }
  }

  /** Writes one batch of replies with one socket write; enforces the output limit. */
  #send(replies: readonly Reply[]): void {
    this.#pendingCommands -= replies.length;
    if (this.#socket.destroyed) return;
    const writer = new ReplyWriter();
    for (const reply of replies) writer.write(reply, this.#session.protocol);
    const flushed = this.#socket.write(writer.take());
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
