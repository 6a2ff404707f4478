/**
 * What reaches a core while its driver is busy carrying out a Ready (an fsync, an apply):
 * peer messages and ticks, kept in the order they arrived and fed to the core in that
 * order. The runtime and the simulator both drive the core through it.
 *
 * The order matters after a long stall (a slow disk): a follower that got a heartbeat
 * every tick meanwhile heard from its leader all along. Fed all the messages first and
 * then all the ticks, it would see the whole stall as silence after the last heartbeat
 * and campaign against a healthy leader.
 */
import type { Message } from './types.js';

/** Ticks that arrived after the first `at` messages, `count` of them in a row. */
interface TickRun {
  readonly at: number;
  count: number;
}

/** The subset of the core the inbox feeds. */
export interface InboxTarget<R> {
  step(message: Message): R;
  tick(): void;
}

/** Messages and ticks in arrival order; the messages are bounded, the ticks run-length coded. */
export class Inbox {
  #messages: Message[] = [];
  #ticks: TickRun[] = [];
  readonly #messagesMax: number;

  /** Holds at most `messagesMax` messages; later ones are dropped (peers resend). */
  constructor(messagesMax: number) {
    this.#messagesMax = messagesMax;
  }

  /** Messages waiting. */
  get messages(): number {
    return this.#messages.length;
  }

  /** Whether anything waits. */
  get pending(): boolean {
    return this.#messages.length > 0 || this.#ticks.length > 0;
  }

  /**
   * Queues a message; false (and dropped) when the inbox is full, unless `always` (a
   * message that stands for work already done, such as a snapshot received whole).
   */
  push(message: Message, always = false): boolean {
    if (!always && this.#messages.length >= this.#messagesMax) return false;
    this.#messages.push(message);
    return true;
  }

  /** Queues a tick after the messages queued so far. */
  tick(): void {
    const last = this.#ticks.at(-1);
    if (last !== undefined && last.at === this.#messages.length) last.count++;
    else this.#ticks.push({ at: this.#messages.length, count: 1 });
  }

  /** Empties the inbox. */
  clear(): void {
    this.#messages = [];
    this.#ticks = [];
  }

  /**
   * Feeds everything to `core` in arrival order and empties the inbox; `onStep` sees each
   * message with what stepping it returned. What arrives meanwhile waits for the next drain.
   */
  drain<R>(core: InboxTarget<R>, onStep?: (message: Message, result: R) => void): void {
    const messages = this.#messages;
    const ticks = this.#ticks;
    this.clear();
    let run = 0;
    for (let i = 0; i <= messages.length; i++) {
      for (; run < ticks.length && (ticks[run] as TickRun).at <= i; run++) {
        for (let n = (ticks[run] as TickRun).count; n > 0; n--) core.tick();
      }
      if (i === messages.length) break;
      const message = messages[i] as Message;
      const result = core.step(message);
      onStep?.(message, result);
    }
  }
}
