import { Migration } from '@mikro-orm/migrations';

/**
 * The foundation schema. Foreign keys are deferrable: entities reference each other by id (not
 * ORM relations), so one flush may insert a child before its parent; the check runs at commit. request_log is range-partitioned by day so retention is a partition drop;
 * sluice_ensure_request_log_partitions() creates partitions ahead and is called at boot and daily.
 */
export class Migration20261124000000_initial extends Migration {
  override name = 'Migration20261124000000_initial';

  override up(): void {
    this.addSql(`
create table organization (
  id uuid primary key,
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table app_user (
  id uuid primary key,
  email text not null,
  display_name text,
  oidc_issuer text,
  oidc_subject text,
  is_global_admin boolean not null default false,
  last_login_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index app_user_email_uq on app_user (lower(email));
create unique index app_user_oidc_uq on app_user (oidc_issuer, oidc_subject) where oidc_subject is not null;

create table membership (
  id uuid primary key,
  user_id uuid not null references app_user(id) on delete cascade deferrable initially deferred,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  role text not null check (role in ('admin', 'member')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, org_id)
);
create index membership_org_idx on membership (org_id);

create table team (
  id uuid primary key,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  slug text not null check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, slug)
);

create table team_member (
  id uuid primary key,
  team_id uuid not null references team(id) on delete cascade deferrable initially deferred,
  user_id uuid not null references app_user(id) on delete cascade deferrable initially deferred,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (team_id, user_id)
);
create index team_member_user_idx on team_member (user_id);

create table service_account (
  id uuid primary key,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  team_id uuid references team(id) on delete set null deferrable initially deferred,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  description text,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name)
);

create table api_token (
  id uuid primary key,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  name text not null,
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  display_prefix text not null,
  owner_user_id uuid references app_user(id) on delete cascade deferrable initially deferred,
  service_account_id uuid references service_account(id) on delete cascade deferrable initially deferred,
  team_id uuid references team(id) on delete set null deferrable initially deferred,
  created_by_id uuid references app_user(id) on delete set null deferrable initially deferred,
  scopes text[] not null default '{proxy}',
  model_patterns text[],
  rpm integer check (rpm > 0),
  tpm integer check (tpm > 0),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((owner_user_id is null) <> (service_account_id is null))
);
create index api_token_org_idx on api_token (org_id);
create index api_token_owner_idx on api_token (owner_user_id);

create table audit_event (
  id uuid primary key,
  created_at timestamptz not null default now(),
  actor text not null,
  org_id uuid,
  action text not null,
  target_type text not null,
  target_id text,
  before jsonb,
  after jsonb
);
create index audit_event_org_time_idx on audit_event (org_id, created_at desc);

create table request_log (
  id uuid not null,
  created_at timestamptz not null,
  request_id text not null,
  org_id uuid not null,
  team_id uuid,
  token_id uuid,
  owner_user_id uuid,
  service_account_id uuid,
  end_user text,
  session_id text,
  client text,
  tags text[],
  provider text,
  model text,
  endpoint text not null,
  stream boolean not null default false,
  status integer not null,
  error_type text,
  cancelled boolean not null default false,
  latency_ms double precision not null,
  ttft_ms double precision,
  input_tokens integer not null default 0,
  output_tokens integer not null default 0,
  cached_input_tokens integer not null default 0,
  cache_write_tokens integer not null default 0,
  reasoning_tokens integer not null default 0,
  cost_micros bigint not null default 0,
  -- true when the provider reported no usage (cut-off streams, providers without usage) and the
  -- counts are estimated from what was sent and delivered; an explicit zero is never estimated.
  usage_estimated boolean not null default false,
  client_device text,
  primary key (created_at, id)
) partition by range (created_at);
create table request_log_default partition of request_log default;
create index request_log_org_time_idx on request_log (org_id, created_at desc);
create index request_log_token_time_idx on request_log (token_id, created_at desc);

create or replace function sluice_ensure_request_log_partitions(days_back int, days_ahead int)
returns void language plpgsql as $fn$
declare
  d date;
  part text;
begin
  for d in select generate_series(current_date - days_back, current_date + days_ahead, interval '1 day')::date loop
    part := format('request_log_p%s', to_char(d, 'YYYYMMDD'));
    if to_regclass(part) is null then
      begin
        execute format('create table %I partition of request_log for values from (%L) to (%L)',
          part, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
      exception when duplicate_table then
        null; -- another instance created it first
      end;
    end if;
  end loop;
end
$fn$;
select sluice_ensure_request_log_partitions(1, 7);
`);
  }
}
