import { assert } from '../core/assert.js';
import type { CoreConfig } from '../core/config.js';
import type { CoreOptions, RaftCore } from '../core/core.js';
import { TandemError } from '../core/errors.js';
import { Prng } from '../core/prng.js';
import { appliesBeforeSync, messagesBySync } from '../core/ready.js';
import type {
  Durability,
  Membership,
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

/** What a simulated node needs from the world around it. */
export interface SimWorld {
  readonly queue: EventQueue;
  readonly random: Prng;
  readonly checker: Checker;
  readonly makeCore: CoreFactory;
  readonly config: Partial<CoreConfig>;
  send(message: Message): void;
  trace(line: string): void;
  /** Told when this node becomes leader (the fault schedule may crash new leaders). */
  onLeader(node: SimNode): void;
}

/** How a client call ended. */
export type CallResult<T> = { ok: true; value: T } | { ok: false; error: string };

interface WaitingRead {
  readonly index: number;
  readonly key: string;
  readonly done: (result: CallResult<string[]>) => void;
}

/** Maximum messages buffered for a paused or busy node before new ones are dropped. */
const inboxMessagesMax = 10_000;
/** Maximum client calls buffered for a busy node. */
const deferredCallsMax = 1_000;

/**
 * One simulated node: the core driven exactly as the runtime drives it. A Ready is written
 * to the simulated disk, synced after a simulated fsync delay (messages and ticks that
 * arrive meanwhile wait), then applied, sent, answered and advanced.
 */
export class SimNode {
  readonly id: NodeId;
  readonly disk = new SimDisk();
  store = new ListStore();
  core: RaftCore | null = null;
  paused = false;
  readonly #world: SimWorld;
  readonly #bootstrap: Membership;
  readonly #coreSeed: number;
  readonly #fsyncMaxMs: number;
  readonly #compactEveryEntries: number;
  #snapshot: { meta: SnapshotMeta; data: Uint8Array };
  #incarnation = 0;
  #awaiting: Ready | null = null;
  #role: Role = 'follower';
  #inbox: Message[] = [];
  #deferred: (() => void)[] = [];
  #pendingTicks = 0;
  #readSeq = 0;
  #reads = new Map<string, { key: string; done: (result: CallResult<string[]>) => void }>();
  #waitingReads: WaitingRead[] = [];
  #proposals = new Map<string, (outcome: ProposalOutcome['outcome']) => void>();

  constructor(
    id: NodeId,
    bootstrap: Membership,
    world: SimWorld,
    fsyncMaxMs: number,
    compactEveryEntries: number,
  ) {
    this.id = id;
    this.#world = world;
    this.#bootstrap = bootstrap;
    this.#coreSeed = world.random.uint32();
    this.#fsyncMaxMs = fsyncMaxMs;
    this.#compactEveryEntries = compactEveryEntries;
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
      config: this.#world.config,
      persisted: { ...persisted, applied: this.store.applied },
      bootstrap: this.#bootstrap,
    });
    this.#role = 'follower';
    this.#world.checker.onRestart(this.id);
    this.#world.trace(`${this.id} start (applied ${this.store.applied})`);
  }

  /** Kills the node: unsynced writes may be lost or torn; pending calls fail. */
  crash(): CrashDamage {
    assert(this.core !== null, `${this.id} is not running`);
    this.core = null;
    this.#incarnation++;
    this.#awaiting = null;
    this.#inbox = [];
    this.#pendingTicks = 0;
    this.paused = false;
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const call of deferred) call();
    this.#failClientCalls('node crashed');
    const damage = this.disk.crash(this.#world.random);
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
    this.#pump();
  }

  tick(): void {
    if (this.core === null || this.paused) return;
    this.#pendingTicks++;
    this.#pump();
  }

  receive(message: Message): void {
    if (this.core === null) return;
    if (this.#inbox.length >= inboxMessagesMax) return;
    this.#inbox.push(message);
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

  /** A linearizable read of `key`. */
  read(key: string, done: (result: CallResult<string[]>) => void): void {
    this.#call(done, (core) => {
      const readId = `${this.id}/${this.#incarnation}/${++this.#readSeq}`;
      this.#reads.set(readId, { key, done });
      core.readIndex(readId);
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

  /** Feeds the core whatever waits, then carries out Readies until one needs an fsync. */
  #pump(): void {
    for (;;) {
      const core = this.core;
      if (core === null || this.paused || this.#awaiting !== null) return;
      if (this.#deferred.length > 0) {
        const calls = this.#deferred;
        this.#deferred = [];
        for (const call of calls) call();
        continue;
      }
      const inbox = this.#inbox;
      this.#inbox = [];
      for (const message of inbox) core.step(message);
      for (; this.#pendingTicks > 0; this.#pendingTicks--) core.tick();
      if (!core.hasReady()) return;
      this.#beginReady(core);
    }
  }

  #beginReady(core: RaftCore): void {
    const ready = core.ready();
    this.#awaiting = ready;
    if (ready.softState !== null) {
      this.#role = ready.softState.role;
      if (ready.softState.role === 'leader')
        this.#world.trace(`${this.id} leads term ${ready.softState.term}`);
      this.#world.onLeader(this);
    }
    this.#world.checker.onReady(
      this.id,
      ready,
      (index) => core.entryAt(index),
      core.membership.voters,
    );
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
    if (ready.snapshot !== null) this.disk.saveSnapshot(ready.snapshot.meta, ready.snapshot.data);
    const messages = messagesBySync(ready, this.disk.hardState);
    this.disk.writeEntries(ready.entries);
    if (ready.hardState !== null) this.disk.writeHardState(ready.hardState);
    // A leader's appends travel while its own write syncs, as the node runtime sends them.
    for (const message of messages.beforeSync) this.#world.send(message);
    // What this Ready applies may be durable already: then it is applied while the disk
    // syncs, as the node runtime does.
    const appliedEarly = appliesBeforeSync(ready);
    if (appliedEarly) this.#applyAndAnswer(ready);
    if (!ready.mustSync) return this.#complete(ready, core, messages.afterSync, appliedEarly);
    const incarnation = this.#incarnation;
    this.#world.queue.schedule(this.#world.random.intBetween(0, this.#fsyncMaxMs + 1), () => {
      if (this.#incarnation !== incarnation) return; // crashed while syncing
      this.disk.sync();
      this.#complete(ready, core, messages.afterSync, appliedEarly);
      this.#pump();
    });
  }

  #complete(
    ready: Ready,
    core: RaftCore,
    messages: readonly Message[],
    appliedEarly: boolean,
  ): void {
    if (ready.snapshot !== null) {
      this.store.restore(ready.snapshot.meta, ready.snapshot.data);
      this.#snapshot = ready.snapshot;
      this.#world.trace(`${this.id} installed snapshot at ${ready.snapshot.meta.index}`);
    }
    if (!appliedEarly) this.#applyAndAnswer(ready);
    for (const message of messages) {
      if (message.type === 'snapshot') {
        assert(
          message.meta.index === this.#snapshot.meta.index,
          `${this.id} has no snapshot at ${message.meta.index}`,
        );
        this.#world.send({ ...message, data: this.#snapshot.data });
      } else {
        this.#world.send(message);
      }
    }
    for (const readState of ready.readStates) {
      const read = this.#reads.get(readState.readId);
      if (read === undefined) continue;
      this.#reads.delete(readState.readId);
      if (readState.error !== null) read.done({ ok: false, error: readState.error });
      else this.#waitingReads.push({ index: readState.index, key: read.key, done: read.done });
    }
    this.#serveReads();
    core.advance(ready);
    this.#awaiting = null;
    this.#maybeCompact(core);
  }

  /** Applies the Ready's committed entries and answers its proposals. */
  #applyAndAnswer(ready: Ready): void {
    this.#world.checker.onApply(this.id, ready.committedEntries, this.#role === 'leader');
    this.store.apply(ready.committedEntries);
    for (const response of ready.responses) {
      const key = `${response.index}:${response.term}`;
      const waiter = this.#proposals.get(key);
      this.#proposals.delete(key);
      waiter?.(response.outcome);
    }
  }

  #serveReads(): void {
    if (this.#waitingReads.length === 0) return;
    const still: WaitingRead[] = [];
    for (const read of this.#waitingReads) {
      if (read.index <= this.store.applied)
        read.done({ ok: true, value: this.store.read(read.key) });
      else still.push(read);
    }
    this.#waitingReads = still;
  }

  #maybeCompact(core: RaftCore): void {
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
