import { deriveKeys } from '../config/secret-key';
import { decryptSecret, encryptSecret, signWebhook } from './crypto';

describe('encryption at rest', () => {
  const oldKey = 'o'.repeat(40);
  const newKey = 'n'.repeat(40);
  it('round-trips, never stores the plaintext, and survives key rotation', () => {
    const before = deriveKeys([oldKey], 'env');
    const stored = encryptSecret(before, 'sk-provider-secret');
    expect(stored).not.toContain('sk-provider-secret');
    expect(stored.startsWith(`v1:${before.currentId}:`)).toBe(true);
    expect(decryptSecret(before, stored)).toBe('sk-provider-secret');
    const rotated = deriveKeys([newKey, oldKey], 'env');
    expect(decryptSecret(rotated, stored)).toBe('sk-provider-secret');
    expect(encryptSecret(rotated, 'x').split(':')[1]).toBe(rotated.currentId);
    expect(() => decryptSecret(deriveKeys([newKey], 'env'), stored)).toThrow(/not in SLUICE_SECRET_KEY/);
  });
  it('detects tampering', () => {
    const k = deriveKeys([oldKey], 'env');
    const parts = encryptSecret(k, 'value').split(':');
    parts[4] = Buffer.from('other').toString('base64url');
    expect(() => decryptSecret(k, parts.join(':'))).toThrow();
  });
  it('signs webhooks with HMAC-SHA256 over timestamp and body', () => {
    expect(signWebhook('s', '1', '{}')).toBe('sha256=' + require('node:crypto').createHmac('sha256', 's').update('1.{}').digest('hex'));
  });
});
