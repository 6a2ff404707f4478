/**
 * Users, roles and tokens as replicated state. Every change is an `acl` command in the
 * log, applied here the same way on every replica, so every node enforces the same set.
 * Nothing secret enters the log: passwords arrive as salted hashes (see
 * src/access/passwords.ts) and tokens as the SHA-256 of their secret.
 *
 * A user is changed by Redis ACL SETUSER rules, applied in order to the user as it is
 * when the entry applies (so two admins' concurrent changes both take effect, in log
 * order). Tandem grants roles rather than single commands:
 *
 * - `read`: reads at every consistency level, and status;
 * - `write`: `read`, plus key-value and SQL writes;
 * - `admin`: everything: membership, promote, FLUSHALL/FLUSHDB, SQL DDL, users and tokens.
 *
 * In Redis's rule language, `+@read`, `+@write` and `+@admin` grant those roles, `+@all`
 * (or `allcommands`) grants `admin`, and `-@...` takes them away; `~pattern` limits the
 * keys a user may name (Redis globs).
 *
 * The state is small and bounded (`usersMax`, `tokensMax`); each store keeps it in memory
 * and persists it whole, encoded by `encodeAccessState`, in the same transaction as the
 * entry that changed it.
 */
import { Packr } from 'msgpackr';
import { TandemError } from '../core/errors.js';

/** The roles, weakest first: each includes the ones before it. */
export const accessRoles = ['read', 'write', 'admin'] as const;
/** A role a user may hold. */
export type AccessRole = (typeof accessRoles)[number];

/** The most users the cluster holds. */
export const usersMax = 1_000;
/** The most live tokens the cluster holds. */
export const tokensMax = 10_000;
/** The most password hashes one user may have (Redis allows several, for rotation). */
export const userPasswordsMax = 16;
/** The most key patterns one user may have. */
export const userKeyPatternsMax = 64;
/** The longest key pattern, in characters. */
export const keyPatternCharsMax = 1_024;
/** The most rules one change may carry. */
export const aclRulesMax = 256;
/** What a user name may be: 1-128 characters, none of them blank or control characters. */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const userNamePattern = /^[^\s\x00-\x1f\x7f]{1,128}$/;
/** A token's public id: 16 lower-case hex digits. */
export const tokenIdPattern = /^[0-9a-f]{16}$/;
/** The name of the user a connection is before it authenticates, as in Redis. */
export const defaultUserName = 'default';

/** One user. */
export interface UserRecord {
  readonly name: string;
  /** A disabled user (`off`) cannot authenticate, and its open connections lose access. */
  readonly enabled: boolean;
  /** Any password authenticates (`nopass`). */
  readonly nopass: boolean;
  /** Password hashes: `scrypt$N$r$p$salt$hash` (base64) or `sha256$hex` (Redis's `#hash`). */
  readonly passwords: readonly string[];
  readonly roles: readonly AccessRole[];
  /** Key patterns (Redis globs): `['*']` for every key, empty for none. */
  readonly keys: readonly string[];
}

