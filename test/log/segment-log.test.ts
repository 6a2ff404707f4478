// The segment log on real files: segments, recovery of a torn tail, precise reports of
// corruption, limits, group commit, and the hard state's two slots.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { join } from 'node:path';
import { test } from 'node:test';
import { TandemError } from '../../src/core/errors.js';
import { DiskStorage } from '../../src/log/disk-storage.js';
import { HardStateFile } from '../../src/log/hard-state.js';
import { recordBytes } from '../../src/log/record.js';
import { SegmentLog } from '../../src/log/segment-log.js';
import { formatChecksum } from '../../src/log/snapshot-files.js';
import { entriesOf, occupyThreadPool, payloadFor, plain, temporaryDirectory } from './helpers.js';

const smallSegments = { segmentBytesMax: 1000 };
/** Segments that end at their last record, as without preallocation (and before it). */
const exactSegments = { ...smallSegments, preallocateBytes: 0 };

async function writeLog(path: string, to: number, limits = smallSegments): Promise<void> {
  const storage = await DiskStorage.open(path, { limits });
  await storage.load();
  storage.writeEntries(entriesOf(1, to, 1));
  await storage.sync();
  await storage.close();
}

function segmentFiles(path: string): string[] {
  return readdirSync(join(path, 'log')).sort();
}

function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  bytes[offset] = (bytes[offset] as number) ^ 0x10;
  writeFileSync(file, bytes);
}

