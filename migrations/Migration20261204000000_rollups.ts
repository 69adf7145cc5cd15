import { Migration } from '@mikro-orm/migrations';

const DIMENSIONS = `
  org_id uuid not null,
  team_id uuid not null,            -- 00000000-0000-0000-0000-000000000000 when none
  token_id uuid not null,
  owner_user_id uuid not null,
  service_account_id uuid not null,
  end_user text not null,           -- '' when none
  provider text not null,
  model text not null,
  endpoint_class text not null,     -- completion | embedding | other
  status_class text not null,       -- 2xx | 4xx | 5xx | cancelled`;

const MEASURES = `
  requests bigint not null default 0,
  failures bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cached_input_tokens bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  reasoning_tokens bigint not null default 0,
  cost_micros bigint not null default 0,
  latency_ms_sum double precision not null default 0,
  ttft_ms_sum double precision not null default 0,
  ttft_count bigint not null default 0`;

const KEY = 'bucket, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, provider, model, endpoint_class, status_class';

/**
 * Pre-aggregated usage per minute, hour and day, maintained by the usage writer in the same
 * transaction as the request rows (so pages read buckets, never raw requests), and rebuilt from raw
 * rows by `sluice rollups rebuild`. Null dimensions are stored as sentinels so every dimension can
 * be part of the key. Raw request_log partitions are dropped after REQUEST_LOG_RETENTION_DAYS;
 * rollups are kept.
 */
export class Migration20261204000000_rollups extends Migration {
  override name = 'Migration20261204000000_rollups';

  override up(): void {
    for (const g of ['minute', 'hour', 'day']) {
      this.addSql(`create table usage_rollup_${g} (bucket timestamptz not null,${DIMENSIONS},${MEASURES},
  primary key (${KEY}));`);
      this.addSql(`create index usage_rollup_${g}_org_bucket_idx on usage_rollup_${g} (org_id, bucket);`);
      this.addSql(`create index usage_rollup_${g}_bucket_idx on usage_rollup_${g} (bucket);`);
    }
    this.addSql(`
create or replace function sluice_drop_request_log_partitions(keep_days int)
returns setof text language plpgsql as $fn$
declare
  part record;
begin
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
     where p.relname = 'request_log' and c.relname ~ '^request_log_p[0-9]{8}$'
       and to_date(substring(c.relname from 14), 'YYYYMMDD') < current_date - keep_days
  loop
    execute format('drop table %I', part.relname);
    return next part.relname;
  end loop;
end
$fn$;`);
  }
}
