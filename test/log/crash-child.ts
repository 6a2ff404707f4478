/**
 * The process the crash test kills: it appends to a `DiskStorage` until it receives SIGKILL.
 *
 * Usage: `node dist/test/log/crash-child.js <directory> <generation> <seed>`. The generation
 * (1, 2, ...) is the term of everything this process writes; the seed drives every random
 * choice it makes. It reports on stdout, one synchronous write per line, so that a line the
 * parent reads was printed before the kill and says only what was already durable:
 *
 * - `hardstate <term>`: the hard state with this term is synced;
 * - `truncate <from> <term>`: printed *before* the write that overwrites the tail from
 *   `from` with this term: from then on the older entries there may be gone;
 * - `ack <first> <last> <term>`: entries `first..last` with this term are synced;
 * - `snapshot <index>`: the snapshot at `index` is stored and the log compacted behind it.
 *
 * The entry payloads and snapshot data are pure functions of index and term (exported for
 * the parent), so the parent can check every byte it reads back.
 */
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { assert } from '../../src/core/assert.js';
import { Prng } from '../../src/core/prng.js';
import type { Durability, Entry, Membership } from '../../src/core/types.js';
import { DiskStorage } from '../../src/log/disk-storage.js';
import type { SegmentLogLimits } from '../../src/log/segment-log.js';

/** Small segments, so that a few hundred milliseconds of appends create and compact several. */
export const crashLogLimits: Partial<SegmentLogLimits> = { segmentBytesMax: 512 * 1024 };
/** Appenders sharing one index counter, each waiting for its own sync. */
export const appendersCount = 8;
/** Entries one append takes: from 1 to this many. */
export const entriesPerAppendMax = 32;
/** Payload lengths run from 1 to this many bytes. */
export const payloadBytesMax = 3_000;
/** A snapshot is taken once this many entries were acknowledged past the last one. */
export const snapshotEveryEntries = 2_000;
/** At start, with this chance, the last few entries are overwritten as a divergent tail. */
export const divergentTailChance = { numerator: 1, denominator: 3 } as const;
/** The most entries a divergent tail overwrites. */
export const divergentTailEntriesMax = 20;
/** The membership every snapshot carries. */
export const snapshotMembership: Membership = { voters: ['n1'], learners: [] };

const durabilities: readonly Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];

