/**
 * Helpers of the PostgreSQL store tests: one throwaway server per test file, a fresh
 * database per test, and a SQLite twin that receives the same entries so that every
 * result and every read can be compared between the two stores.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import {
  findPostgresBinaries,
  startPostgres,
  type PostgresServer,
} from '../../src/cli/postgres-server.js';
import type { Entry } from '../../src/core/types.js';
import { emptyAccessState, encodeAccessState } from '../../src/store/access-state.js';
import type { ApplyResult, KeyReader, NodeStore } from '../../src/store/contract.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { tempDirectory } from './helpers.js';

/** Why the PostgreSQL tests are skipped here, or undefined when they can run. */
export function postgresSkipReason(): string | undefined {
  const found = findPostgresBinaries();
  return 'missing' in found ? `PostgreSQL binaries not found: ${found.missing}` : undefined;
}

/** One server for a test file, started on first use and destroyed by `stopServer`. */
let server: PostgresServer | null = null;
let databases = 0;

/** The test file's server. */
export async function testServer(): Promise<PostgresServer> {
  server ??= await startPostgres({ fsync: false });
  return server;
}

/** Destroys the test file's server. */
export async function stopServer(): Promise<void> {
  await server?.destroy();
  server = null;
}

/** A fresh empty database on the test file's server; its URL. */
export async function freshDatabase(): Promise<string> {
  const running = await testServer();
  const name = `test_${process.pid}_${++databases}`;
  const admin = new pg.Client(running.url);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(running.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Opens a PostgreSQL store on a fresh database, closed when the test ends. */
export async function openPostgres(
  t: TestContext,
  url?: string,
  clusterId = 'test-cluster',
): Promise<PostgresStore> {
  const store = await PostgresStore.open(url ?? (await freshDatabase()), {
    clusterId,
    snapshotsDirectory: path.join(tempDirectory(t), 'snapshots'),
  });
  t.after(() => store.close());
  return store;
}

/**
 * The parts of a result both stores give alike: a failed SQL command fails on both, with
 * its statement number, but SQLite and PostgreSQL word the reason differently.
 */
export function comparable(result: ApplyResult): unknown {
  if (result === null) return result;
  if (result.ok) {
    if (!Array.isArray(result.value)) return result;
    // PostgreSQL has no rowid: lastInsertRowid is always 0 there.
    // (BITFIELD's array holds integers and nulls, which pass as they are.)
    const value = (result.value as unknown[]).map((statement) =>
      typeof statement === 'object' && statement !== null && 'lastInsertRowid' in statement
        ? { ...statement, lastInsertRowid: 0 }
        : statement,
    );
    return { ...result, value };
  }
  const statement = /^statement \d+: /.exec(result.error);
  if (statement === null) return result;
  const refused = result.error.includes('SQL refused') ? ' SQL refused' : '';
  return { ...result, error: `${statement[0]}(failed)${refused}` };
}

/** A SQLite store and a PostgreSQL store fed the same entries. */
export class Twins {
  readonly sqlite: SqliteStore;
  readonly postgres: PostgresStore;

  constructor(sqlite: SqliteStore, postgres: PostgresStore) {
    this.sqlite = sqlite;
    this.postgres = postgres;
  }

  static async open(t: TestContext): Promise<Twins> {
    const sqlite = SqliteStore.open(path.join(tempDirectory(t), 'store.db'));
    t.after(() => sqlite.close());
    return new Twins(sqlite, await openPostgres(t));
  }

  /**
   * Closes both stores before the test ends: a property that opens twins per run closes
   * each run's, or its runs and shrinks would hold one PostgreSQL pool each.
   */
  async close(): Promise<void> {
    this.sqlite.close();
    await this.postgres.close();
  }

  /** Applies `entries` to both; asserts comparable results; returns PostgreSQL's. */
  async apply(entries: readonly Entry[]): Promise<ApplyResult[]> {
    const fromSqlite = this.sqlite.apply(entries);
    const fromPostgres = await this.postgres.apply(entries);
    assert.deepEqual(fromPostgres.map(comparable), fromSqlite.map(comparable));
    assert.deepEqual(this.postgres.applied, this.sqlite.applied);
    return fromPostgres;
  }

  /** Asserts that a read gives the same answer on both stores; returns it. */
  async read<T>(what: (store: NodeStore) => T | Promise<T>): Promise<Awaited<T>> {
    const fromSqlite = await what(this.sqlite);
    const fromPostgres = await what(this.postgres);
    assert.deepEqual(fromPostgres, fromSqlite);
    return fromPostgres;
  }
}

/**
 * The key-value content of a store through its reads only: every key (expired ones too,
 * by reading before time began) with value, version and expiry, in byte order.
 */
export async function keyContent(store: NodeStore): Promise<unknown[]> {
  const keys = await store.keys(Buffer.from('*'), -1);
  return await Promise.all(
    keys.map(async (key) => {
      const type = await store.type(key, -1);
      if (type === 'set') {
        const set = [await store.setEncoding(key, -1), await store.setAll(key, -1)];
        return [key, await store.ttlMs(key, -1), set];
      }
      if (type === 'list') {
        return [key, await store.ttlMs(key, -1), await store.listElements(key, 0, -1, -1)];
      }
      if (type === 'zset') return [key, await store.ttlMs(key, -1), await zsetContent(store, key)];
      if (type !== 'hash') return [key, await store.get(key, -1)];
      const hash = [await store.hashEncoding(key, -1), await store.hashAll(key, -1)];
      return [key, await store.ttlMs(key, -1), hash];
    }),
  );
}

/**
 * What a reader (a store, or a transaction's view of some keys) answers of `keys` at
 * `nowMs`: each key's type, version and expiry and, by type, its whole content as every
 * read of that type shows it (encodings and scan pages included).
 */
export async function readerContent(
  reader: KeyReader | NodeStore,
  keys: readonly string[],
  nowMs: number,
): Promise<unknown[]> {
  const content: unknown[] = [];
  for (const name of keys) {
    const key = Buffer.from(name);
    const type = await reader.type(key, nowMs);
    const head = [name, type, await reader.versionOf(key, nowMs), await reader.ttlMs(key, nowMs)];
    if (type === 'none') content.push(head);
    else if (type === 'string') content.push([...head, await reader.get(key, nowMs)]);
    else if (type === 'hash') {
      content.push([
        ...head,
        await reader.hashEncoding(key, nowMs),
        await reader.hashAll(key, nowMs),
        await reader.hashScan(key, 0, { count: 1 }, nowMs),
      ]);
    } else if (type === 'set') {
      content.push([
        ...head,
        await reader.setEncoding(key, nowMs),
        await reader.setAll(key, nowMs),
        await reader.setScan(key, 0, { count: 1 }, nowMs),
      ]);
    } else if (type === 'list') {
      content.push([
        ...head,
        await reader.listElements(key, 0, -1, nowMs),
        await reader.listElement(key, -1, nowMs),
      ]);
    } else {
      const whole = { range: { by: 'rank', start: 0, stop: -1 } } as const;
      content.push([
        ...head,
        await reader.zsetEncoding(key, nowMs),
        await reader.zsetRange(key, whole, nowMs),
        await reader.zsetScan(key, 0, { count: 1 }, nowMs),
      ]);
    }
  }
  return content;
}

/**
 * A sorted set as its reads show it: encoding, size, members with scores in order (-0
 * told from 0), and every page of a ZSCAN two members at a time (its order and cursors).
 */
export async function zsetContent(store: NodeStore, key: Buffer): Promise<unknown> {
  const whole = { range: { by: 'rank', start: 0, stop: -1 } } as const;
  const pages: unknown[] = [];
  let cursor = 0;
  do {
    const page = await store.zsetScan(key, cursor, { count: 2 }, -1);
    pages.push(page);
    cursor = page.cursor;
  } while (cursor !== 0);
  return {
    encoding: await store.zsetEncoding(key, -1),
    size: await store.zsetSize(key, -1),
    members: await store.zsetRange(key, whole, -1),
    pages,
  };
}

/**
 * The users and tokens a PostgreSQL store's database holds (the hex of the row's bytes, or
 * of the empty state when there is no row), to compare with what it holds in memory.
 */
export async function storedAccess(store: PostgresStore): Promise<string> {
  const rows = await store.query('SELECT state FROM tandem.acl WHERE id = 1');
  const bytes =
    rows.length === 0 ? encodeAccessState(emptyAccessState) : (rows[0]?.state as Uint8Array);
  return Buffer.from(bytes).toString('hex');
}
