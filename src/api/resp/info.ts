/**
 * INFO and TIME. INFO answers Redis 7.0's sections, in its order and format, with the
 * fields clients, exporters and dashboards read: what this node knows (its process, its
 * connections, its commands, its memory and CPU from Node's process counters, its keys),
 * and Redis's neutral value for what Tandem has not (no forks, no Lua, no eviction).
 */
import { arch, machine, platform, release, totalmem, type } from 'node:os';
import { resolve } from 'node:path';
import { databaseCount } from '../../store/databases.js';
import { replicationInfo, redisVersionReported } from './admin.js';
import type { Handler } from './keys.js';
import type { ServerContext } from './session.js';
import type { CommandSpec } from './spec.js';
import type { ServerStats } from './stats.js';

/** Redis 7.0's INFO sections, in the order it writes them. */
export const infoSectionsAll = [
  'server',
  'clients',
  'memory',
  'persistence',
  'stats',
  'replication',
  'cpu',
  'modules',
  'commandstats',
  'errorstats',
  'latencystats',
  'cluster',
  'keyspace',
] as const;

/** A section's name. */
export type InfoSection = (typeof infoSectionsAll)[number];

/** What INFO with no argument (or `default`) gives: all but commandstats and latencystats. */
export const infoSectionsDefault: readonly InfoSection[] = infoSectionsAll.filter(
  (name) => name !== 'commandstats' && name !== 'latencystats',
);

/** The sections `asked` names (case-insensitive), in Redis's order; unknown names add none. */
export function infoSections(asked: readonly string[]): InfoSection[] {
  if (asked.length === 0) return [...infoSectionsDefault];
  const wanted = new Set<string>();
  for (const given of asked) {
    const name = given.toLowerCase();
    if (name === 'all' || name === 'everything') infoSectionsAll.forEach((s) => wanted.add(s));
    else if (name === 'default') infoSectionsDefault.forEach((s) => wanted.add(s));
    else wanted.add(name);
  }
  return infoSectionsAll.filter((name) => wanted.has(name));
}

/** Bytes as Redis's bytesToHuman writes them: `912B`, `894.84K`, `11.59M`, `23.54G`. */
export function bytesToHuman(bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (bytes < 1024) return `${bytes}B`;
  for (let i = 0; i < units.length; i++) {
    const scaled = bytes / 1024 ** (i + 1);
    if (scaled < 1024 || i === units.length - 1) return `${scaled.toFixed(2)}${units[i]}`;
  }
  return `${bytes}B`;
}

/**
 * The memory this process holds for its data: V8's live heap and the memory outside it
 * that JavaScript objects own (Buffers). Redis's `used_memory` is its allocator's count.
 */
function usedMemoryBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Notes the memory used now in the peak (`used_memory_peak`); the sampler calls it. */
export function sampleMemory(stats: ServerStats): void {
  const used = usedMemoryBytes();
  if (used > stats.usedMemoryPeak) stats.usedMemoryPeak = used;
}

/** The memory in use when this module loaded, before any client: `used_memory_startup`. */
const usedMemoryStartup = usedMemoryBytes();

/** Redis's names for the event loop's poller (libuv's, under Node). */
function multiplexingApi(): string {
  const os = platform();
  if (os === 'linux') return 'epoll';
  if (os === 'darwin' || os.endsWith('bsd')) return 'kqueue';
  if (os === 'sunos') return 'evport';
  return 'select';
}

const archBits = /64|s390x/.test(arch()) ? 64 : 32;

function serverSection(context: ServerContext, nowMs: number): string[] {
  const uptimeSeconds = Math.floor((nowMs - context.startedAtMs) / 1000);
  return [
    `redis_version:${redisVersionReported}`,
    'redis_git_sha1:00000000',
    'redis_git_dirty:0',
    'redis_build_id:0',
    'redis_mode:standalone',
    `os:${type()} ${release()} ${machine()}`,
    `arch_bits:${archBits}`,
    'monotonic_clock:POSIX clock_gettime',
    `multiplexing_api:${multiplexingApi()}`,
    'gcc_version:0.0.0',
    `process_id:${process.pid}`,
    'process_supervised:no',
    `run_id:${context.runId}`,
    `tcp_port:${context.port}`,
    `server_time_usec:${nowMs * 1000}`,
    `uptime_in_seconds:${uptimeSeconds}`,
    `uptime_in_days:${Math.floor(uptimeSeconds / 86_400)}`,
    'hz:10',
    'configured_hz:10',
    // Redis's LRU clock: seconds, in 24 bits.
    `lru_clock:${Math.floor(nowMs / 1000) & 0xffffff}`,
    `executable:${resolve(process.argv[1] ?? process.execPath)}`,
    'config_file:',
    'io_threads_active:0',
    `tandem_node_id:${context.node.id}`,
    `tandem_node_version:${process.versions.node}`,
  ];
}

