/**
 * A client of linked clusters (links/): it is given the nodes of several clusters, local
 * first, and sends every call to one of them, the local one while it answers. When that
 * cluster cannot serve (no leader, no node reachable, its replicas down), the client moves
 * to the next cluster and emits `clusterChanged`; after `failbackMs` on another cluster it
 * checks the local one in the background and goes back once it leads again.
 *
 * What holds: within one cluster, everything `TandemClient` promises (exactly-once writes,
 * `ryw` reads). Across a move to another cluster, eventual convergence only: a write
 * acknowledged by the first cluster reaches the second through the link, later, so a read
 * after the move need not see it.
 *
 * A call that fails on a cluster that cannot serve is sent again to the next one when that
 * is safe: every read; a write the first cluster answered it did not take
 * (`TANDEM_REPLICA_UNAVAILABLE`); and a write that converges to the same state when
 * applied twice (SET, DEL, MSET, UNLINK, PERSIST, EXPIREAT and PEXPIREAT, and their `kv`
 * calls). Any other write (an increment, APPEND, a compare-and-set, whose version is the
 * first cluster's) may have been taken before the failure, so it rejects with that error:
 * the client has moved, and the caller decides whether to send it again.
 */
import { createClient, type CounterApi, type KvApi, type TandemClient } from './client.js';
import { NoLeader, TandemClientError, Unavailable } from './errors.js';
import { TypedEvents } from './events.js';
import type {
  CallOptions,
  ClientOptions,
  ClusterStatus,
  CommandArgument,
  CommandReply,
  ReadCallOptions,
  WriteCallOptions,
} from './types.js';

/** Options of `createLinkedClient`: those of `createClient`, for every cluster alike. */
export interface LinkedClientOptions extends Omit<ClientOptions, 'nodes'> {
  /** Each cluster's node URLs (some of them; the rest are discovered), the local one first. */
  readonly clusters: readonly (readonly string[])[];
  /** Time on another cluster before the local one is checked again (default 30 000 ms). */
  readonly failbackMs?: number;
}

/** The events of a `LinkedTandemClient`. */
export interface LinkedClientEvents {
  /** Calls now go to cluster `index` of `clusters` (0: the local one), from `previous`. */
  clusterChanged: [index: number, previous: number, reason: string];
}

/** The default of `failbackMs`. */
export const failbackMsDefault = 30_000;

/** Commands whose second application leaves what the first did: safe to send to another cluster. */
const convergingCommands: ReadonlySet<string> = new Set([
  'SET',
  'MSET',
  'DEL',
  'UNLINK',
  'PERSIST',
  'EXPIREAT',
  'PEXPIREAT',
]);

/** How a call may be sent again to another cluster after failing on one that cannot serve. */
type Retry = 'always' | 'if-not-taken' | 'never';

/** Whether `error` says the cluster cannot serve now (rather than refusing this call). */
function cannotServe(error: unknown): error is TandemClientError {
  return error instanceof NoLeader || error instanceof Unavailable;
}

/** A client of several linked clusters; see the module comment. */
export class LinkedTandemClient extends TypedEvents<LinkedClientEvents> {
  /** One client per cluster, in the order of `clusters`. */
  readonly clients: readonly TandemClient[];
  /** The key-value calls; `compareAndSet` never moves to another cluster (a version is one cluster's). */
  readonly kv: KvApi;
  readonly counter: CounterApi;
  readonly #failbackMs: number;
  #active = 0;
  #movedAtMs = 0;
  #probing = false;
  #closed = false;

