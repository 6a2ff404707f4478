/**
 * A deterministic simulator of the link protocol between clusters (`links/protocol.ts`).
 *
 * Two or three clusters, linked each to each. Each cluster is modelled as what its Raft
 * log gives the link protocol: a committed `LinkedState` that every member applies, a
 * queue of proposals that commit in order a few steps after they are made (a local write
 * carries its leader's wall clock, and is stamped as it applies, as a command's `at` is),
 * and a leader whose clock (for the skew of remote stamps) and pullers are volatile. Faults: a leader fails over (a prefix of its
 * proposals commits, the rest are lost, and their writes were never acknowledged); a link
 * is cut and healed; requests and answers are lost, delayed, reordered and duplicated; a
 * cluster's wall clock runs seconds ahead. Then everything heals and the pullers run
 * until every cluster has every other's whole stream.
 *
 * The decisions come from links/protocol.ts exactly as the runtime will take them,
 * through a `LinkRules` object; the mutants replace one rule each with a broken one. The
 * invariants:
 *
 * 1. Once healed, every cluster reads every key the same.
 * 2. Nothing is applied twice: each cluster's stream holds each stamp once.
 * 3. A counter (a key that only ever gets increments) reads the sum of the acknowledged
 *    increments, exactly.
 * 4. Every acknowledged write is the key's winner, was seen by a later write, or is
 *    recorded as lost by the cluster that made it.
 * 5. A cluster's stream holds each origin's operations in the order of their stamps, and
 *    each of its own writes has a stamp above everything applied before it.
 * 6. No cluster applies a stamp further ahead of its wall clock than the skew allowed.
 */
import { createHash, type Hash } from 'node:crypto';
import { Prng } from '../core/prng.js';
import { Hlc, compareStamps, formatStamp, type Stamp } from '../links/hlc.js';
import { clockHolds, type KeyOp } from '../links/merge.js';
import {
  LinkPuller,
  LinkedState,
  MemoryLinkStore,
  answersRequest,
  leftOutFor,
  planBatch,
  type LinkBatch,
  type StreamRecord,
  type LocalOp,
  type PullRequest,
  type UnstampedOp,
} from '../links/protocol.js';
import { findCatchingSeed, replayCommand, runSeedRange, type SeedRangeSummary } from './seeds.js';

/** The rules the simulated clusters follow; a mutant breaks one of them. */
export interface LinkRules {
  /** Which records of a batch a cluster applies. */
  readonly planBatch: typeof planBatch;
  /** Which answers a puller takes. */
  readonly answersRequest: typeof answersRequest;
  /** A cluster stamps its own writes past every stamp it applied before. */
  readonly stampsPastLog: boolean;
  /** How far ahead of the wall clock a remote stamp may be. */
  readonly skewMsMax: number;
  /** Remote operations go on into a cluster's own stream. */
  readonly forwards: boolean;
  /** Which records an answer of cluster `server` to a pull of `requester`'s leaves out. */
  readonly leftOut: (record: StreamRecord, requester: string, server: string) => boolean;
}

/** How far ahead a remote stamp may be in the simulated world. */
const skewMsMax = 2_000;

/** The rules the runtime follows. */
export const linkRules: LinkRules = {
  planBatch,
  answersRequest,
  stampsPastLog: true,
  skewMsMax,
  forwards: true,
  leftOut: (record, requester) => leftOutFor(record, requester),
};

/** A cluster's state under `rules`: the runtime's, or one a mutant broke. */
class SimLinkedState extends LinkedState {
  readonly #rules: LinkRules;
  readonly memory: MemoryLinkStore;

  constructor(cluster: string, rules: LinkRules, memory = new MemoryLinkStore()) {
    super(cluster, memory);
    this.#rules = rules;
    this.memory = memory;
  }

  protected override forwards(): boolean {
    return this.#rules.forwards;
  }

  override stampAt(atMs: number): Stamp {
    // The stamps-past-log mutant stamps from the command's time alone.
    return this.#rules.stampsPastLog ? super.stampAt(atMs) : new Hlc(this.cluster).now(atMs);
  }
}

/** A deliberately broken rule: some seed must catch it. */
export interface LinkMutant {
  readonly name: string;
  readonly description: string;
  readonly rules: Partial<LinkRules>;
}

