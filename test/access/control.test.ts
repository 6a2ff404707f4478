// Authentication and authorization on one node: AccessControl over the replicated users,
// the bootstrap users of a --users file, and password hashing.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { delayAfter, failureDelayMsMax, failuresBeforeDelay } from '../../src/access/audit.js';
import { AccessControl } from '../../src/access/control.js';
import { hashPassword, newToken, sha256Hex, verifyPassword } from '../../src/access/passwords.js';
import { readUsersFile, requirePassUser, UsersFileError } from '../../src/access/users-file.js';
import {
  applyAclChange,
  emptyAccessState,
  type AccessState,
  type AclChange,
} from '../../src/store/access-state.js';
import { tempDirectory } from '../store/helpers.js';

/** A replicated state made by applying `changes` in order. */
function stateOf(...changes: AclChange[]): AccessState {
  let state = emptyAccessState;
  for (const [i, change] of changes.entries()) {
    const outcome = applyAclChange(state, { type: 'acl', at: 1000 + i, change });
    assert.ok(outcome.ok, JSON.stringify(outcome));
    state = outcome.state;
  }
  return state;
}

test('passwords are stored as salted scrypt hashes; Redis SHA-256 hashes work too', async () => {
  const one = await hashPassword('s3cret');
  const two = await hashPassword('s3cret');
  assert.match(one, /^scrypt\$16384\$8\$1\$/);
  assert.notEqual(one, two, 'a new salt each time');
  assert.equal(await verifyPassword(one, 's3cret'), true);
  assert.equal(await verifyPassword(one, 's3cret '), false);
  assert.equal(await verifyPassword(`sha256$${sha256Hex('pw')}`, 'pw'), true);
  assert.equal(await verifyPassword(`sha256$${sha256Hex('pw')}`, 'PW'), false);
  assert.equal(
    await verifyPassword('scrypt$3$8$1$AAAA$AAAA', 'x'),
    false,
    'N must be a power of 2',
  );
});

test('without users a node is open: default, no password, every role', () => {
  const access = new AccessControl({ state: () => emptyAccessState, bootstrap: [] });
  assert.equal(access.configured(), false);
  assert.equal(access.initialUser(), 'default');
  assert.equal(access.check('default', 'admin'), null);
});

test('bootstrap users are enforced until the log holds users, then the log wins', async () => {
  // Goal: a --users node is guarded from its first moment; once replicated, every node
  // enforces the log's set, not its own file.
  let replicated = emptyAccessState;
  const bootstrap = [
    await requirePassUser('pw'),
    { name: 'ro', rules: ['on', 'nopass', '+@read', '~*'] },
  ];
  const access = new AccessControl({ state: () => replicated, bootstrap });
  assert.equal(access.configured(), true);
  assert.equal(access.initialUser(), null, 'default has a password: connections must AUTH');
  assert.equal((await access.authenticate('default', 'pw'))?.name, 'default');
  assert.equal(await access.authenticate('default', 'wrong'), null);
  assert.deepEqual(access.check('ro', 'write'), { user: 'ro', role: 'write' });
  replicated = stateOf(access.bootstrapChange(), { op: 'del-users', names: ['ro'] });
  assert.deepEqual(access.check('ro', 'read'), { user: 'ro', role: 'read' }, 'deleted in the log');
  assert.equal(access.check('default', 'admin'), null);
});

test('roles include the weaker ones, and key patterns limit the keys', () => {
  const state = stateOf(
    { op: 'set-user', name: 'default', rules: ['off'] },
    { op: 'set-user', name: 'app', rules: ['on', 'nopass', '+@write', '~app:*'] },
    { op: 'set-user', name: 'off', rules: ['off', 'nopass', '+@all', '~*'] },
  );
  const access = new AccessControl({ state: () => state, bootstrap: [] });
  assert.equal(access.initialUser(), null);
  assert.equal(access.check('app', 'read', [Buffer.from('app:1')]), null);
  assert.equal(access.check('app', 'write', [Buffer.from('app:1')]), null);
  assert.deepEqual(access.check('app', 'write', [Buffer.from('app:1'), Buffer.from('x')]), {
    user: 'app',
    role: null,
  });
  assert.deepEqual(access.check('app', 'admin'), { user: 'app', role: 'admin' });
  assert.deepEqual(access.check('off', 'read'), { user: 'off', role: 'read' }, 'disabled');
  assert.deepEqual(access.check('ghost', 'read'), { user: 'ghost', role: 'read' });
});

