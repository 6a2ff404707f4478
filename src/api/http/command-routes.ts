/**
 * `POST /v1/command`: one Redis command over HTTP, for what the key-value routes do not
 * cover (hashes, lists, sets, sorted sets, counters, expiry), without mirroring all of
 * RESP in routes. The command runs through the RESP layer's own handlers (`RespServer.run`:
 * the same meaning, checks and error texts as on the RESP port), as the caller's user. A
 * write reaching a follower is forwarded to the leader as every write route's is; a read
 * is served here at the level asked. Commands that act on a connection (AUTH, MULTI,
 * SUBSCRIBE, blocking pops, ...) are refused.
 *
 * Arguments are JSON strings (their UTF-8 bytes) or `{ "base64": ... }`; the reply comes
 * back as JSON: integers as numbers (exact past 2^53), bulk strings as text when UTF-8 and
 * `{ "base64": ... }` otherwise, nil as null, arrays and sets as arrays, a map as an
 * object (an array of [key, value] pairs when a key is not text), a double as a number
 * (`"inf"`, `"-inf"` or `"nan"` as text). A command's error reply is the error: 403
 * TANDEM_FORBIDDEN for NOPERM, else 400 TANDEM_BAD_REQUEST with Redis's text
 * (`WRONGTYPE Operation against a key holding the wrong kind of value`).
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { TandemError } from '../../core/errors.js';
import type { Durability } from '../../core/types.js';
import type { Consistency, NodeHandle } from '../../node/api.js';
import type { OneShotAnswer, OneShotRequest } from '../resp/server.js';
import type { Reply } from '../resp/reply.js';
import { principalOf } from './auth.js';
import { useExactJson, writeExactJson } from './json.js';
import { readOptions, sessionOf } from './requests.js';
import { commandSchema } from './schemas.js';

/** Runs one command (the RESP server's `run`), or null when this node serves no RESP. */
export type CommandRunner = () => ((request: OneShotRequest) => Promise<OneShotAnswer>) | null;

type Argument = string | { readonly base64: string };

interface CommandBody {
  readonly args: readonly Argument[];
  readonly readOnly?: boolean;
  readonly consistency?: Consistency;
  readonly after?: number;
  readonly afterTerm?: number;
  readonly maxLag?: number;
}

/** Registers `POST /v1/command`: any user may call it; each command checks its own role. */
export function registerCommandRoutes(
  app: FastifyInstance,
  node: NodeHandle,
  runner: CommandRunner,
): void {
  void app.register(async (routes) => {
    useExactJson(routes);
    routes.post<{ Body: CommandBody; Querystring: { ack?: Durability } }>(
      '/v1/command',
      { schema: commandSchema, config: { role: 'authenticated' } },
      async (request, reply) => {
        const run = runner();
        if (run === null) {
          throw new TandemError(
            'TANDEM_BAD_REQUEST',
            `node ${node.id} serves no Redis commands (it has no RESP port)`,
          );
        }
        const body = request.body;
        const level = readOptions(node, body);
        const dedupe = sessionOf(request.headers)?.session;
        const answer = await run({
          user: principalOf(request).user,
          args: body.args.map(argumentBytes),
          clientHost: request.ip,
          consistency: level.consistency,
          ...(level.afterIndex === undefined ? {} : { afterIndex: level.afterIndex }),
          ...(level.afterTerm === undefined ? {} : { afterTerm: level.afterTerm }),
          ...(level.maxLagEntries === undefined ? {} : { maxLagEntries: level.maxLagEntries }),
          ...(dedupe === undefined ? {} : { dedupe }),
          ...(body.readOnly === true ? { readOnly: true } : {}),
          ...(request.query.ack === undefined ? {} : { durability: request.query.ack }),
        });
        const value = answer.reply;
        if (isError(value)) throw commandError(value.text);
        const position = answer.index === 0 ? {} : { index: answer.index, term: answer.term };
        return reply
          .type('application/json; charset=utf-8')
          .send(writeExactJson({ reply: replyJson(value), ...position }));
      },
    );
  });
}

/** An argument's bytes: a string's UTF-8, or canonical base64's. */
function argumentBytes(argument: Argument, i: number): Buffer {
  if (typeof argument === 'string') return Buffer.from(argument, 'utf8');
  const bytes = Buffer.from(argument.base64, 'base64');
  if (bytes.toString('base64') !== argument.base64) {
    throw new TandemError('TANDEM_BAD_REQUEST', `body.args[${i}].base64 is not canonical base64`);
  }
  return bytes;
}

function isError(reply: Reply): reply is { kind: 'error'; text: string } {
  return typeof reply === 'object' && reply !== null && 'kind' in reply && reply.kind === 'error';
}

/** A command's error reply as the HTTP error: NOPERM is 403, any other the request's fault. */
function commandError(text: string): TandemError {
  return new TandemError(
    text.startsWith('NOPERM') ? 'TANDEM_FORBIDDEN' : 'TANDEM_BAD_REQUEST',
    text,
  );
}

/** Bytes as JSON: text when UTF-8, else `{ base64 }`. */
function bytesJson(bytes: Buffer): string | { base64: string } {
  return isUtf8(bytes) ? bytes.toString('utf8') : { base64: bytes.toString('base64') };
}

/** A map key as text, or null when it is not text (the map is then a list of pairs). */
function keyText(key: Reply): string | null {
  if (typeof key === 'string') return key;
  if (Buffer.isBuffer(key)) return isUtf8(key) ? key.toString('utf8') : null;
  if (typeof key === 'number' || typeof key === 'bigint') return String(key);
  if (typeof key === 'object' && key !== null && 'kind' in key && key.kind === 'simple') {
    return key.text;
  }
  return null;
}

/** A reply as JSON (see the file's comment); a nested error as `{ error }`. */
export function replyJson(reply: Reply): unknown {
  if (reply === null || typeof reply === 'number' || typeof reply === 'bigint') return reply;
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return bytesJson(reply);
  if (Array.isArray(reply)) return reply.map(replyJson);
  const shaped = reply as Exclude<
    Reply,
    null | number | bigint | string | Buffer | readonly Reply[]
  >;
  switch (shaped.kind) {
    case 'simple':
    case 'verbatim':
      return shaped.text;
    case 'error':
      return { error: shaped.text };
    case 'double':
      return Number.isFinite(shaped.value)
        ? shaped.value
        : Number.isNaN(shaped.value)
          ? 'nan'
          : shaped.value > 0
            ? 'inf'
            : '-inf';
    case 'set':
      return shaped.items.map(replyJson);
    case 'map': {
      const keys = shaped.entries.map(([key]) => keyText(key));
      if (keys.some((key) => key === null) || new Set(keys).size !== keys.length) {
        return shaped.entries.map(([key, value]) => [replyJson(key), replyJson(value)]);
      }
      const object: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      shaped.entries.forEach(([, value], i) => {
        object[keys[i] as string] = replyJson(value);
      });
      return object;
    }
    case 'null-array':
      return null;
    case 'push':
      return shaped.items.map(replyJson);
    case 'frames':
      return shaped.frames.map(replyJson);
  }
}
