/**
 * Turning HTTP inputs (path keys, query strings, headers) into command fields and read
 * options, and command results into values or errors. Pure helpers: the routes call them.
 */
import { isUtf8 } from 'node:buffer';
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle, ReadOptions } from '../../node/api.js';
import { keyBytesMax, type Version } from '../../store/commands.js';
import { sessionIdPattern, type Session } from '../../store/sessions.js';
import type { ApplyResult } from '../../store/contract.js';
import { isReservedKey } from '../../store/databases.js';

/** Query-string read options, as the schemas let them through (numbers still as digits). */
export interface ReadQuery {
  readonly consistency?: Consistency;
  readonly after?: string | number;
  readonly afterTerm?: string | number;
  readonly maxLag?: string | number;
}

/** The path of the key routes, up to the key. */
const kvPathPrefix = '/v1/kv/';

/**
 * Keeps the key of a `/v1/kv/` URL out of the router's decoding: the router decodes a path
 * parameter as UTF-8 and refuses what is not, but a key is any bytes (`caf%E9`). Every `%`
 * of the key becomes `%25`, so the router hands over the key exactly as the URL spells it,
 * and `keyOfPath` decodes its bytes. Other URLs pass unchanged. (Fastify's `rewriteUrl`.)
 */
export function escapeKeyPath(url: string): string {
  if (!url.startsWith(kvPathPrefix)) return url;
  const query = url.indexOf('?');
  const end = query === -1 ? url.length : query;
  const key = url.slice(kvPathPrefix.length, end).replaceAll('%', '%25');
  return kvPathPrefix + key + url.slice(end);
}

const hexPair = /^[0-9A-Fa-f]{2}$/;

/**
 * The key a URL path segment spells (as `escapeKeyPath` left it): percent-encoded bytes,
 * any other character as its UTF-8 bytes. TANDEM_BAD_REQUEST for a `%` without two hex
 * digits, a key longer than the command codec allows (before it costs a read or a hop), or
 * one with the prefix of databases 1 to 15 (the key routes are database 0's).
 */
export function keyOfPath(segment: string): Buffer {
  const bytes: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < segment.length; i++) {
    if (segment[i] !== '%') continue;
    const hex = segment.slice(i + 1, i + 3);
    if (!hexPair.test(hex)) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `the key's "%" at character ${i} is not followed by two hex digits`,
      );
    }
    bytes.push(Buffer.from(segment.slice(run, i), 'utf8'), Buffer.from(hex, 'hex'));
    run = i + 3;
    i += 2;
  }
  bytes.push(Buffer.from(segment.slice(run), 'utf8'));
  const key = Buffer.concat(bytes);
  if (key.length > keyBytesMax) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `the key is ${key.length} bytes, over the maximum of ${keyBytesMax}`,
    );
  }
  if (key.length === 0) throw new TandemError('TANDEM_BAD_REQUEST', 'the key is empty');
  if (isReservedKey(key)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      'keys beginning with the bytes 0xFF 0x00 "db" are reserved for databases 1 to 15',
    );
  }
  return key;
}

/** A key for a message: quoted text when it is UTF-8, else its bytes in hex. */
export function describeKey(key: Buffer): string {
  return isUtf8(key) ? JSON.stringify(key.toString('utf8')) : `0x${key.toString('hex')}`;
}

/**
 * Bytes in a JSON answer: `{ [name]: text }` when they are UTF-8 (so text reads as text),
 * else `{ [name + 'Base64']: base64 }`. Exactly one of the two, so a client always gets the
 * exact bytes: UTF-8 text encodes back to the very bytes it decoded from.
 */
export function bytesFields<N extends string>(
  name: N,
  bytes: Buffer,
): { [K in N]?: string } & { [K in `${N}Base64`]?: string } {
  return (
    isUtf8(bytes)
      ? { [name]: bytes.toString('utf8') }
      : { [`${name}Base64`]: bytes.toString('base64') }
  ) as { [K in N]?: string } & { [K in `${N}Base64`]?: string };
}

/** The JSON body of a PUT: the value as text or as base64 (the schema admits one of them). */
export interface PutJsonBody {
  readonly value?: string;
  readonly valueBase64?: string;
  readonly ttlMs?: number;
}

/**
 * The value and TTL of a PUT: a JSON body's `value` (its UTF-8 bytes) or `valueBase64`,
 * or an `application/octet-stream` body's bytes as they are, with the TTL then in the
 * query (`ttlMs`). TANDEM_BAD_REQUEST for base64 that is not canonical (it would not give
 * back what the client meant) or a TTL given twice.
 */
export function putValue(
  body: PutJsonBody | Buffer,
  ttlQuery: string | undefined,
): { value: Buffer; ttlMs?: number } {
  // Fastify also parses text/plain, which no body schema covers: refuse it here.
  if (!Buffer.isBuffer(body) && (typeof body !== 'object' || body === null)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      'a PUT body is JSON ({ value } or { valueBase64 }) or application/octet-stream',
    );
  }
  const queryTtl = ttlQuery === undefined ? undefined : Number(ttlQuery);
  if (Buffer.isBuffer(body))
    return { value: body, ...(queryTtl === undefined ? {} : { ttlMs: queryTtl }) };
  if (body.ttlMs !== undefined && queryTtl !== undefined) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'give ttlMs in the body or in the query, not both');
  }
  const ttlMs = body.ttlMs ?? queryTtl;
  const ttl = ttlMs === undefined ? {} : { ttlMs };
  if (body.value !== undefined) return { value: Buffer.from(body.value, 'utf8'), ...ttl };
  const base64 = body.valueBase64 ?? '';
  const value = Buffer.from(base64, 'base64');
  if (value.toString('base64') !== base64) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'body.valueBase64 is not canonical base64');
  }
  return { value, ...ttl };
}

/** Whether a request's `Accept` header asks for the raw bytes of a value. */
export function wantsOctetStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept
    .split(',')
    .some((range) => range.split(';', 1)[0]?.trim().toLowerCase() === 'application/octet-stream');
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
  const afterTerm = indexOf(query.afterTerm, 'afterTerm');
  const maxLagEntries = indexOf(query.maxLag, 'maxLag');
  return {
    consistency,
    ...(afterIndex === undefined ? {} : { afterIndex }),
    ...(afterTerm === undefined ? {} : { afterTerm }),
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
