/**
 * The sorted set commands (Redis 7.0's t_zset.c): ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE
 * ZRANK ZREVRANK ZCOUNT ZLEXCOUNT ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE
 * ZRANGEBYLEX ZREVRANGEBYLEX ZRANGESTORE ZPOPMIN ZPOPMAX ZMPOP BZPOPMIN BZPOPMAX BZMPOP ZREMRANGEBYRANK
 * ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANDMEMBER ZSCAN ZUNION ZINTER ZDIFF ZUNIONSTORE
 * ZINTERSTORE ZDIFFSTORE, with Redis's replies and error texts, in Redis's order of
 * checks (arguments, then the keys' types, then the rest). Writes are replicated commands
 * (their meaning is in store/kv-commands.ts); reads are answered from the local store.
 * ZRANDMEMBER is a read, so each node draws its own members, as each Redis replica would.
 */
import type { Command, ZsetRangeText } from '../../store/commands.js';
import type { StoreReader } from '../../store/contract.js';
import { wrongType } from '../../store/values.js';
import { notAValidScore, weightNotAFloat, wholeSet } from '../../store/kv-commands.js';
import {
  combineSets,
  formatScore,
  minMaxNotFloat,
  minMaxNotLex,
  parseLexBound,
  parseScore,
  parseScoreBound,
  sortedEntries,
  type Aggregate,
  type ZsetRange,
  type ZsetSelection,
} from '../../store/sorted-set.js';
import { blockingZmpop, blockingZpop } from './blocking.js';
import { int64Arg } from './expiry.js';
import {
  integerArg,
  notAnInteger,
  scanOptions,
  syntaxError,
  type Args,
  type Handler,
} from './keys.js';
import { error, nullArray, type ErrorReply, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { oneKey, type CommandSpec } from './spec.js';

/**
 * The most members one ZRANDMEMBER with a negative count answers (Redis has no bound; each
 * repeat is a reply element, so one command could otherwise build any size of reply).
 */
export const zrandmemberRepeatsMax = 100_000;
/** Tandem's refusal of a ZRANDMEMBER whose negative count is past zrandmemberRepeatsMax. */
export const zrandmemberRepeatsRefused = error(
  `ERR ZRANDMEMBER with a negative count answers at most ${zrandmemberRepeatsMax} members`,
);
/** Redis's LONG_MAX. */
const longMax = 2n ** 63n - 1n;
const safeMax = BigInt(Number.MAX_SAFE_INTEGER);

const integerReply = (value: unknown): Reply => value as number;

/** A signed 64-bit integer kept within the safe integers (ranks and counts past them mean all). */
function clamped(value: bigint): number {
  return Number(value > safeMax ? safeMax : value < -safeMax ? -safeMax : value);
}

/** Bytes as the latin1 text the integer parsers read. */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

/** A score as Redis 7.0 answers it: `%.17g` in a bulk string (RESP2) or a double (RESP3). */
function scoreReply(session: Session, score: number): Reply {
  const text = formatScore(score);
  return session.protocol === 3 ? { kind: 'double', value: score, text } : text;
}

/** Members with scores: flat in RESP2, pairs in RESP3 (or always pairs when `nested`). */
function withScores(
  session: Session,
  entries: readonly (readonly [Buffer, number])[],
  nested = session.protocol === 3,
): Reply {
  const pairs = entries.map(([member, score]) => [member, scoreReply(session, score)]);
  return nested ? pairs : pairs.flat();
}

/** A store answer of members with their scores' texts, back to numbers. */
function parsedEntries(entries: readonly [Buffer, Buffer][]): [Buffer, number][] {
  return entries.map(([member, text]) => [member, parseScore(text) as number]);
}

// ------------------------------------------------------------------ writes

/** ZADD's options after the key, read as Redis's zaddGenericCommand reads them. */
interface ZaddOptions {
  nx: boolean;
  xx: boolean;
  gt: boolean;
  lt: boolean;
  ch: boolean;
  incr: boolean;
  /** Where the score-member pairs start. */
  first: number;
}

function zaddOptions(args: Args): ZaddOptions {
  const options: ZaddOptions = {
    nx: false,
    xx: false,
    gt: false,
    lt: false,
    ch: false,
    incr: false,
    first: 2,
  };
  for (; options.first < args.text.length; options.first++) {
    const flag = args.text[options.first].toLowerCase();
    if (flag !== 'nx' && flag !== 'xx' && flag !== 'gt' && flag !== 'lt' && flag !== 'ch') {
      if (flag !== 'incr') break;
    }
    options[flag as 'nx'] = true;
  }
  return options;
}

/** ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]. */
function zadd(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const options = zaddOptions(args);
  const elements = args.raw.length - options.first;
  if (elements % 2 !== 0 || elements === 0) return syntaxError;
  if (options.nx && options.xx) {
    return error('ERR XX and NX options at the same time are not compatible');
  }
  if ((options.gt && options.nx) || (options.lt && options.nx) || (options.gt && options.lt)) {
    return error('ERR GT, LT, and/or NX options at the same time are not compatible');
  }
  if (options.incr && elements > 2) {
    return error('ERR INCR option supports a single increment-element pair');
  }
  const pairs: [Buffer, Buffer][] = [];
  for (let i = options.first; i < args.raw.length; i += 2) {
    if (parseScore(args.raw[i]) === null) return error(notAValidScore);
    pairs.push([args.raw[i], args.raw[i + 1]]);
  }
  const command: Command = {
    type: 'zadd',
    key: args.raw[1],
    pairs,
    ...(options.nx ? { condition: 'nx' } : options.xx ? { condition: 'xx' } : {}),
    ...(options.gt ? { compare: 'gt' } : options.lt ? { compare: 'lt' } : {}),
    ...(options.ch ? { changed: true } : {}),
    ...(options.incr ? { increment: true } : {}),
    at: Date.now(),
  };
  return writeFor(context, session, command, incrementReply(session, options.incr), args.raw);
}

/** The reply to a ZADD: its count, or with INCR the new score (nil when nothing was done). */
function incrementReply(session: Session, increment: boolean): (value: unknown) => Reply {
  if (!increment) return integerReply;
  return (value) =>
    value === null ? null : scoreReply(session, parseScore(value as Buffer) as number);
}

/** ZINCRBY key increment member: the new score. */
function zincrby(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (parseScore(args.raw[2]) === null) return error(notAValidScore);
  const command: Command = {
    type: 'zadd',
    key: args.raw[1],
    pairs: [[args.raw[2], args.raw[3]]],
    increment: true,
    at: Date.now(),
  };
  return writeFor(context, session, command, incrementReply(session, true), args.raw);
}

/** ZREM key member [member ...]: how many were there. */
function zrem(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'zrem',
    key: args.raw[1],
    members: args.raw.slice(2),
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** The error of a range's bounds that do not parse, or null when they do. */
function rangeProblem(text: ZsetRangeText): ErrorReply | null {
  switch (text.by) {
    case 'rank':
      return int64Arg(latin1(text.min)) === null || int64Arg(latin1(text.max)) === null
        ? (notAnInteger as ErrorReply)
        : null;
    case 'score':
      return parseScoreBound(text.min) === null || parseScoreBound(text.max) === null
        ? error(minMaxNotFloat)
        : null;
    case 'lex':
      return parseLexBound(text.min) === null || parseLexBound(text.max) === null
        ? error(minMaxNotLex)
        : null;
  }
}

/** A range's text parsed (its problem checked first). */
function parsedRange(text: ZsetRangeText): ZsetRange {
  switch (text.by) {
    case 'rank':
      return {
        by: 'rank',
        start: clamped(int64Arg(latin1(text.min)) as bigint),
        stop: clamped(int64Arg(latin1(text.max)) as bigint),
      };
    case 'score':
      return {
        by: 'score',
        min: parseScoreBound(text.min) as NonNullable<ReturnType<typeof parseScoreBound>>,
        max: parseScoreBound(text.max) as NonNullable<ReturnType<typeof parseScoreBound>>,
      };
    case 'lex':
      return {
        by: 'lex',
        min: parseLexBound(text.min) as NonNullable<ReturnType<typeof parseLexBound>>,
        max: parseLexBound(text.max) as NonNullable<ReturnType<typeof parseLexBound>>,
      };
  }
}

/** ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX key min max: how many went. */
function zremrange(by: ZsetRangeText['by']): Handler {
  return (context, session, args) => {
    const range: ZsetRangeText = { by, min: args.raw[2], max: args.raw[3] };
    const problem = rangeProblem(range);
    if (problem !== null) return problem;
    const command: Command = { type: 'zremrange', key: args.raw[1], range, at: Date.now() };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/** ZPOPMIN and ZPOPMAX key [count]. */
function zpop(side: 'min' | 'max'): Handler {
  return (context, session, args) => {
    if (args.raw.length > 3) return syntaxError;
    let count: bigint | null = null;
    if (args.raw.length === 3) {
      count = int64Arg(args.text[2]);
      if (count === null || count < 0n) return error('ERR value is out of range, must be positive');
    }
    if (count === 0n) {
      // Nothing to pop: the key's type is still checked, as Redis checks it first.
      return readFor(context, session, async (store, now) => {
        const type = await store.type(args.raw[1], now);
        return type === 'none' || type === 'zset' ? [] : error(wrongType);
      });
    }
    const command: Command = {
      type: 'zpop',
      keys: [args.raw[1]],
      side,
      count: count === null ? 1 : clamped(count),
      at: Date.now(),
    };
    const nested = session.protocol === 3 && count !== null;
    const format = (value: unknown): Reply => {
      if (value === null) return [];
      const { entries } = value as { entries: [Buffer, Buffer][] };
      return withScores(session, parsedEntries(entries), nested);
    };
    return writeFor(context, session, command, format, args.raw);
  };
}

/** The keys of a command whose `numkeys` argument is at `at`, the keys following it. */
function numberedKeys(raw: readonly Buffer[], at: number): Buffer[] {
  const count = integerArg(raw[at]?.toString('latin1') ?? '');
  // As Redis's key lookup: a count that the arguments cannot hold names no key.
  if (count === null || count < 1 || count > raw.length - at - 1) return [];
  return raw.slice(at + 1, at + 1 + count);
}

/** ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]. */
function zmpop(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const numkeys = int64Arg(args.text[1]);
  if (numkeys === null || numkeys < 1n) return error('ERR numkeys should be greater than 0');
  const whereAt = 1n + numkeys + 1n;
  if (whereAt >= BigInt(args.raw.length)) return syntaxError;
  const where = args.text[Number(whereAt)].toLowerCase();
  if (where !== 'min' && where !== 'max') return syntaxError;
  let count: bigint | null = null;
  for (let i = Number(whereAt) + 1; i < args.raw.length; i++) {
    const more = args.raw.length - 1 - i;
    if (count === null && args.text[i].toLowerCase() === 'count' && more > 0) {
      i++;
      count = int64Arg(args.text[i]);
      if (count === null || count < 1n) return error('ERR count should be greater than 0');
    } else return syntaxError;
  }
  const command: Command = {
    type: 'zpop',
    keys: args.raw.slice(2, Number(whereAt)),
    side: where,
    count: count === null ? 1 : clamped(count),
    at: Date.now(),
  };
  const format = (value: unknown): Reply => {
    if (value === null) return nullArray;
    const { key, entries } = value as { key: Buffer; entries: [Buffer, Buffer][] };
    return [key, withScores(session, parsedEntries(entries), true)];
  };
  return writeFor(context, session, command, format, args.raw);
}

// ------------------------------------------------------------------ ranges

/** Which of the range commands: its fixed kind and direction, or ZRANGE's own. */
interface RangeForm {
  readonly by: ZsetRangeText['by'] | null;
  readonly reverse: boolean | null;
  readonly store: boolean;
}

const rangeForms: Readonly<Record<string, RangeForm>> = {
  zrange: { by: null, reverse: null, store: false },
  zrangestore: { by: null, reverse: null, store: true },
  zrevrange: { by: 'rank', reverse: true, store: false },
  zrangebyscore: { by: 'score', reverse: false, store: false },
  zrevrangebyscore: { by: 'score', reverse: true, store: false },
  zrangebylex: { by: 'lex', reverse: false, store: false },
  zrevrangebylex: { by: 'lex', reverse: true, store: false },
};

/** A range command read: what it selects, and whether it answers scores. */
interface RangeRequest {
  readonly text: ZsetRangeText;
  readonly reverse: boolean;
  readonly limit?: { offset: number; count: number };
  readonly withScores: boolean;
}

/** A range command's arguments from `first` (the min) on, as zrangeGenericCommand reads them. */
function rangeRequest(args: Args, first: number, form: RangeForm): RangeRequest | ErrorReply {
  let by = form.by;
  let reverse = form.reverse;
  let withScores = false;
  let limit: { offset: number; count: number } | undefined;
  for (let j = first + 2; j < args.text.length; j++) {
    const option = args.text[j].toLowerCase();
    const left = args.text.length - j - 1;
    if (!form.store && option === 'withscores') withScores = true;
    else if (option === 'limit' && left >= 2) {
      const offset = int64Arg(args.text[j + 1]);
      const count = int64Arg(args.text[j + 2]);
      if (offset === null || count === null) return notAnInteger as ErrorReply;
      limit = { offset: clamped(offset), count: clamped(count) };
      j += 2;
    } else if (reverse === null && option === 'rev') reverse = true;
    else if (by === null && option === 'bylex') by = 'lex';
    else if (by === null && option === 'byscore') by = 'score';
    else return syntaxError as ErrorReply;
  }
  by ??= 'rank';
  reverse ??= false;
  if (limit !== undefined && limit.count !== -1 && by === 'rank') {
    return error(
      'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX',
    );
  }
  if (withScores && by === 'lex') {
    return error('ERR syntax error, WITHSCORES not supported in combination with BYLEX');
  }
  // A reverse range by score or member names its maximum first.
  const swap = reverse && by !== 'rank';
  const [min, max] = swap
    ? [args.raw[first + 1], args.raw[first]]
    : [args.raw[first], args.raw[first + 1]];
  const text: ZsetRangeText = { by, min, max };
  const problem = rangeProblem(text);
  if (problem !== null) return problem;
  return { text, reverse, withScores, ...(limit === undefined ? {} : { limit }) };
}

/** ZRANGE and its older forms, and ZRANGESTORE dst src min max [...]. */
function zrange(name: string): Handler {
  const form = rangeForms[name] as RangeForm;
  return (context, session, args) => {
    const request = rangeRequest(args, form.store ? 3 : 2, form);
    if ('kind' in request) return request;
    if (form.store) {
      const command: Command = {
        type: 'zrangestore',
        destination: args.raw[1],
        key: args.raw[2],
        range: request.text,
        ...(request.reverse ? { reverse: true } : {}),
        ...(request.limit === undefined
          ? {}
          : { offset: request.limit.offset, count: request.limit.count }),
        at: Date.now(),
      };
      return writeFor(context, session, command, integerReply, args.raw);
    }
    const selection: ZsetSelection = {
      range: parsedRange(request.text),
      reverse: request.reverse,
      ...(request.limit === undefined ? {} : { limit: request.limit }),
    };
    return readFor(context, session, async (store, now) => {
      const entries = await store.zsetRange(args.raw[1], selection, now);
      return request.withScores ? withScores(session, entries) : entries.map(([member]) => member);
    });
  };
}

/** ZCOUNT and ZLEXCOUNT key min max. */
function zcount(by: 'score' | 'lex'): Handler {
  return (context, session, args) => {
    const text: ZsetRangeText = { by, min: args.raw[2], max: args.raw[3] };
    const problem = rangeProblem(text);
    if (problem !== null) return problem;
    const range = parsedRange(text);
    return readFor(context, session, (store, now) => store.zsetCount(args.raw[1], range, now));
  };
}

// ------------------------------------------------------------------ reads

function zcard(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => store.zsetSize(args.raw[1], now));
}

function zscore(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const score = (await store.zsetScores(args.raw[1], [args.raw[2]], now))?.[0] ?? null;
    return score === null ? null : scoreReply(session, score);
  });
}

function zmscore(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const members = args.raw.slice(2);
  return readFor(context, session, async (store, now) => {
    const scores = (await store.zsetScores(args.raw[1], members, now)) ?? members.map(() => null);
    return scores.map((score) => (score === null ? null : scoreReply(session, score)));
  });
}

/** ZRANK and ZREVRANK key member. */
function zrank(reverse: boolean): Handler {
  return (context, session, args) =>
    readFor(context, session, (store, now) =>
      store.zsetRank(args.raw[1], args.raw[2], reverse, now),
    );
}

/** `count` entries drawn from `entries`: distinct ones when `distinct`, else with repeats. */
function draw<T>(entries: readonly T[], count: number, distinct: boolean): T[] {
  if (!distinct) {
    return Array.from(
      { length: count },
      () => entries[Math.floor(Math.random() * entries.length)] as T,
    );
  }
  if (count >= entries.length) return [...entries];
  // A partial Fisher-Yates shuffle: the first `count` places hold a uniform sample.
  const pool = [...entries];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, count);
}

