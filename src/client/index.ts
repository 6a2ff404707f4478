/**
 * The Tandem client library (`tandem/client`): `createClient` routes writes to the leader
 * exactly once across retries and spreads reads over followers at the requested level.
 */
export {
  createClient,
  TandemClient,
  type CounterApi,
  type HashApi,
  type KvApi,
  type SqlApi,
} from './client.js';
export { blobListLimitMax, type BlobApi } from './blobs.js';
export {
  createLinkedClient,
  failbackMsDefault,
  LinkedTandemClient,
  type LinkedClientEvents,
  type LinkedClientOptions,
} from './linked.js';
export {
  BadRequest,
  Conflict,
  Forbidden,
  NoLeader,
  NotLeader,
  QueueFull,
  SyncTimeout,
  TandemClientError,
  Unauthenticated,
  Unavailable,
  type ErrorBody,
} from './errors.js';
export type * from './types.js';
