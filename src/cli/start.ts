/**
 * `tandem start`: runs one node and its HTTP API in this process until SIGTERM or SIGINT,
 * then stops cleanly (HTTP first, so no new request arrives, then the node, which hands
 * leadership over before it goes).
 *
 * Settings come from flags, then `TANDEM_CLUSTER_SECRET` (for the secret only), then the
 * `--config` file (YAML or JSON, keys named like the flags: `http-port` or `httpPort`).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { parse as parseYaml } from 'yaml';
import { AccessControl } from '../access/control.js';
import { readUsersFile, requirePassUser, UsersFileError } from '../access/users-file.js';
import { formatHostPort } from '../api/http/address.js';
import { buildHttpServer } from '../api/http/server.js';
import { startRespServer, type RespServer } from '../api/resp/server.js';
import { transactionReadBytesMaxDefault } from '../api/resp/transactions.js';
import { forwardingTlsOptions, pemCertificates, type ClientTls } from '../api/tls.js';
import { ChunkStore } from '../blobs/chunk-store.js';
import { PeerClient } from '../blobs/peers.js';
import {
  blobBytesDefaultMax,
  chunkBytesDefault,
  chunkBytesMax,
  chunkBytesMin,
} from '../blobs/records.js';
import { BlobService, repairIntervalMsDefault } from '../blobs/service.js';
import { LinkService } from '../links/service.js';
import { skewMsMaxDefault } from '../links/hlc.js';
import type { FollowerWrites } from '../api/resp/session.js';
import type { Durability, Topology } from '../core/types.js';
import { defaultCoreConfig } from '../core/config.js';
import {
  snapshotMinIntervalMsDefault,
  startNode,
  type NodeConfig,
  type RunningNode,
  type StoreLocation,
} from '../node/node.js';
import { defaultUserName, type UserRules } from '../store/access-state.js';
import type { PeerAddress } from '../transport/contract.js';
import {
  failureExitCode,
  parseCommandArgs,
  parseDurability,
  parseTopology,
  parseInteger,
  parseNodeId,
  parsePeers,
  parsePort,
  stringFlag,
  UsageError,
} from './options.js';

/** The shortest cluster secret accepted: it keys the HMAC that admits peers. */
export const clusterSecretCharsMin = 16;
/** How long a clean shutdown may take before the process exits anyway. */
export const shutdownTimeoutMs = 20_000;

