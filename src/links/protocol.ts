/**
 * The link protocol between clusters (pure): what a linked cluster's replicated state
 * holds, how a batch from another cluster is applied through its log, and how a leader
 * pulls batches.
 *
 * Each cluster numbers the operations it applies (its own writes and the remote ones it
 * takes from links) 1, 2, 3, ...: its **stream**. A cluster linked to another pulls that
 * cluster's stream from the position it last applied, and applies each batch as one entry
 * of its own log, so the batch's operations and the new position commit together: after
 * any failover or restart on either side, the puller resumes from the committed position
 * and nothing is applied twice.
 *
 * Streams carry forwarded operations too, in the order they were applied, so that with
 * three or more clusters an operation never arrives before one its writer had seen
 * (delivery is causal, as `merge.ts` needs). An operation that reaches a cluster twice, by
 * two paths, is applied once: the state keeps each origin's greatest stamp applied, and
 * each origin's operations arrive in the order of their stamps.
 */
import { assert } from '../core/assert.js';
import { Hlc, compareStamps, type Stamp } from './hlc.js';
import {
  applyOp,
  clockHolds,
  emptyKeyState,
  MemoryIncrementHistory,
  mergeClocks,
  readValue,
  type Clock,
  type Conflict,
  type IncrementHistory,
  type KeyOp,
  type KeyState,
} from './merge.js';

/** A cluster's own write as its leader proposes it: a write's clock is filled in when applied. */
export type LocalOp =
  | Omit<Extract<KeyOp, { kind: 'write' }>, 'seen'>
  | Extract<KeyOp, { kind: 'increment' | 'expire' }>;

/** One operation of a cluster's stream. */
export interface StreamRecord {
  /** Its place in the stream: 1 for the first operation the cluster applied. */
  readonly position: number;
  readonly key: string;
  readonly op: KeyOp;
}

/**
 * Records of one stream after `after`, through `through`: every one of those positions
 * but the receiver's own operations, which an answer leaves out (`records` may be empty).
 */
export interface LinkBatch {
  /** The cluster whose stream this is. */
  readonly from: string;
  readonly after: number;
  readonly through: number;
  readonly records: readonly StreamRecord[];
}

/** Why a batch changed nothing. */
export type BatchRefusal =
  /** It starts past the position applied here: records in between are missing. */
  | 'gap'
  /** Its records are not in order at positions in (after, through], each once. */
  | 'malformed'
  /** It comes from this cluster itself. */
  | 'own';

/** What `applyBatch` did. */
export type BatchResult =
  | { readonly ok: true; readonly applied: number; readonly skipped: number }
  | { readonly ok: false; readonly refusal: BatchRefusal };

/** A conflict with the key it was on. */
export interface KeyConflict extends Conflict {
  readonly key: string;
}

/** What a linked state keeps beside its keys: small, read and written with every operation. */
export interface LinkMeta {
  /** Each linked stream's last position applied here. */
  readonly positions: Readonly<Record<string, number>>;
  /** Each origin's greatest stamp applied here. */
  readonly origins: Clock;
  /** How many records this cluster's stream holds (its last position). */
  readonly streamLength: number;
  /** Conflicts ever recorded. */
  readonly conflictsTotal: number;
}

/** The meta of a state nothing was applied to. */
export const emptyLinkMeta: LinkMeta = {
  positions: {},
  origins: {},
  streamLength: 0,
  conflictsTotal: 0,
};

/**
 * Where a `LinkedState` keeps what it applied: in memory (`MemoryLinkStore`, the
 * simulator's and the tests'), or in a node's store as keys of its system database
 * (`store/link-records.ts`), so that the log, snapshots and images carry it.
 */
