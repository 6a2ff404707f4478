/**
 * How a linked cluster keeps its `LinkedState` in the replicated store (pure): as keys of
 * the system database (store/databases.ts), which no client can name and FLUSHALL keeps,
 * so the log, snapshots and store images carry them as any key, as blob records do.
 *
 * - `link:meta`: the `LinkMeta` with the cluster's id and the first stream position kept;
 * - `link:k:KEY`: one key's merge state (`KeyState`);
 * - `link:s:POSITION`: one record of the cluster's stream; the oldest are removed past
 *   `streamRecordsKept`, and a cluster that asks for them is told it is too far behind;
 * - `link:c:N`: the conflicts, in `conflictsKept` slots reused in turn.
 *
 * Every value is JSON in the forms of a link batch (codec.ts). A record that does not
 * decode is `TANDEM_CORRUPT`: the store holds only what this module wrote.
 */
import { TandemError } from '../core/errors.js';
import {
  clockOf,
  decodeRecord,
  encodeOp,
  expiryOf,
  object,
  position,
  stampOf,
  valueOf,
} from './codec.js';
import { formatStamp, type Stamp } from './hlc.js';
import type { Clock, Counted, IncrementHistory, KeyState, OriginIncrements } from './merge.js';
import {
  leftOutFor,
  streamBatch,
  type KeyConflict,
  type LinkBatch,
  type LinkMeta,
  type LinkStore,
  type StreamRecord,
} from './protocol.js';

/** Stream records kept; older ones are removed. */
export const streamRecordsKept = 1_000_000;
/** Conflicts kept (the latest); all are counted. */
export const conflictsKept = 10_000;

/** The name (in the system database) of the linked state's meta. */
export const linkMetaName = 'link:meta';
/** The names of keys' merge states begin with this. */
export const linkKeyPrefix = 'link:k:';
/** The names of stream records begin with this. */
export const linkStreamPrefix = 'link:s:';
/** The names of conflicts begin with this. */
export const linkConflictPrefix = 'link:c:';
/** The names of the keys' increment histories (merge.ts) begin with this. */
export const linkHistoryPrefix = 'link:i:';

/** A linked state's meta as stored: the cluster's id and the first position kept. */
export interface StoredLinkMeta extends LinkMeta {
  readonly cluster: string;
  /** The first stream position still kept (1 until records are removed). */
  readonly streamStart: number;
  /**
   * Whether every string key written before the link began is in the merge state (the
   * leader's `seed` pages are done); false from `create` until then.
   */
  readonly seeded: boolean;
}

/**
 * The few operations a `StoredLinkStore` needs of the store it lives in: text values by
 * name in the system database (the store writes them at the entry's version).
 */
export interface SystemRecords {
  get(name: string): string | undefined;
  set(name: string, text: string): void;
  delete(name: string): void;
}

/** Decoded key states a `StoredLinkStore` keeps beside their text (it lives for one command). */
const keyStatesCachedMax = 1_024;

/** A `LinkStore` over a store's system records; see the module comment. */
export class StoredLinkStore implements LinkStore {
  readonly #records: SystemRecords;
  readonly #streamKept: number;
  #meta: StoredLinkMeta;
  readonly #cache = new Map<string, { readonly text: string; readonly state: KeyState }>();

  /** `meta` is the stored meta (`decodeLinkMeta`), or `newLinkMeta` when linking begins. */
  constructor(
    records: SystemRecords,
    meta: StoredLinkMeta,
    options: { readonly streamRecordsKept?: number } = {},
  ) {
    this.#records = records;
    this.#meta = meta;
    this.#streamKept = options.streamRecordsKept ?? streamRecordsKept;
  }

  meta(): StoredLinkMeta {
    return this.#meta;
  }

  setMeta(meta: LinkMeta): void {
    let streamStart = this.#meta.streamStart;
    while (meta.streamLength - streamStart + 1 > this.#streamKept) {
      this.#records.delete(linkStreamPrefix + streamStart);
      streamStart += 1;
    }
    this.#meta = { ...meta, cluster: this.#meta.cluster, streamStart, seeded: this.#meta.seeded };
    this.#records.set(linkMetaName, encodeLinkMeta(this.#meta));
  }

  /** Marks every key written before the link as in the merge state. */
  setSeeded(): void {
    this.#meta = { ...this.#meta, seeded: true };
    this.#records.set(linkMetaName, encodeLinkMeta(this.#meta));
  }

