/**
 * The conditional-request checks of the key-value routes, run against a real node (a
 * leader, or a follower that forwards the writes) by the SQLite and PostgreSQL cluster
 * tests alike: every precondition is decided by the state machine at apply, and every
 * conditional header a route does not honour is refused with 400, never ignored. Keys and
 * values are bytes, so the same preconditions hold on a key and a value that are not UTF-8.
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
  await checkBinaryKey(url, Buffer.concat([Buffer.from(`${prefix}-bin`), binaryKeyTail]));
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

/** Bytes no UTF-8 text holds: a key ending in them has no text form. */
const binaryKeyTail = Buffer.from([0xff, 0x00, 0xe9]);

/** The URL of a key given as bytes, every byte percent-encoded. */
function kvBytes(url: string, key: Buffer): string {
  const encoded = [...key].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
  return `${url}/v1/kv/${encoded}`;
}

/** A request with a raw body or a raw answer: `body` is the answer's bytes. */
async function rawCall(
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const response = await fetch(target, {
    method,
    headers:
      body === undefined ? headers : { 'content-type': 'application/octet-stream', ...headers },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return {
    status: response.status,
    body: Buffer.from(await response.arrayBuffer()),
    headers: response.headers,
  };
}

async function checkBinaryKey(url: string, key: Buffer): Promise<void> {
  const target = kvBytes(url, key);
  const hex = `0x${key.toString('hex')}`;
  const first = Buffer.from([0x00, 0xff, 0x80, 0xe9]);
  const created = await rawCall('PUT', target, { 'if-none-match': '*' }, first);
  assert.equal(created.status, 200, `PUT If-None-Match * of raw bytes: ${created.body}`);
  const etag = created.headers.get('etag') as string;
  assert.deepEqual(JSON.parse(created.body.toString()).keyBase64, key.toString('base64'));
  const again = await rawCall('PUT', target, { 'if-none-match': '*' }, Buffer.from([1]));
  assert.equal(again.status, 412, 'PUT If-None-Match * on a present binary key');
  assert.match(JSON.parse(again.body.toString()).message, new RegExp(`key ${hex} exists`));
  const octets = { accept: 'application/octet-stream' };
  const unchanged = await rawCall('GET', target, { ...octets, 'if-none-match': etag });
  assert.equal(unchanged.status, 304, 'GET If-None-Match of the current version, raw');
  assert.equal(unchanged.headers.get('etag'), etag);
  assert.equal(unchanged.body.length, 0, 'a 304 has no body');
  const raw = await rawCall('GET', target, { ...octets, 'if-none-match': '"1.1"' });
  assert.equal(raw.status, 200, 'GET If-None-Match of another version, raw');
  assert.deepEqual(raw.body, first, 'the exact bytes written');

  const second = Buffer.from([0xfe, 0x00]);
  const swapped = await call(
    'PUT',
    target,
    { valueBase64: second.toString('base64') },
    { 'if-match': etag },
  );
  assertStatus(swapped, 200, 'PUT If-Match of the current version on a binary key');
  const newer = swapped.headers.get('etag') as string;
  const stale = await call('DELETE', target, undefined, { 'if-match': etag });
  assertStatus(stale, 412, 'DELETE If-Match with an older version on a binary key');
  assert.match(String(stale.body.message), new RegExp(`key ${hex} is not at version`));
  const kept = await call('GET', `${target}?consistency=linearizable`);
  assertStatus(kept, 200, 'GET of the binary key after a refused DELETE');
  assert.equal(
    kept.body.valueBase64,
    second.toString('base64'),
    'a refused DELETE deletes nothing',
  );
  const fresh = await call('DELETE', target, undefined, { 'if-match': newer });
  assertStatus(fresh, 200, 'DELETE If-Match with the current version on a binary key');
  assert.equal(fresh.body.deleted, 1);
  const gone = await call('GET', `${target}?consistency=linearizable`);
  assertStatus(gone, 404, 'GET of the deleted binary key');
}
