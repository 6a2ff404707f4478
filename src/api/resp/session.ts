/**
 * What the RESP commands share: one connection's state (`Session`) and the server's
 * (`ServerContext`), and the two paths every data command takes: `readFor` (read-your-writes
 * for this connection) and `writeFor` (propose here, or forward to the leader).
 */
import type { AccessControl } from '../../access/control.js';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle, ReadOptions, WriteResult } from '../../node/api.js';
import { defaultUserName } from '../../store/access-state.js';
import type { Command, WatchedKey } from '../../store/commands.js';
import type { ApplyResult, MaybePromise, StoreReader } from '../../store/contract.js';
import { WrongTypeError } from '../../store/kv-rules.js';
import type { Session as DedupeSession } from '../../store/sessions.js';
import type { Logger } from '../../transport/contract.js';
import type { Forwarder, LeaderEndpoint } from './forward.js';
import type { PubSubHub } from './pubsub.js';
import type { KeyspaceEventSettings } from './keyspace-events.js';
import type { BlockedClients } from './blocking.js';
import type { ServerStats } from './stats.js';
import { error, type Reply } from './reply.js';
import type { Protocol } from './reply.js';

/** How a follower treats writes: forward them to the leader, or refuse as a Redis replica does. */
export type FollowerWrites = 'forward' | 'readonly';

/** One client connection's state. */
export interface Session {
  readonly id: number;
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** The client's IP address alone: failed authentications are slowed per address. */
  readonly clientHost: string;
  readonly createdAtMs: number;
  protocol: Protocol;
  name: string | null;
  /**
   * The user this connection runs as, resolved by name on every command (a user deleted or
   * demoted loses access at once); null until it authenticates.
   */
  user: string | null;
  /**
   * The password it authenticated with, in memory only: a follower forwards its writes to
   * the leader as this user, and the leader authenticates them again. Null when it never
   * gave one (the password-free `default` of the open mode).
   */
  password: string | null;
  /**
   * A follower's forwarding link that proved it is a node of the cluster (TANDEM.LINK):
   * held to the normal request limits, though it is no user and runs only what each
   * TANDEM.FORWARDAS authenticates.
   */
  peerLink: boolean;
  consistency: Consistency;
  /** The database SELECT chose (0 to 15): its keys are the ones this connection names. */
  db: number;
  /**
   * Set by an EXEC whose queued SELECT changes `db` once it has run: the connection's later
   * commands wait for its answer, so that they name the keys of the database it leaves.
   */
  databaseSettling: boolean;
  /** The log index of this connection's latest acknowledged write; reads wait for it. */
  lastWriteIndex: number;
  /** That write's term (0 if unknown): reads also wait until the log holds that very entry. */
  lastWriteTerm: number;
  /** The replies of the writes sent and not yet answered (see `writesSettled`). */
  readonly unsettledWrites: Set<Promise<unknown>>;
  /**
   * Reads waiting (for this connection's earlier writes, or for a linearizable round) and
   * a promise settled once they all are: a write sent after them is proposed only then,
   * so that a read never sees a write its client sent after it.
   */
  pendingReads: number;
  readBarrier: Promise<unknown>;
  /** Called each time one of this session's writes settles (the server resumes its queue). */
  onWriteSettled: (() => void) | null;
  /** Set by QUIT or a protocol error: later commands are not run. */
  closing: boolean;
  /** Closes the connection at once (CLIENT KILL from another one); null for none. */
  disconnect: (() => void) | null;
  /** A leader running a follower's forwarded write: NOT_LEADER must not forward again. */
  readonly forwarded: boolean;
  /** The last command run, for CLIENT INFO. */
  lastCommand: string;
  /** MULTI's queue, or null outside a transaction (transactions.ts). */
  transaction: QueuedTransaction | null;
  /** The keys WATCHed, by their latin1 text, with what was seen of each. */
  readonly watched: Map<string, WatchedKey>;
  /** Set while EXEC runs its queued commands: their reads and writes join its entry. */
  capture: TransactionCapture | null;
  /**
   * The exactly-once session and sequence the next write carries (the HTTP API's
   * `POST /v1/command` from its `X-Tandem-Session` headers); taken by that one write.
   */
  dedupe: DedupeSession | null;
  /** A `bounded` read's lag limit in entries (the HTTP API's `maxLag`); absent, the node's. */
  maxLagEntries?: number;
  /** The durability its writes ask for (the HTTP API's `ack`); absent, the cluster's mode. */
  durability?: Durability;
}

