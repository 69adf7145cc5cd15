import { Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { isUuid } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { notFound } from '../common/errors';
import { PageQuery, parsePageQuery, tableNav } from '../common/paging';
import { compactNumber, formatUsd } from '../common/views';
import { CaptureDetail, LogFilters, LogsRepository, RequestRow, requestRow, SESSION_SORTS, SessionRow, ToolEventRow, Visibility } from './logs.repository';

const DAY = 86_400_000;
const STATUSES = ['ok', '4xx', '5xx', 'cancelled'] as const;
const KINDS = ['function', 'mcp', 'builtin'] as const;
/** Bodies longer than this are shown as plain text rather than split into highlightable lines. */
const MAX_HIGHLIGHT = 400_000;

/** Filters as they appear in the query string and the form. */
export interface FilterQuery {
  from: string;
  to: string;
  org?: string;
  model?: string;
  user?: string;
  token?: string;
  status?: string;
  tools?: string;
  tool?: string;
  kind?: string;
  q?: string;
  session?: string;
}

const str = (v: unknown, max = 200) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);
const day = (d: Date) => d.toISOString().slice(0, 10);
const parseDay = (v: string | undefined) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) ? new Date(`${v}T00:00:00Z`) : null);

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

/** RFC 4180 field; a leading formula character is neutralised so spreadsheets do not evaluate it. */
const csvField = (v: unknown) => {
  let s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(' ') : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const EXPORT_FIELDS: [string, (r: RequestRow) => unknown][] = [
  ['created_at', (r) => r.createdAt],
  ['request_id', (r) => r.requestId],
  ['org', (r) => r.orgSlug],
  ['user', (r) => r.ownerEmail],
  ['token', (r) => r.tokenName],
  ['end_user', (r) => r.endUser],
  ['session', (r) => r.sessionId],
  ['client_session_id', (r) => r.clientSessionId],
  ['client', (r) => r.client],
  ['provider', (r) => r.provider],
  ['model', (r) => r.model],
  ['endpoint', (r) => r.endpoint],
  ['stream', (r) => r.stream],
  ['status', (r) => r.status],
  ['error_type', (r) => r.errorType],
  ['cancelled', (r) => r.cancelled],
  ['latency_ms', (r) => Math.round(r.latencyMs * 10) / 10],
  ['ttft_ms', (r) => (r.ttftMs === null ? null : Math.round(r.ttftMs * 10) / 10)],
  ['input_tokens', (r) => r.inputTokens],
  ['output_tokens', (r) => r.outputTokens],
  ['cached_input_tokens', (r) => r.cachedInputTokens],
  ['cache_write_tokens', (r) => r.cacheWriteTokens],
  ['reasoning_tokens', (r) => r.reasoningTokens],
  ['cost_micros', (r) => r.costMicros],
  ['usage_estimated', (r) => r.usageEstimated],
  ['tools_offered', (r) => r.toolsOffered],
  ['tool_calls', (r) => r.toolCalls],
  ['captured', (r) => r.captured],
];

/**
 * The logs and tool use pages: filters from the query string, what the actor may see
 * (Visibility), and view models for sessions, requests and tool statistics.
 */
@Injectable()
export class LogsService {
  constructor(private readonly repo: LogsRepository) {}

  visibility(actor: Actor): Visibility {
    if (actor.globalAdmin && !actor.confinedToOrgId) return { all: true };
    const orgs = actor.orgs.filter((o) => !actor.confinedToOrgId || o.orgId === actor.confinedToOrgId);
    if (actor.globalAdmin) return { all: false, adminOrgs: [actor.confinedToOrgId!], memberOrgs: [], userId: actor.userId };
    return {
      all: false,
      adminOrgs: orgs.filter((o) => o.role === 'admin').map((o) => o.orgId),
      memberOrgs: orgs.filter((o) => o.role !== 'admin').map((o) => o.orgId),
      userId: actor.userId,
    };
  }

  private async filters(actor: Actor, q: Record<string, unknown>): Promise<{ v: Visibility; f: LogFilters; query: FilterQuery; orgs: { id: string; slug: string; name: string }[] }> {
    const v = this.visibility(actor);
    const orgs = await this.repo.orgs(v);
    const now = new Date();
    const today = new Date(`${day(now)}T00:00:00Z`);
    let to = parseDay(str(q.to)) ?? today;
    let from = parseDay(str(q.from)) ?? new Date(to.getTime() - 6 * DAY);
    if (from > to) [from, to] = [to, from];
    if (to.getTime() - from.getTime() > 366 * DAY) from = new Date(to.getTime() - 366 * DAY);
    const query: FilterQuery = { from: day(from), to: day(to) };
    const f: LogFilters = { from, to: new Date(to.getTime() + DAY) };
    const org = str(q.org);
    const o = org ? orgs.find((x) => x.slug === org.toLowerCase() || x.id === org) : undefined;
    if (o) {
      f.orgId = o.id;
      query.org = o.slug;
    }
    const model = str(q.model);
    if (model) f.model = query.model = model;
    const user = str(q.user);
    if (user && isUuid(user)) f.userId = query.user = user;
    const token = str(q.token);
    if (token && isUuid(token)) f.tokenId = query.token = token;
    const status = str(q.status);
    if (status && (STATUSES as readonly string[]).includes(status)) f.status = (query.status = status) as LogFilters['status'];
    const tools = str(q.tools);
    if (tools === 'yes' || tools === 'no') {
      f.hasTools = tools === 'yes';
      query.tools = tools;
    }
    const tool = str(q.tool);
    if (tool) f.tool = query.tool = tool;
    const kind = str(q.kind);
    if (kind && (KINDS as readonly string[]).includes(kind)) f.kind = query.kind = kind;
    const text = str(q.q, 300);
    if (text) f.text = query.q = text;
    const session = str(q.session);
    if (session && isUuid(session)) f.sessionId = query.session = session;
    return { v, f, query, orgs };
  }

  /** The filters as a query string (no page or sort), for links, exports and chart sources. */
  private qs(query: FilterQuery, drop: (keyof FilterQuery)[] = []): string {
    const u = new URLSearchParams();
    for (const [k, val] of Object.entries(query)) if (val !== undefined && val !== '' && !drop.includes(k as keyof FilterQuery)) u.set(k, val);
    return u.toString();
  }

  private async choices(v: Visibility, f: LogFilters) {
    const [models, users, tokens, toolNames] = await Promise.all([this.repo.models(v, f), this.repo.users(v, f.orgId), this.repo.tokens(v, f.orgId), this.repo.toolNames(v, f)]);
    return { models, users, tokens, toolNames, canPickUser: users.length > 0 };
  }

  async logsPage(actor: Actor, q: Record<string, unknown>) {
    const { v, f, query, orgs } = await this.filters(actor, q);
    const pq = parsePageQuery(q, SESSION_SORTS, { sort: 'last', dir: 'desc', per: 25 });
    const [page, choices] = await Promise.all([this.repo.sessions(f, v, pq), this.choices(v, f)]);
    const filterQs = this.qs(query);
    return {
      filters: query,
      filterQs,
      orgs,
      ...choices,
      statuses: STATUSES,
      page: { ...page, items: page.items.map((s) => this.sessionView(s)) },
      tbl: tableNav('/ui/logs', { ...q, ...query }, page, SESSION_SORTS),
    };
  }

  private sessionView(s: SessionRow) {
    return {
      ...s,
      caller: s.ownerEmail ?? (s.serviceAccount ? `service account ${s.serviceAccount}` : null),
      duration: formatDuration(s.durationMs),
      tokens: compactNumber(s.inputTokens + s.outputTokens),
      tokensIn: compactNumber(s.inputTokens),
      tokensOut: compactNumber(s.outputTokens),
      cost: formatUsd(s.costMicros),
    };
  }

  private requestView(r: RequestRow) {
    return {
      ...r,
      statusClass: r.cancelled ? 'warn' : r.status >= 400 ? 'danger' : 'ok',
      latency: formatDuration(r.latencyMs),
      ttft: r.ttftMs === null ? '—' : formatDuration(r.ttftMs),
      tokensIn: compactNumber(r.inputTokens),
      tokensOut: compactNumber(r.outputTokens),
      cost: formatUsd(r.costMicros),
    };
  }

  async sessionPage(actor: Actor, id: string, q: Record<string, unknown>) {
    if (!isUuid(id)) throw notFound('session');
    const { v, f, query } = await this.filters(actor, q);
    const s = await this.repo.session(id, v);
    if (!s) throw notFound('session');
    const pq: PageQuery = { ...parsePageQuery(q, ['time'], { sort: 'time', dir: 'asc', per: 100 }) };
    // Request filters narrow the list; the session's own filters (dates, people) do not apply inside it.
    const requests = await this.repo.sessionRequests(s, { ...f, from: new Date(0), to: new Date(8.64e15), sessionId: undefined }, v, pq);
    const narrowed = !!(f.model || f.status || f.hasTools !== undefined || f.tool || f.text);
    return {
      session: this.sessionView(s),
      filters: query,
      filterQs: this.qs(query),
      narrowed,
      requests: { ...requests, items: requests.items.map((r) => this.requestView(r)) },
      tbl: tableNav(`/ui/logs/sessions/${s.id}`, { ...q, ...query }, requests, []),
    };
  }

  async requestPage(actor: Actor, id: string) {
    if (!isUuid(id)) throw notFound('request');
    const v = this.visibility(actor);
    const found = await this.repo.request(id, v);
    if (!found) throw notFound('request');
    const { row, capture, tools } = found;
    const reqJson = parseJson(capture?.requestBody);
    const resJson = parseJson(capture?.responseBody);
    const names = new Set(tools.map((t) => t.name));
    return {
      request: this.requestView(row),
      usage: {
        input: row.inputTokens,
        output: row.outputTokens,
        cached: row.cachedInputTokens,
        cacheWrite: row.cacheWriteTokens,
        reasoning: row.reasoningTokens,
        cost: formatUsd(row.costMicros),
        estimated: row.usageEstimated,
      },
      capture: capture ? this.captureView(capture, reqJson, resJson, names) : null,
      tools: toolDetails(tools, reqJson, resJson),
    };
  }

  private captureView(c: CaptureDetail, reqJson: unknown, resJson: unknown, names: Set<string>) {
    const body = (text: string | null, json: unknown, original: number) => {
      if (text === null) return null;
      const shown = Buffer.byteLength(text);
      const truncated = original > c.capBytes;
      const pretty = json !== undefined ? JSON.stringify(json, null, 2) : text;
      return {
        size: formatBytes(original),
        shownSize: formatBytes(shown),
        truncated,
        json: json !== undefined,
        lines: names.size && pretty.length <= MAX_HIGHLIGHT ? highlight(pretty, names) : null,
        text: pretty,
      };
    };
    const headers = (h: Record<string, string> | null) => (h ? Object.entries(h).sort((a, b) => a[0].localeCompare(b[0])).map(([name, value]) => ({ name, value, redacted: value.includes('[REDACTED]') })) : []);
    return {
      mode: c.mode,
      full: c.mode === 'full',
      cap: formatBytes(c.capBytes),
      capBytes: c.capBytes,
      requestHeaders: headers(c.requestHeaders),
      responseHeaders: headers(c.responseHeaders),
      requestSize: formatBytes(c.requestBytes),
      responseSize: formatBytes(c.responseBytes),
      streamSize: c.streamBytes === null ? null : formatBytes(c.streamBytes),
      requestBody: body(c.requestBody, reqJson, c.requestBytes),
      responseBody: body(c.responseBody, resJson, c.responseBytes),
      stream: c.responseStream === null ? null : { text: c.responseStream, size: formatBytes(c.streamBytes), truncated: (c.streamBytes ?? 0) > c.capBytes, shownSize: formatBytes(Buffer.byteLength(c.responseStream)) },
    };
  }

  /** Streams the filtered request rows as CSV or JSON Lines from a database cursor. */
  async export(actor: Actor, q: Record<string, unknown>, format: 'csv' | 'jsonl', res: Response): Promise<void> {
    const { v, f, query } = await this.filters(actor, q);
    const { sql, params } = this.repo.exportQuery(f, v);
    res.status(200);
    res.setHeader('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="sluice-requests-${query.from}-${query.to}.${format}"`);
    res.setHeader('cache-control', 'no-store');
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    const write = async (chunk: string) => {
      if (gone) throw new Error('export client went away');
      if (!res.write(chunk)) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    };
    if (format === 'csv') await write(EXPORT_FIELDS.map((x) => x[0]).join(',') + '\r\n');
    try {
      await this.repo.stream(sql, params, async (rows) => {
        const out: string[] = [];
        for (const raw of rows) {
          const r = requestRow(raw);
          if (format === 'csv') out.push(EXPORT_FIELDS.map(([, get]) => csvField(get(r))).join(',') + '\r\n');
          else out.push(JSON.stringify(Object.fromEntries(EXPORT_FIELDS.map(([k, get]) => [k, get(r)]))) + '\n');
        }
        await write(out.join(''));
      });
    } catch (e) {
      if (gone) return;
      // Headers are out: cut the download so it is visibly incomplete rather than silently short.
      res.destroy(e as Error);
      return;
    }
    res.end();
  }

  // Tool use --------------------------------------------------------------------------------------

  async toolsPage(actor: Actor, q: Record<string, unknown>) {
    const { v, f, query, orgs } = await this.filters(actor, q);
    const pq = parsePageQuery(q, ['calls'], { sort: 'calls', dir: 'desc', per: 25 });
    const [breakdown, sessions, choices] = await Promise.all([this.repo.toolBreakdown(f, v), this.repo.toolSessions(f, v, pq), this.choices(v, f)]);
    const byKind = KINDS.map((k) => ({ kind: k, calls: breakdown.filter((b) => b.kind === k).reduce((n, b) => n + b.calls, 0), tools: breakdown.filter((b) => b.kind === k).length }));
    const totalCalls = breakdown.reduce((n, b) => n + b.calls, 0);
    const base = this.qs(query, ['tool']);
    return {
      filters: query,
      filterQs: this.qs(query),
      orgs,
      ...choices,
      kinds: KINDS,
      breakdown: breakdown.map((b) => ({ ...b, href: `/ui/tools?${base ? base + '&' : ''}tool=${encodeURIComponent(b.name)}` })),
      byKind,
      totalCalls,
      totalResults: breakdown.reduce((n, b) => n + b.results, 0),
      sessions: {
        ...sessions,
        items: sessions.items.map((x) => ({ ...x, session: this.sessionView(x.session), tools: x.tools.map((t) => ({ ...t, share: x.calls ? Math.round((t.n * 100) / x.calls) : 0 })) })),
      },
      tbl: tableNav('/ui/tools', { ...q, ...query }, sessions, []),
    };
  }

  /** uPlot chart: tool calls per hour (ranges up to two days) or day, one series per top tool. */
  async toolsSeries(actor: Actor, q: Record<string, unknown>) {
    const { v, f } = await this.filters(actor, q);
    const bucket = f.to.getTime() - f.from.getTime() <= 2 * DAY ? 'hour' : 'day';
    const step = bucket === 'hour' ? 3_600_000 : DAY;
    const points = await this.repo.toolSeries(f, v, bucket);
    const totals = new Map<string, number>();
    for (const p of points) totals.set(p.name, (totals.get(p.name) ?? 0) + p.n);
    const top = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 7).map((x) => x[0]);
    const names = totals.size > top.length ? [...top, 'other'] : top;
    const xs: number[] = [];
    for (let t = f.from.getTime(); t < f.to.getTime(); t += step) xs.push(t);
    const index = new Map(xs.map((x, i) => [x, i]));
    const series = names.map(() => xs.map(() => 0));
    for (const p of points) {
      const i = index.get(p.t.getTime());
      if (i === undefined) continue;
      const k = top.includes(p.name) ? top.indexOf(p.name) : names.length - 1;
      series[k][i] += p.n;
    }
    const colors = ['#2563eb', '#d97706', '#059669', '#7c3aed', '#dc2626', '#0891b2', '#ca8a04', '#64748b'];
    return {
      // Hints for public/js/charts.js: a stacked histogram, counts on the y axis.
      kind: 'bars',
      stacked: true,
      tz: 'UTC',
      units: { y: 'count' },
      ...(points.length ? {} : { empty: 'No tool calls match.' }),
      options: {
        title: `Tool calls per ${bucket}`,
        scales: { x: { time: true } },
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], fill: colors[i % colors.length] + '55', width: 1, bars: true }))],
      },
      data: [xs.map((x) => x / 1000), ...series],
    };
  }
}

