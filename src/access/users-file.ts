/**
 * The `--users FILE` of `tandem start` and `tandem cluster`: JSON or YAML,
 *
 *     { "users": [ { "name": "app", "password": "...", "roles": ["write"], "keys": ["app:*"] } ] }
 *
 * Each user has a `password` (hashed here, at start) or a `passwordHash` (a stored
 * `scrypt$...` hash or Redis's SHA-256 hex), or `"nopass": true`; `roles` from `read`,
 * `write`, `admin`; optional `keys` (Redis globs, default every key) and `enabled`
 * (default true). They become ACL rules, the same ones ACL SETUSER takes.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  accessRoles,
  keyPatternCharsMax,
  storedHash,
  userKeyPatternsMax,
  userNamePattern,
  usersMax,
  type AccessRole,
  type UserRules,
} from '../store/access-state.js';
import { hashPassword, passwordBytesMax } from './passwords.js';

/** The largest users file read. */
export const usersFileBytesMax = 4 * 1024 * 1024;

/** A users file that cannot be used: the message says where and why. */
export class UsersFileError extends Error {}

const userFields = new Set([
  'name',
  'password',
  'passwordHash',
  'nopass',
  'roles',
  'keys',
  'enabled',
]);

/** Reads and checks a users file; hashes its passwords. Throws UsersFileError. */
export async function readUsersFile(path: string): Promise<UserRules[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsersFileError(`--users ${path} cannot be read: ${(error as Error).message}`);
  }
  if (Buffer.byteLength(text) > usersFileBytesMax) {
    throw new UsersFileError(`--users ${path} is over ${usersFileBytesMax} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new UsersFileError(
      `--users ${path} is neither JSON nor YAML: ${(error as Error).message}`,
    );
  }
  return usersFromDocument(parsed, `--users ${path}`);
}

/** The rules of each user of a parsed users document; `where` names it in errors. */
export async function usersFromDocument(document: unknown, where: string): Promise<UserRules[]> {
  const users = (document as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) throw new UsersFileError(`${where}: expected { "users": [ ... ] }`);
  if (users.length > usersMax) throw new UsersFileError(`${where}: at most ${usersMax} users`);
  const seen = new Set<string>();
  const result: UserRules[] = [];
  for (const [i, user] of users.entries()) {
    const at = `${where}: users[${i}]`;
    const rules = await userRules(user, at);
    if (seen.has(rules.name)) throw new UsersFileError(`${at}: user ${rules.name} is listed twice`);
    seen.add(rules.name);
    result.push(rules);
  }
  return result;
}

async function userRules(user: unknown, at: string): Promise<UserRules> {
  if (typeof user !== 'object' || user === null || Array.isArray(user)) {
    throw new UsersFileError(`${at} must be an object`);
  }
  const u = user as Record<string, unknown>;
  for (const field of Object.keys(u)) {
    if (!userFields.has(field)) {
      throw new UsersFileError(
        `${at}: unknown field ${JSON.stringify(field)}; known: ${[...userFields].join(', ')}`,
      );
    }
  }
  if (typeof u.name !== 'string' || !userNamePattern.test(u.name)) {
    throw new UsersFileError(`${at}: name must be 1-128 characters without spaces`);
  }
  const rules = ['reset', u.enabled === false ? 'off' : 'on'];
  rules.push(...(await passwordRules(u, `${at} (${u.name})`)));
  rules.push(...roleRules(u.roles, `${at} (${u.name})`));
  rules.push(...keyRules(u.keys, `${at} (${u.name})`));
  rules.push('&*');
  return { name: u.name, rules };
}

async function passwordRules(u: Record<string, unknown>, at: string): Promise<string[]> {
  const given = ['password', 'passwordHash', 'nopass'].filter((f) => u[f] !== undefined);
  if (given.length !== 1) {
    throw new UsersFileError(`${at}: give exactly one of password, passwordHash or nopass: true`);
  }
  if (u.nopass !== undefined) {
    if (u.nopass !== true) throw new UsersFileError(`${at}: nopass must be true when given`);
    return ['nopass'];
  }
  if (u.passwordHash !== undefined) {
    const hash = typeof u.passwordHash === 'string' ? storedHash(u.passwordHash) : null;
    if (hash === null) {
      throw new UsersFileError(
        `${at}: passwordHash must be a scrypt$... hash or 64 hex digits (SHA-256)`,
      );
    }
    return [`#${u.passwordHash as string}`];
  }
  const password = u.password;
  if (typeof password !== 'string' || password.length === 0) {
    throw new UsersFileError(`${at}: password must be a non-empty string`);
  }
  if (Buffer.byteLength(password) > passwordBytesMax) {
    throw new UsersFileError(`${at}: password is over ${passwordBytesMax} bytes`);
  }
  return [`#${await hashPassword(password)}`];
}

function roleRules(roles: unknown, at: string): string[] {
  if (!Array.isArray(roles) || roles.length === 0) {
    throw new UsersFileError(`${at}: roles must be a list of ${accessRoles.join(', ')}`);
  }
  return roles.map((role) => {
    if (!accessRoles.includes(role as AccessRole)) {
      throw new UsersFileError(
        `${at}: unknown role ${JSON.stringify(role)}; roles are ${accessRoles.join(', ')}`,
      );
    }
    return `+@${role as string}`;
  });
}

function keyRules(keys: unknown, at: string): string[] {
  if (keys === undefined) return ['~*'];
  if (!Array.isArray(keys) || keys.length > userKeyPatternsMax) {
    throw new UsersFileError(
      `${at}: keys must be a list of at most ${userKeyPatternsMax} patterns`,
    );
  }
  return keys.map((key) => {
    if (typeof key !== 'string' || key.length === 0 || key.length > keyPatternCharsMax) {
      throw new UsersFileError(
        `${at}: each key pattern is a string of 1 to ${keyPatternCharsMax} characters`,
      );
    }
    return `~${key}`;
  });
}

/** The `default` user that `--requirepass` makes: that password, every role, every key. */
export async function requirePassUser(password: string): Promise<UserRules> {
  return {
    name: 'default',
    rules: ['reset', 'on', `#${await hashPassword(password)}`, '~*', '&*', '+@all'],
  };
}