/** ZRANDMEMBER key [count [WITHSCORES]], as Redis 7.0 reads its count. */
function zrandmember(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (args.text.length === 2) {
    return readFor(context, session, async (store, now) => {
      const entries = await store.zsetRange(args.raw[1], wholeSet, now);
      return entries.length === 0 ? null : (draw(entries, 1, false)[0] as [Buffer, number])[0];
    });
  }
  const count = int64Arg(args.text[2]);
  if (count === null) return notAnInteger;
  if (count < -longMax) {
    return error(`ERR value is out of range, value must between ${-longMax} and ${longMax}`);
  }
  if (
    args.text.length > 4 ||
    (args.text.length === 4 && args.text[3].toLowerCase() !== 'withscores')
  ) {
    return syntaxError;
  }
  const scores = args.text.length === 4;
  if (scores && (count < -longMax / 2n || count > longMax / 2n)) {
    return error('ERR value is out of range');
  }
  return readFor(context, session, async (store, now) => {
    const entries = await store.zsetRange(args.raw[1], wholeSet, now);
    if (count === 0n || entries.length === 0) return [];
    // Refused only where Redis would build the reply (see HRANDFIELD's bound).
    if (-count > BigInt(zrandmemberRepeatsMax)) return zrandmemberRepeatsRefused;
    const distinct = count > 0n;
    const wanted = distinct ? clamped(count) : clamped(-count);
    const drawn = draw(entries, Math.min(wanted, distinct ? entries.length : wanted), distinct);
    return scores ? withScores(session, drawn) : drawn.map(([member]) => member);
  });
}

