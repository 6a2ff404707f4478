/**
 * The blocking commands of lists and sorted sets (Redis 7.0's BLPOP BRPOP BLMOVE BRPOPLPUSH
 * BLMPOP, BZPOPMIN BZPOPMAX BZMPOP). Each is its non-blocking twin (LMPOP, LMOVE, RPOPLPUSH,
 * ZMPOP) tried at once; when that finds every key empty, the client blocks on this node.
 * Whenever this node applies entries, the clients blocked here whose keys now hold a value
 * of their type try their twin again, one at a time in the order they blocked (Redis serves
 * the longest-waiting client first). The twin is a write through the log (forwarded to the
 * leader from a follower), so two clients blocked on different nodes never both get one
 * element: the loser's twin finds the key empty and it blocks again, keeping its place. A
 * timeout answers Redis's null; a closed connection leaves.
 *
 * A connection may close while its twin is on its way through the log, a window Redis (one
 * thread) does not have: what that twin popped then goes back where it came from, by a
 * give-back write (LPUSH or RPUSH of the elements, ZADD NX of the members with their
 * scores), so an element reaches a client or stays in the store, never neither. BLMOVE and
 * BRPOPLPUSH need none: their element is in the destination, as if the client had been served.
 *
 * Inside MULTI a blocking command does not block, as in Redis: its twin's answer is its own.
 */
import type { Entry } from '../../core/types.js';
import type { NodeHandle } from '../../node/api.js';
import { parseLongDouble } from '../../store/long-double.js';
import type { Logger } from '../../transport/contract.js';
import type { Args, Handler } from './keys.js';
import { error, nullArray, type ErrorReply, type Reply } from './reply.js';
import type { ServerContext, Session } from './session.js';

/**
 * A timeout of Redis's form, in milliseconds: seconds as a long double (a negative one,
 * or `inf`, refused as negative; past 2^63 ms out of range), rounded up; 0 waits for ever.
 */
export function timeoutMsArg(raw: Buffer): number | Reply {
  const parsed = parseLongDouble(raw);
  if (parsed === null) return error('ERR timeout is not a float or out of range');
  const ms = parsed.kind === 'infinite' ? Infinity : Number(raw.toString('latin1')) * 1000;
  if (Number.isNaN(ms)) return error('ERR timeout is not a float or out of range');
  // Redis casts an infinite one to a 64-bit integer, which comes out negative.
  if (ms === Infinity || ms === -Infinity) return error('ERR timeout is negative');
  if (ms > 2 ** 63) return error('ERR timeout is out of range');
  if (ms < 0) return error('ERR timeout is negative');
  // A deadline past what a timer can hold waits for ever, as one of years would anyway.
  return Math.ceil(ms) > timerMsMax ? 0 : Math.ceil(ms);
}

/** The longest delay setTimeout keeps (a longer one fires at once). */
const timerMsMax = 2 ** 31 - 1;

/** The type of value a blocked client waits for. */
export type BlockedOn = 'list' | 'zset';

/** One blocked client. */
interface Waiter {
  readonly session: Session;
  readonly keys: readonly Buffer[];
  readonly type: BlockedOn;
  /** Runs the twin: its reply, or null when every key was still empty. */
  readonly attempt: () => Promise<Reply | null>;
  readonly resolve: (reply: Reply) => void;
  readonly timer: NodeJS.Timeout | null;
  readonly onTimeout: Reply;
  /** Puts back what a twin popped for a client that left meanwhile (null: nothing to). */
  readonly giveBack: ((reply: Reply) => Promise<Reply>) | null;
  /** Its connection closed while its twin ran. */
  abandoned: boolean;
  /** Its twin is running: a timeout now waits for its answer (an element it popped is its). */
  attempting: boolean;
  /** Its timeout passed while its twin ran. */
  expired: boolean;
  /** CLIENT UNBLOCK asked while its twin ran: decided once the twin has answered. */
  unblock: { readonly reply: Reply; readonly done: (unblocked: boolean) => void } | null;
}

/** What a client unblocked by CLIENT UNBLOCK ... ERROR gets (Redis 7.0's text). */
export const unblockedError = error('UNBLOCKED client unblocked via CLIENT UNBLOCK');

/** The clients blocked on this node, in the order they blocked. */
export class BlockedClients {
  readonly #node: NodeHandle;
  readonly #logger: Logger;
  #waiters: Waiter[] = [];
  #waking = false;
  #wakeAgain = false;

  constructor(node: NodeHandle, logger: Logger) {
    this.#node = node;
    this.#logger = logger;
  }

  /** How many clients are blocked here (INFO's `blocked_clients`). */
  get count(): number {
    return this.#waiters.length;
  }

