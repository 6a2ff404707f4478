/**
 * Pub/sub: Redis 7.0's SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and
 * PUBSUB CHANNELS / NUMSUB / NUMPAT over the whole cluster.
 *
 * Subscriptions are each node's own, in memory, as in Redis. PUBLISH is a replicated
 * command that changes no state (a follower forwards it to the leader like any write):
 * every node, once it applies the entry, delivers the message to its own subscribers
 * (`PubSubHub.onApplied`, fed by the node's applied-entries hook). So a message published
 * on any node reaches every subscriber of the cluster at most once, and all of them in log
 * order. A node never delivers the entries it replays at start (see `NodeHandle.onApplied`).
 * PUBLISH answers the number of subscribers that received it on the node that applied it
 * for the client: the leader, as a Redis replica's propagated PUBLISH counts the master's.
 *
 * In RESP2 a subscribed connection may run only the subscribe family, PING (answered
 * `["pong", arg]`), QUIT and RESET; in RESP3 messages are push frames and anything goes.
 */
import type { Entry } from '../../core/types.js';
import { decodeCommand, type PublishCommand } from '../../store/commands.js';
import type { ApplyResult } from '../../store/contract.js';
import { Glob } from '../../store/glob.js';
import { keyEventsWanted, keyspaceMessages } from './keyspace-events.js';
import type { Args, Handler } from './keys.js';
import { error, type PushReply, type Reply } from './reply.js';
import { proposeFor, type ServerContext, type Session } from './session.js';
import { wrongArity, type CommandSpec, type SubcommandSpec } from './spec.js';

/**
 * Channels and patterns one connection may be subscribed to at once. Redis has no such
 * limit; each subscription costs memory on the node, so Tandem bounds it, generously.
 */
export const subscriptionsPerConnectionMax = 100_000;

/**
 * Bytes of replies and messages a subscribed connection may leave unread before it is
 * disconnected: Redis's default hard limit for pub/sub clients
 * (`client-output-buffer-limit pubsub 32mb 8mb 60`; its soft limit is not kept).
 */
export const pubsubOutputBufferBytesMax = 32 * 1024 * 1024;

/** Publish counts kept for this node's PUBLISH replies, oldest dropped first. */
const deliveredCountsMax = 65_536;

/** The MessagePack bytes of the string `publish`: only an entry holding them may be one. */
const publishTag = Buffer.from([0xa7, ...Buffer.from('publish', 'latin1')]);

/** One connection as the hub sees it: what it is subscribed to and how it is sent a push. */
export interface Subscriber {
  readonly session: Session;
  /** Its channels, by their bytes as latin1 text, in subscription order. */
  readonly channels: Map<string, Buffer>;
  readonly patterns: Map<string, Buffer>;
  /** Writes one push (or array, in RESP2) to the connection, after its earlier replies. */
  readonly push: (reply: PushReply) => void;
}

interface PatternSubscription {
  readonly pattern: Buffer;
  readonly glob: Glob;
  readonly subscribers: Set<Subscriber>;
}

/** A channel or pattern's bytes as a map key: latin1 maps bytes one to one onto text. */
function nameKey(bytes: Buffer): string {
  return bytes.toString('latin1');
}

/** The subscriptions of one RESP server's connections, and the delivery of messages. */
export class PubSubHub {
  readonly #channels = new Map<string, Set<Subscriber>>();
  readonly #channelBytes = new Map<string, Buffer>();
  readonly #patterns = new Map<string, PatternSubscription>();
  readonly #subscribers = new Map<number, Subscriber>();
  /** How many subscribers each PUBLISH this node applied reached, by log index. */
  readonly #delivered = new Map<number, number>();

  /** Registers a connection's session; `push` writes to it. */
  attach(session: Session, push: (reply: PushReply) => void): void {
    this.#subscribers.set(session.id, { session, channels: new Map(), patterns: new Map(), push });
  }

  /** Forgets a connection and everything it subscribed to (it closed, or RESET). */
  detach(session: Session): void {
    const subscriber = this.#subscribers.get(session.id);
    if (subscriber === undefined) return;
    this.#dropAll(subscriber);
    this.#subscribers.delete(session.id);
  }

