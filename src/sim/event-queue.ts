import { assert } from '../core/assert.js';

/** One scheduled event: run at virtual time `time`; `seq` breaks ties in scheduling order. */
interface ScheduledEvent {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

/** Thrown when a run has used up its budget of events: it must end there, as a violation. */
export class BudgetExceededError extends Error {
  constructor(readonly events: number) {
    super(`used up its budget of ${events} events`);
  }
}

/**
 * The simulator's virtual clock and agenda: a binary min-heap of events ordered by
 * (time, seq). Ties run in the order they were scheduled, so a run is a pure function of
 * its seed.
 */
export class EventQueue {
  readonly #heap: ScheduledEvent[] = [];
  #seq = 0;
  #now = 0;
  #eventsRun = 0;
  /** Events this run may execute before `runUntil` throws `BudgetExceededError`. */
  eventsMax = Number.POSITIVE_INFINITY;

  /** The virtual time in milliseconds. */
  get now(): number {
    return this.#now;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Events executed so far. */
  get eventsRun(): number {
    return this.#eventsRun;
  }

  /** Schedules `run` after `delayMs` (>= 0) of virtual time. */
  schedule(delayMs: number, run: () => void): void {
    assert(Number.isSafeInteger(delayMs) && delayMs >= 0, `bad delay ${delayMs}`);
    const event = { time: this.#now + delayMs, seq: this.#seq++, run };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent] as ScheduledEvent)) break;
      heap[i] = heap[parent] as ScheduledEvent;
      i = parent;
    }
    heap[i] = event;
  }

  /** Runs events until the queue is empty or the next one is later than `untilMs`. */
  runUntil(untilMs: number): void {
    while (this.#heap.length > 0 && (this.#heap[0] as ScheduledEvent).time <= untilMs) {
      if (++this.#eventsRun > this.eventsMax) throw new BudgetExceededError(this.eventsMax);
      const event = this.#pop();
      this.#now = event.time;
      event.run();
    }
    this.#now = Math.max(this.#now, untilMs);
  }

  #pop(): ScheduledEvent {
    const heap = this.#heap;
    const top = heap[0] as ScheduledEvent;
    const last = heap.pop() as ScheduledEvent;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        const current = (j: number): ScheduledEvent =>
          j === i ? last : (heap[j] as ScheduledEvent);
        if (left < heap.length && before(heap[left] as ScheduledEvent, current(smallest)))
          smallest = left;
        if (right < heap.length && before(heap[right] as ScheduledEvent, current(smallest)))
          smallest = right;
        if (smallest === i) break;
        heap[i] = heap[smallest] as ScheduledEvent;
        i = smallest;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
