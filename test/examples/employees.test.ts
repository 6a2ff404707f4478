/**
 * The employees service end to end on a real 2-node cluster in `sync` mode: the seed's
 * walkthrough (reads from the follower, read-your-writes, the follower stopped, a sync
 * write refused with nothing written, the follower back and caught up) and every
 * validation case; and the service as a user with the write role on a cluster with users.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startService, type RunningService } from '../../examples/employees/main.js';
import { ensureSchema } from '../../examples/employees/server.js';
import { createClient, Forbidden, Unauthenticated } from '../../src/client/index.js';
import { call, sleep, TestCluster } from '../node/cluster.js';

let cluster: TestCluster;
let service: RunningService;
let leader: string;
let follower: string;
const logLines: string[] = [];

before(async () => {
  cluster = await TestCluster.create({ nodes: 2, mode: 'sync' });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  leader = await cluster.leader();
  follower = cluster.nodes.find((node) => node.id !== leader)?.id as string;
  service = await startService({
    port: 0,
    nodes: cluster.nodes.map((node) => cluster.url(node.id)),
    healthCheckIntervalMs: 200,
    log: (line) => logLines.push(line),
  });
});

after(async () => {
  await service?.close();
  await cluster?.destroy();
});

/** Queries a node served, from its Prometheus counter. */
async function queriesServed(id: string): Promise<number> {
  const text = await (await fetch(`${cluster.url(id)}/metrics`)).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('tandem_http_requests_total{') && line.includes('route="/v1/query"'),
    )
    .reduce((total, line) => total + Number(line.split(' ').pop()), 0);
}

