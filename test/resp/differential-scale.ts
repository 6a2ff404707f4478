// How far the differential tests against redis-server go. `npm test` runs each random
// property a few dozen times; TANDEM_DIFFERENTIAL_SCALE multiplies that, and
// TANDEM_DIFFERENTIAL_COMMANDS asks for about that many commands (`npm run soak:redis`
// sets it and adds up the commands compared); TANDEM_TEST_SEED replays the seed that a
// failing run printed.
import type { TestContext } from 'node:test';

/**
 * The runs of a differential property: `base`, times TANDEM_DIFFERENTIAL_SCALE when it is
 * set, or as many as draw about TANDEM_DIFFERENTIAL_COMMANDS commands when that is set
 * (`meanCommands` being how many one run draws on average: fast-check keeps arrays short).
 */
export function differentialRuns(base: number, meanCommands = 6): number {
  const commands = positive('TANDEM_DIFFERENTIAL_COMMANDS');
  if (commands !== null) return Math.ceil((commands * 1.05) / meanCommands);
  return Math.max(1, Math.round(base * (positive('TANDEM_DIFFERENTIAL_SCALE') ?? 1)));
}

function positive(name: string): number | null {
  const text = process.env[name];
  if (text === undefined || text === '') return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, not ${text}`);
  }
  return value;
}

/** fast-check's options for the seed TANDEM_TEST_SEED names, if any. */
export const seedOption: { readonly seed?: number } = process.env.TANDEM_TEST_SEED
  ? { seed: Number(process.env.TANDEM_TEST_SEED) }
  : {};

/** Counts the random commands a differential test sent to both servers, and reports them. */
export class CommandCount {
  #commands = 0;

  add(commands: number): void {
    this.#commands += commands;
  }

  /** A diagnostic line of the test's output: `N random commands compared with redis-server`. */
  report(t: TestContext): void {
    t.diagnostic(`${this.#commands} random commands compared with redis-server`);
  }
}
