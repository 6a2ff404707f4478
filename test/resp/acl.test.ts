// RESP users and ACLs on a real three-node cluster started with `--users FILE`: every
// command is checked against its user's role and key patterns, on the node the client is
// connected to and again on the leader a follower forwards to; ACL SETUSER and DELUSER are
// replicated writes. Clients: ioredis, node-redis, redis-cli and raw sockets.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import type { Reply } from '../../src/api/resp/reply.js';
import { sleep, TestCluster } from '../node/cluster.js';
import { RawClient, text } from './raw-client.js';

const cliInstalled = spawnSync('redis-cli', ['--version']).status === 0;

/** The cluster's users: no `default` user, so every connection must authenticate. */
const users = {
  users: [
    { name: 'boss', password: 'boss-pw', roles: ['admin'] },
    { name: 'writer', password: 'writer-pw', roles: ['write'] },
    { name: 'reader', password: 'reader-pw', roles: ['read'] },
    { name: 'app', password: 'app-pw', roles: ['write'], keys: ['app:*'] },
  ],
};

/** HTTP Basic headers: the cluster's own status requests need a user too. */
function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** Runs redis-cli with `args`; resolves with its stdout (trimmed) and exit code. */
function cli(port: number, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port), '--no-auth-warning', ...args]);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out: out.trim() }));
  });
}

