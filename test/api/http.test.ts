/**
 * Tests of the HTTP layer's own duties: input validation, the error shape, and forwarding
 * to the leader. The node behind it is a fake that records what reached it; by our rules
 * a fake is only for these checks. What the node does for real (writes, reads at each
 * level, compare-and-set, membership) is covered by the cluster tests against real nodes.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildHttpServer, httpBodyBytesMax } from '../../src/api/http/server.js';
import { TandemError } from '../../src/core/errors.js';
import type { NodeHandle, NodeStatus, ReadOptions, WriteResult } from '../../src/node/api.js';
import type { Command } from '../../src/store/index.js';
import { AccessControl } from '../../src/access/control.js';
import { sha256Hex } from '../../src/access/passwords.js';
import { emptyAccessState } from '../../src/store/access-state.js';
import { makeCertificates, opensslAvailable } from '../transport/helpers.js';

/** What the fake node was asked, and how it answers. */
interface FakeNode extends NodeHandle {
  readonly writes: Command[];
  readonly reads: ReadOptions[];
  onWrite: (command: Command) => WriteResult;
  onRead: (options: ReadOptions) => unknown;
  leaderUrl: string | null;
  leaderId: string | null;
}

function fakeNode(): FakeNode {
  const node: FakeNode = {
    id: 'n2',
    writes: [],
    reads: [],
    onWrite: () => ({ index: 7, term: 2, result: { ok: true, value: 'OK' } }),
    onRead: () => null,
    leaderUrl: null,
    leaderId: null,
    async write(command) {
      node.writes.push(command);
      return node.onWrite(command);
    },
    async read<T>(options: ReadOptions) {
      node.reads.push(options);
      return { value: node.onRead(options) as T, appliedIndex: 7 };
    },
    // The HTTP layer always reads through `read`; the fast path is RESP's.
    readNow: () => null,
    status: () =>
      ({ role: 'follower', leaderId: node.leaderId, httpUrl: 'http://n2' }) as NodeStatus,
    applied: () => ({ index: 7, term: 2 }),
    accessState: () => emptyAccessState,
    leaderHttpUrl: () => node.leaderUrl,
    leaderRespAddress: () => null,
    respAddress: () => null,
    leaderRespTlsAddress: () => null,
    onApplied: () => () => {},
    setKeyEvents: () => {},
    backup: () => Promise.reject(new Error('the fake node takes no backups')),
    promote: async () => {},
    addMember: async () => {},
    removeMember: async () => {},
    setTopology: async () => {},
    metrics: async () => '# HELP tandem_fake_total A fake.\n# TYPE tandem_fake_total counter\n',
    ready: () => true,
  };
  return node;
}

async function server(t: TestContext, node: NodeHandle, bodyLimitBytes?: number) {
  const app = buildHttpServer(node, { logger: false, bodyLimitBytes });
  t.after(() => app.close());
  await app.ready();
  return app;
}

function notLeader(): never {
  throw new TandemError('TANDEM_NOT_LEADER', 'n2 is not the leader', { leaderId: 'n1' });
}

const json = { 'content-type': 'application/json' };

test('malformed JSON and wrong content types are 400 TANDEM_BAD_REQUEST', async (t) => {
  // Goal: a body the server cannot parse never reaches the node and gets the error shape.
  const node = fakeNode();
  const app = await server(t, node);
  for (const [headers, payload] of [
    [json, '{"value": "x"'],
    [json, ''],
    [{ 'content-type': 'text/plain' }, 'x'],
  ] as const) {
    const answer = await app.inject({ method: 'PUT', url: '/v1/kv/a', headers, payload });
    assert.equal(answer.statusCode, 400, payload);
    const body = answer.json();
    assert.equal(body.code, 'TANDEM_BAD_REQUEST');
    assert.equal(typeof body.message, 'string');
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
  }
  assert.equal(node.writes.length, 0);
});