  keyState(key: string): KeyState | undefined {
    const text = this.#records.get(linkKeyPrefix + key);
    if (text === undefined) return undefined;
    // A command reads the keys it touches a few times: the text it last read or wrote
    // decodes to the state it last saw (the text is the whole state, so equal text is).
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.text === text) return cached.state;
    const state = decodeKeyState(text, key);
    this.#remember(key, text, state);
    return state;
  }

  setKeyState(key: string, state: KeyState): void {
    const text = encodeKeyState(state);
    this.#records.set(linkKeyPrefix + key, text);
    this.#remember(key, text, state);
  }

  #remember(key: string, text: string, state: KeyState): void {
    if (this.#cache.size >= keyStatesCachedMax) this.#cache.clear();
    this.#cache.set(key, { text, state });
  }

  history(key: string): IncrementHistory {
    return {
      at: (origin, n) => {
        const text = this.#records.get(historyName(key, origin, n));
        if (text === undefined) {
          throw new TandemError(
            'TANDEM_CORRUPT',
            `the increment history of a key lacks increment ${n} of ${origin}`,
          );
        }
        return decodeHistoryEntry(text);
      },
      add: (origin, n, stamp, sum) => {
        this.#records.set(historyName(key, origin, n), encodeHistoryEntry(stamp, sum));
      },
    };
  }

  streamRecord(at: number): StreamRecord | null {
    const text = this.#records.get(linkStreamPrefix + at);
    return text === undefined ? null : decodeStreamRecord(text);
  }

  appendStream(record: StreamRecord): void {
    this.#records.set(linkStreamPrefix + record.position, encodeStreamRecord(record));
  }

  addConflict(conflict: KeyConflict, ordinal: number): void {
    this.#records.set(linkConflictPrefix + (ordinal % conflictsKept), encodeConflict(conflict));
  }
}

/** What `readStreamBatch` found. */
export type StreamRead =
  | { readonly kind: 'batch'; readonly batch: LinkBatch; readonly streamLength: number }
  /** This cluster is not linked. */
  | { readonly kind: 'unlinked' }
  /** The records after the position asked for are no longer kept (the first kept is `start`). */
  | { readonly kind: 'behind'; readonly start: number };

/**
 * The batch of this cluster's stream after `after` (at most `recordsMax` positions, the
 * records of `requester`'s own operations left out), read from the stored records through
 * `get` (a store's system records, as applied): what any member answers a linked cluster
 * that pulls.
 */
export function readStreamBatch(
  get: (name: string) => string | undefined,
  after: number,
  recordsMax: number,
  requester: string | null = null,
): StreamRead {
  const text = get(linkMetaName);
  if (text === undefined) return { kind: 'unlinked' };
  const meta = decodeLinkMeta(text);
  if (after + 1 < meta.streamStart && after < meta.streamLength) {
    return { kind: 'behind', start: meta.streamStart };
  }
  const batch = streamBatch(
    meta.cluster,
    meta.streamLength,
    after,
    recordsMax,
    (at) => {
      const record = get(linkStreamPrefix + at);
      return record === undefined ? null : decodeStreamRecord(record);
    },
    (record) => leftOutFor(record, requester),
  );
  return batch === null
    ? { kind: 'behind', start: meta.streamStart }
    : { kind: 'batch', batch, streamLength: meta.streamLength };
}

/** A new linked state's meta for `cluster`. */
export function newLinkMeta(cluster: string): StoredLinkMeta {
  return {
    cluster,
    positions: {},
    origins: {},
    streamLength: 0,
    conflictsTotal: 0,
    streamStart: 1,
    seeded: false,
  };
}

/** The stored meta's text. */
export function encodeLinkMeta(meta: StoredLinkMeta): string {
  return JSON.stringify({
    cluster: meta.cluster,
    positions: meta.positions,
    origins: clockText(meta.origins),
    streamLength: meta.streamLength,
    streamStart: meta.streamStart,
    conflictsTotal: meta.conflictsTotal,
    seeded: meta.seeded,
  });
}

