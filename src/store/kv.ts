/**
 * The key-value namespace as a SQLite table: the form it takes in an image built from a
 * PostgreSQL store's image and in images of older builds, which the SQLite store loads
 * into its in-memory namespace (keyspace.ts). The live store keeps the table empty.
 * Also re-exports what both stores share of the namespace's rules.
 */
import type Database from 'better-sqlite3';

export {
  expireConditionHolds,
  keysResultMax,
  scanCountDefault,
  scanCountMax,
  startsWith,
  sweepKeysMax,
  type HashScanPage,
  type SetScanPage,
  type KvCommand,
  type KvEntry,
  type ScanOptions,
  type ScanPage,
} from './keyspace.js';

/**
 * The schema of the key-value table; `expires_at` is absolute ms, null for no expiry. Keys
 * and values are BLOBs: any bytes, compared bytewise (the order KEYS returns).
 */
/**
 * The lists of the table form: a key of `_tandem_kv` (with an empty value) that has rows
 * in `_tandem_list_items` holds a list, its elements in `pos` order (any integers, the
 * PostgreSQL store's signed positions as they were). A table made before lists has none.
 */
export const listTablesSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_list_items (
    key BLOB NOT NULL,
    pos INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (key, pos)
  ) STRICT;
`;

export const kvSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_kv (
    key BLOB PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    version_index INTEGER NOT NULL,
    version_term INTEGER NOT NULL,
    expires_at INTEGER
  ) STRICT;
  CREATE INDEX IF NOT EXISTS _tandem_kv_expiry ON _tandem_kv (expires_at, key)
    WHERE expires_at IS NOT NULL;
  CREATE TABLE IF NOT EXISTS _tandem_hash_keys (
    key BLOB PRIMARY KEY NOT NULL,
    encoding TEXT NOT NULL,
    next_seq INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS _tandem_hash_fields (
    key BLOB NOT NULL,
    field BLOB NOT NULL,
    value BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, field)
  ) STRICT;
${listTablesSchema}`;

/**
 * The hashes of the table form: a key of `_tandem_kv` (with an empty value) that has a
 * row in `_tandem_hash_keys` holds a hash, whose fields are its rows of
 * `_tandem_hash_fields`. A table made before hashes has neither table: no hashes.
 */
export const hashTablesSchema = kvSchema.slice(
  kvSchema.indexOf('CREATE TABLE IF NOT EXISTS _tandem_hash_keys'),
);

/**
 * The sets of the table form: a key of `_tandem_kv` (with an empty value) that has a row
 * in `_tandem_set_keys` holds a set, whose members are its rows of `_tandem_set_members`
 * (each with its sequence number). A table made before sets has neither table: no sets.
 */
export const setTablesSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_set_keys (
    key BLOB PRIMARY KEY NOT NULL,
    encoding TEXT NOT NULL,
    next_seq INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS _tandem_set_members (
    key BLOB NOT NULL,
    member BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, member)
  ) STRICT;
`;

/**
 * The sorted sets of the table form: a key of `_tandem_kv` (with an empty value) that has
 * a row in `_tandem_zset_keys` holds a sorted set, whose members are its rows of
 * `_tandem_zset_members` (each with its score and sequence number). A score is its 8 bytes
 * (an IEEE 754 double, little-endian), since a REAL column may store an integral value as
 * an integer and so lose the sign of -0. A table made before sorted sets has neither
 * table: no sorted sets.
 */
export const zsetTablesSchema = `
  CREATE TABLE IF NOT EXISTS _tandem_zset_keys (
    key BLOB PRIMARY KEY NOT NULL,
    encoding TEXT NOT NULL,
    next_seq INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS _tandem_zset_members (
    key BLOB NOT NULL,
    member BLOB NOT NULL,
    score BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key, member)
  ) STRICT;
`;

/**
 * Brings a key-value table of an older database, whose keys and values were TEXT, to the
 * BLOB schema, in the caller's transaction: every row keeps its rowid (its SCAN place) and
 * becomes its text's UTF-8 bytes, which order as the text did. A no-op on a current table.
 * Run before `kvSchema`, which then finds the table and creates its index.
 */
export function upgradeKvTable(db: Database.Database): void {
  const column = db
    .prepare("SELECT type FROM pragma_table_info('_tandem_kv') WHERE name = 'value'")
    .get() as { type: string } | undefined;
  if (column === undefined || column.type.toUpperCase() !== 'TEXT') return;
  db.exec(`
    DROP INDEX IF EXISTS _tandem_kv_expiry;
    ALTER TABLE _tandem_kv RENAME TO _tandem_kv_text;
    ${kvSchema}
    INSERT INTO _tandem_kv (rowid, key, value, version_index, version_term, expires_at)
      SELECT rowid, CAST(key AS BLOB), CAST(value AS BLOB), version_index, version_term,
        expires_at FROM _tandem_kv_text ORDER BY rowid;
    DROP TABLE _tandem_kv_text;
  `);
}
