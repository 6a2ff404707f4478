/**
 * Runs replicated SQL commands and local read-only queries on one open database.
 *
 * A replicated command runs inside the batch transaction, in a SAVEPOINT of its own: when
 * one of its statements fails by its own meaning (a constraint, a syntax error, a missing
 * table) the command is rolled back alone, its result says why, and the batch goes on.
 * That failure is deterministic, so every replica fails it the same way and the applied
 * index still advances. A failure of the machine (disk full, I/O error) is not: it is
 * thrown, and the whole batch is rolled back to be applied again later.
 */
import Database from 'better-sqlite3';
import { assert } from '../core/assert.js';
import { TandemError } from '../core/errors.js';
import {
  exactInteger,
  type SqlCommand,
  type SqlParams,
  type SqlStatement,
  type SqlValue,
} from './commands.js';
import type { ApplyResult, SqlStatementResult } from './contract.js';
import { checkStatement } from './sql-check.js';
import { tokenize } from './sql-tokens.js';

/** The most prepared statements kept per connection (least recently used go first). */
export const preparedStatementsMax = 256;
/** The most rows one replicated statement may return (a write with RETURNING, or SELECT). */
export const sqlResultRowsMax = 10_000;
/** The most rows a local query may return. */
export const queryRowsMax = 100_000;

/** The row shape SQL gives back: column name to value. */
export type SqlRow = Record<string, unknown>;

/**
 * SQLite result codes that a statement earns by its own text, parameters and the data it
 * meets, the same on every replica. Any other code (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY,
 * SQLITE_NOMEM, SQLITE_CORRUPT ...) is this machine's trouble.
 */
const statementFailureCodes = /^SQLITE_(?:ERROR|CONSTRAINT|MISMATCH|TOOBIG|RANGE)(?:_|$)/;

/**
 * Whether `error` is a deterministic failure of the statement rather than of the machine.
 * better-sqlite3 reports bad bindings (too few parameters, a missing name) as RangeError and
 * TypeError before SQLite runs anything.
 */
export function isStatementFailure(error: unknown): error is Error {
  if (error instanceof Database.SqliteError) return statementFailureCodes.test(error.code);
  return error instanceof RangeError || error instanceof TypeError;
}

/**
 * Converts parameters to what better-sqlite3 binds: booleans become 1 and 0; a bigint binds
 * as an exact 64-bit INTEGER (a number binds as a REAL, as it always has).
 */
function bindable(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  const convert = (value: SqlValue): unknown =>
    typeof value === 'boolean' ? Number(value) : value;
  if (Array.isArray(params)) return (params as readonly SqlValue[]).map(convert);
  const named: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) named[name] = convert(value);
  return [named];
}

/** A row with its integers in `exactInteger`'s form, as the PostgreSQL store gives them. */
function exactIntegers(row: SqlRow): SqlRow {
  for (const name in row) {
    const value = row[name];
    if (typeof value === 'bigint') row[name] = exactInteger(value);
  }
  return row;
}

