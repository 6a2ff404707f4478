/**
 * One node's side of linked clusters (the runtime of links/protocol.ts): what it answers
 * other clusters that pull its stream, and, on the leader, one `LinkPuller` per linked
 * cluster that pulls theirs and proposes each answer through this cluster's log.
 *
 * - Linking (`link`, the leader's to do): the cluster's linked state begins (a `link`
 *   `create` entry, as this cluster's id) and the other cluster's record (its id, its
 *   nodes' HTTP URLs, the `Authorization` to send) is written to the system database, so
 *   every member knows it and a new leader resumes it.
 * - Pulling: every `pollMs` the leader asks each linked cluster, at one of its nodes (the
 *   next one after a failure), for its stream after the position this cluster applied
 *   (`GET /v1/links/stream`, which any member answers from what it applied). The batch is
 *   checked against this cluster's clock (a stamp too far ahead cuts it) and proposed as one
 *   `link` `batch` entry; the entry records the new position with the records, so that a
 *   restart or failover on either side resumes from the position applied and nothing
 *   applies twice (the store skips what it applied already).
 * - A new leader starts new pullers (the position is in the replicated state; nothing
 *   volatile needs to survive).
 */
import { TandemError } from '../core/errors.js';
import type { NodeHandle } from '../node/api.js';
import type { Logger } from '../transport/contract.js';
import { databaseOfText, systemDatabase, systemKey } from '../store/databases.js';
import { linkSeedKeysMax } from '../store/commands.js';
import type { StoreReader } from '../store/contract.js';
import { decodeBatch, encodeBatch, clusterIdBytesMax } from './codec.js';
import { Hlc, skewMsMaxDefault } from './hlc.js';
import { LinkPuller } from './protocol.js';
import {
  decodeLinkMeta,
  decodeLinkPeer,
  encodeLinkPeer,
  linkMetaName,
  linkPeerPrefix,
  linkPeersMax,
  peerUrlsMax,
  readConflicts,
  readStreamBatch,
  type ConflictPage,
  type LinkPeer,
  type StoredLinkMeta,
  type StreamRead,
} from './records.js';

/** How often the leader asks each linked cluster for more, by default. */
export const linkPollMsDefault = 25;
/** Records asked for in one pull, by default (a batch is one log entry). */
export const linkRecordsMaxDefault = 1_000;
/** How long one pull may take before it is given up. */
export const linkRequestTimeoutMs = 5_000;
/** The largest stream answer read from another cluster. */
export const linkAnswerBytesMax = 64 * 1024 * 1024;
/** Conflicts listed at most in one answer. */
export const conflictsListMax = 10_000;
/** Conflicts older than this (by the lost write's stamp) are no longer listed, by default. */
export const conflictsAgeMsDefault = 7 * 24 * 60 * 60 * 1000;

/** How long the leader's turn uses the linked clusters' records it read (ms). */
const peersReadMs = 1_000;

/** Header of a stream answer: how many records the answering cluster's stream holds. */
export const streamLengthHeader = 'x-tandem-stream-length';

/** Options of a `LinkService`. */
export interface LinkServiceOptions {
  readonly node: NodeHandle;
  /** This cluster's id (`--cluster-id`): the origin its writes are stamped with. */
  readonly cluster: string;
  readonly logger: Logger;
  readonly pollMs?: number;
  readonly recordsMax?: number;
  /** Remote stamps further ahead of this node's clock than this are refused (counted). */
  readonly skewMsMax?: number;
  /** The HTTP client (the global fetch unless a test gives another). */
  readonly fetch?: typeof fetch;
}

/** A link's state as the leader sees it. */
export type LinkRunState =
  /** Pulling and up to date with the other cluster's stream (as of the last answer). */
  | 'ok'
  /** Pulling, with records still to apply. */
  | 'catching-up'
  /** The other cluster answered that it is not linked yet. */
  | 'waiting'
  /** No node of the other cluster answered the last pull. */
  | 'unreachable'
  /** The other cluster no longer keeps the records after this cluster's position. */
  | 'behind'
  /** This cluster refused the other's batch, or the other refused the pull. */
  | 'failing'
  /** Not known on this node: only the leader pulls. */
  | 'unknown';

