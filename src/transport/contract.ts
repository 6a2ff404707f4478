import type { NodeId } from '../core/types.js';

/** Where a peer listens for node-to-node connections. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** What a node tells its peers about itself in the handshake. */
export interface Advertisement {
  /** The node's own peer listening address, so peers can reach a node that joined later. */
  readonly peer: PeerAddress;
  /** The node's HTTP API base URL (writes sent to a follower are forwarded there). */
  readonly httpUrl: string;
  /** The node's RESP endpoint, `host:port`, or null when it has none. */
  readonly resp: string | null;
  /**
   * The node's RESP TLS endpoint, `host:port`, or null when it has none. Optional on the
   * wire: a node that does not send it has none.
   */
  readonly respTls?: string | null;
}

/** A logger in pino's shape (pino itself fits). */
export interface Logger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

/** Options of a node's peer transport. */
export interface TransportOptions {
  readonly nodeId: NodeId;
  /** Nodes of other clusters are refused at the handshake. */
  readonly clusterId: string;
  /** The shared cluster secret; never sent on the wire (an HMAC over a challenge proves it). */
  readonly clusterSecret: string;
  /** Where to listen (port 0 picks a free port; `address` tells which). */
  readonly listen: PeerAddress;
  /** What this node advertises to its peers. */
  readonly advertisement: Omit<Advertisement, 'peer'> & { readonly peer?: PeerAddress };
  /** Known peers; more are learnt from handshakes and `setPeer`. */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  /** TLS: this node's certificate and key, and the CA that signed every node's certificate. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly logger: Logger;
  /** Limits; every one has a default. */
  readonly limits?: Partial<TransportLimits>;
}

/** The limits of a transport. */
export interface TransportLimits {
  /** The largest frame accepted or sent; a bigger incoming frame closes that link. */
  readonly frameBytesMax: number;
  /** Bytes queued for one peer; beyond it `send` drops and returns false. */
  readonly sendQueueBytesMax: number;
  /** Frames queued for one peer. */
  readonly sendQueueFramesMax: number;
  /** Reconnect backoff, doubling from the first to the last. */
  readonly reconnectDelayMsMin: number;
  readonly reconnectDelayMsMax: number;
  /** A handshake not finished within this is abandoned. */
  readonly handshakeTimeoutMs: number;
  /**
   * Accepted connections not yet through the handshake; beyond it new ones are closed at
   * once, so unauthenticated sockets cannot pile up.
   */
  readonly inboundHandshakesMax: number;
}

/** What the transport knows of one peer. */
export interface PeerState {
  readonly id: NodeId;
  readonly address: PeerAddress | null;
  readonly advertisement: Advertisement | null;
  readonly connected: boolean;
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  readonly framesSent: number;
  /** Bytes of the frames sent to it (what its link carried out of this node). */
  readonly bytesSent: number;
  readonly framesReceived: number;
  /** Wall-clock ms of the last frame received, or null. */
  readonly lastReceivedAtMs: number | null;
  /** An authenticated link from the peer is up (`connected` is the link to it). */
  readonly inboundConnected: boolean;
  /** Frames `send` refused for this peer (queue full, too big) or dropped unsent. */
  readonly framesDropped: number;
}

/** Counters of a whole transport, for metrics. */
export interface TransportStats {
  readonly framesSent: number;
  /** Socket writes that carried them: each a batch of frames to one peer. */
  readonly socketWrites: number;
  readonly framesReceived: number;
  /** Frames refused by `send` or dropped from a queue, for any reason, peers unknown included. */
  readonly framesDropped: number;
  /** Frames refused because no address was known for their peer. */
  readonly framesDroppedNoAddress: number;
  /** Links closed for a fault: failed handshake, bad frame, timeout, TLS refusal. */
  readonly linksFailed: number;
  /** Handshakes that succeeded, both directions. */
  readonly linksEstablished: number;
}
