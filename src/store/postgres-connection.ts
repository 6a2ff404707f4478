/**
 * How the PostgreSQL store talks to its server: the pool's settings (every replica's
 * connections run with the same session settings, since they change what SQL means), how
 * values come back (integers as numbers, like SQLite), and how a failure is classified:
 * the database went away, a statement failed by its own meaning, or something else broke.
 */
import pg from 'pg';
import { assert, AssertionError } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import { expiresAtMsMax } from './commands.js';

/**
 * Session settings of every connection. The time zone and date style decide how times
 * convert to and from text; standard strings decide what a backslash in a literal means
 * (the statements this store builds rely on it); the search path puts user tables in
 * `public`. Error texts follow the server's lc_messages, which replicas must share.
 */
export const sessionSettings = [
  'TimeZone=UTC',
  'DateStyle=ISO,YMD',
  'IntervalStyle=postgres',
  'extra_float_digits=1',
  'standard_conforming_strings=on',
  'search_path=public',
  'bytea_output=hex',
];

/** Type ids whose text form is returned as is, the same text every replica stores. */
const textTypeIds: ReadonlySet<number> = new Set([
  114, // json
  3802, // jsonb
  1082, // date
  1083, // time
  1114, // timestamp: node-postgres would read it in the process's own time zone
  1184, // timestamptz
  1186, // interval
  1266, // timetz
]);
const int8TypeId = 20;
const boolTypeId = 16;

/** An int8 as a number when it is safe, else as a bigint; never a string. */
function parseInt8(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
}

/**
 * The pool's own type parsers (the global ones stay untouched): int8 as a number (bigint
 * past 2^53), booleans as 1 and 0, and times and JSON as their text, so that rows compare
 * equal with what the SQLite store gives for the same data.
 */
export const typeParsers = {
  getTypeParser(typeId: number, format?: 'text' | 'binary'): (text: string) => unknown {
    if (format === 'binary') return pg.types.getTypeParser(typeId, 'binary') as never;
    if (typeId === int8TypeId) return parseInt8;
    if (typeId === boolTypeId) return (text: string) => (text === 't' ? 1 : 0);
    if (textTypeIds.has(typeId)) return (text: string) => text;
    return pg.types.getTypeParser(typeId, 'text') as (text: string) => unknown;
  },
};

/** Error codes of Node's sockets that mean the server cannot be reached. */
const socketErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres's own texts for a connection that ended or never came. */
const connectionMessages =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout|Client was closed|not queryable/i;

