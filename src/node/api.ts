import type { AccessState } from '../store/access-state.js';
import type { Durability, Entry, Membership, NodeId, Role, Topology } from '../core/types.js';
import type { ApplyResult, Command, LogPosition } from '../store/index.js';
import type { MaybePromise, StoreReader } from '../store/contract.js';

/**
 * Read consistency levels (DESIGN section 2):
 * - `stale`: this node's state as it is;
 * - `bounded`: this node's state if its lag is within `maxLagEntries`, else
 *   `TANDEM_NOT_CAUGHT_UP` (the HTTP layer then forwards to the leader);
 * - `ryw`: wait until this node has applied `afterIndex` (the index the caller's last write
 *   returned); without an `afterIndex` this node cannot know the caller's writes, so it
 *   reads as `linearizable`;
 * - `linearizable`: ReadIndex through the leader, then wait until applied.
 */
export type Consistency = 'stale' | 'bounded' | 'ryw' | 'linearizable';

/** Options of one read. */
export interface ReadOptions {
  readonly consistency: Consistency;
  /** For `ryw`: the index this node must have applied first; absent, `ryw` is linearizable. */
  readonly afterIndex?: number;
  /**
   * For `ryw`: the term of that write, when known. The read then also waits until this
   * node's log holds that very entry, not another one at the same index (a deposed
   * leader's tail).
   */
  readonly afterTerm?: number;
  /** For `bounded`: the most entries this node may trail the leader by. */
  readonly maxLagEntries?: number;
  /** Abandon the wait after this long with `TANDEM_SYNC_TIMEOUT`. */
  readonly timeoutMs?: number;
}

/** What a write returned: where it went in the log and what applying it gave. */
export interface WriteResult {
  readonly index: number;
  readonly term: number;
  readonly result: ApplyResult;
}

/** One member as this node sees it. */
export interface MemberStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  /** The leader's view: how far the member's log matches, and how far it has applied. */
  readonly matchIndex: number | null;
  readonly appliedIndex: number | null;
  /** Entries the member trails the leader's last index by (leader's view). */
  readonly lagEntries: number | null;
  /** Milliseconds since the leader last heard from it (leader's view). */
  readonly lastContactMs: number | null;
  readonly healthy: boolean | null;
  readonly httpUrl: string | null;
  /**
   * Who sends it the log (leader's view): the leader, or in a chain the member before it;
   * null on a follower's view.
   */
  readonly upstream: NodeId | null;
  /** Its place in the chain (leader's view): 1 for the head; null when the leader feeds it directly. */
  readonly chainPosition: number | null;
  /** A snapshot being streamed to it: bytes sent of the total. */
  readonly snapshot: {
    readonly index: number;
    readonly sentBytes: number;
    readonly totalBytes: number;
  } | null;
}

/** An image of the state machine taken for a backup (see `NodeHandle.backup`). */
export interface NodeBackup {
  readonly index: number;
  readonly term: number;
  /** The image's size, and its CRC32C as 8 lower-case hex digits. */
  readonly bytes: number;
  readonly checksum: string;
  readonly membership: Membership;
  /** The store's kind (`sqlite`, `postgres`): an image restores into either. */
  readonly store: string;
  chunks(): AsyncIterable<Uint8Array>;
  /** Releases the image (deletes its files); the node may snapshot again. */
  done(): Promise<void>;
}

/** This node's report of itself and the cluster. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly leaderHttpUrl: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly durability: Durability;
  readonly membership: Membership;
  /** How the log reaches the members: `star` or `chain`. */
  readonly topology: Topology;
  /** Leader: the chain, head first (empty in a star). */
  readonly chain: readonly NodeId[];
  /** Follower: who sent it the log last (the leader, or the member before it in a chain). */
  readonly upstream: NodeId | null;
  /** Follower in a chain: the members it passes the log on to, and how far each trails it. */
  readonly downstream: readonly { readonly id: NodeId; readonly lagEntries: number }[];
  readonly members: readonly MemberStatus[];
  /** Healthy: storage works and the node has a leader (or is one). */
  readonly healthy: boolean;
  /**
   * Set once the node learnt that a committed membership change removed it: it then serves
   * no reads or writes (`TANDEM_REMOVED`) and never campaigns. Its data directory must be
   * wiped before it joins again.
   */
  readonly removed: boolean;
  /** The node's state machine: `sqlite` or `postgres`, and whether it answers now. */
  readonly store: { readonly kind: string; readonly healthy: boolean };
  readonly httpUrl: string;
}

