/**
 * The HTTP layer's own Prometheus metrics, kept in a registry of their own and appended to
 * the node's text on `GET /metrics`: the node owns replication metrics, this layer only
 * counts what it answered.
 */
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/** Route label of requests that matched no route: one label, so junk URLs add no series. */
export const unmatchedRoute = 'unmatched';

/** Counts answered HTTP requests by method, route pattern and status. */
export class HttpMetrics {
  readonly #registry = new Registry();
  readonly #requests = new Counter({
    name: 'tandem_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.#registry],
  });

  /**
   * Every series carries the `node` label, as the node's own; with `processMetrics`, the
   * registry also holds prom-client's process and Node.js metrics (CPU, memory, event
   * loop lag, GC, handles), which are the process's, one set per node process.
   */
  constructor(nodeId: string, processMetrics = true) {
    this.#registry.setDefaultLabels({ node: nodeId });
    if (processMetrics) collectDefaultMetrics({ register: this.#registry });
  }

  /** The Content-Type of the text format. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Counts one answered request; `route` is the pattern (`/v1/kv/:key`), never the URL. */
  count(method: string, route: string | undefined, status: number): void {
    this.#requests.inc({ method, route: route ?? unmatchedRoute, status: String(status) });
  }

  /** The HTTP metrics in the Prometheus text format. */
  async text(): Promise<string> {
    return this.#registry.metrics();
  }
}
