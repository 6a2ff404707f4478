/**
 * A command-line flag that must be an integer of at least `least`, for the simulators'
 * command lines: bad input goes to `usageError` (which exits 2 with the usage), never a
 * stack trace.
 */
export function integerFlag(
  text: string | undefined,
  name: string,
  fallback: number,
  least: number,
  usageError: (message: string) => never,
): number {
  if (text === undefined) return fallback;
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < least) {
    const kind = least > 0 ? 'a positive integer' : 'a non-negative integer';
    usageError(`--${name} must be ${kind}, got ${JSON.stringify(text)}`);
  }
  return value;
}
