/**
 * Data-driven interaction tests: each file in test/core/testdata/ is a script of commands,
 * each followed by the output it must produce (see harness.ts for the commands). Run with
 * REWRITE=1 to regenerate the expected outputs in place after an intended change.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatScript, lineDiff, parseScript, runScript } from './harness.js';

// Scripts are read from the source tree (this file runs from dist/test/core/).
const testdata = new URL('../../../test/core/testdata/', import.meta.url);
const rewrite = process.env['REWRITE'] === '1';

const files = readdirSync(testdata)
  .filter((name) => name.endsWith('.txt'))
  .sort();

for (const name of files) {
  test(`interaction: ${name}`, () => {
    const url = new URL(name, testdata);
    const text = readFileSync(url, 'utf8');
    const script = parseScript(text);
    const run = runScript(script);
    if (rewrite) {
      const updated = formatScript(script, run.outputs);
      if (updated !== text) writeFileSync(url, updated);
      return;
    }
    if (run.mismatches.length === 0) return;
    const path = fileURLToPath(url);
    const shown = run.mismatches.slice(0, 3).map(({ block, actual }) => {
      const diff =
        block.expected === null
          ? `no expected output; actual:\n${actual}`
          : `--- expected\n+++ actual\n${lineDiff(block.expected, actual)}`;
      return `${path}:${block.line}: ${block.command}\n${diff}`;
    });
    const more =
      run.mismatches.length > 3 ? `\n(${run.mismatches.length - 3} more mismatching commands)` : '';
    throw new Error(
      `output differs from ${name} (run with REWRITE=1 to accept):\n\n${shown.join('\n\n')}${more}`,
    );
  });
}