  /**
   * Blocks `session` on `keys` until `attempt` gives a reply or `timeoutMs` passes (0: for
   * ever), then answers `onTimeout`. `giveBack` undoes an attempt whose client left.
   */
  block(
    session: Session,
    keys: readonly Buffer[],
    type: BlockedOn,
    timeoutMs: number,
    attempt: () => Promise<Reply | null>,
    onTimeout: Reply,
    giveBack: ((reply: Reply) => Promise<Reply>) | null,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      const timer =
        timeoutMs === 0
          ? null
          : setTimeout(() => {
              if (waiter.attempting) {
                waiter.expired = true;
                return;
              }
              this.#remove(waiter);
              resolve(onTimeout);
            }, timeoutMs);
      const waiter: Waiter = {
        session,
        keys,
        type,
        attempt,
        resolve,
        timer,
        onTimeout,
        giveBack,
        abandoned: false,
        attempting: false,
        expired: false,
        unblock: null,
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * A connection closed: its blocked command, if any, is dropped unanswered; if its twin is
   * running, what it pops is given back.
   */
  forget(session: Session): void {
    for (const waiter of this.#waiters.filter((item) => item.session === session)) {
      if (waiter.attempting) waiter.abandoned = true;
      this.#remove(waiter);
    }
  }

  /**
   * CLIENT UNBLOCK: answers the client with id `sessionId`, if it is blocked here, with
   * its timeout reply (`how` 'timeout') or UNBLOCKED ('error'), and says whether it was.
   * While its twin runs the answer waits for the twin's: a client the twin served was
   * served before it could be unblocked (false), as in Redis, where the two never overlap.
   */
  unblock(sessionId: number, how: 'timeout' | 'error'): boolean | Promise<boolean> {
    const waiter = this.#waiters.find((item) => item.session.id === sessionId);
    if (waiter === undefined || waiter.unblock !== null) return false;
    const reply = how === 'error' ? unblockedError : waiter.onTimeout;
    if (waiter.attempting) {
      return new Promise<boolean>((done) => {
        waiter.unblock = { reply, done };
      });
    }
    this.#remove(waiter);
    waiter.resolve(reply);
    return true;
  }

  /** This node applied `entries`: blocked clients whose keys may now hold a list try again. */
  onApplied(entries: readonly Entry[]): void {
    if (entries.length === 0 || this.#waiters.length === 0) return;
    if (this.#waking) {
      this.#wakeAgain = true;
      return;
    }
    void this.#wake();
  }

  async #wake(): Promise<void> {
    this.#waking = true;
    try {
      do {
        this.#wakeAgain = false;
        for (const waiter of [...this.#waiters]) {
          if (!this.#waiters.includes(waiter) || !(await this.#holds(waiter))) continue;
          let reply: Reply | null;
          waiter.attempting = true;
          try {
            reply = await waiter.attempt();
          } catch (thrown) {
            reply = error(thrown instanceof Error ? thrown.message : String(thrown));
          } finally {
            waiter.attempting = false;
          }
          const unblock = waiter.unblock;
          waiter.unblock = null;
          if (waiter.abandoned) {
            if (reply !== null && !isError(reply)) await this.#giveBack(waiter, reply);
            unblock?.done(false);
            continue;
          }
          if (reply === null && unblock !== null) {
            this.#remove(waiter);
            waiter.resolve(unblock.reply);
            unblock.done(true);
            continue;
          }
          unblock?.done(false);
          if (reply === null && !waiter.expired) continue;
          this.#remove(waiter);
          waiter.resolve(reply ?? waiter.onTimeout);
        }
      } while (this.#wakeAgain && this.#waiters.length > 0);
    } finally {
      this.#waking = false;
    }
  }

  /** Whether one of a waiter's keys holds a value of its type on this node now. */
  async #holds({ keys, type }: Waiter): Promise<boolean> {
    const { value } = await this.#node.read({ consistency: 'stale' }, async (store) => {
      const now = Date.now();
      for (const key of keys) if ((await store.type(key, now)) === type) return true;
      return false;
    });
    return value;
  }

  /** Puts back what the twin of a client that left popped; a failure is logged. */
  async #giveBack(waiter: Waiter, reply: Reply): Promise<void> {
    if (waiter.giveBack === null) return;
    try {
      const answer = await waiter.giveBack(reply);
      if (isError(answer)) throw new Error((answer as ErrorReply).text);
      this.#logger.info(
        { keys: waiter.keys.map((key) => key.toString('latin1')) },
        'gave back what a blocked client popped before it left',
      );
    } catch (thrown) {
      this.#logger.warn(
        { err: thrown, keys: waiter.keys.map((key) => key.toString('latin1')) },
        'could not give back what a blocked client popped before it left',
      );
    }
  }

  #remove(waiter: Waiter): void {
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    this.#waiters = this.#waiters.filter((item) => item !== waiter);
  }
}

