import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { SecretKeys } from '../config/secret-key';

/**
 * Encryption at rest: AES-256-GCM under a key derived from SLUICE_SECRET_KEY. The stored form is
 * `v1:<key id>:<iv>:<tag>:<ciphertext>` (base64url), so data written under an older key still
 * decrypts after rotation as long as that key stays in SLUICE_SECRET_KEY's list.
 */
export function encryptSecret(keys: SecretKeys, plaintext: string): string {
  const key = keys.encryption.get(keys.currentId)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', keys.currentId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join(':');
}

export function decryptSecret(keys: SecretKeys, stored: string): string {
  const [v, kid, iv, tag, ct] = stored.split(':');
  if (v !== 'v1' || !kid || !iv || !tag || ct === undefined) throw new Error('not an encrypted secret');
  const key = keys.encryption.get(kid);
  if (!key) throw new Error(`secret was encrypted with key ${kid}, which is not in SLUICE_SECRET_KEY`);
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
}

/** `sha256=<hex>` over `<timestamp>.<body>`, the signature webhook receivers verify. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}
