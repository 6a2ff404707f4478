/**
 * Linked clusters over HTTP (src/links): `GET /v1/links` (this cluster's id and each link
 * with its position, lag and state), `POST /v1/links` and `DELETE /v1/links/:id` (admin,
 * the leader's to do: a follower forwards), `GET /v1/links/stream` (what another cluster
 * pulls; any member answers from what it applied) and `GET /v1/conflicts`.
 *
 * The stream carries every key, so it needs the admin role, as a backup does.
 */
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../../access/control.js';
import { TandemError } from '../../core/errors.js';
import { principalOf } from './auth.js';
import { clientKey, databaseOfText } from '../../store/databases.js';
import { batchRecordsMax, encodeBatch } from '../../links/codec.js';
import { formatStamp } from '../../links/hlc.js';
import {
  checkLinkId,
  conflictsAgeMsDefault,
  conflictsListMax,
  streamLengthHeader,
  type LinkService,
} from '../../links/service.js';

/** Registers the link routes on `app`. */
export function registerLinkRoutes(
  app: FastifyInstance,
  links: LinkService,
  access: AccessControl,
): void {
  app.get('/v1/links', { config: { role: 'read' } }, async () => links.list());

  app.post<{ Body: { url?: unknown; authorization?: unknown } }>(
    '/v1/links',
    { config: { role: 'admin' } },
    async (request, reply) => {
      const body = (request.body ?? {}) as { url?: unknown; authorization?: unknown };
      if (typeof body.url !== 'string') {
        throw new TandemError('TANDEM_BAD_REQUEST', "url must be the other cluster's HTTP URL");
      }
      const authorization = body.authorization ?? null;
      if (authorization !== null && typeof authorization !== 'string') {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          'authorization must be the Authorization header the other cluster accepts, or absent',
        );
      }
      const link = await links.link(body.url, authorization);
      access.audit.admin(principalOf(request).user, 'link', { link: link.id, url: body.url });
      return reply.code(201).send(link);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/links/:id',
    { config: { role: 'admin' } },
    async (request, reply) => {
      checkLinkId(request.params.id);
      if (!(await links.unlink(request.params.id))) {
        throw new TandemError(
          'TANDEM_NOT_FOUND',
          `this cluster has no link to ${request.params.id}`,
        );
      }
      access.audit.admin(principalOf(request).user, 'unlink', { link: request.params.id });
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { after?: string; max?: string; for?: string } }>(
    '/v1/links/stream',
    { config: { role: 'admin' } },
    async (request, reply) => {
      const after = integerOf(request.query.after ?? '0', 'after', Number.MAX_SAFE_INTEGER);
      const max = integerOf(request.query.max ?? '1000', 'max', batchRecordsMax);
      if (max < 1) throw new TandemError('TANDEM_BAD_REQUEST', 'max must be at least 1');
      const requester = request.query.for ?? null;
      if (requester !== null) checkLinkId(requester);
      const read = links.streamRead(after, max, requester);
      if (read.kind === 'unlinked') {
        throw new TandemError('TANDEM_NOT_FOUND', `cluster ${links.cluster} is not linked`);
      }
      if (read.kind === 'behind') {
        return reply.code(410).send({
          code: 'TANDEM_NOT_FOUND',
          message: `cluster ${links.cluster} no longer keeps its stream after position ${after}: the first kept is ${read.start}`,
          start: read.start,
        });
      }
      return reply
        .header(streamLengthHeader, String(read.streamLength))
        .type('application/json')
        .send(encodeBatch(read.batch));
    },
  );

  app.get<{ Querystring: { limit?: string; sinceMs?: string } }>(
    '/v1/conflicts',
    { config: { role: 'read' } },
    async (request) => {
      const limit = integerOf(request.query.limit ?? '100', 'limit', conflictsListMax);
      const since =
        request.query.sinceMs === undefined
          ? Date.now() - conflictsAgeMsDefault
          : integerOf(request.query.sinceMs, 'sinceMs', Number.MAX_SAFE_INTEGER);
      const page = links.conflicts(limit, since);
      return {
        total: page.total,
        conflicts: page.conflicts.map((conflict) => ({
          db: databaseOfText(conflict.key) ?? 0,
          key: clientKey(Buffer.from(conflict.key, 'latin1')).toString('utf8'),
          kind: conflict.kind,
          lost: formatStamp(conflict.lost),
          lostCluster: conflict.lost.cluster,
          lostAtMs: conflict.lost.ms,
          value: conflict.value === null ? null : Buffer.from(conflict.value).toString('utf8'),
          winner: formatStamp(conflict.winner),
          winnerCluster: conflict.winner.cluster,
        })),
      };
    },
  );
}

function integerOf(text: string, name: string, max: number): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || Number(text) > max) {
    throw new TandemError(
      'TANDEM_BAD_REQUEST',
      `${name} must be an integer from 0 to ${max}, got ${text}`,
    );
  }
  return Number(text);
}
