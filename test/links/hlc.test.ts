import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  Hlc,
  compareStamps,
  formatStamp,
  logicalMax,
  parseStamp,
  type Stamp,
} from '../../src/links/hlc.js';

test('a clock only moves forward, whatever its wall clock does', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 200 }),
      (walls) => {
        const clock = new Hlc('eu');
        let last: Stamp | null = null;
        for (const wall of walls) {
          const stamp = clock.now(wall);
          assert.ok(stamp.ms >= wall, 'a stamp is at or after its wall clock');
          if (last !== null) assert.ok(compareStamps(stamp, last) > 0, 'stamps grow');
          last = stamp;
        }
      },
    ),
  );
});

test('a stamp taken after observing a remote one is greater, even with the wall clock behind', () => {
  const us = new Hlc('us', { skewMsMax: 10_000 });
  const remote: Stamp = { ms: 5_000, logical: 7, cluster: 'zz' };
  assert.deepEqual(us.observe(remote, 1_000), { ok: true });
  const next = us.now(1_000);
  assert.ok(compareStamps(next, remote) > 0);
  assert.deepEqual(next, { ms: 5_000, logical: 8, cluster: 'us' });
});

test('a remote stamp further ahead than the skew allows is refused and leaves the clock', () => {
  const clock = new Hlc('eu', { skewMsMax: 1_000 });
  const before = clock.now(100);
  assert.deepEqual(clock.observe({ ms: 5_000, logical: 0, cluster: 'us' }, 100), {
    ok: false,
    aheadMs: 4_900,
  });
  assert.deepEqual(clock.last, before);
  assert.deepEqual(clock.observe({ ms: 1_100, logical: 0, cluster: 'us' }, 100), { ok: true });
});

test('the logical counter rolls into the next millisecond at its maximum', () => {
  const clock = new Hlc('eu', { last: { ms: 10, logical: logicalMax, cluster: 'eu' } });
  assert.deepEqual(clock.now(5), { ms: 11, logical: 0, cluster: 'eu' });
});

test('ties between clusters are broken by cluster id, the same way everywhere', () => {
  const a: Stamp = { ms: 1, logical: 0, cluster: 'a' };
  const b: Stamp = { ms: 1, logical: 0, cluster: 'b' };
  assert.ok(compareStamps(a, b) < 0 && compareStamps(b, a) > 0);
  assert.equal(compareStamps(a, { ...a }), 0);
});

test('stamps round-trip through text, which sorts as they do within a cluster', () => {
  const stamp = fc.record({
    ms: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    logical: fc.integer({ min: 0, max: logicalMax }),
  });
  fc.assert(
    fc.property(stamp, stamp, (x, y) => {
      const a = { ...x, cluster: 'eu-1' };
      const b = { ...y, cluster: 'eu-1' };
      assert.deepEqual(parseStamp(formatStamp(a)), a);
      const byText = formatStamp(a) < formatStamp(b) ? -1 : formatStamp(a) > formatStamp(b) ? 1 : 0;
      assert.equal(byText, Math.sign(compareStamps(a, b)));
    }),
  );
  assert.equal(parseStamp('12.3@eu'), null);
  assert.equal(parseStamp('0000000000000001.00000000@'), null);
});