  /** Unsubscribes a connection from everything without a reply (RESET). */
  reset(session: Session): void {
    const subscriber = this.#subscribers.get(session.id);
    if (subscriber !== undefined) this.#dropAll(subscriber);
  }

  /** The connection's channels and patterns together, as Redis counts them. */
  count(session: Session): number {
    const subscriber = this.#subscribers.get(session.id);
    return subscriber === undefined ? 0 : subscriber.channels.size + subscriber.patterns.size;
  }

  subscriber(session: Session): Subscriber | undefined {
    return this.#subscribers.get(session.id);
  }

  subscribe(subscriber: Subscriber, channel: Buffer): void {
    const key = nameKey(channel);
    if (subscriber.channels.has(key)) return;
    subscriber.channels.set(key, channel);
    let set = this.#channels.get(key);
    if (set === undefined) {
      set = new Set();
      this.#channels.set(key, set);
      this.#channelBytes.set(key, channel);
    }
    set.add(subscriber);
  }

  /** Whether it was subscribed. */
  unsubscribe(subscriber: Subscriber, channel: Buffer): boolean {
    const key = nameKey(channel);
    if (!subscriber.channels.delete(key)) return false;
    const set = this.#channels.get(key);
    set?.delete(subscriber);
    if (set?.size === 0) {
      this.#channels.delete(key);
      this.#channelBytes.delete(key);
    }
    return true;
  }

  psubscribe(subscriber: Subscriber, pattern: Buffer): void {
    const key = nameKey(pattern);
    if (subscriber.patterns.has(key)) return;
    subscriber.patterns.set(key, pattern);
    let entry = this.#patterns.get(key);
    if (entry === undefined) {
      entry = { pattern, glob: new Glob(pattern), subscribers: new Set() };
      this.#patterns.set(key, entry);
    }
    entry.subscribers.add(subscriber);
  }

  /** Whether it was subscribed. */
  punsubscribe(subscriber: Subscriber, pattern: Buffer): boolean {
    const key = nameKey(pattern);
    if (!subscriber.patterns.delete(key)) return false;
    const entry = this.#patterns.get(key);
    entry?.subscribers.delete(subscriber);
    if (entry?.subscribers.size === 0) this.#patterns.delete(key);
    return true;
  }

  /** The channels with at least one subscriber (matching `pattern` when given). */
  channels(pattern: Buffer | null): Buffer[] {
    const glob = pattern === null ? null : new Glob(pattern);
    const names: Buffer[] = [];
    for (const channel of this.#channelBytes.values()) {
      if (glob === null || glob.matches(channel)) names.push(channel);
    }
    return names;
  }

  /** The subscribers of `channel` (patterns not counted, as in Redis). */
  numsub(channel: Buffer): number {
    return this.#channels.get(nameKey(channel))?.size ?? 0;
  }

  /** How many distinct patterns are subscribed to. */
  numpat(): number {
    return this.#patterns.size;
  }

  /**
   * Delivers the PUBLISH entries among `entries` (just applied here, in log order) to this
   * node's subscribers, and the keyspace events in `results` (`results[i]` for
   * `entries[i]`) that `keyEventFlags` asks for (keyspace-events.ts), in log order.
   * Without a subscriber there is nothing to decode.
   */
  onApplied(
    entries: readonly Entry[],
    results: readonly ApplyResult[],
    keyEventFlags: number,
  ): void {
    if (this.#channels.size === 0 && this.#patterns.size === 0) return;
    const events = keyEventsWanted(keyEventFlags);
    for (const [i, entry] of entries.entries()) {
      if (events) {
        for (const [channel, message] of keyspaceMessages(results[i] ?? null, keyEventFlags)) {
          this.#deliver(channel, message);
        }
      }
      const data = entry.data;
      if (entry.kind !== 'command' || data === undefined) continue;
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (!bytes.includes(publishTag)) continue;
      const command = decodeCommand(bytes);
      if (command.type !== 'publish') continue;
      this.#record(
        entry.index,
        this.#deliver(Buffer.from(command.channel), Buffer.from(command.message)),
      );
    }
  }

