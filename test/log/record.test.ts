// The record codec: every entry survives a round trip, and any damage is caught, never
// decoded into a different entry; the fast check a scan makes agrees with the full one.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Durability, Entry } from '../../src/core/types.js';
import { crc32c } from '@node-rs/crc32';
import { crc32cOf } from '../../src/log/crc.js';
import {
  decodeRecord,
  encodeRecord,
  recordBytes,
  recordIndexAt,
  recordTermAt,
  soundRecordBytes,
} from '../../src/log/record.js';
import { plain } from './helpers.js';

const bodyBytesMax = 1024 * 1024;
const durabilities: Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];
const safeIndex = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const entryArbitrary: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({
    index: safeIndex,
    term: safeIndex,
    kind: fc.constant('command' as const),
    durability: fc.constantFrom(...durabilities),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    index: safeIndex,
    term: safeIndex,
    kind: fc.constant('noop' as const),
    durability: fc.constantFrom(...durabilities),
  }),
  fc.record({
    index: safeIndex,
    term: safeIndex,
    kind: fc.constant('membership' as const),
    durability: fc.constantFrom(...durabilities),
    membership: fc.record({
      voters: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 5 }),
      learners: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 3 }),
    }),
  }),
);

test('an encoded entry decodes to the same entry and takes the bytes it says', () => {
  // Goal: the codec loses nothing: index, term, kind, durability, payload, members.
  fc.assert(
    fc.property(entryArbitrary, (entry) => {
      const record = encodeRecord(entry);
      assert.equal(record.length, recordBytes(entry));
      const result = decodeRecord(record, 0, bodyBytesMax);
      assert.equal(result.status, 'ok');
      if (result.status !== 'ok') return;
      assert.equal(result.bytes, record.length);
      assert.deepEqual(plain(result.entry), plain(entry));
    }),
    { numRuns: 2000 },
  );
});

test('any flipped bit makes a record corrupt, never a different entry', () => {
  // Goal: the CRC covers length and body, so a single bit flip anywhere is caught.
  fc.assert(
    fc.property(entryArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }), (entry, at, bit) => {
      const record = encodeRecord(entry);
      const position = at % record.length;
      record[position] = (record[position] as number) ^ (1 << bit);
      const result = decodeRecord(record, 0, bodyBytesMax);
      assert.notEqual(result.status, 'ok', `flip of bit ${bit} at byte ${position} went unseen`);
    }),
    { numRuns: 3000 },
  );
});

test('a record cut short at any length reads as short or corrupt', () => {
  // Goal: a torn write at the end of a file is recognised as such at every cut point.
  fc.assert(
    fc.property(entryArbitrary, fc.nat(), (entry, at) => {
      const record = encodeRecord(entry);
      const length = at % record.length;
      const result = decodeRecord(record.subarray(0, length), 0, bodyBytesMax);
      assert.notEqual(result.status, 'ok');
    }),
    { numRuns: 2000 },
  );
});

test('a length field above the limit is corruption, not a read past the limit', () => {
  // Goal: a damaged length never makes the reader trust or allocate a huge record.
  const record = encodeRecord({ index: 1, term: 1, kind: 'noop', durability: 'quorum' });
  record.writeUInt32LE(bodyBytesMax + 1, 4);
  const result = decodeRecord(record, 0, bodyBytesMax);
  assert.deepEqual(result, {
    status: 'corrupt',
    reason: `impossible record length ${bodyBytesMax + 1}`,
  });
});

test('the log CRC32C in JavaScript sums as the native one, on either side of the switch', () => {
  // Goal: records summed by the tables (short) and by the native code (long) read the same.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = start + (b % (bytes.length - start + 1));
      const expected = crc32c(Buffer.from(bytes.subarray(start, end)));
      assert.equal(crc32cOf(bytes, start, end), expected);
    }),
    { numRuns: 3000 },
  );
});

test('the fast check of a record agrees with checkRecord, and skips only the CRC when told', () => {
  // Goal: a scan's fast path takes a record exactly when checkRecord would (membership
  // records aside, which it leaves to checkRecord), and without `verify` only the sum goes.
  fc.assert(
    fc.property(entryArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }), (entry, at, bit) => {
      const record = encodeRecord(entry);
      const sound = soundRecordBytes(record, 0, bodyBytesMax, true);
      assert.equal(sound, entry.kind === 'membership' ? 0 : record.length);
      if (entry.kind === 'membership') return;
      assert.equal(recordIndexAt(record, 0), entry.index);
      assert.equal(recordTermAt(record, 0), entry.term);
      const position = at % record.length;
      record[position] = (record[position] as number) ^ (1 << bit);
      assert.equal(soundRecordBytes(record, 0, bodyBytesMax, true), 0, `flip at ${position}`);
      // Unsummed, a flip in the payload or the CRC itself goes unseen; one in the fields
      // the walk reads may not, and then it agrees with checkRecord's verdict on the rest.
      const unsummed = soundRecordBytes(record, 0, bodyBytesMax, false);
      if (position < 4 || position >= 28) assert.equal(unsummed, record.length);
    }),
    { numRuns: 3000 },
  );
});
