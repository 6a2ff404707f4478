// Sorted sets in both stores: the commands' results and what they leave, the same on
// SQLite's in-memory namespace and on PostgreSQL, for a script and for random commands
// (type changes, RENAME, COPY, expiry, MULTI and FLUSHALL among them); the skip list
// against a plain sorted array; a frozen snapshot that no later write reaches; a failed
// batch undone; images that keep them, SQLite's own and converted to and from PostgreSQL.
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { Command } from '../../src/store/commands.js';
import type { NodeStore } from '../../src/store/contract.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { zsetRangeOf } from '../../src/store/kv-commands.js';
import {
  loadMemoryImage,
  parseMemoryImage,
  readMemoryImageHeader,
} from '../../src/store/memory-image.js';
import { PostgresStore } from '../../src/store/postgres.js';
import {
  formatScore,
  parseScore,
  rankInterval,
  ScoreList,
  selectRange,
  type ZsetRange,
} from '../../src/store/sorted-set.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ZsetValue } from '../../src/store/values.js';
import { b, collect, replay, tempDirectory, TestLog } from './helpers.js';
import {
  freshDatabase,
  keyContent,
  postgresSkipReason,
  stopServer,
  Twins,
  zsetContent,
} from './postgres-helpers.js';

after(stopServer);

const at = 1_000;
const wrongType = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const all = { range: { by: 'rank', start: 0, stop: -1 } } as const;

/** ZADD key of score-member texts. */
function zadd(key: string, pairs: [string, string][], options: Partial<Command> = {}): Command {
  return {
    type: 'zadd',
    key: b(key),
    pairs: pairs.map(([score, member]) => [b(score), b(member)]),
    ...options,
    at,
  } as Command;
}

/** A store's whole sorted set at `key` as [member text, score] pairs. */
async function members(store: NodeStore | Keyspace, key: string): Promise<[string, number][]> {
  const entries = await store.zsetRange(b(key), all, at);
  return entries.map(([member, score]) => [member.toString(), score]);
}

const scoreText = (text: string): Buffer => b(text);

/** A script of commands and the result each must give. */
const script: [Command, unknown][] = [
  [
    zadd('z', [
      ['1', 'a'],
      ['2', 'b'],
      ['2', 'c'],
      ['-0.5', 'd'],
    ]),
    { ok: true, value: 4 },
  ],
  [
    zadd(
      'z',
      [
        ['5', 'a'],
        ['0', 'e'],
      ],
      { condition: 'nx' } as Partial<Command>,
    ),
    { ok: true, value: 1 },
  ],
  [
    zadd(
      'z',
      [
        ['3', 'a'],
        ['9', 'nope'],
      ],
      { condition: 'xx', changed: true } as Partial<Command>,
    ),
    { ok: true, value: 1 },
  ],
  [zadd('z', [['1', 'a']], { compare: 'gt' } as Partial<Command>), { ok: true, value: 0 }],
  [
    zadd('z', [['inf', 'b']], { increment: true } as Partial<Command>),
    { ok: true, value: scoreText('inf') },
  ],
  [
    zadd('z', [['-inf', 'b']], { increment: true } as Partial<Command>),
    { ok: false, error: 'ERR resulting score is not a number (NaN)' },
  ],
  [
    zadd('z', [['1', 'a']], { increment: true, condition: 'nx' } as Partial<Command>),
    { ok: true, value: null },
  ],
  [
    { type: 'set', key: b('s'), value: b('text'), at },
    { ok: true, value: 'OK' },
  ],
  [zadd('s', [['1', 'a']]), { ok: false, error: wrongType }],
  [
    { type: 'append', key: b('z'), value: b('x'), at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'hset', key: b('z'), pairs: [[b('f'), b('v')]], at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'zrem', key: b('z'), members: [b('e'), b('zz')], at },
    { ok: true, value: 1 },
  ],
  [
    { type: 'zpop', keys: [b('none'), b('z')], side: 'min', count: 2, at },
    {
      ok: true,
      value: {
        key: b('z'),
        entries: [
          [b('d'), b('-0.5')],
          [b('c'), b('2')],
        ],
      },
    },
  ],
  [
    { type: 'zpop', keys: [b('s'), b('z')], side: 'min', count: 1, at },
    { ok: false, error: wrongType },
  ],
  [
    { type: 'copy', key: b('z'), destination: b('z2'), at },
    { ok: true, value: 1 },
  ],
  [
    {
      type: 'zsetstore',
      operation: 'union',
      destination: b('u'),
      keys: [b('z'), b('z2'), b('absent')],
      weights: [b('1'), b('2'), b('1')],
      at,
    },
    { ok: true, value: 2 },
  ],
  [
    {
      type: 'zrangestore',
      destination: b('r'),
      key: b('u'),
      range: { by: 'score', min: b('(3'), max: b('+inf') },
      at,
    },
    { ok: true, value: 2 },
  ],
  [
    { type: 'zremrange', key: b('z2'), range: { by: 'rank', min: b('0'), max: b('-1') }, at },
    { ok: true, value: 2 },
  ],
  // The last member gone, the key goes; a store of nothing deletes its destination.
  [
    {
      type: 'zsetstore',
      operation: 'inter',
      destination: b('s'),
      keys: [b('z'), b('z2')],
      at,
    },
    { ok: true, value: 0 },
  ],
  [
    { type: 'expire', key: b('z'), expiresAt: at + 500, at },
    { ok: true, value: 1 },
  ],
  [zadd('z', [['7', 'x']]), { ok: true, value: 1 }],
];

