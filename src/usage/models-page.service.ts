import { Inject, Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { RUNTIME, type Runtime } from '../config/runtime';
import { resolveRange } from './analytics-range';
import { AnalyticsRepository, RollupFilter } from './analytics.repository';
import { AnalyticsScopes } from './analytics-scope.service';
import { Csv, figures, modelId, Query, qsOf, str, tableNav, tableState, usdExact, withQs } from './analytics-view';
import { LiveUsageService } from './live-usage.service';

const SORTS = ['name', 'provider', 'requests', 'total', 'cost'] as const;
const PATH = '/ui/models';

/** Price per million tokens as people read it: $3, $0.15, $0.075. */
const price = (v: number | undefined) => (v === undefined ? null : `$${Number(v.toFixed(6))}`);

interface ModelRow {
  id: string;
  provider: string;
  model: string;
  description: string | null;
  compatibility: string[];
  aliases: string[];
  pricing: { input: number; output: number; cachedInput?: number; cacheWrite?: number } | null;
  requests: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
}

/**
 * Every model of the active gateway config with its provider, API compatibility and pricing,
 * and its requests and cost in the range (within what the viewer may see).
 */
@Injectable()
export class ModelsPageService {
  constructor(
    private readonly scopes: AnalyticsScopes,
    private readonly repo: AnalyticsRepository,
    private readonly live: LiveUsageService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  private async ctx(actor: Actor, q: Query, tzCookie: string | undefined) {
    const { tz, source: tzSource } = await this.scopes.timeZone(str(q.tz, 64), tzCookie);
    const scope = await this.scopes.resolve(actor, str(q.org, 100));
    const range = resolveRange('models', { range: str(q.range), from: str(q.from), to: str(q.to) }, tz);
    const state = {
      org: scope?.orgParam,
      range: range.preset,
      from: range.preset === 'custom' ? range.fromDate : undefined,
      to: range.preset === 'custom' ? range.toDate : undefined,
      tz,
    };
    return { tzSource, scope, range, state, search: str(q.q, 100) };
  }

  private async rows(c: Awaited<ReturnType<ModelsPageService['ctx']>>): Promise<ModelRow[]> {
    const cfg = this.rt.gatewayConfig;
    const usage = c.scope
      ? await this.repo.models({ from: c.range.from, to: c.range.to, source: c.range.source, openEnded: c.range.openEnded, orgIds: c.scope.orgIds, person: c.scope.person } satisfies RollupFilter)
      : [];
    const used = new Map(usage.map((u) => [modelId(u.provider, u.model), u]));
    const aliases = new Map<string, string[]>();
    for (const [alias, target] of Object.entries(cfg.aliases)) aliases.set(target, [...(aliases.get(target) ?? []), alias]);
    const out: ModelRow[] = [];
    for (const [provider, p] of Object.entries(cfg.providers)) {
      const extra = p as Record<string, unknown>;
      const description = typeof extra.description === 'string' ? extra.description : typeof extra.name === 'string' ? extra.name : null;
      const compatibility = Object.entries(p.compatibility ?? {}).filter(([, on]) => on === true).map(([k]) => k).sort();
      for (const model of p.models) {
        const id = modelId(provider, model);
        const pr = cfg.pricing[id];
        const u = used.get(id);
        out.push({
          id,
          provider,
          model,
          description,
          compatibility,
          aliases: (aliases.get(id) ?? []).sort(),
          pricing: pr ? { input: pr.input, output: pr.output, cachedInput: pr.cached_input, cacheWrite: pr.cache_write } : null,
          requests: u?.requests ?? 0,
          failures: u?.failures ?? 0,
          inputTokens: u?.inputTokens ?? 0,
          outputTokens: u?.outputTokens ?? 0,
          costMicros: u?.costMicros ?? 0,
        });
      }
    }
    const s = c.search?.toLowerCase();
    return s ? out.filter((r) => [r.id, r.description ?? '', ...r.aliases, ...r.compatibility].some((x) => x.toLowerCase().includes(s))) : out;
  }

  private sorted(rows: ModelRow[], sort: string, dir: 'asc' | 'desc'): ModelRow[] {
    const key: Record<string, (r: ModelRow) => number | string> = {
      name: (r) => r.id.toLowerCase(),
      provider: (r) => `${r.provider.toLowerCase()}\u0000${r.id.toLowerCase()}`,
      requests: (r) => r.requests,
      total: (r) => r.inputTokens + r.outputTokens,
      cost: (r) => r.costMicros,
    };
    const k = key[sort] ?? key.name;
    const m = dir === 'asc' ? 1 : -1;
    return [...rows].sort((a, b) => {
      const x = k(a);
      const y = k(b);
      return (x < y ? -1 : x > y ? 1 : 0) * m || a.id.localeCompare(b.id);
    });
  }

  async page(actor: Actor, q: Query, tzCookie: string | undefined) {
    const c = await this.ctx(actor, q, tzCookie);
    const t = tableState(q, SORTS, { sort: 'name', dir: 'asc', per: 50 });
    const all = this.sorted(await this.rows(c), t.sort, t.dir);
    const rows = all.slice((t.page - 1) * t.per, t.page * t.per).map((r) => ({
      ...r,
      ...figures(r),
      priceInput: price(r.pricing?.input),
      priceOutput: price(r.pricing?.output),
      priceCached: price(r.pricing?.cachedInput),
      priceCacheWrite: price(r.pricing?.cacheWrite),
    }));
    const configured = Object.values(this.rt.gatewayConfig.providers).reduce((n, p) => n + p.models.length, 0);
    return {
      title: 'Models',
      nav: 'models',
      path: PATH,
      scope: c.scope,
      noOrg: !c.scope,
      range: c.range,
      tz: c.range.tz,
      tzSource: c.tzSource,
      search: c.search ?? '',
      state: c.state,
      sort: t,
      rows,
      configured,
      tbl: tableNav(PATH, { ...c.state, q: c.search }, t, all.length, SORTS),
      csv: withQs(`${PATH}.csv`, qsOf({ ...c.state, q: c.search, sort: t.sort, dir: t.dir })),
      live: { src: `/ui/live?org=${c.scope?.org ? c.scope.org.id : 'all'}`, version: this.live.version(c.scope ? c.scope.orgIds : []) },
    };
  }

  async csv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const t = tableState(q, SORTS, { sort: 'name', dir: 'asc' });
    const rows = this.sorted(await this.rows(c), t.sort, t.dir);
    return {
      filename: `models-${c.scope?.org?.slug ?? 'all'}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head: ['model', 'provider', 'description', 'compatibility', 'aliases', 'input_usd_per_1m', 'output_usd_per_1m', 'cached_input_usd_per_1m', 'cache_write_usd_per_1m', 'requests', 'failed_requests', 'input_tokens', 'output_tokens', 'cost_usd'],
      rows: rows.map((r) => [r.id, r.provider, r.description, r.compatibility.join(' '), r.aliases.join(' '), r.pricing?.input, r.pricing?.output, r.pricing?.cachedInput, r.pricing?.cacheWrite, r.requests, r.failures, r.inputTokens, r.outputTokens, usdExact(r.costMicros)]),
    };
  }
}
