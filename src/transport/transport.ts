import net from 'node:net';
import tls from 'node:tls';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import type { NodeId } from '../core/types.js';
import { encodeFramedPayload } from './codec.js';
import type {
  Advertisement,
  PeerAddress,
  PeerState,
  TransportLimits,
  TransportOptions,
  TransportStats,
} from './contract.js';
import { frameHeaderBytes } from './frame.js';
import {
  AcceptorHandshake,
  DialerHandshake,
  idBytesMax,
  type HandshakeIdentity,
} from './handshake.js';
import { Link, type LinkEvents } from './link.js';
import { SendQueue } from './send-queue.js';

/** The default limits. */
export const defaultTransportLimits: TransportLimits = {
  // An append carrying one entry of the core's largest (maxEntryBytes, 17 MiB).
  frameBytesMax: 20 * 1024 * 1024,
  sendQueueBytesMax: 64 * 1024 * 1024,
  sendQueueFramesMax: 100_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 2000,
  handshakeTimeoutMs: 3000,
  inboundHandshakesMax: 64,
};

/** The doubling of the reconnect delay stops here; the delay is capped long before anyway. */
const backoffExponentMax = 30;

/** Everything the transport keeps about one peer. */
interface Peer {
  readonly id: NodeId;
  address: PeerAddress | null;
  /** The address came from the peer's own advertisement, not from options or `setPeer`. */
  addressLearnt: boolean;
  advertisement: Advertisement | null;
  readonly queue: SendQueue;
  /** The link this node sends on: dialing, handshaking or established. */
  outbound: Link | null;
  /** The established link this node receives on. */
  inbound: Link | null;
  reconnectTimer: NodeJS.Timeout | null;
  /** Failed dials since the last established link; the backoff doubles with each. */
  reconnectAttempts: number;
  flushImmediate: NodeJS.Immediate | null;
  /** The outbound socket's buffer is full: the next flush waits for its 'drain'. */
  waitingForDrain: boolean;
  /** The queue refused the last frame; a warning is logged once per run of refusals. */
  refusing: boolean;
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  framesDropped: number;
  lastReceivedAtMs: number | null;
}

type MutableStats = { -readonly [K in keyof TransportStats]: TransportStats[K] };

/**
 * A node's links to its peers over TCP, or TLS with a cluster CA. Each node dials every
 * peer it knows for the frames it sends and accepts the peers' links for the frames it
 * receives, so one pair of nodes has two links and never has to choose between them.
 * Every link starts with an authenticated handshake (handshake.ts). Frames to a peer
 * queue while its link is down, within limits, and leave in one socket write per batch.
 *
 * Delivery is in order per link and at most once: frames already handed to a socket that
 * then fails are lost, uncounted, since whether they arrived is unknown; the replication
 * core retransmits what matters. With TLS, a dialer checks the acceptor's certificate
 * against the host it dialed (as any TLS client does), so each node's certificate must
 * name the host or IP address its peers reach it at.
 */
