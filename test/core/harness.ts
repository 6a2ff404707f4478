/**
 * An in-memory cluster of replication cores for tests, driven either from code or from a
 * small script language (one command per line; see `Harness.run`).
 *
 * Each node has a driver that carries out Ready batches exactly as the core documents:
 * install the snapshot, write the entries (the first may overwrite the log from its index),
 * write the hard state, apply the committed entries, send the messages, then advance. The
 * state machine is the ordered list of applied command strings; a snapshot is that list as
 * JSON bytes. Messages go through one FIFO network queue, which can cut links.
 *
 * Everything is deterministic: every core draws from its own seeded Prng, and nodes,
 * messages and Ready batches are handled in a fixed order.
 */
import {
  AssertionError,
  Prng,
  RaftCore,
  TandemError,
  type CoreConfig,
  type Durability,
  type Entry,
  type HardState,
  type Membership,
  type MembershipChange,
  type Message,
  type NodeId,
  type PersistedState,
  type ProposalOutcome,
  type ProposalReceipt,
  type ReadState,
  type Ready,
  type Snapshot,
  type SnapshotMeta,
} from '../../src/core/index.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One applied command, with the index it was applied at (a restored snapshot gives its own). */
export interface AppliedCommand {
  readonly index: number;
  readonly command: string;
}

/** Encodes a state machine (the list of applied commands) as snapshot bytes. */
export function encodeState(commands: readonly string[]): Uint8Array {
  return encoder.encode(JSON.stringify(commands));
}

/** Decodes snapshot bytes back into the list of applied commands. */
export function decodeState(data: Uint8Array): string[] {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new AssertionError(`snapshot data is not a list of strings: ${decoder.decode(data)}`);
  }
  return parsed as string[];
}

/** What a node keeps on its disk. Everything in here survives a crash. */
export class NodeStorage {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  /** The latest snapshot; index 0 (the empty state) until one is taken or received. */
  snapshot: Snapshot;
  /** Whether `snapshot` was taken or received (rather than the initial empty one). */
  hasSnapshot = false;
  /** The log after the snapshot. */
  entries: Entry[] = [];
  /** The state machine and its applied index, recorded together. */
  applied = 0;
  state: AppliedCommand[] = [];

  constructor(bootstrap: Membership) {
    this.snapshot = {
      meta: { index: 0, term: 0, membership: bootstrap },
      data: encodeState([]),
    };
  }

  lastIndex(): number {
    return this.snapshot.meta.index + this.entries.length;
  }

  /** Replaces the state machine by the latest snapshot; the log stays. */
  rollBack(): void {
    this.applied = this.snapshot.meta.index;
    this.state = decodeState(this.snapshot.data).map((command) => ({
      index: this.snapshot.meta.index,
      command,
    }));
  }

  installSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.hasSnapshot = true;
    this.entries = [];
    this.applied = snapshot.meta.index;
    this.state = decodeState(snapshot.data).map((command) => ({
      index: snapshot.meta.index,
      command,
    }));
  }

  /** Writes entries; returns the index the log was overwritten from, or 0 for a pure append. */
  writeEntries(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return 0;
    const base = this.snapshot.meta.index;
    if (first.index <= base || first.index > this.lastIndex() + 1) {
      throw new AssertionError(
        `entries from ${first.index} do not fit a log of ${base + 1}..${this.lastIndex()}`,
      );
    }
    const overwritten = first.index <= this.lastIndex() ? first.index : 0;
    this.entries.length = first.index - base - 1;
    this.entries.push(...entries);
    return overwritten;
  }

  /** Records a snapshot taken at `meta.index` and drops the log up to it. */
  compact(meta: SnapshotMeta): void {
    const data = encodeState(
      this.state.filter((item) => item.index <= meta.index).map((item) => item.command),
    );
    this.entries = this.entries.slice(meta.index - this.snapshot.meta.index);
    this.snapshot = { meta, data };
    this.hasSnapshot = true;
  }

  persisted(): PersistedState {
    return {
      hardState: this.hardState,
      snapshot: this.hasSnapshot ? this.snapshot.meta : null,
      entries: [...this.entries],
      applied: this.applied,
    };
  }
}

