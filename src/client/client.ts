/**
 * The Tandem client: finds the cluster from any node it is given, sends writes to the
 * leader and reads to followers, and follows leader changes on its own.
 *
 * Exactly once: every write carries a session id and a sequence number (headers
 * `X-Tandem-Session`, `X-Tandem-Seq`), and a retry after a dropped connection, a timeout
 * or a leader change resends the same pair, which the state machine deduplicates through
 * the log (store/sessions.ts). A session allows one write in flight, so the client keeps a
 * pool of sessions ("lanes"), one per concurrent write, `concurrentWritesMax` of them.
 *
 * Read-your-writes: the client remembers the log index of its last write and sends it as
 * `after` with each `ryw` read, so the follower that answers waits until it has applied it.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { TypedEvents } from './events.js';
import { blobApi, type BlobApi, type BlobTransport } from './blobs.js';
import { exchange, HttpAgents, streamExchange, type HttpAnswer } from './http.js';
import { parseAnswerJson, requestJson } from './json.js';
import {
  BadRequest,
  errorFromAnswer,
  NoLeader,
  QueueFull,
  TandemClientError,
  Unavailable,
  type ErrorBody,
} from './errors.js';
import type {
  AbortSignalLike,
  CallOptions,
  ClientAuth,
  CommandArgument,
  CommandBytes,
  CommandReply,
  ClientEvents,
  ClientLogger,
  ClientOptions,
  ClusterStatus,
  Consistency,
  HealthReport,
  KvBytes,
  KvBytesInput,
  KvValue,
  KvWriteResult,
  ReadCallOptions,
  SqlExecuteResult,
  SqlParams,
  SqlStatement,
  Version,
  WriteCallOptions,
} from './types.js';

/** A node's answer. */
interface Answer {
  readonly status: number;
  /** A response header by lower-case name, or null. */
  header(name: string): string | null;
  readonly body: unknown;
}

/** The request never got an answer: refused, dropped, or timed out. */
class TransportFailure extends Error {}

/** One session of the client: a write in flight at most. */
interface Lane {
  readonly id: string;
  seq: number;
}

/** The first wait after a 503 or a lost leader; doubled per attempt up to `backoffMsMax`. */
const backoffMsFirst = 100;
const backoffMsMax = 2_000;
/** How long a node that failed is skipped by reads, unless nothing else answers. */
const downForMs = 2_000;
/** Discovery asks every known node at once, each for at most this long. */
const discoveryTimeoutMs = 2_000;

const defaults = {
  readFrom: 'followers',
  readBalance: 'round-robin',
  consistency: 'ryw',
  maxLagEntries: 100,
  timeoutMs: 10_000,
  retries: 6,
  healthCheckIntervalMs: 20_000,
  concurrentWritesMax: 32,
  pendingCallsMax: 1024,
} as const;

const silentLogger: ClientLogger = { info: () => {}, warn: () => {} };

function sleep(ms: number, signal: AbortSignalLike | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function trimUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * A seed node's URL, trimmed; a TypeError at once for one that is not an absolute
 * http:// or https:// URL (`127.0.0.1:9001` without its scheme would fail every call).
 */
function seedUrl(url: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new TypeError(
      `createClient: ${JSON.stringify(url)} is not a node URL; give http://HOST:PORT or https://HOST:PORT`,
    );
  }
  return trimUrl(url);
}

/**
 * The key-value calls. Keys and values are bytes: give text (its UTF-8 bytes) or a
 * `Uint8Array`; read text with `get` and any bytes with `getBytes`.
 */
export interface KvApi {
  /**
   * The live value of `key` as text, with its version, or null when it is absent. Throws
   * BadRequest (`TANDEM_CLIENT_NOT_TEXT`) for a value that is not UTF-8: read it with
   * `getBytes`, never as a text with replacement characters.
   */
  get(key: KvBytesInput, options?: ReadCallOptions): Promise<KvValue | null>;
  /** The live value of `key` as its exact bytes, with its version, or null when absent. */
  getBytes(key: KvBytesInput, options?: ReadCallOptions): Promise<KvBytes | null>;
  /** Sets `key` (with an expiry when `ttlMs` is given). */
  set(
    key: KvBytesInput,
    value: KvBytesInput,
    options?: WriteCallOptions & { readonly ttlMs?: number },
  ): Promise<KvWriteResult>;
  /** Deletes `key`; resolves to the number of keys removed (0 or 1). */
  delete(key: KvBytesInput, options?: WriteCallOptions): Promise<number>;
  /** Sets `key` only if it is at `version`; throws Conflict (412) otherwise, writing nothing. */
  compareAndSet(
    key: KvBytesInput,
    value: KvBytesInput,
    version: Version,
    options?: WriteCallOptions,
  ): Promise<KvWriteResult>;
}

/** A key as a URL path segment: text as `encodeURIComponent` spells it, bytes as `%XX` each. */
function keyPath(key: KvBytesInput): string {
  if (typeof key === 'string') return `/v1/kv/${encodeURIComponent(key)}`;
  let encoded = '';
  for (const byte of key) encoded += `%${byte.toString(16).padStart(2, '0').toUpperCase()}`;
  return `/v1/kv/${encoded}`;
}

