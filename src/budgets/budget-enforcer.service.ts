import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DomainError, ErrorCode } from '../common/errors';
import { uuidv7 } from '../common/uuid';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { NotifyService } from '../db/notify.service';
import { costMicros, Usage } from '../providers/pricing';
import type { PricingConfig } from '../config/gateway-config.schema';
import type { Principal } from '../tokens/principal';
import { BudgetMetric, BudgetRule } from './budget.types';
import { BudgetsRepository } from './budgets.repository';

export const BUDGET_CHANNEL = 'sluice_budget';
const RULES_TTL_MS = 60_000;

/** What a request reserved, carried to the usage writer, which settles it with the usage row. */
export interface BudgetHold {
  entries: { budgetId: string; metric: BudgetMetric; estimate: number; fromSurplus: number }[];
}

export interface Settlement {
  budgetId: string;
  metric: BudgetMetric;
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
  private readonly rules = new Map<string, { at: number; rules: BudgetRule[]; loading?: Promise<BudgetRule[]> }>();
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
      },
      () => {
        this.rules.clear();
        this.children.clear();
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

  private async rulesFor(orgId: string): Promise<BudgetRule[]> {
    const hit = this.rules.get(orgId);
    if (hit && Date.now() - hit.at < RULES_TTL_MS) return hit.rules;
    if (hit?.loading) return hit.loading;
    const loading = this.repo.rulesForOrg(orgId);
    this.rules.set(orgId, { at: 0, rules: hit?.rules ?? [], loading });
    try {
      const rules = await loading;
      this.rules.set(orgId, { at: Date.now(), rules });
      return rules;
    } catch (e) {
      this.rules.delete(orgId);
      throw e;
    }
  }

  /** Budgets that govern this caller, end-user budgets from templates included (created on first sight). */
  async applicable(p: Principal, endUser: string | null): Promise<BudgetRule[]> {
    const rules = await this.rulesFor(p.orgId);
    if (!rules.length) return rules;
    const out: BudgetRule[] = [];
    for (const r of rules) {
      if (r.parentBudgetId) continue;
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

  static amountFor(metric: BudgetMetric, u: { inputTokens: number; outputTokens: number }, cost: number, counted: boolean): number {
    switch (metric) {
      case 'requests':
        return counted ? 1 : 0;
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
    const amounts = rules.map((r) => BudgetEnforcer.amountFor(r.metric, est, estCost, true));
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
      const why = rule.paused ? 'is paused' : 'is exhausted';
      throw new DomainError(ErrorCode.BudgetExhausted, `budget "${rule.name}" ${why}${reset ? `; it resets at ${reset.toISOString()}` : ''}`, {
        retryAfterSeconds: retryAfter,
        headers: { 'x-sluice-budget-remaining': String(Math.max(0, refused.remaining ?? 0)), ...(reset ? { 'x-sluice-budget-reset': reset.toISOString() } : {}) },
      });
    }
    const hold: BudgetHold = { entries: rules.map((r, i) => ({ budgetId: r.id, metric: r.metric, estimate: amounts[i], fromSurplus: results[i]?.fromSurplus ?? 0 })) };
    // Report the tightest hard budget.
    let tight: (typeof results)[number] | undefined;
    for (const [i, r] of results.entries()) {
      if (!rules[i].hard || r.remaining === null) continue;
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
