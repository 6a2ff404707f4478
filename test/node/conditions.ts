/**
 * The conditional-request checks of the key-value routes, run against a real node (a
 * leader, or a follower that forwards the writes) by the SQLite and PostgreSQL cluster
 * tests alike: every precondition is decided by the state machine at apply, and every
 * conditional header a route does not honour is refused with 400, never ignored.
 */
import assert from 'node:assert/strict';
import { call } from './cluster.js';

type Answer = Awaited<ReturnType<typeof call>>;

/** Checks every conditional request through `url`, on keys that start with `prefix`. */
export async function checkConditionalRequests(url: string, prefix: string): Promise<void> {
  await checkDeleteIfMatch(url, `${prefix}-del`);
  await checkPutIfNoneMatch(url, `${prefix}-put`);
  await checkGetIfNoneMatch(url, `${prefix}-get`);
  await checkRefusals(url, `${prefix}-refused`);
}

function kv(url: string, key: string): string {
  return `${url}/v1/kv/${encodeURIComponent(key)}`;
}

async function put(url: string, key: string, value: string): Promise<string> {
  const answer = await call('PUT', kv(url, key), { value });
  assert.equal(answer.status, 200, `PUT ${key}: ${JSON.stringify(answer.body)}`);
  return answer.headers.get('etag') as string;
}

/** The value every node agrees `key` has now (a linearizable read), or null. */
async function current(url: string, key: string): Promise<string | null> {
  const answer = await call('GET', `${kv(url, key)}?consistency=linearizable`);
  if (answer.status === 404) return null;
  assert.equal(answer.status, 200, `GET ${key}: ${JSON.stringify(answer.body)}`);
  return answer.body.value as string;
}

function assertStatus(answer: Answer, status: number, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
}

async function checkDeleteIfMatch(url: string, key: string): Promise<void> {
  const first = await put(url, key, 'one');
  const second = await put(url, key, 'two');
  assert.notEqual(first, second);
  const stale = await call('DELETE', kv(url, key), undefined, { 'if-match': first });
  assertStatus(stale, 412, 'DELETE If-Match with an older version');
  assert.equal(stale.body.code, 'TANDEM_PRECONDITION_FAILED');
  assert.equal(await current(url, key), 'two', 'a refused DELETE deletes nothing');
  const fresh = await call('DELETE', kv(url, key), undefined, { 'if-match': second });
  assertStatus(fresh, 200, 'DELETE If-Match with the current version');
  assert.equal(fresh.body.deleted, 1);
  assert.equal(await current(url, key), null);
  const absent = await call('DELETE', kv(url, key), undefined, { 'if-match': second });
  assertStatus(absent, 412, 'DELETE If-Match on an absent key');
  const anyAbsent = await call('DELETE', kv(url, key), undefined, { 'if-match': '*' });
  assertStatus(anyAbsent, 412, 'DELETE If-Match * on an absent key');
  await put(url, key, 'three');
  const anyPresent = await call('DELETE', kv(url, key), undefined, { 'if-match': '*' });
  assertStatus(anyPresent, 200, 'DELETE If-Match * on a present key');
  assert.equal(await current(url, key), null);
}

async function checkPutIfNoneMatch(url: string, key: string): Promise<void> {
  const created = await call('PUT', kv(url, key), { value: 'first' }, { 'if-none-match': '*' });
  assertStatus(created, 200, 'PUT If-None-Match * on an absent key');
  const again = await call('PUT', kv(url, key), { value: 'second' }, { 'if-none-match': '*' });
  assertStatus(again, 412, 'PUT If-None-Match * on a present key');
  assert.equal(again.body.code, 'TANDEM_PRECONDITION_FAILED');
  assert.equal(await current(url, key), 'first', 'a refused PUT writes nothing');
}

async function checkGetIfNoneMatch(url: string, key: string): Promise<void> {
  const etag = await put(url, key, 'cached');
  const read = (ifNoneMatch: string) =>
    call('GET', kv(url, key), undefined, { 'if-none-match': ifNoneMatch });
  for (const header of [etag, `W/${etag}`, '*', `"1.1", ${etag}`]) {
    const unchanged = await read(header);
    assertStatus(unchanged, 304, `GET If-None-Match ${header} of the current version`);
    assert.equal(unchanged.headers.get('etag'), etag);
    assert.deepEqual(unchanged.body, {}, 'a 304 has no body');
  }
  const changed = await read('"1.1"');
  assertStatus(changed, 200, 'GET If-None-Match of another version');
  assert.equal(changed.body.value, 'cached');
  const absent = await call('GET', kv(url, `${key}-none`), undefined, { 'if-none-match': '*' });
  assertStatus(absent, 404, 'GET If-None-Match * of an absent key');
}

async function checkRefusals(url: string, key: string): Promise<void> {
  const etag = await put(url, key, 'kept');
  const date = new Date().toUTCString();
  const refused: [string, string, unknown, Record<string, string>][] = [
    ['GET', kv(url, key), undefined, { 'if-modified-since': date }],
    ['GET', kv(url, key), undefined, { 'if-unmodified-since': date }],
    ['GET', kv(url, key), undefined, { 'if-match': etag }],
    ['GET', kv(url, key), undefined, { 'if-none-match': 'garbage' }],
    ['PUT', kv(url, key), { value: 'x' }, { 'if-none-match': etag }],
    ['PUT', kv(url, key), { value: 'x' }, { 'if-match': etag, 'if-none-match': '*' }],
    ['PUT', kv(url, key), { value: 'x' }, { 'if-unmodified-since': date }],
    ['PUT', kv(url, key), { value: 'x' }, { 'if-match': `W/${etag}` }],
    ['PUT', kv(url, key), { value: 'x' }, { 'if-range': etag }],
    ['DELETE', kv(url, key), undefined, { 'if-none-match': '*' }],
    ['DELETE', kv(url, key), undefined, { 'if-unmodified-since': date }],
    ['POST', `${url}/v1/sql`, { sql: 'SELECT 1' }, { 'if-match': '*' }],
    ['POST', `${url}/v1/query`, { sql: 'SELECT 1' }, { 'if-none-match': '*' }],
    ['GET', `${url}/v1/cluster`, undefined, { 'if-none-match': '*' }],
  ];
  for (const [method, target, body, headers] of refused) {
    const answer = await call(method, target, body, headers);
    const what = `${method} ${target.slice(url.length)} with ${JSON.stringify(headers)}`;
    assertStatus(answer, 400, what);
    assert.equal(answer.body.code, 'TANDEM_BAD_REQUEST', what);
    assert.match(String(answer.body.message), /If-/, `${what}: the message names the header`);
  }
  assert.equal(await current(url, key), 'kept', 'no refused request changed the key');
}
