import type {
  AppendResponseMessage,
  Durability,
  Entry,
  Message,
  NodeId,
  Ready,
} from '../core/types.js';
import type { MembershipChangeState, ReadConsistency } from './node.js';

/** A write the workload sent and the leader accepted into its log. */
export interface TrackedWrite {
  readonly id: string;
  readonly key: string;
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly durability: Durability;
  /** The node that took the write into its log and answers it. */
  readonly leader: NodeId;
  /** The leader's voters when it took the write. */
  readonly votersAtPropose: readonly NodeId[];
  /** Virtual time of acknowledgement, or null while unacknowledged. */
  ackedAtMs: number | null;
}

/** A read as the workload saw it. */
export interface TrackedRead {
  readonly key: string;
  readonly node: NodeId;
  readonly consistency: ReadConsistency;
  /** Whether the node believed it was the leader when it answered. */
  readonly servedAsLeader: boolean;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  readonly values: readonly string[];
  /** For `ryw`: the client's own last acknowledged write, which the read must show. */
  readonly ownWrite: TrackedWrite | null;
}

/** What the checker may look at in the simulated cluster: disks, state machines, memberships. */
export interface ClusterView {
  /** Whether `node`'s disk holds the entry at `index` of `term` durably (synced, or under its snapshot). */
  holdsDurably(node: NodeId, index: number, term: number): boolean;
  /** Whether `node`'s state machine shows `write` now. */
  hasApplied(node: NodeId, write: TrackedWrite): boolean;
  /** The voters of `node`'s membership now. */
  voters(node: NodeId): readonly NodeId[];
  /** The term of `node`'s durable hard state (0 for a node that never wrote one). */
  durableTerm(node: NodeId): number;
}

/** How hard a run worked at electing leaders: the liveness measure of the fault phase. */
export interface ElectionCounts {
  /** Real elections started (a node voting for itself in a new term). */
  readonly elections: number;
  /** The highest term any node reached: the number of term changes of the run. */
  readonly highestTerm: number;
}

/** Violations kept per run: the first ones are what a replay prints. */
const violationsKept = 20;

function sameEntry(a: Entry, b: Entry): boolean {
  return a.term === b.term && a.kind === b.kind && a.data === b.data;
}

function isStrict(durability: Durability): boolean {
  return durability === 'quorum' || durability === 'sync';
}

function majority(count: number): number {
  return Math.floor(count / 2) + 1;
}

/**
 * The simulator's invariants, checked as events happen (docs/ARCHITECTURE.md lists them):
 * elections, terms, the committed history, commits and applies against what the disks
 * hold, membership changes, every acknowledgement against its durability mode, and every
 * read against the writes acknowledged before it and the final history. In async and
 * semi-sync modes acknowledged writes lost at failover are counted, not failed; everything
 * else, in every mode, is a violation.
 */
export class Checker {
  readonly violations: string[] = [];
  readonly #durability: Durability;
  readonly #now: () => number;
  readonly #view: ClusterView;
  readonly #leaderByTerm = new Map<number, NodeId>();
  /** Real votes granted, by `term/candidate`. */
  readonly #grants = new Map<string, Set<NodeId>>();
  /** The one committed history: index -> entry, first seen at commit. */
  readonly #committed = new Map<number, Entry>();
  readonly #checkedCommit = new Map<NodeId, number>();
  /** Each node's commit index as of its last Ready in this incarnation. */
  readonly #commitIndex = new Map<NodeId, number>();
  /** Each node's role and term as of its last Ready. */
  readonly #roles = new Map<NodeId, { role: string; term: number }>();
  /** The last term each node campaigned in. */
  readonly #campaignTerms = new Map<NodeId, number>();
  /** The highest term any node has campaigned for: no node may be in a higher one. */
  #highestCampaignTerm = 0;
  #elections = 0;
  #highestTerm = 0;
  readonly writes: TrackedWrite[] = [];
  readonly reads: TrackedRead[] = [];
  readonly #ackedByKey = new Map<string, TrackedWrite[]>();

