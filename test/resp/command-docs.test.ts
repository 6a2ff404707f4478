// Every command and subcommand the server dispatches has Redis's flags and documentation
// in command-docs.ts, and every row there names one: a command added without its row, or
// a row left behind by a command removed, fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandDocs } from '../../src/api/resp/command-docs.js';
import { buildCommandTable } from '../../src/api/resp/server.js';

test('the command docs table and the dispatch table name the same commands', () => {
  // Goal: COMMAND INFO and DOCS can answer for every command, and say nothing of others.
  const table = buildCommandTable();
  const dispatched: string[] = [];
  for (const [name, spec] of Object.entries(table)) {
    dispatched.push(name);
    for (const sub of Object.keys(spec.subcommands ?? {})) dispatched.push(`${name}|${sub}`);
  }
  assert.deepEqual(Object.keys(commandDocs).sort(), dispatched.sort());
});

test('each row has flags Redis knows, a group, a version and a summary', () => {
  // Goal: a row with a field out of place (a flag in the group column, a lost separator)
  // is caught before a client reads it.
  const flags = new Set(
    `write readonly denyoom module admin pubsub noscript blocking loading stale skip_monitor
     skip_slowlog asking fast no_auth may_replicate sentinel only_sentinel no_mandatory_keys
     no_multi movablekeys allow_busy`.split(/\s+/),
  );
  const groups = new Set(
    `bitmap cluster connection generic hash list pubsub server set sorted-set string
     transactions`.split(/\s+/),
  );
  for (const [name, doc] of Object.entries(commandDocs)) {
    for (const flag of doc.flags) assert.ok(flags.has(flag), `${name}: flag ${flag}`);
    assert.ok(groups.has(doc.group), `${name}: group ${doc.group}`);
    assert.match(doc.since, /^\d+\.\d+\.\d+$/, `${name}: since ${doc.since}`);
    assert.ok(doc.summary.length > 0, `${name} has a summary`);
  }
});
