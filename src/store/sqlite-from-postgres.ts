/**
 * Converts a PostgreSQL store's snapshot image (postgres-image.ts) into a SQLite store
 * file, for a SQLite follower of a PostgreSQL leader. The file is built fresh beside the
 * live one, in one transaction, and the store then swaps it in as it swaps a SQLite image:
 *
 * - The user schema: the image's DDL log replayed in order, the statements the log
 *   carried (a mixed cluster's users write DDL both databases accept).
 * - The rows of every user table, parsed from the image's COPY text (copy-text.ts) and
 *   inserted with the values SQLite would have stored had it applied the log: each value
 *   goes in as the text PostgreSQL wrote and takes its column's affinity, as a parameter
 *   or a literal of the original statement did; only what that text cannot say is
 *   converted first (booleans `t`/`f` to 1/0, bytea's hex to bytes, a float's
 *   `Infinity`, and NaN, which SQLite stores as NULL).
 * - The key-value rows (a key's `seq`, its SCAN place, becomes its rowid), the sessions,
 *   the users and tokens (`tandem.acl`'s row into `_tandem_acl`, checked to decode; an image
 *   without it means no users), and the position the image records.
 *
 * What cannot come back: rowids of tables without an INTEGER PRIMARY KEY (PostgreSQL has
 * none; rows are numbered in the image's order), and the original text of values
 * PostgreSQL stores in a canonical form of its own (times, json, numeric scale).
 */
import Database from 'better-sqlite3';
import { closeSync, fsyncSync, openSync, rmSync } from 'node:fs';
import { TandemError } from '../core/errors.js';
import { accessSchema, decodeStoredAccess } from './access-state.js';
import { expiresAtMsMax } from './commands.js';
import { CopyTextParser, type CopyField } from './copy-text.js';
import { kvSchema, setTablesSchema, zsetTablesSchema } from './kv.js';
import { scoreBytes } from './memory-image.js';
import { ImageReader, type ImageHeader, type ImageTable } from './postgres-image.js';
import { quoteIdentifier } from './postgres-sql.js';
import { sessionsSchema } from './sessions.js';
import { isStatementFailure } from './sql-exec.js';
import { metaSchema } from './snapshot-images.js';

/** How a column's text from COPY becomes a SQLite value. */
type Conversion = 'text' | 'boolean' | 'bytes' | 'real';

/** A table's insert and the conversion of each of its columns. */
interface TableLoader {
  readonly insert: Database.Statement<unknown[]>;
  readonly conversions: readonly Conversion[];
}

function corrupt(message: string, cause?: unknown): TandemError {
  return new TandemError('TANDEM_CORRUPT', message, { cause });
}

/**
 * Builds the SQLite store file `target` (which must not exist) from the checked
 * PostgreSQL image in `file`, durably. Throws TANDEM_CORRUPT for an image SQLite cannot
 * take, naming the statement or table, having removed `target`.
 */
