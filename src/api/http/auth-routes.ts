/**
 * The users and tokens routes (admin role), and `GET /v1/auth/whoami` (any user). A change
 * is an `acl` command proposed through the log by `AccessControl.change`; on a follower the
 * route refuses with TANDEM_NOT_LEADER before it does any work, so the request is forwarded
 * as it came and the leader does it: it hashes a new password (only the hash enters the
 * log) and mints a token (only the SHA-256 of its secret enters the log; the token itself
 * is answered once, to the caller).
 *
 * Tokens are made by admins only, for any user (by default the caller): a token carries its
 * user's roles as they are when it is used, so a user who may make its own tokens could keep
 * access past a password change or a disabled account's return.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessControl } from '../../access/control.js';
import { newToken, passwordBytesMax } from '../../access/passwords.js';
import { TandemError } from '../../core/errors.js';
import type { NodeHandle } from '../../node/api.js';
import { userNamePattern, type AccessRole, type UserRecord } from '../../store/access-state.js';
import { principalOf } from './auth.js';
import { commandValue } from './requests.js';
import {
  createTokenSchema,
  deleteUserSchema,
  getUserSchema,
  listTokensSchema,
  listUsersSchema,
  putUserSchema,
  revokeTokenSchema,
  whoamiSchema,
} from './schemas.js';

/** The body of `PUT /v1/auth/users/:name`. */
interface PutUserBody {
  readonly password?: string;
  readonly roles: readonly AccessRole[];
  readonly keys?: readonly string[];
  readonly enabled?: boolean;
}

/** A user as the API shows it: never its passwords or their hashes. */
export function publicUser(user: UserRecord): {
  name: string;
  roles: readonly AccessRole[];
  keys: readonly string[];
  enabled: boolean;
  nopass: boolean;
} {
  return {
    name: user.name,
    roles: user.roles,
    keys: user.keys,
    enabled: user.enabled,
    nopass: user.nopass,
  };
}

/** Registers the users, tokens and whoami routes on `app`. */
export function registerAuthRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  access: AccessControl,
): void {
  registerUserRoutes(app, node, access);
  registerTokenRoutes(app, node, access);
  app.get(
    '/v1/auth/whoami',
    { schema: whoamiSchema, config: { role: 'authenticated' } },
    async (request) => {
      const principal = principalOf(request);
      const user = access.user(principal.user);
      return {
        user: principal.user,
        roles: user?.roles ?? [],
        keys: user?.keys ?? [],
        via: principal.via,
        ...(principal.tokenId === undefined ? {} : { tokenId: principal.tokenId }),
      };
    },
  );
}

const admin = { role: 'admin' } as const;

