import { RaftCore } from '../core/core.js';
import type { CoreConfig } from '../core/config.js';
import { allMembers } from '../core/membership.js';
import { Prng } from '../core/prng.js';
import {
  durabilityOrder,
  topologies,
  type Durability,
  type Topology,
  type Membership,
  type Message,
  type NodeId,
  type RelayRoute,
  topologyOf,
} from '../core/types.js';
import { Checker, type ClusterView, type TrackedWrite } from './checker.js';
import { BudgetExceededError, EventQueue } from './event-queue.js';
import { calmNetwork, SimNetwork } from './network.js';
import {
  runtimeDriverRules,
  SimNode,
  type CoreFactory,
  type DriverRules,
  type ReadConsistency,
  type SimWorld,
} from './node.js';
import { encodeCommand } from './state-machine.js';

/** How to run one seed. */
export interface SimulationOptions {
  readonly seed: number;
  /** Builds each node's core; the mutation tests pass broken variants. */
  readonly makeCore?: CoreFactory;
  /** Overrides of the rules by which nodes carry out Readies; the mutation tests pass broken ones. */
  readonly driver?: Partial<DriverRules>;
  /** Events the run may execute before it fails (default `eventsPerSeedMax`). */
  readonly eventsMax?: number;
  /** Keep a readable trace of the run (costs time; used for replays and determinism tests). */
  readonly trace?: boolean;
}

/** What one seed did and found. */
export interface SimulationResult {
  readonly seed: number;
  readonly description: string;
  readonly violations: readonly string[];
  readonly lostAsyncWrites: number;
  /** Fault events injected: crashes, pauses, partitions, network changes, transfers, membership changes. */
  readonly faults: number;
  readonly writesAcknowledged: number;
  readonly readsCompleted: number;
  readonly messagesSent: number;
  readonly messagesDropped: number;
  readonly virtualMs: number;
  /** Events the run executed (its budget is `eventsPerSeedMax`). */
  readonly events: number;
  /** Real elections started during the fault phase, and the highest term reached then. */
  readonly elections: number;
  readonly highestTerm: number;
  /** How long the healed cluster went without a leader. */
  readonly leaderlessAfterHealMs: number;
  /** A digest of the whole trace (only with `trace`): equal seeds give equal digests. */
  readonly traceDigest: string | null;
  /** The last lines of the trace (only with `trace`). */
  readonly trace: readonly string[];
}

/** Virtual milliseconds per core tick. */
const tickMs = 10;
/** How long a healed cluster has to converge before that is a violation. */
const convergenceDeadlineMs = 12_000;
/**
 * Events one seed may execute. A seed that has not converged by then fails at once, with
 * its replay command, instead of running on (a livelock looks like that).
 */
export const eventsPerSeedMax = 500_000;
/** With PreVote, a healed cluster elects a leader within this many longest election timeouts. */
const leaderlessAfterHealTimeoutsMax = 8;
/**
 * With PreVote, the fault phase holds at most this many elections per fault plus the spare
 * (candidates of one term count apart: split votes), and reaches at most this many terms.
 */
const electionsPerFaultMax = 3;
const electionsSpareMax = 20;
const termsPerFaultMax = 2;
const termsSpareMax = 16;
/** After convergence the cluster settles within this many longest election timeouts (one without an election)... */
const settleTimeoutsMax = 10;
/** ...and then runs this many more and must hold no election. */
const quietTimeouts = 4;
/** A settled cluster's disks stall for this many longest election timeouts: no election may follow. */
const stallTimeouts = 2;
/** Trace lines kept for a replay printout. */
const traceLinesMax = 200_000;
/** How long a client waits for an answer before it moves on (each client draws its own). */
const clientTimeoutsMs = [100, 300, 1_500] as const;
const keys = ['a', 'b', 'c'] as const;
/** How reads are drawn: six in ten linearizable, the rest served locally. */
const readConsistencies: readonly ReadConsistency[] = [
  'linearizable',
  'linearizable',
  'linearizable',
  'linearizable',
  'linearizable',
  'linearizable',
  'stale',
  'stale',
  'bounded',
  'ryw',
];

/** A workload client: it remembers which node it last found leading, and its last acknowledged write. */
interface SimClient {
  knownLeader: NodeId | null;
  readonly timeoutMs: number;
  lastAcknowledged: TrackedWrite | null;
}

