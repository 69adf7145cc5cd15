import { Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { compactNumber } from '../common/views';
import { AnalyticsRange, resolveRange } from './analytics-range';
import { AnalyticsRepository, ModelUsage, PeopleSort, RollupFilter } from './analytics.repository';
import { AnalyticsScope, AnalyticsScopes } from './analytics-scope.service';
import { categoryChart, ChartSpec, Csv, figures, modelId, Query, qsOf, str, tableNav, tableState, timeChart, usdExact, withQs } from './analytics-view';
import { LiveUsageService } from './live-usage.service';

const SORTS: readonly PeopleSort[] = ['name', 'total', 'requests', 'cost'];
const PATH = '/ui/adoption';
export const BINS = ['< 1k', '1k–10k', '10k–100k', '100k–1M', '1M–10M', '≥ 10M'];

interface Ctx {
  tzSource: string;
  scope: AnalyticsScope;
  range: AnalyticsRange;
  filter: RollupFilter;
  search?: string;
  state: Record<string, string | undefined>;
}

/**
 * Organization-wide adoption for global and org admins: active users over time, how usage is
 * spread across people, the top users by tokens and model popularity.
 */
@Injectable()
export class AdoptionPageService {
  constructor(
    private readonly scopes: AnalyticsScopes,
    private readonly repo: AnalyticsRepository,
    private readonly live: LiveUsageService,
  ) {}

  private async ctx(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Ctx> {
    const { tz, source: tzSource } = await this.scopes.timeZone(str(q.tz, 64), tzCookie);
    const scope = (await this.scopes.resolve(actor, str(q.org, 100), 'admin'))!;
    const range = resolveRange('adoption', { range: str(q.range), from: str(q.from), to: str(q.to) }, tz);
    const filter: RollupFilter = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: scope.orgIds, person: null };
    const state = {
      org: scope.orgParam,
      range: range.preset,
      from: range.preset === 'custom' ? range.fromDate : undefined,
      to: range.preset === 'custom' ? range.toDate : undefined,
      tz,
    };
    return { tzSource, scope, range, filter, search: str(q.q, 100), state };
  }

  async page(actor: Actor, q: Query, tzCookie: string | undefined) {
    const c = await this.ctx(actor, q, tzCookie);
    const t = tableState(q, SORTS, { sort: 'total', dir: 'desc', per: 25 });
    // The table's total is the number of active people, unless a search narrowed it. The histogram
    // and model charts come with the page (their numbers are the table's and the models'); the
    // active-users chart is its own request: for every organization over 30 New York days its read
    // is as long as the page's, and side by side on two cores they took the page past 150 ms.
    const [totals, counted, members, top, models] = await Promise.all([
      this.repo.totals(c.filter, false),
      c.search ? this.repo.activeUsers(c.filter) : null,
      this.repo.memberCount(c.scope.orgIds),
      this.repo.people(c.filter, 'user', { sort: t.sort as PeopleSort, dir: t.dir, search: c.search, limit: t.per, offset: (t.page - 1) * t.per, unitForDays: { tz: c.range.tz, identity: c.range.identity }, bins: true }),
      this.repo.models(c.filter),
    ]);
    const users = counted ?? top.total;
    // Within one local day everyone listed (they made requests in it) was active on one day.
    const days = c.range.fromDate === c.range.toDate ? new Map(top.rows.map((r) => [r.key, 1])) : await this.repo.activeDaysOf(c.filter, c.range, top.rows.map((r) => r.key));
    const totalTokens = totals.inputTokens + totals.outputTokens;
    const stateQs = qsOf(c.state);
    return {
      title: c.scope.org ? `Adoption · ${c.scope.org.name}` : 'Adoption',
      nav: 'adoption',
      path: PATH,
      scope: c.scope,
      range: c.range,
      tz: c.range.tz,
      tzSource: c.tzSource,
      search: c.search ?? '',
      state: c.state,
      sort: t,
      kpi: {
        ...figures(totals),
        activeUsers: users,
        activeUsersText: compactNumber(users),
        members,
        membersText: compactNumber(members),
        tokensPerUser: users ? Math.round(totalTokens / users) : 0,
        tokensPerUserText: compactNumber(users ? totalTokens / users : 0),
      },
      top: top.rows.map((r) => ({
        ...r,
        ...figures(r),
        activeDays: days.get(r.key) ?? 0,
        label: r.displayName ?? (r.serviceAccount ? `service account ${r.serviceAccount}` : r.key.startsWith('user:') ? '(deleted user)' : r.key),
        dashboardHref: r.email ? `/ui/dashboard/${encodeURIComponent(r.email)}` : null,
      })),
      tbl: tableNav(PATH, { ...c.state, q: c.search }, t, top.total, SORTS),
      models: models.map((m) => ({ ...m, ...figures(m), id: modelId(m.provider, m.model), share: share(m.inputTokens + m.outputTokens, totalTokens) })),
      chartQs: stateQs,
      // Charts whose numbers the page already has are drawn from the page (no second request).
      distributionSpec: JSON.stringify(distributionSpec(top.bins ?? [])),
      modelsSpec: JSON.stringify(modelsSpec(models)),
      usersCsv: withQs(`${PATH}/users.csv`, qsOf({ ...c.state, q: c.search, sort: t.sort, dir: t.dir })),
      modelsCsv: withQs(`${PATH}/models.csv`, stateQs),
      empty: totals.requests === 0,
      live: { src: `/ui/live?org=${c.scope.org ? c.scope.org.id : 'all'}`, version: this.live.version(c.scope.orgIds) },
    };
  }

  async activeChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    const pts = await this.repo.activeUsersSeries(c.filter, c.range);
    return timeChart(c.range, pts.map((p) => p.t), [{ label: 'Active users', values: pts.map((p) => p.users), color: '#2f6fed' }], { kind: 'bars', unit: 'users', empty: 'Nobody made a request in this range.' });
  }

  async distributionChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    return distributionSpec(await this.repo.tokenDistribution(c.filter));
  }

  async modelsChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    return modelsSpec(await this.repo.models(c.filter));
  }

  async usersCsv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const t = tableState(q, SORTS, { sort: 'total', dir: 'desc' });
    const top = await this.repo.people(c.filter, 'user', { sort: t.sort as PeopleSort, dir: t.dir, search: c.search, limit: 100_000, offset: 0, unitForDays: { tz: c.range.tz, identity: c.range.identity }, activeDays: true });
    return {
      filename: `adoption-users-${c.scope.org?.slug ?? 'all'}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head: ['rank', 'name', 'email', 'user_key', 'team', 'active_days', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd'],
      rows: top.rows.map((r) => [r.rank, r.displayName ?? r.serviceAccount ?? r.key, r.email, r.key, r.teamName, r.activeDays, r.requests, r.inputTokens, r.outputTokens, r.inputTokens + r.outputTokens, usdExact(r.costMicros)]),
    };
  }

  async modelsCsv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const models = await this.repo.models(c.filter);
    const total = models.reduce((a, m) => a + m.inputTokens + m.outputTokens, 0);
    return {
      filename: `adoption-models-${c.scope.org?.slug ?? 'all'}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head: ['model', 'provider', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'token_share_percent', 'cost_usd'],
      rows: models.map((m) => [modelId(m.provider, m.model), m.provider, m.requests, m.inputTokens, m.outputTokens, m.inputTokens + m.outputTokens, share(m.inputTokens + m.outputTokens, total), usdExact(m.costMicros)]),
    };
  }
}

const share = (part: number, total: number) => (total ? ((part * 100) / total).toFixed(1) : '0.0');

/** How many people used how many tokens (log-scale bins). */
function distributionSpec(bins: { bin: number; users: number }[]): ChartSpec {
  const values = BINS.map((_, i) => bins.find((b) => b.bin === i)?.users ?? 0);
  return { ...categoryChart(BINS.map((b) => `${b} tokens`), [{ label: 'People', values, color: '#9b59b6' }], { unit: 'users', empty: 'Nobody made a request in this range.' }), options: { scales: { x: { time: false } }, series: [{ label: 'Tokens used' }, { label: 'People', stroke: '#9b59b6' }] } };
}

/** Input and output tokens of the 20 most used models. */
function modelsSpec(all: ModelUsage[]): ChartSpec {
  const models = all.slice(0, 20);
  return categoryChart(
    models.map((m) => modelId(m.provider, m.model)),
    [
      { label: 'Input tokens', values: models.map((m) => m.inputTokens), color: '#2f9e6e' },
      { label: 'Output tokens', values: models.map((m) => m.outputTokens), color: '#e07b39' },
    ],
    { stacked: true, unit: 'tokens', empty: 'No model was used in this range.' },
  );
}
