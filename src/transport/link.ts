import type { Socket } from 'node:net';
import type { NodeId } from '../core/types.js';
import { decodePayload, encodePayload } from './codec.js';
import type { Advertisement, Logger } from './contract.js';
import { encodeFrame, FrameParser } from './frame.js';
import {
  handshakeFrameBytesMax,
  parseHandshakeMessage,
  type AcceptorHandshake,
  type DialerHandshake,
  type HandshakeMessage,
  type HandshakeStep,
} from './handshake.js';

/** What a link tells its owner. Each is called at most once per link, except payload and drain. */
export interface LinkEvents {
  /** The handshake succeeded: the peer is `peerId` and advertised `advertisement`. */
  established(link: Link, peerId: NodeId, advertisement: Advertisement): void;
  /** A frame arrived on an established inbound link. */
  payload(link: Link, value: unknown): void;
  /** The socket can take more writes after `writeFrames` returned false. */
  drain(link: Link): void;
  /**
   * The socket is closed. `reason` says why when it did not simply end; `fault` is set when
   * the link was refused or broke the protocol (and a warning was logged), rather than
   * lost to the network or closed by its owner.
   */
  closed(link: Link, reason: string | null, fault: boolean): void;
}

/** Which side of the handshake a link plays, with its handshake machine. */
export type LinkRole =
  | { readonly kind: 'dialer'; readonly handshake: DialerHandshake; readonly peerId: NodeId }
  | { readonly kind: 'acceptor'; readonly handshake: AcceptorHandshake };

/** How a link is set up. */
export interface LinkOptions {
  readonly socket: Socket;
  readonly role: LinkRole;
  /** The remote endpoint as `host:port`, for logs. */
  readonly remote: string;
  /** The socket event after which the handshake may start; null when it already may. */
  readonly readyEvent: 'connect' | 'secureConnect' | null;
  readonly frameBytesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  readonly events: LinkEvents;
}

/**
 * One socket between two nodes: the handshake, then frames in one direction. A dialer's
 * link only writes after the handshake, an acceptor's only reads, so neither side has to
 * break ties between two links of the same pair. Any protocol fault (bad frame, failed
 * handshake, timeout) closes this link alone and logs why; the owner decides what next.
 */
export class Link {
  readonly remote: string;
  readonly #socket: Socket;
  readonly #role: LinkRole;
  readonly #options: LinkOptions;
  readonly #parser = new FrameParser();
  #handshakeTimer: NodeJS.Timeout | null;
  /** The TCP connection was made (a dial that never connected is not worth a warning). */
  #connected: boolean;
  #peerId: NodeId | null;
  #established = false;
  #closing = false;
  #failure: string | null = null;
  #fault = false;

  constructor(options: LinkOptions) {
    this.remote = options.remote;
    this.#socket = options.socket;
    this.#role = options.role;
    this.#options = options;
    this.#connected = options.readyEvent === null;
    this.#peerId = options.role.kind === 'dialer' ? options.role.peerId : null;
    this.#handshakeTimer = setTimeout(() => this.#onTimeout(), options.handshakeTimeoutMs);
    this.#listen(options.readyEvent);
  }

  /** The peer's node id: the expected one for a dialer, the claimed then proven one for an acceptor. */
  get peerId(): NodeId | null {
    return this.#peerId;
  }

  /** The handshake has succeeded and the link is not closed. */
  get established(): boolean {
    return this.#established && !this.#closing;
  }

  /** The handshake succeeded at some point, whether or not the link is closed since. */
  get wasEstablished(): boolean {
    return this.#established;
  }

