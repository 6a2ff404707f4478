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
 *
 * A cluster may mix SQLite and PostgreSQL replicas, so the rules cover both dialects: the
 * same statement is judged the same way whichever store the leader keeps. PostgreSQL adds
 * its own clock functions and 'now'-like input strings, sequences (SERIAL, IDENTITY,
 * nextval(): a sequence is neither transactional nor in a snapshot), session settings, and
 * everything that reaches outside the database (server files, other databases, roles).
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
  ...postgresRefusedFunctions(),
]);

/** PostgreSQL's functions that read the clock, draw random values or use sequences. */
function postgresRefusedFunctions(): [string, string][] {
  const clock = (name: string): [string, string] => [
    name.toUpperCase(),
    `${name}() reads each replica's own clock at a different moment; ${passAsParameter}`,
  ];
  const randomly = (name: string): [string, string] => [
    name.toUpperCase(),
    `${name}() gives a different value on each replica; ${passAsParameter}`,
  ];
  const sequence = (name: string): [string, string] => [
    name.toUpperCase(),
    `${name}() uses a sequence; sequences are not transactional and are not in snapshots, so replicas would disagree; compute keys in the application (or from the data, e.g. max(id) + 1)`,
  ];
  const local = (name: string): [string, string] => [
    name.toUpperCase(),
    `${name}() reports this replica's own server, connection or settings, which differ between replicas; ${passAsParameter}`,
  ];
  return [
    ...['now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timeofday'].map(
      clock,
    ),
    ...['setseed', 'random_normal', 'gen_random_uuid', 'gen_random_bytes', 'gen_salt'].map(
      randomly,
    ),
    ...['uuid_generate_v1', 'uuid_generate_v1mc', 'uuid_generate_v4'].map(randomly),
    ...['nextval', 'currval', 'lastval', 'setval'].map(sequence),
    ...['version', 'current_database', 'current_setting', 'set_config', 'current_query'].map(local),
    ...['inet_client_addr', 'inet_client_port', 'inet_server_addr', 'inet_server_port'].map(local),
  ];
}

/**
 * Prefixes of PostgreSQL function and relation names refused anywhere: `pg_*` (server
 * state, files, locks, statistics, sleeping), `txid_*` (transaction ids differ between
 * replicas), large objects and links to other databases.
 */
const refusedPrefixes: readonly (readonly [string, string])[] = [
  [
    'PG_',
    "PostgreSQL's pg_* functions and catalogs describe or change this replica's own server, which differs between replicas",
  ],
  ['TXID_', 'transaction ids differ between replicas; use the log position Tandem reports'],
  [
    'LO_',
    'large objects live outside the tables Tandem replicates and snapshots; store bytes in a column',
  ],
  ['DBLINK', 'dblink reaches another database, which the log does not replicate'],
];

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
  ['LOCALTIME', `LOCALTIME reads each replica's own clock and time zone; ${passAsParameter}`],
  [
    'LOCALTIMESTAMP',
    `LOCALTIMESTAMP reads each replica's own clock and time zone; ${passAsParameter}`,
  ],
  ...['CURRENT_USER', 'SESSION_USER', 'CURRENT_ROLE', 'CURRENT_CATALOG'].map(
    (word): [string, string] => [
      word,
      `${word} names this replica's own connection or database, which may differ between replicas; ${passAsParameter}`,
    ],
  ),
  ...['SERIAL', 'BIGSERIAL', 'SMALLSERIAL', 'SERIAL2', 'SERIAL4', 'SERIAL8'].map(
    (word): [string, string] => [
      word,
      `${word} columns draw from a sequence, which is not transactional and not in snapshots, so replicas would disagree; declare an INTEGER key and give its value in the statement`,
    ],
  ),
  [
    'IDENTITY',
    'identity columns (GENERATED ... AS IDENTITY) draw from a sequence, which is not transactional and not in snapshots, so replicas would disagree; declare an INTEGER key and give its value in the statement',
  ],
  [
    'CONCURRENTLY',
    'CONCURRENTLY cannot run inside the transaction that applies a batch of log entries; build the index without it',
  ],
  [
    'UNLOGGED',
    'unlogged tables are emptied by a crash of their replica, so replicas would disagree; create a regular table',
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
  ...['START', 'ABORT', 'PREPARE', 'DEALLOCATE'].map((word): [string, string] => [
    word,
    `${word} is transaction or session control: the statements of one command already apply atomically (all or none); put them in one command instead`,
  ]),
  ...['SET', 'RESET', 'SHOW', 'DISCARD'].map((word): [string, string] => [
    word,
    `${word} reads or changes a connection setting: settings must be the same on every replica, and Tandem sets them`,
  ]),
  ...['DECLARE', 'FETCH', 'MOVE', 'CLOSE'].map((word): [string, string] => [
    word,
    `${word} works on a cursor, which lives in one connection; send a query instead`,
  ]),
  ...['LISTEN', 'UNLISTEN', 'NOTIFY'].map((word): [string, string] => [
    word,
    `${word} talks to this replica's own connections; it has no replicated meaning`,
  ]),
  ...['DO', 'CALL', 'LOAD', 'COPY', 'LOCK', 'CHECKPOINT', 'CLUSTER', 'REINDEX'].map(
    (word): [string, string] => [
      word,
      `${word} is not allowed in replicated SQL: it runs code or reaches files, locks or storage that differ between replicas`,
    ],
  ),
  ...['GRANT', 'REVOKE', 'SECURITY', 'IMPORT'].map((word): [string, string] => [
    word,
    `${word} changes roles or foreign servers, which belong to each replica's own server, not to the replicated data`,
  ]),
]);

