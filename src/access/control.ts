/**
 * Who may do what, on one node: authentication against the replicated users and tokens
 * (src/store/access-state.ts), and the role and key checks every API layer makes.
 *
 * Until the log holds a first change, the node enforces its bootstrap users (a `--users`
 * file, `--requirepass`); the leader proposes them, so they become the replicated set. A
 * node given none has one implicit user, `default`, with no password and every role: the
 * open mode of a fresh local cluster, which protected mode limits to loopback clients.
 *
 * Checks resolve the user by name from the state as applied now, on every request and
 * every command: a user deleted, disabled or stripped of a role on the leader loses that
 * access on each node as soon as the node applies the change.
 */
import type { NodeHandle, WriteResult } from '../node/api.js';
import {
  accessRoles,
  applyAclChange,
  defaultUserName,
  emptyAccessState,
  type AccessRole,
  type AccessState,
  type AclChange,
  type UserRecord,
  type UserRules,
} from '../store/access-state.js';
import { Glob } from '../store/glob.js';
import type { Logger } from '../transport/contract.js';
import { AccessAudit } from './audit.js';
import {
  hashPassword,
  parseToken,
  sameDigest,
  sha256Hex,
  verifyPassword,
  verifyPasswordNow,
} from './passwords.js';

/** The user of a node without users: every role, every key, no password. */
export const openUserRules: UserRules = {
  name: defaultUserName,
  rules: ['on', 'nopass', '~*', '&*', '+@all'],
};

/** How often the leader checks whether its bootstrap users still need proposing. */
export const bootstrapCheckMs = 250;
/** The most compiled key patterns kept. */
const globCacheMax = 1_024;

/** Options of `AccessControl`. */
export interface AccessControlOptions {
  /** The replicated users and tokens, as this node applied them. */
  readonly state: () => AccessState;
  /**
   * Users this node enforces until the log holds users, and that its leader proposes: a
   * `--users` file, `--requirepass`. Passwords already hashed. Empty: the open mode.
   */
  readonly bootstrap: readonly UserRules[];
  readonly logger?: Logger;
}

/** A user's refusal: what it lacks. */
export interface Refusal {
  readonly user: string;
  /** The role it lacks, or null when it is the key it may not name. */
  readonly role: AccessRole | null;
}

/** A node's authentication and authorization. */
export class AccessControl {
  readonly #state: () => AccessState;
  readonly #bootstrap: readonly UserRules[];
  readonly #bootstrapState: AccessState;
  readonly #logger: Logger | undefined;
  readonly #globs = new Map<string, Glob>();
  /** Failed authentications (slowed per address) and admin actions, logged and counted. */
  readonly audit: AccessAudit;

  constructor(options: AccessControlOptions) {
    this.audit = new AccessAudit(options.logger);
    this.#state = options.state;
    this.#bootstrap = options.bootstrap;
    this.#logger = options.logger;
    const users = options.bootstrap.length === 0 ? [openUserRules] : options.bootstrap;
    const outcome = applyAclChange(emptyAccessState, {
      type: 'acl',
      at: 0,
      change: { op: 'bootstrap', users },
    });
    if (!outcome.ok) throw new Error(`the bootstrap users are invalid: ${outcome.error}`);
    this.#bootstrapState = { ...outcome.state, initialized: false, version: 0 };
  }

  /** The users enforced now: the log's once it holds any change, else the bootstrap users. */
  effective(): AccessState {
    const state = this.#state();
    return state.initialized ? state : this.#bootstrapState;
  }

  /** The bootstrap users, as the first change to propose before any other. */
  bootstrapChange(): AclChange {
    const users = this.#bootstrap.length === 0 ? [openUserRules] : this.#bootstrap;
    return { op: 'bootstrap', users };
  }

  /**
   * Whether users are configured: false while `default` is enabled without a password
   * (the open mode), where protected mode admits loopback clients only.
   */
  configured(): boolean {
    const first = this.effective().users.get(defaultUserName);
    return !(first !== undefined && first.enabled && first.nopass);
  }

  /** The user a new connection is before it authenticates: `default` when it needs no password. */
  initialUser(): string | null {
    const first = this.user(defaultUserName);
    return first !== null && first.nopass ? defaultUserName : null;
  }

  /** The enabled user named `name`, as applied now, or null. */
  user(name: string): UserRecord | null {
    const user = this.effective().users.get(name);
    return user !== undefined && user.enabled ? user : null;
  }

  /** The user that `name` and `password` authenticate, or null (unknown, disabled, wrong). */
  async authenticate(name: string, password: string): Promise<UserRecord | null> {
    const user = this.user(name);
    if (user === null) return null;
    if (user.nopass) return user;
    for (const hash of user.passwords) {
      if (await verifyPassword(hash, password)) return this.user(name);
    }
    return null;
  }

