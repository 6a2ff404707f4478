/**
 * The client's errors: one hierarchy with stable codes. A node's answer keeps the node's
 * code (`TANDEM_NOT_LEADER`, `TANDEM_REPLICA_UNAVAILABLE`, ...) and HTTP status; failures
 * of the client itself have codes of their own (`TANDEM_CLIENT_QUEUE_FULL`,
 * `TANDEM_UNREACHABLE`). Catch by class, branch by `code`.
 */

/** The base of every error the client throws (except an abort, which rejects with the signal's reason). */
export class TandemClientError extends Error {
  override readonly name: string = 'TandemClientError';
  /** The stable code: the node's `TANDEM_*` code, or the client's own. */
  readonly code: string;
  /** The HTTP status the node answered, or the status the client's own failure stands for. */
  readonly status: number;
  /** The leader the node named, when it named one. */
  readonly leaderId: string | undefined;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { leaderId?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.leaderId = options.leaderId;
  }
}

/** The node called does not lead (421); `leaderId` names the one that does, when known. */
export class NotLeader extends TandemClientError {
  override readonly name = 'NotLeader';
}

/** No leader is known or reachable right now (503): an election is under way, or the cluster is down. */
export class NoLeader extends TandemClientError {
  override readonly name = 'NoLeader';
}

/**
 * The write entered the log but was not acknowledged in time (504): it becomes visible if
 * and when the replicas its durability needs have it. Retrying it is safe.
 */
export class SyncTimeout extends TandemClientError {
  override readonly name = 'SyncTimeout';
}

/** A precondition failed (412: a compare-and-set's version) or the state conflicts (409). */
export class Conflict extends TandemClientError {
  override readonly name = 'Conflict';
}

/**
 * The write was refused because the replicas its durability needs are down (503
 * `TANDEM_REPLICA_UNAVAILABLE`): nothing was written. Also thrown for a read when no node
 * could answer (`TANDEM_UNREACHABLE`).
 */
export class Unavailable extends TandemClientError {
  override readonly name = 'Unavailable';
}

/** The request was malformed or its SQL failed on the data it met (400, 413). */
export class BadRequest extends TandemClientError {
  override readonly name = 'BadRequest';
}

/**
 * The credentials are missing or wrong (401 `TANDEM_UNAUTHENTICATED`): no user, a wrong
 * password, or a token that is unknown, expired or revoked. Never retried.
 */
export class Unauthenticated extends TandemClientError {
  override readonly name = 'Unauthenticated';
}

/**
 * The user lacks the role the call needs, or may not use the key (403 `TANDEM_FORBIDDEN`;
 * the message names the role or the key). Nothing was done. Never retried.
 */
export class Forbidden extends TandemClientError {
  override readonly name = 'Forbidden';
}

/** The client's bounded queue of pending calls is full (`TANDEM_CLIENT_QUEUE_FULL`, 429). */
export class QueueFull extends TandemClientError {
  override readonly name = 'QueueFull';
}

/** The error body every node answers with. */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly leaderId?: string;
}

const noLeaderCodes: ReadonlySet<string> = new Set([
  'TANDEM_NO_LEADER',
  'TANDEM_LEADERSHIP_LOST',
  'TANDEM_TRANSFER_IN_PROGRESS',
  'TANDEM_NO_QUORUM',
  'TANDEM_REMOVED',
]);

/** The typed error for a node's error answer. */
export function errorFromAnswer(status: number, body: ErrorBody): TandemClientError {
  const options = body.leaderId === undefined ? {} : { leaderId: body.leaderId };
  const args = [body.code, status, body.message, options] as const;
  if (body.code === 'TANDEM_NOT_LEADER') return new NotLeader(...args);
  if (noLeaderCodes.has(body.code)) return new NoLeader(...args);
  if (body.code === 'TANDEM_SYNC_TIMEOUT') return new SyncTimeout(...args);
  if (body.code === 'TANDEM_REPLICA_UNAVAILABLE') return new Unavailable(...args);
  if (body.code === 'TANDEM_UNAUTHENTICATED') return new Unauthenticated(...args);
  if (body.code === 'TANDEM_FORBIDDEN') return new Forbidden(...args);
  if (status === 412 || status === 409) return new Conflict(...args);
  if (status === 400 || status === 413) return new BadRequest(...args);
  return new TandemClientError(...args);
}
