import fc from 'fast-check';
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Entry } from '../../src/core/types.js';
import type { Command, ExpireCondition, SqlStatement } from '../../src/store/commands.js';
import type { ApplyResult, NodeStore } from '../../src/store/contract.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { tempDirectory, TestLog } from './helpers.js';
import {
  comparable,
  freshDatabase,
  keyContent,
  postgresSkipReason,
  stopServer,
} from './postgres-helpers.js';

const skip = postgresSkipReason();
after(stopServer);

const key = fc.constantFrom('a', 'b', 'c', 'n', 'ü');
const time = fc.integer({ min: 0, max: 100 });
const value = fc.oneof(fc.constantFrom('0', '7', '-3', 'x', ''), fc.string({ maxLength: 8 }));
const name = fc.constantFrom('ada', 'bob', 'cy');
const expireCondition = fc.constantFrom<ExpireCondition>('nx', 'xx', 'gt', 'lt', 'xx-lt');
const id = fc.integer({ min: 1, max: 6 });
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
);

const command: fc.Arbitrary<Command> = fc.oneof(
  fc
    .record(
      {
        type: fc.constant('set' as const),
        key,
        value,
        at: time,
        expiresAt: fc.option(fc.integer({ min: 0, max: 120 })),
        condition: fc.constantFrom('nx' as const, 'xx' as const),
        ifVersion: fc.record({ index: fc.nat({ max: 30 }), term: fc.constant(1) }),
        returnOld: fc.boolean(),
        keepTtl: fc.constant(true as const),
        session,
      },
      { requiredKeys: ['type', 'key', 'value', 'at'] },
    )
    // KEEPTTL and an expiry exclude each other: such a command is malformed.
    .filter((set) => set.keepTtl === undefined || set.expiresAt === undefined),
  fc.record({
    type: fc.constant('mset' as const),
    pairs: fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc.record({
    type: fc.constant('del' as const),
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc.record(
    {
      type: fc.constant('incrby' as const),
      key,
      by: fc.integer({ min: -10, max: 10 }),
      at: time,
      session,
    },
    { requiredKeys: ['type', 'key', 'by', 'at'] },
  ),
  fc.record({ type: fc.constant('append' as const), key, value, at: time }),
  fc
    .record(
      {
        type: fc.constant('expire' as const),
        key,
        expiresAt: fc.option(fc.integer({ min: 0, max: 120 })),
        at: time,
        condition: expireCondition,
      },
      { requiredKeys: ['type', 'key', 'expiresAt', 'at'] },
    )
    // PERSIST takes no condition.
    .filter((expire) => expire.expiresAt !== null || expire.condition === undefined),
  fc.record({ type: fc.constant('flush' as const), at: time }),
  fc.record({ type: fc.constant('expire-sweep' as const), at: time }),
  fc.record(
    {
      type: fc.constant('sql' as const),
      statements: fc.array(statement, { minLength: 1, maxLength: 3 }),
      at: time,
      session,
    },
    { requiredKeys: ['type', 'statements', 'at'] },
  ),
);

function toEntries(commands: readonly Command[]): Entry[] {
  const log = new TestLog();
  return commands.map((c) => log.command(c));
}

/** Everything a store holds, through its reads. */
async function content(store: NodeStore): Promise<unknown> {
  let rows: unknown = null;
  try {
    rows = await store.query('SELECT id, name, n FROM t ORDER BY id');
  } catch {
    // The table was never created.
  }
  return { applied: store.applied, keys: await keyContent(store), rows };
}

test(
  'SQLite and PostgreSQL stores fed the same random entries end identical',
  { skip },
  async (t) => {
    // Goal: whatever the commands and however they are batched, both stores give the same
    // results (SQL failures alike, worded by each database) and the same content.
    const directory = tempDirectory(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { minLength: 1, maxLength: 40 }),
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
