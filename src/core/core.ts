import { assert } from './assert.js';
import { buildCoreConfig, type CoreConfig } from './config.js';
import { TandemError } from './errors.js';
import {
  allMembers,
  applyMembershipChange,
  emptyMembership,
  isMember,
  normalizeMembership,
  quorumSize,
  upstreamOf,
} from './membership.js';
import { Progress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { malformedReason } from './validate.js';
import {
  emptyPersistedState,
  strongerDurability,
  type AppendMessage,
  type AppendResponseMessage,
  type ChainClaim,
  type Durability,
  type Entry,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Membership,
  type MembershipChange,
  type RemovedMessage,
  type Message,
  type NodeId,
  type PersistedState,
  type ProposalOutcome,
  type ReadState,
  type Ready,
  type RelayRoute,
  type Role,
  type Snapshot,
  type SnapshotMessage,
  type SnapshotMeta,
  type SoftState,
  type Topology,
  topologyOf,
  type VoteMessage,
  type VoteResponseMessage,
} from './types.js';

/** The randomness the core may use: one seeded source, injected. */
export interface RandomSource {
  /** An integer in [min, maxExclusive). */
  intBetween(min: number, maxExclusive: number): number;
}

/** How to build a core. */
export interface CoreOptions {
  readonly id: NodeId;
  readonly random: RandomSource;
  readonly config?: Partial<CoreConfig>;
  /** What the node read back from its disk; empty for a new node. */
  readonly persisted?: PersistedState;
  /**
   * The membership of a brand-new cluster. Used only while neither a snapshot nor a
   * membership entry says otherwise; a node joining an existing cluster passes none.
   */
  readonly bootstrap?: Membership;
  /** Set when this node was told earlier that it was removed (the index it was removed by). */
  readonly removedAt?: number;
}

/** Where a proposal landed in the log. */
export interface ProposalReceipt {
  readonly index: number;
  readonly term: number;
}

/** One follower's replication state, as a leader sees it. */
export interface FollowerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly match: number;
  readonly next: number;
  readonly applied: number;
  readonly state: Progress['state'];
  readonly ticksSinceHeard: number;
  /** Who sends it the log: this leader, or the member before it in the chain. */
  readonly upstream: NodeId;
}

/** A snapshot of the core's state for status reports and tests. */
export interface CoreStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly stableIndex: number;
  readonly membership: Membership;
  readonly followers: readonly FollowerStatus[];
  /** The index by which this node learnt it was removed, or 0. */
  readonly removedAt: number;
  readonly topology: Topology;
  /** Leader: the chain's members, head first (empty in a star, or until members catch up). */
  readonly chain: readonly NodeId[];
  /** Follower: who sent it the log last in this term (the leader, or a relay), or null. */
  readonly upstream: NodeId | null;
  /** Follower: the members it passes the log on to, and how far each has answered. */
  readonly downstream: readonly { readonly id: NodeId; readonly match: number }[];
  /** Follower: the last index it knows to match the leader's log (what it may pass on). */
  readonly leaderMatch: number;
}

interface PendingProposal {
  readonly index: number;
  readonly term: number;
  readonly durability: Durability;
  readonly deadlineTick: number;
  /** The bytes of its command (`maxPendingProposalBytes` bounds their sum). */
  readonly bytes: number;
}

interface PendingRead {
  readonly readId: string;
  readonly from: NodeId;
  readonly index: number;
  readonly round: number;
  /** The tick past which the read is refused: a majority did not confirm this leader. */
  readonly deadlineTick: number;
}

/** A read waiting for this new leader to commit an entry of its own term. */
interface ReadAwaitingTermCommit {
  readonly readId: string;
  readonly from: NodeId;
  readonly deadlineTick: number;
}

/** A message as a handler writes it: `from` and `term` are filled in by `#send`. */
type MessageBody = DistributiveOmit<Message, 'from' | 'term'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** How a campaign starts: a pre-vote, a real election after one, or a leader's transfer request. */
type CampaignKind = 'pre-vote' | 'election' | 'transfer';

