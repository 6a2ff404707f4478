/**
 * One HTTP exchange over `node:http` (or `node:https`) with keep-alive agents. The client
 * makes every call through here rather than the global `fetch`: on the same machine
 * `fetch` spends about five times the CPU per call (web streams, signals, header objects),
 * which made the client, not the cluster, the bottleneck of a service built on it.
 */
import http from 'node:http';
import https from 'node:https';
import type { StreamAnswer, StreamRequest } from './stream.js';
import type { AbortSignalLike, ClientTlsOptions } from './types.js';

/** Sockets kept open to one node, at most: the calls beyond wait for a free one. */
export const connectionsPerNodeMax = 64;

/** The largest answer body accepted; a query's rows are bounded by the server too. */
export const answerBytesMax = 256 * 1024 * 1024;

/** An answer as the client reads it. */
export interface HttpAnswer {
  readonly status: number;
  /** A response header by lower-case name, or null. */
  header(name: string): string | null;
  readonly text: string;
}

/** The request got no answer: refused, reset, timed out, or too large. */
export class ExchangeFailure extends Error {
  override readonly name = 'ExchangeFailure';
  /** A short reason: a socket error code (ECONNREFUSED), `timeout`, or `too-large`. */
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** PEM given as text or bytes, as node:tls takes it. */
function pem(value: string | Uint8Array): string | Buffer {
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The keep-alive agents of one client; `destroy()` closes their sockets. */
export class HttpAgents {
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: connectionsPerNodeMax });
  readonly #https: https.Agent;

  /** `tls` applies to every `https://` node (the CA to trust, a client certificate). */
  constructor(tls: ClientTlsOptions = {}) {
    const { ca, cert, key, rejectUnauthorized } = tls;
    this.#https = new https.Agent({
      keepAlive: true,
      maxSockets: connectionsPerNodeMax,
      ...(ca === undefined
        ? {}
        : { ca: typeof ca === 'string' || ca instanceof Uint8Array ? pem(ca) : ca.map(pem) }),
      ...(cert === undefined ? {} : { cert: pem(cert) }),
      ...(key === undefined ? {} : { key: pem(key) }),
      ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
    });
  }

  /** The agent for `url`'s protocol. */
  for(url: URL): http.Agent {
    return url.protocol === 'https:' ? this.#https : this.#http;
  }

  destroy(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/**
 * Sends one request and reads its whole answer. Rejects with ExchangeFailure when no
 * answer came within `timeoutMs`, and with the signal's reason when `signal` aborted.
 */
export function exchange(
  agents: HttpAgents,
  request: {
    readonly url: string;
    readonly method: string;
    readonly headers: Record<string, string>;
    readonly body: string | undefined;
    readonly signal: AbortSignalLike | undefined;
    readonly timeoutMs: number;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const send = url.protocol === 'https:' ? https.request : http.request;
    let settled = false;
    const finish = (error: unknown, answer?: HttpAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      if (answer !== undefined) resolve(answer);
      else reject(error);
    };
    const outgoing = send(url, { method: request.method, headers, agent: agents.for(url) });
    const timer = setTimeout(() => {
      const what = `no answer within ${request.timeoutMs} ms`;
      finish(new ExchangeFailure('timeout', what));
      outgoing.destroy();
    }, request.timeoutMs);
    const onAbort = (): void => {
      finish(request.signal?.reason);
      outgoing.destroy();
    };
    // Listen for errors first: destroying the request below emits one.
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      finish(
        new ExchangeFailure(error.code ?? 'error', error.code ?? error.message, { cause: error }),
      );
    });
    if (request.signal?.aborted === true) {
      onAbort();
      return;
    }
    request.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      incoming.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > answerBytesMax) {
          finish(new ExchangeFailure('too-large', `answer larger than ${answerBytesMax} bytes`));
          outgoing.destroy();
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('error', (error: NodeJS.ErrnoException) => {
        finish(new ExchangeFailure(error.code ?? 'error', error.message, { cause: error }));
      });
      incoming.on('close', () => {
        finish(new ExchangeFailure('closed', 'the connection closed before the answer ended'));
      });
      incoming.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        finish(null, {
          status: incoming.statusCode ?? 0,
          header: (name) => {
            const value = incoming.headers[name];
            return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
          },
          text,
        });
      });
    });
    outgoing.end(request.body);
  });
}

/** The request got no answer; `sent` tells whether any of a streamed body was read first. */
export class StreamFailure extends ExchangeFailure {
  /** Whether bytes of the body were taken from its iterator: then it cannot be resent. */
  readonly sent: boolean;

