/**
 * Users and tokens kept by the PostgreSQL store: the same results and the same stored
 * bytes as the SQLite store, in its database across reopening, untouched by a batch that
 * fails, reloaded after a batch whose COMMIT landed unacknowledged, and carried by snapshot
 * images to and from either kind (images without them restore as no users).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import pg from 'pg';
import {
  accessSchema,
  emptyAccessState,
  encodeAccessState,
  type AclChange,
  type TokenRecord,
} from '../../src/store/access-state.js';
import type { Entry } from '../../src/core/types.js';
import type { NodeStore, RestoreMeta, StoreSnapshot } from '../../src/store/contract.js';
import { postgresImageMagic } from '../../src/store/postgres-image.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import {
  accessBytes,
  collect,
  databaseImageFile,
  imageOfFile,
  isCorrupt,
  replay,
  tempDirectory,
  TestLog,
  type TextCommand,
} from './helpers.js';
import {
  freshDatabase,
  openPostgres,
  postgresSkipReason,
  stopServer,
  storedAccess,
  testServer,
  Twins,
} from './postgres-helpers.js';

const skip = postgresSkipReason();
after(stopServer);

const hash = '1'.repeat(64);
const emptyBytes = Buffer.from(encodeAccessState(emptyAccessState)).toString('hex');

function acl(change: AclChange, at: number): TextCommand {
  return { type: 'acl', at, change };
}

function token(id: string, user: string, createdAt: number, expiresAt: number): TokenRecord {
  return { id, hash: 'cd'.repeat(32), user, createdAt, expiresAt };
}

function entriesOf(log: TestLog, ...commands: TextCommand[]): Entry[] {
  return commands.map((command) => log.command(command));
}

/** A first batch of changes, each building on the one before it. */
function bootstrapBatch(log: TestLog): Entry[] {
  return entriesOf(
    log,
    acl(
      {
        op: 'bootstrap',
        users: [
          { name: 'default', rules: ['on', 'nopass', '+@all', 'allkeys'] },
          { name: 'ops', rules: ['on', `#${hash}`, '+@write', '~app:*'] },
        ],
      },
      100,
    ),
    acl({ op: 'bootstrap', users: [{ name: 'late', rules: ['on'] }] }, 100),
    acl({ op: 'set-user', name: 'ops', rules: ['-@write', '+@read', '~logs:*'] }, 101),
    acl({ op: 'set-user', name: 'ops', rules: ['>in-clear'] }, 101),
    acl({ op: 'add-token', token: token('00000000000000a1', 'ops', 102, 150) }, 102),
    acl({ op: 'add-token', token: token('00000000000000b2', 'ghost', 102, 150) }, 102),
  );
}

/** Runs statements on the database directly, as an operator (or an older build) would. */
async function onDatabase(url: string, sql: string): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

test(
  'acl commands give the same results and the same stored state on PostgreSQL as on SQLite',
  { skip },
  async (t) => {
    // Goal: bootstrap, set-user with valid and invalid rules, tokens that expire as `at`
    // moves on, revocations and deletions, several in one batch, answer alike on both stores
    // and leave byte-identical state, which PostgreSQL also holds in its database.
    const twins = await Twins.open(t);
    const log = new TestLog();
    const first = await twins.apply(bootstrapBatch(log));
    assert.deepEqual(first.slice(0, 3), [
      { ok: true, value: 1 },
      { ok: true, value: 0 },
      { ok: true, value: 'OK' },
    ]);
    assert.match((first[3] as { error: string }).error, /must be hashed/);
    assert.deepEqual(first[4], { ok: true, value: 'OK' });
    assert.deepEqual(first[5], { ok: false, error: 'ERR no user ghost' });
    assert.deepEqual(twins.postgres.accessState().users.get('ops')?.keys, ['app:*', 'logs:*']);
    assert.equal(accessBytes(twins.postgres), accessBytes(twins.sqlite));
    assert.equal(await storedAccess(twins.postgres), accessBytes(twins.sqlite));

    const second = await twins.apply(
      entriesOf(
        log,
        acl({ op: 'add-token', token: token('00000000000000b2', 'default', 120, 130) }, 120),
        { type: 'set', key: 'k', value: 'v', at: 120 },
        // Past b2's expiry: it is gone, a1 is still alive.
        acl({ op: 'revoke-token', id: '00000000000000b2' }, 140),
        acl({ op: 'revoke-token', id: '00000000000000a1' }, 141),
        acl({ op: 'add-token', token: token('00000000000000a1', 'ops', 142, 140) }, 142),
        acl({ op: 'add-token', token: token('00000000000000a1', 'ops', 142, 900) }, 142),
        acl({ op: 'del-users', names: ['ops', 'default'] }, 143),
        acl({ op: 'del-users', names: ['ops', 'ghost', 'ops'] }, 144),
      ),
    );
    assert.deepEqual(second, [
      { ok: true, value: 'OK' },
      { ok: true, value: 'OK' },
      { ok: true, value: 0 },
      { ok: true, value: 1 },
      { ok: false, error: 'ERR the token would expire before it is made' },
      { ok: true, value: 'OK' },
      { ok: false, error: "ERR The 'default' user cannot be removed" },
      { ok: true, value: 1 },
    ]);
    const state = twins.postgres.accessState();
    assert.deepEqual([...state.users.keys()], ['default']);
    assert.equal(state.tokens.size, 0, 'deleting a user takes its tokens');
    assert.equal(accessBytes(twins.postgres), accessBytes(twins.sqlite));
    assert.equal(await storedAccess(twins.postgres), accessBytes(twins.sqlite));
  },
);

