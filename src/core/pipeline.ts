/**
 * The loop that carries out a core's Readies without stopping for the disk: the node
 * runtime and the simulator both drive their core through it, so the simulator proves the
 * very order of work the runtime follows.
 *
 * Three stages run side by side, each in Ready order:
 * - taking: while anything waits, the driver steps messages, ticks and calls into the
 *   core and takes the next Ready at once, sends the messages that may leave before a
 *   sync (a leader's appends and heartbeats, heartbeat answers), and writes the Ready's
 *   entries and hard state to the disk's queue;
 * - persisting: one sync at a time covers every write queued before it started (a group
 *   commit: the slower the disk, the more Readies one sync covers). When it ends, the core
 *   hears `persisted` for each Ready it covered, and their held messages (votes, append
 *   answers) leave;
 * - applying: one apply at a time takes the committed entries of every Ready queued
 *   meanwhile (the core hands out only entries this node holds durably). When it ends,
 *   the core hears `applied`, and the Readies' writes and reads are answered.
 *
 * So a tick, a heartbeat and its answer never wait for an fdatasync or an apply, and
 * batches grow with the load instead of with the disk's latency.
 *
 * A Ready that installs a snapshot or rolls the state machine back is a barrier: it waits
 * until every stage is idle, runs alone, and no Ready is taken until it is done.
 *
 * Bounded: when the Readies waiting for a sync hold too many entries or bytes, no Ready
 * is taken until a sync ends (the core keeps stepping; what it produces waits in it).
 */
import { assert } from './assert.js';
import type { RaftCore } from './core.js';
import { entryBytes } from './raft-log.js';
import { messagesBySync, type MessagesBySync } from './ready.js';
import type { Entry, HardState, Message, Ready } from './types.js';

/** What the pipeline asks of its driver. Every `start` reports back through the pipeline. */
export interface PipelineDriver {
  /** A Ready was taken (before anything of it is carried out): soft state, checks. */
  taken(ready: Ready): void;
  /** Sends messages now. */
  send(messages: readonly Message[]): void;
  /** Queues the Ready's entries and hard state for the disk, in Ready order. */
  write(ready: Ready): void;
  /** Starts one sync covering every write queued so far; calls `synced()` when it ends. */
  startSync(): void;
  /** Starts applying entries, in order, after those of earlier calls; calls `appliedDone()`. */
  startApply(entries: readonly Entry[]): void;
  /**
   * Rolls the state machine back to the latest snapshot (`ready.rollback`) and installs a
   * received snapshot (`ready.snapshot`), with nothing else in flight; calls `barrierDone()`.
   */
  startBarrier(ready: Ready): void;
  /** The Ready's committed entries are applied: answer its proposals and read states. */
  answer(ready: Ready): void;
}

/**
 * The pipeline's rules: the runtime's, or broken ones in the simulator's mutation tests
 * (which must be caught).
 */
export interface PipelineRules {
  /** Which messages of a Ready leave before its writes are synced. */
  readonly messagesBySync: (ready: Ready, durable: HardState, current: HardState) => MessagesBySync;
  /** Whether the core hears `persisted` before the sync ends (never, in the runtime). */
  readonly persistsBeforeSync: (ready: Ready, messages: MessagesBySync) => boolean;
  /** Whether Readies are taken while a sync runs (always, in the runtime: ticks go on). */
  readonly takesWhileSyncing: boolean;
  /** Whether a sync's end also covers writes queued after it began (never, in the runtime). */
  readonly syncCoversLaterWrites: boolean;
}

/** The rules the node runtime follows. */
export const pipelineRules: PipelineRules = {
  messagesBySync,
  persistsBeforeSync: () => false,
  takesWhileSyncing: true,
  syncCoversLaterWrites: false,
};

/** Limits of what may wait for a sync. */
export interface PipelineLimits {
  /** Entry bytes (as `entryBytes` counts them) written and not yet synced. */
  readonly unsyncedBytesMax: number;
  /** Readies taken and not yet persisted. */
  readonly unsyncedReadiesMax: number;
}

export const pipelineLimitsDefault: PipelineLimits = {
  unsyncedBytesMax: 32 * 1024 * 1024,
  unsyncedReadiesMax: 4_096,
};

interface Stage {
  readonly ready: Ready;
  readonly afterSync: readonly Message[];
  readonly bytes: number;
  /** The core already heard `persisted` (a broken rule in the mutation tests). */
  readonly persistedEarly: boolean;
}

/** Carries out a core's Readies through a driver; see the module comment. */
export class ReadyPipeline {
  readonly #core: RaftCore;
  readonly #driver: PipelineDriver;
  readonly #rules: PipelineRules;
  readonly #limits: PipelineLimits;
  #waitingSync: Stage[] = [];
  #syncing: Stage[] | null = null;
  #unsyncedBytes = 0;
  #unsyncedReadies = 0;
  #waitingApply: Ready[] = [];
  #applying: Ready[] | null = null;
  #barrier: Ready | null = null;
  #barrierRunning = false;
  #pumping = false;
  #stopped = false;

  constructor(
    core: RaftCore,
    driver: PipelineDriver,
    rules: PipelineRules = pipelineRules,
    limits: PipelineLimits = pipelineLimitsDefault,
  ) {
    this.#core = core;
    this.#driver = driver;
    this.#rules = rules;
    this.#limits = limits;
  }

  /** Whether nothing is being written, synced, applied or installed. */
  get idle(): boolean {
    return (
      this.#barrier === null &&
      this.#syncing === null &&
      this.#waitingSync.length === 0 &&
      this.#applying === null &&
      this.#waitingApply.length === 0
    );
  }

  /**
   * Whether a snapshot install or a rollback waits or runs: the state machine is about to
   * be replaced, so the driver must not snapshot it meanwhile.
   */
  get barrierPending(): boolean {
    return this.#barrier !== null;
  }