const unsignedLongSyntax = /^(?:[+-]?[0-9]+)?$/;
const unsignedLongMax = 2n ** 64n - 1n;

/** A scan cursor as Redis's parseScanCursorOrReply reads it (as HSCAN's), or null. */
function scanCursor(text: string): number | null {
  if (!unsignedLongSyntax.test(text)) return null;
  const negative = text.startsWith('-');
  const magnitude = text === '' ? 0n : BigInt(text.replace(/^[+-]/, ''));
  if (magnitude > unsignedLongMax) return null;
  const value = negative && magnitude > 0n ? 2n ** 64n - magnitude : magnitude;
  return Number(value > safeMax ? safeMax : value);
}

/**
 * A score as ZSCAN writes it: a listpack holds an integral score (within a long long) as
 * an integer and answers its digits; otherwise `%.17g`.
 */
function scanScore(score: number, listpack: boolean): string {
  if (listpack && Number.isInteger(score) && Math.abs(score) < 2 ** 63) {
    return BigInt(score).toString();
  }
  return formatScore(score);
}

/** ZSCAN key cursor [MATCH pattern] [COUNT count], read in HSCAN's order of checks. */
function zscan(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const cursor = scanCursor(args.text[2]);
  if (cursor === null) return error('ERR invalid cursor');
  return readFor(context, session, async (store, now) => {
    const type = await store.type(args.raw[1], now);
    if (type === 'none') return ['0', []];
    if (type !== 'zset') return error(wrongType);
    const options = scanOptions(args, 3, false);
    if ('kind' in options) return options;
    const listpack = (await store.zsetEncoding(args.raw[1], now)) === 'listpack';
    const page = await store.zsetScan(args.raw[1], cursor, options, now);
    const items = page.entries.flatMap(([member, score]) => [member, scanScore(score, listpack)]);
    return [String(page.cursor), items];
  });
}

