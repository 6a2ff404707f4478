import { pbkdf2 } from 'node:crypto';
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

/**
 * Keeps every thread of libuv's pool busy for some tens of milliseconds (pbkdf2 runs
 * there), so that a file operation sent to the pool cannot finish before the caller looks:
 * a test can tell a write made on the calling thread from one made in the pool. Resolves
 * when the pool is free again.
 */
export async function occupyThreadPool(): Promise<void> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const job = (): Promise<void> =>
    new Promise((resolve, reject) => {
      pbkdf2('password', 'salt', 50_000, 32, 'sha256', (error) =>
        error === null ? resolve() : reject(error),
      );
    });
  await Promise.all(Array.from({ length: threads }, job));
}
