// Clusters whose nodes keep their state in PostgreSQL, each in a database of its own on a
// PostgreSQL server of its own: kill -9 of nodes, a PostgreSQL that goes away and comes
// back, and a cluster mixing SQLite and PostgreSQL nodes. The rows are compared by reading
// each database directly (pg, better-sqlite3), never through Tandem.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  findPostgresBinaries,
  startPostgres,
  type PostgresServer,
} from '../../src/cli/postgres-server.js';
import { call, sleep, TestCluster } from './cluster.js';
import { checkConditionalRequests } from './conditions.js';
import { checkExactIntegers } from './sql-integers.js';
import { comparable, RawClient, waitForState } from '../resp/raw-client.js';

const binaries = findPostgresBinaries();
const skip = 'missing' in binaries ? `PostgreSQL binaries not found: ${binaries.missing}` : false;

type Row = { id: number; name: string; salary: number };
const selectRows = 'SELECT id, name, salary FROM emp ORDER BY id';

/** The emp rows of a PostgreSQL database, read with pg. */
async function postgresRows(url: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(selectRows);
    return result.rows.map((row: Record<string, unknown>) => ({
      id: Number(row.id),
      name: String(row.name),
      salary: Number(row.salary),
    }));
  } finally {
    await client.end();
  }
}

/** The emp rows a node's own (SQLite) store holds, read there without going to the leader. */
async function sqliteRows(url: string): Promise<Row[]> {
  const answer = await call('POST', `${url}/v1/query`, { sql: selectRows, consistency: 'stale' });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.rows as Row[];
}

/** The session the tests' writes are made in, so that a retried write applies once. */
const session = `pg-cluster-${process.pid}`;
let seq = 0;

/**
 * A SQL write through `url` (forwarded to the leader when `url` is a follower's), tried
 * again while the cluster fails over. An attempt that fails may still have been committed
 * (its answer lost in a leader change), so every attempt carries the same session and seq:
 * the write applies at most once however often it is tried.
 */
