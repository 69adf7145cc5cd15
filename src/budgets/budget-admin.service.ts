import { Injectable } from '@nestjs/common';
import { AccessService, isUuid, OrgScope } from '../auth/access.service';
import { Actor } from '../auth/actor';
import { notFound } from '../common/errors';
import { Page, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { BudgetView } from './budget.types';
import { budgetCreateInput, budgetUpdateInput, rateLimitInput, refillInput, toCreateInput, toRefillAmount, toUpdateInput } from './budget-inputs';
import { Bucket, BudgetsDashboardRepository, EventFilters, EventRow } from './budgets-dashboard.repository';
import { BudgetsRepository } from './budgets.repository';
import { BudgetsService } from './budgets.service';
import { RateLimitsService, RateLimitView } from './rate-limits.service';
import type { z } from 'zod';

/** A budget as the pages and the API show it: its state plus what its scope and pool are called. */
export interface BudgetItem extends Omit<BudgetView, 'webhookUrl'> {
  org: string;
  scope: string;
  surplusPoolName: string | null;
  percentUsed: number;
  /** Only admins see the webhook URL (chat webhooks carry their own secret in the URL). */
  webhookUrl?: string | null;
}

export interface OrgRef {
  id: string;
  slug: string;
  name: string;
}

const DAY = 86_400_000;
const RESOURCES = ['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests'];
const POOLS = ['allocated', 'surplus', 'hybrid'];
const IOS = ['input', 'output', 'total'];

/** Dashboard filters as they appear in the query string (strings), and what they parse to. */
export interface DashboardQuery {
  from: string;
  to: string;
  users: string[];
  resource?: string;
  pool?: string;
  io?: string;
  min?: string;
  max?: string;
  budget?: string;
}

const str = (v: unknown, max = 100) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);
const day = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Budgets and rate limits as people manage them: every lookup goes through AccessService (an id
 * from another organization is "not found"), admins see and change their organizations' budgets,
 * members see the budgets that apply to them. The rules themselves live in BudgetsService.
 */
@Injectable()
export class BudgetAdminService {
  constructor(
    private readonly access: AccessService,
    private readonly budgets: BudgetsService,
    private readonly limits: RateLimitsService,
    private readonly views: BudgetsRepository,
    private readonly dash: BudgetsDashboardRepository,
    private readonly pool: PgPool,
  ) {}

  /** Organizations the actor can pick on the budget pages. */
  async orgChoices(actor: Actor): Promise<OrgRef[]> {
    const ids = this.access.visibleOrgIds(actor);
    const r = await this.pool.query<OrgRef>('select id, slug, name from organization where ($1::uuid[] is null or id = any($1::uuid[])) order by slug limit 500', [ids]);
    return r.rows;
  }

  /** The organization a budget page is about: the one asked for, else the actor's first. */
  async pickOrg(actor: Actor, ref: string | undefined): Promise<{ scope: OrgScope | null; orgs: OrgRef[] }> {
    const orgs = await this.orgChoices(actor);
    const want = ref ?? orgs[0]?.slug;
    if (!want) return { scope: null, orgs };
    return { scope: await this.access.org(actor, want, 'member'), orgs };
  }

  private async items(s: OrgScope, rows: BudgetView[]): Promise<BudgetItem[]> {
    const labels = await this.dash.scopeLabels(s.org.id);
    const names = new Map(rows.map((b) => [b.id, b.name]));
    const missing = rows.filter((b) => b.surplusBudgetId && !names.has(b.surplusBudgetId)).map((b) => b.surplusBudgetId!);
    if (missing.length) for (const p of await this.views.views('b.id = any($1::uuid[])', [missing])) names.set(p.id, p.name);
    return rows.map((b) => {
      const { webhookUrl, ...rest } = b;
      const scope =
        b.scopeType === 'org' ? 'organization'
        : b.scopeType === 'pool' ? 'surplus pool'
        : b.scopeType === 'end_user' ? `end user ${b.scopeId}`
        : labels.get(b.scopeId ?? '') ?? `${b.scopeType} ${b.scopeId}`;
      return {
        ...rest,
        ...(s.role === 'admin' ? { webhookUrl } : {}),
        org: s.org.slug,
        scope: b.endUserTemplate ? `each end user of ${scope}` : scope,
        surplusPoolName: b.surplusBudgetId ? names.get(b.surplusBudgetId) ?? null : null,
        percentUsed: b.limitAmount > 0 ? Math.min(999, Math.round((b.used * 100) / b.limitAmount)) : b.used > 0 ? 100 : 0,
      };
    });
  }

