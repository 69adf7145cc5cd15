import { Migration } from '@mikro-orm/migrations';

const KEY = 'bucket, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, provider, model, endpoint_class, status_class';

/**
 * What the analytics pages need beyond the first rollups:
 * - the request's tag set as a rollup dimension (sorted, deduplicated, `{}` when none), so the
 *   people page's tag filter is exact (`tags && $selected` counts a request once);
 * - indexes for the per-person views (a member's own usage is "tokens I own or end-user id equal to
 *   my email") and the per-token drill-down.
 */
export class Migration20261206000000_analytics extends Migration {
  override name = 'Migration20261206000000_analytics';

  override up(): void {
    for (const g of ['minute', 'hour', 'day']) {
      this.addSql(`alter table usage_rollup_${g} add column tags text[] not null default '{}';`);
      this.addSql(`alter table usage_rollup_${g} drop constraint usage_rollup_${g}_pkey;`);
      this.addSql(`alter table usage_rollup_${g} add constraint usage_rollup_${g}_pkey primary key (${KEY}, tags);`);
      this.addSql(`create index usage_rollup_${g}_owner_bucket_idx on usage_rollup_${g} (owner_user_id, bucket);`);
      this.addSql(`create index usage_rollup_${g}_end_user_bucket_idx on usage_rollup_${g} (lower(end_user), bucket);`);
      this.addSql(`create index usage_rollup_${g}_token_bucket_idx on usage_rollup_${g} (token_id, bucket);`);
    }
  }
}
