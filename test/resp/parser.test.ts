// The RESP request parser and reply encoder, with no sockets: whole input, byte by byte,
// split at every position, Redis's own error texts, and fuzzing with random bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  inlineBytesMax,
  multibulkLengthMax,
  RequestParser,
  RespProtocolError,
  splitInlineArgs,
} from '../../src/api/resp/parser.js';
import { ReplyParser } from '../../src/api/resp/reply-parser.js';
import { encodeReply, error, map, ok, type Reply } from '../../src/api/resp/reply.js';

function multibulk(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function asText(commands: Buffer[][]): string[][] {
  return commands.map((command) => command.map((arg) => arg.toString('latin1')));
}

/** Parses `input` fed as the given chunks; returns the commands or the error text. */
function parseChunks(chunks: Buffer[], options = {}): string[][] | string {
  const parser = new RequestParser(options);
  const commands: Buffer[][] = [];
  for (const chunk of chunks) commands.push(...parser.feed(chunk));
  return parser.failure?.message ?? asText(commands);
}

function everySplit(input: Buffer): Buffer[][] {
  const splits: Buffer[][] = [[input], [...input].map((byte) => Buffer.from([byte]))];
  for (let i = 1; i < input.length; i++) splits.push([input.subarray(0, i), input.subarray(i)]);
  return splits;
}

/** Checks that every way of cutting `input` into chunks gives `expected`. */
function assertParses(input: Buffer, expected: string[][] | string, options = {}): void {
  for (const chunks of everySplit(input)) {
    assert.deepEqual(
      parseChunks(chunks, options),
      expected,
      `split ${chunks.map((c) => c.length)}`,
    );
  }
}

describe('RESP request parser', () => {
  test('multibulk and inline requests, whole, byte by byte and split everywhere', () => {
    // Goal: framing never depends on where TCP cut the stream.
    const input = Buffer.concat([
      multibulk('SET', 'key', 'va\r\nlue'),
      Buffer.from('PING\r\n'),
      Buffer.from('  set "a b" \'c\\\'d\' "\\x41\\n"  \n'),
      Buffer.from('\r\n'),
      Buffer.from('*0\r\n*-1\r\n'),
      multibulk('GET', ''),
      multibulk('MSET', 'k1', 'v1', 'k2', Buffer.alloc(300, 120)),
    ]);
    assertParses(input, [
      ['SET', 'key', 'va\r\nlue'],
      ['PING'],
      ['set', 'a b', "c'd", 'A\n'],
      ['GET', ''],
      ['MSET', 'k1', 'v1', 'k2', 'x'.repeat(300)],
    ]);
  });

  test("Redis's protocol error texts", () => {
    // Goal: clients see the same errors as from Redis, and they are found at any split.
    const cases: [string, string][] = [
      ['*x\r\n', 'Protocol error: invalid multibulk length'],
      [`*${multibulkLengthMax + 1}\r\n`, 'Protocol error: invalid multibulk length'],
      ['*01\r\n', 'Protocol error: invalid multibulk length'],
      ['*1\r\nx3\r\n', "Protocol error: expected '$', got 'x'"],
      ['*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
      ['*1\r\n$abc\r\n', 'Protocol error: invalid bulk length'],
      ['*1\r\n$11\r\n', 'Protocol error: invalid bulk length'],
      ['set "a\r\n', 'Protocol error: unbalanced quotes in request'],
      ['set "a"b\r\n', 'Protocol error: unbalanced quotes in request'],
      ["get 'x\n", 'Protocol error: unbalanced quotes in request'],
    ];
    for (const [input, message] of cases) {
      assertParses(Buffer.from(input), message, { bulkBytesMax: 10 });
    }
  });

  test('over-long lines are refused without waiting for their end', () => {
    // Goal: a client that never sends a line end cannot make the server buffer forever.
    const long = Buffer.alloc(inlineBytesMax + 10, 97);
    assert.equal(parseChunks([long]), 'Protocol error: too big inline request');
    const count = Buffer.concat([Buffer.from('*'), Buffer.alloc(inlineBytesMax + 10, 49)]);
    assert.equal(parseChunks([count]), 'Protocol error: too big mbulk count string');
    const header = Buffer.concat([Buffer.from('*1\r\n$'), Buffer.alloc(inlineBytesMax + 10, 49)]);
    assert.equal(parseChunks([header]), 'Protocol error: too big bulk count string');
  });

  test('commands before a protocol error are kept; a failed parser takes nothing more', () => {
    // Goal: as in Redis, commands before the error run and nothing after it is taken.
    const parser = new RequestParser();
    assert.deepEqual(asText(parser.feed(Buffer.from('PING\r\n*z\r\n'))), [['PING']]);
    assert.ok(parser.failure instanceof RespProtocolError);
    assert.deepEqual(parser.feed(Buffer.from('PING\r\n')), []);
  });

  test('before AUTH only small requests parse, and parsing pauses after AUTH to let it run', () => {
    // Goal: as in Redis, a client that has not authenticated cannot make the server
    // buffer big requests, while AUTH followed by a big request in one chunk still works.
    const strict = new RequestParser();
    strict.unauthenticated = true;
    strict.feed(multibulk(...Array.from({ length: 11 }, () => 'x')));
    assert.equal(strict.failure?.message, 'Protocol error: unauthenticated multibulk length');
    const big = new RequestParser();
    big.unauthenticated = true;
    big.feed(multibulk('SET', 'k', 'v'.repeat(16 * 1024 + 1)));
    assert.equal(big.failure?.message, 'Protocol error: unauthenticated bulk length');

    const parser = new RequestParser();
    parser.unauthenticated = true;
    const value = 'v'.repeat(100_000);
    const input = Buffer.concat([
      multibulk('PING'),
      multibulk('auth', 'secret'),
      multibulk('SET', 'k', value),
    ]);
    assert.deepEqual(asText(parser.feed(input)), [['PING'], ['auth', 'secret']]);
    assert.ok(parser.paused);
    parser.unauthenticated = false; // the AUTH succeeded
    const rest = parser.resume();
    assert.equal(parser.failure, null);
    assert.deepEqual(asText(rest), [['SET', 'k', value]]);
    // A failed AUTH keeps the small limits for what follows.
    const refused = new RequestParser();
    refused.unauthenticated = true;
    refused.feed(Buffer.concat([multibulk('AUTH', 'wrong'), multibulk('SET', 'k', value)]));
    assert.ok(refused.paused);
    assert.deepEqual(refused.resume(), []);
    assert.equal(refused.failure?.message, 'Protocol error: unauthenticated bulk length');
  });

  test('a large bulk string in many chunks is copied into one buffer', () => {
    // Goal: a 4 MB value arriving in 1000-byte chunks parses exactly, with bounded buffering.
    const value = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = i % 251;
    const input = Buffer.concat([multibulk('SET', 'big', value), Buffer.from('PING\r\n')]);
    const parser = new RequestParser();
    const commands: Buffer[][] = [];
    for (let i = 0; i < input.length; i += 1000) {
      commands.push(...parser.feed(input.subarray(i, i + 1000)));
      assert.ok(parser.bufferedBytes <= value.length + 2000);
    }
    assert.equal(commands.length, 2);
    assert.ok(commands[0][2].equals(value));
    assert.equal(commands[1][0].toString(), 'PING');
  });

  test('sdssplitargs rules for inline arguments', () => {
    // Goal: inline commands split exactly as redis-cli users expect from Redis.
    const split = (text: string) =>
      splitInlineArgs(Buffer.from(text))?.map((arg) => arg.toString('latin1')) ?? null;
    assert.deepEqual(split('a  b\tc'), ['a', 'b', 'c']);
    assert.deepEqual(split('"\\t\\\\\\"" \'\\n\''), ['\t\\"', '\\n']);
    assert.deepEqual(split('x"y z"'), ['xy z']);
    assert.deepEqual(split('"\\xff\\xZZ"'), ['\xff' + 'xZZ']);
    assert.equal(split('"abc'), null);
    assert.deepEqual(split(''), []);
  });

  test('fuzz: random and mutated input only ever yields commands or a protocol error', () => {
    // Goal: no input crashes the parser or makes it loop; splits never change the outcome.
    const arg = fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes));
    const valid = fc
      .array(fc.array(arg, { minLength: 1, maxLength: 4 }), { maxLength: 4 })
      .map((commands) => Buffer.concat(commands.map((args) => multibulk(...args))));
    const mutated = fc
      .tuple(
        valid,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      )
      .map(([bytes, edits]) => {
        const copy = Buffer.from(bytes);
        for (const [at, value] of edits) if (copy.length > 0) copy[at % copy.length] = value;
        return copy;
      });
    const noise = fc
      .array(
        fc.oneof(
          fc.constantFrom('*', '$', '\r', '\n', '"', "'", '\\', ' ', '-', '0', '1', '9', 'x'),
          fc.string({ maxLength: 3 }),
        ),
        { maxLength: 40 },
      )
      .map((parts) => Buffer.from(parts.join('')));
    fc.assert(
      fc.property(fc.oneof(valid, mutated, noise), fc.nat(), (input, cut) => {
        const whole = parseChunks([input], { bulkBytesMax: 64 });
        const at = input.length === 0 ? 0 : cut % input.length;
        const split = parseChunks([input.subarray(0, at), input.subarray(at)], {
          bulkBytesMax: 64,
        });
        assert.deepEqual(split, whole);
        if (typeof whole === 'string') assert.match(whole, /^Protocol error: /);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('RESP reply encoding', () => {
  test('RESP2 and RESP3 forms of every reply type', () => {
    // Goal: HELLO 3 clients get RESP3 types, everyone else RESP2 fallbacks as Redis gives.
    const text = (reply: Reply, protocol: 2 | 3) => encodeReply(reply, protocol).toString();
    assert.equal(text(ok, 2), '+OK\r\n');
    assert.equal(text(error('ERR bad\r\nline'), 2), '-ERR bad line\r\n');
    assert.equal(text(42, 3), ':42\r\n');
    assert.equal(text('héllo', 2), '$6\r\nhéllo\r\n');
    assert.equal(text(null, 2), '$-1\r\n');
    assert.equal(text(null, 3), '_\r\n');
    assert.equal(text(['a', null, 1], 2), '*3\r\n$1\r\na\r\n$-1\r\n:1\r\n');
    assert.equal(text(map([['k', 1]]), 2), '*2\r\n$1\r\nk\r\n:1\r\n');
    assert.equal(text(map([['k', 1]]), 3), '%1\r\n$1\r\nk\r\n:1\r\n');
    assert.equal(text({ kind: 'set', items: ['a'] }, 3), '~1\r\n$1\r\na\r\n');
    assert.equal(text({ kind: 'double', value: 1.5 }, 3), ',1.5\r\n');
    assert.equal(text({ kind: 'double', value: 1.5 }, 2), '$3\r\n1.5\r\n');
    assert.equal(text({ kind: 'verbatim', text: 'ab' }, 3), '=6\r\ntxt:ab\r\n');
    assert.equal(text(Buffer.from([0, 255]), 2), '$2\r\n\x00\xff\r\n'.replace('\xff', '\ufffd'));
  });

  test('the reply parser reads back what the encoder wrote, at any split', () => {
    // Goal: forwarded answers from the leader reach the client unchanged.
    const replies: Reply[] = [
      ok,
      error('ERR x'),
      7,
      Buffer.from('v'),
      null,
      [1, [Buffer.from('a')]],
    ];
    const bytes = Buffer.concat(replies.map((reply) => encodeReply(reply, 2)));
    for (let i = 0; i <= bytes.length; i++) {
      const parser = new ReplyParser();
      const got = [...parser.feed(bytes.subarray(0, i)), ...parser.feed(bytes.subarray(i))];
      assert.deepEqual(got, replies);
    }
  });
});
