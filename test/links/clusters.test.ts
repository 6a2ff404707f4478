/**
 * Linked clusters of real processes: two 3-node clusters (`--cluster-id east` and `west`)
 * linked over HTTP, writers on both sides on the same keys (SET, DEL, INCR, EXPIRE) while
 * the link is cut in turn (the other cluster's leader stopped, a whole cluster stopped
 * with SIGSTOP, both leaders killed with SIGKILL) and healed; then both clusters hold the
 * same keys with the same values and expiries, every INCR is counted exactly once, and a
 * write that lost to a concurrent one on the other side is in the conflict log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { call, sleep, TestCluster } from '../node/cluster.js';
import { createLinkedClient } from '../../src/client/index.js';

const tandem = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

/** Runs the `tandem` command line. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [tandem, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr });
    });
  });
}

interface Side {
  readonly name: string;
  readonly cluster: TestCluster;
}

async function leaderOf(side: Side): Promise<string> {
  return side.cluster.leader(30_000);
}

async function redisOf(side: Side, id?: string): Promise<Redis> {
  const target = id ?? (await leaderOf(side));
  const client = new Redis({
    host: '127.0.0.1',
    port: side.cluster.node(target).respPort,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    commandTimeout: 5_000,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Every key of a side with its value and absolute expiry, read on its leader. */
async function contents(side: Side): Promise<Map<string, string>> {
  const client = await redisOf(side);
  try {
    const keys = (await client.keys('*')).sort();
    const out = new Map<string, string>();
    for (const key of keys) {
      const [value, expiry] = await Promise.all([client.get(key), client.pexpiretime(key)]);
      if (value !== null) out.set(key, `${value} @${expiry}`);
    }
    return out;
  } finally {
    client.disconnect();
  }
}

async function links(side: Side, id = 'n1'): Promise<Record<string, unknown>> {
  const answer = await call('GET', `${side.cluster.url(id)}/v1/links`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** Waits until neither side has anything left to pull, and both hold the same keys. */
async function converged(a: Side, b: Side, timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const [left, right] = await Promise.all([contents(a), contents(b)]);
      const same =
        left.size === right.size && [...left].every(([key, value]) => right.get(key) === value);
      if (same) {
        // Twice, apart: the same contents while a pull was still under way could change.
        await sleep(1_000);
        const [again, againRight] = await Promise.all([contents(a), contents(b)]);
        if ([...again].every(([k, v]) => left.get(k) === v && againRight.get(k) === v)) {
          if (again.size === left.size && againRight.size === left.size) return left;
        }
      }
      const diff = [...new Set([...left.keys(), ...right.keys()])]
        .filter((key) => left.get(key) !== right.get(key))
        .slice(0, 5)
        .map((key) => `${key}: ${a.name}=${left.get(key)} ${b.name}=${right.get(key)}`);
      last = `${diff.join('; ')} | ${JSON.stringify(await links(a).catch(() => null))} | ${JSON.stringify(await links(b).catch(() => null))}`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`the clusters did not converge: ${last}`);
    await sleep(500);
  }
}

