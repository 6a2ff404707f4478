// Differential: the set commands (SADD SREM SISMEMBER SMISMEMBER SMEMBERS SCARD SPOP
// SRANDMEMBER SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SSCAN),
// the string and hash commands on set keys and the set commands on string keys (WRONGTYPE),
// and the key commands on sets (TYPE, OBJECT ENCODING, SCAN TYPE, RENAME, COPY, EXPIRE,
// DEL), driven with the same random commands on redis-server 7 and on a Tandem node, every
// reply compared.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Reply } from '../../src/api/resp/reply.js';
import { srandmemberRepeatsMax, srandmemberRepeatsRefused } from '../../src/api/resp/sets.js';
import { comparable, RawClient, sameReply } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** How far the two servers' TTLs may differ: they read their clocks apart. */
const ttlSlackMs = 2_000;
/** How long either server may take to answer one command before the test fails. */
const replyTimeoutMs = 10_000;
/** Redis's LONG_MAX, the bound of SRANDMEMBER's count. */
const longMax = 2n ** 63n - 1n;

const keys = ['t1', 't2', 't3', 's1'] as const;
/** Three keys that hold sets, and one that holds a string (each run sets it first). */
const key = fc.constantFrom(...keys);
/** Members: integers (an intset's), words (a hashtable's), and integers' near misses. */
const member = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('1', '2', '3', '-5', '10', 'a', 'b') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '007',
      '-0',
      '+1',
      ' 1',
      '9223372036854775807',
      '-9223372036854775808',
      '9223372036854775808',
      '',
      'x'.repeat(70),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }) },
);
const members = fc.array(member, { minLength: 1, maxLength: 4 });
const randomCount = fc.oneof(
  fc.integer({ min: -5, max: 5 }).map(String),
  fc.constantFrom(
    'x',
    '9223372036854775807',
    '-9223372036854775808',
    '-9223372036854775807',
    String(-srandmemberRepeatsMax - 1),
  ),
);
const popCount = fc.oneof(
  fc.integer({ min: -1, max: 6 }).map(String),
  fc.constantFrom('x', '9223372036854775807', '9223372036854775808', ''),
);
/** SADD of 513 integers at once: past set-max-intset-entries (512 in Redis 7.0). */
const manyIntegers = Array.from({ length: 513 }, (_, i) => String(i * 3));

const setCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('SADD', 'sadd', 'SREM'), key, members).map(([n, k, m]) => [n, k, ...m]),
  fc.tuple(fc.constant('SADD'), key, members).map(([n, k, m]) => [n, k, ...m]),
  fc.tuple(fc.constant('SISMEMBER'), key, member).map((c) => [...c]),
  fc.tuple(fc.constant('SMISMEMBER'), key, members).map(([n, k, m]) => [n, k, ...m]),
  fc.tuple(fc.constantFrom('SMEMBERS', 'SCARD'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('SPOP', 'SRANDMEMBER'), key).map((c) => [...c]),
  fc.tuple(fc.constant('SPOP'), key, popCount).map((c) => [...c]),
  fc.tuple(fc.constant('SRANDMEMBER'), key, randomCount).map((c) => [...c]),
  fc.tuple(fc.constant('SMOVE'), key, key, member).map((c) => [...c]),
  fc
    .tuple(
      fc.constantFrom('SINTER', 'SUNION', 'SDIFF'),
      fc.array(key, { minLength: 1, maxLength: 3 }),
    )
    .map(([n, k]) => [n, ...k]),
  fc
    .tuple(
      fc.constantFrom('SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE'),
      key,
      fc.array(key, { minLength: 1, maxLength: 3 }),
    )
    .map(([n, d, k]) => [n, d, ...k]),
  fc
    .tuple(
      fc.constant('SINTERCARD'),
      fc.constantFrom('1', '2', '3', '0', '-1', 'x', '4'),
      fc.array(key, { minLength: 1, maxLength: 3 }),
      fc.constantFrom([], ['LIMIT', '1'], ['LIMIT', '0'], ['LIMIT', '-1'], ['LIMIT'], ['X', '1']),
    )
    .map(([n, count, k, o]) => [n, count, ...k, ...o]),
  fc
    .tuple(
      fc.constant('SSCAN'),
      key,
      fc.constantFrom('0', '0', 'x', '-1'),
      fc.constantFrom(
        [],
        ['MATCH', '1*'],
        ['COUNT', '2'],
        ['COUNT', '0'],
        ['COUNT', 'x'],
        ['MATCH'],
        ['TYPE', 'set'],
        ['BAD', '1'],
      ),
    )
    .map(([n, k, c, o]) => [n, k, c, ...o]),
  fc.constantFrom(['SADD', 't1', ...manyIntegers], ['SADD', 't2', 'big', 'x'.repeat(100)]),
  // Wrong arities: Redis's error texts.
  fc.constantFrom(
    ['SADD', 't1'],
    ['SREM', 't1'],
    ['SISMEMBER', 't1'],
    ['SMISMEMBER', 't1'],
    ['SMEMBERS'],
    ['SCARD', 't1', 't2'],
    ['SPOP'],
    ['SPOP', 't1', '1', '2'],
    ['SRANDMEMBER', 't1', '1', '2'],
    ['SMOVE', 't1', 't2'],
    ['SINTER'],
    ['SINTERCARD', '1'],
    ['SINTERSTORE', 't1'],
    ['SSCAN', 't1'],
  ),
);
/** Commands of the other families on any key: WRONGTYPE, or the same effect on a set. */
const otherCommand: fc.Arbitrary<string[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom('GET', 'STRLEN', 'INCR', 'GETDEL', 'TYPE', 'HLEN', 'HGETALL'), key)
    .map((c) => [...c]),
  fc.tuple(fc.constantFrom('SET', 'APPEND'), key, member).map((c) => [...c]),
  fc.tuple(fc.constant('HSET'), key, member, member).map((c) => [...c]),
  fc.tuple(fc.constant('MGET'), key, key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('DEL', 'EXISTS', 'PERSIST'), key).map((c) => [...c]),
  fc.tuple(fc.constant('OBJECT'), fc.constant('ENCODING'), key).map((c) => [...c]),
  fc.tuple(fc.constantFrom('RENAME', 'RENAMENX', 'COPY'), key, key).map((c) => [...c]),
  fc.tuple(fc.constant('COPY'), key, key, fc.constant('REPLACE')).map((c) => [...c]),
  fc.tuple(fc.constant('EXPIRE'), key, fc.constantFrom('100', '1000')).map((c) => [...c]),
  fc.constantFrom(['SCAN', '0', 'TYPE', 'set', 'COUNT', '100'], ['SCAN', '0', 'TYPE', 'string']),
);
const command = fc.oneof(setCommand, setCommand, setCommand, otherCommand);

/** Commands whose reply lists members in an order of Redis's own (a hashtable's). */
const listing = new Set(['SMEMBERS', 'SINTER', 'SUNION', 'SDIFF']);

/**
 * A reply as it is compared: exactly, but for what is random or order-free by design:
 * SRANDMEMBER's and SPOP's picks (their count and kind), listings (sorted, but SMEMBERS of
 * an intset, which Redis answers ascending, exactly), an SSCAN page of a hashtable (only
 * an array: its cursor is Redis's own), SCAN's keys (sorted), and a string's int, embstr or
 * raw (Redis's depends on how the value was made).
 */
function compared(args: readonly string[], reply: Reply | 'closed', encoding: unknown): unknown {
  const name = (args[0] as string).toUpperCase();
  const value = comparable(reply);
  if (!Array.isArray(value)) {
    if (name === 'OBJECT' && ['$raw', '$embstr', '$int'].includes(value as string))
      return 'a string';
    const random = name === 'SRANDMEMBER' || name === 'SPOP';
    return random && typeof value === 'string' && value.startsWith('$') ? 'a member' : value;
  }
  if (name === 'SRANDMEMBER' || name === 'SPOP') return `${value.length} elements`;
  if (name === 'SCAN') return [value[0], [...(value[1] as unknown[])].sort()];
  if (name === 'SSCAN') return encoding === '$hashtable' ? 'a page of a hashtable' : value;
  if (!listing.has(name)) return value;
  if (name === 'SMEMBERS' && encoding === '$intset') return value;
  return [...value].sort();
}

