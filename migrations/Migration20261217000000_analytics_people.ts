import { Migration } from '@mikro-orm/migrations';

const NONE = '00000000-0000-0000-0000-000000000000';

/**
 * `usage_people_day` and `usage_people_month`: sums per UTC day (month), organization, team and
 * person, keyed by the person the pages show (end-user id, else the token owner's email as it
 * was when written, else the service account). The people table, its active-user count and the
 * adoption histogram over whole organizations group these rows directly instead of mapping every
 * person rollup row to a person on each view. Filled here from the person rollups; the usage
 * writer and `sluice rollups rebuild` keep them.
 */
export class Migration20261217000000_analytics_people extends Migration {
  override name = 'Migration20261217000000_analytics_people';

  override up(): void {
    const eu = `case when r.end_user like '%@%' then lower(r.end_user) else r.end_user end`;
    const person = `(case when ${eu} <> '' then ${eu}
               when r.owner_user_id <> '${NONE}' then coalesce(lower(o.email), 'user:' || r.owner_user_id::text)
               when r.service_account_id <> '${NONE}' then 'sa:' || r.service_account_id::text
               else 'unknown' end) collate "C"`;
    for (const g of ['day', 'month']) {
      this.addSql(`create table usage_people_${g} (
  bucket timestamptz not null, org_id uuid not null, team_id uuid not null, person text collate "C" not null,
  requests bigint not null default 0, failures bigint not null default 0, input_tokens bigint not null default 0,
  output_tokens bigint not null default 0, cost_micros bigint not null default 0,
  primary key (bucket, org_id, team_id, person)) with (fillfactor = 70);`);
      this.addSql(`create index usage_people_${g}_org_idx on usage_people_${g} (org_id, bucket);`);
      this.addSql(`insert into usage_people_${g} (bucket, org_id, team_id, person, requests, failures, input_tokens, output_tokens, cost_micros)
  select r.bucket, r.org_id, r.team_id, ${person}, sum(r.requests), sum(r.failures), sum(r.input_tokens), sum(r.output_tokens), sum(r.cost_micros)
    from usage_person_${g} r left join app_user o on o.id = r.owner_user_id
   group by 1, 2, 3, 4;`);
    }
  }
}
