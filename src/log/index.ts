/** The durable replication log: segment files, hard state, snapshots, one storage contract. */
export type { MaybePromise, ReplicationStorage, StoredState } from './contract.js';
export { DiskStorage, type DiskStorageOptions } from './disk-storage.js';
export { GroupCommit } from './group-commit.js';
export { HardStateFile } from './hard-state.js';
export {
  SegmentLog,
  defaultSegmentLogLimits,
  type RecoveryReport,
  type SegmentLogLimits,
} from './segment-log.js';
export { SnapshotFiles, type SnapshotChunks, type SnapshotInfo } from './snapshot-files.js';