/** Whether a twin's reply says that every key was empty (LMPOP's null array, LMOVE's nil). */
function emptyReply(reply: Reply): boolean {
  return reply === null || reply === nullArray;
}

/** Runs `twin` on `args`; null when it found every key empty. */
async function tryTwin(
  twin: Handler,
  context: ServerContext,
  session: Session,
  args: Args,
): Promise<Reply | null> {
  const reply = await twin(context, session, args);
  return emptyReply(reply) ? null : reply;
}

function argsOf(raw: readonly Buffer[]): Args {
  return { raw, text: raw.map((arg) => arg.toString('latin1')) };
}

/** A blocking command's arguments, parsed: its twin's, its keys, its timeout. */
class BlockingCall {
  constructor(
    readonly twinArgs: Args,
    readonly keys: readonly Buffer[],
    readonly timeoutMs: number,
    /** What the command answers when it times out (or finds nothing inside MULTI). */
    readonly timedOut: Reply,
  ) {}
}

function isError(reply: Reply): boolean {
  return typeof reply === 'object' && reply !== null && 'kind' in reply && reply.kind === 'error';
}

/**
 * How to put back what a twin popped for a client that left, from the twin's reply and
 * arguments: the write to run and its arguments.
 */
type GiveBack = (reply: Reply, twinArgs: Args) => { readonly run: Handler; readonly raw: Buffer[] };

/**
 * A blocking command: `parse` turns its arguments into a `BlockingCall` (or an error
 * reply); `shape` turns the twin's reply into the command's own; it waits for keys of
 * `type`, and `giveBack` (if any) undoes a twin whose client left while it ran.
 */
export function blocking(
  twin: Handler,
  parse: (args: Args) => BlockingCall | Reply,
  shape: (reply: Reply) => Reply,
  type: BlockedOn,
  giveBack: GiveBack | null,
): Handler {
  return async (context, session, args) => {
    const call = parse(args);
    if (!(call instanceof BlockingCall)) return call;
    // Inside EXEC the twin is captured, and the capture ends before its answer comes.
    const inTransaction = session.capture !== null;
    const first = await twin(context, session, call.twinArgs);
    if (isError(first)) return first;
    if (!emptyReply(first)) return shape(first);
    if (inTransaction) return call.timedOut;
    const undo =
      giveBack === null
        ? null
        : async (reply: Reply): Promise<Reply> => {
            const { run, raw } = giveBack(reply, call.twinArgs);
            return run(context, session, argsOf(raw));
          };
    const reply = await context.blocked.block(
      session,
      call.keys,
      type,
      call.timeoutMs,
      () => tryTwin(twin, context, session, call.twinArgs),
      call.timedOut,
      undo,
    );
    return reply === call.timedOut || isError(reply) ? reply : shape(reply);
  };
}

/**
 * LMPOP's reply `[key, [element, ...]]`, given back: pushed again at the end it came
 * from, last popped first, so the list reads as before the pop.
 */
function listGiveBack(push: (end: 'LEFT' | 'RIGHT') => Handler): GiveBack {
  return (reply, twinArgs) => {
    // LMPOP numkeys key [key ...] LEFT|RIGHT ...: the side follows the keys.
    const side = twinArgs.text[2 + Number(twinArgs.text[1])]?.toUpperCase();
    const end = side === 'RIGHT' ? 'RIGHT' : 'LEFT';
    const [key, elements] = reply as readonly Reply[];
    const popped = [...(elements as readonly Reply[])].reverse() as Buffer[];
    return {
      run: push(end),
      raw: [Buffer.from(end === 'LEFT' ? 'LPUSH' : 'RPUSH'), key as Buffer, ...popped],
    };
  };
}

/**
 * BLPOP's, BRPOP's, BZPOPMIN's and BZPOPMAX's `key [key ...] timeout` as a call of their
 * twin (LMPOP or ZMPOP) popping one from `side`.
 */
function popOneCall(args: Args, twin: 'LMPOP' | 'ZMPOP', side: string): BlockingCall | Reply {
  const timeoutMs = timeoutMsArg(args.raw.at(-1) as Buffer);
  if (typeof timeoutMs !== 'number') return timeoutMs;
  const keys = args.raw.slice(1, -1);
  const raw = [
    Buffer.from(twin),
    Buffer.from(String(keys.length)),
    ...keys,
    Buffer.from(side),
    Buffer.from('COUNT'),
    Buffer.from('1'),
  ];
  return new BlockingCall(argsOf(raw), keys, timeoutMs, nullArray);
}