/** One linked cluster as `GET /v1/links` shows it. */
export interface LinkView {
  readonly id: string;
  readonly urls: readonly string[];
  /** The last position of its stream applied here. */
  readonly position: number;
  /** Leader only, as of its last answer: how long its stream is, and how far behind this is. */
  readonly remoteLength: number | null;
  readonly lagRecords: number | null;
  readonly state: LinkRunState;
  readonly lastContactMs: number | null;
  readonly lastError: string | null;
  /** Records refused since this leader began pulling, for a stamp too far ahead. */
  readonly refusedForSkew: number;
  readonly recordsApplied: number;
  readonly batchesApplied: number;
}

/** `GET /v1/links`: this cluster and its links. */
export interface LinksView {
  readonly cluster: string;
  /** Whether this cluster's linked state has begun. */
  readonly linked: boolean;
  readonly streamLength: number;
  readonly conflictsTotal: number;
  /** Whether every string key written before the link is in the linked state yet. */
  readonly seeded: boolean;
  readonly links: readonly LinkView[];
}

interface PeerRun {
  readonly puller: LinkPuller;
  urlIndex: number;
  state: LinkRunState;
  lastContactAtMs: number | null;
  lastError: string | null;
  remoteLength: number | null;
  recordsApplied: number;
  batchesApplied: number;
  busy: boolean;
}

/** One node's linked clusters; see the module comment. */
export class LinkService {
  readonly cluster: string;
  readonly #node: NodeHandle;
  readonly #logger: Logger;
  readonly #pollMs: number;
  readonly #recordsMax: number;
  readonly #skewMsMax: number;
  readonly #fetch: typeof fetch;
  #timer: NodeJS.Timeout | null = null;
  #tick = 0;
  /** The term the pullers belong to: a new leadership starts new ones. */
  #term = -1;
  readonly #runs = new Map<string, PeerRun>();
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();
  /** The peers as the leader's turn last read them, and when. */
  #peersRead: { readonly atMs: number; readonly peers: LinkPeer[] } | null = null;
  /** The leader's seeding of the keys written before the link, while it runs. */
  #seeding: Promise<void> | null = null;

  constructor(options: LinkServiceOptions) {
    this.#node = options.node;
    this.cluster = options.cluster;
    this.#logger = options.logger;
    this.#pollMs = options.pollMs ?? linkPollMsDefault;
    this.#recordsMax = options.recordsMax ?? linkRecordsMaxDefault;
    this.#skewMsMax = options.skewMsMax ?? skewMsMaxDefault;
    this.#fetch = options.fetch ?? fetch;
  }

  start(): void {
    const loop = () => {
      if (this.#closed) return;
      this.#turn();
      this.#timer = setTimeout(loop, this.#pollMs);
    };
    this.#timer = setTimeout(loop, this.#pollMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    await Promise.allSettled([...this.#inFlight]);
  }

  // ------------------------------------------------------------------ what any member answers

  /**
   * This cluster's stream after `after`, as this node applied it (any member answers),
   * for cluster `requester` (null: not said), whose own operations are left out.
   */
  streamRead(after: number, recordsMax: number, requester: string | null = null): StreamRead {
    return this.#readLocal((get) => readStreamBatch(get, after, recordsMax, requester));
  }

  /** The latest conflicts recorded here, as this node applied them. */
  conflicts(limit: number, sinceMs: number): ConflictPage {
    return this.#readLocal((get) => readConflicts(get, limit, sinceMs));
  }

  /** This cluster's links, with the leader's view of each when this node leads. */
  list(): LinksView {
    return this.#readLocal((get, store) => {
      const metaText = get(linkMetaName);
      const meta = metaText === undefined ? null : decodeLinkMeta(metaText);
      const links = peersOf(store).map((peer) => this.#view(peer, meta));
      return {
        cluster: this.cluster,
        linked: meta !== null,
        streamLength: meta?.streamLength ?? 0,
        conflictsTotal: meta?.conflictsTotal ?? 0,
        seeded: meta?.seeded ?? false,
        links,
      };
    });
  }

