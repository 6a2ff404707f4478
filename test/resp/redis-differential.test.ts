// The same RESP edge cases sent to a real redis-server and to a one-node Tandem cluster,
// replies compared: out-of-range expiries (Redis 7's overflow rules on 64-bit integers) and
// what a protocol error does to the connection.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { comparable, RawClient } from './raw-client.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** A command as RESP sends it; an argument is text (its UTF-8 bytes) or any bytes. */
function multibulk(args: readonly (string | Buffer)[]): Buffer {
  const parts = args.map((arg) => (typeof arg === 'string' ? Buffer.from(arg) : arg));
  return Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...parts.flatMap((part) => [Buffer.from(`$${part.length}\r\n`), part, Buffer.from('\r\n')]),
  ]);
}

/** A connection that sends one command at a time and reads its one-line reply. */
class LineClient {
  readonly #socket: Socket;
  #buffer = '';
  #waiting: ((line: string) => void) | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      this.#deliver();
    });
  }

  static open(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends `args`; resolves with the reply line without its CRLF (`+OK`, `:1`, `-ERR ...`). */
  call(...args: (string | Buffer)[]): Promise<string> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
      this.#socket.write(multibulk(args));
      this.#deliver();
    });
  }

  #deliver(): void {
    const end = this.#buffer.indexOf('\r\n');
    if (end === -1 || this.#waiting === null) return;
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 2);
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting(line);
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Each case runs on a fresh `SET k v`; the reply, then PTTL and EXISTS, are compared. Each
 * runs again with `k` replaced by a key that is not UTF-8 (`binaryKey`).
 */
const expiryCases: readonly string[][] = [
  ['SET', 'k', 'v', 'EX', '10000000000000000'],
  ['SET', 'k', 'v', 'EX', '-9999999999999999'],
  ['SET', 'k', 'v', 'EX', '0'],
  ['SET', 'k', 'v', 'PX', '-1'],
  ['SET', 'k', 'v', 'EX', '9223372036854775'],
  ['SET', 'k', 'v', 'EX', '9223372036854776'],
  ['SET', 'k', 'v', 'PX', '9223372036854775807'],
  ['SET', 'k', 'v', 'EXAT', '9223372036854775'],
  ['SET', 'k', 'v', 'EXAT', '9223372036854776'],
  ['SET', 'k', 'v', 'PXAT', '9223372036854775807'],
  ['SET', 'k', 'v', 'PXAT', '1'],
  ['SET', 'k', 'v', 'EX', '99999999999999999999'],
  ['SET', 'k', 'v', 'EX', '100'],
  ['EXPIRE', 'k', '9223370399119966'],
  ['PEXPIRE', 'k', '9223372036854770000'],
  ['EXPIRE', 'k', '9223372036854775'],
  ['EXPIRE', 'k', '-9223372036854775'],
  ['EXPIRE', 'k', '-9223372036854776'],
  ['EXPIRE', 'k', '99999999999999999999'],
  ['PEXPIRE', 'k', '9223372036854775807'],
  ['PEXPIRE', 'k', '-9223372036854775808'],
  ['EXPIREAT', 'k', '9223372036854775'],
  ['EXPIREAT', 'k', '9223372036854776'],
  ['EXPIREAT', 'k', '-9223372036854776'],
  ['PEXPIREAT', 'k', '9223372036854770000'],
  ['PEXPIREAT', 'k', '-9223372036854770000'],
  ['PEXPIREAT', 'k', '9223372036854775807'],
  ['PEXPIREAT', 'k', '9223372036854775807', 'GT'],
  ['EXPIRE', 'k', '100'],
];
/**
 * How far two PTTL answers may differ: the two servers read their clocks apart, and past
 * 2^53 ms Tandem keeps an expiry as the nearest double (1,024 ms apart near 2^63).
 */
const pttlSlackMs = 5_000n;

/** A key no UTF-8 text holds, for the same expiry cases on bytes. */
const binaryKey = Buffer.from([0xff, 0x00, 0xe9, 0x6b]);

/** Whether the server closes the connection after a protocol error while the client sends on. */
function closesAfterProtocolError(port: number): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    // A half-open client keeps writing after the server's FIN, as netcat does.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let reply = '';
    let sender: NodeJS.Timeout | null = null;
    const giveUp = setTimeout(() => finish(false), 3_000);
    const finish = (closed: boolean) => {
      clearTimeout(giveUp);
      if (sender !== null) clearInterval(sender);
      socket.destroy();
      resolve({ reply, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      sender ??= setInterval(() => socket.write('PING\r\n'), 20);
    });
    socket.on('error', () => finish(true)); // EPIPE or ECONNRESET: the server closed
    socket.on('close', () => finish(true));
    socket.write('*1\r\n$x\r\n');
  });
}