function clientsSection(context: ServerContext): string[] {
  return [
    `connected_clients:${context.sessions.size}`,
    'cluster_connections:0',
    `maxclients:${context.maxClients}`,
    'client_recent_max_input_buffer:0',
    'client_recent_max_output_buffer:0',
    `blocked_clients:${context.blocked.count}`,
    'tracking_clients:0',
    'clients_in_timeout_table:0',
  ];
}

function memorySection(context: ServerContext): string[] {
  const usage = process.memoryUsage();
  const used = usage.heapUsed + usage.external;
  if (used > context.stats.usedMemoryPeak) context.stats.usedMemoryPeak = used;
  const peak = context.stats.usedMemoryPeak;
  const system = totalmem();
  return [
    `used_memory:${used}`,
    `used_memory_human:${bytesToHuman(used)}`,
    `used_memory_rss:${usage.rss}`,
    `used_memory_rss_human:${bytesToHuman(usage.rss)}`,
    `used_memory_peak:${peak}`,
    `used_memory_peak_human:${bytesToHuman(peak)}`,
    `used_memory_peak_perc:${((used / peak) * 100).toFixed(2)}%`,
    `used_memory_startup:${usedMemoryStartup}`,
    `total_system_memory:${system}`,
    `total_system_memory_human:${bytesToHuman(system)}`,
    'used_memory_lua:0',
    'used_memory_lua_human:0B',
    'used_memory_scripts:0',
    'used_memory_scripts_human:0B',
    'number_of_cached_scripts:0',
    'maxmemory:0',
    'maxmemory_human:0B',
    'maxmemory_policy:noeviction',
    `mem_fragmentation_ratio:${(usage.rss / used).toFixed(2)}`,
    `mem_fragmentation_bytes:${usage.rss - used}`,
    'mem_allocator:v8',
    'lazyfree_pending_objects:0',
    `tandem_heap_used:${usage.heapUsed}`,
    `tandem_heap_total:${usage.heapTotal}`,
    `tandem_external:${usage.external}`,
  ];
}

function persistenceSection(context: ServerContext): string[] {
  const status = context.node.status();
  return [
    'loading:0',
    'async_loading:0',
    // The log is Tandem's append-only file and its snapshots its RDB: what the latest
    // snapshot does not hold yet is what a save would write.
    `rdb_changes_since_last_save:${Math.max(0, status.appliedIndex - status.snapshotIndex)}`,
    'rdb_bgsave_in_progress:0',
    `rdb_last_save_time:${Math.floor(context.startedAtMs / 1000)}`,
    'rdb_last_bgsave_status:ok',
    'rdb_last_bgsave_time_sec:-1',
    'rdb_current_bgsave_time_sec:-1',
    'aof_enabled:1',
    'aof_rewrite_in_progress:0',
    'aof_rewrite_scheduled:0',
    'aof_last_rewrite_time_sec:-1',
    'aof_current_rewrite_time_sec:-1',
    'aof_last_bgrewrite_status:ok',
    'aof_last_write_status:ok',
    `tandem_snapshot_index:${status.snapshotIndex}`,
  ];
}

function statsSection(context: ServerContext): string[] {
  const stats = context.stats;
  const kbps = (rate: number) => (rate / 1024).toFixed(2);
  return [
    `total_connections_received:${stats.connectionsReceived}`,
    `total_commands_processed:${stats.commandsProcessed}`,
    `instantaneous_ops_per_sec:${Math.round(stats.operations.perSecond())}`,
    `total_net_input_bytes:${stats.netInputBytes}`,
    `total_net_output_bytes:${stats.netOutputBytes}`,
    `instantaneous_input_kbps:${kbps(stats.input.perSecond())}`,
    `instantaneous_output_kbps:${kbps(stats.output.perSecond())}`,
    `rejected_connections:${stats.rejectedConnections}`,
    'sync_full:0',
    'sync_partial_ok:0',
    'sync_partial_err:0',
    'expired_keys:0',
    'expired_stale_perc:0.00',
    'evicted_keys:0',
    'evicted_clients:0',
    'keyspace_hits:0',
    'keyspace_misses:0',
    `pubsub_channels:${context.pubsub.channels(null).length}`,
    `pubsub_patterns:${context.pubsub.numpat()}`,
    'pubsubshard_channels:0',
    'latest_fork_usec:0',
    'total_forks:0',
    'migrate_cached_sockets:0',
    `total_error_replies:${stats.errorReplies}`,
    `total_reads_processed:${stats.readsProcessed}`,
    `total_writes_processed:${stats.writesProcessed}`,
  ];
}

