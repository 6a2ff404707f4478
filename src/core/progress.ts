import { assert } from './assert.js';

/**
 * How a leader sends to one follower:
 * - `probe`: the match point is unknown; one append at a time until one is accepted;
 * - `replicate`: the follower is in step; appends are pipelined up to the in-flight window;
 * - `snapshot`: a snapshot is on its way; nothing else is sent until it is installed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A leader's bookkeeping for one follower (voter or learner). */
export class Progress {
  /** The highest index known to be durable on the follower. */
  match = 0;
  /** The next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append is in flight and we wait for its answer. */
  probeSent = false;
  /** In replicate state: the last index of each append in flight, oldest first. */
  readonly inflight: number[] = [];
  /** In snapshot state: the index of the snapshot being sent, and ticks spent waiting. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Ticks since anything was heard from this follower. */
  ticksSinceHeard = 0;
  /** The follower's reported applied index. */
  applied = 0;
  /** The highest read round this follower has answered. */
  readRound = 0;
  /** The highest log index sent to this follower, in an append or a snapshot. */
  sentIndex = 0;
  /** The highest commit index sent to this follower. */
  sentCommit = 0;
  /** In a chain: the match seen at the last tick, and ticks it has stood still behind the log. */
  chainSeenMatch = 0;
  chainStallTicks = 0;

  constructor(next: number) {
    this.next = next;
  }

  /** Records that the follower has everything up to `index`; returns whether that is news. */
  maybeUpdate(index: number): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  becomeProbe(): void {
    this.next =
      this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) + 1 : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.inflight.length = 0;
    this.pendingSnapshot = 0;
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflight.length = 0;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.snapshotTicks = 0;
    this.inflight.length = 0;
  }

  /**
   * Handles a rejection of the append at `rejected`; `probeFrom` is where the leader's log
   * and the follower's hint say the logs may agree. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, probeFrom: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeFrom + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append whose last entry is `lastIndex` as sent. */
  sent(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, 'append sent in snapshot state');
    }
  }

  /** Frees the in-flight slots of appends up to `index`. */
  freeTo(index: number): void {
    while (this.inflight.length > 0 && (this.inflight[0] as number) <= index) this.inflight.shift();
  }

  /** Whether sending must wait for an answer. */
  isPaused(maxInflight: number): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflight.length >= maxInflight;
    return true;
  }
}
