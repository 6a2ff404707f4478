import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  decodeCommand,
  encodeCommand,
  validateCommand,
  type Command,
} from '../../src/store/commands.js';
import {
  duplicateRequestError,
  sessionIdleMsMax,
  sessionsMax,
  type Session,
} from '../../src/store/sessions.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import {
  asText,
  bytesCommand,
  dump,
  openStore,
  tempDirectory,
  TestLog,
  type TextCommand,
} from './helpers.js';

const at = 1_000_000;

function incr(session: Session, time = at): Command {
  return bytesCommand({ type: 'incrby', key: 'counter', by: 1, at: time, session });
}

function sessionIds(store: SqliteStore): unknown[] {
  return store
    .query('SELECT id, last_seq FROM _tandem_sessions ORDER BY id')
    .map((row) => `${String(row.id)}@${String(row.last_seq)}`);
}

test('a retried write with the same seq applies once and gets the remembered result', (t) => {
  // Goal: the same (session, seq) entered twice in the log increments once; the second
  // answer is the first one's, pointing at the entry that earned it.
  const store = openStore(t);
  const log = new TestLog();
  const first = store.apply([log.command(incr({ id: 'c1', seq: 1 }))]);
  assert.deepEqual(first, [{ ok: true, value: 1 }]);
  const retry = store.apply([log.command(incr({ id: 'c1', seq: 1 }))]);
  assert.deepEqual(retry, [{ ok: true, value: 1, duplicateOf: { index: 1, term: 1 } }]);
  assert.equal(asText(store).get('counter', at)?.value, '1');
  const next = store.apply([log.command(incr({ id: 'c1', seq: 2 }))]);
  assert.deepEqual(next, [{ ok: true, value: 2 }]);
  // An older seq is refused; a gap in seqs is fine (a client may have given up on one).
  const old = store.apply([log.command(incr({ id: 'c1', seq: 1 }))]);
  assert.deepEqual(old, [{ ok: false, error: duplicateRequestError }]);
  assert.deepEqual(store.apply([log.command(incr({ id: 'c1', seq: 9 }))]), [
    { ok: true, value: 3 },
  ]);
  // Another session is independent, and a command without a session is never deduplicated.
  assert.deepEqual(store.apply([log.command(incr({ id: 'c2', seq: 1 }))]), [
    { ok: true, value: 4 },
  ]);
  const plain: TextCommand = { type: 'incrby', key: 'counter', by: 1, at };
  assert.deepEqual(store.apply([log.command(plain), log.command(plain)]), [
    { ok: true, value: 5 },
    { ok: true, value: 6 },
  ]);
});

test('a failed SQL command is remembered as failed and a retried one does not insert twice', (t) => {
  // Goal: SQL results (successes and deterministic failures) are remembered per session,
  // and the retry of an INSERT leaves one row.
  const store = openStore(t);
  const log = new TestLog();
  const create: TextCommand = {
    type: 'sql',
    statements: [{ sql: 'CREATE TABLE emp (id INT PRIMARY KEY, name TEXT)' }],
  };
  store.apply([log.command(create)]);
  const insert: TextCommand = {
    type: 'sql',
    at,
    session: { id: 's', seq: 1 },
    statements: [{ sql: 'INSERT INTO emp VALUES (?, ?)', params: [1, 'a'] }],
  };
  const [first] = store.apply([log.command(insert)]);
  const [retry] = store.apply([log.command(insert)]);
  assert.deepEqual(first, { ok: true, value: [{ changes: 1, lastInsertRowid: 1 }] });
  assert.deepEqual(retry, { ...first, duplicateOf: { index: 2, term: 1 } });
  assert.deepEqual(store.query('SELECT count(*) AS n FROM emp'), [{ n: 1 }]);
  const duplicate: TextCommand = { ...insert, session: { id: 's', seq: 2 } };
  const [failed] = store.apply([log.command(duplicate)]);
  assert.equal(failed?.ok, false);
  const [failedAgain] = store.apply([log.command(duplicate)]);
  assert.deepEqual(failedAgain, { ...failed, duplicateOf: { index: 4, term: 1 } });
});

