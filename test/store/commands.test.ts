import fc from 'fast-check';
import { Packr } from 'msgpackr';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TandemError, type ErrorCode } from '../../src/core/errors.js';
import {
  decodeCommand,
  delKeysMax,
  encodeCommand,
  expiresAtMsMax,
  keyBytesMax,
  msetPairsMax,
  sqlStatementsMax,
  validateCommand,
  valueBytesMax,
  type Command,
  type ExpireCondition,
  type SetCommand,
} from '../../src/store/commands.js';

const plain = new Packr({ useRecords: false });

function hasCode(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) =>
    error instanceof TandemError &&
    error.code === code &&
    (pattern === undefined || pattern.test(error.message));
}

/** Any bytes, as Buffers: what a decoded command holds. */
const key = fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes));
const value = fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes));
const b = (text: string): Buffer => Buffer.from(text, 'utf8');
const time = fc.nat({ max: 2 ** 45 });
const sqlValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);

/** Every command type with every optional field sometimes present. */
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    type: fc.constantFrom('sadd' as const, 'srem' as const),
    key,
    members: fc.array(value, { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc
    .record({
      type: fc.constant('spop' as const),
      key,
      members: fc.array(value, { maxLength: 3 }),
      count: fc.nat(),
      seed: fc.nat({ max: 2 ** 32 - 1 }),
      at: time,
    })
    .map((spop) => ({ ...spop, count: Math.max(spop.count, spop.members.length) })),
  fc.record({
    type: fc.constant('smove' as const),
    key,
    destination: key,
    member: value,
    at: time,
  }),
  fc.record({
    type: fc.constant('setstore' as const),
    operation: fc.constantFrom('inter' as const, 'union' as const, 'diff' as const),
    destination: key,
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc.record(
    {
      type: fc.constant('zadd' as const),
      key,
      pairs: fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 3 }),
      condition: fc.constantFrom('nx' as const, 'xx' as const),
      compare: fc.constantFrom('gt' as const, 'lt' as const),
      changed: fc.constant(true),
      at: time,
    },
    { requiredKeys: ['type', 'key', 'pairs', 'at'] },
  ),
  fc.record({
    type: fc.constant('zadd' as const),
    key,
    pairs: fc.tuple(value, value).map((pair) => [pair]),
    increment: fc.constant(true),
    at: time,
  }),
  fc.record({
    type: fc.constant('zrem' as const),
    key,
    members: fc.array(value, { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc.record({
    type: fc.constant('zpop' as const),
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    side: fc.constantFrom('min' as const, 'max' as const),
    count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    at: time,
  }),
  fc.record({
    type: fc.constant('zremrange' as const),
    key,
    range: fc.record({
      by: fc.constantFrom('rank' as const, 'score' as const, 'lex' as const),
      min: value,
      max: value,
    }),
    at: time,
  }),
  fc.record(
    {
      type: fc.constant('zrangestore' as const),
      destination: key,
      key,
      range: fc.record({
        by: fc.constantFrom('rank' as const, 'score' as const, 'lex' as const),
        min: value,
        max: value,
      }),
      reverse: fc.constant(true),
      offset: fc.integer(),
      count: fc.integer(),
      at: time,
    },
    { requiredKeys: ['type', 'destination', 'key', 'range', 'at'] },
  ),
  fc
    .record(
      {
        type: fc.constant('zsetstore' as const),
        operation: fc.constantFrom('union' as const, 'inter' as const, 'diff' as const),
        destination: key,
        keys: fc.array(key, { minLength: 1, maxLength: 3 }),
        weights: fc.constant([] as Buffer[]),
        aggregate: fc.constantFrom('sum' as const, 'min' as const, 'max' as const),
        at: time,
      },
      { requiredKeys: ['type', 'operation', 'destination', 'keys', 'at'] },
    )
    .map((store) =>
      store.weights === undefined ? store : { ...store, weights: store.keys.map(() => b('2')) },
    ),
  fc.record(
    {
      type: fc.constant('lpush' as const),
      key,
      elements: fc.array(value, { minLength: 1, maxLength: 3 }),
      end: fc.constantFrom('left' as const, 'right' as const),
      condition: fc.constant('xx' as const),
      at: time,
    },
    { requiredKeys: ['type', 'key', 'elements', 'end', 'at'] },
  ),
  fc.record(
    {
      type: fc.constant('lpop' as const),
      key,
      end: fc.constantFrom('left' as const, 'right' as const),
      count: fc.nat(),
      at: time,
    },
    { requiredKeys: ['type', 'key', 'end', 'at'] },
  ),
  fc.record({
    type: fc.constant('lset' as const),
    key,
    index: fc.integer(),
    element: value,
    at: time,
  }),
  fc.record({
    type: fc.constant('linsert' as const),
    key,
    where: fc.constantFrom('before' as const, 'after' as const),
    pivot: value,
    element: value,
    at: time,
  }),
  fc.record({
    type: fc.constant('lrem' as const),
    key,
    count: fc.integer(),
    element: value,
    at: time,
  }),
  fc.record({
    type: fc.constant('ltrim' as const),
    key,
    start: fc.maxSafeInteger(),
    stop: fc.maxSafeInteger(),
    at: time,
  }),
  fc.record({
    type: fc.constant('lmove' as const),
    key,
    destination: key,
    from: fc.constantFrom('left' as const, 'right' as const),
    to: fc.constantFrom('left' as const, 'right' as const),
    at: time,
  }),
  fc.record({
    type: fc.constant('lmpop' as const),
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    end: fc.constantFrom('left' as const, 'right' as const),
    count: fc.integer({ min: 1 }),
    at: time,
  }),
  fc
    .record(
      {
        type: fc.constant('hset' as const),
        key,
        pairs: fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 3 }),
        condition: fc.constant('nx' as const),
        at: time,
      },
      { requiredKeys: ['type', 'key', 'pairs', 'at'] },
    )
    .map((hset) =>
      hset.condition === undefined ? hset : { ...hset, pairs: hset.pairs.slice(0, 1) },
    ),
  fc.record({
    type: fc.constant('hdel' as const),
    key,
    fields: fc.array(value, { minLength: 1, maxLength: 3 }),
    at: time,
  }),
  fc.record({
    type: fc.constant('hincrby' as const),
    key,
    field: value,
    by: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    at: time,
  }),
  fc.record({ type: fc.constant('hincrbyfloat' as const), key, field: value, by: value, at: time }),
  fc
    .record(
      {
        type: fc.constant('set' as const),
        key,
        value,
        at: time,
        expiresAt: fc.option(time),
        condition: fc.constantFrom('nx' as const, 'xx' as const),
        ifVersion: fc.record({ index: fc.nat(), term: fc.nat() }),
        returnOld: fc.boolean(),
        keepTtl: fc.constant(true as const),
      },
      { requiredKeys: ['type', 'key', 'value', 'at'] },
    )
    .filter((set) => set.keepTtl === undefined || set.expiresAt === undefined),
  fc.record({
    type: fc.constant('mset' as const),
    pairs: fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 5 }),
    at: time,
  }),
  fc.record({
    type: fc.constant('del' as const),
    keys: fc.array(key, { minLength: 1, maxLength: 5 }),
    at: time,
  }),
  fc.record({
    type: fc.constant('del' as const),
    keys: fc.tuple(key),
    at: time,
    ifVersion: fc.record({ index: fc.nat(), term: fc.nat() }),
  }),
  fc.record({ type: fc.constant('incrby' as const), key, by: fc.maxSafeInteger(), at: time }),
  fc.record({ type: fc.constant('append' as const), key, value, at: time }),
  fc.record({ type: fc.constant('expire' as const), key, expiresAt: fc.option(time), at: time }),
  fc.record(
    {
      type: fc.constant('expire' as const),
      key,
      expiresAt: time,
      at: time,
      condition: fc.constantFrom<ExpireCondition>('nx', 'xx', 'gt', 'lt', 'xx-lt'),
    },
    { requiredKeys: ['type', 'key', 'expiresAt', 'at'] },
  ),
  fc.record({ type: fc.constant('flush' as const), at: time }),
  fc.record({ type: fc.constant('expire-sweep' as const), at: time }),
  fc.record({ type: fc.constant('publish' as const), channel: key, message: key, at: time }),
  fc.record({
    type: fc.constant('sql' as const),
    statements: fc.array(
      fc.record(
        {
          sql: fc.constantFrom('SELECT 1', 'INSERT INTO t VALUES (?, ?)', 'UPDATE t SET a = :a'),
          params: fc.oneof(
            fc.array(sqlValue, { maxLength: 4 }),
            fc.dictionary(fc.constantFrom('a', 'b'), sqlValue),
          ),
        },
        { requiredKeys: ['sql'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);

test('every well-formed command survives encode and decode unchanged', () => {
  // Goal: the codec is lossless for every command type and field, and what the leader
  // validates is what replicas decode.
  fc.assert(
    fc.property(commandArbitrary, (command) => {
      validateCommand(command);
      assert.deepEqual(decodeCommand(encodeCommand(command)), command);
    }),
    { numRuns: 500 },
  );
});

test('SQL integers past 2^53 keep every digit through the codec; past int8 they are refused', () => {
  // Goal: a bigint parameter is the same bigint on every replica, and one SQL cannot
  // store exactly is a clear error on the leader rather than a rounded value.
  const exact = [9007199254740993n, 2n ** 63n - 1n, -(2n ** 63n)];
  const command: Command = {
    type: 'sql',
    statements: [{ sql: 'INSERT INTO t VALUES (?, ?, ?)', params: exact }],
  };
  validateCommand(command);
  assert.deepEqual(decodeCommand(encodeCommand(command)), command);
  for (const outside of [2n ** 63n, -(2n ** 63n) - 1n]) {
    assert.throws(
      () => validateCommand({ type: 'sql', statements: [{ sql: 'SELECT ?', params: [outside] }] }),
      hasCode('TANDEM_BAD_REQUEST', /params must be .*integers from -2\^63 to 2\^63-1/),
    );
  }
});

test('entries written before KEEPTTL and EXPIRE conditions decode to the old behaviour', () => {
  // Goal: a SET or EXPIRE encoded without the new fields decodes without them, so it
  // still removes the expiry (SET) or sets it unconditionally (EXPIRE) on every replica.
  const oldSet = plain.pack({ type: 'set', key: 'k', value: 'v', at: 1, expiresAt: 9 });
  const oldExpire = plain.pack({ type: 'expire', key: 'k', expiresAt: 9, at: 1 });
  assert.deepEqual(decodeCommand(oldSet), {
    type: 'set',
    key: b('k'),
    value: b('v'),
    at: 1,
    expiresAt: 9,
  });
  assert.deepEqual(decodeCommand(oldExpire), { type: 'expire', key: b('k'), expiresAt: 9, at: 1 });
  const kept = { type: 'set', key: b('k'), value: b('v'), at: 1, keepTtl: true } as const;
  assert.deepEqual(decodeCommand(plain.pack(kept)), kept);
});

test('entries written when keys and values were text decode as their UTF-8 bytes', () => {
  // Goal: a log written by an older version, whose keys and values are MessagePack
  // strings, applies the same bytes a new entry carrying them would.
  const old = [
    { type: 'set', key: 'café', value: 'naïve ☃', at: 1 },
    { type: 'append', key: 'k', value: 'é', at: 1 },
    { type: 'incrby', key: 'n', by: 1, at: 1 },
    { type: 'expire', key: 'k', expiresAt: null, at: 1 },
    { type: 'del', keys: ['a', 'é'], at: 1 },
    { type: 'del', keys: ['é'], at: 1, ifVersion: { index: 3, term: 1 } },
    {
      type: 'set',
      key: 'k',
      value: 'v',
      at: 1,
      expiresAt: expiresAtMsMax,
      ifVersion: { index: 3, term: 1 },
    },
    { type: 'sql', statements: [{ sql: 'SELECT ?', params: [2n ** 63n - 1n, 'k'] }], at: 1 },
    {
      type: 'mset',
      pairs: [
        ['a', '1'],
        ['é', 'ü'],
      ],
      at: 1,
    },
  ];
  const upgraded: Command[] = [
    { type: 'set', key: b('café'), value: b('naïve ☃'), at: 1 },
    { type: 'append', key: b('k'), value: b('é'), at: 1 },
    { type: 'incrby', key: b('n'), by: 1, at: 1 },
    { type: 'expire', key: b('k'), expiresAt: null, at: 1 },
    { type: 'del', keys: [b('a'), b('é')], at: 1 },
    { type: 'del', keys: [b('é')], at: 1, ifVersion: { index: 3, term: 1 } },
    {
      type: 'set',
      key: b('k'),
      value: b('v'),
      at: 1,
      expiresAt: expiresAtMsMax,
      ifVersion: { index: 3, term: 1 },
    },
    // SQL keeps its text and its exact 64-bit integers: only keys and values become bytes.
    { type: 'sql', statements: [{ sql: 'SELECT ?', params: [2n ** 63n - 1n, 'k'] }], at: 1 },
    {
      type: 'mset',
      pairs: [
        [b('a'), b('1')],
        [b('é'), b('ü')],
      ],
      at: 1,
    },
  ];
  old.forEach((command, i) => {
    const decoded = decodeCommand(plain.pack(command));
    assert.deepEqual(decoded, upgraded[i]);
    assert.deepEqual(decodeCommand(encodeCommand(decoded)), upgraded[i]);
  });
});

test('keys and values that are not UTF-8 survive the codec byte for byte', () => {
  // Goal: bytes such as 0xE9 alone or 0xFF, which no UTF-8 text holds, are neither
  // replaced nor refused.
  const command: Command = {
    type: 'set',
    key: Buffer.from([0x00, 0xff, 0xfe]),
    value: Buffer.from([0x63, 0x61, 0x66, 0xe9]),
    at: 1,
  };
  validateCommand(command);
  assert.deepEqual(decodeCommand(encodeCommand(command)), command);
});

test('expiries past 2^53 ms, up to Redis 64-bit limit, survive encode and decode exactly', () => {
  // Goal: PEXPIREAT near 2^63 (Redis takes it) is carried to every replica unchanged.
  for (const expiresAt of [2 ** 53 + 2, Number(9223372036854770000n), expiresAtMsMax]) {
    const expire: Command = { type: 'expire', key: b('k'), expiresAt, at: 1 };
    const set: Command = { type: 'set', key: b('k'), value: b('v'), at: 1, expiresAt };
    for (const command of [expire, set]) {
      validateCommand(command);
      assert.deepEqual(decodeCommand(encodeCommand(command)), command);
    }
  }
});

test('random bytes either decode to a well-formed command or throw TANDEM_CORRUPT', () => {
  // Goal: no input makes decode throw anything else or return a malformed command.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        validateCommand(decodeCommand(bytes));
      } catch (error) {
        assert.ok(hasCode('TANDEM_CORRUPT')(error), String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

test('a SET is encoded in the binary layout, and its MessagePack form still decodes the same', () => {
  // Goal: the hot write skips MessagePack, every SET field survives it, a SET with a
  // session or a version condition keeps MessagePack, and entries written before the
  // binary layout apply as they did.
  const setArbitrary = fc.record(
    {
      type: fc.constant('set' as const),
      key: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
      value: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      at: fc.nat({ max: 2 ** 50 }),
      expiresAt: fc.option(fc.nat({ max: 2 ** 52 }), { nil: null }),
      condition: fc.constantFrom('nx' as const, 'xx' as const),
      returnOld: fc.boolean(),
    },
    { requiredKeys: ['type', 'key', 'value', 'at'] },
  );
  fc.assert(
    fc.property(setArbitrary, fc.boolean(), (drawn, keepTtl) => {
      const command = (
        keepTtl && drawn.expiresAt === undefined ? { ...drawn, keepTtl: true } : drawn
      ) as SetCommand;
      validateCommand(command);
      const bytes = encodeCommand(command);
      assert.equal(bytes[0], 0xc1);
      assert.deepEqual(decodeCommand(bytes), command);
      assert.deepEqual(decodeCommand(plain.pack(command)), command);
    }),
    { numRuns: 500 },
  );
  const versioned = {
    type: 'set',
    key: b('k'),
    value: b('v'),
    at: 1,
    ifVersion: { index: 3, term: 1 },
  };
  const bytes = encodeCommand(versioned as SetCommand);
  assert.notEqual(bytes[0], 0xc1);
  assert.deepEqual(decodeCommand(bytes), versioned);
});

test('bytes in the binary layout either decode to a well-formed SET or throw TANDEM_CORRUPT', () => {
  // Goal: a damaged binary entry never applies as something else: bad flags, a key
  // longer than the entry, a truncated header, a bad time or an unknown layout are refused.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(1, 2, 0), (tail, layout) => {
      const bytes = Buffer.concat([Buffer.from([0xc1, layout]), tail]);
      try {
        validateCommand(decodeCommand(bytes));
      } catch (error) {
        assert.ok(hasCode('TANDEM_CORRUPT')(error), String(error));
      }
    }),
    { numRuns: 3000 },
  );
  const good = Buffer.from(encodeCommand({ type: 'set', key: b('key'), value: b('v'), at: 5 }));
  const damaged = (at: number, byte: number): Buffer => {
    const copy = Buffer.from(good);
    copy[at] = byte;
    return copy;
  };
  assert.throws(() => decodeCommand(damaged(1, 9)), /unknown binary layout 9/);
  assert.throws(() => decodeCommand(damaged(2, 0x80)), /SET flags 128/);
  assert.throws(() => decodeCommand(damaged(2, 3)), /SET flags 3/);
  assert.throws(() => decodeCommand(damaged(11, 200)), /key past its end/);
  assert.throws(() => decodeCommand(good.subarray(0, 16)), /too short/);
  assert.throws(() => decodeCommand(good.subarray(0, good.length - 1)), /value of 1 bytes in 0/);
  assert.throws(() => decodeCommand(Buffer.concat([good, b('x')])), /value of 1 bytes in 2/);
  assert.throws(() => decodeCommand(damaged(10, 0xff)), /set.at must be a time/);
});

test('malformed commands are refused as TANDEM_CORRUPT naming the problem', () => {
  // Goal: each kind of malformation is caught, never applied as something else.
  // MessagePack's form (a SET's binary form has a test of its own).
  const good = plain.pack({ type: 'set', key: b('k'), value: b('v'), at: 1 });
  const cases: [unknown, RegExp][] = [
    [{ type: 'get', key: 'k', at: 1 }, /unknown command type "get"/],
    [{ key: 'k', at: 1 }, /unknown command type/],
    [['set', 'k', 'v'], /must be a map/],
    [42, /must be a map/],
    [{ type: 'set', key: 'k', value: 'v' }, /set.at/],
    [{ type: 'set', key: 'k', value: 'v', at: -1 }, /set.at/],
    [{ type: 'set', key: 'k', value: 'v', at: 1.5 }, /set.at/],
    [{ type: 'set', key: 'k', value: 7, at: 1 }, /set.value/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, condition: 'maybe' }, /set.condition/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, ifVersion: { index: 1 } }, /set.ifVersion/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, extra: true }, /unknown field "extra"/],
    [{ type: 'set', key: 'k', value: 'v', at: new Date(1) }, /set.at/],
    [{ type: 'mset', pairs: [['k']], at: 1 }, /mset.pairs/],
    [{ type: 'mset', pairs: [], at: 1 }, /mset.pairs/],
    [{ type: 'del', keys: [], at: 1 }, /at least one key/],
    [{ type: 'publish', channel: 'c', message: b('m'), at: 1 }, /publish.channel/],
    [{ type: 'publish', channel: b('c'), at: 1 }, /publish.message/],
    [{ type: 'del', keys: [1], at: 1 }, /del.keys/],
    [{ type: 'del', keys: ['a', 'b'], at: 1, ifVersion: { index: 1, term: 1 } }, /one key/],
    [{ type: 'del', keys: ['a'], at: 1, ifVersion: { index: -1, term: 1 } }, /del.ifVersion/],
    [{ type: 'incrby', key: 'k', by: 2 ** 60, at: 1 }, /incrby.by/],
    [{ type: 'incrby', key: 'k', by: 0.5, at: 1 }, /incrby.by/],
    [{ type: 'expire', key: 'k', at: 1 }, /expire.expiresAt/],
    [{ type: 'expire', key: 'k', expiresAt: 2 ** 63, at: 1 }, /expire.expiresAt/],
    [{ type: 'expire', key: 'k', expiresAt: 0.5, at: 1 }, /expire.expiresAt/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, expiresAt: 2 ** 63 }, /set.expiresAt/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, keepTtl: false }, /set.keepTtl must be true/],
    [{ type: 'set', key: 'k', value: 'v', at: 1, keepTtl: 1 }, /set.keepTtl must be true/],
    [
      { type: 'set', key: 'k', value: 'v', at: 1, keepTtl: true, expiresAt: 5 },
      /keepTtl cannot be combined/,
    ],
    [
      { type: 'set', key: 'k', value: 'v', at: 1, keepTtl: true, expiresAt: null },
      /keepTtl cannot be combined/,
    ],
    [{ type: 'expire', key: 'k', expiresAt: 5, at: 1, condition: 'ge' }, /expire.condition/],
    [{ type: 'expire', key: 'k', expiresAt: 5, at: 1, condition: 'NX' }, /expire.condition/],
    [{ type: 'expire', key: 'k', expiresAt: null, at: 1, condition: 'nx' }, /PERSIST/],
    [{ type: 'rename', key: 'k', destination: 'd', at: 1 }, /rename.destination must be bytes/],
    [{ type: 'rename', key: 'k', destination: b('d'), at: 1, condition: 'xx' }, /rename.condition/],
    [{ type: 'copy', key: 'k', destination: b('k'), at: 1 }, /copy.destination must differ/],
    [{ type: 'copy', key: 'k', destination: b('d'), at: 1, replace: false }, /copy.replace/],
    [{ type: 'sql', statements: [] }, /sql.statements/],
    [{ type: 'sql', statements: [{ sql: 1 }] }, /sql.statements\[0\]/],
    [{ type: 'sql', statements: [{ sql: 'SELECT ?', params: [{}] }] }, /params/],
    [{ type: 'sql', statements: [{ sql: 'SELECT ?', params: [Infinity] }] }, /params/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(
      () => decodeCommand(plain.pack(value)),
      hasCode('TANDEM_CORRUPT', pattern),
      JSON.stringify(value),
    );
  }
  assert.throws(
    () => decodeCommand(good.subarray(0, good.length - 1)),
    hasCode('TANDEM_CORRUPT', /does not decode/),
  );
  assert.throws(
    () => decodeCommand(Buffer.concat([good, Buffer.from([0x01])])),
    hasCode('TANDEM_CORRUPT'),
  );
  assert.throws(() => decodeCommand(new Uint8Array(0)), hasCode('TANDEM_CORRUPT'));
});

test('the leader refuses commands over the limits with TANDEM_BAD_REQUEST', () => {
  // Goal: every named limit is enforced with a message that says which and by how much.
  const over = (bytes: number): Buffer => Buffer.alloc(bytes + 1, 0xff);
  const cases: [Command, RegExp][] = [
    [
      { type: 'set', key: over(keyBytesMax), value: b('v'), at: 1 },
      /key is 513 bytes, over the maximum of 512/,
    ],
    [
      { type: 'rename', key: b('k'), destination: over(keyBytesMax), at: 1 },
      /destination key is 513 bytes, over the maximum of 512/,
    ],
    [
      { type: 'copy', key: over(keyBytesMax), destination: b('d'), at: 1 },
      /key is 513 bytes, over the maximum of 512/,
    ],
    [
      { type: 'set', key: b('é'.repeat(keyBytesMax / 2 + 1)), value: b('v'), at: 1 },
      /key is 514 bytes/,
    ],
    [{ type: 'append', key: b('k'), value: over(valueBytesMax), at: 1 }, /value is \d+ bytes/],
    [
      {
        type: 'mset',
        pairs: Array.from({ length: msetPairsMax + 1 }, () => [b('k'), b('v')] as const),
        at: 1,
      },
      /MSET of 1025 pairs/,
    ],
    [
      { type: 'del', keys: Array.from({ length: delKeysMax + 1 }, () => b('k')), at: 1 },
      /DEL of 1025 keys/,
    ],
    [
      {
        type: 'sql',
        statements: Array.from({ length: sqlStatementsMax + 1 }, () => ({ sql: 'SELECT 1' })),
      },
      /65 statements/,
    ],
    [
      { type: 'sql', statements: [{ sql: 'SELECT 1' }, { sql: 'SELECT random()' }] },
      /^statement 2: SQL refused: random\(\)/,
    ],
    [{ type: 'set', key: b('k'), value: b('v'), at: -5 }, /set.at/],
    [
      { type: 'set', key: b('k'), value: b('v'), at: 1, keepTtl: true, expiresAt: 9 },
      /keepTtl cannot be combined with set.expiresAt/,
    ],
    [
      { type: 'expire', key: b('k'), expiresAt: null, at: 1, condition: 'xx' },
      /expire.condition needs an expiresAt/,
    ],
  ];
  for (const [command, pattern] of cases) {
    assert.throws(
      () => validateCommand(command),
      hasCode('TANDEM_BAD_REQUEST', pattern),
      pattern.source,
    );
  }
  validateCommand({
    type: 'set',
    key: Buffer.alloc(keyBytesMax, 0xff),
    value: Buffer.alloc(valueBytesMax, 0xe9),
    at: 1,
  });
  const big = Buffer.alloc(valueBytesMax, 0x76);
  const tooLarge: Command = {
    type: 'mset',
    pairs: [
      [b('a'), big],
      [b('b'), big],
    ],
    at: 1,
  };
  validateCommand(tooLarge);
  assert.throws(() => encodeCommand(tooLarge), hasCode('TANDEM_ENTRY_TOO_LARGE'));
});
