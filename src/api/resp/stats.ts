/**
 * What INFO counts on this node: connections, commands (per command, as Redis's
 * commandstats), error replies (per error code, as errorstats), bytes in and out, and the
 * instantaneous rates Redis samples ten times a second. Counting costs a Map lookup and a
 * few increments per command; a command's counters are made once, the first time it runs.
 */
import type { ErrorReply } from './reply.js';

/** One command's counters (Redis's `cmdstat_<name>` line). */
export interface CommandCounters {
  /** Times it ran. */
  calls: number;
  /** Microseconds its handler ran on the event loop (not the time it waited for the log). */
  usec: number;
  /** Refused before it ran (arity, permissions, authentication). */
  rejectedCalls: number;
  /** Ran and answered an error. */
  failedCalls: number;
}

/** Distinct error codes errorstats keeps: Redis's ERRORSTATS_LIMIT, past which it stops. */
export const errorCodesMax = 128;
/** Samples the instantaneous rates average over (Redis's STATS_METRIC_SAMPLES). */
export const rateSamples = 16;
/** How often the rates are sampled (Redis's serverCron at its default hz of 10). */
export const sampleIntervalMs = 100;

/**
 * A per-second rate of a growing total, averaged over the last `rateSamples` samples, as
 * Redis's `instantaneous_ops_per_sec` is. `samples[i]` is the rate between two samples.
 */
export class InstantaneousRate {
  readonly #samples = new Float64Array(rateSamples);
  #next = 0;
  #lastTotal = 0;
  #lastMs = 0;

  /** Takes a sample of `total` at `nowMs`. */
  sample(total: number, nowMs: number): void {
    if (this.#lastMs !== 0 && nowMs > this.#lastMs) {
      this.#samples[this.#next] = ((total - this.#lastTotal) * 1000) / (nowMs - this.#lastMs);
      this.#next = (this.#next + 1) % rateSamples;
    }
    this.#lastTotal = total;
    this.#lastMs = nowMs;
  }

  /** The average rate over the samples, per second. */
  perSecond(): number {
    let sum = 0;
    for (const rate of this.#samples) sum += rate;
    return sum / rateSamples;
  }
}

/** This node's INFO counters; one per RESP server. */
export class ServerStats {
  commandsProcessed = 0;
  connectionsReceived = 0;
  rejectedConnections = 0;
  /** Bytes read from clients and written to them. */
  netInputBytes = 0;
  netOutputBytes = 0;
  /** Socket reads and writes (Redis's total_reads_processed, total_writes_processed). */
  readsProcessed = 0;
  writesProcessed = 0;
  errorReplies = 0;
  /** The highest `used_memory` seen, by the sampler or by INFO. */
  usedMemoryPeak = 0;
  /** Counters by command name (`client|id` for a subcommand, as Redis 7 names them). */
  readonly commands = new Map<string, CommandCounters>();
  /** Error replies by code (`ERR`, `WRONGTYPE`, ...), at most `errorCodesMax` codes. */
  readonly errors = new Map<string, number>();
  readonly operations = new InstantaneousRate();
  readonly input = new InstantaneousRate();
  readonly output = new InstantaneousRate();

  /** The counters of command `name`, made the first time. */
  counters(name: string): CommandCounters {
    let found = this.commands.get(name);
    if (found === undefined) {
      found = { calls: 0, usec: 0, rejectedCalls: 0, failedCalls: 0 };
      this.commands.set(name, found);
    }
    return found;
  }

  /** Counts one run of a command whose handler took `usec` on the event loop. */
  ran(counters: CommandCounters, usec: number): void {
    counters.calls++;
    counters.usec += usec;
    this.commandsProcessed++;
  }

  /** Counts an error reply by its code (the text up to the first space). */
  errorReplied(reply: ErrorReply): void {
    this.errorReplies++;
    const space = reply.text.indexOf(' ');
    const code = space === -1 ? reply.text : reply.text.slice(0, space);
    const count = this.errors.get(code);
    if (count !== undefined) this.errors.set(code, count + 1);
    else if (this.errors.size < errorCodesMax) this.errors.set(code, 1);
  }

  /** Takes a sample of the totals the instantaneous rates follow. */
  sample(nowMs: number): void {
    this.operations.sample(this.commandsProcessed, nowMs);
    this.input.sample(this.netInputBytes, nowMs);
    this.output.sample(this.netOutputBytes, nowMs);
  }

  /** CONFIG RESETSTAT: the counters back to zero, as Redis's resetServerStats does. */
  reset(): void {
    this.commandsProcessed = 0;
    this.connectionsReceived = 0;
    this.rejectedConnections = 0;
    this.netInputBytes = 0;
    this.netOutputBytes = 0;
    this.readsProcessed = 0;
    this.writesProcessed = 0;
    this.errorReplies = 0;
    this.usedMemoryPeak = 0;
    // Zeroed in place: a command running now (CONFIG RESETSTAT itself) counts its call in
    // the counters it holds, and is the first one counted after the reset, as in Redis.
    for (const counters of this.commands.values()) {
      counters.calls = 0;
      counters.usec = 0;
      counters.rejectedCalls = 0;
      counters.failedCalls = 0;
    }
    this.errors.clear();
  }
}
