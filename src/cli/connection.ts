/**
 * How a `tandem` command reaches a running cluster: its endpoints (`--url`, else
 * `TANDEM_ENDPOINTS`, else `TANDEM_URL`, else node 1 of `tandem cluster`), the CA it trusts
 * for `https://` (`--cacert`), and the user it authenticates as (`--user`/`--password`,
 * else `TANDEM_USER`/`TANDEM_PASSWORD`). Shared by the administration commands, which call
 * the HTTP API on the first endpoint that answers, and the data commands, which use the
 * TypeScript client on all of them.
 */
import { readFileSync } from 'node:fs';
import { exchange, type HttpAgents } from '../client/http.js';
import { createClient, type TandemClient } from '../client/client.js';
import { TandemClientError } from '../client/errors.js';
import type { ClientAuth, Consistency } from '../client/types.js';
import { isTlsFailure } from '../api/http/forward.js';
import {
  CommandFailure,
  parseBaseUrl,
  stringFlag,
  UsageError,
  type ParsedArgs,
} from './options.js';

/** The node asked when no endpoint is given: node 1 of `tandem cluster`. */
export const defaultUrl = 'http://127.0.0.1:9001';
/** The most endpoints one command takes. */
export const endpointsMax = 16;
/** How long an endpoint may take to answer before the next one is tried. */
const probeTimeoutMs = 3_000;
/** The data commands' client: per attempt, and attempts after the first. */
const clientTimeoutMs = 10_000;
const clientRetries = 3;

/** The flags of every command that talks to a cluster. */
export const connectionOptions = {
  url: { type: 'string' },
  cacert: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
} as const;

/** Help lines for `connectionOptions`, with the precedence of the endpoint sources. */
export const connectionHelp =
  `  --url URL[,URL...]  the nodes' HTTP API, the first that answers is used; else the\n` +
  `                      TANDEM_ENDPOINTS variable (URLs, comma-separated), else\n` +
  `                      TANDEM_URL, else ${defaultUrl}\n` +
  `  --cacert FILE       for https:// URLs: trust the CA in FILE (PEM) instead of the system's\n` +
  `  --user NAME         the user to authenticate as (default: TANDEM_USER)\n` +
  `  --password P        its password (default: TANDEM_PASSWORD, which ps does not show)\n` +
  `  -h, --help          this help\n`;

/**
 * The endpoints to try, in order: `--url`, else `TANDEM_ENDPOINTS`, else `TANDEM_URL`, else
 * `defaultUrl`. Each source is a comma-separated list; an empty variable counts as unset.
 * Throws UsageError naming the source of a bad URL.
 */
export function resolveEndpoints(args: ParsedArgs, env: NodeJS.ProcessEnv): string[] {
  const sources: [string, string | undefined][] = [
    ['--url', stringFlag(args, 'url')],
    ['TANDEM_ENDPOINTS', env.TANDEM_ENDPOINTS || undefined],
    ['TANDEM_URL', env.TANDEM_URL || undefined],
  ];
  const [name, text] = sources.find(([, value]) => value !== undefined) ?? ['default', defaultUrl];
  const items = (text as string).split(',').map((item) => item.trim());
  const urls = items.filter((item) => item !== '').map((item) => parseBaseUrl(item, name));
  if (urls.length === 0) throw new UsageError(`${name} names no URL`);
  if (urls.length > endpointsMax) {
    throw new UsageError(`${name} names ${urls.length} URLs; at most ${endpointsMax} are taken`);
  }
  return [...new Set(urls)];
}

/** `--cacert FILE`: the CA to trust, read now so that a bad path fails before any call. */
export function trustedCa(args: ParsedArgs): { ca?: string } {
  const file = stringFlag(args, 'cacert');
  if (file === undefined) return {};
  try {
    return { ca: readFileSync(file, 'utf8') };
  } catch (error) {
    throw new UsageError(`--cacert: cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * The credentials from `--user` and `--password`, else `TANDEM_USER` and `TANDEM_PASSWORD`;
 * none when no user is given. Throws UsageError for half of a pair.
 */
export function credentials(args: ParsedArgs, env: NodeJS.ProcessEnv): ClientAuth | undefined {
  // An empty variable counts as unset, as a shell's `TANDEM_USER=` means.
  const user = stringFlag(args, 'user') ?? (env.TANDEM_USER || undefined);
  const password = stringFlag(args, 'password') ?? (env.TANDEM_PASSWORD || undefined);
  if ((user === undefined || user === '') && password === undefined) return undefined;
  if (user === undefined || user === '' || user.includes(':')) {
    throw new UsageError('--user (or TANDEM_USER) must name a user, without ":"');
  }
  if (password === undefined) {
    throw new UsageError(`--password (or TANDEM_PASSWORD) is needed with --user ${user}`);
  }
  return { user, password };
}

/** The HTTP Basic `Authorization` header of `auth`, or no header. */
export function basicAuthorization(auth: ClientAuth | undefined): Record<string, string> {
  if (auth === undefined || !('user' in auth)) return {};
  const encoded = Buffer.from(`${auth.user}:${auth.password}`, 'utf8').toString('base64');
  return { authorization: `Basic ${encoded}` };
}

/** What a failed connection to `url` means for the user, with a hint for TLS failures. */
export function unreachableMessage(url: string, reason: string): string {
  const hint = isTlsFailure(reason)
    ? " (a TLS failure: give the CA that signed the node's certificate with --cacert FILE)"
    : '';
  return `cannot reach ${url}: ${reason}${hint}`;
}

/**
 * The first of `endpoints`, in order, that gives any HTTP answer to `GET /v1/cluster` (a
 * refusal of the credentials counts: the command then reports it). Throws CommandFailure
 * naming every endpoint when none answers.
 */
export async function firstAnswering(
  http: HttpAgents,
  headers: Record<string, string>,
  endpoints: readonly string[],
): Promise<string> {
  const failures: string[] = [];
  for (const url of endpoints) {
    try {
      await exchange(http, {
        url: `${url}/v1/cluster`,
        method: 'GET',
        headers,
        body: undefined,
        signal: undefined,
        timeoutMs: probeTimeoutMs,
      });
      return url;
    } catch (error) {
      failures.push(unreachableMessage(url, (error as Error).message));
    }
  }
  throw new CommandFailure(failures.join('; '));
}

/** A client of the cluster at `endpoints`, for one command run (no background checks). */
export function openClient(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv,
  consistency: Consistency,
): TandemClient {
  const auth = credentials(args, env);
  return createClient({
    nodes: resolveEndpoints(args, env),
    ...(auth === undefined ? {} : { auth }),
    tls: trustedCa(args),
    consistency,
    healthCheckIntervalMs: 0,
    timeoutMs: clientTimeoutMs,
    retries: clientRetries,
  });
}

/** The read levels `--consistency` takes; the data commands default to linearizable. */
export const consistencies: readonly Consistency[] = ['linearizable', 'ryw', 'bounded', 'stale'];

/** `--consistency LEVEL`, linearizable when not given (each run is a new client). */
export function parseConsistency(args: ParsedArgs): Consistency {
  const text = stringFlag(args, 'consistency') ?? 'linearizable';
  if (!(consistencies as readonly string[]).includes(text)) {
    throw new UsageError(
      `--consistency must be one of ${consistencies.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return text as Consistency;
}

/** Turns a client error into a CommandFailure that says its code and message. */
export function asFailure(error: unknown): unknown {
  if (error instanceof TandemClientError) {
    return new CommandFailure(`${error.code}: ${error.message}`, { cause: error });
  }
  return error;
}
