/**
 * `tandem kv get|put|del|ls`: the key-value namespace through the TypeScript client, on
 * every endpoint given (the client finds the leader for writes and reads from followers).
 * Reads are linearizable by default: each run is a new client, so read-your-writes would
 * not cover a write an earlier run made.
 */
import type { TandemClient } from '../client/client.js';
import type { CommandReply } from '../client/types.js';
import {
  asFailure,
  connectionHelp,
  connectionOptions,
  consistencies,
  openClient,
  parseConsistency,
} from './connection.js';
import {
  CommandFailure,
  parseCommandArgs,
  parsePositiveInteger,
  stringFlag,
  UsageError,
  type ParsedArgs,
} from './options.js';

/** `ls` lists this many keys when no `--limit` is given. */
export const listLimitDefault = 1_000;
/** The most keys one `ls` lists. */
export const listLimitMax = 100_000;
/** Keys asked of each SCAN round trip (the store takes at most 10,000). */
const scanCountPerCall = 1_000;

/** Help of `tandem kv`. */
export const kvHelp = `usage: tandem kv get KEY
       tandem kv put KEY VALUE [--ttl-ms N]
       tandem kv del KEY
       tandem kv ls [--prefix P] [--limit N]

get   prints the value of KEY: its exact bytes when stdout is not a terminal (a pipe or a
      file gets the value as stored, nothing added), the value and a newline on a
      terminal; a key that is absent (or expired) fails with exit status 1
put   sets KEY to VALUE (text) and prints its new version as INDEX.TERM (its ETag)
del   deletes KEY and prints how many keys were deleted (0 or 1)
ls    prints the keys (those starting with P) one a line, sorted, at most N of them

A KEY or VALUE that starts with - follows --, after the flags: tandem kv put k -- -1.

  --ttl-ms N          put: the key expires N ms from now (a positive integer)
  --prefix P          ls: only keys that start with P (the bytes of P, no patterns)
  --limit N           ls: at most N keys (default ${listLimitDefault}, at most ${listLimitMax})
  --consistency L     reads: ${consistencies.join(', ')} (default linearizable)
${connectionHelp}`;

const kvOptions = {
  ...connectionOptions,
  'ttl-ms': { type: 'string' },
  prefix: { type: 'string' },
  limit: { type: 'string' },
  consistency: { type: 'string' },
} as const;

/** The positionals (after the subcommand) and the flags each subcommand takes. */
const subcommands = {
  get: { operands: ['KEY'], flags: ['consistency'] },
  put: { operands: ['KEY', 'VALUE'], flags: ['ttl-ms'] },
  del: { operands: ['KEY'], flags: [] },
  ls: { operands: [], flags: ['prefix', 'limit', 'consistency'] },
} as const;
type Subcommand = keyof typeof subcommands;

/** Runs `tandem kv ARGV`. */
export async function runKv(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, kvOptions, 3);
  if (args.values.help === true) return void process.stdout.write(kvHelp);
  const [name, ...operands] = args.positionals;
  if (name === undefined) throw new UsageError('missing the subcommand: get, put, del or ls');
  if (!Object.hasOwn(subcommands, name)) {
    throw new UsageError(`unknown kv subcommand ${JSON.stringify(name)} (get, put, del or ls)`);
  }
  const subcommand = name as Subcommand;
  checkUsage(subcommand, args, operands);
  const ttlMs = stringFlag(args, 'ttl-ms');
  const limit = stringFlag(args, 'limit');
  const settings: KvSettings = {
    ttlMs: ttlMs === undefined ? undefined : parsePositiveInteger(ttlMs, '--ttl-ms'),
    prefix: stringFlag(args, 'prefix') ?? '',
    limit: limit === undefined ? listLimitDefault : parseListLimit(limit),
  };
  const client = openClient(args, process.env, parseConsistency(args));
  try {
    await runSubcommand(client, subcommand, operands, settings);
  } catch (error) {
    throw asFailure(error);
  } finally {
    client.close();
  }
}

