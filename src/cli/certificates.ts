/**
 * The certificates of `tandem cluster --secure`: a self-signed cluster CA and one
 * certificate per node, made with the `openssl` command (no X.509 library is a dependency
 * of Tandem). They go in `<dir>/tls/`: `ca.pem` (the CA certificate, to give clients),
 * `ca.key`, and for each node `<id>.pem` (its certificate, then the CA's: the chain a
 * follower trusts when it forwards to the leader's TLS port) and `<id>.key`. Keys are
 * readable by this user only. Files already there are kept, so a restarted cluster keeps
 * the CA its clients trust.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Days the CA and the node certificates are valid: long enough for any local cluster. */
export const certificateValidityDays = 825;
/** How long one openssl run may take. */
const opensslTimeoutMs = 20_000;

/** A node's certificate chain and key files. */
export interface NodeCertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** The files of a secure local cluster. */
export interface ClusterCertificates {
  /** The CA certificate clients trust (`--cacert`). */
  readonly ca: string;
  readonly nodes: ReadonlyMap<string, NodeCertificateFiles>;
}

/** `openssl` could not run or failed; the message says what to do. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

/**
 * Makes (or keeps) the CA and a certificate for each of `ids` in `<dir>/tls`, each naming
 * the hosts 127.0.0.1, ::1 and localhost. Throws CertificateError when openssl is missing
 * or fails.
 */
export function ensureClusterCertificates(
  dir: string,
  ids: readonly string[],
): ClusterCertificates {
  const tlsDir = join(dir, 'tls');
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const ca = join(tlsDir, 'ca.pem');
  const caKey = join(tlsDir, 'ca.key');
  if (!existsSync(ca) || !existsSync(caKey)) makeCa(tlsDir);
  const nodes = new Map<string, NodeCertificateFiles>();
  for (const id of ids) {
    const files = { cert: join(tlsDir, `${id}.pem`), key: join(tlsDir, `${id}.key`) };
    if (!existsSync(files.cert) || !existsSync(files.key)) makeNodeCertificate(tlsDir, id);
    nodes.set(id, files);
  }
  return { ca, nodes };
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(tlsDir: string): void {
  openssl(tlsDir, [
    'req',
    '-x509',
    ...ecKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    String(certificateValidityDays),
    '-subj',
    '/CN=tandem local cluster CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeNodeCertificate(tlsDir: string, id: string): void {
  const extensions = join(tlsDir, `${id}.ext`);
  writeFileSync(
    extensions,
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n' +
      'extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n',
  );
  try {
    openssl(tlsDir, [
      'req',
      ...ecKey,
      '-keyout',
      `${id}.key`,
      '-out',
      `${id}.csr`,
      '-subj',
      `/CN=${id}`,
    ]);
    openssl(tlsDir, [
      'x509',
      '-req',
      '-in',
      `${id}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${id}.crt`,
      '-days',
      String(certificateValidityDays),
      '-extfile',
      `${id}.ext`,
    ]);
    const chain =
      readFileSync(join(tlsDir, `${id}.crt`), 'utf8') +
      readFileSync(join(tlsDir, 'ca.pem'), 'utf8');
    writeFileSync(join(tlsDir, `${id}.pem`), chain);
  } finally {
    for (const scratch of [`${id}.ext`, `${id}.csr`, `${id}.crt`]) {
      rmSync(join(tlsDir, scratch), { force: true });
    }
  }
}

/** Runs openssl in `cwd` with a private umask for the keys it writes. */
function openssl(cwd: string, args: readonly string[]): void {
  const previous = process.umask(0o077);
  let result;
  try {
    result = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: opensslTimeoutMs });
  } finally {
    process.umask(previous);
  }
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CertificateError(
      missing
        ? '--secure makes its certificates with the openssl command, which is not installed ' +
            '(on Debian or Ubuntu: apt-get install openssl); or run without --secure'
        : `openssl ${args[0]} failed: ${result.error.message}`,
    );
  }
  if (result.status !== 0) {
    throw new CertificateError(`openssl ${args.join(' ')} failed: ${result.stderr.trim()}`);
  }
}
