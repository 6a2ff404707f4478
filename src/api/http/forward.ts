/**
 * Forwarding to the leader. A write (or admin call) that reaches a follower, and a
 * `bounded` read on a follower that trails too far, is sent on to the leader with the same
 * method, path, query, body and credentials (the leader checks them again); the leader's
 * answer is relayed as it came, plus a header naming the leader, so a client learns where
 * to go next time.
 *
 * One hop only: the forwarded request carries `X-Tandem-Forwarded: 1`, and a node that
 * gets such a request and is not the leader either answers the error instead of
 * forwarding again. Two nodes that each believe the other leads (a stale view during an
 * election) would otherwise bounce a request between them until a timeout.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { NodeHandle } from '../../node/api.js';
import { writeExactJson } from './json.js';

/** Marks a request that a node already forwarded (value `1`). */
export const forwardedHeader = 'x-tandem-forwarded';
/** Names the leader that answered a forwarded request. */
export const leaderHeader = 'x-tandem-leader';
/**
 * How long a forwarded request may take at the leader, answer included. Longer than a
 * `sync` write's own replica timeout, so that the leader's own error (which says exactly
 * what happened) normally arrives before this one (which cannot).
 */
export const forwardTimeoutMs = 15_000;

/** Sockets kept open to the leader per protocol; forwarded requests beyond wait for one. */
export const forwardSocketsMax = 64;
/**
 * How long a kept-alive socket to the leader may sit unused before it is closed: well under
 * the leader's own keep-alive timeout (fastify's 72 s), so that this side never reuses a
 * socket the leader is closing, which would fail a request the leader never saw.
 */
export const forwardIdleSocketMs = 30_000;
/** The largest answer of the leader relayed; its own limits keep real answers far below. */
export const forwardAnswerBytesMax = 256 * 1024 * 1024;

const agentOptions = {
  keepAlive: true,
  maxSockets: forwardSocketsMax,
  timeout: forwardIdleSocketMs,
} as const;

/**
 * The keep-alive agents a node forwards with: plain HTTP, and HTTPS trusting `tls` (see
 * `forwardingTlsOptions`: node:https, since the global fetch cannot be given a CA).
 */
export class LeaderAgents {
  readonly #http = new http.Agent(agentOptions);
  readonly #https: https.Agent;

  constructor(tls: ConnectionOptions) {
    this.#https = new https.Agent({ ...tls, ...agentOptions });
  }

  /** The agent for a URL of `protocol` (`http:` or `https:`). */
  for(protocol: string): http.Agent {
    return protocol === 'https:' ? this.#https : this.#http;
  }