export interface LinkStore {
  meta(): LinkMeta;
  setMeta(meta: LinkMeta): void;
  keyState(key: string): KeyState | undefined;
  setKeyState(key: string, state: KeyState): void;
  /** The running sums of the key's increments (merge.ts), kept beside its state. */
  history(key: string): IncrementHistory;
  /** The stream's record at `position`, or null once it is no longer kept. */
  streamRecord(position: number): StreamRecord | null;
  appendStream(record: StreamRecord): void;
  /** Records a conflict, the `ordinal`-th ever (1 for the first). */
  addConflict(conflict: KeyConflict, ordinal: number): void;
}

/** Limits of `MemoryLinkStore`. */
export interface LinkedStateLimits {
  /** Conflicts kept; older ones are dropped (and still counted). */
  readonly conflictsMax: number;
}

/** The defaults of `LinkedStateLimits`. */
export const linkedStateLimits: LinkedStateLimits = { conflictsMax: 10_000 };

/** A `LinkStore` in memory, keeping the whole stream and the latest conflicts. */
export class MemoryLinkStore implements LinkStore {
  readonly #limits: LinkedStateLimits;
  readonly #keys = new Map<string, KeyState>();
  readonly #histories = new Map<string, MemoryIncrementHistory>();
  /** `#stream[i]` is the record at position `i + 1`. */
  readonly #stream: StreamRecord[] = [];
  #meta: LinkMeta = emptyLinkMeta;
  #conflicts: KeyConflict[] = [];

  constructor(limits: LinkedStateLimits = linkedStateLimits) {
    assert(Number.isSafeInteger(limits.conflictsMax) && limits.conflictsMax > 0, 'conflictsMax');
    this.#limits = limits;
  }

  meta(): LinkMeta {
    return this.#meta;
  }

  setMeta(meta: LinkMeta): void {
    this.#meta = meta;
  }

  keyState(key: string): KeyState | undefined {
    return this.#keys.get(key);
  }

  setKeyState(key: string, state: KeyState): void {
    this.#keys.set(key, state);
  }

  history(key: string): IncrementHistory {
    let history = this.#histories.get(key);
    if (history === undefined) {
      history = new MemoryIncrementHistory();
      this.#histories.set(key, history);
    }
    return history;
  }

  streamRecord(position: number): StreamRecord | null {
    return this.#stream[position - 1] ?? null;
  }

