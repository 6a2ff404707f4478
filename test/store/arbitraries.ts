/**
 * Random commands for the property tests that feed the same entries to stores and compare
 * them (determinism within SQLite, SQLite against PostgreSQL, and across converted
 * snapshots). Each test gives its own keys, values and SQL; the commands around them are
 * the same everywhere, so every test covers every command type and option.
 */
import fc from 'fast-check';
import type { AclChange, TokenRecord, UserRules } from '../../src/store/access-state.js';
import type { ExpireCondition, SqlStatement } from '../../src/store/commands.js';
import type { Session } from '../../src/store/sessions.js';
import { storedKey } from '../../src/store/databases.js';
import type { TextCommand } from './helpers.js';

/**
 * Bytes that are not UTF-8 text: a lone 0xE9, 0xFF, NUL, a cut multi-byte character, and
 * the stored keys of databases 1 and 2 (databases.ts), which FLUSHDB, SWAPDB and MOVE reach.
 */
export const binaryKey = fc.constantFrom(
  Buffer.from([0xff]),
  Buffer.from([0x00, 0xe9]),
  Buffer.from([0x63, 0x61, 0x66, 0xe9]),
  Buffer.from([0xe2, 0x98]),
  storedKey(1, Buffer.from([0xff])),
  storedKey(2, Buffer.from([0xff])),
);

/** Any bytes, short. */
export const binaryValue = fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes));

/** The commands' times: close together, so that expiries fall inside a run. */
export const commandTime = fc.integer({ min: 0, max: 100 });

/** What a test varies. */
export interface CommandParts {
  /** Keys and values: text (its UTF-8 bytes) or any bytes. */
  readonly key: fc.Arbitrary<string | Uint8Array>;
  readonly value: fc.Arbitrary<string | Uint8Array>;
  readonly statement: fc.Arbitrary<SqlStatement>;
  /** Client sessions on the commands that carry one; none when absent. */
  readonly session?: fc.Arbitrary<Session>;
}

/** Users the acl commands name: the default user and two others. */
const userName = fc.constantFrom('default', 'ada', 'bob');
const passwordHashes = ['1'.repeat(64), 'ab'.repeat(32)];
/**
 * ACL SETUSER rules: most are valid (roles, keys, password hashes added and removed,
 * in any case), a few are refused (a clear-text password, an unknown category, a bad
 * hash, an empty key pattern, nonsense), and a removal fails when the hash is absent.
 */
const aclRule = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('on', 'off', 'ON', 'nopass', 'resetpass', 'reset') },
  { weight: 6, arbitrary: fc.constantFrom('allkeys', 'resetkeys', '~a*', '~b', '&chan') },
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      '+@read',
      '+@write',
      '+@admin',
      '+@all',
      '-@write',
      '-@read',
      '-@all',
      'allcommands',
      'nocommands',
    ),
  },
  { weight: 3, arbitrary: fc.constantFrom(...passwordHashes.map((hash) => `#${hash}`)) },
  { weight: 1, arbitrary: fc.constantFrom(...passwordHashes.map((hash) => `!${hash}`)) },
  { weight: 1, arbitrary: fc.constantFrom('>secret', '+@bogus', '#nothex', '~', 'junk') },
);
const aclRules = fc.array(aclRule, { maxLength: 4 });
const tokenId = fc.constantFrom('00000000000000a1', '00000000000000b2');

/** A bootstrap: the default user and up to two others, each made by its rules. */
const bootstrap = fc
  .tuple(
    aclRules,
    fc.array(fc.record<UserRules>({ name: userName, rules: aclRules }), { maxLength: 2 }),
  )
  .map(([rules, users]): AclChange => ({
    op: 'bootstrap',
    users: [{ name: 'default', rules }, ...users],
  }));

/**
 * An acl command at `at`. A token lives from `at` for a few ms (or is already dead, which
 * is refused), so that later commands, whose times move past it, find it expired.
 */
