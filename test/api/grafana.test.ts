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
import { TestCluster } from '../node/cluster.js';

const dashboardFile = fileURLToPath(
  new URL('../../../docs/grafana-dashboard.json', import.meta.url),
);

interface Dashboard {
  readonly panels: readonly { title: string; targets: readonly { expr: string }[] }[];
}

test('every query of the Grafana dashboard names metrics a node serves', async () => {
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
    const text = await (await fetch(`${cluster.url('n1')}/metrics`)).text();
    const declared = new Set(
      [...text.matchAll(/^# TYPE ([a-z0-9_:]+) (\w+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram'
          ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
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
