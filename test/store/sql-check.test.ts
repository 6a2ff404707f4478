import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TandemError } from '../../src/core/errors.js';
import type { SqlParams } from '../../src/store/commands.js';
import { checkStatement, isSchemaChange } from '../../src/store/sql-check.js';

/** Statements that must pass: deterministic SQL, including look-alikes in literals and comments. */
const accepted: [string, SqlParams?][] = [
  ["SELECT 'random()'"],
  ["SELECT 'datetime(''now'')' AS text"],
  ["SELECT 'it''s now'"],
  ['SELECT 1 -- random()'],
  ["SELECT /* datetime('now') */ 1"],
  ['SELECT 1 /* unterminated comments run to the end: random()'],
  ["SELECT x'0102'"],
  ['CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hired TEXT)'],
  ['INSERT INTO employees (name, hired) VALUES (?, ?)', ['ada', '2024-01-01']],
  ['INSERT INTO t VALUES (?1, :name, @x, $y)'],
  ["SELECT datetime('2024-01-01 10:00:00', '+1 day')"],
  ["SELECT strftime('%Y', hired) FROM employees"],
  ['SELECT date(hired), time(hired), julianday(hired) FROM employees'],
  ["SELECT unixepoch('2024-01-01'), timediff('2024-02-01', '2024-01-01')"],
  ['SELECT datetime(?)', ['2024-01-01']],
  ['SELECT random, changes FROM t'],
  ['SELECT "random" FROM t'],
  ['CREATE TABLE random (x)'],
  ['INSERT INTO changes (a) VALUES (1)'],
  ['CREATE INDEX i ON changes (date)'],
  ['CREATE UNIQUE INDEX i ON random (x) WHERE x > 0'],
  ["SELECT random '('"],
  ['WITH changes(n) AS (SELECT 1) SELECT n FROM changes'],
  ['WITH r(n) AS MATERIALIZED (SELECT 1) SELECT n FROM r'],
  ['UPDATE weather SET temp = 1 WHERE temp IS NULL'],
  ['DELETE FROM t WHERE id = 1 RETURNING *'],
  ["SELECT json_extract(doc, '$.now') FROM t"],
  ['SELECT 1;'],
  ['SELECT 1; -- a trailing comment'],
  ['CREATE TRIGGER audit AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END'],
  [
    'CREATE TRIGGER grade AFTER UPDATE ON t BEGIN UPDATE t SET g = CASE WHEN new.x > 1 THEN 1 ELSE 0 END; DELETE FROM log; END;',
  ],
  ['INSERT OR ABORT INTO t VALUES (1)'],
  ["SELECT max(a), min(b), abs(c), round(d, 2), printf('%d', e) FROM t"],
  ['EXPLAIN QUERY PLAN SELECT * FROM t'],
];