interface KvSettings {
  readonly ttlMs: number | undefined;
  readonly prefix: string;
  readonly limit: number;
}

/** Refuses missing or extra operands, and flags of another subcommand. */
function checkUsage(subcommand: Subcommand, args: ParsedArgs, operands: readonly string[]): void {
  const { operands: wanted, flags } = subcommands[subcommand];
  if (operands.length < wanted.length) {
    throw new UsageError(`${subcommand}: missing ${wanted.slice(operands.length).join(' and ')}`);
  }
  if (operands.length > wanted.length) {
    throw new UsageError(`${subcommand}: unexpected argument ${operands[wanted.length]}`);
  }
  for (const flag of Object.keys(kvOptions)) {
    const own = (flags as readonly string[]).includes(flag) || flag in connectionOptions;
    if (!own && args.values[flag] !== undefined) {
      throw new UsageError(`${subcommand} takes no --${flag}`);
    }
  }
}

function parseListLimit(text: string): number {
  const limit = parsePositiveInteger(text, '--limit');
  if (limit > listLimitMax) throw new UsageError(`--limit must be at most ${listLimitMax}`);
  return limit;
}

async function runSubcommand(
  client: TandemClient,
  subcommand: Subcommand,
  operands: readonly string[],
  settings: KvSettings,
): Promise<void> {
  const [key, value] = operands as [string, string];
  switch (subcommand) {
    case 'get': {
      const found = await client.kv.getBytes(key);
      if (found === null) throw new CommandFailure(`no key ${JSON.stringify(key)}`);
      process.stdout.write(found.value);
      if (process.stdout.isTTY) process.stdout.write('\n');
      return;
    }
    case 'put': {
      const ttl = settings.ttlMs === undefined ? {} : { ttlMs: settings.ttlMs };
      const written = await client.kv.set(key, value, ttl);
      return void console.log(`version ${written.version.index}.${written.version.term}`);
    }
    case 'del':
      return void console.log(`deleted ${await client.kv.delete(key)}`);
    case 'ls': {
      const listed = await listKeys(client, settings.prefix, settings.limit);
      for (const name of listed.keys) console.log(name);
      if (listed.more) {
        console.error(`(the first ${settings.limit} keys found; --limit N lists more)`);
      }
    }
  }
}

/** What `listKeys` found: the keys, sorted, and whether more were left out by the limit. */
export interface KeyList {
  readonly keys: string[];
  readonly more: boolean;
}

/**
 * The keys that start with `prefix`, at most `limit` of them, sorted: SCAN with a MATCH of
 * the prefix (its glob characters escaped) until its cursor comes back to 0. A key that is
 * not UTF-8 is shown as `base64:` and its bytes in base64.
 */
export async function listKeys(
  client: TandemClient,
  prefix: string,
  limit: number,
): Promise<KeyList> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const reply = await client.readCommand([
      'SCAN',
      cursor,
      'MATCH',
      pattern,
      'COUNT',
      scanCountPerCall,
    ]);
    const [next, page] = scanPage(reply);
    for (const key of page) keys.push(key);
    cursor = next;
  } while (cursor !== '0' && keys.length < limit);
  keys.sort();
  return { keys: keys.slice(0, limit), more: keys.length > limit || cursor !== '0' };
}

/** A SCAN reply `[cursor, [key, ...]]` as text. */
function scanPage(reply: CommandReply): [string, string[]] {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
    throw new CommandFailure(`unexpected SCAN reply ${JSON.stringify(reply)}`);
  }
  const [cursor, page] = reply as [CommandReply, CommandReply[]];
  return [String(cursor), page.map(keyText)];
}

function keyText(key: CommandReply): string {
  if (typeof key === 'string') return key;
  if (key !== null && typeof key === 'object' && 'base64' in key) return `base64:${key.base64}`;
  throw new CommandFailure(`unexpected key in a SCAN reply: ${JSON.stringify(key)}`);
}
