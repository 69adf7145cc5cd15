import { Migration } from '@mikro-orm/migrations';

const BASIC = `
  requests bigint not null default 0,
  failures bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_micros bigint not null default 0`;

const TABLES: { name: string; dims: string; key: string; measures: string; extra: string[] }[] = [
  {
    name: 'usage_summary',
    dims: 'org_id uuid not null, provider text not null, model text not null, endpoint_class text not null, status_class text not null',
    key: 'org_id, provider, model, endpoint_class, status_class',
    measures: `${BASIC},\n  cached_input_tokens bigint not null default 0,\n  latency_ms_sum double precision not null default 0`,
    extra: ['(org_id, bucket)'],
  },
  {
    name: 'usage_token',
    dims: 'org_id uuid not null, team_id uuid not null, token_id uuid not null',
    key: 'org_id, team_id, token_id',
    measures: BASIC,
    extra: ['(org_id, bucket)', '(token_id, bucket)'],
  },
  {
    name: 'usage_person',
    dims: 'org_id uuid not null, team_id uuid not null, token_id uuid not null, owner_user_id uuid not null, service_account_id uuid not null, end_user text not null',
    key: 'org_id, team_id, token_id, owner_user_id, service_account_id, end_user',
    measures: BASIC,
    extra: ['(org_id, bucket)', '(owner_user_id, bucket)', '(lower(end_user), bucket)', '(token_id, bucket)'],
  },
];

/**
 * Narrow rollups next to the full one (see src/usage/rollups.ts): at ten million requests the full
 * day rollup holds about one row per person, token, model, status and tag set a day, too many to
 * sum for an organization-wide page in a few milliseconds. These hold only what those pages group
 * by (per model and status; per token; per person) and are filled here from the existing full
 * rollups, then kept by the usage writer and `sluice rollups rebuild`. `usage_tag` lists the tags
 * seen per organization for the tag filter. A member's own sessions are found by end-user id too.
 */
export class Migration20261210000000_analytics_summaries extends Migration {
  override name = 'Migration20261210000000_analytics_summaries';

  override up(): void {
    for (const t of TABLES) {
      for (const g of ['hour', 'day']) {
        this.addSql(`create table ${t.name}_${g} (bucket timestamptz not null, ${t.dims},${t.measures},
  primary key (bucket, ${t.key}));`);
        t.extra.forEach((cols, i) => this.addSql(`create index ${t.name}_${g}_${i}_idx on ${t.name}_${g} ${cols};`));
        const sums = t.measures.split(',').map((l) => l.trim().split(' ')[0]).filter(Boolean);
        this.addSql(`insert into ${t.name}_${g} (bucket, ${t.key}, ${sums.join(', ')})
  select bucket, ${t.key}, ${sums.map((m) => `sum(${m})`).join(', ')} from usage_rollup_${g} group by bucket, ${t.key};`);
      }
    }
    this.addSql(`create table usage_tag (org_id uuid not null, tag text not null, last_day timestamptz not null, primary key (org_id, tag));`);
    this.addSql(`insert into usage_tag (org_id, tag, last_day) select org_id, tag, max(bucket) from usage_rollup_day, unnest(tags) tag group by 1, 2;`);
    this.addSql('create index session_end_user_last_idx on session (lower(end_user), last_at);');
  }
}
