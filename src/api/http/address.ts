/**
 * `host:port` addresses as operators type them: `127.0.0.1:7001`, `node-2.lan:7001`,
 * `[::1]:7001` (IPv6 in brackets, as in URLs).
 */

/** The largest TCP port. */
export const portMax = 65_535;

/** Parses `host:port` (port 1..65535), or returns null when `text` is not one. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  if (match === null) return null;
  const port = Number(match[3]);
  if (port < 1 || port > portMax) return null;
  return { host: match[1] ?? match[2], port };
}

/** Formats an address back to `host:port`, bracketing an IPv6 host. */
export function formatHostPort(address: { readonly host: string; readonly port: number }): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