/** One node: its core, its disk, and what its driver has seen. */
export class TestNode {
  readonly id: NodeId;
  readonly config: Partial<CoreConfig>;
  readonly bootstrap: Membership | undefined;
  readonly random: Prng;
  /** Random numbers the core drew: a campaign always draws a new election timeout. */
  draws = 0;
  readonly storage: NodeStorage;
  core: RaftCore;
  /** Every read state and proposal outcome this node's driver was handed. */
  readonly readStates: ReadState[] = [];
  readonly responses: ProposalOutcome[] = [];
  /** Snapshots installed from Ready batches. */
  snapshotsInstalled = 0;
  /** State machine rollbacks to the node's own snapshot. */
  rollbacks = 0;
  /** Times the node crashed and restarted. */
  restarts = 0;

  constructor(id: NodeId, config: Partial<CoreConfig>, seed: number, bootstrap?: Membership) {
    this.id = id;
    this.config = config;
    this.bootstrap = bootstrap;
    this.random = new Prng(seed);
    this.storage = new NodeStorage(bootstrap ?? { voters: [], learners: [] });
    this.core = this.#start();
  }

  #start(): RaftCore {
    return new RaftCore({
      id: this.id,
      random: {
        intBetween: (min: number, maxExclusive: number): number => {
          this.draws++;
          return this.random.intBetween(min, maxExclusive);
        },
      },
      config: this.config,
      persisted: this.storage.persisted(),
      bootstrap: this.bootstrap,
    });
  }

  /** Loses everything not yet on disk and starts a new core from what is. */
  restart(): void {
    this.restarts++;
    this.core = this.#start();
  }

  /** The applied commands, in order. */
  get state(): string[] {
    return this.storage.state.map((item) => item.command);
  }

  /** The term of the entry at `index` in this node's core log, if held. */
  termAt(index: number): number | undefined {
    return this.core.entryAt(index)?.term;
  }
}

/** A parsed script command: its name, positional arguments, and key=value options. */
export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: ReadonlyMap<string, string>;
}

export function parseCommand(line: string): Command {
  const tokens = line.trim().split(/\s+/);
  const name = tokens.shift() ?? '';
  const args: string[] = [];
  const options = new Map<string, string>();
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq > 0) options.set(token.slice(0, eq), token.slice(eq + 1));
    else args.push(token);
  }
  return { name, args, options };
}

/** Sorts node ids numerically when they are numbers, else as strings. */
export function compareIds(a: NodeId, b: NodeId): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

function list(ids: readonly string[]): string {
  return `(${ids.join(',')})`;
}

function parseList(value: string | undefined): NodeId[] {
  if (value === undefined) return [];
  const inner = value.replace(/^\(/, '').replace(/\)$/, '').trim();
  return inner === '' ? [] : inner.split(',').map((id) => id.trim());
}

export function describeMembership(membership: Membership): string {
  const learners = membership.learners.length > 0 ? ` learners=${list(membership.learners)}` : '';
  return `voters=${list(membership.voters)}${learners}`;
}

export function describeEntry(entry: Entry): string {
  const at = `${entry.index}/${entry.term}`;
  switch (entry.kind) {
    case 'noop':
      return `${at} noop`;
    case 'membership':
      return `${at} members ${describeMembership(entry.membership ?? { voters: [], learners: [] })}`;
    case 'command':
      return `${at} ${decoder.decode(entry.data ?? new Uint8Array())}@${entry.durability}`;
  }
}

/** A message on one line: `from->to type term=T ...fields`. */
export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case 'vote':
      return `${head}${message.preVote ? ' pre' : ''}${message.transfer ? ' transfer' : ''} lastIndex=${message.lastIndex} lastTerm=${message.lastTerm}`;
    case 'vote-response':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'rejected'}`;
    case 'append': {
      const entries = message.entries.map(describeEntry).join(', ');
      return `${head} prev=${message.prevIndex}/${message.prevTerm} commit=${message.commit} entries=[${entries}]`;
    }
    case 'append-response':
      if (message.reject) {
        return `${head} reject index=${message.index} hint=${message.hintIndex}/${message.hintTerm} applied=${message.applied}`;
      }
      return `${head} index=${message.index} applied=${message.applied}`;
    case 'heartbeat':
      return `${head} commit=${message.commit} round=${message.round}`;
    case 'heartbeat-response':
      return `${head} round=${message.round} applied=${message.applied}`;
    case 'applied':
      return `${head} applied=${message.applied}`;
    case 'snapshot': {
      const data = message.data === null ? 'none' : `[${decodeState(message.data).join(',')}]`;
      return `${head} snap=${message.meta.index}/${message.meta.term} ${describeMembership(message.meta.membership)} data=${data}`;
    }
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} id=${message.readId}`;
    case 'read-index-response':
      return `${head} id=${message.readId} ${message.rejected ? 'rejected' : `index=${message.index}`}`;
    case 'removed':
      return `${head} index=${message.index}`;
  }
}

