import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';

/**
 * Who may see which rows: everything (global admins), or every row of the orgs one administers
 * plus one's own rows (`owner_user_id`) in the orgs one is a member of.
 */
export type Visibility = { all: true } | { all: false; adminOrgs: string[]; memberOrgs: string[]; userId: string | null };

/** Filters shared by the logs page, its exports and the tool use page (already validated). */
export interface LogFilters {
  from: Date;
  to: Date;
  orgId?: string;
  model?: string;
  userId?: string;
  tokenId?: string;
  status?: 'ok' | '4xx' | '5xx' | 'cancelled';
  hasTools?: boolean;
  tool?: string;
  kind?: string;
  /** websearch-style text, matched against captured bodies. */
  text?: string;
  sessionId?: string;
}

export const SESSION_SORTS = ['last', 'start', 'duration', 'requests', 'tokens', 'cost'] as const;
const SESSION_ORDER: Record<string, string> = {
  last: 's.last_at',
  start: 's.first_at',
  duration: '(s.last_at - s.first_at)',
  requests: 's.requests',
  tokens: '(s.input_tokens + s.output_tokens)',
  cost: 's.cost_micros',
};

export interface SessionRow {
  id: string;
  orgSlug: string;
  externalId: string | null;
  client: string | null;
  clientDevice: string | null;
  ownerEmail: string | null;
  serviceAccount: string | null;
  tokenName: string | null;
  endUser: string | null;
  firstAt: string;
  lastAt: string;
  durationMs: number;
  requests: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costMicros: number;
  models: string[];
  tools: string[];
  toolCalls: number;
}

export interface RequestRow {
  id: string;
  createdAt: string;
  requestId: string;
  orgSlug: string;
  ownerEmail: string | null;
  tokenName: string | null;
  endUser: string | null;
  sessionId: string | null;
  clientSessionId: string | null;
  client: string | null;
  provider: string | null;
  model: string | null;
  endpoint: string;
  stream: boolean;
  status: number;
  errorType: string | null;
  cancelled: boolean;
  latencyMs: number;
  ttftMs: number | null;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
  usageEstimated: boolean;
  toolsOffered: string[];
  toolCalls: string[];
  captured: string | null;
}

export interface CaptureDetail {
  mode: string;
  capBytes: number;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string> | null;
  requestBody: string | null;
  requestBytes: number;
  responseBody: string | null;
  responseBytes: number;
  responseStream: string | null;
  streamBytes: number | null;
}

export interface ToolEventRow {
  event: 'call' | 'result';
  name: string;
  kind: string;
  callId: string | null;
}

/** Builds a where clause with numbered parameters. */
class Where {
  readonly parts: string[] = [];
  constructor(readonly params: unknown[] = []) {}
  p(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }
  add(sql: string): void {
    this.parts.push(sql);
  }
  get sql(): string {
    return this.parts.length ? this.parts.join(' and ') : 'true';
  }
}

function visible(w: Where, v: Visibility, alias: string): void {
  if (v.all) return;
  const admin = `${alias}.org_id = any(${w.p(v.adminOrgs)}::uuid[])`;
  if (!v.userId || !v.memberOrgs.length) {
    w.add(admin);
    return;
  }
  w.add(`(${admin} or (${alias}.org_id = any(${w.p(v.memberOrgs)}::uuid[]) and ${alias}.owner_user_id = ${w.p(v.userId)}::uuid))`);
}

/** Prefix search over every word: `read fil` finds "README file". */
export function toTsQuery(text: string): string | null {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 12);
  return words.length ? words.map((x) => `${x}:*`).join(' & ') : null;
}

/** Conditions on one request_log row `r` (and its tool calls and capture). */
function requestConditions(w: Where, f: LogFilters): void {
  if (f.model) w.add(`r.model = ${w.p(f.model)}`);
  if (f.status === 'ok') w.add('r.status < 400 and not r.cancelled');
  if (f.status === '4xx') w.add('r.status between 400 and 499 and not r.cancelled');
  if (f.status === '5xx') w.add('r.status >= 500 and not r.cancelled');
  if (f.status === 'cancelled') w.add('r.cancelled');
  if (f.hasTools === true) w.add('exists (select 1 from tool_call t where t.request_row_id = r.id)');
  if (f.hasTools === false) w.add('not exists (select 1 from tool_call t where t.request_row_id = r.id)');
  if (f.tool) w.add(`exists (select 1 from tool_call t where t.request_row_id = r.id and t.name = ${w.p(f.tool)})`);
  const q = f.text ? toTsQuery(f.text) : null;
  if (q) w.add(`exists (select 1 from request_capture c where c.request_row_id = r.id and c.search @@ to_tsquery('simple', ${w.p(q)}))`);
}

