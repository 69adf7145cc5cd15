import { Injectable } from '@nestjs/common';
import { PgPool, ReservePool } from '../db/pg-pool';
import { BudgetRule, BudgetView, LimitKind } from './budget.types';

export interface RateLimitRow {
  scopeType: 'org' | 'team' | 'user' | 'service_account' | 'token';
  scopeId: string;
  values: Partial<Record<LimitKind, number>>;
}

const RULE_COLUMNS = `id, org_id, name, scope_type, scope_id, end_user_template, parent_budget_id, metric, limit_kind, hard, fail_open, paused, thresholds, webhook_url`;

interface RuleRow {
  id: string;
  org_id: string;
  name: string;
  scope_type: BudgetRule['scopeType'];
  scope_id: string | null;
  end_user_template: boolean;
  parent_budget_id: string | null;
  metric: BudgetRule['metric'];
  limit_kind: LimitKind | null;
  hard: boolean;
  fail_open: boolean;
  paused: boolean;
  thresholds: number[];
  webhook_url: string | null;
}

export const toRule = (r: RuleRow): BudgetRule => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  scopeType: r.scope_type,
  scopeId: r.scope_id,
  endUserTemplate: r.end_user_template,
  parentBudgetId: r.parent_budget_id,
  metric: r.metric,
  limitKind: r.limit_kind,
  hard: r.hard,
  failOpen: r.fail_open,
  paused: r.paused,
  thresholds: r.thresholds,
  webhookUrl: r.webhook_url,
});

export interface ReserveResult {
  budgetId: string;
  allowed: boolean;
  remaining: number | null;
  resetAt: Date | null;
  fromSurplus: number;
}

interface PendingReserve {
  ids: string[];
  amounts: number[];
  requestId: string;
  now: Date;
  ttlSeconds: number;
  resolve: (r: ReserveResult[]) => void;
  reject: (e: unknown) => void;
}

export interface SettleResult {
  budgetId: string;
  used: number;
  limit: number;
}

/** SQL for budgets: the enforcement functions and the reads pages and the CLI need. */
@Injectable()
export class BudgetsRepository {
  constructor(
    private readonly pool: PgPool,
    private readonly reservePool: ReservePool,
  ) {}

  async rulesForOrg(orgId: string): Promise<BudgetRule[]> {
    const r = await this.pool.query<RuleRow>(`select ${RULE_COLUMNS} from budget where org_id = $1`, [orgId]);
    return r.rows.map(toRule);
  }

  async rateLimitsForOrg(orgId: string): Promise<RateLimitRow[]> {
    const r = await this.pool.query(`select scope_type, scope_id, rpm, tpm, input_tpm, output_tpm, concurrent from rate_limit where org_id = $1`, [orgId]);
    return r.rows.map((x) => ({
      scopeType: x.scope_type,
      scopeId: x.scope_id,
      values: Object.fromEntries((['rpm', 'tpm', 'input_tpm', 'output_tpm', 'concurrent'] as const).filter((k) => x[k] !== null).map((k) => [k, x[k]])),
    }));
  }

  /**
   * The per-token counter enforcing one kind of rate limit: a refilling bucket holding `limit`
   * and refilling it each minute (concurrency: holding `limit` and never refilling, because
   * every request gives its unit back when it ends). Created on first use, resized when the
   * effective limit changes.
   */
  async rateCounter(orgId: string, tokenId: string, kind: LimitKind, limit: number, newId: string): Promise<BudgetRule> {
    const metric = { rpm: 'requests', tpm: 'tokens', input_tpm: 'input_tokens', output_tpm: 'output_tokens', concurrent: 'concurrent' }[kind];
    const refill = kind === 'concurrent' ? 0 : limit / 60;
    const name = kind === 'concurrent' ? `at most ${limit} concurrent requests` : `${kind} limit ${limit}/min`;
    const r = await this.pool.query<RuleRow>(
      `insert into budget (id, org_id, name, scope_type, scope_id, metric, limit_kind, window_kind, limit_amount, refill_per_second, bucket_level, bucket_at)
       values ($1, $2, $3, 'token', $4, $5, $6, 'bucket', $7::bigint, $8::double precision, $7::double precision, now())
       on conflict (scope_id, limit_kind) where limit_kind is not null do update
          set limit_amount = excluded.limit_amount, refill_per_second = excluded.refill_per_second, name = excluded.name,
              bucket_level = least(budget.bucket_level, excluded.limit_amount)
        where budget.limit_amount is distinct from excluded.limit_amount
       returning ${RULE_COLUMNS}`,
      [newId, orgId, name, tokenId, metric, kind, limit, refill],
    );
    if (r.rows.length) return toRule(r.rows[0]);
    const existing = await this.pool.query<RuleRow>(`select ${RULE_COLUMNS} from budget where scope_id = $1 and limit_kind = $2`, [tokenId, kind]);
    return toRule(existing.rows[0]);
  }

