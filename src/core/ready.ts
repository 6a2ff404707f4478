/**
 * How a driver may overlap its disk writes with replication. A leader's log write and its
 * followers' writes of the same entries can run at the same time (Raft thesis §10.2.1):
 * the leader sends its appends first and syncs while they travel. It is safe because the
 * core counts the leader's own copy toward a commit only once the driver reports it
 * durable (`persisted`). What must never leave early is anything that promises the node's
 * own durable state: a vote, an append answer, or any message sent while the node's term
 * or vote is not yet durable, or of a Ready that installs a snapshot or rolls back.
 */
import type { HardState, Message, Ready } from './types.js';

/** The messages of a Ready, by when the driver sends them. */
export interface MessagesBySync {
  /** Sent at once, before the Ready's writes (and earlier Readies' writes) are synced. */
  readonly beforeSync: readonly Message[];
  /** Sent once they are. */
  readonly afterSync: readonly Message[];
}

const noMessages: readonly Message[] = [];

/**
 * Splits `ready.messages`. `durable` is the hard state the disk holds; `current` the one
 * this Ready leaves (its own, or the last one handed out before it). When both have the
 * same term and vote, and the Ready installs no snapshot and rolls nothing back, a
 * leader's appends and heartbeats, and a heartbeat's answer (which promises nothing about
 * the log), go at once; every other message waits until the writes are synced.
 */
export function messagesBySync(
  ready: Ready,
  durable: HardState,
  current: HardState,
): MessagesBySync {
  const keepsTermAndVote = current.term === durable.term && current.vote === durable.vote;
  if (!keepsTermAndVote || ready.snapshot !== null || ready.rollback !== null) {
    return { beforeSync: noMessages, afterSync: ready.messages };
  }
  const beforeSync: Message[] = [];
  const afterSync: Message[] = [];
  for (const message of ready.messages) {
    if (sendsBeforeSync(message)) beforeSync.push(message);
    else afterSync.push(message);
  }
  return { beforeSync, afterSync };
}

function sendsBeforeSync(message: Message): boolean {
  return (
    message.type === 'append' ||
    message.type === 'heartbeat' ||
    message.type === 'heartbeat-response'
  );
}