/** SQL on one connection: a cache of prepared statements and the savepoint around each command. */
export class SqlExecutor {
  readonly #db: Database.Database;
  readonly #prepared = new Map<string, Database.Statement<unknown[], SqlRow>>();
  readonly #savepoint: Database.Statement;
  readonly #release: Database.Statement;
  readonly #rollbackTo: Database.Statement;
  readonly #resetLastInsertRowid: Database.Statement;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#savepoint = db.prepare('SAVEPOINT tandem_command');
    this.#release = db.prepare('RELEASE tandem_command');
    this.#rollbackTo = db.prepare('ROLLBACK TO tandem_command');
    // SQLite's last insert rowid belongs to the connection: a statement that inserts
    // nothing (DDL, UPDATE, an upsert that updates) reports whatever was inserted last,
    // by anything, since the process started, which differs between replicas. Inserting
    // rowid 0 into a one-row table private to this connection resets it before each
    // statement, so that a statement's lastInsertRowid is its own insert or 0.
    db.exec('CREATE TEMP TABLE IF NOT EXISTS _tandem_rowid (x)');
    this.#resetLastInsertRowid = db.prepare(
      'INSERT OR REPLACE INTO temp._tandem_rowid (rowid) VALUES (0)',
    );
  }

  /** Applies a SQL command inside the open batch transaction: all its statements or none. */
  execute(command: SqlCommand): ApplyResult {
    assert(this.#db.inTransaction, 'a SQL command runs inside the batch transaction');
    this.#savepoint.run();
    const results: SqlStatementResult[] = [];
    for (const [i, statement] of command.statements.entries()) {
      const outcome = this.#run(statement);
      // The statement must not have ended the batch transaction: the checker refuses
      // transaction control, and this assertion catches what it might miss.
      assert(this.#db.inTransaction, `statement ${i + 1} ended the batch transaction`);
      if (typeof outcome === 'string') {
        this.#rollbackTo.run();
        this.#release.run();
        return { ok: false, error: `statement ${i + 1}: ${outcome}` };
      }
      results.push(outcome);
    }
    this.#release.run();
    return { ok: true, value: results };
  }

  /** Runs one statement: its result, or the text of its deterministic failure. */
  #run(statement: SqlStatement): SqlStatementResult | string {
    try {
      // The leader checked this statement; checking again here makes a statement that
      // slipped past some leader fail alike everywhere instead of running differently.
      checkStatement(statement.sql, statement.params);
    } catch (error) {
      if (error instanceof TandemError) return error.message;
      throw error;
    }
    try {
      const prepared = this.prepare(statement.sql);
      const params = bindable(statement.params);
      if (!prepared.reader) {
        this.#resetLastInsertRowid.run();
        const { changes, lastInsertRowid } = prepared.run(...params);
        return { changes, lastInsertRowid: exactInteger(BigInt(lastInsertRowid)) };
      }
      const rows = this.#collect(prepared, params, sqlResultRowsMax);
      return rows === null ? `the statement returned more than ${sqlResultRowsMax} rows` : { rows };
    } catch (error) {
      if (isStatementFailure(error)) return error.message;
      throw error;
    }
  }

  /** The rows of a reader statement, or null when there are more than `rowsMax`. */
  #collect(
    prepared: Database.Statement<unknown[], SqlRow>,
    params: unknown[],
    rowsMax: number,
  ): SqlRow[] | null {
    const rows: SqlRow[] = [];
    for (const row of prepared.iterate(...params)) {
      // Leaving the loop early resets the statement, so nothing stays half-run.
      if (rows.length === rowsMax) return null;
      rows.push(exactIntegers(row));
    }
    return rows;
  }

  /**
   * Runs a local read-only query. Only statements that return rows and write nothing pass
   * (SQLite calls BEGIN, ATTACH and a PRAGMA that sets something read-only too, but none of
   * them returns rows; a PRAGMA that reads is refused as well, being a connection setting).
   * Throws TANDEM_BAD_REQUEST for anything else, for a failing statement, and past
   * `queryRowsMax` rows.
   */
  query(sql: string, params?: SqlParams): SqlRow[] {
    let rows: SqlRow[] | null;
    try {
      const prepared = this.prepare(sql);
      if (!prepared.reader || !prepared.readonly || tokenize(sql)[0]?.upper === 'PRAGMA') {
        throw new TandemError(
          'TANDEM_BAD_REQUEST',
          'a query runs only read-only statements that return rows (SELECT, WITH, VALUES); send writes as a sql command through the log',
        );
      }
      rows = this.#collect(prepared, bindable(params), queryRowsMax);
    } catch (error) {
      if (!isStatementFailure(error)) throw error;
      throw new TandemError('TANDEM_BAD_REQUEST', `query failed: ${error.message}`, {
        cause: error,
      });
    }
    if (rows === null) {
      throw new TandemError(
        'TANDEM_BAD_REQUEST',
        `the query returns more than ${queryRowsMax} rows; add a LIMIT and page through them`,
      );
    }
    return rows;
  }

  /** A prepared statement for `sql`, from the cache when it is there. */
  prepare(sql: string): Database.Statement<unknown[], SqlRow> {
    let prepared = this.#prepared.get(sql);
    if (prepared !== undefined) {
      // Re-inserting moves the statement to the young end of the map's insertion order.
      this.#prepared.delete(sql);
    } else {
      prepared = this.#db.prepare<unknown[], SqlRow>(sql);
      // Integers (and lastInsertRowid) come back as bigints, exact to 64 bits, and become
      // numbers where safe (`exactInteger`); else better-sqlite3 would round them to doubles.
      prepared.safeIntegers(true);
      if (this.#prepared.size >= preparedStatementsMax) {
        this.#prepared.delete(this.#prepared.keys().next().value as string);
      }
    }
    this.#prepared.set(sql, prepared);
    return prepared;
  }
}
