interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Serialises flushes and lets callers share them: a caller that arrives while a flush is
 * in flight waits for the next one, which starts when the current one ends and covers
 * every write queued meanwhile. Under concurrency the number of fdatasyncs per write falls
 * towards one per flush, whatever the number of callers.
 *
 * After a flush that woke several callers, one turn of the event loop passes before the
 * next flush starts, so that all of them can join it. A flush that woke a single caller
 * (one writer, or a node's driver, which syncs one Ready at a time) does not wait: with
 * nobody else waiting the group commit goes idle at once and that caller's next request
 * starts its flush straight away, so a lone writer waits for nothing but its own flush.
 */
export class GroupCommit {
  readonly #flush: () => Promise<void>;
  #running = false;
  /** Callers waiting for a flush that has not started yet. */
  #waiting: Waiter[] = [];
  /** Flushes started, for the benchmark's syncs-per-entry figure. */
  flushes = 0;

  constructor(flush: () => Promise<void>) {
    this.#flush = flush;
  }

  /** Resolves once a flush that started after this call has ended. */
  request(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    for (;;) {
      const batch = this.#waiting;
      this.#waiting = [];
      this.flushes++;
      try {
        await this.#flush();
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
      if (batch.length === 1 && this.#waiting.length === 0) break;
      // Callers just woken queue their next writes in the microtasks that follow; one turn
      // of the event loop lets all of them join the next flush, instead of the first one
      // flushing alone while the rest wait a whole fdatasync behind it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#waiting.length === 0) break;
    }
    this.#running = false;
  }
}