/** The random shape of one run, all drawn from its seed. */
interface Plan {
  readonly voters: number;
  readonly learners: number;
  readonly durability: Durability;
  /** The cores' config; check-quorum is set per node (see `nodeConfig`). */
  readonly config: Partial<CoreConfig>;
  readonly checkQuorum: boolean;
  /** Usual fsyncs take 0 to `fsyncMaxMs`; `slowFsyncPerMille` of them up to `slowFsyncMaxMs`. */
  readonly fsyncMaxMs: number;
  readonly slowFsyncPerMille: number;
  readonly slowFsyncMaxMs: number;
  readonly compactEveryEntries: number;
  readonly faultPhaseMs: number;
  readonly clients: number;
  readonly faultEvents: number;
  /** Chance, per 1000, that a newly elected leader crashes within 40 ms. */
  readonly leaderCrashPerMille: number;
  /** Applies take 0 to `applyMaxMs` (0: at once, as the in-memory store applies). */
  readonly applyMaxMs: number;
}

function drawPlan(random: Prng): Plan {
  const faultPhaseMs = random.intBetween(3_000, 8_000);
  const voters = random.intBetween(1, 8);
  const electionTicks = random.pick([6, 10, 16]);
  // Two voters run as the runtime runs them (node/node.ts): PreVote on, check-quorum off.
  const twoVoters = voters === 2;
  return {
    voters,
    learners: random.intBetween(0, 3),
    durability: random.pick(durabilityOrder),
    config: {
      electionTicks,
      heartbeatTicks: random.intBetween(1, Math.floor(electionTicks / 3) + 1),
      preVote: twoVoters || random.chance(3, 4),
      maxInflightMessages: random.pick([1, 2, 8, 64]),
      maxEntriesPerMessage: random.pick([1, 4, 16, 512]),
      maxApplyBatchEntries: random.pick([1, 8, 1024]),
      // 1 byte: every Ready hands out one entry to be written, the rest waits.
      maxReadyEntryBytes: random.pick([1, 64, 16 * 1024 * 1024]),
      syncTimeoutTicks: random.pick([15, 30, 60]),
      learnerCatchUpEntries: random.pick([0, 8, 64]),
      maxPendingProposals: 1_000,
    },
    checkQuorum: !twoVoters && random.chance(3, 4),
    fsyncMaxMs: random.intBetween(0, 6),
    slowFsyncPerMille: random.pick([0, 10, 50]),
    slowFsyncMaxMs: random.pick([30, 80, 200]),
    compactEveryEntries: random.intBetween(8, 120),
    faultPhaseMs,
    clients: random.intBetween(1, 5),
    faultEvents: random.intBetween(Math.floor(faultPhaseMs / 600), Math.floor(faultPhaseMs / 150)),
    leaderCrashPerMille: random.pick([0, 200, 500, 900]),
    applyMaxMs: random.pick([0, 0, 2, 8]),
  };
}

