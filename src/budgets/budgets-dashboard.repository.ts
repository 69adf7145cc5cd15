import { Injectable } from '@nestjs/common';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';

/** Filters of the consumption events table and charts; everything is within one organization. */
export interface EventFilters {
  orgId: string;
  from: Date;
  to: Date;
  /** Users picked in the multi-select (app_user ids). */
  users?: string[];
  /** Members see only their own events, whatever they pick. */
  onlyUser?: string;
  budgetId?: string;
  resource?: string;
  pool?: string;
  io?: string;
  /** Amount range in display units: dollars for cost, tokens or requests otherwise. */
  min?: number;
  max?: number;
}

export interface EventRow {
  id: string;
  createdAt: string;
  userId: string | null;
  userEmail: string | null;
  endUser: string | null;
  budgetId: string;
  budgetName: string | null;
  amount: number;
  resourceType: string;
  poolCategory: string;
  ioType: string;
  requestId: string;
  endpoint: string;
}

export const EVENT_SORTS = ['created', 'amount', 'user', 'resource', 'pool', 'io', 'endpoint'] as const;
const ORDER: Record<string, string> = {
  created: 'e.created_at',
  amount: 'e.amount',
  user: 'coalesce(u.email, e.end_user)',
  resource: 'e.resource_type',
  pool: 'e.pool_category',
  io: 'e.io_type',
  endpoint: 'e.endpoint',
};

export type Bucket = 'hour' | 'day';

export interface SeriesPoint {
  t: Date;
  key: string;
  value: number;
}

/**
 * SQL for the budget pages: which budgets apply to a person, threshold alerts, the consumption
 * ledger (table, CSV and charts) and the surplus pools' remaining over time.
 */
@Injectable()
export class BudgetsDashboardRepository {
  constructor(private readonly pool: PgPool) {}

  /**
   * Budgets that govern a member's requests: the org's, their own, their teams', their tokens',
   * and the pools those draw on. Rate-limit counters and end-user copies are not listed.
   */
  async applicableIds(orgId: string, userId: string): Promise<string[]> {
    const r = await this.pool.query<{ id: string }>(
      `with mine as (
         select b.id, b.surplus_budget_id from budget b
          where b.org_id = $1::uuid and b.limit_kind is null and b.parent_budget_id is null and (
                (b.scope_type = 'org' and b.scope_id = $1::uuid::text)
             or (b.scope_type = 'user' and b.scope_id = $2::uuid::text)
             or (b.scope_type = 'team' and b.scope_id in (select tm.team_id::text from team_member tm join team t on t.id = tm.team_id and t.org_id = $1 where tm.user_id = $2))
             or (b.scope_type = 'team' and b.scope_id in (select k.team_id::text from api_token k where k.org_id = $1 and k.owner_user_id = $2 and k.team_id is not null))
             or (b.scope_type = 'token' and b.scope_id in (select k.id::text from api_token k where k.org_id = $1 and k.owner_user_id = $2)))
       )
       select id from mine union select surplus_budget_id from mine where surplus_budget_id is not null`,
      [orgId, userId],
    );
    return r.rows.map((x) => x.id);
  }

  /** What a budget's scope id stands for, for people: team slug, email, service account or token name. */
  async scopeLabels(orgId: string): Promise<Map<string, string>> {
    const r = await this.pool.query<{ id: string; label: string }>(
      `select id::text, 'team ' || slug as label from team where org_id = $1
       union all select u.id::text, u.email from app_user u join membership m on m.user_id = u.id and m.org_id = $1
       union all select id::text, 'service account ' || name from service_account where org_id = $1
       union all select id::text, 'token ' || name from api_token where org_id = $1`,
      [orgId],
    );
    return new Map(r.rows.map((x) => [x.id, x.label]));
  }

  /** Choices of the scope picker: everything in the org a budget or a rate limit can attach to. */
  async scopeOptions(orgId: string): Promise<{ teams: { value: string; label: string }[]; users: { value: string; label: string }[]; serviceAccounts: { value: string; label: string }[]; tokens: { value: string; label: string }[] }> {
    const [teams, users, sas, tokens] = await Promise.all([
      this.pool.query('select slug, name from team where org_id = $1 order by slug', [orgId]),
      this.pool.query('select u.email from app_user u join membership m on m.user_id = u.id and m.org_id = $1 order by lower(u.email)', [orgId]),
      this.pool.query('select name from service_account where org_id = $1 and disabled_at is null order by name', [orgId]),
      this.pool.query(
        `select k.id, k.name, coalesce(u.email, sa.name) as owner from api_token k
           left join app_user u on u.id = k.owner_user_id left join service_account sa on sa.id = k.service_account_id
          where k.org_id = $1 and k.revoked_at is null and (k.expires_at is null or k.expires_at > now()) order by lower(k.name) limit 500`,
        [orgId],
      ),
    ]);
    return {
      teams: teams.rows.map((x) => ({ value: `team:${x.slug}`, label: `${x.name} (${x.slug})` })),
      users: users.rows.map((x) => ({ value: `user:${x.email}`, label: x.email })),
      serviceAccounts: sas.rows.map((x) => ({ value: `service-account:${x.name}`, label: x.name })),
      tokens: tokens.rows.map((x) => ({ value: `token:${x.id}`, label: `${x.name} (${x.owner ?? 'no owner'})` })),
    };
  }

