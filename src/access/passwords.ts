/**
 * Password and token hashing. A password is stored as a salted scrypt hash (node:crypto),
 * `scrypt$N$r$p$salt$hash`, never as itself; a hash in Redis's `#<sha256 hex>` form is
 * also accepted, so that a Redis ACL file's users carry over. A token is a random secret
 * whose SHA-256 is stored: it has 256 bits of entropy, so a slow hash would add nothing.
 *
 * scrypt costs tens of milliseconds by design, too much for every HTTP request with Basic
 * credentials: a successful check is remembered (`verifiedMax` entries) under the SHA-256
 * of the stored hash and the password, so it holds only while the user keeps that hash.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt's parameters for new hashes: N = 2^14, r = 8, p = 1 (16 MiB, tens of ms). */
export const scryptCost = { N: 16_384, r: 8, p: 1 } as const;
/** Bytes of salt and of derived key. */
const saltBytes = 16;
const keyBytes = 32;
/** The most remembered successful checks. */
export const verifiedMax = 4_096;
/** The longest password accepted, in bytes: scrypt's work must stay bounded. */
export const passwordBytesMax = 1_024;
/** The largest N a stored hash may ask for (2^20, 1 GiB with r = 8): bounded work. */
const scryptNMax = 1 << 20;

function scryptAsync(
  password: string,
  salt: Buffer,
  cost: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      keyBytes,
      { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 },
      (error, key) => (error === null ? resolve(key) : reject(error)),
    );
  });
}

/** A new salted hash of `password`, in the stored form. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(saltBytes);
  const key = await scryptAsync(password, salt, scryptCost);
  const { N, r, p } = scryptCost;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** SHA-256 of `text`, as 64 lower-case hex digits. */
export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const verified = new Map<string, true>();

function remember(key: string): void {
  if (verified.size >= verifiedMax) {
    const oldest = verified.keys().next().value as string;
    verified.delete(oldest);
  }
  verified.set(key, true);
}

/** Whether `password` matches the stored `hash` (either form); constant-time compares. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (Buffer.byteLength(password) > passwordBytesMax) return false;
  const memo = sha256Hex(`${hash}\u0000${password}`);
  if (verified.has(memo)) return true;
  let matches = false;
  if (hash.startsWith('sha256$')) {
    matches = sameHex(hash.slice('sha256$'.length), sha256Hex(password));
  } else if (hash.startsWith('scrypt$')) {
    matches = await verifyScrypt(hash, password);
  }
  if (matches) remember(memo);
  return matches;
}

/**
 * Whether `password` matches `hash` when that can be told without scrypt's work: a
 * SHA-256 hash is compared at once, and a scrypt hash that this password matched before is
 * remembered; undefined when only `verifyPassword` can tell.
 */
export function verifyPasswordNow(hash: string, password: string): boolean | undefined {
  if (Buffer.byteLength(password) > passwordBytesMax) return false;
  if (hash.startsWith('sha256$')) {
    const matches = sameHex(hash.slice('sha256$'.length), sha256Hex(password));
    return matches;
  }
  if (!hash.startsWith('scrypt$')) return false;
  return verified.has(sha256Hex(`${hash}\u0000${password}`)) ? true : undefined;
}

async function verifyScrypt(hash: string, password: string): Promise<boolean> {
  const [, n, r, p, salt, key] = hash.split('$');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  const powerOfTwo = (cost.N & (cost.N - 1)) === 0;
  if (!(cost.N >= 2 && cost.N <= scryptNMax && powerOfTwo && cost.r >= 1 && cost.r <= 32)) {
    return false;
  }
  if (!(cost.p >= 1 && cost.p <= 16)) return false;
  const expected = Buffer.from(key ?? '', 'base64');
  if (expected.byteLength !== keyBytes) return false;
  const derived = await scryptAsync(password, Buffer.from(salt ?? '', 'base64'), cost);
  return timingSafeEqual(derived, expected);
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.byteLength === right.byteLength && timingSafeEqual(left, right);
}

/** Prefix of every token: tells one apart from a password in a log or a config. */
export const tokenPrefix = 'tdm_';

/** A new token: its id, its secret (shown once) and the hash the cluster stores. */
export function newToken(): { id: string; token: string; hash: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${tokenPrefix}${id}_${secret}`, hash: sha256Hex(secret) };
}

/** Splits a presented token into its id and the hash of its secret, or null if malformed. */
export function parseToken(token: string): { id: string; hash: string } | null {
  const match = /^tdm_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
  if (match === null) return null;
  return { id: match[1] as string, hash: sha256Hex(match[2] as string) };
}

/** Whether two hex digests are equal, in constant time. */
export function sameDigest(a: string, b: string): boolean {
  return sameHex(a, b);
}
