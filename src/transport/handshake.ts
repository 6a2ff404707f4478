import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../core/types.js';
import type { Advertisement, PeerAddress } from './contract.js';

/**
 * The handshake that opens every link, before any other frame. It proves to each side
 * that the other holds the cluster secret without sending the secret, and it binds the
 * proof to both node ids and to a fresh nonce from each side, so a recorded handshake
 * cannot be replayed and an acceptor's proof cannot be reflected back as a dialer's:
 *
 *     dialer                                   acceptor
 *     hello {clusterId, nodeId, nonceA}  ->
 *                                        <-  challenge {clusterId, nodeId, nonceB, proofB}
 *     proof {proofA, advertisement}      ->
 *                                        <-  welcome {advertisement}
 *
 * proofB = HMAC-SHA256(secret, "acceptor" | clusterId | acceptorId | dialerId | nonceA |
 * nonceB), proofA the same with "dialer". The dialer checks proofB before it sends its
 * own proof, so a node without the secret learns nothing it could use. The machines here
 * do no I/O: a link feeds them decoded messages and sends what they return.
 */
export const nonceBytes = 32;

/** The largest handshake frame: no unauthenticated peer makes a node buffer more. */
export const handshakeFrameBytesMax = 64 * 1024;

/** The longest cluster or node id, in UTF-8 bytes. */
export const idBytesMax = 256;

/** The longest host, URL or RESP endpoint in an advertisement, in characters. */
const endpointCharsMax = 2048;

const proofBytes = 32;

/** Every handshake message, by its wire `type`. */
export type HandshakeMessage =
  | {
      readonly type: 'hello';
      readonly clusterId: string;
      readonly nodeId: NodeId;
      readonly nonce: Uint8Array;
    }
  | {
      readonly type: 'challenge';
      readonly clusterId: string;
      readonly nodeId: NodeId;
      readonly nonce: Uint8Array;
      readonly proof: Uint8Array;
    }
  | { readonly type: 'proof'; readonly proof: Uint8Array; readonly advertisement: Advertisement }
  | { readonly type: 'welcome'; readonly advertisement: Advertisement };

/** What a handshake machine asks its link to do after a message. */
export type HandshakeStep =
  /** Send `message` and wait for the next one. */
  | { readonly kind: 'send'; readonly message: HandshakeMessage }
  /** The peer is authenticated; send `message` first when there is one. */
  | {
      readonly kind: 'done';
      readonly message: HandshakeMessage | null;
      readonly peerId: NodeId;
      readonly advertisement: Advertisement;
    }
  /** Close the link: the peer is not one of ours, or broke the protocol. */
  | { readonly kind: 'refuse'; readonly reason: string };

/** What both sides of a handshake know about themselves. */
export interface HandshakeIdentity {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly secret: string;
  readonly advertisement: Advertisement;
  /** Randomness for nonces; tests may inject their own. */
  readonly randomBytes?: (bytes: number) => Uint8Array;
}

/** The fields both proofs cover, in this order. */
interface ProofFields {
  readonly clusterId: string;
  readonly acceptorId: NodeId;
  readonly dialerId: NodeId;
  readonly nonceA: Uint8Array;
  readonly nonceB: Uint8Array;
}

/**
 * HMAC-SHA256 over the role and the fields, each preceded by its length as a big-endian
 * u32: with plain separators, ids containing the separator could make two different
 * field lists hash the same.
 */
export function computeProof(
  secret: string,
  role: 'acceptor' | 'dialer',
  fields: ProofFields,
): Buffer {
  const hmac = createHmac('sha256', Buffer.from(secret, 'utf8'));
  const parts: Uint8Array[] = [
    Buffer.from(role, 'utf8'),
    Buffer.from(fields.clusterId, 'utf8'),
    Buffer.from(fields.acceptorId, 'utf8'),
    Buffer.from(fields.dialerId, 'utf8'),
    fields.nonceA,
    fields.nonceB,
  ];
  for (const part of parts) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(part.byteLength, 0);
    hmac.update(length);
    hmac.update(part);
  }
  return hmac.digest();
}

