/**
 * The README's client sample runs as written against a real 3-node cluster: the code
 * block under "## TypeScript client", with only its import pointed at this build and its
 * node URLs at the test cluster's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TestCluster } from '../node/cluster.js';

const readme = fileURLToPath(new URL('../../../README.md', import.meta.url));
const clientModule = fileURLToPath(new URL('../../src/client/index.js', import.meta.url));

let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  await cluster.leader();
});

after(async () => {
  await cluster?.destroy();
});

/** The first ```ts block after `heading`. */
function sampleAfter(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has ${heading}`);
  const block = /```ts\n([\s\S]*?)```/.exec(text.slice(start));
  assert.ok(block !== null, `a ts block follows ${heading}`);
  return block[1] as string;
}

test("the README's TypeScript client sample runs as written", () => {
  const sample = sampleAfter(readFileSync(readme, 'utf8'), '## TypeScript client');
  const urls = sample.match(/'http:\/\/127\.0\.0\.1:900\d'/g) ?? [];
  assert.ok(urls.length >= 1, 'the sample names node URLs');
  let program = sample.replace(
    "from 'tandem/client'",
    `from '${pathToFileURL(clientModule).href}'`,
  );
  urls.forEach((url, i) => {
    program = program.replace(url, `'${cluster.url(cluster.nodes[i % 3].id)}'`);
  });
  // What the sample computed, printed for the test to check.
  program += '\nconsole.log(JSON.stringify({ user, rows, visits }));\n';
  const file = join(cluster.root, 'sample.mjs');
  writeFileSync(file, program);
  const ran = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(ran.status, 0, ran.stderr);
  const result = JSON.parse(ran.stdout.trim().split('\n').pop() as string) as {
    user: { value: string; version: { index: number; term: number }; expiresAt: null };
    rows: unknown[];
    visits: number;
  };
  assert.equal(result.user.value, 'Ada');
  assert.equal(typeof result.user.version.index, 'number');
  assert.equal(result.user.expiresAt, null);
  assert.deepEqual(result.rows, [{ id: 103, name: 'John', salary: 135000 }]);
  assert.equal(result.visits, 2);
});
