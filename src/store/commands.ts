/**
 * The replicated command codec. The leader builds a command, validates it against the
 * limits below, encodes it with MessagePack and proposes the bytes; every replica decodes
 * the same bytes when the entry commits and applies them.
 *
 * Time travels inside the command: `at` is the leader's wall clock in milliseconds when it
 * built the command, so that expiry ("is this key still alive?") is decided by the same
 * number on every replica, whatever their own clocks say.
 */
import { Packr } from 'msgpackr';
import { TandemError } from '../core/errors.js';
import { aclChangeProblem, type AclCommand } from './access-state.js';
import { sessionProblem, type Session } from './sessions.js';
import type { BitfieldOperation, BitopOperation } from './bits.js';
import { checkStatement } from './sql-check.js';
import { isDatabase } from './databases.js';

/** The longest key, in bytes. Keys are identifiers, not payloads. */
export const keyBytesMax = 512;
/**
 * The longest value, in bytes (also the cap that APPEND, SETRANGE and SETBIT results
 * respect): 16 MiB. Every replica checks it when it applies a write that grows a value, so
 * it is one number for the whole cluster, not a node's setting (Redis's own bound,
 * proto-max-bulk-len, is 512 MB).
 */
export const valueBytesMax = 16 * 1024 * 1024;
/** The most keys one DEL may name. */
export const delKeysMax = 1024;
/** The most pairs one MSET may carry. */
export const msetPairsMax = 1024;
/** The most statements one SQL command may carry. */
export const sqlStatementsMax = 64;
/** The longest SQL text of one statement, in UTF-8 bytes. */
export const sqlBytesMax = 64 * 1024;
/** The most parameters one SQL statement may bind. */
export const sqlParamsMax = 1024;
/** The largest encoded command: one full-size value plus room for its envelope. */
export const commandBytesMax = valueBytesMax + 64 * 1024;
/**
 * The largest encoded transaction (`multi`): many commands in one entry, a full-size value
 * among them. The node's own `maxEntryBytes` (and the log's record limit) is usually the
 * lower bound that applies.
 */
export const transactionBytesMax = valueBytesMax + 512 * 1024;

/**
 * A key or a value of the key-value namespace: any bytes, as in Redis. Commands decoded
 * from the log hold Buffers; entries written before keys and values were bytes hold
 * strings there, which decode as their UTF-8 bytes (see `decodeCommand`).
 */
export type Bytes = Uint8Array;

/** A key's version: the log index and term of the entry that last wrote it. */
export interface Version {
  readonly index: number;
  readonly term: number;
}

/**
 * SET. `expiresAt` is absolute (ms): a number sets the expiry, null or absent removes it
 * (like Redis SET without KEEPTTL); `keepTtl` (Redis KEEPTTL, never with `expiresAt`)
 * keeps the expiry the key has at `at`, none when it is absent or expired then.
 * `condition` is NX (only if absent) or XX (only if present); `ifVersion` is
 * compare-and-set: write only if the key exists at that version. `returnOld` asks for the
 * previous value (Redis SET ... GET).
 */
export interface SetCommand {
  readonly type: 'set';
  readonly key: Bytes;
  readonly value: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
  readonly expiresAt?: number | null;
  readonly condition?: 'nx' | 'xx';
  readonly ifVersion?: Version;
  readonly returnOld?: boolean;
  /** Absent in entries written before KEEPTTL existed: they remove the expiry, as then. */
  readonly keepTtl?: true;
}

