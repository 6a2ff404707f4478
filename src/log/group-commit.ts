interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Serialises flushes and lets callers share them: a caller that arrives while a flush is
 * in flight waits for the next one, which starts when the current one ends and covers
 * every write queued meanwhile. Under concurrency the number of fdatasyncs per write falls
 * towards one per flush, whatever the number of callers.
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
    do {
      const batch = this.#waiting;
      this.#waiting = [];
      this.flushes++;
      try {
        await this.#flush();
        for (const waiter of batch) waiter.resolve();
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
      // Callers just woken queue their next writes in the microtasks that follow; one turn
      // of the event loop lets all of them join the next flush, instead of the first one
      // flushing alone while the rest wait a whole fdatasync behind it.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.#waiting.length > 0);
    this.#running = false;
  }
}
