/**
 * COMMAND, COMMAND COUNT, LIST, INFO, DOCS and GETKEYS, answered from the table the
 * server dispatches with (arity, key positions, subcommands: spec.ts) and from Redis 7.0's
 * flags and documentation of each command (command-docs.ts), in Redis 7.0's shapes and
 * with its error texts.
 */
import { assert } from '../../core/assert.js';
import { commandDocs, type CommandArgument, type CommandDoc } from './command-docs.js';
import type { Handler } from './keys.js';
import { error, map, simple, type Reply } from './reply.js';
import { arityFits, commandKeys, wrongArity, type CommandSpec, type KeySpec } from './spec.js';

/** The flags and documentation of `name`: every command of the table has them. */
function docOf(name: string): CommandDoc {
  const doc = commandDocs[name];
  assert(doc !== undefined, `command ${name} has no entry in command-docs.ts`);
  return doc;
}

/**
 * Redis's legacy key range (first, last, step): 0, 0, 0 for keys a count argument gives
 * (SINTERCARD, LMPOP), which Redis reports as movable.
 */
function keyRange(keys: KeySpec | undefined): [number, number, number] {
  if (keys === undefined || keys.counted === true) return [0, 0, 0];
  return [keys.first, keys.last, keys.step];
}

/** One COMMAND INFO entry: [name, arity, flags, first, last, step, acl, tips, keys, subs]. */
function info(name: string, arity: number, range: readonly number[], subs: Reply[]): Reply {
  const flags = docOf(name).flags.map((flag) => simple(flag));
  return [name, arity, flags, range[0], range[1], range[2], [], [], [], subs];
}

/** COMMAND INFO of `name`, its subcommands with their own flags and the command's keys. */
function commandInfo(name: string, spec: CommandSpec): Reply {
  if (spec.subcommands === undefined) return info(name, spec.arity, keyRange(spec.keys), []);
  const subs = Object.entries(spec.subcommands).map(([sub, subSpec]) =>
    info(`${name}|${sub}`, subSpec.arity, keyRange(spec.keys), []),
  );
  return info(name, spec.arity, [0, 0, 0], subs);
}

/** One argument as COMMAND DOCS gives it: name, type, token, flags (a set), arguments. */
function argumentDoc(argument: CommandArgument): Reply {
  const fields: [Reply, Reply][] = [
    ['name', argument.name],
    ['type', argument.type],
  ];
  if (argument.token !== undefined) fields.push(['token', argument.token]);
  if (argument.flags.length > 0) {
    fields.push(['flags', { kind: 'set', items: argument.flags.map((flag) => simple(flag)) }]);
  }
  if (argument.arguments !== undefined) {
    fields.push(['arguments', argument.arguments.map(argumentDoc)]);
  }
  return map(fields);
}

/**
 * COMMAND DOCS of `name`: summary, since, group, complexity, arguments, and its
 * subcommands'.
 */
function commandDoc(name: string, spec: CommandSpec): Reply {
  const doc = docOf(name);
  const fields: [Reply, Reply][] = [
    ['summary', doc.summary],
    ['since', doc.since],
    ['group', doc.group],
  ];
  if (doc.complexity !== '') fields.push(['complexity', doc.complexity]);
  if (doc.arguments.length > 0) fields.push(['arguments', doc.arguments.map(argumentDoc)]);
  if (spec.subcommands !== undefined) {
    const subs = Object.keys(spec.subcommands).map((sub): [Reply, Reply] => {
      const full = `${name}|${sub}`;
      return [full, commandDoc(full, { ...spec, subcommands: undefined })];
    });
    fields.push(['subcommands', map(subs)]);
  }
  return map(fields);
}

/**
 * COMMAND GETKEYS command args...: the keys `raw` names, by the dispatch table's key
 * positions, with Redis 7.0's errors in its order (unknown command, a command without
 * keys, wrong arity, no key found).
 */
function getKeys(table: Readonly<Record<string, CommandSpec>>, raw: readonly Buffer[]): Reply {
  const name = raw[0].toString('utf8').toLowerCase();
  const spec = Object.hasOwn(table, name) ? table[name] : undefined;
  if (spec === undefined) return error('ERR Invalid command specified');
  let arity = spec.arity;
  if (spec.subcommands !== undefined) {
    const sub = raw[1]?.toString('utf8').toLowerCase() ?? '';
    const subSpec = Object.hasOwn(spec.subcommands, sub) ? spec.subcommands[sub] : undefined;
    if (subSpec === undefined) return error('ERR Invalid command specified');
    arity = subSpec.arity;
  }
  if (spec.keys === undefined && spec.keysOf === undefined) {
    return error('ERR The command has no key arguments');
  }
  if (!arityFits(arity, raw.length)) {
    return error('ERR Invalid number of arguments specified for command');
  }
  const keys = spec.keysOf?.(raw) ?? commandKeys(spec.keys, raw);
  return keys.length === 0 ? error('ERR Invalid arguments specified for command') : keys;
}

/** Builds COMMAND from the table the server dispatches with (which it joins). */
export function commandCommand(table: Readonly<Record<string, CommandSpec>>): CommandSpec {
  const names = (asked: readonly string[]): string[] =>
    asked.length === 0 ? Object.keys(table) : asked.map((name) => name.toLowerCase());
  const infos = (asked: readonly string[]): Reply[] =>
    names(asked).map((name) =>
      Object.hasOwn(table, name) ? commandInfo(name, table[name]) : null,
    );
  const run: Handler = (_context, _session, args) => {
    const sub = args.text[1]?.toUpperCase();
    if (sub === undefined) return infos([]);
    if (sub === 'COUNT' && args.text.length === 2) return Object.keys(table).length;
    if (sub === 'LIST' && args.text.length === 2) return Object.keys(table);
    if (sub === 'INFO') return infos(args.text.slice(2));
    if (sub === 'DOCS') {
      const known = names(args.text.slice(2)).filter((name) => Object.hasOwn(table, name));
      return map(known.map((name) => [name, commandDoc(name, table[name])]));
    }
    if (sub === 'GETKEYS') {
      if (args.raw.length < 4) return wrongArity('command|getkeys');
      return getKeys(table, args.raw.slice(2));
    }
    if (sub === 'COUNT' || sub === 'LIST') return wrongArity(`command|${sub.toLowerCase()}`);
    return error(`ERR unknown subcommand '${args.text[1]}'. Try COMMAND HELP.`);
  };
  return { arity: -1, write: false, role: 'read', run };
}
