// Pub/sub across a three-node cluster of real processes: a message published through any
// node reaches the subscribers of every node (ioredis in RESP2, a raw RESP3 connection),
// each exactly once and all in the same order; PUBLISH counts the leader's subscribers; a
// node that restarts never delivers again what it replays from its log.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { sleep, TestCluster } from '../node/cluster.js';
import { retrying } from './retrying.js';

/** Messages each node's publisher sends. */
const messagesPerPublisher = 30;

function client(cluster: TestCluster, id: string): Redis {
  return new Redis({
    port: cluster.node(id).respPort,
    host: '127.0.0.1',
    maxRetriesPerRequest: 50,
    retryStrategy: () => 100,
  }).on('error', () => {});
}

/** A RESP3 subscriber on a raw socket: the `message` pushes of one channel, in order. */
class Resp3Subscriber {
  readonly #socket: Socket;
  #text = '';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => (this.#text += chunk.toString('latin1')));
    socket.on('error', () => {});
  }

  static async open(port: number, channel: string): Promise<Resp3Subscriber> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const opened = connect(port, '127.0.0.1', () => resolve(opened));
      opened.once('error', reject);
    });
    const subscriber = new Resp3Subscriber(socket);
    socket.write(`HELLO 3\r\nSUBSCRIBE ${channel}\r\n`);
    const confirmed = `>3\r\n$9\r\nsubscribe\r\n$${channel.length}\r\n${channel}\r\n:1\r\n`;
    while (!subscriber.#text.includes(confirmed)) await sleep(10);
    return subscriber;
  }

  /** The payloads of the `message` pushes received so far. */
  messages(): string[] {
    const push = />3\r\n\$7\r\nmessage\r\n\$\d+\r\n[^\r]*\r\n\$\d+\r\n([^\r]*)\r\n/g;
    return [...this.#text.matchAll(push)].map((match) => match[1]);
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('pub/sub on a three-node cluster', () => {
  let cluster: TestCluster;
  let leader: string;
  let followers: string[];
  const clients: Redis[] = [];

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    leader = await cluster.leader();
    followers = cluster.nodes.map((node) => node.id).filter((id) => id !== leader);
  });
  after(async () => {
    for (const redis of clients) redis.disconnect();
    await cluster.destroy();
  });

  test('every subscriber on every node gets every message once, in one order', async () => {
    // Goal: PUBLISH through any node travels the log, so each node delivers it once.
    const received = new Map<string, string[]>();
    for (const id of [leader, ...followers]) {
      const subscriber = client(cluster, id);
      clients.push(subscriber);
      const got: string[] = [];
      received.set(`channel on ${id}`, got);
      subscriber.on('message', (channel: string, message: string) => {
        if (channel === 'news') got.push(message);
      });
      await retrying(() => subscriber.subscribe('news'));
    }
    const patterned = client(cluster, followers[0]);
    clients.push(patterned);
    const byPattern: string[] = [];
    received.set(`pattern on ${followers[0]}`, byPattern);
    patterned.on('pmessage', (pattern: string, _channel: string, message: string) => {
      if (pattern === 'n?w*') byPattern.push(message);
    });
    await retrying(() => patterned.psubscribe('n?w*'));
    const resp3 = await Resp3Subscriber.open(cluster.node(followers[1]).respPort, 'news');
    try {
      const publishers = [leader, ...followers].map((id) => {
        const publisher = client(cluster, id);
        clients.push(publisher);
        return { id, publisher };
      });
      const counts = await Promise.all(
        publishers.map(async ({ id, publisher }) => {
          const answers: number[] = [];
          for (let i = 0; i < messagesPerPublisher; i++) {
            answers.push(await retrying(() => publisher.publish('news', `${id}-${i}`)));
          }
          return answers;
        }),
      );
      // PUBLISH counts the subscribers of the leader, which applied it for the client.
      for (const answers of counts) assert.deepEqual(new Set(answers), new Set([1]));
      const total = messagesPerPublisher * publishers.length;
      const all = () => [...received.values(), resp3.messages()];
      await until(() => all().every((got) => got.length >= total), 15_000, 'every message');
      await sleep(300); // a duplicate would arrive by now
      received.set(`RESP3 channel on ${followers[1]}`, resp3.messages());
      const [first] = [...received.values()];
      assert.equal(first.length, total);
      assert.equal(new Set(first).size, total, 'no message twice');
      for (const { id } of publishers) {
        const own = first.filter((message) => message.startsWith(`${id}-`));
        assert.deepEqual(
          own,
          Array.from({ length: messagesPerPublisher }, (_, i) => `${id}-${i}`),
          `${id}'s messages in the order it published them`,
        );
      }
      for (const [name, got] of received) {
        assert.deepEqual(got, first, `${name} got the same messages in the same order`);
      }
    } finally {
      resp3.close();
    }
  });

  test('a restarted node does not deliver again the messages it replays', async () => {
    // Goal: the entries a node replays from its log at start reach no subscriber.
    const follower = followers[0];
    const publisher = client(cluster, leader);
    clients.push(publisher);
    for (let i = 0; i < 20; i++) await retrying(() => publisher.publish('replayed', `old-${i}`));
    await cluster.kill(follower);
    cluster.start(follower);
    const port = cluster.node(follower).respPort;
    // Subscribe as soon as the node listens, before it has caught up with its log.
    let subscriber: Resp3Subscriber | undefined;
    const deadline = Date.now() + 15_000;
    while (subscriber === undefined) {
      subscriber = await Resp3Subscriber.open(port, 'replayed').catch(() => undefined);
      if (subscriber === undefined && Date.now() > deadline) throw new Error('no RESP port');
      if (subscriber === undefined) await sleep(10);
    }
    try {
      await cluster.up(follower);
      await retrying(() => publisher.publish('replayed', 'new'));
      await until(() => subscriber.messages().includes('new'), 15_000, 'the new message');
      await sleep(300);
      assert.deepEqual(subscriber.messages(), ['new']);
    } finally {
      subscriber.close();
    }
  });
});