  destroy(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** The leader's answer to a forwarded request. */
interface LeaderAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Request headers that carry meaning for the leader; the rest are hop-by-hop or noise. The
 * conditional headers a route does not honour never get here: they are refused first.
 */
const forwardedRequestHeaders = [
  // The leader authenticates and authorizes the request again, as the follower did.
  'authorization',
  'content-type',
  'accept',
  'if-match',
  'if-none-match',
  'x-tandem-session',
  'x-tandem-seq',
] as const;
/** Response headers of the leader's answer that a client may act on. */
const relayedResponseHeaders = [
  'content-type',
  'etag',
  'retry-after',
  'x-tandem-applied-index',
  'x-tandem-expires-at',
  'www-authenticate',
] as const;
/** Connection errors that prove the request never reached the leader. */
const notSentCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Whether a socket error code is a failed TLS handshake (an untrusted or misnamed
 * certificate, or the leader refusing this node's): the request itself was never served.
 */
export function isTlsFailure(code: string): boolean {
  return /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|CERT_)/.test(code);
}

/** The read routes, whose TANDEM_NOT_CAUGHT_UP (a `bounded` read too far behind) the leader can serve. */
const readRoutes: ReadonlySet<string> = new Set(['GET /v1/kv/:key', 'POST /v1/query']);

/**
 * Whether the leader can answer what this node refused with `error`: anything refused for
 * not leading, and a read refused for trailing. (A membership change refused because the
 * new member has not caught up is the leader's own answer and goes back as it is.)
 */
export function isForwardable(error: TandemError, request: FastifyRequest): boolean {
  if (error.code === 'TANDEM_NOT_LEADER') return true;
  const route = `${request.method} ${request.routeOptions.url ?? ''}`;
  return error.code === 'TANDEM_NOT_CAUGHT_UP' && readRoutes.has(route);
}

/**
 * Sends `request` to the leader and relays its answer on `reply`. Throws (for the error
 * handler to answer) `refusal` itself when the request was already forwarded once or the
 * leader is this very node; TANDEM_NO_LEADER when no leader is known or it cannot be
 * reached; TANDEM_SYNC_TIMEOUT when the request may have reached the leader but no answer
 * came, since then whether a write took effect is unknown.
 */
export async function forwardToLeader(
  node: NodeHandle,
  agents: LeaderAgents,
  request: FastifyRequest,
  reply: FastifyReply,
  refusal: TandemError,
): Promise<FastifyReply> {
  if (request.headers[forwardedHeader] !== undefined) throw refusal;
  const status = node.status();
  const leaderUrl = node.leaderHttpUrl();
  const leaderId = refusal.leaderId ?? status.leaderId ?? undefined;
  if (leaderUrl === null) {
    throw new TandemError('TANDEM_NO_LEADER', `node ${node.id} knows no leader; retry shortly`);
  }
  if (leaderUrl === status.httpUrl) throw refusal;
  // The URL as the client sent it: the router's view of a key route is rewritten.
  const target = leaderUrl.replace(/\/+$/, '') + request.originalUrl;
  let answer: LeaderAnswer;
  try {
    answer = await send(agents, request, target);
  } catch (error) {
    throw forwardFailure(error, leaderId ?? 'the leader', target);
  }
  request.log.debug({ leaderId, target, status: answer.status }, 'forwarded to the leader');
  reply.code(answer.status);
  for (const name of relayedResponseHeaders) {
    const value = answer.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  if (leaderId !== undefined) reply.header(leaderHeader, leaderId);
  return reply.send(answer.body);
}

/** Sends the forwarded request; rejects with the socket error, or a TimeoutError. */
function send(
  agents: LeaderAgents,
  request: FastifyRequest,
  target: string,
): Promise<LeaderAnswer> {
  const headers: Record<string, string | number> = { [forwardedHeader]: '1' };
  for (const name of forwardedRequestHeaders) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  // The body was parsed and validated here already; the leader parses the same JSON (or
  // takes the same raw bytes) again. A SQL body's integers past 2^53 are bigints here,
  // written back as their digits.
  const body =
    request.body === undefined
      ? undefined
      : Buffer.isBuffer(request.body)
        ? request.body
        : Buffer.from(writeExactJson(request.body));
  if (body !== undefined) headers['content-length'] = body.length;
  const url = new URL(target);
  const open = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const outgoing = open(url, {
      method: request.method,
      headers,
      agent: agents.for(url.protocol),
    });
    // The whole exchange, answer included, within forwardTimeoutMs (not an idle timeout).
    const timer = setTimeout(() => {
      const timeout = new Error(`no answer within ${forwardTimeoutMs} ms`);
      timeout.name = 'TimeoutError';
      outgoing.destroy(timeout);
    }, forwardTimeoutMs);
    const fail = (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    };
    outgoing.once('error', fail);
    outgoing.once('response', (incoming) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      incoming.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > forwardAnswerBytesMax) {
          outgoing.destroy(new Error(`answer larger than ${forwardAnswerBytesMax} bytes`));
        } else chunks.push(chunk);
      });
      incoming.once('error', fail);
      incoming.once('close', () => fail(new Error('the leader closed before its answer ended')));
      incoming.once('end', () => {
        clearTimeout(timer);
        resolve({
          status: incoming.statusCode ?? 502,
          headers: incoming.headers,
          body: Buffer.concat(chunks),
        });
      });
    });
    outgoing.end(body);
  });
}

function forwardFailure(error: unknown, leaderId: string, target: string): TandemError {
  const found = (error as { code?: unknown }).code;
  const code = typeof found === 'string' ? found : undefined;
  if (code !== undefined && isTlsFailure(code)) {
    return new TandemError(
      'TANDEM_NO_LEADER',
      `TLS with the leader ${leaderId} at ${target} failed (${code}): its certificate must be ` +
        'signed by a CA this node trusts (--client-tls-ca, or the chain in --client-tls-cert) ' +
        'and name its host; the request was not sent',
      { cause: error },
    );
  }
  if (code !== undefined && notSentCodes.has(code)) {
    return new TandemError(
      'TANDEM_NO_LEADER',
      `the leader ${leaderId} cannot be reached at ${target} (${code}); retry shortly`,
      { cause: error },
    );
  }
  const what =
    (error as Error).name === 'TimeoutError'
      ? `gave no answer within ${forwardTimeoutMs} ms`
      : `failed while answering (${code ?? (error as Error).message})`;
  return new TandemError(
    'TANDEM_SYNC_TIMEOUT',
    `the request was forwarded to the leader ${leaderId} at ${target}, which ${what}; ` +
      'a write may or may not have taken effect',
    { cause: error },
  );
}