describe('Tandem and redis-server answer RESP edge cases alike', { timeout: 120_000 }, () => {
  const ports = redisBesideTandem();

  test(
    'out-of-range expiries: the same replies, TTLs and deletions',
    { skip: redisSkip },
    async () => {
      // Goal: SET's and EXPIRE's amounts near and past the 64-bit limits get Redis 7's
      // answers (not JavaScript's precision errors), and the key ends as Redis leaves it,
      // on a text key and on a key that is not UTF-8 alike.
      const tandem = await LineClient.open(ports().tandem);
      const real = await LineClient.open(ports().redis);
      try {
        const keyed = (key: string | Buffer) =>
          expiryCases.map((command) => command.map((arg, i) => (i === 1 ? key : arg)));
        for (const command of [...keyed('k'), ...keyed(binaryKey)]) {
          const key = command[1] as string | Buffer;
          const label = command.map((arg) => (typeof arg === 'string' ? arg : '<bytes>')).join(' ');
          const results = [];
          for (const client of [real, tandem]) {
            assert.equal(await client.call('SET', key, 'v'), '+OK');
            const reply = await client.call(...command);
            const pttl = await client.call('PTTL', key);
            const exists = await client.call('EXISTS', key);
            results.push({ reply, pttl, exists });
          }
          const [expected, actual] = results;
          assert.equal(actual.reply, expected.reply, label);
          assert.equal(actual.exists, expected.exists, `${label}: EXISTS`);
          const [redisTtl, tandemTtl] = [expected.pttl, actual.pttl].map((line) =>
            BigInt(line.slice(1)),
          );
          if (redisTtl < 0n) assert.equal(tandemTtl, redisTtl, `${label}: PTTL`);
          else {
            const apart = redisTtl > tandemTtl ? redisTtl - tandemTtl : tandemTtl - redisTtl;
            assert.ok(apart <= pttlSlackMs, `${label}: PTTL ${tandemTtl}, Redis ${redisTtl}`);
          }
        }
      } finally {
        tandem.close();
        real.close();
      }
    },
  );

  test(
    'INCRBY and DECRBY take any signed 64-bit amount, as Redis',
    { skip: redisSkip },
    async () => {
      // Goal: amounts past JavaScript's safe integers are exact, and the overflow errors
      // (DECRBY of the smallest amount, a sum past 64 bits) are Redis 7.0's texts.
      const script = [
        ['DEL', 'n'],
        ['INCRBY', 'n', '9007199254740993'],
        ['INCRBY', 'n', '-9223372036854775808'],
        ['DECRBY', 'n', '9223372036854775807'],
        ['DECRBY', 'n', '-9223372036854775808'],
        ['SET', 'n', '5'],
        ['INCRBY', 'n', '9223372036854775800'],
        ['DECRBY', 'n', '-2'],
        ['DECRBY', 'n', '-3'],
        ['INCRBY', 'n', '9223372036854775808'],
        ['DECRBY', 'n', '-9223372036854775809'],
        ['INCRBY', 'n', '1e3'],
        ['GET', 'n'],
      ];
      const answers = [];
      for (const port of [ports().redis, ports().tandem]) {
        const client = await LineClient.open(port);
        try {
          const replies = [];
          for (const command of script) replies.push(await client.call(...command));
          answers.push(replies);
        } finally {
          client.close();
        }
      }
      assert.deepEqual(answers[1], answers[0]);
    },
  );

  test(
    'a pipelined read answers as of its place in the pipeline, never with a later write',
    { skip: redisSkip },
    async () => {
      // Goal: in one pipeline of writes and reads on one key, each read sees exactly the
      // writes sent before it, as Redis answers them one by one (a read waiting for an
      // earlier write must not also see the write sent after it).
      const pipeline: string[][] = [];
      for (let round = 0; round < 50; round++) {
        pipeline.push(['SET', 'order', `a${round}`], ['GET', 'order'], ['APPEND', 'order', 'b']);
        pipeline.push(['STRLEN', 'order'], ['DEL', 'order'], ['EXISTS', 'order']);
        pipeline.push(['INCR', 'count'], ['GET', 'count'], ['INCR', 'count']);
      }
      const answers = [];
      for (const port of [ports().redis, ports().tandem]) {
        const client = await RawClient.open(port);
        try {
          await client.call('DEL', 'order', 'count');
          answers.push((await client.pipeline(pipeline)).map(comparable));
          answers.push(comparable(await client.call('GET', 'count')));
        } finally {
          client.close();
        }
      }
      const [redisReplies, redisCount, tandemReplies, tandemCount] = answers;
      assert.deepEqual(tandemReplies, redisReplies);
      assert.deepEqual(tandemCount, redisCount);
    },
  );

  test(
    'a protocol error closes the connection, even from a client that keeps sending',
    { skip: redisSkip },
    async () => {
      // Goal: as Redis does, the server answers the error and closes the connection; it
      // does not half-close and go on reading whatever the client sends.
      const fromRedis = await closesAfterProtocolError(ports().redis);
      assert.equal(fromRedis.closed, true, 'redis-server kept the connection');
      const fromTandem = await closesAfterProtocolError(ports().tandem);
      assert.equal(fromTandem.reply, fromRedis.reply);
      assert.equal(fromTandem.closed, true, 'Tandem kept reading after the protocol error');
      const again = await LineClient.open(ports().tandem);
      assert.equal(await again.call('PING'), '+PONG');
      again.close();
    },
  );
});