  constructor(durability: Durability, now: () => number, view: ClusterView) {
    this.#durability = durability;
    this.#now = now;
    this.#view = view;
  }

  /** Whether every entry of this run must survive any failure once acknowledged (quorum, sync). */
  get strict(): boolean {
    return isStrict(this.#durability);
  }

  /** Elections started and the highest term so far. */
  get elections(): ElectionCounts {
    return { elections: this.#elections, highestTerm: this.#highestTerm };
  }

  /**
   * Records a violation: the first `violationsKept`, and always one that ends the run (a
   * stuck cluster, an exception), so that a replay names why it stopped.
   */
  fail(message: string, endsRun = false): void {
    if (this.violations.length < violationsKept || endsRun)
      this.violations.push(`t=${this.#now()}ms ${message}`);
  }

  /**
   * Chain replication: a relay's answer reaches the leader of its term. What it says of its
   * sender and of each member after it must be durable on that member, in the leader's
   * log's terms: unless the member has since moved to a later term (whose leader may
   * rightly have replaced entries), a claim its disk does not bear out is a lie that a
   * commit may count.
   */
  onChainAnswer(
    message: AppendResponseMessage,
    termAt: (index: number) => number | undefined,
  ): void {
    if (message.reject || message.covers === undefined) return;
    const claims = [{ id: message.from, index: message.index }, ...message.covers];
    for (const { id, index } of claims) {
      const term = termAt(index);
      if (term === undefined || index === 0) continue;
      if (this.#view.durableTerm(id) > message.term) continue;
      if (!this.#view.holdsDurably(id, index, term)) {
        this.fail(
          `${message.from} told leader ${message.to} (term ${message.term}) that ${id} holds index ${index} (term ${term}) durably; its disk does not`,
        );
      }
    }
  }

  /**
   * Chain replication: a Ready of a chain's leader whose chain held every other member and
   * did not change since its previous Ready sends appends to the head alone.
   */
  onChainReady(leader: NodeId, messages: readonly Message[]): void {
    const recipients = new Set<NodeId>();
    for (const message of messages) if (message.type === 'append') recipients.add(message.to);
    if (recipients.size > 1) {
      this.fail(
        `leader ${leader} sent appends to ${[...recipients].sort().join(', ')} while its chain was whole`,
      );
    }
  }

  /** A node restarted with `commit` read back from its disk: its log is checked again from the start. */
  onRestart(node: NodeId, commit: number): void {
    this.#checkedCommit.set(node, 0);
    this.#commitIndex.set(node, commit);
    this.#roles.delete(node);
  }

  /**
   * Checks a Ready as the driver takes it: votes, elections, terms, commits. `voterSets`
   * are the memberships a commit in this Ready may have counted (now, and when the core
   * last advanced).
   */
  onReady(
    node: NodeId,
    ready: Ready,
    entryAt: (index: number) => Entry | undefined,
    voterSets: readonly (readonly NodeId[])[],
  ): void {
    for (const message of ready.messages) {
      if (message.type !== 'vote-response' || !message.granted || message.preVote) continue;
      const key = `${message.term}/${message.to}`;
      const grants = this.#grants.get(key);
      if (grants === undefined) this.#grants.set(key, new Set([node]));
      else grants.add(node);
    }
    this.#checkAcknowledgementsDurable(node, ready);
    if (ready.hardState !== null) this.#checkTermOrigin(node, ready.hardState);
    if (ready.softState?.role === 'leader')
      this.#checkElection(node, ready.softState.term, voterSets[0] ?? []);
    if (ready.hardState !== null) {
      const commit = ready.hardState.commit;
      const before = this.#commitIndex.get(node) ?? 0;
      if (commit < before)
        this.fail(`${node} moved its commit index back from ${before} to ${commit}`);
      if (this.#leadsThroughout(node, ready)) {
        this.#checkLeaderCommitRule(node, ready, entryAt);
        this.#checkCommitDurable(node, before, commit, entryAt, voterSets);
      }
      this.#commitIndex.set(node, commit);
      this.#checkCommitted(node, commit, entryAt);
    }
    const role = ready.softState ?? this.#roles.get(node);
    if (role !== undefined) this.#roles.set(node, { role: role.role, term: role.term });
  }

  /**
   * Terms come only from campaigns: a node enters a term by voting for itself in it, or by
   * hearing of it from a node already there, so no node is ever in a term nobody campaigned
   * for. A pre-vote that moves anyone to its term breaks this at once.
   */
  #checkTermOrigin(node: NodeId, hardState: NonNullable<Ready['hardState']>): void {
    this.#highestTerm = Math.max(this.#highestTerm, hardState.term);
    if (hardState.vote === node) {
      if (hardState.term > (this.#campaignTerms.get(node) ?? 0)) {
        this.#campaignTerms.set(node, hardState.term);
        this.#elections++;
      }
      this.#highestCampaignTerm = Math.max(this.#highestCampaignTerm, hardState.term);
    } else if (hardState.term > this.#highestCampaignTerm) {
      this.fail(
        `${node} moved to term ${hardState.term}, which no node campaigned for (highest campaign: ${this.#highestCampaignTerm})`,
      );
    }
  }

  /**
   * A leader acknowledges, in every mode, only what its own disk holds: when it hands out
   * the Ready (before this Ready's writes), every entry it acknowledges is synced. So an
   * async acknowledgement before the leader's fsync is a violation, not a counted loss.
   */
  #checkAcknowledgementsDurable(node: NodeId, ready: Ready): void {
    for (const response of ready.responses) {
      if (response.outcome !== 'acknowledged') continue;
      if (!this.#view.holdsDurably(node, response.index, response.term)) {
        this.fail(
          `${node} acknowledged index ${response.index} (term ${response.term}) before its own fsync`,
        );
      }
    }
  }

  /** Whether `node` led in one term both before and after this Ready, so every commit change was its own. */
  #leadsThroughout(node: NodeId, ready: Ready): boolean {
    const before = this.#roles.get(node);
    const now = ready.softState ?? before;
    return before?.role === 'leader' && now?.role === 'leader' && now.term === before.term;
  }

  /**
   * Raft's commit rule (section 5.4.2): a leader moves its commit index only onto an entry
   * of its own term; earlier entries commit with it.
   */
  #checkLeaderCommitRule(
    node: NodeId,
    ready: Ready,
    entryAt: (index: number) => Entry | undefined,
  ): void {
    const term = (this.#roles.get(node) as { term: number }).term;
    const commit = (ready.hardState as { commit: number }).commit;
    if (commit <= (this.#checkedCommit.get(node) ?? 0)) return;
    const entry = entryAt(commit);
    if (entry !== undefined && entry.term !== term) {
      this.fail(
        `${node}, leader of term ${term}, moved its commit index onto index ${commit} of term ${entry.term}`,
      );
    }
  }

  /**
   * What a leader commits is durable on a majority of its voters' disks at that moment:
   * its own copy synced, and each follower's synced before it answered.
   */
  #checkCommitDurable(
    node: NodeId,
    from: number,
    to: number,
    entryAt: (index: number) => Entry | undefined,
    voterSets: readonly (readonly NodeId[])[],
  ): void {
    for (let index = from + 1; index <= to; index++) {
      const entry = entryAt(index);
      if (entry === undefined) continue;
      const durableOn = (voters: readonly NodeId[]): number =>
        voters.filter((voter) => this.#view.holdsDurably(voter, index, entry.term)).length;
      const held = voterSets.some((voters) => durableOn(voters) >= majority(voters.length));
      if (!held) {
        const voters = voterSets[0] ?? [];
        this.fail(
          `${node} committed index ${index} while only ${durableOn(voters)} of its ${voters.length} voters held it durably`,
        );
        return;
      }
    }
  }

  /** `node` crashed before the vote that made it leader of `term` was durable: it never led. */
  onLeaderClaimLost(node: NodeId, term: number): void {
    if (this.#leaderByTerm.get(term) === node) this.#leaderByTerm.delete(term);
  }

  /** One leader per term, elected by a majority of its own voters (learners' grants never count). */
  #checkElection(node: NodeId, term: number, voters: readonly NodeId[]): void {
    const other = this.#leaderByTerm.get(term);
    if (other !== undefined && other !== node)
      this.fail(`two leaders in term ${term}: ${other} and ${node}`);
    this.#leaderByTerm.set(term, node);
    const grants = this.#grants.get(`${term}/${node}`) ?? new Set<NodeId>();
    const votes = voters.filter((voter) => voter === node || grants.has(voter)).length;
    if (votes < majority(voters.length)) {
      this.fail(`${node} leads term ${term} with ${votes} of ${voters.length} voters' votes`);
    }
    this.#grants.delete(`${term}/${node}`);
  }

  #checkCommitted(
    node: NodeId,
    commit: number,
    entryAt: (index: number) => Entry | undefined,
  ): void {
    const from = (this.#checkedCommit.get(node) ?? 0) + 1;
    for (let index = from; index <= commit; index++) {
      const entry = entryAt(index);
      if (entry === undefined) continue; // compacted or replaced by a snapshot: checked before
      const known = this.#committed.get(index);
      if (known === undefined) this.#committed.set(index, entry);
      else if (!sameEntry(known, entry)) {
        this.fail(
          `${node} committed index ${index} term ${entry.term}, but term ${known.term} was committed there`,
        );
      }
    }
    this.#checkedCommit.set(node, Math.max(commit, from - 1));
  }

  /**
   * A leader begins a membership change only when no other is uncommitted and it has
   * committed an entry of its own term (single-server changes, Raft thesis section 4.1).
   */
  onMembershipChange(node: NodeId, term: number, before: MembershipChangeState): void {
    if (before.uncommittedChangeIndex > 0) {
      this.fail(
        `${node} began a membership change while the one at ${before.uncommittedChangeIndex} was uncommitted`,
      );
    }
    if (!before.committedInTerm) {
      this.fail(`${node} began a membership change before committing an entry of term ${term}`);
    }
  }

  /** Checks entries a node applies: durable on its own disk, and committed. */
  onApply(node: NodeId, entries: readonly Entry[], isLeader: boolean): void {
    for (const entry of entries) {
      if (!this.#view.holdsDurably(node, entry.index, entry.term)) {
        this.fail(`${node} applied index ${entry.index} before its own disk held it durably`);
      }
      // A leader may apply async and semi-sync entries before they commit, even while a
      // newer leader it has not heard of commits others there: those are the writes that
      // async modes may lose, counted at the end. Every other apply must be committed.
      if (isLeader && !isStrict(entry.durability)) continue;
      const known = this.#committed.get(entry.index);
      if (known === undefined) {
        this.fail(
          `${node} applied index ${entry.index} (term ${entry.term}) before it was committed`,
        );
      } else if (!sameEntry(known, entry)) {
        this.fail(`${node} applied index ${entry.index} unlike the committed entry`);
      }
    }
  }

  /**
   * A write was acknowledged to its client: it is durable as its mode promises. Every mode
   * needs the leader's own synced copy (checked when the leader hands out the answer);
   * semi-sync one voter's besides; quorum and sync a committed entry (durable on a
   * majority, checked at commit); sync every voter's state machine showing it.
   */
  onAcknowledged(write: TrackedWrite): void {
    write.ackedAtMs = this.#now();
    const list = this.#ackedByKey.get(write.key);
    if (list === undefined) this.#ackedByKey.set(write.key, [write]);
    else list.push(write);
    const view = this.#view;
    const voters = view.voters(write.leader);
    if (write.durability === 'semi-sync') {
      // A voter then or now: a change between proposal and acknowledgement may remove the one.
      const others = [...new Set([...voters, ...write.votersAtPropose])].filter(
        (voter) => voter !== write.leader && view.holdsDurably(voter, write.index, write.term),
      );
      // Removing the one replica lets the writes that waited for it commit (DESIGN section 2).
      const replicaRemoved = voters.length === 1 && write.votersAtPropose.length > 1;
      if (others.length === 0 && !replicaRemoved) {
        this.fail(
          `semi-sync write ${write.id} acknowledged before any other voter held it durably`,
        );
      }
    }
    if (isStrict(write.durability)) {
      const known = this.#committed.get(write.index);
      if (known === undefined || known.term !== write.term || known.data !== write.data) {
        this.fail(`write ${write.id} acknowledged at index ${write.index} before it was committed`);
      }
    }
    if (write.durability === 'sync') {
      // The voters of the membership the write was proposed under that are voters still:
      // the leader decides when it settles the write, and the answer comes once the
      // leader's own apply ends, so a voter promoted in between is not one the write had.
      const behind = voters
        .filter((voter) => write.votersAtPropose.includes(voter))
        .filter((voter) => !view.hasApplied(voter, write));
      if (behind.length > 0) {
        this.fail(
          `sync write ${write.id} acknowledged before voter ${behind.join(', ')} applied it`,
        );
      }
    }
  }

  /**
   * A read returned. A linearizable one sees every write acknowledged before it began that
   * must survive (quorum and sync writes, in every mode); a `ryw` one sees the client's own
   * last such write.
   */
  onRead(read: TrackedRead): void {
    this.reads.push(read);
    const seen = new Set(read.values);
    const own = read.ownWrite;
    if (own !== null && this.#mustSurvive(own) && !seen.has(own.id)) {
      this.fail(`ryw read on ${read.node}: ${read.key} misses the client's own write ${own.id}`);
    }
    if (read.consistency !== 'linearizable') return;
    for (const write of this.#ackedByKey.get(read.key) ?? []) {
      if (
        write.ackedAtMs !== null &&
        write.ackedAtMs < read.startedAtMs &&
        this.#mustSurvive(write) &&
        !seen.has(write.id)
      ) {
        this.fail(
          `stale read on ${read.node}: ${read.key} misses ${write.id}, acknowledged before the read began`,
        );
        return;
      }
    }
  }

  #mustSurvive(write: TrackedWrite): boolean {
    return this.strict || isStrict(write.durability);
  }

  /**
   * End of run: acknowledged quorum and sync writes are in the committed history (async and
   * semi-sync ones lost at failover are counted); every read is a prefix of the final
   * history, except what a leader showed of its own async tail.
   */
  finish(finalLists: ReadonlyMap<string, readonly string[]>): { lostAsyncWrites: number } {
    let lostAsyncWrites = 0;
    for (const write of this.writes) {
      if (write.ackedAtMs === null) continue;
      const known = this.#committed.get(write.index);
      const kept = known !== undefined && known.term === write.term && known.data === write.data;
      if (kept) continue;
      if (isStrict(write.durability)) {
        this.fail(`acknowledged write ${write.id} (index ${write.index}) was lost`);
      } else {
        lostAsyncWrites++;
      }
    }
    for (const read of this.reads) {
      if (read.servedAsLeader && !this.strict) continue;
      const final = finalLists.get(read.key) ?? [];
      const at = read.values.findIndex((value, i) => final[i] !== value);
      if (at >= 0) {
        this.fail(
          `${read.consistency} read on ${read.node}${read.servedAsLeader ? '' : ' (not leading)'} at t=${read.finishedAtMs} of ${read.key} saw ${read.values[at]} where the final history has ${final[at] ?? 'nothing'}: not a prefix of it`,
        );
        break;
      }
    }
    return { lostAsyncWrites };
  }
}
