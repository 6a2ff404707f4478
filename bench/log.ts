/**
 * Benchmark of the durable log (figures, not pass/fail):
 * `node dist/bench/log.js [--runs N] [--json]`.
 *
 * - durable appends of 100-byte entries from 1, 16 and 256 concurrent appenders, each one
 *   looping what a follower's Ready writes (`writeEntries` of one entry and
 *   `writeHardState` with the commit moved on) then `await sync()`: entries/s, fdatasyncs
 *   per entry, p50/p99 latency of one append (writeEntries until sync resolved), and the
 *   CPU time (user and system, every thread of the process) per flush and per entry;
 * - three logs appending side by side (one appender each, as the three nodes of a cluster
 *   on one machine), with the newest segment preallocated and without (`preallocateBytes`
 *   0): p50/p90 latency of one append;
 * - beside them, this machine's raw fdatasync: 100-byte write + fdatasync in a loop on a
 *   plain file in the same kind of temp directory, so the log's figures read as ratios.
 *
 * Every figure is the median of several runs, each in a fresh temp directory; runs of the
 * different measurements are interleaved so that drift in a shared machine hits them alike.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../src/core/types.js';
import { DiskStorage } from '../src/log/disk-storage.js';
import { defaultSegmentLogLimits } from '../src/log/segment-log.js';
import { median, parseCountOptions } from './stats.js';

const options = parseCountOptions(process.argv.slice(2), { runs: 3 }, 'log.js [--runs N] [--json]');
const runs = options.runs;
const appenderCounts = [1, 16, 256] as const;
/** Appends run this long before measuring starts (JIT, page cache, file growth). */
const warmUpMs = 300;
const appendDurationMs = 3_000;
const rawSyncDurationMs = 1_000;
const entryBytes = 100;

/** The targets the log is held to, with the direction each must be met in. */
const targets = {
  oneAppenderP50OverRawFsyncP50Max: 1.5,
  manyAppendersEntriesPerSecondMin: 200_000,
  manyAppendersSyncsPerEntryMax: 0.02,
} as const;

/** What one run of one appender count measured. */
interface AppendFigures {
  readonly entriesPerSecond: number;
  readonly syncsPerEntry: number;
  readonly entriesPerFlush: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of the whole process (user and system) per flush, in microseconds. */
  readonly cpuUsPerFlush: number;
  /** The same per entry appended. */
  readonly cpuUsPerEntry: number;
}

/** What one run of the raw fdatasync loop measured. */
interface RawSyncFigures {
  readonly syncsPerSecond: number;
  readonly p50Ms: number;
  /** CPU time (user and system) per write + fdatasync, in microseconds: the floor per flush. */
  readonly cpuUsPerSync: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] as number;
}

async function withTempDirectory<T>(use: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'tandem-bench-log-'));
  try {
    return await use(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** 100-byte writes, each followed by fdatasync, on a plain file: the disk's own pace. */
function measureRawSync(directory: string): RawSyncFigures {
  const fd = openSync(join(directory, 'raw-fdatasync'), 'w');
  const block = Buffer.alloc(entryBytes, 0x61);
  const latencies: number[] = [];
  try {
    const warmUpEnd = performance.now() + warmUpMs / 3;
    while (performance.now() < warmUpEnd) {
      writeSync(fd, block);
      fdatasyncSync(fd);
    }
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const deadline = started + rawSyncDurationMs;
    for (let now = started; now < deadline;) {
      writeSync(fd, block);
      fdatasyncSync(fd);
      const done = performance.now();
      latencies.push(done - now);
      now = done;
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const sorted = Float64Array.from(latencies).sort();
    return {
      syncsPerSecond: latencies.length / seconds,
      p50Ms: percentile(sorted, 0.5),
      cpuUsPerSync: (cpu.user + cpu.system) / latencies.length,
    };
  } finally {
    closeSync(fd);
  }
}

/** Counters of one storage and of the process, read before and after the measured window. */
function counters(storage: DiskStorage): { syncs: number; flushes: number; cpuUs: number } {
  const cpu = process.cpuUsage();
  return {
    syncs: storage.log.syncs + storage.hardState.syncs,
    flushes: storage.flushes,
    cpuUs: cpu.user + cpu.system,
  };
}

/**
 * Runs `appenders` loops of append-one-entry-then-sync until `deadline`; returns the
 * latency of each append in ms. `next` hands out indexes: taking one and queueing the
 * write happen in one synchronous step, so writes reach the log in index order.
 */
async function appendUntil(
  storage: DiskStorage,
  appenders: number,
  deadline: number,
  next: { index: number },
): Promise<number[]> {
  const data = new Uint8Array(entryBytes).fill(0x62);
  const latencies: number[] = [];
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const began = performance.now();
      const entry: Entry = {
        index: next.index++,
        term: 1,
        kind: 'command',
        durability: 'sync',
        data,
      };
      storage.writeEntries([entry]);
      // A follower's Ready also moves the commit on: a hard state that changes only commit.
      storage.writeHardState({ term: 1, vote: 'n1', commit: entry.index - 1 });
      await storage.sync();
      latencies.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: appenders }, appender));
  return latencies;
}

