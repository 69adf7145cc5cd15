import { Migration } from '@mikro-orm/migrations';

const NONE = '00000000-0000-0000-0000-000000000000';

/**
 * `usage_active_day`: who was active on each UTC day, per organization and for every organization
 * together (org_id all zeros), keyed by the person the pages count (end-user id, else the token
 * owner's email, else the service account) with their active UTC hours as bits. Active-people
 * charts count these rows instead of mapping every person rollup row to a person. Filled here from
 * the person day rollup; the usage writer and `sluice rollups rebuild` keep it.
 */
export class Migration20261215000000_analytics_active_day extends Migration {
  override name = 'Migration20261215000000_analytics_active_day';

  override up(): void {
    this.addSql(`create table usage_active_day (
  org_id uuid not null, bucket timestamptz not null, person text collate "C" not null, active_hours int not null,
  primary key (org_id, bucket, person)) with (fillfactor = 70);`);
    const eu = `case when u.end_user like '%@%' then lower(u.end_user) else u.end_user end`;
    this.addSql(`insert into usage_active_day (org_id, bucket, person, active_hours)
  select o2.org_id, u.bucket,
         (case when ${eu} <> '' then ${eu}
               when u.owner_user_id <> '${NONE}' then coalesce(lower(o.email), 'user:' || u.owner_user_id::text)
               when u.service_account_id <> '${NONE}' then 'sa:' || u.service_account_id::text
               else 'unknown' end) collate "C",
         bit_or(u.active_hours)
    from usage_person_day u left join app_user o on o.id = u.owner_user_id
    cross join lateral (values (u.org_id), ('${NONE}'::uuid)) o2(org_id)
   group by 1, 2, 3;`);
  }
}
