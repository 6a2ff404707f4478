/**
 * `tandem shell`: an interactive shell on a cluster, as rqlite's shell and sqlite3 are. A
 * line is one SQL statement (run as `tandem sql` runs it) or a dot command (`.get`,
 * `.put`, `.del`, `.ls`, `.status`, `.help`, `.quit`). An error is printed and the shell
 * goes on; end of input (Ctrl-D) ends it with status 0. Lines may be piped in: without a
 * terminal there is no prompt and no history, and the output is only the answers.
 */
import { isUtf8 } from 'node:buffer';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { TandemClient } from '../client/client.js';
import { TandemClientError } from '../client/errors.js';
import { openAdminLink, statusReport, type AdminLink } from './admin.js';
import {
  connectionHelp,
  connectionOptions,
  consistencies,
  firstAnswering,
  openClient,
  parseConsistency,
  resolveEndpoints,
} from './connection.js';
import { listKeys, listLimitDefault } from './kv.js';
import { CommandFailure, parseCommandArgs, UsageError } from './options.js';
import { runSql } from './sql.js';
import { packageVersion } from './version.js';

/** The history file's name in the user's home directory. */
export const historyFileName = '.tandem_history';
/** The most lines the history keeps, in memory and in its file. */
export const historyLinesMax = 1_000;

/** Help of `tandem shell`. */
export const shellHelp = `usage: tandem shell [--url URL[,URL...]] [--json]

An interactive shell: each line is one SQL statement (a query prints a table, any other
statement the rows affected) or one of the commands .help lists. An error is printed and
the shell goes on; Ctrl-D (end of input) or .quit leaves it. Lines may be piped in
(tandem shell < script.sql): then no prompt is shown and no history kept. On a terminal
the last ${historyLinesMax} lines are kept in ~/${historyFileName}.

  --json              print query rows and write results as JSON
  --consistency L     reads: ${consistencies.join(', ')} (default linearizable)
${connectionHelp}`;

/** What `.help` prints inside the shell. */
const dotHelp = `SQL statement        run it (a query prints its rows, a write the rows affected)
.get KEY             print the value of KEY
.put KEY VALUE       set KEY to VALUE (the rest of the line) and print its version
.del KEY             delete KEY and print how many keys were deleted
.ls [PREFIX]         list the keys (starting with PREFIX), at most ${listLimitDefault}
.status              the cluster's members, as tandem status prints them
.help                this list
.quit                leave (Ctrl-D too)`;

/** What a line runs against. */
interface ShellContext {
  readonly client: TandemClient;
  readonly link: AdminLink;
  readonly endpoints: readonly string[];
  readonly json: boolean;
}

/** Runs `tandem shell ARGV` until end of input or `.quit`. */
export async function runShell(argv: readonly string[]): Promise<void> {
  const options = {
    ...connectionOptions,
    json: { type: 'boolean' },
    consistency: { type: 'string' },
  } as const;
  const args = parseCommandArgs(argv, options, 0);
  if (args.values.help === true) return void process.stdout.write(shellHelp);
  const context: ShellContext = {
    endpoints: resolveEndpoints(args, process.env),
    client: openClient(args, process.env, parseConsistency(args)),
    link: openAdminLink(args),
    json: args.values.json === true,
  };
  const interactive = process.stdin.isTTY === true;
  const lines = openLines(interactive);
  try {
    if (interactive) {
      console.log(`tandem ${packageVersion()} shell; .help lists the commands, Ctrl-D leaves`);
      lines.prompt();
    }
    for await (const line of lines) {
      if ((await runLine(context, line)) === 'quit') break;
      if (interactive) lines.prompt();
    }
  } finally {
    lines.close();
    context.client.close();
    context.link.http.destroy();
  }
}

/** The shell's line reader: with a prompt and a history file on a terminal, else plain. */
function openLines(interactive: boolean): Interface {
  if (!interactive) return createInterface({ input: process.stdin, terminal: false });
  const file = join(homedir(), historyFileName);
  const lines = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    prompt: 'tandem> ',
    history: loadHistory(file),
    historySize: historyLinesMax,
    removeHistoryDuplicates: true,
  });
  lines.on('history', (history: string[]) => saveHistory(file, history));
  // Ctrl-C drops the line being typed, as in a shell; Ctrl-D leaves.
  lines.on('SIGINT', () => {
    lines.write(null, { ctrl: true, name: 'e' });
    lines.write(null, { ctrl: true, name: 'u' });
    process.stdout.write('\n');
    lines.prompt();
  });
  return lines;
}

