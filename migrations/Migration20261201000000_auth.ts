import { Migration } from '@mikro-orm/migrations';

/**
 * Sign-in and administration: server-side sessions, one-time sign-in links, where a membership
 * came from (set by hand or mapped from the identity provider's groups claim), and token rotation
 * lineage. Session ids and link secrets are stored only as SHA-256 hashes.
 */
export class Migration20261201000000_auth extends Migration {
  override name = 'Migration20261201000000_auth';

  override up(): void {
    this.addSql(`
create table auth_session (
  id_hash text primary key check (id_hash ~ '^[0-9a-f]{64}$'),
  -- null until sign-in completes: a pre-sign-in session only carries OIDC state and a CSRF token.
  user_id uuid references app_user(id) on delete cascade deferrable initially deferred,
  csrf_token text not null,
  data jsonb not null default '{}',
  via text check (via in ('oidc', 'link')),
  ip text,
  user_agent text,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index auth_session_user_idx on auth_session (user_id);
create index auth_session_expires_idx on auth_session (expires_at);

create table login_link (
  id uuid primary key,
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  user_id uuid not null references app_user(id) on delete cascade deferrable initially deferred,
  created_by text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index login_link_user_idx on login_link (user_id);

alter table membership add column source text not null default 'manual' check (source in ('manual', 'oidc'));
alter table team_member add column source text not null default 'manual' check (source in ('manual', 'oidc'));
alter table api_token add column rotated_from_id uuid references api_token(id) on delete set null deferrable initially deferred;
create index api_token_sa_idx on api_token (service_account_id);
create index audit_event_time_idx on audit_event (created_at desc);
`);
  }
}
