/**
 * Turning HTTP inputs (path keys, query strings, headers) into command fields and read
 * options, and command results into values or errors. Pure helpers: the routes call them.
 */
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle, ReadOptions } from '../../node/api.js';
import {
  keyBytesMax,
  sessionIdPattern,
  type ApplyResult,
  type Session,
  type Version,
} from '../../store/index.js';

/** Query-string read options, as the schemas let them through (numbers still as digits). */
export interface ReadQuery {
  readonly consistency?: Consistency;
  readonly after?: string | number;
  readonly maxLag?: string | number;
}

/** Refuses a key longer than the command codec allows, before it costs a read or a hop. */
export function checkKey(key: string): void {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > keyBytesMax) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `the key is ${bytes} bytes, over the maximum of ${keyBytesMax}`,
    );
  }
}

/** The ETag of a version: `"<index>.<term>"`. */
export function etagOf(version: Version): string {
  return `"${version.index}.${version.term}"`;
}

/** The write options of an `ack` query parameter. */
export function writeOptions(ack: Durability | undefined): { durability: Durability } | undefined {
  return ack === undefined ? undefined : { durability: ack };
}

/**
 * Read options from a request. The default level follows DESIGN section 2: linearizable on
 * the leader, and read-your-writes on a follower, which waits for `after` when the request
 * gives it and is served as linearizable when it does not (the node cannot know which
 * writes are the caller's).
 */
export function readOptions(node: NodeHandle, query: ReadQuery): ReadOptions {
  const consistency =
    query.consistency ?? (node.status().role === 'leader' ? 'linearizable' : 'ryw');
  const afterIndex = indexOf(query.after, 'after');
  const maxLagEntries = indexOf(query.maxLag, 'maxLag');
  return {
    consistency,
    ...(afterIndex === undefined ? {} : { afterIndex }),
    ...(maxLagEntries === undefined ? {} : { maxLagEntries }),
  };
}

function indexOf(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  // The schema admits up to 16 digits, which may exceed 2^53.
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new TandemError('TANDEM_BAD_REQUEST', `${name} must be a log index, got ${value}`);
  }
  return number;
}

/**
 * The value of an applied command, or TANDEM_BAD_REQUEST carrying the command's own error
 * text (INCR of a non-number, a failing SQL statement): the command was valid to propose,
 * but its meaning failed on the data it met, and nothing was changed.
 */
export function commandValue(result: ApplyResult): unknown {
  assert(result !== null, 'a command entry always has a result');
  if (!result.ok) throw new TandemError('TANDEM_BAD_REQUEST', result.error);
  return result.value;
}

/** The request header naming the client's session (see store/sessions.ts). */
export const sessionHeader = 'x-tandem-session';
/** The request header carrying the write's sequence number in its session. */
export const seqHeader = 'x-tandem-seq';

/**
 * The session of a write from its `X-Tandem-Session` and `X-Tandem-Seq` headers: both or
 * neither; the id 1-128 of `[A-Za-z0-9_.:-]`, the seq a positive integer. A write retried
 * with the same session and seq is applied at most once, and answered as the first was.
 */
export function sessionOf(headers: Record<string, unknown>): { session: Session } | undefined {
  const id = headers[sessionHeader];
  const seq = headers[seqHeader];
  if (id === undefined && seq === undefined) return undefined;
  if (typeof id !== 'string' || typeof seq !== 'string') {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      'X-Tandem-Session and X-Tandem-Seq go together, once each',
    );
  }
  if (!sessionIdPattern.test(id)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `X-Tandem-Session must be 1 to 128 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(id)}`,
    );
  }
  const number = /^[1-9][0-9]{0,15}$/.test(seq) ? Number(seq) : NaN;
  if (!Number.isSafeInteger(number)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `X-Tandem-Seq must be a positive integer, got ${JSON.stringify(seq)}`,
    );
  }
  return { session: { id, seq: number } };
}
