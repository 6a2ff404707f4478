/**
 * Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis 7.0's replies and error
 * texts. MULTI queues the commands that follow (each checked at once for its name, arity
 * and the user's permissions, as Redis checks them; a refusal makes EXEC answer
 * EXECABORT). EXEC runs the queued commands' handlers with the session's `capture` set, so
 * that what each would read or write becomes one step of a single `multi` entry (the
 * handlers themselves are the ones every command runs); the entry carries the watched keys
 * with the versions and expiries their client saw, and every replica applies it whole, or
 * not at all when one changed. Reads are answered from the entry's apply, after the writes
 * before them: each read's own query runs on the view of its keys that the apply took at
 * its step (of every type), one point in the log for the whole transaction, and together
 * they answer at most `transactionReadBytesMax` bytes. A transaction with only
 * reads goes through the log too (one path, one answer); one with nothing to read, write
 * or watch is answered here. On a follower EXEC sends the whole transaction to the leader
 * (`TANDEM.EXEC`), as a write is forwarded.
 */
import { Packr } from 'msgpackr';
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import {
  transactionBytesMax,
  transactionStepsMax,
  validateCommand,
  watchedKeysMax,
  type Bytes,
  type Command,
  type MultiCommand,
  type TransactionStep,
  type WatchedKey,
} from '../../store/commands.js';
import type { ApplyResult, KeyReader, KeyVersion, StoreReader } from '../../store/contract.js';
import { clientKey } from '../../store/databases.js';
import { clientReplyOf, databaseArg } from './databases.js';
import type { Args, Handler } from './keys.js';
import { error, nullArray, ok, simple, type ErrorReply, type Reply } from './reply.js';
import {
  applied,
  errorReply,
  proposeFor,
  readFor,
  type ResultFormat,
  type ServerContext,
  type Session,
  type TransactionCapture,
} from './session.js';
import {
  allKeys,
  arityFits,
  requirementOf,
  wrongArity,
  type CommandSpec,
  type Requirement,
} from './spec.js';

/** The most commands one transaction may queue, unless the server is told otherwise. */
export const transactionCommandsMaxDefault = 10_000;

/** Commands that act on the transaction itself: run at once, never queued (as Redis). */
export const transactionControls: ReadonlySet<string> = new Set([
  'exec',
  'discard',
  'multi',
  'watch',
  'quit',
  'reset',
]);

/**
 * Commands Tandem refuses inside MULTI (Redis 7.2's "Command not allowed inside a
 * transaction"): the subscribe family, PUBLISH and ACL (their entries are answered on their
 * own), WAIT and the node's own commands, and the reads of the whole keyspace (KEYS, SCAN,
 * DBSIZE, RANDOMKEY: a transaction's reads are of the keys it names). Serial commands
 * (AUTH, HELLO) are refused as well: they change who the connection is.
 */
const refusedInTransaction: ReadonlySet<string> = new Set([
  'subscribe',
  'psubscribe',
  'unsubscribe',
  'punsubscribe',
  'publish',
  'acl',
  'wait',
  'tandem.wait',
  'tandem.promote',
  'tandem.forward',
  'tandem.forwardas',
  'tandem.forwardin',
  'tandem.link',
  'tandem.exec',
  'keys',
  'scan',
  'dbsize',
  'randomkey',
  'swapdb',
]);

const notAllowed = error('ERR Command not allowed inside a transaction');
const execAbort = error('EXECABORT Transaction discarded because of previous errors.');
/** Redis 7.0's refusal, at EXEC, of a queued command the user may no longer run. */
function aclChanged(reason: string): ErrorReply {
  return error(
    'NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. ' +
      `This command is no longer allowed for the following reason: ${reason}`,
  );
}

/**
 * Queues a command of a session in MULTI: QUEUED, or the refusal that makes its EXEC
 * answer EXECABORT (a command not allowed in a transaction, or one past `commandsMax`).
 */
