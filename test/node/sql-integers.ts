/**
 * The check that SQL integers past 2^53 stay exact over HTTP, shared by the cluster suites
 * (SQLite nodes, PostgreSQL nodes, both kinds in one cluster). Bodies are written and
 * answers read as JSON text, so that no JSON.parse in the test rounds what it checks.
 */
import assert from 'node:assert/strict';
import { parse } from 'lossless-json';
import type { TestCluster } from './cluster.js';

/** 2^53 + 1 (the first integer a double cannot hold) and the two ends of int8. */
export const bigIntegers = ['9007199254740993', '9223372036854775807', '-9223372036854775808'];

/** A JSON answer with every integer read exactly, as a bigint. */
function exactJson(text: string): Record<string, unknown> {
  return parse(text, null, (digits) =>
    /^-?[0-9]+$/.test(digits) ? BigInt(digits) : Number(digits),
  ) as Record<string, unknown>;
}

/** POSTs a JSON text and returns the status and the answer's text. */
async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, text: await response.text() };
}

/**
 * Writes `bigIntegers` into a new BIGINT column of `table` through `writer` (a follower's
 * write is forwarded to the leader), then reads them back on every node of `readers`, by
 * value and as the whole table, checking each answer's text holds the exact digits.
 */
export async function checkExactIntegers(
  cluster: TestCluster,
  writer: string,
  readers: readonly string[],
  table: string,
): Promise<void> {
  const sqlUrl = `${cluster.url(writer)}/v1/sql`;
  const create = await post(
    sqlUrl,
    JSON.stringify({ sql: `CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v BIGINT)` }),
  );
  assert.equal(create.status, 200, create.text);
  const params = bigIntegers.map((digits, i) => `${i + 1}, ${digits}`).join(', ');
  const insert = await post(
    sqlUrl,
    `{"sql": "INSERT INTO ${table} (id, v) VALUES (?, ?), (?, ?), (?, ?) RETURNING id, v", "params": [${params}]}`,
  );
  assert.equal(insert.status, 200, insert.text);
  for (const digits of bigIntegers) assert.ok(insert.text.includes(`"v":${digits}`), insert.text);
  const inserted = exactJson(insert.text) as { index: bigint; results: [{ rows: unknown[] }] };
  const expected = bigIntegers.map((digits, i) => ({ id: BigInt(i + 1), v: BigInt(digits) }));
  assert.deepEqual(inserted.results[0].rows, expected);
  const after = Number(inserted.index);

  for (const reader of readers) {
    const queryUrl = `${cluster.url(reader)}/v1/query`;
    for (const [i, digits] of bigIntegers.entries()) {
      const one = await post(
        queryUrl,
        `{"sql": "SELECT id, v FROM ${table} WHERE v = ?", "params": [${digits}], "consistency": "ryw", "after": ${after}}`,
      );
      assert.equal(one.status, 200, `${reader}: ${one.text}`);
      assert.deepEqual(exactJson(one.text).rows, [expected[i]], `${reader}: ${one.text}`);
    }
    const all = await post(
      queryUrl,
      JSON.stringify({ sql: `SELECT id, v FROM ${table} ORDER BY id`, consistency: 'ryw', after }),
    );
    assert.equal(all.status, 200, `${reader}: ${all.text}`);
    for (const digits of bigIntegers) assert.ok(all.text.includes(`"v":${digits}`), all.text);
    assert.deepEqual(exactJson(all.text).rows, expected, `${reader}: ${all.text}`);
  }
}