test(
  'the users survive close and reopen, also on a database made before the store kept them',
  { skip },
  async (t) => {
    // Goal: the state is loaded at open; a database of the previous build (no tandem.acl)
    // opens with no users, gains the table, and keeps the users applied from then on.
    const url = await freshDatabase();
    const first = await openPostgres(t, url);
    const log = new TestLog();
    await first.apply(bootstrapBatch(log));
    const before = accessBytes(first);
    assert.notEqual(before, emptyBytes);
    await first.close();
    const second = await openPostgres(t, url);
    assert.equal(accessBytes(second), before);
    await second.close();

    await onDatabase(url, 'DROP TABLE tandem.acl');
    const third = await openPostgres(t, url);
    assert.equal(accessBytes(third), emptyBytes);
    assert.deepEqual(
      await third.apply(entriesOf(log, acl({ op: 'set-user', name: 'ada', rules: ['on'] }, 200))),
      [{ ok: true, value: 'OK' }],
    );
    const after = accessBytes(third);
    assert.deepEqual([...third.accessState().users.keys()], ['ada']);
    await third.close();
    const fourth = await openPostgres(t, url);
    assert.equal(accessBytes(fourth), after);
    assert.equal(await storedAccess(fourth), after);
  },
);

test('a batch that fails leaves the users as the database holds them', { skip }, async (t) => {
  // Goal: the in-memory state changes only once the batch's transaction commits: a write
  // of the users' row that the database refuses fails the batch and changes nothing.
  const url = await freshDatabase();
  const store = await openPostgres(t, url);
  const log = new TestLog();
  await store.apply(bootstrapBatch(log));
  const before = accessBytes(store);
  await onDatabase(
    url,
    `CREATE FUNCTION tandem.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
     CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON tandem.acl FOR EACH ROW EXECUTE FUNCTION tandem.refuse()`,
  );
  const batch = entriesOf(
    log,
    acl({ op: 'set-user', name: 'ada', rules: ['on', '+@read'] }, 300),
    { type: 'set', key: 'k', value: 'v', at: 300 },
    acl({ op: 'del-users', names: ['ops'] }, 301),
  );
  await assert.rejects(store.apply(batch), /refused/);
  assert.equal(accessBytes(store), before);
  assert.deepEqual(store.applied, { index: 6, term: 1 });
  await onDatabase(url, 'DROP TRIGGER refuse ON tandem.acl');
  assert.equal(await storedAccess(store), before);
  assert.deepEqual(await store.apply(batch), [
    { ok: true, value: 'OK' },
    { ok: true, value: 'OK' },
    { ok: true, value: 1 },
  ]);
  assert.deepEqual([...store.accessState().users.keys()], ['default', 'ada']);
  assert.equal(await storedAccess(store), accessBytes(store));
});

/**
 * A TCP proxy to the test server that, once armed, passes on a client's query containing
 * `marker` but never its answer: it waits until the server is ready for the next query
 * (the query, COMMIT included, has run) and then cuts that client off.
 */
