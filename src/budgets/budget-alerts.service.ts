import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { request } from 'undici';
import type { Logger } from 'pino';
import { decryptSecret, signWebhook } from '../common/crypto';
import { uuidv7 } from '../common/uuid';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import { UsageWriter } from '../usage/usage-writer.service';

export interface BudgetState {
  budgetId: string;
  used: number;
  limit: number;
}

/**
 * Threshold alerts (e.g. 50/80/100 %). After each settlement the writer reports the budgets it
 * touched; a threshold is claimed with a conditional UPDATE, so on any number of instances it
 * fires once per window. Each firing is stored (the UI shows it as a banner) and, when the budget
 * has a webhook, POSTed as JSON signed with HMAC-SHA256 (`x-sluice-signature`).
 */
@Injectable()
export class BudgetAlerts implements OnModuleInit {
  constructor(
    private readonly writer: UsageWriter,
    private readonly pool: PgPool,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    this.writer.onSettled = (states) => void this.check(states).catch((e) => this.logger.warn({ err: (e as Error).message }, 'budget alert check failed'));
  }

  async check(states: BudgetState[]): Promise<void> {
    for (const s of states) {
      if (s.limit <= 0) continue;
      const pct = (s.used * 100) / s.limit;
      const b = await this.pool.query<{ thresholds: number[]; alerts_fired: number[]; window_kind: string; limit_kind: string | null }>(
        'select thresholds, alerts_fired, window_kind, limit_kind from budget where id = $1',
        [s.budgetId],
      );
      const row = b.rows[0];
      if (!row || row.limit_kind) continue;
      // Rolling windows and buckets have no boundary to reset on: a threshold re-arms once usage
      // falls back below it.
      if (row.window_kind !== 'calendar') {
        const rearm = row.alerts_fired.filter((t) => t > pct);
        if (rearm.length) await this.pool.query('update budget set alerts_fired = (select coalesce(array_agg(v), \'{}\') from unnest(alerts_fired) v where v <> all($2)) where id = $1', [s.budgetId, rearm]);
      }
      for (const t of row.thresholds.filter((x) => x <= pct && !row.alerts_fired.includes(x)).sort((a, c) => a - c)) {
        const claimed = await this.pool.query<{ name: string; org_id: string; webhook_url: string | null; webhook_secret_enc: string | null; scope_type: string; scope_id: string | null; metric: string }>(
          `update budget set alerts_fired = alerts_fired || $2::int where id = $1 and not ($2 = any(alerts_fired))
           returning name, org_id, webhook_url, webhook_secret_enc, scope_type, scope_id, metric`,
          [s.budgetId, t],
        );
        const c = claimed.rows[0];
        if (!c) continue; // another instance got there first
        const alertId = uuidv7();
        await this.pool.query('insert into budget_alert (id, budget_id, org_id, threshold, used, limit_amount) values ($1, $2, $3, $4, $5, $6)', [alertId, s.budgetId, c.org_id, t, s.used, s.limit]);
        this.logger.info({ budgetId: s.budgetId, threshold: t }, 'budget threshold reached');
        if (c.webhook_url) void this.deliver(alertId, c.webhook_url, c.webhook_secret_enc, {
          type: 'budget.threshold',
          id: alertId,
          at: new Date().toISOString(),
          org_id: c.org_id,
          budget: { id: s.budgetId, name: c.name, scope_type: c.scope_type, scope_id: c.scope_id, metric: c.metric },
          threshold: t,
          used: s.used,
          limit: s.limit,
          percent: Math.round(pct * 10) / 10,
        });
      }
    }
  }

  private async deliver(alertId: string, url: string, secretEnc: string | null, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      try {
        const ts = String(Math.floor(Date.now() / 1000));
        const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'sluice-alerts', 'x-sluice-timestamp': ts };
        if (secretEnc) headers['x-sluice-signature'] = signWebhook(decryptSecret(this.rt.keys, secretEnc), ts, body);
        const r = await request(url, { method: 'POST', headers, body, headersTimeout: 5000, bodyTimeout: 5000 });
        await r.body.dump();
        if (r.statusCode < 300) {
          await this.pool.query('update budget_alert set delivered_at = now(), last_error = null where id = $1', [alertId]);
          return;
        }
        lastError = `HTTP ${r.statusCode}`;
      } catch (e) {
        lastError = (e as { code?: string }).code ?? (e as Error).message;
      }
    }
    this.logger.warn({ alertId, error: lastError }, 'budget webhook not delivered');
    await this.pool.query('update budget_alert set last_error = $2 where id = $1', [alertId, lastError]).catch(() => undefined);
  }
}
