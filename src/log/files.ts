import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Makes a directory's entries (files created, renamed or removed in it) durable. Without
 * this a new segment or snapshot file can vanish after a power loss even though its own
 * bytes were synced.
 */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
