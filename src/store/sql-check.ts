/**
 * The leader's gate for SQL that enters the replication log. SQL is replicated as
 * statements, so a statement must compute the same thing on every replica; this module
 * refuses the usual ways it would not (random(), the clock, the time zone, connection
 * history), statements that would break the store's own bookkeeping (transaction control,
 * internal tables, pragmas, attached files), and more than one statement per string.
 *
 * It judges tokens, not text: string literals, quoted identifiers and comments are skipped
 * as SQLite skips them, so `SELECT 'random()'` passes and `SELECT datetime('now')` does
 * not. It is a guard against the common mistakes, not a proof: a column that holds the
 * text 'now' passed to datetime() cannot be seen from the statement. The rule for callers
 * is simple: compute times and random values in the application and pass them as
 * parameters. Math functions (sin(), exp(), pow() ...) come from each machine's C library
 * and may differ in the last bit between platforms; replicas on one platform agree.
 *
 * The store runs the same check again when it applies a statement, so that a statement
 * that slipped past a leader fails the same way on every replica instead of diverging.
 */
import { TandemError } from '../core/errors.js';
import type { SqlParams, SqlValue } from './commands.js';
import { SqlTokenError, tokenize, type Token } from './sql-tokens.js';

/** Advice for anything that reads a value that differs between replicas. */
const passAsParameter = 'compute the value in the application and pass it as a parameter';

/** Functions refused anywhere, with why and what to do instead. */
const refusedFunctions: ReadonlyMap<string, string> = new Map([
  ['RANDOM', `random() gives a different value on each replica; ${passAsParameter}`],
  ['RANDOMBLOB', `randomblob() gives different bytes on each replica; ${passAsParameter}`],
  [
    'CHANGES',
    "changes() reports this connection's history, which differs between replicas; use the changes count in the statement's result",
  ],
  [
    'TOTAL_CHANGES',
    "total_changes() reports this connection's history, which differs between replicas and across restarts",
  ],
  [
    'LAST_INSERT_ROWID',
    "last_insert_rowid() reports this connection's history, which differs between replicas; use RETURNING rowid or the lastInsertRowid in the statement's result",
  ],
  ['SQLITE_VERSION', `sqlite_version() may differ between replicas; ${passAsParameter}`],
  ['SQLITE_SOURCE_ID', `sqlite_source_id() may differ between replicas; ${passAsParameter}`],
  ['SQLITE_COMPILEOPTION_GET', 'compile options may differ between replicas'],
  ['SQLITE_COMPILEOPTION_USED', 'compile options may differ between replicas'],
  ['SQLITE_OFFSET', "sqlite_offset() depends on each replica's file layout"],
  ['LOAD_EXTENSION', 'load_extension() is not allowed: it would load native code on every replica'],
  ['FTS3_TOKENIZER', 'fts3_tokenizer() is not allowed: it can register native code'],
]);

/** Date and time functions: deterministic unless they read the clock or the time zone. */
const timeFunctions: ReadonlySet<string> = new Set([
  'DATE',
  'TIME',
  'DATETIME',
  'JULIANDAY',
  'UNIXEPOCH',
  'STRFTIME',
  'TIMEDIFF',
]);

/** Time values and modifiers that depend on the replica's clock or time zone. */
const clockWords: ReadonlyMap<string, string> = new Map([
  ['now', `'now' reads each replica's own clock at a different moment; ${passAsParameter}`],
  [
    'localtime',
    "the 'localtime' modifier depends on each replica's time zone; convert in the application and store UTC",
  ],
  [
    'utc',
    "the 'utc' modifier depends on each replica's time zone; convert in the application and store UTC",
  ],
]);

/** Keywords refused anywhere outside literals and quoted names. */
const refusedKeywords: ReadonlyMap<string, string> = new Map([
  ['CURRENT_TIME', `CURRENT_TIME reads each replica's own clock; ${passAsParameter}`],
  ['CURRENT_DATE', `CURRENT_DATE reads each replica's own clock; ${passAsParameter}`],
  ['CURRENT_TIMESTAMP', `CURRENT_TIMESTAMP reads each replica's own clock; ${passAsParameter}`],
  [
    'ROLLBACK',
    'ROLLBACK (as a statement, a conflict clause or in RAISE) would undo the whole batch of log entries being applied, not just this statement; use ABORT or FAIL',
  ],
]);

