/**
 * The key and string commands: reads go through `readFor` (read-your-writes), writes
 * through `writeFor` (one log entry each; MSET is one entry, so atomic). Argument errors
 * use Redis's own texts.
 */
import { valueBytesMax, type Command, type ExpireCondition } from '../../store/commands.js';
import type { MaybePromise } from '../../store/contract.js';
import { clientKey, databaseOf, isDatabase, storedKey } from '../../store/databases.js';
import type { KvEntry } from '../../store/kv.js';
import { tooLarge, WrongTypeError } from '../../store/kv-rules.js';
import { listEncoding } from '../../store/values.js';
import { dbOutOfRange } from './databases.js';
import { expireAtMs, int64Arg, setExpiryMs, type SetExpiryUnit } from './expiry.js';
import { parseInteger } from './parser.js';
import { error, ok, simple, type ErrorReply, type Reply } from './reply.js';
import { readFor, writeFor, type ServerContext, type Session } from './session.js';
import { allKeys, oneKey, type CommandSpec, type SubcommandSpec } from './spec.js';

/**
 * A command's arguments: as text (UTF-8) and as the bytes that arrived. Keys, values and
 * patterns are taken from `raw`, so that any bytes round-trip exactly; `text` is for
 * names, options and numbers.
 */
export interface Args {
  readonly text: readonly string[];
  readonly raw: readonly Buffer[];
}

/** A command handler: returns its reply, or a promise of it. Throws for errors. */
export type Handler = (
  context: ServerContext,
  session: Session,
  args: Args,
) => Reply | Promise<Reply>;

/** Redis's texts for bad arguments. */
export const notAnInteger = error('ERR value is not an integer or out of range');
export const syntaxError = error('ERR syntax error');

/** The integer an argument spells exactly, as Redis's string2ll reads it, or null. */
export function integerArg(text: string): number | null {
  const bytes = Buffer.from(text, 'latin1');
  return parseInteger(bytes, 0, bytes.length);
}

const okReply = (): Reply => ok;
const integerReply = (value: unknown): Reply => value as number;

function get(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => valueOf(store.get(args.raw[1], now)));
}

/** A read entry's value (null when absent), at once when the store answered at once. */
function valueOf(entry: MaybePromise<KvEntry | null>): MaybePromise<Buffer | null> {
  return entry instanceof Promise
    ? entry.then((found) => found?.value ?? null)
    : (entry?.value ?? null);
}

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]. */
function set(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const at = Date.now();
  const options = setOptions(args.text);
  if ('kind' in options) return options;
  const expiresAt = options.expiry === undefined ? null : setExpiry(options.expiry, at);
  if (expiresAt !== null && typeof expiresAt !== 'number') return expiresAt;
  const command: Command = {
    type: 'set',
    key: args.raw[1],
    value: args.raw[2],
    at,
    ...(expiresAt === null ? {} : { expiresAt }),
    ...(options.keepTtl ? { keepTtl: true } : {}),
    ...(options.condition === undefined ? {} : { condition: options.condition }),
    ...(options.get ? { returnOld: true } : {}),
  };
  // With GET the old value is the answer; otherwise OK, or null when NX/XX did not hold.
  const format = options.get
    ? (value: unknown): Reply => value as Buffer | string | null
    : (value: unknown): Reply => (value === 'OK' ? ok : null);
  return writeFor(context, session, command, format, args.raw);
}

/** SETNX key value: SET ... NX, answered 1 when it set the key and 0 when the key existed. */
function setnx(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'set',
    key: args.raw[1],
    value: args.raw[2],
    at: Date.now(),
    condition: 'nx',
  };
  return writeFor(context, session, command, (value) => (value === 'OK' ? 1 : 0), args.raw);
}

