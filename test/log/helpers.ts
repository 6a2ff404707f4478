import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Durability, Entry } from '../../src/core/types.js';

/** A fresh directory under the system's temporary directory, and a way to remove it. */
export function temporaryDirectory(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `tandem-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** The payload an entry at (index, term) carries in these tests: checkable byte for byte. */
export function payloadFor(index: number, term: number, bytes = 24): Uint8Array {
  const text = `${index}/${term}/`.padEnd(bytes, String.fromCharCode(97 + ((index + term) % 26)));
  return Buffer.from(text, 'utf8');
}

/** Command entries `from..to` (inclusive) of one term. */
export function entriesOf(
  from: number,
  to: number,
  term: number,
  durability: Durability = 'quorum',
): Entry[] {
  const entries: Entry[] = [];
  for (let index = from; index <= to; index++) {
    entries.push({ index, term, kind: 'command', durability, data: payloadFor(index, term) });
  }
  return entries;
}

/** An entry as plain comparable data (Buffers and Uint8Arrays compare alike). */
export function plain(entry: Entry): unknown {
  return {
    ...entry,
    data: entry.data === undefined ? undefined : Buffer.from(entry.data).toString('hex'),
  };
}
