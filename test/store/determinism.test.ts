import fc from 'fast-check';
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Entry } from '../../src/core/types.js';
import type { SqlStatement } from '../../src/store/commands.js';
import type { ApplyResult } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { binaryKey, binaryValue, commandArbitrary } from './arbitraries.js';
import { accessBytes, collect, dump, replay, tempDirectory, TestLog } from './helpers.js';

const key = fc.oneof(fc.constantFrom('a', 'b', 'c', 'n'), binaryKey);
const value = fc.oneof(
  fc.constantFrom('0', '7', '-3', 'x', ''),
  fc.string({ maxLength: 8 }),
  binaryValue,
);
const name = fc.constantFrom('ada', 'bob', 'cy');

/** SQL a workload might send, including statements that fail on some states. */
const statement: fc.Arbitrary<SqlStatement> = fc.oneof(
  fc.constant({
    sql: 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)',
  }),
  fc.tuple(name, fc.integer({ min: -5, max: 5 })).map(([who, n]) => ({
    sql: 'INSERT INTO t (name, n) VALUES (?, ?)',
    params: [who, n],
  })),
  fc.tuple(name, fc.integer({ min: -5, max: 5 })).map(([who, n]) => ({
    sql: 'INSERT INTO t (name, n) VALUES (:who, :n) ON CONFLICT (name) DO UPDATE SET n = n + excluded.n',
    params: { who, n },
  })),
  fc.integer({ min: -5, max: 5 }).map((n) => ({ sql: 'DELETE FROM t WHERE n > ?', params: [n] })),
  fc.constant({ sql: 'UPDATE t SET n = n * 2 RETURNING id, n' }),
  fc.constant({ sql: 'INSERT INTO missing VALUES (1)' }),
);

const command = commandArbitrary({ key, value, statement });

/** One step of the log: a command, a no-op or membership entry, or a new term. */
const step = fc.oneof(
  { weight: 8, arbitrary: command.map((c) => ({ kind: 'command' as const, command: c })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom({ kind: 'noop' as const }, { kind: 'membership' as const }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'term' as const }) },
);

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function toEntries(steps: readonly Step[]): Entry[] {
  const log = new TestLog();
  const entries: Entry[] = [];
  for (const s of steps) {
    if (s.kind === 'term') log.term++;
    else if (s.kind === 'noop') entries.push(log.noop());
    else if (s.kind === 'membership') entries.push(log.membership());
    else entries.push(log.command(s.command));
  }
  return entries;
}

/** Applies `entries` in batches of the given sizes (cycled), returning every result. */
function applyInBatches(
  store: SqliteStore,
  entries: readonly Entry[],
  sizes: readonly number[],
): ApplyResult[] {
  const results: ApplyResult[] = [];
  for (let from = 0, turn = 0; from < entries.length; turn++) {
    const size = sizes[turn % sizes.length] as number;
    results.push(...store.apply(entries.slice(from, from + size)));
    from += size;
  }
  return results;
}

test('two stores fed the same entries end identical, however the entries are batched', async (t) => {
  // Goal: apply is deterministic: the same random entry sequence, cut into different
  // batches and interrupted by a restart on one side, gives the same results and the
  // same dump (keys, versions, expiries, SQL rows, applied position) and the same users and
  // tokens on both stores.
  const directory = tempDirectory(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 5 }),
      async (steps, sizes) => {
        run++;
        const entries = toEntries(steps);
        const fileA = path.join(directory, `a${run}.db`);
        const fileB = path.join(directory, `b${run}.db`);
        const a = SqliteStore.open(fileA);
        let b = SqliteStore.open(fileB);
        try {
          const resultsA = applyInBatches(a, entries, sizes);
          const half = Math.floor(entries.length / 2);
          const resultsB = applyInBatches(b, entries.slice(0, half), [1]);
          // A restart: the store comes back from its snapshot image.
          const image = await b.snapshot();
          const data = await collect(image.chunks());
          b.close();
          b = SqliteStore.open(fileB);
          await b.restore(
            { index: image.index, term: image.term, checksum: image.checksum },
            replay(data),
          );
          resultsB.push(...applyInBatches(b, entries.slice(half), [entries.length]));
          assert.deepEqual(resultsB, resultsA);
          assert.equal(dump(b), dump(a));
          assert.equal(accessBytes(b), accessBytes(a));
          assert.equal(a.applied.index, entries.length);
        } finally {
          a.close();
          b.close();
        }
      },
    ),
    { numRuns: 40 },
  );
});