export function queueCommand(
  session: Session,
  name: string,
  spec: CommandSpec,
  args: Args,
  commandsMax: number,
): Reply {
  const transaction = session.transaction;
  if (transaction === null) throw new TandemError('TANDEM_BAD_REQUEST', 'not in MULTI');
  if (spec.serial === true || refusedInTransaction.has(name)) {
    transaction.failed = true;
    return notAllowed;
  }
  if (transaction.commands.length >= commandsMax) {
    transaction.failed = true;
    return error(`ERR a transaction holds at most ${commandsMax} commands`);
  }
  // No entry could hold more than this: refusing it here bounds what a connection keeps.
  const bytes = args.raw.reduce((sum, arg) => sum + arg.byteLength, 0);
  if (transaction.bytes + bytes > transactionBytesMax) {
    transaction.failed = true;
    return error(`ERR a transaction holds at most ${transactionBytesMax} bytes of commands`);
  }
  transaction.bytes += bytes;
  transaction.commands.push(args.raw);
  // The commands queued after a SELECT name the keys of the database it selects (as EXEC
  // will run it first); one that will fail changes nothing.
  if (name === 'select') {
    const db = databaseArg(args.text[1]);
    if (db !== null) transaction.db = db;
  }
  return simple('QUEUED');
}

/**
 * What a command refused before it ran does to the session's transaction, as Redis's
 * rejectCommand: it marks the transaction failed, and a refused EXEC discards it and
 * answers why.
 */
export function refusedInMulti(session: Session, name: string, refusal: Reply): Reply {
  if (session.transaction === null) return refusal;
  session.transaction.failed = true;
  if (name !== 'exec' || !isError(refusal)) return refusal;
  discardTransaction(session);
  const text = refusal.text.replace(/^ERR /, '');
  return error(`EXECABORT Transaction discarded because of: ${text}`);
}

function isError(reply: Reply): reply is ErrorReply {
  return typeof reply === 'object' && reply !== null && 'kind' in reply && reply.kind === 'error';
}

/** Ends the session's transaction and forgets its watched keys. */
export function discardTransaction(session: Session): void {
  session.transaction = null;
  session.watched.clear();
}

function multi(_context: ServerContext, session: Session): Reply {
  if (session.transaction !== null) return error('ERR MULTI calls can not be nested');
  session.transaction = { commands: [], bytes: 0, failed: false, db: session.db };
  return ok;
}

function discard(_context: ServerContext, session: Session): Reply {
  if (session.transaction === null) return error('ERR DISCARD without MULTI');
  discardTransaction(session);
  return ok;
}

function unwatch(_context: ServerContext, session: Session): Reply {
  session.watched.clear();
  return ok;
}

/**
 * WATCH key...: notes each key's version and expiry as this connection reads it now (a
 * key watched already keeps what was seen first, as in Redis). Serial, so that a MULTI and
 * EXEC right behind it see every key noted.
 */
function watch(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (session.transaction !== null) return error('ERR WATCH inside MULTI is not allowed');
  const keys = args.raw.slice(1).filter((key) => !session.watched.has(key.toString('latin1')));
  if (session.watched.size + keys.length > watchedKeysMax) {
    return error(`ERR a connection may watch at most ${watchedKeysMax} keys`);
  }
  const noted = readFor(context, session, (store, now) => seenOf(store, keys, now));
  const note = (seen: WatchedKey[]): Reply => {
    for (const watched of seen) {
      const text = Buffer.from(watched.key).toString('latin1');
      if (!session.watched.has(text)) session.watched.set(text, watched);
    }
    return ok;
  };
  return noted instanceof Promise ? noted.then(note) : note(noted);
}

