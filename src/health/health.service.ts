import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { pendingMigrations } from '../db/migrate';

export interface Readiness {
  status: 'ready' | 'not_ready';
  database: 'ok' | 'unreachable';
  migrations: 'current' | 'pending' | 'unknown';
  pending?: string[];
}

@Injectable()
export class HealthService {
  private migrationsCurrent = false;

  constructor(private readonly orm: MikroORM) {}

  async readiness(): Promise<Readiness> {
    try {
      await this.orm.em.getConnection().execute('select 1');
    } catch {
      return { status: 'not_ready', database: 'unreachable', migrations: 'unknown' };
    }
    // Once current, the schema only moves forward with a new release, which restarts the process.
    if (!this.migrationsCurrent) {
      const pending = await pendingMigrations(this.orm);
      if (pending.length) return { status: 'not_ready', database: 'ok', migrations: 'pending', pending };
      this.migrationsCurrent = true;
    }
    return { status: 'ready', database: 'ok', migrations: 'current' };
  }
}
