/**
 * ACL: Redis 7's user commands over Tandem's replicated users (src/store/access-state.ts).
 * ACL SETUSER and DELUSER are writes: the node that takes one hashes any `>password` (so
 * nothing secret enters the log), proposes it through `AccessControl.change`, and a
 * follower forwards it to the leader like any other write. The rest read the users as this
 * node applied them. Tandem grants roles, so a user's commands are shown as Redis would
 * show the categories that grant them: `-@all +@read`, `-@all +@write +@read`, `+@all`.
 */
import { randomBytes } from 'node:crypto';
import {
  accessRoles,
  userNamePattern,
  type AccessRole,
  type UserRecord,
} from '../../store/access-state.js';
import { integerArg, notAnInteger, type Handler } from './keys.js';
import { error, map, ok, type Reply } from './reply.js';
import { proposeFor, type ServerContext, type Session } from './session.js';
import type { CommandSpec, SubcommandSpec } from './spec.js';

/** The most bits ACL GENPASS gives, as Redis. */
const genpassBitsMax = 4096;

/** A stored hash as ACL shows it: Redis's SHA-256 as bare hex, a scrypt hash whole. */
export function shownHash(stored: string): string {
  return stored.startsWith('sha256$') ? stored.slice('sha256$'.length) : stored;
}

/**
 * The categories that grant a user's roles, as ACL LIST and GETUSER show them, in the
 * order Redis 7 describes such a user: `-@all +@read`, `-@all +@write +@read`, `+@all`.
 */
export function commandRules(roles: readonly AccessRole[]): string {
  if (roles.includes('admin')) return '+@all';
  const granted = accessRoles.filter((role) => roles.includes(role)).reverse();
  return ['-@all', ...granted.map((role) => `+@${role}`)].join(' ');
}

/** A user as one line of ACL LIST: `user <name> on|off [nopass] #<hash>... ~<keys>... &* <commands>`. */
export function userLine(user: UserRecord): string {
  const parts = ['user', user.name, user.enabled ? 'on' : 'off'];
  if (user.nopass) parts.push('nopass');
  for (const hash of user.passwords) parts.push(`#${shownHash(hash)}`);
  for (const pattern of user.keys) parts.push(`~${pattern}`);
  // Tandem does not limit pub/sub channels: every user may use them all.
  parts.push('&*', commandRules(user.roles));
  return parts.join(' ');
}

/** ACL GETUSER's reply, in Redis 7's shape. */
function userDescription(user: UserRecord): Reply {
  const flags = [user.enabled ? 'on' : 'off', ...(user.nopass ? ['nopass'] : [])];
  return map([
    ['flags', flags],
    ['passwords', user.passwords.map(shownHash)],
    ['commands', commandRules(user.roles)],
    ['keys', user.keys.map((pattern) => `~${pattern}`).join(' ')],
    ['channels', '&*'],
    ['selectors', []],
  ]);
}

