/**
 * The hash commands (Redis 7.0's t_hash.c): HSET HSETNX HMSET HGET HMGET HDEL HEXISTS HLEN
 * HSTRLEN HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN, with Redis's replies
 * and error texts, in Redis's order of checks (arguments, then the key's type, then the
 * field). Writes are replicated commands (their meaning is in store/kv-commands.ts);
 * reads are answered from the local store. HRANDFIELD is a read, so each node draws its
 * own random fields, as each Redis replica would.
 */
import { wrongType } from '../../store/values.js';
import type { Command } from '../../store/commands.js';
import { parseLongDouble } from '../../store/long-double.js';
import { notAFloat } from '../../store/kv-commands.js';
import { int64Arg } from './expiry.js';
import { notAnInteger, scanOptions, syntaxError, type Args, type Handler } from './keys.js';
import { error, map, ok, type ErrorReply, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { oneKey, wrongArity, type CommandSpec } from './spec.js';

/**
 * The most fields one HRANDFIELD with a negative count answers (Redis has no bound; each
 * repeat is a reply element, so one command could otherwise build any size of reply).
 */
export const hrandfieldRepeatsMax = 100_000;
/** Redis's LONG_MAX, the bound of HRANDFIELD's count. */
const longMax = 2n ** 63n - 1n;

const integerReply = (value: unknown): Reply => value as number | bigint;

/** The field-value pairs after the key, or Redis's arity error for an odd count. */
function fieldPairs(args: Args, name: string): [Buffer, Buffer][] | Reply {
  if (args.raw.length % 2 !== 0) return wrongArity(name);
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 2; i < args.raw.length; i += 2) pairs.push([args.raw[i], args.raw[i + 1]]);
  return pairs;
}

/** HSET key field value [field value ...] (the fields created) and HMSET (OK). */
function hset(name: 'hset' | 'hmset'): Handler {
  return (context, session, args) => {
    const pairs = fieldPairs(args, name);
    if (!Array.isArray(pairs)) return pairs;
    const command: Command = { type: 'hset', key: args.raw[1], pairs, at: Date.now() };
    const format = name === 'hset' ? integerReply : (): Reply => ok;
    return writeFor(context, session, command, format, args.raw);
  };
}

/** HSETNX key field value: 1 when it set the field, 0 when the field existed. */
function hsetnx(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'hset',
    key: args.raw[1],
    pairs: [[args.raw[2], args.raw[3]]],
    condition: 'nx',
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** HDEL key field [field ...]: how many of the fields existed. */
function hdel(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'hdel',
    key: args.raw[1],
    fields: args.raw.slice(2),
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** HINCRBY key field increment: the new integer. */
function hincrby(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const by = int64Arg(args.text[3]);
  if (by === null) return notAnInteger;
  const command: Command = {
    type: 'hincrby',
    key: args.raw[1],
    field: args.raw[2],
    by,
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** HINCRBYFLOAT key field increment: the new value, as Redis formats it. */
function hincrbyfloat(
  context: ServerContext,
  session: Session,
  args: Args,
): Reply | Promise<Reply> {
  // Redis reads the increment before it looks the key up: refused here, nothing proposed.
  const by = parseLongDouble(args.raw[3]);
  if (by === null) return error(notAFloat);
  if (by.kind === 'infinite') return error('ERR value is NaN or Infinity');
  const command: Command = {
    type: 'hincrbyfloat',
    key: args.raw[1],
    field: args.raw[2],
    by: args.raw[3],
    at: Date.now(),
  };
  return writeFor(context, session, command, (value) => value as Buffer, args.raw);
}

/** The values of `fields` (null for each absent, all null for an absent key). */
function valuesOf(
  context: ServerContext,
  session: Session,
  key: Buffer,
  fields: readonly Buffer[],
): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const values = await store.hashValues(key, fields, now);
    return values ?? fields.map(() => null);
  });
}

/** HGET key field. */
function hget(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const values = await store.hashValues(args.raw[1], [args.raw[2]], now);
    return values?.[0] ?? null;
  });
}

