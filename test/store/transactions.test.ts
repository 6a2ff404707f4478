// A transaction (`multi`) entry on both stores: it applies all of its steps or, when a
// watched key changed, none; the same entries give the same results and the same state on
// SQLite and on PostgreSQL; a read step's view answers every read of every type as the
// store answers it after the writes queued before it, and keeps that answer.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../src/core/types.js';
import type { ApplyResult, KeyReader, NodeStore } from '../../src/store/contract.js';
import type { TransactionWrite } from '../../src/store/commands.js';
import { wrongType } from '../../src/store/index.js';
import { commandArbitrary } from './arbitraries.js';
import { TestLog, type TextCommand, type Textual } from './helpers.js';
import {
  comparable,
  keyContent,
  postgresSkipReason,
  readerContent,
  stopServer,
  Twins,
} from './postgres-helpers.js';

const skip = postgresSkipReason();
after(stopServer);

const key = fc.constantFrom('a', 'b', 'c');
const value = fc.constantFrom('0', '7', '-3', 'x', '');
const parts = { key, value, statement: fc.constant({ sql: 'SELECT 1' }) };

const score = fc.constantFrom('1', '-2', '0', '2.5', '-inf');
const member = fc.constantFrom('m', 'n', 'o');
/** Sorted set writes (the shared arbitrary draws none). */
const zsetWrite = fc.oneof(
  fc.record({
    type: fc.constant('zadd' as const),
    key,
    pairs: fc.array(fc.tuple(score, member), { minLength: 1, maxLength: 3 }),
    at: fc.constant(0),
  }),
  fc.record({
    type: fc.constant('zrem' as const),
    key,
    members: fc.array(member, { minLength: 1, maxLength: 2 }),
    at: fc.constant(0),
  }),
  fc.record({
    type: fc.constant('zpop' as const),
    keys: fc.array(key, { minLength: 1, maxLength: 2 }),
    side: fc.constantFrom('min' as const, 'max' as const),
    count: fc.integer({ min: 1, max: 2 }),
    at: fc.constant(0),
  }),
);
/** The writes a transaction may hold, drawn from every command the stores know. */
const write = fc
  .oneof({ arbitrary: commandArbitrary(parts), weight: 4 }, { arbitrary: zsetWrite, weight: 1 })
  .filter(
    (command) =>
      !['multi', 'expire-sweep', 'publish', 'sql', 'acl', 'swapdb'].includes(command.type),
  ) as fc.Arbitrary<Textual<TransactionWrite>>;
const allKeys = ['a', 'b', 'c'];
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

/** One run's items, as `run` draws them. */
type Run = typeof run extends fc.Arbitrary<infer T> ? T : never;

/** What a watch says it saw of `name` in `store`, of any type, given how the run names it. */
async function seen(store: NodeStore, name: string, how: string, at: number) {
  if (how === 'absent') return null;
  const noted = await store.versionOf(Buffer.from(name), at);
  if (noted === null) return how === 'stale' ? { index: 0, term: 1, expiresAt: null } : null;
  const index = how === 'stale' ? noted.version.index - 1 : noted.version.index;
  return { index, term: noted.version.term, expiresAt: noted.expiresAt };
}

/** The results of a transaction's steps, or null when it was aborted. */
function stepsOf(result: ApplyResult): readonly ApplyResult[] | null {
  assert.ok(
    result !== null && result.ok,
    `a transaction fails only by its steps: ${String(result)}`,
  );
  return result.value as ApplyResult[] | null;
}

/** The view a read step's result holds. */
function viewOf(result: ApplyResult | undefined): KeyReader {
  assert.ok(result?.ok === true, 'a read step answers a view');
  return result.value as KeyReader;
}

/** Applies `entries` to both stores: their results, SQLite's and PostgreSQL's. */
async function applyBoth(twins: Twins, entries: readonly Entry[]) {
  const fromSqlite = twins.sqlite.apply(entries);
  const fromPostgres = await twins.postgres.apply(entries);
  assert.deepEqual(fromPostgres.map(comparable), fromSqlite.map(comparable));
  return { fromSqlite, fromPostgres };
}

/**
 * Checks a transaction's read steps: each step's view answers alike on both stores (read
 * after the whole entry applied, so a later write that leaked into a view shows), and the
 * last step, a read of every key, answers as both stores' own reads answer after it.
 */
