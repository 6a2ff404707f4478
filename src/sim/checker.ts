import type { Durability, Entry, NodeId, Ready } from '../core/types.js';

/** A write the workload sent and the leader accepted into its log. */
export interface TrackedWrite {
  readonly id: string;
  readonly key: string;
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly durability: Durability;
  /** Virtual time of acknowledgement, or null while unacknowledged. */
  ackedAtMs: number | null;
}

/** A linearizable read as the workload saw it. */
export interface TrackedRead {
  readonly key: string;
  readonly node: NodeId;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  readonly values: readonly string[];
}

function sameEntry(a: Entry, b: Entry): boolean {
  return a.term === b.term && a.kind === b.kind && a.data === b.data;
}

/**
 * The simulator's invariants, checked as events happen:
 * - at most one leader per term, elected by a majority of the voters of its own
 *   membership (so a learner's vote never elects anyone);
 * - every node's log agrees with every other up to its commit index, and a leader moves
 *   its commit index only onto an entry of its own term;
 * - a node applies only committed entries (a leader may run ahead only on async and
 *   semi-sync entries), so every applied sequence is a prefix of one history;
 * - in quorum and sync modes an acknowledged write is committed, and stays so;
 * - a linearizable read sees every write acknowledged before it started, and only values
 *   of the final history.
 * In async and semi-sync modes acknowledged writes lost at failover are counted, not
 * reported as violations.
 */
export class Checker {
  readonly violations: string[] = [];
  readonly #durability: Durability;
  readonly #leaderByTerm = new Map<number, NodeId>();
  /** Real votes granted, by `term/candidate`. */
  readonly #grants = new Map<string, Set<NodeId>>();
  /** The one committed history: index -> entry, first seen at commit. */
  readonly #committed = new Map<number, Entry>();
  readonly #checkedCommit = new Map<NodeId, number>();
  /** Each node's role and term as of its last Ready. */
  readonly #roles = new Map<NodeId, { role: string; term: number }>();
  readonly writes: TrackedWrite[] = [];
  readonly reads: TrackedRead[] = [];
  readonly #ackedByKey = new Map<string, TrackedWrite[]>();
  #now: () => number;

  constructor(durability: Durability, now: () => number) {
    this.#durability = durability;
    this.#now = now;
  }

  /** Whether acknowledged writes must survive any failure in this run's mode. */
  get strict(): boolean {
    return this.#durability === 'quorum' || this.#durability === 'sync';
  }

  /** Records a violation (the first ones are what a replay prints). */
  fail(message: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.#now()}ms ${message}`);
  }

  /** A node restarted: its log is checked again from the start. */
  onRestart(node: NodeId): void {
    this.#checkedCommit.set(node, 0);
    this.#roles.delete(node);
  }

  /** Checks a Ready as the driver takes it: leaders, commits, votes. */
  onReady(
    node: NodeId,
    ready: Ready,
    entryAt: (index: number) => Entry | undefined,
    voters: readonly NodeId[],
  ): void {
    for (const message of ready.messages) {
      if (message.type !== 'vote-response' || !message.granted || message.preVote) continue;
      const key = `${message.term}/${message.to}`;
      const grants = this.#grants.get(key);
      if (grants === undefined) this.#grants.set(key, new Set([node]));
      else grants.add(node);
    }
    if (ready.softState?.role === 'leader') this.#checkElection(node, ready.softState.term, voters);
    if (ready.hardState !== null) {
      this.#checkLeaderCommitRule(node, ready, entryAt);
      this.#checkCommitted(node, ready.hardState.commit, entryAt);
    }
    const role = ready.softState ?? this.#roles.get(node);
    if (role !== undefined) this.#roles.set(node, { role: role.role, term: role.term });
  }

