/**
 * The cluster routes: the node's status, leadership transfer and membership changes. The
 * changes are the leader's to make; a follower's node refuses them with TANDEM_NOT_LEADER
 * and the error handler forwards them.
 */
import type { FastifyInstance } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { NodeHandle } from '../../node/api.js';
import { parseHostPort } from './address.js';
import { addMemberSchema, clusterSchema, promoteSchema, removeMemberSchema } from './schemas.js';

/** Registers the cluster routes on `app`. */
export function registerClusterRoutes(app: FastifyInstance, node: NodeHandle): void {
  app.get('/v1/cluster', { schema: clusterSchema }, async () => node.status());

  app.post<{ Body: { id: string } }>(
    '/v1/cluster/promote',
    { schema: promoteSchema },
    async (request) => {
      await node.promote(request.body.id);
      return { leaderId: request.body.id };
    },
  );

  app.post<{ Body: { id: string; address: string; learner?: boolean } }>(
    '/v1/cluster/members',
    { schema: addMemberSchema },
    async (request) => {
      const { id, address, learner } = request.body;
      const peer = parseHostPort(address);
      if (peer === null) {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          `address must be the member's peer address host:port (port 1-65535), got ${address}`,
        );
      }
      await node.addMember(id, peer, { learner: learner ?? false });
      return { membership: node.status().membership };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/cluster/members/:id',
    { schema: removeMemberSchema },
    async (request) => {
      await node.removeMember(request.params.id);
      return { membership: node.status().membership };
    },
  );
}
