import { Migration } from '@mikro-orm/migrations';

/**
 * `usage_person_day.active_hours`: one bit per UTC hour of the day in which the person (row)
 * made a request. A viewer's local day in a whole-hour zone covers parts of two UTC days, so
 * "who was active on that day" is read from day rows and these bits instead of 24 hour rows per
 * day (see AnalyticsRepository.activeUsersSeries). Filled here from the hour rollup.
 */
export class Migration20261212000000_analytics_active_hours extends Migration {
  override name = 'Migration20261212000000_analytics_active_hours';

  override up(): void {
    const key = 'org_id, team_id, token_id, owner_user_id, service_account_id, end_user';
    this.addSql('alter table usage_person_day add column active_hours integer not null default 0;');
    this.addSql(`update usage_person_day d set active_hours = h.bits
  from (select date_trunc('day', bucket at time zone 'UTC') at time zone 'UTC' as day, ${key}, bit_or(1 << extract(hour from bucket at time zone 'UTC')::int) as bits
          from usage_person_hour group by 1, ${key}) h
 where d.bucket = h.day and ${key.split(', ').map((c) => `d.${c} = h.${c}`).join(' and ')};`);
  }
}