test('every route refuses wrong types and unknown fields with a message naming the field', async (t) => {
  // Goal: schema validation runs on every route, without type coercion, and says what is wrong.
  const node = fakeNode();
  const app = await server(t, node);
  const cases: [string, string, unknown, RegExp][] = [
    ['PUT', '/v1/kv/a', { value: 1 }, /body\.value must be string/],
    ['PUT', '/v1/kv/a', { value: 'x', ttlMs: '5' }, /body\.ttlMs must be integer/],
    ['PUT', '/v1/kv/a', { value: 'x', ttlMs: 0 }, /body\.ttlMs/],
    ['PUT', '/v1/kv/a', { value: 'x', colour: 'red' }, /unknown field "colour"/],
    ['PUT', '/v1/kv/a', {}, /value/],
    ['GET', '/v1/kv/', undefined, /params\.key must NOT have fewer than 1 characters/],
    ['PUT', '/v1/kv/a?ack=maybe', { value: 'x' }, /querystring\.ack must be one of/],
    ['GET', '/v1/kv/a?consistency=strong', undefined, /querystring\.consistency/],
    ['GET', '/v1/kv/a?after=-1', undefined, /querystring\.after must be a log index/],
    ['GET', '/v1/kv/a?after=99999999999999999', undefined, /after must be a log index/],
    [
      'POST',
      '/v1/sql',
      { sql: 'SELECT 1', params: [{}] },
      /body\.params must be an array or a map/,
    ],
    ['POST', '/v1/sql', { statements: [] }, /body\.statements/],
    ['POST', '/v1/sql', { statements: [{ sql: 'SELECT 1' }], sql: 'SELECT 2' }, /not both/],
    ['POST', '/v1/sql', {}, /needs statements or sql/],
    ['POST', '/v1/query', { sql: 'SELECT 1', after: 'x' }, /body\.after must be integer/],
    ['POST', '/v1/cluster/promote', { id: 'n 1' }, /body\.id must be a node id/],
    ['POST', '/v1/cluster/members', { id: 'n4', address: 'host' }, /host:port/],
    ['POST', '/v1/cluster/members', { id: 'n4', address: 'h:70000' }, /host:port/],
    ['POST', '/v1/cluster/members', { id: 'n4', address: 'h:1', learner: 'yes' }, /learner/],
  ];
  for (const [method, url, body, message] of cases) {
    const answer = await app.inject({
      method: method as 'GET',
      url,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    assert.equal(answer.statusCode, 400, `${method} ${url} ${JSON.stringify(body)}`);
    assert.equal(answer.json().code, 'TANDEM_BAD_REQUEST');
    assert.match(answer.json().message, message);
  }
  assert.deepEqual([node.writes.length, node.reads.length], [0, 0]);
});

test('SQL bodies and answers keep integers past 2^53 exact; other JSON reads as before', async (t) => {
  // Goal: JSON.parse would round 9007199254740993 to ...992 and JSON.stringify cannot write
  // a bigint: the SQL routes read such integers as bigints and write them as their digits.
  const node = fakeNode();
  node.onWrite = () => ({
    index: 7,
    term: 2,
    result: { ok: true, value: [{ rows: [{ v: 9223372036854775807n, n: 5, s: 'x' }] }] },
  });
  node.onRead = () => [{ v: -9223372036854775808n, r: 1.5 }];
  const app = await server(t, node);
  const post = (url: string, payload: string) =>
    app.inject({ method: 'POST', url, headers: json, payload });

  const written = await post(
    '/v1/sql',
    '{"sql": "SELECT ?", "params": [9007199254740993, 12, 1.5, "12345678901234567", 1e300, -9223372036854775808]}',
  );
  assert.equal(written.statusCode, 200, written.body);
  assert.equal(
    written.body,
    '{"index":7,"term":2,"results":[{"rows":[{"v":9223372036854775807,"n":5,"s":"x"}]}]}',
  );
  const [command] = node.writes;
  assert.deepEqual(command.type === 'sql' ? command.statements[0].params : null, [
    9007199254740993n,
    12,
    1.5,
    '12345678901234567',
    1e300,
    -9223372036854775808n,
  ]);
  const read = await post('/v1/query', '{"sql": "SELECT ?", "params": {"v": 9223372036854775807}}');
  assert.equal(read.statusCode, 200, read.body);
  assert.equal(read.body, '{"rows":[{"v":-9223372036854775808,"r":1.5}],"appliedIndex":7}');

  // Past int8, SQL cannot store the integer exactly: refused, never rounded.
  for (const outside of ['9223372036854775808', '-9223372036854775809', '1' + '0'.repeat(30)]) {
    const refused = await post('/v1/sql', `{"sql": "SELECT ?", "params": [${outside}]}`);
    assert.equal(refused.statusCode, 400, outside);
    assert.match(refused.json().message, /body\.params must be .*integers from -2\^63 to 2\^63-1/);
  }
  // A long body still meets fastify's own checks: syntax and prototype keys.
  for (const bad of [
    '{"sql": "SELECT ?", "params": [9007199254740993',
    '{"sql": "SELECT ?", "params": {"__proto__": 9007199254740993}}',
  ]) {
    const refused = await post('/v1/sql', bad);
    assert.equal(refused.statusCode, 400, bad);
    assert.equal(refused.json().code, 'TANDEM_BAD_REQUEST');
  }
  assert.equal(node.writes.length, 1);
});

test('a malformed If-Match is refused; a well-formed one becomes compare-and-set', async (t) => {
  // Goal: If-Match parses to ifVersion (or xx for *) and garbage is a 400, not a blind write.
  const node = fakeNode();
  const app = await server(t, node);
  const put = (ifMatch: string) =>
    app.inject({
      method: 'PUT',
      url: '/v1/kv/k',
      headers: { 'if-match': ifMatch },
      payload: { value: 'v' },
    });
  for (const bad of ['"1"', 'W/"1.2"', '"a.b"', '"1.2.3"']) {
    const answer = await put(bad);
    assert.equal(answer.statusCode, 400, bad);
    assert.match(answer.json().message, /If-Match/);
  }
  assert.equal(node.writes.length, 0);
  assert.equal((await put('"12.3"')).statusCode, 200);
  assert.equal((await put('*')).statusCode, 200);
  assert.deepEqual(
    node.writes.map((command) => command.type === 'set' && [command.ifVersion, command.condition]),
    [
      [{ index: 12, term: 3 }, undefined],
      [undefined, 'xx'],
    ],
  );
});

test('conditional headers become command fields, and a refused one never reaches the node', async (t) => {
  // Goal: PUT If-None-Match * is SET NX, DELETE If-Match is compare-and-delete (412 when
  // nothing was deleted), a conditional header a route does not honour is a 400 before the
  // node sees anything, and an unknown route stays a 404.
  const node = fakeNode();
  const app = await server(t, node);
  const created = await app.inject({
    method: 'PUT',
    url: '/v1/kv/k',
    headers: { 'if-none-match': '*' },
    payload: { value: 'v' },
  });
  assert.equal(created.statusCode, 200);
  node.onWrite = () => ({ index: 8, term: 2, result: { ok: true, value: 0 } });
  const stale = await app.inject({
    method: 'DELETE',
    url: '/v1/kv/k',
    headers: { 'if-match': '"3.1"' },
  });
  assert.equal(stale.statusCode, 412);
  assert.equal(stale.json().code, 'TANDEM_PRECONDITION_FAILED');
  const absent = await app.inject({
    method: 'DELETE',
    url: '/v1/kv/k',
    headers: { 'if-match': '*' },
  });
  assert.equal(absent.statusCode, 412);
  const plain = await app.inject({ method: 'DELETE', url: '/v1/kv/k' });
  assert.equal(plain.statusCode, 200, 'without If-Match, deleting nothing is no failure');
  assert.deepEqual(
    node.writes.map((command) =>
      command.type === 'set'
        ? command.condition
        : command.type === 'del' && (command.ifVersion ?? null),
    ),
    ['nx', { index: 3, term: 1 }, null, null],
  );
  const tags = Array.from({ length: 65 }, (_, i) => `"${i}.1"`).join(', ');
  for (const [method, url, headers] of [
    ['GET', '/v1/kv/k', { 'if-none-match': tags }],
    ['GET', '/v1/kv/k', { 'if-modified-since': new Date(0).toUTCString() }],
    ['POST', '/v1/sql', { 'if-match': '*' }],
  ] as const) {
    const refused = await app.inject({ method, url, headers, payload: { sql: 'SELECT 1' } });
    assert.equal(refused.statusCode, 400, `${method} ${url} ${JSON.stringify(headers)}`);
    assert.match(refused.json().message, /If-/);
  }
  assert.equal(node.writes.length, 4);
  assert.equal(node.reads.length, 0);
  const unknown = await app.inject({
    method: 'GET',
    url: '/v2/nothing',
    headers: { 'if-match': '*' },
  });
  assert.equal(unknown.statusCode, 404);
});

test('If-None-Match reaches the leader with a forwarded write', async (t) => {
  // Goal: the create-only condition is not lost on the hop from a follower to the leader.
  const { leader, app } = await forwardingFollower(t);
  const answer = await app.inject({
    method: 'PUT',
    url: '/v1/kv/k',
    headers: { 'if-none-match': '*' },
    payload: { value: 'v' },
  });
  assert.equal(answer.statusCode, 200);
  assert.equal(leader.received[0]?.headers['if-none-match'], '*');
});

test('bodies over the limit are 413 TANDEM_ENTRY_TOO_LARGE', async (t) => {
  // Goal: the default 1 MiB limit and a configured one both hold, with the Tandem code.
  const node = fakeNode();
  const app = await server(t, node);
  const big = { value: 'x'.repeat(httpBodyBytesMax) };
  const answer = await app.inject({ method: 'PUT', url: '/v1/kv/a', payload: big });
  assert.equal(answer.statusCode, 413);
  assert.equal(answer.json().code, 'TANDEM_ENTRY_TOO_LARGE');

  const small = await server(t, fakeNode(), 64);
  const refused = await small.inject({
    method: 'POST',
    url: '/v1/sql',
    payload: { sql: 'x'.repeat(64) },
  });
  assert.equal(refused.statusCode, 413);
  assert.equal(refused.json().code, 'TANDEM_ENTRY_TOO_LARGE');
  assert.equal(node.writes.length, 0);
});

test('keys over 512 UTF-8 bytes are 400 on every key route; 512 bytes pass', async (t) => {
  // Goal: the key limit counts bytes, not characters, and applies to reads as well as writes.
  const node = fakeNode();
  const app = await server(t, node);
  const tooLong = encodeURIComponent('é'.repeat(257)); // 514 bytes
  for (const method of ['GET', 'PUT', 'DELETE'] as const) {
    const answer = await app.inject({
      method,
      url: `/v1/kv/${tooLong}`,
      ...(method === 'PUT' ? { payload: { value: 'v' } } : {}),
    });
    assert.equal(answer.statusCode, 400, method);
    assert.match(answer.json().message, /514 bytes, over the maximum of 512/);
  }
  assert.deepEqual([node.writes.length, node.reads.length], [0, 0]);

  const longest = 'é'.repeat(256);
  const put = await app.inject({
    method: 'PUT',
    url: `/v1/kv/${encodeURIComponent(longest)}`,
    payload: { value: 'v' },
  });
  assert.equal(put.statusCode, 200);
  assert.deepEqual(node.writes[0].type === 'set' && node.writes[0].key, Buffer.from(longest));
});

test('keys with the prefix of databases 1 to 15 are 400 on every key route', async (t) => {
  // Goal: the key routes are database 0's; the stored form of another database's keys
  // (0xFF 0x00 "db" ...) is refused before it reaches the node, as RESP refuses it.
  const node = fakeNode();
  const app = await server(t, node);
  for (const method of ['GET', 'PUT', 'DELETE'] as const) {
    const answer = await app.inject({
      method,
      url: '/v1/kv/%FF%00db%01:k',
      ...(method === 'PUT' ? { payload: { value: 'v' } } : {}),
    });
    assert.equal(answer.statusCode, 400, method);
    assert.match(answer.json().message, /reserved for databases 1 to 15/);
  }
  assert.deepEqual([node.writes.length, node.reads.length], [0, 0]);
  const near = await app.inject({ method: 'PUT', url: '/v1/kv/%FF%00da', payload: { value: 'v' } });
  assert.equal(near.statusCode, 200, 'a key that only begins like the prefix is a key');
});

test('unknown routes and methods are 404 TANDEM_NOT_FOUND in the error shape', async (t) => {
  // Goal: the not-found handler answers in the same shape as every other error.
  const app = await server(t, fakeNode());
  for (const [method, url] of [
    ['GET', '/nope'],
    ['PATCH', '/v1/kv/a'],
    ['GET', '/v1/sql?x=1'],
  ] as const) {
    const answer = await app.inject({ method, url });
    assert.equal(answer.statusCode, 404, `${method} ${url}`);
    assert.equal(answer.json().code, 'TANDEM_NOT_FOUND');
    assert.match(answer.json().message, /no route/);
  }
});

test("the node's errors keep their code and status; unexpected ones become a 500 in shape", async (t) => {
  // Goal: a TandemError maps to its httpStatus (with Retry-After when transient), and a
  // bug's exception still answers JSON { code, message } instead of fastify's default.
  const node = fakeNode();
  const app = await server(t, node);
  const put = () => app.inject({ method: 'PUT', url: '/v1/kv/a', payload: { value: 'v' } });
  node.onWrite = () => {
    throw new TandemError('TANDEM_SYNC_TIMEOUT', 'replicas did not answer');
  };
  let answer = await put();
  assert.equal(answer.statusCode, 504);
  assert.deepEqual(answer.json(), {
    code: 'TANDEM_SYNC_TIMEOUT',
    message: 'replicas did not answer',
  });
  node.onWrite = () => {
    throw new TandemError('TANDEM_TOO_MANY_PENDING', 'queue full');
  };
  answer = await put();
  assert.equal(answer.statusCode, 429);
  assert.equal(answer.headers['retry-after'], '1');
  node.onWrite = () => {
    throw new Error('boom');
  };
  answer = await put();
  assert.equal(answer.statusCode, 500);
  assert.equal(answer.json().code, 'TANDEM_STORAGE_FAILED');
  assert.match(answer.json().message, /boom/);
});

/** A stand-in leader: a plain fastify that records what it receives and answers 200. */
async function recordingLeader(t: TestContext) {
  const received: {
    method: string;
    url: string;
    headers: Record<string, unknown>;
    body: unknown;
  }[] = [];
  // The router would refuse a path that is not UTF-8 once decoded (caf%E9): keep it whole.
  const leader: FastifyInstance = Fastify({
    rewriteUrl: (request) => (request.url ?? '/').replaceAll('%', '%25'),
  });
  leader.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_r, body, done) =>
    done(null, body),
  );
  leader.all('/*', async (request, reply) => {
    received.push({
      method: request.method,
      url: request.originalUrl,
      headers: request.headers,
      body: request.body,
    });
    reply.header('etag', '"9.2"').header('x-unrelated', 'no');
    return { from: 'leader' };
  });
  const url = await leader.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => leader.close());
  return { url, received };
}

