import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DomainError, ErrorCode } from '../common/errors';
import { uuidv7 } from '../common/uuid';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { NotifyService } from '../db/notify.service';
import { costMicros, Usage } from '../providers/pricing';
import type { PricingConfig } from '../config/gateway-config.schema';
import type { Principal } from '../tokens/principal';
import { BudgetRule, CounterMetric, LIMIT_KINDS, LimitKind } from './budget.types';
import { RateLimitRow } from './budgets.repository';
import { BudgetsRepository } from './budgets.repository';

export const BUDGET_CHANNEL = 'sluice_budget';
const RULES_TTL_MS = 60_000;

/** What a request reserved, carried to the usage writer, which settles it with the usage row. */
export interface BudgetHold {
  entries: { budgetId: string; metric: CounterMetric; estimate: number; fromSurplus: number }[];
}

export interface Settlement {
  budgetId: string;
  metric: CounterMetric;
  estimate: number;
  fromSurplus: number;
  actual: number;
  inputPart: number;
  outputPart: number;
}

export interface RequestEstimate {
  inputTokens: number;
  outputTokens: number;
  pricing: PricingConfig | undefined;
}

/**
 * Decides which budgets apply to a request (from an in-memory copy of each org's budgets, kept
 * fresh by LISTEN/NOTIFY), reserves the request's estimate on all of them at once in PostgreSQL
 * (sluice_reserve), and turns the final usage into settlements for the usage writer. Requests to
 * which no budget applies touch no database at all.
 */
@Injectable()
export class BudgetEnforcer implements OnModuleInit, OnModuleDestroy {
  private readonly rules = new Map<string, { at: number; rules: BudgetRule[]; limits: RateLimitRow[]; loading?: Promise<{ rules: BudgetRule[]; limits: RateLimitRow[] }> }>();
  private readonly counters = new Map<string, BudgetRule>();
  private readonly children = new Map<string, BudgetRule>();
  private sweeper?: NodeJS.Timeout;
  /** Injected by tests to move time; production uses the wall clock. */
  now: () => Date = () => new Date();

  constructor(
    private readonly repo: BudgetsRepository,
    private readonly notify: NotifyService,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    this.notify.subscribe(
      BUDGET_CHANNEL,
      (orgId) => {
        if (orgId === '*') this.rules.clear();
        else this.rules.delete(orgId);
        this.children.clear();
        this.counters.clear();
      },
      () => {
        this.rules.clear();
        this.children.clear();
        this.counters.clear();
      },
    );
    this.sweeper = setInterval(() => void this.sweep(), this.rt.env.BUDGET_SWEEP_MS);
    this.sweeper.unref();
  }

  onModuleDestroy() {
    clearInterval(this.sweeper);
  }

  /** Releases reservations orphaned by a crashed process (their usage rows never got written). */
  async sweep(): Promise<number> {
    try {
      const n = await this.repo.sweepExpired(this.now());
      if (n) this.logger.warn({ released: n }, 'released expired budget reservations');
      return n;
    } catch (e) {
      this.logger.debug({ err: (e as Error).message }, 'budget sweep failed');
      return 0;
    }
  }

  private async rulesFor(orgId: string): Promise<{ rules: BudgetRule[]; limits: RateLimitRow[] }> {
    const hit = this.rules.get(orgId);
    if (hit && !hit.loading && Date.now() - hit.at < RULES_TTL_MS) return hit;
    if (hit?.loading) return hit.loading;
    const loading = Promise.all([this.repo.rulesForOrg(orgId), this.repo.rateLimitsForOrg(orgId)]).then(([rules, limits]) => ({ rules, limits }));
    this.rules.set(orgId, { at: 0, rules: [], limits: [], loading });
    try {
      const loaded = await loading;
      this.rules.set(orgId, { at: Date.now(), ...loaded });
      return loaded;
    } catch (e) {
      this.rules.delete(orgId);
      throw e;
    }
  }

  /** Each kind's effective limit: the innermost scope that sets it (token, owner, team, org). */
  static effectiveLimits(p: Principal, limits: RateLimitRow[]): Partial<Record<LimitKind, number>> {
    const order: [RateLimitRow['scopeType'], string | null][] = [
      ['token', p.tokenId],
      ['user', p.ownerUserId],
      ['service_account', p.serviceAccountId],
      ['team', p.teamId],
      ['org', p.orgId],
    ];
    const out: Partial<Record<LimitKind, number>> = {};
    if (p.rpm) out.rpm = p.rpm;
    if (p.tpm) out.tpm = p.tpm;
    for (const kind of LIMIT_KINDS) {
      if (out[kind] !== undefined) continue;
      for (const [type, id] of order) {
        const v = id ? limits.find((l) => l.scopeType === type && l.scopeId === id)?.values[kind] : undefined;
        if (v !== undefined) {
          out[kind] = v;
          break;
        }
      }
    }
    return out;
  }

  private async counter(p: Principal, kind: LimitKind, limit: number): Promise<BudgetRule> {
    const key = `${p.tokenId}:${kind}:${limit}`;
    let c = this.counters.get(key);
    if (!c) {
      c = await this.repo.rateCounter(p.orgId, p.tokenId, kind, limit, uuidv7());
      if (this.counters.size > 100_000) this.counters.clear();
      this.counters.set(key, c);
    }
    return c;
  }

