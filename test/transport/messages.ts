import fc from 'fast-check';
import type { Durability, Entry, Membership, Message, RelayRoute } from '../../src/core/types.js';

/**
 * Random core messages of every type, for the payload codec's property tests. Two kinds:
 * `messageArbitrary` gives messages as the core makes them (safe integers, well-formed
 * strings); `oddMessageArbitrary` mixes in values outside the types' ranges (unsafe or
 * negative numbers, NaN, lone surrogates), which a buggy core could hand over and which
 * must still travel exactly as msgpack carried them before.
 */

/** The message types that have a binary form. */
export const binaryTypes: ReadonlySet<Message['type']> = new Set([
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
]);

const durabilities: Durability[] = ['async', 'semi-sync', 'quorum', 'sync'];

/** Terms and indexes: small ones, as in a real log, and any safe integer. */
const index = fc.oneof(fc.nat(1000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

/** Node ids: the usual ones, and any string of whole code points (including empty). */
const nodeId = fc.oneof(
  fc.constantFrom('node-1', 'node-2', 'node-3'),
  fc.fullUnicodeString({ maxLength: 12 }),
);

/** Numbers the binary form refuses: they go as msgpack. */
const oddNumber = fc.constantFrom(-1, -0, 0.5, 2 ** 53, 2 ** 64, Number.NaN, Infinity);

const membership: fc.Arbitrary<Membership> = fc.record({
  voters: fc.array(nodeId, { maxLength: 3 }),
  learners: fc.array(nodeId, { maxLength: 2 }),
});

function entryOf(number: fc.Arbitrary<number>): fc.Arbitrary<Entry> {
  const base = { index: number, term: number, durability: fc.constantFrom(...durabilities) };
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        ...base,
        kind: fc.constant('command' as const),
        data: fc.uint8Array({ maxLength: 120 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ ...base, kind: fc.constant('noop' as const) }) },
    // Allowed by the types, though the core never makes them: both must survive as they are.
    { weight: 1, arbitrary: fc.record({ ...base, kind: fc.constant('command' as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        ...base,
        kind: fc.constant('noop' as const),
        data: fc.uint8Array({ maxLength: 4 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ ...base, kind: fc.constant('membership' as const), membership }),
    },
  );
}

/** A chain's routes: a tree of node ids at most `depth` deep. */
function routesOf(id: fc.Arbitrary<string>, depth: number): fc.Arbitrary<RelayRoute[]> {
  if (depth === 0) return fc.constant([]);
  return fc.array(fc.record({ id, routes: routesOf(id, depth - 1) }), { maxLength: 2 });
}

function messageOf(
  number: fc.Arbitrary<number>,
  id: fc.Arbitrary<string>,
  entryCountMax: number,
): fc.Arbitrary<Message> {
  const header = { from: id, to: id, term: number };
  const boolean = fc.boolean();
  return fc.oneof(
    fc.record({
      type: fc.constant('vote' as const),
      ...header,
      preVote: boolean,
      lastIndex: number,
      lastTerm: number,
      transfer: boolean,
    }),
    fc.record({
      type: fc.constant('vote-response' as const),
      ...header,
      preVote: boolean,
      granted: boolean,
    }),
    fc.record(
      {
        type: fc.constant('append' as const),
        ...header,
        prevIndex: number,
        prevTerm: number,
        entries: fc.array(entryOf(number), { maxLength: entryCountMax }),
        commit: number,
        // A chain's relayed append: on behalf of a leader, with routes to pass it on by.
        leader: id,
        routes: routesOf(id, 3),
      },
      {
        requiredKeys: ['type', 'from', 'to', 'term', 'prevIndex', 'prevTerm', 'entries', 'commit'],
      },
    ),
    fc.record(
      {
        type: fc.constant('append-response' as const),
        ...header,
        reject: boolean,
        index: number,
        hintIndex: number,
        hintTerm: number,
        applied: number,
        covers: fc.array(fc.record({ id, index: number, applied: number }), { maxLength: 4 }),
      },
      {
        requiredKeys: [
          'type',
          'from',
          'to',
          'term',
          'reject',
          'index',
          'hintIndex',
          'hintTerm',
          'applied',
        ],
      },
    ),
    fc.record({
      type: fc.constant('heartbeat' as const),
      ...header,
      commit: number,
      round: number,
    }),
    fc.record({
      type: fc.constant('heartbeat-response' as const),
      ...header,
      round: number,
      applied: number,
    }),
    fc.record({ type: fc.constant('applied' as const), ...header, applied: number }),
    fc.record({
      type: fc.constant('snapshot' as const),
      ...header,
      meta: fc.record({ index: number, term: number, membership }),
      data: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
    }),
    fc.record({ type: fc.constant('timeout-now' as const), ...header }),
    fc.record({ type: fc.constant('read-index' as const), ...header, readId: id }),
    fc.record({
      type: fc.constant('read-index-response' as const),
      ...header,
      readId: id,
      index: number,
      rejected: boolean,
    }),
    fc.record({ type: fc.constant('removed' as const), ...header, index: number }),
  );
}

/** Messages as the core makes them. */
export const messageArbitrary: fc.Arbitrary<Message> = messageOf(index, nodeId, 8);

/** Messages as the core makes them, of the types with a binary form only. */
export const binaryTypeMessageArbitrary: fc.Arbitrary<Message> = messageArbitrary.filter(
  (message) => binaryTypes.has(message.type),
);

/** Messages where any number or id may also be a value outside its type's range. */
export const oddMessageArbitrary: fc.Arbitrary<Message> = messageOf(
  fc.oneof({ weight: 4, arbitrary: index }, { weight: 1, arbitrary: oddNumber }),
  fc.oneof(
    { weight: 4, arbitrary: nodeId },
    { weight: 1, arbitrary: fc.string16bits({ maxLength: 4 }) },
  ),
  4,
);

/** Whether the binary form carries `message` (made by `messageArbitrary`) exactly. */
export function hasBinaryForm(message: Message): boolean {
  if (!binaryTypes.has(message.type)) return false;
  return message.type !== 'append' || message.entries.every((entry) => entry.kind !== 'membership');
}

/**
 * `value` with every byte array (Buffer or Uint8Array alike) replaced by its hex, so
 * that deep equality compares contents and key presence, not the class of a byte array.
 */
export function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(comparable);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, each]) => [key, comparable(each)]));
}
