import { Inject, Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { RUNTIME, type Runtime } from '../config/runtime';
import { AnalyticsRange, resolveRange } from './analytics-range';
import { AnalyticsRepository, Measures, RollupFilter, TopLevel, TopSort } from './analytics.repository';
import { AnalyticsScope, AnalyticsScopes } from './analytics-scope.service';
import {
  categoryChart, ChartSpec, Csv, figures, modelId, msText, Query, qsOf, str, tableNav, tableState, timeChart, usdExact, uuids, withQs,
} from './analytics-view';
import { LiveUsageService } from './live-usage.service';

const TOP_SORTS: readonly TopSort[] = ['name', 'requests', 'input', 'output', 'total', 'cost'];
const PATH = '/ui/usage';

interface Ctx {
  scope: AnalyticsScope;
  range: AnalyticsRange;
  tzSource: string;
  filter: RollupFilter;
  token: { id: string; name: string; owner: string | null } | null;
  level: TopLevel;
  search: string | undefined;
  /** Parameters that reproduce the view (without sort and page). */
  state: Record<string, string | undefined>;
}

/**
 * Aqueduct's usage page: organization and time frame, the metrics bar, requests over time, the
 * top table (organizations, tokens in an organization, end-user ids in a token) and requests by
 * model including configured models nobody used.
 */
@Injectable()
export class UsagePageService {
  constructor(
    private readonly scopes: AnalyticsScopes,
    private readonly repo: AnalyticsRepository,
    private readonly live: LiveUsageService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  private async ctx(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Ctx | null> {
    const { tz, source: tzSource } = await this.scopes.timeZone(str(q.tz, 64), tzCookie);
    let scope = await this.scopes.resolve(actor, str(q.org, 100));
    if (!scope) return null;
    const range = resolveRange('usage', { range: str(q.range), from: str(q.from), to: str(q.to) }, tz);
    let token: Ctx['token'] = null;
    const tokenId = uuids([str(q.token) ?? ''])[0];
    if (tokenId) {
      const t = await this.repo.token(tokenId, scope.orgIds);
      // A member drills into their own tokens only; a token outside the scope is ignored.
      if (t && (!scope.person || t.ownerUserId === actor.userId)) {
        if (!scope.org) scope = (await this.scopes.resolve(actor, t.orgId))!;
        token = { id: t.id, name: t.name, owner: t.owner };
      }
    }
    const filter: RollupFilter = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: scope.orgIds, person: scope.person, tokenIds: token ? [token.id] : undefined };
    const search = str(q.q, 100);
    const state = {
      org: scope.orgParam,
      range: range.preset,
      from: range.preset === 'custom' ? range.fromDate : undefined,
      to: range.preset === 'custom' ? range.toDate : undefined,
      tz,
      token: token?.id,
    };
    return { scope, range, tzSource, filter, token, level: token ? 'end_user' : scope.org ? 'token' : 'org', search, state };
  }

  async page(actor: Actor, q: Query, tzCookie: string | undefined) {
    const c = await this.ctx(actor, q, tzCookie);
    if (!c) return { title: 'Usage', nav: 'usage', noOrg: true };
    const t = tableState(q, TOP_SORTS, { sort: 'requests', dir: 'desc' });
    // The charts' data comes with the page (data-spec): one request, every read in parallel.
    const [totals, top, models, points] = await Promise.all([
      this.repo.totals(c.filter),
      this.repo.top(c.filter, c.level, { sort: t.sort as TopSort, dir: t.dir, search: c.search, limit: t.per, offset: (t.page - 1) * t.per }),
      this.modelRows(c),
      this.repo.series(c.filter, c.range),
    ]);
    const stateQs = qsOf(c.state);
    const canDrill = (ownerEmail: string | null) => c.scope.isAdmin || (!!ownerEmail && ownerEmail.toLowerCase() === actor.email?.toLowerCase());
    const rows = top.rows.map((r) => ({
      ...r,
      ...figures(r),
      href:
        c.level === 'org' ? withQs(PATH, qsOf({ ...c.state, org: r.slug ?? r.key, token: undefined }))
        : c.level === 'token' && canDrill(r.ownerEmail) && r.name !== '(no token)' ? withQs(PATH, qsOf({ ...c.state, token: r.key }))
        : null,
    }));
    const levelLabel = c.level === 'org' ? 'Organization' : c.level === 'token' ? 'Token' : 'User ID';
    return {
      title: c.token ? `Usage · ${c.token.name}` : c.scope.org ? `Usage · ${c.scope.org.name}` : 'Usage',
      nav: 'usage',
      path: PATH,
      scope: c.scope,
      range: c.range,
      tz: c.range.tz,
      tzSource: c.tzSource,
      token: c.token,
      tokenBackHref: c.token ? withQs(PATH, qsOf({ ...c.state, token: undefined })) : null,
      level: c.level,
      levelLabel,
      search: c.search ?? '',
      state: c.state,
      sort: t,
      kpi: {
        ...figures(totals),
        completionLatencyMs: totals.completionLatencyMs,
        completionLatencyText: msText(totals.completionLatencyMs),
        embeddingLatencyMs: totals.embeddingLatencyMs,
        embeddingLatencyText: msText(totals.embeddingLatencyMs),
      },
      top: rows,
      tbl: tableNav(PATH, { ...c.state, q: c.search }, t, top.total, TOP_SORTS),
      models,
      chartQs: stateQs,
      requestsSpec: JSON.stringify(requestsSpec(c.range, points)),
      modelsSpec: JSON.stringify(modelsSpec(models)),
      topCsv: withQs(`${PATH}/top.csv`, qsOf({ ...c.state, q: c.search, sort: t.sort, dir: t.dir })),
      modelsCsv: withQs(`${PATH}/models.csv`, stateQs),
      empty: totals.requests === 0,
      hasProviders: Object.keys(this.rt.gatewayConfig.providers).length > 0,
      live: { src: `/ui/live?org=${c.scope.org ? c.scope.org.id : 'all'}`, version: this.live.version(c.scope.orgIds) },
    };
  }

  /** Configured models (zero when unused) merged with every model that has requests in the range. */
  private async modelRows(c: Ctx) {
    const used = await this.repo.models(c.filter);
    const byId = new Map(used.map((m) => [modelId(m.provider, m.model), m]));
    const configured: { provider: string; model: string }[] = [];
    for (const [p, cfg] of Object.entries(this.rt.gatewayConfig.providers)) for (const m of cfg.models) configured.push({ provider: p, model: m });
    const rows = configured.map(({ provider, model }) => {
      const id = modelId(provider, model);
      const u = byId.get(id);
      byId.delete(id);
      return { id, provider, model, configured: true, ...figures(u ?? { requests: 0, failures: 0, inputTokens: 0, outputTokens: 0, costMicros: 0 }) };
    });
    for (const [id, u] of byId) rows.push({ id, provider: u.provider, model: u.model, configured: false, ...figures(u) });
    return rows.sort((a, b) => b.requests - a.requests || a.id.localeCompare(b.id));
  }

  async requestsChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    if (!c) return { options: {}, data: [[]] };
    return requestsSpec(c.range, await this.repo.series(c.filter, c.range));
  }

  async modelsChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    if (!c) return { options: {}, data: [[]] };
    return modelsSpec(await this.modelRows(c));
  }

  async topCsv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const head = ['rank', 'key', 'name', 'requests', 'failed_requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd', 'token_owner', 'service_account'];
    if (!c) return { filename: 'usage-top.csv', head, rows: [] };
    const t = tableState(q, TOP_SORTS, { sort: 'requests', dir: 'desc' });
    const top = await this.repo.top(c.filter, c.level, { sort: t.sort as TopSort, dir: t.dir, search: c.search, limit: 100_000, offset: 0 });
    return {
      filename: `usage-${c.level === 'org' ? 'organizations' : c.level === 'token' ? `tokens-${c.scope.org?.slug}` : `token-${c.token?.id}-users`}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head,
      rows: top.rows.map((r) => [r.rank, r.slug ?? r.key, r.name, r.requests, r.failures, r.inputTokens, r.outputTokens, r.inputTokens + r.outputTokens, usdExact(r.costMicros), r.ownerEmail, r.serviceAccount]),
    };
  }

  async modelsCsv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const head = ['model', 'provider', 'configured', 'requests', 'failed_requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd'];
    if (!c) return { filename: 'usage-models.csv', head, rows: [] };
    const rows = await this.modelRows(c);
    return {
      filename: `usage-models-${c.scope.org?.slug ?? 'all'}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head,
      rows: rows.map((r) => [r.id, r.provider, r.configured, r.requests, r.failures, r.inputTokens, r.outputTokens, r.totalTokens, usdExact(r.costMicros)]),
    };
  }
}

/** Requests over time: succeeded and failed stacked per bucket. */
function requestsSpec(range: AnalyticsRange, points: { t: Date; m: Measures }[]): ChartSpec {
  return timeChart(range, points.map((p) => p.t), [
    { label: 'Succeeded', values: points.map((p) => p.m.requests - p.m.failures), color: '#2f9e6e' },
    { label: 'Failed (≥ 400)', values: points.map((p) => p.m.failures), color: '#d9534f' },
  ], { kind: 'bars', stacked: true, unit: 'count', empty: 'No requests in this time frame.' });
}

/** Requests by model, configured models with none included. */
function modelsSpec(rows: { id: string; requests: number }[]): ChartSpec {
  return categoryChart(rows.map((r) => r.id), [{ label: 'Requests', values: rows.map((r) => r.requests) }], { unit: 'count', empty: rows.length ? undefined : 'No models configured.' });
}
