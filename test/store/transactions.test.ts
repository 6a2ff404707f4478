// A transaction (`multi`) entry on both stores: it applies all of its steps or, when a
// watched key changed, none; the same entries give the same results and the same state on
// SQLite and on PostgreSQL; a read step sees the writes queued before it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { ApplyResult, NodeStore } from '../../src/store/contract.js';
import type { TransactionWrite } from '../../src/store/commands.js';
import { WrongTypeError } from '../../src/store/kv-rules.js';
import { commandArbitrary } from './arbitraries.js';
import { TestLog, type TextCommand, type Textual } from './helpers.js';
import { keyContent, postgresSkipReason, stopServer, Twins } from './postgres-helpers.js';

const skip = postgresSkipReason();
after(stopServer);

const key = fc.constantFrom('a', 'b', 'c');
const value = fc.constantFrom('0', '7', '-3', 'x', '');
const parts = { key, value, statement: fc.constant({ sql: 'SELECT 1' }) };

/** The writes a transaction may hold, drawn from every command the stores know. */
const write = commandArbitrary(parts).filter(
  (command) => !['multi', 'expire-sweep', 'publish', 'sql', 'acl'].includes(command.type),
) as fc.Arbitrary<Textual<TransactionWrite>>;
const read = fc
  .array(key, { minLength: 1, maxLength: 3 })
  .map((keys) => ({ type: 'read' as const, keys }));
/** How a watch names what its client saw: the key as it is now, as it was before, or absent. */
const watchedAs = fc.constantFrom('now', 'stale', 'absent');

/** One run: plain commands and transactions, each transaction with its watched keys. */
const run = fc.array(
  fc.oneof(
    write.map((command) => ({ kind: 'plain' as const, command })),
    fc.record({
      kind: fc.constant('transaction' as const),
      steps: fc.array(fc.oneof(write, read), { maxLength: 6 }),
      watched: fc.array(fc.tuple(key, watchedAs), { maxLength: 2 }),
      at: fc.integer({ min: 0, max: 100 }),
    }),
  ),
  { minLength: 1, maxLength: 12 },
);

/** What a watch says it saw of `name` in `store`, given how the run names it. */
async function seen(store: NodeStore, name: string, how: string, at: number) {
  if (how === 'absent') return null;
  // A key of another type than string: WATCH sees a version no key has (see RESP's WATCH).
  const entry = await Promise.resolve()
    .then(() => store.get(Buffer.from(name), at))
    .catch((error: unknown) => {
      if (!(error instanceof WrongTypeError)) throw error;
      return 'another type' as const;
    });
  if (entry === 'another type') return { index: 0, term: 0, expiresAt: null };
  if (entry === null) return how === 'stale' ? { index: 0, term: 1, expiresAt: null } : null;
  const index = how === 'stale' ? entry.version.index - 1 : entry.version.index;
  return { index, term: entry.version.term, expiresAt: entry.expiresAt };
}

/** The results of a transaction's steps, or null when it was aborted. */
function stepsOf(result: ApplyResult): readonly ApplyResult[] | null {
  assert.ok(
    result !== null && result.ok,
    `a transaction fails only by its steps: ${String(result)}`,
  );
  return result.value as ApplyResult[] | null;
}

/** The items of one run. */
type RunItems = typeof run extends fc.Arbitrary<infer T> ? T : never;

/** Applies one run's plain commands and transactions to `twins`, checking each. */
async function runItems(twins: Twins, log: TestLog, items: RunItems): Promise<void> {
  for (const item of items) {
    if (item.kind === 'plain') {
      await twins.apply([log.command(item.command as TextCommand)]);
      continue;
    }
    const watched = [];
    for (const [name, how] of item.watched) {
      watched.push({ key: name, seen: await seen(twins.sqlite, name, how, item.at) });
    }
    const command = { type: 'multi', steps: item.steps, watched, at: item.at };
    const before = await keyContent(twins.sqlite);
    const [result] = await twins.apply([log.command(command as TextCommand)]);
    const steps = stepsOf(result as ApplyResult);
    if (steps === null) assert.deepEqual(await keyContent(twins.sqlite), before);
    else assert.equal(steps.length, item.steps.length);
    await twins.read(keyContent);
  }
}

describe('transactions on SQLite and PostgreSQL', { skip }, () => {
  test('a transaction applies all its steps or none, alike on both stores', async (t) => {
    // Goal: the same entries, plain commands and transactions with watched keys that
    // changed or not, give the same results and keys on SQLite and PostgreSQL, and an
    // aborted transaction (a watched key changed) leaves every key as it was.
    await fc.assert(
      fc.asyncProperty(run, async (items) => {
        const twins = await Twins.open(t);
        const log = new TestLog();
        // Each run's stores close when it ends: forty runs' pools would exhaust PostgreSQL.
        try {
          await runItems(twins, log, items);
        } finally {
          await twins.postgres.close();
          twins.sqlite.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  test('a watch decides by version and expiry; reads see the writes before them', async (t) => {
    // Goal: the cases by hand: an unchanged key lets the transaction run, a rewritten or
    // expired one aborts it; a failing step gives its error while the others apply.
    const twins = await Twins.open(t);
    const log = new TestLog();
    await twins.apply([log.command({ type: 'set', key: 'a', value: '1', at: 0 })]);
    await twins.apply([log.command({ type: 'set', key: 'e', value: 'x', at: 0, expiresAt: 50 })]);
    const a = { index: 1, term: 1, expiresAt: null };
    const e = { index: 2, term: 1, expiresAt: 50 };
    const transaction = (watched: unknown[], at: number): TextCommand =>
      ({
        type: 'multi',
        at,
        watched,
        steps: [
          { type: 'incrby', key: 'a', by: 1, at },
          { type: 'incrby', key: 'e', by: 1, at },
          { type: 'read', keys: ['a', 'missing'] },
        ],
      }) as TextCommand;
    // The expiring key expired (at 60): the watch sees it changed, and nothing applies.
    const [aborted] = await twins.apply([log.command(transaction([{ key: 'e', seen: e }], 60))]);
    assert.equal(stepsOf(aborted as ApplyResult), null);
    assert.equal((await twins.read((s) => s.get(Buffer.from('a'), 60)))?.value.toString(), '1');
    const [ran] = await twins.apply([log.command(transaction([{ key: 'a', seen: a }], 10))]);
    const steps = stepsOf(ran as ApplyResult) as ApplyResult[];
    assert.deepEqual(steps[0], { ok: true, value: 2 });
    assert.deepEqual(steps[1], { ok: false, error: 'ERR value is not an integer or out of range' });
    const [seenA, missing] = (steps[2] as { value: unknown[] }).value as [
      { value: Buffer; version: { index: number } },
      null,
    ];
    assert.equal(seenA.value.toString(), '2');
    assert.equal(seenA.version.index, 4);
    assert.equal(missing, null);
    // `a` was rewritten by the transaction at index 4: a watch of index 1 now aborts.
    const [stale] = await twins.apply([log.command(transaction([{ key: 'a', seen: a }], 20))]);
    assert.equal(stepsOf(stale as ApplyResult), null);
  });
});