/** Compares a received proof with the expected one in time that does not depend on where they differ. */
function proofMatches(expected: Buffer, received: Uint8Array): boolean {
  return received.byteLength === expected.byteLength && timingSafeEqual(expected, received);
}

/** Checks the claims common to both sides: our cluster, and not our own id. */
function checkClaims(self: HandshakeIdentity, clusterId: string, nodeId: NodeId): string | null {
  if (clusterId !== self.clusterId) return `wrong cluster id ${JSON.stringify(clusterId)}`;
  if (nodeId === self.nodeId) return `peer claims this node's own id ${JSON.stringify(nodeId)}`;
  return null;
}

/** The dialer's side: sends hello, checks the challenge, proves itself. */
export class DialerHandshake {
  readonly #self: HandshakeIdentity;
  readonly #expectedPeerId: NodeId;
  readonly #nonceA: Uint8Array;
  #state: 'awaiting-challenge' | 'awaiting-welcome' | 'finished' = 'awaiting-challenge';
  #peerId: NodeId = '';

  /** `expectedPeerId` is the node this dialer meant to reach at the address it dialed. */
  constructor(self: HandshakeIdentity, expectedPeerId: NodeId) {
    this.#self = self;
    this.#expectedPeerId = expectedPeerId;
    this.#nonceA = (self.randomBytes ?? cryptoRandomBytes)(nonceBytes);
  }