function registerUserRoutes(app: FastifyInstance, node: NodeHandle, access: AccessControl): void {
  app.get('/v1/auth/users', { schema: listUsersSchema, config: admin }, async () => ({
    users: [...access.effective().users.values()].map(publicUser),
  }));

  app.get<{ Params: { name: string } }>(
    '/v1/auth/users/:name',
    { schema: getUserSchema, config: admin },
    async (request) => publicUser(existingUser(access, userName(request.params.name))),
  );

  app.put<{ Params: { name: string }; Body: PutUserBody }>(
    '/v1/auth/users/:name',
    { schema: putUserSchema, config: admin },
    async (request) => {
      const name = userName(request.params.name);
      requireLeader(node);
      const rules = await access.prepareRules(name, userRules(access, name, request.body));
      const write = await access.change(node, { op: 'set-user', name, rules });
      commandValue(write.result);
      audit(access, request, 'user-set', { target: name, roles: request.body.roles });
      return { user: publicUser(existingUser(access, name)), index: write.index };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/auth/users/:name',
    { schema: deleteUserSchema, config: admin },
    async (request) => {
      const name = userName(request.params.name);
      requireLeader(node);
      const write = await access.change(node, { op: 'del-users', names: [name] });
      const deleted = commandValue(write.result) as number;
      audit(access, request, 'user-delete', { target: name, deleted });
      return { deleted, index: write.index };
    },
  );
}

function registerTokenRoutes(app: FastifyInstance, node: NodeHandle, access: AccessControl): void {
  app.post<{ Body: { user?: string; ttlSeconds: number } }>(
    '/v1/auth/tokens',
    { schema: createTokenSchema, config: admin },
    async (request, reply) => {
      requireLeader(node);
      const user = userName(request.body.user ?? principalOf(request).user);
      existingUser(access, user);
      const { id, token, hash } = newToken();
      const createdAt = Date.now();
      const expiresAt = createdAt + request.body.ttlSeconds * 1000;
      const record = { id, hash, user, createdAt, expiresAt };
      const write = await access.change(node, { op: 'add-token', token: record });
      commandValue(write.result);
      audit(access, request, 'token-create', { id, for: user, expiresAt });
      return reply.code(201).send({ id, token, user, expiresAt });
    },
  );

  app.get('/v1/auth/tokens', { schema: listTokensSchema, config: admin }, async () => {
    const now = Date.now();
    const tokens = [...access.effective().tokens.values()]
      .filter((token) => token.expiresAt > now)
      .map(({ id, user, createdAt, expiresAt }) => ({ id, user, createdAt, expiresAt }));
    return { tokens };
  });

  app.delete<{ Params: { id: string } }>(
    '/v1/auth/tokens/:id',
    { schema: revokeTokenSchema, config: admin },
    async (request) => {
      requireLeader(node);
      const { id } = request.params;
      const write = await access.change(node, { op: 'revoke-token', id });
      const revoked = commandValue(write.result) as number;
      audit(access, request, 'token-revoke', { id, revoked });
      return { revoked, index: write.index };
    },
  );
}

/** The ACL rules that make the user `body` describes, replacing what it was (`reset`). */
function userRules(access: AccessControl, name: string, body: PutUserBody): string[] {
  if (body.password !== undefined && Buffer.byteLength(body.password) > passwordBytesMax) {
    throw new TandemError('TANDEM_BAD_REQUEST', `body.password is over ${passwordBytesMax} bytes`);
  }
  const rules = ['reset', body.enabled === false ? 'off' : 'on'];
  if (body.password !== undefined) {
    rules.push(`>${body.password}`);
  } else {
    // Without a password the user keeps the ones it has (their hashes, as stored).
    const existing = access.effective().users.get(name);
    if (existing?.nopass === true) rules.push('nopass');
    for (const hash of existing?.passwords ?? []) {
      rules.push(`#${hash.startsWith('sha256$') ? hash.slice('sha256$'.length) : hash}`);
    }
  }
  rules.push(...body.roles.map((role) => `+@${role}`));
  rules.push(...(body.keys ?? ['*']).map((pattern) => `~${pattern}`));
  rules.push('&*');
  return rules;
}

/** `name` if it is a user name, else TANDEM_BAD_REQUEST. */
function userName(name: string): string {
  if (!userNamePattern.test(name)) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `a user name is 1 to 128 characters, none of them blank or control characters; got ${JSON.stringify(name.slice(0, 200))}`,
    );
  }
  return name;
}

/** The user named `name` (enabled or not), or TANDEM_NOT_FOUND. */
function existingUser(access: AccessControl, name: string): UserRecord {
  const user = access.effective().users.get(name);
  if (user === undefined) throw new TandemError('TANDEM_NOT_FOUND', `no user ${name}`);
  return user;
}

/**
 * Throws TANDEM_NOT_LEADER on a follower before any work is done (a password hashed, a
 * token minted), so the error handler forwards the request as it came to the leader.
 */
function requireLeader(node: NodeHandle): void {
  const status = node.status();
  if (status.role === 'leader') return;
  throw new TandemError('TANDEM_NOT_LEADER', `node ${node.id} is not the leader`, {
    ...(status.leaderId === null ? {} : { leaderId: status.leaderId }),
  });
}

function audit(
  access: AccessControl,
  request: FastifyRequest,
  action: string,
  detail: Record<string, unknown>,
): void {
  access.audit.admin(principalOf(request).user, action, detail);
}
