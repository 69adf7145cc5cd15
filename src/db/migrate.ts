import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { buildOrmConfig } from './mikro-orm.config';
import { MIGRATIONS } from './migrations';

/**
 * Applies pending migrations. An advisory lock serialises concurrent starters (several instances
 * booting at once against one database) so each migration runs exactly once.
 */
export async function migrate(orm: MikroORM): Promise<string[]> {
  // Session-level advisory locks belong to one connection, so hold it on a dedicated client
  // rather than on the ORM's pool.
  const lock = new Client({ connectionString: orm.config.get('clientUrl') });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock(727001)');
    const done = await orm.migrator.up();
    await orm.em.getConnection().execute('select sluice_ensure_request_log_partitions(1, 7)');
    return done.map((m) => m.name);
  } finally {
    await lock.end().catch(() => undefined);
  }
}

/** Names of migrations not yet applied; empty when the schema is current. */
export async function pendingMigrations(orm: MikroORM): Promise<string[]> {
  const pending = await orm.migrator.getPending();
  return pending.map((m) => m.name);
}

export async function migrateUrl(url: string): Promise<string[]> {
  const orm = await MikroORM.init(buildOrmConfig(url, 2));
  try {
    return await migrate(orm);
  } finally {
    await orm.close(true);
  }
}

export const KNOWN_MIGRATIONS = MIGRATIONS.map((m) => m.name);