export class PeerTransport {
  readonly #options: TransportOptions;
  readonly #limits: TransportLimits;
  readonly #server: net.Server;
  readonly #peers = new Map<NodeId, Peer>();
  /** Accepted links still in their handshake. */
  readonly #handshaking = new Set<Link>();
  /**
   * Every accepted TCP socket by its remote `host:port`, which is unique among live
   * connections to one listening port: `close` ends those still in a TLS handshake, and a
   * TLS connection is matched back to its socket to log where a refused one came from.
   */
  readonly #acceptedSockets = new Map<string, AcceptedSocket>();
  readonly #messageHandlers: ((from: NodeId, payload: unknown) => void)[] = [];
  readonly #peerHandlers: ((id: NodeId, advertisement: Advertisement) => void)[] = [];
  readonly #stats: MutableStats = {
    framesSent: 0,
    socketWrites: 0,
    framesReceived: 0,
    framesDropped: 0,
    framesDroppedNoAddress: 0,
    linksFailed: 0,
    linksEstablished: 0,
  };
  #identity: HandshakeIdentity | null = null;
  /** The port bound, once listening; kept so that `address` still answers after `close`. */
  #port = 0;
  #closed = false;

  private constructor(options: TransportOptions, limits: TransportLimits) {
    this.#options = options;
    this.#limits = limits;
    this.#server = this.#createServer();
  }

  /** Listens on `options.listen`, then dials every known peer. */
  static async start(options: TransportOptions): Promise<PeerTransport> {
    const limits = { ...defaultTransportLimits, ...options.limits };
    checkOptions(options, limits);
    const transport = new PeerTransport(options, limits);
    await transport.#listen();
    for (const [id, address] of options.peers) transport.setPeer(id, address);
    return transport;
  }

  /** Where this node listens for peers, with the port actually bound. */
  get address(): PeerAddress {
    assert(this.#port !== 0, 'the peer server is not listening');
    return { host: this.#options.listen.host, port: this.#port };
  }

  /** The advertisement this node sends in its handshakes. */
  get advertisement(): Advertisement {
    assert(this.#identity !== null, 'the transport has not started');
    return this.#identity.advertisement;
  }

  /**
   * Queues `payload` (any msgpack-encodable value) for `to`. False when it was dropped
   * instead: no address is known for `to`, its queue is full, the payload is larger than
   * a frame may be, or the transport is closed. Each drop is counted.
   */
  send(to: NodeId, payload: unknown): boolean {
    const peer = this.#peers.get(to);
    if (this.#closed || peer === undefined || peer.address === null) {
      this.#stats.framesDropped++;
      if (!this.#closed) this.#stats.framesDroppedNoAddress++;
      if (peer !== undefined) peer.framesDropped++;
      return false;
    }
    const frame = encodeFramedPayload(payload);
    const payloadBytes = frame.byteLength - frameHeaderBytes;
    if (payloadBytes > this.#limits.frameBytesMax) {
      this.#drop(peer, `payload of ${payloadBytes} bytes exceeds the frame limit`);
      return false;
    }
    if (!peer.queue.push(frame)) {
      this.#drop(peer, 'send queue full');
      return false;
    }
    peer.refusing = false;
    this.#scheduleFlush(peer);
    return true;
  }

  /**
   * Writes every peer's queued frames now instead of on the next turn of the event loop:
   * for frames on the critical path of a write (a leader's appends), sent together so
   * that each peer still gets them in one socket write.
   */
  flush(): void {
    for (const peer of this.#peers.values()) {
      if (peer.flushImmediate === null) continue;
      this.#cancelFlush(peer);
      this.#flush(peer);
    }
  }

  /**
   * Adds a handler for every frame received from an authenticated peer, in arrival order.
   * The payload is whatever the peer sent, decoded but not validated: checking its shape is
   * the handler's job. A handler that throws is a bug and crashes the node.
   */
  onMessage(handler: (from: NodeId, payload: unknown) => void): void {
    this.#messageHandlers.push(handler);
  }

  /** Adds a handler called whenever a peer completes a handshake, in either direction. */
  onPeer(handler: (id: NodeId, advertisement: Advertisement) => void): void {
    this.#peerHandlers.push(handler);
  }

  /**
   * Sets where `id` listens and dials it. A new address replaces a learnt or older one and
   * restarts the outbound link. This node's own id, and any call after `close`, are ignored.
   */
  setPeer(id: NodeId, address: PeerAddress): void {
    // After close there is nothing to dial: a membership change racing shutdown is harmless.
    if (this.#closed || id === this.#options.nodeId) return;
    checkAddress(address, `peer ${id}`);
    const peer = this.#peerOf(id);
    peer.addressLearnt = false;
    this.#moveTo(peer, address);
  }

  /** Forgets `id`: closes its links and drops its queued frames (counted). */
  removePeer(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    this.#shutPeer(peer);
  }

  /** What the transport knows of each peer. */
  peers(): PeerState[] {
    return [...this.#peers.values()].map((peer) => ({
      id: peer.id,
      address: peer.address,
      advertisement: peer.advertisement,
      connected: peer.outbound?.established ?? false,
      inboundConnected: peer.inbound?.established ?? false,
      queuedFrames: peer.queue.frames,
      queuedBytes: peer.queue.bytes,
      framesSent: peer.framesSent,
      bytesSent: peer.bytesSent,
      framesReceived: peer.framesReceived,
      framesDropped: peer.framesDropped,
      lastReceivedAtMs: peer.lastReceivedAtMs,
    }));
  }

  /** Counters over all peers, for metrics. */
  stats(): TransportStats {
    return { ...this.#stats };
  }

  /** Stops listening and closes every link; queued frames are dropped (counted). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of this.#peers.values()) this.#shutPeer(peer);
    for (const link of this.#handshaking) link.close();
    this.#handshaking.clear();
    for (const accepted of this.#acceptedSockets.values()) accepted.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #createServer(): net.Server {
    const tlsOptions = this.#options.tls;
    const server =
      tlsOptions === undefined
        ? net.createServer()
        : tls.createServer({
            ...tlsOptions,
            requestCert: true,
            rejectUnauthorized: true,
            handshakeTimeout: this.#limits.handshakeTimeoutMs,
          });
    server.on('connection', (socket: net.Socket) => this.#onConnection(socket));
    if (tlsOptions === undefined) {
      server.on('connection', (socket: net.Socket) => this.#accept(socket));
    } else {
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        const accepted = this.#acceptedSockets.get(remoteOf(socket));
        if (accepted !== undefined) accepted.secured = true;
        this.#accept(socket);
      });
      server.on('tlsClientError', (error: Error) => {
        // Node gives the TLS socket here already destroyed, without its remote address:
        // the warning is logged when the TCP socket closes (see #onConnection).
        this.#options.logger.debug({ reason: error.message }, 'TLS client error');
      });
    }
    server.on('error', (error: Error) => {
      this.#options.logger.error({ err: error }, 'peer server error');
    });
    return server;
  }

  async #listen(): Promise<void> {
    const { host, port } = this.#options.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) =>
        reject(
          new TandemError('TANDEM_BAD_CONFIG', `cannot listen for peers on ${host}:${port}`, {
            cause: error,
          }),
        );
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const bound = this.#server.address();
    assert(bound !== null && typeof bound === 'object', 'a listening server without a port');
    this.#port = bound.port;
    const { httpUrl, resp, respTls, peer } = this.#options.advertisement;
    this.#identity = {
      clusterId: this.#options.clusterId,
      nodeId: this.#options.nodeId,
      secret: this.#options.clusterSecret,
      advertisement: { peer: peer ?? this.address, httpUrl, resp, respTls: respTls ?? null },
    };
  }

  /** Every accepted TCP socket, before TLS: counted against the handshake limit. */
  #onConnection(socket: net.Socket): void {
    socket.setNoDelay(true);
    const remote = remoteOf(socket);
    const inbound = [...this.#peers.values()].filter((peer) => peer.inbound !== null).length;
    if (this.#closed || this.#acceptedSockets.size - inbound >= this.#limits.inboundHandshakesMax) {
      this.#stats.linksFailed++;
      const reason = 'too many connections in their handshake';
      this.#options.logger.warn({ peer: null, remote, reason }, 'peer link refused');
      socket.destroy();
      return;
    }
    const accepted: AcceptedSocket = { socket, secured: this.#options.tls === undefined };
    this.#acceptedSockets.set(remote, accepted);
    socket.on('close', () => {
      this.#acceptedSockets.delete(remote);
      if (accepted.secured || this.#closed) return;
      this.#stats.linksFailed++;
      const reason =
        'TLS refused: no valid certificate of the cluster CA, or the TLS handshake broke off';
      this.#options.logger.warn({ peer: null, remote, reason }, 'peer link closed');
    });
  }

  /** Starts the acceptor's handshake on a connection (a TLS one once TLS is through). */
  #accept(socket: net.Socket): void {
    if (socket.destroyed) return;
    assert(this.#identity !== null, 'accepted a connection before listening');
    const link = new Link({
      socket,
      role: { kind: 'acceptor', handshake: new AcceptorHandshake(this.#identity) },
      remote: remoteOf(socket),
      readyEvent: null,
      frameBytesMax: this.#limits.frameBytesMax,
      handshakeTimeoutMs: this.#limits.handshakeTimeoutMs,
      logger: this.#options.logger,
      events: this.#inboundEvents,
    });
    this.#handshaking.add(link);
  }

  readonly #inboundEvents: LinkEvents = {
    established: (link, peerId, advertisement) => {
      this.#handshaking.delete(link);
      this.#stats.linksEstablished++;
      const peer = this.#peerOf(peerId);
      // The peer reconnected: its older link is one it has given up on.
      peer.inbound?.close();
      peer.inbound = link;
      this.#options.logger.info({ peer: peerId, remote: link.remote }, 'inbound peer link up');
      this.#learn(peer, advertisement, true);
      // The peer is back (it dialed in, so it listens): dial it now, not when the backoff
      // of the dials that failed while it was away runs out.
      if (peer.outbound === null && peer.reconnectTimer !== null) {
        this.#clearReconnect(peer);
        peer.reconnectAttempts = 0;
        this.#dial(peer);
      }
    },
    payload: (link, value) => {
      const peer = this.#peers.get(link.peerId as NodeId);
      if (peer === undefined || peer.inbound !== link) return;
      peer.framesReceived++;
      peer.lastReceivedAtMs = Date.now();
      this.#stats.framesReceived++;
      for (const handler of this.#messageHandlers) handler(peer.id, value);
    },
    drain: () => {},
    closed: (link, reason, fault) => {
      this.#handshaking.delete(link);
      if (fault) this.#stats.linksFailed++;
      const peer = link.peerId === null ? undefined : this.#peers.get(link.peerId);
      if (peer?.inbound !== link) return;
      peer.inbound = null;
      this.#options.logger.info({ peer: peer.id, reason }, 'inbound peer link down');
    },
  };

  readonly #outboundEvents: LinkEvents = {
    established: (link, peerId, advertisement) => {
      const peer = this.#peers.get(peerId);
      assert(peer?.outbound === link, `outbound link to ${peerId} established but not current`);
      this.#stats.linksEstablished++;
      peer.reconnectAttempts = 0;
      peer.waitingForDrain = false;
      this.#options.logger.info({ peer: peerId, remote: link.remote }, 'outbound peer link up');
      this.#scheduleFlush(peer);
      this.#learn(peer, advertisement, false);
    },
    payload: () => assert(false, 'an outbound link delivered a payload'),
    drain: (link) => {
      const peer = this.#peers.get(link.peerId as NodeId);
      if (peer?.outbound !== link) return;
      peer.waitingForDrain = false;
      this.#scheduleFlush(peer);
    },
    closed: (link, reason, fault) => {
      if (fault) this.#stats.linksFailed++;
      const peer = this.#peers.get(link.peerId as NodeId);
      if (peer?.outbound !== link) return;
      peer.outbound = null;
      this.#cancelFlush(peer);
      // A link that was up going down is news; another failed redial of a down peer is not.
      const level = link.wasEstablished ? 'info' : 'debug';
      const remote = link.remote;
      this.#options.logger[level]({ peer: peer.id, remote, reason }, 'outbound peer link down');
      this.#scheduleReconnect(peer);
    },
  };

  /**
   * Records what a peer advertised and tells the handlers. A peer that dialed in also
   * teaches its address, unless one was set by hand: that is how a node learns to reach a
   * node that joined after it started. An outbound link's address is left alone, since
   * it just proved to work.
   */
  #learn(peer: Peer, advertisement: Advertisement, inbound: boolean): void {
    peer.advertisement = advertisement;
    if (inbound && (peer.address === null || peer.addressLearnt)) {
      peer.addressLearnt = true;
      this.#moveTo(peer, advertisement.peer);
    }
    for (const handler of this.#peerHandlers) handler(peer.id, advertisement);
  }

  /** Points `peer` at `address`; a changed address restarts its outbound link. */
  #moveTo(peer: Peer, address: PeerAddress): void {
    const same = peer.address?.host === address.host && peer.address?.port === address.port;
    peer.address = address;
    if (same && (peer.outbound !== null || peer.reconnectTimer !== null)) return;
    peer.outbound?.close();
    peer.outbound = null;
    this.#clearReconnect(peer);
    this.#dial(peer);
  }

  #peerOf(id: NodeId): Peer {
    let peer = this.#peers.get(id);
    if (peer === undefined) {
      peer = {
        id,
        address: null,
        addressLearnt: false,
        advertisement: null,
        queue: new SendQueue(this.#limits.sendQueueFramesMax, this.#limits.sendQueueBytesMax),
        outbound: null,
        inbound: null,
        reconnectTimer: null,
        reconnectAttempts: 0,
        flushImmediate: null,
        waitingForDrain: false,
        refusing: false,
        framesSent: 0,
        bytesSent: 0,
        framesReceived: 0,
        framesDropped: 0,
        lastReceivedAtMs: null,
      };
      this.#peers.set(id, peer);
    }
    return peer;
  }

  #dial(peer: Peer): void {
    if (this.#closed || peer.address === null || peer.outbound !== null) return;
    assert(this.#identity !== null, 'dialing before listening');
    const { host, port } = peer.address;
    const tlsOptions = this.#options.tls;
    const socket =
      tlsOptions === undefined
        ? net.connect({ host, port })
        : tls.connect({ host, port, ...tlsOptions, rejectUnauthorized: true });
    socket.setNoDelay(true);
    peer.waitingForDrain = false;
    peer.outbound = new Link({
      socket,
      role: {
        kind: 'dialer',
        handshake: new DialerHandshake(this.#identity, peer.id),
        peerId: peer.id,
      },
      remote: `${host}:${port}`,
      readyEvent: tlsOptions === undefined ? 'connect' : 'secureConnect',
      frameBytesMax: this.#limits.frameBytesMax,
      handshakeTimeoutMs: this.#limits.handshakeTimeoutMs,
      logger: this.#options.logger,
      events: this.#outboundEvents,
    });
  }

  /**
   * Dials `peer` again after a delay that doubles with each failed attempt, from the
   * minimum to the maximum, with "equal jitter" (a random point in its upper half) so that
   * the nodes of a restarted cluster do not all dial in step.
   */
  #scheduleReconnect(peer: Peer): void {
    if (this.#closed || this.#peers.get(peer.id) !== peer || peer.address === null) return;
    if (peer.outbound !== null || peer.reconnectTimer !== null) return;
    const { reconnectDelayMsMin, reconnectDelayMsMax } = this.#limits;
    const exponent = Math.min(peer.reconnectAttempts, backoffExponentMax);
    const ceilingMs = Math.min(reconnectDelayMsMax, reconnectDelayMsMin * 2 ** exponent);
    const delayMs = ceilingMs / 2 + Math.random() * (ceilingMs / 2);
    peer.reconnectAttempts++;
    peer.reconnectTimer = setTimeout(() => {
      peer.reconnectTimer = null;
      this.#dial(peer);
    }, delayMs);
  }

  #clearReconnect(peer: Peer): void {
    if (peer.reconnectTimer !== null) clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = null;
  }

  /**
   * Flushes on the next turn of the event loop rather than at once, so that every frame
   * the runtime sends while handling one batch leaves in the same socket write.
   */
  #scheduleFlush(peer: Peer): void {
    if (peer.flushImmediate !== null || peer.waitingForDrain) return;
    if (!(peer.outbound?.established ?? false)) return;
    peer.flushImmediate = setImmediate(() => {
      peer.flushImmediate = null;
      this.#flush(peer);
    });
  }

  #cancelFlush(peer: Peer): void {
    if (peer.flushImmediate !== null) clearImmediate(peer.flushImmediate);
    peer.flushImmediate = null;
  }

  #flush(peer: Peer): void {
    const link = peer.outbound;
    if (link === null || !link.established || peer.waitingForDrain) return;
    if (peer.queue.frames === 0) return;
    const frames = peer.queue.takeAll();
    peer.framesSent += frames.length;
    for (const frame of frames) peer.bytesSent += frame.length;
    this.#stats.framesSent += frames.length;
    this.#stats.socketWrites++;
    if (!link.writeFrames(frames)) peer.waitingForDrain = true;
  }

  /** Counts a refused frame, warning once per run of refusals to the same peer. */
  #drop(peer: Peer, reason: string): void {
    peer.framesDropped++;
    this.#stats.framesDropped++;
    if (peer.refusing) return;
    peer.refusing = true;
    const { frames, bytes } = peer.queue;
    this.#options.logger.warn(
      { peer: peer.id, reason, queuedFrames: frames, queuedBytes: bytes },
      'frame to peer dropped',
    );
  }

  /** Closes a peer's links, stops its timers and drops its queue. */
  #shutPeer(peer: Peer): void {
    this.#clearReconnect(peer);
    this.#cancelFlush(peer);
    const dropped = peer.queue.takeAll().length;
    peer.framesDropped += dropped;
    this.#stats.framesDropped += dropped;
    const { outbound, inbound } = peer;
    peer.outbound = null;
    peer.inbound = null;
    outbound?.close();
    inbound?.close();
  }
}

