import { z } from 'zod';
import { invalid } from '../common/errors';
import { BUDGET_METRICS, BUDGET_PERIODS, LIMIT_KINDS } from './budget.types';
import type { CreateBudgetInput, UpdateBudgetInput } from './budgets.service';

/**
 * Inputs of the budget forms and the management API. Both parse through these schemas; form
 * fields arrive as strings (empty meaning "not given"), JSON as typed values. Amounts are given
 * either in the metric's unit (`limit`: micro-dollars, tokens or requests) or, for cost, in
 * dollars (`limitUsd`); the forms always send what the person typed, in dollars for cost.
 */
const blank = (v: unknown) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim()) : v === null ? undefined : v);
const blankOrNull = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? null : typeof v === 'string' ? v.trim() : v);
const num = (v: unknown) => (typeof v === 'string' ? (v.trim() === '' ? undefined : Number(v.replace(/[$,_\s]/g, ''))) : v ?? undefined);
const optText = (max: number) => z.preprocess(blank, z.string().max(max, `must be at most ${max} characters`).optional());
const optUnits = z.preprocess(num, z.number({ error: 'must be a number' }).int('must be a whole number').nonnegative('must not be negative').optional());
const optUsd = z.preprocess(num, z.number({ error: 'must be a number' }).nonnegative('must not be negative').max(1e9, 'is too large').optional());
const optBool = z.preprocess((v) => (v === 'on' || v === 'true' || v === '1' ? true : v === 'false' || v === '0' || v === '' ? false : v), z.boolean({ error: 'must be true or false' }).optional());
const thresholds = z.preprocess((v) => {
  if (v === undefined || v === null) return undefined;
  const parts = Array.isArray(v) ? v.flatMap((x) => String(x).split(/[\s,%]+/)) : typeof v === 'string' ? v.split(/[\s,%]+/) : v;
  return Array.isArray(parts) ? parts.filter((x) => x !== '').map(Number) : parts;
}, z.array(z.number({ error: 'must be numbers' }).int('must be whole percentages').min(1, 'must be at least 1').max(1000, 'must be at most 1000')).max(20).optional());

export const budgetCreateInput = z.object({
  name: z.string({ error: 'is required' }).trim().min(1, 'is required').max(120, 'must be at most 120 characters'),
  scope: z.string({ error: 'is required' }).trim().min(1, 'is required').max(300),
  /** Forms: the end-user id typed next to the `end-user` choice of the scope picker. */
  endUser: optText(256),
  perEndUser: optBool,
  metric: z.enum(BUDGET_METRICS, { error: `must be one of ${BUDGET_METRICS.join(', ')}` }),
  limit: optUnits,
  limitUsd: optUsd,
  /** Which window the form chose; the fields of the other windows are ignored. */
  window: z.preprocess(blank, z.enum(['calendar', 'rolling', 'bucket'], { error: 'must be calendar, rolling or bucket' }).optional()),
  period: z.preprocess(blank, z.enum(BUDGET_PERIODS, { error: `must be one of ${BUDGET_PERIODS.join(', ')}` }).optional()),
  timeZone: optText(64),
  rolling: optText(20),
  refillPerSecond: z.preprocess(num, z.number({ error: 'must be a number' }).nonnegative('must not be negative').optional()),
  /** Forms: refill per hour reads better than per second. */
  refillPerHour: z.preprocess(num, z.number({ error: 'must be a number' }).nonnegative('must not be negative').optional()),
  soft: optBool,
  failOpen: optBool,
  surplusPoolId: optText(40),
  surplusUserLimit: optUnits,
  surplusUserLimitUsd: optUsd,
  thresholds,
  webhookUrl: optText(2000),
});

export const budgetUpdateInput = z.object({
  name: z.preprocess(blank, z.string().max(120, 'must be at most 120 characters').optional()),
  limit: optUnits,
  limitUsd: optUsd,
  thresholds,
  webhookUrl: z.preprocess(blankOrNull, z.string().max(2000).nullable().optional()),
  soft: optBool,
  failOpen: optBool,
  surplusUserLimit: z.preprocess((v) => (v === '' ? null : num(v)), z.number({ error: 'must be a number' }).int('must be a whole number').nonnegative().nullable().optional()),
  surplusUserLimitUsd: z.preprocess((v) => (v === '' ? null : num(v)), z.number({ error: 'must be a number' }).nonnegative().nullable().optional()),
});

