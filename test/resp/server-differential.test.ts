// Differential: the server commands clients and exporters use (INFO, TIME, COMMAND INFO,
// COMMAND DOCS, COMMAND GETKEYS) asked of redis-server 7.0 and of a Tandem node: the same
// sections, the fields redis_exporter and ioredis read present in both with the same kind
// of value, the same flags, documentation and keys, and counters that count.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import { buildCommandTable } from '../../src/api/resp/server.js';
import type { Reply } from '../../src/api/resp/reply.js';
import { comparable, RawClient } from './raw-client.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

/** INFO's text as sections (by title) of fields. */
function parseInfo(reply: Reply | 'closed'): Map<string, Map<string, string>> {
  assert.ok(Buffer.isBuffer(reply), `INFO answers a bulk string, not ${String(reply)}`);
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of reply.toString('utf8').split('\r\n')) {
    if (line.startsWith('# ')) {
      current = new Map();
      sections.set(line.slice(2), current);
    } else if (line !== '') {
      assert.ok(current !== undefined, `a field before any section: ${line}`);
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `a line without a colon: ${line}`);
      current.set(line.slice(0, colon), line.slice(colon + 1));
    }
  }
  return sections;
}

/** The kind of an INFO value, as a parser of INFO tells them apart. */
function kindOf(value: string): string {
  if (/^-?\d+$/.test(value)) return 'integer';
  if (/^-?\d+\.\d+$/.test(value)) return 'decimal';
  if (/^\d+(\.\d+)?%$/.test(value)) return 'percent';
  if (/^\d+(\.\d+)?[BKMGTP]$/.test(value)) return 'human bytes';
  if (/^[a-z]+\d*:/.test(value)) return 'key=value list';
  return 'text';
}

/**
 * The fields redis_exporter turns into metrics (its gauge and counter maps, for the
 * sections it reads) and ioredis reads (`loading`, `redis_version`), by section.
 */
const fieldsRead: Readonly<Record<string, readonly string[]>> = {
  Server: [
    'redis_version',
    'redis_mode',
    'os',
    'arch_bits',
    'process_id',
    'run_id',
    'tcp_port',
    'uptime_in_seconds',
    'uptime_in_days',
    'hz',
    'configured_hz',
    'lru_clock',
    'executable',
    'config_file',
    'io_threads_active',
    'server_time_usec',
  ],
  Clients: [
    'connected_clients',
    'blocked_clients',
    'maxclients',
    'tracking_clients',
    'clients_in_timeout_table',
    'client_recent_max_input_buffer',
    'client_recent_max_output_buffer',
    'cluster_connections',
  ],
  Memory: [
    'used_memory',
    'used_memory_human',
    'used_memory_rss',
    'used_memory_rss_human',
    'used_memory_peak',
    'used_memory_peak_human',
    'used_memory_peak_perc',
    'used_memory_startup',
    'used_memory_lua',
    'used_memory_scripts',
    'number_of_cached_scripts',
    'total_system_memory',
    'total_system_memory_human',
    'maxmemory',
    'maxmemory_human',
    'maxmemory_policy',
    'mem_fragmentation_ratio',
    'mem_fragmentation_bytes',
    'mem_allocator',
    'lazyfree_pending_objects',
  ],
  Persistence: [
    'loading',
    'async_loading',
    'rdb_changes_since_last_save',
    'rdb_bgsave_in_progress',
    'rdb_last_save_time',
    'rdb_last_bgsave_status',
    'rdb_last_bgsave_time_sec',
    'rdb_current_bgsave_time_sec',
    'aof_enabled',
    'aof_rewrite_in_progress',
    'aof_rewrite_scheduled',
    'aof_last_rewrite_time_sec',
    'aof_current_rewrite_time_sec',
    'aof_last_bgrewrite_status',
    'aof_last_write_status',
  ],
  Stats: [
    'total_connections_received',
    'total_commands_processed',
    'instantaneous_ops_per_sec',
    'total_net_input_bytes',
    'total_net_output_bytes',
    'instantaneous_input_kbps',
    'instantaneous_output_kbps',
    'rejected_connections',
    'sync_full',
    'sync_partial_ok',
    'sync_partial_err',
    'expired_keys',
    'expired_stale_perc',
    'evicted_keys',
    'evicted_clients',
    'keyspace_hits',
    'keyspace_misses',
    'pubsub_channels',
    'pubsub_patterns',
    'latest_fork_usec',
    'total_forks',
    'migrate_cached_sockets',
    'total_error_replies',
    'total_reads_processed',
    'total_writes_processed',
  ],
  Replication: ['role', 'connected_slaves', 'master_repl_offset'],
  CPU: ['used_cpu_sys', 'used_cpu_user', 'used_cpu_sys_children', 'used_cpu_user_children'],
  Cluster: ['cluster_enabled'],
};

