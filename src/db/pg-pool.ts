import { Pool } from 'pg';

/**
 * A plain `pg` pool beside the ORM's, for the few hot-path statements that want full control of
 * parameters and batching (the usage writer's array inserts, budget reservations) and never go
 * through the unit of work.
 */
export class PgPool extends Pool {}

/**
 * Connections for budget reservations, with synchronous_commit off: a reservation is committed
 * without waiting for its WAL flush (the dominant cost of a one-row transaction). A database crash
 * can forget only reservations of requests in flight at that moment; their spend still lands with
 * the usage rows, which are written through PgPool with full durability.
 */
export class ReservePool extends Pool {}

export function createPgPool(url: string, max: number): PgPool {
  return guard(new PgPool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 }));
}

export function createReservePool(url: string, max: number): ReservePool {
  return guard(new ReservePool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000, options: '-c synchronous_commit=off' }));
}

function guard<T extends Pool>(pool: T): T {
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}