  appendStream(record: StreamRecord): void {
    assert(record.position === this.#stream.length + 1, 'the stream grows by one');
    this.#stream.push(record);
  }

  addConflict(conflict: KeyConflict): void {
    this.#conflicts.push(conflict);
    if (this.#conflicts.length > this.#limits.conflictsMax) {
      this.#conflicts = this.#conflicts.slice(-this.#limits.conflictsMax);
    }
  }

  /** Every key this store holds, in sorted order. */
  keys(): string[] {
    return [...this.#keys.keys()].sort();
  }

  /** The latest conflicts, oldest first. */
  conflicts(): readonly KeyConflict[] {
    return this.#conflicts;
  }
}

/** A cluster's own operation before it is stamped: a write's clock is filled in too. */
export type UnstampedOp =
  | {
      readonly kind: 'write';
      readonly value: Uint8Array | null;
      readonly expiresAtMs: number | null;
    }
  | { readonly kind: 'increment'; readonly delta: bigint }
  | { readonly kind: 'expire'; readonly expiresAtMs: number | null };

/**
 * A linked cluster's replicated key-value state, as every member applies it from the log:
 * each key's merge state, each link's position, each origin's greatest stamp applied, the
 * cluster's own stream, and the conflicts recorded. Deterministic: equal entries applied
 * in equal order give equal states.
 *
 * A cluster's own operations are stamped as they are applied, from the time the leader
 * put in the command and the greatest stamp applied before (`stampAt`): the clock is part
 * of the replicated state, so no leader, new or restarted, can stamp behind its log.
 */
export class LinkedState {
  readonly cluster: string;
  readonly store: LinkStore;

  constructor(cluster: string, store: LinkStore = new MemoryLinkStore()) {
    assert(cluster.length > 0, 'a linked state names its cluster');
    this.cluster = cluster;
    this.store = store;
  }

  /** The last position of `from`'s stream applied here (0: none). */
  position(from: string): number {
    return this.store.meta().positions[from] ?? 0;
  }

  /** Each origin's greatest stamp applied here. */
  get origins(): Clock {
    return this.store.meta().origins;
  }

  /** The greatest stamp applied here. */
  get lastStamp(): Stamp | null {
    let last: Stamp | null = null;
    for (const stamp of Object.values(this.origins)) {
      if (last === null || compareStamps(stamp, last) > 0) last = stamp;
    }
    return last;
  }

  /** How many records this cluster's stream holds. */
  get streamLength(): number {
    return this.store.meta().streamLength;
  }

  /** How many conflicts were ever recorded. */
  get conflictsTotal(): number {
    return this.store.meta().conflictsTotal;
  }

  /** The key's merge state (an empty one for a key never touched). */
  keyState(key: string): KeyState {
    return this.store.keyState(key) ?? emptyKeyState;
  }

  /** The key's value at `nowMs`, or null. */
  read(key: string, nowMs: number): Uint8Array | null {
    return readValue(this.keyState(key), nowMs);
  }

  /**
   * The stamp of this cluster's next own operation, taken at `atMs` (the time its command
   * carries): past every stamp applied here, whatever the wall clock says.
   */
  stampAt(atMs: number): Stamp {
    const last = this.lastStamp;
    const clock = new Hlc(this.cluster, {
      ...(last === null
        ? {}
        : { last: { ms: last.ms, logical: last.logical, cluster: this.cluster } }),
    });
    return clock.now(atMs);
  }

  /** Stamps one of this cluster's own operations at `atMs` and applies it: the stamped operation. */
  applyLocalAt(key: string, unstamped: UnstampedOp, atMs: number): KeyOp {
    return this.applyLocal(key, { ...unstamped, stamp: this.stampAt(atMs) } as LocalOp);
  }

  /**
   * Applies one of this cluster's own operations, stamped after every stamp applied here,
   * and appends it to the stream. A write's clock is the key's clock here and its own
   * stamp: everything before it in this cluster's log.
   */
  applyLocal(key: string, local: LocalOp): KeyOp {
    assert(local.stamp.cluster === this.cluster, 'a local operation carries this cluster id');
    const last = this.origins[this.cluster];
    assert(last === undefined || compareStamps(local.stamp, last) > 0, 'local stamps only grow');
    const op: KeyOp =
      local.kind === 'write'
        ? { ...local, seen: mergeClocks(this.keyState(key).seen, { [this.cluster]: local.stamp }) }
        : local;
    this.#apply(key, op);
    return op;
  }

  /**
   * Applies a batch of another cluster's stream: records at or before the position
   * applied here are skipped (a batch sent again), as are operations applied before by
   * another path; the position moves to `through`. A batch that would leave a gap, or
   * whose records are out of order, changes nothing.
   */
  applyBatch(batch: LinkBatch, plan: typeof planBatch = planBatch): BatchResult {
    if (batch.from === this.cluster) return { ok: false, refusal: 'own' };
    const position = this.position(batch.from);
    const decided = plan(position, this.origins, batch);
    if (!decided.ok) return decided;
    for (const record of decided.apply) this.#apply(record.key, record.op);
    const meta = this.store.meta();
    this.store.setMeta({
      ...meta,
      positions: { ...meta.positions, [batch.from]: Math.max(position, batch.through) },
    });
    return { ok: true, applied: decided.apply.length, skipped: decided.skipped };
  }

  /**
   * This cluster's stream after `after`: at most `recordsMax` positions, every one kept,
   * for cluster `requester` (its own operations left out: it holds them already).
   */
  batchAfter(
    after: number,
    recordsMax: number,
    requester: string | null = null,
    leavesOut: typeof leftOutFor = leftOutFor,
  ): LinkBatch {
    assert(Number.isSafeInteger(after) && after >= 0, `stream position ${after}`);
    assert(Number.isSafeInteger(recordsMax) && recordsMax > 0, `records ${recordsMax}`);
    const batch = streamBatch(
      this.cluster,
      this.streamLength,
      after,
      recordsMax,
      (position) => this.store.streamRecord(position),
      (record) => leavesOut(record, requester),
    );
    assert(batch !== null, `the stream after ${after} is no longer kept`);
    return batch;
  }

  #apply(key: string, op: KeyOp): void {
    const { state, conflicts } = applyOp(this.keyState(key), op, this.store.history(key));
    this.store.setKeyState(key, state);
    const meta = this.store.meta();
    let streamLength = meta.streamLength;
    if (op.stamp.cluster === this.cluster || this.forwards()) {
      streamLength += 1;
      this.store.appendStream({ position: streamLength, key, op });
    }
    let conflictsTotal = meta.conflictsTotal;
    for (const conflict of conflicts) {
      conflictsTotal += 1;
      this.store.addConflict({ ...conflict, key }, conflictsTotal);
    }
    this.store.setMeta({
      ...meta,
      origins: mergeClocks(meta.origins, { [op.stamp.cluster]: op.stamp }),
      streamLength,
      conflictsTotal,
    });
  }

  /**
   * Whether remote operations go on into this cluster's stream (always: with clusters
   * linked in a line, the ends reach each other only through the middle). A hook so that
   * the simulator can prove it catches a cluster that does not.
   */
  protected forwards(): boolean {
    return true;
  }
}

/**
 * Whether a stream answer to `requester` leaves `record` out: an operation of the
 * requester's own, which it applied before it was ever in another cluster's stream (and
 * would skip). Without it, every operation of two linked clusters came back to its origin.
 */
export function leftOutFor(record: StreamRecord, requester: string | null): boolean {
  return record.op.stamp.cluster === requester;
}

/**
 * The batch of `cluster`'s stream (of `length` records) after `after`, through at most
 * `recordsMax` positions read by `record`, without the records `leaveOut` names (the
 * batch still runs through their positions); null when one of them is no longer kept.
 */
export function streamBatch(
  cluster: string,
  length: number,
  after: number,
  recordsMax: number,
  record: (position: number) => StreamRecord | null,
  leaveOut: (record: StreamRecord) => boolean = () => false,
): LinkBatch | null {
  const start = Math.min(after, length);
  const end = Math.min(length, start + recordsMax);
  const records: StreamRecord[] = [];
  for (let position = start + 1; position <= end; position++) {
    const found = record(position);
    if (found === null) return null;
    if (!leaveOut(found)) records.push(found);
  }
  return { from: cluster, after: start, through: end, records };
}

/** What `planBatch` decides. */
export type BatchPlan =
  | { readonly ok: true; readonly apply: readonly StreamRecord[]; readonly skipped: number }
  | { readonly ok: false; readonly refusal: BatchRefusal };

/**
 * Which records of `batch` to apply, given the position of its stream applied here and
 * each origin's greatest stamp applied here: none when the batch is malformed or would
 * leave a gap; otherwise those after the position whose stamps are new.
 */
export function planBatch(position: number, origins: Clock, batch: LinkBatch): BatchPlan {
  if (!wellFormed(batch)) return { ok: false, refusal: 'malformed' };
  if (batch.after > position) return { ok: false, refusal: 'gap' };
  const apply = batch.records.filter(
    (record) => record.position > position && !clockHolds(origins, record.op.stamp),
  );
  return { ok: true, apply, skipped: batch.records.length - apply.length };
}

/**
 * Whether a batch's records are at positions in (after, through], in order, each once
 * (positions between them may be left out: the receiver's own operations).
 */
function wellFormed(batch: LinkBatch): boolean {
  if (!(Number.isSafeInteger(batch.after) && batch.after >= 0)) return false;
  if (!(Number.isSafeInteger(batch.through) && batch.through >= batch.after)) return false;
  let last = batch.after;
  for (const record of batch.records) {
    if (!(record.position > last && record.position <= batch.through)) return false;
    last = record.position;
  }
  return true;
}

/**
 * Whether `batch` answers the request made after `asked`, and still starts at the position
 * committed here (a late, duplicated or reordered answer does not).
 */
export function answersRequest(asked: number, committed: number, batch: LinkBatch): boolean {
  return batch.after === asked && batch.after === committed;
}

/** Limits and timing of a `LinkPuller`. */
export interface PullerOptions {
  /** Records asked for in one request. */
  readonly recordsMax: number;
  /** Ticks a request or a proposal may take before it is given up and asked again. */
  readonly retryTicks: number;
  /** Ticks to wait after an answer with nothing new before asking again. */
  readonly idleTicks: number;
}

/** A request for another cluster's stream. */
export interface PullRequest {
  readonly from: string;
  readonly after: number;
  readonly recordsMax: number;
}

/**
 * One link's puller on a cluster's leader (volatile: a new leader starts a new one). It
 * asks for the other cluster's stream after the committed position, proposes each answer
 * as one batch through the log, and asks again once that batch commits. Answers to old
 * requests (late, duplicated or reordered) are dropped. A batch whose stamps are too far
 * ahead of this cluster's clock is cut before the first such record and the rest is
 * asked for again later.
 */
export class LinkPuller {
  readonly from: string;
  readonly #options: PullerOptions;
  #pending: { readonly after: number; readonly sinceTick: number } | null = null;
  #proposed: { readonly through: number; readonly sinceTick: number } | null = null;
  #idleUntilTick = 0;
  /** Records refused for a stamp too far ahead, since this puller started. */
  refusedForSkew = 0;