const hasRequestConditions = (f: LogFilters) => !!(f.model || f.status || f.hasTools !== undefined || f.tool || f.text);

const SESSION_SELECT = `select s.id, o.slug as org_slug, s.external_id, s.client, s.client_device, u.email as owner_email, sa.name as service_account,
       k.name as token_name, s.end_user, s.first_at, s.last_at, extract(epoch from (s.last_at - s.first_at)) * 1000 as duration_ms,
       s.requests, s.failures, s.input_tokens, s.output_tokens, s.cached_input_tokens, s.cost_micros, s.models, s.tools, s.tool_calls
  from session s
  join organization o on o.id = s.org_id
  left join app_user u on u.id = s.owner_user_id
  left join service_account sa on sa.id = s.service_account_id
  left join api_token k on k.id = s.token_id`;

const REQUEST_SELECT = `select r.id, r.org_id, r.created_at, r.request_id, o.slug as org_slug, u.email as owner_email, k.name as token_name, r.end_user,
       r.sluice_session_id, r.session_id, r.client, r.provider, r.model, r.endpoint, r.stream, r.status, r.error_type, r.cancelled,
       r.latency_ms, r.ttft_ms, r.input_tokens, r.output_tokens, r.cached_input_tokens, r.cache_write_tokens, r.reasoning_tokens,
       r.cost_micros, r.usage_estimated, r.tools_offered,
       array(select t.name from tool_call t where t.request_row_id = r.id and t.event = 'call' order by t.id) as tool_calls,
       (select c.mode from request_capture c where c.request_row_id = r.id) as captured
  from request_log r
  join organization o on o.id = r.org_id
  left join app_user u on u.id = r.owner_user_id
  left join api_token k on k.id = r.token_id`;

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : '');

function sessionRow(x: Record<string, any>): SessionRow {
  return {
    id: x.id,
    orgSlug: x.org_slug,
    externalId: x.external_id,
    client: x.client,
    clientDevice: x.client_device,
    ownerEmail: x.owner_email,
    serviceAccount: x.service_account,
    tokenName: x.token_name,
    endUser: x.end_user,
    firstAt: iso(x.first_at),
    lastAt: iso(x.last_at),
    durationMs: Math.round(Number(x.duration_ms)),
    requests: x.requests,
    failures: x.failures,
    inputTokens: Number(x.input_tokens),
    outputTokens: Number(x.output_tokens),
    cachedInputTokens: Number(x.cached_input_tokens),
    costMicros: Number(x.cost_micros),
    models: x.models ?? [],
    tools: x.tools ?? [],
    toolCalls: x.tool_calls,
  };
}

export function requestRow(x: Record<string, any>): RequestRow {
  return {
    id: x.id,
    createdAt: iso(x.created_at),
    requestId: x.request_id,
    orgSlug: x.org_slug,
    ownerEmail: x.owner_email,
    tokenName: x.token_name,
    endUser: x.end_user,
    sessionId: x.sluice_session_id,
    clientSessionId: x.session_id,
    client: x.client,
    provider: x.provider,
    model: x.model,
    endpoint: x.endpoint,
    stream: x.stream,
    status: x.status,
    errorType: x.error_type,
    cancelled: x.cancelled,
    latencyMs: Number(x.latency_ms),
    ttftMs: x.ttft_ms === null ? null : Number(x.ttft_ms),
    inputTokens: x.input_tokens,
    outputTokens: x.output_tokens,
    cachedInputTokens: x.cached_input_tokens,
    cacheWriteTokens: x.cache_write_tokens,
    reasoningTokens: x.reasoning_tokens,
    costMicros: Number(x.cost_micros),
    usageEstimated: x.usage_estimated,
    toolsOffered: x.tools_offered ?? [],
    toolCalls: x.tool_calls ?? [],
    captured: x.captured ?? null,
  };
}

/** The time a UUIDv7 was made; request rows are created at or after their id's time. */
export function uuidTime(id: string): Date | null {
  const hex = id.replace(/-/g, '').slice(0, 12);
  if (!/^[0-9a-f]{12}$/i.test(hex) || id[14] !== '7') return null;
  return new Date(parseInt(hex, 16));
}

/** Requests are looked up by id within this much time after the id was made (partition pruning). */
const REQUEST_WINDOW_MS = 7 * 86_400_000;

/**
 * SQL for the logs and tool use pages. Every query takes a Visibility and applies it to the rows
 * it reads, so a page can never show another tenant's rows whatever ids the client sends.
 */
