/**
 * Chain replication with real processes: four `tandem start --topology chain` nodes on
 * loopback. While the chain is whole the leader sends log entries to the head alone; under
 * a steady write load each position of the chain in turn is killed with SIGKILL and
 * restarted: writes go on, the chain closes over the dead member and takes it back at its
 * tail, and at the end every node holds every acknowledged write.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { call, sleep, TestCluster } from './cluster.js';

const cli = fileURLToPath(new URL('../../src/cli/tandem.js', import.meta.url));

/** Runs the `tandem` command (asynchronously: the test's own process serves nothing). */
function tandem(
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

interface ChainView {
  readonly role: string;
  readonly topology: string;
  readonly chain: string[];
  readonly upstream: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: { id: string; upstream: string | null; chainPosition: number | null }[];
}

async function view(cluster: TestCluster, id: string): Promise<ChainView> {
  return (await cluster.status(id)) as unknown as ChainView;
}

/** Waits until the leader's chain is `length` long (and, if given, passes `test`). */
async function chainOf(
  cluster: TestCluster,
  length: number,
  extra: (chain: string[]) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<{ leader: string; chain: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let last: string[] = [];
  for (;;) {
    const leader = await cluster.leader(timeoutMs).catch(() => null);
    if (leader !== null) {
      const status = await view(cluster, leader).catch(() => null);
      if (status !== null && status.role === 'leader') {
        last = status.chain;
        if (status.chain.length === length && extra(status.chain)) {
          return { leader, chain: status.chain };
        }
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`no chain of ${length} (last ${last.join(' > ')})\n${cluster.logs()}`);
    }
    await sleep(50);
  }
}

/** The leader's count of log entries sent to each peer, from its metrics. */
async function entriesSent(cluster: TestCluster, leader: string): Promise<Map<string, number>> {
  const response = await fetch(`${cluster.url(leader)}/metrics`);
  const counts = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^tandem_peer_entries_sent_total\{peer="([^"]+)"[^}]*\} (\d+)/.exec(line);
    if (match !== null) counts.set(match[1] as string, Number(match[2]));
  }
  return counts;
}

/** Writers that PUT fresh keys through any live node, recording what was acknowledged. */
class Writers {
  readonly acknowledged = new Map<string, string>();
  readonly ackTimes: number[] = [];
  #running = true;
  #seq = 0;
  readonly #loops: Promise<void>[] = [];

  constructor(
    readonly cluster: TestCluster,
    readonly live: () => string[],
    count: number,
  ) {
    for (let i = 0; i < count; i++) this.#loops.push(this.#loop(i));
  }

  async #loop(writer: number): Promise<void> {
    while (this.#running) {
      const key = `w${writer}-${this.#seq++}`;
      const nodes = this.live();
      const target = nodes[this.#seq % nodes.length] as string;
      const answer = await call('PUT', `${this.cluster.url(target)}/v1/kv/${key}`, {
        value: key,
      }).catch(() => null);
      if (answer?.status === 200) {
        this.acknowledged.set(key, key);
        this.ackTimes.push(Date.now());
      } else {
        await sleep(20);
      }
    }
  }