/** A value in a PUT body: text as `value`, bytes as `valueBase64`. */
function valueBody(value: KvBytesInput): { value: string } | { valueBase64: string } {
  if (typeof value === 'string') return { value };
  return {
    valueBase64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
  };
}

/** A GET answer: the value as text when it is UTF-8, else as base64 (exactly one). */
interface KvAnswer {
  readonly value?: string;
  readonly valueBase64?: string;
  readonly version: Version;
  readonly expiresAt: number | null;
}

function bytesOfAnswer(answer: KvAnswer): KvBytes {
  const value =
    answer.value === undefined
      ? new Uint8Array(Buffer.from(answer.valueBase64 ?? '', 'base64'))
      : new Uint8Array(Buffer.from(answer.value, 'utf8'));
  return { value, version: answer.version, expiresAt: answer.expiresAt };
}

function textOfAnswer(key: KvBytesInput, answer: KvAnswer): KvValue {
  if (answer.value === undefined) {
    const name = typeof key === 'string' ? JSON.stringify(key) : 'the key';
    throw new BadRequest(
      'TANDEM_CLIENT_NOT_TEXT',
      200,
      `the value of ${name} is not UTF-8 text; read it with kv.getBytes`,
    );
  }
  return { value: answer.value, version: answer.version, expiresAt: answer.expiresAt };
}

/** The SQL calls. */
export interface SqlApi {
  /** Applies one statement, or several atomically, through the log. */
  execute(
    statements: string | readonly SqlStatement[],
    params?: SqlParams,
    options?: WriteCallOptions,
  ): Promise<SqlExecuteResult>;
  /** Runs a read-only query on a node chosen by `readFrom`, at the requested level. */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: SqlParams,
    options?: ReadCallOptions,
  ): Promise<Row[]>;
}

/**
 * Typed calls for Redis hashes (`POST /v1/command` underneath): fields and values are
 * bytes, given as text or `Uint8Array`, read back as text.
 */
export interface HashApi {
  /** HSET: sets each field of `fields`; resolves to how many were new. */
  set(
    key: KvBytesInput,
    fields: Readonly<Record<string, KvBytesInput>> | ReadonlyMap<KvBytesInput, KvBytesInput>,
    options?: WriteCallOptions,
  ): Promise<number>;
  /** HGET: the field's value as text, or null when the field or the hash is absent. */
  get(key: KvBytesInput, field: KvBytesInput, options?: ReadCallOptions): Promise<string | null>;
  /** HGET: the field's value as its exact bytes, or null. */
  getBytes(
    key: KvBytesInput,
    field: KvBytesInput,
    options?: ReadCallOptions,
  ): Promise<Uint8Array | null>;
  /** HGETALL: every field and value as text (an empty object for an absent hash). */
  getAll(key: KvBytesInput, options?: ReadCallOptions): Promise<Record<string, string>>;
  /** HDEL: removes the fields; resolves to how many there were. */
  delete(
    key: KvBytesInput,
    fields: readonly KvBytesInput[],
    options?: WriteCallOptions,
  ): Promise<number>;
  /** HINCRBY: adds `by` (default 1) to the field's integer; resolves to the new value. */
  incrBy(
    key: KvBytesInput,
    field: KvBytesInput,
    by?: number | bigint,
    options?: WriteCallOptions,
  ): Promise<number | bigint>;
  /** HLEN: how many fields the hash has (0 when absent). */
  length(key: KvBytesInput, options?: ReadCallOptions): Promise<number>;
}

/**
 * Typed calls for counters: a key holding a signed 64-bit integer, as Redis's INCRBY and
 * DECRBY keep it (exact past 2^53, as a bigint there).
 */
export interface CounterApi {
  /** INCRBY: adds `by` (default 1); resolves to the new value. */
  incrBy(
    key: KvBytesInput,
    by?: number | bigint,
    options?: WriteCallOptions,
  ): Promise<number | bigint>;
  /** DECRBY: subtracts `by` (default 1); resolves to the new value. */
  decrBy(
    key: KvBytesInput,
    by?: number | bigint,
    options?: WriteCallOptions,
  ): Promise<number | bigint>;
  /** The counter's value, or null when the key is absent. */
  get(key: KvBytesInput, options?: ReadCallOptions): Promise<number | bigint | null>;
}

/** An argument as the command route takes it: text, or `{ base64 }` for other bytes. */
function argumentJson(argument: CommandArgument): string | CommandBytes {
  if (typeof argument === 'string') return argument;
  if (typeof argument === 'number' || typeof argument === 'bigint') return String(argument);
  const bytes = Buffer.from(argument.buffer, argument.byteOffset, argument.byteLength);
  return isUtf8(bytes) ? bytes.toString('utf8') : { base64: bytes.toString('base64') };
}

function isBytesReply(reply: CommandReply): reply is CommandBytes {
  return typeof reply === 'object' && reply !== null && !Array.isArray(reply) && 'base64' in reply;
}

/** A bulk string reply as text, null as null; BadRequest NOT_TEXT for other bytes. */
function textOfReply(reply: CommandReply, what: string): string | null {
  if (reply === null || typeof reply === 'string') return reply;
  if (isBytesReply(reply)) {
    throw new BadRequest(
      'TANDEM_CLIENT_NOT_TEXT',
      200,
      `${what} is not UTF-8 text; read it with command() or getBytes`,
    );
  }
  return String(reply as number | bigint);
}

