import { Migration } from '@mikro-orm/migrations';

/**
 * The models each person used per day (`usage_person_model_day`, see src/usage/rollups.ts): the
 * people table's Models column for the shown rows, from about a tenth of the rows the full rollup
 * holds for them. Filled here from the existing full day rollup, then kept by the usage writer
 * and `sluice rollups rebuild`.
 */
export class Migration20261211000000_analytics_person_model extends Migration {
  override name = 'Migration20261211000000_analytics_person_model';

  override up(): void {
    const key = 'org_id, team_id, token_id, owner_user_id, service_account_id, end_user, provider, model';
    this.addSql(`create table usage_person_model_day (
  bucket timestamptz not null,
  org_id uuid not null, team_id uuid not null, token_id uuid not null, owner_user_id uuid not null, service_account_id uuid not null,
  end_user text not null, provider text not null, model text not null,
  requests bigint not null default 0,
  primary key (bucket, ${key}));`);
    this.addSql('create index usage_person_model_day_owner_idx on usage_person_model_day (owner_user_id, bucket);');
    this.addSql('create index usage_person_model_day_end_user_idx on usage_person_model_day (lower(end_user), bucket);');
    this.addSql('create index usage_person_model_day_token_idx on usage_person_model_day (token_id, bucket);');
    this.addSql(`insert into usage_person_model_day (bucket, ${key}, requests) select bucket, ${key}, sum(requests) from usage_rollup_day group by bucket, ${key};`);
  }
}
