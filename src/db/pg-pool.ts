import { Pool } from 'pg';

/**
 * A plain `pg` pool beside the ORM's, for the few hot-path statements that want full control of
 * parameters and batching (the usage writer's array inserts, budget reservations) and never go
 * through the unit of work.
 */
export class PgPool extends Pool {}

export function createPgPool(url: string, max: number): PgPool {
  const pool = new PgPool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}
