// A segment's scan: the records a snapshot covers are walked without their CRC, every other
// record is checked, and damage to a length shows wherever it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../../src/core/types.js';
import { encodeRecord, recordHeaderBytes } from '../../src/log/record.js';
import { encodeSegmentHeader, scanSegment, segmentHeaderBytes } from '../../src/log/segment.js';

const bodyBytesMax = 1024 * 1024;
const count = 40;

/** A segment of `count` command records from index 1, with the offset of each. */
function segment(): { file: Buffer; offsets: number[] } {
  const parts = [encodeSegmentHeader(1)];
  const offsets: number[] = [];
  let offset = segmentHeaderBytes;
  for (let index = 1; index <= count; index++) {
    const entry: Entry = {
      index,
      term: 1 + Math.floor(index / 10),
      kind: 'command',
      durability: 'quorum',
      data: Buffer.from(`payload of entry ${index}`),
    };
    const record = encodeRecord(entry);
    offsets.push(offset);
    offset += record.length;
    parts.push(record);
  }
  return { file: Buffer.concat(parts), offsets };
}

test('a damaged payload before verifyFrom is walked past; from verifyFrom on it is corruption', () => {
  // Goal: the skip covers exactly the records below verifyFrom, and nothing after them.
  const { file, offsets } = segment();
  for (const damaged of [1, 17, count]) {
    const bytes = Buffer.from(file);
    const at = (offsets[damaged - 1] as number) + recordHeaderBytes + 24;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    for (const verifyFrom of [0, damaged, damaged + 1, count + 1]) {
      const collectFrom = Math.max(verifyFrom, 1);
      const scan = scanSegment(bytes, 1, 0, bodyBytesMax, collectFrom, verifyFrom);
      if (verifyFrom > damaged) {
        assert.equal(scan.failure, null, `entry ${damaged} damaged, verify from ${verifyFrom}`);
        assert.equal(scan.offsets.length, count);
        assert.deepEqual(
          scan.entries.map((entry) => entry.index),
          Array.from({ length: count - collectFrom + 1 }, (_, i) => collectFrom + i),
        );
      } else {
        assert.equal(scan.failure?.offset, offsets[damaged - 1]);
        assert.match(scan.failure?.reason ?? '', /CRC32C mismatch/);
      }
    }
  }
});

test('a damaged length before verifyFrom still shows as corruption', () => {
  // Goal: walking without the CRC still reads every length, index and term, so a length
  // that points into the middle of the next record is caught there.
  const { file, offsets } = segment();
  const bytes = Buffer.from(file);
  const at = (offsets[4] as number) + 4;
  bytes.writeUInt32LE(bytes.readUInt32LE(at) + 3, at);
  const scan = scanSegment(bytes, 1, 0, bodyBytesMax, 30, 30);
  assert.notEqual(scan.failure, null);
  assert.equal(scan.failure?.offset, (offsets[5] as number) + 3);
  assert.deepEqual(scan.entries, []);
});

test('terms that go back are refused on the fast path as on the checked one', () => {
  // Goal: the walk keeps the log's rule that terms never decrease.
  const { file } = segment();
  for (const verifyFrom of [0, count + 1]) {
    const scan = scanSegment(file, 1, 99, bodyBytesMax, null, verifyFrom);
    assert.equal(scan.failure?.offset, segmentHeaderBytes);
    assert.match(scan.failure?.reason ?? '', /after term 99/);
  }
});
