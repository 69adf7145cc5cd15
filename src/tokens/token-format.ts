import { createHash, randomBytes } from 'node:crypto';

/**
 * Token format: `sk-sluice-` + 32 base62 characters of randomness (~190 bits) + 6 base62 characters
 * of CRC-32 over the random part. The fixed prefix and checksum let secret scanners recognise a
 * Sluice token and reject look-alikes offline, and let the gateway refuse typos without a lookup.
 */
export const TOKEN_PREFIX = 'sk-sluice-';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LEN = 32;
const CHECK_LEN = 6;
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_LEN + CHECK_LEN;
const TOKEN_RE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LEN + CHECK_LEN}}$`);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function base62(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function randomBase62(len: number): string {
  // Rejection sampling keeps the alphabet uniform (256 is not a multiple of 62).
  let out = '';
  while (out.length < len) {
    for (const b of randomBytes(len * 2)) {
      if (b < 248 && out.length < len) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export interface GeneratedToken {
  secret: string;
  hash: string;
  displayPrefix: string;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** What lists show: enough to tell tokens apart, far too little to guess one. */
export const displayPrefixOf = (secret: string) => secret.slice(0, TOKEN_PREFIX.length + 6);

export function generateToken(): GeneratedToken {
  const random = randomBase62(RANDOM_LEN);
  const secret = TOKEN_PREFIX + random + base62(crc32(random), CHECK_LEN);
  return { secret, hash: hashToken(secret), displayPrefix: displayPrefixOf(secret) };
}

/** True when the string has the Sluice shape and its checksum matches. */
export function isWellFormedToken(s: string): boolean {
  if (!TOKEN_RE.test(s)) return false;
  const random = s.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_LEN);
  return base62(crc32(random), CHECK_LEN) === s.slice(TOKEN_PREFIX.length + RANDOM_LEN);
}
