/**
 * The users and tokens (access-state.ts) as the PostgreSQL store keeps them: the state
 * encoded whole (`encodeAccessState`, the bytes the SQLite store keeps in `_tandem_acl`)
 * in the one row of `tandem.acl`, written in the transaction of the batch that changed
 * it. The store holds the same state in memory and takes a batch's result into it only
 * once the batch has committed.
 *
 * A database made before the table existed gains it when the store opens; a snapshot image
 * carries the table only when the row exists, so an image of a store that never had users
 * is one every earlier build reads, and an image without it restores as no users.
 */
import {
  applyAclChange,
  decodeStoredAccess,
  encodeAccessState,
  type AccessState,
  type AclCommand,
} from './access-state.js';
import type { ApplyResult } from './contract.js';
import { bytesLiteral } from './postgres-connection.js';
import type { ImageTable } from './postgres-image.js';

/** The table, created at open if absent (a database of an earlier build has none). */
export const accessTableSchema =
  'CREATE TABLE IF NOT EXISTS tandem.acl (id integer PRIMARY KEY CHECK (id = 1), state bytea NOT NULL)';

/** The table as a snapshot image carries it. */
export const accessImageTable: ImageTable = {
  schema: 'tandem',
  name: 'acl',
  columns: ['id', 'state'],
};

/** The read of the stored state: no row, or one with the state's bytes. */
export const readAccessStatement = 'SELECT state FROM tandem.acl WHERE id = 1';

/** The state a `readAccessStatement` read, from `where`; TANDEM_CORRUPT if it does not decode. */
export function storedAccess(
  rows: readonly Record<string, unknown>[],
  where: string,
): AccessState | null {
  const row = rows[0];
  return row === undefined ? null : decodeStoredAccess(row.state as Buffer, where);
}

/** The statement that stores `state` as the row. */
export function accessUpsert(state: AccessState): string {
  return `INSERT INTO tandem.acl (id, state) VALUES (1, ${bytesLiteral(encodeAccessState(state))})
    ON CONFLICT (id) DO UPDATE SET state = excluded.state`;
}

/**
 * The acl commands of one batch, applied in order with `applyAclChange`, each on the state
 * the ones before it left: as the SQLite store applies them, so the results are the same.
 */
export class AccessBatch {
  #state: AccessState;
  #changed = false;

  /** A batch starting from `state`, what the database holds. */
  constructor(state: AccessState) {
    this.#state = state;
  }

  /** Applies one change; a refused one leaves the state as it was. */
  apply(command: AclCommand): ApplyResult {
    const outcome = applyAclChange(this.#state, command);
    if (!outcome.ok) return { ok: false, error: outcome.error };
    if (outcome.state !== this.#state) {
      this.#state = outcome.state;
      this.#changed = true;
    }
    return { ok: true, value: outcome.value };
  }

  /** The state after the changes applied so far. */
  get state(): AccessState {
    return this.#state;
  }

  /** Whether a change was applied, and so the row must be written. */
  get changed(): boolean {
    return this.#changed;
  }
}