/** Polls `check` every 50 ms until it holds, for up to `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('RESP users and ACLs on a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let leader: string;
  let follower: string;
  const ids = ['n1', 'n2', 'n3'];
  const port = (id: string) => cluster.node(id).respPort;
  const as = (id: string, username: string, password: string) =>
    new Redis({ port: port(id), username, password, maxRetriesPerRequest: 1 });

  /** Whether node `id` has applied user `name` (asked as the admin). */
  const hasUser = async (id: string, name: string): Promise<boolean> => {
    const boss = as(id, 'boss', 'boss-pw');
    try {
      return ((await boss.call('ACL', 'USERS')) as string[]).includes(name);
    } finally {
      boss.disconnect();
    }
  };

  before(async () => {
    let usersFile = '';
    cluster = await TestCluster.create({
      nodes: 3,
      extraArgs: () => ['--users', usersFile],
      statusHeaders: basic('boss', 'boss-pw'),
    });
    usersFile = join(cluster.root, 'users.json');
    writeFileSync(usersFile, JSON.stringify(users));
    cluster.startAll();
    leader = await cluster.leader();
    follower = ids.find((id) => id !== leader) as string;
  });

  after(async () => {
    await cluster?.destroy();
  });

  test('a connection that has not authenticated is refused with NOAUTH', async () => {
    // Goal: with no password-free default user, every command but AUTH/HELLO needs a login.
    const raw = await RawClient.open(port(follower));
    try {
      assert.equal(text(await raw.call('GET', 'k')), 'NOAUTH Authentication required.');
      assert.equal(
        text(await raw.call('AUTH', 'reader', 'wrong')),
        'WRONGPASS invalid username-password pair or user is disabled.',
      );
      assert.equal(
        text(await raw.call('AUTH', 'nobody', 'reader-pw')),
        'WRONGPASS invalid username-password pair or user is disabled.',
      );
      assert.equal(text(await raw.call('AUTH', 'reader', 'reader-pw')), 'OK');
      assert.equal(text(await raw.call('ACL', 'WHOAMI')), 'reader');
    } finally {
      raw.close();
    }
  });

  test("a reader's SET is refused on the leader and on a follower, and no node changes", async () => {
    // Goal: the role check runs on the node the client uses; nothing reaches the log.
    for (const id of [leader, follower]) {
      const reader = as(id, 'reader', 'reader-pw');
      try {
        assert.equal(await reader.get('guarded'), null);
        await assert.rejects(
          reader.set('guarded', id),
          /NOPERM this user has no permissions to run the 'set' command/,
        );
        await assert.rejects(reader.del('guarded'), /NOPERM .* 'del' command/);
      } finally {
        reader.disconnect();
      }
    }
    // A write by the writer after them: once every node has it, the reader's SETs would be
    // there too had they been applied.
    const writer = as(follower, 'writer', 'writer-pw');
    try {
      assert.equal(await writer.set('marker', 'after'), 'OK');
    } finally {
      writer.disconnect();
    }
    for (const id of ids) {
      const boss = as(id, 'boss', 'boss-pw');
      try {
        await eventually(async () => (await boss.get('marker')) === 'after', `marker on ${id}`);
        assert.equal(await boss.get('guarded'), null, `the reader's SET reached ${id}`);
      } finally {
        boss.disconnect();
      }
    }
  });

  test('a writer cannot FLUSHALL, TANDEM.PROMOTE or ACL SETUSER (node-redis)', async () => {
    // Goal: admin commands need the admin role; the refusal names the command as Redis does.
    const client = createClient({
      socket: { port: port(follower), host: '127.0.0.1', reconnectStrategy: false },
      username: 'writer',
      password: 'writer-pw',
    });
    await client.connect();
    try {
      assert.equal(await client.set('w:1', 'one'), 'OK');
      await assert.rejects(
        client.sendCommand(['FLUSHALL']),
        /NOPERM this user has no permissions to run the 'flushall' command/,
      );
      await assert.rejects(
        client.sendCommand(['TANDEM.PROMOTE', leader]),
        /NOPERM this user has no permissions to run the 'tandem.promote' command/,
      );
      await assert.rejects(
        client.sendCommand(['ACL', 'SETUSER', 'writer', '+@all']),
        /NOPERM this user has no permissions to run the 'acl\|setuser' command/,
      );
      await assert.rejects(
        client.sendCommand(['CLIENT', 'LIST']),
        /NOPERM this user has no permissions to run the 'client\|list' command/,
      );
      assert.equal(await client.sendCommand(['ACL', 'WHOAMI']), 'writer');
      assert.equal(await client.get('w:1'), 'one');
    } finally {
      await client.quit();
    }
  });

  test(
    'a ~app:* writer cannot name a key outside its patterns (redis-cli --user --pass)',
    {
      skip: !cliInstalled,
    },
    async () => {
      // Goal: key patterns hold for reads and writes, and for any key of a multi-key command.
      const login = ['--user', 'app', '--pass', 'app-pw'];
      const keyText =
        'NOPERM this user has no permissions to access one of the keys used as arguments';
      assert.equal((await cli(port(follower), [...login, 'SET', 'app:1', 'x'])).out, 'OK');
      assert.equal((await cli(port(follower), [...login, 'GET', 'app:1'])).out, 'x');
      assert.equal((await cli(port(follower), [...login, 'SET', 'other', 'x'])).out, keyText);
      assert.equal((await cli(port(leader), [...login, 'GET', 'other'])).out, keyText);
      assert.equal(
        (await cli(port(leader), [...login, 'MSET', 'app:2', 'y', 'other', 'z'])).out,
        keyText,
      );
      assert.equal((await cli(port(leader), [...login, 'DEL', 'app:1', 'other'])).out, keyText);
      const boss = ['--user', 'boss', '--pass', 'boss-pw'];
      assert.equal((await cli(port(leader), [...boss, 'EXISTS', 'other', 'app:2'])).out, '0');
    },
  );

  test('ACL SETUSER on a follower creates a user who can AUTH on every node', async () => {
    // Goal: a follower forwards ACL SETUSER to the leader; the user is replicated state.
    const boss = as(follower, 'boss', 'boss-pw');
    try {
      assert.equal(
        await boss.call('ACL', 'SETUSER', 'newbie', 'on', '>newbie-pw', '~*', '+@read'),
        'OK',
      );
    } finally {
      boss.disconnect();
    }
    for (const id of ids) {
      // Polled as an admin: failed AUTHs would earn this address a delay.
      await eventually(async () => hasUser(id, 'newbie'), `newbie replicated to ${id}`);
      const raw = await RawClient.open(port(id));
      assert.equal(text(await raw.call('AUTH', 'newbie', 'newbie-pw')), 'OK');
      raw.close();
      const newbie = as(id, 'newbie', 'newbie-pw');
      try {
        assert.equal(await newbie.call('ACL', 'WHOAMI'), 'newbie');
        await assert.rejects(newbie.set('x', '1'), /NOPERM .* 'set' command/);
      } finally {
        newbie.disconnect();
      }
    }
  });

  test("ACL DELUSER on the leader closes the deleted user's connection on a follower", async () => {
    // Goal: the user is resolved by name on every command, so deletion takes effect at once.
    const boss = as(leader, 'boss', 'boss-pw');
    const victim = await RawClient.open(port(follower));
    const demoted = await RawClient.open(port(follower));
    try {
      const rules = ['on', '>temp-pw', '~*', '+@write'];
      assert.equal(await boss.call('ACL', 'SETUSER', 'temp', ...rules), 'OK');
      assert.equal(await boss.call('ACL', 'SETUSER', 'temp2', ...rules), 'OK');
      await eventually(async () => hasUser(follower, 'temp2'), 'temp2 on the follower');
      assert.equal(text(await victim.call('AUTH', 'temp', 'temp-pw')), 'OK');
      assert.equal(text(await demoted.call('AUTH', 'temp2', 'temp-pw')), 'OK');
      assert.equal(text(await victim.call('SET', 'temp:k', 'v')), 'OK');
      assert.equal(await boss.call('ACL', 'DELUSER', 'temp'), 1);
      assert.equal(await boss.call('ACL', 'SETUSER', 'temp2', '-@write'), 'OK');
      // Redis closes a deleted user's connections; the next command here finds it gone.
      await eventually(async () => (await victim.call('PING')) === 'closed', 'victim closed');
      await eventually(
        async () =>
          /NOPERM .* 'set' command/.test(String(text(await demoted.call('SET', 'a', 'b')))),
        'temp2 lost write',
      );
      assert.equal(text(await demoted.call('GET', 'temp:k')), 'v');
      const again = await RawClient.open(port(follower));
      assert.equal(
        text(await again.call('AUTH', 'temp', 'temp-pw')),
        'WRONGPASS invalid username-password pair or user is disabled.',
      );
      again.close();
    } finally {
      boss.disconnect();
      victim.close();
      demoted.close();
    }
  });

  test('a follower forwards large values and many-key writes for its users', async () => {
    // Goal: the leader holds a follower's unauthenticated forwarding link to the normal
    // request limits (it proves it is a node), not a stranger's 10 arguments and 16 KiB.
    const writer = as(follower, 'writer', 'writer-pw');
    try {
      const big = 'v'.repeat(100 * 1024);
      assert.equal(await writer.set('big', big), 'OK');
      const pairs = Array.from({ length: 30 }, (_, i) => [`many:${i}`, String(i)]).flat();
      assert.equal(await writer.mset(...pairs), 'OK');
      const boss = as(leader, 'boss', 'boss-pw');
      try {
        assert.equal((await boss.get('big'))?.length, big.length);
        assert.equal(await boss.get('many:29'), '29');
      } finally {
        boss.disconnect();
      }
    } finally {
      writer.disconnect();
    }
    const stranger = await RawClient.open(port(leader));
    assert.equal(
      text(await stranger.call('TANDEM.LINK', 'not-the-proof')),
      'ERR TANDEM.LINK proof does not match this cluster',
    );
    stranger.close();
  });

  test('the leader checks a forwarded command again as its user', async () => {
    // Goal: TANDEM.FORWARDAS authenticates and checks on the leader; TANDEM.FORWARD (the
    // old form, trusted) is accepted only from an admin connection.
    const raw = await RawClient.open(port(leader));
    try {
      assert.equal(
        text(await raw.call('TANDEM.FORWARDAS', 'reader', 'reader-pw', 'SET', 'fw', '1')),
        "NOPERM this user has no permissions to run the 'set' command",
      );
      assert.equal(
        text(await raw.call('TANDEM.FORWARDAS', 'writer', 'wrong', 'SET', 'fw', '1')),
        'WRONGPASS invalid username-password pair or user is disabled.',
      );
      assert.equal(
        text(await raw.call('TANDEM.FORWARDAS', 'app', 'app-pw', 'SET', 'fw', '1')),
        'NOPERM this user has no permissions to access one of the keys used as arguments',
      );
      const done = await raw.call('TANDEM.FORWARDAS', 'writer', 'writer-pw', 'SET', 'fw', '1');
      assert.ok(Array.isArray(done), `forwarded SET answered ${JSON.stringify(done)}`);
      assert.equal(text(done[1] as Reply), 'OK');
      assert.equal(
        text(await raw.call('TANDEM.FORWARD', 'SET', 'fw', '2')),
        'NOAUTH Authentication required.',
      );
      assert.equal(text(await raw.call('AUTH', 'writer', 'writer-pw')), 'OK');
      assert.equal(
        text(await raw.call('TANDEM.FORWARD', 'SET', 'fw', '2')),
        "NOPERM this user has no permissions to run the 'tandem.forward' command",
      );
      assert.equal(text(await raw.call('AUTH', 'boss', 'boss-pw')), 'OK');
      const old = await raw.call('TANDEM.FORWARD', 'SET', 'fw', '3');
      assert.ok(Array.isArray(old), `TANDEM.FORWARD answered ${JSON.stringify(old)}`);
      assert.equal(text(await raw.call('GET', 'fw')), '3');
    } finally {
      raw.close();
    }
  });
});

