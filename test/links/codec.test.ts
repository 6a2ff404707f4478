import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TandemError } from '../../src/core/errors.js';
import { batchRecordsMax, decodeBatch, encodeBatch } from '../../src/links/codec.js';
import { Hlc } from '../../src/links/hlc.js';
import { LinkedState, type LocalOp } from '../../src/links/protocol.js';
import { keyBytesMax } from '../../src/store/commands.js';

type Draw = { kind: 'write' | 'increment' | 'expire'; key: string; value: number; at: 0 | 1 };

const draw = fc.record({
  kind: fc.constantFrom('write' as const, 'increment' as const, 'expire' as const),
  key: fc.string({ maxLength: 8 }).map((text) => Buffer.from(text).toString('latin1')),
  value: fc.integer({ min: -1000, max: 1000 }),
  at: fc.constantFrom(0 as const, 1 as const),
});

/** Two linked clusters' streams after some writes on each and an exchange. */
function streams(draws: Draw[]): LinkedState[] {
  const states = [new LinkedState('eu'), new LinkedState('us')];
  const clocks = [new Hlc('eu'), new Hlc('us')];
  draws.forEach((step, index) => {
    const stamp = (clocks[step.at] as Hlc).now(1_000 + index);
    let op: LocalOp;
    if (step.kind === 'write') {
      const value = step.value < -900 ? null : Buffer.from(String(step.value));
      op = { kind: 'write', stamp, value, expiresAtMs: step.value > 900 ? 5_000 : null };
    } else if (step.kind === 'increment') {
      op = { kind: 'increment', stamp, delta: BigInt(step.value) * 2n ** 40n };
    } else {
      op = { kind: 'expire', stamp, expiresAtMs: step.value > 0 ? step.value : null };
    }
    (states[step.at] as LinkedState).applyLocal(step.key, op);
    if (index % 5 === 4) {
      const [eu, us] = states as [LinkedState, LinkedState];
      us.applyBatch(eu.batchAfter(us.position('eu'), 100));
      eu.applyBatch(us.batchAfter(eu.position('us'), 100));
    }
  });
  return states;
}

test('every batch of a real stream survives the wire unchanged', () => {
  fc.assert(
    fc.property(fc.array(draw, { maxLength: 60 }), (draws) => {
      for (const state of streams(draws)) {
        const batch = state.batchAfter(0, Math.max(1, state.streamLength));
        const decoded = decodeBatch(encodeBatch(batch));
        assert.deepEqual(
          { ...decoded, records: decoded.records.map((record) => ({ ...record })) },
          {
            ...batch,
            records: batch.records.map((record) => ({
              ...record,
              op:
                record.op.kind === 'write' && record.op.value !== null
                  ? { ...record.op, value: Buffer.from(record.op.value) }
                  : record.op,
            })),
          },
        );
      }
    }),
    { numRuns: 100 },
  );
});

/** Decodes, and says `ok` or the refusal's message; anything else thrown fails the test. */
function outcome(text: string): string {
  try {
    decodeBatch(text);
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof TandemError, `not a refusal: ${String(error)}`);
    assert.equal(error.code, 'TANDEM_BAD_REQUEST');
    return error.message;
  }
}

test('a damaged batch is refused with TANDEM_BAD_REQUEST, never another error', () => {
  const state = streams(
    Array.from({ length: 12 }, (_, i) => ({
      kind: (['write', 'increment', 'expire'] as const)[i % 3] as Draw['kind'],
      key: `k${i % 4}`,
      value: i * 7,
      at: (i % 2) as 0 | 1,
    })),
  )[0] as LinkedState;
  const text = encodeBatch(state.batchAfter(0, 100));
  const junk = fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.boolean(),
    fc.constant([]),
    fc.constant({}),
  );
  fc.assert(
    fc.property(
      fc.nat(),
      junk,
      fc.nat(text.length),
      fc.nat(text.length),
      (pick, value, from, to) => {
        // Replace one field somewhere in the tree, or cut the text.
        const tree = JSON.parse(text) as unknown;
        const fields: [Record<string, unknown>, string][] = [];
        const walk = (node: unknown) => {
          if (typeof node !== 'object' || node === null) return;
          for (const [name, child] of Object.entries(node)) {
            fields.push([node as Record<string, unknown>, name]);
            walk(child);
          }
        };
        walk(tree);
        const [holder, name] = fields[pick % fields.length] as [Record<string, unknown>, string];
        holder[name] = value;
        outcome(JSON.stringify(tree));
        outcome(text.slice(Math.min(from, to), Math.max(from, to)));
      },
    ),
    { numRuns: 500 },
  );
});

test('each limit and rule of a batch is refused by name', () => {
  const stamp = '0000000000000001.00000000@eu';
  const record = (op: object, key = 'k') => ({ position: 1, key, op });
  const batch = (records: object[]) =>
    JSON.stringify({ from: 'eu', after: 0, through: records.length, records });
  const write = { kind: 'write', stamp, seen: { eu: stamp }, value: null, expiresAtMs: null };
  for (const [text, message] of [
    ['{', /not JSON/],
    [JSON.stringify({ from: 'eu', after: 0, through: 0 }), /records must be an array/],
    [
      JSON.stringify({ from: 'e u', after: 0, through: 0, records: [] }),
      /from must be a cluster id/,
    ],
    [
      batch([record(write, 'x'.repeat(keyBytesMax + 1))]),
      /key is 513 bytes, over the maximum of 512/,
    ],
    [batch([record(write, 'ĀB')]), /key must hold one byte per character/],
    [batch([record({ ...write, seen: {} })]), /seen must hold the write's own stamp/],
    [batch([record({ ...write, value: 'not base64!' })]), /value must be base64 or null/],
    [
      batch([record({ kind: 'increment', stamp, delta: '9223372036854775808' })]),
      /outside 64 bits/,
    ],
    [batch([record({ kind: 'increment', stamp, delta: 5 })]), /delta must be a 64-bit integer/],
    [
      batch([record({ kind: 'expire', stamp: '12@eu', expiresAtMs: null })]),
      /stamp must be a stamp/,
    ],
    [batch([record({ kind: 'rename', stamp })]), /kind must be "write", "increment" or "expire"/],
    [
      batch(Array.from({ length: batchRecordsMax + 1 }, () => record(write))),
      /over the maximum of 10000/,
    ],
  ] as const) {
    assert.match(outcome(text), message, text.slice(0, 120));
  }
  assert.equal(outcome(batch([record(write)])), 'ok');
});
