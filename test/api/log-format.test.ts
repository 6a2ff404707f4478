/**
 * A node's log lines: JSON objects by default when stdout is not a terminal (collectors),
 * readable lines with `--log-format pretty`, and a bad value refused before anything
 * starts. A client's 503 is not logged as an error with a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { call, sleep, TestCluster } from '../node/cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

async function oneNode(format: string[]): Promise<{ cluster: TestCluster; output: () => string }> {
  const cluster = await TestCluster.create({ nodes: 1, extraArgs: () => format });
  cluster.startAll();
  await cluster.up('n1');
  await cluster.leader();
  return { cluster, output: () => cluster.node('n1').output.join('') };
}

test('json lines without a terminal, pretty lines with --log-format pretty', async () => {
  const json = await oneNode([]);
  try {
    const lines = json.output().trim().split('\n');
    assert.ok(lines.length > 2, json.output());
    for (const line of lines) {
      const record = JSON.parse(line) as { node: string; level: number; msg: string };
      assert.equal(record.node, 'n1');
      assert.equal(typeof record.level, 'number');
    }
    assert.ok(lines.some((line) => line.includes('serving HTTP')));
  } finally {
    await json.cluster.destroy();
  }
  const pretty = await oneNode(['--log-format', 'pretty']);
  try {
    const text = pretty.output();
    assert.match(text, /INFO.*tandem node n1 serving HTTP on http:\/\//);
    assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO/m);
    assert.ok(!text.trim().startsWith('{'), 'not JSON');
  } finally {
    await pretty.cluster.destroy();
  }
  const bad = spawnSync(
    process.execPath,
    [cli, 'start', '--id', 'n1', '--dir', 'd', '--log-format', 'xml'],
    {
      encoding: 'utf8',
      env: { ...process.env, TANDEM_CLUSTER_SECRET: 'a-secret-of-enough-length' },
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--log-format must be pretty or json, got "xml"/);
});

test("a client's 503 is logged without a stack trace", async () => {
  // A 2-node cluster with one node down has no leader: a write is answered 503.
  const cluster = await TestCluster.create({ nodes: 2 });
  try {
    cluster.start('n1');
    await cluster.up('n1');
    // No quorum: a write waits, then answers 503 (no leader).
    const answer = await call('PUT', `${cluster.url('n1')}/v1/kv/k`, { value: 'v' });
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    await sleep(200);
    const text = cluster.node('n1').output.join('');
    const records = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { stack?: string } });
    const logged = records.filter((record) => record.msg === 'request answered 503');
    assert.equal(logged.length, 1, text);
    assert.equal(logged[0]?.level, 30, 'info, not error');
    assert.ok(records.every((record) => record.err?.stack === undefined || record.level < 50));
  } finally {
    await cluster.destroy();
  }
});
