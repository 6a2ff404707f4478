/**
 * Forwarding a follower's writes to the leader over RESP. The follower keeps a small pool
 * of connections to the leader's RESP port (learnt from the leader's handshake
 * advertisement) and sends `TANDEM.FORWARDAS <user> <password> <command...>` (see
 * `forwardAs` in session.ts): the links themselves never authenticate; each command
 * carries its client's user, whom the leader authenticates and checks again before it runs
 * the command as its own write. It answers `[index, reply, term]`, so the follower learns
 * the log index it must apply before that client's next read (read-your-writes).
 *
 * One client connection always uses the same pooled connection, so its forwarded writes
 * reach the leader, and enter the log, in the order the client sent them.
 *
 * A leader with a plain RESP port is forwarded to there; one with only a TLS port is
 * forwarded to over TLS, trusting what `forwardingTlsOptions` (../tls.ts) says.
 */
import { createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { TandemError } from '../../core/errors.js';
import type { Logger } from '../../transport/contract.js';
import { parseHostPort } from '../http/address.js';
import { ReplyParser } from './reply-parser.js';
import type { Reply } from './reply.js';

/**
 * What a forwarding link sends first, `TANDEM.LINK <proof>`: an HMAC of the cluster
 * secret, which shows the leader that a node of its cluster holds the link, so that the
 * link's requests are held to the normal limits rather than a stranger's (10 arguments,
 * 16 KiB values). It grants no user's rights: each command proves its own user.
 */
export function linkProof(clusterSecret: string): string {
  return createHmac('sha256', clusterSecret).update('tandem resp forwarding link').digest('hex');
}

/** Connections per leader: enough to spread load, few enough to keep per-client order cheap. */
export const forwardPoolSize = 4;
/** Requests waiting on one pooled connection; past it the client is told to retry. */
export const forwardInFlightMax = 10_000;
/** How long a connection to the leader may take to open. */
export const forwardConnectTimeoutMs = 2_000;

/** Where the leader's RESP port is: `host:port`, and whether it speaks TLS. */
export interface LeaderEndpoint {
  readonly address: string;
  readonly tls: boolean;
}

interface Waiter {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: unknown) => void;
}

function encodeRequest(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** One RESP connection to the leader, with its queue of requests awaiting replies. */
class LeaderLink {
  readonly address: string;
  readonly #socket: Socket;
  readonly #parser = new ReplyParser();
  readonly #waiting: Waiter[] = [];
  #dead = false;
  /** Set once the connection is open: before it, requests are only queued here, never sent. */
  #connected = false;

  constructor(
    leader: LeaderEndpoint,
    proof: string | null,
    tls: ConnectionOptions,
    logger: Logger,
  ) {
    const address = leader.address;
    this.address = address;
    const hostPort = parseHostPort(address);
    if (hostPort === null)
      throw new TandemError('TANDEM_NO_LEADER', `bad leader address ${address}`);
    const target = { host: hostPort.host, port: hostPort.port };
    this.#socket = leader.tls ? connectTls({ ...tls, ...target }) : connect(target);
    this.#socket.setNoDelay(true);
    this.#socket.setTimeout(forwardConnectTimeoutMs, () => this.#fail('connect timed out'));
    this.#socket.once(leader.tls ? 'secureConnect' : 'connect', () => {
      this.#connected = true;
      this.#socket.setTimeout(0);
    });
    this.#socket.on('data', (chunk) => this.#onData(chunk));
    this.#socket.on('error', (error) => {
      logger.debug({ err: error, leader: address }, 'forwarding connection failed');
      const code = (error as NodeJS.ErrnoException).code;
      this.#fail(
        leader.tls && !this.#connected
          ? `TLS with the leader at ${address} failed (${code ?? error.message}): its certificate ` +
              'must be signed by a CA this node trusts (--client-tls-ca, or the chain in ' +
              '--client-tls-cert) and name its host'
          : error.message,
      );
    });
    this.#socket.on('close', () => this.#fail('closed'));
    if (proof !== null) {
      // A leader whose cluster has another secret refuses it; the link still works, held
      // to a stranger's limits.
      this.#waiting.push({ resolve: () => {}, reject: () => {} });
      this.#socket.write(encodeRequest(['TANDEM.LINK', proof]));
    }
  }

  get usable(): boolean {
    return !this.#dead;
  }

  send(args: readonly (string | Buffer)[]): Promise<Reply> {
    if (this.#dead) return Promise.reject(notSent('the connection to the leader closed'));
    if (this.#waiting.length >= forwardInFlightMax) {
      return Promise.reject(
        new TandemError('TANDEM_TOO_MANY_PENDING', 'too many forwarded writes'),
      );
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#socket.write(encodeRequest(args));
    });
  }

  #onData(chunk: Buffer): void {
    let replies: Reply[];
    try {
      replies = this.#parser.feed(chunk);
    } catch (error) {
      return this.#fail(`bad reply: ${(error as Error).message}`);
    }
    for (const reply of replies) this.#waiting.shift()?.resolve(reply);
  }

  #fail(why: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#socket.destroy();
    // A connection that never opened (refused, timed out) sent nothing: the client may
    // retry. Whatever was sent on an open one may or may not have been applied: say so
    // rather than guess.
    const outcome = this.#connected ? lost : notSent;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(outcome(`leader link ${why}`));
  }

  close(): void {
    this.#fail('closed by this node');
  }
}

function lost(why: string): TandemError {
  return new TandemError(
    'TANDEM_LEADERSHIP_LOST',
    `${why}: the forwarded write may or may not have been applied`,
  );
}

/** A forwarded write that never left this node: no leader took it (RESP `TRYAGAIN`). */
function notSent(why: string): TandemError {
  return new TandemError('TANDEM_NO_LEADER', `${why}: the forwarded write was not sent`);
}

/** The pool of connections to the current leader. */
export class Forwarder {
  readonly #logger: Logger;
  readonly #tls: ConnectionOptions;
  readonly #proof: string | null;
  #links: (LeaderLink | null)[] = [];
  /** The endpoint the links lead to, as `tls://host:port` or `host:port`. */
  #address: string | null = null;

  /** `proof`: see `linkProof`; null sends none. `tls`: for a leader reached over TLS. */
  constructor(logger: Logger, proof: string | null = null, tls: ConnectionOptions = {}) {
    this.#logger = logger;
    this.#proof = proof;
    this.#tls = tls;
  }

  /**
   * Sends `args` to the leader at `leader` on pooled connection `slot mod poolSize` and
   * resolves with its reply (an error reply included).
   */
  send(leader: LeaderEndpoint, slot: number, args: readonly (string | Buffer)[]): Promise<Reply> {
    const address = leader.tls ? `tls://${leader.address}` : leader.address;
    if (address !== this.#address) {
      // A new leader: the old links are of no use any more.
      for (const link of this.#links) link?.close();
      this.#links = Array.from({ length: forwardPoolSize }, () => null);
      this.#address = address;
    }
    const index = slot % forwardPoolSize;
    let link = this.#links[index];
    if (link === null || !link.usable) {
      try {
        link = new LeaderLink(leader, this.#proof, this.#tls, this.#logger);
      } catch (error) {
        return Promise.reject(error);
      }
      this.#links[index] = link;
    }
    return link.send(args);
  }

  /** Closes every pooled connection. */
  close(): void {
    for (const link of this.#links) link?.close();
    this.#links = [];
    this.#address = null;
  }
}