/** A bearer token: the SHA-256 of its secret, never the secret itself. */
export interface TokenRecord {
  readonly id: string;
  /** SHA-256 of the token's secret, 64 lower-case hex digits. */
  readonly hash: string;
  readonly user: string;
  /** When it was made and when it stops working, ms since the epoch (the leader's clock). */
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** The cluster's users and tokens. */
export interface AccessState {
  /** Set by the first change applied: from then on, the log's users are the only ones. */
  readonly initialized: boolean;
  /** Counts applied changes: a reader can tell that something changed. */
  readonly version: number;
  readonly users: ReadonlyMap<string, UserRecord>;
  readonly tokens: ReadonlyMap<string, TokenRecord>;
}

/** The state before any change: no users, no tokens. */
export const emptyAccessState: AccessState = {
  initialized: false,
  version: 0,
  users: new Map(),
  tokens: new Map(),
};

/** One change to the users or tokens. */
export type AclChange =
  /** The users of a `--users` file (or `--requirepass`): applied only while uninitialized. */
  | { readonly op: 'bootstrap'; readonly users: readonly UserRules[] }
  /** ACL SETUSER: creates the user if absent (off, no roles, no keys), then applies `rules`. */
  | { readonly op: 'set-user'; readonly name: string; readonly rules: readonly string[] }
  /** ACL DELUSER: removes users and their tokens; the result counts those that existed. */
  | { readonly op: 'del-users'; readonly names: readonly string[] }
  | { readonly op: 'add-token'; readonly token: TokenRecord }
  /** Revokes a token; the result is 1 when it existed, else 0. */
  | { readonly op: 'revoke-token'; readonly id: string };

/** A user named with the rules that make it from nothing. */
export interface UserRules {
  readonly name: string;
  readonly rules: readonly string[];
}

/** The `acl` command: one change, at the leader's clock `at` (which expires old tokens). */
export interface AclCommand {
  readonly type: 'acl';
  readonly at: number;
  readonly change: AclChange;
  /** Never set: a change is applied once, and its retry is judged by the state it meets. */
  readonly session?: never;
}

/** What applying a change gave: its reply value, or a Redis-style error text. */
export type AclOutcome =
  | { readonly ok: true; readonly value: unknown; readonly state: AccessState }
  | { readonly ok: false; readonly error: string };

/** A new user as ACL SETUSER makes it: disabled, no passwords, no roles, no keys. */
function newUser(name: string): UserRecord {
  return { name, enabled: false, nopass: false, passwords: [], roles: [], keys: [] };
}

const sha256Hash = /^[0-9a-f]{64}$/;
const scryptHash =
  /^scrypt\$\d{1,10}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9+/=]{1,64}\$[A-Za-z0-9+/=]{1,128}$/;

/** The stored form of a `#hash` rule's hash, or null when it is not one Tandem knows. */
export function storedHash(text: string): string | null {
  const lower = text.toLowerCase();
  if (sha256Hash.test(lower)) return `sha256$${lower}`;
  if (scryptHash.test(text)) return text;
  return null;
}

function sortedRoles(roles: Iterable<AccessRole>): AccessRole[] {
  const held = new Set(roles);
  return accessRoles.filter((role) => held.has(role));
}

function ruleError(rule: string, why: string): string {
  return `ERR Error in ACL SETUSER modifier '${rule.slice(0, 128)}': ${why}`;
}

/** Category rules and the roles they set: `+@read` adds read, `-@write` removes write. */
const categoryRoles: Readonly<Record<string, AccessRole>> = {
  '@read': 'read',
  '@write': 'write',
  '@admin': 'admin',
  '@all': 'admin',
};

/**
 * Applies one rule to `user`: the new user, or an error text. `>password` and
 * `<password` never reach here: the node that takes the command hashes them first.
 */
export function applyRule(user: UserRecord, rule: string): UserRecord | string {
  const lower = rule.toLowerCase();
  switch (lower) {
    case 'on':
      return { ...user, enabled: true };
    case 'off':
      return { ...user, enabled: false };
    case 'nopass':
      return { ...user, nopass: true, passwords: [] };
    case 'resetpass':
      return { ...user, nopass: false, passwords: [] };
    case 'allkeys':
      return { ...user, keys: ['*'] };
    case 'resetkeys':
      return { ...user, keys: [] };
    case 'allcommands':
      return { ...user, roles: [...accessRoles] };
    case 'nocommands':
      return { ...user, roles: [] };
    case 'allchannels':
    case 'resetchannels':
      return user;
    case 'reset':
      return { ...newUser(user.name) };
  }
  const head = rule[0];
  const rest = rule.slice(1);
  if (head === '#' || head === '!') {
    const hash = storedHash(rest);
    if (hash === null)
      return ruleError(
        rule,
        'The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters',
      );
    if (head === '!') {
      if (!user.passwords.includes(hash))
        return ruleError(
          rule,
          'The password you are trying to remove from the user does not exist',
        );
      return { ...user, passwords: user.passwords.filter((p) => p !== hash) };
    }
    if (user.passwords.includes(hash)) return user;
    if (user.passwords.length >= userPasswordsMax)
      return ruleError(rule, `a user has at most ${userPasswordsMax} passwords`);
    return { ...user, nopass: false, passwords: [...user.passwords, hash] };
  }
  if (head === '>' || head === '<')
    return ruleError(rule, 'a password must be hashed before it is replicated');
  if (head === '~') {
    if (rest.length === 0 || rest.length > keyPatternCharsMax)
      return ruleError(rule, `a key pattern is 1 to ${keyPatternCharsMax} characters`);
    if (user.keys.includes(rest)) return user;
    if (user.keys.length >= userKeyPatternsMax)
      return ruleError(rule, `a user has at most ${userKeyPatternsMax} key patterns`);
    return { ...user, keys: [...user.keys, rest] };
  }
  if (head === '&') return user;
  if (head === '+' || head === '-') {
    const role = categoryRoles[lower.slice(1)];
    if (role === undefined) {
      return ruleError(
        rule,
        'Unknown command or category name in ACL (Tandem grants +@read, +@write, +@admin and +@all)',
      );
    }
    if (head === '+') {
      // A role includes the weaker ones: +@write grants read too.
      const upTo = accessRoles.slice(0, accessRoles.indexOf(role) + 1);
      return { ...user, roles: sortedRoles([...user.roles, ...upTo]) };
    }
    // -@all takes everything; -@read takes every role, since each includes read.
    const from = lower === '-@all' ? 0 : accessRoles.indexOf(role);
    const removed = new Set(accessRoles.slice(from));
    return { ...user, roles: user.roles.filter((r) => !removed.has(r)) };
  }
  return ruleError(rule, 'Syntax error');
}