/** Help of `tandem start`. */
export const startHelp = `usage: tandem start --id ID --dir DIR [options]

Runs one node: its peer listener, its HTTP API, and (when given) its RESP port.

  --id ID                 this node's id (letters, digits, _ . -)
  --dir DIR               data directory (created if missing)
  --peers ID=HOST:PORT,.. the members' peer addresses; may include this node (then its
                          port is the default --peer-port); without --join, these and this
                          node are the initial voters
  --peer-port N           node-to-node port (default: this node's entry in --peers, or 7001)
  --http-port N           HTTP API port (default 9001)
  --advertise-http URL    the HTTP URL clients and peers are given for this node
                          (default http://HOST:HTTP-PORT, https:// with client TLS),
                          for a proxy or NAT in front
  --resp-port N           RESP port (default: none)
  --users FILE            users, passwords and roles (JSON or YAML, see README): the
                          cluster's users until the log holds some, proposed by the leader
  --requirepass PASS      the password of the user default (every role), as Redis's;
                          prefer the environment variable TANDEM_REQUIREPASS, which ps
                          does not show
  --metrics-auth          GET /metrics needs a user with the read role (default: open,
                          as /healthz and /readyz are)
  --resp-tls-port N       RESP port speaking TLS (redis-cli --tls), beside or instead of
                          --resp-port; needs --client-tls-cert and --client-tls-key
  --client-tls-cert FILE  TLS on the client ports: this node's certificate chain (PEM,
  --client-tls-key FILE   its own certificate first) and key; the HTTP API then serves
                          HTTPS only
  --client-tls-ca FILE    clients must present a certificate signed by this CA (mutual
                          TLS); the node's own --client-tls-cert must be signed by it too,
                          since followers present it when they forward to the leader
  --insecure-open         turn protected mode off: serve clients from any address even
                          while no users are configured (by default only loopback)
  --follower-writes MODE  what a follower does with a RESP write: forward (to the
                          leader, the default) or readonly (Redis's -READONLY error)
  --host ADDR             address to listen on and advertise (default 127.0.0.1)
  --mode MODE             cluster durability: async, semi-sync, quorum, sync (default quorum)
  --topology T            how a new cluster's log reaches its members: star (the leader sends
                          to each) or chain (to a head, each member passing it on); default
                          star; a running cluster's is in its log (tandem topology)
  --cluster-id NAME       nodes of other clusters are refused (default tandem)
  --cluster-secret S      shared secret, at least ${clusterSecretCharsMin} characters; prefer the environment
                          variable TANDEM_CLUSTER_SECRET, which ps does not show
  --join                  join a running cluster (add it there with tandem join)
  --tls-cert FILE         peer TLS: this node's certificate (PEM); with --tls-key and
  --tls-key FILE          --tls-ca, peers must present certificates signed by that CA
  --tls-ca FILE
  --store URL             where the node keeps its state: sqlite (the default, in
                          memory, rebuilt at start from the snapshot and log in --dir)
                          or postgres://USER@HOST:PORT/DB, a PostgreSQL
                          database of this node's own (its schema is created on first
                          start; a database of another cluster is refused)
  --snapshot-every N      entries applied between snapshots that compact the log (at
                          least a quarter of the keys an in-memory store holds)
                          (default 10000)
  --snapshot-min-interval-ms N
                          least time between two snapshots, unless the log after the
                          latest holds as many entries as the store holds keys
                          (default 10000; 0 for none)
  --max-entry-bytes N     largest command a leader takes into the log, in bytes (1024
                          to 17825792, the default: a 16 MiB value with its key); larger
                          writes are refused with TANDEM_ENTRY_TOO_LARGE
  --tick-ms N             length of one tick in ms: heartbeats every tick, elections
                          after 10 to 20 ticks (default 50)
  --log-format F          pretty (readable lines, in colour on a terminal) or json (one
                          object per line, for collectors); default pretty when stdout
                          is a terminal, else json
  --config FILE           YAML or JSON file with any of the settings above
  --transaction-read-bytes N
                          most bytes the reads of one MULTI ... EXEC may answer
                          (default 67108864, 64 MiB); a read past it answers an error
                          in EXEC's array
  --blob-replicas N       copies of each chunk of a large object (default 3, or every
                          voter when fewer)
  --blob-chunk-bytes N    size of a blob's chunks when this node leads (65536 to
                          67108864; default 8388608, 8 MiB)
  --blob-bytes-max N      largest blob a PUT may upload (default 5368709120, 5 GiB)
  --blob-repair-ms N      how often this node checks its chunk files against the
                          committed blobs and repairs them (default 10000)
  --link-max-skew-ms N    a linked cluster's write stamped more than N ms ahead of this
                          node's clock is held back until the clock catches up, and
                          counted (default 60000)
  -h, --help              this help
`;

/** Every setting of `tandem start`, validated. */
export type StartSettings = Omit<NodeConfig, 'logger'> & {
  /** The RESP password (`--requirepass`), or undefined for none. */
  readonly requirePass: string | undefined;
  /** The `--users` file, or undefined for none. */
  readonly usersFile: string | undefined;
  readonly followerWrites: FollowerWrites;
  /** The most bytes the reads of one transaction may answer (`--transaction-read-bytes`). */
  readonly transactionReadBytesMax: number;
  /** `GET /metrics` needs the read role (`--metrics-auth`). */
  readonly metricsAuth: boolean;
  /** TLS of the client ports (HTTP and `--resp-tls-port`), or undefined for none. */
  readonly clientTls: ClientTls | undefined;
  /** Protected mode off (`--insecure-open`). */
  readonly insecureOpen: boolean;
  /** How log lines are written (`--log-format`); undefined: pretty on a terminal, else json. */
  readonly logFormat: LogFormat | undefined;
  /** Large objects: copies per chunk, chunk size, largest blob (`--blob-*`). */
  readonly blobReplicas: number;
  readonly blobChunkBytes: number;
  readonly blobBytesMax: number;
  readonly blobRepairMs: number;
  /** Linked clusters: how far ahead of this clock a remote stamp may be (`--link-max-skew-ms`). */
  readonly linkMaxSkewMs: number;
};

/** The forms of the node's log lines. */
export type LogFormat = 'pretty' | 'json';

/** The longest RESP password accepted. */
export const requirePassCharsMax = 512;

