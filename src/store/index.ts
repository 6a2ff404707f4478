/** The state machines and their command codec. */
export * from './contract.js';
export * from './commands.js';
export { checkStatement } from './sql-check.js';
export { SqliteStore, applyEntriesMax } from './sqlite.js';
export {
  keysResultMax,
  scanCountDefault,
  scanCountMax,
  sweepKeysMax,
  type HashScanPage,
  type SetScanPage,
  type KvEntry,
  type ScanOptions,
  type ScanPage,
} from './kv.js';
export { WrongTypeError } from './kv-rules.js';
export {
  hashListpackEntriesMax,
  hashListpackValueBytesMax,
  listEncoding,
  wrongType,
  type ListPositionOptions,
  type HashEncoding,
  type SetEncoding,
  setIntsetEntriesMax,
  type ValueType,
} from './values.js';
export { zsetListpackEntriesMax, zsetListpackValueBytesMax, type ZsetEncoding } from './values.js';
export { formatScore, parseScore, type ZsetRange, type ZsetSelection } from './sorted-set.js';
export { preparedStatementsMax, queryRowsMax, sqlResultRowsMax, type SqlRow } from './sql-exec.js';
export { restoreChunkBytesMax, snapshotChunkBytes } from './snapshot-images.js';
export {
  duplicateRequestError,
  sessionExpiryPurgeMax,
  sessionIdBytesMax,
  sessionIdleMsMax,
  sessionIdPattern,
  sessionResultBytesMax,
  sessionsMax,
  type Session,
} from './sessions.js';
export {
  PostgresStore,
  applyStatementTimeoutMsDefault,
  clientQueryTimeoutMs,
  connectTimeoutMsDefault,
  keysPageRowsMax,
  poolConnectionsMax,
  queryTimeoutMsDefault,
  writeRowsPerStatementMax,
  type PostgresStoreOptions,
} from './postgres.js';
export { imageFrameBytesMax, imageHeaderBytesMax } from './postgres-image.js';