@Injectable()
export class LogsRepository {
  constructor(private readonly pool: PgPool) {}

  private sessionWhere(f: LogFilters, v: Visibility): Where {
    const w = new Where();
    visible(w, v, 's');
    w.add(`s.last_at >= ${w.p(f.from)} and s.first_at < ${w.p(f.to)}`);
    if (f.orgId) w.add(`s.org_id = ${w.p(f.orgId)}`);
    if (f.userId) w.add(`s.owner_user_id = ${w.p(f.userId)}`);
    if (f.tokenId) w.add(`s.token_id = ${w.p(f.tokenId)}`);
    if (f.sessionId) w.add(`s.id = ${w.p(f.sessionId)}`);
    if (hasRequestConditions(f)) {
      const inner = new Where(w.params);
      inner.add('r.sluice_session_id = s.id');
      inner.add(`r.created_at >= greatest(s.first_at, ${inner.p(f.from)}) and r.created_at <= least(s.last_at, ${inner.p(f.to)})`);
      requestConditions(inner, f);
      w.add(`exists (select 1 from request_log r where ${inner.sql})`);
    }
    return w;
  }

  async sessions(f: LogFilters, v: Visibility, q: PageQuery): Promise<Page<SessionRow>> {
    const w = this.sessionWhere(f, v);
    const order = `${SESSION_ORDER[q.sort] ?? SESSION_ORDER.last} ${q.dir === 'asc' ? 'asc' : 'desc'}, s.id ${q.dir === 'asc' ? 'asc' : 'desc'}`;
    const [rows, count] = await Promise.all([
      this.pool.query(`${SESSION_SELECT} where ${w.sql} order by ${order} ${limitOffset(q)}`, w.params),
      this.pool.query<{ n: string }>(`select count(*) as n from session s where ${w.sql}`, w.params),
    ]);
    return pageOf(rows.rows.map(sessionRow), Number(count.rows[0].n), q);
  }

  async session(id: string, v: Visibility): Promise<SessionRow | null> {
    const w = new Where();
    visible(w, v, 's');
    w.add(`s.id = ${w.p(id)}`);
    const r = await this.pool.query(`${SESSION_SELECT} where ${w.sql}`, w.params);
    return r.rows[0] ? sessionRow(r.rows[0]) : null;
  }

  /** A session's requests in time order, narrowed by the request filters. */
  async sessionRequests(s: SessionRow, f: LogFilters, v: Visibility, q: PageQuery): Promise<Page<RequestRow>> {
    const w = new Where();
    visible(w, v, 'r');
    w.add(`r.sluice_session_id = ${w.p(s.id)}`);
    w.add(`r.created_at >= ${w.p(s.firstAt)} and r.created_at <= ${w.p(s.lastAt)}`);
    requestConditions(w, f);
    const [rows, count] = await Promise.all([
      this.pool.query(`${REQUEST_SELECT} where ${w.sql} order by r.created_at, r.id ${limitOffset(q)}`, w.params),
      this.pool.query<{ n: string }>(`select count(*) as n from request_log r where ${w.sql}`, w.params),
    ]);
    return pageOf(rows.rows.map(requestRow), Number(count.rows[0].n), q);
  }

  async request(id: string, v: Visibility): Promise<{ row: RequestRow; capture: CaptureDetail | null; tools: ToolEventRow[] } | null> {
    const t = uuidTime(id);
    if (!t) return null;
    const w = new Where();
    visible(w, v, 'r');
    w.add(`r.id = ${w.p(id)}`);
    w.add(`r.created_at >= ${w.p(new Date(t.getTime() - 60_000))} and r.created_at < ${w.p(new Date(t.getTime() + REQUEST_WINDOW_MS))}`);
    const found = await this.pool.query(`${REQUEST_SELECT} where ${w.sql}`, w.params);
    if (!found.rows[0]) return null;
    const row = requestRow(found.rows[0]);
    const [cap, tools] = await Promise.all([
      this.pool.query(
        `select mode, body_cap_bytes, request_headers, response_headers, request_body, request_bytes, response_body, response_bytes, response_stream, stream_bytes
           from request_capture where request_row_id = $1 and org_id = $2::uuid`,
        [id, found.rows[0].org_id],
      ),
      this.pool.query(`select event, name, kind, call_id from tool_call where request_row_id = $1 order by event desc, id`, [id]),
    ]);
    const c = cap.rows[0];
    return {
      row,
      capture: c
        ? {
            mode: c.mode,
            capBytes: c.body_cap_bytes,
            requestHeaders: c.request_headers ?? {},
            responseHeaders: c.response_headers,
            requestBody: c.request_body,
            requestBytes: c.request_bytes,
            responseBody: c.response_body,
            responseBytes: c.response_bytes,
            responseStream: c.response_stream,
            streamBytes: c.stream_bytes,
          }
        : null,
      tools: tools.rows.map((x) => ({ event: x.event, name: x.name, kind: x.kind, callId: x.call_id })),
    };
  }