  /** How many subscribers here the PUBLISH at `index` reached (0 when none, or unknown). */
  takeDelivered(index: number): number {
    const count = this.#delivered.get(index) ?? 0;
    this.#delivered.delete(index);
    return count;
  }

  /** Channel subscribers first, then pattern ones, as Redis sends them. */
  #deliver(channel: Buffer, message: Buffer): number {
    let count = 0;
    const subscribers = this.#channels.get(nameKey(channel));
    if (subscribers !== undefined) {
      const push: PushReply = { kind: 'push', items: ['message', channel, message] };
      for (const subscriber of subscribers) {
        subscriber.push(push);
        count++;
      }
    }
    for (const entry of this.#patterns.values()) {
      if (!entry.glob.matches(channel)) continue;
      const push: PushReply = {
        kind: 'push',
        items: ['pmessage', entry.pattern, channel, message],
      };
      for (const subscriber of entry.subscribers) {
        subscriber.push(push);
        count++;
      }
    }
    return count;
  }

  #record(index: number, count: number): void {
    if (count === 0) return;
    this.#delivered.set(index, count);
    if (this.#delivered.size > deliveredCountsMax) {
      this.#delivered.delete(this.#delivered.keys().next().value as number);
    }
  }

  #dropAll(subscriber: Subscriber): void {
    for (const channel of [...subscriber.channels.values()]) this.unsubscribe(subscriber, channel);
    for (const pattern of [...subscriber.patterns.values()]) {
      this.punsubscribe(subscriber, pattern);
    }
  }
}

function confirmation(kind: string, name: Buffer | null, count: number): PushReply {
  return { kind: 'push', items: [kind, name, count] };
}

/** Redis's refusal past `subscriptionsPerConnectionMax` (a limit Redis itself has not). */
function tooManySubscriptions(): Reply {
  return error(
    `ERR a connection may hold at most ${subscriptionsPerConnectionMax} channel and pattern subscriptions`,
  );
}

/** SUBSCRIBE or PSUBSCRIBE: one confirmation per name, with the connection's new count. */
function subscribing(kind: 'subscribe' | 'psubscribe'): Handler {
  return (context, session, args) => {
    const subscriber = context.pubsub.subscriber(session);
    if (subscriber === undefined) return error('ERR this connection cannot subscribe');
    const names = args.raw.slice(1);
    const held = kind === 'subscribe' ? subscriber.channels : subscriber.patterns;
    const added = new Set(names.map(nameKey).filter((key) => !held.has(key))).size;
    if (context.pubsub.count(session) + added > subscriptionsPerConnectionMax) {
      return tooManySubscriptions();
    }
    const frames: Reply[] = [];
    for (const name of names) {
      if (kind === 'subscribe') context.pubsub.subscribe(subscriber, name);
      else context.pubsub.psubscribe(subscriber, name);
      frames.push(confirmation(kind, name, context.pubsub.count(session)));
    }
    return { kind: 'frames', frames };
  };
}

/**
 * UNSUBSCRIBE or PUNSUBSCRIBE: one confirmation per name (without names, per name held);
 * with nothing to leave, one confirmation with a null name and the count 0, as Redis.
 */
function unsubscribing(kind: 'unsubscribe' | 'punsubscribe'): Handler {
  return (context, session, args) => {
    const hub = context.pubsub;
    const subscriber = hub.subscriber(session);
    const held = kind === 'unsubscribe' ? subscriber?.channels : subscriber?.patterns;
    const names = args.raw.length > 1 ? args.raw.slice(1) : [...(held?.values() ?? [])];
    if (names.length === 0) return confirmation(kind, null, hub.count(session));
    const frames: Reply[] = [];
    for (const name of names) {
      if (subscriber !== undefined) {
        if (kind === 'unsubscribe') hub.unsubscribe(subscriber, name);
        else hub.punsubscribe(subscriber, name);
      }
      frames.push(confirmation(kind, name, hub.count(session)));
    }
    return { kind: 'frames', frames };
  };
}

