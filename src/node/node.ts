import { crc32c } from '@node-rs/crc32';
import { randomInt } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { assert } from '../core/assert.js';
import type { AccessState } from '../store/access-state.js';
import type { CoreConfig } from '../core/config.js';
import { RaftCore } from '../core/core.js';
import { isMember } from '../core/membership.js';
import { ReadyPipeline, type PipelineDriver } from '../core/pipeline.js';
import { Inbox } from '../core/inbox.js';
import { TandemError } from '../core/errors.js';
import { Prng } from '../core/prng.js';
import type {
  Durability,
  Entry,
  Membership,
  Message,
  NodeId,
  ProposalOutcome,
  Ready,
  SnapshotMeta,
  Topology,
} from '../core/types.js';
import { topologyOf } from '../core/types.js';
import { DiskStorage } from '../log/disk-storage.js';
import { makeDirectory } from '../log/files.js';
import { formatChecksum } from '../log/snapshot-files.js';
import { encodeCommand, validateCommand, type Command } from '../store/commands.js';
import type {
  ApplyResult,
  LogPosition,
  MaybePromise,
  NodeStore,
  StoreReader,
  StoreSnapshot,
} from '../store/contract.js';
import { snapshotChunkBytes } from '../store/snapshot-images.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Logger, PeerAddress } from '../transport/contract.js';
import { PeerTransport } from '../transport/transport.js';
import type {
  MemberStatus,
  NodeBackup,
  NodeHandle,
  NodeStatus,
  ReadOptions,
  WriteResult,
} from './api.js';
import { DataDirectoryLock } from './data-dir-lock.js';
import { NodeMetrics } from './metrics.js';
import { SnapshotReceiver, SnapshotSender, type SnapshotChunkFrame } from './snapshots.js';

/** Where a node keeps its state machine. */
export type StoreLocation =
  | { readonly kind: 'sqlite' }
  /** A PostgreSQL database of this node's own, by its connection URL. */
  | { readonly kind: 'postgres'; readonly url: string };

/** Everything a node needs to start. */
export interface NodeConfig {
  readonly id: NodeId;
  /**
   * The node's data directory: `raft/` (log, hard state, snapshots), and the store's
   * scratch directory for the images it takes and receives.
   */
  readonly dir: string;
  readonly clusterId: string;
  readonly clusterSecret: string;
  /** The loopback or interface address every listener binds to. */
  readonly host: string;
  readonly peerPort: number;
  readonly httpPort: number;
  /**
   * The HTTP URL this node tells clients and peers to use (default `http://host:httpPort`);
   * set it when a proxy or a NAT stands in front of the node.
   */
  readonly advertiseHttpUrl?: string;
  readonly respPort: number | null;
  /** The RESP TLS port (`--resp-tls-port`), or null or absent for none. */
  readonly respTlsPort?: number | null;
  /** The HTTP API serves HTTPS: the URL advertised by default says `https://`. */
  readonly httpTls?: boolean;
  /** The other members' peer addresses; with `join` false they and this node are the voters. */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  readonly durability: Durability;
  /**
   * How the log reaches the members of a new cluster (default star). Only a founding
   * node's bootstrap uses it: a running cluster's topology is in its log (`setTopology`).
   */
  readonly topology?: Topology;
  /** Set for a node added to a running cluster: it takes its membership from the leader. */
  readonly join: boolean;
  /** Wall-clock length of one core tick (default 50 ms: heartbeats every 50 ms, elections after 0.5 to 1 s). */
  readonly tickMs?: number;
  /** Where the state machine lives (default SQLite, in memory, rebuilt at start from the log). */
  readonly store?: StoreLocation;
  /** Entries applied between two snapshots of the state machine (log compaction). */
  readonly snapshotEveryEntries?: number;
  /**
   * Least time between two snapshots while the log after the latest holds fewer entries
   * than the store holds items (default 10 s; 0 for none): see `#maybeSnapshot`.
   */
  readonly snapshotMinIntervalMs?: number;
  /** Called once when storage fails and the node stops serving (the process should exit). */
  readonly onFailure?: (error: unknown) => void;
  readonly core?: Partial<CoreConfig>;
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly logger: Logger;
}

/** A running node: the API layers' handle plus a clean shutdown. */
export interface RunningNode extends NodeHandle {
  /** The peer address actually bound (port 0 picks a free one). */
  readonly peerAddress: PeerAddress;
  /** Stops the node; a leader hands leadership to the most caught-up voter first. */
  close(): Promise<void>;
}

/** Runtime frames besides the core's messages. */
type RuntimeFrame = { readonly kind: 'raft'; readonly message: Message } | SnapshotChunkFrame;