// ------------------------------------------------------------------ set operations

/** A set operation's arguments, as zunionInterDiffGenericCommand reads them. */
interface SetOperation {
  readonly weights?: Buffer[];
  readonly aggregate?: Aggregate;
  readonly withScores: boolean;
}

/**
 * The keys of a set operation whose numkeys is at `at`, or Redis's error for numkeys;
 * then `options` reads the rest (its errors come after the keys' types, as in Redis).
 */
function setOperationKeys(args: Args, at: number, name: string): Buffer[] | ErrorReply {
  const count = int64Arg(args.text[at]);
  if (count === null) return notAnInteger as ErrorReply;
  if (count < 1n) return error(`ERR at least 1 input key is needed for '${name}' command`);
  if (count > BigInt(args.raw.length - (at + 1))) return syntaxError as ErrorReply;
  return args.raw.slice(at + 1, at + 1 + Number(count));
}

function setOperationOptions(
  args: Args,
  from: number,
  keys: number,
  operation: 'union' | 'inter' | 'diff',
  store: boolean,
): SetOperation | ErrorReply {
  const result: { weights?: Buffer[]; aggregate?: Aggregate; withScores: boolean } = {
    withScores: false,
  };
  for (let j = from; j < args.raw.length;) {
    const remaining = args.raw.length - j;
    const option = args.text[j].toLowerCase();
    if (operation !== 'diff' && remaining >= keys + 1 && option === 'weights') {
      const weights = args.raw.slice(j + 1, j + 1 + keys);
      if (weights.some((weight) => parseScore(weight) === null)) return error(weightNotAFloat);
      result.weights = weights;
      j += keys + 1;
    } else if (operation !== 'diff' && remaining >= 2 && option === 'aggregate') {
      const aggregate = args.text[j + 1].toLowerCase();
      if (aggregate !== 'sum' && aggregate !== 'min' && aggregate !== 'max') {
        return syntaxError as ErrorReply;
      }
      result.aggregate = aggregate;
      j += 2;
    } else if (!store && option === 'withscores') {
      result.withScores = true;
      j += 1;
    } else return syntaxError as ErrorReply;
  }
  return result;
}

