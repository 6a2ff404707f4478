/**
 * Connection, server, replication and Tandem commands: PING ECHO HELLO AUTH SELECT QUIT
 * RESET CLIENT CONFIG ROLE WAIT READONLY READWRITE and TANDEM.* (INFO and TIME are in
 * info.ts, COMMAND in command.ts). Replication is reported in Redis's own shapes with the
 * log index as the replication offset, so tools that read `INFO replication` or `ROLE`
 * understand a Tandem cluster.
 */
import { TandemError } from '../../core/errors.js';
import type { Consistency, NodeStatus } from '../../node/api.js';
import { defaultUserName, type UserRecord } from '../../store/access-state.js';
import { Glob } from '../../store/glob.js';
import { formatStamp } from '../../links/hlc.js';
import { readConflicts } from '../../links/records.js';
import { conflictsAgeMsDefault, conflictsListMax, readLinkRecords } from '../../links/service.js';
import { clientKey, databaseOfText } from '../../store/databases.js';
import { formatKeyspaceEvents, keyEventsWanted, parseKeyspaceEvents } from './keyspace-events.js';
import {
  databaseIndex,
  integerArg,
  notAnInteger,
  syntaxError,
  type Args,
  type Handler,
} from './keys.js';
import { error, map, ok, simple, type Reply } from './reply.js';
import {
  leaderEndpoint,
  forwardAs,
  readFor,
  unwrapForwarded,
  writesSettled,
  type ServerContext,
  type Session,
} from './session.js';
import { oneKey, wrongArity, type CommandSpec, type SubcommandSpec } from './spec.js';

/** The Redis version Tandem reports: the command set and replies follow Redis 7. */
export const redisVersionReported = '7.2.0';
/** How often WAIT looks at the followers' progress. */
export const waitPollMs = 10;
/** The longest WAIT, whatever the client asks (0 means this long): every wait must end. */
export const waitTimeoutMsMax = 10 * 60_000;

/** Redis's refusal of credentials that authenticate no enabled user. */
export const wrongPass = error('WRONGPASS invalid username-password pair or user is disabled.');

/** Redis's answer to `AUTH <password>` while `default` needs no password. */
const noPasswordConfigured = error(
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
);

type MaybeReply = Reply | null | Promise<Reply | null>;

