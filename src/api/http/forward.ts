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
  let answer: { status: number; headers: Headers; body: Buffer };
  try {
    answer = await send(request, target);
  } catch (error) {
    throw forwardFailure(error, leaderId ?? 'the leader', target);
  }
  request.log.debug({ leaderId, target, status: answer.status }, 'forwarded to the leader');
  reply.code(answer.status);
  for (const name of relayedResponseHeaders) {
    const value = answer.headers.get(name);
    if (value !== null) reply.header(name, value);
  }
  if (leaderId !== undefined) reply.header(leaderHeader, leaderId);
  return reply.send(answer.body);
}

async function send(
  request: FastifyRequest,
  target: string,
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const headers: Record<string, string> = { [forwardedHeader]: '1' };
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
        : writeExactJson(request.body);
  const response = await fetch(target, {
    method: request.method,
    headers,
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(forwardTimeoutMs),
  });
  // The leader's answers are bounded by its own limits (row counts, value sizes).
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

function forwardFailure(error: unknown, leaderId: string, target: string): TandemError {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
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
