/**
 * The one shape every HTTP error takes, `{ code, message, leaderId? }`, and the mapping of
 * whatever went wrong (a TandemError from the node, a fastify parsing or validation error,
 * a bug) onto a stable Tandem code and its HTTP status.
 */
import type { FastifyReply } from 'fastify';
import { TandemError } from '../../core/errors.js';

/** The body of every error answer. */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly leaderId?: string;
}

/** The JSON schema of `ErrorBody`, for the route schemas and the OpenAPI document. */
export const errorBodySchema = {
  type: 'object',
  description: 'Every error: a stable code, a message for people, and the leader when known.',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', examples: ['TANDEM_NOT_LEADER'] },
    message: { type: 'string' },
    leaderId: { type: 'string' },
  },
} as const;

/**
 * Seconds a client should wait before retrying an answer of these statuses: they mean "no
 * leader right now" or "too busy", which an election or a drained queue fixes within about
 * an election timeout, so one second is a fair first wait.
 */
export const retryAfterSeconds = 1;
const retryableStatuses: ReadonlySet<number> = new Set([429, 503]);

/** The parts of a fastify error the mapping reads (fastify's `FastifyError` and friends). */
interface FrameworkError {
  readonly code?: unknown;
  readonly statusCode?: unknown;
  readonly validation?: unknown;
  readonly message?: unknown;
}

/**
 * Maps any thrown value to a TandemError. Fastify's own client errors (malformed JSON, a
 * schema mismatch, a wrong content type) become TANDEM_BAD_REQUEST, except a body over the
 * limit, which is TANDEM_ENTRY_TOO_LARGE as the node itself would answer. Anything else is
 * this process's failure; there is no better stable code for it than TANDEM_STORAGE_FAILED
 * (500), and the caller logs the original.
 */
export function toTandemError(error: unknown): TandemError {
  if (error instanceof TandemError) return error;
  const framework = (typeof error === 'object' && error !== null ? error : {}) as FrameworkError;
  const message = typeof framework.message === 'string' ? framework.message : String(error);
  if (framework.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new TandemError('TANDEM_ENTRY_TOO_LARGE', message, { cause: error });
  }
  if (framework.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const text = 'the body must be JSON, sent with content-type: application/json';
    return new TandemError('TANDEM_BAD_REQUEST', text, { cause: error });
  }
  const status = typeof framework.statusCode === 'number' ? framework.statusCode : 500;
  if (framework.validation !== undefined || (status >= 400 && status < 500)) {
    return new TandemError('TANDEM_BAD_REQUEST', message, { cause: error });
  }
  return new TandemError('TANDEM_STORAGE_FAILED', `internal error: ${message}`, { cause: error });
}

/** The body answered for `error`. */
export function errorBody(error: TandemError): ErrorBody {
  return error.leaderId === undefined
    ? { code: error.code, message: error.message }
    : { code: error.code, message: error.message, leaderId: error.leaderId };
}

/** The schemes a 401 offers (RFC 9110 section 11.6.1): Basic (user:password) or a token. */
export const wwwAuthenticate = 'Basic realm="tandem", Bearer';

/**
 * Answers `error` with its status, its body and, for a transient failure, `Retry-After`;
 * a 401 says how to authenticate (`WWW-Authenticate`).
 */
export function sendError(reply: FastifyReply, error: TandemError): FastifyReply {
  const status = error.httpStatus;
  if (retryableStatuses.has(status)) reply.header('retry-after', String(retryAfterSeconds));
  if (error.code === 'TANDEM_UNAUTHENTICATED') reply.header('www-authenticate', wwwAuthenticate);
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error));
}
