import { Migration } from '@mikro-orm/migrations';

/**
 * S3 export of sessions (`kinds: ["session"]`): export markers may be of kind `session`, read in
 * (updated_at, id) order, so a session that changed is exported again.
 */
export class Migration20261218000000_export_sessions extends Migration {
  override name = 'Migration20261218000000_export_sessions';

  override up(): void {
    this.addSql(`alter table export_cursor drop constraint if exists export_cursor_kind_check;`);
    this.addSql(`alter table export_cursor add constraint export_cursor_kind_check check (kind in ('usage', 'capture', 'session'));`);
    this.addSql(`create index if not exists session_updated_idx on session (updated_at, id);`);
  }
}