function bytesOfReply(reply: CommandReply): Uint8Array | null {
  if (reply === null) return null;
  if (isBytesReply(reply)) return new Uint8Array(Buffer.from(reply.base64, 'base64'));
  return new Uint8Array(Buffer.from(String(reply as string), 'utf8'));
}

/** An integer reply (a number, or a bigint past 2^53). */
function integerOfReply(reply: CommandReply): number | bigint {
  if (typeof reply === 'number' || typeof reply === 'bigint') return reply;
  throw new BadRequest('TANDEM_CLIENT_BAD_REPLY', 200, `expected an integer, got ${String(reply)}`);
}

/** A counter's text as its integer: a number when safe, else a bigint. */
function counterOf(text: string): number | bigint {
  const value = BigInt(text);
  return Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

/**
 * A connection to a Tandem cluster. Emits `leaderChanged`, `replicaDown` and `replicaUp`
 * (see `ClientEvents`). Call `close()` when done: it stops the health check.
 */
export class TandemClient extends TypedEvents<ClientEvents> {
  /** The key-value calls. */
  readonly kv: KvApi;
  /** The SQL calls. */
  readonly sql: SqlApi;
  /** Redis hashes. */
  readonly hash: HashApi;
  /** Counters (INCRBY, DECRBY). */
  readonly counter: CounterApi;
  /** Large objects, streamed to and from any node. */
  readonly blobs: BlobApi;
  /** This client's id; its sessions are `<id>.<lane>`. */
  readonly id = randomUUID();
  readonly #options: Required<
    Omit<ClientOptions, 'auth' | 'durability' | 'logger' | 'nodes' | 'tls'>
  > &
    Pick<ClientOptions, 'durability'>;
  /** The `Authorization` header of every request, or none. */
  readonly #authorization: Record<string, string>;
  readonly #logger: ClientLogger;
  readonly #seeds: string[];
  /** Node id to HTTP URL, from the latest cluster view. */
  readonly #urls = new Map<string, string>();
  /** Keep-alive connections to the nodes, closed once the client is closed and idle. */
  readonly #agents: HttpAgents;
  #view: ClusterStatus | null = null;
  #leaderId: string | null = null;
  /** The leader `leaderChanged` last announced, and its term (0 when not known). */
  #announcedLeader: string | null = null;
  #announcedTerm = 0;
  #discovering: Promise<void> | null = null;
  /** URL to the time (ms) until which reads skip it. */
  readonly #downUntil = new Map<string, number>();
  /** Node ids the health check found down. */
  readonly #reportedDown = new Set<string>();
  #roundRobin = 0;
  /** The highest log index a write of this client returned: `after` for `ryw` reads. */
  #lastWriteIndex = 0;
  /** The term of that write (0 when the node did not say): `afterTerm` for `ryw` reads. */
  #lastWriteTerm = 0;
  readonly #lanes: Lane[] = [];
  readonly #laneWaiters: ((lane: Lane) => void)[] = [];
  #pending = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: ClientOptions) {
    super();
    if (options.nodes.length === 0) throw new TypeError('createClient needs at least one node URL');
    this.#seeds = options.nodes.map(seedUrl);
    this.#agents = new HttpAgents(options.tls);
    this.#options = {
      readFrom: options.readFrom ?? defaults.readFrom,
      readBalance: options.readBalance ?? defaults.readBalance,
      consistency: options.consistency ?? defaults.consistency,
      maxLagEntries: options.maxLagEntries ?? defaults.maxLagEntries,
      timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
      retries: options.retries ?? defaults.retries,
      healthCheckIntervalMs: options.healthCheckIntervalMs ?? defaults.healthCheckIntervalMs,
      concurrentWritesMax: options.concurrentWritesMax ?? defaults.concurrentWritesMax,
      pendingCallsMax: options.pendingCallsMax ?? defaults.pendingCallsMax,
      durability: options.durability,
    };
    this.#logger = options.logger ?? silentLogger;
    this.#authorization = authorizationHeader(options.auth);
    for (let i = 0; i < this.#options.concurrentWritesMax; i++) {
      this.#lanes.push({ id: `${this.id}.${i}`, seq: 0 });
    }
    this.kv = this.#kvApi();
    this.sql = this.#sqlApi();
    this.hash = this.#hashApi();
    this.counter = this.#counterApi();
    this.blobs = blobApi(this.#blobTransport());
    if (this.#options.healthCheckIntervalMs > 0) {
      this.#timer = setInterval(
        () => void this.#healthCheck(),
        this.#options.healthCheckIntervalMs,
      );
      this.#timer.unref();
    }
  }

  /** The leader's id as last seen, or null. */
  get leaderId(): string | null {
    return this.#leaderId;
  }

  /** The log index of this client's latest write (what `ryw` reads wait for). */
  get lastWriteIndex(): number {
    return this.#lastWriteIndex;
  }

  // ------------------------------------------------------------------ public calls

  /** Applies statements atomically, as one SQL command: all of them or none. */
  transaction(
    statements: readonly SqlStatement[],
    options: WriteCallOptions = {},
  ): Promise<SqlExecuteResult> {
    return this.sql.execute(statements, undefined, options);
  }

  /**
   * Runs one Redis command on the leader (`POST /v1/command`), exactly once across retries
   * as every write: any command the RESP port serves but those of a connection (AUTH,
   * MULTI, SUBSCRIBE, blocking pops). A command's error reply rejects with BadRequest
   * (Forbidden for NOPERM), its message Redis's text.
   */
  async command(
    args: readonly CommandArgument[],
    options: WriteCallOptions = {},
  ): Promise<CommandReply> {
    const body = { args: args.map(argumentJson) };
    const answer = await this.#write('POST', '/v1/command', body, {}, options);
    return (answer as { reply: CommandReply }).reply;
  }

  /**
   * Runs one read-only Redis command where `readFrom` says, at the requested level (a
   * write is refused with BadRequest): `readCommand(['HGETALL', 'user:1'])`.
   */
  async readCommand(
    args: readonly CommandArgument[],
    options: ReadCallOptions = {},
  ): Promise<CommandReply> {
    const body = { args: args.map(argumentJson), readOnly: true };
    const answer = await this.#read('POST', '/v1/command', body, options, false);
    return (answer as { reply: CommandReply }).reply;
  }

  /** Probes every known node's `/healthz` now. */
  async health(options: CallOptions = {}): Promise<HealthReport> {
    await this.#ensureView(options.signal);
    const nodes = await Promise.all(
      [...this.#urls].map(async ([id, url]) => ({ id, url, up: await this.#probe(url) })),
    );
    return { leaderId: this.#leaderId, nodes };
  }

  /** The cluster as the leader sees it (roles, lag per follower in entries and ms). */
  async status(options: CallOptions = {}): Promise<ClusterStatus> {
    await this.#discover(options.signal);
    if (this.#view === null) throw this.#unreachable();
    return this.#view;
  }

  /** Transfers leadership to `id`; resolves once it leads. */
  async promote(id: string, options: CallOptions = {}): Promise<void> {
    await this.#leaderCall('POST', '/v1/cluster/promote', { id }, {}, options.signal);
    await this.#discover(options.signal);
  }

  /** Adds a member at its peer `address` (host:port): a learner, or a voter once caught up. */
  async addReplica(
    id: string,
    address: string,
    options: CallOptions & { readonly learner?: boolean } = {},
  ): Promise<void> {
    const body = { id, address, learner: options.learner ?? false };
    await this.#leaderCall('POST', '/v1/cluster/members', body, {}, options.signal);
    await this.#discover(options.signal);
  }

  /** Removes a member from the cluster. */
  async removeReplica(id: string, options: CallOptions = {}): Promise<void> {
    const path = `/v1/cluster/members/${encodeURIComponent(id)}`;
    await this.#leaderCall('DELETE', path, undefined, {}, options.signal);
    await this.#discover(options.signal);
  }

  /** Stops the health check and refuses further calls. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#pending === 0) this.#agents.destroy();
  }

  // ------------------------------------------------------------------ kv and sql

  #kvApi(): KvApi {
    const put = async (
      key: KvBytesInput,
      value: KvBytesInput,
      headers: Record<string, string>,
      options: WriteCallOptions & { readonly ttlMs?: number },
    ): Promise<KvWriteResult> => {
      const body = {
        ...valueBody(value),
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      };
      const answer = (await this.#write('PUT', keyPath(key), body, headers, options)) as {
        version: Version;
        index: number;
      };
      return { version: answer.version, index: answer.index };
    };
    const read = async (key: KvBytesInput, options: ReadCallOptions): Promise<KvAnswer | null> =>
      (await this.#read('GET', keyPath(key), undefined, options, true)) as KvAnswer | null;
    return {
      get: async (key, options = {}) => {
        const answer = await read(key, options);
        return answer === null ? null : textOfAnswer(key, answer);
      },
      getBytes: async (key, options = {}) => {
        const answer = await read(key, options);
        return answer === null ? null : bytesOfAnswer(answer);
      },
      set: (key, value, options = {}) => put(key, value, {}, options),
      compareAndSet: (key, value, version, options = {}) =>
        put(key, value, { 'if-match': `"${version.index}.${version.term}"` }, options),
      delete: async (key, options = {}) => {
        const answer = await this.#write('DELETE', keyPath(key), undefined, {}, options);
        return (answer as { deleted: number }).deleted;
      },
    };
  }

  #sqlApi(): SqlApi {
    return {
      execute: async (statements, params, options = {}) => {
        const body =
          typeof statements === 'string'
            ? { sql: statements, ...(params === undefined ? {} : { params }) }
            : { statements };
        return (await this.#write('POST', '/v1/sql', body, {}, options)) as SqlExecuteResult;
      },
      query: async <Row>(sql: string, params?: SqlParams, options: ReadCallOptions = {}) => {
        const body = { sql, ...(params === undefined ? {} : { params }) };
        const answer = await this.#read('POST', '/v1/query', body, options, false);
        return (answer as { rows: Row[] }).rows;
      },
    };
  }

  #hashApi(): HashApi {
    return {
      set: async (key, fields, options = {}) => {
        const pairs = fields instanceof Map ? [...fields] : Object.entries(fields);
        if (pairs.length === 0) throw new TypeError('hash.set needs at least one field');
        const args = ['HSET', key, ...pairs.flat()] as CommandArgument[];
        return integerOfReply(await this.command(args, options)) as number;
      },
      get: async (key, field, options = {}) =>
        textOfReply(await this.readCommand(['HGET', key, field], options), 'the field'),
      getBytes: async (key, field, options = {}) =>
        bytesOfReply(await this.readCommand(['HGET', key, field], options)),
      getAll: async (key, options = {}) => {
        const reply = await this.readCommand(['HGETALL', key], options);
        const pairs = Array.isArray(reply)
          ? (reply as readonly (readonly CommandReply[])[])
          : Object.entries(reply as Record<string, CommandReply>);
        const all: Record<string, string> = {};
        for (const [field, value] of pairs) {
          const name = textOfReply(field, 'a field name') as string;
          all[name] = textOfReply(value, `the field ${JSON.stringify(name)}`) as string;
        }
        return all;
      },
      delete: async (key, fields, options = {}) => {
        if (fields.length === 0) throw new TypeError('hash.delete needs at least one field');
        return integerOfReply(await this.command(['HDEL', key, ...fields], options)) as number;
      },
      incrBy: async (key, field, by = 1, options = {}) =>
        integerOfReply(await this.command(['HINCRBY', key, field, by], options)),
      length: async (key, options = {}) =>
        integerOfReply(await this.readCommand(['HLEN', key], options)) as number,
    };
  }

  #counterApi(): CounterApi {
    return {
      incrBy: async (key, by = 1, options = {}) =>
        integerOfReply(await this.command(['INCRBY', key, by], options)),
      decrBy: async (key, by = 1, options = {}) =>
        integerOfReply(await this.command(['DECRBY', key, by], options)),
      get: async (key, options = {}) => {
        const text = textOfReply(await this.readCommand(['GET', key], options), 'the counter');
        if (text === null) return null;
        if (!/^-?[0-9]+$/.test(text)) {
          throw new BadRequest(
            'TANDEM_CLIENT_BAD_REPLY',
            200,
            `the key holds ${JSON.stringify(text)}, not a counter`,
          );
        }
        return counterOf(text);
      },
    };
  }

  /** What the blob calls use of this client: its nodes, retries, credentials and sockets. */
  #blobTransport(): BlobTransport {
    return {
      retries: this.#options.retries,
      idleTimeoutMs: this.#options.timeoutMs,
      durability: this.#options.durability,
      admitted: (signal, call) => this.#admitted(signal, call),
      // Followers first: a blob's bytes are cut and placed by whichever node takes them,
      // which spares the leader, already busy with the log, the streaming.
      targets: async (signal) => {
        await this.#ensureView(signal);
        return this.#readTargets('followers');
      },
      beforeRetry: async (attempt, signal) => {
        await sleep(this.#backoffMs(attempt), signal);
        await this.#discover(signal);
      },
      markDown: (url) => this.#markDown(url),
      open: (request) =>
        streamExchange(this.#agents, {
          ...request,
          headers: { ...request.headers, ...this.#authorization },
          idleTimeoutMs: this.#options.timeoutMs,
        }),
      leaderCall: (method, path, headers, signal) =>
        this.#leaderCall(method, path, undefined, headers, signal),
      unreachable: () => this.#unreachable(),
    };
  }

  // ------------------------------------------------------------------ writes

  /** Sends a write to the leader in a session lane, retrying with the same seq. */
  async #write(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    options: WriteCallOptions,
  ): Promise<unknown> {
    return this.#admitted(options.signal, async () => {
      const lane = await this.#takeLane(options.signal);
      try {
        lane.seq += 1;
        const durability = options.durability ?? this.#options.durability;
        const query = durability === undefined ? '' : `?ack=${durability}`;
        const sessionHeaders = {
          ...headers,
          'x-tandem-session': lane.id,
          'x-tandem-seq': String(lane.seq),
        };
        const answer = (await this.#leaderCall(
          method,
          path + query,
          body,
          sessionHeaders,
          options.signal,
        )) as { index?: number; term?: number };
        if (typeof answer.index === 'number' && answer.index > this.#lastWriteIndex) {
          this.#lastWriteIndex = answer.index;
          this.#lastWriteTerm = typeof answer.term === 'number' ? answer.term : 0;
        }
        return answer;
      } finally {
        this.#releaseLane(lane);
      }
    });
  }

  /**
   * Sends a call to the leader, following redirections and waiting out elections, up to
   * `retries` further attempts. Safe to resend: writes carry their session and seq, and
   * the admin calls are idempotent.
   */
  async #leaderCall(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal: AbortSignalLike | undefined,
  ): Promise<unknown> {
    let lastError: TandemClientError | null = null;
    for (let attempt = 0; attempt <= this.#options.retries; attempt++) {
      if (attempt > 0) await sleep(this.#backoffMs(attempt), signal);
      const url = await this.#leaderUrl(signal);
      const target = this.#leaderId;
      if (url === null) {
        lastError = new NoLeader('TANDEM_NO_LEADER', 503, 'no node knows a leader right now');
        continue;
      }
      let answer: Answer;
      try {
        answer = await this.#request(url, method, path, body, headers, signal);
      } catch (error) {
        if (!(error instanceof TransportFailure)) throw error;
        this.#logger.warn({ url, error: error.message }, 'tandem: the leader did not answer');
        lastError = new NoLeader('TANDEM_NO_LEADER', 503, error.message, { cause: error });
        this.#markDown(url);
        this.#setLeader(null);
        continue;
      }
      this.#noteLeaderHeader(answer);
      if (answer.status < 300) {
        // Answered by the node itself (a follower's relay names the leader in a header):
        // the one it was sent to is the leader.
        if (answer.header('x-tandem-leader') === null && target !== null) {
          this.#confirmLeader(target, null);
        }
        return answer.body;
      }
      const error = errorFromAnswer(answer.status, answer.body as ErrorBody);
      if (!this.#leaderCallRetryable(error)) throw error;
      lastError = error;
    }
    throw lastError ?? this.#unreachable();
  }

  /** Whether a leader call refused with `error` may succeed on another attempt. */
  #leaderCallRetryable(error: TandemClientError): boolean {
    switch (error.code) {
      case 'TANDEM_NOT_LEADER':
        this.#setLeader(error.leaderId ?? null);
        if (error.leaderId === undefined || !this.#urls.has(error.leaderId)) this.#setLeader(null);
        return true;
      case 'TANDEM_NO_LEADER':
      case 'TANDEM_LEADERSHIP_LOST':
      case 'TANDEM_TRANSFER_IN_PROGRESS':
        this.#setLeader(null);
        return true;
      case 'TANDEM_TOO_MANY_PENDING':
        return true;
      default:
        return false;
    }
  }

  #backoffMs(attempt: number): number {
    return Math.min(backoffMsMax, backoffMsFirst * 2 ** (attempt - 1));
  }

  async #leaderUrl(signal: AbortSignalLike | undefined): Promise<string | null> {
    if (this.#leaderId === null) await this.#discover(signal);
    return this.#leaderId === null ? null : (this.#urls.get(this.#leaderId) ?? null);
  }

  async #takeLane(signal: AbortSignalLike | undefined): Promise<Lane> {
    const free = this.#lanes.pop();
    if (free !== undefined) return free;
    return new Promise<Lane>((resolve, reject) => {
      const waiter = (lane: Lane): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(lane);
      };
      const onAbort = (): void => {
        this.#laneWaiters.splice(this.#laneWaiters.indexOf(waiter), 1);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#laneWaiters.push(waiter);
    });
  }

  #releaseLane(lane: Lane): void {
    const waiter = this.#laneWaiters.shift();
    if (waiter === undefined) this.#lanes.push(lane);
    else waiter(lane);
  }

  // ------------------------------------------------------------------ reads

  /**
   * Sends a read to the candidates `readFrom` names, best first, falling over to the next
   * (and finally the leader) when one does not answer or cannot serve the level.
   * `notFoundIsNull`: a 404 TANDEM_KEY_NOT_FOUND resolves to null.
   */
  async #read(
    method: string,
    path: string,
    body: Record<string, unknown> | undefined,
    options: ReadCallOptions,
    notFoundIsNull: boolean,
  ): Promise<unknown> {
    return this.#admitted(options.signal, async () => {
      const level = this.#levelParams(options);
      const target = body === undefined ? `${path}?${new URLSearchParams(level).toString()}` : path;
      const payload = body === undefined ? undefined : { ...body, ...this.#levelBody(level) };
      let lastError: TandemClientError | null = null;
      for (let attempt = 0; attempt <= this.#options.retries; attempt++) {
        if (attempt > 0) await sleep(this.#backoffMs(attempt), options.signal);
        await this.#ensureView(options.signal);
        for (const url of this.#readTargets(options.readFrom ?? this.#options.readFrom)) {
          const outcome = await this.#readOnce(url, method, target, payload, options.signal);
          if (outcome instanceof TandemClientError) {
            lastError = outcome;
            continue;
          }
          if (outcome.status < 300) return outcome.body;
          const error = errorFromAnswer(outcome.status, outcome.body as ErrorBody);
          if (notFoundIsNull && error.code === 'TANDEM_KEY_NOT_FOUND') return null;
          if (outcome.status < 500 && error.code !== 'TANDEM_NOT_CAUGHT_UP') throw error;
          lastError = error;
        }
        await this.#discover(options.signal);
      }
      throw lastError ?? this.#unreachable();
    });
  }

  /** One read attempt at `url`: its answer, or the failure that sends the read elsewhere. */
  async #readOnce(
    url: string,
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignalLike | undefined,
  ): Promise<Answer | TandemClientError> {
    try {
      const answer = await this.#request(url, method, path, body, {}, signal);
      this.#noteLeaderHeader(answer);
      return answer;
    } catch (error) {
      if (!(error instanceof TransportFailure)) throw error;
      this.#markDown(url);
      return new Unavailable('TANDEM_UNREACHABLE', 503, error.message, { cause: error });
    }
  }

  #levelParams(options: ReadCallOptions): Record<string, string> {
    const consistency: Consistency = options.consistency ?? this.#options.consistency;
    const params: Record<string, string> = { consistency };
    if (consistency === 'ryw') {
      params.after = String(this.#lastWriteIndex);
      if (this.#lastWriteTerm > 0) params.afterTerm = String(this.#lastWriteTerm);
    }
    if (consistency === 'bounded') {
      params.maxLag = String(options.maxLagEntries ?? this.#options.maxLagEntries);
    }
    return params;
  }

  #levelBody(params: Record<string, string>): Record<string, unknown> {
    const body: Record<string, unknown> = { consistency: params.consistency };
    if (params.after !== undefined) body.after = Number(params.after);
    if (params.afterTerm !== undefined) body.afterTerm = Number(params.afterTerm);
    if (params.maxLag !== undefined) body.maxLag = Number(params.maxLag);
    return body;
  }

  /**
   * The URLs a read tries, in order: for `followers`, the followers that are not known to
   * be down (balanced), then the leader; for `any`, every such node; for `leader`, the
   * leader. Nodes recently down come last rather than never, so that a read still has a
   * chance when every node was marked down.
   */
  #readTargets(readFrom: ReadCallOptions['readFrom']): string[] {
    const leaderUrl = this.#leaderId === null ? undefined : this.#urls.get(this.#leaderId);
    const now = Date.now();
    const members = (this.#view?.members ?? []).filter(
      (member) => member.httpUrl !== null && member.id !== this.#leaderId,
    );
    const followers = this.#balance(members).map((member) => trimUrl(member.httpUrl as string));
    let order: string[];
    if (readFrom === 'leader') order = leaderUrl === undefined ? [] : [leaderUrl];
    else if (readFrom === 'any' && leaderUrl !== undefined) {
      order = [...followers];
      order.splice(this.#roundRobin % (followers.length + 1), 0, leaderUrl);
    } else order = leaderUrl === undefined ? followers : [...followers, leaderUrl];
    if (order.length === 0) order = [...this.#seeds];
    const up = order.filter((url) => (this.#downUntil.get(url) ?? 0) <= now);
    const down = order.filter((url) => (this.#downUntil.get(url) ?? 0) > now);
    return [...up, ...down];
  }

  #balance<T extends { readonly lagEntries: number | null }>(members: readonly T[]): T[] {
    if (members.length === 0) return [];
    if (this.#options.readBalance === 'least-lag') {
      return [...members].sort(
        (a, b) =>
          (a.lagEntries ?? Number.MAX_SAFE_INTEGER) - (b.lagEntries ?? Number.MAX_SAFE_INTEGER),
      );
    }
    const start = this.#roundRobin++ % members.length;
    return [...members.slice(start), ...members.slice(0, start)];
  }

  // ------------------------------------------------------------------ discovery

  async #ensureView(signal: AbortSignalLike | undefined): Promise<void> {
    if (this.#view === null) await this.#discover(signal);
  }

  /**
   * Asks every known node for its cluster view at once and keeps the best: the leader's
   * own (it has the lag of every follower), else the one of the highest term that names
   * a leader, else any. Concurrent callers share one discovery.
   */
  async #discover(signal: AbortSignalLike | undefined): Promise<void> {
    signal?.throwIfAborted();
    this.#discovering ??= this.#discoverNow().finally(() => {
      this.#discovering = null;
    });
    await this.#discovering;
  }

  async #discoverNow(): Promise<void> {
    const urls = [...new Set([...this.#seeds, ...this.#urls.values()])];
    let refusal: TandemClientError | null = null;
    const views = await new Promise<ClusterStatus[]>((resolve) => {
      const found: ClusterStatus[] = [];
      let left = urls.length;
      for (const url of urls) {
        void this.#fetchView(url).then((view) => {
          if (view instanceof TandemClientError) refusal = view;
          else if (view !== null) found.push(view);
          left -= 1;
          if ((view !== null && 'role' in view && view.role === 'leader') || left === 0) {
            resolve(found);
          }
        });
      }
    });
    const best =
      views.find((view) => view.role === 'leader') ??
      views.filter((view) => view.leaderId !== null).sort((a, b) => b.term - a.term)[0] ??
      views[0];
    if (best === undefined) {
      this.#setLeader(null);
      // Wrong credentials are final: waiting for a leader would not change them.
      if (refusal !== null) throw refusal;
      return;
    }
    this.#view = best;
    for (const member of best.members) {
      if (member.httpUrl !== null) this.#urls.set(member.id, trimUrl(member.httpUrl));
    }
    this.#urls.set(best.id, trimUrl(best.httpUrl));
    if (best.role === 'leader') this.#confirmLeader(best.id, best.term);
    else this.#setLeader(best.leaderId);
  }

  /**
   * A node's cluster view; null when it does not answer, or its refusal of the credentials
   * (401, 403), which no other node would accept either.
   */
  async #fetchView(url: string): Promise<ClusterStatus | TandemClientError | null> {
    try {
      const answer = await this.#request(
        url,
        'GET',
        '/v1/cluster',
        undefined,
        {},
        undefined,
        discoveryTimeoutMs,
      );
      if (answer.status === 401 || answer.status === 403) {
        return errorFromAnswer(answer.status, answer.body as ErrorBody);
      }
      return answer.status === 200 ? (answer.body as ClusterStatus) : null;
    } catch {
      return null;
    }
  }

  #noteLeaderHeader(answer: Answer): void {
    const leaderId = answer.header('x-tandem-leader');
    if (leaderId !== null && this.#urls.has(leaderId)) this.#confirmLeader(leaderId, null);
  }

  /**
   * Where calls for the leader go (null: find it first). Losing the leader, or a stale
   * view naming one, changes only this; `leaderChanged` waits for a leader to confirm
   * itself (`#confirmLeader`).
   */
  #setLeader(leaderId: string | null): void {
    this.#leaderId = leaderId;
  }

  /**
   * A node answered as the leader (its own view says so, or it answered a request a
   * follower forwarded to it): routes there and, when it is not the leader last
   * announced (and, when `term` is known, at least that one's term), emits
   * `leaderChanged` once.
   */
  #confirmLeader(leaderId: string, term: number | null): void {
    this.#leaderId = leaderId;
    if (leaderId === this.#announcedLeader) return;
    if (term !== null && term < this.#announcedTerm) return;
    const previous = this.#announcedLeader;
    this.#announcedLeader = leaderId;
    if (term !== null) this.#announcedTerm = term;
    this.#logger.info({ leaderId, previous }, 'tandem: leader changed');
    this.emit('leaderChanged', leaderId, previous);
  }

  #markDown(url: string): void {
    this.#downUntil.set(url, Date.now() + downForMs);
  }

  #unreachable(): TandemClientError {
    return new Unavailable(
      'TANDEM_UNREACHABLE',
      503,
      `no Tandem node answered (tried ${[...new Set([...this.#seeds, ...this.#urls.values()])].join(', ')})`,
    );
  }

  // ------------------------------------------------------------------ health check

  async #healthCheck(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#discover(undefined);
      await Promise.all([...this.#urls].map(([id, url]) => this.#checkOne(id, url)));
    } catch (error) {
      this.#logger.warn({ error: (error as Error).message }, 'tandem: health check failed');
    }
  }

  async #checkOne(id: string, url: string): Promise<void> {
    const up = await this.#probe(url);
    if (!up && !this.#reportedDown.has(id)) {
      this.#reportedDown.add(id);
      this.#markDown(url);
      this.#logger.warn({ id, url }, 'tandem: replica down');
      this.emit('replicaDown', id, url);
    } else if (up && this.#reportedDown.delete(id)) {
      this.#downUntil.delete(url);
      this.#logger.info({ id, url }, 'tandem: replica up');
      this.emit('replicaUp', id, url);
    }
  }

  async #probe(url: string): Promise<boolean> {
    try {
      const answer = await this.#request(
        url,
        'GET',
        '/healthz',
        undefined,
        {},
        undefined,
        discoveryTimeoutMs,
      );
      return answer.status === 200;
    } catch {
      return false;
    }
  }

  // ------------------------------------------------------------------ plumbing

  /** Runs `call` if the bounded count of pending calls allows it, else throws QueueFull. */
  async #admitted<T>(signal: AbortSignalLike | undefined, call: () => Promise<T>): Promise<T> {
    if (this.#closed)
      throw new TandemClientError('TANDEM_CLIENT_CLOSED', 0, 'the client is closed');
    signal?.throwIfAborted();
    if (this.#pending >= this.#options.pendingCallsMax) {
      throw new QueueFull(
        'TANDEM_CLIENT_QUEUE_FULL',
        429,
        `${this.#pending} calls are pending, the maximum (pendingCallsMax); retry later`,
      );
    }
    this.#pending += 1;
    try {
      return await call();
    } finally {
      this.#pending -= 1;
      if (this.#closed && this.#pending === 0) this.#agents.destroy();
    }
  }

  /**
   * One HTTP exchange. Throws TransportFailure when no answer came (refused, dropped,
   * timed out), and the signal's reason when the caller aborted.
   */
  async #request(
    url: string,
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal: AbortSignalLike | undefined,
    timeoutMs = this.#options.timeoutMs,
  ): Promise<Answer> {
    let answer: HttpAnswer;
    try {
      answer = await exchange(this.#agents, {
        url: url + path,
        method,
        headers: {
          ...headers,
          ...this.#authorization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : requestJson(body),
        signal,
        timeoutMs,
      });
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      const what = (error as Error).message;
      throw new TransportFailure(`${method} ${url}${path}: ${what}`, { cause: error });
    }
    let parsed: unknown = null;
    try {
      parsed = answer.text === '' ? null : parseAnswerJson(answer.text);
    } catch {
      parsed = { code: 'TANDEM_BAD_ANSWER', message: answer.text.slice(0, 200) };
    }
    return { status: answer.status, header: answer.header, body: parsed };
  }
}

/** The `Authorization` header for `auth`: Basic for a user and password, Bearer for a token. */
function authorizationHeader(auth: ClientAuth | undefined): Record<string, string> {
  if (auth === undefined) return {};
  if ('token' in auth) {
    if (typeof auth.token !== 'string' || !/^[\x21-\x7e]+$/.test(auth.token)) {
      throw new TypeError('auth.token must be a non-empty token without spaces');
    }
    return { authorization: `Bearer ${auth.token}` };
  }
  const { user, password } = auth;
  if (typeof user !== 'string' || user === '' || user.includes(':')) {
    throw new TypeError('auth.user must be a non-empty user name without ":"');
  }
  if (typeof password !== 'string') throw new TypeError('auth.password must be a string');
  const credentials = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
  return { authorization: `Basic ${credentials}` };
}

/** Creates a client for the cluster reachable at `options.nodes`. */
export function createClient(options: ClientOptions): TandemClient {
  return new TandemClient(options);
}
