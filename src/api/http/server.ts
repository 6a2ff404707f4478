/**
 * Tandem's HTTP/JSON API (DESIGN section 4): key-value, SQL and cluster routes in front of
 * one node, plus probes, Prometheus metrics and an OpenAPI document generated from the
 * route schemas.
 *
 * The handlers only translate: HTTP in, a command or read to the node, JSON out. What the
 * node refuses arrives as a TandemError and leaves as `{ code, message, leaderId? }` with
 * the code's status; a write refused by a follower is forwarded to the leader (see
 * forward.ts). Every input is bounded: the body size, the key length, every field's type.
 * Every route declares the role it needs, and every request is authenticated and checked
 * before its handler runs (auth.ts).
 */
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
} from 'fastify';
import { assert } from '../../core/assert.js';
import { TandemError } from '../../core/errors.js';
import { tokenIdPattern } from '../../store/access-state.js';
import { valueBytesMax } from '../../store/commands.js';
import type { AccessControl } from '../../access/control.js';
import type { NodeHandle } from '../../node/api.js';
import { accessOf, authenticateRequests, requireDeclaredRoles, type RouteRole } from './auth.js';
import { registerAuthRoutes } from './auth-routes.js';
import {
  protectedModeCode,
  protectedModeHttpStatus,
  protectedModeMessage,
  protectedModeRefuses,
  type ProtectedModeOptions,
} from '../protected-mode.js';
import { forwardingTlsOptions, serverTlsOptions, type ClientTls } from '../tls.js';
import { registerClusterRoutes } from './cluster-routes.js';
import { refuseUnhonouredConditions } from './conditions.js';
import { sendError, toTandemError } from './errors.js';
import { forwardToLeader, isForwardable, LeaderAgents } from './forward.js';
import { registerCommandRoutes, type CommandRunner } from './command-routes.js';
import { registerUiRoutes } from './ui-routes.js';
import { registerBackupRoutes } from './backup-routes.js';
import { registerBlobRoutes } from './blob-routes.js';
import { registerLinkRoutes } from './link-routes.js';
import type { LinkService } from '../../links/service.js';
import type { BlobService } from '../../blobs/service.js';
import { HttpMetrics } from './http-metrics.js';
import { registerKvRoutes } from './kv-routes.js';
import { escapeKeyPath } from './requests.js';
import { addSqlValueKeyword, indexPattern, nodeIdPattern, probeSchema } from './schemas.js';
import { registerSqlRoutes } from './sql-routes.js';

/**
 * The largest request body by default: room for a full-size value (`valueBytesMax`, 16 MiB)
 * even when JSON escaping doubles it (base64 adds a third), with room for the rest.
 */
export const httpBodyBytesMax = 2 * valueBytesMax + 64 * 1024;
/**
 * The longest path parameter, in characters. Fastify's default (100) would turn a legal
 * 512-byte key into a 404; percent-encoding can triple a key's length, and Node's own
 * 16 KiB header limit bounds the URL anyway, so the key check (in bytes) decides.
 */
export const pathParamCharsMax = 16 * 1024;

/**
 * How long requests in flight when the server closes may take to finish; then every
 * connection still open is cut. Without it one client that connected and never sent a
 * request (or never finished its TLS handshake) holds the close, and the node's shutdown,
 * forever: Node closes only idle connections that have carried a request.
 */
export const closeDrainMsMax = 5_000;

/** Options of `buildHttpServer`. */
export interface HttpServerOptions extends ProtectedModeOptions {
  /** A pino logger (or any fastify logger), or a boolean to have fastify make or skip one. */
  readonly logger: FastifyBaseLogger | boolean;
  /** Bodies over this many bytes are refused with 413; default `httpBodyBytesMax`. */
  readonly bodyLimitBytes?: number;
  /**
   * Who may do what (src/access); absent, the node's replicated users with no bootstrap
   * users, which is the open mode until the log holds users.
   */
  readonly access?: AccessControl;
  /** `GET /metrics` needs the read role (`--metrics-auth`); default: open, as the probes. */
  readonly metricsAuth?: boolean;
  /**
   * Serve HTTPS with this certificate and key (and, with `ca`, require client
   * certificates). Forwarding to a leader's https:// URL trusts what `forwardingTlsOptions`
   * says, with or without it.
   */
  readonly tls?: ClientTls;
  /** Default `closeDrainMsMax`. */
  readonly closeDrainMs?: number;
  /**
   * What runs `POST /v1/command` (the RESP server's one-shot runner, see
   * command-routes.ts); absent, or giving null, the route answers that it has none.
   */
  readonly commands?: CommandRunner;
  /** More metrics text for `GET /metrics` (the RESP server's counters), or none. */
  readonly extraMetrics?: () => string;
  /** The node's large objects (`/v1/blobs`); absent, those routes are not served. */
  readonly blobs?: BlobService;
  /** The node's linked clusters (`/v1/links`, `/v1/conflicts`); absent, not served. */
  readonly links?: LinkService;
  /**
   * The cluster secret, which signs the calls nodes make on each other's peer routes
   * (`/v1/internal/`); absent, those routes refuse every call.
   */
  readonly peerSecret?: string;
}

