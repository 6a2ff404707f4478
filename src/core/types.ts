/**
 * The data the replication core reads and writes. Everything here crosses the boundary
 * between the pure core and its drivers (the node runtime and the simulator), so every
 * field is plain data: no classes, no functions.
 */

/** A node's id: short, printable, unique within a cluster. */
export type NodeId = string;

/**
 * When a write is acknowledged (DESIGN section 2):
 * - `async`: the leader has it durably in its log;
 * - `semi-sync`: the leader and at least one follower have it durably;
 * - `quorum`: a majority of voters have it durably (the default);
 * - `sync`: a majority has it durably and every voter has applied it.
 */
export type Durability = 'async' | 'semi-sync' | 'quorum' | 'sync';

/** Durability modes from weakest to strongest; a request may only ask for more. */
export const durabilityOrder: readonly Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];

/** The stronger of two durability modes. */
export function strongerDurability(a: Durability, b: Durability): Durability {
  return durabilityOrder.indexOf(a) >= durabilityOrder.indexOf(b) ? a : b;
}

/**
 * How the log reaches the members: `star`, the leader sends every entry to every member;
 * `chain`, the leader sends it to the head of a chain of members, each of which passes it
 * on to the next, and acknowledgements flow back up (docs/ARCHITECTURE.md, "Chain
 * replication").
 */
export type Topology = 'star' | 'chain';

/** Topologies, as flags and the API spell them. */
export const topologies: readonly Topology[] = ['star', 'chain'];

/**
 * The members of a cluster: voters elect and commit; learners replicate and never vote.
 * `topology` is absent for `star`, so memberships written before chains existed read the same.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly topology?: 'chain';
  /**
   * Learners that receive the log from a given member instead of the leader or the chain
   * (a read replica in another region fed by one stream): learner id to member id. Absent
   * when there are none.
   */
  readonly upstreams?: Readonly<Record<NodeId, NodeId>>;
}

/** A membership's topology. */
export function topologyOf(membership: Membership): Topology {
  return membership.topology === 'chain' ? 'chain' : 'star';
}

/** A single-member change, replicated through the log as a `membership` entry. */
export type MembershipChange =
  | { readonly type: 'add-learner'; readonly id: NodeId; readonly upstream?: NodeId }
  | { readonly type: 'add-voter'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId }
  | { readonly type: 'set-topology'; readonly topology: Topology };

/** What a log entry carries. `noop` is the entry a new leader appends to commit its term. */
export type EntryKind = 'command' | 'noop' | 'membership';

/** One record of the replication log. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  /** The commit rule this entry must meet before it is acknowledged. */
  readonly durability: Durability;
  /** The state machine command (kind `command`); opaque to the core. */
  readonly data?: Uint8Array;
  /** The whole new membership (kind `membership`); it takes effect when appended. */
  readonly membership?: Membership;
}

