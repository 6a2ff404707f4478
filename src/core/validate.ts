import {
  durabilityOrder,
  type ChainClaim,
  type Entry,
  type Membership,
  type Message,
  type RelayRoute,
} from './types.js';

/**
 * Checks that a message from the wire is well formed: every field of its type present with
 * the right shape, every term and index a non-negative safe integer, and nothing a sender
 * cannot possibly know (entries of a term above the message's own, a snapshot from the
 * future, entries that are not consecutive). Returns why the message must be dropped, or
 * null when it is sound. Checks that need the receiver's state (the rounds it asked for,
 * the entries it sent) are made where the message is handled.
 *
 * Peers are authenticated, but a buggy or confused one must never make a node crash,
 * confirm a read, or acknowledge a write: so nothing from the wire is used as given.
 */
export function malformedReason(message: Message): string | null {
  if (typeof message !== 'object' || message === null) return 'not an object';
  if (!isNodeId(message.from) || !isNodeId(message.to)) return 'bad from or to';
  if (!isIndex(message.term)) return 'bad term';
  switch (message.type) {
    case 'vote':
      return booleans(message.preVote, message.transfer) &&
        isIndex(message.lastIndex) &&
        isIndex(message.lastTerm) &&
        message.lastTerm <= message.term
        ? null
        : 'bad vote';
    case 'vote-response':
      return booleans(message.preVote, message.granted) ? null : 'bad vote-response';
    case 'append':
      return appendReason(message);
    case 'append-response':
      return typeof message.reject === 'boolean' &&
        isIndex(message.index) &&
        isIndex(message.hintIndex) &&
        isIndex(message.hintTerm) &&
        isIndex(message.applied) &&
        message.hintTerm <= message.term &&
        message.hintIndex <= message.index &&
        (message.covers === undefined || areClaims(message.covers))
        ? null
        : 'bad append-response';
    case 'heartbeat':
      return isIndex(message.commit) && isIndex(message.round) ? null : 'bad heartbeat';
    case 'heartbeat-response':
      return isIndex(message.round) && isIndex(message.applied) ? null : 'bad heartbeat-response';
    case 'applied':
      return isIndex(message.applied) ? null : 'bad applied';
    case 'snapshot':
      return snapshotReason(message);
    case 'timeout-now':
      return null;
    case 'read-index':
      return isReadId(message.readId) ? null : 'bad read-index';
    case 'read-index-response':
      return isReadId(message.readId) &&
        isIndex(message.index) &&
        typeof message.rejected === 'boolean'
        ? null
        : 'bad read-index-response';
    case 'removed':
      return isIndex(message.index) ? null : 'bad removed';
    default:
      return 'unknown message type';
  }
}

/** Longest node id and read id accepted from the wire. */
const nodeIdLengthMax = 256;
const readIdLengthMax = 256;

function appendReason(message: Extract<Message, { type: 'append' }>): string | null {
  if (!isIndex(message.prevIndex) || !isIndex(message.prevTerm) || !isIndex(message.commit)) {
    return 'bad append';
  }
  if (message.prevTerm > message.term || !Array.isArray(message.entries)) return 'bad append';
  if (message.leader !== undefined && !isNodeId(message.leader)) return 'bad append leader';
  if (message.routes !== undefined && !areRoutes(message.routes, 1, { nodes: 0 })) {
    return 'bad append routes';
  }
  let previousTerm = message.prevTerm;
  for (let i = 0; i < message.entries.length; i++) {
    // `entries[i]` must sit at `prevIndex + 1 + i`, in terms that never go down and never
    // pass the leader's own.
    const entry = message.entries[i] as Entry;
    if (!isEntry(entry) || entry.index !== message.prevIndex + 1 + i) return 'bad append entry';
    if (entry.term < previousTerm || entry.term > message.term) return 'bad append entry term';
    previousTerm = entry.term;
  }
  return null;
}

function snapshotReason(message: Extract<Message, { type: 'snapshot' }>): string | null {
  const meta = message.meta as unknown;
  if (typeof meta !== 'object' || meta === null) return 'bad snapshot';
  const { index, term, membership } = message.meta;
  if (!isIndex(index) || !isIndex(term) || term > message.term || !isMembership(membership)) {
    return 'bad snapshot meta';
  }
  if (!(message.data instanceof Uint8Array)) return 'snapshot without its data';
  return null;
}

function isEntry(entry: Entry): boolean {
  if (typeof entry !== 'object' || entry === null) return false;
  if (!isIndex(entry.index) || !isIndex(entry.term) || entry.index === 0) return false;
  if (!durabilityOrder.includes(entry.durability)) return false;
  switch (entry.kind) {
    case 'noop':
      return true;
    case 'command':
      return entry.data instanceof Uint8Array;
    case 'membership':
      return entry.membership !== undefined && isMembership(entry.membership);
    default:
      return false;
  }
}

/** The deepest route tree and the most members in one that a message may carry. */
const routeDepthMax = 64;
const routeNodesMax = 255;
const claimsMax = 1024;

function areRoutes(
  routes: readonly RelayRoute[],
  depth: number,
  count: { nodes: number },
): boolean {
  if (!Array.isArray(routes) || depth > routeDepthMax) return false;
  return routes.every(
    (route) =>
      typeof route === 'object' &&
      route !== null &&
      ++count.nodes <= routeNodesMax &&
      isNodeId(route.id) &&
      areRoutes(route.routes, depth + 1, count),
  );
}

function areClaims(claims: readonly ChainClaim[]): boolean {
  return (
    Array.isArray(claims) &&
    claims.length <= claimsMax &&
    claims.every(
      (claim) =>
        typeof claim === 'object' &&
        claim !== null &&
        isNodeId(claim.id) &&
        isIndex(claim.index) &&
        isIndex(claim.applied),
    )
  );
}

function isMembership(membership: Membership): boolean {
  if (typeof membership !== 'object' || membership === null) return false;
  if (membership.topology !== undefined && membership.topology !== 'chain') return false;
  const upstreams: unknown = membership.upstreams;
  if (upstreams !== undefined) {
    if (typeof upstreams !== 'object' || upstreams === null || Array.isArray(upstreams)) {
      return false;
    }
    const pairs = Object.entries(upstreams as Record<string, unknown>);
    if (
      pairs.length > routeNodesMax ||
      !pairs.every(([learner, id]) => isNodeId(learner) && isNodeId(id))
    ) {
      return false;
    }
  }
  const { voters, learners } = membership;
  if (!Array.isArray(voters) || !Array.isArray(learners)) return false;
  if (!voters.every(isNodeId) || !learners.every(isNodeId)) return false;
  return voters.every((voter) => !learners.includes(voter));
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isNodeId(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= nodeIdLengthMax;
}

function isReadId(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && value.length <= readIdLengthMax;
}

function booleans(...values: unknown[]): boolean {
  return values.every((value) => typeof value === 'boolean');
}
