/**
 * Redis's sixteen logical databases over one flat key namespace. A key of database 0 is
 * stored as it is; a key of database N (1 to 15) as the reserved prefix, the byte N and
 * `:`, then the key. Client keys that begin with the reserved prefix are refused, so every
 * stored key belongs to exactly one database. Pure; imports nothing of its siblings.
 */

/** How many databases there are (Redis's default `databases 16`). */
export const databaseCount = 16;

/** The bytes every key of databases 1 to 15 begins with: 0xFF 0x00 'd' 'b'. */
export const reservedPrefix: Buffer = Buffer.from([0xff, 0x00, 0x64, 0x62]);

/** The reserved prefix as a latin1 string (the in-memory namespace's key form). */
export const reservedPrefixText: string = reservedPrefix.toString('latin1');

/** Whether `db` names one of the sixteen databases. */
export function isDatabase(db: unknown): db is number {
  return typeof db === 'number' && Number.isSafeInteger(db) && db >= 0 && db < databaseCount;
}

/** The bytes every key of database `db` (1 to 15) begins with. */
export function databasePrefix(db: number): Buffer {
  return Buffer.concat([reservedPrefix, Buffer.from([db, 0x3a])]);
}

/** `databasePrefix` as a latin1 string. */
export function databasePrefixText(db: number): string {
  return reservedPrefixText + String.fromCharCode(db, 0x3a);
}

/** Whether a key a client gave begins with the reserved prefix (refused in every database). */
export function isReservedKey(key: Uint8Array): boolean {
  if (key.length < reservedPrefix.length) return false;
  for (let i = 0; i < reservedPrefix.length; i++) {
    if (key[i] !== reservedPrefix[i]) return false;
  }
  return true;
}

/** The stored form of a client's `key` in database `db`. */
export function storedKey(db: number, key: Buffer): Buffer {
  return db === 0 ? key : Buffer.concat([databasePrefix(db), key]);
}

/**
 * The database of a stored key: 0 for a key without the reserved prefix, N for one of
 * database N, null for a key that has the prefix but no valid database after it (which no
 * client can write).
 */
export function databaseOf(stored: Uint8Array): number | null {
  if (!isReservedKey(stored)) return 0;
  const db = stored[reservedPrefix.length];
  const colon = stored[reservedPrefix.length + 1];
  return db !== undefined && db >= 1 && db < databaseCount && colon === 0x3a ? db : null;
}

/** `databaseOf` for a latin1 key string. */
export function databaseOfText(stored: string): number | null {
  if (!stored.startsWith(reservedPrefixText)) return 0;
  const db = stored.charCodeAt(reservedPrefixText.length);
  const colon = stored.charCodeAt(reservedPrefixText.length + 1);
  return db >= 1 && db < databaseCount && colon === 0x3a ? db : null;
}

/** The client's key of a stored key (the stored key itself for database 0). */
export function clientKey(stored: Buffer): Buffer {
  const db = databaseOf(stored);
  return db === 0 || db === null ? stored : stored.subarray(reservedPrefix.length + 2);
}

/** `clientKey` for a latin1 key string. */
export function clientKeyText(stored: string): string {
  const db = databaseOfText(stored);
  return db === 0 || db === null ? stored : stored.slice(reservedPrefixText.length + 2);
}

/**
 * A database index no client can name: SWAPDB holds one of its databases there while it
 * moves the other (its keys have the reserved prefix and the byte 16).
 */
export const swapHoldingDatabase = databaseCount;

/**
 * A database index no client can name, for Tandem's own replicated records (the metadata
 * of large objects and their uploads): its keys have the reserved prefix and the byte 17,
 * so no client key, KEYS, SCAN, DBSIZE or FLUSHDB reaches them, and FLUSHALL, which empties
 * the sixteen databases, keeps them. They ride the log, snapshots and images as any key.
 */
export const systemDatabase = databaseCount + 1;

/** The stored key of `name` in the system database (latin1 string form: `systemKeyText`). */
export function systemKey(name: Buffer): Buffer {
  return Buffer.concat([databasePrefix(systemDatabase), name]);
}

/** `systemKey` as a latin1 string (the in-memory namespace's key form). */
export function systemKeyText(name: string): string {
  return databasePrefixText(systemDatabase) + name;
}

/** The stored form (latin1) of the key `stored` of database `from` moved to database `to`. */
export function movedKeyText(stored: string, from: number, to: number): string {
  const key = from === 0 ? stored : stored.slice(reservedPrefixText.length + 2);
  return to === 0 ? key : databasePrefixText(to) + key;
}

/** Whether a stored key (latin1) belongs to database `db`. */
export function inDatabaseText(stored: string, db: number): boolean {
  if (db === 0) return !stored.startsWith(reservedPrefixText);
  return stored.startsWith(databasePrefixText(db));
}
