/**
 * What a RESP command is to the dispatcher: its arity, the role a user needs to run it,
 * where its keys are (checked against the user's key patterns), its subcommands. Every
 * command family declares its commands in this shape; the server checks each command
 * against it, on every command, before it runs.
 */
import type { AccessRole } from '../../store/access-state.js';
import type { Args, Handler } from './keys.js';
import { error, type Reply } from './reply.js';

/**
 * Where a command's keys are among its arguments, as Redis's (first, last, step) says:
 * `args[first]`, `args[first + step]`, ... up to `args[last]`; a `last` of -1 is the last
 * argument.
 */
export interface KeySpec {
  readonly first: number;
  readonly last: number;
  readonly step: number;
  /**
   * `args[first - 1]` says how many keys follow it (SINTERCARD's and LMPOP's numkeys, Redis's keynum
   * key spec); `last` and `step` are then unused. Not a count: no keys.
   */
  readonly counted?: true;
}

/** One key argument (`GET key`). */
export const oneKey: KeySpec = { first: 1, last: 1, step: 1 };
/** Every argument after the name is a key (`DEL key...`). */
export const allKeys: KeySpec = { first: 1, last: -1, step: 1 };

/** A subcommand (`ACL SETUSER`): its arity counted from the command's name, and its role. */
export interface SubcommandSpec {
  readonly arity: number;
  readonly role: AccessRole;
  /** An admin action: logged and counted with its user. */
  readonly audit?: boolean;
}

/** One command of the table the server dispatches with. */
export interface CommandSpec {
  /** Redis's arity: the exact count of arguments with the name, or at least -arity. */
  readonly arity: number;
  /** It changes data (COMMAND's `write` flag; a follower forwards it). */
  readonly write: boolean;
  /** The role a user needs to run it; a command with subcommands gives each its own. */
  readonly role: AccessRole;
  /** It runs before the connection authenticates (AUTH, HELLO, QUIT, RESET), unchecked. */
  readonly noauth?: boolean;
  readonly keys?: KeySpec;
  /** Where the keys are when `numkeys` says how many (ZUNION, ZMPOP): instead of `keys`. */
  readonly keysOf?: (raw: readonly Buffer[]) => Buffer[];
  readonly subcommands?: Readonly<Record<string, SubcommandSpec>>;
  /** An admin action: logged and counted with its user. */
  readonly audit?: boolean;
  /**
   * Nothing after it on its connection runs until it answers: it changes who the
   * connection is (AUTH, HELLO), or hashes a password before it proposes (ACL SETUSER).
   */
  readonly serial?: boolean;
  /**
   * It may wait for other clients' writes (BLPOP): nothing after it on its connection runs
   * until it answers, as `serial`, but inside MULTI it is queued (and does not wait).
   */
  readonly blocks?: true;
  readonly run: Handler;
}

/** What running one command needs: the role, the keys to check, and its name in errors. */
export interface Requirement {
  readonly role: AccessRole;
  /** `flushall`, or `acl|setuser` for a subcommand, as Redis names it in NOPERM. */
  readonly display: string;
  readonly keys: readonly Buffer[];
  readonly audit: boolean;
}

/** The key arguments of `raw` (the name included) under `spec`. */
export function commandKeys(spec: KeySpec | undefined, raw: readonly Buffer[]): Buffer[] {
  if (spec === undefined) return [];
  if (spec.counted === true) return countedKeys(spec.first, raw);
  const last = spec.last < 0 ? raw.length + spec.last : spec.last;
  const keys: Buffer[] = [];
  for (let i = spec.first; i <= last && i < raw.length; i += spec.step) keys.push(raw[i]);
  return keys;
}

/** The keys after a count of them at `raw[first - 1]`: none when it is no count that fits. */
function countedKeys(first: number, raw: readonly Buffer[]): Buffer[] {
  const text = raw[first - 1]?.toString('latin1') ?? '';
  const count = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : 0;
  return count <= raw.length - first ? raw.slice(first, first + count) : [];
}

/** Redis's arity error for `name` (lower case, `parent|sub` for subcommands). */
export function wrongArity(name: string): Reply {
  return error(`ERR wrong number of arguments for '${name}' command`);
}

/** Whether `count` arguments (the name included) fit `arity`. */
export function arityFits(arity: number, count: number): boolean {
  return arity > 0 ? count === arity : count >= -arity;
}

/**
 * What running `args` as command `name` needs, or Redis's error for an unknown subcommand
 * or a subcommand's wrong arity (which Redis, too, answers before it checks who asks).
 */
export function requirementOf(name: string, spec: CommandSpec, args: Args): Requirement | Reply {
  const keys = spec.keysOf?.(args.raw) ?? commandKeys(spec.keys, args.raw);
  if (spec.subcommands === undefined) {
    return { role: spec.role, display: name, keys, audit: spec.audit === true };
  }
  const given = args.text[1] ?? '';
  const sub = given.toLowerCase();
  const subSpec = Object.hasOwn(spec.subcommands, sub) ? spec.subcommands[sub] : undefined;
  if (subSpec === undefined) {
    return error(
      `ERR unknown subcommand '${given.slice(0, 128)}'. Try ${name.toUpperCase()} HELP.`,
    );
  }
  const display = `${name}|${sub}`;
  if (!arityFits(subSpec.arity, args.raw.length)) return wrongArity(display);
  return { role: subSpec.role, display, keys, audit: subSpec.audit === true };
}

/** Redis 7's refusal of a command the user's role does not cover. */
export function noPermission(display: string): Reply {
  return error(`NOPERM this user has no permissions to run the '${display}' command`);
}

/** Redis 7's refusal of a key outside the user's patterns. */
export const noKeyPermission: Reply = error(
  'NOPERM this user has no permissions to access one of the keys used as arguments',
);