/**
 * A follower's HTTP server: its node refuses writes as not leader and names the recording
 * stand-in leader (with `leaderId` when given), where requests are forwarded.
 */
async function forwardingFollower(t: TestContext, leaderId?: string) {
  const leader = await recordingLeader(t);
  const node = fakeNode();
  node.onWrite = notLeader;
  node.leaderUrl = leader.url;
  if (leaderId !== undefined) node.leaderId = leaderId;
  const app = await server(t, node);
  return { leader, node, app };
}

test('a write refused as not-leader is forwarded once, and the answer names the leader', async (t) => {
  // Goal: method, path, query, body and If-Match reach the leader with X-Tandem-Forwarded,
  // and the leader's status, body and ETag come back with X-Tandem-Leader.
  const { leader, node, app } = await forwardingFollower(t, 'n1');
  const answer = await app.inject({
    method: 'PUT',
    url: '/v1/kv/greeting?ack=sync',
    // Without users `default` takes any password.
    headers: { 'if-match': '"3.1"', authorization: `Basic ${btoa('default:x')}` },
    payload: { value: 'hello', ttlMs: 1000 },
  });
  assert.equal(answer.statusCode, 200);
  assert.deepEqual(answer.json(), { from: 'leader' });
  assert.equal(answer.headers['x-tandem-leader'], 'n1');
  assert.equal(answer.headers.etag, '"9.2"');
  assert.equal(answer.headers['x-unrelated'], undefined);
  assert.equal(leader.received.length, 1);
  const [forwarded] = leader.received;
  assert.equal(forwarded.method, 'PUT');
  assert.equal(forwarded.url, '/v1/kv/greeting?ack=sync');
  assert.deepEqual(forwarded.body, { value: 'hello', ttlMs: 1000 });
  assert.equal(forwarded.headers['if-match'], '"3.1"');
  assert.equal(forwarded.headers['x-tandem-forwarded'], '1');
  assert.equal(forwarded.headers.authorization, `Basic ${btoa('default:x')}`, 'checked again');

  // A bounded read that trails too far goes to the leader too.
  node.onRead = () => {
    throw new TandemError('TANDEM_NOT_CAUGHT_UP', 'lagging');
  };
  const read = await app.inject({
    method: 'GET',
    url: '/v1/kv/greeting?consistency=bounded&maxLag=5',
  });
  assert.equal(read.statusCode, 200);
  assert.equal(leader.received[1].url, '/v1/kv/greeting?consistency=bounded&maxLag=5');
  assert.equal(leader.received[1].method, 'GET');
});

