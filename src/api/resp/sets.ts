/**
 * The set commands (Redis 7.0's t_set.c): SADD SREM SISMEMBER SMISMEMBER SMEMBERS SCARD
 * SPOP SRANDMEMBER SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE
 * SSCAN, with Redis's replies and error texts, in Redis's order of checks (arguments, then
 * the keys' types, then the members). Writes are replicated commands (their meaning is in
 * store/kv-commands.ts); reads are answered from the local store.
 *
 * Randomness: SRANDMEMBER is a read, so each node draws its own members, as each Redis
 * replica would. SPOP is a write whose draw is the leader's, made once: the entry names the
 * members the leader drew from what it has applied, and carries a seed for any it could
 * not draw (inside a transaction, or behind the connection's unapplied writes, where the
 * set is not known yet), so every replica removes the same members.
 */
import { setMembersMax, type Command } from '../../store/commands.js';
import type { StoreReader } from '../../store/contract.js';
import {
  compareIntegerMembers,
  isIntegerMember,
  setIntsetEntriesMax,
  wrongType,
} from '../../store/values.js';
import { int64Arg } from './expiry.js';
import { scanCursor } from './hashes.js';
import { notAnInteger, scanOptions, syntaxError, type Args, type Handler } from './keys.js';
import { error, type ErrorReply, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { allKeys, oneKey, type CommandSpec } from './spec.js';

/**
 * The most members one SRANDMEMBER with a negative count answers (Redis has no bound; each
 * repeat is a reply element, so one command could otherwise build any size of reply, and
 * Redis 7.0 itself loops for as long as the count says).
 */
export const srandmemberRepeatsMax = 100_000;

/** Tandem's refusal of an SRANDMEMBER whose negative count is past srandmemberRepeatsMax. */
export const srandmemberRepeatsRefused = error(
  `ERR SRANDMEMBER with a negative count answers at most ${srandmemberRepeatsMax} members`,
);

/** Redis's LONG_MAX, the bound of SRANDMEMBER's, SPOP's and SINTERCARD's numbers. */
const longMax = 2n ** 63n - 1n;

const integerReply = (value: unknown): Reply => value as number;

/** A RESP3 set (`~`; an array in RESP2), as Redis answers SMEMBERS and SINTER. */
function setReply(items: readonly Buffer[]): Reply {
  return { kind: 'set', items };
}

/** SADD key member [member ...] and SREM: how many were added or removed. */
function saddOrSrem(type: 'sadd' | 'srem'): Handler {
  return (context, session, args) => {
    const command: Command = { type, key: args.raw[1], members: args.raw.slice(2), at: Date.now() };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/** SISMEMBER key member: 1 or 0. */
function sismember(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const [found] = await store.setContains(args.raw[1], [args.raw[2]], now);
    return found === true ? 1 : 0;
  });
}

/** SMISMEMBER key member [member ...]: 1 or 0 for each. */
function smismember(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const found = await store.setContains(args.raw[1], args.raw.slice(2), now);
    return found.map((one) => (one ? 1 : 0));
  });
}

/** SMEMBERS key: a set (an intset's members ascending, as Redis answers them). */
function smembers(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) =>
    setReply(await store.setAll(args.raw[1], now)),
  );
}

/** SCARD key. */
function scard(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => store.setSize(args.raw[1], now));
}

/** A count Redis reads with getPositiveLongFromObjectOrReply, or its error with `text`. */
function positiveCount(text: string | undefined, refusal: string): bigint | ErrorReply {
  const count = int64Arg(text ?? '');
  if (count === null || count < 0n) return error(refusal);
  return count;
}

/**
 * The members this node draws for an SPOP of `count` from the set it has applied, when it
 * can read it at once (no unapplied write of the connection before it, no transaction),
 * else none: the entry's seed draws them at apply. At most setMembersMax are named.
 */
function spopPicks(context: ServerContext, session: Session, key: Buffer, count: number): Buffer[] {
  if (session.capture !== null || session.unsettledWrites.size > 0 || count === 0) return [];
  const wanted = Math.min(count, setMembersMax);
  const read = readFor(context, session, (store, now) => store.setRandom(key, wanted, false, now));
  if (read instanceof Promise) {
    // Not answerable in this turn: drawing later would reorder the connection's writes.
    read.catch(() => {});
    return [];
  }
  return read;
}