function sortedUsers(context: ServerContext): UserRecord[] {
  const users = [...context.access.effective().users.values()];
  // Redis keeps its users in a radix tree: they come out in byte order of their names.
  return users.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

const badUserName = error("ERR Usernames can't contain spaces or null characters");

/** ACL SETUSER name rules...: hashes `>password`, then proposes (or forwards) the change. */
const setUser: Handler = async (context, session, args) => {
  const name = args.text[2];
  if (!userNamePattern.test(name)) return badUserName;
  const rules = args.text.slice(3);
  const prepared = await context.access.prepareRules(name, rules);
  return proposeFor(
    context,
    session,
    () => context.access.change(context.node, { op: 'set-user', name, rules: prepared }),
    () => ok,
    args.raw,
  );
};

/** ACL DELUSER name...: proposes (or forwards) the removal; answers how many existed. */
const delUsers: Handler = (context, session, args) => {
  const names = args.text.slice(2);
  // A name no user can have removes nothing; leave it out rather than refuse the rest.
  const valid = names.filter((name) => userNamePattern.test(name));
  return proposeFor(
    context,
    session,
    () => context.access.change(context.node, { op: 'del-users', names: valid }),
    (value) => value as number,
    args.raw,
  );
};

/** The commands (and `parent|sub` subcommands) that need exactly `role`. */
function commandsOf(table: Readonly<Record<string, CommandSpec>>, role: AccessRole): string[] {
  const names: string[] = [];
  for (const [name, spec] of Object.entries(table)) {
    if (spec.noauth === true) continue;
    if (spec.subcommands === undefined) {
      if (spec.role === role) names.push(name);
      continue;
    }
    for (const [sub, subSpec] of Object.entries(spec.subcommands)) {
      if (subSpec.role === role) names.push(`${name}|${sub}`);
    }
  }
  return names;
}

/** ACL CAT [category]: Tandem's categories are its roles. */
function cat(table: Readonly<Record<string, CommandSpec>>): Handler {
  return (_context, _session, args) => {
    if (args.text.length === 2) return [...accessRoles];
    if (args.text.length > 3) return error("ERR wrong number of arguments for 'acl|cat' command");
    const role = args.text[2].toLowerCase();
    if (!(accessRoles as readonly string[]).includes(role)) {
      return error(`ERR Unknown category '${args.text[2].slice(0, 128)}'`);
    }
    return commandsOf(table, role as AccessRole);
  };
}

function genpass(_context: ServerContext, _session: Session, args: { text: readonly string[] }) {
  const bits = args.text.length > 2 ? integerArg(args.text[2]) : 256;
  if (bits === null) return notAnInteger;
  if (bits <= 0 || bits > genpassBitsMax) {
    return error(
      `ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to ${genpassBitsMax}`,
    );
  }
  const chars = Math.ceil(bits / 4);
  return randomBytes(Math.ceil(chars / 2))
    .toString('hex')
    .slice(0, chars);
}

const helpLines = [
  'ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CAT [<category>]',
  "    List all commands that belong to <category>, or all command categories (Tandem's",
  '    roles: read, write, admin) when no category is specified.',
  'DELUSER <username> [<username> ...]',
  '    Delete a list of users.',
  'GETUSER <username>',
  "    Get the user's details.",
  'GENPASS [<bits>]',
  '    Generate a secure 256-bit user password. The optional `bits` argument can',
  '    be used to specify a different size.',
  'LIST',
  '    Show users details in config file format.',
  'LOG [<count> | RESET]',
  '    Show the ACL log entries (Tandem logs refusals in its audit log instead).',
  'SAVE',
  '    Users are replicated state, saved with the log: nothing to do.',
  'SETUSER <username> <attribute> [<attribute> ...]',
  '    Create or modify a user with the specified attributes.',
  'USERS',
  '    List all the registered usernames.',
  'WHOAMI',
  '    Return the current connection username.',
  'HELP',
  '    Print this help.',
];

/** ACL's subcommands with their arity and role, as the dispatcher checks them. */
export const aclSubcommands: Readonly<Record<string, SubcommandSpec>> = {
  whoami: { arity: 2, role: 'read' },
  cat: { arity: -2, role: 'read' },
  genpass: { arity: -2, role: 'read' },
  help: { arity: 2, role: 'read' },
  users: { arity: 2, role: 'admin' },
  list: { arity: 2, role: 'admin' },
  getuser: { arity: 3, role: 'admin' },
  setuser: { arity: -3, role: 'admin', audit: true },
  deluser: { arity: -3, role: 'admin', audit: true },
  log: { arity: -2, role: 'admin' },
  save: { arity: 2, role: 'admin' },
  load: { arity: 2, role: 'admin' },
};

/** The ACL command; `table` is the server's, for ACL CAT. */
export function aclCommand(table: Readonly<Record<string, CommandSpec>>): CommandSpec {
  const category = cat(table);
  const run: Handler = (context, session, args) => {
    switch (args.text[1].toLowerCase()) {
      case 'whoami':
        return session.user;
      case 'users':
        return sortedUsers(context).map((user) => user.name);
      case 'list':
        return sortedUsers(context).map(userLine);
      case 'getuser': {
        const user = context.access.effective().users.get(args.text[2]);
        return user === undefined ? null : userDescription(user);
      }
      case 'setuser':
        return setUser(context, session, args);
      case 'deluser':
        return delUsers(context, session, args);
      case 'cat':
        return category(context, session, args);
      case 'genpass':
        return genpass(context, session, args);
      case 'log':
        return args.text[2]?.toUpperCase() === 'RESET' ? ok : [];
      case 'save':
        return ok;
      case 'load':
        return error(
          'ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.',
        );
      case 'help':
        return helpLines;
      default:
        return error(`ERR unknown subcommand '${args.text[1]}'. Try ACL HELP.`);
    }
  };
  return {
    arity: -2,
    write: false,
    role: 'admin',
    subcommands: aclSubcommands,
    serial: true,
    run,
  };
}