/** Runs one seed: a random cluster, workload and fault schedule, then healing and convergence. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

class Simulation {
  readonly #options: SimulationOptions;
  readonly #random: Prng;
  /**
   * The draws of chain replication (the starting topology, learners' upstreams, switches
   * of topology) come from a stream of their own, so that adding them left every other
   * draw of a seed as it was.
   */
  readonly #chainRandom: Prng;
  /** How the log reaches the members at the start (the faults may change it). */
  readonly #topology: Topology;
  readonly #plan: Plan;
  readonly #queue = new EventQueue();
  readonly #checker: Checker;
  readonly #network: SimNetwork;
  readonly #nodes = new Map<NodeId, SimNode>();
  readonly #world: SimWorld;
  readonly #traceLines: string[] = [];
  #traceHash = 0x811c9dc5;
  #faults = 0;
  #writeSeq = 0;
  #readsCompleted = 0;
  #nextNodeNumber: number;
  #faultPhaseOver = false;
  #leaderlessAfterHealMs = 0;
  #faultPhaseElections = { elections: 0, highestTerm: 0 };

  constructor(options: SimulationOptions) {
    this.#options = options;
    this.#random = new Prng(options.seed);
    this.#plan = drawPlan(this.#random);
    this.#chainRandom = new Prng(options.seed ^ 0x5c4a1e);
    this.#topology = this.#chainRandom.pick(topologies);
    this.#queue.eventsMax = options.eventsMax ?? eventsPerSeedMax;
    this.#checker = new Checker(this.#plan.durability, () => this.#queue.now, this.#clusterView());
    this.#network = new SimNetwork(this.#queue, this.#random, (message) => this.#deliver(message));
    this.#world = {
      queue: this.#queue,
      random: this.#random,
      checker: this.#checker,
      makeCore: options.makeCore ?? ((coreOptions) => new RaftCore(coreOptions)),
      driver: { ...runtimeDriverRules, ...options.driver },
      fsyncDelayMs: () => this.#fsyncDelayMs(),
      applyDelayMs: () =>
        this.#plan.applyMaxMs === 0 ? 0 : this.#random.intBetween(0, this.#plan.applyMaxMs + 1),
      send: (message) => this.#send(message),
      trace: (line) => this.#trace(line),
      onLeader: (node) => this.#maybeCrashNewLeader(node),
    };
    this.#nextNodeNumber = this.#plan.voters + this.#plan.learners + 1;
  }

  run(): SimulationResult {
    let lostAsyncWrites = 0;
    try {
      this.#startCluster();
      this.#scheduleTicks();
      for (let client = 0; client < this.#plan.clients; client++) {
        const timeoutMs = this.#random.pick(clientTimeoutsMs);
        this.#queue.schedule(client, () =>
          this.#clientStep({ knownLeader: null, timeoutMs, lastAcknowledged: null }),
        );
      }
      this.#scheduleFaults();
      this.#queue.runUntil(this.#plan.faultPhaseMs);
      this.#faultPhaseElections = this.#checker.elections;
      this.#checkElectionsDuringFaults();
      this.#heal();
      const converged = this.#runUntilConverged();
      if (converged === null) {
        this.#checker.fail(
          `the healed cluster did not converge within ${convergenceDeadlineMs} ms: ${this.#describeNodes()}`,
          true,
        );
      } else {
        const quiet = this.#checkQuiet();
        lostAsyncWrites = this.#checker.finish(converged).lostAsyncWrites;
        if (quiet) this.#checkStalledDisksKeepLeader();
      }
    } catch (error) {
      if (error instanceof BudgetExceededError) {
        this.#checker.fail(
          `the seed ${error.message} without converging: ${this.#describeNodes()}`,
          true,
        );
      } else {
        this.#checker.fail(
          `exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          true,
        );
      }
    }
    return {
      seed: this.#options.seed,
      description: this.#describePlan(),
      violations: this.#checker.violations,
      lostAsyncWrites,
      faults: this.#faults,
      writesAcknowledged: this.#checker.writes.filter((write) => write.ackedAtMs !== null).length,
      readsCompleted: this.#readsCompleted,
      messagesSent: this.#network.sent,
      messagesDropped: this.#network.dropped,
      virtualMs: this.#queue.now,
      events: this.#queue.eventsRun,
      elections: this.#faultPhaseElections.elections,
      highestTerm: this.#faultPhaseElections.highestTerm,
      leaderlessAfterHealMs: this.#leaderlessAfterHealMs,
      traceDigest: this.#options.trace
        ? (this.#traceHash >>> 0).toString(16).padStart(8, '0')
        : null,
      trace: this.#traceLines,
    };
  }

  /** What the checker may look at: every node's disk, state machine and membership. */
  #clusterView(): ClusterView {
    return {
      holdsDurably: (id, index, term) =>
        this.#nodes.get(id)?.disk.holdsDurably(index, term) ?? false,
      hasApplied: (id, write) => {
        const store = this.#nodes.get(id)?.store;
        return (
          store !== undefined && store.applied >= write.index && store.contains(write.key, write.id)
        );
      },
      voters: (id) => this.#nodes.get(id)?.core?.membership.voters ?? [],
      durableTerm: (id) => this.#nodes.get(id)?.disk.hardState.term ?? 0,
    };
  }

  #fsyncDelayMs(): number {
    const plan = this.#plan;
    if (this.#random.chance(plan.slowFsyncPerMille, 1000)) {
      return this.#random.intBetween(plan.fsyncMaxMs + 1, plan.slowFsyncMaxMs + 1);
    }
    return this.#random.intBetween(0, plan.fsyncMaxMs + 1);
  }

  /** The longest election timeout of this run, in virtual ms (timeouts are randomized up to twice the base). */
  get #longestElectionTimeoutMs(): number {
    return 2 * (this.#plan.config.electionTicks as number) * tickMs;
  }

  /**
   * The liveness measure of the fault phase. With PreVote a fault costs an election or two
   * (a leader crashed or cut off, a transfer, a split vote); a node cut off from the
   * leader never raises the term, so elections do not grow with the length of a fault.
   */
  #checkElectionsDuringFaults(): void {
    if (this.#plan.config.preVote !== true) return;
    const { elections, highestTerm } = this.#faultPhaseElections;
    const electionsBound = electionsPerFaultMax * this.#faults + electionsSpareMax;
    const termsBound = termsPerFaultMax * this.#faults + termsSpareMax;
    if (elections > electionsBound || highestTerm > termsBound) {
      this.#checker.fail(
        `${elections} elections and ${highestTerm} terms during ${this.#faults} faults (at most ${electionsBound} and ${termsBound} with PreVote)`,
      );
    }
  }

  /**
   * A healed, converged cluster on a calm network settles and then holds no election
   * (with PreVote). An election under way at convergence may take a few rounds (split
   * votes), and a transfer asked for during the faults may still complete: the cluster
   * gets `settleTimeoutsMax` longest election timeouts to go one of them without an election.
   */
  #checkQuiet(): boolean {
    if (this.#plan.config.preVote !== true) return false;
    const windowMs = this.#longestElectionTimeoutMs;
    let settled = false;
    for (let window = 0; window < settleTimeoutsMax && !settled; window++) {
      const before = this.#checker.elections.elections;
      this.#queue.runUntil(this.#queue.now + windowMs);
      settled = this.#checker.elections.elections === before;
    }
    if (!settled) {
      this.#checker.fail(
        `the healed cluster was still holding elections ${settleTimeoutsMax} election timeouts after converging`,
      );
      return false;
    }
    const before = this.#checker.elections;
    this.#queue.runUntil(this.#queue.now + quietTimeouts * windowMs);
    const after = this.#checker.elections;
    if (after.elections !== before.elections) {
      this.#checker.fail(
        `the healed cluster held ${after.elections - before.elections} elections on a calm network after settling (term ${before.highestTerm} to ${after.highestTerm})`,
      );
      return false;
    }
    return true;
  }

  /**
   * Heartbeats never wait for the disk. On the settled cluster, first the leader's disk
   * and then every disk stalls for longer than an election timeout while a write is in
   * flight: no election may follow (ticks, heartbeats and their answers go on while the
   * syncs hang), and each write is acknowledged once the disks are back.
   */
  #checkStalledDisksKeepLeader(): void {
    for (const scope of ['the leader', 'every node'] as const) {
      const leader = this.#leader();
      if (leader === null) return;
      const stallMs = stallTimeouts * this.#longestElectionTimeoutMs;
      const untilMs = this.#queue.now + stallMs;
      const stalled = scope === 'the leader' ? [leader] : [...this.#nodes.values()];
      for (const node of stalled) if (node.up) node.stallDisk(untilMs);
      const before = this.#checker.elections;
      let outcome = 'no answer';
      let index = 0;
      const data = encodeCommand({ key: keys[0] as string, value: `stall-${scope}` });
      leader.propose(
        data,
        undefined,
        (receipt) => {
          index = receipt.index;
        },
        (result) => {
          outcome = result.ok ? result.value : result.error;
        },
      );
      this.#queue.runUntil(untilMs + this.#longestElectionTimeoutMs);
      const after = this.#checker.elections;
      if (after.elections !== before.elections) {
        this.#checker.fail(
          `${after.elections - before.elections} elections while the disk of ${scope} stalled for ${stallMs} ms (term ${before.highestTerm} to ${after.highestTerm})`,
        );
        return;
      }
      // A stall longer than the sync timeout may time the write out; it is applied anyway.
      // A semi-sync write with no other voter is refused before it enters the log.
      if (outcome === 'TANDEM_REPLICA_UNAVAILABLE' && index === 0) continue;
      const answered = outcome === 'acknowledged' || outcome === 'timeout';
      if (!answered || index === 0 || leader.store.applied < index) {
        this.#checker.fail(
          `a write during a stall of the disk of ${scope} ended '${outcome}' (index ${index}, applied ${leader.store.applied}) once the disks were back`,
        );
        return;
      }
    }
  }

  #describePlan(): string {
    const plan = this.#plan;
    const config = plan.config;
    const checkQuorum =
      plan.voters === 2
        ? 'check-quorum off (two voters)'
        : `check-quorum ${plan.checkQuorum ? 'on' : 'off'}`;
    return (
      `${plan.voters} voters + ${plan.learners} learners, ${this.#topology}, ${plan.durability}, ` +
      `PreVote ${config.preVote === true ? 'on' : 'off'}, ${checkQuorum}, ` +
      `election ${config.electionTicks} ticks, sync timeout ${config.syncTimeoutTicks} ticks, ` +
      `${plan.clients} clients, ${plan.faultPhaseMs} ms of faults`
    );
  }

  // ---------------------------------------------------------------- setup

  #startCluster(): void {
    const voters = range(1, this.#plan.voters).map((n) => `n${n}`);
    const learners = range(this.#plan.voters + 1, this.#plan.voters + this.#plan.learners).map(
      (n) => `n${n}`,
    );
    // Some learners receive the log from a voter instead (`--upstream`).
    const upstreams: Record<string, string> = {};
    for (const learner of learners) {
      if (this.#chainRandom.chance(1, 2)) upstreams[learner] = this.#chainRandom.pick(voters);
    }
    const membership: Membership = {
      voters,
      learners,
      ...(this.#topology === 'chain' ? { topology: 'chain' as const } : {}),
      ...(Object.keys(upstreams).length === 0 ? {} : { upstreams }),
    };
    for (const id of voters) this.#addNode(id, membership, false);
    for (const id of learners) this.#addNode(id, membership, true);
  }

  /** Starts a node; `joined` when it joins a running cluster (as learners do) rather than founding it. */
  #addNode(id: NodeId, bootstrap: Membership, joined: boolean): SimNode {
    const node = new SimNode(id, bootstrap, this.#world, {
      config: this.#nodeConfig(joined),
      compactEveryEntries: this.#plan.compactEveryEntries,
    });
    this.#nodes.set(id, node);
    node.start();
    return node;
  }

  /**
   * A node's core config, as the runtime builds it: a founding voter of a two-voter cluster
   * runs without check-quorum, a node that joined later with it; otherwise as drawn (an
   * operator's setting applies to every node).
   */
  #nodeConfig(joined: boolean): Partial<CoreConfig> {
    const checkQuorum = this.#plan.voters === 2 ? joined : this.#plan.checkQuorum;
    return { ...this.#plan.config, checkQuorum, durability: this.#plan.durability };
  }

  #scheduleTicks(): void {
    const tick = (): void => {
      for (const node of this.#nodes.values()) node.tick();
      this.#queue.schedule(tickMs, tick);
    };
    this.#queue.schedule(tickMs, tick);
  }

  #send(message: Message): void {
    if (this.#options.trace) this.#trace(describeMessage(message));
    this.#network.send(message);
  }

  #deliver(message: Message): void {
    const node = this.#nodes.get(message.to);
    const core = node?.up === true ? node.core : null;
    if (
      core !== null &&
      core !== undefined &&
      message.type === 'append-response' &&
      core.role === 'leader' &&
      core.term === message.term
    ) {
      this.#checker.onChainAnswer(message, (index) => core.entryAt(index)?.term);
    }
    node?.receive(message);
  }

  #trace(line: string): void {
    if (!this.#options.trace) return;
    const text = `t=${this.#queue.now} ${line}`;
    for (let i = 0; i < text.length; i++)
      this.#traceHash = Math.imul(this.#traceHash ^ text.charCodeAt(i), 0x01000193);
    this.#traceLines.push(text);
    if (this.#traceLines.length > traceLinesMax) this.#traceLines.splice(0, traceLinesMax / 2); // drop the oldest half at once: linear, not quadratic
  }

  // ---------------------------------------------------------------- workload

  #leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.#nodes.values()) {
      if (node.core === null || node.paused || node.role !== 'leader') continue;
      if (best === null || node.core.term > (best.core as RaftCore).term) best = node;
    }
    return best;
  }

  /**
   * Where a client sends its next call: like a real client, to the node it last found
   * leading, until that fails; otherwise usually the current leader, sometimes any node.
   */
  #pickTarget(client: SimClient): SimNode {
    const known = client.knownLeader === null ? undefined : this.#nodes.get(client.knownLeader);
    if (known !== undefined && this.#random.chance(4, 5)) return known;
    const leader = this.#leader();
    if (leader !== null && this.#random.chance(2, 3)) return leader;
    return this.#random.pick([...this.#nodes.values()]);
  }

  /** One client operation, then the next after a short think time. */
  #clientStep(client: SimClient): void {
    if (this.#faultPhaseOver) return;
    const node = this.#pickTarget(client);
    let finished = false;
    const next = (error?: string): void => {
      if (finished) return;
      finished = true;
      if (error === undefined) client.knownLeader = node.id;
      else if (error === 'TANDEM_NOT_LEADER') client.knownLeader = node.core?.leaderId ?? null;
      else if (this.#random.chance(1, 2)) client.knownLeader = null;
      this.#queue.schedule(this.#random.intBetween(0, 30), () => this.#clientStep(client));
    };
    this.#queue.schedule(client.timeoutMs, () => next('timeout'));
    if (this.#random.chance(3, 5)) this.#clientWrite(client, node, next);
    else this.#clientRead(client, node, next);
  }

  #clientWrite(client: SimClient, node: SimNode, next: (error?: string) => void): void {
    const key = this.#random.pick(keys);
    const id = `w${++this.#writeSeq}`;
    const data = encodeCommand({ key, value: id });
    const stronger = this.#random.chance(1, 5) ? this.#random.pick(durabilityOrder) : undefined;
    let tracked: TrackedWrite | null = null;
    node.propose(
      data,
      stronger,
      (receipt) => {
        const durability =
          stronger !== undefined &&
          durabilityOrder.indexOf(stronger) > durabilityOrder.indexOf(this.#plan.durability)
            ? stronger
            : this.#plan.durability;
        tracked = {
          id,
          key,
          index: receipt.index,
          term: receipt.term,
          data,
          durability,
          leader: node.id,
          votersAtPropose: node.core?.membership.voters ?? [],
          ackedAtMs: null,
        };
        this.#checker.writes.push(tracked);
        this.#trace(`client ${id} -> ${node.id} at ${receipt.index}/${receipt.term}`);
      },
      (result) => {
        if (result.ok && result.value === 'acknowledged' && tracked !== null) {
          this.#checker.onAcknowledged(tracked);
          client.lastAcknowledged = tracked;
          this.#trace(`client ${id} acknowledged`);
        }
        next(result.ok ? undefined : result.error);
      },
    );
  }

  #clientRead(client: SimClient, node: SimNode, next: (error?: string) => void): void {
    const consistency = this.#random.pick(readConsistencies);
    const ownWrite = consistency === 'ryw' ? client.lastAcknowledged : null;
    // A ryw read reads the key of the client's own last write, to see it there.
    const key = ownWrite?.key ?? this.#random.pick(keys);
    const startedAtMs = this.#queue.now;
    const request = {
      key,
      consistency,
      maxLagEntries: this.#random.pick([0, 2, 16]),
      afterIndex: ownWrite?.index ?? 0,
      afterTerm: ownWrite?.term ?? 0,
    };
    node.read(request, (result) => {
      if (result.ok) {
        this.#readsCompleted++;
        this.#checker.onRead({
          key,
          node: node.id,
          consistency,
          servedAsLeader: result.value.servedAsLeader,
          startedAtMs,
          finishedAtMs: this.#queue.now,
          values: result.value.values,
          ownWrite,
        });
      }
      next(result.ok ? undefined : result.error);
    });
  }

  // ---------------------------------------------------------------- faults

  #scheduleFaults(): void {
    for (let i = 0; i < this.#plan.faultEvents; i++) {
      this.#queue.schedule(this.#random.intBetween(100, this.#plan.faultPhaseMs), () =>
        this.#injectFault(),
      );
    }
  }

  #injectFault(): void {
    if (this.#faultPhaseOver) return;
    const kinds = [
      'crash',
      'partition',
      'one-way',
      'pause',
      'network',
      'transfer',
      'membership',
      'membership-burst',
      'disk-stall',
    ] as const;
    const kind = this.#random.pick(kinds);
    this.#faults++;
    const upNodes = [...this.#nodes.values()].filter((node) => node.up);
    const duration = this.#random.intBetween(50, 2_000);
    switch (kind) {
      case 'crash': {
        if (upNodes.length === 0) return;
        const node = this.#random.pick(upNodes);
        node.crash();
        this.#queue.schedule(duration, () => {
          if (!node.up && !this.#faultPhaseOver) node.start();
        });
        return;
      }
      case 'partition': {
        const ids = [...this.#nodes.keys()];
        const sideA = ids.filter(() => this.#random.chance(1, 2));
        const sideB = ids.filter((id) => !sideA.includes(id));
        this.#trace(`partition ${sideA.join(',')} | ${sideB.join(',')}`);
        this.#network.partition(sideA, sideB);
        this.#queue.schedule(duration, () => this.#healNetwork());
        return;
      }
      case 'one-way': {
        const ids = [...this.#nodes.keys()];
        const from = this.#random.pick(ids);
        const to = this.#random.pick(ids);
        this.#trace(`block ${from} -> ${to}`);
        this.#network.block(from, to);
        this.#queue.schedule(duration, () => this.#healNetwork());
        return;
      }
      case 'pause': {
        const candidates = upNodes.filter((node) => !node.paused);
        if (candidates.length === 0) return;
        const node = this.#random.pick(candidates);
        node.pause();
        this.#queue.schedule(duration, () => {
          if (node.paused) node.resume();
        });
        return;
      }
      case 'network': {
        const minDelayMs = this.#random.intBetween(0, 6);
        this.#network.faults = {
          lossPerMille: this.#random.pick([0, 10, 50, 150]),
          duplicatePerMille: this.#random.pick([0, 10, 50]),
          minDelayMs,
          maxDelayMs: minDelayMs + this.#random.pick([0, 5, 20, 60]),
        };
        this.#trace(`network ${JSON.stringify(this.#network.faults)}`);
        return;
      }
      case 'transfer':
        return this.#transferLeadership();
      case 'membership':
        // A switch of topology now and then, a little later (through the log as well).
        if (this.#chainRandom.chance(1, 3)) {
          this.#queue.schedule(this.#chainRandom.intBetween(50, 500), () => {
            if (!this.#faultPhaseOver) this.#changeTopology();
          });
        }
        return this.#changeMembership();
      case 'membership-burst':
        return this.#membershipBurst();
      case 'disk-stall': {
        if (upNodes.length === 0) return;
        // Stalls end with the fault phase: healing gives every disk back.
        const untilMs = this.#queue.now + this.#random.intBetween(30, 1_500);
        this.#random.pick(upNodes).stallDisk(Math.min(untilMs, this.#plan.faultPhaseMs));
        return;
      }
    }
  }

  /**
   * Crashes a new leader soon after its election, some of the time: the moment when its
   * log holds entries of earlier terms that are replicated but not committed (the window
   * of Raft's figure 8).
   */
  #maybeCrashNewLeader(node: SimNode): void {
    if (this.#faultPhaseOver || !this.#random.chance(this.#plan.leaderCrashPerMille, 1000)) return;
    this.#queue.schedule(this.#random.intBetween(0, 40), () => {
      if (!node.up || this.#faultPhaseOver) return;
      this.#faults++;
      node.crash();
      this.#queue.schedule(this.#random.intBetween(20, 400), () => {
        if (!node.up && !this.#faultPhaseOver) node.start();
      });
    });
  }

  #healNetwork(): void {
    if (!this.#network.partitioned) return;
    this.#network.heal();
    this.#trace('network healed');
  }

  #transferLeadership(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const voters = (leader.core as RaftCore).membership.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = this.#random.pick(voters);
    this.#trace(`operator: transfer ${leader.id} -> ${to}`);
    leader.admin(
      (core) => core.transferLeadership(to),
      () => undefined,
    );
  }

  /** Adds a learner, promotes one, or removes a member, through the current leader. */
  #changeMembership(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const membership = (leader.core as RaftCore).membership;
    const choice = this.#random.intBetween(0, 3);
    if (choice === 0 && this.#nodes.size < 10) {
      const id = `n${this.#nextNodeNumber++}`;
      this.#addNode(id, { voters: [], learners: [] }, true);
      // Some fed by a voter other than the leader (`--upstream`).
      const voters = membership.voters.filter((voter) => voter !== leader.id);
      const upstream =
        voters.length > 0 && this.#chainRandom.chance(1, 3)
          ? this.#chainRandom.pick(voters)
          : undefined;
      this.#trace(
        `operator: add learner ${id}${upstream === undefined ? '' : ` from ${upstream}`}`,
      );
      leader.changeMembers(
        upstream === undefined
          ? { type: 'add-learner', id }
          : { type: 'add-learner', id, upstream },
        (result) => this.#traceAdmin(result),
      );
    } else if (choice === 1 && membership.learners.length > 0) {
      const id = this.#random.pick(membership.learners);
      this.#trace(`operator: promote ${id}`);
      leader.changeMembers({ type: 'add-voter', id }, (result) => this.#traceAdmin(result));
    } else if (choice === 2) {
      const others = allMembers(membership).filter((id) => id !== leader.id);
      if (others.length === 0) return;
      const id = this.#random.pick(others);
      this.#trace(`operator: remove ${id}`);
      leader.changeMembers({ type: 'remove', id }, (result) => this.#traceAdmin(result));
    }
  }

  /** Switches the topology, star to chain or chain to star, through the current leader. */
  #changeTopology(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const now = topologyOf((leader.core as RaftCore).membership);
    const topology: Topology = now === 'chain' ? 'star' : 'chain';
    this.#trace(`operator: topology ${topology}`);
    leader.changeMembers({ type: 'set-topology', topology }, (result) => this.#traceAdmin(result));
  }

  /** Two to four membership changes within a few ms, as a script or an impatient operator sends them. */
  #membershipBurst(): void {
    const changes = this.#random.intBetween(2, 5);
    for (let i = 0; i < changes; i++) {
      this.#queue.schedule(this.#random.intBetween(0, 20), () => {
        if (!this.#faultPhaseOver) this.#changeMembership();
      });
    }
  }

  #traceAdmin(result: { ok: boolean; error?: string }): void {
    this.#trace(result.ok ? 'operator: accepted' : `operator: refused (${result.error})`);
  }

  // ---------------------------------------------------------------- healing and liveness

  #heal(): void {
    this.#faultPhaseOver = true;
    this.#network.heal();
    this.#network.faults = { ...calmNetwork };
    for (const node of this.#nodes.values()) {
      if (!node.up) node.start();
      if (node.paused) node.resume();
    }
    this.#trace('healed: every node up, network calm');
  }

  /**
   * Runs until every member applied the leader's whole log and holds the same state; the
   * final lists. With PreVote the healed cluster must elect a leader within a bound.
   */
  #runUntilConverged(): Map<string, string[]> | null {
    const healedAtMs = this.#queue.now;
    const deadline = healedAtMs + convergenceDeadlineMs;
    let leaderSeen = false;
    while (this.#queue.now < deadline) {
      this.#queue.runUntil(this.#queue.now + (leaderSeen ? 100 : tickMs));
      const leader = this.#leader();
      if (leader === null) continue;
      if (!leaderSeen) {
        leaderSeen = true;
        this.#leaderlessAfterHealMs = this.#queue.now - healedAtMs;
        this.#checkLeaderlessAfterHeal();
      }
      const status = (leader.core as RaftCore).status();
      if (status.commit !== status.lastIndex || leader.store.applied !== status.commit) continue;
      const image = leader.store.image();
      const members = allMembers(status.membership).map((id) => this.#nodes.get(id));
      const converged = members.every(
        (node) =>
          node !== undefined &&
          node.up &&
          node.store.applied === status.commit &&
          node.store.image() === image,
      );
      if (!converged) continue;
      this.#trace(`converged at index ${status.commit} under ${leader.id}`);
      return new Map(keys.map((key) => [key, leader.store.read(key)]));
    }
    return null;
  }

  #checkLeaderlessAfterHeal(): void {
    if (this.#plan.config.preVote !== true) return;
    const boundMs = leaderlessAfterHealTimeoutsMax * this.#longestElectionTimeoutMs;
    if (this.#leaderlessAfterHealMs > boundMs) {
      this.#checker.fail(
        `the healed cluster had no leader for ${this.#leaderlessAfterHealMs} ms (at most ${boundMs} with PreVote)`,
      );
    }
  }

  #describeNodes(): string {
    return [...this.#nodes.values()]
      .map((node) => {
        if (node.core === null) return `${node.id}: down`;
        const status = node.core.status();
        return `${node.id}: ${status.role} term ${status.term} commit ${status.commit} applied ${node.store.applied} last ${status.lastIndex}`;
      })
      .join('; ');
  }
}

