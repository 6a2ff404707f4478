/**
 * Node-to-node calls of the blob layer: chunks pushed to and fetched from their holders,
 * and a follower's metadata steps and inventory sent to the leader. They go over the
 * nodes' HTTP ports (TLS when the cluster has it), not the Raft link: an 8 MiB chunk on
 * the link that carries heartbeats would hold them up for as long as it takes to send,
 * and HTTP gives each transfer its own connection and TCP's backpressure.
 *
 * Each call is signed with the cluster secret: `X-Tandem-Peer: NODE TIME HMAC`, the HMAC
 * (SHA-256) over the node, the method, the path and the time in ms. A node accepts a
 * signature made within `peerSignatureSkewMs` of its own clock, so a captured header is of
 * no use for long nor for another path; what the calls carry is checked anyway (a chunk
 * against its hash, metadata against the leader's own state).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { TandemError, type ErrorCode } from '../core/errors.js';
import type { NodeId } from '../core/types.js';

/** The header that carries a peer call's signature. */
export const peerHeader = 'x-tandem-peer';
/** How far a signature's time may be from the receiver's clock. */
export const peerSignatureSkewMs = 60_000;
/** How long one peer call may take, a whole chunk's transfer included. */
export const peerCallTimeoutMs = 120_000;
/** The largest answer read from a peer (a chunk, with room for its framing). */
export const peerAnswerBytesMax = 65 * 1024 * 1024;

function signature(secret: string, node: NodeId, method: string, path: string, at: number) {
  return createHmac('sha256', secret)
    .update(`tandem blob peer\n${node}\n${method}\n${path}\n${at}`)
    .digest('hex');
}

/** The header value that signs a call of `node` (see the module comment). */
export function signPeerCall(
  secret: string,
  node: NodeId,
  method: string,
  path: string,
  nowMs: number,
): string {
  return `${node} ${nowMs} ${signature(secret, node, method, path, nowMs)}`;
}

/** The node a signed call comes from, or null when its signature does not hold. */
export function verifyPeerCall(
  secret: string,
  header: string | undefined,
  method: string,
  path: string,
  nowMs: number,
): NodeId | null {
  if (header === undefined || header.length > 512) return null;
  const [node, atText, given] = header.split(' ');
  if (node === undefined || atText === undefined || given === undefined) return null;
  const at = Number(atText);
  if (!Number.isSafeInteger(at) || Math.abs(nowMs - at) > peerSignatureSkewMs) return null;
  const expected = Buffer.from(signature(secret, node, method, path, at), 'hex');
  const received = Buffer.from(given, 'hex');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) return null;
  return node;
}

/** What a peer answered. */
export interface PeerAnswer {
  readonly status: number;
  readonly body: Buffer;
}

/** Signed HTTP calls to other nodes, over kept-alive connections. */
export class PeerClient {
  readonly #secret: string;
  readonly #self: NodeId;
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: 16 });
  readonly #https: https.Agent;

  constructor(secret: string, self: NodeId, tls: ConnectionOptions = {}) {
    this.#secret = secret;
    this.#self = self;
    this.#https = new https.Agent({ ...tls, keepAlive: true, maxSockets: 16 });
  }

  /** Calls `method baseUrl+path` with `body`; rejects only when no answer came. */
  call(
    baseUrl: string,
    method: string,
    path: string,
    body: Buffer | null,
    contentType = 'application/octet-stream',
    timeoutMs = peerCallTimeoutMs,
  ): Promise<PeerAnswer> {
    const url = new URL(path, baseUrl);
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = {
      [peerHeader]: signPeerCall(this.#secret, this.#self, method, url.pathname, Date.now()),
    };
    if (body !== null) {
      headers['content-type'] = contentType;
      headers['content-length'] = body.length;
    }
    return new Promise<PeerAnswer>((resolve, reject) => {
      const request = (secure ? https : http).request(
        url,
        { method, headers, agent: secure ? this.#https : this.#http, timeout: timeoutMs },
        (response) => {
          const parts: Buffer[] = [];
          let bytes = 0;
          response.on('data', (part: Buffer) => {
            bytes += part.length;
            if (bytes > peerAnswerBytesMax) {
              request.destroy(new Error(`a peer answered more than ${peerAnswerBytesMax} bytes`));
              return;
            }
            parts.push(part);
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts) }),
          );
          response.on('error', reject);
        },
      );
      request.on('timeout', () =>
        request.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)),
      );
      request.on('error', reject);
      request.end(body ?? undefined);
    });
  }

  /** Calls a peer with a JSON body and returns its JSON answer, or throws its error. */
  async json<T>(baseUrl: string, path: string, body: unknown): Promise<T> {
    const answer = await this.call(
      baseUrl,
      'POST',
      path,
      Buffer.from(JSON.stringify(body), 'utf8'),
      'application/json',
    );
    const parsed: unknown = answer.body.length === 0 ? null : JSON.parse(answer.body.toString());
    if (answer.status >= 200 && answer.status < 300) return parsed as T;
    const error = parsed as { code?: string; message?: string } | null;
    throw new TandemError(
      (error?.code ?? 'TANDEM_REPLICA_UNAVAILABLE') as ErrorCode,
      error?.message ?? `a peer answered ${answer.status}`,
    );
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
