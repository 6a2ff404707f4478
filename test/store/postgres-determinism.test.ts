import fc from 'fast-check';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Entry } from '../../src/core/types.js';
import type { SqlStatement } from '../../src/store/commands.js';
import type { ApplyResult, NodeStore } from '../../src/store/contract.js';
import { scanCountMax } from '../../src/store/kv-rules.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { binaryKey, binaryValue, commandsArbitrary } from './arbitraries.js';
import { accessBytes, tempDirectory, TestLog, type TextCommand } from './helpers.js';
import {
  comparable,
  freshDatabase,
  keyContent,
  postgresSkipReason,
  stopServer,
  storedAccess,
} from './postgres-helpers.js';

const skip = postgresSkipReason();
after(stopServer);

const key = fc.oneof(fc.constantFrom('a', 'b', 'c', 'n', 'ü'), binaryKey);
const value = fc.oneof(
  fc.constantFrom('0', '7', '-3', 'x', ''),
  fc.string({ maxLength: 8 }),
  binaryValue,
);
const name = fc.constantFrom('ada', 'bob', 'cy');
const id = fc.integer({ min: 1, max: 6 });
/** Integers a double cannot hold (and a few it can), in int8's range. */
const big = fc.oneof(
  fc.constantFrom(9007199254740993n, 2n ** 63n - 1n, -(2n ** 63n), 0, Number.MAX_SAFE_INTEGER),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);
const session = fc.record({ id: fc.constantFrom('s1', 's2'), seq: fc.integer({ min: 1, max: 6 }) });

/** SQL both dialects read alike, including statements that fail on some states. */
const statement: fc.Arbitrary<SqlStatement> = fc.oneof(
  fc.constant({
    sql: 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)',
  }),
  fc.tuple(id, name, fc.integer({ min: -5, max: 5 })).map(([i, who, n]) => ({
    sql: 'INSERT INTO t (id, name, n) VALUES (?, ?, ?)',
    params: [i, who, n],
  })),
  fc.tuple(id, name, fc.integer({ min: -5, max: 5 })).map(([i, who, n]) => ({
    sql: 'INSERT INTO t (id, name, n) VALUES (:i, :who, :n) ON CONFLICT (name) DO UPDATE SET n = t.n + excluded.n',
    params: { i, who, n },
  })),
  fc.integer({ min: -5, max: 5 }).map((n) => ({ sql: 'DELETE FROM t WHERE n > ?', params: [n] })),
  id.map((i) => ({ sql: 'UPDATE t SET n = n * 2 WHERE id = ? RETURNING id, n', params: [i] })),
  fc.constant({ sql: 'SELECT count(*) AS rows_, sum(n) AS total FROM t' }),
  fc.constant({ sql: 'INSERT INTO missing VALUES (1)' }),
  // Integers past 2^53, out to int8's ends: bound, stored, compared and returned exactly.
  fc.tuple(id, big).map(([i, v]) => ({
    sql: 'INSERT INTO b (id, v) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING id, v',
    params: [i, v],
  })),
  big.map((v) => ({ sql: 'SELECT id, v FROM b WHERE v = ? ORDER BY id', params: [v] })),
  big.map((v) => ({ sql: 'DELETE FROM b WHERE v < :v', params: { v } })),
);

const commands = commandsArbitrary(
  { key, value, statement, session },
  { minLength: 1, maxLength: 40 },
);

/** The table of 64-bit integers, there from the first entry so that most runs fill it. */
const createBig: TextCommand = {
  type: 'sql',
  statements: [{ sql: 'CREATE TABLE b (id INTEGER PRIMARY KEY, v BIGINT)' }],
};

function toEntries(commands: readonly TextCommand[]): Entry[] {
  const log = new TestLog();
  return [createBig, ...commands].map((c) => log.command(c));
}

/** Everything a store holds, through its reads. */
async function content(store: NodeStore): Promise<unknown> {
  let rows: unknown = null;
  try {
    rows = await store.query('SELECT id, name, n FROM t ORDER BY id');
  } catch {
    // The table was never created.
  }
  const big = await store.query('SELECT id, v FROM b ORDER BY id');
  return {
    applied: store.applied,
    keys: await keyContent(store),
    // SCAN's order: the stores number keys apart, but must place them alike.
    scan: (await store.scan(0, { count: scanCountMax }, -1)).keys,
    rows,
    big,
    access: accessBytes(store),
  };
}

test(
  'SQLite and PostgreSQL stores fed the same random entries end identical',
  { skip },
  async (t) => {
    // Goal: whatever the commands and however they are batched, both stores give the same
    // results (SQL failures alike, worded by each database) and the same content, users and
    // tokens included, byte for byte, which PostgreSQL also holds in its database.
    const directory = tempDirectory(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        commands,
        fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 4 }),
        async (commands, sizes) => {
          run++;
          const entries = toEntries(commands);
          const sqlite = SqliteStore.open(path.join(directory, `s${run}.db`));
          const postgres = await PostgresStore.open(await freshDatabase(), {
            clusterId: 'random',
            snapshotsDirectory: path.join(directory, `p${run}`),
          });
          try {
            const fromSqlite: ApplyResult[] = [];
            const fromPostgres: ApplyResult[] = [];
            for (let from = 0, turn = 0; from < entries.length; turn++) {
              const batch = entries.slice(from, from + (sizes[turn % sizes.length] as number));
              fromSqlite.push(...sqlite.apply(batch));
              fromPostgres.push(...(await postgres.apply(batch)));
              from += batch.length;
            }
            assert.deepEqual(fromPostgres.map(comparable), fromSqlite.map(comparable));
            assert.deepEqual(await content(postgres), await content(sqlite));
            assert.equal(await storedAccess(postgres), accessBytes(postgres));
          } finally {
            sqlite.close();
            await postgres.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  },
);
