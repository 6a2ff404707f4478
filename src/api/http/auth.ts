/**
 * Authentication and authorization of every HTTP request. Each route declares what it
 * needs (`config.role`): `open` (no credentials: the probes), `authenticated` (any user),
 * or a role (`read`, `write`, `admin`, each including the weaker). A route that declares
 * nothing cannot be registered (`requireDeclaredRoles`), so a new route is never served
 * unchecked by omission.
 *
 * One `onRequest` hook, before the body is read, finds who is asking, from `Authorization:
 * Basic` (user:password) or `Authorization: Bearer <token>`, and refuses with 401
 * TANDEM_UNAUTHENTICATED (the answer carries `WWW-Authenticate`, see errors.ts) when there
 * are none or they are wrong, after the failure's delay (`AccessAudit.failure`); then it
 * checks the route's role and refuses with 403 TANDEM_FORBIDDEN naming the missing role.
 * What depends on the request itself is checked by the route before it touches the node:
 * key patterns on the key routes (`authorizeKeys`), the admin role for SQL schema changes.
 *
 * A request without credentials is the user `default` when that user needs no password:
 * in open mode (no users configured) `default` holds every role, so every request may do
 * everything, as before users existed. Credentials, when given, are always checked: a
 * users file may keep a password-less `default` with few roles beside real users. A
 * follower checks before it forwards, and the leader checks again: the `Authorization`
 * header is forwarded with the request.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { AccessControl } from '../../access/control.js';
import { passwordBytesMax } from '../../access/passwords.js';
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import type { AccessRole, AccessState } from '../../store/access-state.js';
import { peerHeader, verifyPeerCall } from '../../blobs/peers.js';
import { describeKey } from './requests.js';

/** What a route needs of its caller: nothing, any user, or a role. */
export type RouteRole = 'open' | 'authenticated' | 'peer' | AccessRole;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs of its caller; every route must declare it. */
    readonly role?: RouteRole;
  }
  interface FastifyRequest {
    /** Who is asking, once the auth hook ran; null on an open route or a 404. */
    principal: Principal | null;
  }
}

/** Who a request comes from, and how it proved it. */
export interface Principal {
  readonly user: string;
  /**
   * `open`: no credentials, as `default`, which needs no password; `password`: Basic;
   * `token`: Bearer; `peer`: another node of the cluster (its signature, blobs/peers.ts).
   */
  readonly via: 'open' | 'password' | 'token' | 'peer';
  /** The token's id, when `via` is `token`. */
  readonly tokenId?: string;
}

/** The longest `Authorization` header read: a user name, a password and base64's growth. */
export const authorizationCharsMax = 4 * 1024;

/** Refuses, when a route is added, one that declares no role. */
export function requireDeclaredRoles(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const role = (route.config as { role?: unknown } | undefined)?.role;
    const methods = Array.isArray(route.method) ? route.method.join(',') : route.method;
    assert(
      role === 'open' ||
        role === 'authenticated' ||
        role === 'peer' ||
        role === 'read' ||
        role === 'write' ||
        role === 'admin',
      `route ${methods} ${route.url} declares no role (config.role)`,
    );
  });
}

/** Adds the hook that authenticates every routed request and checks its route's role. */
export function authenticateRequests(
  app: FastifyInstance,
  access: AccessControl,
  peerSecret: string | null = null,
): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    // An unknown route answers 404 whoever asks; no route, no data.
    if (request.is404) return;
    const role = request.routeOptions.config.role;
    // requireDeclaredRoles makes this unreachable; refuse rather than serve if it is not.
    if (role === undefined) throw new TandemError('TANDEM_FORBIDDEN', 'the route declares no role');
    if (role === 'open') return;
    if (role === 'peer') return checkPeerCall(request, peerSecret);
    const principal = await authenticate(access, request);
    request.principal = principal;
    if (role !== 'authenticated') authorize(access, request, role);
  });
}

/**
 * A node-to-node call (the blob layer's, blobs/peers.ts) proves the cluster secret by its
 * signature; no user's credentials reach these routes.
 */