function describeError(error: unknown): string {
  if (error instanceof TandemError) return `error ${error.code}: ${error.message}`;
  if (error instanceof Error) return `error ${error.name}: ${error.message}`;
  return `error ${String(error)}`;
}

/** Core options the script's `add-nodes` accepts, by their script names. */
const configKeys: Record<string, keyof CoreConfig> = {
  election: 'electionTicks',
  heartbeat: 'heartbeatTicks',
  durability: 'durability',
  'pre-vote': 'preVote',
  'check-quorum': 'checkQuorum',
  'sync-timeout': 'syncTimeoutTicks',
  'max-inflight': 'maxInflightMessages',
  'max-entries': 'maxEntriesPerMessage',
  'max-pending': 'maxPendingProposals',
  'learner-catch-up': 'learnerCatchUpEntries',
};

const durabilities: readonly string[] = ['async', 'semi-sync', 'quorum', 'sync'];

/** Options for adding nodes from code. */
export interface AddNodesOptions {
  readonly voters?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly config?: Partial<CoreConfig>;
  readonly seed?: number;
  /** The founding membership's topology (default star). */
  readonly topology?: 'star' | 'chain';
}

/** The cluster: nodes, a network queue with cuttable links, and the trace of what happened. */
export class Harness {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, oldest first. */
  queue: Message[] = [];
  /** Every message handed to a recipient, oldest first. */
  readonly delivered: Message[] = [];
  /** Links that drop messages, as `from->to`. */
  readonly #cut = new Set<string>();
  #config: Partial<CoreConfig> = {};
  #seed = 1;
  #out: string[] = [];

  // ------------------------------------------------------------------ nodes

