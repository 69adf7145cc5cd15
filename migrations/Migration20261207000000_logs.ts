import { Migration } from '@mikro-orm/migrations';

/**
 * Request logs, sessions and captures (issue #7).
 *
 * `session`: one row per conversation, maintained by the usage writer in its batch transaction
 * (upserted, totals added per batch). A session is either explicit (`external_id` = the identifier
 * the client sent: x-sluice-session, Claude Code's session, Codex's session-id) and unique per org
 * and caller, or grouped by caller and client with an inactivity gap (`external_id` null). The
 * writer serialises assignment per caller with a transaction-scoped advisory lock, so batches from
 * several processes, or arriving out of order, still give one session per conversation (a late
 * request that bridges two gap sessions merges them).
 *
 * `request_log.sluice_session_id` and `tool_call.sluice_session_id` point at `session.id`;
 * `session_id` on those tables stays what the client sent.
 *
 * `request_capture`: headers and bodies of one request (mode metadata: headers and sizes only;
 * full: bodies too), redacted before they are written, each body capped at `body_cap_bytes` with
 * the original size kept. Kept for the capture retention (gateway config `capture.retention_days`),
 * apart from request_log's, and purged by a scheduled delete; rollups are never touched.
 *
 * For exports, read these columns (names are stable):
 *   session: id, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, client,
 *     client_device, external_id, first_at, last_at, requests, failures, input_tokens,
 *     output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros,
 *     models, tools, tool_calls, updated_at (changes whenever a batch adds to the row; export
 *     sessions whose updated_at is past your marker).
 *   request_capture: request_row_id (= request_log.id), created_at (= request_log.created_at),
 *     org_id, team_id, token_id, owner_user_id, end_user, sluice_session_id, mode, body_cap_bytes,
 *     request_headers, response_headers, request_body, request_bytes, response_body,
 *     response_bytes, response_stream, stream_bytes. Rows are insert-only (never updated), so
 *     (created_at, request_row_id) is a safe export marker. Skip `search` (an index column).
 */
export class Migration20261207000000_logs extends Migration {
  override name = 'Migration20261207000000_logs';

  override up(): void {
    this.addSql(`
create table session (
  id uuid primary key,
  org_id uuid not null,
  team_id uuid,
  token_id uuid,
  owner_user_id uuid,
  service_account_id uuid,
  end_user text,
  -- token and end user: who the session belongs to for grouping and locking
  caller_key text not null,
  client text,
  client_device text,
  external_id text,
  first_at timestamptz not null,
  last_at timestamptz not null,
  requests integer not null default 0,
  failures integer not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cached_input_tokens bigint not null default 0,
  cache_write_tokens bigint not null default 0,
  reasoning_tokens bigint not null default 0,
  cost_micros bigint not null default 0,
  models text[] not null default '{}',
  tools text[] not null default '{}',
  tool_calls integer not null default 0,
  updated_at timestamptz not null default now()
);
create unique index session_external_uq on session (org_id, caller_key, external_id) where external_id is not null;
create index session_gap_idx on session (caller_key, client, last_at desc) where external_id is null;
create index session_org_last_idx on session (org_id, last_at desc);
create index session_owner_last_idx on session (owner_user_id, last_at desc);
create index session_updated_idx on session (updated_at);

alter table request_log add column sluice_session_id uuid;
create index request_log_sluice_session_idx on request_log (sluice_session_id, created_at);
alter table tool_call add column sluice_session_id uuid;
create index tool_call_sluice_session_idx on tool_call (sluice_session_id) where sluice_session_id is not null;

create table request_capture (
  request_row_id uuid primary key,
  created_at timestamptz not null,
  org_id uuid not null,
  team_id uuid,
  token_id uuid,
  owner_user_id uuid,
  end_user text,
  sluice_session_id uuid,
  mode text not null check (mode in ('metadata', 'full')),
  body_cap_bytes integer not null,
  request_headers jsonb not null,
  response_headers jsonb,
  -- bodies are text, not jsonb: a capped body is usually not valid JSON any more
  request_body text,
  request_bytes integer not null default 0,
  -- non-streamed: the answer; streamed: the final message reassembled from the events
  response_body text,
  response_bytes integer not null default 0,
  -- streamed only: the events as received, up to the cap
  response_stream text,
  stream_bytes integer,
  -- positions stripped and very large bodies indexed by their first and last 100k characters,
  -- so the vector stays far below PostgreSQL's 1 MB limit whatever the cap
  search tsvector generated always as (strip(to_tsvector('simple',
    case when length(coalesce(request_body, '')) <= 200000 then coalesce(request_body, '')
         else left(request_body, 100000) || ' ' || right(request_body, 100000) end
    || ' ' || left(coalesce(response_body, ''), 200000)))) stored
);
create index request_capture_created_idx on request_capture (created_at);
create index request_capture_org_created_idx on request_capture (org_id, created_at);
create index request_capture_search_idx on request_capture using gin (search);
`);
  }
}
