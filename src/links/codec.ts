/**
 * The wire form of link batches (JSON), and its checks (pure).
 *
 * A batch comes from another cluster, so it is input like any request: every field is
 * checked before anything is applied, against the same limits the cluster's own writes
 * meet (key and value sizes) and the link's own (records per batch, clusters per clock),
 * and a batch that fails is refused whole with `TANDEM_BAD_REQUEST` naming the field.
 *
 * Keys are the keyspace's strings (one character per byte, as the keyspace keeps them);
 * values travel as base64, increments as decimal text (they are 64-bit), stamps as
 * `formatStamp` text, and a clock as an object from cluster id to stamp text.
 */
import { TandemError } from '../core/errors.js';
import { keyBytesMax, valueBytesMax } from '../store/commands.js';
import { formatStamp, parseStamp, type Stamp } from './hlc.js';
import type { Clock, KeyOp } from './merge.js';
import type { LinkBatch, StreamRecord } from './protocol.js';

/** The most records one batch may carry. */
export const batchRecordsMax = 10_000;
/** The most clusters one clock may name (the clusters of one set of links). */
export const clockEntriesMax = 64;
/** The longest cluster id. */
export const clusterIdBytesMax = 64;

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** A batch as JSON text. */
export function encodeBatch(batch: LinkBatch): string {
  return JSON.stringify({
    from: batch.from,
    after: batch.after,
    through: batch.through,
    records: batch.records.map((record) => ({
      position: record.position,
      key: record.key,
      op: encodeOp(record.op),
    })),
  });
}

/** One operation as the JSON object a batch carries. */
export function encodeOp(op: KeyOp): Record<string, unknown> {
  const stamp = formatStamp(op.stamp);
  switch (op.kind) {
    case 'write':
      return {
        kind: 'write',
        stamp,
        seen: Object.fromEntries(
          Object.entries(op.seen).map(([cluster, seen]) => [cluster, formatStamp(seen)]),
        ),
        value: op.value === null ? null : Buffer.from(op.value).toString('base64'),
        expiresAtMs: op.expiresAtMs,
      };
    case 'increment':
      return { kind: 'increment', stamp, delta: op.delta.toString() };
    case 'expire':
      return { kind: 'expire', stamp, expiresAtMs: op.expiresAtMs };
  }
}

/**
 * The batch `text` holds. Throws `TANDEM_BAD_REQUEST` naming the first field that is
 * missing, of the wrong type or past a limit. (Whether the records are a contiguous run
 * after `after` is the protocol's check, `planBatch`.)
 */
export function decodeBatch(text: string): LinkBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw bad(`the batch is not JSON: ${(error as Error).message}`);
  }
  const batch = object(parsed, 'the batch');
  const records = batch['records'];
  if (!Array.isArray(records)) throw bad('records must be an array');
  if (records.length > batchRecordsMax) {
    throw bad(`records has ${records.length} entries, over the maximum of ${batchRecordsMax}`);
  }
  return {
    from: clusterId(batch['from'], 'from'),
    after: position(batch['after'], 'after'),
    through: position(batch['through'], 'through'),
    records: records.map((record: unknown, index) => decodeRecord(record, `records[${index}]`)),
  };
}

/** A record of a batch, checked field by field (`where` names it in errors). */
export function decodeRecord(value: unknown, where: string): StreamRecord {
  const record = object(value, where);
  const key = record['key'];
  if (typeof key !== 'string') throw bad(`${where}.key must be a string`);
  if (key.length > keyBytesMax) {
    throw bad(`${where}.key is ${key.length} bytes, over the maximum of ${keyBytesMax}`);
  }
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0xff) throw bad(`${where}.key must hold one byte per character`);
  }
  return {
    position: position(record['position'], `${where}.position`),
    key,
    op: decodeOp(record['op'], `${where}.op`),
  };
}