/** An accepted TCP socket; `secured` once its TLS handshake is through (at once without TLS). */
interface AcceptedSocket {
  readonly socket: net.Socket;
  secured: boolean;
}

function remoteOf(socket: net.Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Refuses options an operator could have got wrong, before any socket is opened. */
function checkOptions(options: TransportOptions, limits: TransportLimits): void {
  const bad = (message: string) => new TandemError('TANDEM_BAD_CONFIG', message);
  for (const id of [options.clusterId, options.nodeId]) {
    if (id.length === 0 || Buffer.byteLength(id, 'utf8') > idBytesMax) {
      throw bad(
        `cluster and node ids must have 1 to ${idBytesMax} bytes, got ${JSON.stringify(id)}`,
      );
    }
  }
  if (options.clusterSecret.length === 0) throw bad('the cluster secret is empty');
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw bad(`transport limit ${name} must be a positive integer, got ${value}`);
    }
  }
  if (limits.reconnectDelayMsMin > limits.reconnectDelayMsMax) {
    throw bad('reconnectDelayMsMin must not exceed reconnectDelayMsMax');
  }
  if (limits.frameBytesMax > 0xffff_ffff) throw bad('frameBytesMax must fit in 32 bits');
}

function checkAddress(address: PeerAddress, what: string): void {
  const { host, port } = address;
  if (
    typeof host !== 'string' ||
    host.length === 0 ||
    !Number.isInteger(port) ||
    port < 1 ||
    port > 65535
  ) {
    throw new TandemError('TANDEM_BAD_CONFIG', `bad address for ${what}: ${host}:${port}`);
  }
}