/**
 * BLPOP and BRPOP key [key ...] timeout: [key, element] (LMPOP's, one element) or null.
 * `push` is LPUSH's or RPUSH's handler, to give back an element whose client left.
 */
export function blockingPop(
  end: 'LEFT' | 'RIGHT',
  lmpop: Handler,
  push: (end: 'LEFT' | 'RIGHT') => Handler,
): Handler {
  return blocking(
    lmpop,
    (args) => popOneCall(args, 'LMPOP', end),
    (reply) => {
      const [key, elements] = reply as readonly Reply[];
      return [key ?? null, (elements as readonly Reply[])[0] ?? null];
    },
    'list',
    listGiveBack(push),
  );
}

/** BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout and BRPOPLPUSH source destination timeout. */
export function blockingMove(twinName: 'LMOVE' | 'RPOPLPUSH', twin: Handler): Handler {
  return blocking(
    twin,
    (args) => {
      const timeoutMs = timeoutMsArg(args.raw.at(-1) as Buffer);
      if (typeof timeoutMs !== 'number') return timeoutMs;
      const raw = [Buffer.from(twinName), ...args.raw.slice(1, -1)];
      return new BlockingCall(argsOf(raw), [args.raw[1] as Buffer], timeoutMs, null);
    },
    (reply) => reply,
    'list',
    // The element is in the destination already, as if the client had been served.
    null,
  );
}

/** The keys of a blocking command whose `numkeys` is its third argument (BLMPOP, BZMPOP). */
function keysAfterTimeout(args: Args): Buffer[] {
  const count = Number(args.text[2]);
  return Number.isSafeInteger(count) && count > 0 ? args.raw.slice(3, 3 + count) : [];
}

/**
 * BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP's answer, or null.
 * `push` is LPUSH's or RPUSH's handler, to give back the elements of a client that left.
 */
export function blockingMultiPop(
  lmpop: Handler,
  push: (end: 'LEFT' | 'RIGHT') => Handler,
): Handler {
  return blocking(
    lmpop,
    (args) => {
      const timeoutMs = timeoutMsArg(args.raw[1] as Buffer);
      if (typeof timeoutMs !== 'number') return timeoutMs;
      const raw = [Buffer.from('LMPOP'), ...args.raw.slice(2)];
      return new BlockingCall(argsOf(raw), keysAfterTimeout(args), timeoutMs, nullArray);
    },
    (reply) => reply,
    'list',
    listGiveBack(push),
  );
}

/**
 * ZMPOP's reply `[key, [[member, score], ...]]`, given back by `ZADD key NX score member
 * ...`: a member added again meanwhile keeps its newer score.
 */
function zsetGiveBack(zadd: Handler): GiveBack {
  return (reply) => {
    const [key, entries] = reply as readonly Reply[];
    const pairs = (entries as readonly (readonly Reply[])[]).flatMap(([member, score]) => [
      Buffer.from(scoreText(score ?? null)),
      member as Buffer,
    ]);
    return { run: zadd, raw: [Buffer.from('ZADD'), key as Buffer, Buffer.from('NX'), ...pairs] };
  };
}

/** A score as a sorted set reply carries it (RESP2 text, RESP3 double): its exact text. */
function scoreText(score: Reply): string {
  if (typeof score === 'object' && score !== null && 'kind' in score && score.kind === 'double') {
    return score.text ?? String(score.value);
  }
  return Buffer.isBuffer(score) ? score.toString('latin1') : String(score);
}

/**
 * BZPOPMIN and BZPOPMAX key [key ...] timeout: [key, member, score] (ZMPOP's, one member)
 * or null. `zadd` is ZADD's handler, to give back a member whose client left.
 */
export function blockingZpop(side: 'MIN' | 'MAX', zmpop: Handler, zadd: Handler): Handler {
  return blocking(
    zmpop,
    (args) => popOneCall(args, 'ZMPOP', side),
    (reply) => {
      const [key, entries] = reply as readonly Reply[];
      const [member, score] = (entries as readonly (readonly Reply[])[])[0] ?? [];
      return [key ?? null, member ?? null, score ?? null];
    },
    'zset',
    zsetGiveBack(zadd),
  );
}

/** BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: ZMPOP's answer, or null. */
export function blockingZmpop(zmpop: Handler, zadd: Handler): Handler {
  return blocking(
    zmpop,
    (args) => {
      const timeoutMs = timeoutMsArg(args.raw[1] as Buffer);
      if (typeof timeoutMs !== 'number') return timeoutMs;
      const raw = [Buffer.from('ZMPOP'), ...args.raw.slice(2)];
      return new BlockingCall(argsOf(raw), keysAfterTimeout(args), timeoutMs, nullArray);
    },
    (reply) => reply,
    'zset',
    zsetGiveBack(zadd),
  );
}
