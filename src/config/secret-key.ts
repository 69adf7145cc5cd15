import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, Env } from './env';

/**
 * The secret key material derived from SLUICE_SECRET_KEY. The variable may hold several keys
 * separated by commas: the first encrypts and signs, the rest only decrypt and verify, which is
 * how a key is rotated without losing data encrypted under the old one.
 */
export interface SecretKeys {
  /** Key id (8 hex chars of the key's SHA-256) of the key used for new ciphertexts. */
  currentId: string;
  /** Derived 32-byte encryption keys by key id. */
  encryption: Map<string, Buffer>;
  /** Derived 32-byte signing key of the current key (sessions, CSRF, login links). */
  signing: Buffer;
  /** Where the key came from, for the boot log (never the key itself). */
  source: 'env' | 'file-created' | 'file';
}

const derive = (secret: string, info: string) =>
  Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `sluice:${info}`, 32));

export const keyId = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 8);

export function deriveKeys(secrets: string[], source: SecretKeys['source']): SecretKeys {
  const encryption = new Map<string, Buffer>();
  for (const s of secrets) encryption.set(keyId(s), derive(s, 'encryption'));
  return { currentId: keyId(secrets[0]), encryption, signing: derive(secrets[0], 'signing'), source };
}

/**
 * Uses SLUICE_SECRET_KEY when set; otherwise a key generated once into the data directory with
 * 0600 permissions, so a single-node install needs no set-up and keeps its key across restarts.
 */
export function resolveSecretKeys(env: Env): SecretKeys {
  if (env.SLUICE_SECRET_KEY) {
    const parts = env.SLUICE_SECRET_KEY.split(',').map((s) => s.trim()).filter(Boolean);
    if (parts.some((p) => p.length < 32)) {
      throw new ConfigError('invalid environment: SLUICE_SECRET_KEY: every comma-separated key must be at least 32 characters');
    }
    return deriveKeys(parts, 'env');
  }
  const file = path.join(env.SLUICE_DATA_DIR, 'secret.key');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return deriveKeys([existing], 'file');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`invalid environment: SLUICE_DATA_DIR: cannot read secret.key (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  fs.mkdirSync(env.SLUICE_DATA_DIR, { recursive: true, mode: 0o711 });
  const generated = randomBytes(32).toString('hex');
  // 'wx' so two processes starting at once cannot overwrite each other's key.
  try {
    fs.writeFileSync(file, generated + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return deriveKeys([fs.readFileSync(file, 'utf8').trim()], 'file');
    throw new ConfigError(`invalid environment: SLUICE_DATA_DIR: cannot write secret.key (${(e as NodeJS.ErrnoException).code})`);
  }
  return deriveKeys([generated], 'file-created');
}