export async function buildSqliteFromImage(
  file: string,
  header: ImageHeader,
  target: string,
): Promise<void> {
  const db = new Database(target);
  try {
    // A rollback journal: the file that is renamed into place must stand alone, and the
    // commit syncs it. Foreign keys stay off (SQLite's default) while tables load in the
    // image's order; the store turns them on when it opens the file.
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = FULL');
    db.exec('BEGIN');
    db.exec(
      kvSchema + metaSchema + sessionsSchema + accessSchema + setTablesSchema + zsetTablesSchema,
    );
    replayDdl(db, header.ddl);
    const sessions = await loadTables(db, file, header);
    if (sessions !== header.sessionCount) {
      throw corrupt(
        `the snapshot image holds ${sessions} sessions but its header counts ${header.sessionCount}`,
      );
    }
    db.prepare('UPDATE _tandem_meta SET applied_index = ?, applied_term = ? WHERE id = 1').run(
      header.index,
      header.term,
    );
    db.exec('COMMIT');
    db.close();
    fsyncFile(target);
  } catch (error) {
    if (db.open) db.close();
    rmSync(target, { force: true });
    rmSync(`${target}-journal`, { force: true });
    throw error;
  }
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replays the DDL log in order. Each statement was recorded inlined, ended by a newline
 * that the original did not have; it is taken off so that SQLite records the statement
 * text as it would have recorded the original.
 */
function replayDdl(db: Database.Database, ddl: readonly string[]): void {
  for (const [i, recorded] of ddl.entries()) {
    const statement = recorded.endsWith('\n') ? recorded.slice(0, -1) : recorded;
    try {
      db.prepare(statement).run();
    } catch (error) {
      if (!isStatementFailure(error)) throw error;
      throw corrupt(
        `the PostgreSQL image's DDL statement ${i + 1} does not run on SQLite (${error.message}): ${statement.trim()}`,
        error,
      );
    }
  }
}

/** Loads every table of the image in its order; returns how many sessions it held. */
async function loadTables(
  db: Database.Database,
  file: string,
  header: ImageHeader,
): Promise<number> {
  const { reader } = await ImageReader.open(file);
  let sessions = 0;
  try {
    for (const table of header.tables) {
      const name = await reader.nextTable();
      if (name !== `${table.schema}.${table.name}`) {
        throw corrupt(`the snapshot image holds ${name} where its header says ${table.name}`);
      }
      const loader = tableLoader(db, table);
      const parser = new CopyTextParser(table.columns.length);
      let rows = 0;
      for await (const frame of reader.frames()) {
        for (const fields of parser.push(frame)) {
          insertRow(loader, fields, name);
          rows++;
        }
      }
      parser.end();
      if (table.schema === 'tandem' && table.name === 'sessions') sessions = rows;
    }
  } finally {
    await reader.close();
  }
  return sessions;
}

/** The function that inserts one parsed row of `table`. */
function tableLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  if (table.schema === 'public') return userRowLoader(db, table);
  if (table.name === 'kv') return kvRowLoader(db, table);
  if (table.name === 'sessions') return sessionRowLoader(db, table);
  if (table.name === 'acl') return accessRowLoader(db, table);
  if (table.name === 'hashes') return hashRowLoader(db, table);
  if (table.name === 'hash_fields') return hashFieldRowLoader(db, table);
  if (table.name === 'sets') return setRowLoader(db, table);
  if (table.name === 'set_members') return setMemberRowLoader(db, table);
  if (table.name === 'lists') return listRowChecker(table);
  if (table.name === 'list_items') return listItemRowLoader(db, table);
  if (table.name === 'zsets') return zsetRowLoader(db, table);
  if (table.name === 'zset_members') return zsetMemberRowLoader(db, table);
  throw corrupt(`the snapshot image holds an unknown table tandem.${table.name}`);
}

/** The conversion of a column, by the type SQLite recorded for it (the DDL's type name). */
function conversionOf(declaredType: string): Conversion {
  const type = declaredType.trim().toUpperCase();
  if (type === 'BOOL' || type === 'BOOLEAN') return 'boolean';
  if (type === 'BYTEA') return 'bytes';
  // SQLite's rules for REAL affinity: a float's special values need a number to bind.
  if (/REAL|FLOA|DOUB/.test(type) && !type.includes('INT')) return 'real';
  return 'text';
}

function userRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const declared = new Map<string, string>();
  const info = db
    .prepare<[], { name: string; type: string }>(
      `SELECT name, type FROM pragma_table_xinfo(${quoteLiteralForSqlite(table.name)})`,
    )
    .all();
  for (const column of info) declared.set(column.name.toLowerCase(), column.type);
  const conversions = table.columns.map((column) => {
    const type = declared.get(column.toLowerCase());
    if (type === undefined) {
      throw corrupt(
        `the snapshot image has a column ${table.name}.${column} that its DDL log did not create on SQLite`,
      );
    }
    return conversionOf(type);
  });
  const list = table.columns.map(quoteIdentifier).join(', ');
  const loader: TableLoader = {
    insert: db.prepare(
      `INSERT INTO ${quoteIdentifier(table.name)} (${list}) VALUES (${table.columns.map(() => '?').join(', ')})`,
    ),
    conversions,
  };
  return (fields) => insertUserRow(loader, fields);
}

