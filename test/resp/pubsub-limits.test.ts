// Pub/sub's limits on a real node: a connection's subscriptions are bounded, and a
// subscriber that stops reading is disconnected once its unread messages pass the bound,
// while the node goes on serving everyone else.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  pubsubOutputBufferBytesMax,
  subscriptionsPerConnectionMax,
} from '../../src/api/resp/pubsub.js';
import { valueBytesMax } from '../../src/store/commands.js';
import { sleep, TestCluster } from '../node/cluster.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('pub/sub limits', () => {
  let cluster: TestCluster;
  let port: number;
  const clients: Redis[] = [];

  before(async () => {
    cluster = await TestCluster.create({ nodes: 1 });
    cluster.startAll();
    await cluster.leader();
    port = cluster.node('n1').respPort;
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await cluster.destroy();
  });

  test('a connection holds at most the bounded number of subscriptions', async () => {
    // Goal: one client cannot make a node hold unbounded subscriptions.
    const redis = new Redis({ port, host: '127.0.0.1' });
    clients.push(redis);
    const names = Array.from({ length: subscriptionsPerConnectionMax }, (_, i) => `c${i}`);
    const count = await redis.call('SUBSCRIBE', ...names);
    assert.equal(count, subscriptionsPerConnectionMax);
    await assert.rejects(redis.call('SUBSCRIBE', 'one-more'), /at most 100000/);
    await assert.rejects(redis.call('PSUBSCRIBE', 'one-more*'), /at most 100000/);
    // A channel it holds already adds nothing.
    assert.equal(await redis.call('SUBSCRIBE', 'c0'), subscriptionsPerConnectionMax);
    assert.equal(await redis.call('UNSUBSCRIBE', 'c0'), subscriptionsPerConnectionMax - 1);
    assert.equal(await redis.call('PSUBSCRIBE', 'p*'), subscriptionsPerConnectionMax);
  });

  test('a subscriber that stops reading is disconnected past the output bound', async () => {
    // Goal: a slow subscriber cannot make the node buffer without end (Redis's
    // client-output-buffer-limit pubsub).
    const subscriber = await open(port);
    let closed = false;
    subscriber.on('close', () => (closed = true));
    subscriber.on('error', () => {});
    subscriber.write('SUBSCRIBE big\r\n');
    await sleep(200);
    subscriber.pause(); // reads nothing more
    const publisher = new Redis({ port, host: '127.0.0.1' });
    clients.push(publisher);
    // Under the log's entry limit with the command around it.
    const message = Buffer.alloc(valueBytesMax / 2, 0x61);
    // Twice the bound: whatever the kernel's socket buffers take, the node holds the rest.
    const messages = Math.ceil((2 * pubsubOutputBufferBytesMax) / message.length);
    let delivered = 0;
    for (let i = 0; i < messages; i++) delivered += await publisher.publish('big', message);
    assert.ok(delivered < messages, 'the subscriber was dropped before the last message');
    subscriber.resume();
    const deadline = Date.now() + 10_000;
    while (!closed && Date.now() < deadline) await sleep(20);
    assert.ok(closed, 'the node closed the slow subscriber');
    assert.equal(await publisher.ping(), 'PONG');
    assert.deepEqual(await publisher.call('PUBSUB', 'NUMSUB', 'big'), ['big', 0]);
  });
});
