#!/usr/bin/env node
/**
 * The `tandem` command. The replication core and its simulator are built; the node
 * runtime (storage, transport, HTTP and RESP faces) is not yet, so the cluster commands
 * say so plainly instead of pretending.
 */
const usage = `usage: tandem <command>

commands:
  cluster   start a local three-node cluster (not built yet)
  start     run one node (not built yet)
  status    print the cluster table (not built yet)
  sim       run the deterministic simulator: npm run sim -- --seeds N [--from S] [--json] [--trace]
`;

const command = process.argv[2];
switch (command) {
  case 'cluster':
  case 'start':
  case 'status':
  case 'promote':
  case 'join':
  case 'remove':
    console.log(
      `tandem ${command}: the cluster is not built yet. This version has the replication core and its ` +
        'deterministic simulator; try `npm run sim -- --seeds 200` to watch clusters fail over under faults.',
    );
    break;
  case undefined:
  case 'help':
  case '--help':
    console.log(usage);
    break;
  default:
    console.error(`tandem: unknown command '${command}'\n\n${usage}`);
    process.exitCode = 2;
}