/**
 * Builds the HTTP server for `node`; the caller `listen`s and `close`s it. Closing the
 * server does not close the node.
 */
export function buildHttpServer(node: NodeHandle, options: HttpServerOptions): FastifyInstance {
  const bodyLimit = options.bodyLimitBytes ?? httpBodyBytesMax;
  assert(Number.isSafeInteger(bodyLimit) && bodyLimit > 0, `bad body limit ${bodyLimit}`);
  const app = Fastify({
    ...(options.tls === undefined ? {} : { https: serverTlsOptions(options.tls) }),
    ...(typeof options.logger === 'boolean'
      ? { logger: options.logger }
      : { loggerInstance: options.logger }),
    bodyLimit,
    routerOptions: { maxParamLength: pathParamCharsMax },
    // Keys are bytes: the key routes decode their key themselves (see escapeKeyPath).
    rewriteUrl: (request) => escapeKeyPath(request.url ?? '/'),
    // One log line per request would drown the node's own logs; failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    // Strict types (no "1" for 1), unknown fields refused rather than silently dropped.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allowUnionTypes: true },
      plugins: [addSqlValueKeyword],
    },
    schemaErrorFormatter: formatSchemaErrors,
  }) as unknown as FastifyInstance;
  const access = accessOf(() => node.accessState(), options.access);
  // First of all hooks: a refused client learns nothing but how to be let in.
  app.addHook('onRequest', async (request, reply) => {
    // Peer routes serve other nodes, which prove the cluster secret instead (auth.ts).
    if (!request.is404 && request.routeOptions.config.role === 'peer') return;
    if (!protectedModeRefuses(options, () => access.configured(), request.socket.remoteAddress))
      return;
    return reply
      .code(protectedModeHttpStatus)
      .type('application/json; charset=utf-8')
      .send({ code: protectedModeCode, message: protectedModeMessage });
  });
  const agents = new LeaderAgents(forwardingTlsOptions(options.tls));
  app.addHook('onClose', async () => agents.destroy());
  cutConnectionsAfterDrain(app, options.closeDrainMs ?? closeDrainMsMax);
  // First, so that no route (swagger's included) is added without a declared role.
  requireDeclaredRoles(app);
  authenticateRequests(app, access, options.peerSecret ?? null);
  const metrics = new HttpMetrics(node.id);
  app.addHook('onResponse', async (request, reply) => {
    metrics.count(request.method, request.routeOptions.url, reply.statusCode);
  });
  // A value PUT as raw bytes; any other content type but JSON is refused (415).
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer' },
    (_request, body, done) => done(null, body),
  );
  // Before any handler, so that an unhonoured precondition is never ignored, nor forwarded.
  app.addHook('preValidation', async (request) => refuseUnhonouredConditions(request));
  app.setErrorHandler(async (error, request, reply) =>
    handleError(node, agents, error, request, reply),
  );
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.originalUrl.split('?', 1)[0];
    return sendError(
      reply,
      new TandemError('TANDEM_NOT_FOUND', `no route ${request.method} ${path}`),
    );
  });
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tandem HTTP API',
        description: 'Key-value, SQL and cluster administration of a Tandem node.',
        version: 'v1',
      },
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic', description: 'user:password' },
          bearer: { type: 'http', scheme: 'bearer', description: 'a token from /v1/auth/tokens' },
        },
      },
      // Once users are configured; in open mode every request is the admin `default`.
      security: [{ basic: [] }, { bearer: [] }],
    },
  });
  // Routes go in a plugin registered after swagger, so that swagger sees every one of them.
  void app.register(async (routes) => {
    registerKvRoutes(routes, node, access);
    registerSqlRoutes(routes, node, access);
    registerClusterRoutes(routes, node, access);
    registerAuthRoutes(routes, node, access);
    registerCommandRoutes(routes, node, options.commands ?? (() => null));
    registerUiRoutes(routes);
    registerBackupRoutes(routes, node, access);
    if (options.blobs !== undefined) registerBlobRoutes(routes, node, options.blobs);
    if (options.links !== undefined) registerLinkRoutes(routes, options.links, access);
    const metricsRole: RouteRole = options.metricsAuth === true ? 'read' : 'open';
    registerOperationRoutes(routes, node, {
      metrics,
      access,
      metricsRole,
      extra: options.extraMetrics ?? (() => ''),
    });
  });
  return app;
}

/**
 * Tracks every connection (TLS ones before and after their handshake) and, once the server
 * is closing, cuts those still open after `drainMs`.
 */
function cutConnectionsAfterDrain(app: FastifyInstance, drainMs: number): void {
  const connections = new Set<Socket>();
  const track = (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  };
  app.server.on('connection', track);
  app.server.on('secureConnection', track);
  app.addHook('preClose', async () => {
    const timer = setTimeout(() => {
      for (const socket of connections) socket.destroy();
    }, drainMs);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
  });
}