  /**
   * Raft's commit rule (section 5.4.2): a leader moves its commit index only onto an entry
   * of its own term; earlier entries commit with it. Checked between two Readies of one
   * leadership, when every commit change was the leader's own doing.
   */
  #checkLeaderCommitRule(
    node: NodeId,
    ready: Ready,
    entryAt: (index: number) => Entry | undefined,
  ): void {
    const before = this.#roles.get(node);
    const now = ready.softState ?? before;
    if (before?.role !== 'leader' || now?.role !== 'leader' || now.term !== before.term) return;
    const commit = (ready.hardState as { commit: number }).commit;
    if (commit <= (this.#checkedCommit.get(node) ?? 0)) return;
    const entry = entryAt(commit);
    if (entry !== undefined && entry.term !== now.term) {
      this.fail(
        `${node}, leader of term ${now.term}, moved its commit index onto index ${commit} of term ${entry.term}`,
      );
    }
  }

  /** One leader per term, elected by a majority of its own voters (learners' grants never count). */
  #checkElection(node: NodeId, term: number, voters: readonly NodeId[]): void {
    const other = this.#leaderByTerm.get(term);
    if (other !== undefined && other !== node)
      this.fail(`two leaders in term ${term}: ${other} and ${node}`);
    this.#leaderByTerm.set(term, node);
    const grants = this.#grants.get(`${term}/${node}`) ?? new Set<NodeId>();
    const votes = voters.filter((voter) => voter === node || grants.has(voter)).length;
    if (votes < Math.floor(voters.length / 2) + 1) {
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

  /** Checks entries a node applies. */
  onApply(node: NodeId, entries: readonly Entry[], isLeader: boolean): void {
    for (const entry of entries) {
      // A leader may apply async and semi-sync entries before they commit, even while a
      // newer leader it has not heard of commits others there: those are the writes that
      // async modes may lose, counted at the end. Every other apply must be committed.
      if (isLeader && (entry.durability === 'async' || entry.durability === 'semi-sync')) continue;
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

  /** A write was acknowledged to its client. */
  onAcknowledged(write: TrackedWrite): void {
    write.ackedAtMs = this.#now();
    const list = this.#ackedByKey.get(write.key);
    if (list === undefined) this.#ackedByKey.set(write.key, [write]);
    else list.push(write);
    if (write.durability === 'quorum' || write.durability === 'sync') {
      const known = this.#committed.get(write.index);
      if (known === undefined || known.term !== write.term || known.data !== write.data) {
        this.fail(`write ${write.id} acknowledged at index ${write.index} before it was committed`);
      }
    }
  }

  /** A linearizable read returned: it must see every write acknowledged before it began. */
  onRead(read: TrackedRead): void {
    this.reads.push(read);
    if (!this.strict) return;
    const seen = new Set(read.values);
    for (const write of this.#ackedByKey.get(read.key) ?? []) {
      if (write.ackedAtMs !== null && write.ackedAtMs < read.startedAtMs && !seen.has(write.id)) {
        this.fail(
          `stale read on ${read.node}: ${read.key} misses ${write.id}, acknowledged before the read began`,
        );
        return;
      }
    }
  }

  /**
   * End of run: acknowledged writes must be in the committed history (counted as lost in
   * async and semi-sync modes), and every read must be a prefix of the final history.
   */
  finish(finalLists: ReadonlyMap<string, readonly string[]>): { lostAsyncWrites: number } {
    let lostAsyncWrites = 0;
    for (const write of this.writes) {
      if (write.ackedAtMs === null) continue;
      const known = this.#committed.get(write.index);
      const kept = known !== undefined && known.term === write.term && known.data === write.data;
      if (kept) continue;
      if (write.durability === 'quorum' || write.durability === 'sync') {
        this.fail(`acknowledged write ${write.id} (index ${write.index}) was lost`);
      } else {
        lostAsyncWrites++;
      }
    }
    if (this.strict) {
      for (const read of this.reads) {
        const final = finalLists.get(read.key) ?? [];
        if (read.values.some((value, i) => final[i] !== value)) {
          this.fail(
            `read on ${read.node} of ${read.key} saw a history that is not a prefix of the final one`,
          );
          break;
        }
      }
    }
    return { lostAsyncWrites };
  }
}
