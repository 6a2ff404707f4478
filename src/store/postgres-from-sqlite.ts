/**
 * Converts a SQLite store's snapshot image into the PostgreSQL store, for a PostgreSQL
 * follower of a SQLite leader. The image is a SQLite database file, opened read-only; its
 * content goes into PostgreSQL inside the caller's transaction, so that the conversion is
 * all or nothing:
 *
 * - The user schema: every CREATE statement SQLite recorded in its schema table, in the
 *   order it recorded them (rowid order, the order of creation; ALTER TABLE rewrites a
 *   table's statement in place). A mixed cluster's users write DDL both databases accept,
 *   so these run on PostgreSQL as they ran when the log carried them, and they go into
 *   `tandem.ddl`, from which a later PostgreSQL snapshot rebuilds the tables.
 * - The rows of every user table, then the key-value rows (a key's SQLite rowid becomes
 *   its SCAN place, `seq`), then the sessions, all by COPY, streamed in bounded chunks.
 * - The users and tokens, the bytes of `_tandem_acl`'s row as they are (an image of a build
 *   before that table has none: no users).
 *
 * The caller records the position and the session count this returns.
 */
import Database from 'better-sqlite3';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { TandemError } from '../core/errors.js';
import type { LogPosition } from './contract.js';
import { copyChunks, type CopyValue } from './copy-text.js';
import {
  float8Text,
  isStatementFailure,
  q,
  q1,
  userTables,
  type UserTable,
} from './postgres-connection.js';
import { scoreOfBytes } from './memory-image.js';
import { quoteIdentifier } from './postgres-sql.js';
import { readPosition } from './snapshot-images.js';

/** The most schema statements a SQLite image may carry: a bound on the DDL replay. */
export const imageSchemaStatementsMax = 100_000;

/** What the image held besides its rows: where it stands and how many sessions it has. */
export interface SqliteImageSummary {
  readonly position: LogPosition;
  readonly sessionCount: number;
}

function corrupt(message: string, cause?: unknown): TandemError {
  return new TandemError('TANDEM_CORRUPT', message, { cause });
}

/**
 * Loads the SQLite image in `file` into the open transaction of `client`, on an empty
 * public schema and empty tandem tables. Throws TANDEM_CORRUPT for an image PostgreSQL
 * cannot take (DDL it refuses, values its column types refuse), naming the statement or
 * table; the caller's transaction then rolls back and nothing has changed.
 */
export async function loadSqliteImage(
  client: pg.PoolClient,
  file: string,
): Promise<SqliteImageSummary> {
  const image = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const position = readPosition(image);
    await replaySchema(client, schemaStatements(image));
    for (const table of await userTables(client)) await copyTable(client, image, table);
    await copyKv(client, image);
    await copyHashes(client, image);
    await copySets(client, image);
    await copyLists(client, image);
    await copyZsets(client, image);
    const sessionCount = await copySessions(client, image);
    await copyAccess(client, image);
    return { position, sessionCount };
  } finally {
    image.close();
  }
}

/**
 * The user schema's CREATE statements, in the order SQLite recorded them. The store's own
 * tables and indexes (`_tandem_*`) and SQLite's (`sqlite_*`, and automatic indexes, whose
 * statement is null) are left out.
 */
function schemaStatements(image: Database.Database): string[] {
  const rows = image
    .prepare<[number], { sql: string }>(
      `SELECT sql FROM sqlite_schema
        WHERE sql IS NOT NULL
          AND name NOT LIKE '\\_tandem\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
        ORDER BY rowid LIMIT ?`,
    )
    .all(imageSchemaStatementsMax + 1);
  if (rows.length > imageSchemaStatementsMax) {
    throw corrupt(
      `the SQLite image has more than ${imageSchemaStatementsMax} schema statements to convert`,
    );
  }
  // The newline ends the statement as the log's statements are recorded (inlined), so
  // that a trailing `--` comment cannot swallow what a replay joins after it.
  return rows.map((row) => `${row.sql}\n`);
}

/** Runs the schema statements in order and records them as the DDL log. */
async function replaySchema(client: pg.PoolClient, statements: readonly string[]): Promise<void> {
  for (const [i, statement] of statements.entries()) {
    try {
      await q(client, statement);
    } catch (error) {
      if (!isStatementFailure(error)) throw error;
      throw corrupt(
        `the SQLite image's schema statement ${i + 1} does not run on PostgreSQL (${error.message}): ${statement.trim()}`,
        error,
      );
    }
    await q1(client, 'INSERT INTO tandem.ddl (position, statement) VALUES ($1, $2)', [
      i + 1,
      statement,
    ]);
  }
}

/**
 * One SQLite value as PostgreSQL's text input for a column of `type`: integers exactly
 * (read as bigints), reals in their shortest exact form, text as is, and a BLOB only into
 * a bytea column.
 */
