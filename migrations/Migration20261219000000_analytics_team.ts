import { Migration } from '@mikro-orm/migrations';

const BASIC = ['requests', 'failures', 'input_tokens', 'output_tokens', 'cost_micros'];
const month = `date_trunc('month', bucket at time zone 'UTC') at time zone 'UTC'`;

/**
 * `usage_team_{hour,day,month}` (sums per team) and `usage_team_model_{day,month}` (requests per
 * team and model), see src/usage/rollups.ts: the by-team view of the people page (its chart, the
 * rows' sparklines and Models column) and a team filter's sums read a team's rows instead of
 * every token's or person's of the team. Filled here from the full rollup, then kept by the usage
 * writer and `sluice rollups rebuild`.
 */
export class Migration20261219000000_analytics_team extends Migration {
  override name = 'Migration20261219000000_analytics_team';

  override up(): void {
    for (const g of ['hour', 'day', 'month']) {
      this.addSql(`create table usage_team_${g} (
  bucket timestamptz not null, org_id uuid not null, team_id uuid not null,
  ${BASIC.map((m) => `${m} bigint not null default 0`).join(', ')},
  primary key (bucket, org_id, team_id)) with (fillfactor = 70);`);
      const src = g === 'month' ? 'usage_rollup_day' : `usage_rollup_${g}`;
      this.addSql(`insert into usage_team_${g} (bucket, org_id, team_id, ${BASIC.join(', ')})
  select ${g === 'month' ? month : 'bucket'}, org_id, team_id, ${BASIC.map((m) => `sum(${m})`).join(', ')} from ${src} group by 1, 2, 3 order by 1;`);
    }
    for (const g of ['day', 'month']) {
      this.addSql(`create table usage_team_model_${g} (
  bucket timestamptz not null, org_id uuid not null, team_id uuid not null, provider text not null, model text not null,
  requests bigint not null default 0,
  primary key (bucket, org_id, team_id, provider, model)) with (fillfactor = 70);`);
      this.addSql(`insert into usage_team_model_${g} (bucket, org_id, team_id, provider, model, requests)
  select ${g === 'month' ? month : 'bucket'}, org_id, team_id, provider, model, sum(requests) from usage_rollup_day group by 1, 2, 3, 4, 5 order by 1;`);
    }
  }
}