/** Runs the script on `store`; asserts its results and reads; answers what it leaves. */
async function runScript(store: NodeStore): Promise<unknown[]> {
  const log = new TestLog();
  const results = [];
  for (const [command] of script) results.push(...(await store.apply([log.command(command)])));
  assert.deepEqual(
    results,
    script.map(([, result]) => result),
  );
  assert.deepEqual(await members(store, 'z'), [
    ['a', 3],
    ['x', 7],
    ['b', Infinity],
  ]);
  assert.deepEqual(await members(store, 'u'), [
    ['a', 9],
    ['b', Infinity],
  ]);
  assert.deepEqual(await members(store, 'r'), await members(store, 'u'));
  const types = [];
  for (const key of ['z', 'z2', 's', 'u']) types.push(await store.type(b(key), at));
  assert.deepEqual(types, ['zset', 'none', 'none', 'zset']);
  assert.equal(await store.ttlMs(b('z'), at), 500);
  assert.equal(await store.zsetRank(b('z'), b('b'), true, at), 0);
  assert.equal(await store.zsetRank(b('z'), b('x'), false, at), 1);
  assert.equal(await store.zsetRank(b('z'), b('nope'), false, at), null);
  assert.deepEqual(await store.zsetScores(b('z'), [b('a'), b('q')], at), [3, null]);
  assert.equal(await store.zsetCount(b('z'), scoreRange('(3', 'inf'), at), 2);
  await assert.rejects(async () => await store.get(b('z'), at), { message: wrongType });
  await assert.rejects(async () => await store.hashSize(b('z'), at), { message: wrongType });
  assert.equal(await store.zsetEncoding(b('z'), at), 'listpack');
  assert.equal(await store.dbsize(at), 3);
  // Past its expiry the set reads as absent, and counts no more.
  assert.equal(await store.type(b('z'), at + 500), 'none');
  assert.equal(await store.zsetSize(b('z'), at + 500), 0);
  assert.equal(await store.dbsize(at + 500), 2);
  return await keyContent(store);
}

/** A score range of two bound texts. */
function scoreRange(min: string, max: string): ZsetRange {
  return zsetRangeOf({ by: 'score', min: b(min), max: b(max) }) as ZsetRange;
}

test('the sorted set commands give Redis results and leave the same keys on SQLite and PostgreSQL', async (t) => {
  // Goal: one script of sorted set commands (and other types' commands on them) gives
  // Redis's results on both stores: WRONGTYPE both ways, an emptied set and an empty
  // result removing their key, expiry kept by ZADD, COPY of a set, the reads of ranks,
  // scores, counts and encodings; and both stores hold the same keys after it.
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'zsets.db'));
  t.after(() => sqlite.close());
  const sqliteKeys = await runScript(sqlite);
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.diagnostic(`PostgreSQL half skipped: ${skip}`);
    return;
  }
  const postgres = await PostgresStore.open(await freshDatabase(), {
    clusterId: 'zsets',
    snapshotsDirectory: path.join(directory, 'pg'),
  });
  try {
    assert.deepEqual(await runScript(postgres), sqliteKeys);
  } finally {
    await postgres.close();
  }
});

/** Ranks `start` to `stop` of `sorted` as Redis reads them (negative from the end, clamped). */
function redisRanks<T>(sorted: readonly T[], start: number, stop: number): T[] {
  const length = sorted.length;
  const from = Math.max(start < 0 ? length + start : start, 0);
  const to = Math.min(stop < 0 ? length + stop : stop, length - 1);
  return from > to || from >= length ? [] : sorted.slice(from, to + 1);
}

test('the skip list ranks, slices and bounds as a plain sorted array does', () => {
  // Goal: after any inserts and removals, every rank, slice and range of the skip list is
  // what a sorted array of (score, member) gives.
  const op = fc.oneof(
    fc.tuple(
      fc.constant('put' as const),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: 0, max: 30 }),
    ),
    fc.tuple(fc.constant('del' as const), fc.constant(0), fc.integer({ min: 0, max: 30 })),
  );
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 200 }),
      fc.integer({ min: -5, max: 40 }),
      (ops, probe) => {
        let list = new ScoreList();
        const scores = new Map<string, number>();
        for (const [step, [kind, score, id]] of ops.entries()) {
          // Now and then the list goes on as a copy of itself (as after a snapshot's freeze).
          if (step % 17 === 16) list = list.copy();
          const member = `m${id}`;
          const old = scores.get(member);
          if (old !== undefined) list.delete(old, member);
          if (kind === 'put') {
            list.insert(score, member);
            scores.set(member, score);
          } else scores.delete(member);
        }
        const sorted = [...scores].sort(([ma, sa], [mb, sb]) =>
          sa !== sb ? sa - sb : ma < mb ? -1 : ma > mb ? 1 : 0,
        );
        assert.equal(list.length, sorted.length);
        assert.deepEqual([...list.entries()], sorted);
        sorted.forEach(([member, score], i) => assert.equal(list.rankOf(score, member), i));
        const start = probe % 7;
        assert.deepEqual(
          selectRange(list, { range: { by: 'rank', start, stop: probe } }),
          redisRanks(sorted, start, probe),
        );
        assert.deepEqual(list.slice(0, sorted.length, true), [...sorted].reverse());
        const min = { value: (probe % 4) - 2, exclusive: probe % 2 === 0 };
        const max = { value: 2, exclusive: false };
        const inRange = sorted.filter(
          ([, s]) => (min.exclusive ? s > min.value : s >= min.value) && s <= max.value,
        );
        const [from, to] = rankInterval(list, { by: 'score', min, max });
        assert.deepEqual(list.slice(from, to), inRange);
      },
    ),
    { numRuns: 300 },
  );
});