function parseJson(text: string | null | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Lines of a pretty-printed body, marked where a tool call, a result or a tool's name appears. */
function highlight(text: string, names: Set<string>): { text: string; hl: boolean }[] {
  const marks = [/"type": "(tool_use|tool_result|server_tool_use|mcp_tool_use|function_call|function_call_output|mcp_call)"/, /"(tool_calls|tool_call_id|tool_use_id|call_id)":/];
  const named = [...names].map((n) => `"name": ${JSON.stringify(n)}`);
  return text.split('\n').map((line) => ({ text: line, hl: marks.some((m) => m.test(line)) || named.some((n) => line.includes(n)) }));
}

const clip = (v: unknown, max = 4000) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return s === undefined ? '' : s.length > max ? s.slice(0, max) + '…' : s;
};

/** Tool calls and results with what they carried, found in the captured bodies by call id. */
function toolDetails(tools: ToolEventRow[], req: unknown, res: unknown) {
  const callArgs = new Map<string, string>();
  const resultText = new Map<string, string>();
  const r = res as Record<string, any> | undefined;
  for (const b of Array.isArray(r?.content) ? r!.content : []) if (b?.id && (b.type === 'tool_use' || b.type === 'server_tool_use' || b.type === 'mcp_tool_use')) callArgs.set(b.id, clip(b.input));
  for (const c of Array.isArray(r?.choices) ? r!.choices : []) for (const tc of c?.message?.tool_calls ?? []) if (tc?.id) callArgs.set(tc.id, clip(parseJson(tc.function?.arguments) ?? tc.function?.arguments));
  for (const o of Array.isArray(r?.output) ? r!.output : []) if (o?.call_id || o?.id) callArgs.set(o.call_id ?? o.id, clip(parseJson(o.arguments) ?? o.arguments ?? o.action ?? o));
  const q = req as Record<string, any> | undefined;
  const messages = Array.isArray(q?.messages) ? q!.messages : Array.isArray(q?.input) ? q!.input : [];
  for (const m of messages) {
    if (m?.role === 'tool' && m.tool_call_id) resultText.set(m.tool_call_id, clip(m.content));
    if (m?.type === 'function_call_output' && m.call_id) resultText.set(m.call_id, clip(m.output));
    for (const b of Array.isArray(m?.content) ? m.content : []) if (b?.type === 'tool_result' && b.tool_use_id) resultText.set(b.tool_use_id, clip(b.content));
  }
  return tools.map((t) => ({ ...t, detail: t.callId ? (t.event === 'call' ? callArgs.get(t.callId) : resultText.get(t.callId)) ?? null : null }));
}