function quoteLiteralForSqlite(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function insertUserRow(loader: TableLoader, fields: CopyField[]): void {
  loader.insert.run(
    ...fields.map((field, i) => convert(field, loader.conversions[i] as Conversion)),
  );
}

/** Inserts one row; a row SQLite refuses by its own content (a constraint, a type) is corrupt. */
function insertRow(load: (fields: CopyField[]) => void, fields: CopyField[], table: string): void {
  try {
    load(fields);
  } catch (error) {
    if (!isStatementFailure(error)) throw error;
    throw corrupt(`a row of ${table} does not load into SQLite: ${error.message}`, error);
  }
}

/** One field of COPY text as the value to bind. */
function convert(field: CopyField, conversion: Conversion): unknown {
  if (field === null) return null;
  const text = field.toString('utf8');
  switch (conversion) {
    case 'text':
      return text;
    case 'boolean':
      if (text === 't') return 1;
      if (text === 'f') return 0;
      throw corrupt(`a boolean column holds ${JSON.stringify(text)}`);
    case 'bytes':
      return byteaValue(text);
    case 'real':
      if (text === 'Infinity') return Number.POSITIVE_INFINITY;
      if (text === '-Infinity') return Number.NEGATIVE_INFINITY;
      // SQLite stores a NaN as NULL, as it would have stored the original.
      if (text === 'NaN') return null;
      return text;
  }
}

/** bytea's hex output form, `\x` then two digits a byte, as bytes. */
function byteaValue(text: string): Buffer {
  if (!/^\\x(?:[0-9a-fA-F]{2})*$/.test(text)) {
    throw corrupt('a bytea value is not in the hex form \\x...');
  }
  return Buffer.from(text.slice(2), 'hex');
}

/** A safe integer from COPY text (the store's own columns: positions, times, counts). */
function integerField(field: CopyField, what: string): number {
  const text = field?.toString('latin1') ?? '';
  const value = Number(text);
  if (!/^-?[0-9]{1,16}$/.test(text) || !Number.isSafeInteger(value)) {
    throw corrupt(`the snapshot image has ${what} ${JSON.stringify(text)}, not a safe integer`);
  }
  return value;
}

/** The fields of `row` by the column names the image gives, checked to be all there. */
function fieldsByName(
  table: ImageTable,
  names: readonly string[],
): (row: CopyField[]) => CopyField[] {
  const positions = names.map((name) => table.columns.indexOf(name));
  if (positions.some((position) => position === -1)) {
    throw corrupt(
      `the snapshot image's ${table.schema}.${table.name} has columns ${table.columns.join(', ')}, not ${names.join(', ')}`,
    );
  }
  return (row) => positions.map((position) => row[position] as CopyField);
}

function kvRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, [
    'key',
    'value',
    'version_index',
    'version_term',
    'expires_at',
    'seq',
  ]);
  const insert = db.prepare(
    'INSERT INTO _tandem_kv (key, value, version_index, version_term, expires_at, rowid) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return (row) => {
    const [key, value, index, term, expiresAt, seq] = pick(row);
    if (key === null || value === null) throw corrupt('the snapshot image has a null key or value');
    insert.run(
      byteaValue(key.toString('latin1')),
      byteaValue(value.toString('latin1')),
      integerField(index as CopyField, 'a key version index'),
      integerField(term as CopyField, 'a key version term'),
      expiresAt === null ? null : expiryField(expiresAt as CopyField),
      integerField(seq as CopyField, 'a key SCAN place'),
    );
  };
}

/** A key's expiry from COPY text: an integer up to `expiresAtMsMax`, past 2^53 too. */
function expiryField(field: CopyField): number {
  const text = field?.toString('latin1') ?? '';
  const value = Number(text);
  if (!/^[0-9]{1,19}$/.test(text) || value > expiresAtMsMax) {
    throw corrupt(`the snapshot image has a key expiry ${JSON.stringify(text)}, not a time in ms`);
  }
  return value;
}

function sessionRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, [
    'id',
    'last_seq',
    'last_at',
    'result',
    'result_index',
    'result_term',
  ]);
  const insert = db.prepare(
    'INSERT INTO _tandem_sessions (id, last_seq, last_at, result, result_index, result_term) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return (row) => {
    const [id, lastSeq, lastAt, result, index, term] = pick(row);
    if (id === null || result === null) throw corrupt('the snapshot image has a null session');
    insert.run(
      id.toString('utf8'),
      integerField(lastSeq as CopyField, 'a session sequence'),
      integerField(lastAt as CopyField, 'a session time'),
      byteaValue(result.toString('latin1')),
      integerField(index as CopyField, 'a session result index'),
      integerField(term as CopyField, 'a session result term'),
    );
  };
}

/** A hash's row (its field count is the table form's count of its fields). */
function hashRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'encoding', 'next_seq']);
  const insert = db.prepare(
    'INSERT INTO _tandem_hash_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
  );
  return (row) => {
    const [key, encoding, nextSeq] = pick(row);
    const name = encoding?.toString('latin1');
    if (key === null || (name !== 'listpack' && name !== 'hashtable')) {
      throw corrupt('the snapshot image has a hash without key or known encoding');
    }
    insert.run(
      byteaValue(key.toString('latin1')),
      name,
      integerField(nextSeq as CopyField, 'a hash next sequence number'),
    );
  };
}

/** A hash field's row. */
function hashFieldRowLoader(
  db: Database.Database,
  table: ImageTable,
): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'field', 'value', 'seq']);
  const insert = db.prepare(
    'INSERT INTO _tandem_hash_fields (key, field, value, seq) VALUES (?, ?, ?, ?)',
  );
  return (row) => {
    const [key, field, value, seq] = pick(row);
    if (key === null || field === null || value === null) {
      throw corrupt('the snapshot image has a null hash field');
    }
    insert.run(
      byteaValue(key.toString('latin1')),
      byteaValue(field.toString('latin1')),
      byteaValue(value.toString('latin1')),
      integerField(seq as CopyField, 'a hash field sequence number'),
    );
  };
}