function copyValue(value: unknown, type: string, where: () => string): CopyValue {
  if (value === null) return null;
  if (typeof value === 'bigint' || typeof value === 'string') return String(value);
  if (typeof value === 'number') {
    if (value === Number.POSITIVE_INFINITY) return 'Infinity';
    if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
    return String(value);
  }
  if (value instanceof Uint8Array && type === 'bytea') return value;
  throw corrupt(`${where()} holds a BLOB, which its PostgreSQL type ${type} cannot take`);
}

/** Copies one user table's rows, in the image's row order. */
async function copyTable(
  client: pg.PoolClient,
  image: Database.Database,
  table: UserTable,
): Promise<void> {
  const list = table.columns.map(quoteIdentifier).join(', ');
  let select: Database.Statement<[], unknown[]>;
  try {
    // SQLite matches names without regard to ASCII case, so PostgreSQL's folded names find
    // the columns SQLite recorded as they were written.
    select = image.prepare<[], unknown[]>(`SELECT ${list} FROM ${quoteIdentifier(table.name)}`);
  } catch (error) {
    throw corrupt(
      `the SQLite image has no table ${table.name} with the columns PostgreSQL made of its schema: ${(error as Error).message}`,
      error,
    );
  }
  const rows = function* (): Generator<CopyValue[]> {
    for (const row of select.raw(true).safeIntegers(true).iterate()) {
      yield row.map((value, i) =>
        copyValue(
          value,
          table.types[i] as string,
          () => `column ${table.columns[i]} of ${table.name}`,
        ),
      );
    }
  };
  await copyIn(client, `public.${quoteIdentifier(table.name)} (${list})`, rows(), table.name);
}

/**
 * Copies the key-value rows; each key's rowid, its SCAN place, becomes its `seq`. Keys and
 * values are read as BLOBs: an image from a version whose table held TEXT gives its text's
 * UTF-8 bytes, as that version's own store reads them after its upgrade.
 */
async function copyKv(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const select = image.prepare<[], unknown[]>(
    `SELECT CAST(key AS BLOB), CAST(value AS BLOB), version_index, version_term, expires_at, rowid
       FROM _tandem_kv ORDER BY rowid`,
  );
  const rows = function* (): Generator<CopyValue[]> {
    for (const [key, value, ...numbers] of select.raw(true).safeIntegers(true).iterate()) {
      const texts = numbers.map((number) => (number === null ? null : String(number)));
      yield [key as Buffer, value as Buffer, ...texts];
    }
  };
  await copyIn(
    client,
    'tandem.kv (key, value, version_index, version_term, expires_at, seq)',
    rows(),
    'the key-value table',
  );
}

/** Copies the hashes and their fields, when the image has them (none before hashes). */
async function copyHashes(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const table = image
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tandem_hash_keys'")
    .get();
  if (table === undefined) return;
  const hashes = image.prepare<[], unknown[]>(
    `SELECT h.key, h.encoding, (SELECT count(*) FROM _tandem_hash_fields f WHERE f.key = h.key),
       h.next_seq FROM _tandem_hash_keys h ORDER BY h.key`,
  );
  const hashRows = function* (): Generator<CopyValue[]> {
    for (const [key, encoding, length, nextSeq] of hashes.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, String(encoding), String(length), String(nextSeq)];
    }
  };
  await copyIn(client, 'tandem.hashes (key, encoding, length, next_seq)', hashRows(), 'hashes');
  const fields = image.prepare<[], unknown[]>(
    'SELECT key, field, value, seq FROM _tandem_hash_fields ORDER BY key, seq',
  );
  const fieldRows = function* (): Generator<CopyValue[]> {
    for (const [key, field, value, seq] of fields.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, field as Buffer, value as Buffer, String(seq)];
    }
  };
  await copyIn(client, 'tandem.hash_fields (key, field, value, seq)', fieldRows(), 'hash fields');
}

/** Copies the sets and their members, when the image has them (none before sets). */
async function copySets(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const table = image
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tandem_set_keys'")
    .get();
  if (table === undefined) return;
  const sets = image.prepare<[], unknown[]>(
    `SELECT s.key, s.encoding, (SELECT count(*) FROM _tandem_set_members m WHERE m.key = s.key),
       s.next_seq FROM _tandem_set_keys s ORDER BY s.key`,
  );
  const setRows = function* (): Generator<CopyValue[]> {
    for (const [key, encoding, length, nextSeq] of sets.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, String(encoding), String(length), String(nextSeq)];
    }
  };
  await copyIn(client, 'tandem.sets (key, encoding, length, next_seq)', setRows(), 'sets');
  const members = image.prepare<[], unknown[]>(
    'SELECT key, member, seq FROM _tandem_set_members ORDER BY key, seq',
  );
  const memberRows = function* (): Generator<CopyValue[]> {
    for (const [key, member, seq] of members.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, member as Buffer, String(seq)];
    }
  };
  await copyIn(client, 'tandem.set_members (key, member, seq)', memberRows(), 'set members');
}