/** The history in `file`, newest first as readline keeps it; none when it cannot be read. */
function loadHistory(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return lines.slice(-historyLinesMax).reverse();
}

/** Writes the history (newest first) to `file`, oldest line first, readable by its owner only. */
function saveHistory(file: string, history: readonly string[]): void {
  const lines = history.slice(0, historyLinesMax).reverse();
  try {
    // The lines may hold values typed in: a file made before, with a wider mode, is narrowed.
    writeFileSync(file, lines.map((line) => `${line}\n`).join(''), { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (error) {
    // A read-only home must not end the shell; the history is a convenience.
    console.error(`tandem shell: cannot write ${file}: ${(error as Error).message}`);
  }
}

/** Runs one line; prints its answer or its error. */
export async function runLine(context: ShellContext, line: string): Promise<'quit' | 'next'> {
  const text = line.trim();
  if (text === '' || text.startsWith('--')) return 'next';
  try {
    if (!text.startsWith('.')) {
      console.log(await runSql(context.client, text, [], context.json));
      return 'next';
    }
    return await runDotCommand(context, text);
  } catch (error) {
    if (error instanceof TandemClientError) console.error(`error: ${error.code}: ${error.message}`);
    else if (error instanceof CommandFailure || error instanceof UsageError) {
      console.error(`error: ${error.message}`);
    } else throw error;
    return 'next';
  }
}

/** Runs a line that starts with a dot: `.NAME [KEY [REST OF THE LINE]]`. */
async function runDotCommand(context: ShellContext, text: string): Promise<'quit' | 'next'> {
  const [, name = '', key, rest = ''] = /^(\S+)(?:\s+(\S+))?(?:\s+(.*))?$/.exec(text) ?? [];
  const { client } = context;
  // The KEY, once the line is checked to have what the command needs and nothing more.
  const operands = (wanted: string, keyNeeded: boolean, valueNeeded: boolean): string => {
    if ((keyNeeded && key === undefined) || (valueNeeded && rest === '')) {
      throw new UsageError(`${name} needs ${wanted}`);
    }
    if (!valueNeeded && rest !== '') throw new UsageError(`${name} takes ${wanted}, nothing more`);
    return key ?? '';
  };
  switch (name) {
    case '.quit':
    case '.exit':
      return 'quit';
    case '.help':
      console.log(dotHelp);
      break;
    case '.get':
      console.log(await valueText(client, operands('a KEY', true, false)));
      break;
    case '.put': {
      const written = await client.kv.set(operands('a KEY and a VALUE', true, true), rest);
      console.log(`version ${written.version.index}.${written.version.term}`);
      break;
    }
    case '.del':
      console.log(`deleted ${await client.kv.delete(operands('a KEY', true, false))}`);
      break;
    case '.ls': {
      const listed = await listKeys(client, operands('a PREFIX', false, false), listLimitDefault);
      for (const listedKey of listed.keys) console.log(listedKey);
      if (listed.more) console.log(`(the first ${listLimitDefault} keys found)`);
      break;
    }
    case '.status': {
      if (key !== undefined) throw new UsageError('.status takes nothing');
      const url = await firstAnswering(context.link.http, context.link.auth, context.endpoints);
      console.log(await statusReport(context.link, url));
      break;
    }
    default:
      throw new UsageError(`unknown command ${name} (.help lists them)`);
  }
  return 'next';
}

/** The value of `key` as text (`base64:` and its bytes when it is not UTF-8). */
async function valueText(client: TandemClient, key: string): Promise<string> {
  const found = await client.kv.getBytes(key);
  if (found === null) throw new CommandFailure(`no key ${JSON.stringify(key)}`);
  const bytes = Buffer.from(found.value);
  return isUtf8(bytes) ? bytes.toString('utf8') : `base64:${bytes.toString('base64')}`;
}
