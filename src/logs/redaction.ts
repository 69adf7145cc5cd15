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
  /sk-[A-Za-z0-9_-]{20,}/,
  /\b[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9._~+/-]{12,}=*/,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/,
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/,
  /\bgithub_pat_[A-Za-z0-9_]{40,}\b/,
  /\bAIza[0-9A-Za-z_-]{35}\b/,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/,
].map((r) => r.source);

/** Whether a header name is a credential's, remembered per name (the same few hundred recur). */
const secretName = new Map<string, boolean>();
function isSecretHeader(name: string): boolean {
  let v = secretName.get(name);
  if (v === undefined) {
    v = SECRET_HEADERS.has(name) || SECRET_HEADER_NAME.test(name);
    if (secretName.size < 2000) secretName.set(name, v);
  }
  return v;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Redactor {
  /** Literals and built-in formats as one alternation: one pass over each text. */
  private readonly known: RegExp;
  private readonly extra: string[];

  /**
   * `literals` are the long-lived secrets (provider keys; the regex is compiled once per set, see
   * `redactorFor`), `extra` the request's own (the caller's token), replaced as plain strings.
   */
  constructor(
    literals: readonly string[],
    private readonly patterns: readonly RegExp[],
    extra: readonly string[] = [],
  ) {
    // Longest first, so a key that contains another is replaced whole.
    const lits = [...new Set(literals.filter((s) => s && s.length >= 8))].sort((a, b) => b.length - a.length);
    this.known = new RegExp([...lits.map(escapeRe), ...BUILTIN].join('|'), 'g');
    this.extra = extra.filter((s) => s && s.length >= 8);
  }

  /** The same redactor with the request's own secrets added (shares the compiled expression). */
  with(extra: readonly string[]): Redactor {
    const r = Object.create(Redactor.prototype) as Redactor;
    Object.assign(r, { known: this.known, patterns: this.patterns, extra: extra.filter((s) => s && s.length >= 8) });
    return r;
  }

  text(s: string): string {
    let out = s;
    for (const x of this.extra) if (out.includes(x)) out = out.split(x).join(REDACTED);
    out = out.replace(this.known, REDACTED);
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
      // Node gives lower-case names already; the upstream's may not be.
      const name = /[A-Z]/.test(k) ? k.toLowerCase() : k;
      const value = Array.isArray(v) ? v.map(String).join(name === 'set-cookie' ? '\n' : ', ') : String(v);
      // Nothing shorter than 8 characters is a key Sluice knows (most header values are short).
      out[name] = isSecretHeader(name) ? REDACTED : value.length >= 8 || this.patterns.length ? this.text(value) : value;
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

const cache = new WeakMap<readonly string[], { patterns: readonly RegExp[]; red: Redactor }>();

/** A redactor for a set of provider keys and patterns, compiled once per config. */
export function redactorFor(keys: readonly string[], patterns: readonly RegExp[]): Redactor {
  const hit = cache.get(keys);
  if (hit && hit.patterns === patterns) return hit.red;
  const red = new Redactor(keys, patterns);
  cache.set(keys, { patterns, red });
  return red;
}
