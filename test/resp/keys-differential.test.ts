// Differential: the key commands (RENAME, RENAMENX, COPY, TOUCH, EXPIRETIME, PEXPIRETIME,
// RANDOMKEY, OBJECT ENCODING) driven with the same random commands on redis-server 7 and on
// a Tandem node, every reply compared, errors included, and RANDOMKEY by membership.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { stringEncoding } from '../../src/api/resp/keys.js';
import { RawClient, sameReply } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

const keys = ['k1', 'k2', 'k3'];
const key = fc.constantFrom(...keys);
/** Values of every encoding: 64-bit integers and near misses, short and long strings. */
const value = fc.oneof(
  fc.constantFrom('', 'v', '0', '12', '-7', '-0', '01', ' 1', '+1', '1.5'),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775808'),
  fc.constantFrom('x'.repeat(44), 'x'.repeat(45), 'é'.repeat(22), 'é'.repeat(23)),
  fc.string({ maxLength: 12 }),
);
/**
 * Absolute expiries, the same on both servers (so EXPIRETIME and PEXPIRETIME compare
 * exactly): hours ahead, with milliseconds around the rounding of seconds, or long past.
 */
const baseMs = Math.floor(Date.now() / 1000) * 1000 + 10_000_000;
const expiryMs = fc.oneof(
  fc.constantFrom(0, 1, 499, 500, 501, 999, 1000, 60_000).map((ms) => String(baseMs + ms)),
  fc.constant('1'),
);
/** COPY's options: REPLACE, DB with indexes of the sixteen, others refused, bad amounts. */
const copyOption = fc.constantFrom(
  ['REPLACE'],
  ['replace'],
  ['DB', '0'],
  ['db', '0'],
  ['DB', '1'],
  ['DB', '15'],
  ['DB', '16'],
  ['DB', '-1'],
  ['DB', 'x'],
  ['DB', '01'],
  ['DB', '99999999999'],
  ['DB'],
  ['BOGUS'],
);
const command: fc.Arbitrary<string[]> = fc
  .oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constant('SET'), key, value).map((c) => [...c]) },
    fc.tuple(fc.constant('SET'), key, value, fc.constant('PXAT'), expiryMs).map((c) => [...c]),
    fc.tuple(fc.constant('PEXPIREAT'), key, expiryMs).map((c) => [...c]),
    fc.tuple(fc.constant('PERSIST'), key).map((c) => [...c]),
    fc.tuple(fc.constant('DEL'), key).map((c) => [...c]),
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('RENAME', 'RENAMENX', 'rename'), key, key) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(key, key, fc.array(copyOption, { maxLength: 2 }))
        .map(([from, to, options]) => ['COPY', from, to, ...options.flat()]),
    },
    fc.array(key, { minLength: 1, maxLength: 4 }).map((names) => ['TOUCH', ...names]),
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('EXPIRETIME', 'PEXPIRETIME'), key) },
    fc.tuple(fc.constantFrom('TYPE', 'GET', 'EXISTS'), key),
    fc.tuple(fc.constantFrom('ENCODING', 'encoding'), key).map(([sub, k]) => ['OBJECT', sub, k]),
    // Wrong arities and unknown subcommands: Redis's error texts.
    fc.constantFrom(
      ['RENAME', 'k1'],
      ['RENAMENX', 'k1', 'k2', 'k3'],
      ['COPY', 'k1'],
      ['TOUCH'],
      ['EXPIRETIME'],
      ['PEXPIRETIME', 'k1', 'k2'],
      ['RANDOMKEY', 'k1'],
      ['OBJECT'],
      ['OBJECT', 'ENCODING'],
      ['OBJECT', 'ENCODING', 'k1', 'k2'],
      ['OBJECT', 'BOGUS', 'k1'],
      ['OBJECT', 'HELP', 'k1'],
    ),
  )
  .map((args) => [...args]);

/** RANDOMKEY on both: nil on both, or keys that each exist on the other server too. */
async function sameRandomKey(ours: RawClient, theirs: RawClient): Promise<void> {
  const [mine, redis7] = [await ours.call('RANDOMKEY'), await theirs.call('RANDOMKEY')];
  if (mine === null || redis7 === null) {
    assert.equal(mine, redis7, 'RANDOMKEY: nil on both or on neither');
    return;
  }
  assert.ok(Buffer.isBuffer(mine) && Buffer.isBuffer(redis7), 'RANDOMKEY answers a key');
  assert.equal(await theirs.call('EXISTS', mine.toString('latin1')), 1, `${String(mine)}`);
  assert.equal(await ours.call('EXISTS', redis7.toString('latin1')), 1, `${String(redis7)}`);
}

describe('Tandem and redis-server answer the key commands alike', { timeout: 300_000 }, () => {
  const ports = redisBesideTandem();

  test('the same random commands give the same replies', { skip: redisSkip }, async (t) => {
    // Goal: each command's replies, error texts included, and the keys, values, expiries
    // and encodings it leaves are Redis 7's for any sequence; RANDOMKEY picks a key both
    // servers hold. A failing sequence shrinks to a short one.
    const counted = new CommandCount();
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          counted.add(commands.length);
          await ours.call('DEL', ...keys);
          await theirs.call('DEL', ...keys);
          await sameRandomKey(ours, theirs);
          for (const args of commands) {
            await sameReply(ours, theirs, args);
            await sameRandomKey(ours, theirs);
          }
          for (const k of keys) {
            const reads = [
              ['GET', k],
              ['EXPIRETIME', k],
              ['PEXPIRETIME', k],
              ['OBJECT', 'ENCODING', k],
            ];
            for (const read of reads) await sameReply(ours, theirs, read);
          }
        }),
        { numRuns: differentialRuns(100), ...seedOption },
      );
    } finally {
      counted.report(t);
      ours.close();
      theirs.close();
    }
  });
});

test('OBJECT ENCODING names strings as Redis 7 does after SET', () => {
  // Goal: the encoding rule on its own, at its edges: 64-bit integers in Redis's strict
  // syntax are int, anything else up to 44 bytes embstr, longer raw.
  const encoding = (value: string | Buffer) => stringEncoding(Buffer.from(value));
  assert.equal(encoding('0'), 'int');
  assert.equal(encoding('-9223372036854775808'), 'int');
  assert.equal(encoding('9223372036854775807'), 'int');
  assert.equal(encoding('9223372036854775808'), 'embstr');
  assert.equal(encoding('-0'), 'embstr');
  assert.equal(encoding('007'), 'embstr');
  assert.equal(encoding(''), 'embstr');
  assert.equal(encoding('x'.repeat(44)), 'embstr');
  assert.equal(encoding('x'.repeat(45)), 'raw');
  assert.equal(encoding(Buffer.alloc(44, 0xff)), 'embstr');
  assert.equal(encoding('1'.repeat(45)), 'raw');
});
