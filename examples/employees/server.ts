/**
 * The employees service: a Fastify REST API over a Tandem cluster through the client.
 * Writes go to the leader (exactly once across retries); reads come from a follower at
 * read-your-writes, falling back to the leader when no follower answers.
 *
 * Optimistic concurrency: `emp` has, besides the three columns of the walkthrough, a
 * `version` column that every update increments. `GET /employees/:id` answers it as the
 * ETag `"<version>"`; `PUT /employees/:id` must send it back in `If-Match` and succeeds only
 * if the row is still at that version (one conditional UPDATE, applied atomically through
 * the log), else 412. The version is the row's own, so it survives snapshots and failovers
 * exactly as the data does.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import {
  BadRequest,
  Conflict,
  Forbidden,
  NoLeader,
  SyncTimeout,
  TandemClientError,
  Unavailable,
  type TandemClient,
} from '../../src/client/index.js';

/** One employee as the API shows it. */
export interface Employee {
  readonly id: number;
  readonly name: string;
  readonly salary: number;
  readonly version: number;
}

/** The longest name accepted, in characters. */
export const nameLengthMax = 200;

const createTable = `CREATE TABLE IF NOT EXISTS emp (
        id INT PRIMARY KEY,
        name TEXT NOT NULL,
        salary INT NOT NULL,
        version INT NOT NULL DEFAULT 1
      )`;
// ON CONFLICT DO NOTHING is spelled the same in SQLite and PostgreSQL, so a node may keep
// its state in either.
const seedRows = {
  sql: 'INSERT INTO emp (id, name, salary) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT (id) DO NOTHING',
  params: [101, 'John', 285000, 102, 'Sam', 255000],
};

/**
 * Creates the table if missing and seeds the walkthrough's two rows (idempotent). Creating
 * the table is a schema change, which a cluster with users grants to admins only: when the
 * table exists, only the rows are written, so a service whose user has the write role
 * starts once an admin has run this (or created the table) once.
 */
export async function ensureSchema(client: TandemClient): Promise<void> {
  if (await tableExists(client)) {
    await client.sql.execute(seedRows.sql, seedRows.params);
    return;
  }
  try {
    await client.transaction([{ sql: createTable }, seedRows]);
  } catch (error) {
    if (!(error instanceof Forbidden)) throw error;
    throw new Forbidden(
      error.code,
      error.status,
      `the emp table does not exist and this service's user may not create it (${error.message}); run ensureSchema once as an admin`,
      { cause: error },
    );
  }
}

/** Whether `emp` exists, as the leader knows it. */
async function tableExists(client: TandemClient): Promise<boolean> {
  try {
    await client.sql.query('SELECT 1 FROM emp LIMIT 1', undefined, {
      consistency: 'linearizable',
    });
    return true;
  } catch (error) {
    if (error instanceof BadRequest && /no such table|does not exist/.test(error.message)) {
      return false;
    }
    throw error;
  }
}

/** A primary key taken, as SQLite and PostgreSQL word it. */
const duplicateKey = /UNIQUE constraint failed|duplicate key value violates unique constraint/;

/** An answer to send as `{ error }` with its status. */
class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The id in a path, a positive integer, or a 400. */
function pathId(text: string): number {
  const id = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id)) {
    throw new HttpProblem(
      400,
      `the employee id must be a positive integer, got ${JSON.stringify(text)}`,
    );
  }
  return id;
}

/** Checks a request body: an object with exactly the fields `fields`, each of its type. */
function employeeBody(
  body: unknown,
  withId: boolean,
): { id?: number; name: string; salary: number } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpProblem(400, 'the body must be a JSON object');
  }
  const record = body as Record<string, unknown>;
  const allowed = withId ? ['id', 'name', 'salary'] : ['name', 'salary'];
  const unknown = Object.keys(record).find((field) => !allowed.includes(field));
  if (unknown !== undefined) throw new HttpProblem(400, `unknown field ${JSON.stringify(unknown)}`);
  for (const field of allowed) {
    if (record[field] === undefined) throw new HttpProblem(400, `the field "${field}" is required`);
  }
  const { id, name, salary } = record;
  if (withId && (typeof id !== 'number' || !Number.isSafeInteger(id))) {
    throw new HttpProblem(400, '"id" must be an integer');
  }
  if (withId && (id as number) <= 0) throw new HttpProblem(400, '"id" must be positive');
  if (typeof name !== 'string' || name.trim() === '') {
    throw new HttpProblem(400, '"name" must be a non-empty string');
  }
  if (name.length > nameLengthMax) {
    throw new HttpProblem(400, `"name" must be at most ${nameLengthMax} characters`);
  }
  if (typeof salary !== 'number' || !Number.isSafeInteger(salary)) {
    throw new HttpProblem(400, '"salary" must be an integer');
  }
  if (salary < 0) throw new HttpProblem(400, '"salary" must not be negative');
  return withId ? { id: id as number, name, salary } : { name, salary };
}

