/**
 * The shipped examples stay true: `tandem.example.yaml` is a valid `tandem start --config`
 * file (every key known, every value accepted), and the systemd unit runs the command the
 * README gives.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveStartSettings } from '../../src/cli/start.js';
import { makeCertificates, opensslAvailable, type Credentials } from '../transport/helpers.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

/**
 * The example with its /etc/tandem files made real in a directory of the test's own: a
 * CA, the node's certificate and key, a users file.
 */
function exampleWithFiles(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const credentials = makeCertificates('example-ca', ['n1']).get('n1') as Credentials;
  mkdirSync(join(dir, 'tls'));
  writeFileSync(join(dir, 'tls', 'n1.crt'), credentials.cert);
  writeFileSync(join(dir, 'tls', 'n1.key'), credentials.key);
  writeFileSync(join(dir, 'tls', 'ca.crt'), credentials.ca);
  writeFileSync(
    join(dir, 'users.yaml'),
    'users:\n  - name: admin\n    password: an-admin-password\n    roles: [admin]\n',
  );
  const text = readFileSync(root('tandem.example.yaml'), 'utf8').replaceAll('/etc/tandem', dir);
  const file = join(dir, 'tandem.yaml');
  writeFileSync(file, text);
  return file;
}

test('tandem.example.yaml is a config file tandem start takes', (t) => {
  if (!opensslAvailable()) return t.skip('the openssl command is missing');
  const env = { TANDEM_CLUSTER_SECRET: 'an-example-secret-of-32-characters' };
  const example = exampleWithFiles(t);
  const settings = resolveStartSettings(['--config', example], env);
  assert.equal(settings.id, 'n1');
  assert.equal(settings.host, '10.0.0.1');
  assert.equal(settings.durability, 'quorum');
  assert.equal(settings.logFormat, 'json');
  assert.equal(settings.peers.size, 2, 'the other two nodes are its peers');
  assert.equal(settings.httpPort, 9001);
  assert.ok(settings.clientTls !== undefined, 'client TLS is on');
  // A flag on the command line wins over the file.
  const overridden = resolveStartSettings(
    ['--config', example, '--id', 'n2', '--host', '10.0.0.2'],
    env,
  );
  assert.equal(overridden.id, 'n2');
});

test('the systemd unit starts the node with its config and stops it with SIGTERM', () => {
  const unit = readFileSync(root('docs/examples/tandem.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/tandem start --config \/etc\/tandem\/tandem\.yaml$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, /^EnvironmentFile=/m);
});