/** Every mutant the link simulator must catch. */
export const linkMutants: readonly LinkMutant[] = [
  {
    name: 'no-origin-dedupe',
    description: 'a cluster that applies an operation again when it comes by another path',
    rules: {
      planBatch: (position, _origins, batch) => planBatch(position, {}, batch),
    },
  },
  {
    name: 'no-forwarding',
    description: 'a cluster that passes on only its own writes, so a line of links never closes',
    rules: { forwards: false },
  },
  {
    name: 'stamp-from-command-time',
    description:
      "a cluster that stamps its own writes from the command's time alone, not past its log",
    rules: { stampsPastLog: false },
  },
  {
    name: 'leaves-out-forwarded',
    description:
      "a stream answer that leaves out every operation the answering cluster forwards, not only the requester's own",
    rules: { leftOut: (record, _requester, server) => record.op.stamp.cluster !== server },
  },
  {
    name: 'skew-unbounded',
    description: 'a puller that takes stamps however far ahead of its clock they are',
    rules: { skewMsMax: Number.MAX_SAFE_INTEGER },
  },
];

/** How to run one seed. */
export interface LinkSimulationOptions {
  readonly seed: number;
  readonly rules?: Partial<LinkRules>;
  readonly trace?: boolean;
}

/** Counts of what one seed did, to show a run did real work. */
export interface LinkSimulationStats {
  writesProposed: number;
  writesAcknowledged: number;
  writesLost: number;
  batchesApplied: number;
  recordsApplied: number;
  recordsSkipped: number;
  failovers: number;
  linkCuts: number;
  messagesLost: number;
  messagesDuplicated: number;
  refusedForSkew: number;
  conflicts: number;
  healSteps: number;
}

function noStats(): LinkSimulationStats {
  return {
    writesProposed: 0,
    writesAcknowledged: 0,
    writesLost: 0,
    batchesApplied: 0,
    recordsApplied: 0,
    recordsSkipped: 0,
    failovers: 0,
    linkCuts: 0,
    messagesLost: 0,
    messagesDuplicated: 0,
    refusedForSkew: 0,
    conflicts: 0,
    healSteps: 0,
  };
}

/** What one seed did and found. */
export interface LinkSimulationResult {
  readonly seed: number;
  readonly description: string;
  readonly violations: readonly string[];
  readonly stats: LinkSimulationStats;
  readonly traceDigest: string | null;
  readonly trace: readonly string[];
}

/** Virtual milliseconds per step. */
const stepMs = 10;
/** Steps of the fault phase. */
const faultSteps = 300;
/** Steps the healed world gets to converge. */
const healStepsMax = 3_000;
/** Keys that get writes, increments and expiries, and keys that only get increments. */
const mixedKeys: readonly string[] = ['x', 'y', 'z'];
const counterKeys: readonly string[] = ['n1', 'n2'];
/** Records one request asks for. */
const recordsMax = 4;
/** Steps before a puller asks again, and after an answer with nothing new. */
const retryTicks = 12;
const idleTicks = 3;
/** A message is lost, or sent twice, with probability 1/denominator (during faults). */
const lossDenominator = 8;
const duplicateDenominator = 10;
/** How far a clock runs ahead during a clock fault. */
const clockAheadMs = 3_500;
const violationsMax = 20;

type Proposal =
  | {
      readonly kind: 'local';
      readonly key: string;
      readonly op: UnstampedOp;
      readonly commitAt: number;
      /** The leader's wall clock when it proposed it: the command's time. */
      readonly wallMs: number;
    }
  | {
      readonly kind: 'batch';
      readonly batch: LinkBatch;
      readonly commitAt: number;
      /** The leader's wall clock when it proposed it. */
      readonly wallMs: number;
    };

interface Leader {
  readonly clock: Hlc;
  readonly pullers: Map<string, LinkPuller>;
}

interface SimCluster {
  readonly id: string;
  readonly state: SimLinkedState;
  proposals: Proposal[];
  leader: Leader;
  readonly skewMs: number;
  aheadMs: number;
}

type Message =
  | {
      readonly kind: 'request';
      readonly to: string;
      readonly request: PullRequest & { by: string };
    }
  | { readonly kind: 'answer'; readonly to: string; readonly batch: LinkBatch };

interface Acknowledged {
  readonly cluster: string;
  readonly key: string;
  readonly op: KeyOp;
}

