/**
 * Redis's sixteen databases at the RESP boundary: a command's key arguments (from its
 * spec's key positions, after the ACL check saw the client's own keys) become the stored
 * keys of the connection's database (`store/databases.ts`), and the replies that name keys
 * give the client's keys back.
 */
import {
  clientKey,
  databaseCount,
  databaseOf,
  isReservedKey,
  storedKey,
} from '../../store/databases.js';
import type { Args } from './keys.js';
import { error, type Reply } from './reply.js';

/** Redis's refusal of a database index it does not have (SELECT, MOVE, COPY ... DB). */
export const dbOutOfRange = error('ERR DB index is out of range');

/** The one difference from Redis: keys that begin with the bytes databases 1 to 15 use. */
export const reservedKeyRefusal = error(
  'ERR keys beginning with the bytes 0xFF 0x00 "db" are reserved for databases 1 to 15',
);

/** A database index as Redis's SELECT reads it: an integer from 0 to 15, else null. */
export function databaseArg(text: string | undefined): number | null {
  if (text === undefined || !/^-?[0-9]{1,19}$/.test(text)) return null;
  const db = Number(text);
  return db >= 0 && db < databaseCount ? db : null;
}

/**
 * `args` with the keys `keys` (elements of `args.raw`) in their stored form for database
 * `db`, or the refusal of a key with the reserved prefix.
 */
export function inDatabase(db: number, keys: readonly Buffer[], args: Args): Args | Reply {
  if (hasReservedKey(keys)) return reservedKeyRefusal;
  if (db === 0 || keys.length === 0) return args;
  const named = new Set(keys);
  return {
    raw: args.raw.map((arg) => (named.has(arg) ? storedKey(db, arg) : arg)),
    text: args.text,
  };
}

/** Whether `inDatabase` gave the command's arguments (rather than a refusal). */
export function isArgs(value: Args | Reply): value is Args {
  return typeof value === 'object' && value !== null && 'raw' in value && 'text' in value;
}

/** Whether a client named a key with the reserved prefix. */
export function hasReservedKey(keys: readonly Buffer[]): boolean {
  return keys.some(isReservedKey);
}

/**
 * Whether every key of a forwarded command (already in its stored form) is one a client
 * could have named: of database 0, or with a valid database after the reserved prefix.
 */
export function storedKeysValid(keys: readonly Buffer[]): boolean {
  return keys.every((key) => databaseOf(key) !== null);
}

/** The commands whose reply is an array that begins with the key it came from. */
const keyFirstReplies: ReadonlySet<string> = new Set([
  'blpop',
  'brpop',
  'bzpopmin',
  'bzpopmax',
  'blmpop',
  'bzmpop',
  'lmpop',
  'zmpop',
]);

/** `reply` of command `name` with the key it names in the client's form. */
export function clientReply(name: string, reply: Reply): Reply {
  if (!keyFirstReplies.has(name) || !Array.isArray(reply)) return reply;
  const [first, ...rest] = reply as Reply[];
  return Buffer.isBuffer(first) ? [clientKey(first), ...rest] : reply;
}

/** `clientReply` for a reply that may still be on its way. */
export function clientReplyOf(name: string, reply: Reply | Promise<Reply>): Reply | Promise<Reply> {
  if (!keyFirstReplies.has(name)) return reply;
  return reply instanceof Promise
    ? reply.then((done) => clientReply(name, done))
    : clientReply(name, reply);
}