/** Tables refused however they are spelled. */
const refusedNames: ReadonlyMap<string, string> = new Map([
  ['DBSTAT', "dbstat describes each replica's file layout, which differs between replicas"],
  [
    'SQLITE_DBPAGE',
    'sqlite_dbpage reads and writes raw pages, bypassing replication; it is not allowed',
  ],
]);

/** Statements refused by their first word. */
const refusedStatements: ReadonlyMap<string, string> = new Map([
  ...['BEGIN', 'COMMIT', 'END', 'SAVEPOINT', 'RELEASE'].map((word): [string, string] => [
    word,
    `${word} is transaction control: the statements of one command already apply atomically (all or none); put them in one command instead`,
  ]),
  ...['ATTACH', 'DETACH'].map((word): [string, string] => [
    word,
    `${word} is not allowed: each replica keeps its data in one database file; create the tables in it`,
  ]),
  [
    'PRAGMA',
    'PRAGMA is not allowed: settings must be the same on every replica, and Tandem sets them',
  ],
  [
    'VACUUM',
    'VACUUM is not allowed: it rewrites the whole file while replication waits; Tandem manages the file',
  ],
]);

/**
 * Words that introduce a name, so that `INSERT INTO changes(a)` is a table, not a call.
 * ON is one only in CREATE INDEX: elsewhere (`JOIN t ON random() > 0`) an expression follows.
 */
const nameIntroducers: ReadonlySet<string> = new Set([
  'TABLE',
  'INTO',
  'INDEX',
  'VIEW',
  'TRIGGER',
  'REFERENCES',
  'EXISTS',
  'USING',
  'UPDATE',
]);

const internalPrefix = '_TANDEM_';

/**
 * Refuses a statement that must not enter the replication log, with TANDEM_BAD_REQUEST
 * saying why and what to do instead. `params` are checked for clock words when the
 * statement calls a date or time function.
 */
export function checkStatement(sql: string, params?: SqlParams): void {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (error) {
    if (error instanceof SqlTokenError) refuse(error.message);
    throw error;
  }
  const end = statementEnd(tokens);
  if (tokens.slice(end).some((token) => !isPunct(token, ';'))) {
    refuse(
      'one SQL string holds more than one statement; send each as its own entry of `statements` (they still apply atomically together)',
    );
  }
  const statement = tokens.slice(0, end);
  if (statement.length === 0) refuse('the statement is empty');
  checkStatementKind(statement);
  const createsIndex =
    isWord(statement[0], 'CREATE') &&
    (isWord(statement[1], 'INDEX') ||
      (isWord(statement[1], 'UNIQUE') && isWord(statement[2], 'INDEX')));
  statement.forEach((token, i) => checkToken(statement, i, createsIndex, params));
}

function refuse(reason: string): never {
  throw new TandemError('TANDEM_BAD_REQUEST', `SQL refused: ${reason}`);
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token !== undefined && token.kind === 'punct' && token.text === text;
}

function isWord(token: Token | undefined, upper: string): boolean {
  return token !== undefined && token.kind === 'word' && token.upper === upper;
}

/** A bare or quoted name (a quoted name may still name a function or a table). */
function isName(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === 'word' || token.kind === 'identifier');
}

/**
 * The index of the `;` that ends the first statement, or `tokens.length`. A trigger body
 * (BEGIN ... END) holds semicolons of its own; CASE ... END nests inside it.
 */
function statementEnd(tokens: readonly Token[]): number {
  const second = tokens[1]?.upper;
  const third = tokens[2]?.upper;
  const isTrigger =
    isWord(tokens[0], 'CREATE') &&
    (second === 'TRIGGER' ||
      ((second === 'TEMP' || second === 'TEMPORARY') && third === 'TRIGGER'));
  let depth = 0;
  for (const [i, token] of tokens.entries()) {
    if (isTrigger && token.kind === 'word') {
      if (token.upper === 'BEGIN' || (token.upper === 'CASE' && depth > 0)) depth++;
      else if (token.upper === 'END' && depth > 0) depth--;
    }
    if (isPunct(token, ';') && depth === 0) return i;
  }
  return tokens.length;
}

