/**
 * The list commands (Redis 7.0's t_list.c): LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE
 * LINDEX LSET LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP, with Redis's replies and error
 * texts, in Redis's order of checks (each command's own: LRANGE reads its indexes before
 * the key, LSET and LINDEX the key before the index). Writes are replicated commands
 * (their meaning is in store/kv-commands.ts); reads are answered from the local store.
 * The blocking forms (BLPOP and the others) are not served.
 */
import { wrongType, type ListPositionOptions } from '../../store/values.js';
import type { Command, ListEnd } from '../../store/commands.js';
import { int64Arg } from './expiry.js';
import { blockingMove, blockingMultiPop, blockingPop } from './blocking.js';
import { notAnInteger, syntaxError, type Args, type Handler } from './keys.js';
import { error, nullArray, ok, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { oneKey, type CommandSpec, type KeySpec } from './spec.js';

const integerReply = (value: unknown): Reply => value as number;
const bulkReply = (value: unknown): Reply => value as Buffer | null;

/**
 * A signed 64-bit argument as Redis's getLongFromObject reads it, clamped to the safe
 * integers (no list comes near that length, so every index past them acts alike), or null.
 */
function longArg(text: string): number | null {
  const value = int64Arg(text);
  if (value === null) return null;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(value > safe ? safe : value < -safe ? -safe : value);
}

/**
 * A count Redis reads with getRangeLongFromObjectOrReply from `min` to LONG_MAX, with its
 * one `message` for both an unreadable and an out-of-range value: the count or the error.
 */
function countArg(text: string, min: number, message: string): number | Reply {
  const value = longArg(text);
  return value === null || value < min ? error(message) : value;
}

/** LEFT or RIGHT, in any case (Redis's getListPositionFromObjectOrReply), or null. */
function endArg(text: string): ListEnd | null {
  const lower = text.toLowerCase();
  return lower === 'left' ? 'left' : lower === 'right' ? 'right' : null;
}

/**
 * A reply that is an array or none, as the null array: a follower's forwarded write comes
 * back through a reply parser that reads the leader's `*-1` as a nil.
 */
function asNullArray(reply: Reply): Reply {
  return reply === null ? nullArray : reply;
}

function isReply(value: unknown): value is Reply {
  return typeof value !== 'number';
}

/** LPUSH, RPUSH, LPUSHX, RPUSHX key element [element ...]: the length after them. */
function push(end: ListEnd, onlyExisting: boolean): Handler {
  return (context, session, args) => {
    const command: Command = {
      type: 'lpush',
      key: args.raw[1],
      elements: args.raw.slice(2),
      end,
      ...(onlyExisting ? { condition: 'xx' as const } : {}),
      at: Date.now(),
    };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/** LPOP and RPOP key [count]: an element (nil), or with a count an array (null array). */
function pop(end: ListEnd): Handler {
  return (context, session, args) => {
    if (args.raw.length > 3)
      return error(`ERR wrong number of arguments for '${args.text[0]?.toLowerCase()}' command`);
    let count: number | undefined;
    if (args.raw.length === 3) {
      const parsed = countArg(args.text[2], 0, 'ERR value is out of range, must be positive');
      if (isReply(parsed)) return parsed;
      count = parsed;
    }
    const command: Command = {
      type: 'lpop',
      key: args.raw[1],
      end,
      ...(count === undefined ? {} : { count }),
      at: Date.now(),
    };
    const format = (value: unknown): Reply =>
      count === undefined ? (value as Buffer | null) : ((value as Buffer[] | null) ?? nullArray);
    const reply = writeFor(context, session, command, format, args.raw);
    return count === undefined ? reply : reply.then(asNullArray);
  };
}

/** LLEN key. */
function llen(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => store.listSize(args.raw[1], now));
}

/** LRANGE key start stop: the indexes are read before the key, as Redis does. */
function lrange(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const start = longArg(args.text[2]);
  const stop = longArg(args.text[3]);
  if (start === null || stop === null) return notAnInteger;
  return readFor(context, session, (store, now) =>
    store.listElements(args.raw[1], start, stop, now),
  );
}

/**
 * Redis's answer, for a command that looks its key up before it reads an unreadable
 * index: `absent` for no key, WRONGTYPE for another type, else the integer error.
 */
function badIndex(
  context: ServerContext,
  session: Session,
  key: Buffer,
  absent: Reply,
): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const type = await store.type(key, now);
    if (type === 'none') return absent;
    return type === 'list' ? notAnInteger : error(wrongType);
  });
}