async function checkReads(
  twins: Twins,
  steps: readonly { type: string; keys?: readonly unknown[] }[],
  results: { fromSqlite: readonly ApplyResult[]; fromPostgres: readonly ApplyResult[] },
  at: number,
): Promise<void> {
  for (const [i, step] of steps.entries()) {
    if (step.type !== 'read') continue;
    const keys = step.keys as readonly string[];
    const inSqlite = await readerContent(viewOf(results.fromSqlite[i]), keys, at);
    const inPostgres = await readerContent(viewOf(results.fromPostgres[i]), keys, at);
    assert.deepEqual(inPostgres, inSqlite, `read step ${i}`);
  }
  const last = steps.length - 1;
  const final = await readerContent(viewOf(results.fromSqlite[last]), allKeys, at);
  assert.deepEqual(await readerContent(twins.sqlite, allKeys, at), final);
  assert.deepEqual(await readerContent(twins.postgres, allKeys, at), final);
}

/** Applies one run's items to `twins`, checking each transaction's all-or-nothing. */
async function runItems(twins: Twins, items: Run): Promise<void> {
  const log = new TestLog();
  for (const item of items) {
    if (item.kind === 'plain') {
      await twins.apply([log.command(item.command as TextCommand)]);
      continue;
    }
    const watched = [];
    for (const [name, how] of item.watched) {
      watched.push({ key: name, seen: await seen(twins.sqlite, name, how, item.at) });
    }
    const steps = [...item.steps, { type: 'read' as const, keys: allKeys }];
    const command = { type: 'multi', steps, watched, at: item.at };
    const before = await keyContent(twins.sqlite);
    const results = await applyBoth(twins, [log.command(command as TextCommand)]);
    const stepResults = stepsOf(results.fromSqlite[0] as ApplyResult);
    if (stepResults === null) assert.deepEqual(await keyContent(twins.sqlite), before);
    else {
      assert.equal(stepResults.length, steps.length);
      const ofPostgres = stepsOf(results.fromPostgres[0] as ApplyResult) as ApplyResult[];
      const both = { fromSqlite: stepResults, fromPostgres: ofPostgres };
      await checkReads(twins, steps, both, item.at);
    }
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
        try {
          await runItems(twins, items);
        } finally {
          await twins.close();
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
    const view = viewOf(steps[2]);
    const seenA = await view.get(Buffer.from('a'), 10);
    assert.equal(seenA?.value.toString(), '2');
    assert.equal(seenA?.version.index, 4);
    assert.equal(await view.get(Buffer.from('missing'), 10), null);
    // `a` was rewritten by the transaction at index 4: a watch of index 1 now aborts.
    const [stale] = await twins.apply([log.command(transaction([{ key: 'a', seen: a }], 20))]);
    assert.equal(stepsOf(stale as ApplyResult), null);
  });

  test('a transaction changes a stored hash and refuses string commands on it', async (t) => {
    // Goal: as Redis's EXEC: HSET then INCRBY of the same key in one transaction gives
    // the HSET's count and WRONGTYPE, and HINCRBY/HDEL of a hash stored before the
    // transaction read its fields (PostgreSQL loads them for the transaction's batch).
    const twins = await Twins.open(t);
    const log = new TestLog();
    await twins.apply([log.command({ type: 'hset', key: 'h', pairs: [['f', '5']], at: 0 })]);
    const [result] = await twins.apply([
      log.command({
        type: 'multi',
        at: 0,
        watched: [],
        steps: [
          { type: 'hset', key: 'n', pairs: [['f', '1']], at: 0 },
          { type: 'incrby', key: 'n', by: 1, at: 0 },
          { type: 'hincrby', key: 'h', field: 'f', by: 2n, at: 0 },
          { type: 'hdel', key: 'h', fields: ['f', 'g'], at: 0 },
          { type: 'hincrby', key: 'h', field: 'f', by: 1n, at: 0 },
        ],
      } as TextCommand),
    ]);
    assert.deepEqual(stepsOf(result as ApplyResult), [
      { ok: true, value: 1 },
      { ok: false, error: wrongType },
      { ok: true, value: 7 },
      { ok: true, value: 1 },
      { ok: true, value: 1 },
    ]);
    const values = await twins.read((s) => s.hashValues(Buffer.from('h'), [Buffer.from('f')], 0));
    assert.deepEqual(values?.map(String), ['1']);
  });

  test('a transaction changes stored sets and pops what its seed draws', async (t) => {
    // Goal: as Redis's EXEC: SADD then INCRBY of the same key gives the SADD's count and
    // WRONGTYPE; SREM, SMOVE, SPOP and SINTERSTORE of sets stored before the transaction
    // read their members (PostgreSQL loads them for the transaction's batch), and an SPOP
    // queued without members (its draw cannot be made before EXEC) takes the same ones on
    // both stores.
    const twins = await Twins.open(t);
    const log = new TestLog();
    await twins.apply([
      log.command({ type: 'sadd', key: 's', members: ['1', '2', '3', 'w'], at: 0 }),
    ]);
    const [result] = await twins.apply([
      log.command({
        type: 'multi',
        at: 0,
        watched: [],
        steps: [
          { type: 'sadd', key: 'n', members: ['1'], at: 0 },
          { type: 'incrby', key: 'n', by: 1, at: 0 },
          { type: 'srem', key: 's', members: ['w', 'x'], at: 0 },
          { type: 'smove', key: 's', destination: 'n', member: '2', at: 0 },
          { type: 'setstore', operation: 'union', destination: 'u', keys: ['s', 'n'], at: 0 },
          { type: 'spop', key: 'u', members: [], count: 2, seed: 11, at: 0 },
        ],
      } as TextCommand),
    ]);
    const steps = stepsOf(result as ApplyResult) as ApplyResult[];
    assert.deepEqual(steps.slice(0, 5), [
      { ok: true, value: 1 },
      { ok: false, error: wrongType },
      { ok: true, value: 1 },
      { ok: true, value: 1 },
      { ok: true, value: 3 },
    ]);
    const popped = (steps[5] as { value: Buffer[] }).value.map(String);
    assert.equal(popped.length, 2);
    const left = await twins.read((s) => s.setAll(Buffer.from('u'), 0));
    assert.equal(left.length, 1);
    assert.ok(!popped.includes(String(left[0])));
  });

  test('a read step sees hashes, sets, sorted sets and lists as the writes before it left them', async (t) => {
    // Goal: reads and writes of the four structured types interleaved in one transaction:
    // each read step answers the value as the steps before it left it (on PostgreSQL from
    // the rows the apply's own transaction read, changed by those steps), and a view taken
    // before a later write of the same key keeps its answer (SQLite shares the value and
    // must copy it before the write).
    const twins = await Twins.open(t);
    const log = new TestLog();
    await twins.apply([
      log.command({ type: 'hset', key: 'h', pairs: [['f', 'stored']], at: 0 }),
      log.command({ type: 'lpush', key: 'l', elements: ['x', 'y'], end: 'right', at: 0 }),
    ]);
    const read = (...keys: string[]) => ({ type: 'read', keys });
    const { fromSqlite, fromPostgres } = await applyBoth(twins, [
      log.command({
        type: 'multi',
        at: 0,
        watched: [],
        steps: [
          read('h'),
          { type: 'hset', key: 'h', pairs: [['g', '2']], at: 0 },
          read('h'),
          { type: 'hdel', key: 'h', fields: ['f'], at: 0 },
          read('h'),
          { type: 'sadd', key: 's', members: ['b', 'a'], at: 0 },
          read('s'),
          {
            type: 'zadd',
            key: 'z',
            pairs: [
              ['2', 'two'],
              ['1', 'one'],
            ],
            at: 0,
          },
          read('z'),
          { type: 'zpop', keys: ['z'], side: 'min', count: 1, at: 0 },
          read('z'),
          read('l'),
          { type: 'lpop', key: 'l', end: 'left', at: 0 },
          { type: 'lpush', key: 'l', elements: ['w'], end: 'right', at: 0 },
          read('l'),
        ],
      } as TextCommand),
    ]);
    for (const results of [fromSqlite, fromPostgres]) {
      const steps = stepsOf(results[0] as ApplyResult) as ApplyResult[];
      const view = (i: number) => viewOf(steps[i]);
      const k = Buffer.from;
      const hash = async (i: number) =>
        (await view(i).hashAll(k('h'), 0)).map(([f, v]) => `${f}=${v}`);
      assert.deepEqual(await hash(0), ['f=stored']);
      assert.deepEqual(await hash(2), ['f=stored', 'g=2']);
      assert.deepEqual(await hash(4), ['g=2']);
      assert.deepEqual((await view(4).hashValues(k('h'), [k('f'), k('g')], 0))?.map(String), [
        'null',
        '2',
      ]);
      assert.deepEqual((await view(6).setAll(k('s'), 0)).map(String), ['b', 'a']);
      assert.deepEqual(await view(6).setContains(k('s'), [k('a'), k('c')], 0), [true, false]);
      const whole = { range: { by: 'rank', start: 0, stop: -1 } } as const;
      const zset = async (i: number) =>
        (await view(i).zsetRange(k('z'), whole, 0)).map(([m, score]) => `${m}:${score}`);
      assert.deepEqual(await zset(8), ['one:1', 'two:2']);
      assert.equal(await view(8).zsetRank(k('z'), k('two'), false, 0), 1);
      assert.deepEqual(await zset(10), ['two:2']);
      assert.deepEqual((await view(11).listElements(k('l'), 0, -1, 0)).map(String), ['x', 'y']);
      assert.deepEqual((await view(14).listElements(k('l'), 0, -1, 0)).map(String), ['y', 'w']);
      assert.equal(String(await view(14).listElement(k('l'), -1, 0)), 'w');
      assert.equal(await view(14).type(k('l'), 0), 'list');
      assert.equal(await view(0).type(k('s'), 0), 'none');
    }
  });
});
