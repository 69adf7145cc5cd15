import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { randomBytes } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { AuditService } from '../common/audit.service';
import { encryptSecret } from '../common/crypto';
import { RUNTIME, type Runtime } from '../config/runtime';
import { parseDuration } from '../common/duration';
import { conflict, invalid, notFound } from '../common/errors';
import { uuidv7 } from '../common/uuid';
import { PgPool } from '../db/pg-pool';
import { OrgsService } from '../orgs/orgs.service';
import { BUDGET_CHANNEL } from './budget-enforcer.service';
import { BUDGET_METRICS, BUDGET_PERIODS, BudgetMetric, BudgetPeriod, BudgetView } from './budget.types';
import { BudgetsRepository } from './budgets.repository';
import { resolveScope } from './scope-resolver';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreateBudgetInput {
  orgSlug: string;
  name: string;
  /** `org`, `team:<slug>`, `user:<email>`, `service-account:<name>`, `token:<id>`, `end-user:<id>` or `pool`. */
  scope: string;
  /** Template: every end user seen through the token (or org) gets their own budget like this. */
  perEndUser?: boolean;
  metric: BudgetMetric;
  /** In the metric's unit: micro-dollars, tokens or requests (for buckets: the capacity). */
  limit: number;
  period?: BudgetPeriod;
  timeZone?: string;
  /** Rolling window length such as `4h` or `7d`. */
  rolling?: string;
  /** Refilling bucket: units added per second. */
  refillPerSecond?: number;
  soft?: boolean;
  failOpen?: boolean;
  surplusPoolId?: string;
  surplusUserLimit?: number;
  thresholds?: number[];
  webhookUrl?: string;
}