/** MSET: sets every pair atomically and removes their expiries. Later pairs win. */
export interface MsetCommand {
  readonly type: 'mset';
  readonly pairs: readonly (readonly [Bytes, Bytes])[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * DEL of one or more keys. `ifVersion` (one key only) is compare-and-delete: the key goes
 * only if it is live at that version when the entry applies; the result counts it either way.
 */
export interface DelCommand {
  readonly type: 'del';
  readonly keys: readonly Bytes[];
  readonly at: number;
  readonly ifVersion?: Version;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** INCRBY with Redis semantics: an absent key counts as 0; the expiry is kept. */
export interface IncrbyCommand {
  readonly type: 'incrby';
  readonly key: Bytes;
  /** A signed 64-bit amount: a number while it is a safe integer, else a bigint. */
  readonly by: number | bigint;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** APPEND: creates the key when absent; keeps the expiry. */
export interface AppendCommand {
  readonly type: 'append';
  readonly key: Bytes;
  readonly value: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * Redis 7's EXPIRE options, decided against the key's expiry at the command's `at`: `nx`
 * sets only when the key has no expiry, `xx` only when it has one, `gt` only to a later
 * expiry and `lt` only to an earlier one. A key without expiry counts as living forever,
 * so `gt` never holds on it and `lt` always does. `xx-lt` is Redis's XX LT together: only
 * a key with an expiry, only to an earlier one. (XX GT needs no code of its own: it is
 * `gt`, which already fails on a key without expiry.)
 */
export type ExpireCondition = 'nx' | 'xx' | 'gt' | 'lt' | 'xx-lt';

/** Every `ExpireCondition`, for checking a decoded command. */
const expireConditions: ReadonlySet<string> = new Set<ExpireCondition>([
  'nx',
  'xx',
  'gt',
  'lt',
  'xx-lt',
]);

/**
 * EXPIRE at an absolute time (ms), or PERSIST when `expiresAt` is null. `condition` (only
 * with an `expiresAt`; absent in older entries, which set unconditionally) makes the
 * expiry change only when it holds.
 */
export interface ExpireCommand {
  readonly type: 'expire';
  readonly key: Bytes;
  readonly expiresAt: number | null;
  readonly condition?: ExpireCondition;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** GETDEL: answers the key's value (null when absent) and removes the key. */
export interface GetdelCommand {
  readonly type: 'getdel';
  readonly key: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * GETEX with an expiry option: answers the key's value (null when absent) and sets its
 * expiry to `expiresAt` (absolute ms; a time already past removes the key) or removes it
 * (null, PERSIST). The version does not change: the value did not.
 */
export interface GetexCommand {
  readonly type: 'getex';
  readonly key: Bytes;
  readonly expiresAt: number | null;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * SETRANGE: overwrites the value from byte `offset` with `value`, padding a shorter (or
 * absent) value with zero bytes; answers the new length. An empty `value` changes nothing
 * (and creates no key). The expiry is kept.
 */
export interface SetrangeCommand {
  readonly type: 'setrange';
  readonly key: Bytes;
  readonly offset: number;
  readonly value: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** MSETNX: sets every pair (removing their expiries) only if none of the keys is live; 1 or 0. */
export interface MsetnxCommand {
  readonly type: 'msetnx';
  readonly pairs: readonly (readonly [Bytes, Bytes])[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * RENAME (and RENAMENX with `condition` 'nx'): moves the live key `key` to `destination`
 * with its value and expiry; the destination's own value and expiry go. The moved key is
 * written by this entry (its version is the entry's). An absent `key` is the error
 * 'ERR no such key'; renaming a key to itself changes nothing.
 */
export interface RenameCommand {
  readonly type: 'rename';
  readonly key: Bytes;
  readonly destination: Bytes;
  /**
   * RENAMENX: only when `destination` is absent (or expired). MOVE: the same, and an
   * absent `key` answers 0 rather than an error (its events are `move_from`, `move_to`).
   */
  readonly condition?: 'nx' | 'move';
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * INCRBYFLOAT: adds `by` (the client's text, as Redis reads it) to the key's value (0 when
 * absent), keeps the expiry, and answers the new value's bytes. The arithmetic is Redis's
 * 80-bit extended precision done on integers (long-double.ts), so every replica computes
 * the same bytes: the entry is as good as Redis's replicated SET of the result.
 */
export interface IncrbyfloatCommand {
  readonly type: 'incrbyfloat';
  readonly key: Bytes;
  readonly by: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** SETBIT: sets bit `offset` to `bit`, zero padding the value to reach it; answers the old bit. */
export interface SetbitCommand {
  readonly type: 'setbit';
  readonly key: Bytes;
  readonly offset: number;
  readonly bit: 0 | 1;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * COPY: writes the live key `key`'s value and expiry to `destination` (never the same
 * key), when it is absent or `replace` is set; 1 when it copied, else 0.
 */
export interface CopyCommand {
  readonly type: 'copy';
  readonly key: Bytes;
  readonly destination: Bytes;
  readonly replace?: true;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * BITOP: `destination` becomes `operation` of the sources (absent ones empty), without
 * expiry, or is removed when every source is empty; answers the result's length.
 */
export interface BitopCommand {
  readonly type: 'bitop';
  readonly operation: BitopOperation;
  readonly destination: Bytes;
  readonly keys: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * BITFIELD with at least one SET or INCRBY: runs `operations` in order on the value, grown
 * with zero bytes to the farthest field written (even when every write fails by FAIL);
 * answers one integer per operation (null for a write FAIL refused).
 */
export interface BitfieldCommand {
  readonly type: 'bitfield';
  readonly key: Bytes;
  readonly operations: readonly BitfieldOperation[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * FLUSHALL (and FLUSHDB of a cluster without databases): removes every key (the SQL tables
 * are left alone); with `db`, FLUSHDB: only the keys of that database (databases.ts).
 */
export interface FlushCommand {
  readonly type: 'flush';
  readonly db?: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * SWAPDB: the keys of database `a` become database `b`'s and the other way round, each
 * moved key written by this entry (WATCH sees both databases change, as in Redis). The
 * entry names the databases, not the keys: its apply is O(n) in their keys.
 */
export interface SwapdbCommand {
  readonly type: 'swapdb';
  readonly a: number;
  readonly b: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * Purges up to `sweepKeysMax` rows whose expiry is at or before `at`, oldest expiry first.
 * Expired keys already read as absent; the leader proposes sweeps so that their rows do not
 * pile up, and the sweep rides the log so that every replica purges the same rows.
 */
export interface ExpireSweepCommand {
  readonly type: 'expire-sweep';
  readonly at: number;
  /** Never set: sweeps are the leader's own commands. */
  readonly session?: never;
}

/**
 * Linked clusters (links/): `create` makes this cluster linked, as `cluster` (its id):
 * from then on its string commands also keep the merge state every linked cluster
 * converges by; `batch` applies a batch of another cluster's stream (`batch`: the JSON
 * text of links/codec.ts) with its new position, in this one entry; `seed` enters the
 * string keys written before the link began (`keys`, a page the leader scanned) into the
 * merge state as writes of this cluster, so that they reach the others, and `done` ends
 * the seeding. Only the embedded store keeps linked state; a PostgreSQL store answers
 * with an error.
 */
export interface LinkCommand {
  readonly type: 'link';
  readonly action: 'create' | 'batch' | 'seed';
  readonly at: number;
  /** `create`: this cluster's id. */
  readonly cluster?: string;
  /** `batch`: the batch's JSON text. */
  readonly batch?: Bytes;
  /** `seed`: stored keys (at most `linkSeedKeysMax`). */
  readonly keys?: readonly Bytes[];
  /** `seed`: the last page: every key written before the link is in the merge state now. */
  readonly done?: boolean;
  readonly session?: never;
}

/** Keys one `link` `seed` entry names at most. */
export const linkSeedKeysMax = 1_024;

/**
 * PUBLISH: changes no state. It rides the log so that every node delivers the message to
 * its own subscribers once, in log order, after applying it (src/api/resp/pubsub.ts).
 */
export interface PublishCommand {
  readonly type: 'publish';
  readonly channel: Bytes;
  readonly message: Bytes;
  readonly at: number;
  /** Never set: a publication is fire and forget, as in Redis. */
  readonly session?: never;
}

/**
 * HSET, HMSET and HSETNX: sets each field of the hash at `key` to its value, in order
 * (a later pair wins), creating the hash when the key is absent. With `condition` 'nx'
 * (HSETNX, one pair) a field that exists is left alone. Answers how many fields it
 * created. The key's expiry is kept; a key holding another type is Redis's WRONGTYPE.
 */
export interface HsetCommand {
  readonly type: 'hset';
  readonly key: Bytes;
  readonly pairs: readonly (readonly [Bytes, Bytes])[];
  readonly condition?: 'nx';
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** HDEL: removes the fields named; answers how many existed. A hash left empty goes. */
export interface HdelCommand {
  readonly type: 'hdel';
  readonly key: Bytes;
  readonly fields: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * HINCRBY: adds `by` (a signed 64-bit integer) to the field's integer (0 when absent),
 * answering the sum, with Redis's errors for a value that is not an integer and for an
 * overflow.
 */
export interface HincrbyCommand {
  readonly type: 'hincrby';
  readonly key: Bytes;
  readonly field: Bytes;
  readonly by: bigint;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * HINCRBYFLOAT: adds `by` (the client's text) to the field's number (0 when absent) in
 * INCRBYFLOAT's long double arithmetic, answering the new value's bytes.
 */
export interface HincrbyfloatCommand {
  readonly type: 'hincrbyfloat';
  readonly key: Bytes;
  readonly field: Bytes;
  readonly by: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** The hash commands, for the stores' dispatch. */
export type HashCommand = HsetCommand | HdelCommand | HincrbyCommand | HincrbyfloatCommand;

/** An end of a list: 'left' is the head (LPUSH, LPOP), 'right' the tail. */
export type ListEnd = 'left' | 'right';

/**
 * LPUSH, RPUSH, LPUSHX and RPUSHX: pushes each element in order at `end` (so LPUSH a b
 * leaves b first), creating the list when the key is absent, unless `condition` is 'xx'
 * (the X forms: then nothing, answered 0). Answers the list's length after it. The key's
 * expiry is kept; a key holding another type is Redis's WRONGTYPE.
 */
export interface LpushCommand {
  readonly type: 'lpush';
  readonly key: Bytes;
  readonly elements: readonly Bytes[];
  readonly end: ListEnd;
  readonly condition?: 'xx';
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * LPOP and RPOP: without `count` the element popped (null when the key is absent); with
 * it (1 or more, or 0 for none) the elements popped in order (null when absent). A list
 * left empty goes.
 */
export interface LpopCommand {
  readonly type: 'lpop';
  readonly key: Bytes;
  readonly end: ListEnd;
  readonly count?: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** LSET: replaces the element at `index` (negative from the tail); 'OK' or Redis's errors. */
export interface LsetCommand {
  readonly type: 'lset';
  readonly key: Bytes;
  readonly index: number;
  readonly element: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** LINSERT: `element` before or after the first `pivot`; the new length, -1 or 0. */
export interface LinsertCommand {
  readonly type: 'linsert';
  readonly key: Bytes;
  readonly where: 'before' | 'after';
  readonly pivot: Bytes;
  readonly element: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** LREM: removes `count` elements equal to `element` (negative: from the tail; 0: all). */
export interface LremCommand {
  readonly type: 'lrem';
  readonly key: Bytes;
  readonly count: number;
  readonly element: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** LTRIM: keeps the elements from `start` to `stop` (Redis's indexes); 'OK'. */
export interface LtrimCommand {
  readonly type: 'ltrim';
  readonly key: Bytes;
  readonly start: number;
  readonly stop: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * LMOVE and RPOPLPUSH: pops an element from `from` of the list at `key` and pushes it at
 * `to` of the list at `destination` (which may be the same key); answers it, or null when
 * the source is absent.
 */
export interface LmoveCommand {
  readonly type: 'lmove';
  readonly key: Bytes;
  readonly destination: Bytes;
  readonly from: ListEnd;
  readonly to: ListEnd;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * LMPOP: pops up to `count` elements from `end` of the first of `keys` that holds a list;
 * answers [key, elements], or null when none does.
 */
export interface LmpopCommand {
  readonly type: 'lmpop';
  readonly keys: readonly Bytes[];
  readonly end: ListEnd;
  readonly count: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** The list commands, for the stores' dispatch. */
export type ListCommand =
  | LpushCommand
  | LpopCommand
  | LsetCommand
  | LinsertCommand
  | LremCommand
  | LtrimCommand
  | LmoveCommand
  | LmpopCommand;

/**
 * SADD: adds each member to the set at `key`, creating the set when the key is absent;
 * answers how many were added. The key's expiry is kept; a key holding another type is
 * Redis's WRONGTYPE (so for every set command below but SMOVE's absent source).
 */
export interface SaddCommand {
  readonly type: 'sadd';
  readonly key: Bytes;
  readonly members: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** SREM: removes the members named; answers how many were there. A set left empty goes. */
export interface SremCommand {
  readonly type: 'srem';
  readonly key: Bytes;
  readonly members: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * SPOP: removes up to `count` members and answers them. The randomness is the leader's,
 * decided once: `members` are the ones it drew (removed first, each still present), and
 * `seed` draws any more the count needs (when the leader could not draw them, inside a
 * transaction, or some it named went meanwhile) from the set's sequence order, the same
 * on every replica. A set left empty goes.
 */
export interface SpopCommand {
  readonly type: 'spop';
  readonly key: Bytes;
  readonly members: readonly Bytes[];
  readonly count: number;
  /** A 32-bit unsigned integer. */
  readonly seed: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * SMOVE: moves `member` from the set at `key` to the set at `destination` (made when
 * absent); answers 1 when it moved, 0 when the source lacks it.
 */
export interface SmoveCommand {
  readonly type: 'smove';
  readonly key: Bytes;
  readonly destination: Bytes;
  readonly member: Bytes;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the intersection, union or difference (the first
 * set less the others) of the sets at `keys` (an absent key is an empty set) replaces
 * `destination`, which an empty result removes; answers the result's size.
 */
export interface SetstoreCommand {
  readonly type: 'setstore';
  readonly operation: 'inter' | 'union' | 'diff';
  readonly destination: Bytes;
  readonly keys: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** The set commands, for the stores' dispatch. */
export type SetFamilyCommand =
  SaddCommand | SremCommand | SpopCommand | SmoveCommand | SetstoreCommand;

/** The most members one set command names, and the most keys a SINTERSTORE combines. */
export const setMembersMax = 1024;

/**
 * ZADD and ZINCRBY (ZADD INCR): sets each member's score from its text (parsed at apply as
 * Redis parses it; the leader checked it), in order. `condition` NX adds only, XX updates
 * only; `compare` GT and LT update only to a greater or lesser score; `changed` (CH)
 * counts updates with additions; `increment` (one pair) adds to the score and answers the
 * new score's text, or null when nothing was done. The key's expiry is kept.
 */
export interface ZaddCommand {
  readonly type: 'zadd';
  readonly key: Bytes;
  readonly pairs: readonly (readonly [Bytes, Bytes])[];
  readonly condition?: 'nx' | 'xx';
  readonly compare?: 'gt' | 'lt';
  readonly changed?: boolean;
  readonly increment?: boolean;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** ZREM: removes the members named; answers how many there were. A set left empty goes. */
export interface ZremCommand {
  readonly type: 'zrem';
  readonly key: Bytes;
  readonly members: readonly Bytes[];
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * ZPOPMIN, ZPOPMAX and ZMPOP: from the first of `keys` that holds a sorted set, removes up
 * to `count` members of lowest (`min`) or highest score; answers null when none holds one,
 * else the key and the members with their scores' texts. A key of another type met first
 * is WRONGTYPE.
 */
export interface ZpopCommand {
  readonly type: 'zpop';
  readonly keys: readonly Bytes[];
  readonly side: 'min' | 'max';
  readonly count: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * A range of a sorted set as the client wrote it (parsed at apply; the leader checked it):
 * two ranks, two score bounds (`(` excludes) or two member bounds (`-`, `+`, `(m`, `[m`).
 */
export interface ZsetRangeText {
  readonly by: 'rank' | 'score' | 'lex';
  readonly min: Bytes;
  readonly max: Bytes;
}

/** ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX: answers how many went. */
export interface ZremrangeCommand {
  readonly type: 'zremrange';
  readonly key: Bytes;
  readonly range: ZsetRangeText;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * ZRANGESTORE: stores the range of `key` (in `reverse` order, past `offset` and at most
 * `count` members when given, a negative count meaning all) at `destination` as a new
 * sorted set, replacing whatever it held; an empty range deletes it. Answers its size.
 */
export interface ZrangestoreCommand {
  readonly type: 'zrangestore';
  readonly destination: Bytes;
  readonly key: Bytes;
  readonly range: ZsetRangeText;
  readonly reverse?: boolean;
  readonly offset?: number;
  readonly count?: number;
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE: combines the sorted sets at `keys` (absent ones
 * empty) with `weights` (texts, one per key; 1 when absent) and `aggregate`, and stores the
 * result at `destination` as ZRANGESTORE does. Answers the result's size.
 */
export interface ZsetStoreCommand {
  readonly type: 'zsetstore';
  readonly operation: 'union' | 'inter' | 'diff';
  readonly destination: Bytes;
  readonly keys: readonly Bytes[];
  readonly weights?: readonly Bytes[];
  readonly aggregate?: 'sum' | 'min' | 'max';
  readonly at: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/** The sorted set commands, for the stores' dispatch. */
export type ZsetCommand =
  | ZaddCommand
  | ZremCommand
  | ZpopCommand
  | ZremrangeCommand
  | ZrangestoreCommand
  | ZsetStoreCommand;

/**
 * A value SQL can bind. Booleans bind as 1 and 0. A bigint is an exact 64-bit integer: it
 * carries integers past `Number.MAX_SAFE_INTEGER` without rounding (the HTTP layer makes
 * one of every such JSON integer), and must lie in `sqlIntegerMin..sqlIntegerMax`.
 */
export type SqlValue = string | number | bigint | null | boolean;

/** The smallest integer SQL stores exactly: -2^63, SQLite's and PostgreSQL's int8 floor. */
export const sqlIntegerMin = -(2n ** 63n);
/** The largest integer SQL stores exactly: 2^63 - 1. */
export const sqlIntegerMax = 2n ** 63n - 1n;

/**
 * An integer that SQL returned or a client sent, in the one form every replica and both
 * stores agree on: a number when it is a safe integer, else the exact bigint.
 */
export function exactInteger(value: bigint): number | bigint {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value;
}

/** Positional (`?`, `?NNN`) or named (`:name`, `@name`, `$name`, given without prefix) parameters. */
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;

/** One SQL statement of a command. */
export interface SqlStatement {
  readonly sql: string;
  readonly params?: SqlParams;
}

/** SQL statements applied atomically: all of them, or (on a failure) none. */
export interface SqlCommand {
  readonly type: 'sql';
  readonly statements: readonly SqlStatement[];
  /** The leader's clock (ms) when it built the command; required with a `session`. */
  readonly at?: number;
  /** The client's session and sequence: see sessions.ts (exactly-once across retries). */
  readonly session?: Session;
}

/**
 * A write a transaction may queue: any key-value write but another transaction, a sweep
 * (the leader's own) and PUBLISH (whose delivery follows its own entry).
 */
export type TransactionWrite = Exclude<
  Command,
  MultiCommand | ExpireSweepCommand | PublishCommand | SqlCommand | AclCommand
>;

/**
 * A read a transaction queued (GET, HGETALL, ZRANGE, LRANGE, ...): the state of `keys` at
 * the transaction's point in the log, after the writes queued before it. Its result is a
 * view of those keys (`KeyReader`, contract.ts) that answers every read of them, of every
 * type, as the store would have at that step; it lives only in the applying node's memory.
 */
export interface TransactionRead {
  readonly type: 'read';
  readonly keys: readonly Bytes[];
}

/** One step of a transaction, in the order the client queued it. */
export type TransactionStep = TransactionWrite | TransactionRead;

/**
 * A WATCHed key with what the client saw of it at WATCH time: its version and expiry, or
 * null when it was absent (or expired). An expiry counts: Redis 7.0 aborts a transaction
 * whose watched key expired, or had its expiry changed, since WATCH.
 */
export interface WatchedKey {
  readonly key: Bytes;
  readonly seen: {
    readonly index: number;
    readonly term: number;
    readonly expiresAt: number | null;
  } | null;
}

/**
 * MULTI ... EXEC as one entry: when every watched key is still as the client saw it at
 * `at`, the steps run in order (each write as its own command would, a failing one giving
 * its error while the others apply, as in Redis) and the result is their results, one per
 * step; when one changed, nothing runs and the result is null (EXEC's nil). Every replica
 * decides the same, from the entry alone.
 */
export interface MultiCommand {
  readonly type: 'multi';
  readonly steps: readonly TransactionStep[];
  readonly watched: readonly WatchedKey[];
  readonly at: number;
  /** Never set: a transaction is answered once, on the node its client asked. */
  readonly session?: never;
}

/** The most steps one transaction may carry (the RESP server's own limit is at most this). */
export const transactionStepsMax = 100_000;
/** The most keys one transaction may WATCH. */
export const watchedKeysMax = 10_000;

/** Every replicated command. */
export type Command =
  | SetCommand
  | MsetCommand
  | DelCommand
  | IncrbyCommand
  | AppendCommand
  | ExpireCommand
  | GetdelCommand
  | GetexCommand
  | SetrangeCommand
  | MsetnxCommand
  | RenameCommand
  | CopyCommand
  | IncrbyfloatCommand
  | SetbitCommand
  | BitopCommand
  | BitfieldCommand
  | FlushCommand
  | SwapdbCommand
  | ExpireSweepCommand
  | PublishCommand
  | MultiCommand
  | HashCommand
  | SetFamilyCommand
  | ZsetCommand
  | ListCommand
  | SqlCommand
  | AclCommand
  | LinkCommand;

/** The command type codes, for exhaustive handling. */
export type CommandType = Command['type'];

/**
 * Plain MessagePack maps, no msgpackr records: a record's structure would live in the
 * encoder's memory, and a log entry must decode the same way on any replica, after any
 * restart, from its own bytes alone.
 *
 * A bigint encodes as MessagePack's int64 and decodes back to the same bigint. msgpackr
 * writes a number as an int32 or a float64, never as an int64, so only bigints take that
 * form, and entries written before SQL took bigints decode exactly as they did.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'bigint' });

/**
 * Encodes a command as an entry payload. Throws TANDEM_ENTRY_TOO_LARGE when the encoding
 * exceeds `commandBytesMax`. Call `validateCommand` first: encoding does not check shape.
 */
export function encodeCommand(command: Command): Uint8Array {
  const bytes =
    command.type === 'set' ? (encodeSet(command) ?? packr.pack(command)) : packr.pack(command);
  const bytesMax = command.type === 'multi' ? transactionBytesMax : commandBytesMax;
  if (bytes.byteLength > bytesMax) {
    throw new TandemError(
      'TANDEM_ENTRY_TOO_LARGE',
      `the ${command.type} command encodes to ${bytes.byteLength} bytes, over the maximum of ${bytesMax}`,
    );
  }
  return bytes;
}

/**
 * Decodes an entry payload and checks its shape. An entry that does not decode to a known,
 * well-formed command throws TANDEM_CORRUPT: applying it as a no-op would let replicas
 * that decode it differently drift apart, so the apply stops instead.
 *
 * Limits are not checked here: they are the leader's admission policy, and a replica must
 * apply whatever was committed.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  if (bytes[0] === binaryMark) return decodeBinary(bytes);
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch (error) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `command of ${bytes.byteLength} bytes does not decode: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const problem = shapeProblem(upgradeText(decoded));
  if (problem !== null) {
    throw new TandemError('TANDEM_CORRUPT', `malformed command in the log: ${problem}`);
  }
  return decoded as Command;
}

/**
 * The first byte of a command in the binary layout: 0xc1, which MessagePack never uses, so
 * the two layouts cannot be mistaken for each other. The second byte names the layout.
 *
 * SET (layout 1), the hottest write, is encoded by hand: through MessagePack its encode
 * (on the leader) cost 0.87 µs and its decode (on every node) 0.72 µs, this layout's 0.15
 * to 0.3 µs each. After the two bytes: a flags byte (bits 0-1 `expiresAt`: absent, null,
 * a number; bits 2-3 `condition`: absent, nx, xx; bits 4-5 `returnOld`: absent, false,
 * true; bit 6 `keepTtl`; bit 7 zero), `at` as a little-endian double, `expiresAt` as
 * one when it is a number, then the key and the value, each as its length (a 32-bit
 * little-endian integer) and its bytes, which end the entry exactly (a cut or a longer
 * entry is refused). A SET with a session or `ifVersion` stays MessagePack.
 */
const binaryMark = 0xc1;
const setLayout = 1;
const setHeaderBytes = 2 + 1 + 8;

function encodeSet(command: SetCommand): Uint8Array | null {
  if (command.session !== undefined || command.ifVersion !== undefined) return null;
  const { key, value, expiresAt, condition, returnOld, keepTtl } = command;
  const expiry = expiresAt === undefined ? 0 : expiresAt === null ? 1 : 2;
  const flags =
    expiry |
    ((condition === undefined ? 0 : condition === 'nx' ? 1 : 2) << 2) |
    ((returnOld === undefined ? 0 : returnOld ? 2 : 1) << 4) |
    (keepTtl === true ? 0x40 : 0);
  let at = setHeaderBytes + (expiry === 2 ? 8 : 0);
  const bytes = Buffer.allocUnsafe(at + 8 + key.byteLength + value.byteLength);
  bytes[0] = binaryMark;
  bytes[1] = setLayout;
  bytes[2] = flags;
  bytes.writeDoubleLE(command.at, 3);
  if (expiry === 2) bytes.writeDoubleLE(expiresAt as number, setHeaderBytes);
  at = bytes.writeUInt32LE(key.byteLength, at);
  bytes.set(key, at);
  at = bytes.writeUInt32LE(value.byteLength, at + key.byteLength);
  bytes.set(value, at);
  return bytes;
}

function corruptBinary(bytes: Uint8Array, problem: string): TandemError {
  return new TandemError(
    'TANDEM_CORRUPT',
    `malformed command in the log (${bytes.byteLength} bytes): ${problem}`,
  );
}

/** Decodes and checks a command in the binary layout; key and value are views of `bytes`. */
function decodeBinary(bytes: Uint8Array): Command {
  if (bytes[1] !== setLayout) throw corruptBinary(bytes, `unknown binary layout ${bytes[1]}`);
  if (bytes.byteLength < setHeaderBytes + 8) throw corruptBinary(bytes, 'a SET too short');
  const view = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view[2] as number;
  const expiry = flags & 3;
  const condition = (flags >> 2) & 3;
  const returnOld = (flags >> 4) & 3;
  const keepTtl = (flags & 0x40) !== 0;
  if ((flags & 0x80) !== 0 || expiry === 3 || condition === 3 || returnOld === 3) {
    throw corruptBinary(bytes, `SET flags ${flags}`);
  }
  const at = view.readDoubleLE(3);
  if (!isTime(at)) throw corruptBinary(bytes, 'set.at must be a time in ms');
  let offset = setHeaderBytes;
  let expiresAt: number | null | undefined = expiry === 0 ? undefined : null;
  if (expiry === 2) {
    if (view.byteLength < offset + 8 + 8) throw corruptBinary(bytes, 'a SET too short');
    expiresAt = view.readDoubleLE(offset);
    if (!isExpiry(expiresAt)) throw corruptBinary(bytes, 'set.expiresAt must be a time in ms');
    offset += 8;
  }
  if (keepTtl && expiresAt !== undefined) {
    throw corruptBinary(bytes, 'set.keepTtl cannot be combined with set.expiresAt');
  }
  const keyBytes = view.readUInt32LE(offset);
  offset += 4;
  if (keyBytes > view.byteLength - offset - 4) {
    throw corruptBinary(bytes, 'a SET key past its end');
  }
  const key = view.subarray(offset, offset + keyBytes);
  offset += keyBytes;
  const valueBytes = view.readUInt32LE(offset);
  offset += 4;
  if (valueBytes !== view.byteLength - offset) {
    throw corruptBinary(bytes, `a SET value of ${valueBytes} bytes in ${view.byteLength - offset}`);
  }
  const command: {
    type: 'set';
    key: Bytes;
    value: Bytes;
    at: number;
    expiresAt?: number | null;
    condition?: 'nx' | 'xx';
    returnOld?: boolean;
    keepTtl?: true;
  } = {
    type: 'set',
    key,
    value: view.subarray(offset),
    at,
  };
  if (expiresAt !== undefined) command.expiresAt = expiresAt;
  if (condition !== 0) command.condition = condition === 1 ? 'nx' : 'xx';
  if (returnOld !== 0) command.returnOld = returnOld === 2;
  if (keepTtl) command.keepTtl = true;
  return command;
}

/** A string of an older entry as its UTF-8 bytes; anything else as it is. */
function bytesOf(value: unknown): unknown {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/**
 * Entries written before keys and values were bytes carry them as MessagePack strings;
 * they mean those strings' UTF-8 bytes, which is what this turns them into, in place.
 * Other shapes are left for `shapeProblem` to judge.
 */
function upgradeText(decoded: unknown): unknown {
  if (!isPlainObject(decoded)) return decoded;
  for (const field of ['key', 'value'] as const) {
    if (field in decoded) decoded[field] = bytesOf(decoded[field]);
  }
  if (decoded.type === 'del' && Array.isArray(decoded.keys)) {
    decoded.keys = decoded.keys.map(bytesOf);
  }
  if (decoded.type === 'mset' && Array.isArray(decoded.pairs)) {
    decoded.pairs = decoded.pairs.map((pair: unknown) =>
      Array.isArray(pair) ? pair.map(bytesOf) : pair,
    );
  }
  return decoded;
}

/**
 * Checks a command on the leader before it enters the log: its shape, every limit, and for
 * SQL the determinism rules of `checkStatement`. Throws TANDEM_BAD_REQUEST naming the
 * problem.
 */
export function validateCommand(command: Command): void {
  const problem = shapeProblem(command) ?? limitProblem(command);
  if (problem !== null) throw new TandemError('TANDEM_BAD_REQUEST', problem);
  if (command.type === 'sql') {
    command.statements.forEach((statement, i) => {
      try {
        checkStatement(statement.sql, statement.params);
      } catch (error) {
        throw prefixError(error, `statement ${i + 1}: `);
      }
    });
  }
}

function prefixError(error: unknown, prefix: string): unknown {
  if (!(error instanceof TandemError)) return error;
  return new TandemError(error.code, prefix + error.message, { cause: error });
}

/** Keys every command type may carry; anything else is malformed. */
const fieldsByType: Readonly<Record<CommandType, ReadonlySet<string>>> = {
  set: new Set([
    'type',
    'key',
    'value',
    'at',
    'expiresAt',
    'condition',
    'ifVersion',
    'returnOld',
    'keepTtl',
    'session',
  ]),
  mset: new Set(['type', 'pairs', 'at', 'session']),
  del: new Set(['type', 'keys', 'at', 'ifVersion', 'session']),
  incrby: new Set(['type', 'key', 'by', 'at', 'session']),
  append: new Set(['type', 'key', 'value', 'at', 'session']),
  expire: new Set(['type', 'key', 'expiresAt', 'condition', 'at', 'session']),
  getdel: new Set(['type', 'key', 'at', 'session']),
  getex: new Set(['type', 'key', 'expiresAt', 'at', 'session']),
  setrange: new Set(['type', 'key', 'offset', 'value', 'at', 'session']),
  msetnx: new Set(['type', 'pairs', 'at', 'session']),
  rename: new Set(['type', 'key', 'destination', 'condition', 'at', 'session']),
  copy: new Set(['type', 'key', 'destination', 'replace', 'at', 'session']),
  incrbyfloat: new Set(['type', 'key', 'by', 'at', 'session']),
  setbit: new Set(['type', 'key', 'offset', 'bit', 'at', 'session']),
  bitop: new Set(['type', 'operation', 'destination', 'keys', 'at', 'session']),
  bitfield: new Set(['type', 'key', 'operations', 'at', 'session']),
  flush: new Set(['type', 'db', 'at', 'session']),
  swapdb: new Set(['type', 'a', 'b', 'at', 'session']),
  'expire-sweep': new Set(['type', 'at']),
  publish: new Set(['type', 'channel', 'message', 'at']),
  link: new Set(['type', 'action', 'cluster', 'batch', 'keys', 'done', 'at']),
  multi: new Set(['type', 'steps', 'watched', 'at']),
  hset: new Set(['type', 'key', 'pairs', 'condition', 'at', 'session']),
  hdel: new Set(['type', 'key', 'fields', 'at', 'session']),
  hincrby: new Set(['type', 'key', 'field', 'by', 'at', 'session']),
  hincrbyfloat: new Set(['type', 'key', 'field', 'by', 'at', 'session']),
  sadd: new Set(['type', 'key', 'members', 'at', 'session']),
  srem: new Set(['type', 'key', 'members', 'at', 'session']),
  spop: new Set(['type', 'key', 'members', 'count', 'seed', 'at', 'session']),
  smove: new Set(['type', 'key', 'destination', 'member', 'at', 'session']),
  setstore: new Set(['type', 'operation', 'destination', 'keys', 'at', 'session']),
  zadd: new Set([
    'type',
    'key',
    'pairs',
    'condition',
    'compare',
    'changed',
    'increment',
    'at',
    'session',
  ]),
  zrem: new Set(['type', 'key', 'members', 'at', 'session']),
  zpop: new Set(['type', 'keys', 'side', 'count', 'at', 'session']),
  zremrange: new Set(['type', 'key', 'range', 'at', 'session']),
  zrangestore: new Set([
    'type',
    'destination',
    'key',
    'range',
    'reverse',
    'offset',
    'count',
    'at',
    'session',
  ]),
  zsetstore: new Set([
    'type',
    'operation',
    'destination',
    'keys',
    'weights',
    'aggregate',
    'at',
    'session',
  ]),
  lpush: new Set(['type', 'key', 'elements', 'end', 'condition', 'at', 'session']),
  lpop: new Set(['type', 'key', 'end', 'count', 'at', 'session']),
  lset: new Set(['type', 'key', 'index', 'element', 'at', 'session']),
  linsert: new Set(['type', 'key', 'where', 'pivot', 'element', 'at', 'session']),
  lrem: new Set(['type', 'key', 'count', 'element', 'at', 'session']),
  ltrim: new Set(['type', 'key', 'start', 'stop', 'at', 'session']),
  lmove: new Set(['type', 'key', 'destination', 'from', 'to', 'at', 'session']),
  lmpop: new Set(['type', 'keys', 'end', 'count', 'at', 'session']),
  sql: new Set(['type', 'statements', 'at', 'session']),
  acl: new Set(['type', 'change', 'at']),
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function isBytes(value: unknown): value is Bytes {
  return value instanceof Uint8Array;
}

function isTime(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * The latest expiry a command carries: the largest double within Redis's signed 64-bit
 * range (2^63 - 1024 ms). Redis takes expiries up to 2^63 - 1 ms; past 2^53 ms (the year
 * 287,396) Tandem keeps one as the nearest double, which both stores hold exactly.
 */
export const expiresAtMsMax = 2 ** 63 - 1024;

/** An expiry in ms: an integer from 0 to `expiresAtMsMax`, safe or not. */
function isExpiry(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= expiresAtMsMax;
}

/** Describes what is wrong with the shape of `value` as a command, or returns null. */
export function shapeProblem(value: unknown): string | null {
  if (!isPlainObject(value)) return 'a command must be a map';
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(fieldsByType, type)) {
    return `unknown command type ${JSON.stringify(type)}`;
  }
  const fields = fieldsByType[type as CommandType];
  for (const field of Object.keys(value)) {
    if (!fields.has(field)) return `${type} has an unknown field ${JSON.stringify(field)}`;
  }
  if (type !== 'sql' && !isTime(value.at)) return `${type}.at must be a time in ms`;
  if (type === 'sql' && value.at !== undefined && !isTime(value.at)) {
    return 'sql.at must be a time in ms or absent';
  }
  if (value.session !== undefined) {
    const problem = sessionProblem(value.session);
    if (problem !== null) return `${type}.${problem}`;
    // Sessions expire by the commands' time, so a command in a session must carry one.
    if (value.at === undefined) return `${type} with a session must carry at`;
  }
  return fieldProblem(type as CommandType, value);
}

function fieldProblem(type: CommandType, command: Record<string, unknown>): string | null {
  switch (type) {
    case 'set':
      return setProblem(command);
    case 'mset':
      return pairsProblem(command.pairs);
    case 'del':
      return delProblem(command);
    case 'incrby':
      if (!isBytes(command.key)) return 'incrby.key must be bytes';
      return Number.isSafeInteger(command.by) ||
        (typeof command.by === 'bigint' && command.by >= int64Min && command.by <= int64Max)
        ? null
        : 'incrby.by must be a signed 64-bit integer';
    case 'append':
      if (!isBytes(command.key)) return 'append.key must be bytes';
      return isBytes(command.value) ? null : 'append.value must be bytes';
    case 'expire':
      return expireProblem(command);
    case 'getdel':
      return isBytes(command.key) ? null : 'getdel.key must be bytes';
    case 'getex':
      if (!isBytes(command.key)) return 'getex.key must be bytes';
      return command.expiresAt === null || isExpiry(command.expiresAt)
        ? null
        : 'getex.expiresAt must be a time in ms or null';
    case 'setrange':
      if (!isBytes(command.key)) return 'setrange.key must be bytes';
      if (!isBytes(command.value)) return 'setrange.value must be bytes';
      return isTime(command.offset) ? null : 'setrange.offset must be a non-negative safe integer';
    case 'msetnx':
      return pairsProblem(command.pairs);
    case 'rename':
      if (!isBytes(command.key) || !isBytes(command.destination)) {
        return 'rename.key and rename.destination must be bytes';
      }
      return command.condition === undefined ||
        command.condition === 'nx' ||
        command.condition === 'move'
        ? null
        : "rename.condition must be 'nx', 'move' or absent";
    case 'copy':
      return copyProblem(command);
    case 'incrbyfloat':
      if (!isBytes(command.key)) return 'incrbyfloat.key must be bytes';
      return isBytes(command.by) ? null : 'incrbyfloat.by must be bytes';
    case 'setbit':
      if (!isBytes(command.key)) return 'setbit.key must be bytes';
      if (command.bit !== 0 && command.bit !== 1) return 'setbit.bit must be 0 or 1';
      return isTime(command.offset) ? null : 'setbit.offset must be a non-negative safe integer';
    case 'bitop':
      return bitopProblem(command);
    case 'bitfield':
      if (!isBytes(command.key)) return 'bitfield.key must be bytes';
      return bitfieldProblem(command.operations);
    case 'flush':
      return command.db === undefined || isDatabase(command.db)
        ? null
        : 'flush.db must be a database index from 0 to 15';
    case 'swapdb':
      return isDatabase(command.a) && isDatabase(command.b)
        ? null
        : 'swapdb.a and swapdb.b must be database indexes from 0 to 15';
    case 'expire-sweep':
      return null;
    case 'link':
      return linkProblem(command);
    case 'publish':
      if (!isBytes(command.channel)) return 'publish.channel must be bytes';
      return isBytes(command.message) ? null : 'publish.message must be bytes';
    case 'multi':
      return multiProblem(command);
    case 'hset':
    case 'hdel':
    case 'hincrby':
    case 'hincrbyfloat':
      return hashProblem(type, command);
    case 'sadd':
    case 'srem':
    case 'spop':
    case 'smove':
    case 'setstore':
      return setFamilyProblem(type, command);
    case 'zadd':
    case 'zrem':
    case 'zpop':
    case 'zremrange':
    case 'zrangestore':
    case 'zsetstore':
      return zsetProblem(type, command);
    case 'lpush':
    case 'lpop':
    case 'lset':
    case 'linsert':
    case 'lrem':
    case 'ltrim':
    case 'lmove':
    case 'lmpop':
      return listProblem(type, command);
    case 'sql':
      return statementsProblem(command.statements);
    case 'acl':
      return aclChangeProblem(command.change);
  }
}

/** The command types a transaction may queue (see `TransactionWrite`). */
const transactionTypes: ReadonlySet<unknown> = new Set(
  (Object.keys(fieldsByType) as CommandType[]).filter(
    // SWAPDB renames whole databases, which a PostgreSQL batch does in SQL of its own.
    (type) => !['multi', 'expire-sweep', 'publish', 'sql', 'acl', 'swapdb', 'link'].includes(type),
  ),
);

function linkProblem(command: Record<string, unknown>): string | null {
  switch (command.action) {
    case 'create':
      return typeof command.cluster === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(command.cluster)
        ? null
        : "link.cluster must be a cluster id (1 to 64 letters, digits, '.', '_' or '-')";
    case 'batch':
      return isBytes(command.batch) ? null : 'link.batch must be bytes';
    case 'seed':
      if (!Array.isArray(command.keys) || command.keys.length > linkSeedKeysMax) {
        return `link.keys must be an array of at most ${linkSeedKeysMax}`;
      }
      if (!command.keys.every(isBytes)) return 'each of link.keys must be bytes';
      return command.done === undefined || typeof command.done === 'boolean'
        ? null
        : 'link.done must be a boolean';
    default:
      return 'link.action must be "create", "batch" or "seed"';
  }
}

function multiProblem(command: Record<string, unknown>): string | null {
  const { steps, watched } = command;
  if (!Array.isArray(steps)) return 'multi.steps must be an array';
  if (steps.length > transactionStepsMax) return `multi.steps holds over ${transactionStepsMax}`;
  for (const [i, step] of steps.entries()) {
    const problem = stepProblem(step);
    if (problem !== null) return `multi.steps[${i}]: ${problem}`;
  }
  if (!Array.isArray(watched) || watched.length > watchedKeysMax) {
    return `multi.watched must be an array of at most ${watchedKeysMax}`;
  }
  return watched.every(isWatchedKey) ? null : 'each of multi.watched must be { key, seen }';
}

function stepProblem(step: unknown): string | null {
  if (!isPlainObject(step)) return 'a step must be a map';
  if (step.type === 'read') {
    const { keys } = step;
    const fine = Object.keys(step).length === 2 && Array.isArray(keys) && keys.every(isBytes);
    return fine ? null : 'a read step must be { type, keys } with keys byte strings';
  }
  if (!transactionTypes.has(step.type)) return `a transaction cannot hold ${String(step.type)}`;
  if (step.session !== undefined) return 'a step cannot carry a session';
  return shapeProblem(step);
}

function isWatchedKey(value: unknown): boolean {
  if (!isPlainObject(value) || Object.keys(value).length !== 2 || !isBytes(value.key)) {
    return false;
  }
  const { seen } = value;
  if (seen === null) return true;
  return (
    isPlainObject(seen) &&
    Object.keys(seen).length === 3 &&
    isTime(seen.index) &&
    isTime(seen.term) &&
    (seen.expiresAt === null || isExpiry(seen.expiresAt))
  );
}

/** The shape of a hash command (HashCommand). */
function hashProblem(type: HashCommand['type'], command: Record<string, unknown>): string | null {
  if (!isBytes(command.key)) return `${type}.key must be bytes`;
  switch (type) {
    case 'hset': {
      const { pairs, condition } = command;
      const problem = pairsProblem(pairs);
      if (problem !== null) return problem.replace('mset', 'hset');
      if (condition === undefined) return null;
      if (condition !== 'nx') return "hset.condition must be 'nx' or absent";
      return (pairs as unknown[]).length === 1 ? null : 'hset with nx takes exactly one pair';
    }
    case 'hdel': {
      const { fields } = command;
      const fine = Array.isArray(fields) && fields.length > 0 && fields.every(isBytes);
      return fine ? null : 'hdel.fields must be a non-empty array of byte strings';
    }
    case 'hincrby':
      if (!isBytes(command.field)) return 'hincrby.field must be bytes';
      return typeof command.by === 'bigint' && command.by >= int64Min && command.by <= int64Max
        ? null
        : 'hincrby.by must be a signed 64-bit integer';
    case 'hincrbyfloat':
      if (!isBytes(command.field)) return 'hincrbyfloat.field must be bytes';
      return isBytes(command.by) ? null : 'hincrbyfloat.by must be bytes';
  }
}

function isEnd(value: unknown): value is ListEnd {
  return value === 'left' || value === 'right';
}

/** Whether `value` is a safe integer, at least `min`. */
function isIndex(value: unknown, min = Number.MIN_SAFE_INTEGER): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min;
}

/** The shape of a list command (ListCommand). */
function listProblem(type: ListCommand['type'], command: Record<string, unknown>): string | null {
  if (type === 'lmpop') {
    const { keys, end, count } = command;
    const fine = Array.isArray(keys) && keys.length > 0 && keys.every(isBytes);
    if (!fine) return 'lmpop.keys must be a non-empty array of byte strings';
    if (!isEnd(end)) return "lmpop.end must be 'left' or 'right'";
    return isIndex(count, 1) ? null : 'lmpop.count must be a positive safe integer';
  }
  if (!isBytes(command.key)) return `${type}.key must be bytes`;
  switch (type) {
    case 'lpush': {
      const { elements, end, condition } = command;
      const fine = Array.isArray(elements) && elements.length > 0 && elements.every(isBytes);
      if (!fine) return 'lpush.elements must be a non-empty array of byte strings';
      if (!isEnd(end)) return "lpush.end must be 'left' or 'right'";
      return condition === undefined || condition === 'xx'
        ? null
        : "lpush.condition must be 'xx' or absent";
    }
    case 'lpop':
      if (!isEnd(command.end)) return "lpop.end must be 'left' or 'right'";
      return command.count === undefined || isIndex(command.count, 0)
        ? null
        : 'lpop.count must be a non-negative safe integer or absent';
    case 'lset':
      if (!isIndex(command.index)) return 'lset.index must be a safe integer';
      return isBytes(command.element) ? null : 'lset.element must be bytes';
    case 'linsert':
      if (command.where !== 'before' && command.where !== 'after') {
        return "linsert.where must be 'before' or 'after'";
      }
      return isBytes(command.pivot) && isBytes(command.element)
        ? null
        : 'linsert.pivot and linsert.element must be bytes';
    case 'lrem':
      if (!isIndex(command.count)) return 'lrem.count must be a safe integer';
      return isBytes(command.element) ? null : 'lrem.element must be bytes';
    case 'ltrim':
      return isIndex(command.start) && isIndex(command.stop)
        ? null
        : 'ltrim.start and ltrim.stop must be safe integers';
    case 'lmove':
      if (!isBytes(command.destination)) return 'lmove.destination must be bytes';
      return isEnd(command.from) && isEnd(command.to)
        ? null
        : "lmove.from and lmove.to must be 'left' or 'right'";
  }
}

/** The limits of a list command: its keys, and every element. */
function listLimitProblem(command: ListCommand): string | null {
  switch (command.type) {
    case 'lmpop':
      if (command.keys.length > delKeysMax) {
        return `LMPOP of ${command.keys.length} keys, over the maximum of ${delKeysMax}`;
      }
      for (const key of command.keys) {
        const problem = bytesProblem(key, 'a key', keyBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'lmove':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        bytesProblem(command.destination, 'the destination', keyBytesMax)
      );
    default:
      break;
  }
  const keyProblem = bytesProblem(command.key, 'the key', keyBytesMax);
  if (keyProblem !== null) return keyProblem;
  switch (command.type) {
    case 'lpush':
      if (command.elements.length > msetPairsMax) {
        return `a push of ${command.elements.length} elements, over the maximum of ${msetPairsMax}`;
      }
      for (const element of command.elements) {
        const problem = bytesProblem(element, 'an element', valueBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'lset':
    case 'lrem':
      return bytesProblem(command.element, 'the element', valueBytesMax);
    case 'linsert':
      return (
        bytesProblem(command.pivot, 'the pivot', valueBytesMax) ??
        bytesProblem(command.element, 'the element', valueBytesMax)
      );
    default:
      return null;
  }
}

/** The limits of a hash command: the key, and every field and value. */
function hashLimitProblem(command: HashCommand): string | null {
  const keyProblem = bytesProblem(command.key, 'the key', keyBytesMax);
  if (keyProblem !== null) return keyProblem;
  switch (command.type) {
    case 'hset':
      if (command.pairs.length > msetPairsMax) {
        return `HSET of ${command.pairs.length} pairs, over the maximum of ${msetPairsMax}`;
      }
      for (const [field, value] of command.pairs) {
        const problem =
          bytesProblem(field, 'a field', valueBytesMax) ??
          bytesProblem(value, 'a value', valueBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'hdel':
      if (command.fields.length > delKeysMax) {
        return `HDEL of ${command.fields.length} fields, over the maximum of ${delKeysMax}`;
      }
      for (const field of command.fields) {
        const problem = bytesProblem(field, 'a field', valueBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'hincrby':
      return bytesProblem(command.field, 'the field', valueBytesMax);
    case 'hincrbyfloat':
      return (
        bytesProblem(command.field, 'the field', valueBytesMax) ??
        bytesProblem(command.by, 'the increment', valueBytesMax)
      );
  }
}

/** Whether `value` is an array of byte strings, non-empty unless `emptyFine`. */
function isBytesList(value: unknown, emptyFine = false): value is Bytes[] {
  return Array.isArray(value) && (emptyFine || value.length > 0) && value.every(isBytes);
}

/** The shape of a set command (SetFamilyCommand). */
function setFamilyProblem(
  type: SetFamilyCommand['type'],
  command: Record<string, unknown>,
): string | null {
  if (type === 'setstore') {
    const { operation, destination, keys } = command;
    if (operation !== 'inter' && operation !== 'union' && operation !== 'diff') {
      return "setstore.operation must be 'inter', 'union' or 'diff'";
    }
    if (!isBytes(destination)) return 'setstore.destination must be bytes';
    return isBytesList(keys, false) ? null : 'setstore.keys must be a non-empty array of bytes';
  }
  if (!isBytes(command.key)) return `${type}.key must be bytes`;
  switch (type) {
    case 'sadd':
    case 'srem':
      return isBytesList(command.members, false)
        ? null
        : `${type}.members must be a non-empty array of byte strings`;
    case 'spop': {
      const { members, count, seed } = command;
      if (!isBytesList(members, true)) return 'spop.members must be an array of byte strings';
      if (!isTime(count)) return 'spop.count must be a safe integer from 0';
      if ((members as unknown[]).length > count) return 'spop names more members than its count';
      const fine =
        Number.isSafeInteger(seed) && (seed as number) >= 0 && (seed as number) < 2 ** 32;
      return fine ? null : 'spop.seed must be a 32-bit unsigned integer';
    }
    case 'smove':
      if (!isBytes(command.destination)) return 'smove.destination must be bytes';
      return isBytes(command.member) ? null : 'smove.member must be bytes';
  }
}

/** The limits of a set command: its keys, and every member it names. */
function setFamilyLimitProblem(command: SetFamilyCommand): string | null {
  const keys = command.type === 'setstore' ? [command.destination, ...command.keys] : [command.key];
  if (command.type === 'smove') keys.push(command.destination);
  const members =
    command.type === 'smove'
      ? [command.member]
      : command.type === 'setstore'
        ? []
        : command.members;
  const listed = command.type === 'setstore' ? command.keys.length : members.length;
  if (listed > setMembersMax) {
    return `${command.type.toUpperCase()} of ${listed} members or keys, over the maximum of ${setMembersMax}`;
  }
  for (const key of keys) {
    const problem = bytesProblem(key, 'a key', keyBytesMax);
    if (problem !== null) return problem;
  }
  for (const member of members) {
    const problem = bytesProblem(member, 'a member', valueBytesMax);
    if (problem !== null) return problem;
  }
  return null;
}

/** Whether `value` is a range as a sorted set command carries it (ZsetRangeText). */
function isRangeText(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const { by, min, max } = value;
  const keys = Object.keys(value);
  return (
    keys.length === 3 &&
    (by === 'rank' || by === 'score' || by === 'lex') &&
    isBytes(min) &&
    isBytes(max)
  );
}

/** Whether an optional field is absent or one of `allowed`. */
function optionalOf(value: unknown, allowed: readonly unknown[]): boolean {
  return value === undefined || allowed.includes(value);
}

/** The shape of a sorted set command (ZsetCommand). */
function zsetProblem(type: ZsetCommand['type'], command: Record<string, unknown>): string | null {
  switch (type) {
    case 'zadd': {
      if (!isBytes(command.key)) return 'zadd.key must be bytes';
      const problem = pairsProblem(command.pairs);
      if (problem !== null) return problem.replace('mset', 'zadd');
      const fine =
        optionalOf(command.condition, ['nx', 'xx']) &&
        optionalOf(command.compare, ['gt', 'lt']) &&
        optionalOf(command.changed, [true]) &&
        optionalOf(command.increment, [true]);
      if (!fine) return 'zadd has a malformed option';
      if (command.increment === true && (command.pairs as unknown[]).length !== 1) {
        return 'zadd with increment takes exactly one pair';
      }
      return null;
    }
    case 'zrem':
      if (!isBytes(command.key)) return 'zrem.key must be bytes';
      return isBytesList(command.members) ? null : 'zrem.members must be a non-empty byte array';
    case 'zpop': {
      if (!isBytesList(command.keys)) return 'zpop.keys must be a non-empty byte array';
      if (command.side !== 'min' && command.side !== 'max') return 'zpop.side must be min or max';
      const count = command.count;
      return Number.isSafeInteger(count) && (count as number) >= 1
        ? null
        : 'zpop.count must be a positive safe integer';
    }
    case 'zremrange':
      if (!isBytes(command.key)) return 'zremrange.key must be bytes';
      return isRangeText(command.range) ? null : 'zremrange.range is malformed';
    case 'zrangestore': {
      if (!isBytes(command.key) || !isBytes(command.destination)) {
        return 'zrangestore.key and zrangestore.destination must be bytes';
      }
      if (!isRangeText(command.range)) return 'zrangestore.range is malformed';
      const fine =
        optionalOf(command.reverse, [true]) &&
        (command.offset === undefined || Number.isSafeInteger(command.offset)) &&
        (command.count === undefined || Number.isSafeInteger(command.count));
      return fine ? null : 'zrangestore has a malformed option';
    }
    case 'zsetstore': {
      if (!isBytes(command.destination)) return 'zsetstore.destination must be bytes';
      if (!isBytesList(command.keys)) return 'zsetstore.keys must be a non-empty byte array';
      const { weights, operation, aggregate } = command;
      if (!['union', 'inter', 'diff'].includes(operation as string)) {
        return 'zsetstore.operation must be union, inter or diff';
      }
      if (!optionalOf(aggregate, ['sum', 'min', 'max'])) return 'zsetstore.aggregate is malformed';
      if (weights === undefined) return null;
      return isBytesList(weights) && weights.length === command.keys.length
        ? null
        : 'zsetstore.weights must be one byte string per key';
    }
  }
}

/** The limits of a sorted set command: keys, members and texts, and how many of them. */
function zsetLimitProblem(command: ZsetCommand): string | null {
  const keys =
    command.type === 'zpop' || command.type === 'zsetstore' ? command.keys : [command.key];
  if (keys.length > delKeysMax) {
    return `${command.type} of ${keys.length} keys, over the maximum of ${delKeysMax}`;
  }
  for (const key of keys) {
    const problem = bytesProblem(key, 'a key', keyBytesMax);
    if (problem !== null) return problem;
  }
  const texts: readonly Bytes[] =
    command.type === 'zadd'
      ? command.pairs.flat()
      : command.type === 'zrem'
        ? command.members
        : command.type === 'zremrange' || command.type === 'zrangestore'
          ? [command.range.min, command.range.max]
          : command.type === 'zsetstore'
            ? (command.weights ?? [])
            : [];
  if (texts.length > 2 * msetPairsMax) {
    return `${command.type} of ${texts.length} members, over the maximum of ${2 * msetPairsMax}`;
  }
  for (const text of texts) {
    const problem = bytesProblem(text, 'a member', valueBytesMax);
    if (problem !== null) return problem;
  }
  if (command.type === 'zrangestore' || command.type === 'zsetstore') {
    return bytesProblem(command.destination, 'the destination key', keyBytesMax);
  }
  return null;
}

function copyProblem(command: Record<string, unknown>): string | null {
  const { key, destination, replace } = command;
  if (!isBytes(key) || !isBytes(destination)) return 'copy.key and copy.destination must be bytes';
  // Redis refuses a copy onto itself before it looks at the key: no entry carries one.
  if (Buffer.compare(key, destination) === 0) return 'copy.destination must differ from copy.key';
  return replace === undefined || replace === true ? null : 'copy.replace must be true or absent';
}

const bitopOperations: ReadonlySet<unknown> = new Set<BitopOperation>(['and', 'or', 'xor', 'not']);

function bitopProblem(command: Record<string, unknown>): string | null {
  const { operation, destination, keys } = command;
  if (!bitopOperations.has(operation)) return "bitop.operation must be 'and', 'or', 'xor' or 'not'";
  if (!isBytes(destination)) return 'bitop.destination must be bytes';
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isBytes)) {
    return 'bitop.keys must be a non-empty array of byte strings';
  }
  return operation === 'not' && keys.length !== 1 ? 'bitop not takes exactly one key' : null;
}

const bitfieldOps: ReadonlySet<unknown> = new Set(['get', 'set', 'incrby']);
const bitfieldOverflows: ReadonlySet<unknown> = new Set(['wrap', 'sat', 'fail']);
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const bitfieldFields: ReadonlySet<string> = new Set([
  'op',
  'signed',
  'bits',
  'offset',
  'value',
  'overflow',
]);

/** Whether `value` is one BITFIELD operation, well formed. */
function isBitfieldOperation(value: unknown): boolean {
  if (!isPlainObject(value) || !Object.keys(value).every((field) => bitfieldFields.has(field))) {
    return false;
  }
  const { op, signed, bits, offset, value: amount, overflow } = value;
  return (
    bitfieldOps.has(op) &&
    typeof signed === 'boolean' &&
    Number.isSafeInteger(bits) &&
    (bits as number) >= 1 &&
    (bits as number) <= (signed ? 64 : 63) &&
    isTime(offset) &&
    typeof amount === 'bigint' &&
    amount >= int64Min &&
    amount <= int64Max &&
    bitfieldOverflows.has(overflow)
  );
}

function bitfieldProblem(operations: unknown): string | null {
  if (!Array.isArray(operations) || !operations.every(isBitfieldOperation)) {
    return 'bitfield.operations must be an array of { op, signed, bits, offset, value, overflow }';
  }
  return operations.some((operation: BitfieldOperation) => operation.op !== 'get')
    ? null
    : 'bitfield needs a SET or INCRBY (a BITFIELD of GETs is a read)';
}

function delProblem(command: Record<string, unknown>): string | null {
  const { keys, ifVersion } = command;
  if (!Array.isArray(keys) || !keys.every(isBytes)) {
    return 'del.keys must be an array of byte strings';
  }
  if (keys.length === 0) return 'del needs at least one key';
  if (ifVersion === undefined) return null;
  if (!isVersion(ifVersion)) {
    return 'del.ifVersion must be { index, term } with non-negative safe integers';
  }
  return keys.length === 1 ? null : 'del.ifVersion needs exactly one key';
}

/** Whether `value` is a `Version`: exactly an index and a term, both non-negative. */
function isVersion(value: unknown): boolean {
  return (
    isPlainObject(value) &&
    Object.keys(value).length === 2 &&
    isTime(value.index) &&
    isTime(value.term)
  );
}

function setProblem(command: Record<string, unknown>): string | null {
  if (!isBytes(command.key)) return 'set.key must be bytes';
  if (!isBytes(command.value)) return 'set.value must be bytes';
  const { expiresAt, condition, ifVersion, returnOld, keepTtl } = command;
  if (expiresAt !== undefined && expiresAt !== null && !isExpiry(expiresAt)) {
    return 'set.expiresAt must be a time in ms, null or absent';
  }
  if (keepTtl !== undefined && keepTtl !== true) return 'set.keepTtl must be true or absent';
  // Keeping the expiry and giving one (or removing it with null) contradict each other.
  if (keepTtl === true && expiresAt !== undefined) {
    return 'set.keepTtl cannot be combined with set.expiresAt';
  }
  if (condition !== undefined && condition !== 'nx' && condition !== 'xx') {
    return "set.condition must be 'nx', 'xx' or absent";
  }
  if (ifVersion !== undefined && !isVersion(ifVersion)) {
    return 'set.ifVersion must be { index, term } with non-negative safe integers';
  }
  if (returnOld !== undefined && typeof returnOld !== 'boolean') {
    return 'set.returnOld must be a boolean or absent';
  }
  return null;
}

function expireProblem(command: Record<string, unknown>): string | null {
  if (!isBytes(command.key)) return 'expire.key must be bytes';
  const { expiresAt, condition } = command;
  if (expiresAt !== null && !isExpiry(expiresAt))
    return 'expire.expiresAt must be a time in ms or null';
  if (condition === undefined) return null;
  if (typeof condition !== 'string' || !expireConditions.has(condition)) {
    return "expire.condition must be 'nx', 'xx', 'gt', 'lt', 'xx-lt' or absent";
  }
  // Redis's PERSIST takes no options: a condition only qualifies setting an expiry.
  return expiresAt === null ? 'expire.condition needs an expiresAt (PERSIST takes none)' : null;
}

function pairsProblem(pairs: unknown): string | null {
  if (!Array.isArray(pairs) || pairs.length === 0) return 'mset.pairs must be a non-empty array';
  for (const pair of pairs) {
    const fine = Array.isArray(pair) && pair.length === 2 && isBytes(pair[0]) && isBytes(pair[1]);
    if (!fine) return 'each of mset.pairs must be [key, value] byte strings';
  }
  return null;
}

/** Whether SQL can bind `value`: see `SqlValue`. */
export function isSqlValue(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    (typeof value === 'bigint' && value >= sqlIntegerMin && value <= sqlIntegerMax)
  );
}

/**
 * Describes what is wrong with SQL parameters (not an array or a map, or a value SQL cannot
 * bind), or returns null. `where` names them in the message.
 */
function sqlParamsProblem(params: unknown, where: string): string | null {
  const values = Array.isArray(params)
    ? params
    : isPlainObject(params)
      ? Object.values(params)
      : null;
  if (values !== null && values.every(isSqlValue)) return null;
  return `${where} must be an array or map of strings, finite numbers, booleans and nulls (integers from -2^63 to 2^63-1)`;
}

function statementsProblem(statements: unknown): string | null {
  if (!Array.isArray(statements) || statements.length === 0) {
    return 'sql.statements must be a non-empty array';
  }
  for (const [i, statement] of statements.entries()) {
    const where = `sql.statements[${i}]`;
    if (!isPlainObject(statement) || typeof statement.sql !== 'string') {
      return `${where} must be { sql, params? } with sql a string`;
    }
    if (Object.keys(statement).some((field) => field !== 'sql' && field !== 'params')) {
      return `${where} has an unknown field`;
    }
    if (statement.params === undefined) continue;
    const problem = sqlParamsProblem(statement.params, `${where}.params`);
    if (problem !== null) return problem;
  }
  return null;
}

const loneSurrogate = /\p{Cs}/u;

/** Checks a string the client supplied: valid Unicode (it travels as UTF-8) and not too long. */
function textProblem(text: string, what: string, bytesMax: number): string | null {
  if (loneSurrogate.test(text)) return `${what} is not valid Unicode (it has a lone surrogate)`;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > bytesMax ? `${what} is ${bytes} bytes, over the maximum of ${bytesMax}` : null;
}

/** Checks a key or value the client supplied: any bytes, not too many. */
function bytesProblem(bytes: Bytes, what: string, bytesMax: number): string | null {
  const length = bytes.byteLength;
  return length > bytesMax ? `${what} is ${length} bytes, over the maximum of ${bytesMax}` : null;
}

function limitProblem(command: Command): string | null {
  switch (command.type) {
    case 'set':
    case 'append':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        bytesProblem(command.value, 'the value', valueBytesMax)
      );
    case 'incrby':
    case 'expire':
    case 'getdel':
    case 'getex':
      return bytesProblem(command.key, 'the key', keyBytesMax);
    case 'rename':
    case 'copy':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        bytesProblem(command.destination, 'the destination key', keyBytesMax)
      );
    case 'setrange':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        bytesProblem(command.value, 'the value', valueBytesMax)
      );
    case 'incrbyfloat':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        bytesProblem(command.by, 'the increment', valueBytesMax)
      );
    case 'setbit':
      return (
        bytesProblem(command.key, 'the key', keyBytesMax) ??
        (Math.floor(command.offset / 8) >= valueBytesMax ? bitOffsetRange : null)
      );
    case 'bitop':
      return bitopLimitProblem(command);
    case 'bitfield':
      return bitfieldLimitProblem(command);
    case 'mset':
    case 'msetnx':
      if (command.pairs.length > msetPairsMax) {
        return `MSET of ${command.pairs.length} pairs, over the maximum of ${msetPairsMax}`;
      }
      for (const [key, value] of command.pairs) {
        const problem =
          bytesProblem(key, 'a key', keyBytesMax) ?? bytesProblem(value, 'a value', valueBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'del':
      if (command.keys.length > delKeysMax) {
        return `DEL of ${command.keys.length} keys, over the maximum of ${delKeysMax}`;
      }
      for (const key of command.keys) {
        const problem = bytesProblem(key, 'a key', keyBytesMax);
        if (problem !== null) return problem;
      }
      return null;
    case 'flush':
    case 'swapdb':
    case 'expire-sweep':
    case 'acl':
    case 'link':
      return null;
    case 'publish':
      return (
        bytesProblem(command.channel, 'the channel', keyBytesMax) ??
        bytesProblem(command.message, 'the message', valueBytesMax)
      );
    case 'multi':
      return multiLimitProblem(command);
    case 'hset':
    case 'hdel':
    case 'hincrby':
    case 'hincrbyfloat':
      return hashLimitProblem(command);
    case 'sadd':
    case 'srem':
    case 'spop':
    case 'smove':
    case 'setstore':
      return setFamilyLimitProblem(command);
    case 'zadd':
    case 'zrem':
    case 'zpop':
    case 'zremrange':
    case 'zrangestore':
    case 'zsetstore':
      return zsetLimitProblem(command);
    case 'lpush':
    case 'lpop':
    case 'lset':
    case 'linsert':
    case 'lrem':
    case 'ltrim':
    case 'lmove':
    case 'lmpop':
      return listLimitProblem(command);
    case 'sql':
      return sqlLimitProblem(command);
  }
}

function multiLimitProblem(command: MultiCommand): string | null {
  for (const [i, step] of command.steps.entries()) {
    const problem =
      step.type === 'read'
        ? (step.keys
            .map((key) => bytesProblem(key, 'a key', keyBytesMax))
            .find((p) => p !== null) ?? null)
        : limitProblem(step);
    if (problem !== null) return `command ${i + 1} of the transaction: ${problem}`;
  }
  for (const { key } of command.watched) {
    const problem = bytesProblem(key, 'a watched key', keyBytesMax);
    if (problem !== null) return problem;
  }
  return null;
}

/** Redis's text for a bit offset out of range (here: past what a value may hold). */
export const bitOffsetRange = 'ERR bit offset is not an integer or out of range';
/** The most operations one BITFIELD may carry. */
export const bitfieldOperationsMax = 1024;

function bitopLimitProblem(command: BitopCommand): string | null {
  if (command.keys.length > delKeysMax) {
    return `BITOP of ${command.keys.length} keys, over the maximum of ${delKeysMax}`;
  }
  for (const key of [command.destination, ...command.keys]) {
    const problem = bytesProblem(key, 'a key', keyBytesMax);
    if (problem !== null) return problem;
  }
  return null;
}

function bitfieldLimitProblem(command: BitfieldCommand): string | null {
  const keyProblem = bytesProblem(command.key, 'the key', keyBytesMax);
  if (keyProblem !== null) return keyProblem;
  if (command.operations.length > bitfieldOperationsMax) {
    return `BITFIELD of ${command.operations.length} operations, over the maximum of ${bitfieldOperationsMax}`;
  }
  const past = command.operations.some(({ offset }) => Math.floor(offset / 8) >= valueBytesMax);
  return past ? bitOffsetRange : null;
}

function sqlLimitProblem(command: SqlCommand): string | null {
  if (command.statements.length > sqlStatementsMax) {
    return `${command.statements.length} statements, over the maximum of ${sqlStatementsMax} per command`;
  }
  for (const [i, { sql, params }] of command.statements.entries()) {
    const problem = textProblem(sql, `statement ${i + 1}`, sqlBytesMax);
    if (problem !== null) return problem;
    const values =
      params === undefined ? [] : Array.isArray(params) ? params : Object.values(params);
    if (values.length > sqlParamsMax) {
      return `statement ${i + 1} binds ${values.length} parameters, over the maximum of ${sqlParamsMax}`;
    }
    for (const value of values) {
      if (typeof value !== 'string') continue;
      const valueProblem = textProblem(value, `a parameter of statement ${i + 1}`, valueBytesMax);
      if (valueProblem !== null) return valueProblem;
    }
  }
  return null;
}