function checkPeerCall(request: FastifyRequest, secret: string | null): void {
  const path = request.originalUrl.split('?', 1)[0] ?? '';
  const header = request.headers[peerHeader];
  const node =
    secret === null
      ? null
      : verifyPeerCall(
          secret,
          typeof header === 'string' ? header : undefined,
          request.method,
          path,
          Date.now(),
        );
  if (node === null) {
    throw new TandemError('TANDEM_UNAUTHENTICATED', "this route serves only the cluster's nodes");
  }
  request.principal = { user: `node:${node}`, via: 'peer' };
}

/** Who `request` comes from; throws TANDEM_UNAUTHENTICATED after the failure's delay. */
async function authenticate(access: AccessControl, request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    // Without credentials a request is `default` when it needs no password (open mode).
    const initial = access.initialUser();
    if (initial !== null) return { user: initial, via: 'open' };
    throw new TandemError(
      'TANDEM_UNAUTHENTICATED',
      'authentication required: send Authorization: Basic (user:password) or Bearer <token>',
    );
  }
  const failed = async (user: string | null, why: string): Promise<never> => {
    await access.audit.failure('http', request.ip, user);
    throw new TandemError('TANDEM_UNAUTHENTICATED', why);
  };
  if (header.length > authorizationCharsMax) {
    return failed(null, `the Authorization header is over ${authorizationCharsMax} characters`);
  }
  const [scheme = '', credentials = ''] = header.trim().split(/\s+/, 2);
  switch (scheme.toLowerCase()) {
    case 'basic': {
      const basic = parseBasic(credentials);
      if (basic === null) return failed(null, 'Authorization: Basic needs base64 of user:password');
      const user = await access.authenticate(basic.user, basic.password);
      if (user === null) return failed(basic.user, 'wrong user name or password');
      return { user: user.name, via: 'password' };
    }
    case 'bearer': {
      const found = access.authenticateToken(credentials, Date.now());
      if (found === null) return failed(null, 'the token is unknown, expired or revoked');
      return { user: found.user.name, via: 'token', tokenId: found.tokenId };
    }
    default:
      return failed(null, 'Authorization must be Basic (user:password) or Bearer <token>');
  }
}

/** The user and password of Basic credentials (RFC 7617), or null when malformed. */
export function parseBasic(credentials: string): { user: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return null;
  const text = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const password = text.slice(colon + 1);
  if (Buffer.byteLength(password) > passwordBytesMax) return null;
  return { user: text.slice(0, colon), password };
}

/** The route as a reader knows it: `PUT /v1/kv/:key`. */
function routeOf(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? request.url}`;
}

/** The user a checked request comes from (the hook ran: only open routes have none). */
export function principalOf(request: FastifyRequest): Principal {
  assert(request.principal !== null, `${routeOf(request)} runs without a principal`);
  return request.principal;
}

/**
 * Refuses with TANDEM_FORBIDDEN, naming the role, unless the request's user holds `role`
 * now; `what` says what needed it (default: the route).
 */
export function authorize(
  access: AccessControl,
  request: FastifyRequest,
  role: AccessRole,
  what = routeOf(request),
): void {
  const { user } = principalOf(request);
  if (access.check(user, role) !== null) {
    throw new TandemError('TANDEM_FORBIDDEN', `user ${user} lacks the ${role} role (${what})`);
  }
}

/** Refuses with TANDEM_FORBIDDEN, naming the key, unless the user's key patterns allow `keys`. */
export function authorizeKeys(
  access: AccessControl,
  request: FastifyRequest,
  role: AccessRole,
  keys: readonly Buffer[],
): void {
  const { user } = principalOf(request);
  for (const key of keys) {
    const refusal = access.check(user, role, [key]);
    if (refusal === null) continue;
    throw new TandemError(
      'TANDEM_FORBIDDEN',
      refusal.role === null
        ? `user ${user} may not use the key ${describeKey(key)} (its key patterns do not match it)`
        : `user ${user} lacks the ${role} role (${routeOf(request)})`,
    );
  }
}

/** The access control of a server given none: the node's replicated users, no bootstrap. */
export function accessOf(
  state: () => AccessState,
  given: AccessControl | undefined,
): AccessControl {
  return given ?? new AccessControl({ state, bootstrap: [] });
}