/** Statements that must be refused, with a fragment of the reason each must give. */
const refused: [string, RegExp, SqlParams?][] = [
  [
    'SELECT random()',
    /random\(\) gives a different value on each replica; compute the value in the application and pass it as a parameter/,
  ],
  ['select RANDOM ( )', /random\(\)/],
  ['SELECT "random"()', /random\(\)/],
  ['SELECT hex(randomblob(16))', /randomblob\(\)/],
  ['SELECT * FROM a JOIN b ON random() > 0', /random\(\)/],
  ['CREATE INDEX i ON t (x) WHERE random() > 0', /random\(\)/],
  ["SELECT 1; ';'", /more than one statement/],
  ['CREATE TABLE t (id TEXT DEFAULT (random()))', /random\(\)/],
  ['CREATE TRIGGER r AFTER INSERT ON t BEGIN UPDATE t SET x = random(); END', /random\(\)/],
  ["SELECT datetime('now')", /'now' reads each replica's own clock/],
  ["SELECT datetime( 'NOW' )", /'now'/],
  ["INSERT INTO t VALUES (date('now', '+1 day'))", /'now'/],
  ["SELECT strftime('%s', 'now')", /'now'/],
  ['SELECT date()', /date\(\) without a time value/],
  ['SELECT time()', /time\(\) without a time value/],
  ['SELECT datetime()', /without a time value/],
  ['SELECT julianday()', /without a time value/],
  ['SELECT unixepoch()', /without a time value/],
  ["SELECT strftime('%s')", /strftime\(\) without a time value/],
  [
    "SELECT datetime(hired, 'localtime') FROM t",
    /'localtime' modifier depends on each replica's time zone/,
  ],
  ["SELECT datetime(hired, 'utc') FROM t", /'utc'/],
  ['SELECT datetime(?)', /with the parameter 'now'/, ['now']],
  ['SELECT date(:d)', /parameter/, { d: ' Now ' }],
  ['SELECT CURRENT_TIMESTAMP', /CURRENT_TIMESTAMP reads each replica's own clock/],
  ['CREATE TABLE t (at TEXT DEFAULT CURRENT_TIME)', /CURRENT_TIME/],
  ['SELECT current_date', /CURRENT_DATE/],
  ['SELECT changes()', /changes\(\)/],
  ['SELECT total_changes()', /total_changes\(\)/],
  ['SELECT last_insert_rowid()', /last_insert_rowid\(\).*RETURNING/],
  ['SELECT sqlite_version()', /sqlite_version\(\)/],
  ['SELECT sqlite_source_id()', /sqlite_source_id\(\)/],
  ['SELECT sqlite_offset(a) FROM t', /sqlite_offset\(\)/],
  ["SELECT load_extension('evil.so')", /load_extension\(\)/],
  ['SELECT * FROM _tandem_kv', /Tandem's internal tables/],
  ['UPDATE "_TANDEM_META" SET applied_index = 0', /internal tables/],
  ['INSERT INTO main._tandem_kv VALUES (1)', /internal tables/],
  ['DELETE FROM [_tandem_kv]', /internal tables/],
  ['CREATE TABLE _tandem_mine (x)', /do not name your tables _tandem_\*/],
  ["ATTACH DATABASE 'other.db' AS other", /ATTACH is not allowed/],
  ['DETACH other', /DETACH/],
  ['PRAGMA foreign_keys = OFF', /PRAGMA is not allowed/],
  ['VACUUM', /VACUUM/],
  ['BEGIN', /BEGIN is transaction control/],
  ['begin immediate', /transaction control/],
  ['COMMIT', /COMMIT/],
  ['END', /END/],
  ['ROLLBACK', /ROLLBACK/],
  ['SAVEPOINT s', /SAVEPOINT/],
  ['RELEASE s', /RELEASE/],
  ['EXPLAIN BEGIN', /BEGIN/],
  ['INSERT OR ROLLBACK INTO t VALUES (1)', /ROLLBACK .*would undo the whole batch/],
  ['CREATE TABLE t (a UNIQUE ON CONFLICT ROLLBACK)', /ROLLBACK/],
  ['CREATE TEMP TABLE x (a)', /temporary objects/],
  ['CREATE TEMPORARY VIEW v AS SELECT 1', /temporary objects/],
  ['CREATE TABLE temp.x (a)', /temporary objects/],
  ['SELECT * FROM dbstat', /dbstat/],
  ['SELECT * FROM sqlite_dbpage', /sqlite_dbpage/],
  ['SELECT 1; SELECT 2', /more than one statement/],
  ['INSERT INTO t VALUES (1); DELETE FROM t', /more than one statement/],
  ['', /empty/],
  ['  -- only a comment', /empty/],
  [';', /empty/],
  ["SELECT 'unterminated", /unterminated/],
  ['SELECT "unterminated', /unterminated/],
  ['SELECT [unterminated', /unterminated/],
];

test('deterministic SQL passes, look-alikes in literals and comments included', () => {
  // Goal: the checker skips string literals, quoted names and comments exactly, and does
  // not mistake tables and columns named like functions for calls.
  for (const [sql, params] of accepted) {
    assert.doesNotThrow(() => checkStatement(sql, params), sql);
  }
});

test('non-deterministic and store-breaking SQL is refused with a reason and advice', () => {
  // Goal: every refusal is TANDEM_BAD_REQUEST, and its message says why (and what to do).
  for (const [sql, reason, params] of refused) {
    assert.throws(
      () => checkStatement(sql, params),
      (error: unknown) =>
        error instanceof TandemError &&
        error.code === 'TANDEM_BAD_REQUEST' &&
        error.message.startsWith('SQL refused: ') &&
        reason.test(error.message),
      `${JSON.stringify(sql)} should be refused with ${reason}`,
    );
  }
});

test('schema changes are told apart by their first word, past comments and case', () => {
  // Goal: the one rule that makes DDL an admin action (HTTP) and a replayed statement
  // (PostgreSQL store) sees through comments and literals.
  for (const sql of [
    'CREATE TABLE t (a)',
    '  drop table t',
    '/* note */ -- line\n ALTER TABLE t ADD COLUMN b',
    "COMMENT ON TABLE t IS 'x'",
    'create unique index i on t (a)',
    "SELECT 'unterminated",
  ]) {
    assert.equal(isSchemaChange(sql), true, sql);
  }
  for (const sql of [
    "INSERT INTO t VALUES ('CREATE TABLE x (a)')",
    'SELECT 1 -- DROP TABLE t',
    'UPDATE creates SET a = 1',
    '"CREATE" TABLE',
    'WITH x AS (SELECT 1) DELETE FROM t',
    '',
  ]) {
    assert.equal(isSchemaChange(sql), false, sql);
  }
});