/**
 * Whether `error` means the database went away: a socket failure, a connection that ended,
 * SQLSTATE class 08 (connection exception), or the server shutting down or starting up
 * (57P01, 57P02, 57P03), or out of connection slots (53300).
 */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || socketErrorCodes.has(code)) return true;
    if (['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return connectionMessages.test(error.message);
}

/**
 * SQLSTATE classes a statement earns by its own text, parameters and the data it meets,
 * the same on every replica: feature not supported (0A), cardinality (21), data (22),
 * integrity (23), triggered action (27), dependent objects (2B), routines (2F, 38, 39),
 * invalid names (3D, 3F), syntax and access (42), check option (44), program limits (54),
 * PL/pgSQL (P0). Anything else (the server's resources, I/O, a cancel) is the machine's.
 */
const statementFailureClasses: ReadonlySet<string> = new Set([
  '0A',
  '21',
  '22',
  '23',
  '27',
  '2B',
  '2F',
  '38',
  '39',
  '3D',
  '3F',
  '42',
  '44',
  '54',
  'P0',
]);

/** Whether a server error is a deterministic failure of the statement that got it. */
export function isStatementFailure(error: unknown): error is pg.DatabaseError {
  if (!(error instanceof pg.DatabaseError) || typeof error.code !== 'string') return false;
  // A statement that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY)
  // fails alike everywhere.
  return statementFailureClasses.has(error.code.slice(0, 2)) || error.code === '25001';
}

/** Wraps a failure of the store (not of a command) with a stable code. */
export function storeError(error: unknown, doing: string): unknown {
  if (error instanceof TandemError || error instanceof AssertionError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = isConnectionFailure(error) ? 'TANDEM_STORE_UNAVAILABLE' : 'TANDEM_STORAGE_FAILED';
  const what = code === 'TANDEM_STORE_UNAVAILABLE' ? 'the database is unavailable' : 'failed';
  return new TandemError(code, `${doing}: ${what}: ${message}`, { cause: error });
}

/** The results of a simple query, one per statement, whatever node-postgres returned. */
export function resultList(result: pg.QueryResult | pg.QueryResult[]): pg.QueryResult[] {
  return Array.isArray(result) ? result : [result];
}

/** A byte string as a bytea literal (hex digits only, so nothing needs escaping). */
export function bytesLiteral(bytes: Uint8Array | string): string {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return `'\\x${buffer.toString('hex')}'::bytea`;
}

/**
 * A double's text as PostgreSQL's float8 input reads it back exactly: the shortest text
 * that round-trips (JavaScript's), with -0 and the infinities spelled out. Never NaN.
 */
export function float8Text(value: number): string {
  if (Object.is(value, -0)) return '-0';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return String(value);
}

/** An integer (or null) as a literal, asserted safe. */
export function integerLiteral(value: number | null): string {
  if (value === null) return 'NULL';
  if (!Number.isSafeInteger(value)) throw new AssertionError(`not a safe integer: ${value}`);
  return String(value);
}

/** A key's expiry (or null) as a literal: an integer up to `expiresAtMsMax`, safe or not. */
export function expiryLiteral(value: number | null): string {
  if (value === null) return 'NULL';
  if (!Number.isInteger(value) || value < 0 || value > expiresAtMsMax) {
    throw new AssertionError(`not an expiry in ms: ${value}`);
  }
  // Past 2^53 String() would round the digits; the bigint spells the double exactly.
  return BigInt(value).toString();
}

/**
 * The client's own bound on any query but COPY, past the server's statement timeouts: a
 * server that stops answering without closing the socket. (node-postgres's pool-wide
 * query_timeout cannot be used: it leaves a timer behind for every COPY.)
 */
export const clientQueryTimeoutMs = 5 * 60_000;

/** Runs one query (or a simple-query string) with the client's bound. */
export async function q(
  client: pg.PoolClient,
  text: string,
  values?: unknown[],
): Promise<pg.QueryResult | pg.QueryResult[]> {
  return (await client.query({
    text,
    values,
    query_timeout: clientQueryTimeoutMs,
  } as never)) as never;
}

/** The one result of a single statement. */
export async function q1(
  client: pg.PoolClient,
  text: string,
  values?: unknown[],
): Promise<pg.QueryResult> {
  const result = await q(client, text, values);
  assert(!Array.isArray(result), 'one statement gives one result');
  return result;
}

/** A user table: its name and the columns COPY moves (stored ones), with their types. */
export interface UserTable {
  readonly name: string;
  readonly columns: readonly string[];
  readonly types: readonly string[];
}

/**
 * The user tables (schema `public`) in name order, each with its stored columns (not
 * generated, not dropped) in column order: what snapshots copy and restores fill.
 */
export async function userTables(client: pg.PoolClient): Promise<UserTable[]> {
  const { rows } = await q1(
    client,
    `
    SELECT c.relname AS name,
           array_agg(a.attname::text ORDER BY a.attnum) AS columns,
           array_agg(t.typname::text ORDER BY a.attnum) AS types
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid
      JOIN pg_type t ON t.oid = a.atttypid
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     GROUP BY c.relname
     ORDER BY c.relname COLLATE "C"`,
  );
  return rows.map((row) => ({
    name: row.name as string,
    columns: row.columns as string[],
    types: row.types as string[],
  }));
}