const flagOptions = {
  id: { type: 'string' },
  dir: { type: 'string' },
  peers: { type: 'string' },
  'peer-port': { type: 'string' },
  'http-port': { type: 'string' },
  'resp-port': { type: 'string' },
  'advertise-http': { type: 'string' },
  requirepass: { type: 'string' },
  users: { type: 'string' },
  'follower-writes': { type: 'string' },
  host: { type: 'string' },
  mode: { type: 'string' },
  topology: { type: 'string' },
  'cluster-id': { type: 'string' },
  'cluster-secret': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'resp-tls-port': { type: 'string' },
  'client-tls-cert': { type: 'string' },
  'client-tls-key': { type: 'string' },
  'client-tls-ca': { type: 'string' },
  'insecure-open': { type: 'boolean' },
  join: { type: 'boolean' },
  'metrics-auth': { type: 'boolean' },
  'snapshot-every': { type: 'string' },
  'max-entry-bytes': { type: 'string' },
  'transaction-read-bytes': { type: 'string' },
  'blob-replicas': { type: 'string' },
  'blob-chunk-bytes': { type: 'string' },
  'blob-bytes-max': { type: 'string' },
  'blob-repair-ms': { type: 'string' },
  'link-max-skew-ms': { type: 'string' },
  store: { type: 'string' },
  'tick-ms': { type: 'string' },
  'snapshot-min-interval-ms': { type: 'string' },
  'log-format': { type: 'string' },
  config: { type: 'string' },
} as const;
const fileKeys = Object.keys(flagOptions).filter((key) => key !== 'config');
/** The flags `tandem start` knows, without dashes (`tandem cluster` passes only these). */
export const startFlagNames: ReadonlySet<string> = new Set(Object.keys(flagOptions));

/** One setting's text and where it came from, for error messages. */
interface Setting {
  readonly text: string;
  readonly name: string;
}

/** Reads the flags, environment and config file of `tandem start`; throws UsageError. */
export function resolveStartSettings(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): StartSettings {
  const args = parseCommandArgs(argv, flagOptions);
  const configPath = stringFlag(args, 'config');
  const file = configPath === undefined ? {} : readConfigFile(configPath);
  const setting = (flag: string): Setting | undefined => {
    const text = stringFlag(args, flag);
    if (text !== undefined) return { text, name: `--${flag}` };
    const fromFile = file[flag];
    return fromFile === undefined
      ? undefined
      : { text: fromFile, name: `${flag} in ${configPath}` };
  };
  const required = (flag: string): Setting => {
    const found = setting(flag);
    if (found === undefined || found.text === '') throw new UsageError(`--${flag} is required`);
    return found;
  };
  const id = required('id');
  const host = setting('host') ?? { text: '127.0.0.1', name: '--host' };
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host.text)) {
    throw new UsageError(
      `${host.name} must be a host name or IP address, got ${JSON.stringify(host.text)}`,
    );
  }
  const peersSetting = setting('peers');
  for (const flag of ['join', 'metrics-auth', 'insecure-open']) {
    const value = file[flag];
    if (value !== undefined && value !== 'true' && value !== 'false') {
      throw new UsageError(`${flag} in ${configPath} must be true or false, got ${value}`);
    }
  }
  const clientTls = clientTlsFiles(
    setting('client-tls-cert'),
    setting('client-tls-key'),
    setting('client-tls-ca'),
  );
  return {
    id: parseNodeId(id.text, id.name),
    dir: required('dir').text,
    host: host.text,
    ...ports(
      setting,
      id.text,
      peersSetting === undefined ? new Map() : parsePeers(peersSetting.text, peersSetting.name),
      clientTls !== undefined,
    ),
    durability: optional<Durability>(setting('mode'), 'quorum', (s) =>
      parseDurability(s.text, s.name),
    ),
    topology: optional<Topology>(setting('topology'), 'star', (s) => parseTopology(s.text, s.name)),
    clusterId: optional(setting('cluster-id'), 'tandem', (s) => parseNodeId(s.text, s.name)),
    clusterSecret: clusterSecret(stringFlag(args, 'cluster-secret'), env, file['cluster-secret']),
    join: args.values.join === true || file.join === 'true',
    metricsAuth: args.values['metrics-auth'] === true || file['metrics-auth'] === 'true',
    insecureOpen: args.values['insecure-open'] === true || file['insecure-open'] === 'true',
    clientTls,
    httpTls: clientTls !== undefined,
    snapshotEveryEntries: optional(setting('snapshot-every'), 10_000, (s) =>
      positiveInteger(s, 1, 100_000_000),
    ),
    snapshotMinIntervalMs: optional(
      setting('snapshot-min-interval-ms'),
      snapshotMinIntervalMsDefault,
      (s) => positiveInteger(s, 0, 3_600_000),
    ),
    tickMs: optional(setting('tick-ms'), 50, (s) => positiveInteger(s, 10, 10_000)),
    ...maxEntryBytes(setting('max-entry-bytes')),
    transactionReadBytesMax: optional(
      setting('transaction-read-bytes'),
      transactionReadBytesMaxDefault,
      (s) => positiveInteger(s, 1, Number.MAX_SAFE_INTEGER),
    ),
    blobReplicas: optional(setting('blob-replicas'), 3, (s) => positiveInteger(s, 1, 100)),
    blobChunkBytes: optional(setting('blob-chunk-bytes'), chunkBytesDefault, (s) =>
      positiveInteger(s, chunkBytesMin, chunkBytesMax),
    ),
    blobBytesMax: optional(setting('blob-bytes-max'), blobBytesDefaultMax, (s) =>
      positiveInteger(s, 1, Number.MAX_SAFE_INTEGER),
    ),
    blobRepairMs: optional(setting('blob-repair-ms'), repairIntervalMsDefault, (s) =>
      positiveInteger(s, 100, 24 * 60 * 60 * 1000),
    ),
    linkMaxSkewMs: optional(setting('link-max-skew-ms'), skewMsMaxDefault, (s) =>
      positiveInteger(s, 0, 24 * 60 * 60 * 1000),
    ),
    store: optional<StoreLocation>(setting('store'), { kind: 'sqlite' }, parseStore),
    ...advertiseHttp(setting('advertise-http')),
    tls: tlsFiles(setting('tls-cert'), setting('tls-key'), setting('tls-ca')),
    requirePass: requirePass(setting('requirepass'), env),
    usersFile: setting('users')?.text,
    logFormat: optional<LogFormat | undefined>(setting('log-format'), undefined, (s) => {
      if (s.text !== 'pretty' && s.text !== 'json') {
        throw new UsageError(`${s.name} must be pretty or json, got ${JSON.stringify(s.text)}`);
      }
      return s.text;
    }),
    followerWrites: optional<FollowerWrites>(setting('follower-writes'), 'forward', (s) => {
      if (s.text !== 'forward' && s.text !== 'readonly') {
        throw new UsageError(
          `${s.name} must be forward or readonly, got ${JSON.stringify(s.text)}`,
        );
      }
      return s.text;
    }),
  };
}

