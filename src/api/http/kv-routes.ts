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
import type { AccessControl } from '../../access/control.js';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { NodeHandle } from '../../node/api.js';
import { validateCommand, type DelCommand, type SetCommand } from '../../store/commands.js';
import {
  headerText,
  matchesAny,
  parseIfMatch,
  parseIfNoneMatch,
  putCondition,
  type PutCondition,
} from './conditions.js';
import {
  bytesFields,
  commandValue,
  describeKey,
  etagOf,
  keyOfPath,
  putValue,
  readOptions,
  sessionOf,
  wantsOctetStream,
  writeOptions,
  type PutJsonBody,
  type ReadQuery,
} from './requests.js';
import { authorizeKeys } from './auth.js';
import { deleteKeySchema, getKeySchema, putKeySchema } from './schemas.js';

/** With a raw value, the key's expiry (absolute ms), when it has one. */
export const expiresAtHeader = 'x-tandem-expires-at';

interface KeyParams {
  key: string;
}

/**
 * Registers the key-value routes on `app`: reads need the read role, writes the write role,
 * and the user's key patterns must allow the key.
 */
export function registerKvRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  access: AccessControl,
): void {
  app.put<{
    Params: KeyParams;
    Querystring: { ack?: Durability; ttlMs?: string };
    Body: PutJsonBody | Buffer;
  }>('/v1/kv/:key', { schema: putKeySchema, config: putHonours }, async (request, reply) => {
    const key = keyOfPath(request.params.key);
    authorizeKeys(access, request, 'write', [key]);
    const condition = putCondition(request.headers);
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
      throw new TandemError('TANDEM_PRECONDITION_FAILED', putRefusal(key, condition));
    }
    // A write's version is its own entry's position in the log; a retried write's is that
    // of the entry that first applied it.
    const version = write.result?.duplicateOf ?? { index: write.index, term: write.term };
    reply.header('etag', etagOf(version));
    return { ...bytesFields('key', key), version, index: write.index, term: write.term };
  });

  app.get<{ Params: KeyParams; Querystring: ReadQuery }>(
    '/v1/kv/:key',
    { schema: getKeySchema, config: getHonours },
    async (request, reply) => {
      const key = keyOfPath(request.params.key);
      authorizeKeys(access, request, 'read', [key]);
      const ifNoneMatch = parseIfNoneMatch(headerText(request.headers, 'if-none-match'));
      const read = await node.read(readOptions(node, request.query), (store) =>
        store.get(key, Date.now()),
      );
      reply.header('x-tandem-applied-index', String(read.appliedIndex));
      const entry = read.value;
      if (entry === null) {
        throw new TandemError('TANDEM_KEY_NOT_FOUND', `key ${describeKey(key)} does not exist`);
      }
      reply.header('etag', etagOf(entry.version));
      // The client's copy is current: RFC 9110's 304, with the ETag and no body.
      if (ifNoneMatch !== undefined && matchesAny(ifNoneMatch, entry.version)) {
        return reply.code(304).send();
      }
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
    { schema: deleteKeySchema, config: deleteHonours },
    async (request) => {
      const key = keyOfPath(request.params.key);
      authorizeKeys(access, request, 'write', [key]);
      const ifMatch = parseIfMatch(headerText(request.headers, 'if-match'));
      const command: DelCommand = {
        type: 'del',
        keys: [key],
        at: Date.now(),
        ...(ifMatch !== undefined && 'version' in ifMatch ? { ifVersion: ifMatch.version } : {}),
        ...sessionOf(request.headers),
      };
      validateCommand(command);
      const write = await node.write(command, writeOptions(request.query.ack));
      const deleted = commandValue(write.result) as number;
      // The state machine decided at apply: nothing deleted means the key was absent, or
      // (with a version) not at that version; either way If-Match failed and nothing changed.
      if (ifMatch !== undefined && deleted === 0) {
        const what = 'version' in ifMatch ? `at version ${etagOf(ifMatch.version)}` : 'present';
        throw new TandemError(
          'TANDEM_PRECONDITION_FAILED',
          `key ${describeKey(key)} is not ${what}; nothing deleted`,
        );
      }
      return { deleted, index: write.index, term: write.term };
    },
  );
}

/**
 * The conditional headers each key route decides (see conditions.ts; others get 400), and
 * the role it needs (auth.ts).
 */
const putHonours = { honours: ['if-match', 'if-none-match'], role: 'write' } as const;
const getHonours = { honours: ['if-none-match'], role: 'read' } as const;
const deleteHonours = { honours: ['if-match'], role: 'write' } as const;

/** Why a conditional PUT wrote nothing. */
function putRefusal(key: Buffer, condition: PutCondition): string {
  const name = describeKey(key);
  if ('ifVersion' in condition) {
    return `key ${name} is not at version ${etagOf(condition.ifVersion)}; nothing written`;
  }
  return 'condition' in condition && condition.condition === 'nx'
    ? `key ${name} exists (If-None-Match: *); nothing written`
    : `key ${name} does not exist; nothing written`;
}