function aclArbitrary(at: fc.Arbitrary<number>): fc.Arbitrary<TextCommand> {
  // Mostly the default user's, which every bootstrap makes and no deletion removes.
  const tokenUser = fc.oneof({ weight: 3, arbitrary: fc.constant('default') }, userName);
  const token = fc
    .tuple(at, tokenId, tokenUser, fc.integer({ min: -2, max: 30 }))
    .map(([time, id, user, lifetimeMs]) => {
      const record: TokenRecord = {
        id,
        hash: 'cd'.repeat(32),
        user,
        createdAt: time,
        expiresAt: time + lifetimeMs,
      };
      return { at: time, change: { op: 'add-token' as const, token: record } };
    });
  const change = fc.oneof(
    bootstrap,
    {
      weight: 3,
      arbitrary: fc
        .tuple(userName, aclRules)
        .map(([name, rules]): AclChange => ({ op: 'set-user', name, rules })),
    },
    fc
      .array(userName, { minLength: 1, maxLength: 2 })
      .map((names): AclChange => ({ op: 'del-users', names })),
    tokenId.map((id): AclChange => ({ op: 'revoke-token', id })),
  );
  return fc
    .oneof({ weight: 6, arbitrary: fc.record({ at, change }) }, { weight: 4, arbitrary: token })
    .map(({ at: time, change: c }): TextCommand => ({ type: 'acl', at: time, change: c }));
}

const expireCondition = fc.constantFrom<ExpireCondition>('nx', 'xx', 'gt', 'lt', 'xx-lt');
const expiry = fc.option(fc.integer({ min: 0, max: 120 }));

/** One BITFIELD operation: small fields near the start, any overflow rule. */
const bitfieldOperation = fc
  .record({
    op: fc.constantFrom('get' as const, 'set' as const, 'incrby' as const),
    signed: fc.boolean(),
    bits: fc.integer({ min: 1, max: 63 }),
    offset: fc.nat({ max: 40 }),
    value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    overflow: fc.constantFrom('wrap' as const, 'sat' as const, 'fail' as const),
  })
  .map((operation) => (operation.op === 'get' ? { ...operation, value: 0n } : operation));

