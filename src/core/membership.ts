import { TandemError } from './errors.js';
import {
  topologies,
  topologyOf,
  type Membership,
  type MembershipChange,
  type NodeId,
  type Topology,
} from './types.js';

/** The membership with no members: a node that has not yet been told its cluster. */
export const emptyMembership: Membership = { voters: [], learners: [] };

/** Whether `id` is a voter or a learner of `membership`. */
export function isMember(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id) || membership.learners.includes(id);
}

/** Every member, voters first. */
export function allMembers(membership: Membership): NodeId[] {
  return [...membership.voters, ...membership.learners];
}

/** The number of voters that make a majority. */
export function quorumSize(membership: Membership): number {
  return Math.floor(membership.voters.length / 2) + 1;
}

/** A membership with its lists sorted, so equal memberships compare equal. */
export function normalizeMembership(membership: Membership): Membership {
  const voters = [...membership.voters].sort();
  const learners = [...membership.learners].sort();
  // Only learners have upstreams, and only members are upstreams.
  const upstreams = Object.entries(membership.upstreams ?? {})
    .filter(([learner, upstream]) => learners.includes(learner) && isMember(membership, upstream))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    voters,
    learners,
    ...(membership.topology === 'chain' ? { topology: 'chain' as const } : {}),
    ...(upstreams.length === 0 ? {} : { upstreams: Object.fromEntries(upstreams) }),
  };
}

/** The member `learner` receives the log from (`Membership.upstreams`), if it has one. */
export function upstreamOf(membership: Membership, learner: NodeId): NodeId | undefined {
  const upstreams = membership.upstreams;
  return upstreams !== undefined && Object.hasOwn(upstreams, learner)
    ? upstreams[learner]
    : undefined;
}

/** The same members under `topology`. */
export function withTopology(membership: Membership, topology: Topology): Membership {
  const { voters, learners, upstreams } = membership;
  const rest = upstreams === undefined ? { voters, learners } : { voters, learners, upstreams };
  return normalizeMembership(topology === 'chain' ? { ...rest, topology } : rest);
}

/**
 * The membership after one change, or a TANDEM_MEMBERSHIP_INVALID error saying why the
 * change makes no sense (adding a voter twice, removing a stranger, the last voter...).
 */
export function applyMembershipChange(current: Membership, change: MembershipChange): Membership {
  const invalid = (why: string): never => {
    throw new TandemError('TANDEM_MEMBERSHIP_INVALID', why);
  };
  if (change.type === 'set-topology') {
    if (!topologies.includes(change.topology)) {
      invalid(`topology must be one of ${topologies.join(', ')}, got ${String(change.topology)}`);
    }
    if (topologyOf(current) === change.topology)
      invalid(`the topology is already ${change.topology}`);
    return withTopology(current, change.topology);
  }
  const { id } = change;
  if (typeof id !== 'string' || id.length === 0) invalid('a member id must be a non-empty string');
  const voters = current.voters.filter((voter) => voter !== id);
  const learners = current.learners.filter((learner) => learner !== id);
  switch (change.type) {
    case 'add-learner': {
      if (current.voters.includes(id)) invalid(`${id} is already a voter`);
      if (current.learners.includes(id)) invalid(`${id} is already a learner`);
      const { upstream } = change;
      if (upstream === undefined) {
        return normalizeMembership({ ...current, voters, learners: [...learners, id] });
      }
      if (typeof upstream !== 'string' || !isMember(current, upstream)) {
        invalid(`the upstream of ${id} must be a member, got ${String(upstream)}`);
      }
      if (upstreamOf(current, upstream) !== undefined) {
        invalid(
          `${upstream} receives the log from ${String(upstreamOf(current, upstream))}: an upstream must not have one itself`,
        );
      }
      const upstreams = { ...(current.upstreams ?? {}), [id]: upstream };
      return normalizeMembership({ ...current, voters, learners: [...learners, id], upstreams });
    }
    case 'add-voter':
      if (current.voters.includes(id)) invalid(`${id} is already a voter`);
      return normalizeMembership({ ...current, voters: [...voters, id], learners });
    case 'remove':
      if (!isMember(current, id)) invalid(`${id} is not a member`);
      if (current.voters.length === 1 && current.voters[0] === id)
        invalid(`${id} is the last voter`);
      return normalizeMembership({ ...current, voters, learners });
  }
}