/** One append's p50 and p90 with three logs appending at once, each in its own directory. */
interface SideBySideFigures {
  readonly p50Ms: number;
  readonly p90Ms: number;
}

async function measureSideBySide(preallocateBytes: number): Promise<SideBySideFigures> {
  const one = (directory: string): Promise<number[]> =>
    (async () => {
      const storage = await DiskStorage.open(directory, { limits: { preallocateBytes } });
      try {
        await storage.load();
        const next = { index: 1 };
        await appendUntil(storage, 1, performance.now() + warmUpMs, next);
        return await appendUntil(storage, 1, performance.now() + appendDurationMs, next);
      } finally {
        await storage.close();
      }
    })();
  const latencies = await Promise.all(
    [0, 1, 2].map(() => withTempDirectory((directory) => one(directory))),
  );
  const sorted = Float64Array.from(latencies.flat()).sort();
  return { p50Ms: percentile(sorted, 0.5), p90Ms: percentile(sorted, 0.9) };
}

async function measureAppends(directory: string, appenders: number): Promise<AppendFigures> {
  const storage = await DiskStorage.open(directory);
  try {
    await storage.load();
    const next = { index: 1 };
    await appendUntil(storage, appenders, performance.now() + warmUpMs, next);
    const before = counters(storage);
    const started = performance.now();
    const latencies = await appendUntil(storage, appenders, started + appendDurationMs, next);
    const seconds = (performance.now() - started) / 1000;
    const after = counters(storage);
    const sorted = Float64Array.from(latencies).sort();
    const cpuUs = after.cpuUs - before.cpuUs;
    return {
      entriesPerSecond: latencies.length / seconds,
      syncsPerEntry: (after.syncs - before.syncs) / latencies.length,
      entriesPerFlush: latencies.length / (after.flushes - before.flushes),
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      cpuUsPerFlush: cpuUs / (after.flushes - before.flushes),
      cpuUsPerEntry: cpuUs / latencies.length,
    };
  } finally {
    await storage.close();
  }
}

/** The median of each field over the runs. */
function medianFigures<T extends object>(samples: readonly T[]): T {
  const first = samples[0] as T;
  const result: Record<string, number> = {};
  for (const key of Object.keys(first)) {
    result[key] = median(
      samples.map((sample) => (sample as Record<string, number>)[key] as number),
    );
  }
  return result as T;
}

interface Report {
  readonly runs: number;
  readonly appendDurationMs: number;
  readonly entryBytes: number;
  readonly rawFdatasync: RawSyncFigures;
  readonly appenders: Record<string, AppendFigures>;
  readonly sideBySide: {
    readonly preallocated: SideBySideFigures;
    readonly growing: SideBySideFigures;
  };
  readonly ratios: {
    readonly oneAppenderP50OverRawFsyncP50: number;
    readonly manyAppendersEntriesPerSecond: number;
    readonly manyAppendersSyncsPerEntry: number;
  };
  readonly targets: typeof targets;
  readonly targetsMet: Record<keyof typeof targets, boolean>;
}

