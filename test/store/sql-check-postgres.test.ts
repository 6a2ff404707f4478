import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TandemError } from '../../src/core/errors.js';
import type { SqlParams } from '../../src/store/commands.js';
import { checkStatement } from '../../src/store/sql-check.js';
import { inlineSql, translateSql } from '../../src/store/postgres-sql.js';

/** PostgreSQL statements that must pass: deterministic, including look-alikes in literals. */
const accepted: [string, SqlParams?][] = [
  ["SELECT 'now()', 'nextval(x)' AS text"],
  ['CREATE TABLE emp (id INT PRIMARY KEY, name TEXT NOT NULL, salary INT NOT NULL)'],
  ["SELECT '2024-01-01'::date + 1"],
  ["SELECT CAST('2024-01-01 10:00' AS timestamp)"],
  ['SELECT age(?::timestamp, ?::timestamp)', ['2024-01-01', '2023-01-01']],
  ['CREATE TABLE t (a INT, b INT GENERATED ALWAYS AS (a * 2) STORED)'],
  ['INSERT INTO t (note) VALUES (?)', ['now']],
  ['CREATE INDEX t_a ON t (a)'],
  ['SELECT x::text FROM t'],
];

/** Statements that must be refused, with a fragment of the reason each must give. */
const refused: [string, RegExp, SqlParams?][] = [
  ['INSERT INTO t VALUES (now())', /now\(\) reads each replica's own clock/],
  ['SELECT clock_timestamp()', /clock_timestamp\(\)/],
  ['SELECT statement_timestamp(), 1', /statement_timestamp\(\)/],
  ['SELECT transaction_timestamp()', /transaction_timestamp\(\)/],
  ['SELECT timeofday()', /timeofday\(\)/],
  ['SELECT setseed(0.5)', /setseed\(\)/],
  ['SELECT gen_random_uuid()', /gen_random_uuid\(\)/],
  ['SELECT uuid_generate_v4()', /uuid_generate_v4\(\)/],
  ["SELECT nextval('s')", /sequence/],
  ['SELECT currval(1), lastval()', /sequence/],
  ["SELECT setval('s', 1)", /sequence/],
  ['SELECT txid_current()', /transaction ids/],
  ['SELECT pg_sleep(1)', /pg_\* functions/],
  ['SELECT * FROM pg_stat_activity', /pg_\* functions and catalogs/],
  ['CREATE TABLE t (id SERIAL PRIMARY KEY)', /SERIAL columns draw from a sequence/],
  ['CREATE TABLE t (id bigserial)', /BIGSERIAL/],
  ['CREATE TABLE t (id INT GENERATED ALWAYS AS IDENTITY)', /identity columns/],
  ['CREATE SEQUENCE s', /CREATE SEQUENCE is not allowed/],
  ['SELECT LOCALTIMESTAMP', /LOCALTIMESTAMP/],
  ['SELECT localtime', /LOCALTIME/],
  ['SELECT current_user', /CURRENT_USER/],
  ["SELECT 'now'::timestamp", /'now' converted to a date or time/],
  ["SELECT date 'today'", /'today' converted/],
  ['SELECT CAST(? AS timestamptz)', /'tomorrow' converted/, ['tomorrow']],
  ['SELECT age(?::timestamp)', /age\(\) of one time/, ['2020-01-01']],
  ['SET TimeZone = 1', /connection setting/],
  ['START TRANSACTION', /transaction or session control/],
  ['ABORT', /transaction or session control/],
  ["DO 'BEGIN PERFORM 1; END'", /DO is not allowed/],
  ['CREATE UNLOGGED TABLE t (x INT)', /unlogged/],
  ['CREATE INDEX CONCURRENTLY i ON t (x)', /CONCURRENTLY/],
  [
    'CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql',
    /FUNCTION is not allowed/,
  ],
  ['DROP SCHEMA public CASCADE', /SCHEMA is not allowed/],
  ['SELECT * FROM tandem.kv', /tandem schema/],
  ['SELECT * INTO copy FROM t', /SELECT \.\.\. INTO creates a table/],
  ['SELECT version()', /version\(\)/],
  ["COPY t FROM '/etc/passwd'", /COPY is not allowed/],
  ['GRANT ALL ON t TO PUBLIC', /GRANT changes roles/],
  ["SELECT lo_import('/etc/passwd')", /large objects/],
];

test('PostgreSQL SQL that is deterministic passes the check', () => {
  // Goal: ordinary tables, casts, generated columns and look-alikes in literals pass.
  for (const [sql, params] of accepted) {
    assert.doesNotThrow(() => checkStatement(sql, params), sql);
  }
});

test("PostgreSQL's non-deterministic and node-local SQL is refused with a reason", () => {
  // Goal: each rule refuses with TANDEM_BAD_REQUEST and says why.
  for (const [sql, reason, params] of refused) {
    assert.throws(
      () => checkStatement(sql, params),
      (error: unknown) => {
        assert.ok(error instanceof TandemError, sql);
        assert.equal(error.code, 'TANDEM_BAD_REQUEST', sql);
        assert.match(error.message, reason, sql);
        return true;
      },
    );
  }
});

test('parameters become $n or literals outside strings, identifiers, comments and casts', () => {
  // Goal: SQLite-style parameters map to PostgreSQL's, and nothing inside quotes moves.
  assert.deepEqual(translateSql('SELECT ?, ?3, ?', [1, 2, 3, 4]), {
    text: 'SELECT $1, $2, $3',
    values: ['1', '3', '4'],
  });
  assert.deepEqual(translateSql('SELECT ?, \'?\', "?", x::int -- ?\n, ?', ['a', true]), {
    text: 'SELECT $1, \'?\', "?", x::int -- ?\n, $2',
    values: ['a', '1'],
  });
  assert.deepEqual(translateSql('SELECT :name, :name, $$ :no $$, $t$ ? $t$', { name: null }), {
    text: 'SELECT $1, $1, $$ :no $$, $t$ ? $t$',
    values: [null],
  });
  assert.equal(
    inlineSql("SELECT ?, E'\\'?', /* /* ? */ ? */ ?", ["it's", 2.5]),
    "SELECT 'it''s', E'\\'?', /* /* ? */ ? */ '2.5'\n",
  );
  assert.throws(() => inlineSql('SELECT ?', []), /too few parameter values/);
  assert.throws(() => inlineSql('SELECT :x', { y: 1 }), /missing named parameter "x"/);
  assert.throws(() => inlineSql('SELECT 1; SELECT 2'), /more than one statement/);
  assert.throws(() => inlineSql('SELECT ?', ['a\0b']), /U\+0000/);
  assert.equal(inlineSql('SELECT 1; -- done'), 'SELECT 1\n');
});