/** A set's row (its member count is the table form's count of its members). */
function setRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'encoding', 'next_seq']);
  const insert = db.prepare(
    'INSERT INTO _tandem_set_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
  );
  return (row) => {
    const [key, encoding, nextSeq] = pick(row);
    const name = encoding?.toString('latin1');
    if (key === null || (name !== 'intset' && name !== 'hashtable')) {
      throw corrupt('the snapshot image has a set without key or known encoding');
    }
    insert.run(
      byteaValue(key.toString('latin1')),
      name,
      integerField(nextSeq as CopyField, 'a set next sequence number'),
    );
  };
}

/** A set member's row. */
function setMemberRowLoader(
  db: Database.Database,
  table: ImageTable,
): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'member', 'seq']);
  const insert = db.prepare('INSERT INTO _tandem_set_members (key, member, seq) VALUES (?, ?, ?)');
  return (row) => {
    const [key, member, seq] = pick(row);
    if (key === null || member === null) throw corrupt('the snapshot image has a null set member');
    insert.run(
      byteaValue(key.toString('latin1')),
      byteaValue(member.toString('latin1')),
      integerField(seq as CopyField, 'a set member sequence number'),
    );
  };
}

/** A sorted set's row (its member count is the table form's count of its members). */
function zsetRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'encoding', 'next_seq']);
  const insert = db.prepare(
    'INSERT INTO _tandem_zset_keys (key, encoding, next_seq) VALUES (?, ?, ?)',
  );
  return (row) => {
    const [key, encoding, nextSeq] = pick(row);
    const name = encoding?.toString('latin1');
    if (key === null || (name !== 'listpack' && name !== 'skiplist')) {
      throw corrupt('the snapshot image has a sorted set without key or known encoding');
    }
    insert.run(
      byteaValue(key.toString('latin1')),
      name,
      integerField(nextSeq as CopyField, 'a sorted set next sequence number'),
    );
  };
}

/**
 * A sorted set member's row; its score, as COPY wrote the double (`-0`, `Infinity` and
 * `-Infinity` included), becomes the table form's 8 bytes.
 */
function zsetMemberRowLoader(
  db: Database.Database,
  table: ImageTable,
): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'member', 'score', 'seq']);
  const insert = db.prepare(
    'INSERT INTO _tandem_zset_members (key, member, score, seq) VALUES (?, ?, ?, ?)',
  );
  return (row) => {
    const [key, member, score, seq] = pick(row);
    if (key === null || member === null || score === null) {
      throw corrupt('the snapshot image has a null sorted set member or score');
    }
    const text = score.toString('latin1');
    const value = Number(text);
    if (Number.isNaN(value) || text.trim() === '') {
      throw corrupt(`the snapshot image has a sorted set score of ${JSON.stringify(text)}`);
    }
    insert.run(
      byteaValue(key.toString('latin1')),
      byteaValue(member.toString('latin1')),
      scoreBytes(value),
      integerField(seq as CopyField, 'a sorted set member sequence number'),
    );
  };
}

/**
 * A list's row: the table form needs none (a key with element rows is a list, its
 * elements in position order), so it is only checked.
 */
function listRowChecker(table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'head', 'length']);
  return (row) => {
    const [key, head, length] = pick(row);
    if (key === null) throw corrupt('the snapshot image has a list without key');
    integerField(head as CopyField, 'a list head');
    if (integerField(length as CopyField, 'a list length') < 1) {
      throw corrupt('the snapshot image has an empty list');
    }
  };
}

/** A list element's row, at its position. */
function listItemRowLoader(
  db: Database.Database,
  table: ImageTable,
): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['key', 'pos', 'value']);
  const insert = db.prepare('INSERT INTO _tandem_list_items (key, pos, value) VALUES (?, ?, ?)');
  return (row) => {
    const [key, pos, value] = pick(row);
    if (key === null || value === null) throw corrupt('the snapshot image has a null list element');
    insert.run(
      byteaValue(key.toString('latin1')),
      integerField(pos as CopyField, 'a list position'),
      byteaValue(value.toString('latin1')),
    );
  };
}

/** The users and tokens' row; the CHECK on its id keeps it to one. */
function accessRowLoader(db: Database.Database, table: ImageTable): (fields: CopyField[]) => void {
  const pick = fieldsByName(table, ['id', 'state']);
  const insert = db.prepare('INSERT INTO _tandem_acl (id, state) VALUES (?, ?)');
  return (row) => {
    const [id, state] = pick(row);
    if (state === null) throw corrupt('the snapshot image has null users and tokens');
    const bytes = byteaValue((state as Buffer).toString('latin1'));
    decodeStoredAccess(bytes, 'the snapshot image');
    insert.run(integerField(id as CopyField, 'a users row id'), bytes);
  };
}
