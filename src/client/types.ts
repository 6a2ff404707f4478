/** The client's public types: options, results, and the cluster as a node reports it. */

/**
 * What the client uses of an `AbortSignal` (an `AbortController`'s `signal` is one): the
 * shape alone, so that these types need neither the DOM's nor Node's declarations.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
  throwIfAborted(): void;
}

/** Read consistency levels (DESIGN section 2). */
export type Consistency = 'stale' | 'bounded' | 'ryw' | 'linearizable';
/** Durability modes, weakest first; a write may ask for more than the cluster's mode. */
export type Durability = 'async' | 'semi-sync' | 'quorum' | 'sync';
/** Where reads go: followers (the leader as a fallback), the leader only, or any node. */
export type ReadFrom = 'followers' | 'leader' | 'any';
/** How reads are spread over the candidates: in turn, or to the least lagging first. */
export type ReadBalance = 'round-robin' | 'least-lag';

/** The logging the client does: a pino logger fits, and so does `console`. */
export interface ClientLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
}

/**
 * Credentials sent on every request: a user and its password (HTTP Basic) or a token from
 * `POST /v1/auth/tokens` (Bearer). Use TLS (https:// nodes) wherever the network is not
 * trusted: Basic credentials travel as they are.
 */
export type ClientAuth =
  { readonly user: string; readonly password: string } | { readonly token: string };

/**
 * TLS for `https://` nodes: PEM text or bytes, as `node:tls` takes them. Without `ca` the
 * system's root CAs are trusted.
 */
export interface ClientTlsOptions {
  /** The CA (or CAs) that signed the nodes' certificates; replaces the system's roots. */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** This client's certificate, for nodes that require one (`--client-tls-ca`). */
  readonly cert?: string | Uint8Array;
  /** The key of `cert`. */
  readonly key?: string | Uint8Array;
  /** Default true: a node whose certificate is not trusted, or names another host, is refused. */
  readonly rejectUnauthorized?: boolean;
}

/** Options of `createClient`. */
export interface ClientOptions {
  /** HTTP base URLs of some of the cluster's nodes; the rest are discovered. */
  readonly nodes: readonly string[];
  /** Credentials for a cluster with users; none for an open cluster (default none). */
  readonly auth?: ClientAuth;
  /** Default `followers`. */
  readonly readFrom?: ReadFrom;
  /** Default `round-robin`. */
  readonly readBalance?: ReadBalance;
  /** Default `ryw`: reads see this client's own writes. */
  readonly consistency?: Consistency;
  /** For `bounded` reads: the most entries a node may trail the leader by (default 100). */
  readonly maxLagEntries?: number;
  /** Durability asked of every write (default: the cluster's mode). */
  readonly durability?: Durability;
  /** Per attempt: a node that has not answered within this is given up on (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Further attempts after the first, across leader changes and dropped connections (default 6). */
  readonly retries?: number;
  /** Period of the health check behind `replicaDown`/`replicaUp`; 0 turns it off (default 20 000). */
  readonly healthCheckIntervalMs?: number;
  /** Writes in flight at once; each has a session of its own (default 32). */
  readonly concurrentWritesMax?: number;
  /** Calls pending at once, in flight or waiting; past it calls fail with QueueFull (default 1024). */
  readonly pendingCallsMax?: number;
  readonly logger?: ClientLogger;
  /** TLS settings for the nodes' `https://` URLs (plain `http://` ones ignore it). */
  readonly tls?: ClientTlsOptions;
}

/** Options every call takes. */
export interface CallOptions {
  /** Abandons the call: it rejects with the signal's reason. */
  readonly signal?: AbortSignalLike;
}

/** Options of a read. */
export interface ReadCallOptions extends CallOptions {
  readonly consistency?: Consistency;
  readonly maxLagEntries?: number;
  readonly readFrom?: ReadFrom;
}

/** Options of a write. */
export interface WriteCallOptions extends CallOptions {
  readonly durability?: Durability;
}

/** A key's version: the log position of its last write (its ETag is `"index.term"`). */
export interface Version {
  readonly index: number;
  readonly term: number;
}