test('a forwarded request that lands on a non-leader is answered, never forwarded again', async (t) => {
  // Goal: no forwarding loops: the second hop answers 421 naming the leader it believes in.
  const { leader, app } = await forwardingFollower(t);
  const answer = await app.inject({
    method: 'DELETE',
    url: '/v1/kv/a',
    headers: { 'x-tandem-forwarded': '1' },
  });
  assert.equal(answer.statusCode, 421);
  assert.deepEqual(answer.json(), {
    code: 'TANDEM_NOT_LEADER',
    message: 'n2 is not the leader',
    leaderId: 'n1',
  });
  assert.equal(leader.received.length, 0);
});

test('with no leader known, or none reachable, the answer is 503 with Retry-After', async (t) => {
  // Goal: a follower without a usable leader says so plainly and invites a retry.
  const node = fakeNode();
  node.onWrite = notLeader;
  const app = await server(t, node);
  const post = () =>
    app.inject({ method: 'POST', url: '/v1/sql', payload: { sql: 'DELETE FROM t' } });
  let answer = await post();
  assert.equal(answer.statusCode, 503);
  assert.equal(answer.json().code, 'TANDEM_NO_LEADER');
  assert.equal(answer.headers['retry-after'], '1');

  const gone = Fastify();
  const url = await gone.listen({ host: '127.0.0.1', port: 0 });
  await gone.close(); // nothing listens there any more
  node.leaderUrl = url;
  answer = await post();
  assert.equal(answer.statusCode, 503);
  assert.equal(answer.json().code, 'TANDEM_NO_LEADER');
  assert.match(answer.json().message, /ECONNREFUSED/);
});

