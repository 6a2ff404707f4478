// Every RESP command declares the role it needs, and the roles are the ones the README's
// table promises: a command added without one, or with a weaker one, fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCommandTable } from '../../src/api/resp/server.js';
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
    'role',
    'command',
    'select',
    'wait',
    'readonly',
    'readwrite',
    'tandem.status',
    'tandem.version',
    'tandem.consistency',
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
    'publish',
  ],
  admin: [
    'flushdb',
    'flushall',
    'tandem.promote',
    'tandem.forward',
    'config|get',
    'config|set',
    'config|resetstat',
    'client|list',
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
const unchecked = ['auth', 'hello', 'quit', 'reset', 'tandem.forwardas', 'tandem.link'];

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
  ];
  for (const name of keyed) assert.ok(table[name]?.keys !== undefined, `${name} names no keys`);
  assert.deepEqual(table.mset?.keys, { first: 1, last: -1, step: 2 });
});