  /** Budget ids a member may see in the org, or null for admins (all of them). */
  private async visibleIds(actor: Actor, s: OrgScope): Promise<string[] | null> {
    if (s.role === 'admin') return null;
    return actor.userId ? this.dash.applicableIds(s.org.id, actor.userId) : [];
  }

  async list(actor: Actor, orgRef: string): Promise<{ scope: OrgScope; budgets: BudgetItem[] }> {
    const s = await this.access.org(actor, orgRef, 'member');
    return { scope: s, budgets: await this.listIn(actor, s) };
  }

  async listIn(actor: Actor, s: OrgScope): Promise<BudgetItem[]> {
    const ids = await this.visibleIds(actor, s);
    const rows = await this.views.views('b.org_id = $1 and b.limit_kind is null and b.parent_budget_id is null and ($2::uuid[] is null or b.id = any($2::uuid[]))', [s.org.id, ids]);
    return this.items(s, rows);
  }

  async get(actor: Actor, orgRef: string, id: string): Promise<{ scope: OrgScope; budget: BudgetItem }> {
    const s = await this.access.org(actor, orgRef, 'member');
    return { scope: s, budget: await this.getIn(actor, s, id) };
  }

  private async getIn(actor: Actor, s: OrgScope, id: string): Promise<BudgetItem> {
    if (!isUuid(id)) throw notFound('budget');
    const ids = await this.visibleIds(actor, s);
    if (ids && !ids.includes(id)) throw notFound('budget');
    const rows = await this.views.views('b.id = $1 and b.org_id = $2 and b.limit_kind is null', [id, s.org.id]);
    if (!rows.length) throw notFound('budget');
    return (await this.items(s, rows))[0];
  }

