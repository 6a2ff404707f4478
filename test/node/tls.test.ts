// A cluster whose peer links run over TLS with a cluster CA, started through the CLI flags.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCertificates, opensslAvailable } from '../transport/helpers.js';
import { call, TestCluster } from './cluster.js';

test('three nodes with --tls-cert/--tls-key/--tls-ca elect a leader and replicate', async (t) => {
  // Goal: the TLS settings of tandem start reach the transport, and the cluster works over it.
  if (!opensslAvailable()) {
    t.skip('openssl is not installed: cannot make test certificates');
    return;
  }
  const credentials = makeCertificates('tandem-test-ca', ['n1', 'n2', 'n3']);
  let files: Map<string, string[]> = new Map();
  const cluster = await TestCluster.create({
    nodes: 3,
    extraArgs: (id) => files.get(id) ?? [],
  });
  try {
    files = new Map(
      [...credentials].map(([id, pem]) => {
        const paths = ['cert', 'key', 'ca'].map((kind) => join(cluster.root, `${id}.${kind}.pem`));
        writeFileSync(paths[0] as string, pem.cert);
        writeFileSync(paths[1] as string, pem.key, { mode: 0o600 });
        writeFileSync(paths[2] as string, pem.ca);
        return [id, ['--tls-cert', paths[0], '--tls-key', paths[1], '--tls-ca', paths[2]]] as [
          string,
          string[],
        ];
      }),
    );
    cluster.startAll();
    const leader = await cluster.leader();
    const follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
    const written = await call('PUT', `${cluster.url(follower)}/v1/kv/over-tls`, { value: 'yes' });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    for (const id of ['n1', 'n2', 'n3']) {
      const read = await call(
        'GET',
        `${cluster.url(id)}/v1/kv/over-tls?consistency=ryw&after=${written.body.index as number}`,
      );
      assert.equal(read.body.value, 'yes');
    }
  } finally {
    await cluster.destroy();
  }
});