/**
 * A key or a value: text (its UTF-8 bytes) or any bytes. Keys and values are bytes, as in
 * Redis; text is the common case.
 */
export type KvBytesInput = string | Uint8Array;

/** A live key whose value is UTF-8 text (see `kv.get`). */
export interface KvValue {
  readonly value: string;
  readonly version: Version;
  /** Absolute ms, or null. */
  readonly expiresAt: number | null;
}

/** A live key with its value's exact bytes (see `kv.getBytes`). */
export interface KvBytes {
  readonly value: Uint8Array;
  readonly version: Version;
  /** Absolute ms, or null. */
  readonly expiresAt: number | null;
}

/** What a key write returns: the key's new version and the write's log index. */
export interface KvWriteResult {
  readonly version: Version;
  readonly index: number;
}

/**
 * A value SQL binds. A bigint is an exact 64-bit integer (-2^63 to 2^63-1); a number binds
 * as it is (an integer past 2^53 as a number has already lost its last digits).
 */
export type SqlValue = string | number | bigint | boolean | null;
/** Positional or named parameters. */
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;
/** One statement. */
export interface SqlStatement {
  readonly sql: string;
  readonly params?: SqlParams;
}
/**
 * The result of one statement: rows changed and the rowid inserted, or rows returned. In
 * both, an integer outside the safe range (`Number.isSafeInteger`) is a bigint, exact; every
 * other number is a number.
 */
export type SqlStatementResult =
  | { readonly changes: number; readonly lastInsertRowid: number | bigint }
  | { readonly rows: readonly Record<string, unknown>[] };
/** What a SQL write returns. */
export interface SqlExecuteResult {
  readonly index: number;
  readonly results: readonly SqlStatementResult[];
}

/** One member as a node reports it (the leader's view has the lag). */
export interface MemberStatus {
  readonly id: string;
  readonly voter: boolean;
  readonly matchIndex: number | null;
  readonly appliedIndex: number | null;
  readonly lagEntries: number | null;
  readonly lastContactMs: number | null;
  readonly healthy: boolean | null;
  readonly httpUrl: string | null;
}

/** `GET /v1/cluster`: a node's report of itself and the cluster. */
export interface ClusterStatus {
  readonly id: string;
  readonly role: 'leader' | 'follower' | 'candidate' | 'learner' | string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly leaderHttpUrl: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly durability: Durability;
  readonly membership: { readonly voters: readonly string[]; readonly learners: readonly string[] };
  readonly members: readonly MemberStatus[];
  readonly healthy: boolean;
  /** The node's state machine (`sqlite` or `postgres`) and whether it answers now. */
  readonly store: { readonly kind: string; readonly healthy: boolean };
  readonly httpUrl: string;
}

/** What `health()` found: each known node probed now. */
export interface HealthReport {
  readonly leaderId: string | null;
  readonly nodes: readonly { readonly id: string; readonly url: string; readonly up: boolean }[];
}

/** The client's events and their arguments. */
export interface ClientEvents {
  /**
   * A different leader answered as the leader: once per change of leader (not for the
   * moments in between, when none is known); `previous` is the one announced before (null
   * the first time).
   */
  leaderChanged: [leaderId: string, previous: string | null];
  /** A node stopped answering the health check. */
  replicaDown: [id: string, url: string];
  /** A node answers the health check again. */
  replicaUp: [id: string, url: string];
}

/** Bytes of a command's reply that are not UTF-8 text, as base64. */
export interface CommandBytes {
  readonly base64: string;
}

/**
 * A Redis command's reply as the HTTP API gives it (`POST /v1/command`): an integer as a
 * number (a bigint past 2^53), a bulk string as text (`CommandBytes` when it is not
 * UTF-8), nil as null, an array or set as an array, a map as an object (an array of
 * [key, value] pairs when a key is not text), a double as a number (`"inf"`, `"-inf"`
 * as text), and an error inside an array as `{ error }`.
 */