  readonly #answers: typeof answersRequest;

  constructor(from: string, options: PullerOptions, answers = answersRequest) {
    assert(Number.isSafeInteger(options.recordsMax) && options.recordsMax > 0, 'recordsMax');
    assert(Number.isSafeInteger(options.retryTicks) && options.retryTicks > 0, 'retryTicks');
    assert(Number.isSafeInteger(options.idleTicks) && options.idleTicks >= 0, 'idleTicks');
    this.from = from;
    this.#options = options;
    this.#answers = answers;
  }

  /** What to ask for at `tick`, given the position committed here; null while waiting. */
  poll(committed: number, tick: number): PullRequest | null {
    if (this.#proposed !== null) {
      const done = committed >= this.#proposed.through;
      if (!done && tick - this.#proposed.sinceTick < this.#options.retryTicks) return null;
      this.#proposed = null;
    }
    if (this.#pending !== null) {
      const current = this.#pending.after === committed;
      if (current && tick - this.#pending.sinceTick < this.#options.retryTicks) return null;
    } else if (tick < this.#idleUntilTick) {
      return null;
    }
    this.#pending = { after: committed, sinceTick: tick };
    return { from: this.from, after: committed, recordsMax: this.#options.recordsMax };
  }

  /**
   * An answer: the batch to propose through the log, or null when there is nothing to
   * propose (an answer to an old request, or nothing new). `clock.observe` decides each
   * record's stamp; the batch ends before the first one it refuses.
   */
  answer(
    batch: LinkBatch,
    committed: number,
    tick: number,
    clock: Hlc,
    wallMs: number,
  ): LinkBatch | null {
    if (batch.from !== this.from || this.#pending === null) return null;
    if (!this.#answers(this.#pending.after, committed, batch)) return null;
    this.#pending = null;
    const kept: StreamRecord[] = [];
    let through = batch.through;
    for (const record of batch.records) {
      if (!clock.observe(record.op.stamp, wallMs).ok) {
        this.refusedForSkew += 1;
        through = record.position - 1;
        break;
      }
      kept.push(record);
    }
    if (through === batch.after) {
      this.#idleUntilTick = tick + this.#options.idleTicks;
      return null;
    }
    this.#proposed = { through, sinceTick: tick };
    return { from: batch.from, after: batch.after, through, records: kept };
  }
}
