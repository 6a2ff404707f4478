/**
 * The administration commands: `tandem status`, `promote`, `join` and `remove`. Each is a
 * thin client of a node's HTTP API, called on the first of the command's endpoints that
 * answers (see connection.ts); a follower forwards the changes to the leader itself.
 */
import { exchange, HttpAgents } from '../client/http.js';
import type { Membership } from '../core/types.js';
import type { MemberStatus, NodeStatus } from '../node/api.js';
import { formatHostPort } from '../api/http/address.js';
import {
  basicAuthorization,
  connectionHelp,
  connectionOptions,
  credentials,
  firstAnswering,
  resolveEndpoints,
  trustedCa,
  unreachableMessage,
} from './connection.js';
import {
  CommandFailure,
  parseAddress,
  parseCommandArgs,
  parseNodeId,
  parseTopology,
  UsageError,
  type ParsedArgs,
} from './options.js';
import { formatTable } from './table.js';

/** How long a status request may take; an unreachable member shows as such. */
const statusTimeoutMs = 3_000;
/** How long a change may take: a promotion waits for the new leader, a join for the entry. */
const changeTimeoutMs = 60_000;

/** Help of each administration command. */
export const adminHelp = {
  status: `usage: tandem status [--url URL[,URL...]] [--cacert FILE]\n\nPrints every member: role, term, commit/applied index, lag, health and last contact\n(as the leader sees them; the node at URL is asked for the leader).\n\n${connectionHelp}`,
  promote: `usage: tandem promote ID [--url URL[,URL...]] [--cacert FILE]\n\nTransfers leadership to member ID and waits until it leads.\n\n${connectionHelp}`,
  join: `usage: tandem join ID HOST:PORT [--learner [--upstream MEMBER]] [--url URL[,URL...]] [--cacert FILE]\n\nAdds member ID, whose peer port is HOST:PORT (start it with tandem start --join).\nIt catches up as a learner, then becomes a voter unless --learner is given.\n\n  --learner           keep it a learner (replicates and serves reads, never votes)\n  --upstream MEMBER   with --learner: it receives the log from MEMBER (a read replica\n                      in another region fed by one stream), from the leader while\n                      MEMBER cannot feed it\n${connectionHelp}`,
  remove: `usage: tandem remove ID [--url URL[,URL...]] [--cacert FILE]\n\nRemoves member ID from the cluster.\n\n${connectionHelp}`,
  topology: `usage: tandem topology star|chain [--url URL[,URL...]] [--cacert FILE]\n\nSwitches how the log reaches the members, through the log: star (the leader sends\nevery entry to every member) or chain (to the head of a chain of members, each\npassing it on). tandem status shows each member's upstream.\n\n${connectionHelp}`,
} as const;

/** An answer of the HTTP API. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Runs one administration command. */
export async function runAdmin(
  command: keyof typeof adminHelp,
  argv: readonly string[],
): Promise<void> {
  const positionals = { status: 0, promote: 1, join: 2, remove: 1, topology: 1 }[command];
  const args = parseCommandArgs(
    argv,
    command === 'join'
      ? { ...connectionOptions, learner: { type: 'boolean' }, upstream: { type: 'string' } }
      : connectionOptions,
    positionals,
  );
  if (args.values.help === true) return void process.stdout.write(adminHelp[command]);
  if (args.positionals.length < positionals) {
    const missing =
      command === 'topology' ? 'star or chain' : positionals === 1 ? 'ID' : 'ID and HOST:PORT';
    throw new UsageError(`missing ${missing}`);
  }
  if (command === 'join' && args.values.upstream !== undefined && args.values.learner !== true) {
    throw new UsageError('--upstream is for a learner: give --learner too');
  }
  const endpoints = resolveEndpoints(args, process.env);
  const link = openAdminLink(args);
  try {
    const url = await firstAnswering(link.http, link.auth, endpoints);
    if (command === 'status') return void console.log(await statusReport(link, url));
    await runChange(link, command, url, args);
  } finally {
    link.http.destroy();
  }
}

/** The agents and credentials of `args`, for calls to the HTTP API; destroy `http` after. */
export function openAdminLink(args: ParsedArgs): AdminLink {
  return {
    http: new HttpAgents(trustedCa(args)),
    auth: basicAuthorization(credentials(args, process.env)),
  };
}

async function runChange(
  agents: AdminLink,
  command: 'promote' | 'join' | 'remove' | 'topology',
  url: string,
  args: ParsedArgs,
): Promise<void> {
  const answer = await change(agents, command, url, args);
  if (answer.status !== 200) {
    const { code, message, leaderId } = answer.body;
    const leader = typeof leaderId === 'string' ? ` (leader ${leaderId})` : '';
    throw new CommandFailure(`${String(code)}: ${String(message)}${leader}`);
  }
  if (command === 'promote') console.log(`${String(answer.body.leaderId)} leads now`);
  else if (command === 'topology') console.log(`topology ${String(answer.body.topology)}`);
  else console.log(`done; ${describeMembership(answer.body.membership as Membership)}`);
}

