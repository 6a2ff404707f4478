/**
 * Protected mode, as Redis has it: while a node has no users configured, its client ports
 * (HTTP and RESP, plain and TLS) serve only clients on the loopback interface. A client
 * from anywhere else is told exactly how to configure users, or how to opt out with
 * `--insecure-open`, and nothing else. Both servers make the same check through this file,
 * so their rule and their text cannot drift apart.
 *
 * The check is on the connecting socket's address: the node's own followers are clients
 * like any other when they forward a write, so a cluster spread over several hosts needs
 * users (or `--insecure-open`) for forwarding to work.
 */
import { BlockList, isIP } from 'node:net';

/** The stable code of the HTTP answer to a client refused by protected mode (status 403). */
export const protectedModeCode = 'TANDEM_PROTECTED_MODE';
/** The HTTP status of that answer. */
export const protectedModeHttpStatus = 403;

/**
 * What a refused client is told (RESP prefixes `DENIED `): why, and each way out, in the
 * style of Redis's own protected-mode text.
 */
export const protectedModeMessage =
  'Tandem is running in protected mode because no users are configured. In this mode ' +
  'connections are only accepted from the loopback interface. If you want to connect from ' +
  'other computers, do one of the following: 1) configure users: restart the node with ' +
  '--users FILE (users, passwords and roles) or --requirepass PASSWORD, and have clients ' +
  'authenticate; 2) if every network that can reach the node is trusted, restart it with ' +
  '--insecure-open, which turns protected mode off. You only need to do one of the above ' +
  'for the node to accept connections from the outside.';

/** The protected-mode settings a client server takes. */
export interface ProtectedModeOptions {
  /**
   * Whether users are configured now (asked for each new connection, so users added at run
   * time lift protected mode). Each server has its own default.
   */
  readonly usersConfigured?: () => boolean;
  /** Protected mode off (`--insecure-open`): every address is served. Default false. */
  readonly insecureOpen?: boolean;
  /**
   * Which client addresses count as this machine's (default `isLoopback`). Tests pass a
   * stricter one to see the refusal from loopback; nothing else should.
   */
  readonly isLocalAddress?: (address: string) => boolean;
}

/**
 * Whether a client connecting from `remoteAddress` must be refused. An address the socket
 * no longer knows (it closed meanwhile) is refused: it cannot be shown to be local.
 */
export function protectedModeRefuses(
  options: ProtectedModeOptions,
  usersConfiguredDefault: () => boolean,
  remoteAddress: string | undefined,
): boolean {
  if (options.insecureOpen === true) return false;
  if ((options.usersConfigured ?? usersConfiguredDefault)()) return false;
  if (remoteAddress === undefined) return true;
  return !(options.isLocalAddress ?? isLoopback)(remoteAddress);
}

/** Loopback: 127.0.0.0/8 and ::1 (BlockList matches IPv4-mapped IPv6 against the IPv4 rule). */
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Whether `address` (as a socket reports it) is a loopback address: IPv4 127.0.0.0/8, IPv6
 * `::1` in any of its spellings, and IPv4-mapped IPv6 `::ffff:127.x.x.x`. Anything that is
 * not an IP address at all is not loopback.
 */
export function isLoopback(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