/** The version an `If-Match: "<n>"` names, or a 428/400. */
function ifMatchVersion(header: string | string[] | undefined): number {
  if (header === undefined) {
    throw new HttpProblem(428, 'If-Match is required: send the ETag a GET of this employee gave');
  }
  const match = /^"?([1-9][0-9]{0,15})"?$/.exec(String(header).trim());
  if (match === null)
    throw new HttpProblem(400, `If-Match must be an ETag like "3", got ${String(header)}`);
  return Number(match[1]);
}

/** Maps a client error to the service's answer. */
function problemOf(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof Unavailable && error.code === 'TANDEM_REPLICA_UNAVAILABLE') {
    return new HttpProblem(
      503,
      `the replica is unavailable, nothing was written: ${error.message}`,
    );
  }
  if (error instanceof NoLeader) {
    // A two-node cluster whose replica is down has no quorum, so its leader steps down
    // (check-quorum) and a write finds no leader rather than TANDEM_REPLICA_UNAVAILABLE.
    return new HttpProblem(
      503,
      `the replica is unavailable or no leader is elected, nothing was written: ${error.message}`,
    );
  }
  if (error instanceof Unavailable) {
    return new HttpProblem(503, `the database is unavailable: ${error.message}`);
  }
  if (error instanceof SyncTimeout) {
    return new HttpProblem(504, `the write was not confirmed in time: ${error.message}`);
  }
  if (error instanceof Conflict) return new HttpProblem(409, error.message);
  if (error instanceof TandemClientError)
    return new HttpProblem(502, `database error: ${error.message}`);
  return new HttpProblem(500, 'internal error');
}

function send(reply: FastifyReply, problem: HttpProblem): FastifyReply {
  return reply.code(problem.status).send({ error: problem.message });
}

/** Builds the service on `client`; the caller listens and closes. */
export function buildServer(
  client: TandemClient,
  options: { logger?: boolean } = {},
): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 64 * 1024 });
  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    if (!(error instanceof HttpProblem) && status !== undefined && status >= 400 && status < 500) {
      // Fastify's own: malformed JSON, a wrong content type, a body too large.
      const code = (error as { code?: string }).code;
      const message =
        code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'the body must be JSON (content-type: application/json)'
          : `bad request: ${(error as Error).message}`;
      return send(reply, new HttpProblem(status, message));
    }
    const problem = problemOf(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    return send(reply, problem);
  });

  app.get('/employees', async () =>
    client.sql.query<Employee>('SELECT id, name, salary, version FROM emp ORDER BY id'),
  );

  app.get<{ Params: { id: string } }>('/employees/:id', async (request, reply) => {
    const id = pathId(request.params.id);
    const [row] = await client.sql.query<Employee>(
      'SELECT id, name, salary, version FROM emp WHERE id = ?',
      [id],
    );
    if (row === undefined) throw new HttpProblem(404, `no employee ${id}`);
    reply.header('etag', `"${row.version}"`);
    return row;
  });

  app.post('/employees', async (request, reply) => {
    const { id, name, salary } = employeeBody(request.body, true);
    try {
      await client.sql.execute('INSERT INTO emp (id, name, salary) VALUES (?, ?, ?)', [
        id as number,
        name,
        salary,
      ]);
    } catch (error) {
      if (error instanceof TandemClientError && duplicateKey.test(error.message)) {
        throw new HttpProblem(409, `an employee with id ${id} already exists`);
      }
      throw error;
    }
    reply.code(201).header('etag', '"1"');
    return { id, message: 'Employee created successfully' };
  });

  app.put<{ Params: { id: string } }>('/employees/:id', async (request, reply) => {
    const id = pathId(request.params.id);
    const version = ifMatchVersion(request.headers['if-match']);
    const { name, salary } = employeeBody(request.body, false);
    const { results } = await client.sql.execute(
      'UPDATE emp SET name = ?, salary = ?, version = version + 1 WHERE id = ? AND version = ? RETURNING version',
      [name, salary, id, version],
    );
    const rows = (results[0] as { rows?: { version: number }[] }).rows ?? [];
    if (rows.length === 0) {
      const [current] = await client.sql.query<Employee>('SELECT version FROM emp WHERE id = ?', [
        id,
      ]);
      if (current === undefined) throw new HttpProblem(404, `no employee ${id}`);
      throw new HttpProblem(
        412,
        `employee ${id} is at version ${current.version}, not ${version}; nothing written`,
      );
    }
    reply.header('etag', `"${rows[0]!.version}"`);
    return { id, version: rows[0]!.version, message: 'Employee updated successfully' };
  });

  app.delete<{ Params: { id: string } }>('/employees/:id', async (request) => {
    const id = pathId(request.params.id);
    const { results } = await client.sql.execute('DELETE FROM emp WHERE id = ?', [id]);
    if ((results[0] as { changes?: number }).changes === 0)
      throw new HttpProblem(404, `no employee ${id}`);
    return { id, message: 'Employee deleted successfully' };
  });

  app.setNotFoundHandler(async (request, reply) =>
    send(reply, new HttpProblem(404, `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
  return app;
}