  constructor(reason: string, message: string, sent: boolean, options?: { cause?: unknown }) {
    super(reason, message, options);
    this.sent = sent;
  }
}

/**
 * Sends one request, streaming its body, and resolves once the answer's status and headers
 * arrived; its body is then read through `StreamAnswer.body`. Rejects with StreamFailure
 * when no answer came (refused, reset, idle too long, the body's iterator failed), and
 * with the signal's reason when `signal` aborted. A streamed body is read only once the
 * connection is open, so that a refused connection leaves it untouched (`sent` false).
 */
export function streamExchange(agents: HttpAgents, request: StreamRequest): Promise<StreamAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(request.url);
    const headers: Record<string, string | number> = { ...request.headers };
    const { body } = request;
    if (body instanceof Uint8Array) headers['content-length'] = body.byteLength;
    else if (body === undefined) headers['content-length'] = 0;
    const send = url.protocol === 'https:' ? https.request : http.request;
    const outgoing = send(url, { method: request.method, headers, agent: agents.for(url) });
    let sent = false;
    let answered = false;
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      request.signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    const onAbort = (): void => {
      fail(request.signal?.reason);
      outgoing.destroy(request.signal?.reason as Error);
    };
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? 'error';
      fail(new StreamFailure(reason, error.code ?? error.message, sent, { cause: error }));
    });
    outgoing.setTimeout(request.idleTimeoutMs, () => {
      const what = `the connection was idle for ${request.idleTimeoutMs} ms`;
      outgoing.destroy(new StreamFailure('timeout', what, sent));
    });
    if (request.signal?.aborted === true) return onAbort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.on('response', (incoming) => {
      answered = true;
      if (settled) return void incoming.destroy();
      settled = true;
      resolve({
        status: incoming.statusCode ?? 0,
        header: (name) => {
          const value = incoming.headers[name];
          return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
        },
        body: answerBody(incoming, outgoing, request.signal, onAbort),
      });
    });
    if (body === undefined || body instanceof Uint8Array) return void outgoing.end(body);
    const start = (): void => {
      void writeBody(outgoing, body, request.onSent, {
        pulled: () => (sent = true),
        answered: () => answered,
      }).catch((error: unknown) => {
        outgoing.destroy(error as Error);
        fail(
          new StreamFailure('body', `the body failed: ${(error as Error).message}`, sent, {
            cause: error,
          }),
        );
      });
    };
    outgoing.once('socket', (socket) => {
      if (socket.connecting) socket.once('connect', start);
      else start();
    });
  });
}

/** Writes `body` to `outgoing` chunk by chunk, waiting for it to drain; stops on an answer. */
async function writeBody(
  outgoing: http.ClientRequest,
  body: AsyncIterable<Uint8Array>,
  onSent: ((sentBytes: number) => void) | undefined,
  state: { pulled(): void; answered(): boolean },
): Promise<void> {
  let sentBytes = 0;
  for await (const chunk of body) {
    state.pulled();
    // The node answered before the body ended (a refusal): the rest would go unread.
    if (state.answered() || outgoing.destroyed) break;
    if (!(chunk instanceof Uint8Array)) throw new TypeError('a body chunk must be a Uint8Array');
    const drained = outgoing.write(chunk);
    sentBytes += chunk.byteLength;
    onSent?.(sentBytes);
    if (!drained) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          outgoing.off('drain', done);
          outgoing.off('close', done);
          outgoing.off('response', done);
          resolve();
        };
        outgoing.on('drain', done);
        outgoing.on('close', done);
        outgoing.on('response', done);
      });
    }
  }
  if (!outgoing.destroyed) outgoing.end();
}

/** The answer's body as bytes; stopping early, an abort or a lost connection destroys it. */
async function* answerBody(
  incoming: http.IncomingMessage,
  outgoing: http.ClientRequest,
  signal: AbortSignalLike | undefined,
  onAbort: () => void,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of incoming as AsyncIterable<Buffer>) yield chunk;
    if (!incoming.complete) {
      throw new StreamFailure('closed', 'the connection closed before the answer ended', true);
    }
  } catch (error) {
    if (signal?.aborted === true) throw signal.reason;
    if (error instanceof StreamFailure) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'closed';
    throw new StreamFailure(code, (error as Error).message, true, { cause: error });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!incoming.complete) outgoing.destroy();
  }
}
