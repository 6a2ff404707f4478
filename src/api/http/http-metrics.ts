/**
 * The HTTP layer's own Prometheus metrics, kept in a registry of their own and appended to
 * the node's text on `GET /metrics`: the node owns replication metrics, this layer only
 * counts what it answered.
 */
import { Counter, Registry } from 'prom-client';

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
