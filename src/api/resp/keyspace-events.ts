/**
 * Keyspace notifications (Redis 7.0's `notify-keyspace-events`): when the setting names
 * a class of events and a channel kind, every key-value command this node applies
 * publishes its events to this node's subscribers, on `__keyspace@<db>__:<key>` (the
 * message is the event) and `__keyevent@<db>__:<event>` (the message is the key), where
 * `<db>` is the database of the key (its client form is what is published). Each node delivers
 * what it applies, whoever proposed it, so a subscriber hears the events of every
 * client's writes on whichever node it subscribed; the setting is each node's own, as
 * each Redis server's is. The events themselves, and their order, are the store's (see
 * `KeyEvent` and kv-commands.ts), listed only while some class is on.
 */
import { clientKey, databaseOf } from '../../store/databases.js';
import type { ApplyResult, KeyEventClass } from '../../store/index.js';
import { error, type ErrorReply } from './reply.js';

/** The classes and kinds, by Redis's letters, as bits in Redis's order. */
const classBits: Readonly<Record<string, number>> = {
  K: 1 << 0,
  E: 1 << 1,
  g: 1 << 2,
  $: 1 << 3,
  l: 1 << 4,
  s: 1 << 5,
  h: 1 << 6,
  z: 1 << 7,
  x: 1 << 8,
  e: 1 << 9,
  t: 1 << 10,
  m: 1 << 11,
  d: 1 << 12,
  n: 1 << 13,
};
const bit = (letter: string): number => classBits[letter] as number;
/** `A`: every class but key misses and new keys, as in Redis 7.0. */
const allClasses = ['g', '$', 'l', 's', 'h', 'z', 'x', 'e', 't', 'd'].reduce(
  (flags, letter) => flags | bit(letter),
  0,
);

/** This node's setting, as flags; changed by CONFIG SET notify-keyspace-events. */
export interface KeyspaceEventSettings {
  flags: number;
}

/**
 * The flags of a setting's text, or Redis's refusal of it (CONFIG SET's whole error
 * reply) for a character that names no class.
 */
export function parseKeyspaceEvents(text: string): number | ErrorReply {
  let flags = 0;
  for (const letter of text) {
    if (letter === 'A') flags |= allClasses;
    else if (Object.hasOwn(classBits, letter)) flags |= bit(letter);
    else {
      return error(
        "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
      );
    }
  }
  return flags;
}

/** The setting's text as CONFIG GET gives it back: Redis's letters in Redis's order. */
export function formatKeyspaceEvents(flags: number): string {
  let text = '';
  if ((flags & allClasses) === allClasses) text += 'A';
  else {
    // Redis 7.0 names new-key events only without A (so `An` reads back as `A`).
    for (const letter of ['g', '$', 'l', 's', 'h', 'z', 'x', 'e', 't', 'd', 'n']) {
      if ((flags & bit(letter)) !== 0) text += letter;
    }
  }
  for (const letter of ['K', 'E', 'm']) if ((flags & bit(letter)) !== 0) text += letter;
  return text;
}

/** Whether the store must list events for `flags`: a channel kind and a class it has. */
export function keyEventsWanted(flags: number): boolean {
  const kinds = bit('K') | bit('E');
  const stored = ['g', '$', 'l', 's', 'h', 'z', 'x'].reduce((all, letter) => all | bit(letter), 0);
  return (flags & kinds) !== 0 && (flags & stored) !== 0;
}

/**
 * The (channel, message) pairs to publish for one applied entry's result under `flags`:
 * for each event of a class that is on, the keyspace message, then the keyevent one.
 */
export function keyspaceMessages(result: ApplyResult, flags: number): [Buffer, Buffer][] {
  if (result === null || !result.ok || result.events === undefined) return [];
  const messages: [Buffer, Buffer][] = [];
  for (const { kind, event, key: stored } of result.events) {
    if ((flags & bit(kind satisfies KeyEventClass)) === 0) continue;
    const name = Buffer.from(event, 'latin1');
    const db = databaseOf(stored) ?? 0;
    const key = clientKey(stored);
    if ((flags & bit('K')) !== 0) {
      messages.push([Buffer.concat([Buffer.from(`__keyspace@${db}__:`, 'latin1'), key]), name]);
    }
    if ((flags & bit('E')) !== 0) {
      messages.push([Buffer.from(`__keyevent@${db}__:${event}`, 'latin1'), key]);
    }
  }
  return messages;
}
