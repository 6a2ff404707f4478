/**
 * `npm run example:employees` as the README runs it beside another cluster: with
 * EXAMPLE_PORT_OFFSET, PORT and EXAMPLE_DIR it starts its cluster on the moved ports and
 * the service on PORT, serves a POST and a GET, and stops both on Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from '../node/cluster.js';
import { portOffset } from '../api/cluster-ports.js';

const runner = fileURLToPath(new URL('../../examples/employees/run.js', import.meta.url));

test('the example runs on moved ports and stops cleanly on Ctrl-C', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const offset = await portOffset(2);
  const port = await freePort();
  // Its own process group, so that the cleanup below reaches `tandem cluster` too: a
  // runner killed alone leaves the cluster holding this test's pipes open, and the test
  // file then never exits.
  const child = spawn(process.execPath, [runner], {
    detached: true,
    env: {
      ...process.env,
      EXAMPLE_PORT_OFFSET: String(offset),
      PORT: String(port),
      EXAMPLE_DIR: join(dir, 'cluster'),
    },
  });
  t.after(() => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group has already exited.
    }
    child.stdout.destroy();
    child.stderr.destroy();
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (!output.includes(`employees service on http://127.0.0.1:${port}`)) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `not up:\n${output}`);
    await sleep(100);
  }
  assert.match(
    output,
    new RegExp(`http://127\\.0\\.0\\.1:${9001 + offset}`),
    'the moved HTTP port',
  );
  const base = `http://127.0.0.1:${port}`;
  const created = await fetch(`${base}/employees`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 103, name: 'John', salary: 135000 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const read = await fetch(`${base}/employees/103`);
  assert.equal(read.status, 200);
  assert.equal(((await read.json()) as { name: string }).name, 'John');
  // The moved cluster answers on its own ports, not the defaults.
  const cluster = await fetch(`http://127.0.0.1:${9001 + offset}/v1/cluster`);
  assert.equal(cluster.status, 200);
  child.kill('SIGINT');
  assert.equal(await exited, 0, output);
});
