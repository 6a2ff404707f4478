/**
 * The client against a real 3-node cluster of `tandem start` processes: routing, read
 * spreading, fallback to the leader, exactly-once retries across a leader kill, typed
 * errors, aborts and the bounded queue.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BadRequest,
  Conflict,
  createClient,
  QueueFull,
  type TandemClient,
} from '../../src/client/index.js';
import { call, TestCluster } from '../node/cluster.js';

let cluster: TestCluster;
let client: TandemClient;

before(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  await cluster.leader();
  client = createClient({ nodes: [cluster.url('n1')], healthCheckIntervalMs: 0, timeoutMs: 3000 });
});

after(async () => {
  client?.close();
  await cluster?.destroy();
});

/** GET requests a node served on the key route, from its Prometheus counter. */
async function kvReadsServed(id: string): Promise<number> {
  const response = await fetch(`${cluster.url(id)}/metrics`);
  const text = await response.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('tandem_http_requests_total{') && line.includes('route="/v1/kv/:key"')) {
      if (line.includes('method="GET"')) total += Number(line.split(' ').pop());
    }
  }
  return total;
}

test('writes reach the leader and reads see them at once (read-your-writes)', async () => {
  // Goal: kv and SQL calls work whichever node the client was given, and a read right
  // after a write sees it.
  const written = await client.kv.set('greeting', 'hello');
  assert.ok(written.index > 0);
  assert.equal((await client.kv.get('greeting'))?.value, 'hello');
  assert.equal(await client.kv.get('absent'), null);
  await client.sql.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  await client.sql.execute('INSERT INTO t (id, v) VALUES (?, ?)', [1, 'one']);
  assert.deepEqual(await client.sql.query('SELECT v FROM t WHERE id = ?', [1]), [{ v: 'one' }]);
  assert.equal(await client.kv.delete('greeting'), 1);
  assert.equal(await client.kv.get('greeting'), null);
  assert.equal(client.leaderId, await cluster.leader());
});

test('binary keys and values: Uint8Array in, getBytes out, and get refuses bytes that are not text', async () => {
  // Goal: the client and the HTTP API keep any bytes exact, through a follower's
  // forwarding too, and never hand out text with replacement characters.
  const cafe = new Uint8Array([0x63, 0x61, 0x66, 0xe9]);
  const every = new Uint8Array(Array.from({ length: 256 }, (_, i) => i));
  const binaryKey = new Uint8Array([0xff, 0x00, 0x6b]);
  await client.kv.set('cafe', cafe);
  await client.kv.set(binaryKey, every);
  assert.deepEqual((await client.kv.getBytes('cafe'))?.value, cafe);
  assert.deepEqual((await client.kv.getBytes(binaryKey))?.value, every);
  await assert.rejects(client.kv.get('cafe'), (error) => {
    assert.ok(error instanceof BadRequest);
    assert.equal(error.code, 'TANDEM_CLIENT_NOT_TEXT');
    return true;
  });
  await client.kv.set(new Uint8Array(Buffer.from('text-key')), 'naïve ☃');
  assert.equal((await client.kv.get('text-key'))?.value, 'naïve ☃');
  assert.deepEqual(
    (await client.kv.getBytes('text-key'))?.value,
    new Uint8Array(Buffer.from('naïve ☃')),
  );
  assert.equal(await client.kv.delete(binaryKey), 1);
  assert.equal(await client.kv.getBytes(binaryKey), null);

  // The HTTP API itself on a follower: a raw PUT is forwarded, and reads give the bytes
  // raw, or as base64 in JSON.
  const leader = await cluster.leader();
  const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
  const put = await fetch(`${cluster.url(follower)}/v1/kv/caf%E9`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from(every),
  });
  assert.equal(put.status, 200, await put.clone().text());
  const { index } = (await put.json()) as { index: number };
  const raw = await fetch(`${cluster.url(follower)}/v1/kv/caf%E9?after=${index}`, {
    headers: { accept: 'application/octet-stream' },
  });
  assert.equal(raw.headers.get('content-type'), 'application/octet-stream');
  assert.deepEqual(new Uint8Array(await raw.arrayBuffer()), every);
  const json = await fetch(`${cluster.url(leader)}/v1/kv/caf%E9`);
  const body = (await json.json()) as Record<string, unknown>;
  assert.equal(body.keyBase64, Buffer.from(cafe).toString('base64'));
  assert.equal(body.valueBase64, Buffer.from(every).toString('base64'));
  assert.equal(body.value, undefined);
  assert.deepEqual((await client.kv.getBytes(cafe))?.value, every);
});