/** SETEX key seconds value, PSETEX key milliseconds value: SET ... EX or PX. */
function setWithExpiry(unit: 'EX' | 'PX', name: string): Handler {
  return (context, session, args) => {
    const at = Date.now();
    const amount = int64Arg(args.text[2]);
    if (amount === null) return notAnInteger;
    const expiresAt = setExpiryMs(unit, amount, at);
    if (expiresAt === null) return error(`ERR invalid expire time in '${name}' command`);
    const command: Command = { type: 'set', key: args.raw[1], value: args.raw[3], at, expiresAt };
    return writeFor(context, session, command, okReply, args.raw);
  };
}

/** GETSET key value: SET ... GET (the expiry goes, as with SET); the old value or nil. */
function getset(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'set',
    key: args.raw[1],
    value: args.raw[2],
    at: Date.now(),
    returnOld: true,
  };
  return writeFor(context, session, command, (value) => value as Buffer | null, args.raw);
}

/**
 * GETRANGE key start end (and its old name SUBSTR): the bytes from `start` to `end`
 * inclusive, negative offsets counting from the end, clamped to the value as Redis clamps
 * them; an absent key is the empty string. The offsets are read before the key, as Redis does.
 */
function getrange(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const start = int64Arg(args.text[2]);
  const end = int64Arg(args.text[3]);
  if (start === null || end === null) return notAnInteger;
  return readFor(context, session, async (store, now) => {
    const value = (await store.get(args.raw[1], now))?.value ?? Buffer.alloc(0);
    return byteRange(value, start, end);
  });
}

/** GETDEL key: the value (nil when absent), and the key removed. */
function getdel(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = { type: 'getdel', key: args.raw[1], at: Date.now() };
  return writeFor(context, session, command, (value) => value as Buffer | null, args.raw);
}

/**
 * GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]: the value (nil when absent); with an
 * option, a write that sets or removes the expiry. Without one it is a read, as GET.
 */
function getex(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  let expiry: { unit: ExpiryUnit; amount: string } | undefined;
  let persist = false;
  for (let i = 2; i < args.text.length; i++) {
    const option = args.text[i].toUpperCase();
    if (option === 'PERSIST' && expiry === undefined) persist = true;
    else if (!persist && takesExpiry(option, expiry, i + 1 < args.text.length)) {
      expiry = { unit: option as ExpiryUnit, amount: args.text[++i] };
    } else {
      return syntaxError;
    }
  }
  if (expiry === undefined && !persist) return get(context, session, args);
  const at = Date.now();
  let expiresAt: number | null = null;
  if (expiry !== undefined) {
    const amount = int64Arg(expiry.amount);
    expiresAt = amount === null ? null : setExpiryMs(expiry.unit, amount, at);
    if (expiresAt === null) {
      // Redis looks the key up before it reads the amount: an absent key is nil whatever
      // the amount. Either answer changes nothing, so a read decides which.
      const refusal =
        amount === null ? notAnInteger : error("ERR invalid expire time in 'getex' command");
      return readFor(context, session, async (store, now) =>
        (await store.get(args.raw[1], now)) === null ? null : refusal,
      );
    }
  }
  const command: Command = { type: 'getex', key: args.raw[1], expiresAt, at };
  return writeFor(context, session, command, (value) => value as Buffer | null, args.raw);
}

/**
 * SETRANGE key offset value: the new length. An offset past what a value may hold is
 * refused here, as Redis refuses it, unless the value is empty (then nothing changes and
 * the offset does not matter).
 */