  #view(peer: LinkPeer, meta: StoredLinkMeta | null): LinkView {
    const run = this.#runs.get(peer.cluster);
    const position = meta?.positions[peer.cluster] ?? 0;
    const remoteLength = run?.remoteLength ?? null;
    const contactAtMs = run?.lastContactAtMs ?? null;
    return {
      id: peer.cluster,
      urls: peer.urls,
      position,
      remoteLength,
      lagRecords: remoteLength === null ? null : Math.max(0, remoteLength - position),
      state: run?.state ?? 'unknown',
      lastContactMs: contactAtMs === null ? null : Date.now() - contactAtMs,
      lastError: run?.lastError ?? null,
      refusedForSkew: run?.puller.refusedForSkew ?? 0,
      recordsApplied: run?.recordsApplied ?? 0,
      batchesApplied: run?.batchesApplied ?? 0,
    };
  }

  // ------------------------------------------------------------------ linking (the leader)

  /**
   * Links this cluster to the one serving `url` (its HTTP API): asks it for its id and its
   * nodes, begins this cluster's linked state if need be, and records the other cluster.
   * Throws TANDEM_NOT_LEADER on a follower before anything is asked (the route forwards).
   */
  async link(url: string, authorization: string | null): Promise<LinkView> {
    this.#requireLeader();
    const base = checkUrl(url);
    const headers: Record<string, string> = authorization === null ? {} : { authorization };
    const info = await this.#getJson(`${base}/v1/links`, headers);
    const cluster = typeof info['cluster'] === 'string' ? info['cluster'] : null;
    if (cluster === null) {
      throw new TandemError('TANDEM_BAD_REQUEST', `${base} did not answer as a Tandem cluster`);
    }
    if (cluster === this.cluster) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `${base} is a cluster with this cluster's own id (${cluster}): linked clusters need distinct --cluster-id`,
      );
    }
    const status = await this.#getJson(`${base}/v1/cluster`, headers);
    const members = Array.isArray(status['members']) ? (status['members'] as unknown[]) : [];
    const urls = [base];
    for (const member of members) {
      const memberUrl = (member as { httpUrl?: unknown }).httpUrl;
      if (typeof memberUrl === 'string' && !urls.includes(memberUrl)) urls.push(memberUrl);
    }
    const peer: LinkPeer = { cluster, urls: urls.slice(0, peerUrlsMax), authorization };
    const others = this.#peers().filter((known) => known.cluster !== cluster);
    if (others.length >= linkPeersMax) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `this cluster is linked to ${others.length} clusters already, the most it may be`,
      );
    }
    const created = await this.#node.write({
      type: 'link',
      action: 'create',
      cluster: this.cluster,
      at: Date.now(),
    });
    if (created.result !== null && !created.result.ok) {
      throw new TandemError('TANDEM_BAD_REQUEST', created.result.error.replace(/^ERR /, ''));
    }
    await this.#node.write({
      type: 'set',
      key: peerKey(cluster),
      value: Buffer.from(encodeLinkPeer(peer), 'latin1'),
      at: Date.now(),
    });
    this.#peersRead = null;
    this.#logger.info({ link: cluster, urls: peer.urls }, `linked to cluster ${cluster}`);
    return this.list().links.find((link) => link.id === cluster) ?? this.#view(peer, null);
  }

  /**
   * Stops pulling from `cluster` (what it sent stays; its own pull of this cluster's stream
   * is its to stop). False when no such link exists.
   */
  async unlink(cluster: string): Promise<boolean> {
    this.#requireLeader();
    if (!this.#peers().some((peer) => peer.cluster === cluster)) return false;
    await this.#node.write({ type: 'del', keys: [peerKey(cluster)], at: Date.now() });
    this.#runs.delete(cluster);
    this.#peersRead = null;
    this.#logger.info({ link: cluster }, `unlinked from cluster ${cluster}`);
    return true;
  }

  #requireLeader(): void {
    const status = this.#node.status();
    if (status.role !== 'leader') {
      throw new TandemError('TANDEM_NOT_LEADER', `node ${this.#node.id} is not the leader`, {
        ...(status.leaderId === null ? {} : { leaderId: status.leaderId }),
      });
    }
  }

  // ------------------------------------------------------------------ pulling (the leader)

  #turn(): void {
    const status = this.#node.status();
    if (status.role !== 'leader' || !this.#node.ready()) {
      if (this.#runs.size > 0) this.#runs.clear();
      this.#term = -1;
      return;
    }
    if (status.term !== this.#term) {
      // A new leadership reads everything afresh: links made or removed meanwhile too.
      this.#runs.clear();
      this.#peersRead = null;
      this.#term = status.term;
    }
    this.#tick += 1;
    let peers: LinkPeer[];
    let meta: StoredLinkMeta | null;
    try {
      ({ peers, meta } = this.#readLocal((get, store) => {
        const text = get(linkMetaName);
        // The peers change only when a link is made or removed: read again every second.
        const now = Date.now();
        if (this.#peersRead === null || now - this.#peersRead.atMs >= peersReadMs) {
          this.#peersRead = { atMs: now, peers: peersOf(store) };
        }
        const peers = this.#peersRead.peers;
        return { peers, meta: text === undefined ? null : decodeLinkMeta(text) };
      }));
    } catch (error) {
      this.#logger.warn({ err: error }, 'the linked state cannot be read');
      return;
    }
    if (meta === null) return;
    if (!meta.seeded && this.#seeding === null) {
      const seeding = this.#seed(status.term)
        .catch((error: unknown) => {
          this.#logger.warn({ err: error }, 'seeding the keys written before the link stopped');
        })
        .finally(() => {
          this.#seeding = null;
          this.#inFlight.delete(seeding);
        });
      this.#seeding = seeding;
      this.#inFlight.add(seeding);
    }
    const known = new Set(peers.map((peer) => peer.cluster));
    for (const cluster of this.#runs.keys()) if (!known.has(cluster)) this.#runs.delete(cluster);
    for (const peer of peers) {
      let run = this.#runs.get(peer.cluster);
      if (run === undefined) {
        run = {
          puller: new LinkPuller(peer.cluster, {
            recordsMax: this.#recordsMax,
            retryTicks: Math.max(1, Math.ceil((2 * linkRequestTimeoutMs) / this.#pollMs)),
            idleTicks: 0,
          }),
          urlIndex: 0,
          state: 'unknown',
          lastContactAtMs: null,
          lastError: null,
          remoteLength: null,
          recordsApplied: 0,
          batchesApplied: 0,
          busy: false,
        };
        this.#runs.set(peer.cluster, run);
      }
      if (run.busy) continue;
      const request = run.puller.poll(meta.positions[peer.cluster] ?? 0, this.#tick);
      if (request === null) continue;
      run.busy = true;
      const pull = this.#pull(peer, run, request.after, request.recordsMax)
        .catch((error: unknown) => {
          run.lastError = (error as Error).message;
          if (run.state !== 'unreachable') run.state = 'failing';
        })
        .finally(() => {
          run.busy = false;
          this.#inFlight.delete(pull);
        });
      this.#inFlight.add(pull);
    }
  }

  /**
   * Enters every string key written before the link began into the merge state, so that
   * the linked clusters receive it: pages of keys scanned here, each proposed as one
   * `link` `seed` entry (the store passes over keys the link has touched since), then a
   * last one that marks the seeding done. Stops when this node no longer leads in `term`;
   * the next leader seeds again from the start (the pages already done cost a lookup per
   * key).
   */
  async #seed(term: number): Promise<void> {
    const leading = () => {
      const status = this.#node.status();
      return !this.#closed && status.role === 'leader' && status.term === term;
    };
    this.#logger.info({}, 'entering the keys written before the link into the linked state');
    let cursor = 0;
    let pages = 0;
    let seeded = 0;
    do {
      if (!leading()) return;
      const page = this.#readLocal((_get, store) => {
        const scanned = store.scan(cursor, { count: linkSeedKeysMax }, Date.now());
        if (scanned instanceof Promise) throw unsupported();
        return scanned;
      });
      cursor = page.cursor;
      const keys = page.keys.filter((key) => databaseOfText(key.toString('latin1')) !== null);
      if (keys.length === 0) continue;
      const write = await this.#node.write({ type: 'link', action: 'seed', keys, at: Date.now() });
      if (write.result === null || !write.result.ok) {
        throw new TandemError('TANDEM_BAD_REQUEST', write.result?.error ?? 'a seed did not apply');
      }
      pages += 1;
      seeded += (write.result.value as { seeded?: number } | undefined)?.seeded ?? 0;
    } while (cursor !== 0);
    if (!leading()) return;
    await this.#node.write({ type: 'link', action: 'seed', keys: [], done: true, at: Date.now() });
    this.#logger.info(
      { pages, seeded },
      `${seeded} keys written before the link are in the linked state`,
    );
  }

  /** One pull of `peer`'s stream after `after`, and the proposal of what it answered. */
  async #pull(peer: LinkPeer, run: PeerRun, after: number, recordsMax: number): Promise<void> {
    const base = peer.urls[run.urlIndex % peer.urls.length];
    const url = `${base}/v1/links/stream?after=${after}&max=${recordsMax}&for=${this.cluster}`;
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers: peer.authorization === null ? {} : { authorization: peer.authorization },
        signal: AbortSignal.timeout(linkRequestTimeoutMs),
      });
    } catch (error) {
      run.urlIndex += 1;
      run.state = 'unreachable';
      run.lastError = `${base}: ${(error as Error).message}`;
      return;
    }
    const body = await readBounded(response, linkAnswerBytesMax);
    run.lastContactAtMs = Date.now();
    if (response.status === 404) {
      run.state = 'waiting';
      run.lastError = `cluster ${peer.cluster} is not linked yet`;
      return;
    }
    if (response.status === 410) {
      if (run.state !== 'behind') {
        this.#logger.error(
          { link: peer.cluster, after },
          `cluster ${peer.cluster} no longer keeps its stream after position ${after}`,
        );
      }
      run.state = 'behind';
      run.lastError = `cluster ${peer.cluster} no longer keeps its stream after position ${after}`;
      return;
    }
    if (response.status !== 200) {
      // A node that cannot answer now (not caught up, restarting): try the next one.
      run.urlIndex += 1;
      run.state = 'failing';
      run.lastError = `${base} answered ${response.status}: ${body.toString('utf8').slice(0, 200)}`;
      return;
    }
    const remoteLength = Number(response.headers.get(streamLengthHeader));
    const batch = decodeBatch(body.toString('latin1'));
    if (batch.from !== peer.cluster) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `${base} answered with the stream of cluster ${batch.from}, not ${peer.cluster}`,
      );
    }
    run.remoteLength = Number.isSafeInteger(remoteLength) ? remoteLength : batch.through;
    const committed = this.#position(peer.cluster);
    const clock = new Hlc(this.cluster, { skewMsMax: this.#skewMsMax });
    const refusedBefore = run.puller.refusedForSkew;
    const proposal = run.puller.answer(batch, committed, this.#tick, clock, Date.now());
    if (run.puller.refusedForSkew > refusedBefore) {
      this.#logger.warn(
        { link: peer.cluster },
        `a record of cluster ${peer.cluster} is stamped more than ${this.#skewMsMax} ms ahead of this clock: held back`,
      );
    }
    if (proposal === null) {
      run.state = run.remoteLength > committed ? 'catching-up' : 'ok';
      run.lastError = null;
      return;
    }
    const write = await this.#node.write({
      type: 'link',
      action: 'batch',
      batch: Buffer.from(encodeBatch(proposal), 'latin1'),
      at: Date.now(),
    });
    if (write.result === null || !write.result.ok) {
      throw new TandemError('TANDEM_BAD_REQUEST', write.result?.error ?? 'the batch did not apply');
    }
    const value = write.result.value as { refused?: string; applied?: number } | undefined;
    if (value?.refused !== undefined) {
      run.state = 'failing';
      run.lastError = `a batch of cluster ${peer.cluster} was refused: ${value.refused}`;
      return;
    }
    run.batchesApplied += 1;
    run.recordsApplied += value?.applied ?? 0;
    run.state = run.remoteLength > proposal.through ? 'catching-up' : 'ok';
    run.lastError = null;
  }

  #position(cluster: string): number {
    return this.#readLocal((get) => {
      const text = get(linkMetaName);
      return text === undefined ? 0 : (decodeLinkMeta(text).positions[cluster] ?? 0);
    });
  }

  /** The linked clusters' records, as this node applied them. */
  #peers(): LinkPeer[] {
    return this.#readLocal((_get, store) => peersOf(store));
  }

  /** Runs `query` on this node's store as applied, with a reader of system records by name. */
  #readLocal<T>(query: (get: (name: string) => string | undefined, store: StoreReader) => T): T {
    return readLinkRecords(this.#node, query);
  }

  async #getJson(url: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers,
        signal: AbortSignal.timeout(linkRequestTimeoutMs),
      });
    } catch (error) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `${url} cannot be reached: ${(error as Error).message}`,
      );
    }
    const body = await readBounded(response, 1024 * 1024);
    if (response.status !== 200) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `${url} answered ${response.status}: ${body.toString('utf8').slice(0, 200)}`,
      );
    }
    try {
      const value: unknown = JSON.parse(body.toString('utf8'));
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // answered below
    }
    throw new TandemError('TANDEM_BAD_REQUEST', `${url} did not answer JSON`);
  }

  /** The links' metrics in Prometheus's text format (the leader's view; zero elsewhere). */
  metricsText(): string {
    let view: LinksView;
    try {
      view = this.list();
    } catch {
      return '';
    }
    const node = this.#node.id;
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family(
      'tandem_link_conflicts_total',
      'counter',
      'Concurrent writes that lost to another (all links)',
    );
    lines.push(`tandem_link_conflicts_total{node="${node}"} ${view.conflictsTotal}`);
    family(
      'tandem_link_stream_records',
      'gauge',
      "Records of this cluster's stream for linked clusters",
    );
    lines.push(`tandem_link_stream_records{node="${node}"} ${view.streamLength}`);
    if (view.links.length === 0) return `${lines.join('\n')}\n`;
    const perLink = (
      name: string,
      type: string,
      help: string,
      value: (link: LinkView) => number | null,
    ) => {
      family(name, type, help);
      for (const link of view.links) {
        const measured = value(link);
        if (measured !== null) lines.push(`${name}{node="${node}",link="${link.id}"} ${measured}`);
      }
    };
    perLink(
      'tandem_link_position',
      'gauge',
      "The last position of the linked cluster's stream applied here",
      (l) => l.position,
    );
    perLink(
      'tandem_link_lag_records',
      'gauge',
      'Records of the linked cluster not yet applied here (leader)',
      (l) => l.lagRecords,
    );
    perLink(
      'tandem_link_up',
      'gauge',
      'Whether the last pull of the linked cluster succeeded (leader)',
      (l) => (l.state === 'unknown' ? null : l.state === 'ok' || l.state === 'catching-up' ? 1 : 0),
    );
    perLink(
      'tandem_link_records_applied_total',
      'counter',
      'Records of the linked cluster applied by this leader',
      (l) => l.recordsApplied,
    );
    perLink(
      'tandem_link_skew_refused_total',
      'counter',
      'Records held back for a stamp too far ahead (leader)',
      (l) => l.refusedForSkew,
    );
    return `${lines.join('\n')}\n`;
  }
}

