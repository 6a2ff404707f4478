/**
 * The blob calls (`client.blobs`): large objects streamed to and from any node of the
 * cluster over `/v1/blobs/:name`, never held whole in memory. A blob's metadata commits
 * through the leader, but its bytes may go to any node, a follower included, which cuts
 * them into chunks and places them; so uploads and downloads go to whichever node answers.
 */
import { answerBytesMax, StreamFailure } from './http.js';
import type { StreamAnswer, StreamRequest } from './stream.js';
import { errorFromAnswer, TandemClientError, Unavailable, type ErrorBody } from './errors.js';
import type {
  AbortSignalLike,
  BlobDeleteOptions,
  BlobDownload,
  BlobGetOptions,
  BlobHeaders,
  BlobInfo,
  BlobMetaInfo,
  BlobPutOptions,
  BlobReadOptions,
  Durability,
} from './types.js';

/** The blob calls. Errors are the client's: Conflict for a failed If-Match (412), and so on. */
export interface BlobApi {
  /**
   * Uploads `body` as the blob `name`, replacing any version before it, and resolves to
   * the new version once it is committed. The body is streamed: an async iterable is read
   * chunk by chunk as the connection takes it, never gathered whole.
   *
   * It goes to the first node that accepts a connection, a follower before the leader. Bytes given as a `Uint8Array`
   * are sent again to the next node when one fails without answering; a streamed body
   * cannot be: once the first of its chunks was read, a failure rejects with Unavailable
   * (`TANDEM_UNREACHABLE`) and the caller must start a new upload from a new iterable.
   */
  put(
    name: string,
    body: Uint8Array | AsyncIterable<Uint8Array>,
    options?: BlobPutOptions,
  ): Promise<BlobInfo>;
  /**
   * Downloads the blob `name` (or a range of it) from the first node that serves it:
   * resolves once the headers arrived, with the body to read. Throws TandemClientError
   * `TANDEM_NOT_FOUND` (404) when there is no such blob.
   */
  get(name: string, options?: BlobGetOptions): Promise<BlobDownload>;
  /** The blob's metadata with every chunk and its holders; `TANDEM_NOT_FOUND` when absent. */
  meta(name: string, options?: BlobReadOptions): Promise<BlobMetaInfo>;
  /** The blobs whose names start with `prefix` (default all), in name order, at most `limit`. */
  list(prefix?: string, limit?: number, options?: BlobReadOptions): Promise<BlobInfo[]>;
  /** Deletes the blob `name`: true, or false when there was none. */
  delete(name: string, options?: BlobDeleteOptions): Promise<boolean>;
}

/** What the blob calls need of the client: its nodes, its retries and its connections. */
export interface BlobTransport {
  /** Further passes over the nodes after the first. */
  readonly retries: number;
  /** How long a connection may be idle before it is given up on. */
  readonly idleTimeoutMs: number;
  /** The durability the client asks of every write, if any. */
  readonly durability: Durability | undefined;
  /** Runs `call` within the client's bound on pending calls. */
  admitted<T>(signal: AbortSignalLike | undefined, call: () => Promise<T>): Promise<T>;
  /** Every known node's URL, followers before the leader, those recently down last. */
  targets(signal: AbortSignalLike | undefined): Promise<string[]>;
  /** Waits out the backoff before pass `attempt` (1 and up), then refreshes the view. */
  beforeRetry(attempt: number, signal: AbortSignalLike | undefined): Promise<void>;
  /** Skips `url` for a while: it did not answer. */
  markDown(url: string): void;
  /** One streamed exchange (the client's credentials, TLS and idle timeout added). */
  open(request: Omit<StreamRequest, 'idleTimeoutMs'>): Promise<StreamAnswer>;
  /** A call to the leader, as the admin calls make it; resolves to the answer's JSON. */
  leaderCall(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignalLike | undefined,
  ): Promise<unknown>;
  /** The error for "no node answered". */
  unreachable(): TandemClientError;
}

/** The most blobs one listing returns (the node's own bound). */
export const blobListLimitMax = 10_000;

/** A blob's route: its name is one path segment. */
function blobPath(name: string): string {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('a blob name must be a non-empty string');
  }
  return `/v1/blobs/${encodeURIComponent(name)}`;
}

/** `?a=b&...` of the parameters that are set, or nothing. */
function query(params: Record<string, string | undefined>): string {
  const set = Object.entries(params).filter((entry): entry is [string, string] => {
    return entry[1] !== undefined;
  });
  return set.length === 0 ? '' : `?${new URLSearchParams(set).toString()}`;
}

