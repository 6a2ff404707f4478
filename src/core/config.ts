import { TandemError } from './errors.js';
import { durabilityOrder, type Durability } from './types.js';

/** Tuning of the replication core. Times are counts of ticks; sizes are bytes or counts. */
export interface CoreConfig {
  /** Ticks without hearing a leader before a follower campaigns (randomized up to 2x). */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats; must be well under electionTicks. */
  readonly heartbeatTicks: number;
  /** The cluster's durability mode; a proposal may ask for a stronger one. */
  readonly durability: Durability;
  /** Run a pre-vote before a real election, so a partitioned node cannot raise terms. */
  readonly preVote: boolean;
  /** Step down when a majority has not been heard from within an election timeout. */
  readonly checkQuorum: boolean;
  /** Append messages in flight to one follower at once (pipelining window). */
  readonly maxInflightMessages: number;
  /** Entries in one append message. */
  readonly maxEntriesPerMessage: number;
  /** Payload bytes in one append message (at least one entry is always sent). */
  readonly maxMessageBytes: number;
  /** Bytes of one command. */
  readonly maxEntryBytes: number;
  /** Proposals waiting for acknowledgement on a leader. */
  readonly maxPendingProposals: number;
  /** Bytes of the commands of the proposals waiting for acknowledgement on a leader. */
  readonly maxPendingProposalBytes: number;
  /**
   * Bytes of the entries one Ready hands out to be written, as `entryBytes` counts them
   * (at least one entry is always handed out): the rest waits for the next Ready, so a burst of large entries reaches the
   * disk in bounded batches.
   */
  readonly maxReadyEntryBytes: number;
  /** Linearizable reads waiting for their round on a leader. */
  readonly maxPendingReads: number;
  /** Committed entries handed out in one Ready. */
  readonly maxApplyBatchEntries: number;
  /**
   * Ticks a proposal waits for its acknowledgement before it is answered `timeout`, and the
   * silence after which a replica counts as down for `sync` and `semi-sync` refusals.
   */
  readonly syncTimeoutTicks: number;
  /** A learner is caught up (may become a voter) when this close to the leader's last index. */
  readonly learnerCatchUpEntries: number;
}

/** The defaults: 100 ms ticks give a 1-2 s election timeout and 100 ms heartbeats. */
export const defaultCoreConfig: CoreConfig = {
  electionTicks: 10,
  heartbeatTicks: 1,
  durability: 'quorum',
  preVote: true,
  checkQuorum: true,
  maxInflightMessages: 64,
  maxEntriesPerMessage: 512,
  maxMessageBytes: 1024 * 1024,
  // A 16 MiB value (the store's valueBytesMax) with room for its key and command, or a
  // transaction holding one.
  maxEntryBytes: 17 * 1024 * 1024,
  maxPendingProposals: 10_000,
  maxPendingProposalBytes: 256 * 1024 * 1024,
  maxReadyEntryBytes: 16 * 1024 * 1024,
  maxPendingReads: 10_000,
  maxApplyBatchEntries: 1024,
  syncTimeoutTicks: 50,
  learnerCatchUpEntries: 64,
};

/** Builds a config from defaults and overrides, with a clear error for each bad setting. */
export function buildCoreConfig(overrides: Partial<CoreConfig> = {}): CoreConfig {
  const config: CoreConfig = { ...defaultCoreConfig, ...overrides };
  const positive: (keyof CoreConfig)[] = [
    'electionTicks',
    'heartbeatTicks',
    'maxInflightMessages',
    'maxEntriesPerMessage',
    'maxMessageBytes',
    'maxEntryBytes',
    'maxPendingProposals',
    'maxPendingProposalBytes',
    'maxReadyEntryBytes',
    'maxPendingReads',
    'maxApplyBatchEntries',
    'syncTimeoutTicks',
  ];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new TandemError(
        'TANDEM_BAD_CONFIG',
        `${key} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  if (!Number.isSafeInteger(config.learnerCatchUpEntries) || config.learnerCatchUpEntries < 0) {
    throw new TandemError(
      'TANDEM_BAD_CONFIG',
      'learnerCatchUpEntries must be a non-negative integer',
    );
  }
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new TandemError(
      'TANDEM_BAD_CONFIG',
      `electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks})`,
    );
  }
  if (!durabilityOrder.includes(config.durability)) {
    throw new TandemError(
      'TANDEM_BAD_CONFIG',
      `durability must be one of ${durabilityOrder.join(', ')}, got ${String(config.durability)}`,
    );
  }
  return config;
}