/**
 * Runs `query` on `node`'s store as it applied it, with a reader of system records by
 * name (the embedded store answers at once; PostgreSQL keeps no linked state).
 */
export function readLinkRecords<T>(
  node: NodeHandle,
  query: (get: (name: string) => string | undefined, store: StoreReader) => T,
): T {
  const read = node.readNow({ consistency: 'stale' }, (store) => {
    const now = Date.now();
    const get = (name: string) => {
      const entry = store.get(systemKey(Buffer.from(name, 'latin1')), now);
      if (entry instanceof Promise) throw unsupported();
      return entry === null ? undefined : entry.value.toString('latin1');
    };
    return query(get, store);
  });
  if (read === null) {
    throw new TandemError('TANDEM_STORE_UNAVAILABLE', `node ${node.id} cannot read its store now`);
  }
  return read.value;
}

/** The linked clusters' records in `store` (the embedded store: it answers at once). */
function peersOf(store: StoreReader): LinkPeer[] {
  const now = Date.now();
  const match = systemKey(Buffer.from(`${linkPeerPrefix}*`, 'latin1'));
  const page = store.scan(0, { match, db: systemDatabase }, now);
  if (page instanceof Promise) throw unsupported();
  const peers: LinkPeer[] = [];
  for (const key of page.keys) {
    const entry = store.get(key, now);
    if (entry instanceof Promise) throw unsupported();
    if (entry !== null) peers.push(decodeLinkPeer(entry.value.toString('latin1')));
  }
  return peers.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
}