/**
 * `server`'s reply to `args`, failing the test when it does not come within replyTimeoutMs
 * or the server hangs up, and naming the server that did.
 */
async function replyOf(client: RawClient, server: string, args: readonly string[]) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${server} did not answer ${args.join(' ')} in ${replyTimeoutMs} ms`)),
      replyTimeoutMs,
    );
  });
  try {
    const reply = await Promise.race([client.call(...args), late]);
    assert.ok(reply !== 'closed', `${server} closed the connection on ${args.join(' ')}`);
    return reply;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether `args`, on a set, is an SRANDMEMBER that Redis 7.0 answers with more picks than
 * srandmemberRepeatsMax: a negative count it takes (down to -LONG_MAX) gives that many
 * picks, one reply element each. Near -2^63 that loop holds Redis's one thread until its
 * memory runs out, so such a command is never sent to it; Tandem refuses it.
 */
function repeatsPastTandemsBound(args: readonly string[]): boolean {
  if (args[0]?.toUpperCase() !== 'SRANDMEMBER' || args.length !== 3) return false;
  if (!/^-[0-9]+$/.test(args[2] as string)) return false;
  const count = BigInt(args[2] as string);
  return count >= -longMax && -count > BigInt(srandmemberRepeatsMax);
}

/** The members of a reply (an array of bulk strings, or one), as latin1 texts. */
function membersOf(reply: Reply): string[] {
  if (Buffer.isBuffer(reply)) return [reply.toString('latin1')];
  return Array.isArray(reply) ? reply.map((item) => (item as Buffer).toString('latin1')) : [];
}

/**
 * Checks what is random in a reply on Tandem's own state: SRANDMEMBER's members are the
 * set's (distinct for a positive count), SPOP's were (and are gone).
 */
async function checkPicks(
  ours: RawClient,
  args: readonly string[],
  reply: Reply,
  before: readonly string[],
): Promise<void> {
  const picked = membersOf(reply);
  const name = (args[0] as string).toUpperCase();
  for (const one of picked) assert.ok(before.includes(one), `${args.join(' ')}: ${one} picked`);
  if (name === 'SPOP' || !(args[2] ?? '').startsWith('-')) {
    assert.equal(new Set(picked).size, picked.length, `${args.join(' ')}: repeats`);
  }
  if (name !== 'SPOP') return;
  const after = membersOf(await ours.call('SMEMBERS', args[1] as string));
  for (const one of picked) assert.ok(!after.includes(one), `${args.join(' ')}: ${one} stayed`);
}

/**
 * After an SPOP the two servers popped members of their own choosing: Redis's key is made
 * Tandem's again (its members, its encoding, its expiry kept), so that the run goes on
 * comparing from one state.
 */
async function resync(ours: RawClient, theirs: RawClient, k: string): Promise<void> {
  const wanted = membersOf(await ours.call('SMEMBERS', k));
  const encoding = comparable(await ours.call('OBJECT', 'ENCODING', k));
  const expiry = await theirs.call('PEXPIRETIME', k);
  await theirs.call('DEL', k);
  if (wanted.length === 0) return;
  // A set begun with a word is a hashtable for good, as Tandem's may be with integers only.
  const sentinel = '\u0000not an integer';
  const first = encoding === '$hashtable' ? [sentinel] : [];
  await theirs.call('SADD', k, ...first, ...wanted);
  if (first.length > 0) await theirs.call('SREM', k, sentinel);
  if (typeof expiry === 'number' && expiry > 0) {
    await theirs.call('PEXPIREAT', k, String(expiry));
  }
}

/**
 * The bytes a server answers to `commands` after HELLO 3 (whose own reply, which names the
 * server, is left out), read until the last command's `+PONG`.
 */
async function resp3Bytes(port: number, commands: readonly string[][]): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const encode = (args: readonly string[]) =>
    `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(encode(['HELLO', '3']));
    // HELLO's reply is a map ending with its modules array, empty on both servers.
    const helloEnd = '$7\r\nmodules\r\n*0\r\n';
    await until(() => received.includes(helloEnd));
    received = received.slice(received.indexOf(helloEnd) + helloEnd.length);
    socket.write(commands.map(encode).join(''));
    await until(() => received.endsWith('+PONG\r\n'));
    return received;
  } finally {
    socket.destroy();
  }
}

