/**
 * The expected outcomes of SET KEEPTTL and EXPIRE NX/XX/GT/LT, as Redis 7 gives them,
 * shared by the SQLite and PostgreSQL store tests so that both are held to one table.
 */
import { expiresAtMsMax, type ExpireCondition, type SetCommand } from '../../src/store/commands.js';
import type { TextCommand, Textual } from './helpers.js';

/** The command time of every case. */
export const optionsAt = 100;

/** One EXPIRE with a condition on a key in a known state, and what Redis answers. */
export interface ExpireCase {
  /** The key's expiry before (null: none), or 'absent' when there is no key. */
  readonly before: number | null | 'absent';
  readonly condition: ExpireCondition;
  readonly expiresAt: number;
  /** EXPIRE's answer: 1 when the expiry was set (or the key removed), 0 otherwise. */
  readonly result: 0 | 1;
  /** The key's expiry after, or 'gone' when the key is not there. */
  readonly after: number | null | 'gone';
}

/** Every condition on a key without expiry, with one, and absent; a few times in the past. */
export const expireCases: readonly ExpireCase[] = [
  { before: null, condition: 'nx', expiresAt: 600, result: 1, after: 600 },
  { before: 500, condition: 'nx', expiresAt: 600, result: 0, after: 500 },
  { before: null, condition: 'xx', expiresAt: 600, result: 0, after: null },
  { before: 500, condition: 'xx', expiresAt: 600, result: 1, after: 600 },
  // A key without expiry lives forever: nothing is greater, everything is less.
  { before: null, condition: 'gt', expiresAt: 600, result: 0, after: null },
  { before: 500, condition: 'gt', expiresAt: 400, result: 0, after: 500 },
  { before: 500, condition: 'gt', expiresAt: 500, result: 0, after: 500 },
  { before: 500, condition: 'gt', expiresAt: 600, result: 1, after: 600 },
  { before: null, condition: 'lt', expiresAt: 600, result: 1, after: 600 },
  { before: 500, condition: 'lt', expiresAt: 600, result: 0, after: 500 },
  { before: 500, condition: 'lt', expiresAt: 500, result: 0, after: 500 },
  { before: 500, condition: 'lt', expiresAt: 400, result: 1, after: 400 },
  { before: null, condition: 'xx-lt', expiresAt: 400, result: 0, after: null },
  { before: 500, condition: 'xx-lt', expiresAt: 400, result: 1, after: 400 },
  { before: 500, condition: 'xx-lt', expiresAt: 600, result: 0, after: 500 },
  // A satisfied condition with a time already past removes the key, as EXPIRE does.
  { before: null, condition: 'nx', expiresAt: 50, result: 1, after: 'gone' },
  { before: 500, condition: 'lt', expiresAt: 0, result: 1, after: 'gone' },
  { before: 500, condition: 'xx', expiresAt: optionsAt, result: 1, after: 'gone' },
  // An unsatisfied one leaves it.
  { before: 500, condition: 'gt', expiresAt: 50, result: 0, after: 500 },
  { before: 500, condition: 'nx', expiresAt: 50, result: 0, after: 500 },
  // An absent key answers 0 whatever the condition.
  ...(['nx', 'xx', 'gt', 'lt', 'xx-lt'] as const).map((condition): ExpireCase => ({
    before: 'absent',
    condition,
    expiresAt: 600,
    result: 0,
    after: 'gone',
  })),
  // A key that expired before the command's time is absent too, even with NX.
  { before: optionsAt, condition: 'nx', expiresAt: 600, result: 0, after: 'gone' },
  // Expiries past JavaScript's safe integers, up to Redis's 64-bit limit, kept as they are.
  { before: null, condition: 'lt', expiresAt: expiresAtMsMax, result: 1, after: expiresAtMsMax },
  { before: 2 ** 62, condition: 'gt', expiresAt: expiresAtMsMax, result: 1, after: expiresAtMsMax },
  { before: expiresAtMsMax, condition: 'lt', expiresAt: 2 ** 62, result: 1, after: 2 ** 62 },
  { before: expiresAtMsMax, condition: 'gt', expiresAt: 2 ** 62, result: 0, after: expiresAtMsMax },
];