/** PUBLISH channel message: through the log; answers how many here received it. */
const publish: Handler = (context, session, args) => {
  const command: PublishCommand = {
    type: 'publish',
    channel: args.raw[1],
    message: args.raw[2],
    at: Date.now(),
  };
  let count = 0;
  return proposeFor(
    context,
    session,
    () =>
      context.node.write(command).then((written) => {
        count = context.pubsub.takeDelivered(written.index);
        return written;
      }),
    () => count,
    args.raw,
  );
};

const pubsubHelp = [
  'PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CHANNELS [<pattern>]',
  "    Return the currently active channels matching a <pattern> (default: '*').",
  'NUMPAT',
  '    Return number of subscriptions to patterns.',
  'NUMSUB [<channel> ...]',
  '    Return the number of subscribers for the specified channels, excluding',
  '    pattern subscriptions(default: no channels).',
  'HELP',
  '    Prints this help.',
];

/** PUBSUB CHANNELS / NUMSUB / NUMPAT / HELP, of this node's subscriptions, as Redis's own. */
function pubsubRun(context: ServerContext, _session: Session, args: Args): Reply {
  const sub = args.text[1].toLowerCase();
  const hub = context.pubsub;
  if (sub === 'channels' && args.raw.length <= 3) return hub.channels(args.raw[2] ?? null);
  if (sub === 'numsub')
    return args.raw.slice(2).flatMap((channel) => [channel, hub.numsub(channel)]);
  if (sub === 'numpat' && args.raw.length === 2) return hub.numpat();
  if (sub === 'help' && args.raw.length === 2) return pubsubHelp;
  return error(
    `ERR unknown subcommand or wrong number of arguments for '${args.text[1].slice(0, 128)}'. Try PUBSUB HELP.`,
  );
}

const pubsubSubcommands: Readonly<Record<string, SubcommandSpec>> = {
  channels: { arity: -2, role: 'read' },
  numsub: { arity: -2, role: 'read' },
  numpat: { arity: 2, role: 'read' },
  help: { arity: 2, role: 'read' },
};

/** The pub/sub commands. Channels are not keys: key patterns do not limit them. */
export const pubsubCommands: Readonly<Record<string, CommandSpec>> = {
  subscribe: { arity: -2, write: false, role: 'read', run: subscribing('subscribe') },
  unsubscribe: { arity: -1, write: false, role: 'read', run: unsubscribing('unsubscribe') },
  psubscribe: { arity: -2, write: false, role: 'read', run: subscribing('psubscribe') },
  punsubscribe: { arity: -1, write: false, role: 'read', run: unsubscribing('punsubscribe') },
  publish: { arity: 3, write: true, role: 'write', run: publish },
  pubsub: {
    arity: -2,
    write: false,
    role: 'read',
    subcommands: pubsubSubcommands,
    run: pubsubRun,
  },
};

/** What a RESP2 connection with subscriptions may still run (QUIT and RESET included). */
const subscribedModeCommands: ReadonlySet<string> = new Set([
  'subscribe',
  'unsubscribe',
  'psubscribe',
  'punsubscribe',
  'ping',
  'quit',
  'reset',
]);

/**
 * Redis 7.0's refusal of `name` (shown as `display`) on a RESP2 connection that holds
 * subscriptions, or null when it may run.
 */
export function subscribedModeRefusal(
  context: ServerContext,
  session: Session,
  name: string,
  display: string,
): Reply | null {
  if (session.protocol !== 2 || subscribedModeCommands.has(name)) return null;
  if (context.pubsub.count(session) === 0) return null;
  return error(
    `ERR Can't execute '${display}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context`,
  );
}

/** PING that answers `["pong", arg]` on a RESP2 connection holding subscriptions, as Redis. */
export function subscribedPing(ping: CommandSpec): CommandSpec {
  const run: Handler = (context, session, args) => {
    if (session.protocol !== 2 || context.pubsub.count(session) === 0) {
      return ping.run(context, session, args);
    }
    if (args.raw.length > 2) return wrongArity('ping');
    return ['pong', args.raw[1] ?? ''];
  };
  return { ...ping, run };
}
