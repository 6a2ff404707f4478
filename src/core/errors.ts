/**
 * One error hierarchy with stable codes. Each code maps to an HTTP status and a RESP error
 * prefix in the API layers; the core only decides which code applies.
 */
export type ErrorCode =
  | 'TANDEM_NOT_LEADER'
  | 'TANDEM_NO_LEADER'
  | 'TANDEM_REPLICA_UNAVAILABLE'
  | 'TANDEM_SYNC_TIMEOUT'
  | 'TANDEM_TOO_MANY_PENDING'
  | 'TANDEM_ENTRY_TOO_LARGE'
  | 'TANDEM_TRANSFER_IN_PROGRESS'
  | 'TANDEM_MEMBERSHIP_CHANGE_PENDING'
  | 'TANDEM_MEMBERSHIP_INVALID'
  | 'TANDEM_NOT_CAUGHT_UP'
  | 'TANDEM_LEADERSHIP_LOST'
  | 'TANDEM_BAD_CONFIG'
  | 'TANDEM_BAD_REQUEST'
  | 'TANDEM_PRECONDITION_FAILED'
  | 'TANDEM_NOT_FOUND'
  | 'TANDEM_KEY_NOT_FOUND'
  | 'TANDEM_CORRUPT'
  | 'TANDEM_STORAGE_FAILED'
  | 'TANDEM_STORE_UNAVAILABLE'
  | 'TANDEM_NO_QUORUM'
  | 'TANDEM_REMOVED'
  | 'TANDEM_UNAUTHENTICATED'
  | 'TANDEM_FORBIDDEN'
  | 'TANDEM_RANGE_NOT_SATISFIABLE';

/** The HTTP status each code is answered with. */
export const httpStatusByCode: Readonly<Record<ErrorCode, number>> = {
  TANDEM_NOT_LEADER: 421,
  TANDEM_NO_LEADER: 503,
  TANDEM_REPLICA_UNAVAILABLE: 503,
  TANDEM_SYNC_TIMEOUT: 504,
  TANDEM_TOO_MANY_PENDING: 429,
  TANDEM_ENTRY_TOO_LARGE: 413,
  TANDEM_TRANSFER_IN_PROGRESS: 503,
  TANDEM_MEMBERSHIP_CHANGE_PENDING: 409,
  TANDEM_MEMBERSHIP_INVALID: 400,
  TANDEM_NOT_CAUGHT_UP: 409,
  TANDEM_LEADERSHIP_LOST: 503,
  TANDEM_BAD_CONFIG: 400,
  TANDEM_BAD_REQUEST: 400,
  TANDEM_PRECONDITION_FAILED: 412,
  TANDEM_NOT_FOUND: 404,
  TANDEM_KEY_NOT_FOUND: 404,
  TANDEM_CORRUPT: 500,
  TANDEM_STORAGE_FAILED: 500,
  TANDEM_STORE_UNAVAILABLE: 503,
  TANDEM_NO_QUORUM: 503,
  TANDEM_REMOVED: 410,
  TANDEM_UNAUTHENTICATED: 401,
  TANDEM_FORBIDDEN: 403,
  TANDEM_RANGE_NOT_SATISFIABLE: 416,
};

/** An operating error with a stable code; `leaderId` names the leader when one is known. */
export class TandemError extends Error {
  override readonly name = 'TandemError';
  readonly code: ErrorCode;
  readonly leaderId: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { leaderId?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.leaderId = options?.leaderId;
  }

  /** The HTTP status for this error. */
  get httpStatus(): number {
    return httpStatusByCode[this.code];
  }
}