/**
 * The replication state machine: Raft with PreVote, check-quorum, leadership transfer,
 * pipelined replication, snapshots, learners, single-member changes, ReadIndex, and
 * per-entry durability modes. It does no I/O: drivers feed it `step`, `tick` and client
 * calls, take `ready()` batches, carry them out, and report each one back with `persisted`
 * and `applied` (or `advance`, both at once). A driver need not wait for one Ready to be
 * carried out before it steps more messages or takes the next (`core/pipeline.ts`): the
 * core tells durable entries and hard state (reported) from those being written (handed
 * out), and applied entries from those being applied.
 *
 * The protected methods are the rules the simulator's mutation tests break on purpose.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly config: CoreConfig;
  readonly #random: RandomSource;
  #term: number;
  #vote: NodeId | null;
  #role: Role = 'follower';
  #leaderId: NodeId | null = null;
  protected readonly log: RaftLog;
  /** Membership by the index that set it, oldest first; the last one is in force. */
  #membershipHistory: { index: number; membership: Membership }[];

  #ticks = 0;
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTicks = 0;
  #votes = new Map<NodeId, boolean>();
  protected readonly progress = new Map<NodeId, Progress>();
  #leadTransferee: NodeId | null = null;
  #pendingMembershipIndex = 0;
  /** Leader only: the highest index it may apply under the entries' own durability rules. */
  #localCommit = 0;
  #pendingProposals: PendingProposal[] = [];
  /** The sum of `bytes` over `#pendingProposals`. */
  #pendingProposalBytes = 0;
  #readRound = 0;
  #pendingReads: PendingRead[] = [];
  #readsAwaitingTermCommit: ReadAwaitingTermCommit[] = [];
  /** Follower only: the reads forwarded to a leader, by read id, with the node asked. */
  readonly #forwardedReads = new Map<string, NodeId>();
  /** Leader only: ticks since a leadership transfer began (it is abandoned after an election timeout). */
  #transferElapsed = 0;
  /**
   * The index of the committed membership entry that removed this node, or 0. A removed
   * node never campaigns and its driver stops serving: the cluster has moved on without it.
   */
  #removedAt = 0;
  /** Set when this node applied entries that the leader's log replaces (an async tail). */
  #rollback: SnapshotMeta | null = null;

  /**
   * Leader in a chain: the members fed through the chain, head first. The leader sends
   * appends to the head and to members outside the chain (behind, silent or new), which
   * join its tail once they have caught up.
   */
  #chain: NodeId[] = [];
  /**
   * Leader: learners with an upstream (`Membership.upstreams`) that it feeds through that
   * member now; such a learner is fed directly while its upstream cannot feed it.
   */
  readonly #attached = new Set<NodeId>();
  /** Leader in a chain: the chain changed since the head was last told its routes. */
  #routesChanged = false;
  /** How many times this node's chain has changed (for the simulator's checks). */
  #chainChanges = 0;
  /** Follower: the sender of the last append it accepted in this term (leader or relay). */
  #upstream: NodeId | null = null;
  /** Follower: the highest index known to match the current leader's log (0 until told). */
  #leaderMatch = 0;
  /** Follower in a chain: the members it feeds, each with its progress and own routes. */
  readonly #relays = new Map<NodeId, { progress: Progress; routes: readonly RelayRoute[] }>();
  /** Follower in a chain: what the members after it said they hold, in this term. */
  readonly #claims = new Map<NodeId, ChainClaim>();
  /** Follower in a chain: a member after it said something new, to pass upstream. */
  #claimsToSend = false;

  #messages: Message[] = [];
  /**
   * The leader's commit index advanced (or a follower's window opened) since followers
   * were last told it: each follower whose last append carried an older commit gets one
   * append (with whatever entries it lacks) when the Ready is built, so that every
   * response, proposal and fsync handled in one turn costs one message per follower, not
   * one per commit advance.
   */
  #commitToBroadcast = false;
  /**
   * Set when the leader appended entries: they go to the followers once, in the next
   * Ready, whatever number of proposals came before it (one append per follower per
   * Ready, not one per proposal).
   */
  #appendsToBroadcast = false;
  #readStates: ReadState[] = [];
  #responses: ProposalOutcome[] = [];
  /**
   * Acknowledgements of committed entries that a rollback took out of the state machine
   * before they were answered: each goes out in the Ready that applies its entry again, so
   * that a `sync` write is never answered while a voter's state machine lacks it.
   */
  #responsesAwaitingReapply: ProposalOutcome[] = [];
  #snapshotToInstall: Snapshot | null = null;
  /** The hard state the driver has made durable (reported through `persisted`). */
  #persistedHardState: HardState;
  /** The hard state last handed to the driver, durable or still being written. */
  #handedHardState: HardState;
  #reportedSoftState: SoftState;
  /**
   * The last index handed to the driver to apply: at or beyond `log.applied`, which counts
   * only what the driver reported applied. Decisions about what the state machine will
   * hold (a rollback, an overwrite) use this one.
   */
  #applyHanded: number;
  /** Bumped when the state machine is rolled back or replaced: older applies then report nothing. */
  #applyEpoch = 0;
  readonly #readyEpochs = new WeakMap<Ready, number>();

  constructor(options: CoreOptions) {
    assert(typeof options.id === 'string' && options.id.length > 0, 'a node id is required');
    this.id = options.id;
    this.config = buildCoreConfig(options.config);
    this.#random = options.random;
    const persisted = options.persisted ?? emptyPersistedState;
    const bootstrap = normalizeMembership(options.bootstrap ?? emptyMembership);
    const snapshot = persisted.snapshot ?? { index: 0, term: 0, membership: bootstrap };
    this.log = new RaftLog(
      snapshot,
      persisted.entries,
      persisted.hardState.commit,
      persisted.applied,
    );
    this.#term = persisted.hardState.term;
    this.#vote = persisted.hardState.vote;
    this.#persistedHardState = persisted.hardState;
    this.#handedHardState = persisted.hardState;
    this.#applyHanded = this.log.applied;
    this.#membershipHistory = [{ index: snapshot.index, membership: snapshot.membership }];
    this.#recordMembershipEntries(persisted.entries);
    this.#removedAt = options.removedAt ?? 0;
    this.#resetElectionTimer();
    this.#reportedSoftState = this.#softState();
    this.#settleAppliedOnStart();
  }

  // ---------------------------------------------------------------- public surface

  /** The node's role now. */
  get role(): Role {
    return this.#role;
  }

  get term(): number {
    return this.#term;
  }

  get leaderId(): NodeId | null {
    return this.#leaderId;
  }

  /**
   * The index by which this node learnt it was removed from the cluster, or 0. A removed
   * node never campaigns, refuses reads and writes (`TANDEM_REMOVED`), and stays so.
   */
  get removedAt(): number {
    return this.#removedAt;
  }

  /**
   * Whether the next Ready rolls the state machine back (it holds entries that may never
   * commit): until the driver has carried that out, it must serve no read from it.
   */
  get rollbackPending(): boolean {
    return this.#rollback !== null;
  }

  /** The first index the log holds: one past its latest snapshot's. */
  get firstIndex(): number {
    return this.log.firstIndex();
  }

  /** The membership in force: the latest one in the log. */
  get membership(): Membership {
    return (
      this.#membershipHistory[this.#membershipHistory.length - 1] as { membership: Membership }
    ).membership;
  }

  /**
   * Leader: the members in its chain, and how many times the chain has changed (a count
   * that only grows), so that a checker can tell a chain that stayed whole between two
   * Readies.
   */
  get chainShape(): { readonly length: number; readonly changes: number } {
    return { length: this.#chain.length, changes: this.#chainChanges };
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.#ticks++;
    if (this.#role === 'leader') this.#tickLeader();
    else {
      this.#tickRelays();
      this.#tickElection();
    }
  }

  /**
   * Takes one message from a peer. Returns null when the message was taken (or was stale,
   * which is normal), or why it was dropped as impossible: malformed, addressed to another
   * node, claiming this node as its sender, or stating what its sender cannot know. The
   * driver counts and logs those; none of them changes anything here.
   */
  step(message: Message): string | null {
    const malformed = malformedReason(message);
    if (malformed !== null) return malformed;
    if (message.to !== this.id) return `addressed to ${message.to}`;
    if (message.from === this.id) return 'claims to come from this node';
    const impossible = this.#impossibleReason(message);
    if (impossible !== null) return impossible;
    if (message.type === 'removed') return this.#handleRemoved(message);
    if (this.#answerRemovedMember(message)) return null;
    if (!this.#handleTerm(message)) return null;
    this.#dispatch(message);
    return null;
  }

  /**
   * Appends a command to the log (leader only) and returns where it landed. Throws a
   * TandemError when it cannot even enter the log: not the leader, a transfer under way,
   * too many pending, too large, or the replicas a `sync`/`semi-sync` write needs are down
   * (then nothing is written anywhere).
   */
  propose(data: Uint8Array, durability?: Durability): ProposalReceipt {
    this.#assertCanPropose();
    if (data.byteLength > this.config.maxEntryBytes) {
      throw new TandemError(
        'TANDEM_ENTRY_TOO_LARGE',
        `command of ${data.byteLength} bytes exceeds maxEntryBytes (${this.config.maxEntryBytes})`,
      );
    }
    this.#assertPendingBytesAllow(data.byteLength);
    const mode = strongerDurability(this.config.durability, durability ?? this.config.durability);
    this.#assertReplicasAvailable(mode);
    return this.#appendAsLeader({ kind: 'command', durability: mode, data });
  }

  /**
   * Replicates one membership change (leader only). Only one change may be pending, and
   * only after the leader has committed an entry of its own term; a learner becomes a voter
   * only once it is caught up; the leader cannot remove itself (transfer leadership first).
   */
  changeMembers(change: MembershipChange): ProposalReceipt {
    this.#assertCanPropose();
    if (this.membershipChangePending()) {
      throw new TandemError(
        'TANDEM_MEMBERSHIP_CHANGE_PENDING',
        'a membership change is still being committed; retry when it is done',
      );
    }
    if (change.type === 'remove' && change.id === this.id) {
      throw new TandemError(
        'TANDEM_MEMBERSHIP_INVALID',
        `${this.id} is the leader: transfer leadership before removing it`,
      );
    }
    const next = applyMembershipChange(this.membership, change);
    if (change.type === 'add-voter' && !isMember(this.membership, change.id)) {
      // Only a learner that has caught up may vote: a stranger made a voter at once would
      // count towards every majority while holding none of the log.
      throw new TandemError(
        'TANDEM_MEMBERSHIP_INVALID',
        `${change.id} is not a member: add it as a learner first, then make it a voter once caught up`,
      );
    }
    if (change.type === 'add-voter') {
      const match = this.progress.get(change.id)?.match ?? 0;
      if (
        match < this.log.commit ||
        match + this.config.learnerCatchUpEntries < this.log.lastIndex()
      ) {
        throw new TandemError(
          'TANDEM_NOT_CAUGHT_UP',
          `learner ${change.id} has ${match} of ${this.log.lastIndex()} entries; promote it once caught up`,
        );
      }
    }
    const receipt = this.#appendAsLeader({
      kind: 'membership',
      durability: this.config.durability,
      membership: next,
    });
    this.#pendingMembershipIndex = receipt.index;
    return receipt;
  }

  /**
   * Asks for a linearizable read. The answer comes as a ReadState with the same `readId`:
   * serve the read once this node has applied its index. A follower asks its leader.
   */
  readIndex(readId: string): void {
    if (this.#removedAt > 0) {
      this.#readStates.push({ readId, index: 0, error: 'TANDEM_REMOVED' });
    } else if (this.#role === 'leader') {
      this.#leaderRead(readId, this.id);
    } else if (this.#leaderId === null) {
      this.#readStates.push({ readId, index: 0, error: 'TANDEM_NO_LEADER' });
    } else if (this.#forwardedReads.size >= this.config.maxPendingReads) {
      this.#readStates.push({ readId, index: 0, error: 'TANDEM_TOO_MANY_PENDING' });
    } else {
      // Only the node asked may answer: anyone else's answer would let it confirm a read.
      this.#forwardedReads.set(readId, this.#leaderId);
      this.#send({ type: 'read-index', to: this.#leaderId, readId });
    }
  }

  /**
   * Hands leadership to voter `to` (what an operator's promote does): proposals stop,
   * `to` is brought up to date, then told to campaign at once. Gives up after an election
   * timeout.
   */
  transferLeadership(to: NodeId): void {
    if (this.#role !== 'leader') this.#throwNotLeader();
    if (to === this.id || this.#leadTransferee === to) return;
    if (!this.membership.voters.includes(to)) {
      throw new TandemError('TANDEM_MEMBERSHIP_INVALID', `${to} is not a voter and cannot lead`);
    }
    this.#leadTransferee = to;
    // The transfer has its own clock: resetting the election counter would postpone
    // check-quorum, so repeated transfers could keep a deposed leader leading.
    this.#transferElapsed = 0;
    const progress = this.progress.get(to) as Progress;
    if (progress.match === this.log.lastIndex()) this.#send({ type: 'timeout-now', to });
    else this.#sendAppend(to, true);
  }

  /**
   * Records that the driver took a snapshot of its state machine at `index` and drops the
   * log up to it. Returns the snapshot's meta, to be stored with its data.
   */
  compact(index: number): SnapshotMeta {
    const term = this.log.term(index);
    assert(term !== undefined, `compact at ${index}: no term known`);
    const meta: SnapshotMeta = { index, term, membership: this.#membershipAt(index) };
    this.log.compact(meta);
    const keepFrom = this.#membershipHistory.findLastIndex((item) => item.index <= index);
    this.#membershipHistory = [
      { index, membership: meta.membership },
      ...this.#membershipHistory.slice(keepFrom + 1),
    ];
    return meta;
  }

  /** The state for status reports. */
  status(): CoreStatus {
    const membership = this.membership;
    const followers = [...this.progress.entries()].map(([id, progress]) => ({
      id,
      voter: membership.voters.includes(id),
      match: progress.match,
      next: progress.next,
      applied: progress.applied,
      state: progress.state,
      ticksSinceHeard: progress.ticksSinceHeard,
      upstream: this.#upstreamOf(id),
    }));
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.#vote,
      leaderId: this.#leaderId,
      commit: this.log.commit,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      stableIndex: this.log.stableIndex(),
      membership,
      followers,
      removedAt: this.#removedAt,
      topology: topologyOf(membership),
      chain: [...this.#chain],
      upstream: this.#role === 'leader' ? null : this.#upstream,
      downstream: [...this.#relays].map(([id, relay]) => ({ id, match: relay.progress.match })),
      leaderMatch: this.#role === 'leader' ? this.log.lastIndex() : this.#leaderMatch,
    };
  }

  /** The entry at `index` if the log still holds it (for tests and the simulator's checks). */
  entryAt(index: number): Entry | undefined {
    return this.log.entry(index);
  }

  /**
   * Whether a read-your-writes read for the write at (`index`, `term`) may be served here
   * once `index` is applied: this node's log holds that very entry, or its entry at `index`
   * is committed (then it is the write, or the write was lost at failover and never will
   * be there). A deposed leader's log may hold another, uncommitted entry at that index (its
   * own async tail): showing its state would miss the caller's write, so the read waits.
   */
  settledWrite(index: number, term: number): boolean {
    return index <= this.log.commit || this.log.term(index) === term;
  }

  /** Whether `ready()` has anything for the driver. */
  hasReady(): boolean {
    const hardState = this.#hardState();
    return (
      this.#messages.length > 0 ||
      this.#commitToBroadcast ||
      this.#appendsToBroadcast ||
      this.#routesChanged ||
      this.#claimsToSend ||
      this.#readStates.length > 0 ||
      this.#responses.length > 0 ||
      (this.#responsesAwaitingReapply[0]?.index ?? Infinity) <= this.#applyHanded ||
      this.#snapshotToInstall !== null ||
      this.#rollback !== null ||
      this.log.hasUnhandedEntries() ||
      !sameHardState(hardState, this.#handedHardState) ||
      !sameSoftState(this.#softState(), this.#reportedSoftState) ||
      this.#applyLimit() > this.#applyHanded
    );
  }

  /**
   * The next batch of work. The driver carries it out and reports back with `persisted`
   * (its writes are durable) and `applied` (its committed entries are applied), each in
   * the order the Readies were taken; meanwhile it may go on stepping, ticking, proposing
   * and taking Readies (see `core/pipeline.ts`).
   */
  ready(): Ready {
    this.#broadcastAppends();
    this.#broadcastCommit();
    this.#sendRoutes();
    this.#sendClaims();
    // Entries first: the hard state's commit index is bounded by what is handed out.
    const entries = this.log.takeUnhandedEntries(this.config.maxReadyEntryBytes);
    const hardState = this.#hardState();
    const softState = this.#softState();
    const hardStateChanged = !sameHardState(hardState, this.#handedHardState);
    // An append's answer says the entries are durable here: while some are still to be
    // handed out, it waits for the Ready that hands out the last (whose sync covers all).
    const [held, messages] = this.holdsAppendAnswers()
      ? partition(this.#messages, (message) => message.type === 'append-response')
      : [[], this.#messages];
    const snapshot = this.#snapshotToInstall;
    const committedEntries = this.#committedEntriesToApply();
    // The driver answers a Ready's proposals after applying its committed entries, so the
    // writes this Ready applies are answered in it, not one Ready later.
    const applying = committedEntries.at(-1)?.index;
    if (this.#role === 'leader' && applying !== undefined && this.#rollback === null) {
      this.#settleProposals(this.answeredThrough(applying));
    }
    const ready: Ready = {
      softState: sameSoftState(softState, this.#reportedSoftState) ? null : softState,
      rollback: this.#rollback,
      hardState: hardStateChanged ? hardState : null,
      snapshot,
      entries,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        hardState.term !== this.#handedHardState.term ||
        hardState.vote !== this.#handedHardState.vote,
      committedEntries,
      messages: messages.map((message) =>
        // The driver holds only its latest snapshot: name that one, even if it compacted
        // again after this message was decided.
        message.type === 'snapshot' ? { ...message, meta: this.log.snapshot } : message,
      ),
      readStates: this.#readStates,
      responses: this.#responsesAppliedBy(committedEntries),
    };
    this.#messages = held;
    this.#readStates = [];
    this.#responses = [];
    this.#snapshotToInstall = null;
    this.#rollback = null;
    this.#reportedSoftState = softState;
    if (hardStateChanged) this.#handedHardState = hardState;
    const lastCommitted = committedEntries.at(-1);
    if (lastCommitted !== undefined) this.#applyHanded = lastCommitted.index;
    this.#readyEpochs.set(ready, this.#applyEpoch);
    return ready;
  }

  /**
   * The driver made `ready`'s entries and hard state durable (and every earlier Ready's):
   * a leader may now count its own copy toward a commit.
   */
  persisted(ready: Ready): void {
    const lastWritten = ready.entries.at(-1);
    if (lastWritten !== undefined) this.log.stableTo(lastWritten);
    if (ready.hardState !== null) this.#persistedHardState = ready.hardState;
    if (this.#role === 'leader') {
      if (this.#maybeCommit()) this.#commitToBroadcast = true;
      this.#settleProposals();
    }
  }

  /**
   * The driver applied `ready`'s committed entries (and every earlier Ready's). After a
   * rollback or a snapshot installed since `ready` was taken, it counts for nothing: the
   * state machine it applied to was replaced.
   */
  applied(ready: Ready): void {
    if (this.#readyEpochs.get(ready) !== this.#applyEpoch) return;
    const lastApplied = ready.committedEntries.at(-1);
    if (lastApplied === undefined) return;
    this.log.applied = Math.max(this.log.applied, lastApplied.index);
    if (this.#role === 'leader') {
      this.#settleProposals();
    } else if (
      this.#leaderId !== null &&
      ready.committedEntries.some((entry) => entry.durability === 'sync')
    ) {
      this.#send({ type: 'applied', to: this.#leaderId, applied: this.log.applied });
    }
  }

  /** `persisted` then `applied`: for a driver that carries out one Ready at a time. */
  advance(ready: Ready): void {
    this.persisted(ready);
    this.applied(ready);
  }

  /** The hard state the driver reported durable. */
  get durableHardState(): HardState {
    return this.#persistedHardState;
  }

  /** The hard state last handed out in a Ready (durable, or being written). */
  get handedHardState(): HardState {
    return this.#handedHardState;
  }

  // ------------------------------------------------- rules the mutation tests break

  /** Raft's election restriction: grant a vote only to a log at least as up to date. */
  protected isCandidateLogUpToDate(lastIndex: number, lastTerm: number): boolean {
    return this.log.isUpToDate(lastIndex, lastTerm);
  }

  /** A leader commits by counting replicas only entries of its own term (Raft figure 8). */
  protected mayCommitByCounting(index: number): boolean {
    return this.log.term(index) === this.#term;
  }

  /** A leader serves a linearizable read only after a majority confirms it still leads. */
  protected readsNeedQuorumConfirmation(): boolean {
    return true;
  }

  /**
   * A follower's applied report counts only for entries it is known to hold from this
   * leader's log (up to its match index): a former leader reports the applied index of a
   * divergent tail it has since rolled back. The latest report is kept, not the largest,
   * since a follower that rolled back or restarted has applied less than it once did.
   */
  protected recordApplied(progress: Progress, reported: number): void {
    progress.applied = Math.min(reported, progress.match);
  }

  /** A leader that stops leading rolls back what it applied beyond the commit index. */
  protected rollsBackWhenDeposed(): boolean {
    return true;
  }

  /** A semi-sync entry beyond the commit index needs another voter's durable copy. */
  protected semiSyncReplicated(index: number): boolean {
    // A learner never takes over, so only another voter's copy survives this leader.
    return this.membership.voters.some(
      (voter) => voter !== this.id && (this.progress.get(voter)?.match ?? 0) >= index,
    );
  }

  /**
   * The last index whose writes a Ready that applies through `applying` answers: exactly
   * those it applies (a hook so that the simulator's mutants can break it).
   */
  protected answeredThrough(applying: number): number {
    return applying;
  }

  /**
   * Whether this Ready keeps its append answers for a later one: while entries remain to
   * be handed out to be written (`maxReadyEntryBytes` cut this Ready's), the answers would
   * claim entries durable that this Ready's sync does not cover. A hook so that the
   * simulator's mutants can break it.
   */
  protected holdsAppendAnswers(): boolean {
    return this.log.hasUnhandedEntries();
  }

  /**
   * A node applies only entries its own disk holds durably: a crash must never leave a
   * state machine ahead of the log it restarts from.
   */
  protected durableApplyLimit(): number {
    return this.log.stableIndex();
  }

  /**
   * Keeps what a member after this relay said it holds, to pass upstream (a hook so that
   * the simulator's mutants can break it).
   */
  protected recordClaim(claim: ChainClaim): void {
    this.#recordClaimAs(claim);
  }

  /** Whether a chain's leader also sends appends to the members after the head (never). */
  protected feedsChainDirectly(): boolean {
    return false;
  }

  /**
   * What a relay says a member it feeds holds: what that member answered (`progress.match`).
   */
  protected claimedIndex(progress: Progress): number {
    return progress.match;
  }

  /** The last index a relay passes on: only what is known to match the leader's log. */
  protected relayedThrough(): number {
    return this.#leaderMatch;
  }

  /**
   * Ticks a chain member may go unheard before the leader feeds it directly and the chain
   * closes over it: half an election timeout, at least two ticks, so that the chain heals
   * before anyone campaigns, while a member that is only slow to answer (a loaded machine)
   * keeps its place.
   */
  protected chainSilenceTicks(): number {
    return Math.max(2, Math.ceil(this.config.electionTicks / 2));
  }

  /** PreVote: a pre-vote request of a higher term is answered without moving to that term. */
  protected preVoteKeepsTerm(): boolean {
    return true;
  }

  /** A `sync` write is acknowledged only once every voter has applied it. */
  protected allVotersApplied(index: number): boolean {
    return this.membership.voters.every(
      (voter) => voter === this.id || (this.progress.get(voter)?.applied ?? 0) >= index,
    );
  }

  /**
   * One membership change at a time: a new one waits until the last one is committed and
   * the leader has committed an entry of its own term.
   */
  protected membershipChangePending(): boolean {
    return this.#pendingMembershipIndex > this.log.commit || !this.#committedInTerm();
  }

  /** A snapshot at or below the commit index is stale: the log already holds that history. */
  protected snapshotIsStale(meta: SnapshotMeta): boolean {
    return meta.index <= this.log.commit;
  }

  /** A heartbeat carries the commit index only as far as the follower is known to match. */
  protected heartbeatCommit(progress: Progress): number {
    return Math.min(progress.match, this.log.commit);
  }

  /** The highest index this node may apply: commit, or further on a leader under async rules. */
  protected applyLimit(): number {
    if (this.#role !== 'leader') return this.log.commit;
    this.#localCommit = Math.max(this.#localCommit, this.log.commit);
    for (let index = this.#localCommit + 1; index <= this.log.stableIndex(); index++) {
      const entry = this.log.entry(index) as Entry;
      if (!this.#locallyCommittable(entry)) break;
      this.#localCommit = index;
    }
    return this.#localCommit;
  }

  // ---------------------------------------------------------------- terms and roles

  /**
   * What a sender cannot know, given what this node sent it: an answer for entries or a
   * read round never sent, a read index not asked of it, a second leader in this node's
   * term, a transfer order from a node that is not the leader. A buggy peer must not be
   * able to confirm a read, acknowledge a write, or stop this node.
   */
  #impossibleReason(message: Message): string | null {
    if (message.type === 'read-index-response') {
      return this.#forwardedReads.get(message.readId) === message.from
        ? null
        : 'answers a read index it was not asked for';
    }
    if (message.term !== this.#term) return null;
    const fromLeader =
      message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot';
    const leader = leaderOf(message);
    if (fromLeader && this.#role === 'leader') return `claims to lead term ${message.term} too`;
    if (fromLeader && this.#leaderId !== null && leader !== this.#leaderId) {
      return `claims to lead term ${message.term}, which ${this.#leaderId} leads`;
    }
    if (message.type === 'append' && message.leader === this.id) {
      return 'relays an append on behalf of this node';
    }
    const relay = this.#role === 'leader' ? undefined : this.#relays.get(message.from);
    if (relay !== undefined && message.type === 'append-response' && !message.reject) {
      const sent = Math.max(relay.progress.sentIndex, this.log.commit);
      if (message.index > sent) return `answers index ${message.index}, beyond ${sent} relayed`;
    }
    if (message.type === 'timeout-now' && message.from !== this.#leaderId) {
      return 'orders an election but is not the leader';
    }
    const progress = this.#role === 'leader' ? this.progress.get(message.from) : undefined;
    if (progress === undefined) return null;
    if (message.type === 'append-response') {
      // A follower may also answer with its commit index, which a new leader's first probe
      // (at its last index) always covers.
      const sent = Math.max(progress.sentIndex, this.log.commit);
      if (message.index > sent) return `answers index ${message.index}, beyond ${sent} sent`;
    }
    if (message.type === 'heartbeat-response' && message.round > this.#readRound) {
      return `confirms read round ${message.round}, beyond ${this.#readRound}`;
    }
    return null;
  }

  /**
   * A node a committed change removed may not know it (it was away, or the notice was
   * lost): whatever it sends the leader is answered with a `removed` notice, in a term it
   * will not discard as stale, and otherwise ignored.
   */
  #answerRemovedMember(message: Message): boolean {
    if (this.#role !== 'leader' || isMember(this.membership, message.from)) return false;
    if (isMember(this.#membershipAt(this.log.commit), message.from)) return false;
    this.#sendRemoved(message.from, Math.max(this.#term, message.term));
    return true;
  }

  #sendRemoved(to: NodeId, term: number): void {
    this.#send({ type: 'removed', to, index: this.log.commit }, term);
  }

  /** A leader says a committed change removed this node: stop campaigning and serving. */
  #handleRemoved(message: RemovedMessage): null {
    const fromItsLeader =
      message.term > this.#term ||
      (message.term === this.#term && (this.#leaderId === null || this.#leaderId === message.from));
    if (!fromItsLeader || this.#removedAt > 0 || this.#role === 'leader') return null;
    // Only a node that knows it was a committed member can have been removed: one whose
    // addition never committed (its leader died) may be added again, and must not stop.
    if (!isMember(this.#membershipAt(this.log.commit), this.id)) return null;
    this.#removedAt = Math.max(1, message.index);
    this.#role = 'follower';
    this.#leaderId = null;
    this.#resetRoleState();
    this.#failForwardedReads();
    return null;
  }

  /** Applies the term rules; returns false when the message must be dropped. */
  #handleTerm(message: Message): boolean {
    if (message.term > this.#term) {
      if (message.type === 'vote') {
        // Within an election timeout of hearing from a leader, a vote request neither
        // moves the term nor gets a vote: with check-quorum from anyone, and always from
        // a node outside this node's membership (one removed while it was away, which
        // may still hold pre-votes granted before its removal and would otherwise
        // depose a healthy leader; the leader itself answers it with `removed`).
        const heardLeader =
          this.#leaderId !== null && this.#electionElapsed < this.config.electionTicks;
        const inLease =
          heardLeader && (this.config.checkQuorum || !isMember(this.membership, message.from));
        if (inLease && !message.transfer) return false;
        if (message.preVote && this.preVoteKeepsTerm()) return true;
      }
      if (message.type === 'vote-response' && message.preVote && message.granted) return true;
      const fromLeader =
        message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot';
      this.#becomeFollower(message.term, fromLeader ? leaderOf(message) : null);
      return true;
    }
    if (message.term < this.#term) {
      if (message.type === 'append' || message.type === 'heartbeat') {
        // Tell a stale leader about the newer term so it steps down.
        this.#send({
          type: 'append-response',
          to: message.from,
          reject: true,
          index: 0,
          hintIndex: 0,
          hintTerm: 0,
          applied: this.log.applied,
        });
      } else if (message.type === 'vote' && message.preVote) {
        this.#send({ type: 'vote-response', to: message.from, preVote: true, granted: false });
      }
      return false;
    }
    return true;
  }

  #dispatch(message: Message): void {
    switch (message.type) {
      case 'vote':
        return this.#handleVote(message);
      case 'vote-response':
        return this.#handleVoteResponse(message);
      case 'append':
        this.#followLeader(leaderOf(message));
        return this.#handleAppend(message);
      case 'heartbeat':
        this.#followLeader(message.from);
        return this.#handleHeartbeat(message);
      case 'snapshot':
        this.#followLeader(message.from);
        return this.#handleSnapshot(message);
      case 'timeout-now':
        if (this.#isPromotable()) this.#campaign('transfer');
        return;
      case 'read-index':
        if (this.#role === 'leader') return this.#leaderRead(message.readId, message.from);
        return this.#answerRead(message.readId, message.from, 0, 'TANDEM_NO_LEADER');
      case 'read-index-response':
        this.#forwardedReads.delete(message.readId);
        this.#readStates.push({
          readId: message.readId,
          index: message.index,
          error: message.rejected ? 'TANDEM_NO_LEADER' : null,
        });
        return;
      default:
        if (this.#role === 'leader') this.#handleLeaderResponse(message);
        else if (message.type === 'append-response') this.#handleRelayResponse(message);
    }
  }

  /** A message only a leader sends arrived in our term: follow its sender. */
  #followLeader(leaderId: NodeId): void {
    assert(
      this.#role !== 'leader',
      `two leaders in term ${this.#term}: ${this.id} and ${leaderId}`,
    );
    if (this.#role !== 'follower' || this.#leaderId !== leaderId)
      this.#becomeFollower(this.#term, leaderId);
    this.#electionElapsed = 0;
  }

  #becomeFollower(term: number, leaderId: NodeId | null): void {
    const wasLeader = this.#role === 'leader';
    const termChanged = term !== this.#term;
    if (termChanged) {
      this.#term = term;
      this.#vote = null;
    }
    this.#role = 'follower';
    this.#leaderId = leaderId;
    this.#resetRoleState();
    if (termChanged || wasLeader) this.#failForwardedReads();
    if (!wasLeader) return;
    this.#failLeaderWork();
    // A follower serves only committed state. As leader this node may have applied an
    // async or semi-sync tail that never committed: go back to the latest snapshot (at or
    // below the commit index) before anything is served, and re-apply what is committed.
    if (this.#applyHanded > this.log.commit && this.rollsBackWhenDeposed()) {
      this.#rollBackStateMachine();
    }
  }

  #becomeLeader(): void {
    this.#role = 'leader';
    this.#leaderId = this.id;
    this.#resetRoleState();
    this.#localCommit = this.log.commit;
    this.#pendingMembershipIndex = this.log.lastIndex();
    for (const id of allMembers(this.membership)) {
      if (id !== this.id) this.progress.set(id, new Progress(this.log.lastIndex() + 1));
    }
    this.#appendAsLeader({ kind: 'noop', durability: this.config.durability });
  }

  #resetRoleState(): void {
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetElectionTimer();
    this.#votes.clear();
    this.#leadTransferee = null;
    this.progress.clear();
    if (this.#chain.length > 0) this.#chainChanges++;
    this.#chain = [];
    this.#attached.clear();
    this.#routesChanged = false;
    this.#upstream = null;
    this.#leaderMatch = 0;
    this.#relays.clear();
    this.#claims.clear();
    this.#claimsToSend = false;
  }

  /** A leader that steps down answers everything it was holding. */
  #failLeaderWork(): void {
    for (const pending of this.#pendingProposals) {
      this.#responses.push({
        index: pending.index,
        term: pending.term,
        outcome: 'leadership-lost',
      });
    }
    this.#pendingProposals = [];
    this.#pendingProposalBytes = 0;
    const reads = [...this.#pendingReads, ...this.#readsAwaitingTermCommit];
    for (const read of reads) this.#answerRead(read.readId, read.from, 0, 'TANDEM_LEADERSHIP_LOST');
    this.#pendingReads = [];
    this.#readsAwaitingTermCommit = [];
  }

  /**
   * A node starts as a follower, and a follower serves only committed state. Its stored
   * commit index may trail its applied index (commit is synced lazily), so it is first
   * raised to the last applied entry known to be committed: a `quorum` or `sync` entry is
   * applied only once committed. If the state machine still holds entries beyond that (an
   * async or semi-sync tail applied as leader before a restart), it rolls back to the
   * latest snapshot before anything is served.
   */
  #settleAppliedOnStart(): void {
    const log = this.log;
    for (let index = Math.min(log.applied, log.lastIndex()); index > log.commit; index--) {
      const durability = log.entry(index)?.durability;
      if (durability === 'quorum' || durability === 'sync') {
        log.commit = index;
        break;
      }
    }
    if (log.applied > log.commit) this.#rollBackStateMachine();
  }

  /** Reads forwarded to a leader of an earlier term will not be answered: refuse them now. */
  #failForwardedReads(): void {
    for (const readId of this.#forwardedReads.keys()) {
      this.#readStates.push({ readId, index: 0, error: 'TANDEM_LEADERSHIP_LOST' });
    }
    this.#forwardedReads.clear();
  }

  #resetElectionTimer(): void {
    const base = this.config.electionTicks;
    this.#randomizedElectionTicks = base + this.#random.intBetween(0, base);
  }

  /** Only a voter of its own latest membership may campaign. */
  #isPromotable(): boolean {
    return this.#removedAt === 0 && this.membership.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- elections

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#electionElapsed < this.#randomizedElectionTicks) return;
    this.#electionElapsed = 0;
    if (this.#isPromotable()) return this.#campaign(this.config.preVote ? 'pre-vote' : 'election');
    if (this.#removedAt === 0 && isMember(this.membership, this.id)) this.#learnerKeepAlive();
  }

  /**
   * A learner never campaigns, so a learner that hears no leader for an election timeout
   * tells the voters it is there (an unasked heartbeat answer, which only a leader reads):
   * the leader resends what it is missing, or, if a committed change removed it while it
   * was away, answers that it was removed. It also stops naming a leader it cannot hear.
   */
  #learnerKeepAlive(): void {
    this.#leaderId = null;
    this.#failForwardedReads();
    for (const voter of this.membership.voters) {
      this.#send({ type: 'heartbeat-response', to: voter, round: 0, applied: this.log.applied });
    }
  }

  /** Starts a pre-vote, or a real election (after a pre-vote, without PreVote, or for a transfer). */
  #campaign(kind: CampaignKind): void {
    const preVote = kind === 'pre-vote';
    const transfer = kind === 'transfer';
    if (preVote) {
      this.#role = 'pre-candidate';
      this.#leaderId = null;
      this.#resetRoleState();
    } else {
      this.#becomeFollower(this.#term + 1, null);
      this.#role = 'candidate';
      this.#vote = this.id;
    }
    this.#votes.set(this.id, true);
    if (this.#countVotes().granted >= quorumSize(this.membership))
      return this.#winElection(preVote);
    const voteTerm = preVote ? this.#term + 1 : this.#term;
    for (const voter of this.membership.voters) {
      if (voter === this.id) continue;
      this.#send(
        {
          type: 'vote',
          to: voter,
          preVote,
          lastIndex: this.log.lastIndex(),
          lastTerm: this.log.lastTerm(),
          transfer,
        },
        voteTerm,
      );
    }
  }

  #winElection(preVote: boolean): void {
    if (preVote) this.#campaign('election');
    else this.#becomeLeader();
  }

  #handleVote(message: VoteMessage): void {
    const canVote =
      this.#vote === message.from ||
      (this.#vote === null && this.#leaderId === null) ||
      (message.preVote && message.term > this.#term);
    // A node answers whatever its own membership says: a learner that was promoted may not
    // have the entry yet, and refusing would deadlock the election that needs it. A vote
    // counts only if the candidate's membership lists the sender as a voter.
    const granted = canVote && this.isCandidateLogUpToDate(message.lastIndex, message.lastTerm);
    this.#send(
      { type: 'vote-response', to: message.from, preVote: message.preVote, granted },
      granted ? message.term : this.#term,
    );
    if (granted && !message.preVote) {
      this.#vote = message.from;
      this.#electionElapsed = 0;
    }
  }

  #handleVoteResponse(message: VoteResponseMessage): void {
    const expectedRole = message.preVote ? 'pre-candidate' : 'candidate';
    if (this.#role !== expectedRole || !this.membership.voters.includes(message.from)) return;
    this.#votes.set(message.from, message.granted);
    const { granted, rejected } = this.#countVotes();
    const quorum = quorumSize(this.membership);
    if (granted >= quorum) this.#winElection(message.preVote);
    else if (rejected >= quorum) this.#becomeFollower(this.#term, null);
  }

  #countVotes(): { granted: number; rejected: number } {
    let granted = 0;
    let rejected = 0;
    for (const voter of this.membership.voters) {
      const vote = this.#votes.get(voter);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    return { granted, rejected };
  }

  // ---------------------------------------------------------------- follower side

  #handleAppend(message: AppendMessage): void {
    type ReplyBody = Pick<AppendResponseMessage, 'reject' | 'index' | 'hintIndex' | 'hintTerm'>;
    const reply = (body: ReplyBody): void =>
      this.#send({
        type: 'append-response',
        to: message.from,
        applied: this.log.applied,
        ...body,
        ...(body.reject || this.#claims.size === 0 ? {} : { covers: this.#coveredClaims() }),
      });
    if (message.prevIndex < this.log.commit) {
      this.#accepted(message, this.log.commit);
      return reply({ reject: false, index: this.log.commit, hintIndex: 0, hintTerm: 0 });
    }
    if (!this.log.matchTerm(message.prevIndex, message.prevTerm)) {
      const hint = this.log.findConflictByTerm(
        Math.min(message.prevIndex, this.log.lastIndex()),
        message.prevTerm,
      );
      return reply({
        reject: true,
        index: message.prevIndex,
        hintIndex: hint.index,
        hintTerm: hint.term,
      });
    }
    const conflict = this.log.findConflict(message.entries);
    if (conflict !== 0 && conflict <= this.log.lastIndex()) {
      assert(
        conflict > this.log.commit,
        `${this.id}: leader overwrites committed index ${conflict}`,
      );
      // A follower applies only committed entries (a former leader rolled its tail back
      // when it stepped down), so nothing it applied can be replaced.
      assert(conflict > this.#applyHanded, `${this.id}: leader overwrites applied ${conflict}`);
    }
    if (conflict !== 0) {
      const fresh = message.entries.slice(conflict - message.prevIndex - 1);
      this.#truncateMembershipFrom(conflict);
      this.log.truncateAndAppend(fresh);
      this.#recordMembershipEntries(fresh);
    }
    const lastNew = message.prevIndex + message.entries.length;
    this.#commitTo(Math.min(message.commit, lastNew));
    this.#accepted(message, lastNew);
    reply({ reject: false, index: lastNew, hintIndex: 0, hintTerm: 0 });
  }

  // ---------------------------------------------------------------- chain: relays

  /**
   * This follower accepted `message`: its log matches the leader's through `matched`.
   * It answers its sender from now on, and passes the entries on to the members the
   * message routes through it.
   */
  #accepted(message: AppendMessage, matched: number): void {
    this.#upstream = message.from;
    this.#leaderMatch = Math.max(this.#leaderMatch, matched);
    const routes = message.routes ?? [];
    for (const id of [...this.#relays.keys()]) {
      if (!routes.some((route) => route.id === id)) {
        this.#relays.delete(id);
        this.#claims.delete(id);
      }
    }
    for (const route of routes) {
      if (route.id === this.id || route.id === message.from) continue;
      const relay = this.#relays.get(route.id);
      if (relay === undefined) {
        // Start where the sender started: the append passes on as it came, and a member
        // that lacks what precedes it rejects and is probed back.
        const progress = new Progress(Math.max(1, message.prevIndex + 1));
        this.#relays.set(route.id, { progress, routes: route.routes });
      } else {
        this.#relays.set(route.id, { progress: relay.progress, routes: route.routes });
      }
    }
    for (const [id, relay] of this.#relays) {
      while (this.#relayAppend(id, false));
      // The commit index travels down the chain too (an empty append when nothing else
      // goes), so that members after the head apply without waiting for a heartbeat.
      if (relay.progress.sentCommit < this.log.commit) this.#relayAppend(id, true);
    }
  }

  /**
   * Passes `to` the entries it lacks of those known to match the leader's log, from this
   * node's own log, as the leader would (the same window and message limits). A member
   * that needs entries this node has compacted is left waiting: the leader finds it
   * stalled and feeds it itself (a snapshot if need be). Returns whether entries went out.
   */
  #relayAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const relay = this.#relays.get(to);
    if (relay === undefined || this.#leaderId === null) return false;
    const { progress } = relay;
    if (progress.isPaused(this.config.maxInflightMessages)) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || prevIndex > this.#leaderMatch) return false;
    const last = this.relayedThrough();
    const entries = this.#entriesFrom(progress, last);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: 'append',
      to,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.commit,
      leader: this.#leaderId,
      routes: relay.routes,
    });
    this.#recordSent(progress, prevIndex, entries.length);
    return entries.length > 0;
  }

  /** A member this node feeds answered an append it passed on. */
  #handleRelayResponse(message: AppendResponseMessage): void {
    const relay = this.#relays.get(message.from);
    if (relay === undefined) return;
    const { progress } = relay;
    progress.ticksSinceHeard = 0;
    this.#answered(progress, message, () => this.#relayAppend(message.from, true));
    if (message.reject) return;
    const claimed = this.claimedIndex(progress);
    this.recordClaim({
      id: message.from,
      index: claimed,
      applied: Math.min(message.applied, claimed),
    });
    for (const claim of message.covers ?? []) {
      if (claim.id !== this.id && claim.id !== message.from) this.recordClaim(claim);
    }
    while (this.#relayAppend(message.from, false));
  }

  /** Keeps what a member after this one holds, to pass upstream with the next Ready. */
  #recordClaimAs(claim: ChainClaim): void {
    const known = this.#claims.get(claim.id);
    const index = Math.max(known?.index ?? 0, claim.index);
    if (known !== undefined && known.index === index && known.applied === claim.applied) return;
    this.#claims.set(claim.id, { id: claim.id, index, applied: Math.min(claim.applied, index) });
    this.#claimsToSend = true;
  }

  #coveredClaims(): ChainClaim[] {
    return [...this.#claims.values()];
  }

  /**
   * Passes what the members after this one hold to this node's upstream, once per Ready,
   * in an append answer for this node's own matched index (which, like every append
   * answer, leaves only once this node's log is durable through it).
   */
  #sendClaims(): void {
    if (!this.#claimsToSend) return;
    this.#claimsToSend = false;
    if (this.#role === 'leader' || this.#upstream === null) return;
    this.#send({
      type: 'append-response',
      to: this.#upstream,
      reject: false,
      index: this.#leaderMatch,
      hintIndex: 0,
      hintTerm: 0,
      applied: this.log.applied,
      covers: this.#coveredClaims(),
    });
  }

  /**
   * A relay's members are not heard by the relay between appends: every heartbeat
   * interval, one that is behind gets its window freed and an append, so that a lost
   * message does not stall the chain below it.
   */
  #tickRelays(): void {
    if (this.#relays.size === 0 || this.#ticks % this.config.heartbeatTicks !== 0) return;
    for (const [id, { progress }] of this.#relays) {
      progress.ticksSinceHeard++;
      if (progress.match >= this.relayedThrough() || progress.ticksSinceHeard < 2) continue;
      if (progress.state === 'probe') progress.probeSent = false;
      if (progress.state === 'replicate') progress.inflight.length = 0;
      if (progress.state === 'replicate') progress.next = progress.match + 1;
      this.#relayAppend(id, true);
    }
  }

  /**
   * This node applied entries (an async tail it wrote as leader) that the new leader's log
   * replaces. Its own latest snapshot is at or below the commit index, so it holds only
   * committed history: the state machine goes back to it and re-applies from the log,
   * which keeps every committed entry this node has acknowledged.
   */
  #rollBackStateMachine(): void {
    const meta = this.log.snapshot;
    assert(
      meta.index <= this.log.commit,
      `snapshot ${meta.index} beyond commit ${this.log.commit}`,
    );
    this.#rollback = meta;
    this.log.applied = meta.index;
    this.#applyHanded = meta.index;
    this.#applyEpoch++;
    const [answerNow, awaitReapply] = partition(
      this.#responses,
      (response) =>
        response.outcome !== 'acknowledged' ||
        response.index <= meta.index ||
        response.index > this.log.commit,
    );
    this.#responses = answerNow;
    this.#responsesAwaitingReapply.push(...awaitReapply);
    this.#responsesAwaitingReapply.sort((a, b) => a.index - b.index);
  }

  /** This Ready's answers: its own, and those awaiting a re-apply that it carries out. */
  #responsesAppliedBy(committedEntries: readonly Entry[]): ProposalOutcome[] {
    const appliedThrough = committedEntries.at(-1)?.index ?? this.#applyHanded;
    const waiting = this.#responsesAwaitingReapply;
    let released = 0;
    while (
      released < waiting.length &&
      (waiting[released] as ProposalOutcome).index <= appliedThrough
    )
      released++;
    if (released === 0) return this.#responses;
    this.#responsesAwaitingReapply = waiting.slice(released);
    return [...this.#responses, ...waiting.slice(0, released)];
  }

  #handleHeartbeat(message: HeartbeatMessage): void {
    this.#commitTo(Math.min(message.commit, this.log.lastIndex()));
    this.#send({
      type: 'heartbeat-response',
      to: message.from,
      round: message.round,
      applied: this.log.applied,
    });
  }

  #handleSnapshot(message: SnapshotMessage): void {
    const { meta } = message;
    const accept = (index: number): void =>
      this.#send({
        type: 'append-response',
        to: message.from,
        reject: false,
        index,
        hintIndex: 0,
        hintTerm: 0,
        applied: this.log.applied,
      });
    if (this.snapshotIsStale(meta)) return accept(this.log.commit);
    if (this.log.matchTerm(meta.index, meta.term)) {
      this.#commitTo(meta.index);
      return accept(this.log.commit);
    }
    assert(message.data !== null, 'a snapshot message reached the core without its data');
    this.log.restore(meta);
    this.#applyHanded = meta.index;
    this.#applyEpoch++;
    this.#membershipHistory = [
      { index: meta.index, membership: normalizeMembership(meta.membership) },
    ];
    this.#snapshotToInstall = { meta, data: message.data };
    this.#rollback = null;
    accept(meta.index);
  }

  #commitTo(index: number): void {
    if (index > this.log.commit) {
      assert(
        index <= this.log.lastIndex(),
        `commit ${index} beyond last index ${this.log.lastIndex()}`,
      );
      this.log.commit = index;
    }
  }

  // ---------------------------------------------------------------- leader side

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    for (const [id, progress] of this.progress) {
      progress.ticksSinceHeard++;
      if (
        progress.state === 'snapshot' &&
        ++progress.snapshotTicks > 2 * this.config.electionTicks
      ) {
        // The snapshot was lost or is stuck: probe again, which resends it if still needed.
        progress.becomeProbe();
        this.#sendAppend(id, true);
      }
    }
    if (this.#electionElapsed >= this.config.electionTicks) {
      this.#electionElapsed = 0;
      if (this.config.checkQuorum && !this.#quorumRecentlyActive()) {
        this.#becomeFollower(this.#term, null);
        return;
      }
    }
    if (this.#leadTransferee !== null && ++this.#transferElapsed >= this.config.electionTicks) {
      this.#leadTransferee = null;
    }
    this.#tickChain();
    this.#expireReads();
    if (this.#heartbeatElapsed >= this.config.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat();
    }
    this.#expireProposals();
  }

  /** Check-quorum: were a majority of voters heard from since the last check? Resets the marks. */
  #quorumRecentlyActive(): boolean {
    let active = 0;
    for (const voter of this.membership.voters) {
      if (voter === this.id || this.progress.get(voter)?.recentActive) active++;
    }
    for (const progress of this.progress.values()) progress.recentActive = false;
    return active >= quorumSize(this.membership);
  }

  #handleLeaderResponse(message: Message): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.recentActive = true;
    progress.ticksSinceHeard = 0;
    switch (message.type) {
      case 'append-response':
        this.#handleAppendResponse(message, progress);
        this.recordApplied(progress, message.applied);
        break;
      case 'heartbeat-response':
        this.recordApplied(progress, message.applied);
        this.#handleHeartbeatResponse(message, progress);
        break;
      case 'applied':
        this.recordApplied(progress, message.applied);
        break;
      default:
        return;
    }
    this.#settleProposals();
  }

  /**
   * Takes an append answer into the progress kept for its sender (a leader's follower, or
   * a member a relay feeds): a rejection probes back and resends with `resend`; an
   * acceptance moves the match and frees the window. Returns whether the match moved.
   */
  #answered(progress: Progress, message: AppendResponseMessage, resend: () => void): boolean {
    if (message.reject) {
      let probeFrom = message.hintIndex;
      if (message.hintTerm > 0)
        probeFrom = this.log.findConflictByTerm(message.hintIndex, message.hintTerm).index;
      if (progress.maybeDecrTo(message.index, probeFrom)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        resend();
      }
      return false;
    }
    const updated = progress.maybeUpdate(message.index);
    progress.freeTo(message.index);
    if (progress.state === 'probe' && updated) progress.becomeReplicate();
    return updated;
  }

  #handleAppendResponse(message: AppendResponseMessage, progress: Progress): void {
    let updated = this.#answered(progress, message, () => this.#sendAppend(message.from, true));
    if (message.reject) return;
    if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshot) {
      progress.becomeProbe();
      progress.becomeReplicate();
    }
    for (const claim of message.covers ?? []) {
      if (this.#takeClaim(claim)) updated = true;
    }
    if (updated && this.#maybeCommit()) this.#commitToBroadcast = true;
    while (this.#sendAppend(message.from, false));
    // A commit that advanced while the window was full has not reached this follower yet.
    if (progress.sentCommit < this.log.commit) this.#commitToBroadcast = true;
    const transferee = this.#leadTransferee;
    if (transferee !== null && this.progress.get(transferee)?.match === this.log.lastIndex()) {
      this.#send({ type: 'timeout-now', to: transferee });
    }
  }

  // ---------------------------------------------------------------- chain: the leader

  /**
   * A relay says what a member after it holds. It counts toward commits as that member's
   * own answer would; it says nothing of the member's liveness (heartbeats still go to
   * every member and are answered directly). Returns whether the member's match moved.
   */
  #takeClaim(claim: ChainClaim): boolean {
    if (claim.id === this.id || claim.index > this.log.lastIndex()) return false;
    const progress = this.progress.get(claim.id);
    if (progress === undefined) return false;
    const updated = claim.index > progress.match;
    if (updated) progress.match = claim.index;
    this.recordApplied(progress, claim.applied);
    return updated;
  }

  /** Whether this leader sends `to` appends itself: in a star every member, in a chain the head and those outside it. */
  #feedsDirectly(to: NodeId): boolean {
    if (this.feedsChainDirectly()) return true;
    return (this.#chain[0] === to || !this.#chain.includes(to)) && !this.#attached.has(to);
  }

  #upstreamOf(id: NodeId): NodeId {
    if (this.#attached.has(id)) return upstreamOf(this.membership, id) ?? this.id;
    const position = this.#chain.indexOf(id);
    return position > 0 ? (this.#chain[position - 1] as NodeId) : this.id;
  }

  /**
   * The routes `id` passes the log on by: the next member of the chain (with its own
   * routes), and the learners attached to `id` as their upstream.
   */
  #routesOf(id: NodeId): RelayRoute[] {
    const routes: RelayRoute[] = [];
    const position = this.#chain.indexOf(id);
    const next = position >= 0 ? this.#chain[position + 1] : undefined;
    if (next !== undefined) routes.push({ id: next, routes: this.#routesOf(next) });
    for (const learner of this.#attached) {
      if (upstreamOf(this.membership, learner) === id) routes.push({ id: learner, routes: [] });
    }
    return routes;
  }

  /**
   * Once a tick, every topology: a learner with an upstream is fed through it while both
   * are heard, the upstream is fed itself and the learner keeps up; otherwise (its
   * upstream silent, or the learner standing still behind it for an election timeout)
   * the leader feeds it directly until it has caught up again.
   */
  #tickAttached(): void {
    const silenceTicks = this.chainSilenceTicks();
    const last = this.log.lastIndex();
    let changed = false;
    for (const [id, progress] of this.progress) {
      const upstream = upstreamOf(this.membership, id);
      const above = upstream === undefined ? undefined : this.progress.get(upstream);
      if (above === undefined || this.#attached.has(upstream as NodeId)) {
        if (this.#attached.delete(id)) {
          changed = true;
          this.#feedDirectly(id, progress);
        }
        continue;
      }
      if (this.#attached.has(id)) {
        const stuck = progress.match === progress.chainSeenMatch && progress.match < above.match;
        progress.chainStallTicks = stuck ? progress.chainStallTicks + 1 : 0;
        progress.chainSeenMatch = progress.match;
        const keep =
          progress.ticksSinceHeard < silenceTicks &&
          above.ticksSinceHeard < silenceTicks &&
          progress.chainStallTicks < this.config.electionTicks;
        if (!keep) {
          this.#attached.delete(id);
          changed = true;
          this.#feedDirectly(id, progress);
        }
        continue;
      }
      const ready =
        progress.ticksSinceHeard < silenceTicks &&
        above.ticksSinceHeard < silenceTicks &&
        progress.state === 'replicate' &&
        progress.match + this.config.learnerCatchUpEntries >= last;
      if (!ready) continue;
      this.#chain = this.#chain.filter((member) => member !== id);
      progress.chainStallTicks = 0;
      progress.chainSeenMatch = progress.match;
      this.#attached.add(id);
      changed = true;
    }
    if (changed) this.#chainChanged();
  }

  /**
   * Once a tick, the leader of a chain keeps it whole: a member not heard from for
   * `chainSilenceTicks`, or whose match stands still behind the log for an election
   * timeout (it answers heartbeats, but what should reach it through the chain does not:
   * a relay that lacks compacted entries, a link between two members cut), leaves the
   * chain and is fed directly (the member after it is then fed by the one before); a
   * member outside the
   * chain that is heard and caught up joins its tail. Decided from membership, the
   * members' answers and ticks only, so it is deterministic.
   */
  #tickChain(): void {
    this.#tickAttached();
    if (topologyOf(this.membership) !== 'chain') return;
    const silenceTicks = this.chainSilenceTicks();
    const stallTicks = this.config.electionTicks;
    const last = this.log.lastIndex();
    const before = this.#chain.join(',');
    const head = this.#chain[0];
    const dropped: NodeId[] = [];
    let aboveStuck = false;
    this.#chain = this.#chain.filter((id, position, chain) => {
      const progress = this.progress.get(id);
      if (progress === undefined) return false;
      // Behind what the member before it holds, and not moving: what reaches the chain
      // above it does not reach it (a relay cut off from it, or its disk far too slow).
      const above =
        position === 0 ? last : (this.progress.get(chain[position - 1] as NodeId)?.match ?? last);
      // Counted only while the member above is not stuck itself: when a slow member holds
      // up the chain below it, that member is the one found stalled, not those after it.
      const stuck = progress.match === progress.chainSeenMatch && progress.match < above;
      if (!stuck) progress.chainStallTicks = 0;
      else if (!aboveStuck) progress.chainStallTicks++;
      aboveStuck = stuck;
      progress.chainSeenMatch = progress.match;
      const keep = progress.ticksSinceHeard < silenceTicks && progress.chainStallTicks < stallTicks;
      if (!keep) dropped.push(id);
      return keep;
    });
    for (const id of dropped) this.#feedDirectly(id, this.progress.get(id) as Progress);
    for (const [id, progress] of this.progress) {
      if (this.#chain.includes(id) || progress.ticksSinceHeard >= silenceTicks) continue;
      if (this.#attached.has(id) || upstreamOf(this.membership, id) !== undefined) continue;
      if (progress.state !== 'replicate') continue;
      if (progress.match + this.config.learnerCatchUpEntries < last) continue;
      progress.chainStallTicks = 0;
      progress.chainSeenMatch = progress.match;
      this.#chain.push(id);
    }
    const newHead = this.#chain[0];
    if (newHead !== undefined && newHead !== head) {
      const progress = this.progress.get(newHead) as Progress;
      progress.becomeProbe();
    }
    if (this.#chain.join(',') !== before) this.#chainChanged();
  }

  #chainChanged(): void {
    this.#routesChanged = true;
    this.#chainChanges++;
  }

  /** `id` leaves the chain: the leader sends it appends itself, from its match point. */
  #feedDirectly(id: NodeId, progress: Progress): void {
    if (progress.state !== 'snapshot') progress.becomeProbe();
    this.#sendAppend(id, true);
  }

  /** The chain changed: the head hears its new routes (an empty append if nothing else goes). */
  #sendRoutes(): void {
    if (!this.#routesChanged) return;
    this.#routesChanged = false;
    if (this.#role !== 'leader') return;
    // The head, and every member this leader feeds that is some learner's upstream.
    const told = new Set<NodeId>();
    const head = this.#chain[0];
    if (head !== undefined) told.add(head);
    for (const learner of Object.keys(this.membership.upstreams ?? {})) {
      const upstream = upstreamOf(this.membership, learner);
      if (upstream !== undefined && this.#feedsDirectly(upstream)) told.add(upstream);
    }
    for (const id of told) {
      const progress = this.progress.get(id);
      if (progress === undefined) continue;
      if (progress.state === 'replicate' && progress.isPaused(this.config.maxInflightMessages)) {
        progress.inflight.shift();
      }
      if (progress.state === 'probe') progress.probeSent = false;
      this.#sendAppend(id, true);
    }
  }

  /**
   * The topology changed in the log: every member is fed directly again (the head hears
   * that it feeds no one); in a chain, members join it as they are found caught up.
   */
  #resetChain(): void {
    const chained = this.#chain;
    this.#chain = [];
    this.#routesChanged = false;
    this.#chainChanges++;
    for (const id of chained) {
      const progress = this.progress.get(id);
      if (progress !== undefined) this.#feedDirectly(id, progress);
    }
  }

  #handleHeartbeatResponse(message: HeartbeatResponseMessage, progress: Progress): void {
    progress.readRound = Math.max(progress.readRound, message.round);
    // The follower is alive: if appends to it were lost, a full window or a waiting probe
    // would stall it for good, so free one slot and (re)send; an empty append at the end
    // of the log makes it report its real match point.
    if (progress.state === 'probe') progress.probeSent = false;
    if (progress.state === 'replicate' && progress.isPaused(this.config.maxInflightMessages)) {
      progress.inflight.shift();
    }
    if (progress.match < this.log.lastIndex()) this.#sendAppend(message.from, true);
    this.#releaseReads();
  }

  /** Advances the safe commit index to what a majority of voters holds durably. */
  #maybeCommit(): boolean {
    const matches = this.membership.voters
      .map((voter) =>
        voter === this.id ? this.log.stableIndex() : (this.progress.get(voter)?.match ?? 0),
      )
      .sort((a, b) => b - a);
    const quorumIndex = matches[quorumSize(this.membership) - 1] ?? 0;
    if (quorumIndex <= this.log.commit || !this.mayCommitByCounting(quorumIndex)) return false;
    const hadCommittedInTerm = this.#committedInTerm();
    const previousCommit = this.log.commit;
    this.log.commit = quorumIndex;
    if (!hadCommittedInTerm) this.#startReadsAwaitingTermCommit();
    this.#tellRemovedMembers(previousCommit, quorumIndex);
    return true;
  }

  /** Tells each node removed by a membership entry in (`from`, `to`] that it was removed. */
  #tellRemovedMembers(from: number, to: number): void {
    const history = this.#membershipHistory;
    for (let i = 1; i < history.length; i++) {
      const item = history[i] as { index: number; membership: Membership };
      if (item.index <= from || item.index > to) continue;
      const before = (history[i - 1] as { membership: Membership }).membership;
      for (const id of allMembers(before)) {
        if (!isMember(item.membership, id) && id !== this.id) this.#sendRemoved(id, this.#term);
      }
    }
  }

  /** Whether `entry`, beyond the safe commit index, may be applied by this leader under its own rule. */
  #locallyCommittable(entry: Entry): boolean {
    if (entry.durability === 'async') return true;
    return entry.durability === 'semi-sync' && this.semiSyncReplicated(entry.index);
  }

  #applyLimit(): number {
    return Math.min(this.applyLimit(), this.durableApplyLimit());
  }

  #committedEntriesToApply(): Entry[] {
    const limit = this.#applyLimit();
    const from = this.#applyHanded + 1;
    if (from > limit) return [];
    return this.log.slice(
      from,
      limit + 1,
      this.config.maxApplyBatchEntries,
      Number.MAX_SAFE_INTEGER,
    );
  }

  #committedInTerm(): boolean {
    return this.log.term(this.log.commit) === this.#term;
  }

  #assertCanPropose(): void {
    if (this.#removedAt > 0) {
      throw new TandemError(
        'TANDEM_REMOVED',
        `${this.id} was removed from the cluster (at index ${this.#removedAt}); it serves nothing`,
      );
    }
    if (this.#role !== 'leader') this.#throwNotLeader();
    if (this.#leadTransferee !== null) {
      throw new TandemError(
        'TANDEM_TRANSFER_IN_PROGRESS',
        `leadership is moving to ${this.#leadTransferee}; retry on the new leader`,
      );
    }
    if (this.#pendingProposals.length >= this.config.maxPendingProposals) {
      throw new TandemError(
        'TANDEM_TOO_MANY_PENDING',
        `${this.#pendingProposals.length} writes are waiting for acknowledgement (maxPendingProposals)`,
      );
    }
  }

  /** Refuses a command that would take the pending proposals past their byte limit. */
  #assertPendingBytesAllow(bytes: number): void {
    if (
      this.#pendingProposals.length > 0 &&
      this.#pendingProposalBytes + bytes > this.config.maxPendingProposalBytes
    ) {
      throw new TandemError(
        'TANDEM_TOO_MANY_PENDING',
        `${this.#pendingProposalBytes} bytes of writes are waiting for acknowledgement (maxPendingProposalBytes); retry shortly`,
      );
    }
  }

  #throwNotLeader(): never {
    if (this.#leaderId === null)
      throw new TandemError('TANDEM_NO_LEADER', 'no leader is known; retry shortly');
    throw new TandemError(
      'TANDEM_NOT_LEADER',
      `${this.id} is not the leader; ${this.#leaderId} is`,
      {
        leaderId: this.#leaderId,
      },
    );
  }

  /** Refuses a write at once, before it enters the log, when the replicas its mode needs are down. */
  #assertReplicasAvailable(mode: Durability): void {
    const isUp = (id: NodeId): boolean =>
      (this.progress.get(id)?.ticksSinceHeard ?? Infinity) < this.config.syncTimeoutTicks;
    if (mode === 'sync') {
      const down = this.membership.voters.filter((voter) => voter !== this.id && !isUp(voter));
      if (down.length > 0) {
        throw new TandemError(
          'TANDEM_REPLICA_UNAVAILABLE',
          `replica ${down.join(', ')} is unavailable and a sync write needs every voter; nothing was written`,
        );
      }
    } else if (
      mode === 'semi-sync' &&
      !this.membership.voters.some((voter) => voter !== this.id && isUp(voter))
    ) {
      throw new TandemError(
        'TANDEM_REPLICA_UNAVAILABLE',
        'no other voter is available and a semi-sync write needs one; nothing was written',
      );
    }
  }

  #appendAsLeader(
    body: Pick<Entry, 'kind' | 'durability' | 'data' | 'membership'>,
  ): ProposalReceipt {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.#term, ...body };
    this.log.append([entry]);
    this.#recordMembershipEntries([entry]);
    if (entry.kind !== 'noop') {
      const bytes = entry.data?.byteLength ?? 0;
      this.#pendingProposals.push({
        index: entry.index,
        term: entry.term,
        durability: entry.durability,
        deadlineTick: this.#ticks + this.config.syncTimeoutTicks,
        bytes,
      });
      this.#pendingProposalBytes += bytes;
    }
    this.#appendsToBroadcast = true;
    return { index: entry.index, term: entry.term };
  }

  /** Answers the proposals whose durability rule now holds and which this leader has applied. */
  /** Answers the proposals applied through `applied` (by default, what was applied). */
  #settleProposals(applied: number = this.log.applied): void {
    // Pending proposals are in index order; a sync one may wait while later ones settle.
    const waiting: PendingProposal[] = [];
    let scanned = 0;
    for (const pending of this.#pendingProposals) {
      if (pending.index > applied) break;
      scanned++;
      if (pending.durability === 'sync' && !this.allVotersApplied(pending.index)) {
        waiting.push(pending);
      } else {
        this.#responses.push({ index: pending.index, term: pending.term, outcome: 'acknowledged' });
        this.#pendingProposalBytes -= pending.bytes;
      }
    }
    if (scanned > waiting.length) {
      this.#pendingProposals = [...waiting, ...this.#pendingProposals.slice(scanned)];
    }
  }

  #expireProposals(): void {
    while (
      this.#pendingProposals.length > 0 &&
      (this.#pendingProposals[0] as PendingProposal).deadlineTick <= this.#ticks
    ) {
      const expired = this.#pendingProposals.shift() as PendingProposal;
      this.#pendingProposalBytes -= expired.bytes;
      this.#responses.push({ index: expired.index, term: expired.term, outcome: 'timeout' });
    }
  }

  /**
   * Sends `to` the next entries (or an empty append carrying the commit index, when
   * `sendIfEmpty`), or a snapshot when the entries it needs are compacted. Returns whether
   * an append with entries went out.
   */
  #sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to);
    if (progress === undefined || progress.isPaused(this.config.maxInflightMessages)) return false;
    if (!this.#feedsDirectly(to)) return false;
    const prevIndex = progress.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.#sendSnapshot(to, progress);
      return false;
    }
    const entries = this.#entriesFrom(progress, this.log.lastIndex());
    if (entries.length === 0 && !sendIfEmpty) return false;
    if (this.holdsBack(progress, entries.length, sendIfEmpty)) return false;
    const relayed = this.#routesOf(to);
    const routes = relayed.length > 0 ? relayed : null;
    this.#send({
      type: 'append',
      to,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.commit,
      ...(routes === null ? {} : { routes }),
    });
    this.#recordSent(progress, prevIndex, entries.length);
    return entries.length > 0;
  }

  /**
   * Whether `count` new entries wait for the append in flight to `progress`'s follower to
   * be answered: a partial message does while one is in flight, so that under load the
   * entries of many Readies travel (and are written and fsynced by the follower) as one
   * append, instead of one small append each. Full messages stream up to the window.
   * The answer (or, if it was lost, the next heartbeat's answer, which sends even an
   * empty append: `sendIfEmpty`) sends what waited.
   */
  protected holdsBack(progress: Progress, count: number, sendIfEmpty: boolean): boolean {
    if (sendIfEmpty || progress.state !== 'replicate' || progress.inflight.length === 0) {
      return false;
    }
    const full =
      count >= this.config.maxEntriesPerMessage || progress.next + count <= this.log.lastIndex();
    return !full;
  }

  /** The entries after `progress.next - 1`, through `last`, within one message's limits. */
  #entriesFrom(progress: Progress, last: number): Entry[] {
    if (progress.next > last) return [];
    return this.log.slice(
      progress.next,
      last + 1,
      this.config.maxEntriesPerMessage,
      this.config.maxMessageBytes,
    );
  }

  /** Records an append of `count` entries after `prevIndex` as sent on `progress`. */
  #recordSent(progress: Progress, prevIndex: number, count: number): void {
    progress.sentIndex = Math.max(progress.sentIndex, prevIndex + count);
    progress.sentCommit = Math.max(progress.sentCommit, this.log.commit);
    progress.sent(prevIndex + count, count);
  }

  #sendSnapshot(to: NodeId, progress: Progress): void {
    const meta = this.log.snapshot;
    this.#send({ type: 'snapshot', to, meta, data: null });
    progress.sentIndex = Math.max(progress.sentIndex, meta.index);
    progress.becomeSnapshot(meta.index);
  }

  /** Sends the followers the entries appended since the last Ready (see `#appendsToBroadcast`). */
  #broadcastAppends(): void {
    if (!this.#appendsToBroadcast) return;
    this.#appendsToBroadcast = false;
    if (this.#role === 'leader') this.#broadcastAppend(false);
  }

  /** Tells every follower not yet told the commit index (see `#commitToBroadcast`). */
  #broadcastCommit(): void {
    if (!this.#commitToBroadcast) return;
    this.#commitToBroadcast = false;
    if (this.#role !== 'leader') return;
    for (const [id, progress] of this.progress) {
      if (progress.sentCommit < this.log.commit) this.#sendAppend(id, true);
    }
  }

  #broadcastAppend(sendIfEmpty: boolean): void {
    for (const id of this.progress.keys()) this.#sendAppend(id, sendIfEmpty);
  }

  #broadcastHeartbeat(): void {
    for (const [to, progress] of this.progress) {
      const commit = this.heartbeatCommit(progress);
      this.#send({ type: 'heartbeat', to, commit, round: this.#readRound });
      progress.sentCommit = Math.max(progress.sentCommit, commit);
    }
  }

  // ---------------------------------------------------------------- reads

  #leaderRead(readId: string, from: NodeId, deadlineTick?: number): void {
    if (
      this.#pendingReads.length + this.#readsAwaitingTermCommit.length >=
      this.config.maxPendingReads
    ) {
      return this.#answerRead(readId, from, 0, 'TANDEM_TOO_MANY_PENDING');
    }
    const deadline = deadlineTick ?? this.#ticks + this.config.electionTicks;
    // Fail fast: nothing can be confirmed while a majority has been silent.
    const quorumSilent = !this.#quorumHeardWithin(this.config.electionTicks);
    if (!this.#committedInTerm()) {
      // The commit index of a new leader may trail the real one until its noop commits.
      if (quorumSilent) return this.#answerRead(readId, from, 0, 'TANDEM_NO_QUORUM');
      this.#readsAwaitingTermCommit.push({ readId, from, deadlineTick: deadline });
      return;
    }
    if (this.#everyQuorumHasThisNode() || !this.readsNeedQuorumConfirmation()) {
      return this.#answerRead(readId, from, this.log.commit, null);
    }
    if (quorumSilent) return this.#answerRead(readId, from, 0, 'TANDEM_NO_QUORUM');
    this.#readRound++;
    this.#pendingReads.push({
      readId,
      from,
      index: this.log.commit,
      round: this.#readRound,
      deadlineTick: deadline,
    });
    this.#broadcastHeartbeat();
  }

  /**
   * With one or two voters (in a membership that has committed) every majority is every
   * voter, so no other node can be elected without this leader's vote, and it votes only
   * after stepping down: what it has applied is linearizable without a round. That keeps a
   * primary whose replica died answering linearizable reads, with no lease and no clock.
   */
  #everyQuorumHasThisNode(): boolean {
    // While a change is uncommitted, the nodes without it still count the old voters,
    // whose majorities need not include this leader (three voters going down to two).
    return (
      this.#pendingMembershipIndex <= this.log.commit &&
      quorumSize(this.membership) === this.membership.voters.length
    );
  }

  /** Whether a majority of voters (this leader included) was heard from within `ticks`. */
  #quorumHeardWithin(ticks: number): boolean {
    let heard = 0;
    for (const voter of this.membership.voters) {
      if (voter === this.id || (this.progress.get(voter)?.ticksSinceHeard ?? ticks) < ticks)
        heard++;
    }
    return heard >= quorumSize(this.membership);
  }

  #startReadsAwaitingTermCommit(): void {
    const waiting = this.#readsAwaitingTermCommit;
    this.#readsAwaitingTermCommit = [];
    for (const read of waiting) this.#leaderRead(read.readId, read.from, read.deadlineTick);
  }

  /** Refuses the reads that no majority confirmed within an election timeout. */
  #expireReads(): void {
    const expired = (read: { deadlineTick: number }): boolean => read.deadlineTick <= this.#ticks;
    if (!this.#pendingReads.some(expired) && !this.#readsAwaitingTermCommit.some(expired)) return;
    for (const read of [...this.#pendingReads, ...this.#readsAwaitingTermCommit]) {
      if (expired(read)) this.#answerRead(read.readId, read.from, 0, 'TANDEM_NO_QUORUM');
    }
    this.#pendingReads = this.#pendingReads.filter((read) => !expired(read));
    this.#readsAwaitingTermCommit = this.#readsAwaitingTermCommit.filter((read) => !expired(read));
  }

  /** Answers the reads whose round a majority of voters has confirmed. */
  #releaseReads(): void {
    if (this.#pendingReads.length === 0) return;
    const rounds = this.membership.voters
      .map((voter) =>
        voter === this.id ? this.#readRound : (this.progress.get(voter)?.readRound ?? 0),
      )
      .sort((a, b) => b - a);
    const confirmedRound = rounds[quorumSize(this.membership) - 1] ?? 0;
    while (
      this.#pendingReads.length > 0 &&
      (this.#pendingReads[0] as PendingRead).round <= confirmedRound
    ) {
      const read = this.#pendingReads.shift() as PendingRead;
      this.#answerRead(read.readId, read.from, read.index, null);
    }
  }

  #answerRead(readId: string, from: NodeId, index: number, error: ReadState['error']): void {
    if (from === this.id) {
      this.#readStates.push({ readId, index, error });
    } else {
      this.#send({
        type: 'read-index-response',
        to: from,
        readId,
        index,
        rejected: error !== null,
      });
    }
  }

  // ---------------------------------------------------------------- membership

  #recordMembershipEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.kind !== 'membership') continue;
      assert(
        entry.membership !== undefined,
        `membership entry ${entry.index} without a membership`,
      );
      const before = topologyOf(this.membership);
      this.#membershipHistory.push({
        index: entry.index,
        membership: normalizeMembership(entry.membership),
      });
      if (this.#role !== 'leader') continue;
      this.#syncProgressWithMembership();
      if (topologyOf(this.membership) !== before) this.#resetChain();
    }
  }

  #truncateMembershipFrom(index: number): void {
    while (
      this.#membershipHistory.length > 1 &&
      (this.#membershipHistory.at(-1) as { index: number }).index >= index
    ) {
      this.#membershipHistory.pop();
    }
  }

  #membershipAt(index: number): Membership {
    const found = this.#membershipHistory.findLast((item) => item.index <= index);
    assert(found !== undefined, `no membership known at ${index}`);
    return found.membership;
  }

  #syncProgressWithMembership(): void {
    const members = this.membership;
    for (const id of allMembers(members)) {
      // Probe from the entry that added the member: it rejects and backs off to what it has.
      if (id !== this.id && !this.progress.has(id))
        this.progress.set(id, new Progress(this.log.lastIndex()));
    }
    for (const id of [...this.progress.keys()]) {
      if (!isMember(members, id)) this.progress.delete(id);
    }
    for (const id of [...this.#attached]) {
      if (upstreamOf(members, id) === undefined) {
        this.#attached.delete(id);
        const progress = this.progress.get(id);
        if (progress !== undefined) this.#feedDirectly(id, progress);
        this.#chainChanged();
      }
    }
    const chained = this.#chain.filter((id) => this.progress.has(id));
    if (chained.length !== this.#chain.length) {
      this.#chain = chained;
      this.#chainChanged();
    }
  }

  // ---------------------------------------------------------------- plumbing

  #send(body: MessageBody, term: number = this.#term): void {
    this.#messages.push({ ...body, from: this.id, term } as Message);
  }

  /**
   * The hard state as a Ready hands it out: its commit index never past the last entry
   * handed out to be written, so that what is made durable together never records a
   * commit beyond the durable log (a Ready may hand out only part of the unwritten
   * entries: `maxReadyEntryBytes`).
   */
  #hardState(): HardState {
    return {
      term: this.#term,
      vote: this.#vote,
      commit: Math.min(this.log.commit, Math.max(this.log.handedThrough, this.log.snapshot.index)),
    };
  }

  #softState(): SoftState {
    return { role: this.#role, leaderId: this.#leaderId, term: this.#term };
  }
}

/** The leader a message speaks for: a relay's append names it, anything else is its sender's own. */
function leaderOf(message: Message): NodeId {
  return message.type === 'append' && message.leader !== undefined ? message.leader : message.from;
}

/** Splits `items` into those that pass `test` and those that do not, in order. */
function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const pass: T[] = [];
  const fail: T[] = [];
  for (const item of items) (test(item) ? pass : fail).push(item);
  return [pass, fail];
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId && a.term === b.term;
}