/**
 * What the API layers (HTTP, RESP) and the CLI use of a running node. Operating errors
 * are `TandemError`s with stable codes; `TANDEM_NOT_LEADER` carries the leader's id
 * (`error.leaderId`), and `leaderHttpUrl()` says where to forward.
 */
export interface NodeHandle {
  readonly id: NodeId;
  /** Proposes a command on the leader and waits for its acknowledgement. */
  write(
    command: Command,
    options?: { readonly durability?: Durability; readonly signal?: AbortSignal },
  ): Promise<WriteResult>;
  /** Runs `query` against the local store once `options` allow it. */
  read<T>(
    options: ReadOptions,
    query: (store: StoreReader) => MaybePromise<T>,
  ): Promise<{ readonly value: T; readonly appliedIndex: number }>;
  /**
   * Runs `query` at once when `options` allow it without waiting (a `stale` read, or a
   * `ryw` read whose index is applied here) and the store is up; null otherwise, and
   * then the caller uses `read`. Saves the promise round trip on the hot read path.
   */
  readNow<T>(
    options: ReadOptions,
    query: (store: StoreReader) => T,
  ): { readonly value: T; readonly appliedIndex: number } | null;
  status(): NodeStatus;
  /** The applied position of the local store. */
  applied(): LogPosition;
  /** The users and tokens as this node has applied them. */
  accessState(): AccessState;
  /** The leader's HTTP URL, or null while there is none known. */
  leaderHttpUrl(): string | null;
  /** The leader's RESP endpoint (`host:port`), or null while none is known or it has none. */
  leaderRespAddress(): string | null;
  /** A member's RESP endpoint as it advertised it (`host:port`), or null. */
  respAddress(id: NodeId): string | null;
  /** The leader's RESP TLS endpoint (`host:port`), or null while none is known or it has none. */
  leaderRespTlsAddress(): string | null;
  /** Leadership transfer to `id` (the leader only); resolves when `id` leads or fails. */
  promote(id: NodeId): Promise<void>;
  /**
   * Adds a member (learner first; `learner: false` promotes it to voter once caught up).
   * A learner may name an `upstream`: the member it receives the log from.
   */
  addMember(
    id: NodeId,
    peerAddress: { host: string; port: number },
    options: { learner: boolean; upstream?: NodeId },
  ): Promise<void>;
  removeMember(id: NodeId): Promise<void>;
  /** Switches the topology through the log (leader only); a no-op when it is already so. */
  setTopology(topology: Topology): Promise<void>;
  /**
   * Calls `listener` with the committed entries this node applies from now on, in log
   * order, right after its store applied them. Only live ones: never an entry its log held
   * at start (the node replays those into its store), nor one applied again after a
   * rollback, so that a side effect of applying (pub/sub delivery) happens at most once.
   * `results[i]` is the store's result for `entries[i]` (with its keyspace events when
   * `setKeyEvents` asked for them). Returns the function that removes the listener.
   */
  onApplied(
    listener: (entries: readonly Entry[], results: readonly ApplyResult[]) => void,
  ): () => void;
  /** Whether the store lists the keyspace events of what it applies (keyspace notifications). */
  setKeyEvents(on: boolean): void;
  /**
   * A consistent image of the state machine now (its applied index and term), with the
   * membership, for `GET /v1/backup`. The node takes no snapshot of its own until `done()`.
   */
  backup(): Promise<NodeBackup>;
  /** Prometheus text of the node's metrics. */
  metrics(): Promise<string>;
  /** Whether the node can serve (storage works, a leader is known). */
  ready(): boolean;
}