  constructor(options: LinkedClientOptions) {
    super();
    const { clusters, failbackMs, ...shared } = options;
    if (clusters.length === 0) {
      throw new TypeError('createLinkedClient needs at least one cluster');
    }
    if (clusters.some((nodes) => nodes.length === 0)) {
      throw new TypeError('createLinkedClient needs at least one node URL for each cluster');
    }
    this.#failbackMs = failbackMs ?? failbackMsDefault;
    if (!Number.isFinite(this.#failbackMs) || this.#failbackMs < 0) {
      throw new TypeError('failbackMs must be a number of milliseconds, 0 or more');
    }
    this.clients = clusters.map((nodes) => createClient({ ...shared, nodes }));
    this.kv = {
      get: (key, callOptions) => this.#call('always', (c) => c.kv.get(key, callOptions)),
      getBytes: (key, callOptions) => this.#call('always', (c) => c.kv.getBytes(key, callOptions)),
      set: (key, value, callOptions) =>
        this.#call('always', (c) => c.kv.set(key, value, callOptions)),
      delete: (key, callOptions) => this.#call('always', (c) => c.kv.delete(key, callOptions)),
      compareAndSet: (key, value, version, callOptions) =>
        this.#call('never', (c) => c.kv.compareAndSet(key, value, version, callOptions)),
    };
    this.counter = {
      incrBy: (key, by, callOptions) =>
        this.#call('if-not-taken', (c) => c.counter.incrBy(key, by, callOptions)),
      decrBy: (key, by, callOptions) =>
        this.#call('if-not-taken', (c) => c.counter.decrBy(key, by, callOptions)),
      get: (key, callOptions) => this.#call('always', (c) => c.counter.get(key, callOptions)),
    };
  }

  /** The index in `clusters` of the cluster calls go to now (0: the local one). */
  get active(): number {
    return this.#active;
  }

  /** Runs a Redis command on the cluster in use (see `TandemClient.command`). */
  command(args: readonly CommandArgument[], options?: WriteCallOptions): Promise<CommandReply> {
    const name = typeof args[0] === 'string' ? args[0].toUpperCase() : '';
    const retry = convergingCommands.has(name) ? 'always' : 'if-not-taken';
    return this.#call(retry, (client) => client.command(args, options));
  }

  /** Runs a read-only Redis command on the cluster in use (see `TandemClient.readCommand`). */
  readCommand(args: readonly CommandArgument[], options?: ReadCallOptions): Promise<CommandReply> {
    return this.#call('always', (client) => client.readCommand(args, options));
  }

  /** The status of the cluster in use, as its leader sees it. */
  status(options?: CallOptions): Promise<ClusterStatus> {
    return this.#call('always', (client) => client.status(options));
  }

  /** Closes every cluster's client. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const client of this.clients) client.close();
  }

  /**
   * Runs `call` on the cluster in use; when that cluster cannot serve, moves to the next
   * one and, as `retry` allows, runs it there, each cluster at most once per call.
   */
  async #call<T>(retry: Retry, call: (client: TandemClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new TypeError('the linked client is closed');
    this.#maybeFailBack();
    const first = this.#active;
    let lastError: unknown = null;
    for (let tried = 0; tried < this.clients.length; tried++) {
      const index = (first + tried) % this.clients.length;
      try {
        return await call(this.clients[index] as TandemClient);
      } catch (error) {
        if (!cannotServe(error)) throw error;
        lastError = error;
        this.#move(index, (index + 1) % this.clients.length, error.message);
        const notTaken = error.code === 'TANDEM_REPLICA_UNAVAILABLE';
        if (retry === 'never' || (retry === 'if-not-taken' && !notTaken)) throw error;
      }
    }
    throw lastError;
  }

  /** Moves calls from cluster `from` to `to`, unless another call moved them already. */
  #move(from: number, to: number, reason: string): void {
    if (this.#active !== from || from === to) return;
    this.#active = to;
    this.#movedAtMs = Date.now();
    this.emit('clusterChanged', to, from, reason);
  }

  /** After `failbackMs` away from the local cluster, checks it in the background. */
  #maybeFailBack(): void {
    if (this.#active === 0 || this.#probing) return;
    if (Date.now() - this.#movedAtMs < this.#failbackMs) return;
    this.#probing = true;
    const from = this.#active;
    (this.clients[0] as TandemClient)
      .status()
      .then((status) => {
        if (status.leaderId !== null && this.#active === from) {
          this.#active = 0;
          this.#movedAtMs = Date.now();
          this.emit('clusterChanged', 0, from, 'the local cluster leads again');
        }
      })
      .catch(() => {
        // Still down: checked again after another `failbackMs`.
        this.#movedAtMs = Date.now();
      })
      .finally(() => {
        this.#probing = false;
      });
  }
}

/** Creates a client of the linked clusters at `options.clusters`, the local one first. */
export function createLinkedClient(options: LinkedClientOptions): LinkedTandemClient {
  return new LinkedTandemClient(options);
}