function setrange(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const offset = int64Arg(args.text[2]);
  if (offset === null) return notAnInteger;
  if (offset < 0n) return error('ERR offset is out of range');
  const value = args.raw[3];
  const empty = value.byteLength === 0;
  if (!empty && offset + BigInt(value.byteLength) > BigInt(valueBytesMax)) {
    return error(tooLarge);
  }
  const command: Command = {
    type: 'setrange',
    key: args.raw[1],
    offset: empty ? 0 : Number(offset),
    value,
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** MSETNX key value [key value ...]: every pair, or (when any key exists) none; 1 or 0. */
function msetnx(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const pairs = pairsOf(args, 'msetnx');
  if (!Array.isArray(pairs)) return pairs;
  const command: Command = { type: 'msetnx', pairs, at: Date.now() };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** Redis's getrangeCommand on `value`, with 64-bit offsets. */
export function byteRange(value: Buffer, start: bigint, end: bigint): Buffer {
  const length = BigInt(value.byteLength);
  if (start < 0n && end < 0n && start > end) return Buffer.alloc(0);
  let from = start < 0n ? length + start : start;
  let to = end < 0n ? length + end : end;
  if (from < 0n) from = 0n;
  if (to < 0n) to = 0n;
  if (to >= length) to = length - 1n;
  if (from > to || length === 0n) return Buffer.alloc(0);
  return value.subarray(Number(from), Number(to) + 1);
}

/** The units of SET's expiry options: relative or absolute, in seconds or ms. */
type ExpiryUnit = SetExpiryUnit;

interface SetOptions {
  condition?: 'nx' | 'xx';
  get: boolean;
  keepTtl: boolean;
  /** The expiry option's unit and its amount, still text: read once every option is known. */
  expiry?: { readonly unit: ExpiryUnit; readonly amount: string };
}

const expiryUnits: ReadonlySet<string> = new Set<ExpiryUnit>(['EX', 'PX', 'EXAT', 'PXAT']);

/**
 * SET's options as Redis 7 reads them: each option may repeat (a repeated expiry of the
 * same unit wins), NX excludes XX, KEEPTTL and the expiry units exclude each other, and
 * anything else is a syntax error. The amount is read only once every option is known,
 * so a syntax error anywhere wins over a bad amount, as in Redis.
 */
function setOptions(text: readonly string[]): SetOptions | ErrorReply {
  const options: SetOptions = { get: false, keepTtl: false };
  for (let i = 3; i < text.length; i++) {
    const option = text[i].toUpperCase();
    if (option === 'NX' && options.condition !== 'xx') options.condition = 'nx';
    else if (option === 'XX' && options.condition !== 'nx') options.condition = 'xx';
    else if (option === 'GET') options.get = true;
    else if (option === 'KEEPTTL' && options.expiry === undefined) options.keepTtl = true;
    else if (!options.keepTtl && takesExpiry(option, options.expiry, i + 1 < text.length)) {
      options.expiry = { unit: option as ExpiryUnit, amount: text[++i] };
    } else {
      return syntaxError;
    }
  }
  return options;
}

/**
 * Whether `option` is an expiry option (EX, PX, EXAT, PXAT) that SET and GETEX take here:
 * with an amount after it, and no other unit given before (the same one again is allowed).
 */
function takesExpiry(
  option: string,
  current: { readonly unit: ExpiryUnit } | undefined,
  amountFollows: boolean,
): boolean {
  return (
    expiryUnits.has(option) && (current === undefined || current.unit === option) && amountFollows
  );
}

/** The absolute expiry (ms) of SET's expiry option, or Redis's error for its amount. */
function setExpiry(
  expiry: { readonly unit: ExpiryUnit; readonly amount: string },
  at: number,
): number | ErrorReply {
  const amount = int64Arg(expiry.amount);
  if (amount === null) return notAnInteger;
  return setExpiryMs(expiry.unit, amount, at) ?? error("ERR invalid expire time in 'set' command");
}

function del(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = { type: 'del', keys: args.raw.slice(1), at: Date.now() };
  return writeFor(context, session, command, integerReply, args.raw);
}

function exists(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, (store, now) => store.exists(args.raw.slice(1), now));
}

/** INCR, DECR, INCRBY, DECRBY: `sign` and whether the amount is an argument. */
function counter(sign: 1 | -1, byArgument: boolean): Handler {
  return (context, session, args) => {
    // A signed 64-bit amount, as Redis reads it; DECRBY cannot negate the smallest one.
    const amount = byArgument ? int64Arg(args.text[2]) : 1n;
    if (amount === null) return notAnInteger;
    if (sign < 0 && amount === -(2n ** 63n)) return error('ERR decrement would overflow');
    const by = BigInt(sign) * amount;
    const small = Number(by);
    const command: Command = {
      type: 'incrby',
      key: args.raw[1],
      // A number while it is a safe integer (the form of every entry before bigints).
      by: Number.isSafeInteger(small) ? small : by,
      at: Date.now(),
    };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

function append(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = {
    type: 'append',
    key: args.raw[1],
    value: args.raw[2],
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

function strlen(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const value = (await store.get(args.raw[1], now))?.value;
    return value === undefined ? 0 : value.byteLength;
  });
}

/** MGET key...: each string's value; nil for an absent key and, as in Redis, for another type. */
function mget(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) => {
    const entries = await Promise.all(
      args.raw.slice(1).map(async (key) => {
        try {
          return (await store.get(key, now))?.value ?? null;
        } catch (thrown) {
          if (thrown instanceof WrongTypeError) return null;
          throw thrown;
        }
      }),
    );
    return entries;
  });
}

/** The key-value pairs of MSET or MSETNX, or Redis's error for an odd count. */
function pairsOf(args: Args, name: string): [Buffer, Buffer][] | ErrorReply {
  if (args.text.length % 2 !== 1)
    return error(`ERR wrong number of arguments for '${name}' command`);
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 1; i < args.raw.length; i += 2) pairs.push([args.raw[i], args.raw[i + 1]]);
  return pairs;
}

function mset(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const pairs = pairsOf(args, 'mset');
  if (!Array.isArray(pairs)) return pairs;
  const command: Command = { type: 'mset', pairs, at: Date.now() };
  return writeFor(context, session, command, okReply, args.raw);
}

/**
 * EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT key amount [NX|XX|GT|LT]: `unitMs` per unit of
 * the amount, which is from now, or from the Unix epoch when `absolute`.
 */
function expire(unitMs: 1 | 1000, name: string, absolute = false): Handler {
  return (context, session, args) => {
    // Redis reads the options before the amount: their errors come first.
    const condition = expireCondition(args.text.slice(3));
    if (typeof condition === 'object') return condition;
    const amount = int64Arg(args.text[2]);
    if (amount === null) return notAnInteger;
    const at = Date.now();
    const expiresAt = expireAtMs(amount, unitMs, absolute ? 0 : at);
    if (expiresAt === null) return error(`ERR invalid expire time in '${name}' command`);
    const command: Command = {
      type: 'expire',
      key: args.raw[1],
      expiresAt,
      at,
      ...(condition === undefined ? {} : { condition }),
    };
    return writeFor(context, session, command, integerReply, args.raw);
  };
}

/**
 * EXPIRE's options as Redis 7 reads them: any of NX, XX, GT and LT, repeats allowed; an
 * unknown one is refused by name; NX goes with none of the others and GT not with LT.
 * XX GT is GT (which already needs an expiry); XX LT is its own condition.
 */
function expireCondition(options: readonly string[]): ExpireCondition | undefined | ErrorReply {
  const flags = new Set<string>();
  for (const option of options) {
    const flag = option.toUpperCase();
    if (flag !== 'NX' && flag !== 'XX' && flag !== 'GT' && flag !== 'LT') {
      return error(`ERR Unsupported option ${option}`);
    }
    flags.add(flag);
  }
  if (flags.has('NX') && flags.size > 1) {
    return error('ERR NX and XX, GT or LT options at the same time are not compatible');
  }
  if (flags.has('GT') && flags.has('LT')) {
    return error('ERR GT and LT options at the same time are not compatible');
  }
  if (flags.has('NX')) return 'nx';
  if (flags.has('GT')) return 'gt';
  if (flags.has('LT')) return flags.has('XX') ? 'xx-lt' : 'lt';
  return flags.has('XX') ? 'xx' : undefined;
}

function persist(context: ServerContext, session: Session, args: Args): Promise<Reply> {
  const command: Command = { type: 'expire', key: args.raw[1], expiresAt: null, at: Date.now() };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** TTL (seconds, rounded as Redis rounds) and PTTL (ms). */
function ttl(inSeconds: boolean): Handler {
  return (context, session, args) =>
    readFor(context, session, async (store, now) => {
      const ms = await store.ttlMs(args.raw[1], now);
      return ms < 0 || !inSeconds ? ms : Math.floor((ms + 500) / 1000);
    });
}

/**
 * EXPIRETIME (Unix seconds, rounded as Redis rounds) and PEXPIRETIME (ms): the key's
 * absolute expiry; -1 when it does not expire, -2 when it is absent.
 */
function expiretime(inSeconds: boolean): Handler {
  return (context, session, args) =>
    readFor(context, session, async (store, now) => {
      // Of a key of any type: its expiry is the key's, not its value's.
      const entry = await store.versionOf(args.raw[1], now);
      if (entry === null) return -2;
      if (entry.expiresAt === null) return -1;
      return inSeconds ? Math.floor((entry.expiresAt + 500) / 1000) : entry.expiresAt;
    });
}

/** RENAME key newkey ('OK') and RENAMENX key newkey (1 when moved, 0 when newkey exists). */
function rename(onlyIfAbsent: boolean): Handler {
  return (context, session, args) => {
    const command: Command = {
      type: 'rename',
      key: args.raw[1],
      destination: args.raw[2],
      at: Date.now(),
      ...(onlyIfAbsent ? { condition: 'nx' as const } : {}),
    };
    return writeFor(context, session, command, onlyIfAbsent ? integerReply : okReply, args.raw);
  };
}

/**
 * COPY source destination [DB index] [REPLACE]: 1 when it copied (value and expiry), 0
 * when the source is absent or the destination exists without REPLACE. With DB the
 * destination is of that database. The options are read in order and their errors come
 * first, then a copy onto itself (same key, same database), as in Redis.
 */
function copy(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  let replace = false;
  const sourceDb = databaseOf(args.raw[1]) ?? 0;
  let destinationDb = sourceDb;
  for (let i = 3; i < args.text.length; i++) {
    const option = args.text[i].toUpperCase();
    if (option === 'REPLACE') replace = true;
    else if (option === 'DB' && i + 1 < args.text.length) {
      const db = databaseIndex(args.text[++i]);
      if (typeof db !== 'number') return db;
      destinationDb = db;
    } else {
      return syntaxError;
    }
  }
  // The keys arrive in their stored form, of the connection's database.
  const destination = storedKey(destinationDb, clientKey(args.raw[2]));
  if (args.raw[1].equals(destination)) {
    return error('ERR source and destination objects are the same');
  }
  const command: Command = {
    type: 'copy',
    key: args.raw[1],
    destination,
    at: Date.now(),
    ...(replace ? { replace: true as const } : {}),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** MOVE key db: 1 when the key moved to database `db`, 0 when absent or there already. */
function move(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const db = databaseIndex(args.text[2]);
  if (typeof db !== 'number') return db;
  if (db === (databaseOf(args.raw[1]) ?? 0)) {
    return error('ERR source and destination objects are the same');
  }
  const command: Command = {
    type: 'rename',
    key: args.raw[1],
    destination: storedKey(db, clientKey(args.raw[1])),
    condition: 'move',
    at: Date.now(),
  };
  return writeFor(context, session, command, integerReply, args.raw);
}

/** SWAPDB index1 index2: OK once the two databases have exchanged their keys. */
function swapdb(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const a = integerIndex(args.text[1], 'ERR invalid first DB index');
  if (typeof a !== 'number') return a;
  const b = integerIndex(args.text[2], 'ERR invalid second DB index');
  if (typeof b !== 'number') return b;
  if (!isDatabase(a) || !isDatabase(b)) return dbOutOfRange;
  const command: Command = { type: 'swapdb', a, b, at: Date.now() };
  return writeFor(context, session, command, okReply, args.raw);
}

const int32Min = -(2n ** 31n);
const int32Max = 2n ** 31n - 1n;

/**
 * An argument as Redis's getIntFromObjectOrReply reads it: a 32-bit integer, or its
 * error (`refusal` when given, for both a non-integer and one out of range).
 */
function integerIndex(text: string, refusal?: string): number | ErrorReply {
  const index = int64Arg(text);
  if (index === null) return refusal === undefined ? notAnInteger : error(refusal);
  if (index < int32Min || index > int32Max) {
    return error(
      refusal ?? `ERR value is out of range, value must between ${int32Min} and ${int32Max}`,
    );
  }
  return Number(index);
}

/** A database index as SELECT, MOVE and COPY read it, or Redis's error. */
export function databaseIndex(text: string): number | ErrorReply {
  const index = integerIndex(text);
  if (typeof index !== 'number') return index;
  return isDatabase(index) ? index : dbOutOfRange;
}

/** TOUCH key...: how many exist (Tandem keeps no access times to update). */
function touch(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return exists(context, session, args);
}

function randomkey(context: ServerContext, session: Session): Reply | Promise<Reply> {
  const db = session.db;
  return readFor(context, session, async (store, now) => {
    const key = await store.randomKey(now, db);
    return key === null ? null : clientKey(key);
  });
}

/** The longest string Redis 7 keeps in one allocation with its object (OBJ_ENCODING_EMBSTR). */
const embstrBytesMax = 44;

/**
 * Redis 7's encoding of a string value as SET leaves it: `int` when it spells a signed
 * 64-bit integer exactly, `embstr` up to 44 bytes, `raw` beyond. (Redis reports `raw` for
 * a short value that APPEND or SETRANGE grew in place; Tandem answers from the value.)
 */
export function stringEncoding(value: Buffer): 'int' | 'embstr' | 'raw' {
  if (value.byteLength <= 20 && int64Arg(value.toString('latin1')) !== null) return 'int';
  return value.byteLength <= embstrBytesMax ? 'embstr' : 'raw';
}

const objectHelp: Reply = [
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'HELP',
  '    Prints this help.',
].map(simple);

/** OBJECT ENCODING key (nil when absent) and OBJECT HELP; the dispatcher checked the rest. */
function object(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  if (args.text[1].toLowerCase() === 'help') return objectHelp;
  return readFor(context, session, async (store, now) => {
    const type = await store.type(args.raw[2], now);
    if (type === 'hash') return store.hashEncoding(args.raw[2], now);
    if (type === 'set') return store.setEncoding(args.raw[2], now);
    if (type === 'zset') return store.zsetEncoding(args.raw[2], now);
    if (type === 'list') return listEncoding;
    const entry = type === 'none' ? null : await store.get(args.raw[2], now);
    return entry === null ? null : stringEncoding(entry.value);
  });
}

function type(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  return readFor(context, session, async (store, now) =>
    simple(await store.type(args.raw[1], now)),
  );
}

/** KEYS pattern: the pattern matches the client's keys of the connection's database. */
function keys(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const db = session.db;
  // A pattern for database N matches stored keys that begin with its prefix (which holds
  // no glob character), so the stores read only that range of keys.
  const pattern = db === 0 ? args.raw[1] : storedKey(db, args.raw[1]);
  return readFor(context, session, async (store, now) =>
    (await store.keys(pattern, now, db)).map(clientKey),
  );
}

/** The options of SCAN and of HSCAN, SSCAN and ZSCAN (which take no TYPE). */
export interface ScanOptions {
  match?: Buffer;
  count?: number;
  /** SCAN's TYPE, lower case. */
  type?: string;
}

/**
 * The options from `args[from]` on: MATCH pattern, COUNT n (at least 1), and TYPE name
 * where `typeAllowed`; Redis's error for anything else.
 */
export function scanOptions(
  args: Args,
  from: number,
  typeAllowed: boolean,
): ScanOptions | ErrorReply {
  const options: ScanOptions = {};
  for (let i = from; i < args.text.length; i += 2) {
    const option = args.text[i].toUpperCase();
    const value = args.text[i + 1];
    if (value === undefined) return syntaxError;
    if (option === 'MATCH') options.match = args.raw[i + 1];
    else if (option === 'COUNT') {
      const count = integerArg(value);
      if (count === null) return notAnInteger;
      if (count < 1) return syntaxError;
      options.count = count;
    } else if (option === 'TYPE' && typeAllowed) options.type = value.toLowerCase();
    else return syntaxError;
  }
  return options;
}

/** SCAN cursor [MATCH pattern] [COUNT n] [TYPE string]. */
function scan(context: ServerContext, session: Session, args: Args): Reply | Promise<Reply> {
  const cursor = integerArg(args.text[1]);
  if (cursor === null || cursor < 0) return error('ERR invalid cursor');
  const parsed = scanOptions(args, 2, true);
  if ('kind' in parsed) return parsed;
  const { type = null, match, count } = parsed;
  const db = session.db;
  const options = {
    ...(match === undefined ? {} : { match: db === 0 ? match : storedKey(db, match) }),
    ...(count === undefined ? {} : { count }),
    db,
  };
  return readFor(context, session, async (store, now) => {
    const page = await store.scan(cursor, options, now);
    if (type === null) return [String(page.cursor), page.keys.map(clientKey)];
    const types = await Promise.all(page.keys.map((key) => store.type(key, now)));
    return [String(page.cursor), page.keys.filter((_, i) => types[i] === type).map(clientKey)];
  });
}

function dbsize(context: ServerContext, session: Session): Reply | Promise<Reply> {
  const db = session.db;
  return readFor(context, session, (store, now) => store.dbsize(now, db));
}

/** FLUSHDB [ASYNC|SYNC] empties the connection's database, FLUSHALL every one. */
function flush(all: boolean): Handler {
  return (context, session, args) => {
    const mode = args.text[1]?.toUpperCase();
    if (args.text.length > 2 || (mode !== undefined && mode !== 'ASYNC' && mode !== 'SYNC')) {
      return syntaxError;
    }
    const at = Date.now();
    const command: Command = all ? { type: 'flush', at } : { type: 'flush', db: session.db, at };
    return writeFor(context, session, command, okReply, args.raw);
  };
}

/** MSET's keys: every other argument. */
const pairKeys = { first: 1, last: -1, step: 2 } as const;
/** RENAME's and COPY's keys: the source and the destination. */
const twoKeys = { first: 1, last: 2, step: 1 } as const;
/** OBJECT's key: after the subcommand (OBJECT HELP has none). */
const subcommandKey = { first: 2, last: 2, step: 1 } as const;

/** OBJECT's subcommands: reads. */
const objectSubcommands: Readonly<Record<string, SubcommandSpec>> = {
  encoding: { arity: 3, role: 'read' },
  help: { arity: 2, role: 'read' },
};

/**
 * The key and string commands: handler, Redis arity (negative: at least), whether it
 * writes, the role it needs and where its keys are.
 */
export const keyCommands: Readonly<Record<string, CommandSpec>> = {
  get: { arity: 2, write: false, role: 'read', keys: oneKey, run: get },
  set: { arity: -3, write: true, role: 'write', keys: oneKey, run: set },
  setnx: { arity: 3, write: true, role: 'write', keys: oneKey, run: setnx },
  setex: { arity: 4, write: true, role: 'write', keys: oneKey, run: setWithExpiry('EX', 'setex') },
  psetex: {
    arity: 4,
    write: true,
    role: 'write',
    keys: oneKey,
    run: setWithExpiry('PX', 'psetex'),
  },
  getset: { arity: 3, write: true, role: 'write', keys: oneKey, run: getset },
  getdel: { arity: 2, write: true, role: 'write', keys: oneKey, run: getdel },
  getex: { arity: -2, write: true, role: 'write', keys: oneKey, run: getex },
  setrange: { arity: 4, write: true, role: 'write', keys: oneKey, run: setrange },
  msetnx: { arity: -3, write: true, role: 'write', keys: pairKeys, run: msetnx },
  getrange: { arity: 4, write: false, role: 'read', keys: oneKey, run: getrange },
  substr: { arity: 4, write: false, role: 'read', keys: oneKey, run: getrange },
  del: { arity: -2, write: true, role: 'write', keys: allKeys, run: del },
  unlink: { arity: -2, write: true, role: 'write', keys: allKeys, run: del },
  exists: { arity: -2, write: false, role: 'read', keys: allKeys, run: exists },
  incr: { arity: 2, write: true, role: 'write', keys: oneKey, run: counter(1, false) },
  decr: { arity: 2, write: true, role: 'write', keys: oneKey, run: counter(-1, false) },
  incrby: { arity: 3, write: true, role: 'write', keys: oneKey, run: counter(1, true) },
  decrby: { arity: 3, write: true, role: 'write', keys: oneKey, run: counter(-1, true) },
  append: { arity: 3, write: true, role: 'write', keys: oneKey, run: append },
  strlen: { arity: 2, write: false, role: 'read', keys: oneKey, run: strlen },
  mget: { arity: -2, write: false, role: 'read', keys: allKeys, run: mget },
  mset: { arity: -3, write: true, role: 'write', keys: pairKeys, run: mset },
  expire: { arity: -3, write: true, role: 'write', keys: oneKey, run: expire(1000, 'expire') },
  pexpire: { arity: -3, write: true, role: 'write', keys: oneKey, run: expire(1, 'pexpire') },
  expireat: {
    arity: -3,
    write: true,
    role: 'write',
    keys: oneKey,
    run: expire(1000, 'expireat', true),
  },
  pexpireat: {
    arity: -3,
    write: true,
    role: 'write',
    keys: oneKey,
    run: expire(1, 'pexpireat', true),
  },
  persist: { arity: 2, write: true, role: 'write', keys: oneKey, run: persist },
  ttl: { arity: 2, write: false, role: 'read', keys: oneKey, run: ttl(true) },
  pttl: { arity: 2, write: false, role: 'read', keys: oneKey, run: ttl(false) },
  type: { arity: 2, write: false, role: 'read', keys: oneKey, run: type },
  expiretime: { arity: 2, write: false, role: 'read', keys: oneKey, run: expiretime(true) },
  pexpiretime: { arity: 2, write: false, role: 'read', keys: oneKey, run: expiretime(false) },
  touch: { arity: -2, write: false, role: 'read', keys: allKeys, run: touch },
  object: {
    arity: -2,
    write: false,
    role: 'read',
    keys: subcommandKey,
    subcommands: objectSubcommands,
    run: object,
  },
  randomkey: { arity: 1, write: false, role: 'read', run: randomkey },
  rename: { arity: 3, write: true, role: 'write', keys: twoKeys, run: rename(false) },
  renamenx: { arity: 3, write: true, role: 'write', keys: twoKeys, run: rename(true) },
  copy: { arity: -3, write: true, role: 'write', keys: twoKeys, run: copy },
  // KEYS and SCAN name no key (a pattern is not one), as in Redis: their ACL is the role.
  keys: { arity: 2, write: false, role: 'read', run: keys },
  scan: { arity: -2, write: false, role: 'read', run: scan },
  dbsize: { arity: 1, write: false, role: 'read', run: dbsize },
  flushdb: { arity: -1, write: true, role: 'admin', audit: true, run: flush(false) },
  flushall: { arity: -1, write: true, role: 'admin', audit: true, run: flush(true) },
  move: { arity: 3, write: true, role: 'write', keys: oneKey, run: move },
  swapdb: { arity: 3, write: true, role: 'admin', audit: true, run: swapdb },
};
