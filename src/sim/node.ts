import { assert } from '../core/assert.js';
import type { CoreConfig } from '../core/config.js';
import type { CoreOptions, RaftCore } from '../core/core.js';
import { TandemError } from '../core/errors.js';
import { Prng } from '../core/prng.js';
import { Inbox } from '../core/inbox.js';
import {
  pipelineRules,
  ReadyPipeline,
  type PipelineDriver,
  type PipelineRules,
} from '../core/pipeline.js';
import { allMembers } from '../core/membership.js';
import { topologyOf } from '../core/types.js';
import type {
  Durability,
  Entry,
  Membership,
  MembershipChange,
  Message,
  NodeId,
  ProposalOutcome,
  Ready,
  Role,
  SnapshotMeta,
} from '../core/types.js';
import type { Checker } from './checker.js';
import { SimDisk, type CrashDamage } from './disk.js';
import type { EventQueue } from './event-queue.js';
import { emptySnapshotData, ListStore } from './state-machine.js';

/** Builds a core; the mutation tests pass one that builds deliberately broken variants. */
export type CoreFactory = (options: CoreOptions) => RaftCore;

/**
 * How a driver carries out Readies: the pipeline's rules (`core/pipeline.ts`). The
 * mutation tests pass broken ones to prove the checks catch a broken driver too.
 */
export type DriverRules = PipelineRules;

/** The rules the node runtime follows. */
export const runtimeDriverRules: DriverRules = pipelineRules;

/** What a simulated node needs from the world around it. */
export interface SimWorld {
  readonly queue: EventQueue;
  readonly random: Prng;
  readonly checker: Checker;
  readonly makeCore: CoreFactory;
  readonly driver: DriverRules;
  /** Draws how long one fsync takes, in virtual ms. */
  fsyncDelayMs(): number;
  /** Draws how long one apply takes, in virtual ms (0: at once, as the in-memory store). */
  applyDelayMs(): number;
  send(message: Message): void;
  trace(line: string): void;
  /** Told when this node becomes leader (the fault schedule may crash new leaders). */
  onLeader(node: SimNode): void;
}

/** How a client call ended. */
export type CallResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** The read consistencies of the node runtime (`node/api.ts`). */
export type ReadConsistency = 'linearizable' | 'stale' | 'bounded' | 'ryw';

/** A client read of one key. */
export interface ReadRequest {
  readonly key: string;
  readonly consistency: ReadConsistency;
  /** For `bounded`: how far this node's applied index may trail its commit index. */
  readonly maxLagEntries: number;
  /** For `ryw`: the index this node must have applied first. */
  readonly afterIndex: number;
  /** For `ryw`: the term of that write, which this node's log must hold at `afterIndex`. */
  readonly afterTerm: number;
}

/** What a read returned, and whether the node believed it led when it answered. */
export interface ReadAnswer {
  readonly values: string[];
  readonly servedAsLeader: boolean;
}

type ReadDone = (result: CallResult<ReadAnswer>) => void;

interface WaitingRead {
  readonly index: number;
  /** The term the entry at `index` must have (0: any). */
  readonly term: number;
  readonly key: string;
  readonly done: ReadDone;
}

/** How a node is built: its core's config (check-quorum differs as the runtime sets it) and compaction. */
export interface SimNodeOptions {
  readonly config: Partial<CoreConfig>;
  readonly compactEveryEntries: number;
}

/** Maximum messages buffered for a paused or busy node before new ones are dropped. */
const inboxMessagesMax = 10_000;
/** Maximum client calls buffered for a busy node. */
const deferredCallsMax = 1_000;
/** Maximum reads waiting for this node to apply their index. */
const waitingReadsMax = 1_000;

/**
 * One simulated node: the core driven exactly as the runtime drives it, through the same
 * `ReadyPipeline`. Readies are written to the simulated disk and synced after a simulated
 * fsync delay, one sync at a time, while messages, ticks and calls go on being stepped;
 * committed entries are applied at once or after a simulated delay. A paused node does
 * nothing: what completes while it is paused waits until it resumes.
 */