function change(
  agents: AdminLink,
  command: 'promote' | 'join' | 'remove' | 'topology',
  url: string,
  args: ParsedArgs,
): Promise<ApiAnswer> {
  if (command === 'topology') {
    const topology = parseTopology(args.positionals[0] as string, 'the topology');
    return call(agents, 'POST', `${url}/v1/cluster/topology`, changeTimeoutMs, { topology });
  }
  const id = parseNodeId(args.positionals[0], 'ID');
  switch (command) {
    case 'promote':
      return call(agents, 'POST', `${url}/v1/cluster/promote`, changeTimeoutMs, { id });
    case 'join': {
      const address = formatHostPort(parseAddress(args.positionals[1], 'HOST:PORT'));
      const learner = args.values.learner === true;
      const upstreamText = args.values.upstream as string | undefined;
      const upstream =
        upstreamText === undefined ? {} : { upstream: parseNodeId(upstreamText, '--upstream') };
      const body = { id, address, learner, ...upstream };
      return call(agents, 'POST', `${url}/v1/cluster/members`, changeTimeoutMs, body);
    }
    case 'remove': {
      const target = `${url}/v1/cluster/members/${encodeURIComponent(id)}`;
      return call(agents, 'DELETE', target, changeTimeoutMs);
    }
  }
}

/** The agents the admin commands call through, and the credentials they send. */
export interface AdminLink {
  readonly http: HttpAgents;
  readonly auth: Record<string, string>;
}

/** Calls the API; a node that cannot be reached ends the command with a clear message. */
export async function call(
  agents: AdminLink,
  method: string,
  url: string,
  timeoutMs: number,
  body?: object,
): Promise<ApiAnswer> {
  let answer: { status: number; text: string };
  try {
    answer = await exchange(agents.http, {
      url,
      method,
      headers: {
        ...agents.auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: undefined,
      timeoutMs,
    });
  } catch (error) {
    throw new CommandFailure(unreachableMessage(url, (error as Error).message), { cause: error });
  }
  try {
    return { status: answer.status, body: JSON.parse(answer.text) as Record<string, unknown> };
  } catch {
    return { status: answer.status, body: { code: `HTTP ${answer.status}`, message: answer.text } };
  }
}

/** A member's status from its own API, or null when it does not answer. */
async function statusAt(agents: AdminLink, url: string | null): Promise<NodeStatus | null> {
  if (url === null) return null;
  try {
    const answer = await exchange(agents.http, {
      url: `${url}/v1/cluster`,
      method: 'GET',
      headers: agents.auth,
      body: undefined,
      signal: undefined,
      timeoutMs: statusTimeoutMs,
    });
    return answer.status === 200 ? (JSON.parse(answer.text) as NodeStatus) : null;
  } catch {
    return null;
  }
}

/**
 * The cluster as `tandem status` prints it: a summary line and a table of the members.
 * Throws CommandFailure when the node at `url` cannot be reached or refuses.
 */
export async function statusReport(agents: AdminLink, url: string): Promise<string> {
  const asked = await call(agents, 'GET', `${url}/v1/cluster`, statusTimeoutMs);
  if (asked.status !== 200) {
    throw new CommandFailure(`${String(asked.body.code)}: ${String(asked.body.message)}`);
  }
  const own = asked.body as unknown as NodeStatus;
  // Lag, health and last contact are the leader's knowledge: ask it for the members view.
  const view = own.role === 'leader' ? own : ((await statusAt(agents, own.leaderHttpUrl)) ?? own);
  const statuses = await Promise.all(
    view.members.map((member) =>
      member.id === view.id ? view : member.id === own.id ? own : statusAt(agents, member.httpUrl),
    ),
  );
  const summary =
    view.role === 'leader'
      ? `leader ${view.id}, term ${view.term}, mode ${view.durability}, commit ${view.commitIndex}; ${describeMembership(view.membership)}${describeTopology(view)}`
      : `no leader known to ${own.id} (asked ${url}); its own view follows`;
  const header = ['id', 'role', 'term', 'commit/applied', 'lag', 'health', 'last contact', 'http'];
  const rows = view.members.map((member, k) => memberRow(member, statuses[k], view));
  if (view.topology === 'chain') {
    // Who each member hears the log from (the leader's view).
    header.push('upstream');
    view.members.forEach((member, k) => rows[k]?.push(member.upstream ?? '-'));
  }
  return `${summary}\n${formatTable([header, ...rows])}`;
}

function memberRow(member: MemberStatus, status: NodeStatus | null, view: NodeStatus): string[] {
  const isLeader = view.role === 'leader' && member.id === view.id;
  const role =
    status === null
      ? `${member.voter ? 'voter' : 'learner'} (no answer)`
      : !member.voter && status.role === 'follower'
        ? 'learner'
        : status.role;
  const health = isLeader
    ? status?.healthy
    : (member.healthy ?? (status === null ? null : status.healthy));
  const snapshot =
    member.snapshot === null
      ? ''
      : ` (snapshot ${Math.floor((100 * member.snapshot.sentBytes) / Math.max(1, member.snapshot.totalBytes))}%)`;
  return [
    member.id,
    role,
    status === null ? '-' : String(status.term),
    status === null
      ? `-/${member.appliedIndex ?? '-'}`
      : `${status.commitIndex}/${status.appliedIndex}`,
    isLeader ? '0' : String(member.lagEntries ?? '-'),
    (health === null || health === undefined ? '-' : health ? 'ok' : 'down') + snapshot,
    isLeader || member.lastContactMs === null ? '-' : `${member.lastContactMs} ms ago`,
    member.httpUrl ?? '-',
  ];
}

/** The chain, head first, when the cluster runs as one (nothing for a star). */
function describeTopology(view: NodeStatus): string {
  if (view.topology !== 'chain') return '';
  const chain = view.chain.length === 0 ? '(forming)' : [view.id, ...view.chain].join(' > ');
  return `; chain ${chain}`;
}

function describeMembership(membership: Membership): string {
  const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(' '));
  return `voters ${list(membership.voters)}, learners ${list(membership.learners)}`;
}