async function until(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${cluster.logs()}`);
    await sleep(100);
  }
}

const url = (path: string): string => service.url + path;

test('the walkthrough: follower reads, read-your-writes, a replica down, and its return', async () => {
  // Goal: the seed's scenario: GET from the follower, POST then GET at once, the follower
  // stopped (GET still answers; a sync POST is refused with 503 and written nowhere), and
  // the follower restarted catches up and serves again.
  const before = await queriesServed(follower);
  const seeded = await call('GET', url('/employees'));
  assert.equal(seeded.status, 200);
  assert.deepEqual(seeded.body, [
    { id: 101, name: 'John', salary: 285000, version: 1 },
    { id: 102, name: 'Sam', salary: 255000, version: 1 },
  ]);
  assert.ok((await queriesServed(follower)) > before, 'the follower served the read');

  const created = await call('POST', url('/employees'), { id: 103, name: 'John', salary: 135000 });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, { id: 103, message: 'Employee created successfully' });
  const fresh = await call('GET', url('/employees/103'));
  assert.deepEqual(fresh.body, { id: 103, name: 'John', salary: 135000, version: 1 });

  await cluster.stop(follower);
  const stillServed = await call('GET', url('/employees'));
  assert.equal(stillServed.status, 200);
  assert.equal((stillServed.body as unknown as unknown[]).length, 3);
  // Once the replica has been silent long enough, a write is refused up front: by the
  // leader (TANDEM_REPLICA_UNAVAILABLE), or, as a two-node cluster without its replica has
  // no quorum, because the leader stepped down (check-quorum). Before that a write would
  // enter the log and wait for the replica, so the test waits for either.
  await until('the leader to see the replica down or to step down', async () => {
    const view = await cluster.status(leader);
    const member = view.members.find((candidate) => candidate.id === follower) as
      { healthy?: boolean | null } | undefined;
    return view.role !== 'leader' || member?.healthy === false;
  });
  const refused = await call('POST', url('/employees'), { id: 104, name: 'Ann', salary: 99000 });
  assert.equal(refused.status, 503);
  assert.match(String(refused.body.error), /replica is unavailable/);
  assert.equal((await call('GET', url('/employees/104'))).status, 404);
  await until('the health check to log the replica down', async () =>
    logLines.some((line) => line.includes(`replica ${follower}`) && line.includes('DOWN')),
  );

  cluster.start(follower);
  await cluster.up(follower);
  await until('the follower to catch up', async () => {
    const answer = await call('POST', `${cluster.url(follower)}/v1/query`, {
      sql: 'SELECT id FROM emp ORDER BY id',
      consistency: 'stale',
    });
    return (
      JSON.stringify(answer.body.rows) === JSON.stringify([{ id: 101 }, { id: 102 }, { id: 103 }])
    );
  });
  await until('the health check to log the replica up', async () =>
    logLines.some((line) => line.includes(`replica ${follower}`) && line.includes('UP')),
  );
  // The restarted node may have won the election that followed; reads go to whichever
  // node now follows.
  const nowLeader = await cluster.leader();
  const nowFollower = cluster.nodes.find((node) => node.id !== nowLeader)?.id as string;
  await until('the client to see the new roles', async () => service.client.leaderId === nowLeader);
  const served = await queriesServed(nowFollower);
  const again = await call('GET', url('/employees'));
  assert.equal((again.body as unknown as unknown[]).length, 3, 'nothing of 104 anywhere');
  assert.ok((await queriesServed(nowFollower)) > served, 'a follower serves again');
  const afterReturn = await call('POST', url('/employees'), {
    id: 104,
    name: 'Ann',
    salary: 99000,
  });
  assert.equal(afterReturn.status, 201);
});

test('every validation case is a 400 with a clear message, a duplicate id a 409', async () => {
  // Goal: malformed input never reaches the database and says what is wrong.
  const post = (body: unknown) => call('POST', url('/employees'), body);
  const cases: [unknown, RegExp][] = [
    [{ name: 'A', salary: 1 }, /"id" is required/],
    [{ id: 5, salary: 1 }, /"name" is required/],
    [{ id: 5, name: 'A' }, /"salary" is required/],
    [{ id: '5', name: 'A', salary: 1 }, /"id" must be an integer/],
    [{ id: 5.5, name: 'A', salary: 1 }, /"id" must be an integer/],
    [{ id: 0, name: 'A', salary: 1 }, /"id" must be positive/],
    [{ id: -3, name: 'A', salary: 1 }, /"id" must be positive/],
    [{ id: 5, name: 7, salary: 1 }, /"name" must be a non-empty string/],
    [{ id: 5, name: ' ', salary: 1 }, /"name" must be a non-empty string/],
    [{ id: 5, name: 'A', salary: '1' }, /"salary" must be an integer/],
    [{ id: 5, name: 'A', salary: -1 }, /"salary" must not be negative/],
    [{ id: 5, name: 'A', salary: 1, extra: true }, /unknown field "extra"/],
    [[1, 2], /JSON object/],
  ];
  for (const [body, message] of cases) {
    const answer = await post(body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.match(String(answer.body.error), message, JSON.stringify(body));
  }
  const badJson = await fetch(url('/employees'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"id": 5,',
  });
  assert.equal(badJson.status, 400);
  assert.match(((await badJson.json()) as { error: string }).error, /JSON/);
  const duplicate = await post({ id: 101, name: 'Again', salary: 1 });
  assert.equal(duplicate.status, 409);
  assert.match(String(duplicate.body.error), /already exists/);
  assert.equal((await call('GET', url('/employees/abc'))).status, 400);
  assert.equal((await call('GET', url('/employees/999'))).status, 404);
  const rows = (await call('GET', url('/employees'))).body as unknown as { id: number }[];
  assert.ok(!rows.some((row) => row.id === 5), 'nothing half-written');
});

test('PUT needs If-Match on the version; DELETE removes the row', async () => {
  // Goal: optimistic concurrency: a stale or missing If-Match changes nothing.
  const body = { name: 'Sam', salary: 260000 };
  assert.equal((await call('PUT', url('/employees/102'), body)).status, 428);
  const current = await call('GET', url('/employees/102'));
  const etag = current.headers.get('etag') as string;
  const updated = await call('PUT', url('/employees/102'), body, { 'if-match': etag });
  assert.equal(updated.status, 200);
  assert.equal(updated.headers.get('etag'), '"2"');
  const stale = await call(
    'PUT',
    url('/employees/102'),
    { name: 'X', salary: 1 },
    { 'if-match': etag },
  );
  assert.equal(stale.status, 412);
  assert.deepEqual((await call('GET', url('/employees/102'))).body, {
    id: 102,
    ...body,
    version: 2,
  });
  assert.equal((await call('PUT', url('/employees/999'), body, { 'if-match': '"1"' })).status, 404);
  assert.equal(
    (await call('PUT', url('/employees/102'), { name: 'Sam' }, { 'if-match': '"2"' })).status,
    400,
  );
  assert.equal((await call('DELETE', url('/employees/102'))).status, 200);
  assert.equal((await call('GET', url('/employees/102'))).status, 404);
  assert.equal((await call('DELETE', url('/employees/102'))).status, 404);
});

test('on a cluster with users the service runs as a user with the write role', async (t) => {
  // Goal: the example authenticates as its user: without credentials it cannot start, a
  // writer cannot create the table (DDL is an admin's), and once an admin has, the writer's
  // service serves every route.
  const secured = await TestCluster.create({
    nodes: 2,
    extraArgs: () => ['--users', join(secured.root, 'users.json')],
    statusHeaders: {
      authorization: `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`,
    },
  });
  t.after(() => secured.destroy());
  const users = [
    { name: 'admin', password: 'admin-pw', roles: ['admin'] },
    { name: 'svc', password: 'svc-pw', roles: ['write'] },
  ];
  writeFileSync(join(secured.root, 'users.json'), JSON.stringify({ users }));
  secured.startAll();
  await Promise.all(secured.nodes.map((node) => secured.up(node.id)));
  await secured.leader();
  const nodes = secured.nodes.map((node) => secured.url(node.id));
  const options = { port: 0, nodes, healthCheckIntervalMs: 0, log: () => {} };
  const writer = { user: 'svc', password: 'svc-pw' };
  await assert.rejects(startService(options), Unauthenticated);
  await assert.rejects(startService({ ...options, auth: writer }), (error: unknown) => {
    assert.ok(error instanceof Forbidden);
    assert.match(error.message, /the emp table does not exist.*lacks the admin role/);
    return true;
  });
  const admin = createClient({ nodes, auth: { user: 'admin', password: 'admin-pw' } });
  await ensureSchema(admin);
  admin.close();
  const secure = await startService({ ...options, auth: writer });
  t.after(() => secure.close());
  const at = (path: string): string => secure.url + path;
  assert.equal(((await call('GET', at('/employees'))).body as unknown as unknown[]).length, 2);
  const created = await call('POST', at('/employees'), { id: 7, name: 'Ada', salary: 1 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const read = await call('GET', at('/employees/7'));
  assert.deepEqual(read.body, { id: 7, name: 'Ada', salary: 1, version: 1 });
  const etag = read.headers.get('etag') as string;
  const updated = await call(
    'PUT',
    at('/employees/7'),
    { name: 'Ada', salary: 2 },
    { 'if-match': etag },
  );
  assert.equal(updated.status, 200);
  assert.equal((await call('DELETE', at('/employees/7'))).status, 200);
});
