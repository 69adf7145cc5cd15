import { Migration } from '@mikro-orm/migrations';

/**
 * `usage_active_day`'s key also carries `active_hours` (INCLUDE), so counting active people reads
 * the key alone (an index-only scan) instead of every organization's rows of the table: all
 * organizations over 30 New York days 109 -> 74 ms. The writer changes a row's hours at most 24
 * times a day (only when an hour is new), so losing HOT updates costs little.
 */
export class Migration20261221000000_active_day_cover extends Migration {
  override name = 'Migration20261221000000_active_day_cover';

  override up(): void {
    this.addSql('alter table usage_active_day drop constraint usage_active_day_pkey;');
    this.addSql('alter table usage_active_day add constraint usage_active_day_pkey primary key (org_id, bucket, person) include (active_hours);');
  }

  override down(): void {
    this.addSql('alter table usage_active_day drop constraint usage_active_day_pkey;');
    this.addSql('alter table usage_active_day add constraint usage_active_day_pkey primary key (org_id, bucket, person);');
  }
}
