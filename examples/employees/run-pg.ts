/**
 * `npm run example:employees:pg`: the seed's setup for real. Two throwaway PostgreSQL
 * instances on ports 5445 and 5446 (initdb and pg_ctl, as the postgres user when run as
 * root), a database `employee` in each, a two-node Tandem cluster in `sync` mode keeping
 * each node's state in its own database, and the employees service on PORT (default
 * 8080). psql on either database shows the same `emp` rows. Ctrl-C stops everything and
 * removes the databases; the cluster's directory (default `.tandem-employees-pg`) starts
 * afresh each run, as the databases do.
 */
import { rmSync } from 'node:fs';
import {
  findPostgresBinaries,
  startPostgres,
  type PostgresServer,
} from '../../src/cli/postgres-server.js';

/** The first instance's port; instance i listens on `firstPort + i`. */
const firstPort = 5445;

async function main(): Promise<void> {
  const binaries = findPostgresBinaries();
  if ('missing' in binaries) {
    console.error(`example:employees:pg needs PostgreSQL's server programs: ${binaries.missing}`);
    process.exit(1);
  }
  process.env.EXAMPLE_DIR ??= '.tandem-employees-pg';
  rmSync(process.env.EXAMPLE_DIR, { recursive: true, force: true });
  const nodeCount = Number(process.env.EXAMPLE_NODES ?? 2);
  const servers: PostgresServer[] = [];
  const destroyAll = async (): Promise<void> => {
    for (const server of servers) await server.destroy().catch(() => undefined);
  };
  try {
    for (let i = 0; i < nodeCount; i++) {
      servers.push(await startPostgres({ port: firstPort + i, database: 'employee' }));
      console.log(`PostgreSQL ${i + 1} on port ${firstPort + i}: ${servers[i]?.url}`);
    }
  } catch (error) {
    await destroyAll();
    throw error;
  }
  // Imported now: it reads EXAMPLE_DIR when it loads.
  const { runExample } = await import('./run.js');
  await runExample({
    stores: servers.map((server) => server.url),
    extraLines: [
      '  # the same rows in every database, read by PostgreSQL itself:',
      ...servers.map((server) => `  psql ${server.url} -c 'SELECT * FROM emp ORDER BY id'`),
    ],
    onStop: destroyAll,
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
