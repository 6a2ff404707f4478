/**
 * Random commands for the property tests that feed the same entries to stores and compare
 * them (determinism within SQLite, SQLite against PostgreSQL, and across converted
 * snapshots). Each test gives its own keys, values and SQL; the commands around them are
 * the same everywhere, so every test covers every command type and option.
 */
import fc from 'fast-check';
import type { ExpireCondition, SqlStatement } from '../../src/store/commands.js';
import type { Session } from '../../src/store/sessions.js';
import type { TextCommand } from './helpers.js';

/** Bytes that are not UTF-8 text: a lone 0xE9, 0xFF, NUL, a cut multi-byte character. */
export const binaryKey = fc.constantFrom(
  Buffer.from([0xff]),
  Buffer.from([0x00, 0xe9]),
  Buffer.from([0x63, 0x61, 0x66, 0xe9]),
  Buffer.from([0xe2, 0x98]),
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

const expireCondition = fc.constantFrom<ExpireCondition>('nx', 'xx', 'gt', 'lt', 'xx-lt');
const expiry = fc.option(fc.integer({ min: 0, max: 120 }));

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
    fc.record({ type: fc.constant('flush' as const), at }),
    fc.record({ type: fc.constant('expire-sweep' as const), at }),
    fc.record(
      {
        type: fc.constant('sql' as const),
        statements: fc.array(statement, { minLength: 1, maxLength: 3 }),
        at,
        ...session,
      },
      { requiredKeys: ['type', 'statements', 'at'] },
    ),
  );
}