  async create(actor: Actor, orgRef: string, body: z.infer<typeof budgetCreateInput>): Promise<{ scope: OrgScope; budget: BudgetItem; webhookSecret?: string }> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const created = await this.budgets.create(actor.label, toCreateInput(s.org.slug, body));
    return { scope: s, budget: await this.getIn(actor, s, created.id), ...(created.webhookSecret ? { webhookSecret: created.webhookSecret } : {}) };
  }

  async update(actor: Actor, orgRef: string, id: string, body: z.infer<typeof budgetUpdateInput>): Promise<{ scope: OrgScope; budget: BudgetItem; webhookSecret?: string }> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const b = await this.getIn(actor, s, id);
    const updated = await this.budgets.update(actor.label, b.id, toUpdateInput(b.metric, body), s.org.id);
    return { scope: s, budget: await this.getIn(actor, s, id), ...(updated.webhookSecret ? { webhookSecret: updated.webhookSecret } : {}) };
  }

  async refill(actor: Actor, orgRef: string, id: string, body: z.infer<typeof refillInput>): Promise<BudgetItem> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const b = await this.getIn(actor, s, id);
    await this.budgets.refill(actor.label, b.id, toRefillAmount(b.metric, body), s.org.id);
    return this.getIn(actor, s, id);
  }

  async setPaused(actor: Actor, orgRef: string, id: string, paused: boolean): Promise<BudgetItem> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const b = await this.getIn(actor, s, id);
    await this.budgets.setPaused(actor.label, b.id, paused, s.org.id);
    return this.getIn(actor, s, id);
  }

  async remove(actor: Actor, orgRef: string, id: string): Promise<OrgScope> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const b = await this.getIn(actor, s, id);
    await this.budgets.remove(actor.label, b.id, s.org.id);
    return s;
  }

  /** What the create form offers: scopes within the org and the pools a budget may draw on. */
  async form(actor: Actor, orgRef: string) {
    const s = await this.access.org(actor, orgRef, 'admin');
    const [options, pools] = await Promise.all([
      this.dash.scopeOptions(s.org.id),
      this.views.views(`b.org_id = $1 and b.scope_type = 'pool'`, [s.org.id]),
    ]);
    return { scope: s, options, pools: pools.map((p) => ({ id: p.id, name: p.name, metric: p.metric })) };
  }

  // Rate limits -------------------------------------------------------------------------------

  async rateLimits(actor: Actor, orgRef: string): Promise<{ scope: OrgScope; limits: RateLimitView[] }> {
    const s = await this.access.org(actor, orgRef, 'admin');
    return { scope: s, limits: await this.limits.list(s.org.slug) };
  }

  async setRateLimit(actor: Actor, orgRef: string, body: z.infer<typeof rateLimitInput>): Promise<RateLimitView> {
    const s = await this.access.org(actor, orgRef, 'admin');
    const { scope, ...values } = body;
    const given = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    return this.limits.set(actor.label, s.org.slug, scope, given);
  }

  // Alerts and the dashboard -------------------------------------------------------------------

  /** Threshold alerts of the last week for the budgets that apply to the actor in this org. */
  async alerts(actor: Actor, s: OrgScope) {
    const ids = await this.visibleIds(actor, s);
    return this.dash.recentAlerts([s.org.id], ids, new Date(Date.now() - 7 * DAY));
  }

  /** Parses the dashboard query string; bad values fall back to defaults rather than failing. */
  parseDashboard(q: Record<string, unknown>, now = new Date()): { query: DashboardQuery; from: Date; to: Date; bucket: Bucket; min?: number; max?: number } {
    const parseDay = (v: unknown) => {
      const s = str(v, 10);
      if (!s || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return null;
      const d = new Date(`${s}T00:00:00Z`);
      return Number.isNaN(d.getTime()) ? null : d;
    };
    const today = new Date(`${day(now)}T00:00:00Z`);
    let toDay = parseDay(q.to) ?? today;
    let fromDay = parseDay(q.from) ?? new Date(toDay.getTime() - 6 * DAY);
    if (fromDay > toDay) [fromDay, toDay] = [toDay, fromDay];
    if (toDay.getTime() - fromDay.getTime() > 366 * DAY) fromDay = new Date(toDay.getTime() - 366 * DAY);
    const to = new Date(toDay.getTime() + DAY);
    const users = (Array.isArray(q.users) ? q.users : q.users === undefined ? [] : [q.users]).map((u) => str(u, 40)).filter((u): u is string => !!u && isUuid(u)).slice(0, 50);
    const amount = (v: unknown) => {
      const s = str(v, 30);
      const n = s === undefined ? NaN : Number(s.replace(/[$,\s]/g, ''));
      return Number.isFinite(n) && n >= 0 ? n : undefined;
    };
    const pick = (v: unknown, allowed: string[]) => (typeof v === 'string' && allowed.includes(v) ? v : undefined);
    const query: DashboardQuery = {
      from: day(fromDay),
      to: day(toDay),
      users,
      resource: pick(q.resource, RESOURCES),
      pool: pick(q.pool, POOLS),
      io: pick(q.io, IOS),
      min: amount(q.min) === undefined ? undefined : str(q.min, 30),
      max: amount(q.max) === undefined ? undefined : str(q.max, 30),
      budget: isUuid(q.budget) ? (q.budget as string) : undefined,
    };
    return { query, from: fromDay, to, bucket: to.getTime() - fromDay.getTime() <= 2 * DAY ? 'hour' : 'day', min: amount(q.min), max: amount(q.max) };
  }

  private async filters(actor: Actor, s: OrgScope, q: Record<string, unknown>): Promise<{ f: EventFilters; parsed: ReturnType<BudgetAdminService['parseDashboard']> }> {
    const parsed = this.parseDashboard(q);
    const p = parsed.query;
    if (p.budget) await this.getIn(actor, s, p.budget);
    return {
      parsed,
      f: {
        orgId: s.org.id,
        from: parsed.from,
        to: parsed.to,
        users: p.users,
        onlyUser: s.role === 'admin' ? undefined : actor.userId ?? '00000000-0000-0000-0000-000000000000',
        budgetId: p.budget,
        resource: p.resource,
        pool: p.pool,
        io: p.io,
        min: parsed.min,
        max: parsed.max,
      },
    };
  }

  async events(actor: Actor, orgRef: string, q: Record<string, unknown>, page: PageQuery): Promise<{ scope: OrgScope; page: Page<EventRow>; query: DashboardQuery }> {
    const s = await this.access.org(actor, orgRef, 'member');
    const { f, parsed } = await this.filters(actor, s, q);
    return { scope: s, page: await this.dash.events(f, page), query: parsed.query };
  }

  async allEvents(actor: Actor, orgRef: string, q: Record<string, unknown>): Promise<{ scope: OrgScope; rows: EventRow[] }> {
    const s = await this.access.org(actor, orgRef, 'member');
    const { f } = await this.filters(actor, s, q);
    return { scope: s, rows: await this.dash.allEvents(f) };
  }

  /** People the users filter offers: every member for admins, only themselves for members. */
  async userChoices(actor: Actor, s: OrgScope) {
    if (s.role === 'admin') return this.dash.members(s.org.id);
    return actor.userId ? [{ id: actor.userId, email: actor.email ?? 'me' }] : [];
  }

  /** Chart data for uPlot: consumption per hour or day, one series per pool category. */
  async consumptionChart(actor: Actor, orgRef: string, q: Record<string, unknown>) {
    const s = await this.access.org(actor, orgRef, 'member');
    const { f, parsed } = await this.filters(actor, s, q);
    const resource = f.resource ?? (await this.dash.mainResource(f)) ?? 'tokens';
    const points = await this.dash.consumption({ ...f, resource }, parsed.bucket);
    const xs = this.buckets(parsed.from, parsed.to, parsed.bucket);
    const unit = resource === 'cost' ? 'USD' : resource.replace('_', ' ');
    const series = POOLS.map((cat) => {
      const by = new Map(points.filter((p) => p.key === cat).map((p) => [p.t.getTime(), p.value]));
      return xs.map((x) => (resource === 'cost' ? (by.get(x) ?? 0) / 1e6 : by.get(x) ?? 0));
    });
    const colors = ['#2563eb', '#d97706', '#7c3aed'];
    return {
      options: {
        title: `Consumption (${unit}) per ${parsed.bucket}`,
        scales: { x: { time: true } },
        series: [{}, ...POOLS.map((cat, i) => ({ label: cat, stroke: colors[i], fill: colors[i] + '22', width: 2 }))],
      },
      data: [xs.map((x) => x / 1000), ...series],
    };
  }

  /** Chart data for uPlot: each surplus pool's remaining over time. */
  async surplusChart(actor: Actor, orgRef: string, q: Record<string, unknown>) {
    const s = await this.access.org(actor, orgRef, 'member');
    const { f, parsed } = await this.filters(actor, s, q);
    const ids = await this.visibleIds(actor, s);
    const { pools, points } = await this.dash.surplusRemaining(s.org.id, ids, f.resource, parsed.from, parsed.to, parsed.bucket);
    const xs = this.buckets(parsed.from, parsed.to, parsed.bucket);
    const colors = ['#059669', '#dc2626', '#0891b2', '#9333ea', '#ca8a04'];
    return {
      options: {
        title: pools.length ? 'Surplus pools: remaining' : 'No surplus pools yet',
        scales: { x: { time: true } },
        series: [{}, ...pools.map((p, i) => ({ label: `${p.name} (${p.metric === 'cost' ? 'USD' : p.metric.replace('_', ' ')})`, stroke: colors[i % colors.length], width: 2 }))],
      },
      data: [
        xs.map((x) => x / 1000),
        ...pools.map((p) => {
          const by = new Map(points.filter((x) => x.key === p.id).map((x) => [x.t.getTime(), x.value]));
          return xs.map((x) => {
            const v = by.get(x);
            return v === undefined ? null : p.metric === 'cost' ? v / 1e6 : v;
          });
        }),
      ],
    };
  }

  private buckets(from: Date, to: Date, bucket: Bucket): number[] {
    const step = bucket === 'hour' ? 3_600_000 : DAY;
    const out: number[] = [];
    for (let t = from.getTime(); t < to.getTime(); t += step) out.push(t);
    return out;
  }
}