export const refillInput = z.object({ amount: optUnits, amountUsd: optUsd });

const limitValue = z.preprocess((v) => (v === '' ? null : typeof v === 'string' ? Number(v) : v), z.number({ error: 'must be a number' }).int('must be a whole number').positive('must be positive').nullable().optional());
export const rateLimitInput = z.object({
  scope: z.string({ error: 'is required' }).trim().min(1, 'is required').max(300),
  rpm: limitValue,
  tpm: limitValue,
  input_tpm: limitValue,
  output_tpm: limitValue,
  concurrent: limitValue,
});

const usd = (v: number) => Math.round(v * 1e6);

/** An amount in the metric's unit, from whichever of the two fields was given. */
function units(metric: string, unitsValue: number | undefined, usdValue: number | undefined, field: string): number | undefined {
  if (unitsValue !== undefined && usdValue !== undefined) throw invalid(`${field}: give ${field} or ${field}Usd, not both`, field);
  if (usdValue !== undefined) {
    if (metric !== 'cost') throw invalid(`${field}Usd: dollars only apply to cost budgets`, `${field}Usd`);
    return usd(usdValue);
  }
  return unitsValue;
}

export function toCreateInput(orgSlug: string, i: z.infer<typeof budgetCreateInput>): CreateBudgetInput {
  const limit = units(i.metric, i.limit, i.limitUsd, 'limit');
  if (limit === undefined) throw invalid('limit: is required (limitUsd for cost budgets, in dollars)', 'limit');
  let scope = i.scope;
  if (scope === 'end-user') {
    if (!i.endUser) throw invalid('endUser: give the end-user id for an end-user budget', 'endUser');
    scope = `end-user:${i.endUser}`;
  }
  const w = i.window;
  const refill = i.refillPerSecond ?? (i.refillPerHour !== undefined ? i.refillPerHour / 3600 : undefined);
  return {
    orgSlug,
    name: i.name,
    scope,
    perEndUser: i.perEndUser,
    metric: i.metric,
    limit,
    period: !w || w === 'calendar' ? i.period : undefined,
    timeZone: !w || w === 'calendar' ? i.timeZone : undefined,
    rolling: !w || w === 'rolling' ? i.rolling : undefined,
    // Dollars per hour become micro-dollars per second; not rounded, the rate is a double.
    refillPerSecond: !w || w === 'bucket' ? (refill !== undefined && i.metric === 'cost' && i.refillPerSecond === undefined ? refill * 1e6 : refill) : undefined,
    soft: i.soft,
    failOpen: i.failOpen,
    surplusPoolId: i.surplusPoolId,
    surplusUserLimit: units(i.metric, i.surplusUserLimit, i.surplusUserLimitUsd, 'surplusUserLimit'),
    thresholds: i.thresholds,
    webhookUrl: i.webhookUrl,
  };
}

export function toUpdateInput(metric: string, i: z.infer<typeof budgetUpdateInput>): UpdateBudgetInput {
  const surplus = i.surplusUserLimitUsd === null || i.surplusUserLimit === null ? null : units(metric, i.surplusUserLimit, i.surplusUserLimitUsd, 'surplusUserLimit');
  return {
    name: i.name,
    limit: units(metric, i.limit, i.limitUsd, 'limit'),
    thresholds: i.thresholds,
    webhookUrl: i.webhookUrl,
    soft: i.soft,
    failOpen: i.failOpen,
    surplusUserLimit: surplus,
  };
}

export function toRefillAmount(metric: string, i: z.infer<typeof refillInput>): number | undefined {
  return units(metric, i.amount, i.amountUsd, 'amount');
}

export const RATE_LIMIT_KINDS = LIMIT_KINDS;

/**
 * The forms have one amount field per quantity whose unit follows the chosen metric (dollars for
 * cost); this maps it to the `…` or `…Usd` field of the shared schema.
 */
export function fromForm(body: unknown, metric: string, fields: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...((body ?? {}) as Record<string, unknown>) };
  for (const [formField, target] of Object.entries(fields)) {
    if (!(formField in out)) continue;
    const v = out[formField];
    delete out[formField];
    out[metric === 'cost' ? `${target}Usd` : target] = v;
  }
  delete out._csrf;
  return out;
}
