import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { S3ExportService } from './s3-export.service';

/**
 * Runs due exports in the server (not the CLI). Every instance checks every EXPORT_CHECK_MS; the
 * advisory lock lets one of them export, and the schedule is kept in the database (last run per
 * destination), so N instances export once per interval, not N times.
 */
@Injectable()
export class S3ExportScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> | null = null;

  constructor(
    private readonly exports: S3ExportService,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap() {
    // Purge jobs read the hold from the database: set it from this config before the first check.
    void this.exports.syncPurgeHolds().catch((e) => this.logger.warn({ err: (e as Error).message }, 'could not record which exports hold the purge'));
    this.timer = setInterval(() => void this.tick(), this.rt.env.EXPORT_CHECK_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown() {
    clearInterval(this.timer);
    this.exports.stop();
    // The marker only moves after an object is stored, so cutting a run short loses nothing.
    if (this.running) await Promise.race([this.running, new Promise((r) => setTimeout(r, 10_000).unref())]);
  }

  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.exports
      .run({ scheduled: true })
      .then(() => undefined)
      .catch((e) => this.logger.warn({ err: (e as Error).message }, 'scheduled export check failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