  /** The end user's own budget made from a template, created on first sight. */
  async childForEndUser(templateId: string, endUser: string, newId: string): Promise<BudgetRule> {
    const r = await this.pool.query<RuleRow>(
      `insert into budget (id, org_id, name, scope_type, scope_id, parent_budget_id, metric, window_kind, period, time_zone,
                           rolling_seconds, limit_amount, refill_per_second, hard, fail_open, thresholds, webhook_url)
       select $1, org_id, name || ' · ' || $3, 'end_user', $3, id, metric, window_kind, period, time_zone,
              rolling_seconds, limit_amount, refill_per_second, hard, fail_open, thresholds, webhook_url
         from budget where id = $2
       on conflict (parent_budget_id, scope_id) where parent_budget_id is not null do update set updated_at = budget.updated_at
       returning ${RULE_COLUMNS}`,
      [newId, templateId, endUser],
    );
    return toRule(r.rows[0]);
  }

  /**
   * Reserves for one request. Concurrent calls are batched: while a reservation round trip is in
   * flight, new requests queue and go together in the next call (sluice_reserve_many decides them
   * one by one under one lock). An idle gateway sends at once, so batching adds no latency; a busy
   * one shares the lock, the round trip and the commit among everything waiting.
   */
  reserve(ids: string[], amounts: number[], requestId: string, now: Date, ttlSeconds: number): Promise<ReserveResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ids, amounts, requestId, now, ttlSeconds, resolve, reject });
      this.pump();
    });
  }

  private readonly queue: PendingReserve[] = [];
  private inFlight = 0;
  private static readonly MAX_IN_FLIGHT = 1;
  private static readonly MAX_BATCH = 256;

  private pump(): void {
    while (this.queue.length && this.inFlight < BudgetsRepository.MAX_IN_FLIGHT) {
      const batch = this.queue.splice(0, BudgetsRepository.MAX_BATCH);
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: PendingReserve[]): Promise<void> {
    const reqs: string[] = [];
    const ids: string[] = [];
    const amounts: number[] = [];
    for (const p of batch) {
      for (let i = 0; i < p.ids.length; i++) {
        reqs.push(p.requestId);
        ids.push(p.ids[i]);
        amounts.push(p.amounts[i]);
      }
    }
    // One clock for the batch: the latest caller's, so no request is judged in its past.
    const now = batch.reduce((m, p) => (p.now > m ? p.now : m), batch[0].now);
    try {
      const r = await this.reservePool.query<{ request_id: string; budget_id: string; allowed: boolean; remaining: string | null; reset_at: Date | null; from_surplus: string }>(
        'select * from sluice_reserve_many($1::text[], $2::uuid[], $3::bigint[], $4, $5)',
        [reqs, ids, amounts, now, batch[0].ttlSeconds],
      );
      const byRequest = new Map<string, ReserveResult[]>();
      for (const x of r.rows) {
        const list = byRequest.get(x.request_id) ?? [];
        list.push({ budgetId: x.budget_id, allowed: x.allowed, remaining: x.remaining === null ? null : Number(x.remaining), resetAt: x.reset_at, fromSurplus: Number(x.from_surplus) });
        byRequest.set(x.request_id, list);
      }
      for (const p of batch) p.resolve(byRequest.get(p.requestId) ?? []);
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  /** Releases reservations whose requests never reached the usage writer (a crashed process). */
  async sweepExpired(now: Date, limit = 1000): Promise<number> {
    const r = await this.pool.query<{ request_id: string; budget_id: string }>(
      'select request_id, budget_id from budget_reservation where expires_at < $1 order by expires_at limit $2',
      [now, limit],
    );
    if (!r.rows.length) return 0;
    await this.pool.query('select * from sluice_settle($1::text[], $2::uuid[], $3::bigint[], $4)', [
      r.rows.map((x) => x.request_id),
      r.rows.map((x) => x.budget_id),
      r.rows.map(() => 0),
      now,
    ]);
    return r.rows.length;
  }

  async views(where: string, params: unknown[], now = new Date()): Promise<BudgetView[]> {
    const r = await this.pool.query(
      `select b.*, u.used, u.remaining, u.reset_at as usage_reset_at
         from budget b, lateral sluice_budget_usage(b, $${params.length + 1}) u
        where ${where}
        order by b.created_at`,
      [...params, now],
    );
    return r.rows.map((x) => ({
      ...toRule(x),
      windowKind: x.window_kind,
      period: x.period,
      timeZone: x.time_zone,
      rollingSeconds: x.rolling_seconds,
      limitAmount: Number(x.limit_amount),
      refillPerSecond: x.refill_per_second,
      surplusBudgetId: x.surplus_budget_id,
      surplusUserLimit: x.surplus_user_limit === null ? null : Number(x.surplus_user_limit),
      used: Number(x.used),
      reserved: Number(x.reserved) + Number(x.surplus_reserved),
      remaining: Number(x.remaining),
      resetAt: x.usage_reset_at ? new Date(x.usage_reset_at).toISOString() : null,
      createdAt: new Date(x.created_at).toISOString(),
    }));
  }
}