test('a transaction applies all its statements or none', async () => {
  // Goal: `transaction` is one SQL command: a failing statement leaves nothing behind.
  await client.transaction([
    { sql: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [2, 'two'] },
    { sql: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [3, 'three'] },
  ]);
  await assert.rejects(
    client.transaction([
      { sql: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [4, 'four'] },
      { sql: 'INSERT INTO t (id, v) VALUES (?, ?)', params: [2, 'again'] },
    ]),
    (error) => error instanceof BadRequest && /UNIQUE/.test(error.message),
  );
  const rows = await client.sql.query('SELECT id FROM t ORDER BY id');
  assert.deepEqual(rows, [{ id: 1 }, { id: 2 }, { id: 3 }]);
});

test('SQL integers outside the safe range go and come back as exact bigints', async () => {
  // Goal: bigint parameters keep every digit, and integers past 2^53 come back as bigints
  // (rowids included) while safe integers stay numbers.
  await client.sql.execute('CREATE TABLE big (id INTEGER PRIMARY KEY, v BIGINT)');
  const values = [9007199254740993n, 9223372036854775807n, -9223372036854775808n];
  for (const [i, v] of values.entries()) {
    await client.sql.execute('INSERT INTO big (id, v) VALUES (?, ?)', [i + 1, v]);
  }
  const rows = await client.sql.query('SELECT id, v FROM big ORDER BY id');
  assert.deepEqual(rows, [
    { id: 1, v: 9007199254740993n },
    { id: 2, v: 9223372036854775807n },
    { id: 3, v: -9223372036854775808n },
  ]);
  assert.deepEqual(
    await client.sql.query('SELECT id FROM big WHERE v = :v', { v: 9223372036854775807n }),
    [{ id: 2 }],
  );
  const inserted = await client.sql.execute('INSERT INTO big (id, v) VALUES (?, ?)', [
    9223372036854775807n,
    7,
  ]);
  assert.deepEqual(inserted.results, [{ changes: 1, lastInsertRowid: 9223372036854775807n }]);
});

test('errors are typed with stable codes and statuses', async () => {
  // Goal: a failed compare-and-set is Conflict 412; bad SQL is BadRequest 400.
  const first = await client.kv.set('cas', 'a');
  const second = await client.kv.compareAndSet('cas', 'b', first.version);
  await assert.rejects(client.kv.compareAndSet('cas', 'c', first.version), (error) => {
    assert.ok(error instanceof Conflict);
    assert.equal(error.code, 'TANDEM_PRECONDITION_FAILED');
    assert.equal(error.status, 412);
    return true;
  });
  assert.deepEqual((await client.kv.get('cas'))?.version, second.version);
  await assert.rejects(client.sql.execute('INSERT INTO nowhere VALUES (1)'), (error) => {
    assert.ok(error instanceof BadRequest);
    assert.equal(error.code, 'TANDEM_BAD_REQUEST');
    assert.equal(error.status, 400);
    return true;
  });
});

test('a node URL without its scheme is refused at once', () => {
  // Goal: a typo fails where it is made, not as an unreachable cluster on the first call.
  for (const url of ['127.0.0.1:9001', 'localhost', 'ftp://127.0.0.1:9001', '']) {
    assert.throws(
      () => createClient({ nodes: [url], healthCheckIntervalMs: 0 }),
      (error) =>
        error instanceof TypeError &&
        /is not a node URL; give http:\/\/HOST:PORT/.test(error.message),
      url,
    );
  }
  createClient({
    nodes: ['http://127.0.0.1:1/', 'https://[::1]:9001'],
    healthCheckIntervalMs: 0,
  }).close();
});