export class SimNode {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  store = new ListStore();
  core: RaftCore | null = null;
  paused = false;
  readonly #world: SimWorld;
  readonly #bootstrap: Membership;
  /** The leader's chain changes count at its last Ready while the chain was whole, or -1. */
  #chainChangesAtLastReady = -1;
  readonly #coreSeed: number;
  readonly #config: Partial<CoreConfig>;
  readonly #compactEveryEntries: number;
  /** Syncs do not finish before this virtual time (a stalled disk). */
  #diskStalledUntilMs = 0;
  /** The voters when the core last handed out a Ready: a commit decided since counted them. */
  #votersAtLastReady: readonly NodeId[] = [];
  #snapshot: { meta: SnapshotMeta; data: Uint8Array };
  #incarnation = 0;
  #pipeline: ReadyPipeline | null = null;
  /** Completions (of syncs and applies) that came while the node was paused. */
  #heldCompletions: (() => void)[] = [];
  #role: Role = 'follower';
  /** The term this node last reported leading. */
  #leaderTerm = 0;
  /**
   * Committed entries handed out while this node led: a leader may apply its async tail
   * before it commits, and the apply may start after it stepped down (the rollback that
   * follows undoes it).
   */
  #handedAsLeader = new WeakSet<Entry>();
  /** As the runtime: set from taking a rollback until its Ready's entries are re-applied. */
  #rollingBack = false;
  readonly #inbox = new Inbox(inboxMessagesMax);
  #deferred: (() => void)[] = [];
  #readSeq = 0;
  #reads = new Map<string, { key: string; done: ReadDone }>();
  #waitingReads: WaitingRead[] = [];
  #proposals = new Map<string, (outcome: ProposalOutcome['outcome']) => void>();