/** SPOP key [count]: a member or nil, or a set of up to `count` members. */
function spop(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (args.raw.length > 3) return syntaxError;
  const withCount = args.raw.length === 3;
  let count = 1;
  if (withCount) {
    const given = positiveCount(args.text[2], 'ERR value is out of range, must be positive');
    if (typeof given !== 'bigint') return given;
    // A set never holds more than a safe integer of members: a larger count takes them all.
    count = given > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(given);
  }
  const command: Command = {
    type: 'spop',
    key: args.raw[1],
    members: spopPicks(context, session, args.raw[1], count),
    count,
    seed: Math.floor(Math.random() * 2 ** 32),
    at: Date.now(),
  };
  const format = (value: unknown): Reply => {
    const popped = value as Buffer[];
    return withCount ? setReply(popped) : (popped[0] ?? null);
  };
  return writeFor(context, session, command, format, args.raw);
}

/** SRANDMEMBER's count, read as Redis 7.0 reads it, or its error. */
function randomCount(text: string): bigint | ErrorReply {
  const count = int64Arg(text);
  if (count === null) return notAnInteger as ErrorReply;
  if (count < -longMax) {
    // Redis 7.0's text, word for word.
    return error(`ERR value is out of range, value must between ${-longMax} and ${longMax}`);
  }
  return count;
}

/** SRANDMEMBER key [count]: a member or nil; distinct members, or repeats for a negative count. */
function srandmember(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (args.raw.length > 3) return syntaxError;
  if (args.raw.length === 2) {
    return readFor(context, session, async (store, now) => {
      const [member] = await store.setRandom(args.raw[1], 1, false, now);
      return member ?? null;
    });
  }
  const count = randomCount(args.text[2]);
  if (typeof count !== 'bigint') return count;
  return readFor(context, session, async (store, now) => {
    // The key's type is checked first (WRONGTYPE), as Redis looks the key up first.
    const size = await store.setSize(args.raw[1], now);
    if (count === 0n || size === 0) return [];
    if (count > 0n) {
      const wanted = count > BigInt(size) ? size : Number(count);
      return store.setRandom(args.raw[1], wanted, false, now);
    }
    // Refused only here, where Redis would build the reply: an absent key, a key of another
    // type and a count of 0 are answered as Redis answers them.
    if (-count > BigInt(srandmemberRepeatsMax)) return srandmemberRepeatsRefused;
    return store.setRandom(args.raw[1], Number(-count), true, now);
  });
}

