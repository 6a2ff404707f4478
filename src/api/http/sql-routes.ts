/**
 * The SQL routes: `POST /v1/sql` proposes statements through the log (applied atomically
 * on every replica), `POST /v1/query` runs a read-only query on the local store at the
 * requested consistency level.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle } from '../../node/api.js';
import {
  validateCommand,
  type SqlCommand,
  type SqlParams,
  type SqlStatement,
} from '../../store/commands.js';
import type { SqlStatementResult } from '../../store/contract.js';
import { jsonSafeRecord, useExactJson, writeExactJson } from './json.js';
import { commandValue, readOptions, sessionOf, writeOptions } from './requests.js';
import { querySchema, sqlSchema } from './schemas.js';

interface SqlBody {
  statements?: SqlStatement[];
  sql?: string;
  params?: SqlParams;
}

interface QueryBody {
  sql: string;
  params?: SqlParams;
  consistency?: Consistency;
  after?: number;
  maxLag?: number;
}

/**
 * Registers the SQL routes on `app`, in a context of their own whose JSON keeps integers
 * exact to 64 bits both ways (json.ts); the other routes parse JSON as before.
 */
export function registerSqlRoutes(app: FastifyInstance, node: NodeHandle): void {
  void app.register(async (sql) => {
    useExactJson(sql);
    registerRoutes(sql, node);
  });
}

function registerRoutes(app: FastifyInstance, node: NodeHandle): void {
  app.post<{ Querystring: { ack?: Durability }; Body: SqlBody }>(
    '/v1/sql',
    { schema: sqlSchema },
    async (request, reply) => {
      const session = sessionOf(request.headers);
      const command: SqlCommand = {
        type: 'sql',
        statements: statementsOf(request.body),
        // Sessions expire by the commands' time, so a command in a session carries one.
        ...(session === undefined ? {} : { at: Date.now(), ...session }),
      };
      validateCommand(command);
      const write = await node.write(command, writeOptions(request.query.ack));
      const results = commandValue(write.result) as SqlStatementResult[];
      return sendExact(reply, {
        index: write.index,
        term: write.term,
        results: results.map(jsonSafeRecord),
      });
    },
  );

  app.post<{ Body: QueryBody }>('/v1/query', { schema: querySchema }, async (request, reply) => {
    const { sql, params } = request.body;
    const read = await node.read(readOptions(node, request.body), (store) =>
      store.query(sql, params),
    );
    return sendExact(reply, {
      rows: read.value.map(jsonSafeRecord),
      appliedIndex: read.appliedIndex,
    });
  });
}

/**
 * Sends an answer as JSON with its integers exact. The route's response schema describes
 * it but does not serialize it: fast-json-stringify, like JSON.stringify, cannot write a
 * bigint.
 */
function sendExact(reply: FastifyReply, body: object): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(writeExactJson(body));
}

/** The statements of a `/v1/sql` body: its list, or its one `{ sql, params }`. */
function statementsOf(body: SqlBody): SqlStatement[] {
  if (body.statements !== undefined) {
    if (body.sql !== undefined || body.params !== undefined) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        'give either statements: [{ sql, params }] or one sql with its params, not both',
      );
    }
    return body.statements;
  }
  if (body.sql === undefined) {
    throw new TandemError('TANDEM_BAD_REQUEST', 'the body needs statements or sql');
  }
  return [body.params === undefined ? { sql: body.sql } : { sql: body.sql, params: body.params }];
}