/** A transaction being queued: the commands, and whether one was refused (EXECABORT). */
export interface QueuedTransaction {
  readonly commands: (readonly Buffer[])[];
  /** The bytes of the queued commands' arguments. */
  bytes: number;
  failed: boolean;
  /** The database the next queued command's keys are of: a queued SELECT changes it. */
  db: number;
}

/**
 * Where `readFor` and `writeFor` send a command that EXEC runs: into the transaction's
 * entry, answered once it applies. A handler calls them before it first awaits anything.
 */
export interface TransactionCapture {
  write(command: Command, format: ResultFormat): Promise<Reply>;
  read<T>(query: (store: StoreReader, nowMs: number) => MaybePromise<T>): Promise<T>;
}

/** What every command can reach besides its session. */
export interface ServerContext {
  readonly node: NodeHandle;
  readonly logger: Logger;
  /** Who may do what: authentication and the role and key checks of every command. */
  readonly access: AccessControl;
  readonly followerWrites: FollowerWrites;
  readonly forwarder: Forwarder;
  readonly sessions: ReadonlyMap<number, Session>;
  /** The connections' channel and pattern subscriptions (pubsub.ts). */
  readonly pubsub: PubSubHub;
  /** The clients blocked here on lists (blocking.ts). */
  readonly blocked: BlockedClients;
  /** This node's notify-keyspace-events (keyspace-events.ts). */
  readonly keyEvents: KeyspaceEventSettings;
  readonly startedAtMs: number;
  readonly maxClients: number;
  /** The most bytes the reads of one transaction may answer (transactions.ts). */
  readonly transactionReadBytesMax: number;
  readonly port: number;
  /** The counters INFO reports (stats.ts). */
  readonly stats: ServerStats;
  /** This run's id (INFO's run_id): 40 hex digits drawn at start, as Redis's. */
  readonly runId: string;
}

/** A new session for a connection (or for a forwarded command on the leader). */
export function newSession(
  id: number,
  addresses: { readonly remote: string; readonly local: string; readonly clientHost: string },
  options: { user: string | null; password: string | null; forwarded: boolean },
): Session {
  return {
    id,
    remoteAddress: addresses.remote,
    localAddress: addresses.local,
    clientHost: addresses.clientHost,
    createdAtMs: Date.now(),
    protocol: 2,
    name: null,
    user: options.user,
    password: options.password,
    peerLink: false,
    consistency: 'ryw',
    db: 0,
    databaseSettling: false,
    lastWriteIndex: 0,
    lastWriteTerm: 0,
    onWriteSettled: null,
    unsettledWrites: new Set(),
    pendingReads: 0,
    readBarrier: Promise.resolve(),
    closing: false,
    disconnect: null,
    forwarded: options.forwarded,
    lastCommand: 'NULL',
    transaction: null,
    watched: new Map(),
    capture: null,
    dedupe: null,
  };
}

/** Codes that mean "no leader to take this right now; nothing was written": retry later. */
const retryCodes: ReadonlySet<string> = new Set([
  'TANDEM_NOT_LEADER',
  'TANDEM_NO_LEADER',
  'TANDEM_TRANSFER_IN_PROGRESS',
  'TANDEM_TOO_MANY_PENDING',
  'TANDEM_NOT_CAUGHT_UP',
]);

/**
 * The RESP error for anything a command threw. Bad input is `ERR <message>`, as Redis
 * answers it; "no leader right now" is `TRYAGAIN <message>`, as Redis Cluster answers
 * while slots move (nothing was written, retry); every other Tandem error is
 * `<CODE> <message>` with its stable code (`TANDEM_SYNC_TIMEOUT ...`), so that a client
 * can tell an unknown outcome from a refusal.
 */
