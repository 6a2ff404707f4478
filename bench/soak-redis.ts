/**
 * The differential tests against redis-server at length (a soak: pass/fail, with counts).
 *
 *   node dist/bench/soak-redis.js [--commands 100000] [--only FAMILY] [--store sqlite|postgres]
 *
 * Runs each family's random-command property (strings, keys, hashes, lists, sets, sorted
 * sets, and transactions mixing every type's reads and writes with WATCH) with TANDEM_DIFFERENTIAL_COMMANDS set, so that each compares about `--commands`
 * random commands, every reply byte for byte, between a Tandem node and redis-server (the
 * node on its embedded store, or with `--store postgres` on a PostgreSQL server of its own);
 * prints how many each compared, how long it took, and whether it passed. Exits 1 when one
 * failed (its output, with the seed to replay it, is printed). Needs redis-server.
 */
import { spawn } from 'node:child_process';
import { missingPrograms } from './redis.js';

const families = [
  'strings',
  'keys',
  'hashes',
  'lists',
  'sets',
  'sorted-sets',
  'transactions',
] as const;

interface Options {
  readonly commands: number;
  readonly only: string | null;
  readonly store: 'sqlite' | 'postgres';
}

function parseOptions(argv: readonly string[]): Options {
  const usage = 'soak-redis.js [--commands N] [--only FAMILY] [--store sqlite|postgres]';
  let commands = 100_000;
  let only: string | null = null;
  let store: Options['store'] = 'sqlite';
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--commands' && Number.isSafeInteger(Number(value)) && Number(value) > 0) {
      commands = Number(argv[++i]);
    } else if (argv[i] === '--only' && value !== undefined) {
      only = argv[++i] as string;
    } else if (argv[i] === '--store' && (value === 'sqlite' || value === 'postgres')) {
      store = value;
      i++;
    } else {
      throw new Error(`bad argument ${argv[i]}; usage: ${usage}`);
    }
  }
  return { commands, only, store };
}

/** Runs one family's property; its output, exit code and seconds. */
function runFamily(
  family: string,
  options: Options,
): Promise<{ output: string; code: number | null; seconds: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--test',
      `--test-name-pattern=${family === 'transactions' ? 'random transactions' : 'the same random commands give the same replies'}`,
      `dist/test/resp/${family}-differential.test.js`,
    ],
    {
      env: {
        ...process.env,
        TANDEM_DIFFERENTIAL_COMMANDS: String(options.commands),
        TANDEM_DIFFERENTIAL_STORE: options.store,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) =>
    child.once('exit', (code) =>
      resolve({ output, code, seconds: (performance.now() - started) / 1000 }),
    ),
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const missing = missingPrograms();
  if (missing !== null) {
    console.error(`soak:redis needs redis-server to compare against: ${missing}`);
    process.exit(2);
  }
  console.log(
    `random commands per family: about ${options.commands.toLocaleString('en')}, Tandem on ${options.store}`,
  );
  console.log('| family | commands compared | seconds | result |');
  console.log('|---|---|---|---|');
  let failed = false;
  for (const family of families) {
    if (options.only !== null && family !== options.only) continue;
    const { output, code, seconds } = await runFamily(family, options);
    const counted = /# (\d+) random commands compared with redis-server/.exec(output);
    const passed = code === 0 && counted !== null;
    console.log(
      `| ${family} | ${counted === null ? '?' : Number(counted[1]).toLocaleString('en')} | ${seconds.toFixed(0)} | ${passed ? 'pass' : 'FAIL'} |`,
    );
    if (!passed) {
      failed = true;
      console.error(output);
    }
  }
  if (failed) process.exit(1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
