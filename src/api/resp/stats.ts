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
  /**
   * Microseconds from the start of its handler to its reply being ready, summed over its
   * calls: for a write, the log's round included (Prometheus's latency; INFO gives usec).
   */
  latencyUsec: number;
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
      found = { calls: 0, usec: 0, rejectedCalls: 0, failedCalls: 0, latencyUsec: 0 };
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

  /** Adds a reply's latency, from `startedMs` (performance.now()) until now. */
  answered(counters: CommandCounters, startedMs: number): void {
    counters.latencyUsec += Math.round((performance.now() - startedMs) * 1000);
  }

  /**
   * The counters in Prometheus's text format, every series labelled with `node`: commands
   * by name (calls, refused, failed, handler seconds, reply latency as a sum and count),
   * error replies by code, and connections. CONFIG RESETSTAT zeroes them, which Prometheus
   * reads as a counter reset.
   */
  prometheusText(nodeId: string, connected: number): string {
    const node = `node="${labelValue(nodeId)}"`;
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, samples: string[]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
    };
    const commands = [...this.commands].filter(([, c]) => c.calls + c.rejectedCalls > 0);
    const per = (value: (counters: CommandCounters) => number) =>
      commands.map(
        ([name, counters]) => `{${node},command="${labelValue(name)}"} ${value(counters)}`,
      );
    const prefixed = (metric: string, samples: string[]) => samples.map((line) => metric + line);
    family(
      'tandem_resp_commands_total',
      'counter',
      'RESP commands run, by command (subcommands as command|sub).',
      prefixed(
        'tandem_resp_commands_total',
        per((c) => c.calls),
      ),
    );
    family(
      'tandem_resp_commands_rejected_total',
      'counter',
      'RESP commands refused before they ran (arity, permissions, authentication).',
      prefixed(
        'tandem_resp_commands_rejected_total',
        per((c) => c.rejectedCalls),
      ),
    );
    family(
      'tandem_resp_commands_failed_total',
      'counter',
      'RESP commands that ran and answered an error.',
      prefixed(
        'tandem_resp_commands_failed_total',
        per((c) => c.failedCalls),
      ),
    );
    family(
      'tandem_resp_command_handler_seconds_total',
      'counter',
      "Seconds RESP command handlers ran on the event loop (INFO commandstats' usec).",
      prefixed(
        'tandem_resp_command_handler_seconds_total',
        per((c) => c.usec / 1e6),
      ),
    );
    family(
      'tandem_resp_command_latency_seconds',
      'summary',
      'Seconds from a RESP command to its reply, the log round of a write included.',
      [
        ...prefixed(
          'tandem_resp_command_latency_seconds_sum',
          per((c) => c.latencyUsec / 1e6),
        ),
        ...prefixed(
          'tandem_resp_command_latency_seconds_count',
          per((c) => c.calls),
        ),
      ],
    );
    family(
      'tandem_resp_error_replies_total',
      'counter',
      'RESP error replies, by error code (ERR, WRONGTYPE, ...; at most 128 codes).',
      [...this.errors].map(
        ([code, count]) =>
          `tandem_resp_error_replies_total{${node},code="${labelValue(code)}"} ${count}`,
      ),
    );
    family('tandem_resp_connections', 'gauge', 'RESP client connections open now.', [
      `tandem_resp_connections{${node}} ${connected}`,
    ]);
    family(
      'tandem_resp_connections_received_total',
      'counter',
      'RESP client connections accepted (refused ones included).',
      [`tandem_resp_connections_received_total{${node}} ${this.connectionsReceived}`],
    );
    return `${lines.join('\n')}\n`;
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
      counters.latencyUsec = 0;
    }
    this.errors.clear();
  }
}

/** A label value as the text format quotes it: backslash, quote and newline escaped. */
function labelValue(text: string): string {
  return text.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
