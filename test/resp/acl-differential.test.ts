// AUTH and ACL sent to a real redis-server 7 and to a one-node Tandem cluster, both in the
// open mode (a `default` user with no password), replies compared where Tandem's rule
// language and Redis's agree: AUTH's errors, ACL WHOAMI/USERS/LIST/GETUSER, the NOPERM
// texts, ACL's argument errors, NOAUTH once `default` has a password, and the closing of a
// deleted user's connection.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Reply } from '../../src/api/resp/reply.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';
import { RawClient } from './raw-client.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A reply made comparable: bulk strings as text, errors and simple strings tagged. */
function plain(reply: Reply | 'closed'): unknown {
  if (reply === 'closed' || reply === null || typeof reply === 'number') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString();
  if (typeof reply === 'string') return reply;
  if (Array.isArray(reply)) return reply.map((item) => plain(item as Reply));
  if (typeof reply === 'object' && 'kind' in reply) {
    if (reply.kind === 'error') return `-${reply.text}`;
    if (reply.kind === 'simple') return `+${reply.text}`;
  }
  return JSON.stringify(reply);
}

/** Runs `script` (commands, each run by the named connection) on a server; the replies. */
async function transcript(
  port: number,
  script: readonly (readonly [string, ...string[]])[],
): Promise<unknown[]> {
  const connections = new Map<string, RawClient>();
  const replies: unknown[] = [];
  try {
    for (const [who, ...command] of script) {
      let client = connections.get(who);
      if (client === undefined) {
        client = await RawClient.open(port);
        connections.set(who, client);
      }
      replies.push([who, ...command].join(' '), plain(await client.call(...command)));
    }
  } finally {
    for (const client of connections.values()) client.close();
  }
  return replies;
}

const readerHash = sha256('reader-pw');
const writerHash = sha256('writer-pw');

/**
 * The script both servers run; `admin` is a `default` connection of the open mode. Left
 * out where Tandem's roles differ from Redis's categories by design: FLUSHDB and FLUSHALL
 * need the admin role (Redis files them under @write too), and ACL WHOAMI needs only read
 * (Redis files it under @slow).
 */
const script: readonly (readonly [string, ...string[]])[] = [
  ['admin', 'AUTH', 'nopass-here'],
  ['admin', 'AUTH', 'someone', 'pw'],
  ['admin', 'ACL', 'WHOAMI'],
  ['admin', 'ACL', 'SETUSER', 'r', 'on', `#${readerHash}`, '~*', '&*', '+@read'],
  ['admin', 'ACL', 'SETUSER', 'w', 'on', `#${writerHash}`, '~app:*', '&*', '+@read', '+@write'],
  ['admin', 'ACL', 'USERS'],
  ['admin', 'ACL', 'LIST'],
  ['admin', 'ACL', 'GETUSER', 'r'],
  ['admin', 'ACL', 'GETUSER', 'w'],
  ['admin', 'ACL', 'GETUSER', 'default'],
  ['admin', 'ACL', 'GETUSER', 'nobody'],
  ['admin', 'ACL', 'SETUSER', 'x', 'badrule'],
  ['admin', 'ACL', 'SETUSER', 'x', '#zz'],
  ['admin', 'ACL', 'SETUSER'],
  ['admin', 'ACL'],
  ['admin', 'ACL', 'NOSUCH'],
  ['admin', 'ACL', 'DELUSER', 'default'],
  ['admin', 'ACL', 'DELUSER', 'nobody'],
  ['admin', 'ACL', 'CAT', 'nosuch'],
  ['reader', 'AUTH', 'r', 'wrong'],
  ['reader', 'HELLO', '3', 'AUTH', 'r', 'wrong'],
  ['reader', 'AUTH', 'r', 'reader-pw'],
  ['reader', 'GET', 'k'],
  ['reader', 'SET', 'k', 'v'],
  ['reader', 'FLUSHALL'],
  ['reader', 'CONFIG', 'SET', 'maxclients', '10'],
  ['reader', 'CLIENT', 'LIST'],
  ['reader', 'ACL', 'SETUSER', 'r', '+@all'],
  ['writer', 'AUTH', 'w', 'writer-pw'],
  ['writer', 'SET', 'app:1', 'v'],
  ['writer', 'SET', 'other', 'v'],
  ['writer', 'GET', 'other'],
  ['writer', 'MSET', 'app:2', 'v', 'other', 'v'],
  // Both keys of RENAME and COPY are checked against the user's patterns.
  ['writer', 'RENAME', 'app:2', 'other'],
  ['writer', 'RENAME', 'other', 'app:3'],
  ['writer', 'RENAMENX', 'app:2', 'other'],
  ['writer', 'COPY', 'app:2', 'other'],
  ['writer', 'COPY', 'other', 'app:3', 'REPLACE'],
  ['writer', 'COPY', 'app:2', 'app:3'],
  ['writer', 'RENAME', 'app:3', 'app:4'],
  ['writer', 'OBJECT', 'ENCODING', 'other'],
  ['writer', 'OBJECT', 'ENCODING', 'app:4'],
  ['writer', 'TOUCH', 'app:4', 'other'],
  ['writer', 'EXPIRETIME', 'app:4'],
  ['reader', 'RENAME', 'app:4', 'app:5'],
  ['reader', 'COPY', 'app:4', 'app:5'],
  ['reader', 'OBJECT', 'ENCODING', 'app:4'],
  ['writer', 'DEL', 'app:1', 'other'],
  ['admin', 'ACL', 'DELUSER', 'w', 'nobody'],
  ['writer', 'PING'],
  ['admin', 'ACL', 'SETUSER', 'default', `#${sha256('default-pw')}`],
  ['stranger', 'GET', 'k'],
  ['stranger', 'HELLO', '3'],
  ['stranger', 'AUTH', 'wrong'],
  ['stranger', 'AUTH', 'default-pw'],
  ['stranger', 'ACL', 'WHOAMI'],
];

describe('Tandem and redis-server answer AUTH and ACL alike', { timeout: 120_000 }, () => {
  const ports = redisBesideTandem();

  test('the same AUTH and ACL script gives the same replies', { skip: redisSkip }, async () => {
    // Goal: clients and scripts written for Redis 7's ACLs read Tandem's answers unchanged.
    const fromRedis = await transcript(ports().redis, script);
    const fromTandem = await transcript(ports().tandem, script);
    for (let i = 0; i < fromRedis.length; i += 2) {
      assert.deepEqual(fromTandem[i + 1], fromRedis[i + 1], `after ${String(fromRedis[i])}`);
    }
  });
});
