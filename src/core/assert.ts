/**
 * Assertions catch programmer errors. They stay on in production: a broken invariant in
 * a replication core must stop the node, never let it go on writing a wrong log.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws an AssertionError with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Asserts that `value` is a non-negative safe integer (terms, indexes, counts). */
export function assertIndex(value: number, what: string): void {
  assert(
    Number.isSafeInteger(value) && value >= 0,
    `${what} must be a non-negative safe integer, got ${value}`,
  );
}