function decodeOp(value: unknown, where: string): KeyOp {
  const op = object(value, where);
  const stamp = stampOf(op['stamp'], `${where}.stamp`);
  switch (op['kind']) {
    case 'write': {
      const seen = clockOf(op['seen'], `${where}.seen`);
      const own = seen[stamp.cluster];
      if (own === undefined || own.ms !== stamp.ms || own.logical !== stamp.logical) {
        throw bad(`${where}.seen must hold the write's own stamp`);
      }
      return {
        kind: 'write',
        stamp,
        seen,
        value: valueOf(op['value'], `${where}.value`),
        expiresAtMs: expiryOf(op['expiresAtMs'], `${where}.expiresAtMs`),
      };
    }
    case 'increment':
      return { kind: 'increment', stamp, delta: deltaOf(op['delta'], `${where}.delta`) };
    case 'expire':
      return {
        kind: 'expire',
        stamp,
        expiresAtMs: expiryOf(op['expiresAtMs'], `${where}.expiresAtMs`),
      };
    default:
      throw bad(`${where}.kind must be "write", "increment" or "expire"`);
  }
}

/** An object (not null, not an array), or the refusal naming `where`. */
export function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad(`${where} must be an object`);
  }
  return value as Record<string, unknown>;
}

/** A non-negative safe integer, checked. */
export function position(value: unknown, where: string): number {
  if (!(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw bad(`${where} must be a non-negative integer`);
  }
  return value as number;
}

function clusterId(value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]+$/.test(value)) {
    throw bad(`${where} must be a cluster id (letters, digits, '.', '_' or '-')`);
  }
  if (value.length > clusterIdBytesMax) {
    throw bad(`${where} is ${value.length} bytes, over the maximum of ${clusterIdBytesMax}`);
  }
  return value;
}

/** A stamp's text, checked. */
export function stampOf(value: unknown, where: string): Stamp {
  const stamp = typeof value === 'string' ? parseStamp(value) : null;
  if (stamp === null) throw bad(`${where} must be a stamp (time.counter@cluster)`);
  clusterId(stamp.cluster, `${where}'s cluster`);
  return stamp;
}

/** A clock (cluster id to stamp text), checked. */
export function clockOf(value: unknown, where: string): Clock {
  const entries = Object.entries(object(value, where));
  if (entries.length > clockEntriesMax) {
    throw bad(`${where} names ${entries.length} clusters, over the maximum of ${clockEntriesMax}`);
  }
  const clock: Record<string, Stamp> = {};
  for (const [cluster, text] of entries) {
    const stamp = stampOf(text, `${where}.${cluster}`);
    if (stamp.cluster !== cluster) throw bad(`${where}.${cluster} is a stamp of ${stamp.cluster}`);
    clock[cluster] = stamp;
  }
  return clock;
}

/** A value as base64 (or null), checked against the value limit. */
export function valueOf(value: unknown, where: string): Uint8Array | null {
  if (value === null) return null;
  if (
    typeof value !== 'string' ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(value) ||
    value.length % 4 !== 0
  ) {
    throw bad(`${where} must be base64 or null`);
  }
  const bytes = Buffer.from(value, 'base64');
  if (bytes.byteLength > valueBytesMax) {
    throw bad(`${where} is ${bytes.byteLength} bytes, over the maximum of ${valueBytesMax}`);
  }
  return bytes;
}

/** A time in ms (or null), checked. */
export function expiryOf(value: unknown, where: string): number | null {
  if (value === null) return null;
  if (!(Number.isSafeInteger(value) && (value as number) >= 0)) {
    throw bad(`${where} must be a time in milliseconds or null`);
  }
  return value as number;
}

/** A 64-bit integer as decimal text, checked. */
export function deltaOf(value: unknown, where: string): bigint {
  if (typeof value !== 'string' || !/^(?:0|-?[1-9][0-9]{0,18})$/.test(value)) {
    throw bad(`${where} must be a 64-bit integer as decimal text`);
  }
  const delta = BigInt(value);
  if (delta < int64Min || delta > int64Max) throw bad(`${where} is outside 64 bits`);
  return delta;
}

function bad(message: string): TandemError {
  return new TandemError('TANDEM_BAD_REQUEST', `link batch: ${message}`);
}