function range(from: number, to: number): number[] {
  const numbers: number[] = [];
  for (let n = from; n <= to; n++) numbers.push(n);
  return numbers;
}

function describeRoutes(routes: readonly RelayRoute[]): string {
  return routes
    .map((route) =>
      route.routes.length === 0 ? route.id : `${route.id}>${describeRoutes(route.routes)}`,
    )
    .join('|');
}

/** One line per message, for traces. */
export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case 'vote':
      return `${head}${message.preVote ? ' pre' : ''} last=${message.lastIndex}/${message.lastTerm}`;
    case 'vote-response':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'rejected'}`;
    case 'append': {
      const relay = message.leader === undefined ? '' : ` for=${message.leader}`;
      const routes =
        message.routes === undefined || message.routes.length === 0
          ? ''
          : ` routes=${describeRoutes(message.routes)}`;
      return `${head} prev=${message.prevIndex}/${message.prevTerm} entries=${message.entries.length} commit=${message.commit}${relay}${routes}`;
    }
    case 'append-response': {
      const covers =
        message.covers === undefined
          ? ''
          : ` covers=${message.covers.map((claim) => `${claim.id}:${claim.index}`).join(',')}`;
      return `${head} ${message.reject ? 'reject' : 'ok'} index=${message.index}${covers}`;
    }
    case 'snapshot':
      return `${head} at=${message.meta.index}/${message.meta.term}`;
    case 'heartbeat':
      return `${head} commit=${message.commit} round=${message.round}`;
    default:
      return head;
  }
}