/** The meta `encodeLinkMeta` wrote. */
export function decodeLinkMeta(text: string): StoredLinkMeta {
  return stored(linkMetaName, () => {
    const meta = object(JSON.parse(text), 'meta');
    const cluster = meta['cluster'];
    if (typeof cluster !== 'string' || cluster.length === 0) throw new Error('cluster');
    const positions: Record<string, number> = {};
    for (const [from, at] of Object.entries(object(meta['positions'], 'positions'))) {
      positions[from] = position(at, `positions.${from}`);
    }
    return {
      cluster,
      positions,
      origins: clockOf(meta['origins'], 'origins'),
      streamLength: position(meta['streamLength'], 'streamLength'),
      streamStart: position(meta['streamStart'], 'streamStart'),
      conflictsTotal: position(meta['conflictsTotal'], 'conflictsTotal'),
      // A meta written before seeding existed had no keys to seed.
      seeded: meta['seeded'] !== false,
    };
  });
}

/** A key's merge state as text. */
export function encodeKeyState(state: KeyState): string {
  return JSON.stringify({
    winner: state.winner === null ? null : formatStamp(state.winner),
    value: base64(state.value),
    base: clockText(state.base),
    seen: clockText(state.seen),
    increments: Object.fromEntries(
      Object.entries(state.increments).map(([origin, counted]) => [
        origin,
        [counted.count, counted.sum.toString(), formatStamp(counted.last)],
      ]),
    ),
    inside: Object.fromEntries(
      Object.entries(state.inside).map(([origin, counted]) => [
        origin,
        [counted.count, counted.sum.toString()],
      ]),
    ),
    expiry:
      state.expiry === null
        ? null
        : { stamp: formatStamp(state.expiry.stamp), atMs: state.expiry.atMs },
  });
}

/** The merge state `encodeKeyState` wrote (of `key`, named in errors). */
export function decodeKeyState(text: string, key: string): KeyState {
  return stored(linkKeyPrefix + key, () => {
    const state = object(JSON.parse(text), 'state');
    const winner = state['winner'] === null ? null : stampOf(state['winner'], 'winner');
    const increments: Record<string, OriginIncrements> = {};
    for (const [origin, entry] of Object.entries(object(state['increments'], 'increments'))) {
      if (!Array.isArray(entry) || entry.length !== 3) throw new Error('increments by origin');
      increments[origin] = {
        count: position(entry[0], `increments.${origin}`),
        sum: BigInt(deltaText(entry[1])),
        last: stampOf(entry[2], `increments.${origin}`),
      };
    }
    const inside: Record<string, Counted> = {};
    for (const [origin, entry] of Object.entries(object(state['inside'], 'inside'))) {
      if (!Array.isArray(entry) || entry.length !== 2) throw new Error('inside by origin');
      inside[origin] = {
        count: position(entry[0], `inside.${origin}`),
        sum: BigInt(deltaText(entry[1])),
      };
    }
    const expiry = state['expiry'];
    return {
      winner,
      value: valueOf(state['value'], 'value'),
      base: clockOf(state['base'], 'base'),
      seen: clockOf(state['seen'], 'seen'),
      increments,
      inside,
      expiry:
        expiry === null
          ? null
          : {
              stamp: stampOf(object(expiry, 'expiry')['stamp'], 'expiry.stamp'),
              atMs: expiryOf((expiry as Record<string, unknown>)['atMs'], 'expiry.atMs'),
            },
    };
  });
}

/**
 * The name of the `n`-th increment of `origin` on `key` in the history (origin ids hold
 * no ':', so names never collide).
 */
function historyName(key: string, origin: string, n: number): string {
  return `${linkHistoryPrefix}${origin}:${n}:${key}`;
}

/** A history entry as text: the increment's stamp and the running sum through it. */
export function encodeHistoryEntry(stamp: Stamp, sum: bigint): string {
  return `${formatStamp(stamp)} ${sum.toString()}`;
}

/** The entry `encodeHistoryEntry` wrote. */
export function decodeHistoryEntry(text: string): { stamp: Stamp; sum: bigint } {
  return stored(linkHistoryPrefix, () => {
    const space = text.lastIndexOf(' ');
    return {
      stamp: stampOf(text.slice(0, space), 'stamp'),
      sum: BigInt(deltaText(text.slice(space + 1))),
    };
  });
}

/** A stream record as text (the form a batch carries it in). */
export function encodeStreamRecord(record: StreamRecord): string {
  return JSON.stringify({ position: record.position, key: record.key, op: encodeOp(record.op) });
}

/** The record `encodeStreamRecord` wrote. */
export function decodeStreamRecord(text: string): StreamRecord {
  return stored(linkStreamPrefix, () => decodeRecord(JSON.parse(text), 'record'));
}