test('the OpenAPI document describes every route from its schema', async (t) => {
  // Goal: /openapi.json is an OpenAPI 3 document generated from the route schemas.
  const app = await server(t, fakeNode());
  const answer = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(answer.statusCode, 200);
  const document = answer.json();
  assert.match(document.openapi, /^3\./);
  assert.deepEqual(Object.keys(document.paths['/v1/kv/{key}']).sort(), ['delete', 'get', 'put']);
  for (const path of [
    '/v1/sql',
    '/v1/query',
    '/v1/cluster',
    '/v1/cluster/members/{id}',
    '/metrics',
  ]) {
    assert.ok(document.paths[path], path);
  }
  assert.equal(document.paths['/openapi.json'], undefined);
  const putContent = document.paths['/v1/kv/{key}'].put.requestBody.content;
  assert.deepEqual(putContent['application/json'].schema.oneOf, [
    { required: ['value'] },
    { required: ['valueBase64'] },
  ]);
  assert.ok(putContent['application/octet-stream'], 'a PUT takes raw bytes');
  const getAnswer = document.paths['/v1/kv/{key}'].get.responses['200'].content['application/json'];
  assert.ok(getAnswer.schema.properties.valueBase64, 'a GET may answer base64');
});

test('metrics append the HTTP request counter, by route pattern, to the node text', async (t) => {
  // Goal: /metrics serves the node's text plus requests counted by route pattern and status.
  const app = await server(t, fakeNode());
  await app.inject({ method: 'GET', url: '/nope/at/all' });
  await app.inject({ method: 'GET', url: '/healthz' });
  const answer = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(answer.statusCode, 200);
  assert.match(answer.headers['content-type'] as string, /^text\/plain/);
  assert.match(answer.body, /^# HELP tandem_fake_total/);
  assert.match(
    answer.body,
    /tandem_http_requests_total\{method="GET",route="\/healthz",status="200",node="n2"\} 1/,
  );
  assert.match(
    answer.body,
    /tandem_http_requests_total\{method="GET",route="unmatched",status="404",node="n2"\} 1/,
  );
  // The process's own metrics, with the node label.
  assert.match(answer.body, /^process_cpu_user_seconds_total\{node="n2"\} [0-9.e-]+$/m);
  assert.match(answer.body, /^nodejs_eventloop_lag_seconds\{node="n2"\} /m);
  assert.match(answer.body, /^nodejs_heap_size_used_bytes\{node="n2"\} /m);
});

/** A read entry of the fake node's store. */
function entryOf(value: Buffer) {
  return { value, version: { index: 5, term: 2 }, expiresAt: null };
}

test('PUT takes a value as JSON text, as base64 or as raw bytes; the node gets those bytes', async (t) => {
  // Goal: every way to give a value reaches the command as the exact bytes, and keys in
  // the URL are percent-encoded bytes, not only UTF-8.
  const node = fakeNode();
  const app = await server(t, node);
  const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
  const ok = [
    { url: '/v1/kv/t', payload: { value: 'café' } },
    { url: '/v1/kv/b64', payload: { valueBase64: cafe.toString('base64') } },
    {
      url: '/v1/kv/%FF%00k?ttlMs=5000',
      headers: { 'content-type': 'application/octet-stream' },
      payload: cafe,
    },
    { url: '/v1/kv/caf%E9', payload: { valueBase64: '' } },
  ];
  for (const request of ok) {
    const answer = await app.inject({ method: 'PUT', ...request });
    assert.equal(answer.statusCode, 200, `${request.url} ${answer.body}`);
  }
  const sets = node.writes.map((command) =>
    command.type === 'set' ? [command.key, command.value, command.expiresAt] : null,
  );
  assert.deepEqual(
    sets.map((set) => set?.slice(0, 2)),
    [
      [Buffer.from('t'), Buffer.from('café')],
      [Buffer.from('b64'), cafe],
      [Buffer.from([0xff, 0x00, 0x6b]), cafe],
      [cafe, Buffer.alloc(0)],
    ],
  );
  assert.equal(typeof sets[2]?.[2], 'number', 'ttlMs in the query with a raw body');
  const binaryKey = await app.inject({ method: 'PUT', url: '/v1/kv/%FF', payload: { value: 'x' } });
  assert.deepEqual(binaryKey.json(), {
    keyBase64: '/w==',
    version: { index: 7, term: 2 },
    index: 7,
    term: 2,
  });

  const refused = [
    { url: '/v1/kv/a', payload: { value: 'x', valueBase64: 'eA==' } },
    { url: '/v1/kv/a', payload: { valueBase64: 'eA' } },
    { url: '/v1/kv/a', payload: { valueBase64: 'e A=' } },
    { url: '/v1/kv/a%zz', payload: { value: 'x' } },
    { url: '/v1/kv/a%F', payload: { value: 'x' } },
    { url: '/v1/kv/a?ttlMs=5', payload: { value: 'x', ttlMs: 5 } },
    { url: '/v1/kv/a', headers: { 'content-type': 'text/plain' }, payload: 'x' },
  ];
  for (const request of refused) {
    const answer = await app.inject({ method: 'PUT', ...request });
    assert.equal(answer.statusCode, 400, `${request.url} ${JSON.stringify(request.payload)}`);
    assert.equal(answer.json().code, 'TANDEM_BAD_REQUEST');
  }
  assert.equal(node.writes.length, 5, 'nothing refused reached the node');
});

test('GET answers text as value, other bytes as valueBase64, and raw bytes on Accept: application/octet-stream', async (t) => {
  // Goal: a client always gets a value's exact bytes, whatever they are.
  const node = fakeNode();
  const app = await server(t, node);
  const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
  node.onRead = () => entryOf(Buffer.from('naïve ☃'));
  const text = await app.inject({ method: 'GET', url: '/v1/kv/caf%C3%A9' });
  assert.deepEqual(text.json(), {
    key: 'café',
    value: 'naïve ☃',
    version: { index: 5, term: 2 },
    expiresAt: null,
  });
  node.onRead = () => entryOf(cafe);
  const binary = await app.inject({ method: 'GET', url: '/v1/kv/%FF%00' });
  assert.deepEqual(binary.json(), {
    keyBase64: '/wA=',
    valueBase64: cafe.toString('base64'),
    version: { index: 5, term: 2 },
    expiresAt: null,
  });
  const raw = await app.inject({
    method: 'GET',
    url: '/v1/kv/k',
    headers: { accept: 'application/octet-stream' },
  });
  assert.equal(raw.statusCode, 200);
  assert.equal(raw.headers['content-type'], 'application/octet-stream');
  assert.equal(raw.headers.etag, '"5.2"');
  assert.deepEqual(raw.rawPayload, cafe);
  node.onRead = () => null;
  const missing = await app.inject({
    method: 'GET',
    url: '/v1/kv/caf%E9',
    headers: { accept: 'application/octet-stream' },
  });
  assert.equal(missing.statusCode, 404);
  assert.match(missing.json().message, /key 0x636166e9 does not exist/);
});

test('a raw-bytes PUT refused as not-leader reaches the leader with the same bytes and URL', async (t) => {
  // Goal: forwarding keeps an application/octet-stream body and a percent-encoded key exact.
  const { leader, app } = await forwardingFollower(t, 'n1');
  const bytes = Buffer.from([0x00, 0xff, 0xe9, 0x0a]);
  const answer = await app.inject({
    method: 'PUT',
    url: '/v1/kv/caf%E9?ttlMs=100',
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  assert.equal(answer.statusCode, 200);
  const [forwarded] = leader.received;
  assert.equal(forwarded?.url, '/v1/kv/caf%E9?ttlMs=100');
  assert.equal(forwarded?.headers['content-type'], 'application/octet-stream');
  assert.deepEqual(forwarded?.body, bytes);
});

/** Users of every role, with Redis-style SHA-256 password hashes (cheap to check). */
function usersOfEveryRole(): AccessControl {
  const user = (name: string, role: string) => ({
    name,
    rules: ['on', `#${sha256Hex(`${name}-pw`)}`, '~*', `+@${role}`],
  });
  return new AccessControl({
    state: () => emptyAccessState,
    bootstrap: [user('r', 'read'), user('w', 'write'), user('a', 'admin')],
  });
}

const basicOf = (name: string) => `Basic ${Buffer.from(`${name}:${name}-pw`).toString('base64')}`;

test('every route declares its role, and a route without one cannot be added', async (t) => {
  // Goal: the role table holds for every route the OpenAPI document lists: without
  // credentials 401 (open routes excepted), a weaker role 403, the role itself passes;
  // and registering a route that declares no role throws.
  const node = fakeNode();
  node.status = () => ({ role: 'leader', leaderId: 'n2', httpUrl: 'http://n2' }) as NodeStatus;
  const app = buildHttpServer(node, { logger: false, access: usersOfEveryRole() });
  t.after(() => app.close());
  assert.throws(() => app.get('/v1/unchecked', async () => 'x'), /declares no role/);
  await app.ready();
  const table: [string, string, unknown, 'open' | 'read' | 'write' | 'admin'][] = [
    ['GET', '/healthz', undefined, 'open'],
    ['GET', '/readyz', undefined, 'open'],
    ['GET', '/metrics', undefined, 'open'],
    ['GET', '/openapi.json', undefined, 'read'],
    ['GET', '/v1/kv/k', undefined, 'read'],
    ['POST', '/v1/query', { sql: 'SELECT 1' }, 'read'],
    ['GET', '/v1/cluster', undefined, 'read'],
    ['PUT', '/v1/kv/k', { value: 'v' }, 'write'],
    ['DELETE', '/v1/kv/k', undefined, 'write'],
    ['POST', '/v1/sql', { sql: 'INSERT INTO t VALUES (1)' }, 'write'],
    ['POST', '/v1/sql', { sql: 'CREATE TABLE t (a)' }, 'admin'],
    ['POST', '/v1/cluster/promote', { id: 'n3' }, 'admin'],
    ['POST', '/v1/cluster/members', { id: 'n4', address: '127.0.0.1:7004' }, 'admin'],
    ['POST', '/v1/cluster/topology', { topology: 'chain' }, 'admin'],
    ['DELETE', '/v1/cluster/members/n3', undefined, 'admin'],
    ['GET', '/v1/auth/users', undefined, 'admin'],
    ['GET', '/v1/auth/users/r', undefined, 'admin'],
    ['PUT', '/v1/auth/users/x', { roles: ['read'] }, 'admin'],
    ['DELETE', '/v1/auth/users/x', undefined, 'admin'],
    ['POST', '/v1/auth/tokens', { ttlSeconds: 60 }, 'admin'],
    ['GET', '/v1/auth/tokens', undefined, 'admin'],
    ['DELETE', '/v1/auth/tokens/0123456789abcdef', undefined, 'admin'],
    ['GET', '/v1/auth/whoami', undefined, 'read'],
    // Any user: each command then needs its own role (this node has no RESP runner).
    ['POST', '/v1/command', { args: ['PING'] }, 'read'],
    ['GET', '/v1/backup', undefined, 'admin'],
  ];
  const roles = ['read', 'write', 'admin'];
  for (const [method, url, payload, role] of table) {
    const what = `${method} ${url}`;
    const anonymous = await app.inject({ method, url, payload: payload as object });
    if (role === 'open') {
      assert.ok(anonymous.statusCode < 400, what);
      continue;
    }
    assert.equal(anonymous.statusCode, 401, what);
    assert.equal(anonymous.headers['www-authenticate'], 'Basic realm="tandem", Bearer');
    for (const [i, user] of ['r', 'w', 'a'].entries()) {
      const answer = await app.inject({
        method,
        url,
        payload: payload as object,
        headers: { authorization: basicOf(user) },
      });
      if (i < roles.indexOf(role)) {
        assert.equal(answer.statusCode, 403, `${what} as ${user}`);
        // A reader's DDL lacks the route's write role before the statement's admin role.
        assert.match(answer.json().message, new RegExp(`^user ${user} lacks the \\w+ role`));
      } else {
        assert.ok(![401, 403].includes(answer.statusCode), `${what} as ${user}: ${answer.body}`);
      }
    }
  }
  // The table covers every route the document lists (and the document itself).
  const listed = await app.inject({
    method: 'GET',
    url: '/openapi.json',
    headers: { authorization: basicOf('r') },
  });
  const documented = Object.entries(listed.json().paths as Record<string, object>).flatMap(
    ([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
  // A route's pattern from the URL the table uses: its last segment is the parameter.
  const parameters: Record<string, string> = {
    '/v1/kv/k': '/v1/kv/:key',
    '/v1/cluster/members/n3': '/v1/cluster/members/:id',
    '/v1/auth/users/r': '/v1/auth/users/:name',
    '/v1/auth/users/x': '/v1/auth/users/:name',
    '/v1/auth/tokens/0123456789abcdef': '/v1/auth/tokens/:id',
  };
  const covered = new Set(table.map(([method, url]) => `${method} ${parameters[url] ?? url}`));
  for (const route of documented) assert.ok(covered.has(route), `${route} is in the table`);
  // Every refusal and admin action is counted on /metrics.
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  assert.match(metrics.body, /tandem_admin_actions_total\{action="promote"\} 1/);
  assert.match(metrics.body, /tandem_admin_actions_total\{action="sql-ddl"\} 1/);
});

test('wrong credentials are counted and slowed; --metrics-auth makes /metrics need read', async (t) => {
  // Goal: a failed authentication goes through the audit (counted, then delayed per address),
  // and metricsAuth turns the open /metrics into a read route.
  const access = usersOfEveryRole();
  const app = buildHttpServer(fakeNode(), { logger: false, access, metricsAuth: true });
  t.after(() => app.close());
  await app.ready();
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const wrong = { authorization: `Basic ${Buffer.from('r:nope').toString('base64')}` };
  let slowest = 0;
  for (let i = 0; i < 7; i++) {
    const started = Date.now();
    const answer = await app.inject({ method: 'GET', url: '/v1/cluster', headers: wrong });
    assert.equal(answer.statusCode, 401);
    slowest = Math.max(slowest, Date.now() - started);
  }
  assert.ok(slowest >= 150, `the 7th failure waited ${slowest} ms`);
  const metrics = await app.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: basicOf('r') },
  });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /tandem_auth_failures_total\{port="http"\} 7/);
});

test('with no users every request is the admin default, and credentials are not needed', async (t) => {
  // Goal: open mode works without credentials, as before users existed.
  const node = fakeNode();
  node.onWrite = () => ({ index: 7, term: 2, result: { ok: true, value: [] } });
  const app = await server(t, node);
  const me = await app.inject({ method: 'GET', url: '/v1/auth/whoami' });
  assert.equal(me.statusCode, 200);
  assert.deepEqual(me.json(), {
    user: 'default',
    roles: ['read', 'write', 'admin'],
    keys: ['*'],
    via: 'open',
  });
  const ddl = await app.inject({
    method: 'POST',
    url: '/v1/sql',
    payload: { sql: 'DROP TABLE t' },
  });
  assert.equal(ddl.statusCode, 200);
  // Credentials given are checked: only `default` exists, and it takes any password.
  const as = (user: string) => ({ authorization: `Basic ${btoa(`${user}:pw`)}` });
  const named = await app.inject({ method: 'GET', url: '/v1/auth/whoami', headers: as('default') });
  assert.equal(named.json().via, 'password');
  const stranger = await app.inject({ method: 'GET', url: '/v1/cluster', headers: as('eve') });
  assert.equal(stranger.statusCode, 401);
});
test(
  'close() cuts a connection that never sent a request, after the drain time, on HTTP and HTTPS',
  { timeout: 10_000 },
  async (t) => {
    // Goal: a silent client (or one that never finishes its TLS handshake) cannot hold the
    // server's close, and so the node's shutdown, open forever.
    const pem = opensslAvailable() ? makeCertificates('drain-ca', ['n1']).get('n1') : undefined;
    for (const tls of pem === undefined ? [undefined] : [undefined, pem]) {
      const app = buildHttpServer(fakeNode(), {
        logger: false,
        closeDrainMs: 200,
        tls: tls === undefined ? undefined : { cert: tls.cert, key: tls.key },
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      assert.ok(typeof address === 'object' && address !== null);
      const silent = connect({ host: '127.0.0.1', port: address.port });
      silent.on('error', () => {});
      t.after(() => silent.destroy());
      await new Promise((resolve) => silent.once('connect', resolve));
      const started = Date.now();
      await app.close();
      const tookMs = Date.now() - started;
      assert.ok(
        tookMs >= 150 && tookMs < 2_000,
        `close() took ${tookMs} ms (tls ${tls !== undefined})`,
      );
    }
  },
);