/**
 * Objects that CREATE, ALTER and DROP may not name: they are global to a replica's server,
 * hold code the checker cannot see into, or (schemas) would reach Tandem's own tables.
 */
const refusedObjects: ReadonlySet<string> = new Set([
  'SEQUENCE',
  'ROLE',
  'USER',
  'GROUP',
  'DATABASE',
  'TABLESPACE',
  'SCHEMA',
  'EXTENSION',
  'FUNCTION',
  'PROCEDURE',
  'AGGREGATE',
  'LANGUAGE',
  'SUBSCRIPTION',
  'PUBLICATION',
  'EVENT',
  'SERVER',
  'FOREIGN',
  'SYSTEM',
  'RULE',
  'OPERATOR',
  'CAST',
  'CONVERSION',
  'COLLATION',
]);

/** PostgreSQL input strings that mean a moment relative to the clock. */
const clockInputs: ReadonlySet<string> = new Set(['now', 'today', 'tomorrow', 'yesterday']);

/** Type names whose input reads 'now', 'today' ... from the clock. */
const timeTypes: ReadonlySet<string> = new Set([
  'DATE',
  'TIME',
  'TIMETZ',
  'TIMESTAMP',
  'TIMESTAMPTZ',
  'ABSTIME',
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
  checkClockInput(statement, params);
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
  checkObjectKind(statement, first);
  if (isWord(head, 'SELECT') && statement.some((token) => isWord(token, 'INTO'))) {
    refuse('SELECT ... INTO creates a table; use CREATE TABLE ... AS SELECT');
  }
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
  if (token.upper === 'TANDEM' && isPunct(statement[i + 1], '.')) {
    refuse(
      "the tandem schema holds Tandem's internal tables; change keys with the key-value commands",
    );
  }
  const prefixed = refusedPrefixes.find(([prefix]) => token.upper.startsWith(prefix));
  if (prefixed !== undefined) refuse(`${token.text}: ${prefixed[1]}`);
  if (!isCall(statement, i, createsIndex)) return;
  const functionReason = refusedFunctions.get(token.upper);
  if (functionReason !== undefined) refuse(functionReason);
  if (token.upper === 'AGE' && argumentCount(statement, i) === 1) {
    refuse(`age() of one time measures from today on each replica's own clock; ${passAsParameter}`);
  }
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
  const inside = statement.slice(i + 2, closingParenthesis(statement, i + 1));
  // strftime's first argument is the format, not a time value.
  const timeValuesFrom = (statement[i] as Token).upper === 'STRFTIME' ? 2 : 1;
  if (argumentCount(statement, i) < timeValuesFrom) {
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

/** The number of top-level arguments of the call whose name is `statement[i]`. */
function argumentCount(statement: readonly Token[], i: number): number {
  const inside = statement.slice(i + 2, closingParenthesis(statement, i + 1));
  let count = inside.length === 0 ? 0 : 1;
  let depth = 0;
  for (const token of inside) {
    if (token.kind !== 'punct') continue;
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    else if (token.text === ',' && depth === 0) count++;
  }
  return count;
}

/** Refuses CREATE, ALTER and DROP of objects outside the replicated tables (see refusedObjects). */
function checkObjectKind(statement: readonly Token[], first: number): void {
  const head = statement[first];
  if (!isWord(head, 'CREATE') && !isWord(head, 'ALTER') && !isWord(head, 'DROP')) return;
  let kind = first + 1;
  // CREATE OR REPLACE FUNCTION, CREATE TRUSTED LANGUAGE: judge the object after the modifiers.
  while (['OR', 'REPLACE', 'TRUSTED', 'PROCEDURAL'].some((word) => isWord(statement[kind], word))) {
    kind++;
  }
  const object = statement[kind];
  if (object === undefined || object.kind !== 'word' || !refusedObjects.has(object.upper)) return;
  refuse(
    `${head.upper} ${object.upper} is not allowed in replicated SQL: it changes the server rather than the replicated tables, or holds code the checker cannot see into; create tables, indexes and views in the replicated database`,
  );
}

/** Whether the statement casts (`::`, CAST) or names a date or time type. */
function mentionsTimeType(statement: readonly Token[]): boolean {
  return statement.some(
    (token, i) =>
      (token.kind === 'word' && (timeTypes.has(token.upper) || token.upper === 'CAST')) ||
      (token.kind === 'parameter' && token.text === ':' && statement[i + 1]?.text[0] === ':'),
  );
}

/**
 * PostgreSQL reads the clock when it converts 'now', 'today', 'tomorrow' or 'yesterday'
 * to a date or time; refuses those strings, as literals or parameters, in a statement that
 * converts to one.
 */
function checkClockInput(statement: readonly Token[], params: SqlParams | undefined): void {
  if (!mentionsTimeType(statement)) return;
  const isClockInput = (value: unknown): boolean =>
    typeof value === 'string' && clockInputs.has(value.trim().toLowerCase());
  const literal = statement.find((token) => token.kind === 'string' && isClockInput(token.text));
  const values: readonly SqlValue[] =
    params === undefined ? [] : Array.isArray(params) ? params : Object.values(params);
  const parameter = values.find(isClockInput);
  const word = literal?.text ?? parameter;
  if (word === undefined) return;
  refuse(
    `'${String(word)}' converted to a date or time reads each replica's own clock; ${passAsParameter}`,
  );
}

/** The first words of statements that change the schema. */
const schemaChangeWords: ReadonlySet<string> = new Set(['CREATE', 'ALTER', 'DROP', 'COMMENT']);

/**
 * Whether a statement changes the schema (CREATE, ALTER, DROP, COMMENT, after any leading
 * comments): a PostgreSQL store records these to rebuild its tables, and the API layers
 * grant them to the `admin` role only. Judged by tokens, as `checkStatement` judges; a
 * statement that does not tokenize counts as a schema change, so that nothing unreadable
 * passes as a data change (`checkStatement` refuses it anyway).
 */
export function isSchemaChange(sql: string): boolean {
  let first: Token | undefined;
  try {
    first = tokenize(sql)[0];
  } catch (error) {
    if (error instanceof SqlTokenError) return true;
    throw error;
  }
  return first !== undefined && first.kind === 'word' && schemaChangeWords.has(first.upper);
}
