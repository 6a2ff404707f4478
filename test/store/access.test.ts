// Users, roles and tokens as replicated state: the acl command's rules, as the SQLite
// store applies, keeps and snapshots them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyAclChange,
  applyRules,
  emptyAccessState,
  encodeAccessState,
  tokensMax,
  usersMax,
  type AclChange,
  type AclCommand,
  type UserRecord,
} from '../../src/store/access-state.js';
import { validateCommand } from '../../src/store/commands.js';
import { collect, openStore, replay, TestLog } from './helpers.js';

const sha = 'a'.repeat(64);
const blank: UserRecord = {
  name: 'u',
  enabled: false,
  nopass: false,
  passwords: [],
  roles: [],
  keys: [],
};

function acl(change: AclChange, at = 1): AclCommand {
  return { type: 'acl', at, change };
}

test('ACL SETUSER rules build a user as Redis does, with roles for command categories', () => {
  // Goal: each rule does what its Redis namesake does, and a role includes the weaker ones.
  const user = applyRules(blank, ['on', `#${sha}`, '~app:*', '~cache:*', '+@write']);
  assert.deepEqual(user, {
    ...blank,
    enabled: true,
    passwords: [`sha256$${sha}`],
    keys: ['app:*', 'cache:*'],
    roles: ['read', 'write'],
  });
  assert.deepEqual((applyRules(user as UserRecord, ['-@read']) as UserRecord).roles, []);
  assert.deepEqual((applyRules(user as UserRecord, ['-@write']) as UserRecord).roles, ['read']);
  assert.deepEqual((applyRules(blank, ['+@all']) as UserRecord).roles, ['read', 'write', 'admin']);
  assert.deepEqual(applyRules(user as UserRecord, ['nopass']), {
    ...(user as UserRecord),
    nopass: true,
    passwords: [],
  });
  assert.deepEqual((applyRules(user as UserRecord, [`!${sha}`]) as UserRecord).passwords, []);
  assert.deepEqual(applyRules(user as UserRecord, ['reset']), { ...blank });
  assert.deepEqual((applyRules(user as UserRecord, ['allkeys']) as UserRecord).keys, ['*']);
});

test('a bad rule is refused with Redis text and changes nothing', () => {
  // Goal: no rule Tandem cannot honour slips through as something else.
  assert.match(applyRules(blank, ['+get']) as string, /^ERR Error in ACL SETUSER modifier '\+get'/);
  assert.match(applyRules(blank, ['#nothex']) as string, /password hash must be exactly 64/);
  assert.match(applyRules(blank, ['>plain']) as string, /must be hashed/);
  assert.match(applyRules(blank, [`!${sha}`]) as string, /does not exist/);
  const state = applyAclChange(emptyAccessState, acl({ op: 'set-user', name: 'x', rules: ['on'] }));
  assert.ok(state.ok);
  const refused = applyAclChange(
    state.state,
    acl({ op: 'set-user', name: 'x', rules: ['off', '+nope'] }),
  );
  assert.equal(refused.ok, false);
});

test('bootstrap applies only to a state that holds no change yet', () => {
  // Goal: a second node's --users file never overwrites the cluster's users.
  const first = applyAclChange(
    emptyAccessState,
    acl({ op: 'bootstrap', users: [{ name: 'admin', rules: ['on', `#${sha}`, '+@all'] }] }),
  );
  assert.ok(first.ok && first.value === 1);
  const second = applyAclChange(
    first.state,
    acl({ op: 'bootstrap', users: [{ name: 'other', rules: ['on', 'nopass', '+@all'] }] }),
  );
  assert.ok(second.ok && second.value === 0);
  assert.deepEqual([...second.state.users.keys()], ['admin']);
});

test('tokens expire by the log clock and go with their user; default cannot be removed', () => {
  let state = emptyAccessState;
  const step = (change: AclChange, at: number) => {
    const outcome = applyAclChange(state, acl(change, at));
    if (outcome.ok) state = outcome.state;
    return outcome;
  };
  step({ op: 'set-user', name: 'default', rules: ['on', 'nopass', '+@all'] }, 1);
  step({ op: 'set-user', name: 'bob', rules: ['on', 'nopass', '+@read'] }, 1);
  const token = (id: string, expiresAt: number) => ({
    op: 'add-token' as const,
    token: { id, hash: sha, user: 'bob', createdAt: 1, expiresAt },
  });
  assert.ok(step(token('0000000000000001', 100), 2).ok);
  assert.ok(step(token('0000000000000002', 1000), 3).ok);
  assert.equal(step(token('0000000000000003', 5), 10).ok, false, 'expires before it is made');
  // At 200 the first token is past its expiry: the next change purges it.
  step({ op: 'revoke-token', id: '00000000000000ff' }, 200);
  assert.deepEqual([...state.tokens.keys()], ['0000000000000002']);
  assert.deepEqual(step({ op: 'del-users', names: ['default'] }, 201), {
    ok: false,
    error: "ERR The 'default' user cannot be removed",
  });
  assert.deepEqual(step({ op: 'del-users', names: ['bob', 'bob', 'nobody'] }, 202).ok, true);
  assert.equal(state.tokens.size, 0, "a deleted user's tokens go with it");
  assert.ok(usersMax > 0 && tokensMax > 0);
});

test('the SQLite store applies acl commands, all or nothing, and snapshots carry them', async (t) => {
  // Goal: users are replicated state: applied in the batch, rolled back with it, in images.
  const store = openStore(t);
  const log = new TestLog();
  const results = store.apply([
    log.command(
      acl({ op: 'set-user', name: 'alice', rules: ['on', `#${sha}`, '+@write'] }) as never,
    ),
    log.command(acl({ op: 'set-user', name: 'bob', rules: ['+get'] }) as never),
  ]);
  assert.deepEqual(results[0], { ok: true, value: 'OK' });
  assert.equal(results[1]?.ok, false);
  assert.deepEqual([...store.accessState().users.keys()], ['alice']);
  // A batch that fails (an entry that does not decode) leaves the users as they were.
  const before = encodeAccessState(store.accessState());
  assert.throws(() =>
    store.apply([
      log.command(acl({ op: 'del-users', names: ['alice'] }) as never),
      log.raw(Uint8Array.of(0xc1)),
    ]),
  );
  assert.deepEqual(encodeAccessState(store.accessState()), before);
  log.index -= 2;
  const snapshot = await store.snapshot();
  const copy = openStore(t, 'copy.db');
  await copy.restore(
    { index: snapshot.index, term: snapshot.term, checksum: snapshot.checksum },
    replay(await collect(snapshot.chunks())),
  );
  assert.deepEqual(encodeAccessState(copy.accessState()), before);
  assert.equal(copy.accessState().users.get('alice')?.roles.join(), 'read,write');
});

test('the leader refuses a malformed acl command before it enters the log', () => {
  assert.throws(
    () => validateCommand(acl({ op: 'set-user', name: 'has space', rules: [] })),
    /needs a user name/,
  );
  assert.throws(() => validateCommand(acl({ op: 'explode' } as never)), /unknown acl change/);
  assert.throws(
    () => validateCommand(acl({ op: 'revoke-token', id: 'short' })),
    /needs a token id/,
  );
  validateCommand(acl({ op: 'set-user', name: 'ok', rules: ['on'] }));
});