/**
 * WRONGTYPE when one of `keys` holds a live value other than a sorted set or a set (which
 * Redis's ZUNION, ZINTER and ZDIFF take as members of score 1), else null.
 */
async function keysProblem(
  store: StoreReader,
  keys: readonly Buffer[],
  now: number,
): Promise<ErrorReply | null> {
  for (const key of keys) {
    const type = await store.type(key, now);
    if (type !== 'none' && type !== 'zset' && type !== 'set') return error(wrongType);
  }
  return null;
}

/** ZUNION, ZINTER and ZDIFF numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]. */
function zsetOperation(operation: 'union' | 'inter' | 'diff'): Handler {
  const name = `z${operation}`;
  return (context, session, args) => {
    const keys = setOperationKeys(args, 1, name);
    if ('kind' in keys) return keys;
    return readFor(context, session, async (store, now) => {
      const problem = await keysProblem(store, keys, now);
      if (problem !== null) return problem;
      const options = setOperationOptions(args, 2 + keys.length, keys.length, operation, false);
      if ('kind' in options) return options;
      const operands = [];
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as Buffer;
        const entries =
          (await store.type(key, now)) === 'set'
            ? (await store.setAll(key, now)).map((member) => [member, 1] as const)
            : await store.zsetRange(key, wholeSet, now);
        operands.push({
          members:
            entries.length === 0
              ? null
              : new Map(entries.map(([member, score]) => [member.toString('latin1'), score])),
          weight:
            options.weights === undefined
              ? 1
              : (parseScore(options.weights[i] as Buffer) as number),
        });
      }
      const combined = sortedEntries(combineSets(operation, operands, options.aggregate ?? 'sum'));
      const entries = combined.map(
        ([member, score]) => [Buffer.from(member, 'latin1'), score] as const,
      );
      return options.withScores ? withScores(session, entries) : entries.map(([member]) => member);
    });
  };
}

/** ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE destination numkeys key [key ...] [...]. */
function zsetOperationStore(operation: 'union' | 'inter' | 'diff'): Handler {
  const name = `z${operation}store`;
  return (context, session, args) => {
    const keys = setOperationKeys(args, 2, name);
    if ('kind' in keys) return keys;
    const options = setOperationOptions(args, 3 + keys.length, keys.length, operation, true);
    if ('kind' in options) {
      // Redis looks at the keys' types before the options: a WRONGTYPE comes first.
      return readFor(
        context,
        session,
        async (store, now) => (await keysProblem(store, keys, now)) ?? options,
      );
    }
    const command: Command = {
      type: 'zsetstore',
      operation,
      destination: args.raw[1],
      keys,
      ...(options.weights === undefined ? {} : { weights: options.weights }),
      ...(options.aggregate === undefined ? {} : { aggregate: options.aggregate }),
      at: Date.now(),
    };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/** The keys of ZMPOP numkeys key..., for the key patterns of ACL. */
const zmpopKeys = (raw: readonly Buffer[]): Buffer[] => numberedKeys(raw, 1);
/** The keys of BZMPOP timeout numkeys key..., for the key patterns of ACL. */
const bzmpopKeys = (raw: readonly Buffer[]): Buffer[] => numberedKeys(raw, 2);
/** BZPOPMIN key [key ...] timeout. */
const keysBeforeTimeout = { first: 1, last: -2, step: 1 };
const blockingSpec = { write: true, role: 'write', blocks: true } as const;
/** The keys of ZUNION numkeys key... (and ZINTER, ZDIFF). */
const operationKeys = (raw: readonly Buffer[]): Buffer[] => numberedKeys(raw, 1);
/** The destination and keys of ZUNIONSTORE destination numkeys key... (and the others). */
const storeKeys = (raw: readonly Buffer[]): Buffer[] => {
  const sources = numberedKeys(raw, 2);
  return sources.length === 0 ? [] : [raw[1] as Buffer, ...sources];
};
/**
 * The destination alone: COMMAND INFO's legacy key range for the STOREs, as Redis gives it
 * (`storeKeys` names every key, for the checks).
 */
const destinationKey = oneKey;
/** The destination and source of ZRANGESTORE. */
const twoKeys = { first: 1, last: 2, step: 1 };

/**
 * The sorted set commands: handler, Redis arity (negative: at least), whether it writes,
 * the role it needs and where its keys are.
 */
export const sortedSetCommands: Readonly<Record<string, CommandSpec>> = {
  zadd: { arity: -4, write: true, role: 'write', keys: oneKey, run: zadd },
  zincrby: { arity: 4, write: true, role: 'write', keys: oneKey, run: zincrby },
  zrem: { arity: -3, write: true, role: 'write', keys: oneKey, run: zrem },
  zpopmin: { arity: -2, write: true, role: 'write', keys: oneKey, run: zpop('min') },
  zpopmax: { arity: -2, write: true, role: 'write', keys: oneKey, run: zpop('max') },
  zmpop: { arity: -4, write: true, role: 'write', keysOf: zmpopKeys, run: zmpop },
  // The blocking forms hold their connection's later commands until they answer.
  bzpopmin: {
    arity: -3,
    ...blockingSpec,
    keys: keysBeforeTimeout,
    run: blockingZpop('MIN', zmpop, zadd),
  },
  bzpopmax: {
    arity: -3,
    ...blockingSpec,
    keys: keysBeforeTimeout,
    run: blockingZpop('MAX', zmpop, zadd),
  },
  bzmpop: { arity: -5, ...blockingSpec, keysOf: bzmpopKeys, run: blockingZmpop(zmpop, zadd) },
  zremrangebyrank: { arity: 4, write: true, role: 'write', keys: oneKey, run: zremrange('rank') },
  zremrangebyscore: {
    arity: 4,
    write: true,
    role: 'write',
    keys: oneKey,
    run: zremrange('score'),
  },
  zremrangebylex: { arity: 4, write: true, role: 'write', keys: oneKey, run: zremrange('lex') },
  zrangestore: {
    arity: -5,
    write: true,
    role: 'write',
    keys: twoKeys,
    run: zrange('zrangestore'),
  },
  zunionstore: {
    arity: -4,
    write: true,
    role: 'write',
    keys: destinationKey,
    keysOf: storeKeys,
    run: zsetOperationStore('union'),
  },
  zinterstore: {
    arity: -4,
    write: true,
    role: 'write',
    keys: destinationKey,
    keysOf: storeKeys,
    run: zsetOperationStore('inter'),
  },
  zdiffstore: {
    arity: -4,
    write: true,
    role: 'write',
    keys: destinationKey,
    keysOf: storeKeys,
    run: zsetOperationStore('diff'),
  },
  zcard: { arity: 2, write: false, role: 'read', keys: oneKey, run: zcard },
  zscore: { arity: 3, write: false, role: 'read', keys: oneKey, run: zscore },
  zmscore: { arity: -3, write: false, role: 'read', keys: oneKey, run: zmscore },
  zrank: { arity: 3, write: false, role: 'read', keys: oneKey, run: zrank(false) },
  zrevrank: { arity: 3, write: false, role: 'read', keys: oneKey, run: zrank(true) },
  zcount: { arity: 4, write: false, role: 'read', keys: oneKey, run: zcount('score') },
  zlexcount: { arity: 4, write: false, role: 'read', keys: oneKey, run: zcount('lex') },
  zrange: { arity: -4, write: false, role: 'read', keys: oneKey, run: zrange('zrange') },
  zrevrange: { arity: -4, write: false, role: 'read', keys: oneKey, run: zrange('zrevrange') },
  zrangebyscore: {
    arity: -4,
    write: false,
    role: 'read',
    keys: oneKey,
    run: zrange('zrangebyscore'),
  },
  zrevrangebyscore: {
    arity: -4,
    write: false,
    role: 'read',
    keys: oneKey,
    run: zrange('zrevrangebyscore'),
  },
  zrangebylex: {
    arity: -4,
    write: false,
    role: 'read',
    keys: oneKey,
    run: zrange('zrangebylex'),
  },
  zrevrangebylex: {
    arity: -4,
    write: false,
    role: 'read',
    keys: oneKey,
    run: zrange('zrevrangebylex'),
  },
  zrandmember: { arity: -2, write: false, role: 'read', keys: oneKey, run: zrandmember },
  zscan: { arity: -3, write: false, role: 'read', keys: oneKey, run: zscan },
  zunion: {
    arity: -3,
    write: false,
    role: 'read',
    keysOf: operationKeys,
    run: zsetOperation('union'),
  },
  zinter: {
    arity: -3,
    write: false,
    role: 'read',
    keysOf: operationKeys,
    run: zsetOperation('inter'),
  },
  zdiff: {
    arity: -3,
    write: false,
    role: 'read',
    keysOf: operationKeys,
    run: zsetOperation('diff'),
  },
};