/** Commands whose keys COMMAND GETKEYS must find as Redis does, errors included. */
const getKeysCases: readonly (readonly string[])[] = [
  ['GET', 'k'],
  ['get', 'k'],
  ['SET', 'k', 'v', 'EX', '10'],
  ['MSET', 'a', '1', 'b', '2', 'c', '3'],
  ['MSETNX', 'a', '1', 'b', '2'],
  ['MGET', 'a', 'b', 'c'],
  ['DEL', 'a', 'b'],
  ['EXISTS', 'a', 'b', 'a'],
  ['RENAME', 'a', 'b'],
  ['COPY', 'a', 'b', 'REPLACE'],
  ['LMOVE', 'a', 'b', 'LEFT', 'RIGHT'],
  ['BLPOP', 'a', 'b', '0'],
  ['BRPOP', 'a', '1.5'],
  ['BLMOVE', 'a', 'b', 'LEFT', 'LEFT', '0'],
  ['BRPOPLPUSH', 'a', 'b', '0'],
  ['LMPOP', '2', 'a', 'b', 'LEFT'],
  ['BLMPOP', '0', '2', 'a', 'b', 'LEFT', 'COUNT', '2'],
  ['SINTERCARD', '2', 'a', 'b', 'LIMIT', '1'],
  ['SINTER', 'a', 'b'],
  ['SINTERSTORE', 'd', 'a', 'b'],
  ['SMOVE', 'a', 'b', 'm'],
  ['ZUNION', '2', 'a', 'b', 'WEIGHTS', '1', '2'],
  ['ZUNIONSTORE', 'd', '2', 'a', 'b'],
  ['ZINTERSTORE', 'd', '1', 'a'],
  ['ZDIFF', '2', 'a', 'b', 'WITHSCORES'],
  ['ZMPOP', '1', 'a', 'MIN'],
  ['BZMPOP', '0', '2', 'a', 'b', 'MAX'],
  ['BZPOPMIN', 'a', 'b', '0'],
  ['ZRANGESTORE', 'd', 's', '0', '-1'],
  ['BITOP', 'AND', 'd', 'a', 'b'],
  ['LCS', 'a', 'b'],
  ['HSET', 'h', 'f', 'v'],
  ['OBJECT', 'ENCODING', 'k'],
  ['WATCH', 'a', 'b'],
  ['PUBLISH', 'ch', 'm'],
  ['PING'],
  ['PING', 'x'],
  ['INFO', 'server'],
  ['CLIENT', 'LIST'],
  ['NOSUCHCOMMAND', 'a'],
  ['GET', 'a', 'b'],
  ['MSET', 'a'],
  ['ZUNION', 'x', 'a'],
  ['ZUNION', '5', 'a'],
  ['LMPOP', '0', 'a', 'LEFT'],
  ['SINTERCARD', '3', 'a', 'b'],
];

/** COMMAND INFO's entry as [arity, flags, first, last, step], subcommands by name. */
function infoOf(entry: unknown): { head: unknown[]; subs: Map<string, unknown[]> } {
  assert.ok(Array.isArray(entry), `a COMMAND INFO entry, not ${String(entry)}`);
  const [, arity, flags, first, last, step, , , , subcommands] = entry as unknown[];
  const subs = new Map<string, unknown[]>();
  for (const sub of (subcommands as unknown[]) ?? []) {
    const [name, subArity, subFlags] = sub as unknown[];
    subs.set(String(name), [subArity, comparable(subFlags)]);
  }
  return { head: [arity, comparable(flags), first, last, step], subs };
}

/** A COMMAND DOCS entry's fields (RESP2's flat array) as an object. */
function docsOf(reply: unknown, name: string): Record<string, unknown> {
  assert.ok(Array.isArray(reply), `COMMAND DOCS ${name}: an entry, not ${String(reply)}`);
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < reply.length; i += 2) fields[String(reply[i])] = reply[i + 1];
  return fields;
}