test('every call takes an AbortSignal, and the pending queue is bounded', async () => {
  // Goal: an aborted call rejects with the signal's reason; past pendingCallsMax a call
  // fails at once with QueueFull instead of queueing without bound.
  await assert.rejects(client.kv.get('x', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  const controller = new AbortController();
  const pending = client.kv.set('x', '1', { signal: controller.signal });
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  const small = createClient({
    nodes: [cluster.url('n2')],
    pendingCallsMax: 1,
    healthCheckIntervalMs: 0,
  });
  try {
    const running = small.kv.get('x');
    await assert.rejects(small.kv.get('x'), (error) => {
      assert.ok(error instanceof QueueFull);
      assert.equal(error.code, 'TANDEM_CLIENT_QUEUE_FULL');
      return true;
    });
    await running;
  } finally {
    small.close();
  }
});

test('the same session and seq sent twice, even through a follower, applies once', async () => {
  // Goal: the HTTP headers reach the state machine (also when a follower forwards) and
  // the retry is answered as the first write was, without a second row.
  const leader = await cluster.leader();
  const follower = cluster.nodes.find((node) => node.id !== leader)?.id as string;
  const headers = { 'x-tandem-session': 'test-session', 'x-tandem-seq': '1' };
  const body = { sql: 'INSERT INTO t (v) VALUES (?)', params: ['dedup'] };
  const first = await call('POST', `${cluster.url(leader)}/v1/sql`, body, headers);
  const retry = await call('POST', `${cluster.url(follower)}/v1/sql`, body, headers);
  assert.equal(first.status, 200);
  assert.equal(retry.status, 200);
  assert.deepEqual(retry.body.results, first.body.results);
  const older = await call('POST', `${cluster.url(leader)}/v1/sql`, body, {
    ...headers,
    'x-tandem-seq': '2',
  });
  assert.equal(older.status, 200);
  const stale = await call('POST', `${cluster.url(leader)}/v1/sql`, body, headers);
  assert.equal(stale.status, 400);
  assert.match(String(stale.body.message), /ERR duplicate request/);
  const rows = await client.sql.query("SELECT count(*) AS n FROM t WHERE v = 'dedup'");
  assert.deepEqual(rows, [{ n: 2 }]);
  const malformed: Record<string, string>[] = [
    { 'x-tandem-session': 'has space', 'x-tandem-seq': '1' },
    { 'x-tandem-session': 'ok', 'x-tandem-seq': '0' },
    { 'x-tandem-session': 'ok' },
  ];
  for (const bad of malformed) {
    const refused = await call('PUT', `${cluster.url(leader)}/v1/kv/k`, { value: 'v' }, bad);
    assert.equal(refused.status, 400, JSON.stringify(bad));
    assert.match(String(refused.body.message), /X-Tandem-/);
  }
});

test('reads are spread over the followers, not sent to the leader', async () => {
  // Goal: with readFrom followers and round robin, both followers serve reads and the
  // leader serves none.
  const leader = await cluster.leader();
  const before = new Map(
    await Promise.all(
      cluster.nodes.map(async (node) => [node.id, await kvReadsServed(node.id)] as const),
    ),
  );
  for (let i = 0; i < 10; i++) await client.kv.get('cas');
  for (const node of cluster.nodes) {
    const served = (await kvReadsServed(node.id)) - (before.get(node.id) ?? 0);
    if (node.id === leader) assert.equal(served, 0, 'the leader served no read');
    else assert.ok(served >= 3, `${node.id} served ${served} of 10 reads`);
  }
});

test('writes retried across a leader kill apply exactly once', async () => {
  // Goal: a stream of inserts keeps going while the leader is SIGKILLed; afterwards every
  // acknowledged value is in the table exactly once and no value appears twice.
  const oldLeader = await cluster.leader();
  await client.sql.execute('CREATE TABLE seq (v INTEGER NOT NULL)');
  // One failover is one leaderChanged, not one per moment without a leader.
  const events: [string, string | null][] = [];
  const onChange = (id: string, previous: string | null) => events.push([id, previous]);
  client.on('leaderChanged', onChange);
  const acknowledged: number[] = [];
  const failed: number[] = [];
  let killed = false;
  for (let v = 1; v <= 60; v++) {
    if (v === 20) {
      killed = true;
      await cluster.kill(oldLeader);
    }
    try {
      await client.sql.execute('INSERT INTO seq (v) VALUES (?)', [v]);
      acknowledged.push(v);
    } catch {
      failed.push(v);
    }
  }
  assert.ok(killed);
  assert.notEqual(client.leaderId, oldLeader);
  client.off('leaderChanged', onChange);
  assert.deepEqual(events, [[client.leaderId, oldLeader]]);
  const rows = await client.sql.query<{ v: number; n: number }>(
    'SELECT v, count(*) AS n FROM seq GROUP BY v',
    [],
    { consistency: 'linearizable' },
  );
  const counts = new Map(rows.map((row) => [row.v, row.n]));
  for (const row of rows) assert.equal(row.n, 1, `value ${row.v} applied ${row.n} times`);
  for (const v of acknowledged) assert.equal(counts.get(v), 1, `acknowledged ${v} is missing`);
  assert.ok(failed.length <= 1, `writes failed despite retries: ${failed.join(',')}`);
  cluster.start(oldLeader);
  await cluster.up(oldLeader);
});

test('reads fall back to the leader when no follower answers', async () => {
  // Goal: with both followers killed, a read (read-your-writes) is still answered by the
  // node that led, from its own applied state.
  await client.kv.set('fallback', 'yes');
  const leader = await cluster.leader();
  for (const node of cluster.nodes) if (node.id !== leader) await cluster.kill(node.id);
  assert.equal((await client.kv.get('fallback'))?.value, 'yes');
});
