#!/usr/bin/env node
/**
 * The `tandem` command: run a node (`start`), a local cluster (`cluster`), administer a
 * running cluster (`status`, `promote`, `join`, `remove`) through its HTTP API, and read and
 * write its data (`kv`, `blob`, `sql`, `shell`) through the TypeScript client.
 *
 * Exit status: 0 done, 1 failed (a port taken, a node unreachable, an error answer, a key
 * absent), 2 bad usage (no command, an unknown command or flag, a missing argument, a bad
 * value; the message names the setting).
 */
import { CommandFailure, failureExitCode, UsageError, usageExitCode } from './options.js';
import { packageVersion } from './version.js';

const usage = `usage: tandem <command> [options]

commands:
  cluster   start a local cluster of node processes (npm start runs it)
  start     run one node
  status    print every member: role, term, commit/applied, lag, health
  promote   transfer leadership to a member
  join      add a member
  remove    remove a member
  topology  switch how the log reaches the members: star or chain
  link      link clusters so that each accepts writes and all converge
  links     print a cluster's links: position, lag, state
  kv        get, put, del and ls keys
  blob      put, get, ls and rm large objects (files), streamed with progress
  sql       run one SQL statement: a query prints a table, a write the rows affected
  shell     an interactive shell: SQL lines and dot commands (.get, .put, .ls, .status)
  backup    write a consistent backup of the state to a file, with progress
  restore   seed a new node's data directory from a backup, checked first
  version   print the version (also --version, -v)

The commands that talk to a cluster take --url URL[,URL...], else TANDEM_ENDPOINTS,
else TANDEM_URL, else http://127.0.0.1:9001; the first endpoint that answers is used.
tandem <command> --help describes each one. The deterministic simulator runs with
npm run sim -- --seeds N.
`;

/** The commands that have a help of their own (`tandem <command> --help`). */
const commandsWithHelp: ReadonlySet<string> = new Set([
  'cluster',
  'start',
  'status',
  'promote',
  'join',
  'remove',
  'topology',
  'link',
  'links',
  'kv',
  'blob',
  'sql',
  'shell',
  'backup',
  'restore',
]);

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command's module is loaded when it runs: the data commands start in a third of
    // the time when they do not load the node runtime that `start` needs.
    case 'cluster':
      return (await import('./cluster.js')).runCluster(rest);
    case 'start':
      return (await import('./start.js')).runStart(rest);
    case 'status':
    case 'promote':
    case 'join':
    case 'remove':
    case 'topology':
      return (await import('./admin.js')).runAdmin(command, rest);
    case 'link':
      return (await import('./link.js')).runLink(rest);
    case 'links':
      return (await import('./link.js')).runLinks(rest);
    case 'kv':
      return (await import('./kv.js')).runKv(rest);
    case 'blob':
      return (await import('./blob.js')).runBlob(rest);
    case 'sql':
      return (await import('./sql.js')).runSqlCommand(rest);
    case 'shell':
      return (await import('./shell.js')).runShell(rest);
    case 'backup':
      return (await import('./backup.js')).runBackup(rest);
    case 'restore':
      return (await import('./backup.js')).runRestore(rest);
    case 'version':
    case '--version':
    case '-v':
      if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
      return void process.stdout.write(`tandem ${packageVersion()}\n`);
    case 'help':
    case '--help':
    case '-h':
      return void process.stdout.write(usage);
    case undefined:
      process.stderr.write(usage);
      process.exitCode = usageExitCode;
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const command = process.argv[2];
  const known = command !== undefined && commandsWithHelp.has(command);
  const name = `tandem${known ? ` ${command}` : ''}`;
  if (error instanceof UsageError) {
    const more = known ? `tandem ${command} --help` : 'tandem --help';
    process.stderr.write(`${name}: ${error.message} (see ${more})\n`);
    process.exit(usageExitCode);
  }
  if (error instanceof CommandFailure) {
    process.stderr.write(`${name}: ${error.message}\n`);
    process.exit(failureExitCode);
  }
  process.stderr.write(
    `tandem: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(failureExitCode);
});
