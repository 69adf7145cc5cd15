/**
 * Redaction of captured headers and bodies, applied before anything is stored. Three layers:
 * credential headers by name (always), literal secrets known for the request (the caller's token,
 * the provider keys), and patterns: well-known key formats plus the configured
 * `capture.secret_patterns`.
 */
export const REDACTED = '[REDACTED]';

/** Headers whose values are credentials whatever they hold. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'set-cookie', 'x-goog-api-key']);
/** Header names that end like they carry one (vendor keys, `x-auth-token`); `…-tokens-remaining` is a count. */
const SECRET_HEADER_NAME = /(^|[-_])(api[-_]?key|key|secret|token|password|passwd|credentials?)$/i;

/**
 * Key formats worth catching wherever they appear (a prompt that pastes a .env file, a tool result
 * that prints a config): Sluice, OpenAI and Anthropic keys, bearer credentials, AWS, GitHub,
 * Google and Slack tokens, JWTs and PEM private keys.
 */
const BUILTIN = [
  /sk-[A-Za-z0-9_-]{20,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]{12,}=*/gi,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,
  /\bgithub_pat_[A-Za-z0-9_]{40,}\b/g,
  /\bAIza[0-9A-Za-z_-]{35}\b/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
];

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Redactor {
  private readonly literal: RegExp | null;

  constructor(
    literals: readonly string[],
    private readonly patterns: readonly RegExp[],
  ) {
    // Longest first, so a key that contains another is replaced whole.
    const lits = [...new Set(literals.filter((s) => s && s.length >= 8))].sort((a, b) => b.length - a.length);
    this.literal = lits.length ? new RegExp(lits.map(escapeRe).join('|'), 'g') : null;
  }

  text(s: string): string {
    let out = s;
    if (this.literal) out = out.replace(this.literal, REDACTED);
    for (const re of BUILTIN) out = out.replace(re, REDACTED);
    for (const re of this.patterns) {
      re.lastIndex = 0;
      out = out.replace(re, REDACTED);
    }
    return out;
  }

  /** Headers as a plain object of strings (repeated headers joined), credentials replaced. */
  headers(h: Record<string, unknown> | null | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    if (!h) return out;
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || v === null) continue;
      const name = k.toLowerCase();
      const value = Array.isArray(v) ? v.map(String).join(name === 'set-cookie' ? '\n' : ', ') : String(v);
      out[name] = SECRET_HEADERS.has(name) || SECRET_HEADER_NAME.test(name) ? REDACTED : this.text(value);
    }
    return out;
  }
}

/** The credential a caller sent (Authorization: Bearer … or x-api-key), to redact wherever it is echoed. */
export function callerSecrets(h: Record<string, unknown> | null | undefined): string[] {
  if (!h) return [];
  const out: string[] = [];
  const auth = h.authorization;
  if (typeof auth === 'string') {
    const m = /^\s*\w+\s+(\S+)/.exec(auth);
    if (m) out.push(m[1]);
  }
  const key = h['x-api-key'];
  if (typeof key === 'string' && key.trim()) out.push(key.trim());
  return out;
}