test('tokens authenticate until they expire or are revoked', () => {
  const { id, token, hash } = newToken();
  let state = stateOf(
    { op: 'set-user', name: 'bob', rules: ['on', 'nopass', '+@read'] },
    { op: 'add-token', token: { id, hash, user: 'bob', createdAt: 1000, expiresAt: 5000 } },
  );
  const access = new AccessControl({ state: () => state, bootstrap: [] });
  assert.equal(access.authenticateToken(token, 4999)?.user.name, 'bob');
  assert.equal(access.authenticateToken(token, 5000), null, 'expired');
  // One character of the secret changed (to another one: a secret may end in 'A').
  const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  assert.equal(access.authenticateToken(wrong, 1000), null, 'wrong secret');
  assert.equal(access.authenticateToken('tdm_nonsense', 1000), null);
  const revoked = applyAclChange(state, {
    type: 'acl',
    at: 2000,
    change: { op: 'revoke-token', id },
  });
  assert.ok(revoked.ok);
  state = revoked.state;
  assert.equal(access.authenticateToken(token, 2001), null, 'revoked');
});

test('ACL SETUSER passwords are hashed before they are replicated', async () => {
  const access = new AccessControl({ state: () => emptyAccessState, bootstrap: [] });
  const rules = await access.prepareRules('u', ['on', '>hunter2', '~*']);
  assert.equal(rules.length, 3);
  assert.match(rules[1] as string, /^#scrypt\$/);
  assert.ok(!rules.join(' ').includes('hunter2'));
  const state = stateOf({ op: 'set-user', name: 'u', rules });
  const again = new AccessControl({ state: () => state, bootstrap: [] });
  assert.equal((await again.authenticate('u', 'hunter2'))?.name, 'u');
  const removal = await again.prepareRules('u', ['<hunter2']);
  const removed = applyAclChange(state, {
    type: 'acl',
    at: 5000,
    change: { op: 'set-user', name: 'u', rules: removal },
  });
  assert.ok(removed.ok && removed.state.users.get('u')?.passwords.length === 0);
});

test('a users file in JSON or YAML becomes rules; a bad one says where and why', async (t) => {
  const dir = tempDirectory(t);
  const json = join(dir, 'users.json');
  writeFileSync(
    json,
    JSON.stringify({
      users: [
        { name: 'admin', password: 'a', roles: ['admin'] },
        { name: 'app', passwordHash: sha256Hex('b'), roles: ['write'], keys: ['app:*'] },
      ],
    }),
  );
  const users = await readUsersFile(json);
  const access = new AccessControl({ state: () => emptyAccessState, bootstrap: users });
  assert.equal((await access.authenticate('admin', 'a'))?.name, 'admin');
  assert.equal((await access.authenticate('app', 'b'))?.keys.join(), 'app:*');
  assert.equal(access.initialUser(), null, 'no default user in the file');
  const yaml = join(dir, 'users.yaml');
  writeFileSync(yaml, 'users:\n  - name: r\n    nopass: true\n    roles: [read]\n');
  assert.equal((await readUsersFile(yaml))[0]?.name, 'r');
  const bad = async (document: unknown, pattern: RegExp) => {
    writeFileSync(json, JSON.stringify(document));
    await assert.rejects(
      readUsersFile(json),
      (error: unknown) => error instanceof UsersFileError && pattern.test((error as Error).message),
    );
  };
  await bad({}, /expected \{ "users"/);
  await bad(
    { users: [{ name: 'x', roles: ['read'] }] },
    /users\[0\] \(x\): give exactly one of password/,
  );
  await bad({ users: [{ name: 'x', password: 'p', roles: ['root'] }] }, /unknown role "root"/);
  await bad(
    { users: [{ name: 'x', password: 'p', roles: ['read'], colour: 1 }] },
    /unknown field "colour"/,
  );
  await bad(
    {
      users: [
        { name: 'x', nopass: true, roles: ['read'] },
        { name: 'x', nopass: true, roles: ['read'] },
      ],
    },
    /listed twice/,
  );
  await assert.rejects(readUsersFile(join(dir, 'missing.json')), /cannot be read/);
});

test('an address that keeps failing is slowed, up to a bound', () => {
  assert.equal(delayAfter(failuresBeforeDelay), 0);
  assert.ok(delayAfter(failuresBeforeDelay + 1) > 0);
  assert.ok(delayAfter(failuresBeforeDelay + 3) > delayAfter(failuresBeforeDelay + 2));
  assert.equal(delayAfter(1000), failureDelayMsMax);
});
