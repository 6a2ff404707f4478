/**
 * The client as a package of its own (`packages/client`, `@tandem/client`, an npm
 * workspace): it depends on nothing of the server, packs only its build, its declarations
 * type-check with neither Node's types nor the DOM's, and the packed build works against
 * a real cluster.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestCluster } from '../node/cluster.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const packageDir = join(root, 'packages', 'client');
const require = createRequire(import.meta.url);

test('the package depends on nothing of the server and packs only its build', () => {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies: Record<string, string>;
  };
  assert.equal(manifest.name, '@tandem/client');
  assert.deepEqual(Object.keys(manifest.dependencies), ['lossless-json']);
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '-w', '@tandem/client'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(packed.status, 0, packed.stderr);
  const [listing] = JSON.parse(packed.stdout) as { files: { path: string }[] }[];
  const files = (listing?.files ?? []).map((file) => file.path);
  for (const needed of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/client.js']) {
    assert.ok(files.includes(needed), `${needed} is packed: ${files.join(', ')}`);
  }
  assert.ok(
    files.every(
      (file) => file === 'package.json' || file === 'README.md' || file.startsWith('dist/'),
    ),
    `only the build: ${files.join(', ')}`,
  );
});

test('its declarations type-check without @types/node or the DOM', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-client-types-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules', '@tandem'), { recursive: true });
  symlinkSync(packageDir, join(dir, 'node_modules', '@tandem', 'client'), 'dir');
  writeFileSync(
    join(dir, 'consumer.ts'),
    `import { createClient, BadRequest, type CommandReply, type TandemClient } from '@tandem/client';
const client: TandemClient = createClient({
  nodes: ['http://127.0.0.1:9001'],
  tls: { ca: new Uint8Array([1, 2, 3]) },
  consistency: 'ryw',
});
client.on('leaderChanged', (id: string, previous: string | null) => void [id, previous]);
export async function use(): Promise<CommandReply> {
  await client.kv.set('k', 'v');
  const value: string | undefined = (await client.kv.get('k'))?.value;
  await client.hash.set('h', { f: 'v' });
  const big: number | bigint = await client.counter.incrBy('n', 9007199254740993n);
  void [value, big, BadRequest];
  client.close();
  return client.command(['ZADD', 'z', 1, 'm']);
}
`,
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022'],
        types: [],
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const tsc = require.resolve('typescript/bin/tsc');
  const checked = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);
});

test('the packaged client works against a real cluster', async () => {
  const cluster = await TestCluster.create({ nodes: 1 });
  try {
    cluster.startAll();
    await cluster.up('n1');
    await cluster.leader();
    // The workspace's own name, resolved as a user's project resolves it.
    const { createClient } = await import('@tandem/client');
    const client = createClient({ nodes: [cluster.url('n1')], healthCheckIntervalMs: 0 });
    const leaders: string[] = [];
    client.on('leaderChanged', (id) => leaders.push(id));
    await client.kv.set('from-the-package', 'yes');
    assert.equal((await client.kv.get('from-the-package'))?.value, 'yes');
    assert.equal(await client.hash.set('h', { a: '1', b: '2' }), 2);
    assert.deepEqual(await client.hash.getAll('h'), { a: '1', b: '2' });
    assert.deepEqual(leaders, ['n1']);
    client.close();
  } finally {
    await cluster.destroy();
  }
});