/** A conflict as text. */
export function encodeConflict(conflict: KeyConflict): string {
  return JSON.stringify({
    key: Buffer.from(conflict.key, 'latin1').toString('base64'),
    kind: conflict.kind,
    lost: formatStamp(conflict.lost),
    value: base64(conflict.value),
    winner: formatStamp(conflict.winner),
  });
}

/** The conflict `encodeConflict` wrote. */
export function decodeConflict(text: string): KeyConflict {
  return stored(linkConflictPrefix, () => {
    const conflict = object(JSON.parse(text), 'conflict');
    const kind = conflict['kind'];
    if (kind !== 'write' && kind !== 'increment') throw new Error('kind');
    const key = valueOf(conflict['key'], 'key');
    if (key === null) throw new Error('key');
    return {
      key: Buffer.from(key).toString('latin1'),
      kind,
      lost: stampOf(conflict['lost'], 'lost'),
      value: valueOf(conflict['value'], 'value'),
      winner: stampOf(conflict['winner'], 'winner'),
    };
  });
}

function clockText(clock: Clock): Record<string, string> {
  return Object.fromEntries(
    Object.entries(clock).map(([cluster, stamp]) => [cluster, formatStamp(stamp)]),
  );
}

function base64(value: Uint8Array | null): string | null {
  return value === null ? null : Buffer.from(value).toString('base64');
}

function deltaText(value: unknown): string {
  if (typeof value !== 'string' || !/^(?:0|-?[1-9][0-9]*)$/.test(value)) {
    throw new Error('folded must be an integer as decimal text');
  }
  return value;
}

/** Runs `decode`; whatever it throws is the stored record's corruption. */
function stored<T>(name: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `the stored link record ${name} does not decode: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The names of the linked clusters' records (where this cluster pulls from) begin with this. */
export const linkPeerPrefix = 'link:p:';
/** The most clusters one cluster is linked to. */
export const linkPeersMax = 16;
/** The most URLs kept for one linked cluster. */
export const peerUrlsMax = 16;

/** A cluster this one pulls from: its id, the HTTP URLs of its nodes, and how to sign in. */
export interface LinkPeer {
  readonly cluster: string;
  readonly urls: readonly string[];
  /** The `Authorization` header value sent with each pull, or null for an open cluster. */
  readonly authorization: string | null;
}

/** A linked cluster's record as text. */
export function encodeLinkPeer(peer: LinkPeer): string {
  return JSON.stringify({
    cluster: peer.cluster,
    urls: peer.urls,
    authorization: peer.authorization,
  });
}

/** The record `encodeLinkPeer` wrote. */
export function decodeLinkPeer(text: string): LinkPeer {
  return stored(linkPeerPrefix, () => {
    const peer = object(JSON.parse(text), 'peer');
    const cluster = peer['cluster'];
    const urls = peer['urls'];
    const authorization = peer['authorization'];
    if (typeof cluster !== 'string' || cluster.length === 0) throw new Error('cluster');
    if (!Array.isArray(urls) || !urls.every((url) => typeof url === 'string')) {
      throw new Error('urls');
    }
    if (authorization !== null && typeof authorization !== 'string') {
      throw new Error('authorization');
    }
    return { cluster, urls: urls as string[], authorization };
  });
}

/** What `readConflicts` found: how many were ever recorded, and the latest, newest first. */
export interface ConflictPage {
  readonly total: number;
  readonly conflicts: readonly KeyConflict[];
}

/**
 * The latest conflicts recorded here, newest first: at most `limit`, none whose lost
 * write is older than `sinceMs` (by its stamp), read through `get` as `readStreamBatch`.
 */
export function readConflicts(
  get: (name: string) => string | undefined,
  limit: number,
  sinceMs: number,
): ConflictPage {
  const text = get(linkMetaName);
  if (text === undefined) return { total: 0, conflicts: [] };
  const total = decodeLinkMeta(text).conflictsTotal;
  const conflicts: KeyConflict[] = [];
  const oldest = Math.max(1, total - conflictsKept + 1);
  for (let ordinal = total; ordinal >= oldest && conflicts.length < limit; ordinal -= 1) {
    const record = get(linkConflictPrefix + (ordinal % conflictsKept));
    if (record === undefined) continue;
    const conflict = decodeConflict(record);
    if (conflict.lost.ms >= sinceMs) conflicts.push(conflict);
  }
  return { total, conflicts };
}