  /** Stops taking Readies and ignores completions (a crashed or stopped node). */
  stop(): void {
    this.#stopped = true;
  }

  /** Takes and starts every Ready the core has, unless a barrier or a limit holds them. */
  pump(): void {
    if (this.#pumping || this.#stopped) return;
    this.#pumping = true;
    try {
      while (this.#mayTake() && this.#core.hasReady()) this.#take();
    } finally {
      this.#pumping = false;
    }
  }

  /** The sync `startSync` began has ended: every write queued before it is durable. */
  synced(): void {
    if (this.#stopped) return;
    this.#finishSync();
    this.#maybeStartSync();
    this.#maybeStartBarrier();
    this.pump();
  }

  /** The apply `startApply` began has ended. */
  appliedDone(): void {
    if (this.#stopped) return;
    this.#finishApply();
    this.#maybeStartApply();
    this.#maybeStartBarrier();
    this.pump();
  }

  /** The barrier Ready's rollback and snapshot install are done. */
  barrierDone(): void {
    if (this.#stopped) return;
    const ready = this.#barrier;
    assert(ready !== null && this.#barrierRunning, 'barrierDone() without a barrier');
    this.#barrier = null;
    this.#barrierRunning = false;
    this.#start(ready);
    this.pump();
  }

  #mayTake(): boolean {
    return (
      this.#barrier === null &&
      (this.#syncing === null || this.#rules.takesWhileSyncing) &&
      this.#unsyncedBytes < this.#limits.unsyncedBytesMax &&
      this.#unsyncedReadies < this.#limits.unsyncedReadiesMax
    );
  }

  #take(): void {
    const ready = this.#core.ready();
    this.#driver.taken(ready);
    if (ready.rollback !== null || ready.snapshot !== null) {
      this.#barrier = ready;
      this.#maybeStartBarrier();
      return;
    }
    this.#start(ready);
  }

  #start(ready: Ready): void {
    const core = this.#core;
    const messages = this.#rules.messagesBySync(ready, core.durableHardState, core.handedHardState);
    if (messages.beforeSync.length > 0) this.#driver.send(messages.beforeSync);
    this.#driver.write(ready);
    const persistedEarly = this.#rules.persistsBeforeSync(ready, messages);
    if (persistedEarly) core.persisted(ready);
    let bytes = 0;
    for (const entry of ready.entries) bytes += entryBytes(entry);
    this.#waitingSync.push({ ready, afterSync: messages.afterSync, bytes, persistedEarly });
    this.#unsyncedBytes += bytes;
    this.#unsyncedReadies++;
    this.#maybeStartSync();
    this.#waitingApply.push(ready);
    this.#maybeStartApply();
  }

  #maybeStartSync(): void {
    while (!this.#stopped && this.#syncing === null && this.#waitingSync.length > 0) {
      const group = this.#waitingSync;
      this.#waitingSync = [];
      this.#syncing = group;
      // Readies that wrote nothing to sync still wait for the syncs before them: their
      // answers may speak of entries an earlier Ready wrote.
      if (!group.some((stage) => stage.ready.mustSync)) {
        this.#finishSync();
        continue;
      }
      this.#driver.startSync();
      return;
    }
  }

  #finishSync(): void {
    let group = this.#syncing;
    assert(group !== null, 'synced() without a sync');
    this.#syncing = null;
    if (this.#rules.syncCoversLaterWrites) {
      group = [...group, ...this.#waitingSync];
      this.#waitingSync = [];
    }
    for (const stage of group) {
      this.#unsyncedBytes -= stage.bytes;
      this.#unsyncedReadies--;
      if (!stage.persistedEarly) this.#core.persisted(stage.ready);
      if (stage.afterSync.length > 0) this.#driver.send(stage.afterSync);
    }
  }

  #maybeStartApply(): void {
    while (!this.#stopped && this.#applying === null && this.#waitingApply.length > 0) {
      const group = this.#nextApplyGroup();
      this.#applying = group;
      const entries =
        group.length === 1
          ? (group[0] as Ready).committedEntries
          : group.flatMap((ready) => ready.committedEntries);
      if (entries.length === 0) {
        this.#finishApply();
        continue;
      }
      this.#driver.startApply(entries);
      return;
    }
  }

  /**
   * The Readies of the next apply: those waiting, in order, while their entries stay
   * within the core's `maxApplyBatchEntries` (always at least one Ready), so that a burst
   * of Readies taken during a slow apply (a restart replaying its log) is applied in
   * batches a store takes.
   */
  #nextApplyGroup(): Ready[] {
    const waiting = this.#waitingApply;
    const limit = this.#core.config.maxApplyBatchEntries;
    let count = 0;
    let taken = 0;
    while (taken < waiting.length) {
      const size = (waiting[taken] as Ready).committedEntries.length;
      if (taken > 0 && count + size > limit) break;
      count += size;
      taken++;
    }
    this.#waitingApply = waiting.slice(taken);
    return taken === waiting.length ? waiting : waiting.slice(0, taken);
  }

  #finishApply(): void {
    const group = this.#applying;
    assert(group !== null, 'appliedDone() without an apply');
    this.#applying = null;
    for (const ready of group) {
      this.#core.applied(ready);
      this.#driver.answer(ready);
    }
  }

  #maybeStartBarrier(): void {
    if (this.#stopped || this.#barrier === null || this.#barrierRunning) return;
    const drained =
      this.#syncing === null &&
      this.#waitingSync.length === 0 &&
      this.#applying === null &&
      this.#waitingApply.length === 0;
    if (!drained) return;
    this.#barrierRunning = true;
    this.#driver.startBarrier(this.#barrier);
  }
}
