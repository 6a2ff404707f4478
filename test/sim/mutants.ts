/**
 * Deliberately broken variants of the core and of the driver. Each breaks one rule the
 * simulator's invariants exist to protect; `npm run sim:mutants` proves that the simulator
 * catches every one. They live in test code only: the product never builds them.
 */
import { RaftCore, type CoreOptions } from '../../src/core/core.js';
import type { Progress } from '../../src/core/progress.js';
import { messagesBySync, type MessagesBySync } from '../../src/core/ready.js';
import type { Entry, HardState, Message, Ready, SnapshotMeta } from '../../src/core/types.js';
import type { DriverRules } from '../../src/sim/node.js';
import { runSimulation, type SimulationResult } from '../../src/sim/simulator.js';

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

/** A node that moves to the term of a pre-vote request it receives: PreVote that disrupts. */
class PreVoteRaisesTerm extends RaftCore {
  protected override preVoteKeepsTerm(): boolean {
    return false;
  }
}

/** Acknowledges a `sync` write once the leader applied it, without waiting for every voter. */
class SyncWithoutEveryVoter extends RaftCore {
  protected override allVotersApplied(): boolean {
    return true;
  }
}

/** Lets a membership change begin while another is uncommitted. */
class TwoMembershipChanges extends RaftCore {
  protected override membershipChangePending(): boolean {
    return false;
  }
}

/** Installs a leader's snapshot even at or below its own commit index. */
class SnapshotAtOrBelowCommit extends RaftCore {
  protected override snapshotIsStale(_meta: SnapshotMeta): boolean {
    return false;
  }
}

/** A leader that applies and acknowledges semi-sync entries alone, as if they were async. */
class SemiSyncWithoutReplica extends RaftCore {
  protected override applyLimit(): number {
    let limit = super.applyLimit();
    if (this.role !== 'leader') return limit;
    const local = (entry: Entry | undefined): boolean =>
      entry?.durability === 'async' || entry?.durability === 'semi-sync';
    while (limit < this.log.stableIndex() && local(this.log.entry(limit + 1))) limit++;
    return limit;
  }
}

/** Heartbeats carry the leader's whole commit index, beyond what the follower is known to match. */
class HeartbeatCommitBeyondMatch extends RaftCore {
  protected override heartbeatCommit(_progress: Progress): number {
    return this.log.commit;
  }
}

/** A deposed leader that keeps serving the async tail it applied beyond the commit index. */
class StepDownKeepsTail extends RaftCore {
  protected override rollsBackWhenDeposed(): boolean {
    return false;
  }
}

/** Semi-sync counting a learner's copy as the one other replica. */
class SemiSyncCountsLearners extends RaftCore {
  protected override semiSyncReplicated(index: number): boolean {
    return [...this.progress.values()].some((progress) => progress.match >= index);
  }
}

/**
 * `messagesBySync` broken: while a Ready keeps the term and vote, the messages that pass
 * `early` leave before its writes are synced instead of after.
 */
function sendsBeforeSync(
  early: (message: Message) => boolean,
): (ready: Ready, durable: HardState, current: HardState) => MessagesBySync {
  return (ready, durable, current) => {
    const split = messagesBySync(ready, durable, current);
    const keepsTermAndVote = current.term === durable.term && current.vote === durable.vote;
    if (!keepsTermAndVote || ready.snapshot !== null || ready.rollback !== null) return split;
    return {
      beforeSync: [...split.beforeSync, ...split.afterSync.filter(early)],
      afterSync: split.afterSync.filter((message) => !early(message)),
    };
  };
}

/** A follower's append answers before its sync: the leader counts entries it may still lose. */
const appendAnswersBeforeSync = sendsBeforeSync((message) => message.type === 'append-response');

/**
 * A relay forwards (as it should) before its own sync, and sends its answers upstream,
 * which speak for itself too, before its sync as well.
 */
const relayAnswersBeforeSync = sendsBeforeSync(
  (message) => message.type === 'append-response' && message.covers !== undefined,
);

/** `messagesBySync` holding heartbeat answers until the syncs before them end. */
function heartbeatAnswersAfterSync(
  ready: Ready,
  durable: HardState,
  current: HardState,
): MessagesBySync {
  const split = messagesBySync(ready, durable, current);
  const late = (message: Message): boolean => message.type === 'heartbeat-response';
  return {
    beforeSync: split.beforeSync.filter((message) => !late(message)),
    afterSync: [...split.afterSync, ...split.beforeSync.filter(late)],
  };
}

/** Applies committed entries its own disk may not hold yet (they are being synced). */
class AppliesBeforeFsync extends RaftCore {
  protected override durableApplyLimit(): number {
    return this.log.lastIndex();
  }
}

/** Answers every write a Ready's leader holds, applied or not (so before it commits). */
class AnswersBeforeApplying extends RaftCore {
  protected override answeredThrough(): number {
    return this.log.lastIndex();
  }
}

/**
 * Holds partial appends back while one is in flight even when the leader means to send
 * regardless (a heartbeat's answer after a lost append): the entries never go.
 */
class HoldsBackForever extends RaftCore {
  protected override holdsBack(progress: Progress, count: number): boolean {
    return super.holdsBack(progress, count, false);
  }
}

/**
 * Sends its append answers with the Ready that hands out the first part of the entries
 * they cover (`maxReadyEntryBytes`), so they claim entries durable that are not yet.
 */
class AnswersAppendsBeforeAllHanded extends RaftCore {
  protected override holdsAppendAnswers(): boolean {
    return false;
  }
}

/**
 * A relay that tells its upstream a member it feeds holds what it sent that member, not
 * what the member answered: the leader counts copies that may not exist.
 */