async function measure(): Promise<Report> {
  const rawSamples: RawSyncFigures[] = [];
  const appendSamples = new Map<number, AppendFigures[]>(appenderCounts.map((n) => [n, []]));
  const preallocated: SideBySideFigures[] = [];
  const growing: SideBySideFigures[] = [];
  for (let run = 0; run < runs; run++) {
    rawSamples.push(await withTempDirectory(async (directory) => measureRawSync(directory)));
    preallocated.push(await measureSideBySide(defaultSegmentLogLimits.preallocateBytes));
    growing.push(await measureSideBySide(0));
    for (const appenders of appenderCounts) {
      const figures = await withTempDirectory((directory) => measureAppends(directory, appenders));
      appendSamples.get(appenders)?.push(figures);
    }
  }
  const rawFdatasync = medianFigures(rawSamples);
  const appendFigures = Object.fromEntries(
    appenderCounts.map((n) => [String(n), medianFigures(appendSamples.get(n) ?? [])]),
  );
  const one = appendFigures['1'] as AppendFigures;
  const many = appendFigures[String(appenderCounts.at(-1))] as AppendFigures;
  const ratios = {
    oneAppenderP50OverRawFsyncP50: one.p50Ms / rawFdatasync.p50Ms,
    manyAppendersEntriesPerSecond: many.entriesPerSecond,
    manyAppendersSyncsPerEntry: many.syncsPerEntry,
  };
  return {
    runs,
    appendDurationMs,
    entryBytes,
    rawFdatasync,
    appenders: appendFigures,
    sideBySide: { preallocated: medianFigures(preallocated), growing: medianFigures(growing) },
    ratios,
    targets,
    targetsMet: {
      oneAppenderP50OverRawFsyncP50Max:
        ratios.oneAppenderP50OverRawFsyncP50 <= targets.oneAppenderP50OverRawFsyncP50Max,
      manyAppendersEntriesPerSecondMin:
        ratios.manyAppendersEntriesPerSecond >= targets.manyAppendersEntriesPerSecondMin,
      manyAppendersSyncsPerEntryMax:
        ratios.manyAppendersSyncsPerEntry <= targets.manyAppendersSyncsPerEntryMax,
    },
  };
}

function printTable(report: Report): void {
  const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');
  const raw = report.rawFdatasync;
  console.log(
    `durable log appends, ${report.entryBytes}-byte entries, median of ${report.runs} runs of ${report.appendDurationMs} ms`,
  );
  console.log(
    `raw fdatasync (${report.entryBytes}-byte write + fdatasync): ${Math.round(raw.syncsPerSecond)} syncs/s, p50 ${raw.p50Ms.toFixed(3)} ms, CPU ${raw.cpuUsPerSync.toFixed(1)} us/sync`,
  );
  console.log(
    'appenders   entries/s   syncs/entry   entries/flush   p50 ms   p99 ms   CPU us/flush   CPU us/entry',
  );
  for (const [appenders, figures] of Object.entries(report.appenders)) {
    console.log(
      [
        appenders.padStart(9),
        Math.round(figures.entriesPerSecond).toString().padStart(11),
        figures.syncsPerEntry.toFixed(4).padStart(13),
        figures.entriesPerFlush.toFixed(1).padStart(15),
        figures.p50Ms.toFixed(3).padStart(8),
        figures.p99Ms.toFixed(3).padStart(8),
        figures.cpuUsPerFlush.toFixed(1).padStart(14),
        figures.cpuUsPerEntry.toFixed(1).padStart(14),
      ].join(' '),
    );
  }
  const side = report.sideBySide;
  console.log(
    `three logs side by side, one appender each: preallocated p50 ${side.preallocated.p50Ms.toFixed(3)} ms p90 ${side.preallocated.p90Ms.toFixed(3)} ms; growing p50 ${side.growing.p50Ms.toFixed(3)} ms p90 ${side.growing.p90Ms.toFixed(3)} ms`,
  );
  const { ratios, targets: goal, targetsMet } = report;
  console.log(
    `1-appender p50 / raw fdatasync p50: ${ratios.oneAppenderP50OverRawFsyncP50.toFixed(2)} (target <= ${goal.oneAppenderP50OverRawFsyncP50Max}: ${verdict(targetsMet.oneAppenderP50OverRawFsyncP50Max)})`,
  );
  console.log(
    `256 appenders: ${Math.round(ratios.manyAppendersEntriesPerSecond)} entries/s (target >= ${goal.manyAppendersEntriesPerSecondMin}: ${verdict(targetsMet.manyAppendersEntriesPerSecondMin)}), ` +
      `${ratios.manyAppendersSyncsPerEntry.toFixed(4)} syncs/entry (target <= ${goal.manyAppendersSyncsPerEntryMax}: ${verdict(targetsMet.manyAppendersSyncsPerEntryMax)})`,
  );
}

const report = await measure();
if (options.json) console.log(JSON.stringify(report));
else printTable(report);
