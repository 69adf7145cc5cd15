import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import { retentionOf } from './capture-policy';

const CHUNK = 5_000;
const HOUR = 3_600_000;

export interface PurgeResult {
  captures: number;
  sessions: number;
}

/**
 * Deletes captures past their retention (gateway config `capture.retention_days`, per-org
 * `capture.orgs.<slug>.retention_days`), and sessions whose requests have all aged out of the
 * request log (REQUEST_LOG_RETENTION_DAYS). Runs hourly on every instance; deletes go in chunks
 * with SKIP LOCKED so instances neither block each other nor hold long locks. Usage rows and
 * rollups are never touched here.
 */
@Injectable()
export class CaptureRetentionService implements OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running: Promise<PurgeResult> | null = null;

  constructor(
    private readonly pool: PgPool,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    this.timer = setInterval(() => void this.purge().catch(() => undefined), HOUR);
    this.timer.unref();
  }

  onApplicationShutdown() {
    clearInterval(this.timer);
  }

  purge(now = new Date()): Promise<PurgeResult> {
    this.running ??= this.run(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(now: Date): Promise<PurgeResult> {
    const { defaultDays, orgs } = retentionOf(this.rt.gatewayConfig);
    const ids = orgs.size
      ? (await this.pool.query<{ id: string; slug: string }>('select id, slug from organization where slug = any($1::text[])', [[...orgs.keys()]])).rows
      : [];
    const overrides = ids.map((o) => ({ id: o.id, days: orgs.get(o.slug)! }));
    const cutoff = (days: number) => new Date(now.getTime() - days * 86_400_000);
    // Captures an S3 export with purge_after_export has not shipped yet stay, however old
    // (sluice_export_horizon, kept by src/logs/s3-export.service.ts).
    let captures = 0;
    try {
      captures += await this.chunked(
        `delete from request_capture where request_row_id in (
           select request_row_id from request_capture where created_at < least($1, sluice_export_horizon('capture')) and not (org_id = any($2::uuid[])) limit ${CHUNK} for update skip locked)`,
        [cutoff(defaultDays), overrides.map((o) => o.id)],
      );
      for (const o of overrides) {
        captures += await this.chunked(
          `delete from request_capture where request_row_id in (
             select request_row_id from request_capture where org_id = $2 and created_at < least($1, sluice_export_horizon('capture')) limit ${CHUNK} for update skip locked)`,
          [cutoff(o.days), o.id],
        );
      }
      const sessions = await this.chunked(
        `delete from session where id in (select id from session where last_at < $1 limit ${CHUNK} for update skip locked)`,
        [cutoff(this.rt.env.REQUEST_LOG_RETENTION_DAYS)],
      );
      if (captures || sessions) this.logger.info({ captures, sessions }, 'purged captures and sessions past retention');
      return { captures, sessions };
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'capture retention failed; will retry next hour');
      throw e;
    }
  }

  private async chunked(sql: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const r = await this.pool.query(sql, params);
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < CHUNK) return total;
    }
  }
}