class AnswerCuttingProxy {
  readonly #server: net.Server;
  #marker: string | null = null;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(t: TestContext, port: number): Promise<AnswerCuttingProxy> {
    const server = net.createServer();
    const proxy = new AnswerCuttingProxy(server);
    const sockets = new Set<net.Socket>();
    server.on('connection', (client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      proxy.#relay(client, port);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    });
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Cuts the answer of the next query that contains `marker`. */
  arm(marker: string): void {
    this.#marker = marker;
  }

  #relay(client: net.Socket, port: number): void {
    const upstream = net.connect(port, '127.0.0.1');
    let muted = false;
    // ReadyForQuery: 'Z', length 5.
    const ready = Buffer.from([0x5a, 0, 0, 0, 5]);
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (this.#marker !== null && chunk.toString('latin1').includes(this.#marker)) {
        this.#marker = null;
        muted = true;
      }
    });
    upstream.on('data', (chunk) => {
      if (!muted) {
        client.write(chunk);
      } else if (chunk.includes(ready)) {
        client.destroy();
        upstream.destroy();
      }
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.end());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
  }
}

test(
  'after a batch whose COMMIT landed unacknowledged, the next apply reloads the users',
  { skip },
  async (t) => {
    // Goal: a lost connection leaves the batch's outcome unknown; the retry finds it applied
    // (and skips it), and the in-memory users are then the database's, on which the next
    // changes build exactly as on a SQLite store that applied the batch once.
    const running = await testServer();
    const proxy = await AnswerCuttingProxy.start(t, running.port);
    const url = new URL(await freshDatabase());
    url.host = `127.0.0.1:${proxy.port}`;
    const store = await openPostgres(t, url.toString());
    const sqlite = SqliteStore.open(path.join(tempDirectory(t), 'twin.db'));
    t.after(() => sqlite.close());
    const log = new TestLog();
    const batch = bootstrapBatch(log);
    sqlite.apply(batch);
    proxy.arm('COMMIT');
    await assert.rejects(store.apply(batch), (error: unknown) => {
      assert.equal((error as { code?: string }).code, 'TANDEM_STORE_UNAVAILABLE');
      return true;
    });
    assert.equal(accessBytes(store), emptyBytes, 'not known to be applied yet');
    const retried = await store.apply(batch);
    assert.match((retried[0] as { error: string }).error, /result is unknown/);
    assert.equal(accessBytes(store), accessBytes(sqlite));
    const next = entriesOf(
      log,
      acl({ op: 'set-user', name: 'ops', rules: ['+@admin'] }, 400),
      acl({ op: 'revoke-token', id: '00000000000000a1' }, 401),
    );
    assert.deepEqual(await store.apply(next), sqlite.apply(next));
    assert.equal(accessBytes(store), accessBytes(sqlite));
    assert.equal(await storedAccess(store), accessBytes(sqlite));
  },
);

function metaOf(snapshot: StoreSnapshot): RestoreMeta {
  return { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum };
}

/** The tables a PostgreSQL image's header lists. */
async function imageTables(snapshot: StoreSnapshot): Promise<string[]> {
  const image = Buffer.concat(await collect(snapshot.chunks()));
  assert.ok(image.subarray(0, postgresImageMagic.byteLength).equals(postgresImageMagic));
  const length = image.readUInt32BE(postgresImageMagic.byteLength);
  const start = postgresImageMagic.byteLength + 4;
  const header = JSON.parse(image.subarray(start, start + length).toString('utf8')) as {
    tables: { schema: string; name: string }[];
  };
  return header.tables.map((table) => `${table.schema}.${table.name}`);
}

/** Gives `store` users of its own, which a restore must replace. */
async function ownUsers(store: NodeStore): Promise<void> {
  const log = new TestLog(store.applied.index, Math.max(store.applied.term, 1));
  await store.apply(
    entriesOf(log, acl({ op: 'set-user', name: 'mine', rules: ['on', 'allkeys'] }, 5)),
  );
  assert.ok(store.accessState().users.has('mine'));
}

