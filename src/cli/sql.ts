/**
 * `tandem sql "STATEMENT" [PARAM...]`: one SQL statement through the TypeScript client. A
 * statement that reads (SELECT, VALUES, WITH ... SELECT, EXPLAIN, a PRAGMA without `=`)
 * is a query, answered by a node at the requested level; any other is applied through the
 * log. The shell (shell.ts) runs its SQL lines through `runSql` too.
 */
import type { TandemClient } from '../client/client.js';
import { requestJson } from '../client/json.js';
import type { SqlValue } from '../client/types.js';
import { tokenize, type Token } from '../store/sql-tokens.js';
import {
  asFailure,
  connectionHelp,
  connectionOptions,
  consistencies,
  openClient,
  parseConsistency,
} from './connection.js';
import { parseCommandArgs, UsageError } from './options.js';
import { formatTable } from './table.js';

/** The most parameters one statement takes on the command line. */
export const sqlParamsMax = 100;

/** Help of `tandem sql`. */
export const sqlHelp = `usage: tandem sql "STATEMENT" [PARAM...] [--json]

Runs one SQL statement. One that reads (SELECT, VALUES, WITH ... SELECT, EXPLAIN, PRAGMA
without =) is a query: it prints the rows as a table and their count. Any other is applied
through the log: it prints the rows affected and the log index of the write.

Each PARAM binds to a ? of the statement, in order: a JSON number, true, false or null
binds as that value (42, -1.5, null), a JSON string as its text ("42" binds the text 42),
anything else as the text given. Parameters that start with - (a negative number) follow
--: tandem sql "SELECT ? + 1" -- -5.

  --json              print the answer as JSON: {"rows":[...]} for a query, else
                      {"index":N,"changes":N,"lastInsertRowid":N}
  --consistency L     queries: ${consistencies.join(', ')} (default linearizable)
${connectionHelp}`;

const sqlOptions = {
  ...connectionOptions,
  json: { type: 'boolean' },
  consistency: { type: 'string' },
} as const;

/** Runs `tandem sql ARGV`. */
export async function runSqlCommand(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, sqlOptions, 1 + sqlParamsMax);
  if (args.values.help === true) return void process.stdout.write(sqlHelp);
  const [statement, ...texts] = args.positionals;
  if (statement === undefined || statement.trim() === '') {
    throw new UsageError('missing the STATEMENT');
  }
  const params = texts.map(parseParam);
  const client = openClient(args, process.env, parseConsistency(args));
  try {
    console.log(await runSql(client, statement, params, args.values.json === true));
  } catch (error) {
    throw asFailure(error);
  } finally {
    client.close();
  }
}

/**
 * Runs one statement as a query or a write (see `isReadStatement`) and returns what to
 * print: a table and the row count, or the rows changed and the index; JSON with `json`.
 */
export async function runSql(
  client: TandemClient,
  statement: string,
  params: readonly SqlValue[],
  json: boolean,
): Promise<string> {
  const bound = params.length === 0 ? undefined : params;
  if (isReadStatement(statement)) {
    const rows = await client.sql.query(statement, bound);
    return json ? toJson({ rows }) : formatRows(rows);
  }
  const written = await client.sql.execute(statement, bound);
  const result = written.results[0];
  const changes = result !== undefined && 'changes' in result ? result.changes : 0;
  const lastInsertRowid =
    result !== undefined && 'lastInsertRowid' in result ? result.lastInsertRowid : null;
  if (json) return toJson({ index: written.index, changes, lastInsertRowid });
  return `${changes} ${changes === 1 ? 'row' : 'rows'} affected (index ${written.index})`;
}

/**
 * Whether a statement only reads, judged by its words as SQLite's tokenizer sees them
 * (comments and string literals skipped): its first word, and for WITH the first of
 * SELECT, VALUES, INSERT, UPDATE, DELETE or REPLACE outside the parentheses of its common
 * table expressions. Text that does not tokenize counts as a write: the node then says
 * what is wrong with it.
 */
export function isReadStatement(statement: string): boolean {
  let tokens: Token[];
  try {
    tokens = tokenize(statement);
  } catch {
    return false;
  }
  const first = tokens[0];
  if (first === undefined || first.kind !== 'word') return false;
  switch (first.upper) {
    case 'SELECT':
    case 'VALUES':
    case 'EXPLAIN':
      return true;
    case 'PRAGMA':
      return !tokens.some((token) => token.kind === 'punct' && token.text === '=');
    case 'WITH':
      return mainVerbOfWith(tokens) === 'SELECT' || mainVerbOfWith(tokens) === 'VALUES';
    default:
      return false;
  }
}

const statementVerbs = new Set(['SELECT', 'VALUES', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE']);

/** The verb of a WITH statement: the first one at parenthesis depth 0. */
function mainVerbOfWith(tokens: readonly Token[]): string | null {
  let depth = 0;
  for (const token of tokens) {
    if (token.kind === 'punct' && token.text === '(') depth += 1;
    else if (token.kind === 'punct' && token.text === ')') depth -= 1;
    else if (depth === 0 && token.kind === 'word' && statementVerbs.has(token.upper)) {
      return token.upper;
    }
  }
  return null;
}

/** A parameter as typed: a JSON scalar binds as its value, anything else as text. */
export function parseParam(text: string): SqlValue {
  // JSON forbids leading zeros, so 007 stays the text 007; an integer past 2^53 stays exact.
  if (/^-?(0|[1-9][0-9]*)$/.test(text)) {
    const integer = BigInt(text);
    return Number.isSafeInteger(Number(integer)) ? Number(integer) : integer;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || ['number', 'boolean', 'string'].includes(typeof value)) {
      return value as SqlValue;
    }
  } catch {
    // Not JSON: the text itself.
  }
  return text;
}

/** Rows as a table (columns in the order of the first row's keys) and their count. */
export function formatRows(rows: readonly Record<string, unknown>[]): string {
  const count = `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`;
  const first = rows[0];
  if (first === undefined) return count;
  const columns = Object.keys(first);
  const body = rows.map((row) => columns.map((column) => cellText(row[column])));
  return `${formatTable([columns, ...body])}\n${count}`;
}

/** A value as a table shows it: NULL for null, text as it is, anything else as JSON. */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  return toJson(value);
}

/** JSON with bigints written as their exact digits. */
export function toJson(value: unknown): string {
  return requestJson(value);
}
