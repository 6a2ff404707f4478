/**
 * TLS on the client ports (`--client-tls-cert/--client-tls-key/--client-tls-ca`): the
 * settings that the HTTP and RESP servers terminate TLS with, and the trust a follower
 * uses when it forwards a write to the leader's TLS port.
 *
 * The forwarding rule: a follower trusts `--client-tls-ca` when one is given (and then
 * presents its own client-port certificate, since the leader asks every client for one
 * signed by that CA); otherwise it trusts Node's built-in root CAs plus every certificate
 * in its own `--client-tls-cert` file. So a cluster whose nodes' files carry their chain
 * (the leaf, then the CA that signed it, as `tandem cluster --secure` writes them) or whose
 * certificates come from a public CA forwards without more settings; the leader's
 * certificate must name the host it advertises, as for any client.
 */
import { rootCertificates, type ConnectionOptions, type TlsOptions } from 'node:tls';

/** A node's client-port TLS material, PEM text. */
export interface ClientTls {
  /** The certificate chain the node presents: its leaf first. */
  readonly cert: string;
  readonly key: string;
  /** When given, clients must present a certificate signed by it (mutual TLS). */
  readonly ca?: string;
}

/** The options a TLS server of the client ports is created with. */
export function serverTlsOptions(tls: ClientTls): TlsOptions {
  return tls.ca === undefined
    ? { cert: tls.cert, key: tls.key }
    : { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true };
}

/** What a follower connects to the leader's TLS client port with (see the rule above). */
export function forwardingTlsOptions(tls: ClientTls | undefined): ConnectionOptions {
  if (tls === undefined) return {};
  if (tls.ca !== undefined) return { ca: tls.ca, cert: tls.cert, key: tls.key };
  return { ca: [...rootCertificates, ...pemCertificates(tls.cert)] };
}

/** The PEM certificate blocks of `text`, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}