/** What a WATCH sees of `keys` now, of any type: version and expiry, or null when absent. */
function seenOf(
  store: StoreReader,
  keys: readonly Buffer[],
  now: number,
): WatchedKey[] | Promise<WatchedKey[]> {
  const versions = keys.map((key) => store.versionOf(key, now));
  const toSeen = (found: readonly (KeyVersion | null)[]): WatchedKey[] =>
    found.map((noted, i) => ({
      key: keys[i] as Buffer,
      seen:
        noted === null
          ? null
          : { index: noted.version.index, term: noted.version.term, expiresAt: noted.expiresAt },
    }));
  if (versions.some((noted) => noted instanceof Promise)) {
    return Promise.all(versions).then(toSeen);
  }
  return toSeen(versions as (KeyVersion | null)[]);
}

/** `TANDEM.EXEC`'s payload: the queued commands and the watched keys. */
interface ForwardedTransaction {
  readonly commands: readonly (readonly Buffer[])[];
  readonly watched: readonly WatchedKey[];
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/** The most bytes of a forwarded transaction: a full entry, and room for its framing. */
const forwardedBytesMax = 32 * 1024 * 1024;

/** Decodes `TANDEM.EXEC`'s payload, or null when it is not one. */
function decodeForwarded(bytes: Buffer): ForwardedTransaction | null {
  if (bytes.byteLength > forwardedBytesMax) return null;
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch {
    return null;
  }
  if (typeof decoded !== 'object' || decoded === null) return null;
  const { commands, watched } = decoded as Record<string, unknown>;
  const isCommand = (command: unknown): boolean =>
    Array.isArray(command) &&
    command.length > 0 &&
    command.every((arg) => arg instanceof Uint8Array);
  if (!Array.isArray(commands) || commands.length > transactionStepsMax) return null;
  if (!commands.every(isCommand) || !Array.isArray(watched)) return null;
  // The watched keys' shape is checked with the entry (validateCommand).
  return {
    commands: commands.map((command: Uint8Array[]) => command.map((arg) => asBuffer(arg))),
    watched: watched as WatchedKey[],
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The most bytes a transaction's reads may answer, unless the server is told otherwise. */
export const transactionReadBytesMaxDefault = 64 * 1024 * 1024;

/** EXEC's error in the place of a read past the transaction's `readBytesMax`. */
function readsTooLarge(readBytesMax: number): TandemError {
  return new TandemError(
    'TANDEM_BAD_REQUEST',
    `ERR the transaction's reads return more than ${readBytesMax} bytes (transactionReadBytesMax)`,
  );
}

/**
 * About how many bytes `reply` takes (each bulk's bytes, a few for each other element),
 * counted up to just past `budget`: enough to tell whether it fits.
 */
export function replyBytes(reply: unknown, budget: number): number {
  let bytes = 0;
  const stack: unknown[] = [reply];
  while (stack.length > 0 && bytes <= budget) {
    const item = stack.pop();
    if (Buffer.isBuffer(item)) bytes += item.byteLength + 8;
    else if (typeof item === 'string') bytes += item.length + 8;
    else if (Array.isArray(item)) {
      bytes += 8;
      stack.push(...item);
    } else if (item instanceof Map) {
      bytes += 8;
      for (const entry of item) stack.push(entry);
    } else if (typeof item === 'object' && item !== null) {
      bytes += 8;
      stack.push(...Object.values(item));
    } else bytes += 8;
  }
  return bytes;
}

/**
 * Collects the steps of one EXEC while its queued commands run, and answers each once the
 * entry applied: a write with its own format, a read by running its query on the view of
 * its keys that the entry's apply took at that step (see `transactionReader`), in order,
 * until the reads have answered `readBytesMax` bytes.
 */
class TransactionBuilder implements TransactionCapture {
  readonly steps: TransactionStep[] = [];
  /** `settlers[i]` answers `steps[i]` with its result. */
  readonly #settlers: ((result: ApplyResult, at: number) => Promise<void> | void)[] = [];
  /** The keys of the command running now: what a read of it may look at. */
  keys: readonly Buffer[] = [];
  /** The bytes the transaction's reads answered so far. */
  #readBytes = 0;

  constructor(readonly readBytesMax: number) {}

  write(command: Command, format: ResultFormat): Promise<Reply> {
    try {
      validateCommand(command);
      if (command.type === 'multi' || command.type === 'expire-sweep') throw notInTransaction();
      if (command.type === 'publish' || command.type === 'sql' || command.type === 'acl') {
        throw notInTransaction();
      }
    } catch (thrown) {
      return Promise.reject(thrown);
    }
    this.steps.push(command);
    return new Promise((resolve) => {
      this.#settlers.push((result) => resolve(applied(result, format)));
    });
  }

  read<T>(query: (store: StoreReader, nowMs: number) => T | Promise<T>): Promise<T> {
    const keys = this.keys;
    this.steps.push({ type: 'read', keys });
    return new Promise<T>((resolve, reject) => {
      this.#settlers.push(async (result, at) => {
        try {
          if (this.#readBytes > this.readBytesMax) throw readsTooLarge(this.readBytesMax);
          assert(result !== null && result.ok, 'a read step without its view');
          const answer = await query(transactionReader(keys, result.value as KeyReader), at);
          this.#readBytes += replyBytes(answer, this.readBytesMax - this.#readBytes);
          if (this.#readBytes > this.readBytesMax) throw readsTooLarge(this.readBytesMax);
          resolve(answer);
        } catch (thrown) {
          reject(thrown);
        }
      });
    });
  }

  /** Answers every step from the entry's results, `results[i]` for `steps[i]`, in order. */
  async settle(results: readonly ApplyResult[], at: number): Promise<void> {
    for (const [i, settle] of this.#settlers.entries()) await settle(results[i] ?? null, at);
  }
}

function notInTransaction(): TandemError {
  return new TandemError('TANDEM_BAD_REQUEST', 'ERR Command not allowed inside a transaction');
}

/**
 * A transaction's reader of the keys a read named: the view the entry's apply took of
 * them at that step, which answers as the store does (it is the in-memory namespace's own
 * reads). A key the command did not name, and the reads of the whole keyspace, are refused.
 */
function transactionReader(keys: readonly Buffer[], view: KeyReader): StoreReader {
  const named = (key: Bytes): void => {
    if (!keys.some((one) => one.equals(key))) throw notInTransaction();
  };
  const wholeKeyspace = (): never => {
    throw notInTransaction();
  };
  const reader: Record<string, unknown> = {
    dbsize: wholeKeyspace,
    keyspaceStats: wholeKeyspace,
    randomKey: wholeKeyspace,
    keys: wholeKeyspace,
    scan: wholeKeyspace,
    query: wholeKeyspace,
    exists: (all: readonly Bytes[], nowMs: number) => {
      all.forEach(named);
      return view.exists(all, nowMs);
    },
  };
  for (const method of keyReads) {
    reader[method] = (key: Bytes, ...rest: unknown[]) => {
      named(key);
      return (view[method] as (key: Bytes, ...rest: unknown[]) => unknown)(key, ...rest);
    };
  }
  return reader as unknown as StoreReader;
}

/** The reads of one key (its first argument) that a transaction's view answers. */
const keyReads = [
  'get',
  'versionOf',
  'ttlMs',
  'type',
  'hashValues',
  'hashSize',
  'hashAll',
  'hashEncoding',
  'hashScan',
  'setAll',
  'setContains',
  'setRandom',
  'setSize',
  'setEncoding',
  'setScan',
  'zsetScores',
  'zsetSize',
  'zsetRank',
  'zsetRange',
  'zsetCount',
  'zsetEncoding',
  'zsetScan',
  'listSize',
  'listElements',
  'listElement',
  'listIndexes',
] as const satisfies readonly Exclude<keyof KeyReader, 'exists'>[];

/**
 * Runs one queued command as `session` inside EXEC: its permissions checked again (Redis
 * 7.0 answers a change since queueing with its own NOPERM text), then its handler.
 */
function runQueued(
  context: ServerContext,
  session: Session,
  builder: TransactionBuilder,
  table: Readonly<Record<string, CommandSpec>>,
  raw: readonly Buffer[],
): Reply | Promise<Reply> {
  const args: Args = { raw, text: raw.map((arg) => arg.toString('utf8')) };
  const name = args.text[0]?.toLowerCase() ?? '';
  const spec = Object.hasOwn(table, name) ? table[name] : undefined;
  if (spec === undefined) return error(`ERR unknown command '${name.slice(0, 128)}'`);
  if (!arityFits(spec.arity, raw.length)) return wrongArity(name);
  if (transactionControls.has(name) || spec.serial === true || refusedInTransaction.has(name)) {
    return notAllowed;
  }
  const requirement = requirementOf(name, spec, args);
  if (!isRequirement(requirement)) return requirement;
  // The queued keys are in their stored form; the user's patterns are of the client's keys.
  const refusal = permitted(context, session, {
    ...requirement,
    keys: requirement.keys.map(clientKey),
  });
  if (refusal !== null) return refusal;
  builder.keys = requirement.keys;
  // Counted as Redis counts a command EXEC runs: a call of its own, failed if it errs.
  const counters = context.stats.counters(requirement.display);
  const startedMs = performance.now();
  const reply = clientReplyOf(name, runCaught(context, session, spec, args));
  context.stats.ran(counters, Math.round((performance.now() - startedMs) * 1000));
  const failed = (done: Reply): Reply => {
    if (typeof done === 'object' && done !== null && 'kind' in done && done.kind === 'error') {
      counters.failedCalls++;
    }
    return done;
  };
  return reply instanceof Promise ? reply.then(failed) : failed(reply);
}

/** Runs `spec`'s handler; what it throws becomes its error reply. */
function runCaught(
  context: ServerContext,
  session: Session,
  spec: CommandSpec,
  args: Args,
): Reply | Promise<Reply> {
  try {
    const reply = spec.run(context, session, args);
    return reply instanceof Promise
      ? reply.catch((thrown) => errorReply(thrown, context.logger))
      : reply;
  } catch (thrown) {
    return errorReply(thrown, context.logger);
  }
}

function isRequirement(value: Requirement | Reply): value is Requirement {
  return typeof value === 'object' && value !== null && 'display' in value;
}

/**
 * Null when `session`'s user may still run `requirement`. An admin action is logged when
 * queued; on the leader, a follower's transaction logs it here, as a forwarded write does.
 */
function permitted(
  context: ServerContext,
  session: Session,
  requirement: Requirement,
): ErrorReply | null {
  const user = session.user;
  if (user === null) return error('NOAUTH Authentication required.');
  const refusal = context.access.check(user, requirement.role, requirement.keys);
  if (refusal !== null) {
    return aclChanged(
      refusal.role === null
        ? 'no permission to touch the specified keys'
        : 'no permission to execute the command or subcommand',
    );
  }
  if (requirement.audit && session.forwarded) {
    context.access.audit.admin(user, requirement.display, {
      client: session.remoteAddress,
      forwarded: true,
    });
  }
  return null;
}

/**
 * Runs a transaction: its commands through their handlers (captured into one entry), the
 * entry proposed (or, on a follower, the whole transaction forwarded to the leader), and
 * EXEC's answer: one reply per command, or the null array when a watched key changed.
 */
function runTransaction(
  context: ServerContext,
  session: Session,
  table: Readonly<Record<string, CommandSpec>>,
  transaction: ForwardedTransaction,
): Reply | Promise<Reply> {
  const builder = new TransactionBuilder(context.transactionReadBytesMax);
  const replies: (Reply | Promise<Reply>)[] = [];
  // A queued SELECT sets the database of the handlers after it (FLUSHDB's) as they run
  // here; the connection keeps it only once the transaction has run (not when a watched
  // key aborted it), and a follower forwards the transaction from the database it began in.
  const dbBefore = session.db;
  session.capture = builder;
  try {
    for (const raw of transaction.commands) {
      replies.push(runQueued(context, session, builder, table, raw));
    }
  } finally {
    session.capture = null;
  }
  const dbAfter = session.db;
  session.db = dbBefore;
  if (dbAfter !== dbBefore) session.databaseSettling = true;
  const ran = (reply: Reply): Reply => {
    if (Array.isArray(reply)) session.db = dbAfter;
    return reply;
  };
  if (builder.steps.length === 0 && transaction.watched.length === 0) {
    return Promise.all(replies).then(ran);
  }
  const command: MultiCommand = {
    type: 'multi',
    steps: builder.steps,
    watched: transaction.watched,
    at: Date.now(),
  };
  // Set when the entry applied here; left undefined when the leader ran the transaction.
  let results: readonly ApplyResult[] | null | undefined;
  const format = (value: unknown): Reply => {
    results = value as readonly ApplyResult[] | null;
    return null;
  };
  const forward = [Buffer.from('TANDEM.EXEC'), Buffer.from(packr.pack(transaction))];
  const proposed = proposeFor(context, session, () => context.node.write(command), format, forward);
  return proposed.then((reply) => {
    if (results === undefined) return ran(reply ?? nullArray); // the leader's EXEC answer
    if (results === null) return nullArray;
    return builder.settle(results, command.at).then(() => Promise.all(replies).then(ran));
  }, entryRefusal);
}

/** EXEC's error when its entry could not enter the log (too large, say): nothing applied. */
function entryRefusal(thrown: unknown): never {
  if (thrown instanceof TandemError && thrown.code === 'TANDEM_ENTRY_TOO_LARGE') {
    throw new TandemError(
      'TANDEM_ENTRY_TOO_LARGE',
      `ERR the transaction is too large for one log entry: ${thrown.message}`,
      { cause: thrown },
    );
  }
  throw thrown;
}

/** EXEC: runs the queued commands, EXECABORT when one was refused, or the error without MULTI. */
function exec(table: Readonly<Record<string, CommandSpec>>): Handler {
  return (context, session) => {
    const transaction = session.transaction;
    if (transaction === null) return error('ERR EXEC without MULTI');
    const watched = [...session.watched.values()];
    discardTransaction(session);
    if (transaction.failed) return execAbort;
    return runTransaction(context, session, table, { commands: transaction.commands, watched });
  };
}

/**
 * TANDEM.EXEC payload: a follower's transaction, run here as on the follower's EXEC (the
 * commands were checked there when queued; here they are checked again as any EXEC checks
 * them, and the follower's watched versions are compared when the entry applies).
 */
function forwardedExec(table: Readonly<Record<string, CommandSpec>>): Handler {
  return (context, session, args) => {
    const transaction = decodeForwarded(args.raw[1] as Buffer);
    if (transaction === null) return error('ERR TANDEM.EXEC takes a transaction');
    return runTransaction(context, session, table, transaction);
  };
}

/**
 * The transaction commands, given the table that EXEC dispatches the queued commands from.
 * WATCH names its keys, so a user's key patterns apply to it as in Redis.
 */
export function transactionCommands(
  table: Readonly<Record<string, CommandSpec>>,
): Record<string, CommandSpec> {
  return {
    multi: { arity: 1, write: false, role: 'read', run: multi },
    exec: { arity: 1, write: false, role: 'read', run: exec(table) },
    discard: { arity: 1, write: false, role: 'read', run: discard },
    watch: { arity: -2, write: false, role: 'read', keys: allKeys, serial: true, run: watch },
    unwatch: { arity: 1, write: false, role: 'read', run: unwatch },
    'tandem.exec': { arity: 2, write: true, role: 'read', run: forwardedExec(table) },
  };
}
