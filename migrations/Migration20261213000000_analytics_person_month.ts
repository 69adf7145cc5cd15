import { Migration } from '@mikro-orm/migrations';

/**
 * `usage_person_month`: the per-person rollup by UTC calendar month. A 30-day range of a whole
 * organization's (or every organization's) people reads one month row per person plus the days
 * before the month starts, not one row per person and day. Filled here from the day rows.
 */
export class Migration20261213000000_analytics_person_month extends Migration {
  override name = 'Migration20261213000000_analytics_person_month';

  override up(): void {
    const key = 'org_id, team_id, token_id, owner_user_id, service_account_id, end_user';
    const sums = 'requests, failures, input_tokens, output_tokens, cost_micros';
    this.addSql(`create table usage_person_month (
  bucket timestamptz not null,
  org_id uuid not null, team_id uuid not null, token_id uuid not null, owner_user_id uuid not null, service_account_id uuid not null, end_user text not null,
  requests bigint not null default 0, failures bigint not null default 0, input_tokens bigint not null default 0,
  output_tokens bigint not null default 0, cost_micros bigint not null default 0,
  primary key (bucket, ${key}));`);
    this.addSql('create index usage_person_month_org_idx on usage_person_month (org_id, bucket);');
    this.addSql('create index usage_person_month_owner_idx on usage_person_month (owner_user_id, bucket);');
    this.addSql('create index usage_person_month_end_user_idx on usage_person_month (lower(end_user), bucket);');
    this.addSql(`insert into usage_person_month (bucket, ${key}, ${sums})
  select date_trunc('month', bucket at time zone 'UTC') at time zone 'UTC', ${key}, ${sums.split(', ').map((m) => `sum(${m})`).join(', ')}
    from usage_person_day group by 1, ${key};`);
  }
}