/** HMGET key field [field ...]. */
function hmget(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return valuesOf(context, session, args.raw[1], args.raw.slice(2));
}

/** HEXISTS key field: 1 or 0. */
function hexists(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const values = await store.hashValues(args.raw[1], [args.raw[2]], now);
    return (values?.[0] ?? null) === null ? 0 : 1;
  });
}

/** HSTRLEN key field: the value's length, 0 when absent. */
function hstrlen(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const values = await store.hashValues(args.raw[1], [args.raw[2]], now);
    return values?.[0]?.byteLength ?? 0;
  });
}

/** HLEN key. */
function hlen(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => store.hashSize(args.raw[1], now));
}

/** HKEYS, HVALS and HGETALL (a map in RESP3, as Redis answers it). */
function hgetall(part: 'keys' | 'values' | 'both'): Handler {
  return (context, session, args) =>
    readFor(context, session, async (store, now) => {
      const entries = await store.hashAll(args.raw[1], now);
      if (part === 'keys') return entries.map(([field]) => field);
      if (part === 'values') return entries.map(([, value]) => value);
      return map(entries);
    });
}

/** HRANDFIELD's count and WITHVALUES, read as Redis 7.0 reads them, or its error. */
function randomCount(args: Args): { count: bigint; withValues: boolean } | ErrorReply {
  const count = int64Arg(args.text[2]);
  if (count === null) return notAnInteger as ErrorReply;
  if (count < -longMax) {
    // Redis 7.0's text, word for word.
    return error(`ERR value is out of range, value must between ${-longMax} and ${longMax}`);
  }
  if (
    args.text.length > 4 ||
    (args.text.length === 4 && args.text[3].toLowerCase() !== 'withvalues')
  ) {
    return syntaxError as ErrorReply;
  }
  const withValues = args.text.length === 4;
  if (withValues && (count < -longMax / 2n || count > longMax / 2n)) {
    return error('ERR value is out of range');
  }
  return { count, withValues };
}

/** Tandem's refusal of an HRANDFIELD whose negative count is past hrandfieldRepeatsMax. */
export const hrandfieldRepeatsRefused = error(
  `ERR HRANDFIELD with a negative count answers at most ${hrandfieldRepeatsMax} fields`,
);

/** `count` entries drawn from `entries`: distinct ones when `distinct`, else with repeats. */
function draw(
  entries: readonly [Buffer, Buffer][],
  count: number,
  distinct: boolean,
): [Buffer, Buffer][] {
  if (!distinct) {
    return Array.from(
      { length: count },
      () => entries[Math.floor(Math.random() * entries.length)] as [Buffer, Buffer],
    );
  }
  if (count >= entries.length) return [...entries];
  // A partial Fisher-Yates shuffle: the first `count` places hold a uniform sample.
  const pool = [...entries];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as [Buffer, Buffer], pool[i] as [Buffer, Buffer]];
  }
  return pool.slice(0, count);
}

/** HRANDFIELD key [count [WITHVALUES]]. */
function hrandfield(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (args.text.length === 2) {
    return readFor(context, session, async (store, now) => {
      const entries = await store.hashAll(args.raw[1], now);
      return entries.length === 0 ? null : (draw(entries, 1, false)[0] as [Buffer, Buffer])[0];
    });
  }
  const options = randomCount(args);
  if ('kind' in options) return options;
  const { count, withValues } = options;
  return readFor(context, session, async (store, now) => {
    const entries = await store.hashAll(args.raw[1], now);
    if (count === 0n || entries.length === 0) return [];
    // Refused only here, where Redis would build the reply: an absent key, a key of another
    // type and a count of 0 are answered as Redis answers them. Redis 7.0 has no bound of
    // its own and, for a count near -2^63, loops until its memory runs out.
    if (-count > BigInt(hrandfieldRepeatsMax)) return hrandfieldRepeatsRefused;
    const distinct = count > 0n;
    const wanted = Number(distinct ? count : -count);
    const drawn = draw(entries, Math.min(wanted, distinct ? entries.length : wanted), distinct);
    if (!withValues) return drawn.map(([field]) => field);
    // RESP3 pairs each field with its value; RESP2 flattens them.
    return session.protocol === 3 ? drawn : drawn.flat();
  });
}