describe('--requirepass on a three-node cluster', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let leader: string;
  let follower: string;
  const port = (id: string) => cluster.node(id).respPort;

  before(async () => {
    cluster = await TestCluster.create({
      nodes: 3,
      extraArgs: () => ['--requirepass', 'open-sesame'],
      statusHeaders: basic('default', 'open-sesame'),
    });
    cluster.startAll();
    leader = await cluster.leader();
    follower = ['n1', 'n2', 'n3'].find((id) => id !== leader) as string;
  });

  after(async () => {
    await cluster?.destroy();
  });

  test(
    'redis-cli -a on a follower writes through the leader as default',
    {
      skip: !cliInstalled,
    },
    async () => {
      // Goal: --requirepass is the `default` user's password; forwarded writes carry it.
      const login = ['-a', 'open-sesame'];
      assert.equal((await cli(port(follower), [...login, 'SET', 'rp:1', 'one'])).out, 'OK');
      assert.equal((await cli(port(leader), [...login, 'GET', 'rp:1'])).out, 'one');
      assert.equal((await cli(port(follower), [...login, 'ACL', 'WHOAMI'])).out, 'default');
      assert.match(
        (await cli(port(leader), [...login, 'ACL', 'LIST'])).out,
        /^user default on #scrypt\$\S+ ~\* &\* \+@all$/,
      );
      assert.equal(
        (await cli(port(follower), ['GET', 'rp:1'])).out,
        'NOAUTH Authentication required.',
      );
      assert.equal(
        (await cli(port(follower), ['-a', 'wrong', 'GET', 'rp:1'])).out,
        'AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\nNOAUTH Authentication required.',
      );
    },
  );

  test('commands pipelined after an AUTH run as the user it authenticated', async () => {
    // Goal: an AUTH that hashes (scrypt, asynchronous) still runs before what follows it.
    const boss = new Redis({ port: port(leader), password: 'open-sesame' });
    try {
      assert.equal(
        await boss.call('ACL', 'SETUSER', 'piped', 'on', '>piped-pw', '~*', '+@write'),
        'OK',
      );
    } finally {
      boss.disconnect();
    }
    for (const id of [leader, follower]) {
      const admin = new Redis({ port: port(id), password: 'open-sesame' });
      await eventually(
        async () => ((await admin.call('ACL', 'USERS')) as string[]).includes('piped'),
        `piped on ${id}`,
      );
      admin.disconnect();
      // One write: AUTH (not yet remembered on this node, so hashed), then two commands.
      const raw = await RawClient.open(port(id));
      const replies = await raw.pipeline([
        ['AUTH', 'piped', 'piped-pw'],
        ['SET', `piped:${id}`, 'v'],
        ['ACL', 'WHOAMI'],
      ]);
      raw.close();
      assert.deepEqual(replies.map(text), ['OK', 'OK', 'piped'], `on ${id}`);
    }
  });
});
