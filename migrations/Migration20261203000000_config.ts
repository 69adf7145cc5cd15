import { Migration } from '@mikro-orm/migrations';

/**
 * The gateway config as versioned documents. Literal provider keys are stored encrypted
 * (`enc:v1:<key id>:…`, AES-256-GCM under SLUICE_SECRET_KEY), `env:` references as written; the
 * last four characters of each literal key are kept apart for the `••••last4` display.
 */
export class Migration20261203000000_config extends Migration {
  override name = 'Migration20261203000000_config';

  override up(): void {
    this.addSql(`
create table config_version (
  id bigserial primary key,
  created_at timestamptz not null default now(),
  created_by text not null,
  comment text,
  document jsonb not null,
  key_hints jsonb not null default '{}',
  active boolean not null default false
);
create unique index config_version_active_uq on config_version (active) where active;
`);
  }
}
