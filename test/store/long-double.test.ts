// INCRBYFLOAT's arithmetic on its own: the answers below are glibc's, strtold and printf
// "%.17Lf" on x86-64's 80-bit long double, at the edges the differential test draws rarely.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../../src/store/long-double.js';

/** What INCRBYFLOAT answers for `value` plus `by`: the text, 'refused' or 'not finite'. */
function incrbyfloat(value: string, by: string): string {
  const a = parseLongDouble(Buffer.from(value, 'latin1'));
  const b = parseLongDouble(Buffer.from(by, 'latin1'));
  if (a === null || b === null) return 'refused';
  const sum = addLongDouble(a, b);
  return sum === null ? 'not finite' : formatLongDouble(sum);
}

test('INCRBYFLOAT rounds, reads and refuses as Redis does on x86-64', () => {
  // Goal: ties to even at the 17th decimal, the extended precision's own rounding errors,
  // hex floats, subnormals, overflow and underflow of the 80-bit format, and Redis's
  // refusals of what strtold does not read whole.
  assert.equal(incrbyfloat('0x1p-18', '0'), '0.00000381469726562');
  assert.equal(incrbyfloat('10.6', '5.0e3'), '5010.60000000000000009');
  assert.equal(incrbyfloat('0.1', '0.2'), '0.3');
  assert.equal(incrbyfloat('-0.1', '0.1'), '0');
  assert.equal(incrbyfloat('-5e-18', '0'), '0');
  assert.equal(incrbyfloat('3.0000000000000000001', '0'), '3');
  assert.equal(incrbyfloat('0x1p-16445', '0'), '0');
  assert.equal(incrbyfloat('0xA.8p2', '.5'), '42.5');
  assert.equal(incrbyfloat('1e4932', '1e4932'), 'not finite');
  assert.equal(incrbyfloat('inf', '1'), 'not finite');
  assert.equal(incrbyfloat('1.18e4932', '0').length, 4933);
  for (const bad of ['1e-5000', '1e5000', 'nan', '', ' 1', '1 ', '1e', '0x', '+', '1\0']) {
    assert.equal(incrbyfloat(bad, '1'), 'refused', JSON.stringify(bad));
  }
  assert.equal(incrbyfloat('x'.repeat(5119), '1'), 'refused');
  assert.equal(incrbyfloat(`${'0'.repeat(5118)}1`, '0'), '1', 'just under the length limit');
});