/** LINDEX key index: the element, nil when out of range or absent. */
function lindex(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const index = longArg(args.text[2]);
  if (index === null) return badIndex(context, session, args.raw[1], null);
  return readFor(context, session, (store, now) => store.listElement(args.raw[1], index, now));
}

/** LSET key index element: OK, or "no such key" / "index out of range". */
function lset(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const index = longArg(args.text[2]);
  if (index === null) return badIndex(context, session, args.raw[1], error('ERR no such key'));
  const command: Command = {
    type: 'lset',
    key: args.raw[1],
    index,
    element: args.raw[3],
    at: Date.now(),
  };
  return writeFor(context, session, command, () => ok, args.raw);
}

/** LINSERT key BEFORE|AFTER pivot element: the length, -1 without the pivot, 0 without the key. */
function linsert(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const where = args.text[2].toLowerCase();
  if (where !== 'before' && where !== 'after') return syntaxError;
  const command: Command = {
    type: 'linsert',
    key: args.raw[1],
    where,
    pivot: args.raw[3],
    element: args.raw[4],
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** LREM key count element: how many it removed. */
function lrem(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const count = longArg(args.text[2]);
  if (count === null) return notAnInteger;
  const command: Command = {
    type: 'lrem',
    key: args.raw[1],
    count,
    element: args.raw[3],
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** LTRIM key start stop: OK. */
function ltrim(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const start = longArg(args.text[2]);
  const stop = longArg(args.text[3]);
  if (start === null || stop === null) return notAnInteger;
  const command: Command = { type: 'ltrim', key: args.raw[1], start, stop, at: Date.now() };
  return writeFor(context, session, command, () => ok, args.raw);
}

/** LPOS's options, read as Redis 7.0 reads them, or its error. */
function positionOptions(args: Args): ListPositionOptions | Reply {
  let rank = 1;
  let count: number | null = null;
  let maxlen = 0;
  for (let i = 3; i < args.text.length; i++) {
    const option = args.text[i].toUpperCase();
    const value = args.text[i + 1];
    if (value === undefined) return syntaxError;
    i++;
    if (option === 'RANK') {
      const parsed = int64Arg(value);
      if (parsed === null) return notAnInteger;
      if (parsed === 0n) {
        return error(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        );
      }
      // Redis negates LONG_MIN into itself: every match then passes its rank check.
      rank = parsed === -(2n ** 63n) ? -1 : (longArg(value) as number);
    } else if (option === 'COUNT') {
      const parsed = countArg(value, 0, "ERR COUNT can't be negative");
      if (isReply(parsed)) return parsed;
      count = parsed;
    } else if (option === 'MAXLEN') {
      const parsed = countArg(value, 0, "ERR MAXLEN can't be negative");
      if (isReply(parsed)) return parsed;
      maxlen = parsed;
    } else return syntaxError;
  }
  return { rank, count, maxlen };
}

/** LPOS key element [RANK rank] [COUNT count] [MAXLEN len]. */
function lpos(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const options = positionOptions(args);
  if (!('rank' in (options as object))) return options as Reply;
  const { count } = options as ListPositionOptions;
  return readFor(context, session, async (store, now) => {
    const found = await store.listIndexes(
      args.raw[1],
      args.raw[2],
      options as ListPositionOptions,
      now,
    );
    if (count !== null) return found ?? [];
    return found?.[0] ?? null;
  });
}

/** LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH (RIGHT LEFT). */
function move(fixed: { from: ListEnd; to: ListEnd } | null): Handler {
  return (context, session, args) => {
    let ends = fixed;
    if (ends === null) {
      const from = endArg(args.text[3]);
      const to = endArg(args.text[4]);
      if (from === null || to === null) return syntaxError;
      ends = { from, to };
    }
    const command: Command = {
      type: 'lmove',
      key: args.raw[1],
      destination: args.raw[2],
      ...ends,
      at: Date.now(),
    };
    return writeFor(context, session, command, bulkReply, args.raw);
  };
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: [key, elements] or a null array. */
function lmpop(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const numkeys = countArg(args.text[1], 1, 'ERR numkeys should be greater than 0');
  if (isReply(numkeys)) return numkeys;
  const whereAt = 2 + numkeys;
  if (whereAt >= args.text.length) return syntaxError;
  const end = endArg(args.text[whereAt]);
  if (end === null) return syntaxError;
  let count: number | null = null;
  for (let i = whereAt + 1; i < args.text.length; i++) {
    const more = i < args.text.length - 1;
    if (count === null && args.text[i].toUpperCase() === 'COUNT' && more) {
      i++;
      const parsed = countArg(args.text[i], 1, 'ERR count should be greater than 0');
      if (isReply(parsed)) return parsed;
      count = parsed;
    } else return syntaxError;
  }
  const command: Command = {
    type: 'lmpop',
    keys: args.raw.slice(2, whereAt),
    end,
    count: count ?? 1,
    at: Date.now(),
  };
  const format = (value: unknown): Reply => (value as Reply[] | null) ?? nullArray;
  return writeFor(context, session, command, format, args.raw).then(asNullArray);
}

/** LPUSH's or RPUSH's handler, to give back what a blocked client that left popped. */
const pushAt = (end: 'LEFT' | 'RIGHT'): Handler => push(end === 'LEFT' ? 'left' : 'right', false);

/** LMOVE's and RPOPLPUSH's keys: the source and the destination. */
const twoKeys: KeySpec = { first: 1, last: 2, step: 1 };
/** LMPOP's keys: counted by its first argument. */
const countedKeys: KeySpec = { first: 2, last: -1, step: 1, counted: true };
/** BLMPOP timeout numkeys key...: LMPOP's keys one argument later. */
const countedAfterTimeout: KeySpec = { first: 3, last: -1, step: 1, counted: true };
/** BLPOP key [key ...] timeout. */
const keysBeforeTimeout: KeySpec = { first: 1, last: -2, step: 1 };
const blockingSpec = { write: true, role: 'write', blocks: true } as const;

/**
 * The list commands: handler, Redis arity (negative: at least), whether it writes, the
 * role it needs and where its keys are.
 */
export const listCommands: Readonly<Record<string, CommandSpec>> = {
  lpush: { arity: -3, write: true, role: 'write', keys: oneKey, run: push('left', false) },
  rpush: { arity: -3, write: true, role: 'write', keys: oneKey, run: push('right', false) },
  lpushx: { arity: -3, write: true, role: 'write', keys: oneKey, run: push('left', true) },
  rpushx: { arity: -3, write: true, role: 'write', keys: oneKey, run: push('right', true) },
  lpop: { arity: -2, write: true, role: 'write', keys: oneKey, run: pop('left') },
  rpop: { arity: -2, write: true, role: 'write', keys: oneKey, run: pop('right') },
  lset: { arity: 4, write: true, role: 'write', keys: oneKey, run: lset },
  linsert: { arity: 5, write: true, role: 'write', keys: oneKey, run: linsert },
  lrem: { arity: 4, write: true, role: 'write', keys: oneKey, run: lrem },
  ltrim: { arity: 4, write: true, role: 'write', keys: oneKey, run: ltrim },
  lmove: { arity: 5, write: true, role: 'write', keys: twoKeys, run: move(null) },
  rpoplpush: {
    arity: 3,
    write: true,
    role: 'write',
    keys: twoKeys,
    run: move({ from: 'right', to: 'left' }),
  },
  lmpop: { arity: -4, write: true, role: 'write', keys: countedKeys, run: lmpop },
  // The blocking forms hold their connection's later commands until they answer.
  blpop: {
    arity: -3,
    ...blockingSpec,
    keys: keysBeforeTimeout,
    run: blockingPop('LEFT', lmpop, pushAt),
  },
  brpop: {
    arity: -3,
    ...blockingSpec,
    keys: keysBeforeTimeout,
    run: blockingPop('RIGHT', lmpop, pushAt),
  },
  blmove: { arity: 6, ...blockingSpec, keys: twoKeys, run: blockingMove('LMOVE', move(null)) },
  brpoplpush: {
    arity: 4,
    ...blockingSpec,
    keys: twoKeys,
    run: blockingMove('RPOPLPUSH', move({ from: 'right', to: 'left' })),
  },
  blmpop: {
    arity: -5,
    ...blockingSpec,
    keys: countedAfterTimeout,
    run: blockingMultiPop(lmpop, pushAt),
  },
  llen: { arity: 2, write: false, role: 'read', keys: oneKey, run: llen },
  lrange: { arity: 4, write: false, role: 'read', keys: oneKey, run: lrange },
  lindex: { arity: 3, write: false, role: 'read', keys: oneKey, run: lindex },
  lpos: { arity: -3, write: false, role: 'read', keys: oneKey, run: lpos },
};
