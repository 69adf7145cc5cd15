import { Migration } from '@mikro-orm/migrations';

/**
 * Tool use: every call a model made and every result a client sent back, one row each, written
 * by the usage writer with the request's row; the tools a request offered are kept on the
 * request row as names (an agent offers the same twenty tools on every turn).
 */
export class Migration20261205000000_tools extends Migration {
  override name = 'Migration20261205000000_tools';

  override up(): void {
    this.addSql(`
alter table request_log add column tools_offered text[];
create table tool_call (
  id uuid primary key,
  created_at timestamptz not null,
  request_row_id uuid not null,
  request_id text not null,
  org_id uuid not null,
  token_id uuid,
  owner_user_id uuid,
  end_user text,
  session_id text,
  provider text,
  model text,
  event text not null check (event in ('call', 'result')),
  name text not null,
  kind text not null check (kind in ('function', 'mcp', 'builtin')),
  call_id text
);
create index tool_call_org_time_idx on tool_call (org_id, created_at desc);
create index tool_call_org_name_time_idx on tool_call (org_id, name, created_at desc);
create index tool_call_request_idx on tool_call (request_row_id);
create index tool_call_session_idx on tool_call (session_id) where session_id is not null;
`);
  }
}