/** The stored key of linked cluster `cluster`'s record. */
export function peerKey(cluster: string): Buffer {
  return systemKey(Buffer.from(linkPeerPrefix + cluster, 'latin1'));
}

/** `url` without a trailing slash, or TANDEM_BAD_REQUEST when it is no http(s) URL. */
export function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `url must be an http:// or https:// URL, got ${url}`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `url must be an http:// or https:// URL, got ${url}`,
    );
  }
  return `${parsed.protocol}//${parsed.host}`;
}

/** A linked cluster's id as a route names it: as `--cluster-id` allows. */
export function checkLinkId(id: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id.length > clusterIdBytesMax) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `a link's id is a cluster id (1 to ${clusterIdBytesMax} letters, digits, '.', '_' or '-'), got ${id}`,
    );
  }
}

function unsupported(): TandemError {
  return new TandemError(
    'TANDEM_BAD_REQUEST',
    'linked clusters need the embedded store; this cluster keeps PostgreSQL',
  );
}

/** The body of `response`, refused past `bytesMax`. */
async function readBounded(response: Response, bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (response.body === null) return Buffer.alloc(0);
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > bytesMax) {
      throw new TandemError(
        'TANDEM_ENTRY_TOO_LARGE',
        `an answer of another cluster exceeds ${bytesMax} bytes`,
      );
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