/** The answer's body as text, at most `answerBytesMax` bytes of it. */
async function answerText(answer: StreamAnswer): Promise<string> {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for await (const part of answer.body) {
    bytes += part.byteLength;
    if (bytes > answerBytesMax) {
      throw new TandemClientError('TANDEM_BAD_ANSWER', answer.status, 'the answer is too large');
    }
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The answer's JSON; an answer that is not JSON becomes a TANDEM_BAD_ANSWER error body. */
async function answerJson(answer: StreamAnswer): Promise<unknown> {
  const text = await answerText(answer);
  try {
    return text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    return { code: 'TANDEM_BAD_ANSWER', message: text.slice(0, 200) };
  }
}

async function answerError(answer: StreamAnswer): Promise<TandemClientError> {
  return errorFromAnswer(answer.status, (await answerJson(answer)) as ErrorBody);
}

function badAnswer(message: string): TandemClientError {
  return new TandemClientError('TANDEM_BAD_ANSWER', 200, message);
}

/** A header that must be a non-negative safe integer. */
function integerHeader(answer: StreamAnswer, name: string): number {
  const text = answer.header(name);
  const value = text !== null && /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw badAnswer(`header ${name} is ${String(text)}`);
  return value;
}

/** What a download's headers say: the version, the whole size, the range carried. */
function headersOf(answer: StreamAnswer): BlobHeaders {
  const version = integerHeader(answer, 'x-tandem-blob-version');
  const length = integerHeader(answer, 'content-length');
  const sha256 = answer.header('x-tandem-sha256') ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw badAnswer(`header x-tandem-sha256 is ${sha256}`);
  const contentType = answer.header('content-type') ?? 'application/octet-stream';
  if (answer.status === 200)
    return { version, bytes: length, contentType, sha256, start: 0, end: length };
  const range = /^bytes ([0-9]{1,16})-([0-9]{1,16})\/([0-9]{1,16})$/.exec(
    answer.header('content-range') ?? '',
  );
  if (range === null) throw badAnswer(`a 206 answer without a Content-Range`);
  const [start, last, bytes] = [Number(range[1]), Number(range[2]), Number(range[3])];
  // Content-Range names the last byte, inclusive: the body is [start, last + 1).
  if (last + 1 - start !== length || last >= bytes) {
    throw badAnswer(`Content-Range ${range[0]} disagrees with Content-Length ${length}`);
  }
  return { version, bytes, contentType, sha256, start, end: last + 1 };
}

/**
 * The body of a download, checked: exactly `expectedBytes` of it, else it throws; a
 * connection lost midway throws Unavailable.
 */
async function* checkedBody(
  body: AsyncIterable<Uint8Array>,
  expectedBytes: number,
  url: string,
): AsyncGenerator<Uint8Array> {
  let received = 0;
  try {
    for await (const part of body) {
      received += part.byteLength;
      if (received > expectedBytes) break;
      yield part;
    }
  } catch (error) {
    if (!(error instanceof StreamFailure)) throw error;
    const what = `${url} broke off the blob after ${received} of ${expectedBytes} bytes`;
    throw new Unavailable('TANDEM_UNREACHABLE', 503, `${what}: ${error.message}`, {
      cause: error,
    });
  }
  if (received !== expectedBytes) {
    throw badAnswer(`${url} sent ${received} bytes of a blob answer of ${expectedBytes}`);
  }
}

/** An upload's answer, checked: the fields a `BlobInfo` has, of the right kinds. */
function blobInfoOf(value: unknown): BlobInfo {
  const info = value as BlobInfo;
  const integers = [info?.version, info?.bytes, info?.chunks, info?.createdAtMs];
  if (
    typeof info?.name !== 'string' ||
    typeof info.sha256 !== 'string' ||
    typeof info.contentType !== 'string' ||
    !integers.every((n) => Number.isSafeInteger(n))
  ) {
    throw badAnswer(`not a blob's description: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return info;
}

/** The blob calls over `transport`. */
export function blobApi(transport: BlobTransport): BlobApi {
  /**
   * Sends a request to one node after another, each pass over every known node, until one
   * answers with a status below 500 (a node's 5xx sends it to the next). Only `resendable`
   * requests go to a second node after one failed without answering.
   */
  const anyNode = async (
    method: string,
    path: string,
    request: Omit<StreamRequest, 'url' | 'idleTimeoutMs' | 'method'>,
    resendable: (failure: StreamFailure) => boolean,
  ): Promise<{ url: string; answer: StreamAnswer }> => {
    let lastError: TandemClientError | null = null;
    for (let attempt = 0; attempt <= transport.retries; attempt++) {
      if (attempt > 0) await transport.beforeRetry(attempt, request.signal);
      for (const url of await transport.targets(request.signal)) {
        let answer: StreamAnswer;
        try {
          answer = await transport.open({ ...request, method, url: url + path });
        } catch (error) {
          if (!(error instanceof StreamFailure)) throw error;
          transport.markDown(url);
          const what = `${method} ${url}${path}: ${error.message}`;
          lastError = new Unavailable('TANDEM_UNREACHABLE', 503, what, { cause: error });
          if (!resendable(error)) throw lastError;
          continue;
        }
        if (answer.status < 500) return { url, answer };
        lastError = await answerError(answer);
        if (method === 'PUT') throw lastError;
      }
    }
    throw lastError ?? transport.unreachable();
  };

  const readJson = async (path: string, signal: AbortSignalLike | undefined): Promise<unknown> => {
    const { answer } = await anyNode(
      'GET',
      path,
      { headers: {}, body: undefined, signal },
      () => true,
    );
    if (answer.status !== 200) throw await answerError(answer);
    return answerJson(answer);
  };

  return {
    put: (name, body, options = {}) =>
      transport.admitted(options.signal, async () => {
        const ack = options.ack ?? transport.durability;
        const path = blobPath(name) + query({ ack });
        const headers: Record<string, string> = {
          'content-type': options.contentType ?? 'application/octet-stream',
        };
        if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
        if (options.ifNoneMatch === '*') headers['if-none-match'] = '*';
        const request = { headers, body, signal: options.signal, onSent: options.onProgress };
        // Bytes in memory can be sent again; a stream only if none of it was read yet.
        const resendable = (failure: StreamFailure): boolean =>
          body instanceof Uint8Array || !failure.sent;
        const { answer } = await anyNode('PUT', path, request, resendable);
        if (answer.status !== 201) throw await answerError(answer);
        return blobInfoOf(await answerJson(answer));
      }),

    get: (name, options = {}) =>
      transport.admitted(options.signal, async () => {
        const { range } = options;
        const headers: Record<string, string> = {};
        if (range !== undefined) {
          if (!Number.isSafeInteger(range.start) || range.start < 0) {
            throw new TypeError('range.start must be a non-negative integer');
          }
          if (
            range.end !== undefined &&
            (!Number.isSafeInteger(range.end) || range.end < range.start)
          ) {
            throw new TypeError('range.end must be an integer no smaller than range.start');
          }
          headers.range = `bytes=${range.start}-${range.end ?? ''}`;
        }
        const path =
          blobPath(name) + query({ source: options.source, consistency: options.consistency });
        const request = { headers, body: undefined, signal: options.signal };
        const { url, answer } = await anyNode('GET', path, request, () => true);
        if (answer.status !== 200 && answer.status !== 206) throw await answerError(answer);
        const info = headersOf(answer);
        return { info, body: checkedBody(answer.body, info.end - info.start, url) };
      }),

    meta: (name, options = {}) =>
      transport.admitted(options.signal, async () => {
        const path = `${blobPath(name)}/meta${query({ consistency: options.consistency })}`;
        return (await readJson(path, options.signal)) as BlobMetaInfo;
      }),

    list: (prefix = '', limit, options = {}) =>
      transport.admitted(options.signal, async () => {
        if (
          limit !== undefined &&
          (!Number.isSafeInteger(limit) || limit < 1 || limit > blobListLimitMax)
        ) {
          throw new TypeError(`limit must be an integer from 1 to ${blobListLimitMax}`);
        }
        const path =
          '/v1/blobs' +
          query({
            prefix: prefix === '' ? undefined : prefix,
            limit: limit === undefined ? undefined : String(limit),
            consistency: options.consistency,
          });
        const answer = (await readJson(path, options.signal)) as { blobs: unknown[] };
        return answer.blobs.map(blobInfoOf);
      }),

    delete: (name, options = {}) =>
      transport.admitted(options.signal, async () => {
        const headers: Record<string, string> = {};
        if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
        try {
          await transport.leaderCall('DELETE', blobPath(name), headers, options.signal);
          return true;
        } catch (error) {
          if (error instanceof TandemClientError && error.status === 404) return false;
          throw error;
        }
      }),
  };
}
