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
import { encodeAccessState } from '../../src/store/access-state.js';
import { encodeCommand, type Command } from '../../src/store/commands.js';
import type {
  MaybePromise,
  NodeStore,
  RestoreMeta,
  StoreReader,
} from '../../src/store/contract.js';
import type { KvEntry } from '../../src/store/kv.js';
import { kvSchema } from '../../src/store/kv.js';
import { sessionsSchema } from '../../src/store/sessions.js';
import { metaSchema } from '../../src/store/snapshot-images.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';

/**
 * A SQLite database file as older builds kept their store (and sent it as a snapshot
 * image): the key-value namespace in `_tandem_kv`, the applied position in
 * `_tandem_meta`. `setup` runs on it (rollback journal mode) before it is closed.
 */
export function databaseImageFile(file: string, setup: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    db.exec(kvSchema + metaSchema + sessionsSchema);
    setup(db);
  } finally {
    db.close();
  }
}

/** The file's bytes and the meta a node would send them with, at `index` and `term`. */
export function imageOfFile(
  file: string,
  index: number,
  term: number,
): { meta: RestoreMeta; data: Uint8Array } {
  const data = readFileSync(file);
  const checksum = (crc32c(data) >>> 0).toString(16).padStart(8, '0');
  return { meta: { index, term, checksum }, data };
}

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

/** A command type with every key and value given as bytes or as text (its UTF-8 bytes). */
export type Textual<T> = T extends Uint8Array
  ? Uint8Array | string
  : T extends object
    ? { [K in keyof T]: Textual<T[K]> }
    : T;

/** A command whose keys and values may be written as text, for readable tests. */
export type TextCommand = Textual<Command>;