  /** The node `id`; throws if there is none. */
  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new UsageError(`no node ${id}`);
    return node;
  }

  /** Node ids in order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()].sort(compareIds);
  }

  /** Adds `count` nodes numbered after the existing ones; returns their ids. */
  addNodes(count: number, options: AddNodesOptions = {}): NodeId[] {
    if (options.config !== undefined) this.#config = { ...options.config };
    if (options.seed !== undefined) this.#seed = options.seed;
    const voters = options.voters ?? [];
    const learners = options.learners ?? [];
    const chain = options.topology === 'chain' ? { topology: 'chain' as const } : {};
    const bootstrap = voters.length > 0 ? { voters, learners, ...chain } : undefined;
    const added: NodeId[] = [];
    for (let i = 0; i < count; i++)
      added.push(this.#createNode(String(this.nodes.size + 1), bootstrap).id);
    return added;
  }

  #createNode(id: NodeId, bootstrap?: Membership): TestNode {
    if (this.nodes.has(id)) throw new UsageError(`node ${id} exists`);
    const seed = this.#seed * 1000 + this.nodes.size + 1;
    const node = new TestNode(id, this.#config, seed, bootstrap);
    this.nodes.set(id, node);
    return node;
  }

  /** A node joining an existing cluster: created empty, it learns the cluster from its leader. */
  #ensureNode(id: NodeId): TestNode {
    return this.nodes.get(id) ?? this.#createNode(id);
  }

  // ------------------------------------------------------------------ network

  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}->${b}`);
    this.#cut.add(`${b}->${a}`);
  }

  drop(from: NodeId, to: NodeId): void {
    this.#cut.add(`${from}->${to}`);
  }

  /** Cuts `id` off from every node that exists now. */
  isolate(id: NodeId): void {
    for (const other of this.ids()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.#cut.has(`${from}->${to}`);
  }

  // ------------------------------------------------------------------ driving

  /** Carries out one Ready of node `id`, if it has one; returns whether it did. */
  processReady(id: NodeId): boolean {
    const node = this.node(id);
    if (!node.core.hasReady()) return false;
    const ready = node.core.ready();
    this.#carryOut(node, ready);
    node.core.advance(ready);
    return true;
  }

  #carryOut(node: TestNode, ready: Ready): void {
    const { id, storage } = node;
    if (ready.softState !== null) {
      const { role, term, leaderId } = ready.softState;
      this.#print(`${id} is ${role} term=${term} leader=${leaderId ?? 'none'}`);
    }
    if (ready.rollback !== null) {
      if (ready.rollback.index !== storage.snapshot.meta.index) {
        throw new AssertionError(
          `${id} rolls back to ${ready.rollback.index} but holds ${storage.snapshot.meta.index}`,
        );
      }
      storage.rollBack();
      node.rollbacks++;
      this.#print(`${id} rolls its state machine back to its snapshot at ${ready.rollback.index}`);
    }
    if (ready.snapshot !== null) {
      const { meta, data } = ready.snapshot;
      storage.installSnapshot(ready.snapshot);
      node.snapshotsInstalled++;
      this.#print(
        `${id} installs snapshot ${meta.index}/${meta.term} ${describeMembership(meta.membership)} state=[${decodeState(data).join(',')}]`,
      );
    }
    const overwritten = storage.writeEntries(ready.entries);
    if (overwritten > 0) this.#print(`${id} overwrites its log from ${overwritten}`);
    if (ready.hardState !== null) storage.hardState = ready.hardState;
    if (ready.committedEntries.length > 0) {
      for (const entry of ready.committedEntries) {
        if (entry.index !== storage.applied + 1) {
          throw new AssertionError(
            `${id} asked to apply ${entry.index} after applying ${storage.applied}`,
          );
        }
        if (entry.kind === 'command') {
          storage.state.push({
            index: entry.index,
            command: decoder.decode(entry.data ?? new Uint8Array()),
          });
        }
        storage.applied = entry.index;
      }
      this.#print(`${id} applies ${ready.committedEntries.map(describeEntry).join(', ')}`);
    }
    for (const message of ready.messages) {
      if (message.type === 'snapshot' && message.data === null) {
        // The driver keeps only its latest snapshot, and the core names that one in the
        // Ready even when the driver compacted again after the send was decided.
        const own = storage.snapshot;
        const named = message.meta;
        if (own.meta.index !== named.index || own.meta.term !== named.term) {
          throw new AssertionError(
            `${id} sends snapshot ${named.index}/${named.term} but holds ${own.meta.index}/${own.meta.term}`,
          );
        }
        this.queue.push({ ...message, meta: own.meta, data: own.data });
      } else {
        this.queue.push(message);
      }
    }
    for (const read of ready.readStates) {
      node.readStates.push(read);
      this.#print(
        `${id} read ${read.readId} ${read.error === null ? `index=${read.index}` : `error=${read.error}`}`,
      );
    }
    for (const response of ready.responses) {
      node.responses.push(response);
      this.#print(`${id} outcome ${response.index}/${response.term} ${response.outcome}`);
    }
  }

  /** Carries out one Ready of every node that has one; returns whether any did. */
  processReadies(ids: readonly NodeId[] = this.ids()): boolean {
    let any = false;
    for (const id of ids) if (this.processReady(id)) any = true;
    return any;
  }

  /**
   * Delivers the messages queued now (those a delivery makes wait for the next round),
   * optionally only those for which `filter` holds; returns whether any message left the queue.
   */
  deliverMessages(filter: (message: Message) => boolean = () => true): boolean {
    const batch = this.queue.filter(filter);
    if (batch.length === 0) return false;
    this.queue = this.queue.filter((message) => !filter(message));
    // Identical messages in one batch (a node ticked many times) print once, with a count.
    const lines: string[] = [];
    const counts = new Map<string, number>();
    for (const message of batch) {
      let line = describeMessage(message);
      const recipient = this.nodes.get(message.to);
      if (this.isCut(message.from, message.to)) {
        line += ' (dropped)';
      } else if (recipient === undefined) {
        line += ' (no such node)';
      } else {
        this.delivered.push(message);
        const dropped = recipient.core.step(message);
        if (dropped !== null) line += ` (dropped: ${dropped})`;
      }
      if (!counts.has(line)) lines.push(line);
      counts.set(line, (counts.get(line) ?? 0) + 1);
    }
    for (const line of lines) {
      const count = counts.get(line) as number;
      this.#print(count > 1 ? `${line} (x${count})` : line);
    }
    return true;
  }

  /** One round: every node's Ready, then every queued message. Returns whether anything happened. */
  deliver(): boolean {
    const readies = this.processReadies();
    const messages = this.deliverMessages();
    return readies || messages;
  }

  /** Rounds until no node has a Ready and no message is queued. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) if (!this.deliver()) return;
    throw new Error(`not stable after ${maxRounds} rounds`);
  }

  tick(id: NodeId, times = 1): void {
    const node = this.node(id);
    for (let i = 0; i < times; i++) node.core.tick();
  }

  /** Ticks every node once, then stabilizes; `times` times. */
  tickAll(times = 1, ids: readonly NodeId[] = this.ids()): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.node(id).core.tick();
      this.stabilize();
    }
  }

  /** Ticks `id` until it starts a (new) campaign; returns the ticks taken. */
  campaign(id: NodeId): number {
    const node = this.node(id);
    if (node.core.role === 'leader') throw new UsageError(`${id} is already the leader`);
    const limit = 2 * node.core.config.electionTicks + 1;
    for (let ticks = 1; ticks <= limit; ticks++) {
      const draws = node.draws;
      node.core.tick();
      // Outside leadership, a tick draws a random number only when it starts a campaign.
      if (node.draws > draws) return ticks;
    }
    throw new UsageError(`${id} did not campaign within ${limit} ticks`);
  }

  /** The leader in the highest term, if any node leads. */
  leader(): TestNode | undefined {
    let found: TestNode | undefined;
    for (const id of this.ids()) {
      const node = this.node(id);
      if (node.core.role === 'leader' && (found === undefined || node.core.term > found.core.term))
        found = node;
    }
    return found;
  }

  propose(id: NodeId, data: string, durability?: Durability): ProposalReceipt {
    return this.node(id).core.propose(encoder.encode(data), durability);
  }

  changeMembers(leader: NodeId, change: MembershipChange): ProposalReceipt {
    if (change.type === 'add-learner' || change.type === 'add-voter') this.#ensureNode(change.id);
    return this.node(leader).core.changeMembers(change);
  }

  /** Takes a snapshot of node `id` at `index` and compacts its log. */
  compact(id: NodeId, index: number): SnapshotMeta {
    const node = this.node(id);
    const meta = node.core.compact(index);
    node.storage.compact(meta);
    return meta;
  }

  crash(id: NodeId): void {
    this.node(id).restart();
  }

  // ------------------------------------------------------------------ output

  #print(line: string): void {
    this.#out.push(line);
  }

  /** The trace printed since the last call. */
  takeOutput(): string[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  // ------------------------------------------------------------------ scripts

  /**
   * Runs one script command and returns its output (never empty: `ok` when silent).
   *
   * Commands: add-nodes N [voters=(..)] [learners=(..)] [election=] [heartbeat=]
   * [durability=] [pre-vote=] [check-quorum=] [sync-timeout=] [max-inflight=]
   * [max-entries=] [max-pending=] [learner-catch-up=] [seed=]; campaign ID; tick ID [N];
   * tick-election ID; tick-heartbeat ID; tick-all [N]; process-ready [ID..]; deliver-msgs
   * [ID..] (only messages to those nodes); deliver; stabilize; drop FROM->TO; cut A B;
   * isolate ID; heal; propose ID DATA [DURABILITY]; read-index ID READID;
   * transfer-leadership FROM TO; add-learner LEADER ID; add-voter LEADER ID; remove LEADER ID;
   * compact ID INDEX; crash ID; status [ID]; log ID.
   */
  run(line: string): string {
    const command = parseCommand(line);
    try {
      this.#dispatch(command);
    } catch (error) {
      // Assertion failures inside the core are bugs: let them fail the test loudly.
      if (error instanceof AssertionError) throw error;
      if (!(error instanceof TandemError) && !(error instanceof UsageError)) throw error;
      this.#print(describeError(error));
    }
    const out = this.takeOutput();
    return out.length === 0 ? 'ok' : out.join('\n');
  }

  #dispatch({ name, args, options }: Command): void {
    const arg = (i: number, what: string): string => {
      const value = args[i];
      if (value === undefined) throw new UsageError(`${name}: missing ${what}`);
      return value;
    };
    const int = (value: string, what: string): number => {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name}: bad ${what} ${value}`);
      return n;
    };
    const ok = (receipt: ProposalReceipt): void =>
      this.#print(`ok index=${receipt.index} term=${receipt.term}`);
    switch (name) {
      case 'add-nodes': {
        const config: Record<string, unknown> = {};
        for (const [key, value] of options) {
          if (key === 'voters' || key === 'learners' || key === 'seed') continue;
          const configKey = configKeys[key];
          if (configKey === undefined) throw new UsageError(`add-nodes: unknown option ${key}`);
          if (value === 'true' || value === 'false') config[configKey] = value === 'true';
          else if (durabilities.includes(value)) config[configKey] = value;
          else config[configKey] = int(value, key);
        }
        const seed = options.get('seed');
        this.addNodes(int(arg(0, 'count'), 'count'), {
          voters: parseList(options.get('voters')),
          learners: parseList(options.get('learners')),
          config: config as Partial<CoreConfig>,
          seed: seed === undefined ? undefined : int(seed, 'seed'),
        });
        return;
      }
      case 'campaign': {
        const id = arg(0, 'node');
        this.campaign(id);
        this.processReady(id);
        return;
      }
      case 'tick':
        return this.tick(arg(0, 'node'), args[1] === undefined ? 1 : int(args[1], 'count'));
      case 'tick-election': {
        const id = arg(0, 'node');
        return this.tick(id, this.node(id).core.config.electionTicks);
      }
      case 'tick-heartbeat': {
        const id = arg(0, 'node');
        return this.tick(id, this.node(id).core.config.heartbeatTicks);
      }
      case 'tick-all':
        return this.tickAll(args[0] === undefined ? 1 : int(args[0], 'count'));
      case 'process-ready':
        this.processReadies(args.length > 0 ? args : this.ids());
        return;
      case 'deliver-msgs': {
        const to = new Set(args);
        this.deliverMessages((message) => to.size === 0 || to.has(message.to));
        return;
      }
      case 'deliver':
        this.deliver();
        return;
      case 'stabilize':
        return this.stabilize();
      case 'drop': {
        const [from, to] = arg(0, 'FROM->TO').split('->');
        if (from === undefined || to === undefined) throw new UsageError('drop: use FROM->TO');
        return this.drop(from, to);
      }
      case 'cut':
        return this.cut(arg(0, 'node'), arg(1, 'node'));
      case 'isolate':
        return this.isolate(arg(0, 'node'));
      case 'heal':
        return this.heal();
      case 'propose': {
        const durability = args[2];
        if (durability !== undefined && !durabilities.includes(durability))
          throw new UsageError(`propose: unknown durability ${durability}`);
        return ok(
          this.propose(arg(0, 'node'), arg(1, 'data'), durability as Durability | undefined),
        );
      }
      case 'read-index':
        return this.node(arg(0, 'node')).core.readIndex(arg(1, 'read id'));
      case 'transfer-leadership':
        return this.node(arg(0, 'node')).core.transferLeadership(arg(1, 'node'));
      case 'add-learner':
        return ok(
          this.changeMembers(arg(0, 'leader'), { type: 'add-learner', id: arg(1, 'node') }),
        );
      case 'add-voter':
        return ok(this.changeMembers(arg(0, 'leader'), { type: 'add-voter', id: arg(1, 'node') }));
      case 'remove':
        return ok(this.changeMembers(arg(0, 'leader'), { type: 'remove', id: arg(1, 'node') }));
      case 'compact': {
        const id = arg(0, 'node');
        const index = int(arg(1, 'index'), 'index');
        const { applied, commit, stableIndex } = this.node(id).core.status();
        if (index > applied || index > commit || index > stableIndex)
          throw new UsageError(
            `compact: ${index} is beyond applied ${applied}, commit ${commit} or stable ${stableIndex}`,
          );
        const meta = this.compact(id, index);
        this.#print(
          `ok snapshot=${meta.index}/${meta.term} ${describeMembership(meta.membership)}`,
        );
        return;
      }
      case 'crash': {
        const id = arg(0, 'node');
        this.crash(id);
        const status = this.node(id).core.status();
        this.#print(
          `${id} restarts term=${status.term} vote=${status.vote ?? 'none'} commit=${status.commit} applied=${status.applied} last=${status.lastIndex}`,
        );
        return;
      }
      case 'status':
        if (args.length === 0) {
          for (const id of this.ids()) this.#printStatusLine(id);
        } else {
          for (const id of args) this.#printStatus(id);
        }
        return;
      case 'log':
        return this.#printLog(arg(0, 'node'));
      default:
        throw new UsageError(`unknown command ${name}`);
    }
  }

  #printStatusLine(id: NodeId): void {
    const s = this.node(id).core.status();
    this.#print(
      `${id} ${s.role} term=${s.term} leader=${s.leaderId ?? 'none'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`,
    );
  }

  #printStatus(id: NodeId): void {
    const s = this.node(id).core.status();
    this.#print(
      `${id} ${s.role} term=${s.term} vote=${s.vote ?? 'none'} leader=${s.leaderId ?? 'none'}`,
    );
    this.#print(
      `  commit=${s.commit} applied=${s.applied} first=${s.firstIndex} last=${s.lastIndex} stable=${s.stableIndex}`,
    );
    this.#print(`  ${describeMembership(s.membership)}`);
    for (const f of [...s.followers].sort((a, b) => compareIds(a.id, b.id))) {
      this.#print(
        `  ${f.id} ${f.voter ? 'voter' : 'learner'} ${f.state} match=${f.match} next=${f.next} applied=${f.applied} silent=${f.ticksSinceHeard}`,
      );
    }
  }

  #printLog(id: NodeId): void {
    const node = this.node(id);
    const s = node.core.status();
    const snapshot = node.storage.snapshot.meta;
    this.#print(
      `snapshot ${snapshot.index}/${snapshot.term} ${describeMembership(snapshot.membership)}`,
    );
    for (let index = s.firstIndex; index <= s.lastIndex; index++) {
      const entry = node.core.entryAt(index);
      this.#print(entry === undefined ? `${index} missing` : describeEntry(entry));
    }
    this.#print(`state=[${node.state.join(',')}] applied=${s.applied} commit=${s.commit}`);
  }
}