/**
 * Copies the lists and their elements, when the image has them (none before lists): each
 * list's elements renumbered from position 0 in their order, its row `head` 0.
 */
async function copyLists(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const table = image
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tandem_list_items'")
    .get();
  if (table === undefined) return;
  const lists = image.prepare<[], unknown[]>(
    'SELECT key, count(*) FROM _tandem_list_items GROUP BY key ORDER BY key',
  );
  const listRows = function* (): Generator<CopyValue[]> {
    for (const [key, length] of lists.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, '0', String(length)];
    }
  };
  await copyIn(client, 'tandem.lists (key, head, length)', listRows(), 'lists');
  const elements = image.prepare<[], unknown[]>(
    `SELECT key, row_number() OVER (PARTITION BY key ORDER BY pos) - 1, value
       FROM _tandem_list_items ORDER BY key, pos`,
  );
  const elementRows = function* (): Generator<CopyValue[]> {
    for (const [key, pos, value] of elements.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, String(pos), value as Buffer];
    }
  };
  await copyIn(client, 'tandem.list_items (key, pos, value)', elementRows(), 'list elements');
}

/**
 * Copies the sorted sets and their members, when the image has them (none before sorted
 * sets), each score from its 8 bytes to the text that reads back as the same double.
 */
async function copyZsets(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const table = image
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tandem_zset_keys'")
    .get();
  if (table === undefined) return;
  const zsets = image.prepare<[], unknown[]>(
    `SELECT z.key, z.encoding, (SELECT count(*) FROM _tandem_zset_members m WHERE m.key = z.key),
       z.next_seq FROM _tandem_zset_keys z ORDER BY z.key`,
  );
  const zsetRows = function* (): Generator<CopyValue[]> {
    for (const [key, encoding, length, nextSeq] of zsets.raw(true).safeIntegers(true).iterate()) {
      yield [key as Buffer, String(encoding), String(length), String(nextSeq)];
    }
  };
  await copyIn(client, 'tandem.zsets (key, encoding, length, next_seq)', zsetRows(), 'sorted sets');
  const members = image.prepare<[], unknown[]>(
    'SELECT key, member, score, seq FROM _tandem_zset_members ORDER BY key, seq',
  );
  const memberRows = function* (): Generator<CopyValue[]> {
    for (const [key, member, score, seq] of members.raw(true).safeIntegers(true).iterate()) {
      if (!(score instanceof Uint8Array)) throw corrupt('a sorted set score that is not a BLOB');
      yield [key as Buffer, member as Buffer, float8Text(scoreOfBytes(score)), String(seq)];
    }
  };
  await copyIn(
    client,
    'tandem.zset_members (key, member, score, seq)',
    memberRows(),
    'sorted set members',
  );
}

/** Copies the sessions; returns how many there were. */
async function copySessions(client: pg.PoolClient, image: Database.Database): Promise<number> {
  const select = image.prepare<[], unknown[]>(
    'SELECT id, last_seq, last_at, result, result_index, result_term FROM _tandem_sessions ORDER BY id',
  );
  let count = 0;
  const rows = function* (): Generator<CopyValue[]> {
    for (const [id, lastSeq, lastAt, result, index, term] of select
      .raw(true)
      .safeIntegers(true)
      .iterate()) {
      count++;
      yield [
        id as string,
        String(lastSeq),
        String(lastAt),
        result as Buffer,
        String(index),
        String(term),
      ];
    }
  };
  await copyIn(
    client,
    'tandem.sessions (id, last_seq, last_at, result, result_index, result_term)',
    rows(),
    'the sessions table',
  );
  return count;
}

/** Copies the users and tokens' row, when the image has one. */
async function copyAccess(client: pg.PoolClient, image: Database.Database): Promise<void> {
  const table = image
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tandem_acl'")
    .get();
  if (table === undefined) return;
  const row = image
    .prepare<[], { state: unknown }>('SELECT state FROM _tandem_acl WHERE id = 1')
    .get();
  if (row === undefined) return;
  if (!(row.state instanceof Uint8Array)) {
    throw corrupt("the SQLite image's users and tokens are not a BLOB");
  }
  await q1(client, 'INSERT INTO tandem.acl (id, state) VALUES (1, $1)', [Buffer.from(row.state)]);
}

/** Streams rows into `COPY target FROM STDIN`; a row PostgreSQL refuses is TANDEM_CORRUPT. */
async function copyIn(
  client: pg.PoolClient,
  target: string,
  rows: Iterable<CopyValue[]>,
  what: string,
): Promise<void> {
  try {
    const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
    await pipeline(Readable.from(copyChunks(rows)), stream);
  } catch (error) {
    if (!isStatementFailure(error)) throw error;
    throw corrupt(
      `the SQLite image's rows of ${what} do not load into PostgreSQL: ${error.message}`,
      error,
    );
  }
}
