/**
 * How a driver may overlap a leader's own disk write with replication. A leader's log
 * write and its followers' writes of the same entries can run at the same time (Raft
 * thesis §10.2.1): the leader sends its appends first and syncs while they travel. It is
 * safe because the leader counts its own copy toward a commit only when it steps a
 * follower's answer, which the driver does after `advance()`, that is after its own sync.
 * What must never leave early is anything that promises the node's own durable state: a
 * vote, an append answer, or any message of a Ready that changes the term or the vote or
 * installs a snapshot or rolls the log back.
 */
import type { HardState, Message, Ready } from './types.js';

/** The messages of a Ready, by when the driver sends them. */
export interface MessagesBySync {
  /** Sent before the Ready's writes are synced. */
  readonly beforeSync: readonly Message[];
  /** Sent once they are. */
  readonly afterSync: readonly Message[];
}

const noMessages: readonly Message[] = [];

/**
 * Splits `ready.messages`: a leader's appends and heartbeats may go before the sync when
 * the Ready keeps the term and vote of `durable` (the hard state last written) and installs
 * no snapshot and rolls nothing back; every other message goes after the sync and after
 * the Ready's committed entries are applied (an `applied` report speaks of them).
 */
export function messagesBySync(ready: Ready, durable: HardState): MessagesBySync {
  const keepsTermAndVote =
    ready.hardState === null ||
    (ready.hardState.term === durable.term && ready.hardState.vote === durable.vote);
  if (!keepsTermAndVote || ready.snapshot !== null || ready.rollback !== null) {
    return { beforeSync: noMessages, afterSync: ready.messages };
  }
  const beforeSync: Message[] = [];
  const afterSync: Message[] = [];
  for (const message of ready.messages) {
    if (message.type === 'append' || message.type === 'heartbeat') beforeSync.push(message);
    else afterSync.push(message);
  }
  return { beforeSync, afterSync };
}

/**
 * Whether a driver may apply the Ready's committed entries and answer its proposals
 * before the Ready's own writes are synced. It may when all of them are already durable
 * here, that is below the first entry this Ready writes, and the Ready installs no
 * snapshot and rolls nothing back. Then the state machine works while the disk syncs,
 * which matters most when applying costs round trips to a database.
 */
export function appliesBeforeSync(ready: Ready): boolean {
  if (!ready.mustSync) return false;
  if (ready.snapshot !== null || ready.rollback !== null) return false;
  const firstWritten = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
  const lastCommitted = ready.committedEntries.at(-1)?.index ?? 0;
  if (lastCommitted >= firstWritten) return false;
  return ready.responses.every((response) => response.index < firstWritten);
}