test('a member range over mixed scores answers the same whatever the skip list shape', () => {
  // Goal: on a set whose scores differ (where Redis's answer depends on its random skip
  // list), a member range is the longest prefix below the minimum to the longest prefix
  // within the maximum, however the elements were inserted, so that replicas (and a store
  // rebuilt from an image) agree; on equal scores it is the plain member interval.
  const names = [...'abcdefghijklmnop'];
  const element = fc.tuple(fc.constantFrom(0, 1, 2), fc.constantFrom(...names));
  const lexBound = fc.constantFrom('-', '+', '[a', '(b', '[e', '(h', '[k', '(n').map(b);
  fc.assert(
    fc.property(
      fc.uniqueArray(element, { selector: ([, member]) => member, maxLength: 16 }),
      lexBound,
      lexBound,
      (elements, min, max) => {
        const range = zsetRangeOf({ by: 'lex', min, max }) as ZsetRange;
        const sorted = [...elements].sort(([sa, ma], [sb, mb]) => sa - sb || (ma < mb ? -1 : 1));
        const lists = [sorted, [...sorted].reverse(), elements].map((order) => {
          const list = new ScoreList();
          for (const [score, member] of order) list.insert(score, member);
          return list;
        });
        const answers = lists.map((list) => selectRange(list, { range }));
        for (const answer of answers) assert.deepEqual(answer, answers[0]);
        const text = (bound: Buffer): string => bound.toString('latin1').slice(1);
        const below = (member: string): boolean =>
          min.toString() === '+' ||
          (min[0] === 0x28 ? member <= text(min) : min[0] === 0x5b && member < text(min));
        const within = (member: string): boolean =>
          max.toString() === '+' ||
          (max[0] === 0x28 ? member < text(max) : max[0] === 0x5b && member <= text(max));
        const prefix = (holds: (member: string) => boolean): number => {
          const at = sorted.findIndex(([, member]) => !holds(member));
          return at === -1 ? sorted.length : at;
        };
        const from = prefix(below);
        const to = prefix(within);
        const expected = from < to ? sorted.slice(from, to) : [];
        assert.deepEqual(
          answers[0],
          expected.map(([score, member]) => [member, score]),
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('scores parse and format as Redis 7.0 writes them', () => {
  // Goal: the texts Redis 7.0 answers for the scores it was given (checked against a real
  // redis-server by the differential test), and the texts it refuses.
  const cases: [string, string | null][] = [
    ['0.1', '0.10000000000000001'],
    ['1e100', '1e+100'],
    ['3.0', '3'],
    ['-0.0', '-0'],
    ['inf', 'inf'],
    ['-Infinity', '-inf'],
    ['1e-5', '1.0000000000000001e-05'],
    ['123456789012345678', '1.2345678901234568e+17'],
    ['0x10', '16'],
    ['1e400', null],
    ['1e-400', null],
    ['nan', null],
    [' 1', null],
    ['', null],
    ['1x', null],
  ];
  for (const [text, formatted] of cases) {
    const score = parseScore(b(text));
    assert.equal(score === null ? null : formatScore(score), formatted, text);
  }
});

/** A keyspace reached through its commands, as a store drives it. */
function apply(keyspace: Keyspace, log: TestLog, command: Command): unknown {
  return keyspace.execute(command as never, log.command(command));
}

test('a ZADD while a snapshot is frozen changes the live set, never the frozen one', () => {
  // Goal: a frozen snapshot's sorted set stays as it was at the freeze while ZADD, ZREM and
  // ZPOP go on (the live set is copied before its first change after a freeze).
  const keyspace = new Keyspace();
  const log = new TestLog();
  const many = Array.from({ length: 1000 }, (_, i) => [String(i), `m${i}`] as [string, string]);
  apply(keyspace, log, zadd('big', many));
  const frozen = keyspace.freeze().items[0]?.value as ZsetValue;
  apply(
    keyspace,
    log,
    zadd('big', [
      ['-1', 'm5'],
      ['5000', 'new'],
    ]),
  );
  apply(keyspace, log, { type: 'zrem', key: b('big'), members: [b('m1')], at });
  apply(keyspace, log, { type: 'zpop', keys: [b('big')], side: 'max', count: 3, at });
  assert.equal(frozen.members.size, 1000);
  assert.equal(frozen.members.get('m5')?.score, 5);
  assert.equal(frozen.order.length, 1000);
  assert.deepEqual(frozen.order.slice(0, 2), [
    ['m0', 0],
    ['m1', 1],
  ]);
  assert.equal(keyspace.zsetSize(b('big'), at), 997);
  assert.equal(keyspace.zsetRank(b('big'), b('m5'), false, at), 0);
  assert.deepEqual(keyspace.zsetScores(b('big'), [b('new'), b('m999')], at), [null, null]);
});

test('a ZSCAN of a skiplist visits each member present for the whole scan once', () => {
  // Goal: the cursor (a member's sequence number) survives members added, rescored and
  // removed between pages; a listpack set comes whole in one page, by score.
  const keyspace = new Keyspace();
  const log = new TestLog();
  const many = Array.from(
    { length: 300 },
    (_, i) => [String(300 - i), `m${i}`] as [string, string],
  );
  apply(keyspace, log, zadd('big', many));
  assert.equal(keyspace.zsetEncoding(b('big'), at), 'skiplist');
  const seen = new Map<string, number>();
  let cursor = 0;
  let page = 0;
  do {
    const result = keyspace.zsetScan(b('big'), cursor, { count: 25 }, at);
    for (const [member] of result.entries) {
      seen.set(member.toString(), (seen.get(member.toString()) ?? 0) + 1);
    }
    cursor = result.cursor;
    page++;
    // Between pages: a new member, a rescored one, a removed one (m299 - page).
    apply(
      keyspace,
      log,
      zadd('big', [
        ['-5', `new${page}`],
        ['1000', `m${page}`],
      ]),
    );
    apply(keyspace, log, { type: 'zrem', key: b('big'), members: [b(`m${299 - page}`)], at });
  } while (cursor !== 0);
  for (let i = 0; i < 300 - page - 1; i++) assert.equal(seen.get(`m${i}`), 1, `m${i}`);
  apply(
    keyspace,
    log,
    zadd('small', [
      ['2', 'b'],
      ['1', 'a'],
      ['1', 'c'],
    ]),
  );
  const whole = keyspace.zsetScan(b('small'), 0, { count: 1 }, at);
  assert.deepEqual(
    whole.entries.map(([member, score]) => [member.toString(), score]),
    [
      ['a', 1],
      ['c', 1],
      ['b', 2],
    ],
  );
  assert.equal(whole.cursor, 0);
});

test('a batch that fails is undone whole, sorted sets included', () => {
  // Goal: rollback restores every member's score, every removed member and the encoding.
  const keyspace = new Keyspace();
  const log = new TestLog();
  apply(
    keyspace,
    log,
    zadd('z', [
      ['1', 'a'],
      ['2', 'b'],
      ['3', 'c'],
    ]),
  );
  const before = keyspace.held();
  keyspace.begin();
  apply(
    keyspace,
    log,
    zadd('z', [
      ['9', 'a'],
      ['0', 'x'.repeat(70)],
    ]),
  );
  apply(keyspace, log, { type: 'zrem', key: b('z'), members: [b('b')], at });
  apply(keyspace, log, { type: 'zpop', keys: [b('z')], side: 'min', count: 10, at });
  assert.equal(keyspace.type(b('z'), at), 'none');
  keyspace.rollback();
  assert.deepEqual(keyspace.held(), before);
  assert.equal(keyspace.zsetEncoding(b('z'), at), 'listpack');
  assert.equal(keyspace.zsetRank(b('z'), b('c'), false, at), 2);
  // The members iterate in sequence order again, as ZSCAN's cursor needs.
  const restored = keyspace.freeze().items[0]?.value as ZsetValue;
  assert.deepEqual([...restored.members.keys()], ['a', 'b', 'c']);
});

/** Random sorted set commands (good and bad texts), on a few keys, one holding a string. */
const zsetCommand: fc.Arbitrary<Command> = (() => {
  const key = fc.constantFrom('z1', 'z2', 'str').map(b);
  const member = fc.constantFrom('a', 'b', 'c', '', 'x'.repeat(70)).map(b);
  const score = fc.constantFrom('1', '-0', '2.5', 'inf', '-inf', '0.1', 'x').map(b);
  const text = fc.constantFrom('0', '-1', '(1', '+inf', '-', '+', '[b', 'x').map(b);
  const by = fc.constantFrom('rank' as const, 'score' as const, 'lex' as const);
  return fc.oneof(
    fc.record(
      {
        type: fc.constant('zadd' as const),
        key,
        pairs: fc.array(fc.tuple(score, member), { minLength: 1, maxLength: 3 }),
        condition: fc.constantFrom('nx' as const, 'xx' as const),
        compare: fc.constantFrom('gt' as const, 'lt' as const),
        changed: fc.constant(true),
        at: fc.constant(at),
      },
      { requiredKeys: ['type', 'key', 'pairs', 'at'] },
    ),
    fc.record({
      type: fc.constant('zadd' as const),
      key,
      pairs: fc.tuple(score, member).map((pair) => [pair]),
      increment: fc.constant(true),
      at: fc.constant(at),
    }),
    fc.record({
      type: fc.constant('zrem' as const),
      key,
      members: fc.array(member, { minLength: 1, maxLength: 2 }),
      at: fc.constant(at),
    }),
    fc.record({
      type: fc.constant('zpop' as const),
      keys: fc.array(key, { minLength: 1, maxLength: 2 }),
      side: fc.constantFrom('min' as const, 'max' as const),
      count: fc.integer({ min: 1, max: 3 }),
      at: fc.constant(at),
    }),
    fc.record({
      type: fc.constant('zremrange' as const),
      key,
      range: fc.record({ by, min: text, max: text }),
      at: fc.constant(at),
    }),
    fc.record({
      type: fc.constant('zrangestore' as const),
      destination: key,
      key,
      range: fc.record({ by, min: text, max: text }),
      at: fc.constant(at),
    }),
    fc.record({
      type: fc.constant('zsetstore' as const),
      operation: fc.constantFrom('union' as const, 'inter' as const, 'diff' as const),
      destination: key,
      keys: fc.array(key, { minLength: 1, maxLength: 3 }),
      at: fc.constant(at),
    }),
    fc.constant({ type: 'set', key: b('str'), value: b('v'), at } as Command),
    fc.constant({ type: 'rename', key: b('z1'), destination: b('z2'), at } as Command),
  );
})();

/** Everything a store holds, its scores exact (-0 and infinities included). */
function heldExactly(store: SqliteStore | Keyspace): string {
  const held = store instanceof Keyspace ? store.held() : store.heldKeys();
  return JSON.stringify(held, (_key, value: unknown) =>
    typeof value === 'number' ? (Object.is(value, -0) ? '-0' : String(value)) : value,
  );
}

test('random sorted set commands give one state: applied, undone, and through a snapshot', async (t) => {
  // Goal: a batch undone leaves the namespace exactly as before (the undo record restores
  // every sorted set, even changed in place), and a store restored from a snapshot taken
  // midway that applies the rest holds exactly what the first one holds.
  const directory = tempDirectory(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(zsetCommand, { minLength: 1, maxLength: 20 }),
      fc.array(zsetCommand, { minLength: 1, maxLength: 20 }),
      async (first, second) => {
        run++;
        const source = SqliteStore.open(path.join(directory, `a${run}.db`));
        const target = SqliteStore.open(path.join(directory, `b${run}.db`));
        try {
          const log = new TestLog();
          const firstEntries = first.map((command) => log.command(command));
          const secondEntries = second.map((command) => log.command(command));
          const keyspace = new Keyspace();
          for (const [i, command] of first.entries()) {
            keyspace.execute(command as never, firstEntries[i] as never);
          }
          const before = heldExactly(keyspace);
          keyspace.begin();
          for (const [i, command] of second.entries()) {
            keyspace.execute(command as never, secondEntries[i] as never);
          }
          keyspace.rollback();
          assert.equal(heldExactly(keyspace), before);
          // The member maps are in sequence order again (ZSCAN's cursor walks them so).
          for (const item of keyspace.freeze().items) {
            if (typeof item.value === 'string' || item.value.type !== 'zset') continue;
            const seqs = [...item.value.members.values()].map(({ seq }) => seq);
            assert.deepEqual(
              seqs,
              [...seqs].sort((x, y) => x - y),
            );
          }
          for (const [i, command] of second.entries()) {
            keyspace.execute(command as never, secondEntries[i] as never);
          }
          source.apply(firstEntries);
          assert.equal(heldExactly(source), before);
          const snapshot = await source.snapshot();
          const results = source.apply(secondEntries);
          assert.equal(heldExactly(source), heldExactly(keyspace));
          await target.restore(
            { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
            replay(await collect(snapshot.chunks())),
          );
          await snapshot.dispose();
          assert.deepEqual(target.apply(secondEntries), results);
          assert.equal(heldExactly(target), heldExactly(source));
        } finally {
          source.close();
          target.close();
        }
      },
    ),
    { numRuns: 40 },
  );
});

test('sorted sets survive a snapshot image and a restart of the store', async (t) => {
  // Goal: a memory image carries sorted sets (members, scores, -0 of a skiplist, encoding,
  // expiry) into a store restored from it and into the keyspace read back from the file.
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  const many = Array.from({ length: 200 }, (_, i) => [String(i / 3), `m${i}`] as [string, string]);
  source.apply([
    log.command(
      zadd('small', [
        ['2', 'z'],
        ['1', 'a'],
        ['inf', 'i'],
      ]),
    ),
    log.command(zadd('big', many)),
    log.command(zadd('big', [['-0', 'negative zero']])),
    log.command({ type: 'expire', key: b('small'), expiresAt: at + 5_000, at }),
    log.command({ type: 'set', key: b('str'), value: b('v'), at }),
  ]);
  const snapshot = await source.snapshot();
  const target = SqliteStore.open(path.join(directory, 'target.db'));
  t.after(() => target.close());
  await target.restore(
    { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
    replay(await collect(snapshot.chunks())),
  );
  const file = path.join(directory, 'image');
  await writeFile(file, Buffer.concat(await collect(snapshot.chunks())));
  const loaded = await loadMemoryImage(file);
  for (const store of [source, target, loaded.keyspace]) {
    assert.deepEqual(await members(store, 'small'), [
      ['a', 1],
      ['z', 2],
      ['i', Infinity],
    ]);
    assert.equal(store.zsetEncoding(b('small'), at), 'listpack');
    assert.equal(store.zsetEncoding(b('big'), at), 'skiplist');
    assert.equal(store.zsetSize(b('big'), at), 201);
    assert.ok(Object.is(store.zsetScores(b('big'), [b('negative zero')], at)?.[0], -0));
    assert.deepEqual(await members(store, 'big'), await members(source, 'big'));
    assert.equal(store.ttlMs(b('small'), at), 5_000);
    assert.equal(store.type(b('str'), at), 'string');
  }
  // A write after the load changes the loaded set, and the snapshot's stays as it was.
  target.apply([
    new TestLog(snapshot.index, snapshot.term).command({
      type: 'zrem',
      key: b('small'),
      members: [b('z')],
      at,
    }),
  ]);
  assert.deepEqual(await members(target, 'small'), [
    ['a', 1],
    ['i', Infinity],
  ]);
  await snapshot.dispose();
});

test('hashes, sets, sorted sets and lists share one memory image, each read back as itself', async (t) => {
  // Goal: the image's record flags of the four structured types (and of their encodings)
  // never collide: a keyspace holding each type in each encoding, some expiring, reads back
  // from the image with every key's type, encoding, contents and expiry intact; and a record
  // whose flags name two types, another type's encoding or an unknown bit is refused, and
  // so is a list record in a format 2 image (lists came with format 3).
  const directory = tempDirectory(t);
  const source = SqliteStore.open(path.join(directory, 'source.db'));
  t.after(() => source.close());
  const log = new TestLog();
  const wide = Array.from({ length: 600 }, (_, i) => String(i));
  const many = Array.from({ length: 200 }, (_, i) => [String(i), `m${i}`] as [string, string]);
  const commands: Command[] = [
    { type: 'hset', key: b('hash'), pairs: [[b('f'), b('v')]], at },
    { type: 'hset', key: b('bighash'), pairs: [[b('f'), b('x'.repeat(100))]], at },
    { type: 'sadd', key: b('intset'), members: [b('3'), b('1'), b('2')], at },
    { type: 'sadd', key: b('set'), members: wide.map(b), at },
    zadd('zset', [
      ['2', 'z'],
      ['1', 'a'],
    ]),
    zadd('bigzset', many),
    { type: 'lpush', key: b('list'), elements: ['a', 'b', 'c'].map(b), end: 'right', at },
    { type: 'lpush', key: b('biglist'), elements: wide.map(b), end: 'left', at },
    { type: 'set', key: b('str'), value: b('v'), at },
    ...['hash', 'intset', 'zset', 'list'].map((key): Command => ({
      type: 'expire',
      key: b(key),
      expiresAt: at + 5_000,
      at,
    })),
  ];
  source.apply(commands.map((command) => log.command(command)));
  const snapshot = await source.snapshot();
  t.after(() => snapshot.dispose());
  const image = Buffer.concat(await collect(snapshot.chunks()));
  const file = path.join(directory, 'image');
  await writeFile(file, image);
  const loaded = (await loadMemoryImage(file)).keyspace;
  const keys = ['hash', 'bighash', 'intset', 'set', 'zset', 'bigzset', 'list', 'biglist', 'str'];
  const types = keys.map((key) => loaded.type(b(key), at));
  assert.deepEqual(types, ['hash', 'hash', 'set', 'set', 'zset', 'zset', 'list', 'list', 'string']);
  assert.equal(loaded.hashEncoding(b('hash'), at), 'listpack');
  assert.equal(loaded.hashEncoding(b('bighash'), at), 'hashtable');
  assert.equal(loaded.setEncoding(b('intset'), at), 'intset');
  assert.equal(loaded.setEncoding(b('set'), at), 'hashtable');
  assert.equal(loaded.zsetEncoding(b('zset'), at), 'listpack');
  assert.equal(loaded.zsetEncoding(b('bigzset'), at), 'skiplist');
  for (const key of ['hash', 'bighash']) {
    assert.deepEqual(loaded.hashAll(b(key), at), source.hashAll(b(key), at), key);
  }
  for (const key of ['intset', 'set']) {
    assert.deepEqual(loaded.setAll(b(key), at), source.setAll(b(key), at), key);
  }
  assert.equal(loaded.setSize(b('set'), at), 600);
  for (const key of ['zset', 'bigzset']) {
    assert.deepEqual(await members(loaded, key), await members(source, key), key);
  }
  assert.deepEqual(await members(loaded, 'zset'), [
    ['a', 1],
    ['z', 2],
  ]);
  for (const key of ['list', 'biglist']) {
    assert.deepEqual(
      loaded.listElements(b(key), 0, -1, at),
      source.listElements(b(key), 0, -1, at),
    );
  }
  assert.deepEqual(loaded.listElements(b('list'), 0, -1, at), ['a', 'b', 'c'].map(b));
  assert.equal(loaded.listSize(b('biglist'), at), 600);
  assert.deepEqual(loaded.listElement(b('biglist'), 0, at), b('599'));
  for (const key of ['hash', 'intset', 'zset', 'list']) {
    assert.equal(loaded.ttlMs(b(key), at), 5_000);
  }
  for (const key of ['bighash', 'set', 'bigzset', 'biglist']) {
    assert.equal(loaded.ttlMs(b(key), at), -1);
  }
  // The first record (the hash, flags 1 | 2: it expires) given impossible flags.
  const first = 64 + readMemoryImageHeader(image).sqliteBytes;
  assert.equal(image[first], 1 | 2);
  const refused = [2 | 8, 2 | 16, 8 | 16, 2 | 32, 8 | 32, 4 | 16, 4, 32, 128];
  refused.push(2 | 64, 8 | 64, 16 | 64, 4 | 64, 32 | 64, 1 | 64 | 128);
  for (const flags of refused) {
    const damaged = Buffer.from(image);
    damaged[first] = flags;
    assert.throws(() => parseMemoryImage(damaged), /an impossible key record/, `flags ${flags}`);
  }
  // A list record (the first record flagged a list) in an image that says format 2.
  assert.equal(readMemoryImageHeader(image).format, 3);
  const older = Buffer.from(image);
  older.writeUInt32LE(2, 8);
  older[first] = 1 | 64;
  assert.throws(() => parseMemoryImage(older), /an impossible key record/);
});

/** Keys of every type for the commands below, sorted sets among them. */
const anyKey = fc.constantFrom('z1', 'z2', 'str', 'set', 'list', 'hash').map(b);

/**
 * Random commands of a mixed keyspace: the sorted set commands, their range commands on
 * any bounds (with LIMIT and REV), and every other type's writes, RENAME, COPY, DEL and
 * expiry (some past, some read later) on the same keys, so that keys change type.
 */
const mixedCommand: fc.Arbitrary<Command> = (() => {
  const member = fc.constantFrom('a', 'b', 'c', 'ab', '', 'x'.repeat(70)).map(b);
  const score = fc.constantFrom('1', '-0', '0', '2.5', 'inf', '-inf', '-3', '1e300').map(b);
  const text = fc.constantFrom('0', '-1', '1', '(1', '+inf', '-inf', '-', '+', '[b', '(a').map(b);
  const by = fc.constantFrom('rank' as const, 'score' as const, 'lex' as const);
  const at2 = fc.constantFrom(at, at + 1_000);
  const others: fc.Arbitrary<Command>[] = [
    fc.record({
      type: fc.constant('zrangestore' as const),
      destination: anyKey,
      key: anyKey,
      range: fc.record({ by, min: text, max: text }),
      reverse: fc.constant(true as const),
      offset: fc.integer({ min: -1, max: 2 }),
      count: fc.integer({ min: -1, max: 2 }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('zsetstore' as const),
      operation: fc.constantFrom('union' as const, 'inter' as const, 'diff' as const),
      destination: anyKey,
      keys: fc.array(anyKey, { minLength: 1, maxLength: 3 }),
      aggregate: fc.constantFrom('sum' as const, 'min' as const, 'max' as const),
      at: at2,
    }),
    fc.record({
      type: fc.constant('zadd' as const),
      key: anyKey,
      pairs: fc.array(fc.tuple(score, member), { minLength: 1, maxLength: 4 }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('zpop' as const),
      keys: fc.array(anyKey, { minLength: 1, maxLength: 2 }),
      side: fc.constantFrom('min' as const, 'max' as const),
      count: fc.integer({ min: 1, max: 3 }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('zremrange' as const),
      key: anyKey,
      range: fc.record({ by, min: text, max: text }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('sadd' as const),
      key: anyKey,
      members: fc.array(member, { minLength: 1, maxLength: 2 }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('lpush' as const),
      key: anyKey,
      elements: fc.array(member, { minLength: 1, maxLength: 2 }),
      end: fc.constantFrom('left' as const, 'right' as const),
      at: at2,
    }),
    fc.record({
      type: fc.constant('hset' as const),
      key: anyKey,
      pairs: fc.array(fc.tuple(member, member), { minLength: 1, maxLength: 2 }),
      at: at2,
    }),
    fc.record({ type: fc.constant('set' as const), key: anyKey, value: member, at: at2 }),
    fc.record({
      type: fc.constant('del' as const),
      keys: fc.array(anyKey, { minLength: 1, maxLength: 2 }),
      at: at2,
    }),
    fc.record({
      type: fc.constant('rename' as const),
      key: anyKey,
      destination: anyKey,
      at: at2,
    }),
    fc
      .record(
        {
          type: fc.constant('copy' as const),
          key: anyKey,
          destination: anyKey,
          replace: fc.constant(true as const),
          at: at2,
        },
        { requiredKeys: ['type', 'key', 'destination', 'at'] },
      )
      .filter((copy) => !copy.key.equals(copy.destination)),
    fc.record({
      type: fc.constant('expire' as const),
      key: anyKey,
      expiresAt: fc.constantFrom(at - 1, at + 500, at + 5_000),
      at: fc.constant(at),
    }),
    fc.constant({ type: 'expire-sweep', at: at + 1_000 } as Command),
  ];
  const single = fc.oneof(zsetCommand, ...others);
  const multi = fc.record({
    type: fc.constant('multi' as const),
    steps: fc.array(
      fc.oneof(
        single.filter((command) => command.type !== 'expire-sweep'),
        fc.record({ type: fc.constant('read' as const), keys: fc.array(anyKey, { maxLength: 2 }) }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
    watched: fc.constant([]),
    at: fc.constant(at),
  }) as fc.Arbitrary<Command>;
  return fc.oneof({ weight: 8, arbitrary: single }, { weight: 1, arbitrary: multi });
})();

/** Every read of a sorted set, of every key, compared between the two stores. */
async function compareZsetReads(twins: Twins, nowMs: number): Promise<void> {
  const texts = ['0', '-1', '1', '(1', '+inf', '-inf', '-', '+', '[b', '(a', '2', '-2'];
  const ranges: ZsetRange[] = [];
  for (const min of texts) {
    for (const max of texts) {
      for (const by of ['rank', 'score', 'lex'] as const) {
        const range = zsetRangeOf({ by, min: b(min), max: b(max) });
        if (range !== null) ranges.push(range);
      }
    }
  }
  const limits = [
    undefined,
    { offset: 0, count: 1 },
    { offset: 1, count: -1 },
    { offset: -1, count: 1 },
  ];
  for (const key of ['z1', 'z2', 'str', 'set', 'list', 'hash'].map(b)) {
    const type = await twins.read((store) => store.type(key, nowMs));
    if (type !== 'zset') {
      if (type !== 'none') {
        await twins.read(async (store) => {
          try {
            return await store.zsetSize(key, nowMs);
          } catch (error) {
            return (error as Error).message;
          }
        });
      }
      continue;
    }
    await twins.read((store) => zsetContent(store, key));
    const entries = await twins.read((store) => store.zsetRange(key, all, nowMs));
    const names = [...entries.map(([member]) => member), b('absent')];
    await twins.read((store) => store.zsetScores(key, names, nowMs));
    for (const member of names) {
      for (const reverse of [false, true]) {
        await twins.read((store) => store.zsetRank(key, member, reverse, nowMs));
      }
    }
    for (const [i, range] of ranges.entries()) {
      // Every range both ways; limits on a sample (they multiply the reads).
      for (const reverse of [false, true]) {
        for (const limit of i % 7 === 0 ? limits : [undefined]) {
          const selection = { range, reverse, ...(limit === undefined ? {} : { limit }) };
          await twins.read((store) => store.zsetRange(key, selection, nowMs));
        }
      }
      if (range.by !== 'rank') await twins.read((store) => store.zsetCount(key, range, nowMs));
    }
  }
  await twins.read((store) => store.dbsize(nowMs));
}

test('random sorted set commands give the same results and state on SQLite and PostgreSQL', async (t) => {
  // Goal: random batches of sorted set commands among every type's writes, RENAME, COPY,
  // DEL, expiry and MULTI, on keys that change type, give the same result for every entry
  // on both stores, and leave the same keys: types, expiries, every sorted set's members
  // and scores (-0 told from 0), encoding, ZSCAN pages, ranks and every range and count.
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.skip(`PostgreSQL not available: ${skip}`);
    return;
  }
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(mixedCommand, { minLength: 1, maxLength: 5 }), {
        minLength: 1,
        maxLength: 8,
      }),
      async (batches) => {
        // Twins of their own per run: a failing run leaves none behind out of step.
        const twins = await Twins.open(t);
        try {
          const log = new TestLog();
          for (const batch of batches) {
            await twins.apply(batch.map((command) => log.command(command)));
          }
          await twins.read(keyContent);
          await compareZsetReads(twins, at);
          await compareZsetReads(twins, at + 1_000);
        } finally {
          await twins.close();
        }
      },
    ),
    // Each run opens a pair of stores and compares every range and count on PostgreSQL
    // (about 0.8 s a run); the differential tests against Redis draw far more commands.
    { numRuns: 15 },
  );
});

test('sorted sets move with RENAME and COPY and give way to other types on both stores', async (t) => {
  // Goal: the named cases of keys changing type: a sorted set renamed and copied over keys
  // of every type and every type over it, SET, HSET, SADD and LPUSH on a key whose sorted
  // set was deleted or expired in the same batch, a FLUSHALL between two ZADDs of one batch,
  // an expire-sweep purging a sorted set; both stores agree and keep no stale members.
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.skip(`PostgreSQL not available: ${skip}`);
    return;
  }
  const twins = await Twins.open(t);
  const log = new TestLog();
  const many = Array.from({ length: 130 }, (_, i) => [String(i % 5), `m${i}`] as [string, string]);
  const setup = (): Command[] => [
    zadd('z', [
      ['1', 'a'],
      ['-0', 'b'],
    ]),
    zadd('big', many),
    { type: 'set', key: b('str'), value: b('v'), at },
    { type: 'sadd', key: b('set'), members: [b('a'), b('1')], at },
    { type: 'lpush', key: b('list'), elements: [b('a')], end: 'left', at },
    { type: 'hset', key: b('hash'), pairs: [[b('f'), b('v')]], at },
  ];
  const batches: Command[][] = [
    [...setup(), { type: 'rename', key: b('z'), destination: b('str'), at }],
    [{ type: 'copy', key: b('big'), destination: b('set'), replace: true, at }],
    [{ type: 'rename', key: b('list'), destination: b('big'), at }],
    [{ type: 'copy', key: b('hash'), destination: b('str'), replace: true, at }],
    [{ type: 'rename', key: b('set'), destination: b('hash'), at }],
    [
      { type: 'del', keys: [b('hash')], at },
      { type: 'hset', key: b('hash'), pairs: [[b('g'), b('w')]], at },
      zadd('z', [['3', 'c']]),
      { type: 'set', key: b('z'), value: b('now a string'), at },
      zadd('z', [['4', 'd']]),
    ],
    [...setup(), { type: 'flush', at }, zadd('z', [['5', 'e']]), zadd('z', [['6', 'f']])],
    [
      ...setup(),
      { type: 'expire', key: b('big'), expiresAt: at + 10, at },
      { type: 'expire-sweep', at: at + 20 },
      { type: 'sadd', key: b('big'), members: [b('m1')], at: at + 20 },
    ],
    [
      { type: 'expire', key: b('z'), expiresAt: at + 10, at },
      { ...zadd('z', [['7', 'g']]), at: at + 20 } as Command,
      { type: 'lpush', key: b('z'), elements: [b('x')], end: 'left', at: at + 20 },
    ],
    [
      // A set renamed onto a list, and a hash copied onto one: the list's rows go.
      { type: 'sadd', key: b('s2'), members: [b('a')], at },
      { type: 'lpush', key: b('l2'), elements: [b('x'), b('y')], end: 'left', at },
      { type: 'lpush', key: b('l3'), elements: [b('x')], end: 'left', at },
      { type: 'rename', key: b('s2'), destination: b('l2'), at },
      { type: 'copy', key: b('hash'), destination: b('l3'), replace: true, at },
    ],
    [
      zadd('z', [['1', 'a']]),
      {
        type: 'multi',
        steps: [
          zadd('z', [['2', 'b']]),
          { type: 'read', keys: [b('z')] },
          { type: 'rename', key: b('z'), destination: b('moved'), at },
          { type: 'zpop', keys: [b('moved')], side: 'max', count: 1, at },
          { type: 'hset', key: b('z'), pairs: [[b('f'), b('v')]], at },
        ],
        watched: [],
        at,
      } as Command,
    ],
  ];
  for (const batch of batches) {
    await twins.apply(batch.map((command) => log.command(command)));
    await twins.read(keyContent);
  }
  const types = await twins.read(async (store) => {
    const found: string[] = [];
    for (const key of ['z', 'moved', 'big', 'str', 'set', 'hash']) {
      found.push(await store.type(b(key), at + 20));
    }
    return found;
  });
  assert.deepEqual(types, ['hash', 'zset', 'set', 'string', 'set', 'hash']);
  assert.deepEqual(await members(twins.postgres, 'moved'), [
    ['a', 1],
    ['b', 2],
  ]);
  // No member row outlives its sorted set, nor belongs to a key of another type.
  const stale = await twins.postgres.query(
    `SELECT count(*) AS count FROM tandem.zset_members m
      WHERE NOT EXISTS (SELECT 1 FROM tandem.zsets z WHERE z.key = m.key)`,
  );
  assert.equal(Number(stale[0]?.count), 0);
  const mixed = await twins.postgres.query(
    `SELECT count(*) AS count FROM tandem.zsets z WHERE EXISTS (SELECT 1 FROM tandem.hashes h WHERE h.key = z.key)
      OR EXISTS (SELECT 1 FROM tandem.sets s WHERE s.key = z.key)
      OR EXISTS (SELECT 1 FROM tandem.lists l WHERE l.key = z.key)`,
  );
  assert.equal(Number(mixed[0]?.count), 0);
  const listAndOther = await twins.postgres.query(
    `SELECT count(*) AS count FROM tandem.lists l WHERE EXISTS (SELECT 1 FROM tandem.hashes h WHERE h.key = l.key)
      OR EXISTS (SELECT 1 FROM tandem.sets s WHERE s.key = l.key)`,
  );
  assert.equal(Number(listAndOther[0]?.count), 0, 'no key is a list and another type at once');
});

test('sorted sets cross between the stores through their snapshot images', async (t) => {
  // Goal: a SQLite image restored into PostgreSQL, and a PostgreSQL image restored into
  // SQLite, hold the same sorted sets (members, scores with -0 and infinities, encodings,
  // ZSCAN order, expiry), and the same commands afterwards give the same results and leave
  // the same keys on each; a PostgreSQL image restored into PostgreSQL too.
  const skip = postgresSkipReason();
  if (skip !== undefined) {
    t.skip(`PostgreSQL not available: ${skip}`);
    return;
  }
  const directory = tempDirectory(t);
  const sqlite = SqliteStore.open(path.join(directory, 'sqlite.db'));
  t.after(() => sqlite.close());
  const open = async (name: string): Promise<PostgresStore> => {
    const store = await PostgresStore.open(await freshDatabase(), {
      clusterId: 'zsets',
      snapshotsDirectory: path.join(directory, name),
    });
    t.after(() => store.close());
    return store;
  };
  const postgres = await open('pg');
  const restored = await open('restored');
  const twin = await open('twin');
  const back = SqliteStore.open(path.join(directory, 'back.db'));
  t.after(() => back.close());
  const log = new TestLog();
  const many = Array.from({ length: 200 }, (_, i) => [String(i / 3), `m${i}`] as [string, string]);
  const entries = [
    zadd('small', [
      ['2', 'z'],
      ['-0', 'neg'],
      ['inf', 'i'],
      ['-inf', 'j'],
    ]),
    zadd('big', many),
    zadd('big', [
      ['-0', 'negative zero'],
      ['1e-300', 'tiny'],
      ['0.1', 'tenth'],
    ]),
    { type: 'zrem', key: b('big'), members: [b('m3')], at },
    zadd('big', [['5', 'm3']]),
    { type: 'expire', key: b('small'), expiresAt: at + 5_000, at },
    { type: 'set', key: b('str'), value: b('v'), at },
  ].map((command) => log.command(command as Command));
  sqlite.apply(entries);
  await postgres.apply(entries);
  const fromSqlite = await sqlite.snapshot();
  await restored.restore(
    { index: fromSqlite.index, term: fromSqlite.term, checksum: fromSqlite.checksum },
    fromSqlite.chunks(),
  );
  await fromSqlite.dispose();
  const fromPostgres = await postgres.snapshot();
  const meta = {
    index: fromPostgres.index,
    term: fromPostgres.term,
    checksum: fromPostgres.checksum,
  };
  await back.restore(meta, fromPostgres.chunks());
  await twin.restore(meta, fromPostgres.chunks());
  await fromPostgres.dispose();
  const stores: NodeStore[] = [sqlite, postgres, restored, back, twin];
  const content = await keyContent(sqlite);
  for (const store of stores) assert.deepEqual(await keyContent(store), content);
  for (const store of stores) {
    assert.ok(Object.is((await store.zsetScores(b('big'), [b('negative zero')], at))?.[0], -0));
    assert.equal(await store.zsetEncoding(b('big'), at), 'skiplist');
    assert.equal(await store.zsetEncoding(b('small'), at), 'listpack');
    assert.equal(await store.ttlMs(b('small'), at), 5_000);
  }
  const next = [
    { type: 'zpop', keys: [b('small')], side: 'min', count: 2, at },
    zadd('big', [['-1', 'new']]),
    { type: 'zremrange', key: b('big'), range: { by: 'score', min: b('(0'), max: b('1') }, at },
    {
      type: 'zsetstore',
      operation: 'union',
      destination: b('u'),
      keys: [b('small'), b('big')],
      at,
    },
  ].map((command) => log.command(command as Command));
  const results = sqlite.apply(next);
  for (const store of stores.slice(1)) assert.deepEqual(await store.apply(next), results);
  const after = await keyContent(sqlite);
  for (const store of stores) assert.deepEqual(await keyContent(store), after);
});
