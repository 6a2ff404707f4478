/**
 * The key-value routes: `PUT`, `GET` and `DELETE /v1/kv/:key`. Writes become commands
 * proposed through the node; reads run against the local store at the requested level.
 * Errors are thrown as TandemErrors: the server's error handler answers or forwards them.
 */
import type { FastifyInstance } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { NodeHandle } from '../../node/api.js';
import { validateCommand, type DelCommand, type SetCommand } from '../../store/commands.js';
import {
  checkKey,
  commandValue,
  etagOf,
  ifMatchCondition,
  readOptions,
  sessionOf,
  writeOptions,
  type ReadQuery,
} from './requests.js';
import { deleteKeySchema, getKeySchema, putKeySchema } from './schemas.js';

interface KeyParams {
  key: string;
}

/** Registers the key-value routes on `app`. */
export function registerKvRoutes(app: FastifyInstance, node: NodeHandle): void {
  app.put<{
    Params: KeyParams;
    Querystring: { ack?: Durability };
    Headers: { 'if-match'?: string };
    Body: { value: string; ttlMs?: number };
  }>('/v1/kv/:key', { schema: putKeySchema }, async (request, reply) => {
    const { key } = request.params;
    checkKey(key);
    const condition = ifMatchCondition(request.headers['if-match']);
    const at = Date.now();
    const { value, ttlMs } = request.body;
    const command: SetCommand = {
      type: 'set',
      key: Buffer.from(key, 'utf8'),
      value: Buffer.from(value, 'utf8'),
      at,
      ...(ttlMs === undefined ? {} : { expiresAt: at + ttlMs }),
      ...condition,
      ...sessionOf(request.headers),
    };
    validateCommand(command);
    const write = await node.write(command, writeOptions(request.query.ack));
    if (commandValue(write.result) === null) {
      throw new TandemError(
        'TANDEM_PRECONDITION_FAILED',
        'ifVersion' in condition
          ? `key ${JSON.stringify(key)} is not at version ${etagOf(condition.ifVersion)}; nothing written`
          : `key ${JSON.stringify(key)} does not exist; nothing written`,
      );
    }
    // A write's version is its own entry's position in the log; a retried write's is that
    // of the entry that first applied it.
    const version = write.result?.duplicateOf ?? { index: write.index, term: write.term };
    reply.header('etag', etagOf(version));
    return { key, version, index: write.index };
  });

  app.get<{ Params: KeyParams; Querystring: ReadQuery }>(
    '/v1/kv/:key',
    { schema: getKeySchema },
    async (request, reply) => {
      const { key } = request.params;
      checkKey(key);
      const read = await node.read(readOptions(node, request.query), (store) =>
        store.get(Buffer.from(key, 'utf8'), Date.now()),
      );
      reply.header('x-tandem-applied-index', String(read.appliedIndex));
      const entry = read.value;
      if (entry === null) {
        throw new TandemError('TANDEM_KEY_NOT_FOUND', `key ${JSON.stringify(key)} does not exist`);
      }
      reply.header('etag', etagOf(entry.version));
      return { key, value: entry.value.toString('utf8'), version: entry.version, expiresAt: entry.expiresAt };
    },
  );

  app.delete<{ Params: KeyParams; Querystring: { ack?: Durability } }>(
    '/v1/kv/:key',
    { schema: deleteKeySchema },
    async (request) => {
      const { key } = request.params;
      checkKey(key);
      const command: DelCommand = {
        type: 'del',
        keys: [Buffer.from(key, 'utf8')],
        at: Date.now(),
        ...sessionOf(request.headers),
      };
      validateCommand(command);
      const write = await node.write(command, writeOptions(request.query.ack));
      return { deleted: commandValue(write.result) as number, index: write.index };
    },
  );
}
