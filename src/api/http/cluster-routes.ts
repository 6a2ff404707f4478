/**
 * The cluster routes: the node's status (read role), leadership transfer and membership
 * changes (admin role, each logged as an admin action where it is made). The changes are
 * the leader's to make; a follower's node refuses them with TANDEM_NOT_LEADER and the error
 * handler forwards them.
 */
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../../access/control.js';
import { TandemError } from '../../core/errors.js';
import type { NodeHandle } from '../../node/api.js';
import { parseHostPort } from './address.js';
import { principalOf } from './auth.js';
import type { Topology } from '../../core/types.js';
import {
  addMemberSchema,
  clusterSchema,
  promoteSchema,
  removeMemberSchema,
  topologySchema,
} from './schemas.js';

/** Registers the cluster routes on `app`. */
export function registerClusterRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  access: AccessControl,
): void {
  const admin = { role: 'admin' } as const;
  // `?view=leader`: the leader's status (with every member's lag and contact), forwarded
  // from a follower as a write is; the dashboard asks for it wherever it is served.
  app.get<{ Querystring: { view?: 'local' | 'leader' } }>(
    '/v1/cluster',
    { schema: clusterSchema, config: { role: 'read' } },
    async (request) => {
      const status = node.status();
      if (request.query.view === 'leader' && status.role !== 'leader') {
        throw new TandemError('TANDEM_NOT_LEADER', `node ${node.id} is not the leader`, {
          ...(status.leaderId === null ? {} : { leaderId: status.leaderId }),
        });
      }
      return status;
    },
  );

  app.post<{ Body: { id: string } }>(
    '/v1/cluster/promote',
    { schema: promoteSchema, config: admin },
    async (request) => {
      await node.promote(request.body.id);
      access.audit.admin(principalOf(request).user, 'promote', { to: request.body.id });
      return { leaderId: request.body.id };
    },
  );

  app.post<{ Body: { id: string; address: string; learner?: boolean; upstream?: string } }>(
    '/v1/cluster/members',
    { schema: addMemberSchema, config: admin },
    async (request) => {
      const { id, address, learner, upstream } = request.body;
      const peer = parseHostPort(address);
      if (peer === null) {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          `address must be the member's peer address host:port (port 1-65535), got ${address}`,
        );
      }
      await node.addMember(id, peer, {
        learner: learner ?? false,
        ...(upstream === undefined ? {} : { upstream }),
      });
      access.audit.admin(principalOf(request).user, 'member-add', {
        id,
        address,
        learner,
        upstream,
      });
      return { membership: node.status().membership };
    },
  );

  app.post<{ Body: { topology: Topology } }>(
    '/v1/cluster/topology',
    { schema: topologySchema, config: admin },
    async (request) => {
      await node.setTopology(request.body.topology);
      access.audit.admin(principalOf(request).user, 'topology', {
        topology: request.body.topology,
      });
      const status = node.status();
      return { topology: status.topology, membership: status.membership };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/cluster/members/:id',
    { schema: removeMemberSchema, config: admin },
    async (request) => {
      await node.removeMember(request.params.id);
      access.audit.admin(principalOf(request).user, 'member-remove', { id: request.params.id });
      return { membership: node.status().membership };
    },
  );
}
