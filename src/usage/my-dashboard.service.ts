import { Inject, Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { RUNTIME, type Runtime } from '../config/runtime';
import { compactNumber } from '../common/views';
import { AnalyticsRange, bucketLabel, resolveRange } from './analytics-range';
import { AnalyticsRepository, Measures, ModelUsage, RollupFilter } from './analytics.repository';
import { AnalyticsScopes } from './analytics-scope.service';
import { categoryChart, ChartSpec, Csv, figures, modelId, Query, qsOf, str, timeChart, usdExact, withQs } from './analytics-view';
import { LiveUsageService } from './live-usage.service';
import { formatLocal } from './time-zone';

const RECENT = 20;
const MODEL_COLORS = ['#2f6fed', '#e07b39', '#2f9e6e', '#9b59b6', '#d9534f', '#17a2b8'];

interface Ctx {
  tzSource: string;
  subject: Awaited<ReturnType<AnalyticsScopes['subject']>>;
  range: AnalyticsRange;
  filter: RollupFilter;
  state: Record<string, string | undefined>;
  base: string;
}

/**
 * A person's dashboard (Aperture's): tokens by model, the recent activity timeline and quick
 * stats. `/ui` is the viewer's own; admins open others' at `/ui/dashboard/:email`.
 */
@Injectable()
export class MyDashboardService {
  constructor(
    private readonly scopes: AnalyticsScopes,
    private readonly repo: AnalyticsRepository,
    private readonly live: LiveUsageService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  private async ctx(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined): Promise<Ctx> {
    const subject = await this.scopes.subject(actor, email);
    const { tz, source: tzSource } = await this.scopes.timeZone(str(q.tz, 64), tzCookie);
    const range = resolveRange('dashboard', { range: str(q.range), from: str(q.from), to: str(q.to) }, tz);
    const filter: RollupFilter = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: subject.orgIds, person: { userId: subject.userId, email: subject.email } };
    const state = {
      range: range.preset,
      from: range.preset === 'custom' ? range.fromDate : undefined,
      to: range.preset === 'custom' ? range.toDate : undefined,
      tz,
    };
    return { tzSource, subject, range, filter, state, base: subject.self ? '/ui' : `/ui/dashboard/${encodeURIComponent(subject.email)}` };
  }

  private dataBase(c: Ctx) {
    return c.subject.self ? '/ui/me' : c.base;
  }

  async page(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined) {
    const c = await this.ctx(actor, email, q, tzCookie);
    // The charts' data comes with the page (data-spec): one request, every read in parallel.
    const [totals, sessions, models, recent, points] = await Promise.all([
      this.repo.totals(c.filter, false),
      this.repo.activeSessions(c.filter),
      this.repo.models(c.filter),
      this.repo.recentActivity(c.filter, RECENT),
      this.repo.series(c.filter, c.range, 'model'),
    ]);
    const providers = Object.entries(this.rt.gatewayConfig.providers).map(([name, p]) => ({ name, models: p.models.length }));
    const stateQs = qsOf(c.state);
    const data = this.dataBase(c);
    return {
      title: c.subject.self ? 'Dashboard' : `Dashboard · ${c.subject.email}`,
      nav: 'home',
      path: c.base,
      subject: c.subject,
      range: c.range,
      tz: c.range.tz,
      tzSource: c.tzSource,
      state: c.state,
      kpi: { ...figures(totals), sessions, sessionsText: compactNumber(sessions) },
      models: models.map((m) => ({ ...m, ...figures(m), id: modelId(m.provider, m.model) })),
      recent: recent.map((r) => ({ ...r, ...figures(r), id: modelId(r.provider, r.model), at: formatLocal(c.range.tz, r.t.getTime()), iso: r.t.toISOString() })),
      chartQs: stateQs,
      modelsSpec: JSON.stringify(tokensByModelSpec(models)),
      activitySpec: JSON.stringify(activitySpec(c.range, points)),
      modelsChart: withQs(`${data}/models.json`, stateQs),
      activityChart: withQs(`${data}/activity.json`, stateQs),
      modelsCsv: withQs(`${data}/models.csv`, stateQs),
      activityCsv: withQs(`${data}/activity.csv`, stateQs),
      providers,
      hasProviders: providers.length > 0,
      configFromFile: !!this.rt.env.SLUICE_CONFIG,
      empty: totals.requests === 0,
      live: { src: `/ui/live?org=${c.subject.orgIds === null ? 'all' : c.subject.orgIds.join(',')}`, version: this.live.version(c.subject.orgIds) },
    };
  }

  async modelsChart(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, email, q, tzCookie);
    return tokensByModelSpec(await this.repo.models(c.filter));
  }

  async activityChart(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, email, q, tzCookie);
    return activitySpec(c.range, await this.repo.series(c.filter, c.range, 'model'));
  }

  async modelsCsv(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, email, q, tzCookie);
    const models = await this.repo.models(c.filter);
    return {
      filename: `dashboard-models-${c.subject.email}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head: ['model', 'provider', 'requests', 'failed_requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd'],
      rows: models.map((m) => [modelId(m.provider, m.model), m.provider, m.requests, m.failures, m.inputTokens, m.outputTokens, m.inputTokens + m.outputTokens, usdExact(m.costMicros)]),
    };
  }

  /** Requests per bucket of the range and model (the timeline's data), in the viewer's time zone. */
  async activityCsv(actor: Actor, email: string | undefined, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, email, q, tzCookie);
    const pts = (await this.repo.series(c.filter, c.range, 'model')).filter((p) => p.key);
    return {
      filename: `dashboard-activity-${c.subject.email}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head: ['bucket_start', 'bucket_start_utc', 'model', 'requests', 'failed_requests', 'input_tokens', 'output_tokens', 'cost_usd'],
      rows: pts.map((p) => [bucketLabel(c.range, p.t), p.t.toISOString(), p.key.startsWith('/') ? p.key.slice(1) : p.key, p.m.requests, p.m.failures, p.m.inputTokens, p.m.outputTokens, usdExact(p.m.costMicros)]),
    };
  }
}

