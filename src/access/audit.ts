/**
 * Audit and brute-force defence. Every admin action (membership, promote, ACL changes,
 * FLUSHALL, SQL DDL) is logged with its user and counted; every failed authentication is
 * counted, and a client address that keeps failing is slowed: after
 * `failuresBeforeDelay` failures within `failureWindowMs`, each further failure is answered
 * only after a delay that doubles up to `failureDelayMsMax`. A success does not reset the
 * count of an address (an attacker may hold one valid account); the window does.
 */
import { Counter, Registry } from 'prom-client';
import type { Logger } from '../transport/contract.js';

/** Failures an address may make within the window before it is slowed. */
export const failuresBeforeDelay = 5;
/** The window over which an address's failures count. */
export const failureWindowMs = 60_000;
/** The first delay, and the longest one. */
export const failureDelayMsMin = 100;
export const failureDelayMsMax = 5_000;
/** The most addresses tracked; past it the oldest is forgotten. */
export const trackedAddressesMax = 10_000;

interface Failures {
  count: number;
  since: number;
}

/** The counters and the per-address failure record of one node. */
export class AccessAudit {
  readonly registry = new Registry();
  readonly #failures: Counter;
  readonly #admin: Counter;
  readonly #byAddress = new Map<string, Failures>();
  readonly #logger: Logger | undefined;

  constructor(logger?: Logger) {
    this.#logger = logger;
    const registers = [this.registry];
    this.#failures = new Counter({
      name: 'tandem_auth_failures_total',
      help: 'Failed authentications, by client port (http, resp)',
      labelNames: ['port'],
      registers,
    });
    this.#admin = new Counter({
      name: 'tandem_admin_actions_total',
      help: 'Admin actions taken, by action',
      labelNames: ['action'],
      registers,
    });
  }

  /**
   * Records a failed authentication from `address` on `port`; resolves after the delay
   * that address has earned (0 for its first few failures), so the caller answers late.
   */
  async failure(port: 'http' | 'resp', address: string, user: string | null): Promise<void> {
    this.#failures.inc({ port });
    const now = Date.now();
    let record = this.#byAddress.get(address);
    if (record === undefined || now - record.since > failureWindowMs) {
      this.#byAddress.delete(address);
      if (this.#byAddress.size >= trackedAddressesMax) {
        const oldest = this.#byAddress.keys().next().value as string;
        this.#byAddress.delete(oldest);
      }
      record = { count: 0, since: now };
      this.#byAddress.set(address, record);
    }
    record.count++;
    this.#logger?.warn(
      { port, client: address, user, failures: record.count },
      'authentication failed',
    );
    const delay = delayAfter(record.count);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }

  /** Logs and counts an admin action by `user`. */
  admin(user: string, action: string, detail: Record<string, unknown> = {}): void {
    this.#admin.inc({ action });
    this.#logger?.info(
      { audit: true, user, action, ...detail },
      `admin action ${action} by ${user}`,
    );
  }

  /** The counters in Prometheus's text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The delay a failure earns when it is an address's `count`th within the window. */
export function delayAfter(count: number): number {
  if (count <= failuresBeforeDelay) return 0;
  const doublings = Math.min(count - failuresBeforeDelay - 1, 16);
  return Math.min(failureDelayMsMin * 2 ** doublings, failureDelayMsMax);
}
