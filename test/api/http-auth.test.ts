/**
 * Authentication and authorization of the HTTP API on a real 3-node cluster started with a
 * users file: every route needs credentials and a role, a follower checks before it
 * forwards and the leader checks again, tokens and users made through the API take effect
 * (and lose it) on every node, and the client and `tandem status` authenticate.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createClient,
  Forbidden,
  TandemClientError,
  Unauthenticated,
} from '../../src/client/index.js';
import { call, sleep, TestCluster } from '../node/cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

const passwords = {
  admin: 'admin-secret-1',
  writer: 'writer-secret-2',
  reader: 'reader-secret-3',
  app: 'app-secret-4',
} as const;
type User = keyof typeof passwords;

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
const as = (user: User): Record<string, string> => basic(user, passwords[user]);
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

let cluster: TestCluster;
let leader: string;
let followers: string[];
let ids: string[];

before(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    extraArgs: () => ['--users', join(cluster.root, 'users.json')],
    statusHeaders: as('admin'),
  });
  const users = [
    { name: 'admin', password: passwords.admin, roles: ['admin'] },
    { name: 'writer', password: passwords.writer, roles: ['write'] },
    { name: 'reader', password: passwords.reader, roles: ['read'] },
    { name: 'app', password: passwords.app, roles: ['write'], keys: ['app:*'] },
  ];
  writeFileSync(join(cluster.root, 'users.json'), JSON.stringify({ users }));
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  leader = await cluster.leader();
  ids = cluster.nodes.map((node) => node.id);
  followers = ids.filter((id) => id !== leader);
});

after(async () => {
  await cluster?.destroy();
});

const url = (id: string, path: string): string => cluster.url(id) + path;

/** Polls until `condition` holds, failing after `timeoutMs` with `what`. */
async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${cluster.logs()}`);
    await sleep(50);
  }
}

/** The value of `key` on node `id` (stale: what that node holds), or null. */
async function valueOn(id: string, key: string): Promise<unknown> {
  const answer = await call(
    'GET',
    url(id, `/v1/kv/${key}?consistency=stale`),
    undefined,
    as('admin'),
  );
  return answer.status === 404 ? null : answer.body.value;
}

/** Requests a node answered on `route` with `method`, from its Prometheus counter. */
async function served(id: string, method: string, route: string): Promise<number> {
  const text = await (await fetch(url(id, '/metrics'))).text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('tandem_http_requests_total{') &&
        line.includes(`method="${method}"`) &&
        line.includes(`route="${route}"`),
    )
    .reduce((total, line) => total + Number(line.split(' ').pop()), 0);
}

function assertForbidden(answer: { status: number; body: Record<string, unknown> }, text: RegExp) {
  assert.equal(answer.status, 403, JSON.stringify(answer.body));
  assert.equal(answer.body.code, 'TANDEM_FORBIDDEN');
  assert.match(String(answer.body.message), text);
}

test('without credentials, or with wrong ones, every route but the probes is 401', async () => {
  // Goal: a cluster with users serves nothing to a stranger, says how to authenticate, and
  // leaves /healthz, /readyz and /metrics open.
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/kv/a'],
    ['PUT', '/v1/kv/a', { value: 'x' }],
    ['DELETE', '/v1/kv/a'],
    ['POST', '/v1/sql', { sql: 'SELECT 1' }],
    ['POST', '/v1/query', { sql: 'SELECT 1' }],
    ['GET', '/v1/cluster'],
    ['POST', '/v1/cluster/promote', { id: leader }],
    ['GET', '/v1/auth/users'],
    ['GET', '/v1/auth/whoami'],
    ['POST', '/v1/auth/tokens', { ttlSeconds: 60 }],
    ['GET', '/openapi.json'],
  ];
  const refused = (
    answer: { status: number; body: Record<string, unknown>; headers: Headers },
    what: string,
  ) => {
    assert.equal(answer.status, 401, what);
    assert.equal(answer.body.code, 'TANDEM_UNAUTHENTICATED', what);
    assert.equal(answer.headers.get('www-authenticate'), 'Basic realm="tandem", Bearer', what);
  };
  for (const id of [leader, followers[0]]) {
    for (const [method, path, body] of routes) {
      refused(await call(method, url(id, path), body), `${id} ${method} ${path}`);
    }
  }
  // Each wrong credential counts as a failure of its address (slowed past a few), so they
  // are spread over the nodes and over the routes.
  const wrong: Record<string, string>[] = [
    basic('admin', 'not-the-password'),
    basic('nobody', 'whatever'),
    bearer('tdm_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    { authorization: 'Basic !!!' },
    { authorization: 'Digest x' },
  ];
  for (const [i, headers] of wrong.entries()) {
    const id = ids[i % ids.length] as string;
    const [method, path, body] = routes[i] as [string, string, unknown?];
    refused(await call(method, url(id, path), body, headers), `${id} ${JSON.stringify(headers)}`);
  }
  for (const path of ['/healthz', '/readyz', '/metrics']) {
    assert.equal((await call('GET', url(leader, path))).status, 200, path);
  }
  const metrics = await (await fetch(url(ids[0] as string, '/metrics'))).text();
  assert.match(metrics, /tandem_auth_failures_total\{port="http"\} [1-9]/);
  assert.equal(await valueOn(leader, 'a'), null, 'no refused write took effect');
});

test('a reader cannot write through the leader or a follower; the value stays everywhere', async () => {
  // Goal: the write role is enforced on every node, a follower refuses before it forwards
  // (the leader never sees the request), and nothing changes on any node.
  const written = await call('PUT', url(leader, '/v1/kv/shared'), { value: 'v1' }, as('writer'));
  assert.equal(written.status, 200);
  for (const id of ids)
    await until(`${id} to hold v1`, async () => (await valueOn(id, 'shared')) === 'v1');
  const leaderPuts = await served(leader, 'PUT', '/v1/kv/:key');
  const leaderSql = await served(leader, 'POST', '/v1/sql');
  for (const id of [leader, ...followers]) {
    assertForbidden(
      await call('PUT', url(id, '/v1/kv/shared'), { value: 'v2' }, as('reader')),
      /^user reader lacks the write role/,
    );
    assertForbidden(
      await call('DELETE', url(id, '/v1/kv/shared'), undefined, as('reader')),
      /write role/,
    );
    assertForbidden(
      await call('POST', url(id, '/v1/sql'), { sql: 'SELECT 1' }, as('reader')),
      /user reader lacks the write role/,
    );
    const read = await call('GET', url(id, '/v1/kv/shared'), undefined, as('reader'));
    assert.equal(read.status, 200);
    assert.equal(read.body.value, 'v1');
    const query = await call(
      'POST',
      url(id, '/v1/query'),
      { sql: 'SELECT 1 AS one' },
      as('reader'),
    );
    assert.deepEqual(query.body.rows, [{ one: 1 }]);
    assert.equal((await call('GET', url(id, '/v1/cluster'), undefined, as('reader'))).status, 200);
  }
  assert.equal(
    await served(leader, 'PUT', '/v1/kv/:key'),
    leaderPuts + 1,
    "only the leader's own refusal",
  );
  assert.equal(await served(leader, 'POST', '/v1/sql'), leaderSql + 1);
  // A write through a follower is forwarded with its credentials and lands.
  const forwarded = await call(
    'PUT',
    url(followers[0], '/v1/kv/shared'),
    { value: 'v3' },
    as('writer'),
  );
  assert.equal(forwarded.status, 200);
  assert.equal(forwarded.headers.get('x-tandem-leader'), leader);
  for (const id of ids)
    await until(`${id} to hold v3`, async () => (await valueOn(id, 'shared')) === 'v3');
});

test('a writer writes keys and rows, but cannot change members, promote, or change the schema', async () => {
  // Goal: membership, leadership and DDL are admin actions on every node, however the DDL
  // is dressed (comments, a second statement).
  for (const id of [leader, followers[0]]) {
    assertForbidden(
      await call(
        'POST',
        url(id, '/v1/cluster/members'),
        { id: 'n9', address: '127.0.0.1:1' },
        as('writer'),
      ),
      /^user writer lacks the admin role/,
    );
    assertForbidden(
      await call('DELETE', url(id, `/v1/cluster/members/${followers[1]}`), undefined, as('writer')),
      /admin role/,
    );
    assertForbidden(
      await call('POST', url(id, '/v1/cluster/promote'), { id: followers[1] }, as('writer')),
      /admin role/,
    );
    for (const sql of [
      'CREATE TABLE w (id INTEGER PRIMARY KEY)',
      '/* harmless */ -- really\n drop table t',
      '  ALTER TABLE t ADD COLUMN c TEXT',
    ]) {
      assertForbidden(
        await call('POST', url(id, '/v1/sql'), { sql }, as('writer')),
        /lacks the admin role \(SQL schema changes: statement 1\)/,
      );
    }
    assertForbidden(
      await call(
        'POST',
        url(id, '/v1/sql'),
        { statements: [{ sql: 'SELECT 1' }, { sql: 'CREATE INDEX i ON t (id)' }] },
        as('writer'),
      ),
      /statement 2/,
    );
    assertForbidden(
      await call('GET', url(id, '/v1/auth/users'), undefined, as('writer')),
      /admin role/,
    );
  }
  const created = await call(
    'POST',
    url(followers[0], '/v1/sql'),
    { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)' },
    as('admin'),
  );
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const inserted = await call(
    'POST',
    url(followers[0], '/v1/sql'),
    { sql: 'INSERT INTO t VALUES (1, ?)', params: ['x'] },
    as('writer'),
  );
  assert.equal(inserted.status, 200, JSON.stringify(inserted.body));
  const view = await cluster.status(leader);
  assert.equal(view.membership.voters.length, 3, 'membership unchanged');
  assert.equal(view.leaderId, leader, 'leadership unchanged');
});

test("a user's key patterns limit the keys it may name", async () => {
  // Goal: `~app:*` admits app:... keys and refuses others with a 403 naming the key.
  assert.equal(
    (await call('PUT', url(followers[0], '/v1/kv/app:1'), { value: 'a' }, as('app'))).status,
    200,
  );
  assert.equal((await call('GET', url(leader, '/v1/kv/app:1'), undefined, as('app'))).status, 200);
  for (const [method, body] of [
    ['PUT', { value: 'b' }],
    ['GET', undefined],
    ['DELETE', undefined],
  ] as const) {
    assertForbidden(
      await call(method, url(leader, '/v1/kv/other'), body, as('app')),
      /user app may not use the key "other"/,
    );
  }
});

test('Redis commands over HTTP are checked for the role and keys of each command', async () => {
  // Goal: POST /v1/command needs only credentials; each command then needs its own role
  // and key patterns (Redis's NOPERM texts, as 403), on a follower as on the leader.
  const command = (id: string, user: User, args: string[], readOnly = false) =>
    call('POST', url(id, '/v1/command'), { args, ...(readOnly ? { readOnly } : {}) }, as(user));
  const unauthenticated = await call('POST', url(leader, '/v1/command'), { args: ['PING'] });
  assert.equal(unauthenticated.status, 401);
  const wrote = await command(followers[0], 'app', ['HSET', 'app:h', 'f', 'v']);
  assert.equal(wrote.status, 200, JSON.stringify(wrote.body));
  assert.equal(wrote.body.reply, 1);
  const read = await command(followers[1], 'reader', ['HGET', 'app:h', 'f'], true);
  assert.equal(read.status, 200, JSON.stringify(read.body));
  assertForbidden(
    await command(followers[0], 'reader', ['HSET', 'app:h', 'f', 'w']),
    /NOPERM this user has no permissions to run the 'hset' command/,
  );
  assertForbidden(
    await command(leader, 'app', ['HSET', 'other', 'f', 'v']),
    /NOPERM this user has no permissions to access one of the keys/,
  );
  assertForbidden(
    await command(leader, 'writer', ['FLUSHALL']),
    /NOPERM this user has no permissions to run the 'flushall' command/,
  );
  const after = await command(leader, 'admin', ['HGETALL', 'app:h'], true);
  assert.deepEqual(after.body, { reply: { f: 'v' } });
});

test('tokens: an admin makes one; it works as Bearer on every node until revoked or expired', async () => {
  // Goal: a token is answered once, listed without its secret, accepted on every node once
  // applied, and refused on every node after revoke and after its expiry.
  const made = await call(
    'POST',
    url(followers[0], '/v1/auth/tokens'),
    { user: 'writer', ttlSeconds: 3600 },
    as('admin'),
  );
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const { id, token, expiresAt } = made.body as { id: string; token: string; expiresAt: number };
  assert.match(token, /^tdm_[0-9a-f]{16}_/);
  assert.ok(expiresAt > Date.now() + 3500_000);
  for (const node of ids) {
    await until(
      `${node} to accept the token`,
      async () =>
        (await call('GET', url(node, '/v1/auth/whoami'), undefined, bearer(token))).status === 200,
    );
    const me = await call('GET', url(node, '/v1/auth/whoami'), undefined, bearer(token));
    assert.deepEqual(me.body, {
      user: 'writer',
      roles: ['read', 'write'],
      keys: ['*'],
      via: 'token',
      tokenId: id,
    });
  }
  assert.equal(
    (await call('PUT', url(followers[1], '/v1/kv/tok'), { value: 't' }, bearer(token))).status,
    200,
  );
  assertForbidden(
    await call('GET', url(leader, '/v1/auth/tokens'), undefined, bearer(token)),
    /admin role/,
  );
  const listed = await call('GET', url(leader, '/v1/auth/tokens'), undefined, as('admin'));
  const entry = (listed.body.tokens as Record<string, unknown>[]).find((t) => t.id === id);
  assert.deepEqual(Object.keys(entry ?? {}).sort(), ['createdAt', 'expiresAt', 'id', 'user']);
  assert.ok(!JSON.stringify(listed.body).includes(token.slice(-43)), 'the secret is never listed');

  const revoked = await call(
    'DELETE',
    url(followers[1], `/v1/auth/tokens/${id}`),
    undefined,
    as('admin'),
  );
  assert.deepEqual([revoked.status, revoked.body.revoked], [200, 1]);
  for (const node of ids) {
    await until(
      `${node} to refuse the revoked token`,
      async () =>
        (await call('GET', url(node, '/v1/kv/tok'), undefined, bearer(token))).status === 401,
    );
  }

  const short = await call('POST', url(leader, '/v1/auth/tokens'), { ttlSeconds: 1 }, as('admin'));
  assert.equal(short.status, 201);
  assert.equal(short.body.user, 'admin', 'the caller by default');
  const shortToken = String(short.body.token);
  for (const node of ids) {
    await until(
      `${node} to accept the short token`,
      async () =>
        (await call('GET', url(node, '/v1/cluster'), undefined, bearer(shortToken))).status === 200,
    );
  }
  await sleep(Math.max(0, Number(short.body.expiresAt) - Date.now()) + 50);
  for (const node of ids) {
    assert.equal(
      (await call('GET', url(node, '/v1/cluster'), undefined, bearer(shortToken))).status,
      401,
      node,
    );
  }

  for (const [body, text] of [
    [{ ttlSeconds: 0 }, /ttlSeconds must be >= 1/],
    [{ ttlSeconds: 400 * 24 * 3600 }, /ttlSeconds must be <= /],
    [{ ttlSeconds: 1.5 }, /ttlSeconds must be integer/],
    [{}, /ttlSeconds/],
  ] as const) {
    const answer = await call('POST', url(leader, '/v1/auth/tokens'), body, as('admin'));
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.match(String(answer.body.message), text);
  }
  assert.equal(
    (
      await call(
        'POST',
        url(leader, '/v1/auth/tokens'),
        { user: 'nobody', ttlSeconds: 60 },
        as('admin'),
      )
    ).status,
    404,
  );
  assert.equal(
    (await call('DELETE', url(leader, '/v1/auth/tokens/xyz'), undefined, as('admin'))).status,
    400,
  );
  assertForbidden(
    await call('POST', url(leader, '/v1/auth/tokens'), { ttlSeconds: 60 }, as('writer')),
    /admin role/,
  );
});

test('a user made through a follower works everywhere; deleted on the leader, it works nowhere', async () => {
  // Goal: PUT on a follower is forwarded raw and hashed on the leader; the user, its roles
  // and its removal reach every node; the API never shows a password or a hash.
  const put = await call(
    'PUT',
    url(followers[0], '/v1/auth/users/carol'),
    { password: 'carol-pw', roles: ['read'] },
    as('admin'),
  );
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body.user, {
    name: 'carol',
    roles: ['read'],
    keys: ['*'],
    enabled: true,
    nopass: false,
  });
  const carol = basic('carol', 'carol-pw');
  for (const node of ids) {
    await until(
      `${node} to know carol`,
      async () => (await call('GET', url(node, '/v1/cluster'), undefined, carol)).status === 200,
    );
    assertForbidden(
      await call('PUT', url(node, '/v1/kv/c'), { value: 'c' }, carol),
      /user carol lacks the write role/,
    );
  }
  const listed = await call('GET', url(followers[1], '/v1/auth/users'), undefined, as('admin'));
  assert.deepEqual((listed.body.users as { name: string }[]).map((user) => user.name).sort(), [
    'admin',
    'app',
    'carol',
    'reader',
    'writer',
  ]);
  assert.ok(!/scrypt|sha256|password/.test(JSON.stringify(listed.body)), 'no hashes');
  assert.deepEqual(
    (await call('GET', url(leader, '/v1/auth/users/app'), undefined, as('admin'))).body,
    {
      name: 'app',
      roles: ['read', 'write'],
      keys: ['app:*'],
      enabled: true,
      nopass: false,
    },
  );
  assert.equal(
    (await call('GET', url(leader, '/v1/auth/users/zed'), undefined, as('admin'))).status,
    404,
  );

  // Replaced without a password: the roles change, the password stays.
  const promoted = await call(
    'PUT',
    url(leader, '/v1/auth/users/carol'),
    { roles: ['write'] },
    as('admin'),
  );
  assert.equal(promoted.status, 200);
  for (const node of ids) {
    await until(
      `${node} to let carol write`,
      async () => (await call('PUT', url(node, '/v1/kv/c'), { value: 'c' }, carol)).status === 200,
    );
  }

  const deleted = await call('DELETE', url(leader, '/v1/auth/users/carol'), undefined, as('admin'));
  assert.deepEqual([deleted.status, deleted.body.deleted], [200, 1]);
  for (const node of ids) {
    await until(
      `${node} to refuse carol`,
      async () => (await call('GET', url(node, '/v1/cluster'), undefined, carol)).status === 401,
    );
  }

  for (const [name, body, text] of [
    ['bad%20name', { roles: ['read'] }, /user name/],
    ['dave', { roles: ['root'] }, /body\.roles\[0\] must be one of read, write, admin/],
    ['dave', { roles: [] }, /body\.roles must NOT have fewer than 1 items/],
    ['dave', { roles: ['read', 'read'] }, /duplicate/],
    ['dave', { roles: ['read'], colour: 'blue' }, /unknown field "colour"/],
    ['dave', { roles: ['read'], password: '' }, /body\.password/],
    ['dave', { roles: ['read'], keys: [''] }, /body\.keys\[0\]/],
  ] as const) {
    const answer = await call(
      'PUT',
      url(followers[0], `/v1/auth/users/${name}`),
      body,
      as('admin'),
    );
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.match(String(answer.body.message), text);
  }
  assertForbidden(
    await call('PUT', url(leader, '/v1/auth/users/dave'), { roles: ['admin'] }, as('writer')),
    /admin role/,
  );
});

test("the client's auth option: Basic or Bearer on every call; 401 and 403 are typed, never retried", async () => {
  // Goal: the client authenticates its reads, writes and discovery, and surfaces a refusal
  // at once as Unauthenticated or Forbidden instead of retrying it.
  const nodes = ids.map((id) => cluster.url(id));
  const writer = createClient({
    nodes,
    auth: { user: 'writer', password: passwords.writer },
    healthCheckIntervalMs: 0,
  });
  const reader = createClient({
    nodes,
    auth: { user: 'reader', password: passwords.reader },
    healthCheckIntervalMs: 0,
  });
  const stranger = createClient({ nodes, healthCheckIntervalMs: 0 });
  const wrong = createClient({
    nodes,
    auth: { user: 'writer', password: 'nope' },
    healthCheckIntervalMs: 0,
  });
  try {
    await writer.kv.set('client:k', 'v');
    assert.equal((await writer.kv.get('client:k'))?.value, 'v');
    assert.equal((await reader.kv.get('client:k'))?.value, 'v');
    const puts = await served(leader, 'PUT', '/v1/kv/:key');
    const started = Date.now();
    await assert.rejects(reader.kv.set('client:k', 'w'), (error: unknown) => {
      assert.ok(error instanceof Forbidden);
      assert.equal(error.code, 'TANDEM_FORBIDDEN');
      assert.equal(error.status, 403);
      assert.match(error.message, /user reader lacks the write role/);
      return true;
    });
    assert.ok(Date.now() - started < 1000, 'no backoff');
    assert.equal(await served(leader, 'PUT', '/v1/kv/:key'), puts + 1, 'sent once');
    for (const client of [stranger, wrong]) {
      await assert.rejects(client.kv.get('client:k'), Unauthenticated);
      await assert.rejects(
        client.kv.set('client:k', 'x'),
        (error: unknown) =>
          error instanceof TandemClientError && error.code === 'TANDEM_UNAUTHENTICATED',
      );
    }
    const made = await call(
      'POST',
      url(leader, '/v1/auth/tokens'),
      { user: 'writer', ttlSeconds: 600 },
      as('admin'),
    );
    const byToken = createClient({
      nodes,
      auth: { token: String(made.body.token) },
      healthCheckIntervalMs: 0,
    });
    try {
      await until('every node to accept the token', async () => {
        const answers = await Promise.all(
          ids.map((id) =>
            call('GET', url(id, '/v1/cluster'), undefined, bearer(String(made.body.token))),
          ),
        );
        return answers.every((answer) => answer.status === 200);
      });
      await byToken.sql.execute('INSERT INTO t VALUES (2, ?)', ['token']);
      assert.deepEqual(await byToken.sql.query('SELECT v FROM t WHERE id = 2'), [{ v: 'token' }]);
    } finally {
      byToken.close();
    }
    assert.throws(() => createClient({ nodes, auth: { user: 'a:b', password: 'x' } }), TypeError);
  } finally {
    for (const client of [writer, reader, stranger, wrong]) client.close();
  }
  assert.equal(await valueOn(leader, 'client:k'), 'v');
});

test('tandem status and promote take --user and --password, or TANDEM_USER and TANDEM_PASSWORD', () => {
  // Goal: the admin CLI authenticates with Basic; without credentials it says 401.
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [cli, ...args], {
      encoding: 'utf8',
      env: { ...process.env, TANDEM_USER: '', TANDEM_PASSWORD: '', ...env },
      timeout: 20_000,
    });
  const at = ['--url', cluster.url(followers[0])];
  const ok = run(['status', ...at, '--user', 'reader', '--password', passwords.reader]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`leader ${leader}, term \\d+`));
  for (const id of ids) assert.match(ok.stdout, new RegExp(`\\b${id}\\b`));
  const fromEnv = run(['status', ...at], {
    TANDEM_USER: 'admin',
    TANDEM_PASSWORD: passwords.admin,
  });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
  const none = run(['status', ...at]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /TANDEM_UNAUTHENTICATED/);
  const promote = run([
    'promote',
    followers[1],
    ...at,
    '--user',
    'writer',
    '--password',
    passwords.writer,
  ]);
  assert.equal(promote.status, 1);
  assert.match(promote.stderr, /TANDEM_FORBIDDEN: user writer lacks the admin role/);
  const half = run(['status', ...at, '--user', 'admin']);
  assert.equal(half.status, 2);
  assert.match(half.stderr, /--password/);
});