  constructor(id: NodeId, bootstrap: Membership, world: SimWorld, options: SimNodeOptions) {
    this.id = id;
    this.#world = world;
    this.#bootstrap = bootstrap;
    this.#coreSeed = world.random.uint32();
    this.#config = options.config;
    this.#compactEveryEntries = options.compactEveryEntries;
    this.#snapshot = {
      meta: { index: 0, term: 0, membership: bootstrap },
      data: emptySnapshotData(),
    };
  }

  get up(): boolean {
    return this.core !== null;
  }

  get role(): Role {
    return this.#role;
  }

  /** Starts (or restarts) the node from what its disk and state machine hold. */
  start(): void {
    assert(this.core === null, `${this.id} is already running`);
    this.#incarnation++;
    this.#snapshot = this.disk.readSnapshot() ?? this.#snapshot;
    const persisted = this.disk.load();
    const logEnd = (persisted.snapshot?.index ?? 0) + persisted.entries.length;
    // A crash between writing a received snapshot and restoring the state machine from it
    // leaves the store behind the snapshot, or (after a rollback of an async tail) ahead of
    // the log: either way the snapshot on disk is the truth.
    if (this.#snapshot.meta.index > this.store.applied || this.store.applied > logEnd) {
      this.store.restore(this.#snapshot.meta, this.#snapshot.data);
      this.#world.trace(
        `${this.id} restored its state machine from the snapshot at ${this.#snapshot.meta.index}`,
      );
    }
    this.core = this.#world.makeCore({
      id: this.id,
      random: new Prng(this.#coreSeed + this.#incarnation),
      config: this.#config,
      persisted: { ...persisted, applied: this.store.applied },
      bootstrap: this.#bootstrap,
    });
    this.#role = 'follower';
    this.#votersAtLastReady = this.core.membership.voters;
    this.#pipeline = this.#makePipeline(this.core);
    this.#world.checker.onRestart(this.id, this.core.status().commit);
    this.#world.trace(`${this.id} start (applied ${this.store.applied})`);
  }

  /** Kills the node: unsynced writes may be lost or torn; pending calls fail. */
  crash(): CrashDamage {
    assert(this.core !== null, `${this.id} is not running`);
    this.core = null;
    this.#incarnation++;
    this.#pipeline?.stop();
    this.#pipeline = null;
    this.#heldCompletions = [];
    this.#rollingBack = false;
    this.#inbox.clear();
    this.paused = false;
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const call of deferred) call();
    this.#failClientCalls('node crashed');
    const damage = this.disk.crash(this.#world.random);
    if (this.#role === 'leader') {
      // Elected in a Ready still being synced (a single voter votes for itself and leads
      // at once): if its vote did not reach the disk, it never led, and may vote again.
      const durable = this.disk.hardState;
      if (durable.term !== this.#leaderTerm || durable.vote !== this.id)
        this.#world.checker.onLeaderClaimLost(this.id, this.#leaderTerm);
    }
    this.#world.trace(
      `${this.id} crash (kept ${damage.writesKept}, lost ${damage.writesLost}${damage.torn ? ', torn' : ''})`,
    );
    return damage;
  }

  pause(): void {
    this.paused = true;
    this.#world.trace(`${this.id} pause`);
  }

  resume(): void {
    this.paused = false;
    this.#world.trace(`${this.id} resume`);
    const held = this.#heldCompletions;
    this.#heldCompletions = [];
    for (const completion of held) completion();
    this.#pump();
  }

  /** Holds every sync of this node's disk until `untilMs` (a disk that stalls). */
  stallDisk(untilMs: number): void {
    this.#diskStalledUntilMs = Math.max(this.#diskStalledUntilMs, untilMs);
    this.#world.trace(`${this.id} disk stalls until t=${untilMs}`);
  }

  tick(): void {
    if (this.core === null || this.paused) return;
    this.#inbox.tick();
    this.#pump();
  }

  receive(message: Message): void {
    if (this.core === null) return;
    if (!this.#inbox.push(message)) return;
    this.#pump();
  }

  /** A client write: `done` gets the proposal's outcome, or the error that kept it out of the log. */
  propose(
    data: Uint8Array,
    durability: Durability | undefined,
    accepted: (receipt: { index: number; term: number }) => void,
    done: (result: CallResult<ProposalOutcome['outcome']>) => void,
  ): void {
    this.#call(done, (core) => {
      const receipt = core.propose(data, durability);
      accepted(receipt);
      this.#proposals.set(`${receipt.index}:${receipt.term}`, (outcome) =>
        done({ ok: true, value: outcome }),
      );
    });
  }

  /**
   * A client read, served as the runtime serves it: `stale` at once; `bounded` when this
   * node's applied index is within `maxLagEntries` of its commit index and a leader is
   * known; `ryw` once `afterIndex` is applied; `linearizable` through ReadIndex, then once
   * that index is applied. A paused process answers nothing until it resumes.
   */
  read(request: ReadRequest, done: ReadDone): void {
    if (this.core === null) return done({ ok: false, error: 'connection refused' });
    // As the runtime: a node told it was removed serves nothing.
    if (this.core.removedAt > 0) return done({ ok: false, error: 'TANDEM_REMOVED' });
    if (request.consistency === 'linearizable') return this.#readLinearizable(request.key, done);
    if (this.paused) return this.#call(done, () => this.#readLocally(request, done));
    this.#readLocally(request, done);
  }

  #readLocally(request: ReadRequest, done: ReadDone): void {
    const core = this.core as RaftCore;
    if (request.consistency === 'bounded') {
      const status = core.status();
      const lag = status.commit - this.store.applied;
      if (status.leaderId === null || lag > request.maxLagEntries) {
        return done({ ok: false, error: 'TANDEM_NOT_CAUGHT_UP' });
      }
    }
    const ryw = request.consistency === 'ryw';
    this.#serveWhenApplied(
      ryw ? request.afterIndex : 0,
      ryw ? request.afterTerm : 0,
      request.key,
      done,
    );
  }

  #readLinearizable(key: string, done: ReadDone): void {
    this.#call(done, (core) => {
      const readId = `${this.id}/${this.#incarnation}/${++this.#readSeq}`;
      this.#reads.set(readId, { key, done });
      core.readIndex(readId);
    });
  }

  #serveWhenApplied(index: number, term: number, key: string, done: ReadDone): void {
    // As the runtime: nothing is read while a rollback the core decided is not yet done.
    if (!this.#holdsReads() && this.#holdsWrite(index, term)) return this.#answerRead(key, done);
    if (this.#waitingReads.length >= waitingReadsMax) return done({ ok: false, error: 'busy' });
    this.#waitingReads.push({ index, term, key, done });
  }

  /** As the runtime: `index` applied and, for a ryw read, the log holds that very write. */
  #holdsWrite(index: number, term: number): boolean {
    if (this.store.applied < index) return false;
    return term === 0 || index === 0 || (this.core?.settledWrite(index, term) ?? false);
  }

  #answerRead(key: string, done: ReadDone): void {
    done({
      ok: true,
      value: { values: this.store.read(key), servedAsLeader: this.#role === 'leader' },
    });
  }

  /** A membership change through this node's core, checked against the one-at-a-time rule. */
  changeMembers(change: MembershipChange, done: (result: CallResult<null>) => void): void {
    this.#call(done, (core) => {
      const before = membershipChangeState(core);
      core.changeMembers(change);
      this.#world.checker.onMembershipChange(this.id, core.term, before);
      done({ ok: true, value: null });
    });
  }

  /** Runs an operator call (membership change, transfer) against the core. */
  admin(action: (core: RaftCore) => void, done: (result: CallResult<null>) => void): void {
    this.#call(done, (core) => {
      action(core);
      done({ ok: true, value: null });
    });
  }

  #call<T>(done: (result: CallResult<T>) => void, action: (core: RaftCore) => void): void {
    const attempt = (): void => {
      const core = this.core;
      if (core === null) return done({ ok: false, error: 'connection refused' });
      try {
        action(core);
      } catch (error) {
        if (!(error instanceof TandemError)) throw error;
        return done({ ok: false, error: error.code });
      }
    };
    if (this.core === null) return done({ ok: false, error: 'connection refused' });
    if (this.#deferred.length >= deferredCallsMax) return done({ ok: false, error: 'busy' });
    this.#deferred.push(attempt);
    this.#pump();
  }

  /** Feeds the core whatever waits, then takes every Ready it has. */
  #pump(): void {
    for (;;) {
      const core = this.core;
      if (core === null || this.paused) return;
      // As the runtime: peer messages and ticks in the order they came, then client calls.
      this.#inbox.drain(core);
      if (this.#deferred.length === 0) break;
      const calls = this.#deferred;
      this.#deferred = [];
      for (const call of calls) call();
    }
    this.#pipeline?.pump();
  }

  #makePipeline(core: RaftCore): ReadyPipeline {
    const incarnation = this.#incarnation;
    /** Runs a completion of this incarnation now, or when the node resumes. */
    const complete = (completion: () => void): void => {
      if (this.#incarnation !== incarnation) return; // crashed meanwhile
      if (this.paused) this.#heldCompletions.push(completion);
      else completion();
    };
    const driver: PipelineDriver = {
      taken: (ready) => this.#taken(core, ready),
      send: (messages) => this.#sendAll(messages),
      write: (ready) => {
        this.disk.writeEntries(ready.entries);
        if (ready.hardState !== null) this.disk.writeHardState(ready.hardState);
      },
      startSync: () => {
        const mark = this.disk.mark();
        const delayMs = Math.max(
          this.#world.fsyncDelayMs(),
          this.#diskStalledUntilMs - this.#world.queue.now,
        );
        this.#world.queue.schedule(delayMs, () =>
          complete(() => {
            this.disk.syncThrough(mark);
            pipeline.synced();
            this.#pump();
          }),
        );
      },
      startApply: (entries) => this.#startApply(core, entries, () => pipeline, complete),
      startBarrier: (ready) => {
        this.#installBarrier(ready);
        pipeline.barrierDone();
      },
      answer: (ready) => this.#answer(ready),
    };
    const pipeline = new ReadyPipeline(core, driver, this.#world.driver);
    return pipeline;
  }

  #taken(core: RaftCore, ready: Ready): void {
    if (ready.softState !== null) {
      this.#role = ready.softState.role;
      if (ready.softState.role === 'leader') {
        this.#leaderTerm = ready.softState.term;
        this.#world.trace(`${this.id} leads term ${ready.softState.term}`);
      }
      this.#world.onLeader(this);
    }
    this.#world.checker.onReady(this.id, ready, (index) => core.entryAt(index), [
      core.membership.voters,
      this.#votersAtLastReady,
    ]);
    this.#votersAtLastReady = core.membership.voters;
    this.#checkChain(core, ready);
    if (this.#role === 'leader') {
      for (const entry of ready.committedEntries) this.#handedAsLeader.add(entry);
    }
    if (ready.rollback !== null) this.#rollingBack = true;
  }

  /** A leader's Ready while its chain held every other member, unchanged since the last: appends to the head alone. */
  #checkChain(core: RaftCore, ready: Ready): void {
    const shape = core.chainShape;
    const whole =
      this.#role === 'leader' &&
      topologyOf(core.membership) === 'chain' &&
      shape.length === allMembers(core.membership).length - 1 &&
      shape.length > 0;
    if (whole && this.#chainChangesAtLastReady === shape.changes) {
      this.#world.checker.onChainReady(this.id, ready.messages);
    }
    this.#chainChangesAtLastReady = whole ? shape.changes : -1;
  }

  #sendAll(messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.type === 'snapshot') {
        // As the runtime: the latest snapshot goes, even one taken after the core decided
        // to send (it names an index at or below the commit index all the same).
        this.#world.send({ ...message, meta: this.#snapshot.meta, data: this.#snapshot.data });
      } else {
        this.#world.send(message);
      }
    }
  }

  /** Applies at once, or after a drawn delay: the checks run when the apply starts. */
  #startApply(
    core: RaftCore,
    entries: readonly Entry[],
    pipeline: () => ReadyPipeline,
    complete: (completion: () => void) => void,
  ): void {
    const asLeader = entries.filter((entry) => this.#handedAsLeader.has(entry));
    const asFollower = entries.filter((entry) => !this.#handedAsLeader.has(entry));
    if (asLeader.length > 0) this.#world.checker.onApply(this.id, asLeader, true);
    if (asFollower.length > 0) this.#world.checker.onApply(this.id, asFollower, false);
    const finish = (): void => {
      this.store.apply(entries);
      pipeline().appliedDone();
      this.#maybeCompact(core);
    };
    const delayMs = this.#world.applyDelayMs();
    if (delayMs === 0) return finish();
    this.#world.queue.schedule(delayMs, () =>
      complete(() => {
        finish();
        this.#pump();
      }),
    );
  }

  /** A rollback or a received snapshot, carried out with nothing else in flight. */
  #installBarrier(ready: Ready): void {
    if (ready.rollback !== null) {
      // Before the log changes: a crash after this leaves a state machine that the old log
      // re-applies up to the commit index, never one ahead of the new log.
      assert(
        ready.rollback.index === this.#snapshot.meta.index,
        `${this.id} has no snapshot at ${ready.rollback.index}`,
      );
      this.store.restore(this.#snapshot.meta, this.#snapshot.data);
      this.#world.trace(
        `${this.id} rolled its state machine back to its snapshot at ${ready.rollback.index}`,
      );
    }
    if (ready.snapshot !== null) {
      // As the runtime does: the snapshot is stored and the state machine restored from it
      // before the Ready's other writes.
      this.disk.saveSnapshot(ready.snapshot.meta, ready.snapshot.data);
      this.store.restore(ready.snapshot.meta, ready.snapshot.data);
      this.#snapshot = ready.snapshot;
      this.#world.trace(`${this.id} installed snapshot at ${ready.snapshot.meta.index}`);
    }
  }

  /** The Ready's entries are applied: answer its proposals and read states. */
  #answer(ready: Ready): void {
    if (ready.rollback !== null) this.#rollingBack = false;
    for (const response of ready.responses) {
      const key = `${response.index}:${response.term}`;
      const waiter = this.#proposals.get(key);
      this.#proposals.delete(key);
      waiter?.(response.outcome);
    }
    for (const readState of ready.readStates) {
      const read = this.#reads.get(readState.readId);
      if (read === undefined) continue;
      this.#reads.delete(readState.readId);
      if (readState.error !== null) read.done({ ok: false, error: readState.error });
      else
        this.#waitingReads.push({
          index: readState.index,
          term: 0,
          key: read.key,
          done: read.done,
        });
    }
    this.#serveReads();
  }

  #holdsReads(): boolean {
    return this.#rollingBack || (this.core?.rollbackPending ?? false);
  }

  #serveReads(): void {
    if (this.#waitingReads.length === 0 || this.#holdsReads()) return;
    const still: WaitingRead[] = [];
    for (const read of this.#waitingReads) {
      if (this.#holdsWrite(read.index, read.term)) this.#answerRead(read.key, read.done);
      else still.push(read);
    }
    this.#waitingReads = still;
  }

  #maybeCompact(core: RaftCore): void {
    if (this.#pipeline?.barrierPending ?? true) return;
    const applied = this.store.applied;
    if (applied - this.#snapshot.meta.index < this.#compactEveryEntries) return;
    const status = core.status();
    const index = Math.min(applied, status.commit, status.stableIndex);
    if (index !== applied || index <= this.#snapshot.meta.index) return;
    const data = this.store.snapshot();
    const meta = core.compact(index);
    this.disk.saveSnapshot(meta, data);
    this.#snapshot = { meta, data };
  }

  #failClientCalls(error: string): void {
    for (const read of this.#reads.values()) read.done({ ok: false, error });
    for (const read of this.#waitingReads) read.done({ ok: false, error });
    for (const waiter of this.#proposals.values()) waiter('leadership-lost');
    this.#reads.clear();
    this.#waitingReads = [];
    this.#proposals.clear();
  }
}

/** What the one-change-at-a-time rule looks at, read just before a change is proposed. */
export interface MembershipChangeState {
  /** The index of a membership entry beyond the commit index, or 0 when there is none. */
  readonly uncommittedChangeIndex: number;
  /** Whether the entry at the commit index is of the leader's own term (unknown when compacted). */
  readonly committedInTerm: boolean;
}

function membershipChangeState(core: RaftCore): MembershipChangeState {
  const status = core.status();
  let uncommittedChangeIndex = 0;
  for (let index = status.commit + 1; index <= status.lastIndex; index++) {
    if (core.entryAt(index)?.kind === 'membership') uncommittedChangeIndex = index;
  }
  const atCommit = core.entryAt(status.commit);
  return {
    uncommittedChangeIndex,
    committedInTerm: atCommit === undefined || atCommit.term === status.term,
  };
}