/** Applies `rules` in order to `user`; the first bad rule's error stops it. */
export function applyRules(user: UserRecord, rules: readonly string[]): UserRecord | string {
  let current = user;
  for (const rule of rules) {
    const next = applyRule(current, rule);
    if (typeof next === 'string') return next;
    current = next;
  }
  return current;
}

/** Describes what is wrong with a change's shape and limits, or returns null. */
export function aclChangeProblem(change: unknown): string | null {
  if (typeof change !== 'object' || change === null) return 'acl change must be an object';
  const c = change as Record<string, unknown>;
  const names = (value: unknown): boolean =>
    Array.isArray(value) && value.every((n) => typeof n === 'string' && userNamePattern.test(n));
  const rules = (value: unknown): boolean =>
    Array.isArray(value) &&
    value.length <= aclRulesMax &&
    value.every((r) => typeof r === 'string' && r.length > 0 && r.length <= keyPatternCharsMax + 1);
  switch (c.op) {
    case 'bootstrap':
      return Array.isArray(c.users) &&
        c.users.length <= usersMax &&
        c.users.every(
          (u: unknown) =>
            typeof u === 'object' &&
            u !== null &&
            names([(u as UserRules).name]) &&
            rules((u as UserRules).rules),
        )
        ? null
        : 'acl bootstrap needs users: [{ name, rules }]';
    case 'set-user':
      return names([c.name]) && rules(c.rules) ? null : 'acl set-user needs a user name and rules';
    case 'del-users':
      return names(c.names) && (c.names as unknown[]).length <= usersMax
        ? null
        : 'acl del-users needs user names';
    case 'add-token': {
      const t = c.token as Partial<TokenRecord> | undefined;
      const fine =
        typeof t === 'object' &&
        t !== null &&
        typeof t.id === 'string' &&
        tokenIdPattern.test(t.id) &&
        typeof t.hash === 'string' &&
        sha256Hash.test(t.hash) &&
        typeof t.user === 'string' &&
        userNamePattern.test(t.user) &&
        Number.isSafeInteger(t.createdAt) &&
        Number.isSafeInteger(t.expiresAt);
      return fine ? null : 'acl add-token needs { id, hash, user, createdAt, expiresAt }';
    }
    case 'revoke-token':
      return typeof c.id === 'string' && tokenIdPattern.test(c.id)
        ? null
        : 'acl revoke-token needs a token id';
    default:
      return `unknown acl change ${JSON.stringify(c.op)}`;
  }
}

/** The tokens still alive at `at`. */
function liveTokens(
  tokens: ReadonlyMap<string, TokenRecord>,
  at: number,
): Map<string, TokenRecord> {
  const live = new Map<string, TokenRecord>();
  for (const [id, token] of tokens) if (token.expiresAt > at) live.set(id, token);
  return live;
}

function changed(
  state: AccessState,
  users: ReadonlyMap<string, UserRecord>,
  tokens: ReadonlyMap<string, TokenRecord>,
): AccessState {
  return { initialized: true, version: state.version + 1, users, tokens };
}

/**
 * Applies one change to `state`: deterministic (it reads only `state` and the command),
 * and it never changes `state` itself. A refused change leaves the state as it was.
 */
