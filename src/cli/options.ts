/**
 * Command-line parsing shared by the `tandem` commands: every setting is validated here,
 * and a bad one is a `UsageError` whose message names the setting and what it must be.
 * The entry point prints it and exits with status 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseHostPort, portMax } from '../api/http/address.js';
import { nodeIdPattern } from '../api/http/schemas.js';
import { durabilityOrder, topologies, type Durability, type Topology } from '../core/types.js';
import type { PeerAddress } from '../transport/contract.js';

/** Exit status of a command used wrongly (a bad flag or value). */
export const usageExitCode = 2;
/** Exit status of a command that was used right but failed (a port taken, a node down). */
export const failureExitCode = 1;

/** Bad usage: the message names the setting; the command's help is printed after it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A command used right that failed (a node unreachable, an error answer, a key absent): the
 * entry point prints the message, without a stack, and exits with status 1.
 */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
}

/** A positive decimal integer given as `name`. */
export function parsePositiveInteger(text: string, name: string): number {
  const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parsed flags and positionals, as node:util's parseArgs returns them. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/** Runs parseArgs, turning its errors (an unknown flag, a missing value) into UsageErrors. */
export function parseCommandArgs(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  positionalsMax = 0,
): ParsedArgs {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionalsMax > 0,
      strict: true,
    }) as ParsedArgs;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length > positionalsMax) {
    throw new UsageError(`unexpected argument ${parsed.positionals[positionalsMax]}`);
  }
  return parsed;
}

/** A TCP port 1..65535 given as `name`. */
export function parsePort(text: string, name: string): number {
  const port = parseInteger(text, name);
  if (port < 1 || port > portMax)
    throw new UsageError(`${name} must be a port 1-${portMax}, got ${text}`);
  return port;
}

/** A non-negative decimal integer given as `name`. */
export function parseInteger(text: string, name: string): number {
  const value = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A node id: 1 to 64 of letters, digits, `_`, `.` and `-`. */
export function parseNodeId(text: string, name: string): string {
  if (!new RegExp(nodeIdPattern).test(text)) {
    throw new UsageError(
      `${name} must be a node id of 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/** A peer address `host:port` given as `name`. */
export function parseAddress(text: string, name: string): PeerAddress {
  const address = parseHostPort(text);
  if (address === null) {
    throw new UsageError(
      `${name} must be HOST:PORT with a port 1-${portMax}, got ${JSON.stringify(text)}`,
    );
  }
  return address;
}

/** `--peers ID=HOST:PORT,...`: each id once. */
export function parsePeers(text: string, name = '--peers'): Map<string, PeerAddress> {
  const peers = new Map<string, PeerAddress>();
  for (const item of text.split(',').filter((part) => part.trim() !== '')) {
    const equals = item.indexOf('=');
    if (equals < 0)
      throw new UsageError(`${name} must be ID=HOST:PORT,..., got ${JSON.stringify(item)}`);
    const id = parseNodeId(item.slice(0, equals).trim(), `${name} id`);
    if (peers.has(id)) throw new UsageError(`${name} names ${id} twice`);
    peers.set(id, parseAddress(item.slice(equals + 1).trim(), `${name} address of ${id}`));
  }
  return peers;
}

/** A durability mode given as `name`. */
export function parseDurability(text: string, name: string): Durability {
  if (!(durabilityOrder as readonly string[]).includes(text)) {
    throw new UsageError(
      `${name} must be one of ${durabilityOrder.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return text as Durability;
}

/** A topology (`star` or `chain`) given as `name`. */
export function parseTopology(text: string, name: string): Topology {
  if (!(topologies as readonly string[]).includes(text)) {
    throw new UsageError(
      `${name} must be one of ${topologies.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return text as Topology;
}

/** An http(s) base URL given as `name`, without a trailing slash. */
export function parseBaseUrl(text: string, name: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `${name} must be a URL like http://127.0.0.1:9001, got ${JSON.stringify(text)}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** The string value of flag `name`, if given. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}
