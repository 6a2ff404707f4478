/**
 * Redis commands over HTTP (`POST /v1/command`) and the client's typed calls on them,
 * against a real 3-node cluster of `tandem start` processes: replies as JSON, reads on
 * followers that see the client's writes, writes through a follower, exactly once across a
 * retried request, the commands that act on a connection refused, and what the HTTP API
 * wrote read back over RESP.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { BadRequest, createClient, type TandemClient } from '../../src/client/index.js';
import { call, TestCluster } from '../node/cluster.js';

let cluster: TestCluster;
let client: TandemClient;
let leader: string;
let follower: string;

before(async () => {
  cluster = await TestCluster.create({ nodes: 3 });
  cluster.startAll();
  await Promise.all(cluster.nodes.map((node) => cluster.up(node.id)));
  leader = await cluster.leader();
  follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
  client = createClient({
    nodes: [cluster.url(follower)],
    healthCheckIntervalMs: 0,
    timeoutMs: 5000,
  });
});

after(async () => {
  client?.close();
  await cluster?.destroy();
});

test('hashes through the typed calls: set, get, getAll, incrBy, delete, length', async () => {
  // Goal: a hash written through the client reads back at once from the followers the
  // client reads from (read-your-writes), field by field and whole.
  assert.equal(await client.hash.set('user:1', { name: 'Ada', lang: 'fr', visits: '0' }), 3);
  assert.equal(await client.hash.set('user:1', new Map([['lang', 'en']])), 0);
  assert.equal(await client.hash.get('user:1', 'name'), 'Ada');
  assert.equal(await client.hash.get('user:1', 'absent'), null);
  assert.equal(await client.hash.get('nobody', 'name'), null);
  assert.deepEqual(await client.hash.getAll('user:1'), { name: 'Ada', lang: 'en', visits: '0' });
  assert.deepEqual(await client.hash.getAll('nobody'), {});
  assert.equal(await client.hash.incrBy('user:1', 'visits'), 1);
  assert.equal(await client.hash.incrBy('user:1', 'visits', 41), 42);
  assert.equal(await client.hash.length('user:1'), 3);
  assert.equal(await client.hash.delete('user:1', ['lang', 'absent']), 1);
  assert.deepEqual(await client.hash.getAll('user:1'), { name: 'Ada', visits: '42' });
  const bytes = new Uint8Array([0xff, 0x00, 0x41]);
  await client.hash.set('user:1', new Map([['avatar', bytes]]));
  assert.deepEqual(await client.hash.getBytes('user:1', 'avatar'), bytes);
  await assert.rejects(client.hash.get('user:1', 'avatar'), (error) => {
    assert.ok(error instanceof BadRequest);
    assert.equal(error.code, 'TANDEM_CLIENT_NOT_TEXT');
    return true;
  });
  // A string command on the hash: Redis's WRONGTYPE, as the RESP port answers it.
  await assert.rejects(client.counter.incrBy('user:1'), (error) => {
    assert.ok(error instanceof BadRequest);
    assert.equal(
      error.message,
      'WRONGTYPE Operation against a key holding the wrong kind of value',
    );
    return true;
  });
});

test('counters are exact signed 64-bit integers', async () => {
  // Goal: INCRBY and DECRBY through the client keep every digit past 2^53, as Redis does.
  assert.equal(await client.counter.get('hits'), null);
  assert.equal(await client.counter.incrBy('hits'), 1);
  assert.equal(await client.counter.incrBy('hits', 9), 10);
  assert.equal(await client.counter.decrBy('hits', 3), 7);
  assert.equal(await client.counter.get('hits'), 7);
  const big = 9007199254740993n; // 2^53 + 1: not a double
  assert.equal(await client.counter.incrBy('big', big), big);
  assert.equal(await client.counter.incrBy('big', 1), big + 1n);
  assert.equal(await client.counter.get('big'), big + 1n);
  await client.kv.set('word', 'hello');
  await assert.rejects(
    client.counter.incrBy('word'),
    /ERR value is not an integer or out of range/,
  );
  await assert.rejects(client.counter.get('word'), /not a counter/);
  await assert.rejects(
    client.counter.incrBy('big', 9223372036854775807n),
    /ERR increment or decrement would overflow/,
  );
});

test('any command: lists, sorted sets, expiry, binary values, and what is refused', async () => {
  // Goal: command() and readCommand() give each reply type its JSON form.
  assert.equal(await client.command(['RPUSH', 'queue', 'a', 'b', 'c']), 3);
  assert.deepEqual(await client.readCommand(['LRANGE', 'queue', '0', '-1']), ['a', 'b', 'c']);
  assert.equal(await client.command(['LPOP', 'queue']), 'a');
  assert.equal(await client.command(['ZADD', 'board', '1.5', 'ann', '3', 'bob']), 2);
  assert.deepEqual(await client.readCommand(['ZRANGE', 'board', '0', '-1', 'WITHSCORES']), [
    ['ann', 1.5],
    ['bob', 3],
  ]);
  assert.equal(await client.command(['ZINCRBY', 'board', 'inf', 'ann']), 'inf');
  assert.equal(await client.readCommand(['ZSCORE', 'board', 'bob']), 3);
  assert.equal(await client.readCommand(['SCARD', 'nothing']), 0);
  assert.equal(await client.command(['SET', 'session', 'x', 'EX', 100]), 'OK');
  const ttl = (await client.readCommand(['TTL', 'session'])) as number;
  assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
  const raw = new Uint8Array([0xc3, 0x28, 0x00]);
  await client.command(['SET', raw, raw]);
  assert.deepEqual(await client.readCommand(['GET', raw]), {
    base64: Buffer.from(raw).toString('base64'),
  });
  assert.deepEqual(await client.readCommand(['MGET', 'session', 'absent']), ['x', null]);
  assert.equal(await client.readCommand(['TYPE', 'board']), 'zset');
  assert.deepEqual(await client.readCommand(['HGETALL', 'nobody']), {});
  await assert.rejects(client.command(['NOSUCH', 'x']), /ERR unknown command 'NOSUCH'/);
  await assert.rejects(client.command(['GET']), /ERR wrong number of arguments for 'get' command/);
  await assert.rejects(client.readCommand(['SET', 'k', 'v']), /ERR SET is a write/);
  for (const args of [['SUBSCRIBE', 'c'], ['MULTI'], ['BLPOP', 'queue', '0'], ['AUTH', 'x']]) {
    await assert.rejects(client.command(args), /acts on a connection/, args.join(' '));
  }
});

test('a write to a follower is forwarded, and a retried write applies once', async () => {
  // Goal: the route obeys the write rules of every other route: a follower forwards to the
  // leader; the same X-Tandem-Session and X-Tandem-Seq apply once, answered alike.
  const headers = { 'x-tandem-session': 'commands-test', 'x-tandem-seq': '1' };
  const url = `${cluster.url(follower)}/v1/command`;
  const first = await call('POST', url, { args: ['INCRBY', 'once', '5'] }, headers);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.reply, 5);
  assert.equal(typeof first.body.index, 'number');
  const again = await call(
    'POST',
    `${cluster.url(leader)}/v1/command`,
    { args: ['INCRBY', 'once', '5'] },
    headers,
  );
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.reply, 5);
  const read = await call('POST', url, {
    args: ['GET', 'once'],
    readOnly: true,
    after: first.body.index,
  });
  assert.deepEqual(read.body, { reply: '5' });
  // Bad input: a clear 400 naming the field.
  const bad = await call('POST', url, { args: [1] });
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.message), /body\.args\[0\] must be a string or \{ base64 \}/);
  const empty = await call('POST', url, { args: [] });
  assert.equal(empty.status, 400);
  const ack = await call('POST', `${url}?ack=sometimes`, { args: ['SET', 'a', 'b'] });
  assert.equal(ack.status, 400);
  const synced = await call('POST', `${url}?ack=sync`, { args: ['SET', 'a', 'b'] });
  assert.equal(synced.status, 200, JSON.stringify(synced.body));
});

test('what the HTTP API writes, RESP reads on every node, and the other way', async () => {
  // Goal: one namespace: the command route and the RESP port are the same store.
  const written = await client.command(['HSET', 'shared', 'from', 'http']);
  assert.equal(written, 1);
  for (const node of cluster.nodes) {
    const redis = new Redis({ port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await redis.call('TANDEM.CONSISTENCY', 'linearizable');
      assert.equal(await redis.hget('shared', 'from'), 'http', node.id);
      if (node.id === follower) await redis.hset('shared', 'back', 'resp');
    } finally {
      redis.disconnect();
    }
  }
  assert.deepEqual(await client.hash.getAll('shared', { consistency: 'linearizable' }), {
    from: 'http',
    back: 'resp',
  });
});