async function execute(url: string, sql: string, params: unknown[] = []): Promise<number> {
  const headers = { 'x-tandem-session': session, 'x-tandem-seq': String(++seq) };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await call('POST', `${url}/v1/sql`, { sql, params }, headers).catch(
      (error: Error) => ({
        status: 0,
        body: { message: error.message } as Record<string, unknown>,
      }),
    );
    if (answer.status === 200) return answer.body.index as number;
    if (Date.now() > deadline) {
      throw new Error(`${sql} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    await sleep(100);
  }
}

/** Waits until each of `ids` has applied `index`. */
async function appliedEverywhere(cluster: TestCluster, ids: string[], index: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const views = await Promise.all(ids.map((id) => cluster.status(id).catch(() => null)));
    if (views.every((view) => view !== null && view.appliedIndex >= index)) return;
    if (Date.now() > deadline) {
      throw new Error(`not applied ${index} everywhere: ${JSON.stringify(views)}`);
    }
    await sleep(100);
  }
}

const createTable =
  'CREATE TABLE IF NOT EXISTS emp (id INT PRIMARY KEY, name TEXT NOT NULL, salary INT NOT NULL)';

/** A suite's cluster: three nodes, those named keeping their state in a PostgreSQL of their own. */
interface SuiteCluster {
  readonly cluster: TestCluster;
  /** The PostgreSQL server of each node that has one. */
  server(id: string): PostgresServer;
}

/**
 * Registers, in the current suite, a three-node cluster started before its tests and
 * removed after them: the nodes in `postgresNodes` each get a throwaway PostgreSQL server,
 * and every node gets `extraArgs`.
 */
function suiteCluster(postgresNodes: readonly string[], extraArgs: string[] = []): SuiteCluster {
  const servers = new Map<string, PostgresServer>();
  let cluster: TestCluster | null = null;
  before(async () => {
    for (const id of postgresNodes) servers.set(id, await startPostgres({ fsync: false }));
    cluster = await TestCluster.create({
      nodes: 3,
      extraArgs: (id) => {
        const server = servers.get(id);
        return [...extraArgs, ...(server === undefined ? [] : ['--store', server.url])];
      },
    });
    cluster.startAll();
  });
  after(async () => {
    await cluster?.destroy();
    for (const server of servers.values()) await server.destroy();
  });
  return {
    get cluster() {
      assert.ok(cluster !== null, 'the cluster starts before the tests');
      return cluster;
    },
    server(id) {
      const server = servers.get(id);
      assert.ok(server !== undefined, `${id} keeps no PostgreSQL`);
      return server;
    },
  };
}

describe('three nodes on three PostgreSQL servers', { skip, timeout: 240_000 }, () => {
  const suite = suiteCluster(['n1', 'n2', 'n3']);

  test('conditional requests are decided at apply by PostgreSQL nodes, leader and follower', async () => {
    const { cluster } = suite;
    // Goal: compare-and-delete, create-only PUT and 304 hold on the PostgreSQL store as on
    // SQLite, through the leader and through a follower that forwards the writes.
    const leader = await cluster.leader();
    const follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
    await checkConditionalRequests(cluster.url(leader), 'on-leader');
    await checkConditionalRequests(cluster.url(follower), 'via-follower');
  });

  test('writes survive kill -9 of nodes and a PostgreSQL restart; every database ends with the same rows', async () => {
    const { cluster } = suite;
    // Goal: one log decides the order, each database applies it exactly once, and a node
    // whose database was away catches up instead of silently diverging.
    const leader = await cluster.leader();
    await execute(cluster.url(leader), createTable);
    for (let id = 1; id <= 20; id++) {
      await execute(
        cluster.url(leader),
        'INSERT INTO emp VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        [id, `e${id}`, id],
      );
    }
    // kill -9 of the leader; the others go on; the killed node comes back and catches up.
    await cluster.kill(leader);
    const survivors = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    const second = await cluster.leader(20_000, survivors);
    for (let id = 21; id <= 40; id++) {
      await execute(
        cluster.url(second),
        'INSERT INTO emp VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        [id, `e${id}`, id],
      );
    }
    cluster.start(leader);
    await cluster.up(leader);

    // The PostgreSQL of a follower goes away: that node says so and holds; the others go on.
    const follower = survivors.find((id) => id !== second) as string;
    const server = suite.server(follower);
    await server.stop();
    let last = 0;
    for (let id = 41; id <= 60; id++) {
      last = await execute(cluster.url(second), 'UPDATE emp SET salary = ? WHERE id = ?', [
        id - 40 + 1,
        id - 40,
      ]);
      last = await execute(
        cluster.url(second),
        'INSERT INTO emp VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        [id, `e${id}`, id],
      );
    }
    const deadline = Date.now() + 20_000;
    let view = await cluster.status(follower);
    while ((view as { store?: { healthy: boolean } }).store?.healthy !== false) {
      assert.ok(Date.now() < deadline, `${follower} never reported its store down`);
      await sleep(100);
      view = await cluster.status(follower);
    }
    const ready = await call('GET', `${cluster.url(follower)}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.code, 'TANDEM_STORE_UNAVAILABLE');
    await server.start();
    await appliedEverywhere(cluster, ['n1', 'n2', 'n3'], last);

    const expected: Row[] = Array.from({ length: 60 }, (_, i) => ({
      id: i + 1,
      name: `e${i + 1}`,
      salary: i < 20 ? i + 2 : i + 1,
    }));
    for (const id of ['n1', 'n2', 'n3']) {
      assert.deepEqual(await postgresRows(suite.server(id).url), expected);
    }
  });
});