/** A script command used wrongly: reported in the output like an operating error. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

// ------------------------------------------------------------------ script files

/** One command of a script file with the output expected below it. */
export interface ScriptBlock {
  /** Comment and blank lines before the command, as written. */
  readonly before: readonly string[];
  readonly command: string;
  /** 1-based line number of the command. */
  readonly line: number;
  /** The expected output, or null when the file has none yet (rewrite mode fills it in). */
  readonly expected: string | null;
}

export interface Script {
  readonly blocks: readonly ScriptBlock[];
  /** Comment lines after the last command. */
  readonly trailer: readonly string[];
}

export const separator = '----';

export function parseScript(text: string): Script {
  const lines = text.split('\n');
  const blocks: ScriptBlock[] = [];
  let before: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      before.push(line);
      i++;
      continue;
    }
    const command = line.trim();
    const lineNumber = i + 1;
    i++;
    let expected: string | null = null;
    if (lines[i] === separator) {
      i++;
      const out: string[] = [];
      while (i < lines.length && (lines[i] as string).trim() !== '') out.push(lines[i++] as string);
      expected = out.join('\n');
    }
    blocks.push({ before: trimBlank(before), command, line: lineNumber, expected });
    before = [];
  }
  return { blocks, trailer: trimBlank(before) };
}