/** Any well-formed command over `parts`. */
export function commandArbitrary(parts: CommandParts): fc.Arbitrary<TextCommand> {
  const { key, value, statement } = parts;
  const at = commandTime;
  // Without sessions the key is absent, so the records never hold one.
  const session: { session?: fc.Arbitrary<Session> } =
    parts.session === undefined ? {} : { session: parts.session };
  return fc.oneof(
    fc
      .record(
        {
          type: fc.constant('set' as const),
          key,
          value,
          at,
          expiresAt: expiry,
          condition: fc.constantFrom('nx' as const, 'xx' as const),
          ifVersion: fc.record({ index: fc.nat({ max: 30 }), term: fc.constant(1) }),
          returnOld: fc.boolean(),
          keepTtl: fc.constant(true as const),
          ...session,
        },
        { requiredKeys: ['type', 'key', 'value', 'at'] },
      )
      // KEEPTTL and an expiry exclude each other: such a command is malformed.
      .filter((set) => set.keepTtl === undefined || set.expiresAt === undefined),
    fc.record({
      type: fc.constant('mset' as const),
      pairs: fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 3 }),
      at,
    }),
    fc.record({
      type: fc.constant('del' as const),
      keys: fc.array(key, { minLength: 1, maxLength: 3 }),
      at,
    }),
    // Compare-and-delete (DELETE If-Match) names one key.
    fc.record({
      type: fc.constant('del' as const),
      keys: fc.tuple(key),
      at,
      ifVersion: fc.record({ index: fc.nat({ max: 30 }), term: fc.constant(1) }),
    }),
    fc.record(
      {
        type: fc.constant('incrby' as const),
        key,
        by: fc.integer({ min: -10, max: 10 }),
        at,
        ...session,
      },
      { requiredKeys: ['type', 'key', 'by', 'at'] },
    ),
    fc.record({ type: fc.constant('append' as const), key, value, at }),
    fc
      .record(
        {
          type: fc.constant('expire' as const),
          key,
          expiresAt: expiry,
          at,
          condition: expireCondition,
        },
        { requiredKeys: ['type', 'key', 'expiresAt', 'at'] },
      )
      // PERSIST takes no condition.
      .filter((expire) => expire.expiresAt !== null || expire.condition === undefined),
    fc.record({ type: fc.constant('getdel' as const), key, at }),
    fc.record({ type: fc.constant('getex' as const), key, expiresAt: expiry, at }),
    fc.record({
      type: fc.constant('setrange' as const),
      key,
      offset: fc.nat({ max: 12 }),
      value,
      at,
    }),
    fc.record({
      type: fc.constant('msetnx' as const),
      pairs: fc.array(fc.tuple(key, value), { minLength: 1, maxLength: 3 }),
      at,
    }),
    fc.record(
      {
        type: fc.constant('rename' as const),
        key,
        destination: key,
        at,
        condition: fc.constant('nx' as const),
        ...session,
      },
      { requiredKeys: ['type', 'key', 'destination', 'at'] },
    ),
    fc
      .record(
        {
          type: fc.constant('copy' as const),
          key,
          destination: key,
          at,
          replace: fc.constant(true as const),
        },
        { requiredKeys: ['type', 'key', 'destination', 'at'] },
      )
      // A copy onto itself is refused before it enters the log.
      .filter((copy) => Buffer.compare(Buffer.from(copy.key), Buffer.from(copy.destination)) !== 0),
    fc.record({
      type: fc.constant('incrbyfloat' as const),
      key,
      by: fc.constantFrom('1', '0.1', '-2.5', '1e3', 'x', '0x1p-3', '1e4000'),
      at,
    }),
    fc.record({
      type: fc.constant('setbit' as const),
      key,
      offset: fc.nat({ max: 40 }),
      bit: fc.constantFrom(0 as const, 1 as const),
      at,
    }),
    fc
      .record({
        type: fc.constant('bitop' as const),
        operation: fc.constantFrom('and' as const, 'or' as const, 'xor' as const, 'not' as const),
        destination: key,
        keys: fc.array(key, { minLength: 1, maxLength: 3 }),
        at,
      })
      .map((bitop) =>
        bitop.operation === 'not' ? { ...bitop, keys: bitop.keys.slice(0, 1) } : bitop,
      ),
    fc.record({
      type: fc.constant('bitfield' as const),
      key,
      operations: fc
        .array(bitfieldOperation, { minLength: 1, maxLength: 3 })
        .map((operations) => [...operations, { ...operations[0], op: 'incrby' as const }]),
      at,
    }),
    // Hashes: on keys the string commands also write, so WRONGTYPE both ways is drawn.
    { weight: 4, arbitrary: hashArbitrary(key, value, at) },
    // Sets: likewise on the same keys.
    { weight: 4, arbitrary: setArbitrary(key, at) },
    // Lists likewise, with pops that may empty them and moves between keys.
    { weight: 4, arbitrary: listArbitrary(key, at) },
    fc.record({ type: fc.constant('flush' as const), at }),
    fc.record({ type: fc.constant('flush' as const), db: fc.constantFrom(0, 1, 2), at }),
    fc.record({
      type: fc.constant('swapdb' as const),
      a: fc.constantFrom(0, 1, 2),
      b: fc.constantFrom(0, 1, 2),
      at,
    }),
    fc.record({
      type: fc.constant('rename' as const),
      key,
      destination: key,
      condition: fc.constant('move' as const),
      at,
    }),
    fc.record({ type: fc.constant('expire-sweep' as const), at }),
    fc.record({
      type: fc.constant('publish' as const),
      channel: binaryKey,
      message: binaryValue,
      at,
    }),
    fc.record(
      {
        type: fc.constant('sql' as const),
        statements: fc.array(statement, { minLength: 1, maxLength: 3 }),
        at,
        ...session,
      },
      { requiredKeys: ['type', 'statements', 'at'] },
    ),
    // Users and tokens: several kinds of change, so weighed as three of the others.
    { weight: 3, arbitrary: aclArbitrary(at) },
  );
}

