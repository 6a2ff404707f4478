import type { Message, NodeId } from '../core/types.js';
import type { Prng } from '../core/prng.js';
import type { EventQueue } from './event-queue.js';

/** Faults the simulated network applies to every message; ratios are integer parts per 1000. */
export interface NetworkFaults {
  /** Messages dropped, per 1000. */
  lossPerMille: number;
  /** Messages delivered twice, per 1000. */
  duplicatePerMille: number;
  /** Delivery delay range in ms; a wide range reorders messages. */
  minDelayMs: number;
  maxDelayMs: number;
}

/** A calm network: no loss, no duplicates, short delays. */
export const calmNetwork: NetworkFaults = {
  lossPerMille: 0,
  duplicatePerMille: 0,
  minDelayMs: 1,
  maxDelayMs: 3,
};

/**
 * The simulated network: delay, loss, duplication and reordering drawn from the run's one
 * PRNG, and partitions as a set of blocked directed links (symmetric partitions block
 * both directions, one-way partitions one).
 */
export class SimNetwork {
  faults: NetworkFaults = { ...calmNetwork };
  readonly #blocked = new Set<string>();
  readonly #queue: EventQueue;
  readonly #random: Prng;
  readonly #deliver: (message: Message) => void;
  /** Counters for the run summary. */
  sent = 0;
  dropped = 0;
  duplicated = 0;

  constructor(queue: EventQueue, random: Prng, deliver: (message: Message) => void) {
    this.#queue = queue;
    this.#random = random;
    this.#deliver = deliver;
  }

  /** Blocks messages from `from` to `to`. */
  block(from: NodeId, to: NodeId): void {
    this.#blocked.add(`${from}>${to}`);
  }

  /** Splits the nodes into two sides that cannot talk to each other. */
  partition(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.block(a, b);
        this.block(b, a);
      }
    }
  }

  /** Removes every partition. */
  heal(): void {
    this.#blocked.clear();
  }

  get partitioned(): boolean {
    return this.#blocked.size > 0;
  }

  /** Sends one message through the faults. */
  send(message: Message): void {
    this.sent++;
    if (
      this.#blocked.has(`${message.from}>${message.to}`) ||
      this.#random.chance(this.faults.lossPerMille, 1000)
    ) {
      this.dropped++;
      return;
    }
    this.#schedule(message);
    if (this.#random.chance(this.faults.duplicatePerMille, 1000)) {
      this.duplicated++;
      this.#schedule(message);
    }
  }

  #schedule(message: Message): void {
    const { minDelayMs, maxDelayMs } = this.faults;
    const delay = this.#random.intBetween(minDelayMs, maxDelayMs + 1);
    this.#queue.schedule(delay, () => {
      // A partition that starts while the message is in flight cuts it too.
      if (this.#blocked.has(`${message.from}>${message.to}`)) {
        this.dropped++;
        return;
      }
      this.#deliver(message);
    });
  }
}