/** CPU seconds as Redis writes them: six decimals. */
function cpuSection(): string[] {
  const usage = process.cpuUsage();
  return [
    `used_cpu_sys:${(usage.system / 1e6).toFixed(6)}`,
    `used_cpu_user:${(usage.user / 1e6).toFixed(6)}`,
    'used_cpu_sys_children:0.000000',
    'used_cpu_user_children:0.000000',
  ];
}

function commandstatsSection(stats: ServerStats): string[] {
  const lines: string[] = [];
  for (const [name, counters] of stats.commands) {
    // As Redis: a command with nothing counted is not listed.
    if (counters.calls === 0 && counters.rejectedCalls === 0 && counters.failedCalls === 0) {
      continue;
    }
    const perCall = counters.calls === 0 ? 0 : counters.usec / counters.calls;
    lines.push(
      `cmdstat_${name}:calls=${counters.calls},usec=${counters.usec},` +
        `usec_per_call=${perCall.toFixed(2)},rejected_calls=${counters.rejectedCalls},` +
        `failed_calls=${counters.failedCalls}`,
    );
  }
  return lines;
}

function errorstatsSection(stats: ServerStats): string[] {
  return [...stats.errors].map(([code, count]) => `errorstat_${code}:count=${count}`);
}

/** The section's title line, as Redis writes it (`# CPU`, `# Commandstats`). */
function title(name: InfoSection): string {
  if (name === 'cpu') return '# CPU';
  return `# ${name[0].toUpperCase()}${name.slice(1)}`;
}

/** The lines of `name` but keyspace's, which reads the store. */
function sectionLines(context: ServerContext, name: InfoSection, nowMs: number): string[] {
  switch (name) {
    case 'server':
      return serverSection(context, nowMs);
    case 'clients':
      return clientsSection(context);
    case 'memory':
      return memorySection(context);
    case 'persistence':
      return persistenceSection(context);
    case 'stats':
      return statsSection(context);
    case 'replication':
      return replicationInfo(context);
    case 'cpu':
      return cpuSection();
    case 'commandstats':
      return commandstatsSection(context.stats);
    case 'errorstats':
      return errorstatsSection(context.stats);
    case 'cluster':
      return ['cluster_enabled:0'];
    default:
      // Modules (Tandem loads none), Latencystats (Tandem keeps no latency histograms).
      return [];
  }
}

/** INFO [section ...]: Redis 7.0's text, an empty one when no section is known. */
const info: Handler = async (context, _session, args) => {
  const names = infoSections(args.text.slice(1));
  const nowMs = Date.now();
  const parts = names.map((name) => {
    const lines = name === 'keyspace' ? [] : sectionLines(context, name, nowMs);
    return [title(name), ...lines];
  });
  const at = names.indexOf('keyspace');
  if (at !== -1) {
    // One line per database that holds a key (O(n) in the keys held, once per database).
    const { value } = await context.node.read({ consistency: 'stale' }, (store) =>
      Promise.all(Array.from({ length: databaseCount }, (_, db) => store.keyspaceStats(nowMs, db))),
    );
    value.forEach((stats, db) => {
      if (stats.keys > 0 || stats.expires > 0) {
        parts[at].push(
          `db${db}:keys=${stats.keys},expires=${stats.expires},avg_ttl=${stats.averageTtlMs}`,
        );
      }
    });
  }
  // Each line ends in CRLF and a blank line parts two sections, as Redis writes them.
  const text = parts.map((lines) => lines.map((line) => `${line}\r\n`).join('')).join('\r\n');
  return { kind: 'verbatim', text };
};

/** TIME: the Unix time in seconds and the microseconds past it, to the millisecond. */
const time: Handler = () => {
  const nowMs = Date.now();
  return [String(Math.floor(nowMs / 1000)), String((nowMs % 1000) * 1000)];
};

/** INFO and TIME. */
export const infoCommands: Readonly<Record<string, CommandSpec>> = {
  info: { arity: -1, write: false, role: 'read', run: info },
  time: { arity: 1, write: false, role: 'read', run: time },
};
