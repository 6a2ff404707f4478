/**
 * Deliberately broken variants of the core. Each breaks one rule the simulator's
 * invariants exist to protect; `npm run sim:mutants` proves that the simulator catches
 * every one. They live in test code only: the product never builds them.
 */
import { RaftCore, type CoreOptions } from '../../src/core/core.js';

/** Grants votes without Raft's election restriction (the log up-to-date check). */
class VoteWithoutLogCheck extends RaftCore {
  protected override isCandidateLogUpToDate(): boolean {
    return true;
  }
}

/** Commits an entry of an earlier term by counting replicas (Raft paper, figure 8). */
class CommitEarlierTermByCounting extends RaftCore {
  protected override mayCommitByCounting(): boolean {
    return true;
  }
}

/** Answers linearizable reads without confirming leadership: keeps serving after losing its lease. */
class ReadsWithoutLease extends RaftCore {
  protected override readsNeedQuorumConfirmation(): boolean {
    return false;
  }
}

/** A follower that applies entries as soon as it has them, before they commit. */
class ApplyBeforeCommit extends RaftCore {
  protected override applyLimit(): number {
    return this.role === 'leader' ? super.applyLimit() : this.log.stableIndex();
  }
}

/** A named mutant and how to build it. */
export interface Mutant {
  readonly name: string;
  readonly description: string;
  readonly makeCore: (options: CoreOptions) => RaftCore;
}

/** Every mutant the simulator must catch. */
export const mutants: readonly Mutant[] = [
  {
    name: 'vote-without-log-check',
    description: 'a vote granted without the log up-to-date check',
    makeCore: (options) => new VoteWithoutLogCheck(options),
  },
  {
    name: 'commit-earlier-term-by-counting',
    description: 'an entry from an earlier term committed by counting replicas',
    makeCore: (options) => new CommitEarlierTermByCounting(options),
  },
  {
    name: 'reads-without-lease',
    description: 'a leader that keeps acknowledging reads after losing its lease',
    makeCore: (options) => new ReadsWithoutLease(options),
  },
  {
    name: 'apply-before-commit',
    description: 'a follower that applies before the entry commits',
    makeCore: (options) => new ApplyBeforeCommit(options),
  },
];
