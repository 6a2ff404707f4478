/**
 * The SQL routes: `POST /v1/sql` proposes statements through the log (applied atomically
 * on every replica), `POST /v1/query` runs a read-only query on the local store at the
 * requested consistency level.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessControl } from '../../access/control.js';
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
import { isSchemaChange } from '../../store/sql-check.js';
import { authorize, principalOf } from './auth.js';
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
 * exact to 64 bits both ways (json.ts); the other routes parse JSON as before. Queries need
 * the read role, statements the write role, and schema changes (DDL) the admin role.
 */
export function registerSqlRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  access: AccessControl,
): void {
  void app.register(async (sql) => {
    useExactJson(sql);
    registerRoutes(sql, node, access);
  });
}

function registerRoutes(app: FastifyInstance, node: NodeHandle, access: AccessControl): void {
  app.post<{ Querystring: { ack?: Durability }; Body: SqlBody }>(
    '/v1/sql',
    { schema: sqlSchema, config: { role: 'write' } },
    async (request, reply) => {
      const session = sessionOf(request.headers);
      const statements = statementsOf(request.body);
      const schemaChanges = authorizeSchemaChanges(access, request, statements);
      const command: SqlCommand = {
        type: 'sql',
        statements,
        // Sessions expire by the commands' time, so a command in a session carries one.
        ...(session === undefined ? {} : { at: Date.now(), ...session }),
      };
      validateCommand(command);
      const write = await node.write(command, writeOptions(request.query.ack));
      const results = commandValue(write.result) as SqlStatementResult[];
      if (schemaChanges.length > 0) {
        access.audit.admin(principalOf(request).user, 'sql-ddl', {
          statements: schemaChanges,
          index: write.index,
        });
      }
      return sendExact(reply, {
        index: write.index,
        term: write.term,
        results: results.map(jsonSafeRecord),
      });
    },
  );

  const queryOptions = { schema: querySchema, config: { role: 'read' } } as const;
  app.post<{ Body: QueryBody }>('/v1/query', queryOptions, async (request, reply) => {
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

/**
 * Refuses with TANDEM_FORBIDDEN a schema change (CREATE, ALTER, DROP, COMMENT) by a user
 * without the admin role; returns the numbers (from 1) of the statements that are one.
 */
function authorizeSchemaChanges(
  access: AccessControl,
  request: FastifyRequest,
  statements: readonly SqlStatement[],
): number[] {
  const changes: number[] = [];
  statements.forEach((statement, i) => {
    if (isSchemaChange(statement.sql)) changes.push(i + 1);
  });
  if (changes.length > 0) {
    authorize(access, request, 'admin', `SQL schema changes: statement ${changes.join(', ')}`);
  }
  return changes;
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
