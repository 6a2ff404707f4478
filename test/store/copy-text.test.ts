import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  copyChunks,
  CopyTextParser,
  encodeRow,
  unescapeField,
  type CopyField,
  type CopyValue,
} from '../../src/store/copy-text.js';
import { isCorrupt } from './helpers.js';

const rows: CopyValue[][] = [
  ['plain', '1', null],
  ['tab\there', 'new\nline', 'back\\slash'],
  ['carriage\rreturn', '', 'ü😀'],
  [Buffer.from([0, 1, 0xfe, 0xff]), '\\N', 'N'],
];

/** The rows a parser gives for `data` fed in the pieces `cuts` makes of it. */
function parse(data: Buffer, cuts: readonly number[], columns = 3): CopyField[][] {
  const parser = new CopyTextParser(columns);
  const parsed: CopyField[][] = [];
  let from = 0;
  for (const to of [...cuts, data.byteLength]) {
    parsed.push(...parser.push(data.subarray(from, to)));
    from = to;
  }
  parser.end();
  return parsed;
}

/** What the parser must give back for `rows`: text as its UTF-8 bytes, bytes as bytea's hex text. */
function expected(values: readonly CopyValue[][]): CopyField[][] {
  return values.map((row) =>
    row.map((value) => {
      if (value === null) return null;
      if (typeof value === 'string') return Buffer.from(value, 'utf8');
      return Buffer.from(`\\x${Buffer.from(value).toString('hex')}`, 'latin1');
    }),
  );
}

test('COPY text rows survive encoding and parsing whole, byte by byte, and split anywhere', () => {
  // Goal: the parser resumes across pieces cut at any byte, and undoes exactly the escapes
  // the encoder writes (tabs, newlines, backslashes, NULL, bytea's hex, multi-byte text).
  const data = Buffer.concat([...copyChunks(rows)]);
  const want = expected(rows);
  assert.deepEqual(parse(data, []), want);
  assert.deepEqual(
    parse(
      data,
      Array.from({ length: data.byteLength - 1 }, (_, i) => i + 1),
    ),
    want,
  );
  for (let cut = 0; cut <= data.byteLength; cut++) assert.deepEqual(parse(data, [cut]), want);
});

test("the parser reads every escape PostgreSQL's COPY writes or accepts", () => {
  // Goal: letters, octal and hex escapes, and any other byte standing for itself.
  const field = (text: string): string =>
    unescapeField(Buffer.from(text, 'latin1')).toString('latin1');
  assert.equal(field('a\\tb\\nc\\rd\\be\\ff\\vg'), 'a\tb\nc\rd\be\ff\vg');
  assert.equal(field('\\101\\60\\0x'), 'A0\0x');
  assert.equal(field('\\x41\\x4g\\xz'), 'A\x04gxz');
  assert.equal(field('\\\\\\.\\q'), '\\.q');
  assert.throws(() => field('end\\'), isCorrupt(/lone backslash/));
});

test('malformed COPY data is refused as corrupt', () => {
  // Goal: a wrong field count, data ending inside a row, and a row past the limit are
  // TANDEM_CORRUPT, never a wrong row.
  assert.throws(() => parse(Buffer.from('a\tb\n'), []), isCorrupt(/2 fields .* 3 columns/));
  assert.throws(() => parse(Buffer.from('a\tb\tc\td\n'), []), isCorrupt(/4 fields/));
  assert.throws(() => parse(Buffer.from('a\tb\tc'), []), isCorrupt(/ends inside a row/));
  const small = new CopyTextParser(1, 8);
  assert.throws(() => [...small.push(Buffer.from('0123456789'))], isCorrupt(/longer than/));
  assert.throws(() => encodeRow(['a\0b']), isCorrupt(/U\+0000/));
});