const unsignedLongSyntax = /^(?:[+-]?[0-9]+)?$/;
const unsignedLongMax = 2n ** 64n - 1n;

/**
 * A scan cursor as Redis's parseScanCursorOrReply reads it (strtoul: a sign, digits, empty
 * for 0, a negative one wrapping around), or null where it answers "invalid cursor". One
 * past the safe integers is past every sequence number, so it is clamped there.
 */
export function scanCursor(text: string): number | null {
  if (!unsignedLongSyntax.test(text)) return null;
  const negative = text.startsWith('-');
  const magnitude = text === '' ? 0n : BigInt(text.replace(/^[+-]/, ''));
  if (magnitude > unsignedLongMax) return null;
  const value = negative && magnitude > 0n ? 2n ** 64n - magnitude : magnitude;
  return Number(value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : value);
}

/**
 * HSCAN key cursor [MATCH pattern] [COUNT count]. As in Redis the cursor is read first,
 * then the key (an absent one is an empty scan whatever the options), then the options.
 */
function hscan(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const cursor = scanCursor(args.text[2]);
  if (cursor === null) return error('ERR invalid cursor');
  return readFor(context, session, async (store, now) => {
    const type = await store.type(args.raw[1], now);
    if (type === 'none') return ['0', []];
    if (type !== 'hash') return error(wrongType);
    const options = scanOptions(args, 3, false);
    if ('kind' in options) return options;
    const page = await store.hashScan(args.raw[1], cursor, options, now);
    return [String(page.cursor), page.entries.flat()];
  });
}

/**
 * The hash commands: handler, Redis arity (negative: at least), whether it writes, the
 * role it needs and where its key is.
 */
export const hashCommands: Readonly<Record<string, CommandSpec>> = {
  hset: { arity: -4, write: true, role: 'write', keys: oneKey, run: hset('hset') },
  hmset: { arity: -4, write: true, role: 'write', keys: oneKey, run: hset('hmset') },
  hsetnx: { arity: 4, write: true, role: 'write', keys: oneKey, run: hsetnx },
  hdel: { arity: -3, write: true, role: 'write', keys: oneKey, run: hdel },
  hincrby: { arity: 4, write: true, role: 'write', keys: oneKey, run: hincrby },
  hincrbyfloat: { arity: 4, write: true, role: 'write', keys: oneKey, run: hincrbyfloat },
  hget: { arity: 3, write: false, role: 'read', keys: oneKey, run: hget },
  hmget: { arity: -3, write: false, role: 'read', keys: oneKey, run: hmget },
  hexists: { arity: 3, write: false, role: 'read', keys: oneKey, run: hexists },
  hstrlen: { arity: 3, write: false, role: 'read', keys: oneKey, run: hstrlen },
  hlen: { arity: 2, write: false, role: 'read', keys: oneKey, run: hlen },
  hkeys: { arity: 2, write: false, role: 'read', keys: oneKey, run: hgetall('keys') },
  hvals: { arity: 2, write: false, role: 'read', keys: oneKey, run: hgetall('values') },
  hgetall: { arity: 2, write: false, role: 'read', keys: oneKey, run: hgetall('both') },
  hrandfield: { arity: -2, write: false, role: 'read', keys: oneKey, run: hrandfield },
  hscan: { arity: -3, write: false, role: 'read', keys: oneKey, run: hscan },
};