/** `then` for a value that may be a promise: stays synchronous when the value is. */
function andThen<T, U>(value: T | Promise<T>, next: (done: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/**
 * Authenticates `session` as `user` with `password`: null once it has (the session is
 * that user from its next command on), else WRONGPASS, answered after the delay its
 * address has earned. Synchronous when no password needs hashing.
 */
export function login(
  context: ServerContext,
  session: Session,
  user: string,
  password: string,
): MaybeReply {
  const known = context.access.authenticateNow(user, password);
  const settle = (found: UserRecord | null): MaybeReply => {
    if (found === null) return refuse(context, session.clientHost, user);
    session.user = found.name;
    session.password = password;
    return null;
  };
  return known === undefined
    ? context.access.authenticate(user, password).then(settle)
    : settle(known);
}

/** Records a failed authentication and answers WRONGPASS once its delay has passed. */
export async function refuse(context: ServerContext, host: string, user: string): Promise<Reply> {
  await context.access.audit.failure('resp', host, user);
  return wrongPass;
}

/** AUTH [user] password: `default` when no user is named. */
const auth: Handler = (context, session, args) => {
  if (args.text.length > 3) return syntaxError;
  if (args.text.length === 2) {
    const first = context.access.effective().users.get(defaultUserName);
    if (first !== undefined && first.nopass) return noPasswordConfigured;
  }
  const [user, pass] =
    args.text.length === 3 ? [args.text[1], args.text[2]] : [defaultUserName, args.text[1]];
  return andThen(login(context, session, user, pass), (failed) => failed ?? ok);
};

/** HELLO [protover [AUTH user pass] [SETNAME name]]. */
const hello: Handler = (context, session, args) => {
  let protocol = session.protocol;
  if (args.text.length > 1) {
    const version = integerArg(args.text[1]);
    if (version === null) return error('ERR Protocol version is not an integer or out of range');
    if (version !== 2 && version !== 3) return error('NOPROTO unsupported protocol version');
    protocol = version;
  }
  let name: string | null | undefined;
  let credentials: [string, string] | undefined;
  for (let i = 2; i < args.text.length; i++) {
    const option = args.text[i].toUpperCase();
    if (option === 'AUTH' && i + 2 < args.text.length) {
      credentials = [args.text[i + 1], args.text[i + 2]];
      i += 2;
    } else if (option === 'SETNAME' && i + 1 < args.text.length) {
      name = args.text[++i];
      if (!validName(name)) return badName;
    } else {
      return error(`ERR Syntax error in HELLO option '${args.text[i]}'`);
    }
  }
  const answer = (failed: Reply | null): Reply => {
    if (failed !== null) return failed;
    if (session.user === null) {
      return error(
        // Redis 7.0's text, word for word.
        'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
      );
    }
    session.protocol = protocol;
    if (name !== undefined) session.name = name === '' ? null : name;
    return helloReply(context, session, protocol);
  };
  if (credentials === undefined) return answer(null);
  return andThen(login(context, session, ...credentials), answer);
};

function helloReply(context: ServerContext, session: Session, protocol: number): Reply {
  const role = context.node.status().role === 'leader' ? 'master' : 'replica';
  return map([
    ['server', 'redis'],
    ['version', redisVersionReported],
    ['proto', protocol],
    ['id', session.id],
    ['mode', 'standalone'],
    ['role', role],
    ['modules', []],
  ]);
}

const badName = error('ERR Client names cannot contain spaces, newlines or special characters.');

function validName(name: string): boolean {
  return /^[!-~]*$/.test(name);
}

function clientInfo(context: ServerContext, session: Session): string {
  const ageSeconds = Math.floor((Date.now() - session.createdAtMs) / 1000);
  return (
    `id=${session.id} addr=${session.remoteAddress} laddr=${session.localAddress} fd=-1 ` +
    `name=${session.name ?? ''} age=${ageSeconds} idle=0 flags=N db=${session.db} sub=0 psub=0 ssub=0 ` +
    `multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 tot-mem=0 ` +
    `events=r cmd=${session.lastCommand} user=${session.user ?? defaultUserName} redir=-1 resp=${session.protocol}\n`
  );
}

const client: Handler = (context, session, args) => {
  const sub = args.text[1].toUpperCase();
  switch (sub) {
    case 'ID':
      return session.id;
    case 'SETNAME':
      if (args.text.length !== 3) return wrongArity('client|setname');
      if (!validName(args.text[2])) return badName;
      session.name = args.text[2] === '' ? null : args.text[2];
      return ok;
    case 'GETNAME':
      return session.name;
    case 'INFO':
      return { kind: 'verbatim', text: clientInfo(context, session) };
    case 'LIST':
      return {
        kind: 'verbatim',
        text: [...context.sessions.values()].map((one) => clientInfo(context, one)).join(''),
      };
    case 'SETINFO':
    case 'NO-EVICT':
    case 'NO-TOUCH':
      return ok;
    case 'KILL':
      return clientKill(context, session, args.text.slice(2));
    case 'UNBLOCK':
      // Redis 7.0 checks this one's count itself, and answers its own text.
      if (args.text.length > 4) {
        return error(
          `ERR unknown subcommand or wrong number of arguments for '${args.text[1]}'. Try CLIENT HELP.`,
        );
      }
      return clientUnblock(context, args.text.slice(2));
    default:
      return error(`ERR unknown subcommand '${args.text[1]}'. Try CLIENT HELP.`);
  }
};

/**
 * CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the client was blocked here (BLPOP and the other
 * blocking commands) and is now answered, 0 otherwise.
 */
function clientUnblock(context: ServerContext, rest: readonly string[]): Reply | Promise<Reply> {
  const reason = rest[1]?.toUpperCase() ?? 'TIMEOUT';
  if (reason !== 'TIMEOUT' && reason !== 'ERROR') {
    return error('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');
  }
  const id = integerArg(rest[0] as string);
  if (id === null) return notAnInteger;
  const unblocked = context.blocked.unblock(id, reason === 'ERROR' ? 'error' : 'timeout');
  return unblocked instanceof Promise
    ? unblocked.then((done) => (done ? 1 : 0))
    : unblocked
      ? 1
      : 0;
}

/**
 * CLIENT KILL: the old form `CLIENT KILL addr:port` (OK, or an error when no client has
 * that address) and the filters `ID`, `TYPE`, `USER`, `ADDR`, `LADDR` and `SKIPME` (the
 * number of clients closed). Connections of this node only, as in Redis.
 */
function clientKill(context: ServerContext, session: Session, rest: readonly string[]): Reply {
  const sessions = [...context.sessions.values()];
  if (rest.length === 1) {
    const target = sessions.find((one) => one.remoteAddress === rest[0]);
    if (target === undefined) return error('ERR No such client');
    killSession(session, target);
    return ok;
  }
  if (rest.length % 2 !== 0) return syntaxError;
  const filters: ((one: Session) => boolean)[] = [];
  let skipMe = true;
  for (let i = 0; i < rest.length; i += 2) {
    const name = (rest[i] as string).toUpperCase();
    const value = rest[i + 1] as string;
    if (name === 'ID') {
      const id = integerArg(value);
      if (id === null || id < 1) return error('ERR client-id should be greater than 0');
      filters.push((one) => one.id === id);
    } else if (name === 'TYPE') {
      const type = value.toLowerCase();
      if (type === 'normal') filters.push((one) => context.pubsub.count(one) === 0);
      else if (type === 'pubsub') filters.push((one) => context.pubsub.count(one) > 0);
      else if (type === 'master' || type === 'replica' || type === 'slave')
        filters.push(() => false);
      else return error(`ERR Unknown client type '${value}'`);
    } else if (name === 'USER') {
      if (context.access.user(value) === null) return error(`ERR No such user '${value}'`);
      filters.push((one) => (one.user ?? defaultUserName) === value);
    } else if (name === 'ADDR') {
      filters.push((one) => one.remoteAddress === value);
    } else if (name === 'LADDR') {
      filters.push((one) => one.localAddress === value);
    } else if (name === 'SKIPME') {
      const answer = value.toLowerCase();
      if (answer !== 'yes' && answer !== 'no') return syntaxError;
      skipMe = answer === 'yes';
    } else {
      return syntaxError;
    }
  }
  let killed = 0;
  for (const one of sessions) {
    if (skipMe && one === session) continue;
    if (!filters.every((filter) => filter(one))) continue;
    killSession(session, one);
    killed++;
  }
  return killed;
}

/** Closes `target`'s connection: at once for another one, after this reply for its own. */
function killSession(session: Session, target: Session): void {
  if (target === session) target.closing = true;
  else target.disconnect?.();
}

/**
 * CONFIG SET name value [name value ...]: notify-keyspace-events only, on this node (each
 * node has its own, as each Redis server has); every pair is checked before any is set.
 */
function configSet(context: ServerContext, rest: readonly string[]): Reply {
  const unknown = error(`ERR Unknown option or number of arguments for CONFIG SET - '${rest[0]}'`);
  if (rest.length === 0 || rest.length % 2 !== 0) return unknown;
  let flags: number | null = null;
  for (let i = 0; i < rest.length; i += 2) {
    const name = (rest[i] as string).toLowerCase();
    if (name !== 'notify-keyspace-events') {
      return error(`ERR Unknown option or number of arguments for CONFIG SET - '${rest[i]}'`);
    }
    const parsed = parseKeyspaceEvents(rest[i + 1] as string);
    if (typeof parsed !== 'number') return parsed;
    flags = parsed;
  }
  context.keyEvents.flags = flags as number;
  context.node.setKeyEvents(keyEventsWanted(context.keyEvents.flags));
  return ok;
}

/** CONFIG GET: the parameters clients and tools ask for, with Tandem's answers. */
function configValues(context: ServerContext): [string, string][] {
  return [
    ['appendonly', 'yes'],
    ['save', ''],
    ['databases', '1'],
    ['maxclients', String(context.maxClients)],
    ['port', String(context.port)],
    ['requirepass', defaultNeedsPassword(context) ? '(set)' : ''],
    ['replica-read-only', context.followerWrites === 'readonly' ? 'yes' : 'no'],
    ['slave-read-only', context.followerWrites === 'readonly' ? 'yes' : 'no'],
    ['cluster-enabled', 'no'],
    ['maxmemory', '0'],
    ['maxmemory-policy', 'noeviction'],
    ['timeout', '0'],
    ['notify-keyspace-events', formatKeyspaceEvents(context.keyEvents.flags)],
  ];
}

/** Whether `default` has passwords (Redis's requirepass; Tandem never knows the password). */
function defaultNeedsPassword(context: ServerContext): boolean {
  const first = context.access.effective().users.get(defaultUserName);
  return first !== undefined && first.passwords.length > 0;
}

const config: Handler = (context, _session, args) => {
  const sub = args.text[1].toUpperCase();
  if (sub === 'RESETSTAT') {
    context.stats.reset();
    return ok;
  }
  // Tandem's settings are its start flags, but for notify-keyspace-events (this node's).
  if (sub === 'SET') return configSet(context, args.text.slice(2));
  if (sub !== 'GET') return error(`ERR unknown subcommand '${args.text[1]}'. Try CONFIG HELP.`);
  if (args.text.length < 3) return wrongArity('config|get');
  const globs = args.text.slice(2).map((pattern) => new Glob(pattern.toLowerCase()));
  const found = configValues(context).filter(([name]) => globs.some((glob) => glob.matches(name)));
  return map(found);
};

/** The followers a leader counts as connected replicas, with their offsets and lag. */
function replicas(context: ServerContext, status: NodeStatus) {
  return status.members
    .filter((member) => member.id !== status.id && member.healthy === true)
    .map((member) => {
      const resp = context.node.respAddress(member.id) ?? '';
      const colon = resp.lastIndexOf(':');
      return {
        ip: colon === -1 ? '' : resp.slice(0, colon),
        port: colon === -1 ? '0' : resp.slice(colon + 1),
        offset: member.matchIndex ?? 0,
        lagSeconds: Math.floor((member.lastContactMs ?? 0) / 1000),
        state: member.snapshot === null ? 'online' : 'send_bulk',
      };
    });
}

/** INFO replication's lines: Redis's fields, the log index as the replication offset. */
export function replicationInfo(context: ServerContext): string[] {
  const status = context.node.status();
  if (status.role === 'leader') {
    const lines = replicas(context, status).map(
      (replica, i) =>
        `slave${i}:ip=${replica.ip},port=${replica.port},state=${replica.state},offset=${replica.offset},lag=${replica.lagSeconds}`,
    );
    return [
      'role:master',
      `connected_slaves:${lines.length}`,
      ...lines,
      'master_failover_state:no-failover',
      `master_repl_offset:${status.lastIndex}`,
      `tandem_term:${status.term}`,
      `tandem_commit_index:${status.commitIndex}`,
    ];
  }
  const leader = status.leaderId === null ? null : context.node.leaderRespAddress();
  const colon = leader?.lastIndexOf(':') ?? -1;
  return [
    'role:slave',
    `master_host:${leader === null ? '' : leader.slice(0, colon)}`,
    `master_port:${leader === null ? '' : leader.slice(colon + 1)}`,
    `master_link_status:${status.leaderId === null ? 'down' : 'up'}`,
    'master_last_io_seconds_ago:0',
    'master_sync_in_progress:0',
    `slave_repl_offset:${status.appliedIndex}`,
    'slave_priority:100',
    `slave_read_only:${context.followerWrites === 'readonly' ? 1 : 0}`,
    'replica_announced:1',
    'connected_slaves:0',
    `master_repl_offset:${status.appliedIndex}`,
    `tandem_term:${status.term}`,
    `tandem_commit_index:${status.commitIndex}`,
  ];
}

const role: Handler = (context) => {
  const status = context.node.status();
  if (status.role === 'leader') {
    const list = replicas(context, status).map((replica) => [
      replica.ip,
      replica.port,
      String(replica.offset),
    ]);
    return ['master', status.lastIndex, list];
  }
  const leader = context.node.leaderRespAddress();
  const colon = leader?.lastIndexOf(':') ?? -1;
  return [
    'slave',
    leader === null ? '' : leader.slice(0, colon),
    leader === null ? -1 : Number(leader.slice(colon + 1)),
    status.leaderId === null ? 'connect' : 'connected',
    status.appliedIndex,
  ];
};

/** How many followers have `index` durably in their logs, as the leader sees it. */
function replicasAt(context: ServerContext, index: number): number {
  const status = context.node.status();
  return status.members.filter(
    (member) => member.id !== status.id && (member.matchIndex ?? 0) >= index,
  ).length;
}

/** Waits until `count` followers hold `index`, or `timeoutMs` passes; answers how many do. */
async function waitReplicas(
  context: ServerContext,
  session: Session,
  index: number,
  count: number,
  timeoutMs: number,
): Promise<Reply> {
  const deadline =
    Date.now() + (timeoutMs === 0 ? waitTimeoutMsMax : Math.min(timeoutMs, waitTimeoutMsMax));
  for (;;) {
    const status = context.node.status();
    if (status.role !== 'leader') {
      throw new TandemError('TANDEM_NOT_LEADER', 'this node stopped leading during WAIT');
    }
    const have = replicasAt(context, index);
    if (have >= count || Date.now() >= deadline || session.closing) return have;
    await new Promise((resolve) => setTimeout(resolve, waitPollMs));
  }
}

function waitArguments(args: Args, from: number): [number, number] | Reply {
  const count = integerArg(args.text[from]);
  const timeoutMs = integerArg(args.text[from + 1]);
  if (count === null || timeoutMs === null) return notAnInteger;
  if (timeoutMs < 0) return error('ERR timeout is negative');
  return [count, timeoutMs];
}

/** WAIT numreplicas timeout: for this connection's last write; a follower asks the leader. */
const wait: Handler = async (context, session, args) => {
  const parsed = waitArguments(args, 1);
  if (!Array.isArray(parsed)) return parsed;
  const [count, timeoutMs] = parsed as [number, number];
  if (session.unsettledWrites.size > 0) await writesSettled(session);
  if (context.node.status().role === 'leader') {
    return waitReplicas(context, session, session.lastWriteIndex, count, timeoutMs);
  }
  const leader = leaderEndpoint(context.node);
  if (leader === null) throw new TandemError('TANDEM_NO_LEADER', 'no leader to WAIT on');
  const request = ['TANDEM.WAIT', String(session.lastWriteIndex), String(count), String(timeoutMs)];
  return unwrapForwarded(session, await forwardAs(context, session, leader, request));
};

/** TANDEM.WAIT index numreplicas timeout: WAIT for a given index (a follower's WAIT). */
const tandemWait: Handler = (context, session, args) => {
  const index = integerArg(args.text[1]);
  const parsed = waitArguments(args, 2);
  if (index === null || index < 0) return notAnInteger;
  if (!Array.isArray(parsed)) return parsed;
  const [count, timeoutMs] = parsed as [number, number];
  return waitReplicas(context, session, index, count, timeoutMs);
};

const consistencies: readonly Consistency[] = ['stale', 'bounded', 'ryw', 'linearizable'];

const tandem: Record<string, Handler> = {
  'tandem.status': (context) => {
    const status = context.node.status();
    return map([
      ['id', status.id],
      ['role', status.role],
      ['term', status.term],
      ['leader', status.leaderId],
      ['commitIndex', status.commitIndex],
      ['appliedIndex', status.appliedIndex],
      ['lastIndex', status.lastIndex],
      ['durability', status.durability],
      [
        'members',
        status.members.map((member) =>
          map([
            ['id', member.id],
            ['voter', member.voter ? 1 : 0],
            ['matchIndex', member.matchIndex],
            ['lagEntries', member.lagEntries],
            ['healthy', member.healthy === null ? null : member.healthy ? 1 : 0],
            ['resp', context.node.respAddress(member.id)],
          ]),
        ),
      ],
    ]);
  },
  'tandem.version': async (context, session, args) => {
    const entry = await readFor(context, session, (store, now) => store.get(args.raw[1], now));
    return entry === null ? null : [entry.version.index, entry.version.term];
  },
  'tandem.promote': async (context, session, args) => {
    try {
      await context.node.promote(args.text[1]);
      return ok;
    } catch (thrown) {
      const notLeader = thrown instanceof TandemError && thrown.code === 'TANDEM_NOT_LEADER';
      const leader = leaderEndpoint(context.node);
      if (!notLeader || session.forwarded || leader === null) throw thrown;
      return unwrapForwarded(session, await forwardAs(context, session, leader, args.raw));
    }
  },
  'tandem.consistency': (_context, session, args) => {
    const level = args.text[1].toLowerCase() as Consistency;
    if (!consistencies.includes(level)) {
      return error(`ERR consistency must be one of ${consistencies.join(', ')}`);
    }
    session.consistency = level;
    return ok;
  },
  'tandem.wait': tandemWait,
  // TANDEM.CONFLICTS [count]: the latest writes that lost to a concurrent one on a linked
  // cluster, newest first (10 unless count says), as this node applied them.
  'tandem.conflicts': (context, _session, args) => {
    if (args.text.length > 2) return error('ERR syntax error');
    const text = args.text[1] ?? '10';
    if (!/^[0-9]{1,6}$/.test(text) || Number(text) > conflictsListMax) {
      return error(`ERR count must be an integer from 0 to ${conflictsListMax}`);
    }
    const page = readLinkRecords(context.node, (get) =>
      readConflicts(get, Number(text), Date.now() - conflictsAgeMsDefault),
    );
    return page.conflicts.map((conflict) =>
      map([
        ['db', databaseOfText(conflict.key) ?? 0],
        ['key', clientKey(Buffer.from(conflict.key, 'latin1'))],
        ['kind', conflict.kind],
        ['lost', formatStamp(conflict.lost)],
        ['value', conflict.value === null ? null : Buffer.from(conflict.value)],
        ['winner', formatStamp(conflict.winner)],
      ]),
    );
  },
};

/** CLIENT's subcommands: a connection's own are for every user, the others' for admins. */
const clientSubcommands: Readonly<Record<string, SubcommandSpec>> = {
  id: { arity: 2, role: 'read' },
  setname: { arity: 3, role: 'read' },
  getname: { arity: 2, role: 'read' },
  info: { arity: 2, role: 'read' },
  setinfo: { arity: 4, role: 'read' },
  'no-evict': { arity: 3, role: 'read' },
  'no-touch': { arity: 3, role: 'read' },
  list: { arity: -2, role: 'admin' },
  kill: { arity: -3, role: 'admin', audit: true },
  unblock: { arity: -3, role: 'admin' },
};

/** CONFIG's subcommands: all for admins, as in Redis. */
const configSubcommands: Readonly<Record<string, SubcommandSpec>> = {
  get: { arity: -3, role: 'admin' },
  set: { arity: -4, role: 'admin', audit: true },
  resetstat: { arity: 2, role: 'admin', audit: true },
};

/** The connection and server commands; `noauth` ones run before AUTH. */
export const adminCommands: Readonly<Record<string, CommandSpec>> = {
  ping: {
    arity: -1,
    write: false,
    role: 'read',
    run: (_c, _s, args) =>
      args.raw.length > 2 ? wrongArity('ping') : (args.raw[1] ?? simple('PONG')),
  },
  echo: { arity: 2, write: false, role: 'read', run: (_c, _s, args) => args.raw[1] },
  hello: { arity: -1, write: false, role: 'read', noauth: true, serial: true, run: hello },
  auth: { arity: -2, write: false, role: 'read', noauth: true, serial: true, run: auth },
  select: {
    arity: 2,
    write: false,
    role: 'read',
    run: (_c, session, args) => {
      const db = databaseIndex(args.text[1]);
      if (typeof db !== 'number') return db;
      session.db = db;
      return ok;
    },
  },
  readonly: { arity: 1, write: false, role: 'read', run: () => ok },
  readwrite: { arity: 1, write: false, role: 'read', run: () => ok },
  client: { arity: -2, write: false, role: 'read', subcommands: clientSubcommands, run: client },
  config: { arity: -2, write: false, role: 'admin', subcommands: configSubcommands, run: config },
  role: { arity: 1, write: false, role: 'read', run: role },
  wait: { arity: 3, write: false, role: 'read', run: wait },
  'tandem.status': { arity: 1, write: false, role: 'read', run: tandem['tandem.status'] },
  'tandem.version': {
    arity: 2,
    write: false,
    role: 'read',
    keys: oneKey,
    run: tandem['tandem.version'],
  },
  'tandem.promote': {
    arity: 2,
    write: true,
    role: 'admin',
    audit: true,
    run: tandem['tandem.promote'],
  },
  'tandem.consistency': {
    arity: 2,
    write: false,
    role: 'read',
    run: tandem['tandem.consistency'],
  },
  'tandem.wait': { arity: 4, write: false, role: 'read', run: tandem['tandem.wait'] },
  'tandem.conflicts': {
    arity: -1,
    write: false,
    role: 'read',
    run: tandem['tandem.conflicts'],
  },
};
