/**
 * The dashboard (`/ui/`) in a real headless Chromium driven by puppeteer-core, against a
 * real 3-node cluster: it lists the members with the leader marked, draws its charts, and
 * after a kill -9 of the leader shows the new leader and the change in its timeline. On a
 * cluster with users it asks for credentials and then shows the cluster. Skipped with a
 * message where no Chromium is installed (.ci/run installs Debian's).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { sleep, TestCluster } from '../node/cluster.js';

/** Chromium's executable: TANDEM_CHROMIUM, else Debian's or a Chrome on the PATH. */
function chromium(): string | null {
  const given = process.env.TANDEM_CHROMIUM;
  if (given !== undefined && given !== '') return given;
  for (const path of ['/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
    if (existsSync(path)) return path;
  }
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const found = spawnSync('which', [name], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim();
  }
  return null;
}

const executable = chromium();
const skip = executable === null ? 'no Chromium installed (apt-get install chromium)' : false;
let browser: Browser;

before(async () => {
  if (executable === null) return;
  browser = await puppeteer.launch({
    executablePath: executable,
    headless: true,
    // Root in CI has no user namespace sandbox to give it.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
});

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(String(error)));
  // A request the API answered with an error (a 503 while the cluster elects) is logged
  // by the browser as a failed load; the page handles it. Scripts must not fail.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      failures.push(message.text());
    }
  });
  await page.goto(url, { waitUntil: 'load' });
  (page as Page & { failures: string[] }).failures = failures;
  return page;
}

/** What the page shows: the leader in the summary and each member row's role and health. */
function shown(page: Page): Promise<Shown> {
  // Runs in the page (a string, so that this file needs no DOM types).
  return page.evaluate(`(() => ({
    leader: document.querySelector('#leader')?.textContent ?? '',
    rows: [...document.querySelectorAll('#members tbody tr')].map((row) => ({
      id: row.dataset.member,
      role: row.dataset.role,
      health: row.children[2]?.textContent,
    })),
    charts: document.querySelectorAll('.uplot canvas').length,
    timeline: [...document.querySelectorAll('#timeline li')].map((item) => item.textContent),
    signin: !document.querySelector('#signin').hidden,
    blobs: [...document.querySelectorAll('#blobs tbody tr')].map((row) => ({
      node: row.dataset.node,
      chunks: row.children[1]?.textContent,
    })),
  }))()`) as Promise<Shown>;
}

interface Shown {
  readonly leader: string;
  readonly rows: readonly { id: string; role: string; health: string }[];
  readonly charts: number;
  readonly timeline: readonly string[];
  readonly signin: boolean;
  readonly blobs: readonly { node: string; chunks: string }[];
}

async function until<T>(page: Page, done: (view: Shown) => T, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const view = await shown(page);
    const result = done(view);
    if (result) return { view, at: Date.now() };
    assert.ok(Date.now() < deadline, `the page did not get there: ${JSON.stringify(view)}`);
    await sleep(50);
  }
}

test(
  'the dashboard shows the members, and a kill -9 of the leader as a new leader',
  { skip },
  async () => {
    const cluster = await TestCluster.create({ nodes: 3 });
    try {
      cluster.startAll();
      await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
      const leader = await cluster.leader();
      const [follower, other] = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
      const page = await open(`${cluster.url(follower as string)}/ui/`);
      await until(
        page,
        (view) =>
          view.rows.length === 3 &&
          view.leader === leader &&
          view.rows.find((row) => row.role === 'leader')?.id === leader,
        10_000,
      );
      // Some writes, so that the charts have something to draw.
      for (let i = 0; i < 50; i++) {
        await fetch(`${cluster.url(leader)}/v1/kv/k${i}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ value: 'v' }),
        });
      }
      await until(page, (view) => view.charts === 4, 10_000);
      // A blob of two chunks: every node's row counts them (three voters, three copies).
      const blob = await fetch(`${cluster.url(follower as string)}/v1/blobs/shown.bin`, {
        method: 'PUT',
        body: new Uint8Array(9 * 1024 * 1024),
      });
      assert.equal(blob.status, 201);
      await until(
        page,
        (view) => view.blobs.length === 3 && view.blobs.every((row) => row.chunks === '2'),
        15_000,
      );
      assert.ok(!(await shown(page)).signin, 'an open cluster asks for no credentials');
      const screenshot = process.env.TANDEM_UI_SCREENSHOT;
      if (screenshot !== undefined && screenshot !== '') {
        // For the docs: a few seconds of writes, so that every chart has a history.
        const stop = Date.now() + 8_000;
        for (let i = 0; Date.now() < stop; i++) {
          await fetch(`${cluster.url(leader)}/v1/kv/load${i % 500}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ value: 'x'.repeat(64) }),
          });
        }
        await sleep(1_500);
        await page.screenshot({ path: screenshot, fullPage: true });
      }

      const killed = Date.now();
      await cluster.kill(leader);
      const elected = await cluster.leader(20_000, [follower as string, other as string]);
      const electedAt = Date.now();
      const { at } = await until(
        page,
        (view) =>
          view.leader === elected && view.rows.find((row) => row.role === 'leader')?.id === elected,
        2_000 + 1_000,
      );
      assert.ok(
        at - electedAt <= 2_000,
        `the page showed ${elected} ${at - electedAt} ms after the API`,
      );
      console.log(
        `kill -9 to new leader on the page: ${at - killed} ms (election ${electedAt - killed} ms)`,
      );
      const { view } = await until(
        page,
        (seen) => seen.timeline.some((line) => line?.includes(`leader ${leader} → ${elected}`)),
        2_000,
      );
      assert.ok(view.timeline.length >= 2);
      await until(
        page,
        (seen) => seen.rows.find((row) => row.id === leader)?.health === 'down',
        15_000,
      );
      assert.deepEqual((page as Page & { failures: string[] }).failures, []);
      await page.close();
    } finally {
      await cluster.destroy();
    }
  },
);

test(
  'on a cluster with users the dashboard asks for credentials, then shows the cluster',
  { skip },
  async () => {
    const cluster = await TestCluster.create({
      nodes: 1,
      extraArgs: () => ['--users', join(cluster.root, 'users.json')],
      statusHeaders: {
        authorization: `Basic ${Buffer.from('watcher:watcher-secret-1').toString('base64')}`,
      },
    });
    try {
      const users = [{ name: 'watcher', password: 'watcher-secret-1', roles: ['read'] }];
      writeFileSync(join(cluster.root, 'users.json'), JSON.stringify({ users }));
      cluster.startAll();
      await cluster.up('n1');
      await cluster.leader();
      const page = await open(`${cluster.url('n1')}/ui/`);
      await until(page, (view) => view.signin && view.rows.length === 0, 10_000);
      await page.type('#signin input[name=user]', 'watcher');
      await page.type('#signin input[name=password]', 'watcher-secret-1');
      await page.click('#signin button[type=submit]');
      await until(
        page,
        (view) => !view.signin && view.rows.length === 1 && view.leader === 'n1',
        10_000,
      );
      await page.close();
    } finally {
      await cluster.destroy();
    }
  },
);
