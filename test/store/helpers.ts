/**
 * Shared helpers of the store tests: a fresh directory per test, a little log that numbers
 * entries, and a canonical dump of a store's whole content for comparing replicas.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { TandemError } from '../../src/core/errors.js';
import type { Entry } from '../../src/core/types.js';
import { encodeCommand, type Command } from '../../src/store/commands.js';
import type { RestoreMeta } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite.js';

/** A fresh directory, removed when the test ends. */
export function tempDirectory(t: TestContext): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'tandem-store-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** Opens a store in a fresh directory of its own, closed when the test ends. */
export function openStore(t: TestContext, name = 'store.db'): SqliteStore {
  const store = SqliteStore.open(path.join(tempDirectory(t), name));
  t.after(() => store.close());
  return store;
}

/** Numbers entries as a log would: each call makes the next index, in the current term. */
export class TestLog {
  index: number;
  term: number;

  constructor(index = 0, term = 1) {
    this.index = index;
    this.term = term;
  }

  /** The next entry, carrying `command`. */
  command(command: Command): Entry {
    return this.raw(encodeCommand(command));
  }

  /** The next entry, carrying `data` as is (for corrupt payloads). */
  raw(data: Uint8Array): Entry {
    return { index: ++this.index, term: this.term, kind: 'command', durability: 'quorum', data };
  }

  /** The next entry, a new leader's no-op. */
  noop(): Entry {
    return { index: ++this.index, term: this.term, kind: 'noop', durability: 'quorum' };
  }

  /** The next entry, a membership change. */
  membership(): Entry {
    return {
      index: ++this.index,
      term: this.term,
      kind: 'membership',
      durability: 'quorum',
      membership: { voters: ['a', 'b', 'c'], learners: [] },
    };
  }
}

/** Applies commands as consecutive entries and returns their results. */
export function applyCommands(store: SqliteStore, log: TestLog, ...commands: Command[]): unknown[] {
  return store.apply(commands.map((command) => log.command(command)));
}

/** The value of the single successful result of applying `command`. */
export function applyOne(store: SqliteStore, log: TestLog, command: Command): unknown {
  const [result] = store.apply([log.command(command)]);
  if (result === null || result === undefined || !result.ok) {
    throw new Error(`expected success, got ${JSON.stringify(result)}`);
  }
  return result.value;
}

/** What `dump` leaves out or adds. */
export interface DumpOptions {
  /**
   * Whether rows carry their rowid and come in rowid order (the default). Without, rows
   * come sorted by their content: rowids of tables without an INTEGER PRIMARY KEY do not
   * survive a PostgreSQL image, which has none.
   */
  readonly rowids?: boolean;
  /** Whether the client sessions are included (default false). */
  readonly sessions?: boolean;
}

/**
 * Everything a store holds, canonically ordered: the applied position, every key with its
 * version and expiry, and every user table's schema and rows. Two replicas that applied
 * the same entries must give the same dump.
 */
export function dump(store: SqliteStore, options: DumpOptions = {}): string {
  const meta = store.query('SELECT applied_index, applied_term FROM _tandem_meta');
  const kv = store.query(
    'SELECT key, value, version_index, version_term, expires_at FROM _tandem_kv ORDER BY key',
  );
  const schema = store.query(
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_tandem\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
  );
  const tables = schema
    .filter((row) => row.type === 'table')
    .map((row) => {
      const name = String(row.name).replaceAll('"', '""');
      if (options.rowids ?? true) {
        return [row.name, store.query(`SELECT rowid AS _rowid, * FROM "${name}" ORDER BY rowid`)];
      }
      const rows = store
        .query(`SELECT * FROM "${name}"`)
        .map((values) => JSON.stringify(values, bigintText));
      return [row.name, rows.sort()];
    });
  const sessions =
    options.sessions === true
      ? store
          .query('SELECT * FROM _tandem_sessions ORDER BY id')
          .map((row) => ({ ...row, result: Buffer.from(row.result as Uint8Array).toString('hex') }))
      : undefined;
  return JSON.stringify({ meta, kv, schema, tables, sessions }, bigintText);
}

/** A JSON.stringify replacer for SQL's 64-bit integers past 2^53: `9223372036854775807n`. */
function bigintText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

/** Every chunk of a snapshot image, in order. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const all: Uint8Array[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return all;
}

/** Chunks collected before, streamed again as a restore takes them. */
export async function* replay(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** Matches a TANDEM_CORRUPT error whose message matches `pattern`. */
export function isCorrupt(pattern: RegExp): (error: unknown) => boolean {
  return (error) =>
    error instanceof TandemError && error.code === 'TANDEM_CORRUPT' && pattern.test(error.message);
}

/** Bytes that are no store's image, with meta whose checksum they honestly match. */
export function checksummedGarbage(text: string): { meta: RestoreMeta; data: Uint8Array } {
  const data = new TextEncoder().encode(text);
  const checksum = (crc32c(data) >>> 0).toString(16).padStart(8, '0');
  return { meta: { index: 0, term: 0, checksum }, data };
}