function trimBlank(lines: readonly string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && (lines[start] as string).trim() === '') start++;
  while (end > start && (lines[end - 1] as string).trim() === '') end--;
  return lines.slice(start, end);
}

/** Writes a script back with the given outputs (one per block). */
export function formatScript(script: Script, outputs: readonly string[]): string {
  const parts: string[] = [];
  script.blocks.forEach((block, i) => {
    const lines = [...block.before, block.command, separator, outputs[i] ?? ''];
    parts.push(lines.join('\n'));
  });
  if (script.trailer.length > 0) parts.push(script.trailer.join('\n'));
  return parts.join('\n\n') + '\n';
}

/** A line diff of expected against actual, `-` for expected only and `+` for actual only. */
export function lineDiff(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () =>
    new Array<number>(b.length + 1).fill(0),
  );
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out.join('\n');
}

/** The result of running a script: the outputs, and the blocks whose output differed. */
export interface ScriptRun {
  readonly outputs: readonly string[];
  readonly mismatches: readonly { block: ScriptBlock; actual: string }[];
}

/** Runs every command of a script on a fresh cluster. */
export function runScript(script: Script): ScriptRun {
  const harness = new Harness();
  const outputs: string[] = [];
  const mismatches: { block: ScriptBlock; actual: string }[] = [];
  for (const block of script.blocks) {
    let actual: string;
    try {
      actual = harness.run(block.command);
    } catch (error) {
      const where = `line ${block.line}: ${block.command}`;
      throw new Error(`${where}\n${error instanceof Error ? error.stack : String(error)}`, {
        cause: error,
      });
    }
    outputs.push(actual);
    if (block.expected !== actual) mismatches.push({ block, actual });
  }
  return { outputs, mismatches };
}