  /** Members of the organization, for the users filter. */
  async members(orgId: string): Promise<{ id: string; email: string }[]> {
    const r = await this.pool.query('select u.id, u.email from app_user u join membership m on m.user_id = u.id and m.org_id = $1 order by lower(u.email) limit 1000', [orgId]);
    return r.rows;
  }

  /** Recent threshold alerts of the given budgets (all of the orgs' budgets when `budgetIds` is null). */
  async recentAlerts(orgIds: string[], budgetIds: string[] | null, since: Date, limit = 10) {
    const r = await this.pool.query(
      `select a.id, a.budget_id, a.threshold, a.used, a.limit_amount, a.created_at, b.name, b.metric, o.slug as org
         from budget_alert a join budget b on b.id = a.budget_id join organization o on o.id = a.org_id
        where a.org_id = any($1::uuid[]) and a.created_at >= $2 and ($3::uuid[] is null or a.budget_id = any($3::uuid[]))
        order by a.created_at desc limit $4`,
      [orgIds, since, budgetIds, limit],
    );
    return r.rows.map((x) => ({
      id: x.id as string,
      budgetId: x.budget_id as string,
      budgetName: x.name as string,
      org: x.org as string,
      metric: x.metric as string,
      threshold: x.threshold as number,
      used: Number(x.used),
      limit: Number(x.limit_amount),
      createdAt: new Date(x.created_at).toISOString(),
    }));
  }

  private where(f: EventFilters): { sql: string; params: unknown[] } {
    const params: unknown[] = [f.orgId, f.from, f.to];
    const parts = ['e.org_id = $1', 'e.created_at >= $2', 'e.created_at < $3'];
    const add = (sql: (n: string) => string, v: unknown) => {
      params.push(v);
      parts.push(sql(`$${params.length}`));
    };
    if (f.onlyUser) add((n) => `e.user_id = ${n}::uuid`, f.onlyUser);
    if (f.users?.length) add((n) => `e.user_id = any(${n}::uuid[])`, f.users);
    if (f.budgetId) add((n) => `e.budget_id = ${n}::uuid`, f.budgetId);
    if (f.resource) add((n) => `e.resource_type = ${n}`, f.resource);
    if (f.pool) add((n) => `e.pool_category = ${n}`, f.pool);
    if (f.io) add((n) => `e.io_type = ${n}`, f.io);
    // Amounts are compared in display units: dollars for cost rows, whole units otherwise.
    if (f.min !== undefined) add((n) => `e.amount >= case when e.resource_type = 'cost' then ${n}::numeric * 1000000 else ${n}::numeric end`, f.min);
    if (f.max !== undefined) add((n) => `e.amount <= case when e.resource_type = 'cost' then ${n}::numeric * 1000000 else ${n}::numeric end`, f.max);
    return { sql: parts.join(' and '), params };
  }

  private static readonly SELECT = `select e.id, e.created_at, e.user_id, u.email as user_email, e.end_user, e.budget_id, b.name as budget_name, e.amount,
            e.resource_type, e.pool_category, e.io_type, e.request_id, e.endpoint
       from consumption_event e left join app_user u on u.id = e.user_id left join budget b on b.id = e.budget_id`;

  private static row(x: Record<string, unknown>): EventRow {
    return {
      id: x.id as string,
      createdAt: new Date(x.created_at as string).toISOString(),
      userId: x.user_id as string | null,
      userEmail: x.user_email as string | null,
      endUser: x.end_user as string | null,
      budgetId: x.budget_id as string,
      budgetName: x.budget_name as string | null,
      amount: Number(x.amount),
      resourceType: x.resource_type as string,
      poolCategory: x.pool_category as string,
      ioType: x.io_type as string,
      requestId: x.request_id as string,
      endpoint: x.endpoint as string,
    };
  }

