/**
 * Node-to-node transport: framed msgpack (a binary form for the hot core messages) over TCP
 * or TLS, after an authenticated handshake.
 */
export type {
  Advertisement,
  Logger,
  PeerAddress,
  PeerState,
  TransportLimits,
  TransportOptions,
  TransportStats,
} from './contract.js';
export { decodePayload, encodePayload } from './codec.js';
export { encodeFrame, FrameParser, frameHeaderBytes, type FrameResult } from './frame.js';
export {
  AcceptorHandshake,
  DialerHandshake,
  computeProof,
  parseHandshakeMessage,
  type HandshakeMessage,
  type HandshakeStep,
} from './handshake.js';
export { PeerTransport, defaultTransportLimits } from './transport.js';
