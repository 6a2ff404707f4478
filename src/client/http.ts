/**
 * One HTTP exchange over `node:http` (or `node:https`) with keep-alive agents. The client
 * makes every call through here rather than the global `fetch`: on the same machine
 * `fetch` spends about five times the CPU per call (web streams, signals, header objects),
 * which made the client, not the cluster, the bottleneck of a service built on it.
 */
import http from 'node:http';
import https from 'node:https';
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