  async events(f: EventFilters, q: PageQuery): Promise<Page<EventRow>> {
    const w = this.where(f);
    // id breaks ties so pages never overlap or skip rows with the same sort value.
    const order = `${ORDER[q.sort] ?? ORDER.created} ${q.dir === 'asc' ? 'asc' : 'desc'} nulls last, e.id ${q.dir === 'asc' ? 'asc' : 'desc'}`;
    const [rows, count] = await Promise.all([
      this.pool.query(`${BudgetsDashboardRepository.SELECT} where ${w.sql} order by ${order} ${limitOffset(q)}`, w.params),
      this.pool.query<{ n: string }>(`select count(*) as n from consumption_event e where ${w.sql}`, w.params),
    ]);
    return pageOf(rows.rows.map(BudgetsDashboardRepository.row), Number(count.rows[0].n), q);
  }

  /** Every matching event, newest first, for the CSV export (capped). */
  async allEvents(f: EventFilters, cap = 100_000): Promise<EventRow[]> {
    const w = this.where(f);
    const r = await this.pool.query(`${BudgetsDashboardRepository.SELECT} where ${w.sql} order by e.created_at desc, e.id desc limit ${cap}`, w.params);
    return r.rows.map(BudgetsDashboardRepository.row);
  }

  /** The resource type with the most events in the range (what the consumption chart shows by default). */
  async mainResource(f: EventFilters): Promise<string | null> {
    const w = this.where({ ...f, resource: undefined });
    const r = await this.pool.query<{ resource_type: string }>(`select e.resource_type from consumption_event e where ${w.sql} group by 1 order by count(*) desc limit 1`, w.params);
    return r.rows[0]?.resource_type ?? null;
  }

  /** Consumption per hour or day, one series per pool category. */
  async consumption(f: EventFilters, bucket: Bucket): Promise<SeriesPoint[]> {
    const w = this.where(f);
    const r = await this.pool.query(
      `select date_trunc('${bucket}', e.created_at, 'UTC') as t, e.pool_category as key, sum(e.amount)::bigint as v
         from consumption_event e where ${w.sql} group by 1, 2 order by 1`,
      w.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.t), key: x.key, value: Number(x.v) }));
  }

  /**
   * Each surplus pool's remaining at the end of every hour or day: its limit minus what its base
   * budgets drew from it within the pool's window at that moment (calendar period, rolling
   * duration, or for a bucket the time it takes to refill completely). Hybrid events count in
   * full, so the line is a lower bound when requests were split between allocation and surplus.
   */
  async surplusRemaining(orgId: string, poolIds: string[] | null, resource: string | undefined, from: Date, to: Date, bucket: Bucket): Promise<{ pools: { id: string; name: string; metric: string }[]; points: SeriesPoint[] }> {
    const pools = await this.pool.query<{ id: string; name: string; metric: string }>(
      `select id, name, metric from budget where org_id = $1 and scope_type = 'pool' and ($2::uuid[] is null or id = any($2::uuid[])) and ($3::text is null or metric = $3) order by created_at limit 10`,
      [orgId, poolIds, resource ?? null],
    );
    if (!pools.rows.length) return { pools: [], points: [] };
    const unit = `interval '1 ${bucket}'`;
    const r = await this.pool.query(
      `with ends as (select g + ${unit} as e from generate_series(date_trunc('${bucket}', $2::timestamptz, 'UTC'), $3::timestamptz - interval '1 microsecond', ${unit}) g),
            p as (select * from budget where id = any($1::uuid[])),
            w as (select p.id, ends.e, p.limit_amount,
                         case p.window_kind
                           when 'calendar' then (date_trunc(p.period, (ends.e - interval '1 microsecond') at time zone p.time_zone)) at time zone p.time_zone
                           when 'rolling' then ends.e - make_interval(secs => p.rolling_seconds)
                           else ends.e - make_interval(secs => least(3.0e7, case when p.refill_per_second > 0 then p.limit_amount / p.refill_per_second else 3.0e7 end))
                         end as start
                    from p cross join ends)
       select w.id, w.e - ${unit} as t,
              greatest(0, w.limit_amount - coalesce((
                select sum(ev.amount) from consumption_event ev join budget base on base.id = ev.budget_id
                 where base.surplus_budget_id = w.id and ev.org_id = $4 and ev.pool_category <> 'allocated'
                   and ev.created_at >= w.start and ev.created_at < w.e), 0))::bigint as v
         from w order by 2`,
      [pools.rows.map((x) => x.id), from, to, orgId],
    );
    return { pools: pools.rows, points: r.rows.map((x) => ({ t: new Date(x.t), key: x.id, value: Number(x.v) })) };
  }
}