/** Text as its UTF-8 bytes. */
export function b(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

function bytesOf(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? b(value) : value;
}

/** A command with its text keys and values turned into their UTF-8 bytes. */
export function bytesCommand(command: TextCommand): Command {
  const loose = command as Record<string, unknown>;
  const converted: Record<string, unknown> = { ...loose };
  if (typeof loose.key === 'string' || loose.key instanceof Uint8Array) {
    converted.key = bytesOf(loose.key);
  }
  if (typeof loose.value === 'string' || loose.value instanceof Uint8Array) {
    converted.value = bytesOf(loose.value);
  }
  if (command.type === 'rename' || command.type === 'copy' || command.type === 'bitop') {
    converted.destination = bytesOf(command.destination);
  }
  if (command.type === 'del' || command.type === 'bitop')
    converted.keys = command.keys.map(bytesOf);
  if (command.type === 'incrbyfloat' || command.type === 'hincrbyfloat') {
    converted.by = bytesOf(command.by);
  }
  if (command.type === 'hincrby' || command.type === 'hincrbyfloat') {
    converted.field = bytesOf(command.field);
  }
  if (command.type === 'hdel') converted.fields = command.fields.map(bytesOf);
  if (command.type === 'lpush') converted.elements = command.elements.map(bytesOf);
  if (command.type === 'lset' || command.type === 'lrem' || command.type === 'linsert') {
    converted.element = bytesOf(command.element);
  }
  if (command.type === 'linsert') converted.pivot = bytesOf(command.pivot);
  if (command.type === 'lmove') converted.destination = bytesOf(command.destination);
  if (command.type === 'lmpop') converted.keys = command.keys.map(bytesOf);
  if (command.type === 'mset' || command.type === 'msetnx' || command.type === 'hset') {
    converted.pairs = command.pairs.map(([key, value]) => [bytesOf(key), bytesOf(value)]);
  }
  if (command.type === 'sadd' || command.type === 'srem' || command.type === 'spop') {
    converted.members = command.members.map(bytesOf);
  }
  if (command.type === 'smove') {
    converted.destination = bytesOf(command.destination);
    converted.member = bytesOf(command.member);
  }
  if (command.type === 'zadd') {
    converted.pairs = command.pairs.map(([score, member]) => [bytesOf(score), bytesOf(member)]);
  }
  if (command.type === 'zrem') converted.members = command.members.map(bytesOf);
  if (command.type === 'zpop') converted.keys = command.keys.map(bytesOf);
  if (command.type === 'setstore') {
    converted.destination = bytesOf(command.destination);
    converted.keys = command.keys.map(bytesOf);
  }
  if (command.type === 'multi') {
    converted.steps = command.steps.map((step) =>
      step.type === 'read'
        ? { type: 'read', keys: step.keys.map(bytesOf) }
        : bytesCommand(step as TextCommand),
    );
    converted.watched = command.watched.map(({ key, seen }) => ({ key: bytesOf(key), seen }));
  }
  return converted as unknown as Command;
}

/** A read entry with its value as UTF-8 text, for readable assertions. */
export interface TextEntry extends Omit<KvEntry, 'value'> {
  readonly value: string;
}

/** Keeps `MaybePromise` as it is: a promise stays one, a value is mapped at once. */
type Mapped<R, T> = R extends Promise<unknown> ? Promise<T> : T;

function then<T, U>(value: MaybePromise<T>, map: (value: T) => U): MaybePromise<U> {
  return value instanceof Promise ? value.then(map) : map(value);
}

function textEntry(entry: KvEntry | null): TextEntry | null {
  return entry === null ? null : { ...entry, value: entry.value.toString('utf8') };
}

/**
 * A store's key-value reads with keys and patterns given as text (their UTF-8 bytes) and
 * values and keys read back as text: the store tests that are not about bytes read so.
 */
export function asText<S extends StoreReader>(store: S) {
  type R<K extends keyof StoreReader> = ReturnType<S[K]>;
  return {
    get: (key: string, nowMs: number) =>
      then(store.get(b(key), nowMs), textEntry) as Mapped<R<'get'>, TextEntry | null>,
    exists: (keys: readonly string[], nowMs: number) =>
      store.exists(keys.map(b), nowMs) as R<'exists'>,
    ttlMs: (key: string, nowMs: number) => store.ttlMs(b(key), nowMs) as R<'ttlMs'>,
    type: (key: string, nowMs: number) => store.type(b(key), nowMs) as R<'type'>,
    keys: (pattern: string, nowMs: number) =>
      then(store.keys(b(pattern), nowMs), (keys) => keys.map(String)) as Mapped<
        R<'keys'>,
        string[]
      >,
    scan: (cursor: number, options: { match?: string; count?: number }, nowMs: number) =>
      then(
        store.scan(
          cursor,
          {
            ...(options.count === undefined ? {} : { count: options.count }),
            ...(options.match === undefined ? {} : { match: b(options.match) }),
          },
          nowMs,
        ),
        (page) => ({ cursor: page.cursor, keys: page.keys.map(String) }),
      ) as Mapped<R<'scan'>, { cursor: number; keys: string[] }>,
  };
}

/** Numbers entries as a log would: each call makes the next index, in the current term. */
export class TestLog {
  index: number;
  term: number;

  constructor(index = 0, term = 1) {
    this.index = index;
    this.term = term;
  }

  /** The next entry, carrying `command` (its text keys and values as UTF-8 bytes). */
  command(command: TextCommand): Entry {
    return this.raw(encodeCommand(bytesCommand(command)));
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
export function applyCommands(
  store: SqliteStore,
  log: TestLog,
  ...commands: TextCommand[]
): unknown[] {
  return store.apply(commands.map((command) => log.command(command)));
}

/** The value of the single successful result of applying `command`. */
export function applyOne(store: SqliteStore, log: TestLog, command: TextCommand): unknown {
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
  const meta = store.applied;
  const kv = store.heldKeys();
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
  const access = Buffer.from(encodeAccessState(store.accessState())).toString('hex');
  return JSON.stringify({ meta, kv, schema, tables, sessions, access }, bigintText);
}

/** A JSON.stringify replacer for SQL's 64-bit integers past 2^53: `9223372036854775807n`. */
function bigintText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

/** The users and tokens a store holds, as the hex of their stored form (the same on every replica). */
export function accessBytes(store: NodeStore): string {
  return Buffer.from(encodeAccessState(store.accessState())).toString('hex');
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

/** The key-value table as versions before keys and values were bytes created it. */
export const textKvSchema = `
  CREATE TABLE _tandem_kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    version_index INTEGER NOT NULL,
    version_term INTEGER NOT NULL,
    expires_at INTEGER
  ) STRICT;
  CREATE INDEX _tandem_kv_expiry ON _tandem_kv (expires_at, key)
    WHERE expires_at IS NOT NULL;
`;