  /**
   * `authenticate` when it can answer without hashing (a SHA-256 password, a scrypt one
   * this password matched before, `nopass`, an unknown user): the user, or null; undefined
   * when only `authenticate` can tell. Lets a command stream authenticate in order, cheaply.
   */
  authenticateNow(name: string, password: string): UserRecord | null | undefined {
    const user = this.user(name);
    if (user === null) return null;
    if (user.nopass) return user;
    let unknown = false;
    for (const hash of user.passwords) {
      const matches = verifyPasswordNow(hash, password);
      if (matches === true) return user;
      if (matches === undefined) unknown = true;
    }
    return unknown ? undefined : null;
  }

  /** The user a bearer token authenticates at `nowMs`, or null (unknown, expired, revoked). */
  authenticateToken(token: string, nowMs: number): { user: UserRecord; tokenId: string } | null {
    const parsed = parseToken(token);
    if (parsed === null) return null;
    const record = this.effective().tokens.get(parsed.id);
    if (record === undefined || record.expiresAt <= nowMs) return null;
    if (!sameDigest(record.hash, parsed.hash)) return null;
    const user = this.user(record.user);
    return user === null ? null : { user, tokenId: record.id };
  }

  /** Whether `user` holds `role` (each role includes the weaker ones). */
  static hasRole(user: UserRecord, role: AccessRole): boolean {
    const needed = accessRoles.indexOf(role);
    return user.roles.some((held) => accessRoles.indexOf(held) >= needed);
  }

  /**
   * Whether `name` may do what needs `role` on `keys`: null when it may, else what it
   * lacks. A user that no longer exists (or was disabled) lacks everything.
   */
  check(name: string, role: AccessRole, keys: readonly Uint8Array[] = []): Refusal | null {
    const user = this.user(name);
    if (user === null || !AccessControl.hasRole(user, role)) return { user: name, role };
    for (const key of keys) if (!this.keyAllowed(user, key)) return { user: name, role: null };
    return null;
  }

  /** Whether `user`'s key patterns allow `key`. */
  keyAllowed(user: UserRecord, key: Uint8Array): boolean {
    if (user.keys.includes('*')) return true;
    return user.keys.some((pattern) => this.#glob(pattern).matches(key));
  }

  #glob(pattern: string): Glob {
    let glob = this.#globs.get(pattern);
    if (glob === undefined) {
      if (this.#globs.size >= globCacheMax) this.#globs.clear();
      glob = new Glob(pattern);
      this.#globs.set(pattern, glob);
    }
    return glob;
  }

  /**
   * ACL SETUSER rules made fit for the log: `>password` becomes `#<scrypt hash>`, and
   * `<password` becomes `!<hash>` of each stored hash it matches (Redis's error when none
   * does). Nothing secret is replicated.
   */
  async prepareRules(name: string, rules: readonly string[]): Promise<string[]> {
    const prepared: string[] = [];
    for (const rule of rules) {
      if (rule.startsWith('>')) {
        prepared.push(`#${await hashPassword(rule.slice(1))}`);
      } else if (rule.startsWith('<')) {
        const user = this.effective().users.get(name);
        const matching: string[] = [];
        for (const hash of user?.passwords ?? []) {
          if (await verifyPassword(hash, rule.slice(1))) matching.push(hash);
        }
        if (matching.length === 0) {
          prepared.push(`!${sha256Hex(rule.slice(1))}`);
        } else {
          for (const hash of matching)
            prepared.push(`!${hash.startsWith('sha256$') ? hash.slice(7) : hash}`);
        }
      } else {
        prepared.push(rule);
      }
    }
    return prepared;
  }

  /**
   * Proposes `change` (on the leader; a follower's write throws TANDEM_NOT_LEADER for the
   * caller to forward), after the bootstrap users if the log holds none yet: the first
   * change must not drop the users this node enforces now.
   */
  async change(node: NodeHandle, change: AclChange): Promise<WriteResult> {
    if (!this.#state().initialized) {
      await node.write({ type: 'acl', at: Date.now(), change: this.bootstrapChange() });
    }
    return node.write({ type: 'acl', at: Date.now(), change });
  }

  /**
   * On the leader, proposes the bootstrap users while the log holds none (checked every
   * `bootstrapCheckMs`). Returns a function that stops it.
   */
  startBootstrap(node: NodeHandle): () => void {
    if (this.#bootstrap.length === 0) return () => {};
    let inFlight = false;
    const timer = setInterval(() => {
      if (inFlight || this.#state().initialized || node.status().role !== 'leader') return;
      inFlight = true;
      node
        .write({ type: 'acl', at: Date.now(), change: this.bootstrapChange() })
        .then(
          () =>
            this.#logger?.info(
              { users: this.#bootstrap.length },
              'the bootstrap users are replicated',
            ),
          (error: unknown) =>
            this.#logger?.debug({ err: error }, 'proposing the bootstrap users failed; retrying'),
        )
        .finally(() => {
          inFlight = false;
        });
    }, bootstrapCheckMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
