/**
 * `tandem link URL_A URL_B [URL_C ...]`: links clusters so that each replicates its
 * key-value namespace to every other (each is asked, through `POST /v1/links`, to pull from
 * each of the others); and `tandem links`: prints a cluster's links with their lag and state.
 * Each URL is one node of a cluster (a follower forwards to its leader). The credentials
 * given (`--user`, `--password`) are used on every cluster and are also what each cluster
 * sends when it pulls from another.
 */
import { call, openAdminLink } from './admin.js';
import {
  connectionHelp,
  connectionOptions,
  firstAnswering,
  resolveEndpoints,
} from './connection.js';
import { CommandFailure, parseCommandArgs, UsageError } from './options.js';
import { formatTable } from './table.js';

const linkTimeoutMs = 30_000;
/** Clusters linked by one command at most (each pair is two calls). */
const clustersMax = 16;

export const linkHelp = `usage: tandem link URL_A URL_B [URL_C ...] [--cacert FILE] [--user NAME --password P]

Links two or more clusters (one node's HTTP URL each; give each cluster its own
--cluster-id): each pulls the others' writes and applies them through its own log,
so every cluster accepts writes and all converge. String commands merge (SET, DEL and
expiry last-writer-wins, INCR and INCRBY as counters); other commands are refused on a
linked cluster. The credentials given are used on every cluster, and each cluster
sends them when it pulls from another.

  --cacert FILE       for https:// URLs: trust the CA in FILE (PEM)
  --user NAME         the user (an admin on every cluster; default: TANDEM_USER)
  --password P        its password (default: TANDEM_PASSWORD)
  -h, --help          this help
`;

export const linksHelp = `usage: tandem links [--url URL[,URL...]] [--cacert FILE]

Prints the clusters this one is linked to: the position of each one's stream applied
here, how many records it trails by, its state and the last error (as the leader sees
them; ask any node).

${connectionHelp}`;

/** Runs `tandem link`. */
export async function runLink(argv: readonly string[]): Promise<void> {
  const { cacert, user, password } = connectionOptions;
  const args = parseCommandArgs(argv, { cacert, user, password }, clustersMax);
  if (args.values.help === true) return void process.stdout.write(linkHelp);
  const urls = args.positionals;
  if (urls.length < 2) throw new UsageError('give the HTTP URLs of at least two clusters');
  if (new Set(urls).size !== urls.length) throw new UsageError('a URL is given twice');
  const link = openAdminLink(args);
  const authorization = link.auth.authorization ?? null;
  try {
    for (const from of urls) {
      for (const to of urls) {
        if (from === to) continue;
        const answer = await call(link, 'POST', `${from}/v1/links`, linkTimeoutMs, {
          url: to,
          authorization,
        });
        if (answer.status !== 201) {
          const { code, message } = answer.body;
          throw new CommandFailure(
            `${from} could not link to ${to}: ${String(code)}: ${String(message)}`,
          );
        }
        console.log(`${from} pulls from cluster ${String(answer.body.id)} (${to})`);
      }
    }
  } finally {
    link.http.destroy();
  }
}

/** Runs `tandem links`. */
export async function runLinks(argv: readonly string[]): Promise<void> {
  const args = parseCommandArgs(argv, connectionOptions, 0);
  if (args.values.help === true) return void process.stdout.write(linksHelp);
  const link = openAdminLink(args);
  try {
    const url = await firstAnswering(link.http, link.auth, resolveEndpoints(args, process.env));
    // The leader's view has the lag and state; a follower forwards `view=leader` there.
    const status = await call(link, 'GET', `${url}/v1/cluster?view=leader`, linkTimeoutMs);
    const leader = typeof status.body.httpUrl === 'string' ? status.body.httpUrl : url;
    const answer = await call(link, 'GET', `${leader}/v1/links`, linkTimeoutMs);
    if (answer.status !== 200) {
      throw new CommandFailure(`${String(answer.body.code)}: ${String(answer.body.message)}`);
    }
    const body = answer.body as {
      cluster: string;
      linked: boolean;
      seeded: boolean;
      streamLength: number;
      conflictsTotal: number;
      links: {
        id: string;
        position: number;
        lagRecords: number | null;
        state: string;
        lastContactMs: number | null;
        lastError: string | null;
      }[];
    };
    console.log(
      `cluster ${body.cluster}: ${body.linked ? 'linked' : 'not linked'}, ` +
        (body.linked && !body.seeded ? 'copying the keys written before the link, ' : '') +
        `${body.streamLength} records in its stream, ${body.conflictsTotal} conflicts`,
    );
    if (body.links.length === 0) return;
    console.log(
      formatTable([
        ['LINK', 'POSITION', 'LAG', 'STATE', 'CONTACT', 'ERROR'],
        ...body.links.map((one) => [
          one.id,
          String(one.position),
          one.lagRecords === null ? '-' : String(one.lagRecords),
          one.state,
          one.lastContactMs === null ? '-' : `${one.lastContactMs} ms ago`,
          one.lastError ?? '',
        ]),
      ]),
    );
  } finally {
    link.http.destroy();
  }
}
