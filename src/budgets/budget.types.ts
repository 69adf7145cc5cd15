export const BUDGET_SCOPES = ['org', 'team', 'user', 'service_account', 'token', 'end_user', 'pool'] as const;
export const BUDGET_METRICS = ['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests'] as const;
/** Metrics a budget can count, plus `concurrent` which only rate-limit counters use. */
export type CounterMetric = BudgetMetric | 'concurrent';
export const LIMIT_KINDS = ['rpm', 'tpm', 'input_tpm', 'output_tpm', 'concurrent'] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];
export const BUDGET_WINDOWS = ['calendar', 'rolling', 'bucket'] as const;
export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];
export type BudgetMetric = (typeof BUDGET_METRICS)[number];
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** A budget as the hot path caches it: just enough to decide whether it applies and what to reserve. */
export interface BudgetRule {
  id: string;
  orgId: string;
  name: string;
  scopeType: BudgetScope;
  scopeId: string | null;
  endUserTemplate: boolean;
  parentBudgetId: string | null;
  metric: CounterMetric;
  /** Set on rate-limit counters. */
  limitKind?: LimitKind | null;
  hard: boolean;
  failOpen: boolean;
  paused: boolean;
  thresholds: number[];
  webhookUrl: string | null;
}

/** A budget with its current window state, for pages, the API and the CLI. */
export interface BudgetView extends BudgetRule {
  windowKind: BudgetWindow;
  period: BudgetPeriod | null;
  timeZone: string;
  rollingSeconds: number | null;
  limitAmount: number;
  refillPerSecond: number | null;
  surplusBudgetId: string | null;
  surplusUserLimit: number | null;
  used: number;
  reserved: number;
  remaining: number;
  resetAt: string | null;
  createdAt: string;
}