/**
 * `--max-entry-bytes`: at most the core's default, which the log's record limit is sized
 * for (a larger entry would be taken and then fail to be written).
 */
function maxEntryBytes(found: Setting | undefined): { core?: { maxEntryBytes: number } } {
  if (found === undefined) return {};
  return {
    core: { maxEntryBytes: positiveInteger(found, 1024, defaultCoreConfig.maxEntryBytes) },
  };
}

/** `--advertise-http`: an http(s) URL without a path, or nothing. */
function advertiseHttp(found: Setting | undefined): { advertiseHttpUrl?: string } {
  if (found === undefined) return {};
  let url: URL;
  try {
    url = new URL(found.text);
  } catch {
    throw new UsageError(`${found.name} must be a URL such as http://10.0.0.5:9001`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/') {
    throw new UsageError(
      `${found.name} must be an http:// or https:// URL without a path, got ${found.text}`,
    );
  }
  return { advertiseHttpUrl: url.origin };
}

/** `--store`: `sqlite`, or a PostgreSQL URL (checked here; connected to at start). */
function parseStore(found: Setting): StoreLocation {
  if (found.text === 'sqlite') return { kind: 'sqlite' };
  let url: URL;
  try {
    url = new URL(found.text);
  } catch {
    throw new UsageError(
      `${found.name} must be sqlite or postgres://USER@HOST:PORT/DATABASE, got ${JSON.stringify(found.text)}`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(
      `${found.name} must be sqlite or a postgres:// URL, got the scheme ${url.protocol}`,
    );
  }
  if (url.pathname.length <= 1) {
    throw new UsageError(`${found.name} must name a database: postgres://USER@HOST:PORT/DATABASE`);
  }
  return { kind: 'postgres', url: found.text };
}

/**
 * The users a node enforces until the log holds some: the `--users` file's, and the
 * `default` user with the `--requirepass` password unless the file names one.
 */
async function bootstrapUsers(
  usersFile: string | undefined,
  requirePassword: string | undefined,
): Promise<UserRules[]> {
  const users = usersFile === undefined ? [] : await readUsersFile(usersFile);
  if (requirePassword !== undefined && !users.some((user) => user.name === defaultUserName)) {
    users.push(await requirePassUser(requirePassword));
  }
  return users;
}

/** The RESP password: the flag or config file, else TANDEM_REQUIREPASS; none when empty. */
function requirePass(found: Setting | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const text = found?.text ?? env.TANDEM_REQUIREPASS;
  if (text === undefined || text === '') return undefined;
  if (text.length > requirePassCharsMax || /[\r\n]/.test(text)) {
    throw new UsageError(
      `${found?.name ?? 'TANDEM_REQUIREPASS'} must be one line of at most ${requirePassCharsMax} characters`,
    );
  }
  return text;
}

/** Peer TLS: all three files or none, each read now so a bad path fails at start. */
function tlsFiles(
  cert: Setting | undefined,
  key: Setting | undefined,
  ca: Setting | undefined,
): StartSettings['tls'] {
  const given = [cert, key, ca].filter((item) => item !== undefined);
  if (given.length === 0) return undefined;
  if (cert === undefined || key === undefined || ca === undefined) {
    throw new UsageError('--tls-cert, --tls-key and --tls-ca go together: give all three or none');
  }
  const read = (setting: Setting): string => {
    try {
      return readFileSync(setting.text, 'utf8');
    } catch (error) {
      throw new UsageError(`${setting.name}: cannot read ${setting.text}: ${String(error)}`);
    }
  };
  return { cert: read(cert), key: read(key), ca: read(ca) };
}

/**
 * Client-port TLS: a certificate and key, and optionally a client CA; each file read and
 * parsed now, and the key checked against the certificate, so a mistake fails at start
 * with the file's name rather than at a client's first handshake.
 */
function clientTlsFiles(
  cert: Setting | undefined,
  key: Setting | undefined,
  ca: Setting | undefined,
): ClientTls | undefined {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new UsageError(
      '--client-tls-cert and --client-tls-key go together' +
        (ca === undefined ? '' : ', and --client-tls-ca needs both') +
        ': give the certificate and its key',
    );
  }
  const certText = readPem(cert);
  const keyText = readPem(key);
  const leaf = parseCertificates(cert, certText)[0];
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(keyText);
  } catch (error) {
    throw new UsageError(`${key.name}: ${key.text} holds no PEM private key: ${String(error)}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new UsageError(
      `${key.name}: ${key.text} is not the key of the certificate in ${cert.text}`,
    );
  }
  if (ca === undefined) return { cert: certText, key: keyText };
  const caText = readPem(ca);
  parseCertificates(ca, caText);
  return { cert: certText, key: keyText, ca: caText };
}

function readPem(setting: Setting): string {
  try {
    return readFileSync(setting.text, 'utf8');
  } catch (error) {
    throw new UsageError(`${setting.name}: cannot read ${setting.text}: ${String(error)}`);
  }
}

/** The PEM certificates of a file, at least one, each parsed. */
function parseCertificates(setting: Setting, text: string): X509Certificate[] {
  const blocks = pemCertificates(text);
  if (blocks.length === 0) {
    throw new UsageError(`${setting.name}: ${setting.text} holds no PEM certificate`);
  }
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new UsageError(
        `${setting.name}: ${setting.text} holds a bad certificate: ${String(error)}`,
      );
    }
  });
}

function positiveInteger(setting: Setting, min: number, max: number): number {
  const value = parseInteger(setting.text, setting.name);
  if (value < min || value > max) {
    throw new UsageError(`${setting.name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function optional<T>(found: Setting | undefined, fallback: T, parse: (setting: Setting) => T): T {
  return found === undefined ? fallback : parse(found);
}

/** The three ports and the peers without this node, checking they agree. */
function ports(
  setting: (flag: string) => Setting | undefined,
  id: string,
  allPeers: Map<string, PeerAddress>,
  clientTls: boolean,
): Pick<StartSettings, 'peerPort' | 'httpPort' | 'respPort' | 'respTlsPort' | 'peers'> {
  const own = allPeers.get(id);
  const peerSetting = setting('peer-port');
  const peerPort =
    peerSetting === undefined ? (own?.port ?? 7001) : parsePort(peerSetting.text, peerSetting.name);
  if (own !== undefined && own.port !== peerPort) {
    throw new UsageError(`--peers gives ${id} port ${own.port} but --peer-port is ${peerPort}`);
  }
  const httpPort = optional(setting('http-port'), 9001, (s) => parsePort(s.text, s.name));
  const respPort = optional<number | null>(setting('resp-port'), null, (s) =>
    parsePort(s.text, s.name),
  );
  const tlsSetting = setting('resp-tls-port');
  const respTlsPort = optional<number | null>(tlsSetting, null, (s) => parsePort(s.text, s.name));
  if (tlsSetting !== undefined && !clientTls) {
    throw new UsageError(
      `${tlsSetting.name} needs --client-tls-cert and --client-tls-key (the certificate it serves)`,
    );
  }
  const used = [peerPort, httpPort, respPort, respTlsPort].filter((port) => port !== null);
  if (new Set(used).size !== used.length) {
    throw new UsageError(`the peer, HTTP and RESP ports must differ, got ${used.join(', ')}`);
  }
  const peers = new Map(allPeers);
  peers.delete(id);
  return { peerPort, httpPort, respPort, respTlsPort, peers };
}

function clusterSecret(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  fromFile: string | undefined,
): string {
  const secret = flag ?? env.TANDEM_CLUSTER_SECRET ?? fromFile;
  if (secret === undefined || secret === '') {
    throw new UsageError(
      'a cluster secret is required: set TANDEM_CLUSTER_SECRET, or --cluster-secret, or cluster-secret in --config',
    );
  }
  if (secret.length < clusterSecretCharsMin) {
    throw new UsageError(
      `the cluster secret must have at least ${clusterSecretCharsMin} characters, got ${secret.length}`,
    );
  }
  return secret;
}

/** Reads a YAML or JSON config file into flag-named string settings. */
function readConfigFile(path: string): Record<string, string> {
  let parsed: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(`--config ${path} cannot be read: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--config ${path} must hold a map of settings`);
  }
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const flag = key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    if (!fileKeys.includes(flag)) {
      throw new UsageError(
        `--config ${path}: unknown setting ${JSON.stringify(key)}; known: ${fileKeys.join(', ')}`,
      );
    }
    settings[flag] = settingText(flag, value, path);
  }
  return settings;
}

function settingText(flag: string, value: unknown, path: string): string {
  if (flag === 'peers' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    // peers may be a map { n1: "127.0.0.1:7001", ... }.
    return Object.entries(value)
      .map(([id, address]) => `${id}=${String(address)}`)
      .join(',');
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  throw new UsageError(`--config ${path}: ${flag} must be a string, number or boolean`);
}

/**
 * The node's logger: JSON lines (pino's own), or pino-pretty's readable lines written
 * synchronously on the same thread (no worker), in colour on a terminal.
 */
function nodeLogger(id: string, format: LogFormat): pino.Logger {
  if (format === 'json') return pino({ base: { node: id } });
  const stream = pretty({
    colorize: process.stdout.isTTY === true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return pino({ base: { node: id } }, stream);
}

/** Runs `tandem start` until a signal stops it. */
export async function runStart(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void process.stdout.write(startHelp);
  const settings = resolveStartSettings(argv, process.env);
  let node: RunningNode;
  const {
    logFormat,
    requirePass: password,
    usersFile,
    followerWrites,
    transactionReadBytesMax,
    metricsAuth,
    clientTls,
    insecureOpen,
    blobReplicas,
    blobChunkBytes,
    blobBytesMax,
    blobRepairMs,
    linkMaxSkewMs,
    ...nodeSettings
  } = settings;
  const logger = nodeLogger(settings.id, logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json'));
  if (insecureOpen) {
    logger.warn(
      '--insecure-open: protected mode is off, and every address that reaches the client ports is served ' +
        'even though no users are configured; configure users (--users or --requirepass) instead',
    );
  }
  let bootstrap: UserRules[];
  try {
    bootstrap = await bootstrapUsers(usersFile, password);
  } catch (error) {
    if (!(error instanceof UsersFileError)) throw error;
    throw new UsageError(error.message);
  }
  try {
    node = await startNode({
      ...nodeSettings,
      logger,
      // A node whose storage failed must not linger: exit so a supervisor restarts it,
      // and recovery at start tells what is on disk.
      onFailure: () => {
        logger.flush();
        setTimeout(() => process.exit(failureExitCode), 100);
      },
    });
  } catch (error) {
    const reason = error instanceof Error ? `: ${error.message}` : '';
    logger.error({ err: error }, `node ${settings.id} failed to start${reason}`);
    process.exit(failureExitCode);
  }
  const access = new AccessControl({
    state: () => node.accessState(),
    bootstrap,
    logger: logger.child({ component: 'access' }),
  });
  const stopBootstrap = access.startBootstrap(node);
  const blobs = new BlobService({
    node,
    chunks: await ChunkStore.open(join(settings.dir, 'blobs')),
    peers: new PeerClient(settings.clusterSecret, settings.id, forwardingTlsOptions(clientTls)),
    logger: logger.child({ component: 'blobs' }),
    replicas: blobReplicas,
    chunkBytes: blobChunkBytes,
    blobBytesMax,
    repairIntervalMs: blobRepairMs,
  });
  blobs.start();
  const links = new LinkService({
    node,
    cluster: settings.clusterId,
    logger: logger.child({ component: 'links' }),
    skewMsMax: linkMaxSkewMs,
  });
  links.start();
  let resp: RespServer | null = null;
  const http = buildHttpServer(node, {
    logger: logger.child({ component: 'http' }),
    commands: () => resp?.run ?? null,
    extraMetrics: () => (resp?.metricsText() ?? '') + blobs.metricsText() + links.metricsText(),
    access,
    metricsAuth,
    tls: clientTls,
    insecureOpen,
    blobs,
    links,
    peerSecret: settings.clusterSecret,
  });
  try {
    await http.listen({ host: settings.host, port: settings.httpPort });
  } catch (error) {
    logger.error({ err: error }, `HTTP port ${settings.httpPort} cannot be opened`);
    await node.close();
    process.exit(failureExitCode);
  }
  const respTlsPort = settings.respTlsPort ?? null;
  if (settings.respPort !== null || respTlsPort !== null) {
    try {
      resp = await startRespServer(node, {
        host: settings.host,
        port: settings.respPort,
        tlsPort: respTlsPort,
        tls: clientTls,
        logger: logger.child({ component: 'resp' }),
        followerWrites,
        transactionReadBytesMax,
        clusterSecret: settings.clusterSecret,
        access,
        insecureOpen,
      });
    } catch (error) {
      const ports = [settings.respPort, respTlsPort].filter((port) => port !== null).join(', ');
      logger.error({ err: error }, `RESP port ${ports} cannot be opened`);
      await http.close();
      await node.close();
      process.exit(failureExitCode);
    }
  }
  const at = (port: number | null) =>
    port === null ? null : formatHostPort({ host: settings.host, port });
  const endpoints = {
    http: `${clientTls === undefined ? 'http' : 'https'}://${at(settings.httpPort)}`,
    peer: formatHostPort(node.peerAddress),
    resp: at(settings.respPort),
    respTls: at(respTlsPort),
    dir: settings.dir,
  };
  logger.info(
    endpoints,
    `tandem node ${settings.id} serving HTTP on ${endpoints.http}, peers on ${endpoints.peer}` +
      (endpoints.resp === null ? '' : `, RESP on ${endpoints.resp}`) +
      (endpoints.respTls === null ? '' : `, RESP over TLS on ${endpoints.respTls}`),
  );
  stopOnSignals(logger, async () => {
    stopBootstrap();
    await resp?.close();
    await http.close();
    await links.close();
    await blobs.close();
    await node.close();
  });
}

/**
 * On SIGTERM or SIGINT runs `stop` and exits 0 (1 if it fails or outlasts
 * `shutdownTimeoutMs`). A second signal during the stop exits at once: the operator asked twice.
 */
function stopOnSignals(logger: pino.Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while stopping: exiting now');
      process.exit(failureExitCode);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    setTimeout(() => {
      logger.error(`clean shutdown took over ${shutdownTimeoutMs} ms: exiting`);
      process.exit(failureExitCode);
    }, shutdownTimeoutMs).unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(failureExitCode);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Started by `tandem cluster` over an IPC channel: when that process is gone (exited,
  // killed, its terminal closed), the channel closes, and this node stops as on SIGTERM.
  if (typeof process.send === 'function') {
    if (!process.connected) onSignal('SIGTERM');
    else process.once('disconnect', () => onSignal('SIGTERM'));
  }
}