class RelayAcksBeforeDownstream extends RaftCore {
  protected override claimedIndex(progress: Progress): number {
    return progress.sentIndex;
  }
}

/** A chain's leader that sends appends to every member as well as to the head. */
class ChainLeaderFeedsEveryone extends RaftCore {
  protected override feedsChainDirectly(): boolean {
    return true;
  }
}

/** A named mutant: a broken core, a broken driver rule, or both. */
export interface Mutant {
  readonly name: string;
  readonly description: string;
  readonly makeCore?: (options: CoreOptions) => RaftCore;
  readonly driver?: Partial<DriverRules>;
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
  {
    name: 'pre-vote-raises-term',
    description: 'a pre-vote request that moves its receiver to the next term',
    makeCore: (options) => new PreVoteRaisesTerm(options),
  },
  {
    name: 'sync-without-every-voter',
    description: 'a sync write acknowledged before every voter applied it',
    makeCore: (options) => new SyncWithoutEveryVoter(options),
  },
  {
    name: 'two-membership-changes',
    description: 'a membership change begun while another is uncommitted',
    makeCore: (options) => new TwoMembershipChanges(options),
  },
  {
    name: 'snapshot-at-or-below-commit',
    description: 'a snapshot installed at or below the commit index',
    makeCore: (options) => new SnapshotAtOrBelowCommit(options),
  },
  {
    name: 'semi-sync-without-replica',
    description: 'a semi-sync write acknowledged before any replica has it',
    makeCore: (options) => new SemiSyncWithoutReplica(options),
  },
  {
    name: 'heartbeat-commit-beyond-match',
    description: "a heartbeat that commits entries the follower's log may not share",
    makeCore: (options) => new HeartbeatCommitBeyondMatch(options),
  },
  {
    name: 'step-down-keeps-tail',
    description: 'a deposed leader that keeps its uncommitted async tail applied',
    makeCore: (options) => new StepDownKeepsTail(options),
  },
  {
    name: 'semi-sync-counts-learners',
    description: "a semi-sync write acknowledged on a learner's copy",
    makeCore: (options) => new SemiSyncCountsLearners(options),
  },
  {
    name: 'answers-before-applying',
    description: 'a leader that answers the writes of a Ready before they are applied',
    makeCore: (options) => new AnswersBeforeApplying(options),
  },
  {
    name: 'holds-back-forever',
    description: 'a leader that holds entries back behind a lost append until a new one comes',
    makeCore: (options) => new HoldsBackForever(options),
  },
  {
    name: 'answers-appends-before-all-handed',
    description: 'answers an append with the Ready that hands out only part of its entries',
    makeCore: (options) => new AnswersAppendsBeforeAllHanded(options),
  },
  {
    name: 'follower-acks-before-fsync',
    description: 'a follower that acknowledges an append before its fsync',
    driver: { messagesBySync: appendAnswersBeforeSync },
  },
  {
    name: 'leader-counts-own-unsynced',
    description: 'a leader that counts and applies its own entries before they are synced',
    driver: {
      persistsBeforeSync: (_ready, messages) => messages.afterSync.length === 0,
    },
  },
  {
    name: 'waits-for-disk',
    description: 'a node that takes no Ready while a sync runs (its heartbeats wait for the disk)',
    driver: { takesWhileSyncing: false },
  },
  {
    name: 'heartbeat-answers-after-sync',
    description: "a follower whose heartbeat answers wait for its disk's syncs",
    driver: { messagesBySync: heartbeatAnswersAfterSync },
  },
  {
    name: 'sync-covers-later-writes',
    description: 'a sync taken to cover the writes queued after it began',
    driver: { syncCoversLaterWrites: true },
  },
  {
    name: 'relay-acks-before-downstream',
    description:
      'a chain relay that acknowledges for the member after it before that member has the entries',
    makeCore: (options) => new RelayAcksBeforeDownstream(options),
  },
  {
    name: 'relay-acks-before-own-fsync',
    description:
      'a chain relay that forwards before its fsync and also acknowledges for itself before it',
    driver: { messagesBySync: relayAnswersBeforeSync },
  },
  {
    name: 'chain-leader-feeds-everyone',
    description: 'a chain leader that sends appends to every member besides the head',
    makeCore: (options) => new ChainLeaderFeedsEveryone(options),
  },
  {
    name: 'applies-before-fsync',
    description: 'a node that applies entries while the fsync that makes them durable runs',
    makeCore: (options) => new AppliesBeforeFsync(options),
  },
];

/** How a search for a seed that catches a mutant ended. */
export interface MutantSearch {
  /** The first seed that fails against the mutant and passes against the real core, if any. */
  readonly caught: SimulationResult | null;
  readonly seedsRun: number;
  /** Seeds that failed against the real core as well (they prove nothing about the mutant). */
  readonly seedsFailingAnyway: readonly number[];
}

/**
 * Runs seeds `from ..` against the mutant until one catches it. A seed counts only if the
 * real core passes it: a seed that finds a bug of the real core says nothing of the mutant.
 */
export function findCatchingSeed(mutant: Mutant, from: number, maxSeeds: number): MutantSearch {
  const seedsFailingAnyway: number[] = [];
  for (let seed = from; seed < from + maxSeeds; seed++) {
    const result = runSimulation({ seed, makeCore: mutant.makeCore, driver: mutant.driver });
    if (result.violations.length === 0) continue;
    if (runSimulation({ seed }).violations.length > 0) {
      seedsFailingAnyway.push(seed);
      continue;
    }
    return { caught: result, seedsRun: seed - from + 1, seedsFailingAnyway };
  }
  return { caught: null, seedsRun: maxSeeds, seedsFailingAnyway };
}
