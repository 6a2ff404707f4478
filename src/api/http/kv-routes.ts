/**
 * The key-value routes: `PUT`, `GET` and `DELETE /v1/kv/:key`. Writes become commands
 * proposed through the node; reads run against the local store at the requested level.
 * Errors are thrown as TandemErrors: the server's error handler answers or forwards them.
 *
 * Keys and values are bytes. The key in the URL is percent-encoded bytes; a JSON answer
 * carries a value (and a key) as text when it is UTF-8, else as base64 (`valueBase64`,
 * `keyBase64`); `Accept: application/octet-stream` gets a value's raw bytes, and a PUT
 * takes `{ value }`, `{ valueBase64 }` or an `application/octet-stream` body.
 */
import type { FastifyInstance } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { NodeHandle } from '../../node/api.js';
import { validateCommand, type DelCommand, type SetCommand } from '../../store/commands.js';
import {
  bytesFields,
  commandValue,
  describeKey,
  etagOf,
  ifMatchCondition,
  keyOfPath,
  putValue,
  readOptions,
  sessionOf,
  wantsOctetStream,
  writeOptions,
  type PutJsonBody,
  type ReadQuery,
} from './requests.js';
import { deleteKeySchema, getKeySchema, putKeySchema } from './schemas.js';

/** With a raw value, the key's expiry (absolute ms), when it has one. */
export const expiresAtHeader = 'x-tandem-expires-at';

interface KeyParams {
  key: string;
}

/** Registers the key-value routes on `app`. */
export function registerKvRoutes(app: FastifyInstance, node: NodeHandle): void {
  app.put<{
    Params: KeyParams;
    Querystring: { ack?: Durability; ttlMs?: string };
    Headers: { 'if-match'?: string };
    Body: PutJsonBody | Buffer;
  }>('/v1/kv/:key', { schema: putKeySchema }, async (request, reply) => {
    const key = keyOfPath(request.params.key);
    const condition = ifMatchCondition(request.headers['if-match']);
    const at = Date.now();
    const { value, ttlMs } = putValue(request.body, request.query.ttlMs);
    const command: SetCommand = {
      type: 'set',
      key,
      value,
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
          ? `key ${describeKey(key)} is not at version ${etagOf(condition.ifVersion)}; nothing written`
          : `key ${describeKey(key)} does not exist; nothing written`,
      );
    }
    // A write's version is its own entry's position in the log; a retried write's is that
    // of the entry that first applied it.
    const version = write.result?.duplicateOf ?? { index: write.index, term: write.term };
    reply.header('etag', etagOf(version));
    return { ...bytesFields('key', key), version, index: write.index };
  });

  app.get<{ Params: KeyParams; Querystring: ReadQuery }>(
    '/v1/kv/:key',
    { schema: getKeySchema },
    async (request, reply) => {
      const key = keyOfPath(request.params.key);
      const read = await node.read(readOptions(node, request.query), (store) =>
        store.get(key, Date.now()),
      );
      reply.header('x-tandem-applied-index', String(read.appliedIndex));
      const entry = read.value;
      if (entry === null) {
        throw new TandemError('TANDEM_KEY_NOT_FOUND', `key ${describeKey(key)} does not exist`);
      }
      reply.header('etag', etagOf(entry.version));
      if (wantsOctetStream(request.headers.accept)) {
        if (entry.expiresAt !== null) reply.header(expiresAtHeader, String(entry.expiresAt));
        return reply.type('application/octet-stream').send(entry.value);
      }
      return {
        ...bytesFields('key', key),
        ...bytesFields('value', entry.value),
        version: entry.version,
        expiresAt: entry.expiresAt,
      };
    },
  );

  app.delete<{ Params: KeyParams; Querystring: { ack?: Durability } }>(
    '/v1/kv/:key',
    { schema: deleteKeySchema },
    async (request) => {
      const key = keyOfPath(request.params.key);
      const command: DelCommand = {
        type: 'del',
        keys: [key],
        at: Date.now(),
        ...sessionOf(request.headers),
      };
      validateCommand(command);
      const write = await node.write(command, writeOptions(request.query.ack));
      return { deleted: commandValue(write.result) as number, index: write.index };
    },
  );
}
