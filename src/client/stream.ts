/**
 * The shapes of a streamed HTTP exchange (a blob's upload or download), apart from the
 * node:http code that makes it (http.ts), so that the declarations of the calls built on
 * them need none of Node's types.
 */
import type { AbortSignalLike } from './types.js';

/** An answer whose body is read as it arrives (a blob), not buffered. */
export interface StreamAnswer {
  readonly status: number;
  /** A response header by lower-case name, or null. */
  header(name: string): string | null;
  /**
   * The body's bytes as they arrive. Iterate it to its end, or stop early (break): either
   * frees the connection. A connection lost, an idle timeout or an abort throws from it.
   */
  readonly body: AsyncIterable<Uint8Array>;
}

/** A request whose body, if any, is streamed with backpressure. */
export interface StreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  /** Bytes (sent with a Content-Length) or an iterable of chunks (sent chunked), or none. */
  readonly body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
  readonly signal: AbortSignalLike | undefined;
  /** The socket may be idle this long, waiting for the answer or for its next bytes. */
  readonly idleTimeoutMs: number;
  /** Called with the count of body bytes written so far, after each chunk. */
  readonly onSent?: (sentBytes: number) => void;
}
