/**
 * What the benchmarks share: the median of repeated runs, and the parsing of their
 * `--name N` options (positive whole numbers) and `--json`.
 */

/** The median; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Reads `--name N` options, each a positive whole number named in `defaults`, and
 * `--json`; throws naming `usage` on anything else.
 */
export function parseCountOptions<Name extends string>(
  argv: readonly string[],
  defaults: Readonly<Record<Name, number>>,
  usage: string,
): Record<Name, number> & { json: boolean } {
  const values: Record<string, number> = { ...defaults };
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--json') {
      json = true;
      continue;
    }
    const name = arg.replace(/^--/, '');
    const value = Number(argv[++i]);
    if (!(name in values) || !Number.isSafeInteger(value) || value < 1) {
      throw new Error(`bad argument ${arg}; usage: ${usage}`);
    }
    values[name] = value;
  }
  return { ...(values as Record<Name, number>), json };
}
