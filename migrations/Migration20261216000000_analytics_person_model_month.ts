import { Migration } from '@mikro-orm/migrations';

/**
 * `usage_person_model_month`: the models each person used per UTC calendar month. The people
 * table's Models column over a 30-day range then reads one row per person, model and month plus
 * the days before the month, not one per day (the heaviest users use most models every day).
 * Filled here from the day rows, then kept by the usage writer and `sluice rollups rebuild`.
 */
export class Migration20261216000000_analytics_person_model_month extends Migration {
  override name = 'Migration20261216000000_analytics_person_model_month';

  override up(): void {
    const key = 'org_id, team_id, token_id, owner_user_id, service_account_id, end_user, provider, model';
    this.addSql(`create table usage_person_model_month (
  bucket timestamptz not null,
  org_id uuid not null, team_id uuid not null, token_id uuid not null, owner_user_id uuid not null, service_account_id uuid not null,
  end_user text not null, provider text not null, model text not null,
  requests bigint not null default 0,
  primary key (bucket, ${key})) with (fillfactor = 70);`);
    this.addSql('create index usage_person_model_month_owner_idx on usage_person_model_month (owner_user_id, bucket);');
    this.addSql('create index usage_person_model_month_end_user_idx on usage_person_model_month (lower(end_user), bucket);');
    this.addSql('create index usage_person_model_month_token_idx on usage_person_model_month (token_id, bucket);');
    this.addSql(`insert into usage_person_model_month (bucket, ${key}, requests)
  select date_trunc('month', bucket at time zone 'UTC') at time zone 'UTC', ${key}, sum(requests) from usage_person_model_day group by 1, ${key};`);
  }
}