/** Input and output tokens per model, the biggest first. */
const MAX_MODEL_BARS = 8;

export function tokensByModelSpec(all: ModelUsage[]): ChartSpec {
  const ranked = [...all].sort((a, b) => b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens) || modelId(a.provider, a.model).localeCompare(modelId(b.provider, b.model)));
  // The busiest models by name and the rest as one bar: a dozen slanted names in half a page overlap (the table lists them all).
  const shown = ranked.length > MAX_MODEL_BARS ? ranked.slice(0, MAX_MODEL_BARS - 1) : ranked;
  const rest = ranked.slice(shown.length);
  const bars = shown.map((m) => ({ label: modelId(m.provider, m.model), input: m.inputTokens, output: m.outputTokens }));
  if (rest.length) bars.push({ label: `${rest.length} more models`, input: rest.reduce((a, m) => a + m.inputTokens, 0), output: rest.reduce((a, m) => a + m.outputTokens, 0) });
  return categoryChart(
    bars.map((b) => b.label),
    [
      { label: 'Input tokens', values: bars.map((b) => b.input), color: '#2f6fed' },
      { label: 'Output tokens', values: bars.map((b) => b.output), color: '#e07b39' },
    ],
    { stacked: true, unit: 'tokens', empty: 'No tokens used in this range.' },
  );
}

/** Requests per bucket, stacked by model: the busiest models by name, the rest as one series. */
function activitySpec(range: AnalyticsRange, pts: { t: Date; key: string; m: Measures }[]): ChartSpec {
  const xs = [...new Set(pts.map((p) => p.t.getTime()))].sort((a, b) => a - b);
  const totals = new Map<string, number>();
  for (const p of pts) if (p.key) totals.set(p.key, (totals.get(p.key) ?? 0) + p.m.requests);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  const shown = ranked.slice(0, MODEL_COLORS.length - 1);
  const rest = new Set(ranked.slice(shown.length));
  const series = shown.map((k, i) => {
    const by = new Map(pts.filter((p) => p.key === k).map((p) => [p.t.getTime(), p.m.requests]));
    return { label: k.startsWith('/') ? k.slice(1) || '(unknown)' : k, values: xs.map((x) => by.get(x) ?? 0), color: MODEL_COLORS[i] };
  });
  if (rest.size) {
    const by = new Map<number, number>();
    for (const p of pts) if (rest.has(p.key)) by.set(p.t.getTime(), (by.get(p.t.getTime()) ?? 0) + p.m.requests);
    series.push({ label: `${rest.size} more models`, values: xs.map((x) => by.get(x) ?? 0), color: '#999999' });
  }
  if (!series.length) series.push({ label: 'Requests', values: xs.map(() => 0), color: MODEL_COLORS[0] });
  return timeChart(range, xs.map((x) => new Date(x)), series, { kind: 'bars', stacked: true, unit: 'count', empty: 'No requests in this range.' });
}
