import { Migration } from '@mikro-orm/migrations';

/**
 * Scheduled exports to S3-compatible buckets (issue #7).
 *
 * `export_cursor`: per destination (gateway config `export.s3.<name>`) and kind (usage =
 * request_log, capture = request_capture), the last exported row as (created_at, id), the
 * marker that keeps every row from being exported twice. It only moves after the object holding
 * the rows is in the bucket, with a compare-and-set on the previous position.
 *
 * `holds_purge`: set (by the exporter, from the config) on the cursors of destinations with
 * `purge_after_export`; local deletion of rows past their retention then stops at the lowest such
 * cursor. sluice_export_horizon(kind) answers that bound for any purge job, and the request_log
 * partition drop below checks it.
 */
export class Migration20261209000000_export extends Migration {
  override name = 'Migration20261209000000_export';

  override up(): void {
    this.addSql(`
create table export_cursor (
  destination text not null,
  kind text not null check (kind in ('usage', 'capture')),
  last_created_at timestamptz not null default '-infinity',
  last_id uuid not null default '00000000-0000-0000-0000-000000000000',
  -- every row created before this has been exported: the end of what the last run looked at
  -- (the delay's cutoff, or the first row of a window not over yet)
  complete_before timestamptz not null default '-infinity',
  rows_exported bigint not null default 0,
  objects_exported bigint not null default 0,
  last_object_key text,
  holds_purge boolean not null default false,
  last_run_at timestamptz,
  last_success_at timestamptz,
  last_error text,
  updated_at timestamptz not null default now(),
  primary key (destination, kind)
);

-- Rows created before the returned time have been exported to every destination that holds the
-- purge; 'infinity' when none does.
create or replace function sluice_export_horizon(k text)
returns timestamptz language sql stable as $fn$
  select coalesce(min(greatest(last_created_at, complete_before)), 'infinity'::timestamptz) from export_cursor where kind = k and holds_purge
$fn$;

-- As before (Migration20261204000000_rollups), but a partition is kept while any of its rows may
-- still be waiting for an export that holds the purge.
create or replace function sluice_drop_request_log_partitions(keep_days int)
returns setof text language plpgsql as $fn$
declare
  part record;
  horizon timestamptz := sluice_export_horizon('usage');
begin
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
     where p.relname = 'request_log' and c.relname ~ '^request_log_p[0-9]{8}$'
       and to_date(substring(c.relname from 14), 'YYYYMMDD') < current_date - keep_days
       and (to_date(substring(c.relname from 14), 'YYYYMMDD') + 1)::timestamp at time zone 'UTC' <= horizon
  loop
    execute format('drop table %I', part.relname);
    return next part.relname;
  end loop;
end
$fn$;
`);
  }
}