/** SMOVE source destination member: 1 when it moved, 0 when the source lacks it. */
function smove(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'smove',
    key: args.raw[1],
    destination: args.raw[2],
    member: args.raw[3],
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/**
 * The members of each set at `keys` (none for an absent key), or WRONGTYPE when one holds
 * another type: Redis 7.0 checks every key's type before it combines any.
 */
async function setsAt(
  store: StoreReader,
  keys: readonly Buffer[],
  now: number,
): Promise<(Buffer[] | null)[] | ErrorReply> {
  const types = await Promise.all(keys.map((key) => store.type(key, now)));
  if (types.some((type) => type !== 'none' && type !== 'set')) return error(wrongType);
  return Promise.all(keys.map((key, i) => (types[i] === 'none' ? null : store.setAll(key, now))));
}

/**
 * The intersection, union or difference of `sets` (null: an absent key, an empty set).
 * A result of integers that an intset could hold comes ascending, as Redis answers it.
 */
function combine(
  operation: 'inter' | 'union' | 'diff',
  sets: readonly (Buffer[] | null)[],
): Buffer[] {
  const texts = sets.map((members) => (members ?? []).map((member) => member.toString('latin1')));
  let result: string[];
  if (operation === 'union') result = [...new Set(texts.flat())];
  else if (operation === 'inter') {
    if (sets.includes(null)) return [];
    const others = texts.slice(1).map((members) => new Set(members));
    result = (texts[0] as string[]).filter((member) => others.every((other) => other.has(member)));
  } else {
    const others = new Set(texts.slice(1).flat());
    result = (texts[0] as string[]).filter((member) => !others.has(member));
  }
  if (result.length <= setIntsetEntriesMax && result.every(isIntegerMember)) {
    result.sort(compareIntegerMembers);
  }
  return result.map((member) => Buffer.from(member, 'latin1'));
}

/** SINTER, SUNION and SDIFF key [key ...]: a set. */
function combined(operation: 'inter' | 'union' | 'diff'): Handler {
  return (context, session, args) =>
    readFor(context, session, async (store, now): Promise<Reply> => {
      const sets = await setsAt(store, args.raw.slice(1), now);
      if (!Array.isArray(sets)) return sets;
      return setReply(combine(operation, sets));
    });
}

/** SINTERCARD's keys and LIMIT, read as Redis 7.0 reads them, or its error. */
function intercardOptions(args: Args): { keys: Buffer[]; limit: bigint } | ErrorReply {
  const numkeys = int64Arg(args.text[1]);
  if (numkeys === null || numkeys < 1n) return error('ERR numkeys should be greater than 0');
  if (numkeys > BigInt(args.raw.length - 2)) {
    return error("ERR Number of keys can't be greater than number of args");
  }
  const first = 2 + Number(numkeys);
  let limit = 0n;
  for (let i = first; i < args.raw.length; i += 2) {
    if (args.text[i].toLowerCase() !== 'limit' || i + 1 >= args.raw.length) {
      return syntaxError as ErrorReply;
    }
    const given = positiveCount(args.text[i + 1], "ERR LIMIT can't be negative");
    if (typeof given !== 'bigint') return given;
    limit = given;
  }
  return { keys: args.raw.slice(2, first), limit };
}

/** SINTERCARD numkeys key [key ...] [LIMIT limit]: the intersection's size, up to the limit. */
function sintercard(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const options = intercardOptions(args);
  if ('kind' in options) return options;
  return readFor(context, session, async (store, now): Promise<Reply> => {
    const sets = await setsAt(store, options.keys, now);
    if (!Array.isArray(sets)) return sets;
    const size = combine('inter', sets).length;
    const { limit } = options;
    return limit > 0n && BigInt(size) > limit ? Number(limit) : size;
  });
}

/** SINTERSTORE, SUNIONSTORE and SDIFFSTORE destination key [key ...]: the result's size. */
function stored(operation: 'inter' | 'union' | 'diff'): Handler {
  return (context, session, args) => {
    const command: Command = {
      type: 'setstore',
      operation,
      destination: args.raw[1],
      keys: args.raw.slice(2),
      at: Date.now(),
    };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/**
 * SSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis the cursor is read first,
 * then the key (an absent one is an empty scan whatever the options), then the options.
 */
function sscan(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const cursor = scanCursor(args.text[2]);
  if (cursor === null) return error('ERR invalid cursor');
  return readFor(context, session, async (store, now): Promise<Reply> => {
    const type = await store.type(args.raw[1], now);
    if (type === 'none') return ['0', []];
    if (type !== 'set') return error(wrongType);
    const options = scanOptions(args, 3, false);
    if ('kind' in options) return options;
    const page = await store.setScan(args.raw[1], cursor, options, now);
    return [String(page.cursor), page.members];
  });
}

/** SMOVE's keys: the source and the destination. */
const twoKeys = { first: 1, last: 2, step: 1 };

/**
 * The set commands: handler, Redis arity (negative: at least), whether it writes, the role
 * it needs and where its keys are.
 */
export const setCommands: Readonly<Record<string, CommandSpec>> = {
  sadd: { arity: -3, write: true, role: 'write', keys: oneKey, run: saddOrSrem('sadd') },
  srem: { arity: -3, write: true, role: 'write', keys: oneKey, run: saddOrSrem('srem') },
  spop: { arity: -2, write: true, role: 'write', keys: oneKey, run: spop },
  smove: { arity: 4, write: true, role: 'write', keys: twoKeys, run: smove },
  sinterstore: { arity: -3, write: true, role: 'write', keys: allKeys, run: stored('inter') },
  sunionstore: { arity: -3, write: true, role: 'write', keys: allKeys, run: stored('union') },
  sdiffstore: { arity: -3, write: true, role: 'write', keys: allKeys, run: stored('diff') },
  sismember: { arity: 3, write: false, role: 'read', keys: oneKey, run: sismember },
  smismember: { arity: -3, write: false, role: 'read', keys: oneKey, run: smismember },
  smembers: { arity: 2, write: false, role: 'read', keys: oneKey, run: smembers },
  scard: { arity: 2, write: false, role: 'read', keys: oneKey, run: scard },
  srandmember: { arity: -2, write: false, role: 'read', keys: oneKey, run: srandmember },
  sinter: { arity: -2, write: false, role: 'read', keys: allKeys, run: combined('inter') },
  sunion: { arity: -2, write: false, role: 'read', keys: allKeys, run: combined('union') },
  sdiff: { arity: -2, write: false, role: 'read', keys: allKeys, run: combined('diff') },
  sintercard: {
    arity: -3,
    write: false,
    role: 'read',
    keys: { first: 2, last: -1, step: 1, counted: true },
    run: sintercard,
  },
  sscan: { arity: -3, write: false, role: 'read', keys: oneKey, run: sscan },
};