export type CommandReply =
  | null
  | number
  | bigint
  | string
  | CommandBytes
  | { readonly error: string }
  | readonly CommandReply[]
  | { readonly [field: string]: CommandReply };

/** A command argument: text (its UTF-8 bytes), a number (its decimal text), or bytes. */
export type CommandArgument = string | number | bigint | Uint8Array;

/** A blob (a large object) as an upload's answer and a listing describe it. */
export interface BlobInfo {
  /** Its name: any text, one path segment on the wire (a `/` travels as `%2F`). */
  readonly name: string;
  /** The log index that began this version's upload; its ETag is `"<version>"`. */
  readonly version: number;
  /** Its size in bytes. */
  readonly bytes: number;
  readonly contentType: string;
  /** SHA-256 of the whole blob, 64 lowercase hex digits. */
  readonly sha256: string;
  /** How many chunks it was cut into. */
  readonly chunks: number;
  /** When this version was committed, in ms since the epoch. */
  readonly createdAtMs: number;
}

/** One chunk of a blob, as `blobs.meta` reports it. */
export interface BlobChunkInfo {
  /** Its place: chunk `index` holds bytes `[index * chunkBytes, index * chunkBytes + bytes)`. */
  readonly index: number;
  /** SHA-256 of its bytes, 64 lowercase hex digits. */
  readonly hash: string;
  readonly bytes: number;
  /** The members that hold it, in placement order. */
  readonly holders: readonly string[];
  /** The blob version it belongs to. */
  readonly version: number;
}

/** A blob's whole metadata: what `BlobInfo` says, with its chunks one by one. */
export interface BlobMetaInfo extends Omit<BlobInfo, 'chunks'> {
  /** The size of every chunk but the last. */
  readonly chunkBytes: number;
  readonly chunks: readonly BlobChunkInfo[];
}

/** What a download's headers say of the blob and of the bytes that follow. */
export interface BlobHeaders {
  readonly version: number;
  /** The whole blob's size, whatever range was asked. */
  readonly bytes: number;
  readonly contentType: string;
  /** SHA-256 of the whole blob (not of a range), 64 lowercase hex digits. */
  readonly sha256: string;
  /** The bytes the body carries, `[start, end)` of the blob (all of it without a range). */
  readonly start: number;
  readonly end: number;
}

/** A download: the headers, then the body, read as it arrives. */
export interface BlobDownload {
  readonly info: BlobHeaders;
  /**
   * The bytes, chunk by chunk. Iterate it to its end or stop early (break), which frees
   * the connection; a connection lost midway throws Unavailable from it.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

/** Options of `blobs.put`. */
export interface BlobPutOptions extends CallOptions {
  /** Default `application/octet-stream`. */
  readonly contentType?: string;
  /** Write only if the blob is at this version; Conflict (412) otherwise. */
  readonly ifMatch?: number;
  /** `*`: write only if no blob has this name; Conflict (412) otherwise. */
  readonly ifNoneMatch?: '*';
  /** Durability of the chunks and the metadata (default: the client's, else the cluster's). */
  readonly ack?: Durability;
  /** Called with the count of bytes sent so far, after each chunk of the body. */
  readonly onProgress?: (sentBytes: number) => void;
}

/** Options of `blobs.get`. */
export interface BlobGetOptions extends CallOptions {
  /** Only bytes `start` to `end` (inclusive, to the blob's end without it). */
  readonly range?: { readonly start: number; readonly end?: number };
  /** `local`: served only from the answering node's own copies (503 when it lacks one). */
  readonly source?: 'local';
  /** The metadata's read level (default linearizable: the latest committed version). */
  readonly consistency?: Consistency;
}

/** Options of `blobs.meta` and `blobs.list`. */
export interface BlobReadOptions extends CallOptions {
  /** Default linearizable. */
  readonly consistency?: Consistency;
}

/** Options of `blobs.delete`. */
export interface BlobDeleteOptions extends CallOptions {
  /** Delete only if the blob is at this version; Conflict (412) otherwise. */
  readonly ifMatch?: number;
}
