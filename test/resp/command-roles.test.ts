// Every RESP command declares the role it needs, and the roles are the ones the README's
// table promises: a command added without one, or with a weaker one, fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCommandTable } from '../../src/api/resp/server.js';
import { commandKeys } from '../../src/api/resp/spec.js';
import { accessRoles } from '../../src/store/access-state.js';

/** The role table of the README (RESP commands), `parent|sub` for subcommands. */
const expected: Readonly<Record<string, readonly string[]>> = {
  read: [
    'get',
    'getrange',
    'substr',
    'getbit',
    'bitcount',
    'bitpos',
    'bitfield_ro',
    'lcs',
    'hget',
    'hmget',
    'hexists',
    'hstrlen',
    'hlen',
    'hkeys',
    'hvals',
    'hgetall',
    'hrandfield',
    'hscan',
    'sismember',
    'smismember',
    'smembers',
    'scard',
    'srandmember',
    'sinter',
    'sintercard',
    'sunion',
    'sdiff',
    'sscan',
    'zcard',
    'zscore',
    'zmscore',
    'zrank',
    'zrevrank',
    'zcount',
    'zlexcount',
    'zrange',
    'zrevrange',
    'zrangebyscore',
    'zrevrangebyscore',
    'zrangebylex',
    'zrevrangebylex',
    'zrandmember',
    'zscan',
    'zunion',
    'zinter',
    'zdiff',
    'llen',
    'lrange',
    'lindex',
    'lpos',
    'mget',
    'exists',
    'strlen',
    'ttl',
    'pttl',
    'type',
    'touch',
    'expiretime',
    'pexpiretime',
    'randomkey',
    'object|encoding',
    'object|help',
    'keys',
    'scan',
    'dbsize',
    'ping',
    'echo',
    'info',
    'time',
    'role',
    'command',
    'select',
    'wait',
    'readonly',
    'readwrite',
    'tandem.status',
    'tandem.version',
    'tandem.consistency',
    'tandem.conflicts',
    'tandem.wait',
    'client|setname',
    'client|getname',
    'client|id',
    'client|info',
    'client|setinfo',
    'client|no-evict',
    'client|no-touch',
    'acl|whoami',
    'acl|cat',
    'acl|genpass',
    'acl|help',
    'subscribe',
    'unsubscribe',
    'psubscribe',
    'punsubscribe',
    'pubsub|channels',
    'pubsub|numsub',
    'pubsub|numpat',
    'pubsub|help',
    'multi',
    'exec',
    'discard',
    'watch',
    'unwatch',
    'tandem.exec',
  ],
  write: [
    'set',
    'setnx',
    'setex',
    'psetex',
    'getset',
    'getdel',
    'getex',
    'setrange',
    'msetnx',
    'incrbyfloat',
    'hset',
    'hmset',
    'hsetnx',
    'hdel',
    'hincrby',
    'hincrbyfloat',
    'sadd',
    'srem',
    'spop',
    'smove',
    'sinterstore',
    'sunionstore',
    'sdiffstore',
    'zadd',
    'zincrby',
    'zrem',
    'zpopmin',
    'zpopmax',
    'zmpop',
    'zremrangebyrank',
    'zremrangebyscore',
    'zremrangebylex',
    'zrangestore',
    'zunionstore',
    'zinterstore',
    'zdiffstore',
    'lpush',
    'rpush',
    'lpushx',
    'rpushx',
    'lpop',
    'rpop',
    'lset',
    'linsert',
    'lrem',
    'ltrim',
    'lmove',
    'rpoplpush',
    'lmpop',
    'blpop',
    'brpop',
    'blmove',
    'brpoplpush',
    'blmpop',
    'bzpopmin',
    'bzpopmax',
    'bzmpop',
    'setbit',
    'bitop',
    'bitfield',
    'del',
    'unlink',
    'incr',
    'decr',
    'incrby',
    'decrby',
    'append',
    'mset',
    'expire',
    'pexpire',
    'expireat',
    'pexpireat',
    'persist',
    'rename',
    'renamenx',
    'copy',
    'move',
    'publish',
  ],
  admin: [
    'flushdb',
    'flushall',
    'swapdb',
    'tandem.promote',
    'tandem.forward',
    'config|get',
    'config|set',
    'config|resetstat',
    'client|list',
    'client|kill',
    'client|unblock',
    'acl|setuser',
    'acl|deluser',
    'acl|list',
    'acl|users',
    'acl|getuser',
    'acl|log',
    'acl|save',
    'acl|load',
  ],
};
/** Commands that run before authentication and check for themselves. */
const unchecked = [
  'auth',
  'hello',
  'quit',
  'reset',
  'tandem.forwardas',
  'tandem.forwardin',
  'tandem.link',
];