class LinkWorld {
  readonly violations: string[] = [];
  readonly stats = noStats();
  readonly trace: string[] | null;
  readonly #prng: Prng;
  readonly #rules: LinkRules;
  readonly #hash: Hash | null;
  readonly #clusters: SimCluster[];
  #step = 0;
  #healing = false;
  #inFlight: { readonly at: number; readonly message: Message }[] = [];
  readonly #cut = new Set<string>();
  readonly #acknowledged: Acknowledged[] = [];
  readonly #line: boolean;

  constructor(seed: number, rules: LinkRules, trace: boolean) {
    this.#prng = new Prng(seed);
    this.#rules = rules;
    this.trace = trace ? [] : null;
    this.#hash = trace ? createHash('sha256') : null;
    const count = this.#prng.intBetween(2, 4);
    // Three clusters are linked each to each, or in a line (a - b - c) half the time.
    this.#line = count === 3 && this.#prng.chance(1, 2);
    this.#clusters = ['a', 'b', 'c'].slice(0, count).map((id) => ({
      id,
      state: new SimLinkedState(id, rules),
      proposals: [],
      leader: { clock: new Hlc(id), pullers: new Map() },
      skewMs: this.#prng.intBetween(0, 1_001) - 500,
      aheadMs: 0,
    }));
    for (const cluster of this.#clusters) cluster.leader = this.#newLeader(cluster);
  }

  get description(): string {
    const skews = this.#clusters.map((cluster) => `${cluster.id} ${cluster.skewMs} ms`);
    const shape = this.#line ? 'in a line' : 'each to each';
    return `${this.#clusters.length} clusters linked ${shape}, wall clocks off by ${skews.join(', ')}`;
  }

  digest(): string | null {
    return this.#hash === null ? null : this.#hash.digest('hex').slice(0, 8);
  }

  run(): void {
    for (; this.#step < faultSteps; this.#step++) this.#tick();
    this.#heal();
    for (let healed = 0; healed < healStepsMax && !this.#quiet(); healed++, this.#step++) {
      this.#tick();
      this.stats.healSteps += 1;
    }
    this.#checkEnd();
  }

  #log(line: string): void {
    const text = `${this.#step} ${line}`;
    this.trace?.push(text);
    this.#hash?.update(`${text}\n`);
  }

  #violation(description: string): void {
    if (this.violations.length < violationsMax) this.violations.push(description);
    this.#log(`VIOLATION ${description}`);
  }

  #wallMs(cluster: SimCluster): number {
    return Math.max(0, this.#step * stepMs + cluster.skewMs + cluster.aheadMs);
  }

  #newLeader(cluster: SimCluster): Leader {
    // The leader's clock judges the skew of remote stamps; its own writes are stamped
    // as they apply (`LinkedState.stampAt`).
    const clock = new Hlc(cluster.id, { skewMsMax: this.#rules.skewMsMax });
    const pullers = new Map<string, LinkPuller>();
    for (const other of this.#clusters) {
      if (!this.#linked(cluster, other)) continue;
      pullers.set(
        other.id,
        new LinkPuller(other.id, { recordsMax, retryTicks, idleTicks }, this.#rules.answersRequest),
      );
    }
    return { clock, pullers };
  }

  /** Whether two clusters are linked (a and c are not, in a line). */
  #linked(one: SimCluster, other: SimCluster): boolean {
    if (one === other) return false;
    return !(this.#line && [one.id, other.id].sort().join('') === 'ac');
  }

  #tick(): void {
    for (const cluster of this.#clusters) this.#commitDue(cluster);
    this.#deliverDue();
    if (!this.#healing) this.#faults();
    for (const cluster of this.#clusters) this.#poll(cluster);
  }

  #faults(): void {
    const prng = this.#prng;
    const writes = prng.intBetween(0, 3);
    for (let i = 0; i < writes; i++) {
      this.#write(this.#clusters[prng.intBetween(0, this.#clusters.length)] as SimCluster);
    }
    if (prng.chance(1, 40)) this.#failover(this.#pick());
    if (prng.chance(1, 30)) this.#toggleCut();
    if (prng.chance(1, 80)) {
      const cluster = this.#pick();
      cluster.aheadMs = cluster.aheadMs === 0 ? clockAheadMs : 0;
      this.#log(`${cluster.id} wall clock ahead by ${cluster.aheadMs} ms`);
    }
  }

  #pick(): SimCluster {
    return this.#clusters[this.#prng.intBetween(0, this.#clusters.length)] as SimCluster;
  }

  #write(cluster: SimCluster): void {
    const prng = this.#prng;
    const wallMs = this.#wallMs(cluster);
    let key: string;
    let op: UnstampedOp;
    if (prng.chance(1, 3)) {
      key = counterKeys[prng.intBetween(0, counterKeys.length)] as string;
      op = { kind: 'increment', delta: BigInt(prng.intBetween(0, 11) - 5) };
    } else {
      key = mixedKeys[prng.intBetween(0, mixedKeys.length)] as string;
      const draw = prng.intBetween(0, 10);
      if (draw < 5) {
        const value = Buffer.from(String(prng.intBetween(0, 100)));
        op = { kind: 'write', value: prng.chance(1, 5) ? null : value, expiresAtMs: null };
      } else if (draw < 8) {
        op = { kind: 'increment', delta: BigInt(prng.intBetween(1, 4)) };
      } else {
        const expiresAtMs = prng.chance(1, 2) ? null : wallMs + 60_000_000;
        op = { kind: 'expire', expiresAtMs };
      }
    }
    cluster.proposals.push({ kind: 'local', key, op, commitAt: this.#commitAt(), wallMs });
    this.stats.writesProposed += 1;
    this.#log(`${cluster.id} proposes ${op.kind} ${key} at ${wallMs} ms`);
  }

  #commitAt(): number {
    return this.#step + this.#prng.intBetween(1, 4);
  }

  #failover(cluster: SimCluster): void {
    // The new leader holds a prefix of the old one's proposals; they commit, the rest are lost.
    const kept = this.#prng.intBetween(0, cluster.proposals.length + 1);
    const survivors = cluster.proposals.slice(0, kept);
    const lost = cluster.proposals.slice(kept);
    cluster.proposals = [];
    for (const proposal of survivors) this.#commit(cluster, proposal);
    this.stats.writesLost += lost.filter((proposal) => proposal.kind === 'local').length;
    cluster.leader = this.#newLeader(cluster);
    this.stats.failovers += 1;
    this.#log(`${cluster.id} fails over: ${survivors.length} proposals kept, ${lost.length} lost`);
  }

  #toggleCut(): void {
    if (this.#clusters.length < 2) return;
    const a = this.#pick();
    const others = this.#clusters.filter((cluster) => cluster !== a);
    const b = others[this.#prng.intBetween(0, others.length)] as SimCluster;
    const pair = [a.id, b.id].sort().join('|');
    if (this.#cut.delete(pair)) {
      this.#log(`link ${pair} healed`);
    } else {
      this.#cut.add(pair);
      this.stats.linkCuts += 1;
      this.#log(`link ${pair} cut`);
    }
  }

  #heal(): void {
    this.#healing = true;
    this.#cut.clear();
    for (const cluster of this.#clusters) cluster.aheadMs = 0;
    this.#log('everything heals');
  }

  /** Whether every cluster has applied every other's whole stream (pullers keep asking). */
  #quiet(): boolean {
    return this.#clusters.every(
      (cluster) =>
        cluster.proposals.length === 0 &&
        this.#clusters.every(
          (other) =>
            !this.#linked(cluster, other) ||
            cluster.state.position(other.id) === other.state.streamLength,
        ),
    );
  }

  #commitDue(cluster: SimCluster): void {
    while (
      cluster.proposals.length > 0 &&
      (cluster.proposals[0] as Proposal).commitAt <= this.#step
    ) {
      this.#commit(cluster, cluster.proposals.shift() as Proposal);
    }
  }

  #commit(cluster: SimCluster, proposal: Proposal): void {
    const state = cluster.state;
    if (proposal.kind === 'local') {
      const last = state.lastStamp;
      const stamp = state.stampAt(proposal.wallMs);
      if (last !== null && compareStamps(stamp, last) <= 0) {
        this.#violation(
          `${cluster.id}'s write ${formatStamp(stamp)} is not after ${formatStamp(last)}, applied before it`,
        );
        return;
      }
      const op = state.applyLocal(proposal.key, { ...proposal.op, stamp } as LocalOp);
      this.#acknowledged.push({ cluster: cluster.id, key: proposal.key, op });
      this.stats.writesAcknowledged += 1;
      this.#log(`${cluster.id} commits ${op.kind} ${proposal.key} at ${formatStamp(stamp)}`);
      return;
    }
    const { batch } = proposal;
    for (const record of batch.records) {
      if (record.op.stamp.ms - proposal.wallMs > skewMsMax) {
        this.#violation(
          `${cluster.id} applies ${formatStamp(record.op.stamp)}, ${record.op.stamp.ms - proposal.wallMs} ms ahead of its clock`,
        );
      }
    }
    const result = state.applyBatch(batch, this.#rules.planBatch);
    if (!result.ok) {
      this.#log(`${cluster.id} refuses a batch of ${batch.from} (${result.refusal})`);
      return;
    }
    this.stats.batchesApplied += 1;
    this.stats.recordsApplied += result.applied;
    this.stats.recordsSkipped += result.skipped;
    this.#log(
      `${cluster.id} applies ${batch.from} ${batch.after}..${batch.through}: ${result.applied} new, ${result.skipped} skipped`,
    );
  }

  #poll(cluster: SimCluster): void {
    for (const [from, puller] of cluster.leader.pullers) {
      const request = puller.poll(cluster.state.position(from), this.#step);
      if (request !== null)
        this.#send(
          { kind: 'request', to: from, request: { ...request, by: cluster.id } },
          cluster.id,
        );
    }
  }

  #send(message: Message, sender: string): void {
    const prng = this.#prng;
    if (this.#isCut(sender, message.to)) return;
    if (!this.#healing && prng.chance(1, lossDenominator)) {
      this.stats.messagesLost += 1;
      return;
    }
    this.#inFlight.push({ at: this.#step + prng.intBetween(1, 6), message });
    if (!this.#healing && prng.chance(1, duplicateDenominator)) {
      this.stats.messagesDuplicated += 1;
      this.#inFlight.push({ at: this.#step + prng.intBetween(1, 20), message });
    }
  }

  #isCut(a: string, b: string): boolean {
    return this.#cut.has([a, b].sort().join('|'));
  }

  #deliverDue(): void {
    const due = this.#inFlight.filter((flight) => flight.at <= this.#step);
    this.#inFlight = this.#inFlight.filter((flight) => flight.at > this.#step);
    for (const { message } of due) this.#deliver(message);
  }

  #deliver(message: Message): void {
    const to = this.#clusters.find((cluster) => cluster.id === message.to) as SimCluster;
    if (message.kind === 'request') {
      // Any member answers from the committed state.
      const requester = message.request.by;
      const batch = to.state.batchAfter(
        message.request.after,
        message.request.recordsMax,
        requester,
        (record) => this.#rules.leftOut(record, requester, to.id),
      );
      this.#send({ kind: 'answer', to: message.request.by, batch }, to.id);
      return;
    }
    const puller = to.leader.pullers.get(message.batch.from);
    if (puller === undefined) return;
    const wallMs = this.#wallMs(to);
    const before = puller.refusedForSkew;
    const committed = to.state.position(message.batch.from);
    const batch = puller.answer(message.batch, committed, this.#step, to.leader.clock, wallMs);
    this.stats.refusedForSkew += puller.refusedForSkew - before;
    if (batch === null) return;
    to.proposals.push({ kind: 'batch', batch, commitAt: this.#commitAt(), wallMs });
    this.#log(`${to.id} proposes ${batch.from} ${batch.after}..${batch.through}`);
  }

  #checkEnd(): void {
    if (!this.#quiet()) {
      this.#violation(`the healed clusters did not converge in ${healStepsMax} steps`);
      return;
    }
    const nowMs = this.#step * stepMs;
    const keys = new Set(this.#clusters.flatMap((cluster) => cluster.state.memory.keys()));
    const text = (value: Uint8Array | null) =>
      value === null ? 'nil' : Buffer.from(value).toString('latin1');
    const first = this.#clusters[0] as SimCluster;
    for (const key of keys) {
      const expected = text(first.state.read(key, nowMs));
      for (const other of this.#clusters.slice(1)) {
        const actual = text(other.state.read(key, nowMs));
        if (actual !== expected) {
          this.#violation(`${key} reads ${expected} on ${first.id} but ${actual} on ${other.id}`);
        }
      }
    }
    this.#checkStreams();
    this.#checkCounters(nowMs);
    this.#checkWrites();
    for (const cluster of this.#clusters) this.stats.conflicts += cluster.state.conflictsTotal;
  }

  /** Invariants 2 and 5: each stamp once, each origin in the order of its stamps. */
  #checkStreams(): void {
    for (const cluster of this.#clusters) {
      const batch = wholeStream(cluster.state);
      const seen = new Set<string>();
      const lastByOrigin = new Map<string, Stamp>();
      for (const record of batch.records) {
        const name = formatStamp(record.op.stamp);
        if (seen.has(name)) this.#violation(`${cluster.id} applied ${name} twice`);
        seen.add(name);
        const last = lastByOrigin.get(record.op.stamp.cluster);
        if (last !== undefined && compareStamps(record.op.stamp, last) <= 0) {
          this.#violation(`${cluster.id} applied ${name} after ${formatStamp(last)}`);
        }
        lastByOrigin.set(record.op.stamp.cluster, record.op.stamp);
      }
    }
  }

  /** Invariant 3: a counter is the sum of its acknowledged increments. */
  #checkCounters(nowMs: number): void {
    for (const key of counterKeys) {
      const increments = this.#acknowledged.filter((ack) => ack.key === key);
      const sum = increments.reduce(
        (total, ack) => total + (ack.op.kind === 'increment' ? ack.op.delta : 0n),
        0n,
      );
      const expected = increments.length === 0 ? 'nil' : sum.toString();
      for (const cluster of this.#clusters) {
        const value = cluster.state.read(key, nowMs);
        const actual = value === null ? 'nil' : Buffer.from(value).toString('latin1');
        if (actual !== expected) {
          this.#violation(
            `counter ${key} reads ${actual} on ${cluster.id}, acknowledged ${expected}`,
          );
        }
      }
    }
  }

  /** Invariant 4: no acknowledged write vanishes unrecorded. */
  #checkWrites(): void {
    const first = this.#clusters[0] as SimCluster;
    const records = this.#clusters.flatMap((cluster) => wholeStream(cluster.state).records);
    for (const ack of this.#acknowledged) {
      if (ack.op.kind !== 'write') continue;
      const stamp = ack.op.stamp;
      const winner = first.state.keyState(ack.key).winner;
      if (winner !== null && compareStamps(winner, stamp) === 0) continue;
      const seenLater = records.some(
        (record) =>
          record.key === ack.key &&
          record.op.kind === 'write' &&
          compareStamps(record.op.stamp, stamp) !== 0 &&
          clockHolds((record.op as Extract<KeyOp, { kind: 'write' }>).seen, stamp),
      );
      if (seenLater) continue;
      const origin = this.#clusters.find((cluster) => cluster.id === ack.cluster) as SimCluster;
      const recorded = origin.state.memory
        .conflicts()
        .some((conflict) => compareStamps(conflict.lost, stamp) === 0);
      if (!recorded) {
        this.#violation(`${ack.cluster}'s write of ${ack.key} at ${formatStamp(stamp)} vanished`);
      }
    }
  }
}

