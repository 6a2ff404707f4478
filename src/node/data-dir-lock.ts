/**
 * The exclusive lock a process holds on a data directory for its lifetime, so that two
 * nodes (or two local clusters) never run on the same files. Node has no flock, so this is
 * PostgreSQL's `postmaster.pid` scheme: the lock is a file, `tandem.lock`, that names its
 * holder's PID and a start token of that process (on Linux the boot id and the process's
 * start time from `/proc`). A lock file whose process is gone, or whose PID now belongs to
 * another process (a different start token), is stale: a node killed with SIGKILL must not
 * keep its own restart out.
 *
 * The file appears complete or not at all: it is written under a private name and linked
 * to `tandem.lock`, which fails if one exists. A stale lock is taken over by renaming it
 * away first (only one process can rename a given file), so two processes that find the
 * same stale lock cannot both win.
 */
import {
  linkSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../core/errors.js';

/** The lock file's name inside the directory it locks. */
export const lockFileName = 'tandem.lock';
/** Tries to take the lock when each try meets a stale lock that another process removes. */
const lockAttemptsMax = 10;
/** The largest lock file read: a few hundred bytes of JSON are expected. */
const lockFileBytesMax = 4096;

/** What a lock file says about the process that holds it. */
export interface LockHolder {
  readonly pid: number;
  /** The process's start token, or null where the platform has none (no `/proc`). */
  readonly started: string | null;
  /** What holds the directory, for messages: `tandem node n1`, `tandem cluster`. */
  readonly holder: string;
  /** When the lock was taken (ISO 8601). */
  readonly since: string;
}

/** Directories (real paths) locked by this process, so a second lock here is refused too. */
const lockedHere = new Set<string>();

/** A lock held by this process; `release()` removes it, and so does the process's exit. */
export class DataDirectoryLock {
  readonly directory: string;
  readonly #file: string;
  readonly #content: string;
  readonly #key: string;
  #released = false;
  readonly #onExit = (): void => this.release();

  private constructor(directory: string, key: string, content: string) {
    this.directory = directory;
    this.#file = join(directory, lockFileName);
    this.#key = key;
    this.#content = content;
    lockedHere.add(key);
    process.once('exit', this.#onExit);
  }

  /**
   * Locks `directory` (created if missing) for `holder`. Throws TANDEM_BAD_CONFIG naming
   * the directory and the live holder's PID when another process, or another node of this
   * process, holds it.
   */
  static acquire(directory: string, holder: string): DataDirectoryLock {
    mkdirSync(directory, { recursive: true });
    const key = realpathSync(directory);
    const file = join(directory, lockFileName);
    const content = `${JSON.stringify(ownHolder(holder))}\n`;
    for (let attempt = 0; attempt < lockAttemptsMax; attempt++) {
      if (createExclusive(file, content)) return new DataDirectoryLock(directory, key, content);
      const existing = readLockFile(file);
      if (existing === undefined) continue; // removed meanwhile: try again
      if (existing.holder !== null && holds(existing.holder, key)) {
        throw lockedError(directory, existing.holder);
      }
      removeStale(file, existing.text);
    }
    throw new TandemError(
      'TANDEM_BAD_CONFIG',
      `cannot lock the data directory ${directory}: its lock file ${file} keeps changing`,
    );
  }

  /** Removes the lock file if it is still this lock's; later calls do nothing. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    lockedHere.delete(this.#key);
    process.removeListener('exit', this.#onExit);
    if (readLockFile(this.#file)?.text === this.#content) unlinkSync(this.#file);
  }
}

/**
 * The live holder of `directory`'s lock, or null when it is free (no lock file, or a stale
 * one). Used to check directories before starting processes that will lock them.
 */
export function liveLockHolder(directory: string): LockHolder | null {
  let key: string;
  try {
    key = realpathSync(directory);
  } catch {
    return null; // no directory, no lock
  }
  const existing = readLockFile(join(directory, lockFileName));
  if (existing?.holder == null) return null;
  return holds(existing.holder, key) ? existing.holder : null;
}

/** The refusal for a directory that `holder` has locked. */
export function lockedError(directory: string, holder: LockHolder): TandemError {
  return new TandemError(
    'TANDEM_BAD_CONFIG',
    `the data directory ${directory} is in use by ${holder.holder} (PID ${holder.pid}, since ` +
      `${holder.since}); stop it, or give this one a directory of its own`,
  );
}

function ownHolder(holder: string): LockHolder {
  return {
    pid: process.pid,
    started: startToken(process.pid),
    holder,
    since: new Date().toISOString(),
  };
}

/** Writes `content` to `file` only if no such file exists; false if one does. */
function createExclusive(file: string, content: string): boolean {
  const staging = `${file}.${process.pid}.new`;
  writeFileSync(staging, content, { mode: 0o644 });
  try {
    linkSync(staging, file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(staging);
  }
}

/** The lock file's text and holder (null when unreadable), or undefined when it is gone. */
function readLockFile(file: string): { text: string; holder: LockHolder | null } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  return { text, holder: text.length > lockFileBytesMax ? null : parseHolder(text) };
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isSafeInteger(value.pid) || (value.pid as number) <= 0) return null;
    return {
      pid: value.pid as number,
      started: typeof value.started === 'string' ? value.started : null,
      holder: typeof value.holder === 'string' ? value.holder : 'another process',
      since: typeof value.since === 'string' ? value.since : 'an unknown time',
    };
  } catch {
    return null; // damaged: it names no live holder
  }
}

/** Whether the process `holder` names still runs and so still holds directory `key`. */
function holds(holder: LockHolder, key: string): boolean {
  // A lock file with this process's own PID is from an earlier process that had the same
  // PID (a container's PID 1 after a restart), unless this process locked it itself.
  if (holder.pid === process.pid) return lockedHere.has(key);
  if (!processExists(holder.pid)) return false;
  if (holder.started === null) return true;
  const token = startToken(holder.pid);
  // No token readable for a live process (a /proc hiding other users' processes): held.
  return token === null || token === holder.started;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // exists, owned by another user
  }
}

/**
 * Identifies one run of process `pid`: the boot id and the process's start time in clock
 * ticks since boot (field 22 of `/proc/PID/stat`). Null where there is no `/proc`.
 */
function startToken(pid: number): string | null {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = fields[19]; // field 22 of the whole line
    return startTime === undefined ? null : `${bootId}:${startTime}`;
  } catch {
    return null;
  }
}

/** Removes the stale lock file whose text is `staleText`, and only that one. */
function removeStale(file: string, staleText: string): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // another process removed it first
    throw error;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== staleText) {
    // Another process took the stale lock over between our read and the rename: this is
    // its fresh lock. Put it back (link fails only if a third process locked meanwhile).
    try {
      linkSync(aside, file);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
  }
  unlinkSync(aside);
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}
