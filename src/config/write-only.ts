import { encryptSecret } from '../common/crypto';
import { resolveSecretRef } from './secret-refs';
import type { SecretKeys } from './secret-key';

export interface WriteOnlyIssue {
  path: string;
  message: string;
}

/**
 * A write-only secret field (an S3 secret access key, a credential header) as a save sent it: a
 * typed value is stored encrypted with its last four characters as the hint, an `env:` reference
 * as it is once it resolves, and the mask (or nothing) keeps the stored value (`kept`; `value` is
 * undefined when nothing is stored, and the caller decides what that means). An `enc:` value
 * cannot be sent. Values that are not strings pass through for the schema to reject.
 */
export function writeOnly(
  sent: unknown,
  stored: unknown,
  o: { path: string; keys: SecretKeys; mask: string; what: 'key' | 'value' },
): { value?: unknown; hint?: string; kept?: true; issue?: WriteOnlyIssue } {
  if (sent === undefined || sent === '' || (typeof sent === 'string' && sent.startsWith(o.mask))) return { value: stored, kept: true };
  if (typeof sent !== 'string') return { value: sent };
  if (sent.startsWith('enc:')) return { issue: { path: o.path, message: `send the ${o.what} itself, an env: reference, or the mask to keep the stored one` } };
  if (sent.startsWith('env:')) {
    try {
      resolveSecretRef(sent, o.path);
    } catch (e) {
      return { value: sent, issue: { path: o.path, message: (e as Error).message.replace(/^[^:]+: /, '') } };
    }
    return { value: sent };
  }
  return { value: 'enc:' + encryptSecret(o.keys, sent), hint: sent.slice(-4) };
}