export function applyAclChange(state: AccessState, command: AclCommand): AclOutcome {
  const { change, at } = command;
  const tokens = liveTokens(state.tokens, at);
  switch (change.op) {
    case 'bootstrap': {
      if (state.initialized) return { ok: true, value: 0, state };
      const users = new Map<string, UserRecord>();
      for (const { name, rules } of change.users) {
        const user = applyRules(users.get(name) ?? newUser(name), rules);
        if (typeof user === 'string') return { ok: false, error: user };
        users.set(name, user);
      }
      return { ok: true, value: 1, state: changed(state, users, tokens) };
    }
    case 'set-user': {
      const existing = state.users.get(change.name);
      if (existing === undefined && state.users.size >= usersMax) {
        return { ok: false, error: `ERR the cluster holds at most ${usersMax} users` };
      }
      const user = applyRules(existing ?? newUser(change.name), change.rules);
      if (typeof user === 'string') return { ok: false, error: user };
      const users = new Map(state.users);
      users.set(change.name, user);
      return { ok: true, value: 'OK', state: changed(state, users, tokens) };
    }
    case 'del-users': {
      if (change.names.includes(defaultUserName)) {
        return { ok: false, error: "ERR The 'default' user cannot be removed" };
      }
      const users = new Map(state.users);
      let removed = 0;
      for (const name of new Set(change.names)) if (users.delete(name)) removed++;
      for (const [id, token] of tokens) if (!users.has(token.user)) tokens.delete(id);
      return { ok: true, value: removed, state: changed(state, users, tokens) };
    }
    case 'add-token': {
      const { token } = change;
      if (!state.users.has(token.user)) return { ok: false, error: `ERR no user ${token.user}` };
      if (token.expiresAt <= at)
        return { ok: false, error: 'ERR the token would expire before it is made' };
      if (tokens.has(token.id)) return { ok: false, error: 'ERR a token with this id exists' };
      if (tokens.size >= tokensMax)
        return { ok: false, error: `ERR the cluster holds at most ${tokensMax} tokens` };
      tokens.set(token.id, token);
      return { ok: true, value: 'OK', state: changed(state, state.users, tokens) };
    }
    case 'revoke-token': {
      const existed = tokens.delete(change.id);
      return { ok: true, value: existed ? 1 : 0, state: changed(state, state.users, tokens) };
    }
  }
}

/**
 * The SQLite table that holds the state, whole, in one row (`encodeAccessState`); images of
 * builds before it lack it, which means no users. PostgreSQL's is `tandem.acl`
 * (postgres-access.ts).
 */
export const accessSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_acl (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state BLOB NOT NULL
  ) STRICT;
`;

const packr = new Packr({ useRecords: false, moreTypes: false });

interface EncodedAccess {
  readonly initialized: boolean;
  readonly version: number;
  readonly users: readonly UserRecord[];
  readonly tokens: readonly TokenRecord[];
}

/** The state's stored form (MessagePack): the same bytes on every replica. */
export function encodeAccessState(state: AccessState): Uint8Array {
  const encoded: EncodedAccess = {
    initialized: state.initialized,
    version: state.version,
    users: [...state.users.values()],
    tokens: [...state.tokens.values()],
  };
  return packr.pack(encoded);
}

/** Reads a stored state back; throws on bytes that are not one. */
export function decodeAccessState(bytes: Uint8Array): AccessState {
  const decoded = packr.unpack(bytes) as EncodedAccess;
  if (
    typeof decoded !== 'object' ||
    decoded === null ||
    typeof decoded.initialized !== 'boolean' ||
    !Number.isSafeInteger(decoded.version) ||
    !Array.isArray(decoded.users) ||
    !Array.isArray(decoded.tokens)
  ) {
    throw new Error('the bytes are not a users and tokens state');
  }
  return {
    initialized: decoded.initialized,
    version: decoded.version,
    users: new Map(decoded.users.map((user) => [user.name, user])),
    tokens: new Map(decoded.tokens.map((token) => [token.id, token])),
  };
}

/** Reads the state a store or an image holds (`where` names it); TANDEM_CORRUPT if it is none. */
export function decodeStoredAccess(bytes: Uint8Array, where: string): AccessState {
  try {
    return decodeAccessState(bytes);
  } catch (error) {
    throw new TandemError(
      'TANDEM_CORRUPT',
      `the users and tokens ${where} holds do not decode: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
