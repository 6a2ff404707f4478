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
  return membership.topology === 'chain'
    ? { voters, learners, topology: 'chain' }
    : { voters, learners };
}

/** The same members under `topology`. */
export function withTopology(membership: Membership, topology: Topology): Membership {
  const { voters, learners } = membership;
  return normalizeMembership(
    topology === 'chain' ? { voters, learners, topology } : { voters, learners },
  );
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
    case 'add-learner':
      if (current.voters.includes(id)) invalid(`${id} is already a voter`);
      if (current.learners.includes(id)) invalid(`${id} is already a learner`);
      return normalizeMembership({ ...current, voters, learners: [...learners, id] });
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