  /** Request rows for an export, newest first, as a query text and parameters (run through a cursor). */
  exportQuery(f: LogFilters, v: Visibility): { sql: string; params: unknown[] } {
    const w = new Where();
    visible(w, v, 'r');
    w.add(`r.created_at >= ${w.p(f.from)} and r.created_at < ${w.p(f.to)}`);
    if (f.orgId) w.add(`r.org_id = ${w.p(f.orgId)}`);
    if (f.userId) w.add(`r.owner_user_id = ${w.p(f.userId)}`);
    if (f.tokenId) w.add(`r.token_id = ${w.p(f.tokenId)}`);
    if (f.sessionId) w.add(`r.sluice_session_id = ${w.p(f.sessionId)}`);
    requestConditions(w, f);
    return { sql: `${REQUEST_SELECT} where ${w.sql} order by r.created_at desc, r.id desc`, params: w.params };
  }

  /**
   * Runs a query through a server-side cursor and hands over rows in batches, so an export of
   * millions of rows holds one batch in memory. `onRows` may return a promise (backpressure).
   */
  async stream(sql: string, params: unknown[], onRows: (rows: Record<string, any>[]) => Promise<void> | void, batch = 500): Promise<void> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query('begin read only');
      await client.query(`declare logs_export no scroll cursor for ${sql}`, params);
      for (;;) {
        const r = await client.query(`fetch ${batch} from logs_export`);
        if (r.rows.length) await onRows(r.rows);
        if (r.rows.length < batch) break;
      }
      await client.query('commit');
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  // Tool use -------------------------------------------------------------------------------------

  private toolWhere(f: LogFilters, v: Visibility): Where {
    const w = new Where();
    visible(w, v, 't');
    w.add(`t.created_at >= ${w.p(f.from)} and t.created_at < ${w.p(f.to)}`);
    if (f.orgId) w.add(`t.org_id = ${w.p(f.orgId)}`);
    if (f.userId) w.add(`t.owner_user_id = ${w.p(f.userId)}`);
    if (f.tokenId) w.add(`t.token_id = ${w.p(f.tokenId)}`);
    if (f.model) w.add(`t.model = ${w.p(f.model)}`);
    if (f.tool) w.add(`t.name = ${w.p(f.tool)}`);
    if (f.kind) w.add(`t.kind = ${w.p(f.kind)}`);
    if (f.sessionId) w.add(`t.sluice_session_id = ${w.p(f.sessionId)}`);
    return w;
  }