test('sessions expire by the commands time and are bounded, evicting the least recent', (t) => {
  // Goal: a session idle past sessionIdleMsMax (by `at`) is forgotten, so its old seq
  // applies again; past sessionsMax the oldest session is evicted, deterministically.
  const store = openStore(t);
  const log = new TestLog();
  store.apply([log.command(incr({ id: 'old', seq: 5 }, at))]);
  store.apply([log.command(incr({ id: 'young', seq: 1 }, at + sessionIdleMsMax))]);
  assert.deepEqual(sessionIds(store), ['old@5', 'young@1']);
  store.apply([log.command(incr({ id: 'other', seq: 1 }, at + sessionIdleMsMax + 1))]);
  assert.deepEqual(sessionIds(store), ['other@1', 'young@1']);
  // Forgotten: seq 5 applies again (the documented price of a bounded table).
  const [again] = store.apply([
    log.command(incr({ id: 'old', seq: 5 }, at + sessionIdleMsMax + 2)),
  ]);
  assert.deepEqual(again, { ok: true, value: 4 });

  const fill = [];
  for (let i = 0; i < sessionsMax; i++) {
    fill.push(
      log.command(
        incr({ id: `f${String(i).padStart(5, '0')}`, seq: 1 }, at + sessionIdleMsMax + 3 + i),
      ),
    );
  }
  store.apply(fill);
  const ids = sessionIds(store);
  assert.equal(ids.length, sessionsMax);
  // The four oldest (young, other, old, then nothing else) made room for the newest.
  assert.ok(!ids.includes('young@1') && !ids.includes('other@1') && !ids.includes('old@5'));
  assert.ok(ids.includes('f00000@1') && ids.includes(`f0${sessionsMax - 1}@1`));
});

test('two replicas applying the same entries keep the same sessions and answers', (t) => {
  // Goal: determinism: the same log gives the same results and the same sessions table,
  // and the table rides a snapshot to a restored replica.
  const directory = tempDirectory(t);
  const a = SqliteStore.open(path.join(directory, 'a.db'));
  const b = SqliteStore.open(path.join(directory, 'b.db'));
  t.after(() => {
    a.close();
    b.close();
  });
  const log = new TestLog();
  const entries = [1, 1, 2, 1, 3, 3].map((seq, i) => log.command(incr({ id: 'x', seq }, at + i)));
  assert.deepEqual(a.apply(entries), b.apply(entries));
  assert.equal(dump(a), dump(b));
  assert.deepEqual(sessionIds(a), sessionIds(b));
  assert.deepEqual(
    a.query('SELECT * FROM _tandem_sessions'),
    b.query('SELECT * FROM _tandem_sessions'),
  );
});

test('the codec validates sessions and requires a time with one', () => {
  // Goal: malformed sessions are refused before they enter the log, and a valid one
  // survives encoding.
  const ok = incr({ id: 'client-1.lane:0', seq: 3 });
  validateCommand(ok);
  assert.deepEqual(decodeCommand(encodeCommand(ok)), ok);
  for (const session of [
    { id: '', seq: 1 },
    { id: 'a b', seq: 1 },
    { id: 'x'.repeat(129), seq: 1 },
    { id: 'a', seq: 0 },
    { id: 'a', seq: 1.5 },
    { id: 'a', seq: 1, extra: true },
  ]) {
    assert.throws(() => validateCommand(incr(session as Session)), /session must be/);
  }
  const sqlWithoutAt = {
    type: 'sql',
    statements: [{ sql: 'SELECT 1' }],
    session: { id: 'a', seq: 1 },
  } as Command;
  assert.throws(() => validateCommand(sqlWithoutAt), /with a session must carry at/);
  assert.throws(
    () => validateCommand({ type: 'expire-sweep', at, session: { id: 'a', seq: 1 } } as never),
    /unknown field "session"/,
  );
});