describe('linked clusters of real processes', { timeout: 300_000 }, () => {
  let east: Side;
  let west: Side;

  before(async () => {
    const make = async (name: string): Promise<Side> => {
      const cluster = await TestCluster.create({
        nodes: 3,
        secret: `link-test-secret-${name}`,
        extraArgs: () => ['--cluster-id', name],
      });
      cluster.startAll();
      return { name, cluster };
    };
    east = await make('east');
    west = await make('west');
    await Promise.all([leaderOf(east), leaderOf(west)]);
  });

  after(async () => {
    await east?.cluster.destroy();
    await west?.cluster.destroy();
  });

  it('refuses a bad link, and links through a follower (forwarded to the leader)', async () => {
    // Keys written before the link: copied to the other side once linked.
    const [early, earlyWest] = await Promise.all([redisOf(east), redisOf(west)]);
    assert.equal(await early.set('before:east', 'east-old', 'EX', 3_600), 'OK');
    assert.equal(await earlyWest.set('before:west', 'west-old'), 'OK');
    early.disconnect();
    earlyWest.disconnect();
    const eastLeader = await leaderOf(east);
    const follower = east.cluster.nodes.find((node) => node.id !== eastLeader)?.id ?? 'n1';
    const self = await call('POST', `${east.cluster.url(follower)}/v1/links`, {
      url: east.cluster.url(eastLeader),
    });
    assert.equal(self.status, 400);
    assert.match(String(self.body['message']), /distinct --cluster-id/);
    const bad = await call('POST', `${east.cluster.url(follower)}/v1/links`, { url: 'ftp://x' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.body['message']), /http:\/\/ or https:\/\//);

    const toWest = await call('POST', `${east.cluster.url(follower)}/v1/links`, {
      url: west.cluster.url('n1'),
    });
    assert.equal(toWest.status, 201, JSON.stringify(toWest.body));
    assert.equal(toWest.body['id'], 'west');
    const toEast = await call('POST', `${west.cluster.url('n2')}/v1/links`, {
      url: east.cluster.url('n3'),
    });
    assert.equal(toEast.status, 201, JSON.stringify(toEast.body));
    const view = await links(east, follower);
    assert.equal(view['cluster'], 'east');
    assert.equal(view['linked'], true);
    const listed = view['links'] as { id: string; urls: string[] }[];
    assert.deepEqual(
      listed.map((link) => link.id),
      ['west'],
    );
    assert.equal(listed[0].urls.length, 3, 'every node of west is known');
  });

  it('carries writes both ways, merges counters, and refuses what does not merge', async () => {
    const [a, b] = await Promise.all([redisOf(east), redisOf(west)]);
    try {
      assert.equal(await a.set('greeting', 'from east'), 'OK');
      assert.equal(await b.incrby('shared:counter', 5), 5);
      assert.equal(await a.incrby('shared:counter', 2), 2);
      await assert.rejects(a.hset('h', 'f', 'v'), /HSET is not allowed on a linked cluster/);
      const sql = await call('POST', `${east.cluster.url('n1')}/v1/sql`, {
        statements: [{ sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY)' }],
      });
      assert.equal(sql.status, 400, JSON.stringify(sql.body));
      assert.match(String(sql.body['message']), /SQL writes are not allowed on a linked cluster/);
      const query = await call('POST', `${east.cluster.url('n1')}/v1/query`, {
        sql: 'SELECT 1 AS one',
      });
      assert.equal(query.status, 200, JSON.stringify(query.body));
      const both = await converged(east, west, 20_000);
      assert.equal(await b.get('greeting'), 'from east');
      assert.equal(await b.get('before:east'), 'east-old', 'a key from before the link');
      assert.match(both.get('before:east') ?? '', /^east-old @\d+$/, 'with its expiry');
      assert.equal(await a.get('before:west'), 'west-old');
      for (const side of [east, west]) assert.equal((await links(side))['seeded'], true);
      assert.equal(await a.get('shared:counter'), '7');
      assert.equal(await b.get('shared:counter'), '7');
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it('converges after cuts and failovers on both sides, counting every INCR once', async () => {
    const counters = ['c:0', 'c:1', 'c:2'];
    const registers = Array.from({ length: 12 }, (_, i) => `r:${i}`);
    const increments = new Map<string, number>(counters.map((key) => [key, 0]));
    let stop = false;
    const errors: string[] = [];
    let acknowledged = 0;

    // One writer per side: it reconnects to its cluster's leader whenever a call fails.
    const writer = async (side: Side, seed: number) => {
      let client: Redis | null = null;
      let n = seed;
      while (!stop) {
        try {
          client ??= await redisOf(side);
          n = (n * 1103515245 + 12345) % 2 ** 31;
          const pick = n % 10;
          if (pick < 4) {
            const key = counters[n % counters.length];
            const by = (n % 7) + 1;
            await client.incrby(key, by);
            increments.set(key, (increments.get(key) ?? 0) + by);
          } else if (pick < 8) {
            await client.set(registers[n % registers.length], `${side.name}-${n}`);
          } else if (pick < 9) {
            await client.del(registers[n % registers.length]);
          } else {
            await client.expire(registers[n % registers.length], 3_600);
          }
          acknowledged += 1;
        } catch (error) {
          // A failed INCRBY may or may not have applied: only acknowledged ones are counted,
          // so a write whose answer was lost makes the counter exceed the count (checked).
          errors.push(String(error));
          client?.disconnect();
          client = null;
          await sleep(200);
        }
      }
      client?.disconnect();
    };
    const writers = [writer(east, 7), writer(west, 11)];

    await sleep(2_000);
    // 1. West's leader stopped cleanly, then started again.
    const westLeader = await leaderOf(west);
    await west.cluster.stop(westLeader);
    await sleep(3_000);
    west.cluster.start(westLeader);
    await west.cluster.up(westLeader);
    await sleep(2_000);
    // 2. The whole of east paused (SIGSTOP), then resumed.
    for (const node of east.cluster.nodes) node.process?.kill('SIGSTOP');
    await sleep(4_000);
    for (const node of east.cluster.nodes) node.process?.kill('SIGCONT');
    await sleep(2_000);
    // 3. Both leaders killed at once, then started again.
    const [eastLeader, westLeader2] = await Promise.all([leaderOf(east), leaderOf(west)]);
    await Promise.all([east.cluster.kill(eastLeader), west.cluster.kill(westLeader2)]);
    await sleep(3_000);
    east.cluster.start(eastLeader);
    west.cluster.start(westLeader2);
    await Promise.all([east.cluster.up(eastLeader), west.cluster.up(westLeader2)]);
    await sleep(2_000);
    stop = true;
    await Promise.all(writers);
    assert.ok(acknowledged > 100, `only ${acknowledged} writes were acknowledged`);

    const final = await converged(east, west, 60_000);
    const uncertain = errors.length;
    assert.ok(final.size >= counters.length, `only ${final.size} keys`);
    for (const key of counters) {
      const held = Number((final.get(key) ?? '0 @-1').split(' ')[0]);
      const counted = increments.get(key) ?? 0;
      // Every acknowledged INCRBY is in the counter, exactly once; an unanswered one (at
      // most one per failed call, each at most 7) may have applied too.
      assert.ok(
        held >= counted && held <= counted + 7 * uncertain,
        `${key}: ${held} against ${counted} acknowledged (${uncertain} calls failed)`,
      );
      if (uncertain === 0) assert.equal(held, counted);
    }
    for (const [key, value] of final) {
      if (key.startsWith('r:')) assert.match(value, /^(east|west)-\d+ @(-1|\d+)$/);
    }
  });

  it('records the write that lost to a concurrent one on the other side', async () => {
    // Both links removed: each cluster writes the same key, unaware of the other; linked
    // again, each resumes from the position it applied.
    for (const [side, other] of [
      [east, 'west'],
      [west, 'east'],
    ] as const) {
      const answer = await call('DELETE', `${side.cluster.url('n1')}/v1/links/${other}`);
      assert.equal(answer.status, 204, JSON.stringify(answer.body));
    }
    const missing = await call('DELETE', `${east.cluster.url('n1')}/v1/links/west`);
    assert.equal(missing.status, 404);
    const [a, b] = await Promise.all([redisOf(east), redisOf(west)]);
    await a.set('contested', 'east-value');
    await b.set('contested', 'west-value');
    a.disconnect();
    b.disconnect();
    await sleep(500);
    assert.equal(
      (await contents(west)).get('contested'),
      'west-value @-1',
      'west did not see east meanwhile',
    );
    // Linked again with the command line, which asks each cluster to pull from the other.
    const linked = await run(['link', east.cluster.url('n2'), west.cluster.url('n3')]);
    assert.equal(linked.code, 0, linked.stderr);
    assert.match(linked.stdout, /pulls from cluster west/);
    assert.match(linked.stdout, /pulls from cluster east/);
    const final = await converged(east, west, 30_000);
    const winner = final.get('contested')?.split(' ')[0];
    assert.ok(winner === 'east-value' || winner === 'west-value');
    const loser = winner === 'east-value' ? 'west-value' : 'east-value';
    for (const side of [east, west]) {
      const answer = await call('GET', `${side.cluster.url('n2')}/v1/conflicts?limit=1000`);
      assert.equal(answer.status, 200);
      const conflicts = answer.body['conflicts'] as { key: string; value: string }[];
      assert.ok(
        conflicts.some((conflict) => conflict.key === 'contested' && conflict.value === loser),
        `${side.name} records the lost write: ${JSON.stringify(conflicts.slice(0, 5))}`,
      );
      assert.ok(Number(answer.body['total']) >= 1);
    }
    const client = await redisOf(west, 'n2');
    const overRedis = (await client.call('TANDEM.CONFLICTS', '1000')) as unknown[][];
    assert.ok(
      overRedis.some((entry) => {
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < entry.length; i += 2)
          fields.set(String(entry[i]), String(entry[i + 1]));
        return fields.get('key') === 'contested' && fields.get('value') === loser;
      }),
      `TANDEM.CONFLICTS names the lost write: ${JSON.stringify(overRedis.slice(0, 3))}`,
    );
    await assert.rejects(client.call('TANDEM.CONFLICTS', 'x'), /count must be an integer/);
    client.disconnect();
    const listed = await run(['links', '--url', west.cluster.url('n1')]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /cluster west: linked/);
    assert.match(listed.stdout, /east +\d+ +0 +ok/);
    const metrics = await fetch(`${east.cluster.url('n1')}/metrics`).then((r) => r.text());
    assert.match(metrics, /tandem_link_conflicts_total\{node="n1"\} [1-9]/);
  });
  it('a client of both clusters moves to the other when its own cannot serve, and back', async () => {
    const urls = (side: Side) => side.cluster.nodes.map((node) => side.cluster.url(node.id));
    const client = createLinkedClient({
      clusters: [urls(east), urls(west)],
      timeoutMs: 1_000,
      retries: 1,
      failbackMs: 1_500,
      healthCheckIntervalMs: 0,
    });
    const moves: [number, number][] = [];
    client.on('clusterChanged', (to, from) => moves.push([from, to]));
    try {
      await client.kv.set('lc:key', 'on-east');
      assert.equal(client.active, 0);
      for (const node of east.cluster.nodes) node.process?.kill('SIGSTOP');
      let resumed = false;
      try {
        // An increment may have been taken by the cluster that stopped answering: it is
        // not sent again elsewhere, but the client has moved.
        await assert.rejects(client.counter.incrBy('lc:n', 5), { name: 'NoLeader' });
        assert.equal(client.active, 1);
        assert.deepEqual(moves, [[0, 1]]);
        assert.equal(await client.counter.incrBy('lc:n', 1), 1);
        await client.kv.set('lc:key', 'on-west');
        assert.equal(await client.readCommand(['GET', 'lc:key']), 'on-west', 'ryw on west');
        for (const node of east.cluster.nodes) node.process?.kill('SIGCONT');
        resumed = true;
        // After failbackMs a call checks east in the background; then calls go there again.
        const deadline = Date.now() + 30_000;
        while (client.active !== 0) {
          assert.ok(Date.now() < deadline, 'the client went back to east');
          await client.kv.get('lc:key');
          await sleep(200);
        }
        assert.deepEqual(moves, [
          [0, 1],
          [1, 0],
        ]);
      } finally {
        if (!resumed) for (const node of east.cluster.nodes) node.process?.kill('SIGCONT');
      }
      const final = await converged(east, west, 30_000);
      assert.equal(final.get('lc:key'), 'on-west @-1', "west's write reached east");
      const counted = final.get('lc:n')?.split(' ')[0];
      assert.ok(counted === '1' || counted === '6', `lc:n is ${counted}`);
    } finally {
      client.close();
    }
  });
});