  /** Tool calls per bucket and tool name. */
  async toolSeries(f: LogFilters, v: Visibility, bucket: 'hour' | 'day'): Promise<{ t: Date; name: string; n: number }[]> {
    const w = this.toolWhere(f, v);
    const r = await this.pool.query(
      `select date_trunc('${bucket}', t.created_at at time zone 'UTC') at time zone 'UTC' as b, t.name, count(*) as n
         from tool_call t where ${w.sql} and t.event = 'call' group by 1, 2`,
      w.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.b), name: x.name, n: Number(x.n) }));
  }

  async toolBreakdown(f: LogFilters, v: Visibility): Promise<{ name: string; kind: string; calls: number; results: number; sessions: number; requests: number; lastAt: string }[]> {
    const w = this.toolWhere(f, v);
    const r = await this.pool.query(
      `select t.name, t.kind, count(*) filter (where t.event = 'call') as calls, count(*) filter (where t.event = 'result') as results,
              count(distinct t.sluice_session_id) as sessions, count(distinct t.request_row_id) as requests, max(t.created_at) as last_at
         from tool_call t where ${w.sql} group by t.name, t.kind order by calls desc, results desc, t.name limit 200`,
      w.params,
    );
    return r.rows.map((x) => ({ name: x.name, kind: x.kind, calls: Number(x.calls), results: Number(x.results), sessions: Number(x.sessions), requests: Number(x.requests), lastAt: iso(x.last_at) }));
  }

  /** Sessions with the most tool calls, and what each called by tool and kind. */
  async toolSessions(f: LogFilters, v: Visibility, q: PageQuery): Promise<Page<{ session: SessionRow; tools: { name: string; kind: string; n: number }[]; calls: number }>> {
    const w = this.toolWhere(f, v);
    w.add(`t.event = 'call' and t.sluice_session_id is not null`);
    const [top, count] = await Promise.all([
      this.pool.query(`select t.sluice_session_id as id, count(*) as n from tool_call t where ${w.sql} group by 1 order by 2 desc, 1 desc ${limitOffset(q)}`, w.params),
      this.pool.query<{ n: string }>(`select count(distinct t.sluice_session_id) as n from tool_call t where ${w.sql}`, w.params),
    ]);
    const ids = top.rows.map((x) => x.id as string);
    if (!ids.length) return pageOf([], Number(count.rows[0].n), q);
    const per = new Where([...w.params]);
    per.parts.push(...w.parts);
    per.add(`t.sluice_session_id = any(${per.p(ids)}::uuid[])`);
    const sv = new Where();
    visible(sv, v, 's');
    sv.add(`s.id = any(${sv.p(ids)}::uuid[])`);
    const [detail, sessions] = await Promise.all([
      this.pool.query(`select t.sluice_session_id as id, t.name, t.kind, count(*) as n from tool_call t where ${per.sql} group by 1, 2, 3 order by 4 desc, 2`, per.params),
      this.pool.query(`${SESSION_SELECT} where ${sv.sql}`, sv.params),
    ]);
    const byId = new Map(sessions.rows.map((x) => [x.id as string, sessionRow(x)]));
    const items = top.rows
      .filter((x) => byId.has(x.id))
      .map((x) => ({
        session: byId.get(x.id)!,
        calls: Number(x.n),
        tools: detail.rows.filter((d) => d.id === x.id).map((d) => ({ name: d.name as string, kind: d.kind as string, n: Number(d.n) })),
      }));
    return pageOf(items, Number(count.rows[0].n), q);
  }

  // Filter choices -------------------------------------------------------------------------------

  async orgs(v: Visibility): Promise<{ id: string; slug: string; name: string }[]> {
    const ids = v.all ? null : [...new Set([...v.adminOrgs, ...v.memberOrgs])];
    const r = await this.pool.query('select id, slug, name from organization where ($1::uuid[] is null or id = any($1::uuid[])) order by slug limit 500', [ids]);
    return r.rows;
  }

  async models(v: Visibility, f: LogFilters): Promise<string[]> {
    const w = new Where();
    visible(w, v, 'x');
    w.add(`x.bucket >= ${w.p(new Date(f.from.getTime() - 86_400_000))} and x.bucket < ${w.p(f.to)}`);
    if (f.orgId) w.add(`x.org_id = ${w.p(f.orgId)}`);
    const r = await this.pool.query(`select distinct x.model from usage_rollup_day x where ${w.sql} and x.model <> '' order by 1 limit 200`, w.params);
    return r.rows.map((x) => x.model);
  }

  /** People whose requests an admin may filter by (members of the orgs they administer). */
  async users(v: Visibility, orgId?: string): Promise<{ id: string; email: string }[]> {
    if (!v.all && !v.adminOrgs.length) return [];
    const orgs = v.all ? null : v.adminOrgs;
    const r = await this.pool.query(
      `select distinct u.id, u.email from app_user u join membership m on m.user_id = u.id
        where ($1::uuid[] is null or m.org_id = any($1::uuid[])) and ($2::uuid is null or m.org_id = $2::uuid) order by u.email limit 500`,
      [orgs, orgId ?? null],
    );
    return r.rows;
  }

  async tokens(v: Visibility, orgId?: string): Promise<{ id: string; name: string; owner: string | null }[]> {
    const w = new Where();
    visible(w, v, 'k');
    if (orgId) w.add(`k.org_id = ${w.p(orgId)}`);
    const r = await this.pool.query(
      `select k.id, k.name, coalesce(u.email, sa.name) as owner from api_token k left join app_user u on u.id = k.owner_user_id
         left join service_account sa on sa.id = k.service_account_id where ${w.sql} order by lower(k.name) limit 500`,
      w.params,
    );
    return r.rows;
  }

  async toolNames(v: Visibility, f: LogFilters): Promise<string[]> {
    const w = new Where();
    visible(w, v, 't');
    w.add(`t.created_at >= ${w.p(f.from)} and t.created_at < ${w.p(f.to)}`);
    if (f.orgId) w.add(`t.org_id = ${w.p(f.orgId)}`);
    const r = await this.pool.query(`select distinct t.name from tool_call t where ${w.sql} order by 1 limit 300`, w.params);
    return r.rows.map((x) => x.name);
  }
}
