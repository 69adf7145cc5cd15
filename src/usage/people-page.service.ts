import { Injectable } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { compactNumber } from '../common/views';
import { AnalyticsRange, resolveRange } from './analytics-range';
import { AnalyticsRepository, PeopleSort, PeopleView, PersonRow, RollupFilter } from './analytics.repository';
import { AnalyticsScope, AnalyticsScopes } from './analytics-scope.service';
import { ChartSpec, Csv, figures, list, modelId, Query, qsOf, sparkline, str, tableNav, tableState, timeChart, usdExact, uuids, withQs } from './analytics-view';
import { LiveUsageService } from './live-usage.service';

const SORTS: readonly PeopleSort[] = ['name', 'requests', 'input', 'output', 'total', 'cost'];
const PATH = '/ui/usage/people';
const TEAM_COLORS = ['#2f6fed', '#e07b39', '#2f9e6e', '#9b59b6', '#d9534f', '#17a2b8', '#c9a227', '#6c757d', '#e83e8c', '#20c997', '#795548', '#3f51b5'];
const MAX_TEAM_SERIES = 10;
/** Filter lists longer than this get a find box. */
const FIND_FROM = 6;
/** The API key filter lists at most this many keys (an organization's, or every organization's). */
const MAX_TOKEN_CHOICES = 5000;

interface Ctx {
  tzSource: string;
  scope: AnalyticsScope;
  range: AnalyticsRange;
  view: PeopleView;
  filter: RollupFilter;
  search?: string;
  picked: { tokens: string[]; tags: string[]; teams: string[] };
  state: Record<string, string | string[] | undefined>;
}

/**
 * The by-user / by-team page: filters (time range, tokens, tags, teams), KPI cards, the activity
 * chart (active users per bucket, or requests stacked by team) and the breakdown table with trend
 * sparklines and models, sorted, searched and paged on the server.
 */
@Injectable()
export class PeoplePageService {
  constructor(
    private readonly scopes: AnalyticsScopes,
    private readonly repo: AnalyticsRepository,
    private readonly live: LiveUsageService,
  ) {}

