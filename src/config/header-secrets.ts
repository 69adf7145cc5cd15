import { decryptSecret } from '../common/crypto';
import { resolveSecretRef } from './secret-refs';
import type { SecretKeys } from './secret-key';
import { writeOnly, WriteOnlyIssue } from './write-only';

type Doc = Record<string, any>;
type Issue = WriteOnlyIssue;

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
      const r = writeOnly(v, oldName === undefined ? undefined : prevHeaders[oldName], { path, keys, mask, what: 'value' });
      if (r.issue) issues.push(r.issue);
      else if (r.kept && r.value === undefined) issues.push({ path, message: 'no stored value to keep for this header; enter it again' });
      else {
        headers[h] = r.value;
        const hint = r.kept ? prevHints?.[headerHintKey(was, h)] : r.hint;
        if (hint) hints[headerHintKey(name, h)] = hint;
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