/** Answers an error, forwarding what only the leader can answer. */
async function handleError(
  node: NodeHandle,
  agents: LeaderAgents,
  thrown: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  let error = toTandemError(thrown);
  if (isForwardable(error, request)) {
    try {
      return await forwardToLeader(node, agents, request, reply, error);
    } catch (forwardError) {
      error = toTandemError(forwardError);
    }
  }
  // 503 is "not now" (no leader, a store or replica unavailable): the client is told to
  // retry, and the node logs why elsewhere. 504 is an outcome the client must learn (a
  // sync write that timed out): a warning, without a stack. Other 5xx are this node's bugs.
  if (error.httpStatus === 503) {
    request.log.info({ code: error.code, message: error.message }, 'request answered 503');
  } else if (error.httpStatus === 504) {
    request.log.warn({ code: error.code, message: error.message }, 'request timed out');
  } else if (error.httpStatus >= 500) {
    request.log.error({ err: thrown, code: error.code }, 'request failed');
  } else {
    request.log.debug({ code: error.code, message: error.message }, 'request refused');
  }
  return sendError(reply, error);
}

/** Probes (open), metrics (open unless `metricsRole` says otherwise) and the OpenAPI document. */
function registerOperationRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  options: {
    metrics: HttpMetrics;
    access: AccessControl;
    metricsRole: RouteRole;
    extra: () => string;
  },
) {
  const { metrics, access, metricsRole, extra } = options;
  const open = { role: 'open' } as const;
  app.get(
    '/healthz',
    { schema: { ...probeSchema, summary: 'The process serves' }, config: open },
    async () => ({ status: 'ok', id: node.id }),
  );

  app.get(
    '/readyz',
    {
      schema: { ...probeSchema, summary: 'The node can serve: storage works, a leader is known' },
      config: open,
    },
    async (_request, reply) => {
      if (node.ready()) return { status: 'ready', id: node.id };
      const status = node.status();
      const code = status.removed
        ? 'TANDEM_REMOVED'
        : !status.store.healthy
          ? 'TANDEM_STORE_UNAVAILABLE'
          : status.leaderId === null
            ? 'TANDEM_NO_LEADER'
            : 'TANDEM_STORAGE_FAILED';
      // 503 whatever the reason: a load balancer reads "not now", and the code says why.
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({ code, message: `node ${node.id} is not ready (${code})` });
    },
  );

  app.get(
    '/metrics',
    {
      schema: { tags: ['operations'], summary: 'Prometheus metrics (text format)' },
      config: { role: metricsRole },
    },
    async (_request, reply) => {
      const [nodeText, httpText, accessText] = await Promise.all([
        node.metrics(),
        metrics.text(),
        access.audit.text(),
      ]);
      reply.type(metrics.contentType);
      const more = extra().trimEnd();
      return `${nodeText.trimEnd()}\n${httpText.trimEnd()}\n${accessText.trimEnd()}\n${more}`
        .trim()
        .concat('\n');
    },
  );

  app.get('/openapi.json', { schema: { hide: true }, config: { role: 'read' } }, async () =>
    app.swagger(),
  );
}

/**
 * Turns ajv's first error into a sentence naming the field: `body.value must be string`,
 * `body has an unknown field "colour"`.
 */
function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const error = errors.find((candidate) => candidate.keyword === 'anyOf') ?? errors[0];
  const where =
    dataVar +
    error.instancePath.replace(/\/([^/]*)/g, (_all, part: string) =>
      /^[0-9]+$/.test(part) ? `[${part}]` : `.${part}`,
    );
  const params = error.params as Record<string, unknown>;
  if (where === 'body' && error.keyword === 'type') {
    return new Error('the request needs a JSON object as its body');
  }
  switch (error.keyword) {
    case 'additionalProperties':
      return new Error(
        `${where} has an unknown field ${JSON.stringify(params.additionalProperty)}`,
      );
    case 'enum':
      return new Error(`${where} must be one of ${(params.allowedValues as string[]).join(', ')}`);
    case 'anyOf':
      if (where.startsWith('body.args[')) {
        return new Error(`${where} must be a string or { base64 }`);
      }
      return new Error(
        `${where} must be an array or a map of strings, numbers, booleans and nulls (integers from -2^63 to 2^63-1)`,
      );
    case 'pattern':
      if (params.pattern === indexPattern) return new Error(`${where} must be a log index`);
      if (params.pattern === tokenIdPattern.source) {
        return new Error(`${where} must be a token id: 16 hex digits`);
      }
      if (params.pattern === nodeIdPattern) {
        return new Error(`${where} must be a node id: 1 to 64 of A-Z a-z 0-9 _ . -`);
      }
  }
  return new Error(`${where} ${error.message ?? 'is invalid'}`);
}
