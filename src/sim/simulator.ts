import { RaftCore } from '../core/core.js';
import type { CoreConfig } from '../core/config.js';
import { allMembers } from '../core/membership.js';
import { Prng } from '../core/prng.js';
import {
  durabilityOrder,
  type Durability,
  type Membership,
  type Message,
  type NodeId,
} from '../core/types.js';
import { Checker, type TrackedWrite } from './checker.js';
import { EventQueue } from './event-queue.js';
import { calmNetwork, SimNetwork } from './network.js';
import { SimNode, type CoreFactory, type SimWorld } from './node.js';
import { encodeCommand } from './state-machine.js';

/** How to run one seed. */
export interface SimulationOptions {
  readonly seed: number;
  /** Builds each node's core; the mutation tests pass broken variants. */
  readonly makeCore?: CoreFactory;
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
  /** A digest of the whole trace (only with `trace`): equal seeds give equal digests. */
  readonly traceDigest: string | null;
  /** The last lines of the trace (only with `trace`). */
  readonly trace: readonly string[];
}

/** Virtual milliseconds per core tick. */
const tickMs = 10;
/** How long a healed cluster has to converge before that is a violation. */
const livenessDeadlineMs = 30_000;
/** Trace lines kept for a replay printout. */
const traceLinesMax = 200_000;
/** How long a client waits for an answer before it moves on (each client draws its own). */
const clientTimeoutsMs = [100, 300, 1_500] as const;
const keys = ['a', 'b', 'c'] as const;

/** A workload client: it remembers which node it last found leading. */
interface SimClient {
  knownLeader: NodeId | null;
  readonly timeoutMs: number;
}

/** The random shape of one run, all drawn from its seed. */
interface Plan {
  readonly voters: number;
  readonly learners: number;
  readonly durability: Durability;
  readonly config: Partial<CoreConfig>;
  readonly fsyncMaxMs: number;
  readonly compactEveryEntries: number;
  readonly faultPhaseMs: number;
  readonly clients: number;
  readonly faultEvents: number;
  /** Chance, per 1000, that a newly elected leader crashes within 40 ms. */
  readonly leaderCrashPerMille: number;
}

function drawPlan(random: Prng): Plan {
  const faultPhaseMs = random.intBetween(3_000, 8_000);
  return {
    voters: random.intBetween(1, 8),
    learners: random.intBetween(0, 3),
    durability: random.pick(durabilityOrder),
    config: {
      electionTicks: 10,
      heartbeatTicks: random.intBetween(1, 4),
      maxInflightMessages: random.pick([1, 2, 8, 64]),
      maxEntriesPerMessage: random.pick([1, 4, 16, 512]),
      maxApplyBatchEntries: random.pick([1, 8, 1024]),
      syncTimeoutTicks: 30,
      learnerCatchUpEntries: 8,
      maxPendingProposals: 1_000,
    },
    fsyncMaxMs: random.intBetween(0, 6),
    compactEveryEntries: random.intBetween(8, 120),
    faultPhaseMs,
    clients: random.intBetween(1, 5),
    faultEvents: random.intBetween(Math.floor(faultPhaseMs / 600), Math.floor(faultPhaseMs / 150)),
    leaderCrashPerMille: random.pick([0, 200, 500, 900]),
  };
}

