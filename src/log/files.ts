import { constants, writeSync } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

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

/** Creates a directory (and its parents) if missing, and makes its creation durable. */
export async function makeDirectory(path: string): Promise<void> {
  const firstCreated = await mkdir(path, { recursive: true });
  if (firstCreated !== undefined) await syncDirectory(dirname(firstCreated));
}

/**
 * Writes all of `bytes` at `position`. One pwrite may write less than asked (a full disk,
 * a signal); a short write left unnoticed would leave a hole in the middle of the log.
 */
export async function writeFully(
  handle: FileHandle,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.length - written,
      position + written,
    );
    if (bytesWritten === 0) throw new Error(`write made no progress at byte ${position + written}`);
    written += bytesWritten;
  }
}

/**
 * `writeFully` on the calling thread: a pwrite into the page cache costs a few
 * microseconds, less than the hop to the thread pool and back that the asynchronous write
 * takes. For small writes only (see `syncWriteBytesMax` where it is used): the event loop
 * waits while the bytes are copied.
 */
export function writeFullySync(fd: number, bytes: Uint8Array, position: number): void {
  let written = 0;
  while (written < bytes.length) {
    const bytesWritten = writeSync(fd, bytes, written, bytes.length - written, position + written);
    if (bytesWritten === 0) throw new Error(`write made no progress at byte ${position + written}`);
    written += bytesWritten;
  }
}