  private async ctx(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Ctx | null> {
    const { tz, source: tzSource } = await this.scopes.timeZone(str(q.tz, 64), tzCookie);
    const scope = await this.scopes.resolve(actor, str(q.org, 100));
    if (!scope) return null;
    const range = resolveRange('people', { range: str(q.range), from: str(q.from), to: str(q.to) }, tz);
    const view: PeopleView = str(q.view) === 'team' ? 'team' : 'user';
    // Ids from the URL only narrow: the scope's organization and person filters still apply.
    const picked = { tokens: uuids(list(q.tokens)), tags: list(q.tags), teams: uuids(list(q.teams)) };
    const filter: RollupFilter = {
      from: range.from,
      to: range.to,
      source: range.source,
      openEnded: range.openEnded,
      orgIds: scope.orgIds,
      person: scope.person,
      tokenIds: picked.tokens,
      tags: picked.tags,
      teamIds: picked.teams,
    };
    const search = str(q.q, 100);
    const state = {
      org: scope.orgParam,
      view,
      range: range.preset,
      from: range.preset === 'custom' ? range.fromDate : undefined,
      to: range.preset === 'custom' ? range.toDate : undefined,
      tz,
      tokens: picked.tokens,
      tags: picked.tags,
      teams: picked.teams,
    };
    return { tzSource, scope, range, view, filter, search, picked, state };
  }

  async page(actor: Actor, q: Query, tzCookie: string | undefined, o: { withChoices?: boolean } = {}) {
    const withChoices = o.withChoices ?? true;
    const c = await this.ctx(actor, q, tzCookie);
    if (!c) return { title: 'People and teams', nav: 'people', noOrg: true };
    const t = tableState(q, SORTS, { sort: 'requests', dir: 'desc' });
    // The user view's table already counts every active person (its total, when not searched).
    const ownCount = c.view === 'user' && !c.search;
    const [totals, counted, table, axis, tokens, teams, tags] = await Promise.all([
      this.repo.totals(c.filter, false),
      ownCount ? null : this.repo.activeUsers(c.filter),
      this.repo.people(c.filter, c.view, { sort: t.sort as PeopleSort, dir: t.dir, search: c.search, limit: t.per, offset: (t.page - 1) * t.per, unitForDays: { tz: c.range.tz, identity: c.range.identity } }),
      this.repo.axis(c.range),
      withChoices ? this.repo.tokens(c.scope.orgIds, c.scope.person ? c.scope.person.userId ?? '00000000-0000-0000-0000-000000000000' : null, MAX_TOKEN_CHOICES + 1) : [],
      withChoices ? this.repo.teams(c.scope.orgIds) : [],
      withChoices ? this.repo.tags(c.scope.orgIds, c.scope.person) : [],
    ]);
    const users = counted ?? table.total;
    const rows = await this.decorate(c, table.rows, axis, actor);
    const stateQs = qsOf(c.state);
    const showOrg = !c.scope.org;
    return {
      title: c.scope.org ? `People and teams · ${c.scope.org.name}` : 'People and teams',
      nav: 'people',
      path: PATH,
      scope: c.scope,
      range: c.range,
      tz: c.range.tz,
      tzSource: c.tzSource,
      view: c.view,
      byUser: c.view === 'user',
      nameLabel: c.view === 'user' ? 'User' : 'Team',
      sort: t,
      viewHref: { user: withQs(PATH, qsOf({ ...c.state, view: 'user', q: c.search })), team: withQs(PATH, qsOf({ ...c.state, view: 'team', q: c.search })) },
      search: c.search ?? '',
      state: c.state,
      // (Partials have no filter form.)
      choices: withChoices && {
        tokens: tokens.slice(0, MAX_TOKEN_CHOICES).map((x) => ({ ...x, label: `${x.name}${showOrg ? ` (${x.org})` : ''}${x.owner ? ` · ${x.owner}` : ''}`, selected: c.picked.tokens.includes(x.id) })),
        teams: teams.map((x) => ({ ...x, label: `${x.name}${showOrg ? ` (${x.org})` : ''}`, selected: c.picked.teams.includes(x.id) })),
        tags: [...new Set([...tags, ...c.picked.tags])].sort().map((x) => ({ value: x, selected: c.picked.tags.includes(x) })),
        // Long lists get a box that narrows them (a global admin's keys are thousands).
        findTokens: tokens.length > FIND_FROM,
        tokensCut: tokens.length > MAX_TOKEN_CHOICES ? MAX_TOKEN_CHOICES : 0,
        findTeams: teams.length > FIND_FROM,
      },
      kpi: {
        ...figures(totals),
        activeUsers: users,
        activeUsersText: compactNumber(users),
        avgRequests: users ? totals.requests / users : 0,
        avgRequestsText: users ? (totals.requests / users).toFixed(1) : '0',
      },
      rows,
      tbl: tableNav(PATH, { ...c.state, q: c.search }, t, table.total, SORTS),
      chartQs: stateQs,
      csv: withQs(`${PATH}.csv`, qsOf({ ...c.state, q: c.search, sort: t.sort, dir: t.dir })),
      empty: totals.requests === 0,
      filtered: !!(c.picked.tokens.length || c.picked.tags.length || c.picked.teams.length || c.search),
      live: { src: `/ui/live?org=${c.scope.org ? c.scope.org.id : 'all'}`, version: this.live.version(c.scope.orgIds) },
    };
  }

  /** Adds each row's trend (requests per bucket) and models (most used three, then "+N"). */
  private async decorate(c: Ctx, rows: PersonRow[], axis: Date[], actor: Actor) {
    const keys = rows.map((r) => r.key);
    const [models, trend] = await Promise.all([this.repo.modelsOf(c.filter, c.view, keys), this.repo.trendOf(c.filter, c.range, c.view, keys)]);
    const idx = new Map(axis.map((t, i) => [t.getTime(), i]));
    const canOpen = actor.globalAdmin || c.scope.isAdmin;
    // Over several organizations, teams of the same name ("Support") are told apart by theirs.
    const teamLabel = (name: string, org: string | null) => (!c.scope.org && org ? `${name} (${org})` : name);
    return rows.map((r, i) => {
      const mine = models.filter((m) => m.key === r.key).map((m) => modelId(m.provider, m.model));
      const values = axis.map(() => 0);
      for (const p of trend) {
        const at = idx.get(p.t.getTime());
        if (p.key === r.key && at !== undefined) values[at] = p.requests;
      }
      return {
        ...r,
        ...figures(r),
        n: i,
        label:
          c.view === 'team'
            ? r.teamName ? teamLabel(r.teamName, r.teamOrg) : r.key === '00000000-0000-0000-0000-000000000000' ? '(no team)' : '(deleted team)'
            : r.displayName ?? (r.serviceAccount ? `service account ${r.serviceAccount}` : r.key.startsWith('user:') ? '(deleted user)' : r.key),
        teamColor: r.teamId ? TEAM_COLORS[hash(r.teamId) % TEAM_COLORS.length] : null,
        models: mine.slice(0, 3),
        moreModels: mine.length > 3 ? mine.length - 3 : 0,
        allModels: mine.join(', '),
        spark: sparkline(values),
        trendTotal: values.reduce((a, b) => a + b, 0),
        dashboardHref: c.view === 'user' && canOpen && r.email ? `/ui/dashboard/${encodeURIComponent(r.email)}` : null,
      };
    });
  }

  async activityChart(actor: Actor, q: Query, tzCookie: string | undefined): Promise<ChartSpec> {
    const c = await this.ctx(actor, q, tzCookie);
    if (!c) return { options: {}, data: [[]] };
    if (c.view === 'user') {
      const pts = await this.repo.activeUsersSeries(c.filter, c.range);
      return timeChart(c.range, pts.map((p) => p.t), [{ label: 'Active users', values: pts.map((p) => p.users), color: '#2f6fed' }], { kind: 'bars', unit: 'users', empty: 'Nobody made a request in this range.' });
    }
    const [pts, teams] = await Promise.all([this.repo.series(c.filter, c.range, 'team'), this.repo.teams(c.scope.orgIds)]);
    const names = new Map(teams.map((t) => [t.id, c.scope.org ? t.name : `${t.name} (${t.org})`]));
    const xs = [...new Set(pts.map((p) => p.t.getTime()))].sort((a, b) => a - b);
    const totals = new Map<string, number>();
    for (const p of pts) if (p.key) totals.set(p.key, (totals.get(p.key) ?? 0) + p.m.requests);
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
    const shown = ranked.slice(0, MAX_TEAM_SERIES);
    const rest = new Set(ranked.slice(MAX_TEAM_SERIES));
    const label = (k: string) => (k === '00000000-0000-0000-0000-000000000000' ? '(no team)' : names.get(k) ?? '(deleted team)');
    // Each team its badge colour, unless a busier team shown already has it: then the next free one.
    const used = new Set<string>();
    const colorOf = (k: string) => {
      let i = hash(k) % TEAM_COLORS.length;
      for (let n = 0; n < TEAM_COLORS.length && used.has(TEAM_COLORS[i]); n++) i = (i + 1) % TEAM_COLORS.length;
      used.add(TEAM_COLORS[i]);
      return TEAM_COLORS[i];
    };
    const series = shown.map((k) => {
      const by = new Map(pts.filter((p) => p.key === k).map((p) => [p.t.getTime(), p.m.requests]));
      return { label: label(k), values: xs.map((x) => by.get(x) ?? 0), color: colorOf(k) };
    });
    if (rest.size) {
      const by = new Map<number, number>();
      for (const p of pts) if (rest.has(p.key)) by.set(p.t.getTime(), (by.get(p.t.getTime()) ?? 0) + p.m.requests);
      series.push({ label: `${rest.size} more teams`, values: xs.map((x) => by.get(x) ?? 0), color: '#999999' });
    }
    return timeChart(c.range, xs.map((x) => new Date(x)), series, { kind: 'bars', stacked: true, unit: 'count', empty: 'No requests in this range.' });
  }

  async csv(actor: Actor, q: Query, tzCookie: string | undefined): Promise<Csv> {
    const c = await this.ctx(actor, q, tzCookie);
    const byUser = str(q.view) !== 'team';
    const head = byUser
      ? ['name', 'email', 'user_key', 'team', 'team_org', 'models', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd']
      : ['team', 'team_slug', 'team_org', 'active_users', 'models', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_usd'];
    if (!c) return { filename: 'people.csv', head, rows: [] };
    const t = tableState(q, SORTS, { sort: 'requests', dir: 'desc' });
    const table = await this.repo.people(c.filter, c.view, { sort: t.sort as PeopleSort, dir: t.dir, search: c.search, limit: 100_000, offset: 0, unitForDays: { tz: c.range.tz, identity: c.range.identity } });
    const models = await this.repo.modelsOf(c.filter, c.view, table.rows.map((r) => r.key));
    const modelsOf = new Map<string, string[]>();
    for (const m of models) modelsOf.set(m.key, [...(modelsOf.get(m.key) ?? []), modelId(m.provider, m.model)]);
    const common = (r: PersonRow) => [(modelsOf.get(r.key) ?? []).join(' '), r.requests, r.inputTokens, r.outputTokens, r.inputTokens + r.outputTokens, usdExact(r.costMicros)];
    return {
      filename: `usage-by-${c.view}-${c.scope.org?.slug ?? 'all'}-${c.range.fromDate}-${c.range.toDate}.csv`,
      head,
      rows: table.rows.map((r) =>
        c.view === 'user'
          ? [r.displayName ?? (r.serviceAccount ? `service account ${r.serviceAccount}` : r.key), r.email, r.key, r.teamName, r.teamOrg, ...common(r)]
          : [r.teamName ?? (r.key === '00000000-0000-0000-0000-000000000000' ? '(no team)' : '(deleted team)'), r.teamSlug, r.teamOrg, r.activeUsers, ...common(r)],
      ),
    };
  }
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}