/** Runs one seed: a random cluster, workload and fault schedule, then healing and convergence. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

class Simulation {
  readonly #options: SimulationOptions;
  readonly #random: Prng;
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

  constructor(options: SimulationOptions) {
    this.#options = options;
    this.#random = new Prng(options.seed);
    this.#plan = drawPlan(this.#random);
    this.#checker = new Checker(this.#plan.durability, () => this.#queue.now);
    this.#network = new SimNetwork(this.#queue, this.#random, (message) => this.#deliver(message));
    this.#world = {
      queue: this.#queue,
      random: this.#random,
      checker: this.#checker,
      makeCore: options.makeCore ?? ((coreOptions) => new RaftCore(coreOptions)),
      config: { ...this.#plan.config, durability: this.#plan.durability },
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
        this.#queue.schedule(client, () => this.#clientStep({ knownLeader: null, timeoutMs }));
      }
      this.#scheduleFaults();
      this.#queue.runUntil(this.#plan.faultPhaseMs);
      this.#heal();
      const converged = this.#runUntilConverged();
      if (converged === null) {
        this.#checker.fail(
          `the healed cluster did not converge within ${livenessDeadlineMs} ms: ${this.#describeNodes()}`,
        );
      } else {
        lostAsyncWrites = this.#checker.finish(converged).lostAsyncWrites;
      }
    } catch (error) {
      this.#checker.fail(
        `exception: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
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
      traceDigest: this.#options.trace
        ? (this.#traceHash >>> 0).toString(16).padStart(8, '0')
        : null,
      trace: this.#traceLines,
    };
  }

  #describePlan(): string {
    const plan = this.#plan;
    return `${plan.voters} voters + ${plan.learners} learners, ${plan.durability}, ${plan.clients} clients, ${plan.faultPhaseMs} ms of faults`;
  }

  // ---------------------------------------------------------------- setup

  #startCluster(): void {
    const voters = range(1, this.#plan.voters).map((n) => `n${n}`);
    const learners = range(this.#plan.voters + 1, this.#plan.voters + this.#plan.learners).map(
      (n) => `n${n}`,
    );
    const membership: Membership = { voters, learners };
    for (const id of [...voters, ...learners]) this.#addNode(id, membership);
  }

  #addNode(id: NodeId, bootstrap: Membership): SimNode {
    const node = new SimNode(
      id,
      bootstrap,
      this.#world,
      this.#plan.fsyncMaxMs,
      this.#plan.compactEveryEntries,
    );
    this.#nodes.set(id, node);
    node.start();
    return node;
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
    this.#nodes.get(message.to)?.receive(message);
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
    if (this.#random.chance(3, 5)) this.#clientWrite(node, next);
    else this.#clientRead(node, next);
  }

  #clientWrite(node: SimNode, next: (error?: string) => void): void {
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
          ackedAtMs: null,
        };
        this.#checker.writes.push(tracked);
        this.#trace(`client ${id} -> ${node.id} at ${receipt.index}/${receipt.term}`);
      },
      (result) => {
        if (result.ok && result.value === 'acknowledged' && tracked !== null) {
          this.#checker.onAcknowledged(tracked);
          this.#trace(`client ${id} acknowledged`);
        }
        next(result.ok ? undefined : result.error);
      },
    );
  }

  #clientRead(node: SimNode, next: (error?: string) => void): void {
    const key = this.#random.pick(keys);
    const startedAtMs = this.#queue.now;
    node.read(key, (result) => {
      if (result.ok) {
        this.#readsCompleted++;
        this.#checker.onRead({
          key,
          node: node.id,
          startedAtMs,
          finishedAtMs: this.#queue.now,
          values: result.value,
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
        return this.#changeMembership();
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
      this.#addNode(id, { voters: [], learners: [] });
      this.#trace(`operator: add learner ${id}`);
      leader.admin(
        (core) => core.changeMembers({ type: 'add-learner', id }),
        (result) => this.#traceAdmin(result),
      );
    } else if (choice === 1 && membership.learners.length > 0) {
      const id = this.#random.pick(membership.learners);
      this.#trace(`operator: promote ${id}`);
      leader.admin(
        (core) => core.changeMembers({ type: 'add-voter', id }),
        (result) => this.#traceAdmin(result),
      );
    } else if (choice === 2) {
      const others = allMembers(membership).filter((id) => id !== leader.id);
      if (others.length === 0) return;
      const id = this.#random.pick(others);
      this.#trace(`operator: remove ${id}`);
      leader.admin(
        (core) => core.changeMembers({ type: 'remove', id }),
        (result) => this.#traceAdmin(result),
      );
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

  /** Runs until every member applied the leader's whole log and holds the same state; the final lists. */
  #runUntilConverged(): Map<string, string[]> | null {
    const deadline = this.#queue.now + livenessDeadlineMs;
    while (this.#queue.now < deadline) {
      this.#queue.runUntil(this.#queue.now + 100);
      const leader = this.#leader();
      if (leader === null) continue;
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

/** One line per message, for traces. */
export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case 'vote':
      return `${head}${message.preVote ? ' pre' : ''} last=${message.lastIndex}/${message.lastTerm}`;
    case 'vote-response':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'rejected'}`;
    case 'append':
      return `${head} prev=${message.prevIndex}/${message.prevTerm} entries=${message.entries.length} commit=${message.commit}`;
    case 'append-response':
      return `${head} ${message.reject ? 'reject' : 'ok'} index=${message.index}`;
    case 'snapshot':
      return `${head} at=${message.meta.index}/${message.meta.term}`;
    case 'heartbeat':
      return `${head} commit=${message.commit} round=${message.round}`;
    default:
      return head;
  }
}
