/**
 * The backup file (`GET /v1/backup`, `tandem backup`, `tandem restore`): one line of JSON
 * (`BackupHeader`: what the image is and how to check it), a newline, then the state
 * machine's image, `bytes` long, whose CRC32C is `checksum`. The image is the store's own
 * snapshot format, so it restores into SQLite or PostgreSQL alike.
 */
import type { Membership } from '../../core/types.js';

export const backupFormat = 'tandem-backup';
export const backupVersion = 1;
/** The longest header line read: the membership of a large cluster fits many times. */
export const backupHeaderBytesMax = 64 * 1024;

export interface BackupHeader {
  readonly format: typeof backupFormat;
  readonly version: typeof backupVersion;
  /** The log position the image stands for: every entry up to it applied. */
  readonly index: number;
  readonly term: number;
  readonly bytes: number;
  /** CRC32C of the image, 8 lower-case hex digits. */
  readonly checksum: string;
  readonly membership: Membership;
  /** The store it was taken from (`sqlite`, `postgres`). */
  readonly store: string;
  /** The node that took it, and when (ISO 8601). */
  readonly node: string;
  readonly takenAt: string;
}

/** The header's line, newline included. */
export function encodeBackupHeader(header: BackupHeader): Buffer {
  return Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
}

const checksumPattern = /^[0-9a-f]{8}$/;
const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;

function isMembership(value: unknown): value is Membership {
  if (typeof value !== 'object' || value === null) return false;
  const { voters, learners } = value as Record<string, unknown>;
  const ids = (list: unknown) =>
    Array.isArray(list) && list.every((id) => typeof id === 'string' && idPattern.test(id));
  return ids(voters) && ids(learners) && (voters as unknown[]).length > 0;
}

/** The header of a line (without its newline), or what is wrong with it. */
export function parseBackupHeader(line: string): BackupHeader | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'it does not start with a Tandem backup header (a JSON line)';
  }
  const header = value as Partial<BackupHeader>;
  if (typeof value !== 'object' || value === null || header.format !== backupFormat) {
    return 'it is not a Tandem backup';
  }
  if (header.version !== backupVersion) {
    return `it is a version ${String(header.version)} backup; this tandem reads version ${backupVersion}`;
  }
  const position = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!position(header.index) || !position(header.term) || !position(header.bytes)) {
    return 'its header has no valid index, term or size';
  }
  if (typeof header.checksum !== 'string' || !checksumPattern.test(header.checksum)) {
    return 'its header has no valid checksum';
  }
  if (!isMembership(header.membership)) return 'its header has no valid membership';
  return header as BackupHeader;
}
