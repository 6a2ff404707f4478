import assert from 'node:assert/strict';
/**
 * A raw RESP test client: one command at a time, replies parsed with Tandem's own reply
 * parser, and a reply of 'closed' when the server hangs up (as Redis does to a client whose
 * user was deleted).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReplyParser } from '../../src/api/resp/reply-parser.js';
import type { Reply } from '../../src/api/resp/reply.js';

/** A raw RESP connection: one command at a time, replies parsed; tells when it closes. */
export class RawClient {
  readonly #socket: Socket;
  readonly #parser = new ReplyParser();
  readonly #replies: Reply[] = [];
  readonly #waiting: ((reply: Reply | 'closed') => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#replies.push(...this.#parser.feed(chunk));
      } catch {
        // Not RESP2 (a RESP3 reply, say): what this client cannot read counts as a hang-up.
        socket.destroy();
      }
      this.#deliver();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#deliver();
    });
    socket.on('error', () => {});
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply, or 'closed' if the server hung up. */
  async call(...args: string[]): Promise<Reply | 'closed'> {
    const [reply] = await this.pipeline([args]);
    return reply as Reply | 'closed';
  }

  /** Sends `commands` in one write; resolves with their replies ('closed' past a hang-up). */
  pipeline(commands: readonly (readonly string[])[]): Promise<(Reply | 'closed')[]> {
    const replies = commands.map(
      () => new Promise<Reply | 'closed'>((resolve) => this.#waiting.push(resolve)),
    );
    if (!this.closed) {
      const encoded = commands.map((args) => {
        const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
        return `*${args.length}\r\n${parts.join('')}`;
      });
      this.#socket.write(encoded.join(''));
    }
    this.#deliver();
    return Promise.all(replies);
  }

  #deliver(): void {
    while (this.#waiting.length > 0) {
      if (this.#replies.length > 0) {
        (this.#waiting.shift() as (reply: Reply) => void)(this.#replies.shift() as Reply);
      } else if (this.closed) {
        (this.#waiting.shift() as (reply: 'closed') => void)('closed');
      } else {
        return;
      }
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** The text of an error reply, or the reply itself. */
export function text(reply: Reply | 'closed'): unknown {
  if (typeof reply === 'object' && reply !== null && 'kind' in reply && reply.kind === 'error') {
    return reply.text;
  }
  if (Buffer.isBuffer(reply)) return reply.toString();
  if (typeof reply === 'object' && reply !== null && 'kind' in reply && reply.kind === 'simple') {
    return reply.text;
  }
  return reply;
}

/** A reply made comparable: bulk strings as text, errors and simple strings tagged. */
export function comparable(reply: unknown): unknown {
  if (Buffer.isBuffer(reply)) return `$${reply.toString('latin1')}`;
  if (Array.isArray(reply)) return reply.map(comparable);
  if (typeof reply === 'object' && reply !== null && 'kind' in reply) {
    return `${(reply as { kind: string }).kind}:${String(text(reply as never))}`;
  }
  return reply;
}

/**
 * Sends `args` to both servers and checks that they answer alike, and that neither hung
 * up: a hang-up on both sides would otherwise compare equal, and every later command too.
 */
export async function sameReply(
  ours: RawClient,
  theirs: RawClient,
  args: readonly string[],
): Promise<void> {
  const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
  assert.ok(mine !== 'closed' && redis7 !== 'closed', `closed on ${args.join(' ')}`);
  assert.deepEqual(comparable(mine), comparable(redis7), args.join(' '));
}

/**
 * A client that reads raw reply bytes (RESP3 frames, which RawClient does not parse, and
 * RESP2's null array apart from the nil): one command at a time, its reply being what
 * arrives until the line falls quiet.
 */
export class RawBytesClient {
  readonly #socket: Socket;
  #received = '';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#received += chunk.toString('latin1');
    });
  }

  static async open(port: number): Promise<RawBytesClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    return new RawBytesClient(socket);
  }

  /** Sends `args`; the bytes of its reply (those that came until 40 ms passed without more). */
  async call(args: readonly string[]): Promise<string> {
    this.#received = '';
    const frame = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
    this.#socket.write(`*${args.length}\r\n${frame}`);
    const deadline = Date.now() + 5_000;
    let seen = -1;
    while (Date.now() < deadline) {
      await sleep(40);
      if (this.#received.length > 0 && this.#received.length === seen) break;
      seen = this.#received.length;
    }
    return this.#received;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Polls the server at `port` until what `state` reads there (on a fresh connection each
 * time) equals `expected`: a node may still be applying. Fails with the last difference
 * after `timeoutMs`.
 */
export async function waitForState(
  port: number,
  state: (client: RawClient) => Promise<unknown>,
  expected: unknown,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await RawClient.open(port);
    let seen: unknown;
    try {
      seen = await state(client);
    } finally {
      client.close();
    }
    try {
      assert.deepEqual(seen, expected, `the server on port ${port}`);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/** How long a connection must stay quiet before a step counts as answered. */
const quietMs = 60;
/** The longest a step may take to answer. */
const stepMsMax = 5_000;

/** A raw connection that keeps every byte it receives. */
export class Transcript {
  readonly socket: Socket;
  bytes: Buffer = Buffer.alloc(0);
  #changedAt = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, chunk] as Uint8Array[]);
      this.#changedAt = Date.now();
    });
    socket.on('error', () => {});
  }

  static open(port: number): Promise<Transcript> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new Transcript(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one command (binary-safe) and waits until something came and it went quiet. */
  async send(args: readonly (string | Buffer)[]): Promise<void> {
    const before = this.bytes.length;
    const parts: Uint8Array[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const arg of args) {
      const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
      parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
    }
    this.socket.write(Buffer.concat(parts));
    const deadline = Date.now() + stepMsMax;
    while (this.bytes.length === before || Date.now() - this.#changedAt < quietMs) {
      if (Date.now() > deadline) throw new Error(`no reply to ${args.join(' ')}`);
      await sleep(5);
    }
  }

  /**
   * Sends one command and waits until the transcript ends with `ending` (a barrier's
   * reply, such as a subscriber's PONG), without waiting for quiet.
   */
  async sendUntil(args: readonly string[], ending: string): Promise<void> {
    const before = this.bytes.length;
    this.socket.write(
      args
        .map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`)
        .join('')
        .replace(/^/, `*${args.length}\r\n`),
    );
    const deadline = Date.now() + stepMsMax;
    const tail = Buffer.from(ending);
    while (
      this.bytes.length < before + tail.length ||
      !this.bytes.subarray(this.bytes.length - tail.length).equals(tail)
    ) {
      if (Date.now() > deadline)
        throw new Error(`no ${JSON.stringify(ending)} after ${args.join(' ')}`);
      await sleep(1);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