test('every RESP command and subcommand declares the role the README gives it', () => {
  // Goal: no command runs unchecked by accident, and none needs less than documented.
  const table = buildCommandTable();
  const declared = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) {
    assert.ok(accessRoles.includes(spec.role), `${name} declares no role`);
    if (spec.noauth === true) {
      assert.ok(unchecked.includes(name), `${name} runs unauthenticated`);
      continue;
    }
    if (spec.subcommands === undefined) {
      declared.set(name, spec.role);
      continue;
    }
    for (const [sub, subSpec] of Object.entries(spec.subcommands)) {
      assert.ok(accessRoles.includes(subSpec.role), `${name}|${sub} declares no role`);
      declared.set(`${name}|${sub}`, subSpec.role);
    }
  }
  const listed = new Map<string, string>();
  for (const [role, names] of Object.entries(expected)) {
    for (const name of names) listed.set(name, role);
  }
  assert.deepEqual(
    Object.fromEntries([...declared].sort()),
    Object.fromEntries([...listed].sort()),
  );
});

test('a command with key arguments names them, so key patterns are checked', () => {
  // Goal: a keyed command whose keys are not declared would escape `~pattern` rules.
  const table = buildCommandTable();
  const keyed = [
    'get',
    'set',
    'del',
    'unlink',
    'exists',
    'incr',
    'decr',
    'incrby',
    'decrby',
    'append',
    'strlen',
    'mget',
    'mset',
    'expire',
    'pexpire',
    'expireat',
    'pexpireat',
    'persist',
    'ttl',
    'pttl',
    'type',
    'tandem.version',
    'watch',
    'sadd',
    'smove',
    'sinter',
    'sintercard',
    'sinterstore',
    'sscan',
  ];
  for (const name of keyed) assert.ok(table[name]?.keys !== undefined, `${name} names no keys`);
  // Commands whose numkeys argument says how many keys follow name them by a function.
  for (const name of ['zmpop', 'zunion', 'zinter', 'zdiff', 'zunionstore', 'zinterstore']) {
    const spec = table[name];
    assert.ok(spec?.keysOf !== undefined, `${name} names no keys`);
    const raw = ['x', 'dst', '2', 'k1', 'k2', 'WEIGHTS'].map((word) => Buffer.from(word));
    const found = spec.keysOf(name.endsWith('store') ? raw : raw.slice(1)).map(String);
    assert.deepEqual(found, name.endsWith('store') ? ['dst', 'k1', 'k2'] : ['k1', 'k2'], name);
  }
  assert.deepEqual(table.mset?.keys, { first: 1, last: -1, step: 2 });
});

test('SINTERCARD and SMOVE name exactly their keys', () => {
  // Goal: SINTERCARD's keys are the numkeys after its count (not its LIMIT), and SMOVE's
  // are its source and destination (not its member), so key patterns see what it touches.
  const table = buildCommandTable();
  const raw = (...args: string[]) => args.map((arg) => Buffer.from(arg));
  const named = (name: string, ...args: string[]) =>
    commandKeys(table[name]?.keys, raw(name, ...args)).map(String);
  assert.deepEqual(named('sintercard', '2', 'a', 'b', 'LIMIT', '1'), ['a', 'b']);
  assert.deepEqual(named('sintercard', '3', 'a', 'b'), []);
  assert.deepEqual(named('sintercard', 'x', 'a'), []);
  assert.deepEqual(named('smove', 'from', 'to', 'member'), ['from', 'to']);
  assert.deepEqual(named('sinterstore', 'dest', 'a', 'b'), ['dest', 'a', 'b']);
  // COMMAND reports SINTERCARD's keys as Redis does: movable, no fixed positions.
  const spec = table.sintercard;
  assert.ok(spec !== undefined);
  assert.equal(spec.keys?.counted, true);
});
