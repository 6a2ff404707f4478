// The payload codec: the hot core messages go in their binary form, every message comes
// back exactly as msgpack gave it before, and damaged binary payloads are refused.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Entry, Message } from '../../src/core/types.js';
import { decodePayload, encodeFramedPayload, encodePayload } from '../../src/transport/codec.js';
import { encodeFrame, FrameParser } from '../../src/transport/frame.js';
import { binaryMessageTag } from '../../src/transport/message-codec.js';
import {
  binaryTypeMessageArbitrary,
  comparable,
  hasBinaryForm,
  messageArbitrary,
  oddMessageArbitrary,
} from './messages.js';

/** The codec every payload had before the binary form: what a payload must still decode to. */
const msgpack = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

function frameOf(message: Message): { kind: 'raft'; message: Message } {
  return { kind: 'raft', message };
}

/** Decodes `payload`, failing the test if it does not decode. */
function decoded(payload: Uint8Array): unknown {
  const result = decodePayload(payload);
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.value;
}

/** The message of a decoded `{ kind: 'raft', message }` payload. */
function messageIn(value: unknown): Message {
  return (value as { message: Message }).message;
}

const append: Message = {
  type: 'append',
  from: 'node-1',
  to: 'node-2',
  term: 7,
  prevIndex: 41,
  prevTerm: 6,
  entries: [
    { index: 42, term: 6, kind: 'command', durability: 'quorum', data: Buffer.from('set a 1') },
    { index: 43, term: 7, kind: 'noop', durability: 'async' },
    { index: 44, term: 7, kind: 'command', durability: 'sync', data: new Uint8Array(0) },
  ],
  commit: 40,
};

/** One message of every type with a binary form, for the byte-by-byte tests. */
const samples: Message[] = [
  append,
  { ...append, entries: [] },
  {
    type: 'append-response',
    from: 'node-2',
    to: 'node-1',
    term: 7,
    reject: true,
    index: 41,
    hintIndex: 30,
    hintTerm: 5,
    applied: 2 ** 40,
  },
  {
    ...append,
    from: 'node-2',
    to: 'node-3',
    leader: 'node-1',
    routes: [{ id: 'node-4', routes: [{ id: 'node-5', routes: [] }] }],
  },
  {
    type: 'append-response',
    from: 'node-3',
    to: 'node-2',
    term: 7,
    reject: false,
    index: 44,
    hintIndex: 0,
    hintTerm: 0,
    applied: 40,
    covers: [
      { id: 'node-4', index: 44, applied: 39 },
      { id: 'node-5', index: 43, applied: 0 },
    ],
  },
  { type: 'heartbeat', from: 'nœud-1', to: 'node-2', term: 7, commit: 40, round: 3 },
  { type: 'heartbeat-response', from: '\ufeffnode-2', to: '', term: 7, round: 3, applied: 39 },
];