describe('a cluster mixing SQLite and PostgreSQL nodes', { skip, timeout: 180_000 }, () => {
  const suite = suiteCluster(['n2']);

  test('SQLite and PostgreSQL nodes converge to the same rows and the same keys', async () => {
    const { cluster } = suite;
    // Goal: the state machines of both kinds apply the same log to the same result.
    const leader = await cluster.leader();
    const url = cluster.url(leader);
    await execute(url, createTable);
    for (let id = 1; id <= 30; id++) {
      await execute(url, 'INSERT INTO emp (id, name, salary) VALUES (?, ?, ?)', [
        id,
        `name ${id} é`,
        1000 * id,
      ]);
    }
    await execute(url, 'UPDATE emp SET salary = salary * 2 WHERE id % 3 = 0');
    await execute(url, 'DELETE FROM emp WHERE id > 25');
    const failed = await call('POST', `${url}/v1/sql`, {
      statements: [
        { sql: 'INSERT INTO emp VALUES (?, ?, ?)', params: [99, 'x', 1] },
        { sql: 'INSERT INTO emp VALUES (?, ?, ?)', params: [1, 'duplicate', 1] },
      ],
    });
    assert.notEqual(failed.status, 200, 'a command with a failing statement fails whole');
    const put = await call('PUT', `${url}/v1/kv/greeting`, { value: 'hello' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const last = await execute(url, 'UPDATE emp SET name = ? WHERE id = ?', ['renamed', 2]);
    await appliedEverywhere(cluster, ['n1', 'n2', 'n3'], last);

    const fromPostgres = await postgresRows(suite.server('n2').url);
    assert.equal(fromPostgres.length, 25);
    assert.ok(!fromPostgres.some((row) => row.id === 99), 'the failed command left nothing');
    assert.equal(fromPostgres.find((row) => row.id === 2)?.name, 'renamed');
    assert.equal(fromPostgres.find((row) => row.id === 3)?.salary, 6000);
    for (const id of ['n1', 'n3']) {
      assert.deepEqual(await sqliteRows(cluster.url(id)), fromPostgres);
    }
    for (const id of ['n1', 'n2', 'n3']) {
      const read = await call('GET', `${cluster.url(id)}/v1/kv/greeting?consistency=stale`);
      assert.equal(read.body.value, 'hello', `${id}: ${JSON.stringify(read.body)}`);
    }
  });

  test('SQLite and PostgreSQL nodes agree on every sorted set write', async () => {
    const { cluster } = suite;
    // Goal: sorted set writes of every kind (and type changes of their keys) leave the same
    // members, scores, encodings, ZSCAN pages, ranks and expiry on the SQLite nodes and on
    // the PostgreSQL node, written through the leader and through the PostgreSQL node.
    const leader = await cluster.leader();
    await writeZsets(cluster, leader, 'lead');
    await zsetsAgree(cluster, leader, ['n1', 'n2', 'n3'], 'lead');
    await writeZsets(cluster, 'n2', 'via-pg');
    await zsetsAgree(cluster, leader, ['n1', 'n2', 'n3'], 'via-pg');
  });

  test('SQL integers past 2^53 come back exactly from SQLite and PostgreSQL nodes alike', async () => {
    const { cluster } = suite;
    // Goal: 9007199254740993 and int8's ends keep every digit through the log into both
    // kinds of store and back out of each, written through the PostgreSQL node (n2).
    await cluster.leader();
    await checkExactIntegers(cluster, 'n2', ['n1', 'n2', 'n3'], 'big_integers');
  });
});

/**
 * Sorted set writes of every kind through RESP to node `id`, on keys under `prefix`: a
 * skiplist and a listpack, -0 and the infinities, pops, removals by rank, score and member,
 * stored results, RENAME, COPY, expiry, and keys that change type.
 */
async function writeZsets(cluster: TestCluster, id: string, prefix: string): Promise<void> {
  const client = await RawClient.open(cluster.node(id).respPort);
  const k = (name: string): string => `${prefix}:${name}`;
  try {
    const many = Array.from({ length: 150 }, (_, i) => [String(i % 7), `m${i}`]).flat();
    const writes: string[][] = [
      ['ZADD', k('big'), ...many],
      ['ZADD', k('small'), '-0', 'neg', '1', 'a', 'inf', 'top', '-inf', 'bottom', '2', 'b'],
      ['ZINCRBY', k('small'), '0.5', 'a'],
      ['ZREM', k('big'), 'm3', 'm4'],
      ['ZPOPMIN', k('big'), '2'],
      ['ZREMRANGEBYSCORE', k('big'), '(5', '6'],
      ['ZREMRANGEBYLEX', k('big'), '[m50', '(m60'],
      ['ZREMRANGEBYRANK', k('small'), '-1', '-1'],
      ['ZRANGESTORE', k('stored'), k('big'), '1', '3', 'BYSCORE', 'LIMIT', '2', '5'],
      ['ZUNIONSTORE', k('union'), '2', k('small'), k('stored'), 'WEIGHTS', '2', '-1'],
      ['ZINTERSTORE', k('inter'), '2', k('big'), k('stored'), 'AGGREGATE', 'MAX'],
      ['COPY', k('small'), k('copy')],
      ['RENAME', k('stored'), k('moved')],
      ['EXPIRE', k('copy'), '1000'],
      ['ZADD', k('typed'), '1', 'x'],
      ['SET', k('typed'), 'now a string'],
      ['DEL', k('inter')],
      ['HSET', k('inter'), 'f', 'v'],
    ];
    for (const args of writes) {
      const reply = comparable(await client.call(...args));
      assert.ok(
        typeof reply !== 'string' || !reply.startsWith('error:'),
        `${args.join(' ')}: ${reply}`,
      );
    }
  } finally {
    client.close();
  }
}

/** What a node answers about the sorted sets under `prefix`, for comparison across nodes. */
async function zsetAnswers(client: RawClient, prefix: string): Promise<unknown> {
  const k = (name: string): string => `${prefix}:${name}`;
  const replies: unknown[] = [];
  for (const name of ['big', 'small', 'union', 'copy', 'moved']) {
    for (const args of [
      ['ZRANGE', k(name), '0', '-1', 'WITHSCORES'],
      ['OBJECT', 'ENCODING', k(name)],
      ['ZCARD', k(name)],
      ['ZSCAN', k(name), '0', 'COUNT', '5'],
      ['ZRANGE', k(name), '+', '[m2', 'BYLEX', 'REV', 'LIMIT', '1', '3'],
      ['ZCOUNT', k(name), '(0', '+inf'],
      ['ZREVRANK', k(name), 'm9'],
    ]) {
      replies.push(comparable(await client.call(...args)));
    }
  }
  for (const name of ['typed', 'inter', 'stored']) {
    replies.push(comparable(await client.call('TYPE', k(name))));
  }
  replies.push(comparable(await client.call('ZSCORE', k('small'), 'neg')));
  const ttl = await client.call('TTL', k('copy'));
  replies.push(typeof ttl === 'number' && ttl > 900 && ttl <= 1000);
  return replies;
}

/** Waits until every node of `ids` answers about the sorted sets as `id` does. */
async function zsetsAgree(
  cluster: TestCluster,
  id: string,
  ids: readonly string[],
  prefix: string,
): Promise<void> {
  const client = await RawClient.open(cluster.node(id).respPort);
  let expected: unknown;
  try {
    expected = await zsetAnswers(client, prefix);
  } finally {
    client.close();
  }
  // The writes did something: the sets exist, of the types they were left as.
  assert.deepEqual((expected as unknown[]).slice(-5, -2), [
    'simple:string',
    'simple:hash',
    'simple:none',
  ]);
  assert.deepEqual((expected as unknown[])[1], '$skiplist');
  for (const other of ids) {
    await waitForState(cluster.node(other).respPort, (c) => zsetAnswers(c, prefix), expected);
  }
}

/** Rows written while a node is stopped. */
const rowsPerBatch = 150;

describe('snapshots between SQLite and PostgreSQL nodes', { skip, timeout: 240_000 }, () => {
  const suite = suiteCluster(['n2'], ['--snapshot-every', '20']);

  /** Makes `id` the leader, by a transfer when another node leads. */
  async function lead(id: string): Promise<void> {
    const { cluster } = suite;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const leader = await cluster.leader();
      if (leader === id) return;
      await call('POST', `${cluster.url(leader)}/v1/cluster/promote`, { id }).catch(() => null);
      assert.ok(Date.now() < deadline, `${id} never took the lead`);
      await sleep(200);
    }
  }

  /**
   * Stops `lagging`, writes past the compaction point, restarts it and waits until it
   * applied everything. More rows than the leader's window of appends in flight (64),
   * so that what the leader queued for the stopped node is not enough to catch up.
   */
  async function catchUpBySnapshot(leader: string, lagging: string, from: number) {
    const { cluster } = suite;
    await cluster.stop(lagging);
    let last = 0;
    for (let id = from; id < from + rowsPerBatch; id++) {
      last = await execute(
        cluster.url(leader),
        'INSERT INTO emp VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING',
        [id, `e${id}`, id],
      );
    }
    await writeZsets(cluster, leader, `batch-${from}`);
    const put = await call('PUT', `${cluster.url(leader)}/v1/kv/last-batch`, {
      value: String(from),
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    last = Math.max(last, put.body.index as number);
    const view = await cluster.status(leader);
    assert.ok(view.snapshotIndex > 0, 'the leader compacted its log');
    cluster.start(lagging);
    await cluster.up(lagging);
    await appliedEverywhere(cluster, ['n1', 'n2', 'n3'], last);
    const read = await call('GET', `${cluster.url(lagging)}/v1/kv/last-batch?consistency=stale`);
    assert.equal(read.body.value, String(from));
    // The lagging node caught up through a snapshot of the other kind, not the log, and
    // holds the sorted sets written meanwhile as the leader does.
    assert.match(cluster.node(lagging).output.join(''), /installed a snapshot from the leader/);
    await zsetsAgree(cluster, leader, [lagging], `batch-${from}`);
  }

  test('a lagging node installs a snapshot taken by a node of the other kind', async () => {
    const { cluster } = suite;
    // Goal: past the compacted log, a PostgreSQL follower catches up from a SQLite
    // leader's snapshot and a SQLite follower from a PostgreSQL leader's, and every
    // database ends with the same rows, and every node with the same sorted sets.
    await lead('n1');
    await execute(cluster.url('n1'), createTable);
    await catchUpBySnapshot('n1', 'n2', 1);
    await lead('n2');
    await catchUpBySnapshot('n2', 'n1', 1000);
    const rows = await postgresRows(suite.server('n2').url);
    assert.equal(rows.length, 2 * rowsPerBatch);
    for (const id of ['n1', 'n3']) {
      assert.deepEqual(await sqliteRows(cluster.url(id)), rows);
    }
  });
});