/** The command types a transaction may not hold. */
const outsideTransactions: ReadonlySet<string> = new Set([
  'multi',
  'expire-sweep',
  'publish',
  'sql',
  'acl',
  'swapdb',
]);
/** Fields of hashes: a few, so that commands meet each other's fields. */
const hashField = fc.constantFrom('f', 'g', 'h', '');

/** The hash commands over `key` and `value`, fields and increments good and bad. */
function hashArbitrary(
  key: fc.Arbitrary<string | Uint8Array>,
  value: fc.Arbitrary<string | Uint8Array>,
  at: fc.Arbitrary<number>,
): fc.Arbitrary<TextCommand> {
  const pairs = fc.array(fc.tuple(hashField, fc.oneof(value, fc.constant('y'.repeat(65)))), {
    minLength: 1,
    maxLength: 3,
  });
  return fc.oneof(
    fc.record({ type: fc.constant('hset' as const), key, pairs, at }),
    fc.record({
      type: fc.constant('hset' as const),
      key,
      pairs: pairs.map((list) => list.slice(0, 1)),
      condition: fc.constant('nx' as const),
      at,
    }),
    fc.record({
      type: fc.constant('hdel' as const),
      key,
      fields: fc.array(hashField, { minLength: 1, maxLength: 3 }),
      at,
    }),
    fc.record({
      type: fc.constant('hincrby' as const),
      key,
      field: hashField,
      by: fc.constantFrom(1n, -3n, 2n ** 62n, -(2n ** 63n)),
      at,
    }),
    fc.record({
      type: fc.constant('hincrbyfloat' as const),
      key,
      field: hashField,
      by: fc.constantFrom('1.5', '-0.25', 'x', '1e4000'),
      at,
    }),
  );
}

/** Members of sets: integers (an intset's) and words, a few, so commands meet each other's. */
const setMember = fc.constantFrom('1', '2', '-7', 'a', 'b', '');

/** The set commands over `key`, SPOP with named members (present or not) and seeds. */
function setArbitrary(
  key: fc.Arbitrary<string | Uint8Array>,
  at: fc.Arbitrary<number>,
): fc.Arbitrary<TextCommand> {
  const members = fc.array(setMember, { minLength: 1, maxLength: 3 });
  return fc.oneof(
    fc.record({ type: fc.constant('sadd' as const), key, members, at }),
    fc.record({ type: fc.constant('srem' as const), key, members, at }),
    fc
      .record({
        type: fc.constant('spop' as const),
        key,
        members: fc.uniqueArray(setMember, { maxLength: 2 }),
        count: fc.nat({ max: 4 }),
        seed: fc.nat(),
        at,
      })
      .map((spop) => ({ ...spop, count: Math.max(spop.count, spop.members.length) })),
    fc.record({
      type: fc.constant('smove' as const),
      key,
      destination: key,
      member: setMember,
      at,
    }),
    fc.record({
      type: fc.constant('setstore' as const),
      operation: fc.constantFrom('inter' as const, 'union' as const, 'diff' as const),
      destination: key,
      keys: fc.array(key, { minLength: 1, maxLength: 3 }),
      at,
    }),
  );
}

/** Elements of lists: a few, so that LREM, LINSERT and LPOS meet each other's. */
const listElement = fc.constantFrom('a', 'b', 'c', '');
const listEnd = fc.constantFrom('left' as const, 'right' as const);
const listIndex = fc.integer({ min: -4, max: 4 });

