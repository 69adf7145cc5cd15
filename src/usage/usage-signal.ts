import type { PoolClient } from 'pg';
import type { UsageRecord } from './usage-record';

/** The channel on which every writer announces committed usage, once per batch per organization. */
export const USAGE_CHANNEL = 'sluice_usage';

/**
 * Queues one NOTIFY per organization in the batch inside the writer's transaction, so it is sent
 * at commit (never for a rolled-back batch) and reaches the analytics pages of every Sluice
 * process on the database. The payload is `<org id>:<commit-ish time in ms>`: a value that only
 * grows, so a page polling processes behind a load balancer can tell new from old.
 */
export async function signalUsage(client: PoolClient, batch: UsageRecord[]): Promise<void> {
  const orgs = [...new Set(batch.map((r) => r.orgId))];
  if (!orgs.length) return;
  await client.query(
    `select pg_notify('${USAGE_CHANNEL}', o || ':' || floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from unnest($1::text[]) o`,
    [orgs],
  );
}