/**
 * What COMMAND DOCS says of a command that redis-cli reads: summary, since, group,
 * complexity, and its arguments' names, types, tokens, flags and nested arguments.
 */
function docFields(reply: unknown, name: string): unknown[] {
  const all = docsOf(reply, name);
  const argumentsOf = (list: unknown): unknown =>
    (list as unknown[] | undefined)?.map((argument) => {
      const fields = docsOf(argument, name);
      const kept: Record<string, unknown> = {};
      for (const field of ['name', 'type', 'token', 'flags']) {
        if (fields[field] !== undefined) kept[field] = fields[field];
      }
      if (fields.arguments !== undefined) kept.arguments = argumentsOf(fields.arguments);
      return kept;
    });
  const head = ['summary', 'since', 'group', 'complexity'].map((field) => all[field]);
  return [...head, argumentsOf(all.arguments)];
}

/** A cmdstat line's counters, or zeros when the command has none yet. */
function cmdstat(info: Map<string, Map<string, string>>, name: string): Record<string, number> {
  const line = info.get('Commandstats')?.get(`cmdstat_${name}`);
  const counters: Record<string, number> = { calls: 0, rejected_calls: 0, failed_calls: 0 };
  for (const pair of line?.split(',') ?? []) {
    const [field, value] = pair.split('=');
    if (field in counters) counters[field] = Number(value);
  }
  return counters;
}