/** The key of case `i`: each case has its own. */
export function caseKey(i: number): string {
  return `e${i}`;
}

/** The commands that set up case `i`'s key (written at time 0) and run its EXPIRE. */
export function expireCaseCommands(c: ExpireCase, i: number): TextCommand[] {
  const key = caseKey(i);
  const setup: TextCommand[] =
    c.before === 'absent'
      ? []
      : [
          {
            type: 'set',
            key,
            value: 'v',
            at: 0,
            ...(c.before === null ? {} : { expiresAt: c.before }),
          },
        ];
  return [
    ...setup,
    { type: 'expire', key, expiresAt: c.expiresAt, condition: c.condition, at: optionsAt },
  ];
}

/** One SET with KEEPTTL and what it leaves: the result, the value and expiry after. */
export interface KeepTtlCase {
  readonly name: string;
  /** Commands run first, at time 0 unless they say otherwise. */
  readonly setup: readonly TextCommand[];
  readonly set: Textual<SetCommand>;
  readonly result: unknown;
  /** The key's value and expiry after, or null when it is not there. */
  readonly after: { readonly value: string; readonly expiresAt: number | null } | null;
}

/** SET KEEPTTL on every kind of key, alone and with NX, XX and GET. */
export const keepTtlCases: readonly KeepTtlCase[] = [
  {
    name: 'a key with an expiry keeps it',
    setup: [{ type: 'set', key: 'k1', value: 'v', at: 0, expiresAt: 500 }],
    set: { type: 'set', key: 'k1', value: 'w', at: optionsAt, keepTtl: true },
    result: 'OK',
    after: { value: 'w', expiresAt: 500 },
  },
  {
    name: 'a key without expiry stays without',
    setup: [{ type: 'set', key: 'k2', value: 'v', at: 0 }],
    set: { type: 'set', key: 'k2', value: 'w', at: optionsAt, keepTtl: true },
    result: 'OK',
    after: { value: 'w', expiresAt: null },
  },
  {
    name: 'an absent key is created without expiry',
    setup: [],
    set: { type: 'set', key: 'k3', value: 'w', at: optionsAt, keepTtl: true },
    result: 'OK',
    after: { value: 'w', expiresAt: null },
  },
  {
    name: 'an expired key is absent: its old expiry is not kept',
    setup: [{ type: 'set', key: 'k4', value: 'v', at: 0, expiresAt: optionsAt }],
    set: { type: 'set', key: 'k4', value: 'w', at: optionsAt, keepTtl: true },
    result: 'OK',
    after: { value: 'w', expiresAt: null },
  },
  {
    name: 'with XX and GET on a key with an expiry',
    setup: [{ type: 'set', key: 'k5', value: 'v', at: 0, expiresAt: 700 }],
    set: {
      type: 'set',
      key: 'k5',
      value: 'w',
      at: optionsAt,
      keepTtl: true,
      condition: 'xx',
      returnOld: true,
    },
    result: Buffer.from('v'),
    after: { value: 'w', expiresAt: 700 },
  },
  {
    name: 'with NX on a live key: nothing written',
    setup: [{ type: 'set', key: 'k6', value: 'v', at: 0, expiresAt: 700 }],
    set: { type: 'set', key: 'k6', value: 'w', at: optionsAt, keepTtl: true, condition: 'nx' },
    result: null,
    after: { value: 'v', expiresAt: 700 },
  },
  {
    name: 'after INCR, which keeps the expiry too',
    setup: [
      { type: 'set', key: 'k7', value: '1', at: 0, expiresAt: 800 },
      { type: 'incrby', key: 'k7', by: 1, at: 0 },
    ],
    set: { type: 'set', key: 'k7', value: '9', at: optionsAt, keepTtl: true },
    result: 'OK',
    after: { value: '9', expiresAt: 800 },
  },
];