  /** The first message of the handshake. */
  hello(): HandshakeMessage {
    const { clusterId, nodeId } = this.#self;
    return { type: 'hello', clusterId, nodeId, nonce: this.#nonceA };
  }

  /** Handles the acceptor's next message. */
  receive(message: HandshakeMessage): HandshakeStep {
    if (this.#state === 'awaiting-challenge' && message.type === 'challenge') {
      return this.#onChallenge(message);
    }
    if (this.#state === 'awaiting-welcome' && message.type === 'welcome') {
      this.#state = 'finished';
      const advertisement = message.advertisement;
      return { kind: 'done', message: null, peerId: this.#peerId, advertisement };
    }
    return { kind: 'refuse', reason: `unexpected ${message.type} while ${this.#state}` };
  }

  #onChallenge(message: HandshakeMessage & { type: 'challenge' }): HandshakeStep {
    const refusal = checkClaims(this.#self, message.clusterId, message.nodeId);
    if (refusal !== null) return { kind: 'refuse', reason: refusal };
    if (message.nodeId !== this.#expectedPeerId) {
      const claimed = JSON.stringify(message.nodeId);
      return { kind: 'refuse', reason: `expected node ${this.#expectedPeerId}, found ${claimed}` };
    }
    const fields: ProofFields = {
      clusterId: this.#self.clusterId,
      acceptorId: message.nodeId,
      dialerId: this.#self.nodeId,
      nonceA: this.#nonceA,
      nonceB: message.nonce,
    };
    if (!proofMatches(computeProof(this.#self.secret, 'acceptor', fields), message.proof)) {
      return { kind: 'refuse', reason: 'wrong acceptor proof (the cluster secrets differ)' };
    }
    this.#state = 'awaiting-welcome';
    this.#peerId = message.nodeId;
    const proof = computeProof(this.#self.secret, 'dialer', fields);
    return {
      kind: 'send',
      message: { type: 'proof', proof, advertisement: this.#self.advertisement },
    };
  }
}

/** The acceptor's side: answers hello with a challenge, checks the dialer's proof. */
export class AcceptorHandshake {
  readonly #self: HandshakeIdentity;
  #state: 'awaiting-hello' | 'awaiting-proof' | 'finished' = 'awaiting-hello';
  #fields: ProofFields | null = null;

  constructor(self: HandshakeIdentity) {
    this.#self = self;
  }

  /** Handles the dialer's next message. */
  receive(message: HandshakeMessage): HandshakeStep {
    if (this.#state === 'awaiting-hello' && message.type === 'hello') return this.#onHello(message);
    if (this.#state === 'awaiting-proof' && message.type === 'proof') return this.#onProof(message);
    return { kind: 'refuse', reason: `unexpected ${message.type} while ${this.#state}` };
  }

  #onHello(message: HandshakeMessage & { type: 'hello' }): HandshakeStep {
    const refusal = checkClaims(this.#self, message.clusterId, message.nodeId);
    if (refusal !== null) return { kind: 'refuse', reason: refusal };
    const nonceB = (this.#self.randomBytes ?? cryptoRandomBytes)(nonceBytes);
    this.#fields = {
      clusterId: this.#self.clusterId,
      acceptorId: this.#self.nodeId,
      dialerId: message.nodeId,
      nonceA: message.nonce,
      nonceB,
    };
    this.#state = 'awaiting-proof';
    const { clusterId, nodeId, secret } = this.#self;
    const proof = computeProof(secret, 'acceptor', this.#fields);
    return {
      kind: 'send',
      message: { type: 'challenge', clusterId, nodeId, nonce: nonceB, proof },
    };
  }

  #onProof(message: HandshakeMessage & { type: 'proof' }): HandshakeStep {
    const fields = this.#fields as ProofFields;
    if (!proofMatches(computeProof(this.#self.secret, 'dialer', fields), message.proof)) {
      return { kind: 'refuse', reason: 'wrong dialer proof (the cluster secrets differ)' };
    }
    this.#state = 'finished';
    return {
      kind: 'done',
      message: { type: 'welcome', advertisement: this.#self.advertisement },
      peerId: fields.dialerId,
      advertisement: message.advertisement,
    };
  }
}

/**
 * Checks that a decoded payload is a well-formed handshake message; the reason when not.
 * Everything here comes from an unauthenticated peer, so every field is checked for type
 * and size before any of it is used.
 */
export function parseHandshakeMessage(value: unknown): HandshakeMessage | string {
  if (!isRecord(value)) return 'handshake message is not a map';
  switch (value.type) {
    case 'hello':
    case 'challenge': {
      if (!isId(value.clusterId) || !isId(value.nodeId)) return `${value.type} with a bad id`;
      if (!isBytes(value.nonce, nonceBytes)) return `${value.type} with a bad nonce`;
      const { clusterId, nodeId, nonce } = value;
      if (value.type === 'hello') return { type: 'hello', clusterId, nodeId, nonce };
      if (!isBytes(value.proof, proofBytes)) return 'challenge with a bad proof';
      return { type: 'challenge', clusterId, nodeId, nonce, proof: value.proof };
    }
    case 'proof': {
      if (!isBytes(value.proof, proofBytes)) return 'proof with a bad proof';
      const advertisement = parseAdvertisement(value.advertisement);
      if (advertisement === null) return 'proof with a bad advertisement';
      return { type: 'proof', proof: value.proof, advertisement };
    }
    case 'welcome': {
      const advertisement = parseAdvertisement(value.advertisement);
      if (advertisement === null) return 'welcome with a bad advertisement';
      return { type: 'welcome', advertisement };
    }
    default:
      return 'unknown handshake message type';
  }
}

function parseAdvertisement(value: unknown): Advertisement | null {
  if (!isRecord(value) || !isRecord(value.peer)) return null;
  const peer = parsePeerAddress(value.peer);
  if (peer === null || !isEndpoint(value.httpUrl)) return null;
  if (value.resp !== null && !isEndpoint(value.resp)) return null;
  const respTls = value.respTls ?? null;
  if (respTls !== null && !isEndpoint(respTls)) return null;
  return { peer, httpUrl: value.httpUrl, resp: value.resp, respTls };
}

function parsePeerAddress(value: Record<string, unknown>): PeerAddress | null {
  const { host, port } = value;
  if (!isEndpoint(host) || host.length === 0) return null;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    return null;
  }
  return { host, port };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string {
  return (
    typeof value === 'string' && value.length > 0 && Buffer.byteLength(value, 'utf8') <= idBytesMax
  );
}

function isEndpoint(value: unknown): value is string {
  return typeof value === 'string' && value.length <= endpointCharsMax;
}

function isBytes(value: unknown, bytes: number): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength === bytes;
}