  /** Budgets that govern this caller, end-user budgets from templates included (created on first sight). */
  async applicable(p: Principal, endUser: string | null): Promise<BudgetRule[]> {
    const { rules, limits } = await this.rulesFor(p.orgId);
    const out: BudgetRule[] = [];
    const effective = BudgetEnforcer.effectiveLimits(p, limits);
    for (const kind of LIMIT_KINDS) {
      const v = effective[kind];
      if (v) out.push(await this.counter(p, kind, v));
    }
    for (const r of rules) {
      if (r.parentBudgetId || r.limitKind) continue;
      if (r.endUserTemplate) {
        const through = (r.scopeType === 'token' && r.scopeId === p.tokenId) || (r.scopeType === 'org' && r.scopeId === p.orgId);
        if (through && endUser) out.push(await this.child(r, endUser));
        continue;
      }
      const id =
        r.scopeType === 'org' ? p.orgId
        : r.scopeType === 'team' ? p.teamId
        : r.scopeType === 'user' ? p.ownerUserId
        : r.scopeType === 'service_account' ? p.serviceAccountId
        : r.scopeType === 'token' ? p.tokenId
        : r.scopeType === 'end_user' ? endUser
        : null;
      if (id && r.scopeId === id) out.push(r);
    }
    return out;
  }

  private async child(template: BudgetRule, endUser: string): Promise<BudgetRule> {
    const key = `${template.id}\u0000${endUser}`;
    let c = this.children.get(key);
    if (!c) {
      c = await this.repo.childForEndUser(template.id, endUser, uuidv7());
      if (this.children.size > 100_000) this.children.clear();
      this.children.set(key, c);
    }
    return c;
  }

  static amountFor(metric: CounterMetric, u: { inputTokens: number; outputTokens: number }, cost: number, counted: boolean, reserving = false): number {
    switch (metric) {
      case 'requests':
        return counted ? 1 : 0;
      case 'concurrent':
        // Held while the request runs; every request gives it back when it ends.
        return reserving ? 1 : 0;
      case 'tokens':
        return u.inputTokens + u.outputTokens;
      case 'input_tokens':
        return u.inputTokens;
      case 'output_tokens':
        return u.outputTokens;
      case 'cost':
        return cost;
    }
  }

  /**
   * Reserves the estimate on every applicable budget, all or nothing. Returns null when no budget
   * applies; throws 429 naming the budget when a hard one is exhausted, 503 when the database
   * can't be reached (unless every applicable budget is configured to fail open).
   */
  async reserve(p: Principal, endUser: string | null, requestId: string, est: RequestEstimate): Promise<{ hold: BudgetHold | null; headers: Record<string, string> }> {
    let rules: BudgetRule[];
    try {
      rules = await this.applicable(p, endUser);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'cannot load budgets');
      throw new DomainError(ErrorCode.Unavailable, 'budgets cannot be checked right now (database unreachable); retry shortly', { retryAfterSeconds: 5 });
    }
    if (!rules.length) return { hold: null, headers: {} };
    const estCost = costMicros({ inputTokens: est.inputTokens, outputTokens: est.outputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, est.pricing);
    const amounts = rules.map((r) => BudgetEnforcer.amountFor(r.metric, est, estCost, true, true));
    let results;
    try {
      results = await this.repo.reserve(rules.map((r) => r.id), amounts, requestId, this.now(), this.rt.env.BUDGET_RESERVATION_TTL_S);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'budget reservation failed');
      if (rules.every((r) => r.failOpen)) return { hold: null, headers: {} };
      throw new DomainError(ErrorCode.Unavailable, 'budgets cannot be checked right now (database unreachable); retry shortly', { retryAfterSeconds: 5 });
    }
    const refused = results.find((r) => !r.allowed);
    if (refused) {
      const rule = rules.find((r) => r.id === refused.budgetId)!;
      const reset = refused.resetAt;
      const retryAfter = reset ? Math.max(1, Math.ceil((reset.getTime() - this.now().getTime()) / 1000)) : 60;
      const why = rule.limitKind
        ? `rate limit exceeded (${rule.name} for this token)`
        : `budget "${rule.name}" ${rule.paused ? 'is paused' : 'is exhausted'}${reset ? `; it resets at ${reset.toISOString()}` : ''}`;
      throw new DomainError(rule.limitKind ? ErrorCode.RateLimited : ErrorCode.BudgetExhausted, why, {
        retryAfterSeconds: retryAfter,
        headers: { 'x-sluice-budget-remaining': String(Math.max(0, refused.remaining ?? 0)), ...(reset ? { 'x-sluice-budget-reset': reset.toISOString() } : {}) },
      });
    }
    const hold: BudgetHold = { entries: rules.map((r, i) => ({ budgetId: r.id, metric: r.metric, estimate: amounts[i], fromSurplus: results[i]?.fromSurplus ?? 0 })) };
    // Report the tightest hard budget.
    let tight: (typeof results)[number] | undefined;
    for (const [i, r] of results.entries()) {
      if (!rules[i].hard || rules[i].limitKind || r.remaining === null) continue;
      if (!tight || (r.remaining ?? 0) < (tight.remaining ?? 0)) tight = r;
    }
    const headers: Record<string, string> = {};
    if (tight) {
      headers['x-sluice-budget-remaining'] = String(Math.max(0, tight.remaining ?? 0));
      if (tight.resetAt) headers['x-sluice-budget-reset'] = tight.resetAt.toISOString();
    }
    return { hold, headers };
  }

  /** Settlements for the writer, from the request's final usage. */
  settlements(hold: BudgetHold, usage: Usage, cost: number, counted: boolean): Settlement[] {
    return hold.entries.map((e) => {
      const actual = BudgetEnforcer.amountFor(e.metric, usage, cost, counted);
      const inputPart = e.metric === 'tokens' ? usage.inputTokens : e.metric === 'input_tokens' ? actual : 0;
      return { ...e, actual, inputPart, outputPart: actual - inputPart };
    });
  }
}
