import type { IncomingHttpHeaders } from 'node:http';

/**
 * Who and what is behind a request, from identifiers clients already send (see the architecture
 * page, "Who is calling"). Pure functions of headers and body, so they are cheap and testable.
 */
export interface Attribution {
  endUser: string | null;
  sessionId: string | null;
  client: string | null;
  /** Claude Code's device id, kept as the client instance rather than a person. */
  deviceId: string | null;
  tags: string[] | null;
}

const MAX_ID = 256;
const clean = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t ? t.slice(0, MAX_ID) : null;
};
const header = (h: IncomingHttpHeaders, name: string): string | null => {
  const v = h[name];
  return clean(Array.isArray(v) ? v[0] : v);
};

const CLAUDE_CODE_LEGACY = /^user_([0-9a-f]{64})_account_([^_]*)_session_([0-9a-f-]{36})$/i;

/** Claude Code's metadata.user_id: a device blob, not a person, in either of its two formats. */
export function parseClaudeCodeUserId(v: string): { deviceId: string; accountId: string | null; sessionId: string | null } | null {
  const legacy = CLAUDE_CODE_LEGACY.exec(v);
  if (legacy) return { deviceId: legacy[1], accountId: legacy[2] || null, sessionId: legacy[3] };
  if (v.startsWith('{')) {
    try {
      const j = JSON.parse(v);
      if (j && typeof j === 'object' && ('device_id' in j || 'session_id' in j)) {
        return { deviceId: clean(j.device_id) ?? '', accountId: clean(j.account_uuid), sessionId: clean(j.session_id) };
      }
    } catch {
      return null;
    }
  }
  return null;
}

export function clientFromHeaders(h: IncomingHttpHeaders): string | null {
  const app = header(h, 'x-app');
  const ua = header(h, 'user-agent') ?? '';
  let m: RegExpExecArray | null;
  if ((m = /claude-cli\/([\w.+-]+)/i.exec(ua))) return `claude-code/${m[1]}`;
  if ((m = /codex[_-]cli[\w-]*\/([\w.+-]+)/i.exec(ua))) return `codex/${m[1]}`;
  if (/open-?webui/i.test(ua) || h['x-openwebui-user-id'] || h['x-openwebui-user-email']) return 'open-webui';
  if ((m = /^OpenAI\/(\w+) ([\w.+-]+)/.exec(ua))) return `openai-sdk-${m[1].toLowerCase()}/${m[2]}`;
  if ((m = /^Anthropic\/(\w+) ([\w.+-]+)/.exec(ua))) return `anthropic-sdk-${m[1].toLowerCase()}/${m[2]}`;
  if (app) return app;
  const first = ua.split(/[\s(]/)[0];
  return first ? first.slice(0, 64) : null;
}

export function attribute(h: IncomingHttpHeaders, body: Record<string, any>): Attribution {
  const metaUser = clean(body?.metadata?.user_id);
  const cc = metaUser ? parseClaudeCodeUserId(metaUser) : null;
  const endUser =
    clean(body?.user_id) ??
    clean(body?.user) ??
    header(h, 'x-sluice-user') ??
    header(h, 'x-openwebui-user-email') ??
    header(h, 'x-openwebui-user-id') ??
    (cc ? null : metaUser);
  const sessionId =
    header(h, 'x-sluice-session') ?? header(h, 'x-claude-code-session-id') ?? cc?.sessionId ?? header(h, 'session-id') ?? header(h, 'x-openwebui-chat-id') ?? null;
  const rawTags = header(h, 'x-sluice-tags');
  const tags = rawTags
    ? [...new Set(rawTags.split(',').map((t) => t.trim().slice(0, 64)).filter(Boolean))].slice(0, 10)
    : null;
  return { endUser, sessionId, client: clientFromHeaders(h), deviceId: cc?.deviceId || null, tags: tags?.length ? tags : null };
}
