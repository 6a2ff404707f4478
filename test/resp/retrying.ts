/**
 * Retries a Redis client call while the cluster fails over: no leader yet (TRYAGAIN), a
 * leadership lost mid-write, or a connection the client is still re-establishing.
 */
import { sleep } from '../node/cluster.js';

const transient =
  /TRYAGAIN|TANDEM_LEADERSHIP_LOST|Connection is closed|closed|ECONNREFUSED|ECONNRESET|offline/i;

/** Runs `run` until it succeeds, retrying transient failures for up to `timeoutMs`. */
export async function retrying<T>(run: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await run();
    } catch (error) {
      if (!transient.test((error as Error).message) || Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}