/** Waits until `done()` holds, for up to replyTimeoutMs. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + replyTimeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('no reply in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends `args` to both servers and checks their replies alike, as `compared` says. */
async function sameAnswer(
  ours: RawClient,
  theirs: RawClient,
  args: readonly string[],
): Promise<void> {
  const encoding = comparable(
    await replyOf(theirs, 'redis-server', ['OBJECT', 'ENCODING', args[1] ?? '']),
  );
  if (repeatsPastTandemsBound(args) && (encoding === '$intset' || encoding === '$hashtable')) {
    // On a set Redis would build the reply; elsewhere both answer (empty array, WRONGTYPE).
    const refused = comparable(srandmemberRepeatsRefused);
    assert.deepEqual(comparable(await replyOf(ours, 'Tandem', args)), refused, args.join(' '));
    return;
  }
  const name = (args[0] as string).toUpperCase();
  const random = (name === 'SPOP' || name === 'SRANDMEMBER') && args[1] !== undefined;
  const before = random ? membersOf(await ours.call('SMEMBERS', args[1] as string)) : [];
  const mine = await replyOf(ours, 'Tandem', args);
  const redis7 = await replyOf(theirs, 'redis-server', args);
  assert.deepEqual(
    compared(args, mine, encoding),
    compared(args, redis7, encoding),
    args.join(' '),
  );
  if (!random || (mine !== null && typeof mine === 'object' && 'kind' in mine)) return;
  await checkPicks(ours, args, mine, before);
  if (name === 'SPOP') await resync(ours, theirs, args[1] as string);
}

/** What a key holds at the end of a run, on both servers: type, encoding, members, TTL. */
async function sameKey(ours: RawClient, theirs: RawClient, k: string): Promise<void> {
  for (const args of [
    ['TYPE', k],
    ['OBJECT', 'ENCODING', k],
    ['SCARD', k],
    ['SMEMBERS', k],
    ['GET', k],
  ]) {
    await sameAnswer(ours, theirs, args);
  }
  const [a, b] = [await ours.call('PTTL', k), await theirs.call('PTTL', k)];
  if (typeof a === 'number' && typeof b === 'number' && a >= 0 && b >= 0) {
    assert.ok(Math.abs(a - b) <= ttlSlackMs, `PTTL ${k}: ${a} beside ${b}`);
  } else {
    assert.deepEqual(comparable(a), comparable(b), `PTTL ${k}`);
  }
}

