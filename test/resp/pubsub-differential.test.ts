// Differential: a scripted pub/sub session (SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE,
// PUNSUBSCRIBE, PUBLISH, PUBSUB, PING and refused commands in subscribed mode) run on
// redis-server 7 and on a Tandem node, in RESP2 and in RESP3, every byte each connection
// receives compared.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sleep } from '../node/cluster.js';
import { Transcript } from './raw-client.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** One step: which connection (0 subscribes, 1 publishes, 2 watches) sends what. */
type Step = readonly [number, readonly (string | Buffer)[]];

const binary = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80, 0x61]);

const script: readonly Step[] = [
  [0, ['UNSUBSCRIBE']],
  [0, ['PUNSUBSCRIBE']],
  [0, ['SUBSCRIBE', 'news', 'sport', 'news']],
  [0, ['PING']],
  [0, ['PING', 'hello']],
  [0, ['GET', 'k']],
  [0, ['PUBSUB', 'NUMPAT']],
  [0, ['SET', 'k', 'v']],
  // One match each: Redis lists channels in its hash table's order.
  [1, ['PUBSUB', 'CHANNELS', 's*']],
  [1, ['PUBSUB', 'CHANNELS', 'n*']],
  [1, ['PUBSUB', 'NUMSUB', 'news', 'sport', 'weather']],
  [1, ['PUBSUB', 'NUMSUB']],
  [1, ['PUBLISH', 'news', 'first']],
  [1, ['PUBLISH', 'weather', 'nobody']],
  [0, ['PSUBSCRIBE', 'n*', 'sp?rt']],
  [1, ['PUBSUB', 'NUMPAT']],
  [1, ['PUBLISH', 'news', 'second']],
  [1, ['PUBLISH', 'sport', Buffer.from('')]],
  [1, ['PUBLISH', binary, binary]],
  [0, ['SUBSCRIBE', binary]],
  [1, ['PUBLISH', binary, binary]],
  [2, ['PSUBSCRIBE', '*']],
  [1, ['PUBLISH', 'news', 'third']],
  [0, ['UNSUBSCRIBE', 'news', 'never']],
  [1, ['PUBLISH', 'news', 'fourth']],
  [0, ['PUNSUBSCRIBE', 'n*']],
  [0, ['PUNSUBSCRIBE']],
  [1, ['PUBLISH', 'news', 'fifth']],
  // Without names Redis leaves channels in its hash table's order: one left, one order.
  [0, ['UNSUBSCRIBE', 'sport']],
  [0, ['UNSUBSCRIBE']],
  [0, ['PING']],
  [0, ['GET', 'k']],
  [2, ['SUBSCRIBE']],
  [2, ['PUBLISH', 'x', 'y']],
  [1, ['PUBSUB', 'CHANNELS', 'a', 'b']],
  [1, ['PUBSUB', 'NUMPAT', 'extra']],
  [1, ['PUBLISH', 'only-channel']],
  [2, ['RESET']],
  [2, ['GET', 'k']],
  [1, ['PUBSUB', 'NUMPAT']],
];

/** Runs `script` on the server at `port`, in `protocol`; each connection's bytes. */
async function transcripts(port: number, protocol: 2 | 3): Promise<string[]> {
  const connections = [
    await Transcript.open(port),
    await Transcript.open(port),
    await Transcript.open(port),
  ];
  try {
    for (const connection of connections) {
      await connection.send(['HELLO', String(protocol)]);
      // The HELLO reply names the server: not compared.
      connection.bytes = Buffer.alloc(0);
    }
    await connections[1].send(['DEL', 'k']);
    connections[1].bytes = Buffer.alloc(0);
    for (const [which, args] of script) await connections[which].send(args);
    await sleep(200);
    return connections.map((connection) => connection.bytes.toString('latin1'));
  } finally {
    for (const connection of connections) connection.close();
  }
}

describe('pub/sub against redis-server', { skip: redisSkip }, () => {
  const ports = redisBesideTandem();

  for (const protocol of [2, 3] as const) {
    test(`every byte of replies and messages matches Redis 7 in RESP${protocol}`, async () => {
      const { redis, tandem } = ports();
      const expected = await transcripts(redis, protocol);
      const actual = await transcripts(tandem, protocol);
      for (let i = 0; i < expected.length; i++) {
        let at = 0;
        while (at < expected[i].length && actual[i][at] === expected[i][at]) at++;
        const around = (bytes: string) =>
          JSON.stringify(bytes.slice(Math.max(0, at - 80), at + 80));
        assert.equal(
          around(actual[i]),
          around(expected[i]),
          `connection ${i} differs at byte ${at}`,
        );
        assert.equal(actual[i].length, expected[i].length, `connection ${i}`);
      }
    });
  }
});