interface PendingWrite {
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingRead {
  readonly index: number;
  /** The term of the entry at `index` the read waits for, when the caller knows it. */
  readonly term: number | undefined;
  readonly run: () => void;
  readonly fail: (error: unknown) => void;
  /** For a linearizable read: called with the read index once the leader gave it. */
  readonly indexKnown?: (index: number) => void;
}

/** Longest wait of a read for its index, unless the caller says otherwise. */
const readTimeoutMsDefault = 5_000;
/** Reads waiting for this node to apply an index. */
const waitingReadsMax = 10_000;
/** Messages buffered while a Ready is being carried out. */
const inboxMessagesMax = 50_000;
/** Client and operator calls buffered while a Ready is being carried out. */
const deferredCallsMax = 20_000;
/** Apply results kept for proposals not yet answered (sync writes wait for followers). */
const resultsKeptMax = 100_000;
/** An in-memory store is snapshotted once per (items it holds / this) entries at most. */
const snapshotItemsPerEntry = 4;
/** Least time between two snapshots of a store whose log is shorter than its items. */
export const snapshotMinIntervalMsDefault = 10_000;
/** First and longest pause between tries of a store whose database went away. */
const storeRetryMsMin = 100;
const storeRetryMsMax = 2_000;

/**
 * Starts a node from its data directory, which it locks for its lifetime: a directory
 * another live process holds is refused (TANDEM_BAD_CONFIG naming it and the holder's PID)
 * before any of its files is opened.
 */
export async function startNode(config: NodeConfig): Promise<RunningNode> {
  // Created here, not by the lock, so that a new directory's entry is synced in its parent.
  await makeDirectory(config.dir);
  const lock = DataDirectoryLock.acquire(config.dir, `tandem node ${config.id}`);
  try {
    return await openNode(config, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function openNode(config: NodeConfig, lock: DataDirectoryLock): Promise<RunningNode> {
  const opened = performance.now();
  const storage = await DiskStorage.open(join(config.dir, 'raft'));
  const stored = await storage.load();
  if (storage.recovery.cut !== null) {
    config.logger.warn({ cut: storage.recovery.cut }, 'cut a torn tail off the log');
  }
  config.logger.info(
    { entries: stored.entries.length, ms: Math.round(performance.now() - opened) },
    'read the log after the snapshot',
  );
  const store = await openStore(config);
  await reconcileStore(store, storage, stored.snapshot, stored.entries.length, config.logger);
  const voters = [config.id, ...config.peers.keys()].sort();
  const bootstrap: Membership | undefined = config.join
    ? undefined
    : config.topology === 'chain'
      ? { voters, learners: [], topology: 'chain' }
      : { voters, learners: [] };
  if (stored.snapshot === null && stored.entries.length === 0 && store.applied.index === 0) {
    // A snapshot of the empty state at index 0, so that a rollback of an async tail always
    // has a snapshot to return to.
    const image = await store.snapshot();
    const membership = bootstrap ?? { voters: [], learners: [] };
    await storage.saveSnapshotChunks(
      { index: 0, term: 0, membership },
      image.chunks(),
      image.checksum,
    );
    await image.dispose();
  }
  const core = new RaftCore({
    id: config.id,
    random: new Prng(randomInt(0, 2 ** 32)),
    config: {
      // Two voters (the classic primary and replica) have no majority without both, so
      // check-quorum would make a leader whose replica died step down and stop serving.
      // Without it the leader stays: it serves reads, refuses sync and semi-sync writes
      // with TANDEM_REPLICA_UNAVAILABLE, and commits nothing alone; PreVote still keeps the
      // replica from taking over on its own, so there is never a second leader.
      checkQuorum: voters.length !== 2 || config.join,
      ...config.core,
      durability: config.durability,
    },
    persisted: { ...stored, applied: store.applied.index },
    bootstrap,
    removedAt: await readRemovedMarker(config.dir),
  });
  const transport = await PeerTransport.start({
    nodeId: config.id,
    clusterId: config.clusterId,
    clusterSecret: config.clusterSecret,
    listen: { host: config.host, port: config.peerPort },
    advertisement: {
      httpUrl: advertisedHttpUrl(config),
      resp: config.respPort === null ? null : `${config.host}:${config.respPort}`,
      respTls: respTlsAddress(config),
    },
    peers: config.peers,
    tls: config.tls,
    logger: config.logger,
  });
  const node = new TandemNode(config, core, storage, store, transport, lock);
  node.begin();
  return node;
}

/** The file in a data directory that records that the node was removed from its cluster. */
const removedMarkerName = 'removed.json';

/** The index a node was removed by, as recorded in its data directory, or 0. */
async function readRemovedMarker(dir: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, removedMarkerName), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const index: unknown = (JSON.parse(text) as { removedAt?: unknown }).removedAt;
  assert(
    typeof index === 'number' && Number.isSafeInteger(index) && index > 0,
    `${removedMarkerName} in ${dir} is damaged`,
  );
  return index;
}

async function writeRemovedMarker(dir: string, removedAt: number): Promise<void> {
  await writeFile(join(dir, removedMarkerName), `${JSON.stringify({ removedAt })}\n`);
}

function removedError(id: NodeId, removedAt: number): TandemError {
  return new TandemError(
    'TANDEM_REMOVED',
    `${id} was removed from the cluster (at index ${removedAt}); it serves nothing, ask another node`,
  );
}

/** The HTTP URL the node advertises: its own listener unless configured otherwise. */
function advertisedHttpUrl(config: NodeConfig): string {
  const scheme = config.httpTls === true ? 'https' : 'http';
  return config.advertiseHttpUrl ?? `${scheme}://${config.host}:${config.httpPort}`;
}

/** The RESP TLS endpoint the node advertises (`host:port`), or null. */
function respTlsAddress(config: NodeConfig): string | null {
  const port = config.respTlsPort ?? null;
  return port === null ? null : `${config.host}:${port}`;
}

/** Opens the node's state machine where its configuration says. */
async function openStore(config: NodeConfig): Promise<NodeStore> {
  const location = config.store ?? { kind: 'sqlite' };
  if (location.kind === 'sqlite') {
    await removeLegacyDatabase(config.dir, config.logger);
    return SqliteStore.open(join(config.dir, 'state'));
  }
  // Loaded only for a node that uses it: the PostgreSQL client costs every start 40 ms.
  const { PostgresStore } = await import('../store/postgres.js');
  return PostgresStore.open(location.url, {
    clusterId: config.clusterId,
    snapshotsDirectory: join(config.dir, 'postgres-snapshots'),
  });
}

/**
 * Older builds kept the SQLite store in `state.db` on disk. The store is now rebuilt at
 * start from the latest snapshot and the log (which hold everything the file did), so
 * the file and its WAL only take space.
 */
async function removeLegacyDatabase(dir: string, logger: Logger): Promise<void> {
  const names = ['state.db', 'state.db-wal', 'state.db-shm', 'state.db-snapshots'];
  const present = (await readdir(dir)).filter((name) => names.includes(name));
  if (present.length === 0) return;
  for (const name of present) await rm(join(dir, name), { recursive: true, force: true });
  logger.info({ removed: present }, 'removed the store file of an older build');
}

/**
 * Brings the state machine in line with the log at start: a crash between storing a
 * received snapshot and restoring the store from it leaves the store behind the
 * snapshot; a rollback of an async tail can leave it ahead of the log. Either way the
 * snapshot on disk is the truth.
 */
async function reconcileStore(
  store: NodeStore,
  storage: DiskStorage,
  snapshot: SnapshotMeta | null,
  entryCount: number,
  logger: Logger,
): Promise<void> {
  const snapshotIndex = snapshot?.index ?? 0;
  const logEnd = snapshotIndex + entryCount;
  const applied = store.applied.index;
  if (applied >= snapshotIndex && applied <= logEnd) return;
  const info = await storage.snapshots.latest();
  assert(info !== null, `store at ${applied} outside the log and no snapshot to restore`);
  const started = performance.now();
  await store.restore(
    { index: info.meta.index, term: info.meta.term, checksum: info.checksum },
    storage.snapshots.chunks(info),
  );
  const ms = Math.round(performance.now() - started);
  // An in-memory store opens empty and always starts from the snapshot; a store on disk
  // that is outside the log (a crash between storing and restoring a snapshot) is news.
  if (applied === 0)
    logger.info({ snapshotIndex, ms }, 'loaded the state machine from the snapshot');
  else logger.warn({ applied, snapshotIndex, ms }, 'restored the state machine from the snapshot');
}

/**
 * The node runtime: it drives the core exactly as the simulator does. Ticks, peer
 * messages and client calls are fed to the core between Readies; each Ready is written
 * to the log (one group-committed fdatasync), applied (all or nothing), sent,
 * answered, and advanced. Everything that arrives meanwhile waits and goes into the next
 * Ready, which is the group commit of the whole node.
 */
class TandemNode implements RunningNode {
  readonly id: NodeId;
  readonly #config: NodeConfig;
  readonly #core: RaftCore;
  readonly #storage: DiskStorage;
  readonly #store: NodeStore;
  readonly #transport: PeerTransport;
  readonly #lock: DataDirectoryLock;
  readonly #metrics: NodeMetrics;
  readonly #tickMs: number;
  /** When a dropped peer message was last logged: drops are counted always, logged at most once a second. */
  #droppedLoggedAtMs = 0;
  /** Whether this node already acted on learning that it was removed. */
  #removalNoticed = false;
  /** Set while a Ready's rollback restores the state machine: nothing may be read meanwhile. */
  #rollingBack = false;
  readonly #sender: SnapshotSender;
  readonly #receiver: SnapshotReceiver;
  #ticker: NodeJS.Timeout | null = null;
  readonly #pipeline: ReadyPipeline;
  /** A pump is scheduled for the next turn of the event loop. */
  #pumpScheduled = false;
  #closed = false;
  #failure: unknown = null;
  /** Set while the store answers TANDEM_STORE_UNAVAILABLE; the Ready loop holds. */
  #storeDown = false;
  readonly #inbox = new Inbox(inboxMessagesMax);
  #deferred: { readonly run: () => void; readonly fail: (error: unknown) => void }[] = [];
  #writes = new Map<string, PendingWrite>();
  #results = new Map<number, ApplyResult>();
  #readSeq = 0;
  #reads = new Map<string, PendingRead>();
  #waitingReads: PendingRead[] = [];
  #leaderId: NodeId | null = null;
  #role: NodeStatus['role'] = 'follower';
  #snapshotInProgress = false;
  /**
   * When this node's latest own snapshot started (performance.now(); -Infinity: none). A
   * node restarted with a log counts from its start, so that a snapshot due at once does
   * not hold up the reads it is about to serve (see `#maybeSnapshot`).
   */
  #snapshotStartedMs = Number.NEGATIVE_INFINITY;
  #httpUrls = new Map<NodeId, string>();
  /** Log entries sent to each peer in appends (its own or relayed), for metrics. */
  readonly #entriesSent = new Map<NodeId, number>();
  /** Each member's RESP endpoint (`host:port`) as it advertised it; absent when it has none. */
  #respAddresses = new Map<NodeId, string>();
  /** Each member's RESP TLS endpoint as it advertised it; absent when it has none. */
  #respTlsAddresses = new Map<NodeId, string>();
  readonly #appliedListeners = new Set<
    (entries: readonly Entry[], results: readonly ApplyResult[]) => void
  >();
  /**
   * The last index handed to the applied listeners (see `onApplied`): at start, the last
   * index of the log, which the node replays without telling them.
   */
  #announcedIndex: number;
  /** The committed entries a restart applies after the snapshot, until they are applied. */
  #replay: { readonly entries: number; readonly until: number; readonly started: number } | null;

  constructor(
    config: NodeConfig,
    core: RaftCore,
    storage: DiskStorage,
    store: NodeStore,
    transport: PeerTransport,
    lock: DataDirectoryLock,
  ) {
    this.id = config.id;
    this.#lock = lock;
    this.#config = config;
    this.#core = core;
    this.#storage = storage;
    this.#store = store;
    this.#transport = transport;
    this.#tickMs = config.tickMs ?? 50;
    this.#metrics = new NodeMetrics(config.id);
    this.#httpUrls.set(config.id, advertisedHttpUrl(config));
    if (config.respPort !== null) {
      this.#respAddresses.set(config.id, `${config.host}:${config.respPort}`);
    }
    const ownTls = respTlsAddress(config);
    if (ownTls !== null) this.#respTlsAddresses.set(config.id, ownTls);
    this.#sender = new SnapshotSender(storage, transport, config.logger, {
      sentBytes: (bytes) => this.#metrics.snapshotBytesSent.inc(bytes),
      ended: (outcome) => this.#metrics.snapshotStreams.inc({ outcome }),
    });
    this.#receiver = new SnapshotReceiver(config.logger);
    this.#announcedIndex = core.status().lastIndex;
    const status = core.status();
    if (status.lastIndex > 0) this.#snapshotStartedMs = performance.now();
    this.#replay =
      status.commit > status.applied
        ? {
            entries: status.commit - status.applied,
            until: status.commit,
            started: performance.now(),
          }
        : null;
    this.#pipeline = new ReadyPipeline(core, this.#pipelineDriver());
  }

  get peerAddress(): PeerAddress {
    return this.#transport.address;
  }

  /** Starts ticking and listening. */
  begin(): void {
    this.#transport.onMessage((from, payload) => this.#onFrame(from, payload));
    this.#transport.onPeer((id, advertisement) => {
      this.#httpUrls.set(id, advertisement.httpUrl);
      if (advertisement.resp === null) this.#respAddresses.delete(id);
      else this.#respAddresses.set(id, advertisement.resp);
      const respTls = advertisement.respTls ?? null;
      if (respTls === null) this.#respTlsAddresses.delete(id);
      else this.#respTlsAddresses.set(id, respTls);
    });
    this.#ticker = setInterval(() => {
      this.#inbox.tick();
      this.#schedulePump();
    }, this.#tickMs);
    this.#config.logger.info(
      { id: this.id, peer: this.#transport.address, membership: this.#core.membership },
      'node started',
    );
  }

  // ------------------------------------------------------------ the API layers' calls

  write(
    command: Command,
    options: { readonly durability?: Durability; readonly signal?: AbortSignal } = {},
  ): Promise<WriteResult> {
    let data: Uint8Array;
    try {
      validateCommand(command);
      data = encodeCommand(command);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<WriteResult>((resolve, reject) => {
      this.#call(reject, () => {
        const receipt = this.#core.propose(data, options.durability);
        this.#writes.set(`${receipt.index}:${receipt.term}`, { resolve, reject });
      });
    });
  }

  read<T>(
    options: ReadOptions,
    query: (store: StoreReader) => MaybePromise<T>,
  ): Promise<{ readonly value: T; readonly appliedIndex: number }> {
    return new Promise((resolve, reject) => {
      if (this.#storeDown) {
        reject(
          new TandemError(
            'TANDEM_STORE_UNAVAILABLE',
            `node ${this.id} cannot read: its store is unavailable; read from another node`,
          ),
        );
        return;
      }
      const run = (): void => {
        const appliedIndex = this.#store.applied.index;
        try {
          Promise.resolve(query(this.#store)).then(
            (value) => resolve({ value, appliedIndex }),
            reject,
          );
        } catch (error) {
          reject(error);
        }
      };
      this.#read(options, run, reject);
    });
  }

  readNow<T>(
    options: ReadOptions,
    query: (store: StoreReader) => T,
  ): { readonly value: T; readonly appliedIndex: number } | null {
    if (
      this.#failure !== null ||
      this.#storeDown ||
      this.#closed ||
      this.#holdsReads() ||
      this.#core.removedAt > 0
    ) {
      return null;
    }
    const appliedIndex = this.#store.applied.index;
    const now =
      options.consistency === 'stale' ||
      (options.consistency === 'ryw' &&
        options.afterIndex !== undefined &&
        this.#holdsWrite(options.afterIndex, options.afterTerm));
    return now ? { value: query(this.#store), appliedIndex } : null;
  }

  status(): NodeStatus {
    const status = this.#core.status();
    const leader = status.role === 'leader';
    const heard = new Map(status.followers.map((follower) => [follower.id, follower]));
    const members = [...status.membership.voters, ...status.membership.learners].map(
      (id): MemberStatus => {
        const follower = heard.get(id);
        const self = id === this.id;
        const lastContactMs =
          follower === undefined ? (self ? 0 : null) : follower.ticksSinceHeard * this.#tickMs;
        return {
          id,
          voter: status.membership.voters.includes(id),
          matchIndex: self ? status.lastIndex : (follower?.match ?? null),
          appliedIndex: self ? status.applied : (follower?.applied ?? null),
          lagEntries: self ? 0 : follower === undefined ? null : status.lastIndex - follower.match,
          lastContactMs,
          healthy:
            !leader && !self ? null : lastContactMs !== null && lastContactMs < this.#downAfterMs(),
          httpUrl: this.#httpUrls.get(id) ?? null,
          upstream: follower?.upstream ?? null,
          chainPosition: status.chain.includes(id) ? status.chain.indexOf(id) + 1 : null,
          snapshot: this.#sender.progress(id),
        };
      },
    );
    return {
      id: this.id,
      role: status.role,
      term: status.term,
      leaderId: status.leaderId,
      leaderHttpUrl: this.leaderHttpUrl(),
      commitIndex: status.commit,
      appliedIndex: this.#store.applied.index,
      lastIndex: status.lastIndex,
      snapshotIndex: status.firstIndex - 1,
      durability: this.#config.durability,
      membership: status.membership,
      topology: status.topology,
      chain: status.chain,
      upstream: status.upstream,
      downstream: status.downstream.map(({ id, match }) => ({
        id,
        lagEntries: Math.max(0, status.leaderMatch - match),
      })),
      members,
      healthy: this.ready(),
      removed: status.removedAt > 0,
      store: { kind: this.#store.kind, healthy: !this.#storeDown && this.#store.healthy() },
      httpUrl: this.#httpUrls.get(this.id) as string,
    };
  }

  accessState(): AccessState {
    return this.#store.accessState();
  }

  applied(): LogPosition {
    return this.#store.applied;
  }

  leaderHttpUrl(): string | null {
    const leaderId = this.#core.status().leaderId;
    return leaderId === null ? null : (this.#httpUrls.get(leaderId) ?? null);
  }

  leaderRespAddress(): string | null {
    const leaderId = this.#core.status().leaderId;
    return leaderId === null ? null : this.respAddress(leaderId);
  }

  respAddress(id: NodeId): string | null {
    return this.#respAddresses.get(id) ?? null;
  }

  leaderRespTlsAddress(): string | null {
    const leaderId = this.#core.status().leaderId;
    return leaderId === null ? null : (this.#respTlsAddresses.get(leaderId) ?? null);
  }

  promote(id: NodeId): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#call(reject, () => {
        this.#core.transferLeadership(id);
        const deadline = Date.now() + this.#tickMs * 40;
        const check = (): void => {
          const leaderId = this.#core.status().leaderId;
          if (leaderId === id) return resolve();
          if (Date.now() > deadline || this.#closed) {
            return reject(
              new TandemError('TANDEM_TRANSFER_IN_PROGRESS', `${id} did not take over in time`),
            );
          }
          setTimeout(check, this.#tickMs);
        };
        check();
      });
    });
  }

  async addMember(
    id: NodeId,
    peerAddress: { host: string; port: number },
    options: { learner: boolean; upstream?: NodeId },
  ): Promise<void> {
    const { role, leaderId } = this.#core.status();
    if (role !== 'leader') {
      throw new TandemError('TANDEM_NOT_LEADER', `${this.id} is not the leader`, {
        leaderId: leaderId ?? undefined,
      });
    }
    this.#transport.setPeer(id, peerAddress);
    const membership = this.#core.membership;
    if (membership.voters.includes(id)) return;
    if (options.upstream !== undefined && !options.learner) {
      throw new TandemError(
        'TANDEM_MEMBERSHIP_INVALID',
        `only a learner receives the log from an upstream: add ${id} with learner true`,
      );
    }
    if (!membership.learners.includes(id)) {
      await this.#changeMembers(
        options.upstream === undefined
          ? { type: 'add-learner', id }
          : { type: 'add-learner', id, upstream: options.upstream },
      );
    }
    if (options.learner) return;
    // A learner votes only once it holds nearly the whole log, so that adding it never
    // leaves the cluster waiting on a voter that cannot yet help commit.
    await this.#waitFor(() => this.#isCaughtUp(id), this.#tickMs * 600, `${id} to catch up`);
    await this.#changeMembers({ type: 'add-voter', id });
  }

  /** Switches how the log reaches the members, through the log (leader only); a no-op when already so. */
  async setTopology(topology: Topology): Promise<void> {
    if (topologyOf(this.#core.membership) === topology && this.#core.role === 'leader') return;
    await this.#changeMembers({ type: 'set-topology', topology });
  }

  async removeMember(id: NodeId): Promise<void> {
    await this.#changeMembers({ type: 'remove', id });
    // Keep the link a while, so the notice that it was removed reaches the node.
    const linger = setTimeout(
      () => {
        if (!isMember(this.#core.membership, id)) this.#transport.removePeer(id);
      },
      this.#tickMs * (this.#core.config.electionTicks * 4),
    );
    linger.unref();
  }

  metrics(): Promise<string> {
    this.#metrics.observeStatus(this.#core.status(), this.#tickMs);
    this.#metrics.observeTransport(this.#transport.stats(), this.#transport.peers());
    this.#metrics.observeEntriesSent(this.#entriesSent);
    this.#metrics.snapshotStreamsActive.set(this.#sender.active);
    return this.#metrics.text();
  }

  ready(): boolean {
    return (
      this.#failure === null &&
      !this.#closed &&
      !this.#storeDown &&
      this.#store.healthy() &&
      this.#core.removedAt === 0 &&
      this.#core.status().leaderId !== null
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#handOverLeadership();
    this.#closed = true;
    if (this.#ticker !== null) clearInterval(this.#ticker);
    while (!this.#pipeline.idle || this.#snapshotInProgress) await sleep(5);
    this.#pipeline.stop();
    this.#failCalls(new TandemError('TANDEM_LEADERSHIP_LOST', 'the node is shutting down'));
    await this.#transport.close();
    await this.#storage.close();
    await this.#store.close();
    this.#lock.release();
    this.#config.logger.info({ id: this.id }, 'node stopped');
  }

  // ------------------------------------------------------------------ the loop

  /** Runs `action` against the core at the next pump; its errors go to `fail`. */
  #call(fail: (error: unknown) => void, action: () => void): void {
    if (this.#closed) return fail(new TandemError('TANDEM_NO_LEADER', 'the node is stopping'));
    if (this.#failure !== null) return fail(this.#failure);
    if (this.#deferred.length >= deferredCallsMax) {
      return fail(new TandemError('TANDEM_TOO_MANY_PENDING', 'the node is overloaded'));
    }
    this.#deferred.push({
      run: () => {
        try {
          action();
        } catch (error) {
          fail(error);
        }
      },
      fail,
    });
    this.#schedulePump();
  }

  #onFrame(from: NodeId, payload: unknown): void {
    const frame = payload as RuntimeFrame;
    if (frame.kind === 'raft') {
      const claimed: unknown = (frame.message as { from?: unknown } | undefined)?.from;
      if (claimed !== from) {
        // The transport authenticated the link as `from`: a message claiming another sender
        // is a bug or a forgery, and must not speak for that node.
        return this.#dropPeerMessage(from, `claims to come from ${String(claimed)}`);
      }
      this.#inbox.push(frame.message);
      this.#schedulePump();
    } else if (frame.kind === 'snapshot-chunk') {
      const message = this.#receiver.accept(from, frame);
      if (message !== null) {
        this.#inbox.push(message, true);
        this.#schedulePump();
      }
    }
  }

  #dropPeerMessage(from: NodeId, reason: string): void {
    this.#metrics.droppedPeerMessages.inc();
    const now = Date.now();
    if (now - this.#droppedLoggedAtMs < 1000) return;
    this.#droppedLoggedAtMs = now;
    this.#config.logger.warn({ from, reason }, 'dropped an impossible peer message');
  }

  /**
   * Once the core learns that a committed change removed this node: say so, record it in
   * the data directory (so a restart stays removed), and refuse whatever waits.
   */
  #noticeRemoval(): void {
    const removedAt = this.#core.removedAt;
    if (removedAt === 0 || this.#removalNoticed) return;
    this.#removalNoticed = true;
    this.#config.logger.warn({ removedAt }, 'this node was removed from the cluster');
    writeRemovedMarker(this.#config.dir, removedAt).catch((error: unknown) =>
      this.#config.logger.error({ err: error }, 'could not record the removal'),
    );
    const error = removedError(this.id, removedAt);
    for (const read of this.#waitingReads) read.fail(error);
    this.#waitingReads = [];
  }

  /**
   * Pumps once in the next turn of the event loop: everything that arrives in one turn
   * (a socket's batch of commands, every peer's answers) is stepped before one Ready is
   * taken for all of it.
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /**
   * Feeds the core what waits, then lets the pipeline take every Ready the core has. A
   * store that went away holds the pipeline: the node then sends nothing, so as a voter
   * it acknowledges nothing and as a leader it lets its followers elect another.
   */
  #pump(): void {
    if (this.#closed || this.#failure !== null) return;
    const core = this.#core;
    // Peer messages (and ticks, in the order they came: see core/inbox.ts) first: the
    // commit index they advance then rides on the appends of the proposals after them.
    this.#inbox.drain(core, (message, dropped) => {
      if (dropped !== null) this.#dropPeerMessage(message.from, dropped);
    });
    const calls = this.#deferred;
    this.#deferred = [];
    for (const call of calls) call.run();
    this.#noticeRemoval();
    if (this.#storeDown) return;
    this.#pipeline.pump();
  }

  /** How this node carries out Readies: the log, the store and the transport. */
  #pipelineDriver(): PipelineDriver {
    const failing = (work: () => void): void => {
      try {
        work();
      } catch (error) {
        this.#fail(error);
      }
    };
    return {
      taken: (ready) => {
        this.#metrics.readies.inc();
        if (ready.softState !== null) this.#onSoftState(ready.softState);
        // Reads wait until the state machine holds only committed history again.
        if (ready.rollback !== null) this.#rollingBack = true;
      },
      send: (messages) => {
        for (const message of messages) this.#send(message);
        this.#transport.flush();
      },
      write: (ready) =>
        failing(() => {
          this.#storage.writeEntries(ready.entries);
          if (ready.entries.length > 0) this.#metrics.loggedEntries.inc(ready.entries.length);
          if (ready.hardState !== null) this.#storage.writeHardState(ready.hardState);
        }),
      startSync: () => {
        const started = performance.now();
        const synced = this.#storage.sync().then(() => {
          this.#metrics.fsyncSeconds.observe((performance.now() - started) / 1000);
        });
        this.#completes(synced, () => this.#pipeline.synced());
      },
      startApply: (entries) =>
        this.#completes(this.#apply(entries), () => this.#pipeline.appliedDone()),
      startBarrier: (ready) =>
        this.#completes(this.#barrier(ready), () => this.#pipeline.barrierDone()),
      answer: (ready) => {
        for (const response of ready.responses) this.#onResponse(response);
        if (ready.rollback !== null) this.#rollingBack = false;
        for (const readState of ready.readStates) this.#onReadState(readState);
        this.#serveWaitingReads();
        this.#maybeSnapshot();
      },
    };
  }

  /**
   * When `work` ends, reports it to the pipeline (`done`) and pumps, unless the node has
   * failed meanwhile; a failure of `work` stops the node.
   */
  #completes(work: Promise<void>, done: () => void): void {
    work.then(
      () => {
        if (this.#failure !== null) return;
        done();
        this.#pump();
      },
      (error: unknown) => this.#fail(error),
    );
  }

  /** A rollback to this node's latest snapshot, or a snapshot from the leader installed. */
  async #barrier(ready: Ready): Promise<void> {
    if (ready.rollback !== null) await this.#rollBack(ready.rollback.index);
    if (ready.snapshot !== null)
      await this.#installSnapshot(ready.snapshot.meta, ready.snapshot.data);
  }

  async #apply(committedEntries: readonly Entry[]): Promise<void> {
    const started = performance.now();
    const results = await this.#whileStoreDown('apply', () => this.#store.apply(committedEntries));
    this.#metrics.applySeconds.observe((performance.now() - started) / 1000);
    this.#metrics.appliedEntries.inc(committedEntries.length);
    this.#announceApplied(committedEntries, results);
    if (this.#replay !== null && this.#store.applied.index >= this.#replay.until) {
      const { entries, started: replayStarted } = this.#replay;
      this.#replay = null;
      this.#config.logger.info(
        { entries, ms: Math.round(performance.now() - replayStarted) },
        'applied the committed log after the snapshot',
      );
    }
    // Only proposals made here wait for results; keep those (bounded) until answered.
    if (this.#writes.size === 0) return;
    committedEntries.forEach((entry, i) => {
      if (this.#writes.has(`${entry.index}:${entry.term}`)) {
        this.#results.set(entry.index, results[i] ?? null);
      }
    });
    while (this.#results.size > resultsKeptMax) {
      this.#results.delete(this.#results.keys().next().value as number);
    }
  }

  /** Hands the entries past `#announcedIndex` to the applied listeners (see `onApplied`). */
  #announceApplied(entries: readonly Entry[], results: readonly ApplyResult[]): void {
    const last = entries[entries.length - 1];
    if (last.index <= this.#announcedIndex) return;
    const first = entries.findIndex((entry) => entry.index > this.#announcedIndex);
    const fresh = first === 0 ? entries : entries.slice(first);
    const freshResults = first === 0 ? results : results.slice(first);
    this.#announcedIndex = last.index;
    for (const listener of this.#appliedListeners) {
      try {
        listener(fresh, freshResults);
      } catch (error) {
        this.#config.logger.error({ err: error }, 'an applied-entries listener failed');
      }
    }
  }

  onApplied(
    listener: (entries: readonly Entry[], results: readonly ApplyResult[]) => void,
  ): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  async backup(): Promise<NodeBackup> {
    // One image at a time: the node's own snapshot and a backup share the store's.
    while (this.#snapshotInProgress) await sleep(5);
    this.#snapshotInProgress = true;
    let image: StoreSnapshot;
    try {
      image = await this.#whileStoreDown('backup', () => this.#store.snapshot());
    } catch (error) {
      this.#snapshotInProgress = false;
      throw error;
    }
    let released = false;
    return {
      index: image.index,
      term: image.term,
      bytes: image.bytes,
      checksum: image.checksum,
      membership: this.#core.status().membership,
      store: this.#store.kind,
      chunks: () => image.chunks(),
      done: async () => {
        if (released) return;
        released = true;
        try {
          await image.dispose();
        } finally {
          this.#snapshotInProgress = false;
        }
      },
    };
  }

  setKeyEvents(on: boolean): void {
    this.#store.setKeyEvents(on);
  }

  #send(message: Message): void {
    if (message.type === 'snapshot') {
      this.#sender.send(message);
      return;
    }
    const frame: RuntimeFrame = { kind: 'raft', message };
    if (message.type === 'append' && message.entries.length > 0) {
      const sent = this.#entriesSent.get(message.to) ?? 0;
      this.#entriesSent.set(message.to, sent + message.entries.length);
    }
    this.#transport.send(message.to, frame);
  }

  #onSoftState(softState: NonNullable<Ready['softState']>): void {
    if (
      softState.role === 'candidate' ||
      (softState.role === 'leader' && this.#role !== 'candidate')
    ) {
      this.#metrics.elections.inc();
    }
    if (softState.role !== this.#role || softState.leaderId !== this.#leaderId) {
      this.#config.logger.info(
        { role: softState.role, term: softState.term, leader: softState.leaderId },
        softState.role === 'leader' ? 'became leader' : 'role changed',
      );
    }
    this.#role = softState.role;
    this.#leaderId = softState.leaderId;
  }

  #onResponse(response: ProposalOutcome): void {
    const key = `${response.index}:${response.term}`;
    const waiter = this.#writes.get(key);
    if (waiter === undefined) return;
    this.#writes.delete(key);
    const result = this.#results.get(response.index) ?? null;
    this.#results.delete(response.index);
    if (response.outcome === 'acknowledged') {
      this.#metrics.writes.inc({ outcome: 'acknowledged' });
      waiter.resolve({ index: response.index, term: response.term, result });
    } else if (response.outcome === 'timeout') {
      this.#metrics.writes.inc({ outcome: 'timeout' });
      waiter.reject(
        new TandemError(
          'TANDEM_SYNC_TIMEOUT',
          `write at index ${response.index} not acknowledged in time; it stays in the log, so it may already be visible (a sync write once committed) and it takes effect on every replica the log reaches`,
        ),
      );
    } else {
      this.#metrics.writes.inc({ outcome: 'leadership-lost' });
      waiter.reject(
        new TandemError(
          'TANDEM_LEADERSHIP_LOST',
          `leadership lost before write at index ${response.index} was acknowledged; its outcome is unknown`,
        ),
      );
    }
  }

  // ------------------------------------------------------------------ reads

  #read(options: ReadOptions, run: () => void, fail: (error: unknown) => void): void {
    if (this.#failure !== null) return fail(this.#failure);
    if (this.#core.removedAt > 0) return fail(removedError(this.id, this.#core.removedAt));
    const timeoutMs = options.timeoutMs ?? readTimeoutMsDefault;
    switch (options.consistency) {
      case 'stale':
        // During a rollback the store still holds (or is losing) an uncommitted tail.
        return this.#waitApplied(0, timeoutMs, run, fail);
      case 'bounded': {
        const status = this.#core.status();
        const lag = status.commit - this.#store.applied.index;
        const leaderKnown = status.leaderId !== null;
        if (leaderKnown && lag <= (options.maxLagEntries ?? 0)) {
          return this.#waitApplied(0, timeoutMs, run, fail);
        }
        return fail(
          new TandemError('TANDEM_NOT_CAUGHT_UP', `this node trails by ${lag} entries`, {
            leaderId: status.leaderId ?? undefined,
          }),
        );
      }
      case 'ryw':
        // Without the index of the caller's last write this node cannot know which writes
        // are the caller's, so only a linearizable read keeps the promise.
        if (options.afterIndex === undefined) return this.#readLinearizable(timeoutMs, run, fail);
        return this.#waitApplied(options.afterIndex, timeoutMs, run, fail, options.afterTerm);
      case 'linearizable':
        return this.#readLinearizable(timeoutMs, run, fail);
    }
  }

  /** ReadIndex (through the leader when this node follows), then waits until applied. */
  #readLinearizable(timeoutMs: number, run: () => void, fail: (error: unknown) => void): void {
    if (this.#reads.size >= waitingReadsMax) {
      return fail(new TandemError('TANDEM_TOO_MANY_PENDING', 'too many reads waiting'));
    }
    const readId = `${this.id}/${++this.#readSeq}`;
    // The timer covers both waits: for the read index (a follower's request to a leader
    // that died is never answered) and for this node to apply it.
    const deadline = Date.now() + timeoutMs;
    const timer = setTimeout(() => {
      if (this.#reads.delete(readId)) {
        fail(
          new TandemError(
            'TANDEM_SYNC_TIMEOUT',
            `no read index from a leader within ${timeoutMs} ms`,
          ),
        );
      }
    }, timeoutMs);
    const failAndForget = (error: unknown): void => {
      clearTimeout(timer);
      this.#reads.delete(readId);
      fail(error);
    };
    const runWhenApplied = (index: number): void => {
      clearTimeout(timer);
      this.#waitApplied(index, Math.max(1, deadline - Date.now()), run, fail);
    };
    this.#reads.set(readId, {
      index: 0,
      term: undefined,
      run,
      fail: failAndForget,
      indexKnown: runWhenApplied,
    });
    this.#call(failAndForget, () => this.#core.readIndex(readId));
  }

  #onReadState(readState: Ready['readStates'][number]): void {
    const read = this.#reads.get(readState.readId);
    if (read === undefined) return;
    this.#reads.delete(readState.readId);
    if (readState.error !== null) {
      const error = new TandemError(
        readState.error,
        `linearizable read refused: ${readState.error}`,
        {
          leaderId: this.#core.status().leaderId ?? undefined,
        },
      );
      return read.fail(error);
    }
    if (read.indexKnown !== undefined) read.indexKnown(readState.index);
    else this.#waitApplied(readState.index, readTimeoutMsDefault, read.run, read.fail);
  }

  #waitApplied(
    index: number,
    timeoutMs: number,
    run: () => void,
    fail: (error: unknown) => void,
    term?: number,
  ): void {
    if (!this.#holdsReads() && this.#holdsWrite(index, term)) return run();
    if (this.#waitingReads.length >= waitingReadsMax) {
      return fail(new TandemError('TANDEM_TOO_MANY_PENDING', 'too many reads waiting'));
    }
    const timer = setTimeout(() => {
      const position = this.#waitingReads.indexOf(read);
      if (position >= 0) this.#waitingReads.splice(position, 1);
      fail(
        new TandemError(
          'TANDEM_SYNC_TIMEOUT',
          `this node has applied ${this.#store.applied.index}, not yet ${index}, after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    const read: PendingRead = {
      index,
      term,
      run: () => {
        clearTimeout(timer);
        run();
      },
      fail: (error) => {
        clearTimeout(timer);
        fail(error);
      },
    };
    this.#waitingReads.push(read);
  }

  /**
   * Reads wait while the store holds, or is losing, entries that may never commit: a
   * rollback the core has decided (at step-down, or at start) and until it is carried out.
   */
  #holdsReads(): boolean {
    return this.#rollingBack || this.#core.rollbackPending;
  }

  /**
   * Whether the store has applied `index` and, when `term` is known, that entry is the
   * caller's write (not another entry at that index in a deposed leader's log).
   */
  #holdsWrite(index: number, term: number | undefined): boolean {
    if (this.#store.applied.index < index) return false;
    return term === undefined || index === 0 || this.#core.settledWrite(index, term);
  }

  #serveWaitingReads(): void {
    if (this.#waitingReads.length === 0 || this.#holdsReads()) return;
    const still: PendingRead[] = [];
    for (const read of this.#waitingReads) {
      if (this.#holdsWrite(read.index, read.term)) read.run();
      else still.push(read);
    }
    this.#waitingReads = still;
  }

  // ------------------------------------------------------------------ snapshots

  /** Restores the state machine from this node's own latest snapshot (async tail rollback). */
  async #rollBack(index: number): Promise<void> {
    await this.#sender.ready();
    const info = await this.#storage.snapshots.latest();
    assert(info !== null && info.meta.index === index, `no snapshot at ${index} to roll back to`);
    await this.#whileStoreDown('rollback', () =>
      this.#store.restore(
        { index: info.meta.index, term: info.meta.term, checksum: info.checksum },
        this.#storage.snapshots.chunks(info),
      ),
    );
    this.#config.logger.warn(
      { index: info.meta.index },
      'rolled the state machine back to the snapshot',
    );
  }

  async #installSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    // An own snapshot still being saved must land first, or it would replace this newer one.
    await this.#sender.ready();
    const checksum = formatChecksum(
      crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
    );
    await this.#storage.saveSnapshotChunks(meta, [data], checksum);
    await this.#whileStoreDown('snapshot install', () =>
      this.#store.restore({ index: meta.index, term: meta.term, checksum }, chunksOf(data)),
    );
    this.#metrics.snapshotsInstalled.inc();
    this.#metrics.snapshotBytes.set(data.byteLength);
    this.#config.logger.info(
      { index: meta.index, bytes: data.byteLength },
      'installed a snapshot from the leader',
    );
  }

  /** Snapshots the state machine and compacts the log once enough entries were applied. */
  #maybeSnapshot(): void {
    // A snapshot costs in proportion to what the store holds, and a restart applies the
    // log after the latest one. A snapshot is due once the log after the latest holds a
    // quarter as many entries as the store holds items (at least `snapshotEveryEntries`).
    // Under a steady load that would be one every few seconds, each walking every item (a
    // tenth of a follower's CPU with 100,000 keys), so a due snapshot also waits
    // `snapshotMinIntervalMs` after the one before, as hashicorp/raft checks its threshold
    // only every interval, unless the log after the latest holds as many entries as the
    // store holds items: a restart replays at most the data's size again (Redis rewrites
    // its AOF once it has doubled). A restarted node counts that interval from its start,
    // and takes none while it replays its log: walking every item would stall the replay,
    // and the reads waiting for it.
    if (this.#replay !== null) return;
    const items = this.#store.imageItems?.() ?? 0;
    const least = this.#config.snapshotEveryEntries ?? 10_000;
    const every = Math.max(least, Math.ceil(items / snapshotItemsPerEntry));
    // Asked after every apply: the core's first index alone, not its whole status.
    const since = this.#store.applied.index - (this.#core.firstIndex - 1);
    if (this.#snapshotInProgress || since < every) return;
    const waited = performance.now() - this.#snapshotStartedMs;
    const intervalMs = this.#config.snapshotMinIntervalMs ?? snapshotMinIntervalMsDefault;
    if (since < Math.max(least, items) && waited < intervalMs) return;
    this.#snapshotInProgress = true;
    this.#snapshotStartedMs = performance.now();
    void this.#snapshot().finally(() => {
      this.#snapshotInProgress = false;
    });
  }

  async #snapshot(): Promise<void> {
    const started = performance.now();
    let image: StoreSnapshot;
    try {
      image = await this.#store.snapshot();
    } catch (error) {
      // A store that went away takes no snapshot now; the log keeps growing until it can.
      this.#config.logger.warn({ err: error }, 'snapshot not taken');
      return;
    }
    try {
      const meta = await new Promise<SnapshotMeta | null>((resolve, reject) =>
        this.#call(reject, () => {
          const status = this.#core.status();
          // The image must hold the entry the log holds at its index: after an async
          // rollback a backup may still show the rolled-back tail.
          const ok =
            !this.#pipeline.barrierPending &&
            image.index <= Math.min(status.commit, status.stableIndex, status.applied) &&
            (image.index === status.firstIndex - 1 ||
              this.#core.entryAt(image.index)?.term === image.term);
          resolve(
            ok && image.index > status.firstIndex - 1 ? this.#core.compact(image.index) : null,
          );
        }),
      );
      if (meta === null) return;
      // The store's image file becomes the snapshot by a rename: its bytes are written once.
      const file = image.takeFile?.();
      const saving =
        file === undefined
          ? this.#storage.saveSnapshotChunks(meta, image.chunks(), image.checksum)
          : this.#storage.saveSnapshotFile(meta, file, image.bytes, image.checksum);
      this.#sender.compacting(saving.then(() => undefined));
      try {
        await saving;
      } catch (error) {
        // The core has compacted: without the snapshot on disk, this node cannot serve.
        this.#fail(error);
        return;
      }
      this.#metrics.snapshotsTaken.inc();
      this.#metrics.snapshotSeconds.observe((performance.now() - started) / 1000);
      this.#metrics.snapshotBytes.set(image.bytes);
      this.#config.logger.info(
        { index: meta.index, bytes: image.bytes },
        'took a snapshot and compacted the log',
      );
    } catch (error) {
      this.#config.logger.error({ err: error }, 'snapshot failed');
    } finally {
      await image.dispose();
    }
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Runs `work` on the store, and while the store answers TANDEM_STORE_UNAVAILABLE (its
   * database went away) runs it again after a growing pause. Meanwhile the Ready loop
   * holds: the node keeps its log, sends nothing (so it acknowledges nothing as a voter,
   * and a leader lets its followers elect another), and reports itself unhealthy. When
   * the store answers again the node carries on from where it stopped.
   */
  async #whileStoreDown<T>(doing: string, work: () => MaybePromise<T>): Promise<T> {
    for (let pauseMs = storeRetryMsMin; ; pauseMs = Math.min(pauseMs * 2, storeRetryMsMax)) {
      try {
        const result = await work();
        if (this.#storeDown) {
          this.#storeDown = false;
          this.#config.logger.info({ doing }, 'the store is back; carrying on');
        }
        return result;
      } catch (error) {
        if (!(error instanceof TandemError) || error.code !== 'TANDEM_STORE_UNAVAILABLE')
          throw error;
        if (this.#closed) throw error;
        if (!this.#storeDown) {
          this.#storeDown = true;
          this.#config.logger.warn(
            { err: error, doing },
            'the store is unavailable; holding the log until it returns',
          );
          this.#failReadsWhileStoreDown(error);
        }
        await sleep(pauseMs);
      }
    }
  }

  /** Reads waiting for an index cannot be served while the store is away: fail them. */
  #failReadsWhileStoreDown(error: TandemError): void {
    for (const read of this.#waitingReads) read.fail(error);
    this.#waitingReads = [];
  }

  #changeMembers(change: Parameters<RaftCore['changeMembers']>[0]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#call(reject, () => {
        const receipt = this.#core.changeMembers(change);
        this.#writes.set(`${receipt.index}:${receipt.term}`, {
          resolve: () => resolve(),
          reject,
        });
      });
    });
  }

  #isCaughtUp(id: NodeId): boolean {
    const status = this.#core.status();
    const follower = status.followers.find((candidate) => candidate.id === id);
    const gap = this.#config.core?.learnerCatchUpEntries ?? 64;
    return follower !== undefined && status.lastIndex - follower.match <= gap;
  }

  async #waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline)
        throw new TandemError('TANDEM_NOT_CAUGHT_UP', `timed out waiting for ${what}`);
      await sleep(this.#tickMs);
    }
  }

  #downAfterMs(): number {
    return (this.#config.core?.syncTimeoutTicks ?? 50) * this.#tickMs;
  }

  /** A leader asked to stop hands over to its most caught-up voter, briefly. */
  async #handOverLeadership(): Promise<void> {
    const status = this.#core.status();
    if (status.role !== 'leader') return;
    const candidates = status.followers
      .filter((follower) => follower.voter && follower.ticksSinceHeard < 10)
      .sort((a, b) => b.match - a.match);
    const best = candidates[0];
    if (best === undefined) return;
    try {
      await this.promote(best.id);
      this.#config.logger.info({ to: best.id }, 'handed leadership over before stopping');
    } catch (error) {
      this.#config.logger.warn({ err: error }, 'leadership hand-over failed; stopping anyway');
    }
  }

  #fail(error: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    this.#pipeline.stop();
    if (this.#ticker !== null) clearInterval(this.#ticker);
    this.#config.onFailure?.(error);
    this.#config.logger.error({ err: error }, 'storage failed; the node stops serving');
    this.#failCalls(error);
  }

  #failCalls(error: unknown): void {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const call of deferred) call.fail(error);
    for (const write of this.#writes.values()) write.reject(error);
    for (const read of this.#reads.values()) read.fail(error);
    for (const read of this.#waitingReads) read.fail(error);
    this.#writes.clear();
    this.#reads.clear();
    this.#waitingReads = [];
  }
}

/** `data` in chunks a store takes (a store refuses one chunk past `restoreChunkBytesMax`). */
async function* chunksOf(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.byteLength; offset += snapshotChunkBytes) {
    yield data.subarray(offset, Math.min(offset + snapshotChunkBytes, data.byteLength));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