  /** The longest time without an acknowledgement between `from` and `to`. */
  longestGapMs(from: number, to: number): number {
    const times = [from, ...this.ackTimes.filter((t) => t >= from && t <= to), to].sort(
      (a, b) => a - b,
    );
    let gap = 0;
    for (let i = 1; i < times.length; i++) {
      gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
    }
    return gap;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

describe('chain replication, four real nodes', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  const down = new Set<string>();
  const live = (): string[] => cluster.nodes.map((node) => node.id).filter((id) => !down.has(id));

  before(async () => {
    cluster = await TestCluster.create({
      nodes: 4,
      mode: 'quorum',
      snapshotEvery: 500,
      extraArgs: () => ['--topology', 'chain'],
    });
    cluster.startAll();
    for (const node of cluster.nodes) await cluster.up(node.id);
  });
  after(async () => {
    await cluster.destroy();
  });

  test('the leader forms a chain of the other three and feeds only its head', async () => {
    const { leader, chain } = await chainOf(cluster, 3);
    // A write since the chain formed has reached every member through it.
    assert.equal(
      (await call('PUT', `${cluster.url(leader)}/v1/kv/first`, { value: 'x' })).status,
      200,
    );
    const status = await view(cluster, leader);
    assert.equal(status.topology, 'chain');
    for (const [position, id] of chain.entries()) {
      const member = status.members.find((candidate) => candidate.id === id);
      assert.equal(member?.chainPosition, position + 1, id);
      assert.equal(member?.upstream, position === 0 ? leader : chain[position - 1], id);
      // Each member hears the log from the one before it, as it says itself.
      const own = await view(cluster, id);
      assert.equal(own.upstream, position === 0 ? leader : chain[position - 1], `${id} upstream`);
    }
    const before = await entriesSent(cluster, leader);
    for (let i = 0; i < 100; i++) {
      const answer = await call('PUT', `${cluster.url(leader)}/v1/kv/fed-${i}`, { value: 'x' });
      assert.equal(answer.status, 200);
    }
    const afterCounts = await entriesSent(cluster, leader);
    const head = chain[0] as string;
    const delta = (id: string): number => (afterCounts.get(id) ?? 0) - (before.get(id) ?? 0);
    assert.ok(delta(head) >= 100, `the head got ${delta(head)} entries`);
    for (const id of chain.slice(1)) assert.equal(delta(id), 0, `the leader sent ${id} entries`);
    // The tail has them too, passed down the chain.
    const tail = chain.at(-1) as string;
    const read = await call('GET', `${cluster.url(tail)}/v1/kv/fed-99?consistency=linearizable`);
    assert.equal(read.status, 200);
  });

  test('kill -9 of each position under load: writes go on, the chain heals, nothing acknowledged is lost', async () => {
    const writers = new Writers(cluster, live, 8);
    try {
      for (const position of [1, 0, 2]) {
        const { chain } = await chainOf(cluster, 3);
        const victim = chain[position] as string;
        await sleep(500);
        const killedAt = Date.now();
        down.add(victim);
        await cluster.kill(victim);
        const healed = await chainOf(cluster, 2, (c) => !c.includes(victim));
        await sleep(1_500);
        const gap = writers.longestGapMs(killedAt, Date.now());
        // The chain heals in half an election timeout; a generous bound for a
        // shared machine (the closing figures measure it).
        assert.ok(gap < 5_000, `no write acknowledged for ${gap} ms after ${victim} died`);
        console.log(
          `killed ${victim} (position ${position + 1}): longest pause in acknowledgements ${gap} ms; chain now ${healed.chain.join(' > ')}`,
        );
        cluster.start(victim);
        await cluster.up(victim);
        down.delete(victim);
        // It comes back at the tail once caught up.
        await chainOf(cluster, 3, (c) => c.at(-1) === victim, 30_000);
      }
    } finally {
      await writers.stop();
    }
    assert.ok(writers.acknowledged.size > 100, `only ${writers.acknowledged.size} writes`);
    // Every node converges and holds every acknowledged write.
    const leader = await cluster.leader();
    const commit = (await view(cluster, leader)).commitIndex;
    for (const node of cluster.nodes) {
      const deadline = Date.now() + 20_000;
      while ((await view(cluster, node.id)).appliedIndex < commit) {
        assert.ok(Date.now() < deadline, `${node.id} did not apply through ${commit}`);
        await sleep(50);
      }
      for (const key of writers.acknowledged.keys()) {
        const read = await call('GET', `${cluster.url(node.id)}/v1/kv/${key}?consistency=stale`);
        assert.equal(read.status, 200, `${node.id} lacks acknowledged ${key}`);
        assert.equal(read.body.value, key);
      }
    }
  });

  test('tandem topology star switches through the log, and every member is fed directly', async () => {
    const leader = await cluster.leader();
    const answer = await call('POST', `${cluster.url(leader)}/v1/cluster/topology`, {
      topology: 'star',
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.topology, 'star');
    const bad = await call('POST', `${cluster.url(leader)}/v1/cluster/topology`, {
      topology: 'ring',
    });
    assert.equal(bad.status, 400);
    const deadline = Date.now() + 10_000;
    for (const node of cluster.nodes) {
      while ((await view(cluster, node.id)).topology !== 'star') {
        assert.ok(Date.now() < deadline, `${node.id} still says chain`);
        await sleep(50);
      }
    }
    const status = await view(cluster, leader);
    assert.deepEqual(status.chain, []);
    const before = await entriesSent(cluster, leader);
    for (let i = 0; i < 20; i++) {
      assert.equal(
        (await call('PUT', `${cluster.url(leader)}/v1/kv/star-${i}`, { value: 'y' })).status,
        200,
      );
    }
    const afterCounts = await entriesSent(cluster, leader);
    for (const node of cluster.nodes) {
      if (node.id === leader) continue;
      const delta = (afterCounts.get(node.id) ?? 0) - (before.get(node.id) ?? 0);
      assert.ok(
        delta >= 20,
        `the leader sent ${node.id} ${delta} entries in a star: ${JSON.stringify(await cluster.status(leader))}`,
      );
    }
  });

  test('tandem topology chain switches back, and tandem status shows the chain and each upstream', async () => {
    const leader = await cluster.leader();
    const url = ['--url', cluster.url(leader)];
    const refused = await tandem(['topology', 'ring', ...url]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /must be one of star, chain/);
    const switched = await tandem(['topology', 'chain', ...url]);
    assert.equal(switched.status, 0, switched.stderr);
    assert.match(switched.stdout, /topology chain/);
    const { chain } = await chainOf(cluster, 3);
    const status = await tandem(['status', ...url]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`chain ${[leader, ...chain].join(' > ')}`));
    assert.match(status.stdout, /upstream/);
    const tailLine = status.stdout.split('\n').find((line) => line.startsWith(chain[2] as string));
    assert.match(tailLine ?? '', new RegExp(`${chain[1] as string}\\s*$`), status.stdout);
  });

  test('tandem join --learner --upstream: a read replica fed by one member, not by the leader', async () => {
    const leader = await cluster.leader();
    const { chain } = await chainOf(cluster, 3);
    const upstream = chain[1] as string;
    const learner = await cluster.addNodeSpec('n5');
    cluster.start('n5', { join: true });
    await cluster.up('n5');
    const joined = await tandem([
      'join',
      'n5',
      `127.0.0.1:${learner.peerPort}`,
      '--learner',
      '--upstream',
      upstream,
      '--url',
      cluster.url(leader),
    ]);
    assert.equal(joined.status, 0, joined.stderr);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await view(cluster, leader);
      if (status.members.find((member) => member.id === 'n5')?.upstream === upstream) break;
      assert.ok(
        Date.now() < deadline,
        `n5 is not fed by ${upstream}: ${JSON.stringify(status.members)}`,
      );
      await sleep(50);
    }
    const before = await entriesSent(cluster, leader);
    for (let i = 0; i < 50; i++) {
      assert.equal(
        (await call('PUT', `${cluster.url(leader)}/v1/kv/replica-${i}`, { value: 'r' })).status,
        200,
      );
    }
    const afterCounts = await entriesSent(cluster, leader);
    assert.equal((afterCounts.get('n5') ?? 0) - (before.get('n5') ?? 0), 0, 'the leader fed n5');
    // The learner says so itself: what it accepted last came from its upstream.
    assert.equal((await view(cluster, 'n5')).upstream, upstream);
    const read = await call(
      'GET',
      `${cluster.url('n5')}/v1/kv/replica-49?consistency=linearizable`,
    );
    assert.equal(read.status, 200);
    assert.equal((await tandem(['join', 'n6', '127.0.0.1:1', '--upstream', upstream])).status, 2);
  });
});