  /**
   * Writes frames in one batch: corked, so that they leave in one write system call.
   * False when the socket's buffer is full; wait for the `drain` event before writing more.
   */
  writeFrames(frames: readonly Buffer[]): boolean {
    if (this.#closing) return false;
    this.#socket.cork();
    for (const frame of frames) this.#socket.write(frame);
    this.#socket.uncork();
    return !this.#socket.writableNeedDrain;
  }

  /** Closes the link because of a fault, logging `reason` once. */
  fail(reason: string): void {
    if (this.#closing) return;
    this.#failure = reason;
    this.#fault = true;
    this.#options.logger.warn(
      { peer: this.#peerId, remote: this.remote, reason },
      'peer link closed',
    );
    this.close();
  }

  /** Closes the link; frames not yet written by the socket are lost. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#clearTimer();
    this.#socket.destroy();
  }

  #listen(readyEvent: 'connect' | 'secureConnect' | null): void {
    const socket = this.#socket;
    socket.on('connect', () => (this.#connected = true));
    if (readyEvent === null) {
      this.#start();
    } else {
      socket.once(readyEvent, () => this.#start());
    }
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#options.events.drain(this));
    socket.on('error', (error: Error) => {
      // Recorded, not logged here: 'close' follows and says what the link was doing.
      this.#failure ??= error.message;
    });
    socket.on('close', () => this.#onClose());
  }

  #onTimeout(): void {
    const limit = `${this.#options.handshakeTimeoutMs} ms`;
    if (this.#connected) return this.fail(`handshake not finished within ${limit}`);
    // A host that does not answer at all is down or unreachable, as with a refused
    // connection: no fault of the peer's, so no warning each time the dial is retried.
    this.#failure = `no connection within ${limit}`;
    this.close();
  }

  #start(): void {
    this.#connected = true;
    if (this.#role.kind === 'dialer') this.#sendHandshake(this.#role.handshake.hello());
  }

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk);
    while (!this.#closing) {
      const limit = this.#established ? this.#options.frameBytesMax : handshakeFrameBytesMax;
      const result = this.#parser.next(limit);
      if (result === null) return;
      if (result.status === 'corrupt') return this.fail(result.reason);
      const decoded = decodePayload(result.payload);
      if (!decoded.ok) return this.fail(decoded.reason);
      if (!this.#established) {
        this.#onHandshakeMessage(decoded.value);
      } else if (this.#role.kind === 'acceptor') {
        this.#options.events.payload(this, decoded.value);
      } else {
        return this.fail('a frame arrived on an outbound link, which only sends');
      }
    }
  }

  #onHandshakeMessage(value: unknown): void {
    const message = parseHandshakeMessage(value);
    if (typeof message === 'string') return this.fail(`bad handshake: ${message}`);
    if (this.#role.kind === 'acceptor' && message.type === 'hello') this.#peerId = message.nodeId;
    const step: HandshakeStep = this.#role.handshake.receive(message);
    if (step.kind === 'refuse') return this.fail(`handshake refused: ${step.reason}`);
    if (step.message !== null) this.#sendHandshake(step.message);
    if (step.kind === 'done') {
      this.#established = true;
      this.#peerId = step.peerId;
      this.#clearTimer();
      this.#options.events.established(this, step.peerId, step.advertisement);
    }
  }

  #sendHandshake(message: HandshakeMessage): void {
    this.#socket.write(encodeFrame(encodePayload(message)));
  }

  #onClose(): void {
    this.#clearTimer();
    const wasClosing = this.#closing;
    this.#closing = true;
    if (!wasClosing && !this.#established && this.#connected) {
      // The other side gave up on the handshake (it refused us, or we are not who it
      // wanted), or TLS refused its certificate: either way a refusal worth a warning.
      const cause = this.#failure === null ? 'closed by the remote' : this.#failure;
      const reason = `link lost during the handshake: ${cause}`;
      this.#options.logger.warn(
        { peer: this.#peerId, remote: this.remote, reason },
        'peer link closed',
      );
      this.#failure = reason;
      this.#fault = true;
    }
    this.#options.events.closed(this, this.#failure, this.#fault);
  }

  #clearTimer(): void {
    if (this.#handshakeTimer !== null) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
  }
}