/** A 32-bit hash of (index, term): the seed of an entry's payload. */
function mixIndexAndTerm(index: number, term: number): number {
  let hash = Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(term + 0x632be5ab, 0xc2b2ae35);
  hash = Math.imul(hash ^ (hash >>> 16), 0x7feb352d);
  hash = Math.imul(hash ^ (hash >>> 15), 0x846ca68b);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/** The payload of the entry at (index, term): 1 to `payloadBytesMax` bytes of xorshift output. */
export function entryPayload(index: number, term: number): Uint8Array {
  // xorshift32 needs a non-zero state; setting the low bit guarantees one.
  const hash = mixIndexAndTerm(index, term);
  let state = hash | 1;
  const payload = new Uint8Array(1 + (hash % payloadBytesMax));
  for (let i = 0; i < payload.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    payload[i] = state & 0xff;
  }
  return payload;
}

/** The durability mode recorded with the entry at `index` (every mode goes through the disk). */
export function entryDurability(index: number): Durability {
  return durabilities[index % durabilities.length] as Durability;
}

/** The entry this program writes at (index, term). */
export function crashEntry(index: number, term: number): Entry {
  return {
    index,
    term,
    kind: 'command',
    durability: entryDurability(index),
    data: entryPayload(index, term),
  };
}

/** The data of the snapshot at `index`. */
export function snapshotData(index: number): Uint8Array {
  return Buffer.from(`snapshot-${index};`.repeat(1 + (index % 500)), 'utf8');
}

/** Writes one line to stdout in a single synchronous write, so a kill cannot split it. */
function report(line: string): void {
  writeSync(1, `${line}\n`);
}

/** What the appenders share. */
interface AppendState {
  readonly storage: DiskStorage;
  readonly random: Prng;
  readonly term: number;
  /** The next index an appender takes. */
  nextIndex: number;
  /** Appends written and waiting for their sync. */
  inFlight: number;
  /** The highest index acknowledged so far, and the latest snapshot's index. */
  acknowledgedIndex: number;
  snapshotIndex: number;
  /** Set while a snapshot is taken; appenders wait for it before taking more indexes. */
  snapshotting: Promise<void> | null;
}

async function appendForever(state: AppendState): Promise<never> {
  for (;;) {
    while (state.snapshotting !== null) await state.snapshotting;
    // Taking the indexes and queueing the write happen in one synchronous step, so writes
    // reach the log in index order whatever the interleaving of appenders.
    const first = state.nextIndex;
    const count = state.random.intBetween(1, entriesPerAppendMax + 1);
    state.nextIndex += count;
    const entries: Entry[] = [];
    for (let index = first; index < first + count; index++) {
      entries.push(crashEntry(index, state.term));
    }
    state.storage.writeEntries(entries);
    state.inFlight++;
    await state.storage.sync();
    state.inFlight--;
    const last = first + count - 1;
    report(`ack ${first} ${last} ${state.term}`);
    state.acknowledgedIndex = Math.max(state.acknowledgedIndex, last);
    if (
      state.snapshotting === null &&
      state.acknowledgedIndex - state.snapshotIndex >= snapshotEveryEntries
    ) {
      state.snapshotting = takeSnapshot(state).finally(() => {
        state.snapshotting = null;
      });
    }
  }
}

/** Waits for every append in flight, then snapshots at the highest acknowledged index. */
async function takeSnapshot(state: AppendState): Promise<void> {
  while (state.inFlight > 0) await state.storage.sync();
  // No appender takes indexes while `snapshotting` is set, and none is in flight, so every
  // index taken is acknowledged.
  const index = state.nextIndex - 1;
  assert(
    index === state.acknowledgedIndex,
    `snapshot at ${index}, acknowledged ${state.acknowledgedIndex}`,
  );
  const term = state.storage.log.term(index);
  assert(term === state.term, `entry ${index} has term ${term}, expected ${state.term}`);
  await state.storage.saveSnapshot(
    { index, term, membership: snapshotMembership },
    snapshotData(index),
  );
  state.snapshotIndex = index;
  report(`snapshot ${index}`);
}

function parseArguments(argv: readonly string[]): {
  directory: string;
  term: number;
  seed: number;
} {
  const [directory, generation, seed] = argv;
  assert(
    directory !== undefined && generation !== undefined && seed !== undefined,
    'usage: crash-child.js <directory> <generation> <seed>',
  );
  const term = Number(generation);
  assert(
    Number.isSafeInteger(term) && term >= 1,
    `generation must be an integer >= 1, got ${generation}`,
  );
  assert(Number.isSafeInteger(Number(seed)), `seed must be an integer, got ${seed}`);
  return { directory, term, seed: Number(seed) };
}

async function main(argv: readonly string[]): Promise<never> {
  const { directory, term, seed } = parseArguments(argv);
  const random = new Prng(seed);
  const storage = await DiskStorage.open(directory, { limits: crashLogLimits });
  const stored = await storage.load();
  const snapshotIndex = stored.snapshot?.index ?? 0;
  assert(storage.log.lastIndex >= snapshotIndex, 'the log ends before the snapshot');
  storage.writeHardState({ term, vote: 'n1', commit: snapshotIndex });
  await storage.sync();
  report(`hardstate ${term}`);
  let nextIndex = storage.log.lastIndex + 1;
  if (random.chance(divergentTailChance.numerator, divergentTailChance.denominator)) {
    // A divergent tail never reaches into the snapshot: those entries are committed.
    const overwritten = random.intBetween(0, divergentTailEntriesMax + 1);
    nextIndex = Math.max(nextIndex - overwritten, snapshotIndex + 1);
    if (nextIndex <= storage.log.lastIndex) report(`truncate ${nextIndex} ${term}`);
  }
  const state: AppendState = {
    storage,
    random,
    term,
    nextIndex,
    inFlight: 0,
    acknowledgedIndex: nextIndex - 1,
    snapshotIndex,
    snapshotting: null,
  };
  const appenders = Array.from({ length: appendersCount }, () => appendForever(state));
  return Promise.race(appenders);
}

// Run only as a program: the crash test imports the payload functions from this module.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    writeSync(
      2,
      `crash-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