/** Judges the statement by its first words. */
function checkStatementKind(statement: readonly Token[]): void {
  let first = 0;
  // EXPLAIN [QUERY PLAN] prefixes the statement it explains; judge that statement.
  if (isWord(statement[first], 'EXPLAIN')) first++;
  if (isWord(statement[first], 'QUERY') && isWord(statement[first + 1], 'PLAN')) first += 2;
  const head = statement[first];
  if (head === undefined) refuse('the statement is empty');
  const reason = head.kind === 'word' ? refusedStatements.get(head.upper) : undefined;
  if (reason !== undefined) refuse(reason);
  if (!isWord(head, 'CREATE')) return;
  const temporary =
    'temporary objects live in one connection: they are neither replicated nor in snapshots; create a regular table';
  const kind = statement[first + 1];
  if (isWord(kind, 'TEMP') || isWord(kind, 'TEMPORARY')) refuse(temporary);
  statement.forEach((token, i) => {
    const next = statement[i + 1];
    if (isName(token) && token.upper === 'TEMP' && isPunct(next, '.')) refuse(temporary);
  });
}

/** Judges one token in its context: names, function calls and keywords. */
function checkToken(
  statement: readonly Token[],
  i: number,
  createsIndex: boolean,
  params: SqlParams | undefined,
): void {
  const token = statement[i] as Token;
  if (!isName(token)) return;
  if (token.upper.startsWith(internalPrefix)) {
    refuse(
      `${token.text} is one of Tandem's internal tables; change keys with the key-value commands, and do not name your tables _tandem_*`,
    );
  }
  const keywordReason = token.kind === 'word' ? refusedKeywords.get(token.upper) : undefined;
  if (keywordReason !== undefined) refuse(keywordReason);
  const nameReason = refusedNames.get(token.upper);
  if (nameReason !== undefined) refuse(nameReason);
  if (!isCall(statement, i, createsIndex)) return;
  const functionReason = refusedFunctions.get(token.upper);
  if (functionReason !== undefined) refuse(functionReason);
  if (timeFunctions.has(token.upper)) checkTimeCall(statement, i, params);
}

/** Whether `statement[i]` is the name of a function call, not of a table or a CTE. */
function isCall(statement: readonly Token[], i: number, createsIndex: boolean): boolean {
  if (!isPunct(statement[i + 1], '(')) return false;
  const previous = statement[i - 1];
  if (previous !== undefined) {
    if (previous.kind === 'word' && nameIntroducers.has(previous.upper)) return false;
    if (createsIndex && isWord(previous, 'ON')) return false;
    if (isPunct(previous, '.')) return false;
  }
  // A CTE `name(columns) AS (...)` looks like a call up to its AS.
  const close = closingParenthesis(statement, i + 1);
  const after = statement[close + 1];
  const afterAs = statement[close + 2];
  return !(
    isWord(after, 'AS') &&
    (isPunct(afterAs, '(') || isWord(afterAs, 'MATERIALIZED') || isWord(afterAs, 'NOT'))
  );
}

/** The index of the `)` matching the `(` at `open`, or the last index if it is unbalanced. */
function closingParenthesis(statement: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < statement.length; i++) {
    if (isPunct(statement[i], '(')) depth++;
    else if (isPunct(statement[i], ')') && --depth === 0) return i;
  }
  return statement.length - 1;
}

/**
 * A date or time function is deterministic only with an explicit time value and without
 * the clock's or the time zone's words, either as literals or as bound parameters.
 */
function checkTimeCall(
  statement: readonly Token[],
  i: number,
  params: SqlParams | undefined,
): void {
  const name = (statement[i] as Token).text;
  const close = closingParenthesis(statement, i + 1);
  const inside = statement.slice(i + 2, close);
  // Count the top-level arguments: strftime's first one is the format, not a time value.
  let argumentCount = inside.length === 0 ? 0 : 1;
  let depth = 0;
  for (const token of inside) {
    if (token.kind !== 'punct') continue;
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (token.text === ',' && depth === 0) argumentCount++;
  }
  const timeValuesFrom = (statement[i] as Token).upper === 'STRFTIME' ? 2 : 1;
  if (argumentCount < timeValuesFrom) {
    refuse(
      `${name}() without a time value means 'now', which reads each replica's own clock; ${passAsParameter}`,
    );
  }
  for (const token of inside) {
    if (token.kind !== 'string' && token.kind !== 'identifier') continue;
    const reason = clockWords.get(token.text.trim().toLowerCase());
    if (reason !== undefined) refuse(`${name}(): ${reason}`);
  }
  if (!inside.some((token) => token.kind === 'parameter') || params === undefined) return;
  const values: readonly SqlValue[] = Array.isArray(params) ? params : Object.values(params);
  for (const value of values) {
    const reason =
      typeof value === 'string' ? clockWords.get(value.trim().toLowerCase()) : undefined;
    if (reason !== undefined) refuse(`${name}() with the parameter '${value}': ${reason}`);
  }
}