/** Term, vote and commit index: stored apart from the log and synced before dependent messages. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** What a snapshot stands for: the state after applying every entry up to `index`. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

/** A snapshot with its bytes, as the driver installs it. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** Fields every node-to-node message carries. */
interface MessageHeader {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** A request for a vote; `preVote` asks "would you vote for me?" without changing any term. */
export interface VoteMessage extends MessageHeader {
  readonly type: 'vote';
  readonly preVote: boolean;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** Set when the leader asked for this election (leadership transfer): ignores leases. */
  readonly transfer: boolean;
}

/** The answer to a vote request. */
export interface VoteResponseMessage extends MessageHeader {
  readonly type: 'vote-response';
  readonly preVote: boolean;
  readonly granted: boolean;
}

/**
 * A member a relay feeds in a chain, and the members that member feeds in turn (a chain is
 * a route with one member at each level).
 */
export interface RelayRoute {
  readonly id: NodeId;
  readonly routes: readonly RelayRoute[];
}

/**
 * Entries after (prevIndex, prevTerm), and the sender's commit index. In a chain a relay
 * sends it on behalf of `leader` (absent: the sender leads), and `routes` names the members
 * the receiver must pass the entries on to (absent or empty: none).
 */
export interface AppendMessage extends MessageHeader {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly leader?: NodeId;
  readonly routes?: readonly RelayRoute[];
}

/**
 * A relay's word about a member after it in the chain: it holds the leader's log durably up
 * to `index` (its own answer said so in this term), and has applied up to `applied`.
 */
export interface ChainClaim {
  readonly id: NodeId;
  readonly index: number;
  readonly applied: number;
}

/**
 * The answer to an append or a snapshot. On success `index` is the last index known to
 * match the leader. On rejection `index` is the rejected prevIndex and (hintIndex,
 * hintTerm) let the leader skip a whole term of mismatching entries at once.
 */
export interface AppendResponseMessage extends MessageHeader {
  readonly type: 'append-response';
  readonly reject: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
  readonly applied: number;
  /** In a chain: what the members after the sender hold (absent or empty: nothing to say). */
  readonly covers?: readonly ChainClaim[];
}

/** Leader liveness, commit propagation, and ReadIndex rounds (`round` > 0). */
export interface HeartbeatMessage extends MessageHeader {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly round: number;
}

/** The answer to a heartbeat, with the follower's applied index for `sync` acknowledgement. */
export interface HeartbeatResponseMessage extends MessageHeader {
  readonly type: 'heartbeat-response';
  readonly round: number;
  readonly applied: number;
}

/** A follower telling its leader how far it has applied (used by `sync` writes). */
export interface AppliedMessage extends MessageHeader {
  readonly type: 'applied';
  readonly applied: number;
}

/** A snapshot to install; the driver attaches `data` for the snapshot named by `meta`. */
export interface SnapshotMessage extends MessageHeader {
  readonly type: 'snapshot';
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array | null;
}

/** "Start an election now": the last step of a leadership transfer. */
export interface TimeoutNowMessage extends MessageHeader {
  readonly type: 'timeout-now';
}

/** A follower asking the leader for a read index on behalf of a linearizable read. */
export interface ReadIndexMessage extends MessageHeader {
  readonly type: 'read-index';
  readonly readId: string;
}

/** The leader's answer: the index the follower must apply before serving `readId`. */
export interface ReadIndexResponseMessage extends MessageHeader {
  readonly type: 'read-index-response';
  readonly readId: string;
  readonly index: number;
  readonly rejected: boolean;
}

/**
 * A leader telling a node that a committed membership change removed it (`index` is the
 * leader's commit index when it said so): the node stops serving and never campaigns.
 */
export interface RemovedMessage extends MessageHeader {
  readonly type: 'removed';
  readonly index: number;
}

/** Every message the core sends or receives. */
export type Message =
  | VoteMessage
  | VoteResponseMessage
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | AppliedMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | RemovedMessage;

/** The message type codes, for exhaustive handling and for the wire. */
export type MessageType = Message['type'];

/** A node's role. Learners are followers that never campaign. */
export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Role and leader, reported in a Ready when they change. */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
  readonly term: number;
}

/**
 * A linearizable read that may proceed once this node has applied `index`; or, with
 * `error`, a read that cannot be served here: no leader, leadership lost, no majority
 * confirmed the leader within an election timeout, too many reads waiting, or this node
 * was removed from the cluster.
 */
export interface ReadState {
  readonly readId: string;
  readonly index: number;
  readonly error:
    | 'TANDEM_NO_LEADER'
    | 'TANDEM_LEADERSHIP_LOST'
    | 'TANDEM_NO_QUORUM'
    | 'TANDEM_TOO_MANY_PENDING'
    | 'TANDEM_REMOVED'
    | null;
}

/**
 * What became of a proposal made on this node:
 * - `acknowledged`: its durability rule holds and this node has applied it;
 * - `timeout`: not acknowledged within syncTimeoutTicks; it stays in the log and becomes
 *   visible if and when the replicas it needs have it;
 * - `leadership-lost`: this node stopped leading before acknowledging it; the outcome is
 *   unknown (a new leader may still commit it).
 */
export interface ProposalOutcome {
  readonly index: number;
  readonly term: number;
  readonly outcome: 'acknowledged' | 'timeout' | 'leadership-lost';
}

/**
 * A batch of work for the driver, to do in this order:
 * 0. if `rollback` is set, replace the state machine by the driver's latest snapshot (the
 *    one `rollback` names) before anything else: this node had applied an async tail that
 *    the new leader's log replaces; the log stays, and `committedEntries` re-apply it;
 * 1. install `snapshot` (if any), then write `entries` (the first may overwrite the log
 *    from its index on) and `hardState` (if any); sync them to disk when `mustSync`;
 * 2. apply `committedEntries` to the state machine, in order;
 * 3. send `messages` (never before step 1 is durable), answer `readStates` and `responses`;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly rollback: SnapshotMeta | null;
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly mustSync: boolean;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly responses: readonly ProposalOutcome[];
}

/** What a node read back from its disk at start: the core is rebuilt from it. */
export interface PersistedState {
  readonly hardState: HardState;
  /** The latest snapshot's meta, or null if the node never took or received one. */
  readonly snapshot: SnapshotMeta | null;
  /** The log after the snapshot: `entries[i]` is at index `snapshot.index + 1 + i`. */
  readonly entries: readonly Entry[];
  /** The last index the state machine has applied (recorded with its data). */
  readonly applied: number;
}

/** The empty state of a node that has never run. */
export const emptyPersistedState: PersistedState = {
  hardState: { term: 0, vote: null, commit: 0 },
  snapshot: null,
  entries: [],
  applied: 0,
};
