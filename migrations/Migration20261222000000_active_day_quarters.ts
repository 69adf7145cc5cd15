import { Migration } from '@mikro-orm/migrations';

/**
 * `usage_active_day` keeps the quarter hours each person was active in (two bigints of 48 bits:
 * `active_quarters_am` for quarters 0-47 of the UTC day, `active_quarters_pm` for 48-95), so
 * active people per local day are counted from these rows in zones whose days start inside an
 * hour (India, Sri Lanka, Iran, Afghanistan, Myanmar and central Australia at :30, Newfoundland
 * at -:30, Nepal and the Chatham Islands at :45) as they are in whole-hour zones; they used to be
 * counted from every minute rollup row of the range (thirty Indian days of every organization:
 * 7.8 s). Existing rows get their quarters from the minute rollups, which are kept for as long as
 * these rows; a row whose person no longer matches them (an owner whose email changed since) gets
 * every quarter of its active hours. The covering key carries the quarters too.
 */
export class Migration20261222000000_active_day_quarters extends Migration {
  override name = 'Migration20261222000000_active_day_quarters';

  override up(): void {
    this.addSql('alter table usage_active_day add column active_quarters_am bigint not null default 0, add column active_quarters_pm bigint not null default 0;');
    // Every quarter of each active hour first, then the exact quarters where the minute rows have them.
    this.addSql(`update usage_active_day set
      active_quarters_am = (select coalesce(bit_or(15::bigint << (4 * h)), 0) from generate_series(0, 11) h where active_hours & (1 << h) <> 0),
      active_quarters_pm = (select coalesce(bit_or(15::bigint << (4 * (h - 12))), 0) from generate_series(12, 23) h where active_hours & (1 << h) <> 0);`);
    // The person as rollups.ts keys it (PERSON), written out: a migration must not change with the code.
    this.addSql(`update usage_active_day a set active_quarters_am = q.active_quarters_am, active_quarters_pm = q.active_quarters_pm
      from (select o2.org_id, u.bucket,
                   (case when case when u.end_user like '%@%' then lower(u.end_user) else u.end_user end <> '' then case when u.end_user like '%@%' then lower(u.end_user) else u.end_user end
                         when u.owner_user_id <> '00000000-0000-0000-0000-000000000000' then coalesce(lower(o.email), 'user:' || u.owner_user_id::text)
                         when u.service_account_id <> '00000000-0000-0000-0000-000000000000' then 'sa:' || u.service_account_id::text
                         else 'unknown' end) collate "C" as person,
                   bit_or(u.active_quarters_am) as active_quarters_am, bit_or(u.active_quarters_pm) as active_quarters_pm
              from (select date_trunc('day', m.bucket at time zone 'UTC') at time zone 'UTC' as bucket, m.org_id, m.owner_user_id, m.service_account_id, m.end_user,
                           bit_or(case when q.i < 48 then 1::bigint << q.i else 0 end) as active_quarters_am,
                           bit_or(case when q.i >= 48 then 1::bigint << (q.i - 48) else 0 end) as active_quarters_pm
                      from usage_rollup_minute m
                     cross join lateral (select extract(hour from m.bucket at time zone 'UTC')::int * 4 + extract(minute from m.bucket at time zone 'UTC')::int / 15 as i) q
                     group by 1, 2, 3, 4, 5) u
              left join app_user o on o.id = u.owner_user_id
             cross join lateral (values (u.org_id), ('00000000-0000-0000-0000-000000000000'::uuid)) o2(org_id)
             group by 1, 2, 3) q
     where q.org_id = a.org_id and q.bucket = a.bucket and q.person = a.person;`);
    this.addSql('alter table usage_active_day drop constraint usage_active_day_pkey;');
    this.addSql('alter table usage_active_day add constraint usage_active_day_pkey primary key (org_id, bucket, person) include (active_hours, active_quarters_am, active_quarters_pm);');
  }

  override down(): void {
    this.addSql('alter table usage_active_day drop constraint usage_active_day_pkey;');
    this.addSql('alter table usage_active_day add constraint usage_active_day_pkey primary key (org_id, bucket, person) include (active_hours);');
    this.addSql('alter table usage_active_day drop column active_quarters_am, drop column active_quarters_pm;');
  }
}