describe('payload codec', () => {
  test('every message type round-trips exactly, the hot ones in the binary form', () => {
    // Goal: nothing changes for the receiver: each message decodes to itself, optional
    // fields absent stay absent, and only the four hot types (without membership entries)
    // take the binary form.
    fc.assert(
      fc.property(messageArbitrary, (message) => {
        const payload = encodePayload(frameOf(message));
        assert.equal(payload[0] === binaryMessageTag, hasBinaryForm(message), message.type);
        assert.deepStrictEqual(comparable(decoded(payload)), comparable(frameOf(message)));
      }),
      { numRuns: 3000 },
    );
  });

  test('odd values a buggy core could send travel exactly as msgpack carried them', () => {
    // Goal: a NaN, a negative or unsafe number, a lone surrogate is never turned into
    // something else by the binary form: such a message goes as msgpack.
    fc.assert(
      fc.property(oddMessageArbitrary, (message) => {
        const frame = frameOf(message);
        const payload = encodePayload(frame);
        const carried = hasBinaryForm(message) && onlySafeIndexesAndWholeStrings(message);
        assert.equal(payload[0] === binaryMessageTag, carried, message.type);
        const expected = msgpack.unpack(msgpack.pack(frame));
        assert.deepStrictEqual(comparable(decoded(payload)), comparable(expected));
      }),
      { numRuns: 3000 },
    );
  });

  test('payloads other than a core message frame stay msgpack, and never start with the tag', () => {
    // Goal: handshake messages and any other value keep their msgpack form and content.
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ bytes: fc.uint8Array() })), (value) => {
        const payload = encodePayload(value);
        assert.notEqual(payload[0], binaryMessageTag);
        const expected = msgpack.unpack(msgpack.pack(value));
        assert.deepStrictEqual(comparable(decoded(payload)), comparable(expected));
      }),
      { numRuns: 1000 },
    );
    const hello = { type: 'hello', clusterId: 'c', nodeId: 'node-1', nonce: new Uint8Array(16) };
    assert.deepStrictEqual(encodePayload(hello), msgpack.pack(hello));
    const notRaft = { kind: 'snapshot-chunk', message: append };
    assert.deepStrictEqual(encodePayload(notRaft), msgpack.pack(notRaft));
  });

  test('the binary form is smaller than msgpack and decodes what msgpack decodes', () => {
    // Goal: the binary form carries the same content in fewer bytes.
    for (const message of samples) {
      const binary = encodePayload(frameOf(message));
      const packed = msgpack.pack(frameOf(message));
      assert.equal(binary[0], binaryMessageTag);
      assert.ok(binary.length < packed.length, `${message.type}: ${binary.length} bytes`);
      assert.deepStrictEqual(comparable(decoded(binary)), comparable(msgpack.unpack(packed)));
    }
  });

  test('a payload framed in place is the frame of its payload', () => {
    // Goal: writing a binary message straight into its frame gives the very bytes that
    // framing the encoded payload does, and the frame parser gives the payload back.
    const value = fc.oneof(
      messageArbitrary.map(frameOf),
      oddMessageArbitrary.map(frameOf),
      fc.anything(),
    );
    fc.assert(
      fc.property(value, (each) => {
        const frame = encodeFramedPayload(each);
        assert.deepStrictEqual(frame, encodeFrame(encodePayload(each)));
        const parser = new FrameParser();
        parser.push(frame);
        const result = parser.next(frame.length);
        assert.ok(result !== null && result.status === 'frame');
        assert.deepStrictEqual(
          comparable(decoded(result.payload)),
          comparable(decoded(encodePayload(each))),
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('appends of the same entries to several followers each carry their own message', () => {
    // Goal: the entries encoded for one follower are reused for the next one only when
    // they are the very same entries: each payload decodes to its own message, and a
    // changed entry list (an entry replaced, one added, the array itself changed after
    // sending) is encoded afresh.
    const entries = [...(append as Extract<Message, { type: 'append' }>).entries];
    const toTwo = { ...append, entries: entries.slice() };
    const toThree = { ...append, to: 'node-3', prevIndex: 40, entries: entries.slice() };
    const replaced = { ...toThree, entries: [entries[0], { ...entries[1] }, entries[2]] };
    const longer = { ...toThree, entries: [...entries, { ...(entries[1] as Entry), index: 45 }] };
    const shorter = { ...toThree, entries: entries.slice(0, 2) };
    for (const message of [toTwo, toThree, replaced, toTwo, longer, shorter, toTwo] as Message[]) {
      const payload = encodePayload(frameOf(message));
      assert.equal(payload[0], binaryMessageTag);
      assert.deepStrictEqual(comparable(decoded(payload)), comparable(frameOf(message)));
    }
    const mutable = { ...append, entries: entries.map((entry) => ({ ...entry })) };
    encodePayload(frameOf(mutable));
    mutable.entries.pop();
    assert.deepStrictEqual(
      comparable(decoded(encodePayload(frameOf(mutable)))),
      comparable(frameOf(mutable)),
    );
  });

  test('entry data is copied out of the payload, and absent data stays absent', () => {
    // Goal: an entry kept in the log pins neither the frame nor the socket chunk it came
    // in, and an entry without data does not grow a `data` field.
    const payload = Buffer.concat([Buffer.alloc(100), encodePayload(frameOf(append))]);
    const view = payload.subarray(100);
    const message = messageIn(decoded(view));
    assert.equal(message.type, 'append');
    const entries = (message as Extract<Message, { type: 'append' }>).entries;
    for (const entry of entries) {
      if (entry.data !== undefined) assert.notEqual(entry.data.buffer, payload.buffer);
    }
    assert.equal('data' in (entries[1] as Entry), false);
    assert.deepStrictEqual((entries[2] as Entry).data, new Uint8Array(0));
    view.fill(0xee, 1);
    assert.equal(Buffer.from((entries[0] as Entry).data as Uint8Array).toString(), 'set a 1');
  });
});

/**
 * The fields of a type that the binary form does not know of: `never` while it knows
 * them all. A field added to a message type with a binary form (or to Entry) stops this
 * file from compiling until the codec carries it too (or falls back to msgpack for it, as
 * for `membership`), instead of being silently dropped on the wire.
 */
type Unknown<T, Known extends PropertyKey> = Exclude<keyof T, Known>;
type Header = 'type' | 'from' | 'to' | 'term';
type UnknownFields = [
  Unknown<
    Extract<Message, { type: 'append' }>,
    Header | 'prevIndex' | 'prevTerm' | 'commit' | 'entries' | 'leader' | 'routes'
  >,
  Unknown<Entry, 'index' | 'term' | 'kind' | 'durability' | 'data' | 'membership'>,
  Unknown<
    Extract<Message, { type: 'append-response' }>,
    Header | 'reject' | 'index' | 'hintIndex' | 'hintTerm' | 'applied' | 'covers'
  >,
  Unknown<Extract<Message, { type: 'heartbeat' }>, Header | 'commit' | 'round'>,
  Unknown<Extract<Message, { type: 'heartbeat-response' }>, Header | 'round' | 'applied'>,
];

test('the binary form knows every field of its message types', () => {
  // Goal: checked when this file compiles; the assertion only records that it did.
  const everyFieldKnown: UnknownFields extends [never, never, never, never, never] ? true : false =
    true;
  assert.equal(everyFieldKnown, true);
});

describe('binary payload decoding', () => {
  test('a binary payload cut short at any length, or with bytes after it, is refused', () => {
    // Goal: every truncation and every overlong payload gives a reason, never a throw.
    fc.assert(
      fc.property(
        binaryTypeMessageArbitrary.filter(hasBinaryForm),
        fc.uint8Array({ minLength: 1, maxLength: 4 }),
        (message, extra) => {
          const payload = encodePayload(frameOf(message));
          assert.equal(payload[0], binaryMessageTag);
          for (let length = 1; length < payload.length; length++) {
            const result = decodePayload(payload.subarray(0, length));
            assert.equal(result.ok, false, `cut at ${length} of ${payload.length}`);
          }
          assert.equal(decodePayload(Buffer.concat([payload, extra])).ok, false);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('any byte changed to any value is refused or decodes to a message encoded by exactly those bytes', () => {
    // Goal: damage never throws, never reads out of bounds, and never yields a value the
    // codec could not have produced (a NaN or unsafe index, an unknown kind, a boolean
    // that is not one): the binary form is canonical, so whatever decodes re-encodes to
    // the very same bytes.
    for (const message of samples) {
      const payload = encodePayload(frameOf(message));
      for (let position = 1; position < payload.length; position++) {
        for (let value = 0; value < 256; value++) {
          if (value === payload[position]) continue;
          const damaged = Buffer.from(payload);
          damaged[position] = value;
          assertRefusedOrCanonical(damaged);
        }
      }
    }
  });

  test('random damage to random messages is refused or canonical', () => {
    // Goal: as above, over random messages and several damaged bytes at once.
    fc.assert(
      fc.property(
        binaryTypeMessageArbitrary.filter(hasBinaryForm),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (message, changes) => {
          const damaged = Buffer.from(encodePayload(frameOf(message)));
          for (const [at, value] of changes) damaged[1 + (at % (damaged.length - 1))] = value;
          assertRefusedOrCanonical(damaged);
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('impossible fields are refused with a reason', () => {
    // Goal: each strictness rule holds on its own, before anything big is allocated.
    const payload = encodePayload(frameOf(append));
    const header = 2 + 2 + 'node-1'.length + 2 + 'node-2'.length; // tag, type, the two ids
    const entriesAt = header + 8 + 24 + 4; // after term, prevIndex/prevTerm/commit, count
    const cases: [string, (bytes: Buffer) => void, RegExp][] = [
      ['unknown type', (bytes) => (bytes[1] = 99), /unknown message type/],
      [
        'term beyond the safe integers',
        (bytes) => bytes.writeUInt32BE(0x20_0000, header),
        /safe integers/,
      ],
      [
        'a huge entry count',
        (bytes) => bytes.writeUInt32BE(0xffff_ffff, entriesAt - 4),
        /entries in/,
      ],
      ['kind 2 (membership has no binary form)', (bytes) => (bytes[entriesAt + 16] = 2), /kind/],
      ['durability 4', (bytes) => (bytes[entriesAt + 17] = 4), /durability/],
      ['unknown flags', (bytes) => (bytes[entriesAt + 18] = 3), /flags/],
      [
        'data bytes without data',
        (bytes) => bytes.writeUInt32BE(1, entriesAt + 23 + 19),
        /without data/,
      ],
      ['an id that is not UTF-8', (bytes) => (bytes[4] = 0xff), /UTF-8/],
      ['an id longer than the payload', (bytes) => bytes.writeUInt16BE(0xffff, 2), /too short/],
    ];
    for (const [what, damage, reason] of cases) {
      const bytes = Buffer.from(payload);
      damage(bytes);
      const result = decodePayload(bytes);
      assert.equal(result.ok, false, what);
      if (!result.ok) assert.match(result.reason, reason, what);
    }
    const response = Buffer.from(encodePayload(frameOf(samples[2] as Message)));
    response[response.length - 33] = 2; // `reject`, before the four 8-byte fields
    const result = decodePayload(response);
    assert.ok(!result.ok && /bad boolean/.test(result.reason));
  });
});

/**
 * Whether every number in `value` is a non-negative safe integer and every string has
 * UTF-8 that decodes back to it (no lone surrogate): what the binary form can carry.
 */
function onlySafeIndexesAndWholeStrings(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0;
  if (typeof value === 'string') return Buffer.from(value).toString() === value;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return true;
  return Object.values(value).every(onlySafeIndexesAndWholeStrings);
}

function assertRefusedOrCanonical(bytes: Buffer): void {
  const result = decodePayload(bytes);
  if (!result.ok) return;
  const again = encodePayload(result.value);
  assert.deepStrictEqual(again, bytes, 'a damaged payload decoded to something else');
}