describe('Tandem and redis-server answer the server commands alike', { timeout: 60_000 }, () => {
  const ports = redisBesideTandem();

  test('INFO gives the same sections for the same arguments', { skip: redisSkip }, async () => {
    // Goal: no argument, default, all, everything, several names, other cases and
    // unknown names choose the sections Redis 7.0 chooses, in its order.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      const asked = [
        [],
        ['default'],
        ['all'],
        ['everything'],
        ['server', 'cpu'],
        ['CPU', 'Keyspace'],
        ['default', 'commandstats'],
        ['commandstats', 'errorstats', 'latencystats'],
        ['modules'],
        ['replication'],
      ];
      for (const args of asked) {
        const mine = [...parseInfo(await ours.call('INFO', ...args)).keys()];
        const redis7 = [...parseInfo(await theirs.call('INFO', ...args)).keys()];
        assert.deepEqual(mine, redis7, `INFO ${args.join(' ')}`);
      }
      for (const args of [['bogus'], ['bogus', 'other']]) {
        const mine = await ours.call('INFO', ...args);
        assert.deepEqual(mine, await theirs.call('INFO', ...args), `INFO ${args.join(' ')}`);
        assert.deepEqual(mine, Buffer.alloc(0), 'an unknown section gives an empty reply');
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test(
    'the fields exporters and ioredis read are in both, of the same kind',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: every field redis_exporter makes a metric of, and ioredis's `loading`, is
      // present in Tandem's INFO everything as in Redis's, with a value of the same kind.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      try {
        for (const client of [ours, theirs]) {
          await client.call('FLUSHALL');
          await client.call('SET', 'info:k', 'v', 'EX', '1000');
          await client.call('SET', 'info:other', 'v');
          await client.call('GET', 'info:nothing', 'extra');
        }
        const mine = parseInfo(await ours.call('INFO', 'everything'));
        const redis7 = parseInfo(await theirs.call('INFO', 'everything'));
        for (const [section, fields] of Object.entries(fieldsRead)) {
          for (const field of fields) {
            const theirValue = redis7.get(section)?.get(field);
            const ourValue = mine.get(section)?.get(field);
            assert.ok(theirValue !== undefined, `redis-server has ${section} ${field}`);
            assert.ok(ourValue !== undefined, `Tandem has ${section} ${field}`);
            assert.equal(
              kindOf(ourValue),
              kindOf(theirValue),
              `${field}: ${ourValue} ${theirValue}`,
            );
          }
        }
        assert.equal(mine.get('Persistence')?.get('loading'), '0');
        assert.equal(mine.get('Server')?.get('tcp_port'), String(ports().tandem));
        assert.match(mine.get('Server')?.get('run_id') ?? '', /^[0-9a-f]{40}$/);
        // Both count the keys and the keys with an expiry alike.
        const keyspace = (info: typeof mine) =>
          info
            .get('Keyspace')
            ?.get('db0')
            ?.replace(/,avg_ttl=\d+/, '');
        assert.equal(keyspace(mine), 'keys=2,expires=1');
        assert.equal(keyspace(mine), keyspace(redis7));
        const ttl = Number(/avg_ttl=(\d+)/.exec(mine.get('Keyspace')?.get('db0') ?? '')?.[1]);
        assert.ok(ttl > 990_000 && ttl <= 1_000_000, `avg_ttl ${ttl} is the one key's TTL in ms`);
        // The counters that count what this node did.
        const used = Number(mine.get('Memory')?.get('used_memory'));
        assert.ok(used > 1_000_000 && used <= Number(mine.get('Memory')?.get('used_memory_peak')));
        assert.ok(Number(mine.get('Stats')?.get('total_net_input_bytes')) > 0);
        assert.ok(Number(mine.get('Stats')?.get('total_error_replies')) >= 1);
        assert.ok(Number(mine.get('Clients')?.get('connected_clients')) >= 1);
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );

  test(
    'commandstats and errorstats grow by the commands sent, as in Redis',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: calls, rejected and failed calls of each command, and the error codes, grow
      // on Tandem by what they grow on Redis for the same commands.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      try {
        const sent = [
          ['SET', 'stats:a', '1'],
          ['SET', 'stats:b', 'x'],
          ['SET', 'stats:c', '2', 'EX', '100'],
          ['GET', 'stats:a'],
          ['GET'],
          ['INCR', 'stats:b'],
          ['INCR', 'stats:a'],
          ['HSET', 'stats:a', 'f', 'v'],
          ['NOSUCHCOMMAND'],
        ];
        const deltas = async (client: RawClient) => {
          const before = parseInfo(await client.call('INFO', 'commandstats', 'errorstats'));
          for (const args of sent) await client.call(...args);
          const after = parseInfo(await client.call('INFO', 'commandstats', 'errorstats'));
          const counted: Record<string, unknown> = {};
          for (const name of ['set', 'get', 'incr', 'hset']) {
            const [was, now] = [cmdstat(before, name), cmdstat(after, name)];
            counted[name] = Object.fromEntries(
              Object.keys(now).map((field) => [field, now[field] - was[field]]),
            );
          }
          for (const code of ['ERR', 'WRONGTYPE']) {
            const count = (info: typeof before) =>
              Number(
                /count=(\d+)/.exec(info.get('Errorstats')?.get(`errorstat_${code}`) ?? '')?.[1] ??
                  0,
              );
            counted[code] = count(after) - count(before);
          }
          return counted;
        };
        const mine = await deltas(ours);
        assert.deepEqual(mine, await deltas(theirs));
        assert.deepEqual(mine.set, { calls: 3, rejected_calls: 0, failed_calls: 0 });
        assert.deepEqual(mine.incr, { calls: 2, rejected_calls: 0, failed_calls: 1 });
        // CONFIG RESETSTAT zeroes them: what is counted next is the reset's own call.
        const afterReset = async (client: RawClient) => {
          await client.call('CONFIG', 'RESETSTAT');
          const info = parseInfo(await client.call('INFO', 'commandstats', 'errorstats'));
          return {
            commands: [...(info.get('Commandstats')?.keys() ?? [])],
            errors: [...(info.get('Errorstats')?.keys() ?? [])],
            reset: cmdstat(info, 'config|resetstat'),
          };
        };
        const reset = await afterReset(ours);
        assert.deepEqual(reset, await afterReset(theirs));
        assert.deepEqual(reset.commands, ['cmdstat_config|resetstat']);
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );

  test(
    'TIME answers seconds and microseconds, close to the clock',
    { skip: redisSkip },
    async () => {
      // Goal: two bulk strings of digits, microseconds below a million, within a second of
      // this machine's clock, as Redis answers.
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      try {
        for (const client of [ours, theirs]) {
          const reply = await client.call('TIME');
          assert.ok(Array.isArray(reply) && reply.length === 2, `TIME: ${String(reply)}`);
          const [seconds, micros] = (reply as Reply[]).map((part) => {
            assert.ok(Buffer.isBuffer(part), 'TIME answers bulk strings');
            assert.match(part.toString(), /^\d+$/);
            return Number(part.toString());
          });
          assert.ok(micros < 1_000_000);
          const at = seconds * 1000 + micros / 1000;
          assert.ok(Math.abs(at - Date.now()) < 1000, `TIME is ${at}, the clock ${Date.now()}`);
        }
        assert.deepEqual(
          comparable(await ours.call('TIME', 'x')),
          comparable(await theirs.call('TIME', 'x')),
        );
      } finally {
        ours.close();
        theirs.close();
      }
    },
  );

  test('COMMAND GETKEYS finds the keys Redis finds', { skip: redisSkip }, async () => {
    // Goal: the dispatch table's key positions (the ones ACL key patterns are checked
    // against) are Redis's, for fixed and counted keys, with Redis's error texts.
    const ours = await RawClient.open(ports().tandem);
    const theirs = await RawClient.open(ports().redis);
    try {
      for (const args of [
        ...getKeysCases.map((c) => ['COMMAND', 'GETKEYS', ...c]),
        ['COMMAND', 'GETKEYS'],
      ]) {
        const mine = comparable(await ours.call(...args));
        assert.deepEqual(mine, comparable(await theirs.call(...args)), args.join(' '));
      }
    } finally {
      ours.close();
      theirs.close();
    }
  });

  test(
    'COMMAND INFO and COMMAND DOCS say what Redis says of every command Tandem has',
    {
      skip: redisSkip,
    },
    async () => {
      // Goal: arity, flags, legacy key range, the subcommands' flags, and summary, since,
      // group and complexity equal Redis 7.0's for each command but Tandem's own and the
      // exceptions below.
      const table = buildCommandTable();
      const names = Object.keys(table).filter((name) => !name.startsWith('tandem.'));
      /** Subcommands Tandem has that Redis 7.0 has not: Redis 7.2's. */
      const newerSubcommands = new Set(['client|setinfo', 'client|no-touch']);
      const ours = await RawClient.open(ports().tandem);
      const theirs = await RawClient.open(ports().redis);
      const ourDocs = new Redis(ports().tandem, { lazyConnect: true });
      const redisDocs = new Redis(ports().redis, { lazyConnect: true });
      // Every difference, so that one run lists them all: [what, Tandem's, Redis's].
      const differences: unknown[][] = [];
      const compare = (what: string, mine: unknown, redis7: unknown) => {
        if (!isDeepStrictEqual(mine, redis7)) differences.push([what, mine, redis7]);
      };
      try {
        for (const name of names) {
          const mine = infoOf(((await ours.call('COMMAND', 'INFO', name)) as unknown[])[0]);
          const redis7 = infoOf(((await theirs.call('COMMAND', 'INFO', name)) as unknown[])[0]);
          compare(`COMMAND INFO ${name}`, mine.head, redis7.head);
          for (const [sub, entry] of mine.subs) {
            if (newerSubcommands.has(sub)) continue;
            compare(`COMMAND INFO ${name}: ${sub}`, entry, redis7.subs.get(sub));
          }
          // Redis's argument trees nest deeper than the raw client reads: ioredis reads them.
          const [[, myDocs], [, redisDoc]] = (await Promise.all([
            ourDocs.call('COMMAND', 'DOCS', name),
            redisDocs.call('COMMAND', 'DOCS', name),
          ])) as unknown[][];
          compare(`COMMAND DOCS ${name}`, docFields(myDocs, name), docFields(redisDoc, name));
          const redisSubs = docsOf(docsOf(redisDoc, name).subcommands ?? [], name);
          const mySubs = docsOf(docsOf(myDocs, name).subcommands ?? [], name);
          for (const [sub, doc] of Object.entries(mySubs)) {
            if (newerSubcommands.has(sub)) continue;
            compare(`COMMAND DOCS ${sub}`, docFields(doc, sub), docFields(redisSubs[sub], sub));
          }
        }
        assert.deepEqual(
          differences.map((one) => JSON.stringify(one)),
          [],
        );
        assert.deepEqual(await ours.call('COMMAND', 'INFO', 'nosuch'), [null]);
        assert.deepEqual(await ours.call('COMMAND', 'DOCS', 'nosuch'), []);
        assert.equal(await ours.call('COMMAND', 'COUNT'), Object.keys(table).length);
      } finally {
        ourDocs.disconnect();
        redisDocs.disconnect();
        ours.close();
        theirs.close();
      }
    },
  );
});