async function expectCorrupt(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => {
      const storage = await DiskStorage.open(path, { limits: smallSegments });
      try {
        await storage.load();
      } finally {
        await storage.close();
      }
    },
    (error: unknown) => {
      assert.ok(error instanceof TandemError, String(error));
      assert.equal(error.code, 'TANDEM_CORRUPT');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

test('the log rolls to new segments and knows its first and last index at open', async () => {
  // Goal: segments split past the size limit; reopening finds the bounds from the names and
  // the last segment, and reads every entry back.
  const directory = temporaryDirectory('segments');
  try {
    await writeLog(directory.path, 200);
    const files = segmentFiles(directory.path);
    assert.ok(files.length > 5, `only ${files.length} segments`);
    for (const file of files.slice(0, -1))
      assert.ok(statSync(join(directory.path, 'log', file)).size <= 1000);
    const log = await SegmentLog.open(join(directory.path, 'log'), smallSegments);
    assert.equal(log.firstIndex, 1);
    assert.equal(log.lastIndex, 200);
    assert.deepEqual((await log.readFrom(1)).map(plain), entriesOf(1, 200, 1).map(plain));
    await log.close();
  } finally {
    directory.remove();
  }
});

test('a torn record at the end of the log is cut off and reported', async () => {
  // Goal: a crash mid-write loses only the torn record; the report names file and offset.
  const directory = temporaryDirectory('torn');
  try {
    await writeLog(directory.path, 50, exactSegments);
    const last = join(directory.path, 'log', segmentFiles(directory.path).at(-1) as string);
    const size = statSync(last).size;
    truncateSync(last, size - 7);
    const storage = await DiskStorage.open(directory.path, { limits: smallSegments });
    const { entries } = await storage.load();
    assert.deepEqual(entries.map(plain), entriesOf(1, 49, 1).map(plain));
    const cut = storage.recovery.cut;
    assert.ok(cut !== null);
    assert.equal(cut.file, segmentFiles(directory.path).at(-1));
    assert.equal(cut.reason, 'a record is cut short');
    assert.equal(cut.bytes, size - 7 - cut.offset);
    // The log goes on from the cut.
    storage.writeEntries(entriesOf(50, 52, 2));
    await storage.sync();
    await storage.close();
    const reopened = await DiskStorage.open(directory.path, { limits: smallSegments });
    const state = await reopened.load();
    assert.equal(reopened.recovery.cut, null);
    assert.deepEqual(
      state.entries.map(plain),
      [...entriesOf(1, 49, 1), ...entriesOf(50, 52, 2)].map(plain),
    );
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('garbage or zeros after the last record are cut off as a torn tail', async () => {
  // Goal: blocks written by a crash after the last record (zeros, noise) never replay.
  const directory = temporaryDirectory('garbage');
  try {
    await writeLog(directory.path, 30, exactSegments);
    const last = join(directory.path, 'log', segmentFiles(directory.path).at(-1) as string);
    appendFileSync(last, Buffer.alloc(300));
    appendFileSync(last, Buffer.from('not a record at all, just noise'));
    const storage = await DiskStorage.open(directory.path, { limits: smallSegments });
    const { entries } = await storage.load();
    assert.deepEqual(entries.map(plain), entriesOf(1, 30, 1).map(plain));
    assert.equal(storage.recovery.cut?.bytes, 300 + 31);
    await storage.close();
  } finally {
    directory.remove();
  }
});

test('a flipped bit in the middle of the last segment is reported, not cut', async () => {
  // Goal: damage followed by sound records is corruption: the node refuses to start and
  // names the file and the record's offset, instead of dropping acknowledged entries.
  const directory = temporaryDirectory('mid-last');
  try {
    await writeLog(directory.path, 60);
    const name = segmentFiles(directory.path).at(-1) as string;
    const bytes = readFileSync(join(directory.path, 'log', name));
    const recordBytes = 8 + 20 + payloadFor(1, 1).length;
    const records = (bytes.length - 32) / recordBytes;
    assert.ok(records >= 3, `${records} records in the last segment`);
    const offset = 32 + recordBytes; // the second record of the segment
    flipByte(join(directory.path, 'log', name), offset + 30);
    await expectCorrupt(
      directory.path,
      new RegExp(`${name} is corrupt at byte offset ${offset}: CRC32C mismatch`),
    );
  } finally {
    directory.remove();
  }
});

test('recovery sums no record a snapshot covers: damage there does not stop the start', async () => {
  // Goal: the records at or below the latest snapshot's index were synced before it was
  // saved, so they cannot be a torn tail and recovery walks them without their CRC; every
  // record after the snapshot is still summed.
  for (const covered of [true, false]) {
    const directory = temporaryDirectory(covered ? 'covered' : 'not-covered');
    try {
      await writeLog(directory.path, 60);
      const name = segmentFiles(directory.path).at(-1) as string;
      const first = Number(name.slice(0, 20));
      const snapshotIndex = covered ? first + 1 : first - 1;
      const storage = await DiskStorage.open(directory.path, { limits: smallSegments });
      await storage.load();
      await storage.saveSnapshot(
        { index: snapshotIndex, term: 1, membership: { voters: ['n1'], learners: [] } },
        Buffer.from('state'),
      );
      await storage.close();
      // The newest segment's first record (index `first`), damaged in its payload.
      flipByte(join(directory.path, 'log', name), 32 + 30);
      if (!covered) {
        await expectCorrupt(directory.path, new RegExp(`${name} is corrupt at byte offset 32`));
        continue;
      }
      const reopened = await DiskStorage.open(directory.path, { limits: smallSegments });
      try {
        const loaded = await reopened.load();
        assert.equal(reopened.recovery.cut, null);
        assert.deepEqual(
          loaded.entries.map((entry) => entry.index),
          Array.from({ length: 60 - snapshotIndex }, (_, i) => snapshotIndex + 1 + i),
        );
      } finally {
        await reopened.close();
      }
    } finally {
      directory.remove();
    }
  }
});

test('a damaged length field in the middle of the last segment is still reported', async () => {
  // Goal: even when the damaged record's length sends the reader astray, the sound records
  // after it are found and the damage is reported rather than cut off.
  const directory = temporaryDirectory('mid-length');
  try {
    await writeLog(directory.path, 60);
    const name = segmentFiles(directory.path).at(-1) as string;
    const recordBytes = 8 + 20 + payloadFor(1, 1).length;
    flipByte(join(directory.path, 'log', name), 32 + recordBytes + 5);
    await expectCorrupt(
      directory.path,
      new RegExp(`${name} is corrupt at byte offset ${32 + recordBytes}`),
    );
  } finally {
    directory.remove();
  }
});

test('damage in an older segment is reported with its file and offset', async () => {
  // Goal: corruption anywhere but the torn tail is an error naming where it is.
  const directory = temporaryDirectory('older');
  try {
    await writeLog(directory.path, 200);
    const name = segmentFiles(directory.path)[1] as string;
    flipByte(join(directory.path, 'log', name), 32 + 12);
    await expectCorrupt(directory.path, new RegExp(`${name} is corrupt at byte offset 32`));
  } finally {
    directory.remove();
  }
});

test('a missing piece of an older segment is reported', async () => {
  // Goal: an older segment that lost its end (so the next one does not follow on) is damage.
  const directory = temporaryDirectory('short-older');
  try {
    await writeLog(directory.path, 200);
    const name = segmentFiles(directory.path)[2] as string;
    const path = join(directory.path, 'log', name);
    truncateSync(path, statSync(path).size - 10);
    await expectCorrupt(directory.path, new RegExp(`${name} is corrupt`));
  } finally {
    directory.remove();
  }
});

test('a snapshot with a flipped bit or missing bytes is refused with its file named', async () => {
  // Goal: snapshot data is verified against its checksum before anyone uses it.
  const directory = temporaryDirectory('snapshot');
  try {
    const storage = await DiskStorage.open(directory.path);
    await storage.load();
    storage.writeEntries(entriesOf(1, 10, 1));
    await storage.sync();
    await storage.saveSnapshot(
      { index: 8, term: 1, membership: { voters: ['a'], learners: [] } },
      Buffer.alloc(5000, 7),
    );
    const file = join(directory.path, 'snapshots', 'snapshot-00000000000000000008.data');
    flipByte(file, 4000);
    await assert.rejects(
      () => storage.readSnapshot(),
      /snapshot file snapshot-00000000000000000008\.data is corrupt/,
    );
    truncateSync(file, 4000);
    await assert.rejects(
      () => storage.readSnapshot(),
      /snapshot-00000000000000000008\.data is corrupt/,
    );
    await storage.close();
    const reopened = await DiskStorage.open(directory.path);
    await assert.rejects(() => reopened.load(), /holds 4000 bytes; its meta says 5000/);
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('received snapshot data that does not match its checksum is not kept', async () => {
  // Goal: a snapshot streamed from the leader is checked before it replaces anything.
  const directory = temporaryDirectory('snapshot-receive');
  try {
    const storage = await DiskStorage.open(directory.path);
    await storage.load();
    storage.writeEntries(entriesOf(1, 5, 1));
    await storage.sync();
    const meta = { index: 40, term: 2, membership: { voters: ['a'], learners: [] } };
    await assert.rejects(
      () =>
        storage.saveSnapshotChunks(
          meta,
          [Buffer.from('chunk one'), Buffer.from('chunk two')],
          '00000000',
        ),
      /expected 00000000/,
    );
    const state = await storage.load();
    assert.equal(state.snapshot, null);
    assert.deepEqual(state.entries.map(plain), entriesOf(1, 5, 1).map(plain));
    await storage.close();
  } finally {
    directory.remove();
  }
});

test("a node's own snapshot image is moved into the log's snapshot directory, not copied", async () => {
  // Goal: the image a store wrote becomes the snapshot by a rename (its bytes are written
  // once), survives a reopen with its checksum, compacts the log, and a file of the wrong
  // size is refused with nothing changed.
  const directory = temporaryDirectory('snapshot-adopt');
  try {
    const storage = await DiskStorage.open(directory.path);
    await storage.load();
    storage.writeEntries(entriesOf(1, 10, 1));
    await storage.sync();
    const image = Buffer.from('the image of the state at index six');
    const file = join(directory.path, 'image');
    writeFileSync(file, image);
    const checksum = formatChecksum(crc32c(image));
    const meta = { index: 6, term: 1, membership: { voters: ['a'], learners: [] } };
    await assert.rejects(
      () => storage.saveSnapshotFile(meta, file, image.length + 1, checksum),
      /holds 35 bytes, expected 36/,
    );
    assert.equal(statSync(file).size, image.length);
    const info = await storage.saveSnapshotFile(meta, file, image.length, checksum);
    assert.equal(info.checksum, checksum);
    assert.throws(() => statSync(file), /ENOENT/);
    await storage.close();
    const reopened = await DiskStorage.open(directory.path);
    const state = await reopened.load();
    assert.equal(state.snapshot?.index, 6);
    const stored = await reopened.readSnapshot();
    assert.deepEqual(Buffer.from(stored?.data ?? []), image);
    assert.deepEqual(state.entries.map(plain), entriesOf(7, 10, 1).map(plain));
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('records and batches above the limits are refused with a clear error and nothing queued', async () => {
  // Goal: the limits hold and a refused write leaves the log as it was.
  const directory = temporaryDirectory('limits');
  try {
    const storage = await DiskStorage.open(directory.path, {
      limits: { recordBytesMax: 200, batchBytesMax: 1000, pendingBytesMax: 1500 },
    });
    await storage.load();
    const big = {
      index: 1,
      term: 1,
      kind: 'command' as const,
      durability: 'quorum' as const,
      data: new Uint8Array(500),
    };
    assert.throws(
      () => storage.writeEntries([big]),
      /log entry 1 takes 528 bytes; the limit is 200/,
    );
    assert.throws(
      () => storage.writeEntries(entriesOf(1, 30, 1)),
      /a batch of 30 entries takes 1560 bytes; the limit is 1000/,
    );
    assert.equal(storage.log.lastIndex, 0);
    storage.writeEntries(entriesOf(1, 19, 1));
    assert.throws(
      () => storage.writeEntries(entriesOf(20, 38, 1)),
      (error: unknown) => {
        return error instanceof TandemError && error.code === 'TANDEM_TOO_MANY_PENDING';
      },
    );
    await storage.sync();
    storage.writeEntries(entriesOf(20, 38, 1));
    await storage.sync();
    assert.equal(storage.log.lastIndex, 38);
    await storage.close();
  } finally {
    directory.remove();
  }
});

test('concurrent appenders share fdatasyncs (group commit)', async () => {
  // Goal: with many appenders in flight, far fewer flushes than entries.
  const directory = temporaryDirectory('group');
  try {
    const storage = await DiskStorage.open(directory.path);
    await storage.load();
    let next = 1;
    const appenders = 64;
    const perAppender = 20;
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        for (let i = 0; i < perAppender; i++) {
          const index = next++;
          storage.writeEntries(entriesOf(index, index, 1));
          await storage.sync();
        }
      }),
    );
    const entries = appenders * perAppender;
    assert.ok(storage.flushes * 10 < entries, `${storage.flushes} flushes for ${entries} entries`);
    await storage.close();
    const reopened = await DiskStorage.open(directory.path);
    assert.deepEqual(
      (await reopened.load()).entries.map(plain),
      entriesOf(1, entries, 1).map(plain),
    );
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('the hard state survives a torn write of either slot', async () => {
  // Goal: a torn hard-state write falls back to the last synced term and vote.
  const directory = temporaryDirectory('hard-state');
  try {
    const path = join(directory.path, 'hard-state');
    const file = await HardStateFile.open(path);
    file.write({ term: 3, vote: 'node-b', commit: 10 });
    await file.flush();
    file.write({ term: 4, vote: 'node-c', commit: 11 });
    await file.flush();
    await file.close();
    assert.deepEqual((await reopen(path)).current, { term: 4, vote: 'node-c', commit: 11 });
    // Tear the newer slot: the older synced state is what is left.
    const bytes = readFileSync(path);
    const newer = bytes.readUInt32LE(4096 + 8) > bytes.readUInt32LE(8) ? 4096 : 0;
    bytes.fill(0xab, newer + 20, newer + 40);
    writeFileSync(path, bytes);
    assert.deepEqual((await reopen(path)).current, { term: 3, vote: 'node-b', commit: 10 });
  } finally {
    directory.remove();
  }
});

test('a commit-only change never overwrites the synced term and vote', async () => {
  // Goal: unsynced commit updates go to the scratch slot, so tearing them loses only commit.
  const directory = temporaryDirectory('hard-state-commit');
  try {
    const path = join(directory.path, 'hard-state');
    const file = await HardStateFile.open(path);
    file.write({ term: 7, vote: 'a', commit: 1 });
    await file.flush();
    const syncs = file.syncs;
    for (let commit = 2; commit < 6; commit++) {
      file.write({ term: 7, vote: 'a', commit });
      await file.flush();
    }
    assert.equal(file.syncs, syncs, 'commit-only writes were synced');
    await file.close();
    const bytes = readFileSync(path);
    const newer = bytes.readUInt32LE(4096 + 8) > bytes.readUInt32LE(8) ? 4096 : 0;
    bytes.fill(0, newer, newer + 64);
    writeFileSync(path, bytes);
    const reopened = await reopen(path);
    assert.equal(reopened.current.term, 7);
    assert.equal(reopened.current.vote, 'a');
  } finally {
    directory.remove();
  }
});

async function reopen(path: string): Promise<HardStateFile> {
  const file = await HardStateFile.open(path);
  await file.close();
  return file;
}

test('a lost page of an unsynced flush (zeros) before sound records is a torn tail', async () => {
  // Goal: after a power loss the pages of a flush that never finished its fdatasync may
  // land out of order; a zero-filled sector then sound records is cut, not refused.
  const directory = temporaryDirectory('zero-page');
  try {
    await writeLog(directory.path, 10);
    const storage = await DiskStorage.open(directory.path, {
      limits: { segmentBytesMax: 1 << 20 },
    });
    await storage.load();
    storage.writeEntries(entriesOf(11, 60, 1));
    await storage.sync();
    await storage.close();
    const name = segmentFiles(directory.path).at(-1) as string;
    const path = join(directory.path, 'log', name);
    const bytes = readFileSync(path);
    const recordBytes = 8 + 20 + payloadFor(1, 1).length;
    const firstOfFlush = 32 + (11 - (Number(name.slice(0, 20)) as number)) * recordBytes;
    const sector = Math.ceil(firstOfFlush / 512) * 512;
    bytes.fill(0, firstOfFlush, sector + 512);
    writeFileSync(path, bytes);
    const reopened = await DiskStorage.open(directory.path, { limits: smallSegments });
    const { entries } = await reopened.load();
    assert.deepEqual(entries.map(plain), entriesOf(1, 10, 1).map(plain));
    assert.equal(reopened.recovery.cut?.offset, firstOfFlush);
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('a newest segment torn at creation does not hide records missing before it', async () => {
  // Goal: the segment before a new one was complete; if it lost records, that is damage.
  const directory = temporaryDirectory('torn-header');
  try {
    await writeLog(directory.path, 200);
    const files = segmentFiles(directory.path);
    const newest = join(directory.path, 'log', files.at(-1) as string);
    writeFileSync(newest, Buffer.alloc(10)); // a creation the crash interrupted
    const previous = join(directory.path, 'log', files.at(-2) as string);
    // Intact previous segment: the torn newest one is removed and reported.
    const storage = await DiskStorage.open(directory.path, { limits: smallSegments });
    const { entries } = await storage.load();
    assert.equal(entries.at(-1)?.index, Number((files.at(-1) as string).slice(0, 20)) - 1);
    assert.equal(storage.recovery.cut?.file, files.at(-1));
    await storage.close();
    // Now the previous segment lost its last record too: refused, naming it.
    writeFileSync(newest, Buffer.alloc(10));
    truncateSync(previous, statSync(previous).size - 52);
    await expectCorrupt(directory.path, new RegExp(`${files.at(-2)} is corrupt`));
  } finally {
    directory.remove();
  }
});

test('a write behind the snapshot is refused', async () => {
  // Goal: after a snapshot replaced the log, an entry at or below its index cannot be
  // written (it would be acknowledged and then vanish at the next load).
  const directory = temporaryDirectory('behind');
  try {
    const storage = await DiskStorage.open(directory.path);
    await storage.load();
    await storage.saveSnapshot(
      { index: 50, term: 2, membership: { voters: ['a'], learners: [] } },
      Buffer.from('s'),
    );
    assert.throws(() => storage.writeEntries(entriesOf(20, 22, 2)), /behind/);
    storage.writeEntries(entriesOf(51, 52, 2));
    await storage.sync();
    await storage.close();
  } finally {
    directory.remove();
  }
});

test('a failed hard-state write is never reported durable by a later flush', async () => {
  // Goal: after a failed write or fdatasync the file refuses every later flush.
  const directory = temporaryDirectory('hard-state-failure');
  try {
    const file = await HardStateFile.open(join(directory.path, 'hard-state'));
    await file.close(); // every write now fails (closed descriptor)
    file.write({ term: 9, vote: 'x', commit: 0 });
    await assert.rejects(() => file.flush(), /hard state write failed/);
    file.write({ term: 9, vote: 'x', commit: 1 });
    await assert.rejects(() => file.flush(), /hard state write failed/);
  } finally {
    directory.remove();
  }
});

test('the hard state reports a commit-only change once it is written', async () => {
  // Goal: `current` is the latest state written, not only the latest synced one.
  const directory = temporaryDirectory('hard-state-current');
  try {
    const file = await HardStateFile.open(join(directory.path, 'hard-state'));
    file.write({ term: 2, vote: 'a', commit: 1 });
    await file.flush();
    file.write({ term: 2, vote: 'a', commit: 9 });
    await file.flush();
    assert.deepEqual(file.current, { term: 2, vote: 'a', commit: 9 });
    await file.close();
  } finally {
    directory.remove();
  }
});

test('a flush copies a short run of records into the file before it waits for the disk', async () => {
  // Goal: records reach the file on the calling thread, no trip through the thread pool,
  // while a run longer than `syncWriteBytesMax` still goes out whole through it.
  const directory = temporaryDirectory('sync-write');
  try {
    const limits = { syncWriteBytesMax: 500, preallocateBytes: 0 };
    const storage = await DiskStorage.open(directory.path, { limits });
    await storage.load();
    storage.writeEntries(entriesOf(1, 2, 1));
    await storage.sync();
    const segment = join(directory.path, 'log', segmentFiles(directory.path)[0] as string);
    const sizeBefore = statSync(segment).size;
    const recordBytes = 8 + 20 + payloadFor(1, 1).length;
    storage.writeEntries(entriesOf(3, 4, 1)); // under the limit
    // With the pool busy, only a write made on this thread can be in the file at once.
    let poolBusy = occupyThreadPool();
    const shortRun = storage.sync();
    const sizeAfterShort = sizeBefore + 2 * recordBytes;
    assert.equal(statSync(segment).size, sizeAfterShort, 'short run not written at once');
    await Promise.all([shortRun, poolBusy]);
    storage.writeEntries(entriesOf(5, 24, 1)); // over the limit
    poolBusy = occupyThreadPool();
    const longRun = storage.sync();
    assert.equal(statSync(segment).size, sizeAfterShort, 'long run written on this thread');
    await Promise.all([longRun, poolBusy]);
    await storage.close();
    const reopened = await DiskStorage.open(directory.path, { limits });
    assert.deepEqual((await reopened.load()).entries.map(plain), entriesOf(1, 24, 1).map(plain));
    await reopened.close();
  } finally {
    directory.remove();
  }
});

test('the hard state is in the file before its flush waits for the disk', async () => {
  // Goal: a hard-state write costs no trip through the thread pool, synced or not.
  const directory = temporaryDirectory('hard-state-sync-write');
  try {
    const path = join(directory.path, 'hard-state');
    const file = await HardStateFile.open(path);
    const sequences = (): number[] => {
      const bytes = readFileSync(path);
      return [bytes.readUInt32LE(8), bytes.readUInt32LE(4096 + 8)];
    };
    const before = Math.max(...sequences());
    // With the pool busy, only a write made on this thread can be in the file at once.
    let poolBusy = occupyThreadPool();
    file.write({ term: 5, vote: 'n2', commit: 3 });
    const synced = file.flush();
    assert.equal(Math.max(...sequences()), before + 1, 'term change not written at once');
    await Promise.all([synced, poolBusy]);
    poolBusy = occupyThreadPool();
    file.write({ term: 5, vote: 'n2', commit: 4 });
    const commitOnly = file.flush();
    assert.equal(Math.max(...sequences()), before + 2, 'commit-only change not written at once');
    await Promise.all([commitOnly, poolBusy]);
    await file.close();
    assert.deepEqual((await reopen(path)).current, { term: 5, vote: 'n2', commit: 4 });
  } finally {
    directory.remove();
  }
});

/** Preallocation in small steps, so that a few hundred records extend it several times. */
const preallocated = { segmentBytesMax: 6 * 1024, preallocateBytes: 2048 };

/** Where the records of segment `first..last` end: its header and its records. */
function recordsEnd(first: number, last: number): number {
  return entriesOf(first, last, 1).reduce((sum, entry) => sum + recordBytes(entry), 32);
}

/** The segment files with the first index each one's name gives, oldest first. */
function segmentsWithFirstIndex(path: string): { file: string; first: number }[] {
  return segmentFiles(path).map((name) => ({
    file: join(path, 'log', name),
    first: Number(name.slice(0, 20)),
  }));
}

test('the newest segment is zero-filled ahead of its last record; older ones end at their last record', async () => {
  // Goal: appends go into preallocated space that a reopen takes as the end of the log,
  // not as a torn tail, and writes after a reopen land right after the last record (were
  // they written at the end of the file, the zeros between would cut them off at the next
  // open). A segment is cut back to its last record once the next one starts.
  const directory = temporaryDirectory('preallocated');
  try {
    let storage = await DiskStorage.open(directory.path, { limits: preallocated });
    await storage.load();
    for (let from = 1; from <= 400; from += 20) {
      storage.writeEntries(entriesOf(from, from + 19, 1));
      await storage.sync();
    }
    const segments = segmentsWithFirstIndex(directory.path);
    assert.ok(segments.length >= 3, `only ${segments.length} segments`);
    for (let i = 0; i + 1 < segments.length; i++) {
      const { file, first } = segments[i] as { file: string; first: number };
      const next = (segments[i + 1] as { first: number }).first;
      assert.equal(statSync(file).size, recordsEnd(first, next - 1), `${file} was not cut back`);
    }
    const newest = segments.at(-1) as { file: string; first: number };
    const end = recordsEnd(newest.first, 400);
    const bytes = readFileSync(newest.file);
    assert.ok(bytes.length >= end + 1024, `only ${bytes.length - end} bytes preallocated`);
    assert.ok(
      bytes.subarray(end).every((byte) => byte === 0),
      'the space ahead is not zeros',
    );
    await storage.close();

    storage = await DiskStorage.open(directory.path, { limits: preallocated });
    assert.deepEqual((await storage.load()).entries.map(plain), entriesOf(1, 400, 1).map(plain));
    assert.equal(storage.recovery.cut, null, 'the preallocated space was taken for a torn tail');
    storage.writeEntries(entriesOf(401, 410, 1));
    await storage.sync();
    await storage.close();

    storage = await DiskStorage.open(directory.path, { limits: preallocated });
    assert.deepEqual((await storage.load()).entries.map(plain), entriesOf(1, 410, 1).map(plain));
    assert.equal(storage.recovery.cut, null);
    await storage.close();
  } finally {
    directory.remove();
  }
});

test('a torn record or noise in the preallocated space is cut off as a torn tail', async () => {
  // Goal: a record whose last sector never reached the disk, followed by zeros, is a torn
  // tail like one at the end of a file; so is noise where zeros were.
  for (const damage of ['torn last record', 'noise after the last record'] as const) {
    const directory = temporaryDirectory('preallocated-torn');
    try {
      await writeLog(directory.path, 30, preallocated);
      const newest = segmentsWithFirstIndex(directory.path).at(-1) as {
        file: string;
        first: number;
      };
      const end = recordsEnd(newest.first, 30);
      const bytes = readFileSync(newest.file);
      assert.ok(bytes.length > end, 'nothing preallocated');
      if (damage === 'torn last record') bytes.fill(0, end - 7, end);
      else bytes.write('not a record at all, just noise', end);
      writeFileSync(newest.file, bytes);
      const storage = await DiskStorage.open(directory.path, { limits: preallocated });
      const kept = damage === 'torn last record' ? 29 : 30;
      assert.deepEqual((await storage.load()).entries.map(plain), entriesOf(1, kept, 1).map(plain));
      const cut = storage.recovery.cut;
      assert.ok(cut !== null, `${damage}: nothing cut`);
      assert.equal(cut.offset, recordsEnd(newest.first, kept), damage);
      storage.writeEntries(entriesOf(kept + 1, 40, 1));
      await storage.sync();
      await storage.close();
      const reopened = await DiskStorage.open(directory.path, { limits: preallocated });
      assert.deepEqual((await reopened.load()).entries.map(plain), entriesOf(1, 40, 1).map(plain));
      assert.equal(reopened.recovery.cut, null);
      await reopened.close();
    } finally {
      directory.remove();
    }
  }
});

test('a read from the middle of scanned segments gives those entries and checks them again', async () => {
  // Goal: a read from an index inside a segment already scanned (the newest at open, an
  // older one for a term lookup) reads only the records from there on, gives exactly the
  // entries a whole read gives, and still reports a record damaged since the scan.
  const directory = temporaryDirectory('read-tail');
  try {
    await writeLog(directory.path, 200, exactSegments);
    const path = join(directory.path, 'log');
    const whole = await SegmentLog.open(path, exactSegments);
    const all = await whole.readFrom(1);
    await whole.close();
    assert.deepEqual(all.map(plain), entriesOf(1, 200, 1).map(plain));
    for (const from of [2, 37, 150, 199, 200]) {
      const log = await SegmentLog.open(path, exactSegments);
      // A term lookup scans the segment that holds `from`, as a load's does.
      assert.equal(log.term(from), 1);
      assert.deepEqual((await log.readFrom(from)).map(plain), all.slice(from - 1).map(plain));
      await log.close();
    }
    const log = await SegmentLog.open(path, exactSegments);
    const newest = segmentFiles(directory.path).at(-1) as string;
    const bytes = readFileSync(join(path, newest));
    const lastRecord = bytes.length - recordBytes(entriesOf(200, 200, 1)[0]!);
    flipByte(join(path, newest), lastRecord + 30);
    await assert.rejects(log.readFrom(200), (error: unknown) => {
      assert.ok(error instanceof TandemError && error.code === 'TANDEM_CORRUPT', String(error));
      assert.match(error.message, new RegExp(`${newest} is corrupt at byte offset ${lastRecord}`));
      return true;
    });
    await log.close();
  } finally {
    directory.remove();
  }
});
