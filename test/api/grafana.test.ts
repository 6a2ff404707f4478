/**
 * The Grafana dashboard shipped in docs/ asks only for metrics a real node serves: every
 * series name in its queries is in a node's `/metrics` (as a sample, or as a declared
 * metric of which a one-node cluster has no sample yet, such as follower lag), and each
 * query filters or groups by the `node` label every series carries.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { TestCluster } from '../node/cluster.js';

const dashboardFile = fileURLToPath(
  new URL('../../../docs/grafana-dashboard.json', import.meta.url),
);

interface Dashboard {
  readonly panels: readonly { title: string; targets: readonly { expr: string }[] }[];
}

test('a node serves its RESP counters, and every query of the Grafana dashboard names metrics it serves', async () => {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
  assert.ok(dashboard.panels.length >= 10);
  const cluster = await TestCluster.create({ nodes: 1 });
  try {
    cluster.startAll();
    await cluster.up('n1');
    await cluster.leader();
    await fetch(`${cluster.url('n1')}/v1/kv/k`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'v' }),
    });
    // RESP commands, so that their series exist: three SETs, a GET, an error reply.
    const redis = new Redis({ port: cluster.node('n1').respPort, lazyConnect: true });
    try {
      await redis.connect();
      for (const i of [1, 2, 3]) await redis.set(`r${i}`, 'v');
      assert.equal(await redis.get('r1'), 'v');
      await assert.rejects(redis.incr('r1'), /ERR value is not an integer/);
    } finally {
      redis.disconnect();
    }
    const text = await (await fetch(`${cluster.url('n1')}/metrics`)).text();
    // The RESP counters, by command and by error code.
    assert.match(text, /^tandem_resp_commands_total\{node="n1",command="set"\} 3$/m);
    assert.match(text, /^tandem_resp_commands_total\{node="n1",command="get"\} 1$/m);
    assert.match(text, /^tandem_resp_commands_failed_total\{node="n1",command="incr"\} 1$/m);
    assert.match(text, /^tandem_resp_command_latency_seconds_count\{node="n1",command="set"\} 3$/m);
    const latency =
      /^tandem_resp_command_latency_seconds_sum\{node="n1",command="set"\} ([0-9.e-]+)$/m.exec(
        text,
      );
    assert.ok(latency !== null && Number(latency[1]) > 0, 'a write has a latency');
    assert.match(text, /^tandem_resp_error_replies_total\{node="n1",code="ERR"\} 1$/m);
    assert.match(text, /^tandem_resp_connections\{node="n1"\} \d+$/m);
    const declared = new Set(
      [...text.matchAll(/^# TYPE ([a-z0-9_:]+) (\w+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram'
          ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
          : type === 'summary'
            ? [`${name}_sum`, `${name}_count`]
            : [name as string],
      ),
    );
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets) {
        const names = expr.match(/\b(?:tandem|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
        assert.ok(names.length > 0, `${panel.title}: a query with no metric`);
        for (const name of names) {
          assert.ok(declared.has(name), `${panel.title}: ${name} is not served`);
        }
        assert.match(expr, /node/, `${panel.title}: the query ignores the node label`);
      }
    }
    assert.match(text, /^tandem_term\{node="n1"\} \d+$/m);
  } finally {
    await cluster.destroy();
  }
});