test(
  'the users travel with snapshots: PostgreSQL to PostgreSQL, to SQLite, and back',
  { skip },
  async (t) => {
    // Goal: an image carries the users and tokens, and a restore replaces the target's with
    // them, in memory and in its database, whichever kinds the two stores are; the restored
    // store's next changes build on them exactly as the source's do.
    const directory = tempDirectory(t);
    const source = await openPostgres(t);
    const log = new TestLog(0, 2);
    await source.apply([
      ...bootstrapBatch(log),
      ...entriesOf(log, { type: 'set', key: 'k', value: 'v', at: 110 }),
    ]);
    const expected = accessBytes(source);
    const image = await source.snapshot();
    t.after(() => image.dispose());
    assert.ok((await imageTables(image)).includes('tandem.acl'));

    const postgres = await openPostgres(t);
    await ownUsers(postgres);
    await postgres.restore(metaOf(image), image.chunks());
    assert.equal(accessBytes(postgres), expected);
    assert.equal(await storedAccess(postgres), expected);

    const sqlite = SqliteStore.open(path.join(directory, 'sqlite.db'));
    t.after(() => sqlite.close());
    await ownUsers(sqlite);
    await sqlite.restore(metaOf(image), image.chunks());
    assert.equal(accessBytes(sqlite), expected);

    const next = entriesOf(
      log,
      acl({ op: 'set-user', name: 'ops', rules: ['off'] }, 500),
      acl({ op: 'add-token', token: token('00000000000000b2', 'default', 500, 600) }, 500),
    );
    const results = await source.apply(next);
    assert.deepEqual(await postgres.apply(next), results);
    assert.deepEqual(sqlite.apply(next), results);
    const later = accessBytes(source);
    assert.equal(accessBytes(postgres), later);
    assert.equal(accessBytes(sqlite), later);

    // Back from the SQLite store's memory image into another PostgreSQL store.
    const back = await sqlite.snapshot();
    t.after(() => back.dispose());
    const fromSqlite = await openPostgres(t);
    await ownUsers(fromSqlite);
    await fromSqlite.restore(metaOf(back), back.chunks());
    assert.equal(accessBytes(fromSqlite), later);
    assert.equal(await storedAccess(fromSqlite), later);
  },
);

test(
  'images from before the stores kept users restore as no users, on either kind',
  { skip },
  async (t) => {
    // Goal: a PostgreSQL image without tandem.acl (as the previous build wrote them, and as
    // a store that never had users still writes them) and a SQLite database image without
    // _tandem_acl replace the target's users by none.
    const empty = await openPostgres(t);
    await empty.apply(entriesOf(new TestLog(0, 3), { type: 'set', key: 'k', value: 'v', at: 1 }));
    const image = await empty.snapshot();
    t.after(() => image.dispose());
    assert.ok(!(await imageTables(image)).includes('tandem.acl'));
    const file = path.join(tempDirectory(t), 'old.db');
    databaseImageFile(file, (db) =>
      db.exec('UPDATE _tandem_meta SET applied_index = 4, applied_term = 3 WHERE id = 1'),
    );
    const old = imageOfFile(file, 4, 3);

    const postgres = await openPostgres(t);
    const sqlite = SqliteStore.open(path.join(tempDirectory(t), 'target.db'));
    t.after(() => sqlite.close());
    for (const store of [postgres, sqlite] as NodeStore[]) {
      await ownUsers(store);
      await store.restore(metaOf(image), image.chunks());
      assert.equal(accessBytes(store), emptyBytes);
      await ownUsers(store);
      await store.restore(old.meta, replay([old.data]));
      assert.equal(accessBytes(store), emptyBytes);
    }
    assert.equal(await storedAccess(postgres), emptyBytes);
  },
);

test('an image whose users do not decode is refused, and nothing changes', { skip }, async (t) => {
  // Goal: the users and tokens an image brings are checked before the restore commits, on
  // either kind: a row that is not a state is TANDEM_CORRUPT and the target keeps its own.
  const file = path.join(tempDirectory(t), 'bad.db');
  databaseImageFile(file, (db) =>
    db.exec(`${accessSchema}
      INSERT INTO _tandem_acl (id, state) VALUES (1, x'c1');
      UPDATE _tandem_meta SET applied_index = 4, applied_term = 3 WHERE id = 1;`),
  );
  const bad = imageOfFile(file, 4, 3);
  const postgres = await openPostgres(t);
  const sqlite = SqliteStore.open(path.join(tempDirectory(t), 'target.db'));
  t.after(() => sqlite.close());
  for (const store of [postgres, sqlite] as NodeStore[]) {
    await ownUsers(store);
    const before = accessBytes(store);
    await assert.rejects(
      store.restore(bad.meta, replay([bad.data])),
      isCorrupt(/the users and tokens .* do not decode/),
    );
    assert.equal(accessBytes(store), before);
    assert.deepEqual(store.applied, { index: 1, term: 1 });
  }
  assert.equal(await storedAccess(postgres), accessBytes(postgres));
});