describe('Tandem and redis-server answer the set commands alike', { timeout: 600_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
    // Goal: each set command's replies, error texts included (WRONGTYPE both ways), and the
    // type, encoding, members and TTL it leaves, are Redis 7.0's, for any sequence.
    const counted = new CommandCount();
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          counted.add(commands.length);
          for (const client of [ours, theirs]) {
            await client.call('DEL', ...keys);
            await client.call('SET', 's1', '5');
            await client.call('SADD', 't1', '3', '1', '2');
            await client.call('SADD', 't2', 'a', '1');
          }
          for (const args of commands) await sameAnswer(ours, theirs, args);
          for (const k of keys) await sameKey(ours, theirs, k);
        }),
        { numRuns: differentialRuns(60), ...seedOption },
      );
    } finally {
      counted.report(t);
      ours.close();
      theirs.close();
    }
  });

  test('sets answer and convert exactly as Redis 7.0 does', { skip: redisSkip }, async () => {
    // Goal: an intset lists its members ascending (SMEMBERS, SSCAN, SUNION of integers), and
    // a set converts to a hashtable exactly where Redis 7.0 does (a first member that is no
    // integer, a word added, the 513th integer, a stored result of words), never back.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    const steps = [
      ['DEL', 'o', 'p', 'q'],
      ['SADD', 'o', '30', '-2', '7', '1'],
      ['OBJECT', 'ENCODING', 'o'],
      ['SMEMBERS', 'o'],
      ['SSCAN', 'o', '0', 'COUNT', '1'],
      ['SADD', 'p', 'w', '3', '1'],
      ['OBJECT', 'ENCODING', 'p'],
      ['SREM', 'p', 'w'],
      ['OBJECT', 'ENCODING', 'p'],
      ['SUNION', 'o', 'p'],
      ['SUNIONSTORE', 'q', 'o', 'p'],
      ['OBJECT', 'ENCODING', 'q'],
      ['SMEMBERS', 'q'],
      ['SDIFF', 'o', 'p'],
      ['SINTER', 'o', 'q'],
      ['SMOVE', 'o', 'fresh', '30'],
      ['OBJECT', 'ENCODING', 'fresh'],
      ['SADD', 'fresh', '007'],
      ['OBJECT', 'ENCODING', 'fresh'],
      ['DEL', 'o', 'fresh'],
      ['SADD', 'o', ...Array.from({ length: 512 }, (_, i) => String(i))],
      ['OBJECT', 'ENCODING', 'o'],
      ['SADD', 'o', '100'],
      ['OBJECT', 'ENCODING', 'o'],
      ['SADD', 'o', '512'],
      ['OBJECT', 'ENCODING', 'o'],
      ['SREM', 'o', '512', '0', '1'],
      ['OBJECT', 'ENCODING', 'o'],
      ['SCARD', 'o'],
      ['SINTERSTORE', 'q', 'o', 'nothing'],
      ['EXISTS', 'q'],
      ['SPOP', 'p', '10'],
      ['EXISTS', 'p'],
      ['SREM', 'missing', 'x'],
      ['SET', 'str', 'v'],
      ['SINTER', 'missing', 'str'],
      ['SMOVE', 'missing', 'str', 'x'],
      ['SINTERSTORE', 'str', 'missing'],
      ['TYPE', 'str'],
      ['DEL', 'o', 'p', 'q', 'str'],
    ];
    try {
      for (const args of steps) {
        const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
        const [a, b] =
          args[0] === 'SPOP'
            ? [membersOf(mine).sort(), membersOf(redis7).sort()]
            : [comparable(mine), comparable(redis7)];
        assert.deepEqual(a, b, args.join(' ').slice(0, 80));
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test(
    'an SPOP that leaves few members rebuilds the set as Redis 7.0 does',
    { skip: redisSkip },
    async () => {
      // Goal: a hashtable SPOP leaves at most a fifth of what it popped is rebuilt (an intset
      // when what is left is integers: Redis's spopWithCountCommand builds a new set of
      // them), while one that leaves more keeps its hashtable, on both servers. The draws are
      // random on both: each pops until what is left is an integer, within a bound of tries.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      try {
        for (const client of [ours, theirs]) {
          let left: string[] = [];
          for (let attempt = 0; attempt < 100; attempt++) {
            await client.call('DEL', 'h');
            await client.call('SADD', 'h', 'a', '1', '2', '3', '4', '5');
            assert.equal(membersOf(await client.call('SPOP', 'h', '5')).length, 5);
            left = membersOf(await client.call('SMEMBERS', 'h'));
            if (left[0] !== 'a') break;
          }
          assert.notDeepEqual(left, ['a']);
          assert.deepEqual(comparable(await client.call('OBJECT', 'ENCODING', 'h')), '$intset');
          await client.call('DEL', 'h');
          await client.call('SADD', 'h', 'a', '1', '2', '3', '4', '5', '6', '7', '8', '9');
          await client.call('SPOP', 'h', '3');
          assert.deepEqual(comparable(await client.call('OBJECT', 'ENCODING', 'h')), '$hashtable');
          await client.call('DEL', 'h');
        }
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );

  test("set replies have Redis 7.0's RESP3 types, byte for byte", { skip: redisSkip }, async () => {
    // Goal: under HELLO 3, SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count answer sets
    // (`~`), SRANDMEMBER with a count and SMISMEMBER arrays, SPOP and SRANDMEMBER of an
    // absent key the null (`_`): the same bytes as Redis for replies whose order is fixed.
    // Three pipelines, each sent once the one before is answered: the writes, the reads,
    // then the writes that would change what the reads see.
    const phases = [
      [
        ['DEL', 'r3', 'r4'],
        ['SADD', 'r3', '5', '-1', '3'],
        ['SADD', 'r4', '3', '9'],
      ],
      [
        ['SMEMBERS', 'r3'],
        ['SINTER', 'r3', 'r4'],
        ['SUNION', 'r3', 'r4'],
        ['SDIFF', 'r3', 'r4'],
        ['SMISMEMBER', 'r3', '5', '6'],
        ['SSCAN', 'r3', '0'],
        ['SRANDMEMBER', 'absent'],
        ['SRANDMEMBER', 'absent', '2'],
        ['SRANDMEMBER', 'r3', '0'],
      ],
      [
        ['SPOP', 'absent'],
        ['SPOP', 'absent', '2'],
        ['SPOP', 'r3', '0'],
        ['SPOP', 'r4', '5'],
        ['DEL', 'r3'],
      ],
    ];
    const answers = async (port: number): Promise<string> => {
      let all = '';
      for (const commands of phases) all += await resp3Bytes(port, [...commands, ['PING']]);
      return all;
    };
    const [mine, redis7] = [await answers(ports().tandem), await answers(ports().redis)];
    // SPOP of the whole of r4 answers a set of its two members, in an order of its own.
    const sorted = (text: string) =>
      text.replace('~2\r\n$1\r\n9\r\n$1\r\n3\r\n', '~2\r\n$1\r\n3\r\n$1\r\n9\r\n');
    assert.equal(sorted(mine), sorted(redis7));
  });

  test('set writes inside MULTI answer as Redis in EXEC', { skip: redisSkip }, async () => {
    // Goal: queued SADD, SREM, SMOVE, the STOREs and an SPOP of a whole set apply in order
    // at EXEC with Redis's replies (WRONGTYPE for a set write on a string in its place),
    // and a WATCHed set changed by another connection aborts EXEC, on both servers.
    const steps = [
      ['DEL', 'm', 'm2', 'm3', 'm4', 'ms'],
      ['SET', 'ms', 'text'],
      ['MULTI'],
      ['SADD', 'm', '1', '2', '3', 'w'],
      ['SREM', 'm', '2', 'x'],
      ['SMOVE', 'm', 'm2', '3'],
      ['SINTERSTORE', 'm3', 'm', 'm2'],
      ['SUNIONSTORE', 'm4', 'm', 'm2'],
      ['SPOP', 'm2', '5'],
      ['SADD', 'ms', 'x'],
      ['SDIFFSTORE', 'm3', 'm4', 'm'],
      ['EXEC'],
      ['TYPE', 'm2'],
      ['SCARD', 'm4'],
      ['OBJECT', 'ENCODING', 'm4'],
      ['SMEMBERS', 'm3'],
    ];
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      for (const args of steps) {
        const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
        assert.deepEqual(comparable(mine), comparable(redis7), args.join(' '));
      }
      for (const [client, port] of [
        [ours, ports().tandem],
        [theirs, ports().redis],
      ] as const) {
        await client.call('WATCH', 'm4');
        const other = await RawClient.open(port);
        assert.equal(await other.call('SADD', 'm4', 'new'), 1);
        other.close();
        await client.call('MULTI');
        await client.call('SADD', 'm4', 'late');
        assert.deepEqual(comparable(await client.call('EXEC')), comparable(null));
        assert.equal(await client.call('SISMEMBER', 'm4', 'late'), 0);
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test(
    "a whole SSCAN of a hashtable visits every member once, as Redis's",
    { skip: redisSkip },
    async () => {
      // Goal: SSCAN's pages of a hashtable (cursors of each server's own) together hold every
      // member exactly once, with MATCH filtering them as Redis does.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const members = Array.from({ length: 300 }, (_, i) => `w${i}`);
      const whole = async (client: RawClient, match: string[]): Promise<string[]> => {
        const seen: string[] = [];
        let cursor = '0';
        do {
          const page = (await client.call('SSCAN', 'sc', cursor, 'COUNT', '7', ...match)) as [
            Buffer,
            Buffer[],
          ];
          cursor = page[0].toString();
          seen.push(...page[1].map(String));
        } while (cursor !== '0');
        return seen.sort();
      };
      try {
        for (const client of [ours, theirs]) {
          await client.call('DEL', 'sc');
          await client.call('SADD', 'sc', ...members);
        }
        const all = [...members].sort();
        assert.deepEqual(await whole(ours, []), all);
        assert.deepEqual(await whole(theirs, []), all);
        assert.deepEqual(
          await whole(ours, ['MATCH', 'w1*']),
          await whole(theirs, ['MATCH', 'w1*']),
        );
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );

  test(
    'SRANDMEMBER past its bound is refused on a set, answered as Redis elsewhere',
    { skip: redisSkip },
    async () => {
      // Goal: a negative count of -LONG_MAX on a set, which keeps redis-server 7.0 building a
      // reply until its memory runs out, is refused at once by Tandem, and the node answers
      // the next command; on an absent key, a string, past Redis's own range and at the bound
      // itself, Tandem answers what Redis answers.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const past = String(-srandmemberRepeatsMax - 1);
      try {
        for (const client of [ours, theirs]) {
          await client.call('DEL', 'r', 'rs', 'absent');
          await client.call('SADD', 'r', 'm1', 'm2');
          await client.call('SET', 'rs', 'x');
        }
        for (const args of [
          ['SRANDMEMBER', 'absent', '-9223372036854775807'],
          ['SRANDMEMBER', 'rs', '-9223372036854775807'],
          ['SRANDMEMBER', 'r', '-9223372036854775808'],
          ['SRANDMEMBER', 'r', String(-srandmemberRepeatsMax)],
          ['SRANDMEMBER', 'absent', past],
          ['SPOP', 'r', '9223372036854775807'],
          ['SRANDMEMBER', 'r', '9223372036854775807'],
        ]) {
          await sameAnswer(ours, theirs, args);
        }
        await ours.call('SADD', 'r', 'm1', 'm2');
        for (const args of [
          ['SRANDMEMBER', 'r', '-9223372036854775807'],
          ['SRANDMEMBER', 'r', past],
        ]) {
          assert.ok(repeatsPastTandemsBound(args), args.join(' '));
          const reply = await replyOf(ours, 'Tandem', args);
          assert.deepEqual(
            comparable(reply),
            comparable(srandmemberRepeatsRefused),
            args.join(' '),
          );
        }
        assert.deepEqual(comparable(await replyOf(ours, 'Tandem', ['SCARD', 'r'])), 2);
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );
});

describe(
  'Tandem and redis-server answer sets beside sorted sets alike',
  { timeout: 120_000 },
  () => {
    const ports = redisBesideTandem();

    test(
      'each type refuses the other, and keys move between them',
      { skip: redisSkip },
      async () => {
        // Goal: on one namespace holding sets and sorted sets, every command of one type on a
        // key of the other answers WRONGTYPE as Redis 7.0 does, TYPE and OBJECT ENCODING name
        // each, and COPY, RENAME and the stored operations carry or replace each type as Redis.
        const ours = await RawClient.open(ports().tandem);
        const theirs = await RawClient.open(ports().redis);
        const script: string[][] = [
          ['SADD', 'x:s', 'a', 'b', 'c'],
          ['SADD', 'x:i', '1', '2', '3'],
          ['ZADD', 'x:z', '1', 'a', '2', 'b'],
          ['ZADD', 'x:s', '1', 'x'],
          ['ZSCORE', 'x:s', 'a'],
          ['ZRANGE', 'x:i', '0', '-1'],
          ['ZREM', 'x:s', 'a'],
          ['ZRANGESTORE', 'x:d', 'x:s', '0', '-1'],
          ['SADD', 'x:z', 'x'],
          ['SISMEMBER', 'x:z', 'a'],
          ['SMEMBERS', 'x:z'],
          ['SINTERSTORE', 'x:d', 'x:s', 'x:z'],
          ['SMOVE', 'x:s', 'x:z', 'a'],
          ['TYPE', 'x:s'],
          ['TYPE', 'x:z'],
          ['OBJECT', 'ENCODING', 'x:s'],
          ['OBJECT', 'ENCODING', 'x:i'],
          ['OBJECT', 'ENCODING', 'x:z'],
          ['COPY', 'x:z', 'x:z2'],
          ['TYPE', 'x:z2'],
          ['ZRANGE', 'x:z2', '0', '-1', 'WITHSCORES'],
          ['COPY', 'x:i', 'x:i2'],
          ['SMEMBERS', 'x:i2'],
          ['OBJECT', 'ENCODING', 'x:i2'],
          ['RENAME', 'x:z', 'x:s'],
          ['TYPE', 'x:s'],
          ['ZRANGE', 'x:s', '0', '-1', 'WITHSCORES'],
          ['RENAME', 'x:i', 'x:z'],
          ['TYPE', 'x:z'],
          ['OBJECT', 'ENCODING', 'x:z'],
          ['SINTERSTORE', 'x:z2', 'x:z', 'x:i2'],
          ['TYPE', 'x:z2'],
          ['ZADD', 'x:i2', '5', 'q'],
          ['DEL', 'x:i2'],
          ['ZADD', 'x:i2', '5', 'q'],
          ['TYPE', 'x:i2'],
          // Redis's stored and read sorted set operations take sets as members scored 1.
          ['SADD', 'x:h', 'a', 'b', 'zz'],
          ['HSET', 'x:hash', 'f', 'v'],
          ['ZUNIONSTORE', 'x:u', '2', 'x:s', 'x:z'],
          ['ZRANGE', 'x:u', '0', '-1', 'WITHSCORES'],
          ['OBJECT', 'ENCODING', 'x:u'],
          ['ZUNIONSTORE', 'x:u', '3', 'x:s', 'x:h', 'x:z', 'WEIGHTS', '2', '3', '0.5'],
          ['ZRANGE', 'x:u', '0', '-1', 'WITHSCORES'],
          ['ZINTERSTORE', 'x:u', '2', 'x:h', 'x:s', 'AGGREGATE', 'MAX'],
          ['ZRANGE', 'x:u', '0', '-1', 'WITHSCORES'],
          ['ZDIFFSTORE', 'x:u', '2', 'x:h', 'x:s'],
          ['ZRANGE', 'x:u', '0', '-1', 'WITHSCORES'],
          ['ZUNIONSTORE', 'x:u', '2', 'x:h', 'x:hash'],
          ['ZUNIONSTORE', 'x:u', '2', 'x:h', 'x:missing'],
          ['ZRANGE', 'x:u', '0', '-1', 'WITHSCORES'],
          ['ZUNION', '3', 'x:s', 'x:h', 'x:z', 'WITHSCORES'],
          ['ZINTER', '2', 'x:h', 'x:s', 'WEIGHTS', '1', '4', 'WITHSCORES'],
          ['ZDIFF', '2', 'x:z', 'x:s'],
          ['ZUNION', '2', 'x:h', 'x:hash'],
          ['ZRANGESTORE', 'x:u', 'x:h', '0', '-1'],
        ];
        try {
          for (const args of script) await sameReply(ours, theirs, args);
        } finally {
          ours.close();
          theirs.close();
        }
      },
    );
  },
);
