import { decryptSecret, encryptSecret } from '../common/crypto';
import { resolveSecretRef } from './secret-refs';
import type { SecretKeys } from './secret-key';

type Doc = Record<string, any>;
type Issue = { path: string; message: string };

/**
 * Extra upstream headers of a provider (`providers.<name>.headers`) whose names carry credentials
 * (Authorization, Cookie, API keys, tokens, secrets, passwords) are handled like `apikey`: stored
 * encrypted (`enc:…`) or as an `env:VAR` reference, shown as `••••last4`, kept when a save sends
 * the mask. Other headers (an organization id, a feature flag) stay as typed.
 */
export function isSecretHeader(name: string): boolean {
  return /^(authorization|proxy-authorization|cookie)$/i.test(name) || /(key|token|secret|password|passwd|auth|credential|signature)/i.test(name);
}

export const headerHintKey = (provider: string, header: string) => `header:${provider}:${header.toLowerCase()}`;

/** On save: encrypts typed secret header values, keeps stored ones for masks; returns problems. */
export function protectHeaderSecrets(
  doc: Doc,
  prev: Doc | undefined,
  prevHints: Record<string, string> | undefined,
  hints: Record<string, string>,
  keys: SecretKeys,
  mask: string,
  renames: Record<string, string> = {},
): Issue[] {
  const issues: Issue[] = [];
  const providers = doc?.providers && typeof doc.providers === 'object' ? doc.providers : {};
  for (const [name, p] of Object.entries<Doc>(providers)) {
    const headers = p?.headers;
    if (!headers || typeof headers !== 'object' || Array.isArray(headers)) continue;
    const was = renames[name] ?? name;
    const prevHeaders: Doc = prev?.providers?.[was]?.headers ?? {};
    for (const [h, v] of Object.entries<unknown>(headers)) {
      if (!isSecretHeader(h) || typeof v !== 'string') continue;
      const path = `providers.${name}.headers.${h}`;
      const oldName = Object.keys(prevHeaders).find((x) => x.toLowerCase() === h.toLowerCase());
      if (v === '' || v.startsWith(mask)) {
        const old = oldName === undefined ? undefined : prevHeaders[oldName];
        if (old !== undefined) {
          headers[h] = old;
          const hint = prevHints?.[headerHintKey(was, h)];
          if (hint) hints[headerHintKey(name, h)] = hint;
        } else issues.push({ path, message: 'no stored value to keep for this header; enter it again' });
      } else if (v.startsWith('enc:')) {
        issues.push({ path, message: 'send the value itself, an env: reference, or the mask to keep the stored one' });
      } else if (v.startsWith('env:')) {
        try {
          resolveSecretRef(v, path);
        } catch (e) {
          issues.push({ path, message: (e as Error).message.replace(/^[^:]+: /, '') });
        }
      } else {
        headers[h] = 'enc:' + encryptSecret(keys, v);
        hints[headerHintKey(name, h)] = v.slice(-4);
      }
    }
  }
  return issues;
}

/** What people may see: secret header values as `••••last4` (env: references as they are). */
export function maskHeaderSecrets(doc: Doc, hints: Record<string, string>, mask: string): void {
  for (const [name, p] of Object.entries<Doc>(doc?.providers ?? {})) {
    const headers = p?.headers;
    if (!headers || typeof headers !== 'object') continue;
    for (const [h, v] of Object.entries<unknown>(headers)) {
      if (isSecretHeader(h) && typeof v === 'string' && !v.startsWith('env:')) headers[h] = mask + (hints[headerHintKey(name, h)] ?? '');
    }
  }
}

/** Header values as sent upstream: `enc:` decrypted and `env:` resolved for secret headers. */
export function resolveHeaders(headers: Record<string, string> | undefined, provider: string, keys: SecretKeys): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [h, v] of Object.entries(headers ?? {})) {
    if (!isSecretHeader(h)) out[h] = v;
    else if (v.startsWith('enc:')) out[h] = decryptSecret(keys, v.slice(4));
    else out[h] = resolveSecretRef(v, `providers.${provider}.headers.${h}`) ?? '';
  }
  return out;
}
