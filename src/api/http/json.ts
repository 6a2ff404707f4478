/**
 * SQLite hands back values JSON cannot carry as they are: 64-bit integers as bigint and
 * blobs as Buffers. These become a number when exact (else a decimal string) and a base64
 * string (as rqlite does), so that one odd column never turns a whole answer into a 500.
 */

/** A JSON-safe copy of one SQLite value. */
export function jsonSafeValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : value.toString();
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** A JSON-safe copy of a row or of a statement result (one level of fields). */
export function jsonSafeRecord(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    copy[name] =
      name === 'rows' && Array.isArray(value) ? value.map(jsonSafeRow) : jsonSafeValue(value);
  }
  return copy;
}

function jsonSafeRow(row: unknown): unknown {
  return typeof row === 'object' && row !== null && !(row instanceof Uint8Array)
    ? jsonSafeRecord(row as Record<string, unknown>)
    : jsonSafeValue(row);
}