/** Every record of a cluster's stream. */
function wholeStream(state: LinkedState): LinkBatch {
  return state.batchAfter(0, Math.max(1, state.streamLength));
}

/** Runs one seed. */
export function runLinkSimulation(options: LinkSimulationOptions): LinkSimulationResult {
  const world = new LinkWorld(
    options.seed,
    { ...linkRules, ...options.rules },
    options.trace === true,
  );
  world.run();
  return {
    seed: options.seed,
    description: world.description,
    violations: world.violations,
    stats: world.stats,
    traceDigest: world.digest(),
    trace: world.trace ?? [],
  };
}

/** The totals of a batch of seeds. */
export type LinkBatchSummary = SeedRangeSummary<LinkSimulationStats, LinkSimulationResult>;

/** Runs seeds `from .. from + count - 1` under `rules` (the real ones by default). */
export function runLinkSeeds(options: {
  readonly from: number;
  readonly count: number;
  readonly rules?: Partial<LinkRules>;
  readonly onResult?: (result: LinkSimulationResult) => void;
}): LinkBatchSummary {
  return runSeedRange(options, noStats(), (seed) =>
    runLinkSimulation({ seed, rules: options.rules }),
  );
}

/** Runs seeds from `from` against `mutant` until one catches it (and the real rules pass it). */
export function findCatchingLinkSeed(mutant: LinkMutant, from: number, maxSeeds: number) {
  return findCatchingSeed(
    from,
    maxSeeds,
    (seed) => runLinkSimulation({ seed, rules: mutant.rules }),
    (seed) => runLinkSimulation({ seed }),
  );
}

/** The command that replays one seed with its trace. */
export function linkReplayCommand(seed: number, mutant?: string): string {
  return replayCommand('sim:links', seed, mutant);
}
