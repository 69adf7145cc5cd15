import { BeforeApplicationShutdown, Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import { uuidv7 } from '../common/uuid';
import { UsageRecord } from './usage-record';
import { upsertRollups } from './rollups';
import { signalUsage } from './usage-signal';
import { assignSessions } from '../logs/sessions';
import { insertCaptures } from '../logs/capture';
import { sessionGapMs } from '../logs/capture-policy';
import type { PoolClient } from 'pg';

const COLUMNS: [keyof UsageRecord, string, string][] = [
  ['id', 'id', 'uuid'],
  ['createdAt', 'created_at', 'timestamptz'],
  ['requestId', 'request_id', 'text'],
  ['orgId', 'org_id', 'uuid'],
  ['teamId', 'team_id', 'uuid'],
  ['tokenId', 'token_id', 'uuid'],
  ['ownerUserId', 'owner_user_id', 'uuid'],
  ['serviceAccountId', 'service_account_id', 'uuid'],
  ['endUser', 'end_user', 'text'],
  ['sessionId', 'session_id', 'text'],
  ['client', 'client', 'text'],
  ['clientDevice', 'client_device', 'text'],
  ['tags', 'tags', 'jsonb'],
  ['provider', 'provider', 'text'],
  ['model', 'model', 'text'],
  ['endpoint', 'endpoint', 'text'],
  ['stream', 'stream', 'boolean'],
  ['status', 'status', 'int4'],
  ['errorType', 'error_type', 'text'],
  ['cancelled', 'cancelled', 'boolean'],
  ['latencyMs', 'latency_ms', 'float8'],
  ['ttftMs', 'ttft_ms', 'float8'],
  ['inputTokens', 'input_tokens', 'int4'],
  ['outputTokens', 'output_tokens', 'int4'],
  ['cachedInputTokens', 'cached_input_tokens', 'int4'],
  ['cacheWriteTokens', 'cache_write_tokens', 'int4'],
  ['reasoningTokens', 'reasoning_tokens', 'int4'],
  ['costMicros', 'cost_micros', 'int8'],
  ['usageEstimated', 'usage_estimated', 'boolean'],
  ['toolsOffered', 'tools_offered', 'jsonb'],
  ['sluiceSessionId', 'sluice_session_id', 'uuid'],
];

// One statement per batch: every column travels as one array parameter and unnest() turns them
// back into rows, so a batch of 1,000 costs one round trip and one parse.
const INSERT_SQL = `insert into request_log (${COLUMNS.map((c) => c[1]).join(', ')})
select ${COLUMNS.map(([, col]) => (col === 'tags' || col === 'tools_offered' ? `case when u.${col} is null then null else array(select jsonb_array_elements_text(u.${col})) end` : `u.${col}`)).join(', ')}
  from unnest(${COLUMNS.map(([, , type], i) => `$${i + 1}::${type}[]`).join(', ')}) as u(${COLUMNS.map((c) => c[1]).join(', ')})`;

export interface WriterStats {
  queued: number;
  admitted: number;
  written: number;
  failedFlushes: number;
  rejected: number;
}

/**
 * Writes usage records off the request path in batches. Bounded: `admit()` is asked before a
 * request is forwarded and says no (the proxy answers 503) when queued plus in-flight records
 * would exceed the limit, so a record is never dropped for lack of room. Failed batches stay at
 * the head of the queue and are retried with backoff; shutdown flushes everything it can.
 */
@Injectable()
export class UsageWriter implements OnModuleInit, BeforeApplicationShutdown {
  private queue: UsageRecord[] = [];
  private admitted = 0;
  private flushing: Promise<void> | null = null;
  private timer?: NodeJS.Timeout;
  private maintenance?: NodeJS.Timeout;
  private backoffMs = 0;
  private readonly waiters: (() => void)[] = [];
  readonly stats: WriterStats = { queued: 0, admitted: 0, written: 0, failedFlushes: 0, rejected: 0 };
  private maxPending: number;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly retentionDays: number;

  constructor(
    private readonly pool: PgPool,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.maxPending = rt.env.USAGE_QUEUE_MAX;
    this.batchSize = rt.env.USAGE_BATCH_SIZE;
    this.intervalMs = rt.env.USAGE_FLUSH_MS;
    this.retentionDays = rt.env.REQUEST_LOG_RETENTION_DAYS;
  }

  onModuleInit() {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
    // Daily partitions are created a week ahead; keep that horizon moving.
    this.maintenance = setInterval(() => void this.maintain(), 3_600_000);
    this.maintenance.unref();
  }

  // Before, not on, shutdown: the database pool closes in onApplicationShutdown.
  async beforeApplicationShutdown() {
    clearInterval(this.timer);
    clearInterval(this.maintenance);
    const deadline = Date.now() + 15_000;
    while ((this.queue.length || this.flushing) && Date.now() < deadline) {
      this.backoffMs = 0;
      await this.flush();
      if (this.queue.length) await new Promise((r) => setTimeout(r, 200));
    }
    if (this.queue.length) this.logger.error({ lost: this.queue.length }, 'usage records could not be written before shutdown');
  }

  /** Creates partitions a week ahead and drops raw rows past their retention (rollups stay). */
  async maintain(): Promise<string[]> {
    try {
      await this.pool.query('select sluice_ensure_request_log_partitions(1, 7)');
      const r = await this.pool.query<{ p: string }>('select sluice_drop_request_log_partitions($1) as p', [this.retentionDays]);
      if (r.rows.length) this.logger.info({ dropped: r.rows.map((x) => x.p) }, 'dropped request log partitions past retention');
      return r.rows.map((x) => x.p);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'request log maintenance failed');
      return [];
    }
  }

  /** Reserve room for one record; false means "push back" (503). */
  admit(): boolean {
    if (this.queue.length + this.admitted >= this.maxPending) {
      this.stats.rejected++;
      return false;
    }
    this.admitted++;
    this.stats.admitted = this.admitted;
    return true;
  }

  record(r: UsageRecord): void {
    if (this.admitted > 0) this.admitted--;
    this.queue.push(r);
    this.stats.queued = this.queue.length;
    this.stats.admitted = this.admitted;
    if (this.queue.length >= this.batchSize) void this.flush();
  }

  get depth(): number {
    return this.queue.length + this.admitted;
  }

  /** Resolves when everything recorded so far is in the database (tests, shutdown). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length || this.flushing) && Date.now() < deadline) {
      await this.flush();
      if (this.queue.length) await new Promise((r) => setTimeout(r, 50));
    }
    if (this.queue.length) throw new Error(`usage writer did not drain (${this.queue.length} queued)`);
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.queue.length) return Promise.resolve();
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async flushLoop(): Promise<void> {
    if (this.backoffMs) await new Promise((r) => setTimeout(r, this.backoffMs));
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.batchSize);
      try {
        await this.insert(batch);
      } catch (e) {
        this.stats.failedFlushes++;
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), 5_000);
        this.logger.warn({ err: (e as Error).message, pending: this.queue.length, retryInMs: this.backoffMs }, 'usage batch failed; will retry');
        return;
      }
      this.queue.splice(0, batch.length);
      this.stats.written += batch.length;
      this.stats.queued = this.queue.length;
      this.backoffMs = 0;
    }
  }

  private async insert(batch: UsageRecord[]): Promise<void> {
    const settling = batch.filter((r) => r.settlements?.length);
    // Rows, rollups and budget settlements commit together: rollups always equal the rows, spend
    // always equals the usage rows, and a crash loses all of them (the sweeper then releases the
    // reservation) or none.
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      // Sessions first: the rows below are written with the session each request joined.
      await assignSessions(client, batch, sessionGapMs(this.rt.gatewayConfig));
      const params = COLUMNS.map(([key, , type]) =>
        batch.map((r) => {
          const v = r[key];
          if (type === 'jsonb') return v === null || v === undefined ? null : JSON.stringify(v);
          return v ?? null;
        }),
      );
      await client.query(INSERT_SQL, params);
      await upsertRollups(client, batch);
      await signalUsage(client, batch);
      await insertToolEvents(client, batch);
      await insertCaptures(client, batch, (e) => this.logger.warn({ err: (e as Error).message }, 'request capture skipped'));
      if (!settling.length) {
        await client.query('commit');
        return;
      }
      const req: string[] = [];
      const bud: string[] = [];
      const act: number[] = [];
      const ev: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], []];
      for (const r of settling) {
        for (const st of r.settlements!) {
          req.push(r.id);
          bud.push(st.budgetId);
          act.push(st.actual);
          const category = st.fromSurplus === 0 ? 'allocated' : st.fromSurplus >= st.estimate ? 'surplus' : 'hybrid';
          const parts: [string, number][] =
            st.metric === 'tokens' ? [['input', st.inputPart], ['output', st.outputPart]]
            : st.metric === 'input_tokens' ? [['input', st.actual]]
            : st.metric === 'output_tokens' ? [['output', st.actual]]
            : [['total', st.actual]];
          for (const [io, amount] of parts) {
            if (amount <= 0) continue;
            const row = [uuidv7(), r.createdAt, r.orgId, st.budgetId, r.ownerUserId, r.endUser, r.tokenId, amount, st.metric, category, io, r.requestId, r.endpoint];
            row.forEach((v, i) => ev[i].push(v));
          }
        }
      }
      if (ev[0].length) {
        await client.query(
          `insert into consumption_event (id, created_at, org_id, budget_id, user_id, end_user, token_id, amount, resource_type, pool_category, io_type, request_id, endpoint)
           select * from unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::uuid[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
          ev,
        );
      }
      // Last, so the budget rows are locked only for the settlement and the commit, not for the inserts
      // (reservations on the same budgets wait on that lock).
      const settled = await client.query<{ budget_id: string; used: string; limit_amount: string }>(
        'select * from sluice_settle($1::text[], $2::uuid[], $3::bigint[], $4)',
        [req, bud, act, new Date()],
      );
      await client.query('commit');
      this.onSettled?.(settled.rows.map((x) => ({ budgetId: x.budget_id, used: Number(x.used), limit: Number(x.limit_amount) })));
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** Called after each committed settlement with the budgets' new usage (budget alerts hook in here). */
  onSettled?: (states: { budgetId: string; used: number; limit: number }[]) => void;
}

/** One row per tool call or result, in the writer's transaction. */
async function insertToolEvents(client: PoolClient, batch: UsageRecord[]): Promise<void> {
  const cols: unknown[][] = Array.from({ length: 16 }, () => []);
  for (const r of batch) {
    for (const t of r.toolEvents) {
      const row = [uuidv7(), r.createdAt, r.id, r.requestId, r.orgId, r.tokenId, r.ownerUserId, r.endUser, r.sessionId, r.provider, r.model, t.event === 'offered' ? null : t.event, t.name, t.kind, t.callId, r.sluiceSessionId ?? null];
      if (row[11] === null) continue;
      row.forEach((v, i) => cols[i].push(v));
    }
  }
  if (!cols[0].length) return;
  await client.query(
    `insert into tool_call (id, created_at, request_row_id, request_id, org_id, token_id, owner_user_id, end_user, session_id, provider, model, event, name, kind, call_id, sluice_session_id)
     select * from unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::uuid[])`,
    cols,
  );
}
