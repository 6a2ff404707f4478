/**
 * Benchmark of the SQLite state machine (not a test: figures, not pass/fail).
 *
 * Applies `entryCount` key-value SET entries (~100-byte values, distinct keys) in batches of
 * `batchEntries` per `apply` call, as the runtime hands over committed entries, and reports
 * entries applied per second. Encoding happens before the clock starts: it is the leader's
 * work, not the apply path's. As a reference measured in the same run on the same disk, it
 * also times raw better-sqlite3 inserting the same rows in ONE transaction with one
 * prepared statement, the floor cost of getting the rows into SQLite at all.
 *
 * Each figure is the median of `rounds` runs on a fresh database; the machines are shared
 * and noisy. Usage: `node dist/bench/store.js [--json]`.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Entry } from '../src/core/types.js';
import { encodeCommand } from '../src/store/commands.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { median } from './stats.js';

const entryCount = 200_000;
const batchEntries = 1024;
const rounds = 3;
const valueBytes = 100;
/** The target the apply path is held to, in entries per second. */
const targetEntriesPerSecond = 200_000;

function keyOf(i: number): string {
  return `user:${i.toString().padStart(8, '0')}`;
}

function valueOf(i: number): string {
  return `${i}:`.padEnd(valueBytes, 'v');
}

/** The committed entries of a run, encoded once: `entries[i]` is at log index `i + 1`. */
function makeEntries(): Entry[] {
  const at = 1_700_000_000_000;
  return Array.from({ length: entryCount }, (_, i) => ({
    index: i + 1,
    term: 1,
    kind: 'command',
    durability: 'quorum',
    data: encodeCommand({
      type: 'set',
      key: Buffer.from(keyOf(i)),
      value: Buffer.from(valueOf(i)),
      at,
    }),
  }));
}

/** Runs `body` with a fresh directory, removed afterwards. */
function inTempDirectory<T>(body: (directory: string) => T): T {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-store-'));
  try {
    return body(directory);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Entries per second through `SqliteStore.apply`. */
function storeRound(entries: readonly Entry[]): number {
  return inTempDirectory((directory) => {
    const store = SqliteStore.open(path.join(directory, 'store.db'));
    try {
      const started = performance.now();
      for (let from = 0; from < entries.length; from += batchEntries) {
        store.apply(entries.slice(from, from + batchEntries));
      }
      const seconds = (performance.now() - started) / 1000;
      if (store.applied.index !== entries.length) throw new Error('not every entry applied');
      return entries.length / seconds;
    } finally {
      store.close();
    }
  });
}

/** Rows per second for raw better-sqlite3: one prepared INSERT, one transaction. */
function rawRound(): number {
  return inTempDirectory((directory) => {
    const db = new Database(path.join(directory, 'raw.db'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT');
      const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
      const rows = Array.from({ length: entryCount }, (_, i) => [keyOf(i), valueOf(i)] as const);
      const started = performance.now();
      db.transaction(() => {
        for (const [key, value] of rows) insert.run(key, value);
      })();
      return entryCount / ((performance.now() - started) / 1000);
    } finally {
      db.close();
    }
  });
}

function main(): void {
  const json = process.argv.includes('--json');
  const entries = makeEntries();
  storeRound(entries.slice(0, 20 * batchEntries)); // warm up the JIT before anything is measured
  const store = median(Array.from({ length: rounds }, () => storeRound(entries)));
  const raw = median(Array.from({ length: rounds }, () => rawRound()));
  const figures = {
    entries: entryCount,
    batchEntries,
    valueBytes,
    rounds,
    storeEntriesPerSecond: Math.round(store),
    rawInsertsPerSecond: Math.round(raw),
    ratioToRaw: Number((store / raw).toFixed(2)),
    targetEntriesPerSecond,
    targetMet: store >= targetEntriesPerSecond,
  };
  if (json) {
    console.log(JSON.stringify(figures));
    return;
  }
  console.log(
    `store apply, median of ${rounds} runs of ${entryCount} SET entries (${valueBytes}-byte values, ${batchEntries} per apply):`,
  );
  console.log(
    `  SqliteStore.apply: ${figures.storeEntriesPerSecond} entries/s (target ${targetEntriesPerSecond}: ${figures.targetMet ? 'met' : 'NOT met'})`,
  );
  console.log(
    `  raw better-sqlite3, one transaction: ${figures.rawInsertsPerSecond} rows/s (reference); apply = ${figures.ratioToRaw}x raw`,
  );
}

main();
