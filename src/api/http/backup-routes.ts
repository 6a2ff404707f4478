/**
 * `GET /v1/backup` (admin): a consistent image of this node's state machine, taken now,
 * streamed as a backup file (backup-format.ts). Any node serves one of its own state: a
 * follower's is as of what it has applied, which the header's index says.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from '../../access/control.js';
import type { NodeHandle } from '../../node/api.js';
import { principalOf } from './auth.js';
import { backupFormat, backupVersion, encodeBackupHeader } from './backup-format.js';

/**
 * How long a backup's connection may go without sending a byte (its client not reading)
 * before it is cut: while a backup streams, the node takes no snapshot of its own.
 */
export const backupStallMsMax = 60_000;

export function registerBackupRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  access: AccessControl,
): void {
  app.get(
    '/v1/backup',
    {
      schema: {
        summary: "A backup of this node's state: one JSON header line, then the image",
        tags: ['cluster'],
      },
      config: { role: 'admin' },
    },
    async (request, reply) => {
      const backup = await node.backup();
      const header = encodeBackupHeader({
        format: backupFormat,
        version: backupVersion,
        index: backup.index,
        term: backup.term,
        bytes: backup.bytes,
        checksum: backup.checksum,
        membership: backup.membership,
        store: backup.store,
        node: node.id,
        takenAt: new Date().toISOString(),
      });
      access.audit.admin(principalOf(request).user, 'backup', { index: backup.index });
      async function* body(): AsyncGenerator<Uint8Array> {
        try {
          yield header;
          for await (const chunk of backup.chunks()) yield chunk;
        } finally {
          await backup.done();
        }
      }
      const stream = Readable.from(body(), { objectMode: false });
      // A client that goes away ends the stream: the image is released either way. One
      // that stops reading holds the node's snapshots off, so a stall of
      // `backupStallMsMax` ends it too.
      reply.raw.once('close', () => stream.destroy());
      reply.raw.setTimeout(backupStallMsMax, () => reply.raw.destroy());
      return reply
        .type('application/octet-stream')
        .header('content-length', String(header.length + backup.bytes))
        .header(
          'content-disposition',
          `attachment; filename="tandem-${node.id}-${backup.index}.backup"`,
        )
        .header('x-tandem-backup-index', String(backup.index))
        .send(stream);
    },
  );
}
