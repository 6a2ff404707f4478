/**
 * The blocking list commands (Redis 7.0's BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP). Each is
 * its non-blocking twin (LMPOP, LMOVE, RPOPLPUSH) tried at once; when that finds every key
 * empty, the client blocks on this node. Whenever this node applies entries, the clients
 * blocked here whose keys now hold a list try their twin again, one at a time in the order
 * they blocked (Redis serves the longest-waiting client first). The twin is a write through
 * the log (forwarded to the leader from a follower), so two clients blocked on different
 * nodes never both get one element: the loser's twin finds the list empty and it blocks
 * again, keeping its place. A timeout answers Redis's null; a closed connection leaves.
 *
 * Inside MULTI a blocking command does not block, as in Redis: its twin's answer is its own.
 */
import type { Entry } from '../../core/types.js';
import type { NodeHandle } from '../../node/api.js';
import { parseLongDouble } from '../../store/long-double.js';
import type { Args, Handler } from './keys.js';
import { error, nullArray, type Reply } from './reply.js';
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

/** One blocked client. */
interface Waiter {
  readonly session: Session;
  readonly keys: readonly Buffer[];
  /** Runs the twin: its reply, or null when every key was still empty. */
  readonly attempt: () => Promise<Reply | null>;
  readonly resolve: (reply: Reply) => void;
  readonly timer: NodeJS.Timeout | null;
  readonly onTimeout: Reply;
  /** Its twin is running: a timeout now waits for its answer (an element it popped is its). */
  attempting: boolean;
  /** Its timeout passed while its twin ran. */
  expired: boolean;
}

/** The clients blocked on this node, in the order they blocked. */
export class BlockedClients {
  readonly #node: NodeHandle;
  #waiters: Waiter[] = [];
  #waking = false;
  #wakeAgain = false;

  constructor(node: NodeHandle) {
    this.#node = node;
  }

  /**
   * Blocks `session` on `keys` until `attempt` gives a reply or `timeoutMs` passes (0: for
   * ever), then answers `onTimeout`.
   */
  block(
    session: Session,
    keys: readonly Buffer[],
    timeoutMs: number,
    attempt: () => Promise<Reply | null>,
    onTimeout: Reply,
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
        attempt,
        resolve,
        timer,
        onTimeout,
        attempting: false,
        expired: false,
      };
      this.#waiters.push(waiter);
    });
  }

  /** A connection closed: its blocked command, if any, is dropped unanswered. */
  forget(session: Session): void {
    for (const waiter of this.#waiters.filter((item) => item.session === session)) {
      this.#remove(waiter);
    }
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
          if (!this.#waiters.includes(waiter) || !(await this.#holdsList(waiter.keys))) continue;
          let reply: Reply | null;
          waiter.attempting = true;
          try {
            reply = await waiter.attempt();
          } catch (thrown) {
            reply = error(thrown instanceof Error ? thrown.message : String(thrown));
          } finally {
            waiter.attempting = false;
          }
          if (reply === null && !waiter.expired) continue;
          this.#remove(waiter);
          waiter.resolve(reply ?? waiter.onTimeout);
        }
      } while (this.#wakeAgain && this.#waiters.length > 0);
    } finally {
      this.#waking = false;
    }
  }

  /** Whether one of `keys` holds a list on this node now. */
  async #holdsList(keys: readonly Buffer[]): Promise<boolean> {
    const { value } = await this.#node.read({ consistency: 'stale' }, async (store) => {
      const now = Date.now();
      for (const key of keys) if ((await store.type(key, now)) === 'list') return true;
      return false;
    });
    return value;
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
 * A blocking command: `parse` turns its arguments into a `BlockingCall` (or an error
 * reply); `shape` turns the twin's reply into the command's own.
 */
export function blocking(
  twin: Handler,
  parse: (args: Args) => BlockingCall | Reply,
  shape: (reply: Reply) => Reply,
): Handler {
  return async (context, session, args) => {
    const call = parse(args);
    if (!(call instanceof BlockingCall)) return call;
    const first = await twin(context, session, call.twinArgs);
    if (isError(first)) return first;
    if (!emptyReply(first)) return shape(first);
    if (session.capture !== null) return call.timedOut;
    const reply = await context.blocked.block(
      session,
      call.keys,
      call.timeoutMs,
      () => tryTwin(twin, context, session, call.twinArgs),
      call.timedOut,
    );
    return reply === call.timedOut || isError(reply) ? reply : shape(reply);
  };
}

/** BLPOP and BRPOP key [key ...] timeout: [key, element] (LMPOP's, one element) or null. */
export function blockingPop(end: 'LEFT' | 'RIGHT', lmpop: Handler): Handler {
  return blocking(
    lmpop,
    (args) => {
      const timeoutMs = timeoutMsArg(args.raw.at(-1) as Buffer);
      if (typeof timeoutMs !== 'number') return timeoutMs;
      const keys = args.raw.slice(1, -1);
      const raw = [
        Buffer.from('LMPOP'),
        Buffer.from(String(keys.length)),
        ...keys,
        Buffer.from(end),
        Buffer.from('COUNT'),
        Buffer.from('1'),
      ];
      return new BlockingCall(argsOf(raw), keys, timeoutMs, nullArray);
    },
    (reply) => {
      const [key, elements] = reply as readonly Reply[];
      return [key ?? null, (elements as readonly Reply[])[0] ?? null];
    },
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
  );
}

/** BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP's answer, or null. */
export function blockingMultiPop(lmpop: Handler): Handler {
  return blocking(
    lmpop,
    (args) => {
      const timeoutMs = timeoutMsArg(args.raw[1] as Buffer);
      if (typeof timeoutMs !== 'number') return timeoutMs;
      const raw = [Buffer.from('LMPOP'), ...args.raw.slice(2)];
      const count = Number(args.text[2]);
      const keys = Number.isSafeInteger(count) && count > 0 ? args.raw.slice(3, 3 + count) : [];
      return new BlockingCall(argsOf(raw), keys, timeoutMs, nullArray);
    },
    (reply) => reply,
  );
}