/** What an edit may change; absent fields keep their value, `webhookUrl: null` removes the webhook. */
export interface UpdateBudgetInput {
  name?: string;
  limit?: number;
  thresholds?: number[];
  webhookUrl?: string | null;
  soft?: boolean;
  failOpen?: boolean;
  surplusUserLimit?: number | null;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Budget administration, shared by the CLI, the management API and the pages. */
@Injectable()
export class BudgetsService {
  constructor(
    private readonly pool: PgPool,
    private readonly orm: MikroORM,
    private readonly orgs: OrgsService,
    private readonly repo: BudgetsRepository,
    private readonly audit: AuditService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  /** Creates a budget; with a webhook, the HMAC secret is in the result this once and stored encrypted. */
  async create(actor: string, input: CreateBudgetInput): Promise<BudgetView & { webhookSecret?: string }> {
    const name = input.name?.trim();
    if (!name || name.length > 120) throw invalid('budget name is required (at most 120 characters)');
    if (!BUDGET_METRICS.includes(input.metric)) throw invalid(`metric must be one of ${BUDGET_METRICS.join(', ')}`);
    if (!Number.isSafeInteger(input.limit) || input.limit < 0) throw invalid('limit must be a non-negative whole number');
    const windows = [input.period !== undefined, input.rolling !== undefined, input.refillPerSecond !== undefined].filter(Boolean).length;
    if (windows !== 1) throw invalid('choose exactly one window: a calendar period, a rolling duration, or a refilling bucket');
    if (input.period !== undefined && !BUDGET_PERIODS.includes(input.period)) throw invalid(`period must be one of ${BUDGET_PERIODS.join(', ')}`);
    const timeZone = input.timeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) throw invalid(`unknown time zone "${timeZone}"`);
    const rollingSeconds = input.rolling !== undefined ? parseDuration(input.rolling, 'rolling window') / 1000 : null;
    if (input.refillPerSecond !== undefined && !(input.refillPerSecond >= 0 && Number.isFinite(input.refillPerSecond))) throw invalid('refill rate must be a non-negative number');
    for (const t of input.thresholds ?? []) if (!Number.isInteger(t) || t <= 0 || t > 1000) throw invalid('thresholds are percentages such as 50,80,100');
    if (input.webhookUrl !== undefined && !/^https?:\/\/\S+$/.test(input.webhookUrl)) throw invalid('webhook must be an http(s) URL');

    const em = this.orm.em.fork();
    const org = await this.orgs.getOrgBySlug(input.orgSlug, em);
    const { scopeType, scopeId } = await resolveScope(this.pool, org.id, input.scope, ['org', 'pool', 'team', 'user', 'service-account', 'token', 'end-user']);
    if (input.perEndUser && scopeType !== 'token' && scopeType !== 'org') throw invalid('per-end-user budgets attach to a token or an organization');
    let surplusPoolId: string | null = null;
    if (input.surplusPoolId !== undefined) {
      if (scopeType === 'pool') throw invalid('a pool cannot draw on another pool');
      const pool = await this.pool.query('select org_id, scope_type, metric from budget where id = $1', [UUID_RE.test(input.surplusPoolId) ? input.surplusPoolId : null]);
      const p = pool.rows[0];
      if (!p || p.org_id !== org.id || p.scope_type !== 'pool') throw notFound('surplus pool');
      if (p.metric !== input.metric) throw invalid('a base budget and its surplus pool must count the same metric');
      surplusPoolId = input.surplusPoolId;
    } else if (input.surplusUserLimit !== undefined) {
      throw invalid('a per-user surplus limit needs a surplus pool');
    }
    const id = uuidv7();
    const webhookSecret = input.webhookUrl ? 'whsec_' + randomBytes(24).toString('base64url') : undefined;
    await this.pool.query(
      `insert into budget (id, org_id, name, scope_type, scope_id, end_user_template, metric, window_kind, period, time_zone, rolling_seconds,
                           limit_amount, refill_per_second, hard, fail_open, surplus_budget_id, surplus_user_limit, thresholds, webhook_url, bucket_level, bucket_at,
                           webhook_secret_enc)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
      [
        id, org.id, name, scopeType, scopeId, !!input.perEndUser, input.metric,
        input.period ? 'calendar' : rollingSeconds ? 'rolling' : 'bucket',
        input.period ?? null, timeZone, rollingSeconds, input.limit, input.refillPerSecond ?? null,
        !input.soft, !!input.failOpen, surplusPoolId, input.surplusUserLimit ?? null,
        input.thresholds ?? [50, 80, 100], input.webhookUrl ?? null,
        input.refillPerSecond !== undefined ? input.limit : null, input.refillPerSecond !== undefined ? new Date() : null,
        webhookSecret ? encryptSecret(this.rt.keys, webhookSecret) : null,
      ],
    );
    this.audit.record(em, { actor, orgId: org.id, action: 'budget.create', targetType: 'budget', targetId: id, after: { name, scope: input.scope, metric: input.metric, limit: input.limit } });
    await em.flush();
    await this.changed(org.id);
    return { ...(await this.get(id)), ...(webhookSecret ? { webhookSecret } : {}) };
  }

  async get(id: string, orgId?: string): Promise<BudgetView> {
    if (!UUID_RE.test(id)) throw invalid('budget id must be a UUID (see `sluice budget list`)');
    const rows = await this.repo.views(orgId ? 'b.id = $1 and b.org_id = $2' : 'b.id = $1', orgId ? [id, orgId] : [id]);
    if (!rows.length) throw notFound('budget');
    return rows[0];
  }

  async list(orgSlug: string): Promise<BudgetView[]> {
    const org = await this.orgs.getOrgBySlug(orgSlug);
    return this.repo.views('b.org_id = $1 and b.limit_kind is null', [org.id]);
  }

  /** Gives back `amount` (or everything used in the current window when omitted). */
  async refill(actor: string, id: string, amount?: number, orgId?: string): Promise<BudgetView> {
    const b = await this.get(id, orgId);
    if (amount !== undefined && (!Number.isSafeInteger(amount) || amount <= 0)) throw invalid('refill amount must be a positive whole number');
    if (b.windowKind === 'calendar') {
      await this.pool.query('update budget set spent = case when $2::bigint is null then 0 else greatest(0, spent - $2::bigint) end, alerts_fired = \'{}\', updated_at = now() where id = $1', [id, amount ?? null]);
    } else if (b.windowKind === 'rolling') {
      if (amount === undefined) await this.pool.query('delete from budget_minute where budget_id = $1', [id]);
      else
        await this.pool.query(
          `insert into budget_minute as m (budget_id, minute, amount) values ($1, date_trunc('minute', now()), -$2::bigint)
           on conflict (budget_id, minute) do update set amount = m.amount - $2::bigint`,
          [id, amount],
        );
      await this.pool.query(`update budget set alerts_fired = '{}', updated_at = now() where id = $1`, [id]);
    } else {
      await this.pool.query(
        `update budget set bucket_level = case when $2::bigint is null then limit_amount
                  else least(limit_amount::double precision, (select level from sluice_budget_usage(budget, now())) + $2::bigint) end,
                bucket_at = now(), updated_at = now() where id = $1`,
        [id, amount ?? null],
      );
    }
    await this.recordAudit(actor, b.orgId, 'budget.refill', id, { amount: amount ?? 'all' });
    await this.changed(b.orgId);
    return this.get(id);
  }

  async setPaused(actor: string, id: string, paused: boolean, orgId?: string): Promise<BudgetView> {
    const b = await this.get(id, orgId);
    await this.pool.query('update budget set paused = $2, updated_at = now() where id = $1', [id, paused]);
    await this.recordAudit(actor, b.orgId, paused ? 'budget.pause' : 'budget.resume', id, null);
    await this.changed(b.orgId);
    return this.get(id);
  }

  /**
   * Edits a budget's settings (not its scope, metric or window: those define what was counted so
   * far). Adding a webhook where there was none creates its HMAC secret, returned this once.
   */
  async update(actor: string, id: string, input: UpdateBudgetInput, orgId?: string): Promise<BudgetView & { webhookSecret?: string }> {
    const b = await this.get(id, orgId);
    if (b.limitKind || b.parentBudgetId) throw invalid('this budget is managed by Sluice (a rate-limit counter or an end-user copy); edit its template or rate limit instead');
    const sets: string[] = [];
    const params: unknown[] = [id];
    const set = (col: string, v: unknown, cast = '') => {
      params.push(v);
      sets.push(`${col} = $${params.length}${cast}`);
    };
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    const note = (k: string, from: unknown, to: unknown) => {
      before[k] = from;
      after[k] = to;
    };
    if (input.name !== undefined) {
      const name = input.name.trim();
      if (!name || name.length > 120) throw invalid('budget name is required (at most 120 characters)');
      set('name', name);
      note('name', b.name, name);
    }
    if (input.limit !== undefined) {
      if (!Number.isSafeInteger(input.limit) || input.limit < 0) throw invalid('limit must be a non-negative whole number');
      set('limit_amount', input.limit, '::bigint');
      // A smaller bucket cannot hold more than its new capacity.
      if (b.windowKind === 'bucket') sets.push(`bucket_level = least(bucket_level, $${params.length}::bigint)`);
      note('limit', b.limitAmount, input.limit);
    }
    if (input.thresholds !== undefined) {
      for (const t of input.thresholds) if (!Number.isInteger(t) || t <= 0 || t > 1000) throw invalid('thresholds are percentages such as 50,80,100');
      const ts = [...new Set(input.thresholds)].sort((x, y) => x - y);
      set('thresholds', ts, '::int[]');
      note('thresholds', b.thresholds, ts);
    }
    let webhookSecret: string | undefined;
    if (input.webhookUrl !== undefined) {
      if (input.webhookUrl !== null && !/^https?:\/\/\S+$/.test(input.webhookUrl)) throw invalid('webhook must be an http(s) URL');
      set('webhook_url', input.webhookUrl);
      if (input.webhookUrl === null) sets.push('webhook_secret_enc = null');
      else if (!b.webhookUrl) {
        webhookSecret = 'whsec_' + randomBytes(24).toString('base64url');
        set('webhook_secret_enc', encryptSecret(this.rt.keys, webhookSecret));
      }
      note('webhookUrl', b.webhookUrl, input.webhookUrl);
    }
    if (input.soft !== undefined) {
      set('hard', !input.soft);
      note('hard', b.hard, !input.soft);
    }
    if (input.failOpen !== undefined) {
      set('fail_open', input.failOpen);
      note('failOpen', b.failOpen, input.failOpen);
    }
    if (input.surplusUserLimit !== undefined) {
      if (input.surplusUserLimit !== null && (!Number.isSafeInteger(input.surplusUserLimit) || input.surplusUserLimit < 0)) throw invalid('per-user surplus limit must be a non-negative whole number');
      if (input.surplusUserLimit !== null && !b.surplusBudgetId) throw invalid('a per-user surplus limit needs a surplus pool');
      set('surplus_user_limit', input.surplusUserLimit, '::bigint');
      note('surplusUserLimit', b.surplusUserLimit, input.surplusUserLimit);
    }
    if (!sets.length) throw invalid('nothing to change: give name, limit, thresholds, webhookUrl, soft, failOpen or surplusUserLimit');
    await this.pool.query(`update budget set ${sets.join(', ')}, updated_at = now() where id = $1`, params);
    const em = this.orm.em.fork();
    this.audit.record(em, { actor, orgId: b.orgId, action: 'budget.update', targetType: 'budget', targetId: id, before, after });
    await em.flush();
    await this.changed(b.orgId);
    return { ...(await this.get(id)), ...(webhookSecret ? { webhookSecret } : {}) };
  }

  async remove(actor: string, id: string, orgId?: string): Promise<void> {
    const b = await this.get(id, orgId);
    const used = await this.pool.query('select 1 from budget where surplus_budget_id = $1 limit 1', [id]);
    if (used.rowCount) throw conflict('this pool is the surplus of other budgets; remove or change those first');
    await this.pool.query('delete from budget where id = $1', [id]);
    await this.recordAudit(actor, b.orgId, 'budget.delete', id, { name: b.name });
    await this.changed(b.orgId);
  }

  private async recordAudit(actor: string, orgId: string, action: string, id: string, after: Record<string, unknown> | null) {
    const em = this.orm.em.fork();
    this.audit.record(em, { actor, orgId, action, targetType: 'budget', targetId: id, after });
    await em.flush();
  }

  private async changed(orgId: string) {
    await this.pool.query('select pg_notify($1, $2)', [BUDGET_CHANNEL, orgId]);
  }
}