/** The list commands over `key`: pushes, pops at both ends, inner changes, moves. */
function listArbitrary(
  key: fc.Arbitrary<string | Uint8Array>,
  at: fc.Arbitrary<number>,
): fc.Arbitrary<TextCommand> {
  return fc.oneof(
    fc.record(
      {
        type: fc.constant('lpush' as const),
        key,
        elements: fc.array(listElement, { minLength: 1, maxLength: 4 }),
        end: listEnd,
        condition: fc.constant('xx' as const),
        at,
      },
      { requiredKeys: ['type', 'key', 'elements', 'end', 'at'] },
    ),
    fc.record(
      { type: fc.constant('lpop' as const), key, end: listEnd, count: fc.nat(4), at },
      { requiredKeys: ['type', 'key', 'end', 'at'] },
    ),
    fc.record({
      type: fc.constant('lset' as const),
      key,
      index: listIndex,
      element: listElement,
      at,
    }),
    fc.record({
      type: fc.constant('linsert' as const),
      key,
      where: fc.constantFrom('before' as const, 'after' as const),
      pivot: listElement,
      element: listElement,
      at,
    }),
    fc.record({
      type: fc.constant('lrem' as const),
      key,
      count: listIndex,
      element: listElement,
      at,
    }),
    fc.record({ type: fc.constant('ltrim' as const), key, start: listIndex, stop: listIndex, at }),
    fc.record({
      type: fc.constant('lmove' as const),
      key,
      destination: key,
      from: listEnd,
      to: listEnd,
      at,
    }),
    fc.record({
      type: fc.constant('lmpop' as const),
      keys: fc.array(key, { minLength: 1, maxLength: 3 }),
      end: listEnd,
      count: fc.integer({ min: 1, max: 4 }),
      at,
    }),
  );
}

/**
 * A transaction (`multi`) over `parts`: writes of every kind a transaction may hold and
 * reads, with watched keys seen absent or at a small version (so that some still match
 * when the entry applies and others do not).
 */
export function transactionArbitrary(parts: CommandParts): fc.Arbitrary<TextCommand> {
  const write = commandArbitrary({ ...parts, session: undefined }).filter(
    (command) => !outsideTransactions.has(command.type),
  );
  const read = fc
    .array(parts.key, { minLength: 1, maxLength: 3 })
    .map((keys) => ({ type: 'read' as const, keys }));
  const seen = fc.option(
    fc.record({
      index: fc.integer({ min: 0, max: 12 }),
      term: fc.constant(1),
      expiresAt: fc.constant(null),
    }),
  );
  return fc.record({
    type: fc.constant('multi' as const),
    steps: fc.array(fc.oneof(write, read), { maxLength: 5 }),
    watched: fc.array(fc.record({ key: parts.key, seen }), { maxLength: 2 }),
    at: commandTime,
  }) as fc.Arbitrary<TextCommand>;
}

/**
 * Sequences of commands (a tenth of them transactions) over `parts`, often led by a bootstrap as a cluster's log is once
 * it has users, whose acl commands' times move forward, as the leader's clock does, so
 * that the tokens they add expire while later changes apply: the acl commands' drawn times
 * are handed out in order, a token's own times moving with its command's. The other
 * commands keep their times, forward or back.
 */
export function commandsArbitrary(
  parts: CommandParts,
  constraints: fc.ArrayConstraints,
): fc.Arbitrary<TextCommand[]> {
  const first = fc.option(
    fc.record({ type: fc.constant('acl' as const), at: commandTime, change: bootstrap }),
  );
  return fc
    .tuple(
      first,
      fc.array(
        fc.oneof(
          { weight: 9, arbitrary: commandArbitrary(parts) },
          { weight: 1, arbitrary: transactionArbitrary(parts) },
        ),
        constraints,
      ),
    )
    .map(([lead, commands]) => aclTimesForward(lead === null ? commands : [lead, ...commands]));
}

function aclTimesForward(commands: readonly TextCommand[]): TextCommand[] {
  const times = commands
    .flatMap((command) => (command.type === 'acl' ? [command.at] : []))
    .sort((a, b) => a - b);
  let next = 0;
  return commands.map((command) => {
    if (command.type !== 'acl') return command;
    const at = times[next++] as number;
    const { change } = command;
    if (change.op !== 'add-token') return { ...command, at };
    const shift = at - command.at;
    const token = {
      ...change.token,
      createdAt: change.token.createdAt + shift,
      expiresAt: change.token.expiresAt + shift,
    };
    return { ...command, at, change: { ...change, token } };
  });
}