export function errorReply(thrown: unknown, logger: Logger): Reply {
  if (thrown instanceof WrongTypeError) return error(thrown.message);
  if (thrown instanceof TandemError) {
    if (thrown.code === 'TANDEM_BAD_REQUEST' || thrown.code === 'TANDEM_ENTRY_TOO_LARGE') {
      return error(thrown.message.startsWith('ERR ') ? thrown.message : `ERR ${thrown.message}`);
    }
    if (retryCodes.has(thrown.code)) return error(`TRYAGAIN ${thrown.message}`);
    return error(`${thrown.code} ${thrown.message}`);
  }
  logger.error({ err: thrown }, 'RESP command failed');
  return error(`ERR internal error: ${(thrown as Error)?.message ?? String(thrown)}`);
}

/**
 * Runs `query` on the local store once this connection's own writes are applied here
 * (read-your-writes), at the connection's consistency level. When nothing needs waiting
 * for, the query runs at once and a store that answers synchronously (SQLite) gives the
 * value itself, so the reply goes out in the same turn as the request.
 */
export function readFor<T>(
  context: ServerContext,
  session: Session,
  query: (store: StoreReader, nowMs: number) => MaybePromise<T>,
): MaybePromise<T> {
  if (session.capture !== null) return session.capture.read(query);
  if (session.unsettledWrites.size === 0) {
    try {
      const read = context.node.readNow(readOptionsOf(session), (store) =>
        query(store, Date.now()),
      );
      if (read !== null) return read.value;
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return readLater(context, session, query);
}

/** The connection's read level, with the index of its last write (read once writes settled). */
function readOptionsOf(session: Session): ReadOptions {
  return {
    consistency: session.consistency,
    afterIndex: session.lastWriteIndex,
    ...(session.lastWriteTerm > 0 ? { afterTerm: session.lastWriteTerm } : {}),
    ...(session.maxLagEntries === undefined ? {} : { maxLagEntries: session.maxLagEntries }),
  };
}

function readLater<T>(
  context: ServerContext,
  session: Session,
  query: (store: StoreReader, nowMs: number) => MaybePromise<T>,
): Promise<T> {
  const writes = session.unsettledWrites.size > 0 ? writesSettled(session) : null;
  const done = (async () => {
    if (writes !== null) await writes;
    const { value } = await context.node.read(readOptionsOf(session), (store) =>
      query(store, Date.now()),
    );
    return value;
  })();
  session.pendingReads++;
  const settled = done.finally(() => {
    session.pendingReads--;
  });
  session.readBarrier = Promise.all([session.readBarrier, settled.catch(() => {})]);
  return settled;
}

/** How a write's apply result becomes its reply. */
export type ResultFormat = (value: unknown) => Reply;

/** Command types that never carry an exactly-once session (see store/commands.ts). */
const sessionless: ReadonlySet<Command['type']> = new Set([
  'publish',
  'expire-sweep',
  'multi',
  'acl',
]);

/**
 * Proposes `command`; on a follower, forwards `args` (the client's own command) to the
 * leader or refuses with Redis's READONLY error. Records the write's index for this
 * connection's later reads. Called in command order, so the proposals are too.
 */
export function writeFor(
  context: ServerContext,
  session: Session,
  command: Command,
  format: ResultFormat,
  args: readonly Buffer[],
): Promise<Reply> {
  if (session.capture !== null) return session.capture.write(command, format);
  const dedupe = session.dedupe;
  if (dedupe === null && session.durability === undefined) {
    return proposeFor(context, session, () => context.node.write(command), format, args);
  }
  let proposed = command;
  if (dedupe !== null && !sessionless.has(command.type)) {
    session.dedupe = null;
    proposed = { ...command, session: dedupe } as Command;
  }
  const options = session.durability === undefined ? {} : { durability: session.durability };
  return proposeFor(context, session, () => context.node.write(proposed, options), format, args);
}

/**
 * Like `writeFor`, for a write that `propose` makes (ACL SETUSER's, which may first
 * propose the bootstrap users): on a follower, forwards `args` to the leader.
 */
export function proposeFor(
  context: ServerContext,
  session: Session,
  propose: () => Promise<WriteResult>,
  format: ResultFormat,
  args: readonly Buffer[],
): Promise<Reply> {
  if (session.capture !== null) {
    return Promise.reject(
      new TandemError('TANDEM_BAD_REQUEST', 'ERR Command not allowed inside a transaction'),
    );
  }
  const run = (): Promise<Reply> =>
    propose().then(
      ({ index, term, result }) => {
        noteIndex(session, index, term);
        return applied(result, format);
      },
      (thrown: unknown) => {
        if (!(thrown instanceof TandemError) || thrown.code !== 'TANDEM_NOT_LEADER') throw thrown;
        return forwardWrite(context, session, args, thrown);
      },
    );
  // A read sent before this write and still waiting must not see it: propose after it.
  const done = session.pendingReads > 0 ? session.readBarrier.then(run) : run();
  return track(session, done);
}

/**
 * Counts a write as pending on its session until it settles. One reaction per write: the
 * promise that every write so far has settled is made only when a read or WAIT asks.
 */
export function track(session: Session, done: Promise<Reply>): Promise<Reply> {
  const settle = (): void => {
    session.unsettledWrites.delete(settled);
    session.onWriteSettled?.();
  };
  const settled: Promise<Reply> = done.then(
    (reply) => {
      settle();
      return reply;
    },
    (thrown: unknown) => {
      settle();
      throw thrown;
    },
  );
  session.unsettledWrites.add(settled);
  return settled;
}

/** Settles once every write `session` has sent so far has settled, either way. */
export function writesSettled(session: Session): Promise<unknown> {
  return Promise.allSettled([...session.unsettledWrites]);
}

function noteIndex(session: Session, index: number, term: number): void {
  if (index <= session.lastWriteIndex) return;
  session.lastWriteIndex = index;
  session.lastWriteTerm = term;
}

/** The reply for an apply result: the command's own error text, or its value formatted. */
export function applied(result: ApplyResult, format: ResultFormat): Reply {
  if (result !== null && !result.ok) return error(result.error);
  return format(result === null ? null : result.value);
}

async function forwardWrite(
  context: ServerContext,
  session: Session,
  args: readonly Buffer[],
  notLeader: TandemError,
): Promise<Reply> {
  if (context.followerWrites === 'readonly') {
    return error("READONLY You can't write against a read only replica.");
  }
  if (session.forwarded) throw notLeader;
  const leader = leaderEndpoint(context.node);
  if (leader === null) {
    throw new TandemError('TANDEM_NO_LEADER', 'no leader with a RESP port is known', {
      cause: notLeader,
    });
  }
  return unwrapForwarded(session, await forwardAs(context, session, leader, args));
}

/**
 * Sends `args` to the leader at `leader` as this session's user, `TANDEM.FORWARDAS user
 * password cmd...`: the leader authenticates the user and checks the command again, as it
 * would its own client's. Resolves with the leader's `[index, reply, term]` or its error.
 */
export function forwardAs(
  context: ServerContext,
  session: Session,
  leader: LeaderEndpoint,
  args: readonly (string | Buffer)[],
): Promise<Reply> {
  const user = session.user ?? defaultUserName;
  // Keys travel in their stored form; a command of another database than 0 says which, for
  // the commands that name none (FLUSHDB, a transaction's SELECT).
  const request =
    session.db === 0
      ? ['TANDEM.FORWARDAS', user, session.password ?? '', ...args]
      : ['TANDEM.FORWARDIN', String(session.db), user, session.password ?? '', ...args];
  return context.forwarder.send(leader, session.id, request);
}

/** The leader's plain RESP port when it has one, else its TLS port, else null. */
export function leaderEndpoint(node: NodeHandle): LeaderEndpoint | null {
  const plain = node.leaderRespAddress();
  if (plain !== null) return { address: plain, tls: false };
  const secure = node.leaderRespTlsAddress();
  return secure === null ? null : { address: secure, tls: true };
}

/** `[index, reply, term]` from the leader: notes the index and term and returns the reply. */
export function unwrapForwarded(session: Session, reply: Reply): Reply {
  if (!Array.isArray(reply)) return reply; // an error reply from the leader
  const [index, inner, term] = reply as readonly Reply[];
  if (typeof index === 'number' && Number.isSafeInteger(index)) {
    noteIndex(session, index, typeof term === 'number' && Number.isSafeInteger(term) ? term : 0);
  }
  return inner ?? null;
}
