import { Migration } from '@mikro-orm/migrations';

/**
 * Budgets and their enforcement. Reservation and settlement are PL/pgSQL functions so each is one
 * round trip that locks the budget rows it touches (always in id order, so concurrent callers on
 * any number of Sluice processes cannot deadlock) for microseconds, not for a network exchange.
 *
 * Amounts are integers in the budget's metric: micro-dollars, tokens or requests.
 */
export class Migration20261202000000_budgets extends Migration {
  override name = 'Migration20261202000000_budgets';

  override up(): void {
    this.addSql(`
create table budget (
  id uuid primary key,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  name text not null,
  scope_type text not null check (scope_type in ('org', 'team', 'user', 'service_account', 'token', 'end_user', 'pool')),
  -- uuid of the org/team/user/service account/token; the end-user id for end_user budgets; null for pools
  scope_id text,
  -- templates: every end user seen through this token (or org) gets their own budget like this one
  end_user_template boolean not null default false,
  parent_budget_id uuid references budget(id) on delete cascade deferrable initially deferred,
  metric text not null check (metric in ('cost', 'tokens', 'input_tokens', 'output_tokens', 'requests', 'concurrent')),
  -- set on the per-token counters that enforce rate limits (see rate_limit); null for budgets
  limit_kind text check (limit_kind in ('rpm', 'tpm', 'input_tpm', 'output_tpm', 'concurrent')),
  window_kind text not null check (window_kind in ('calendar', 'rolling', 'bucket')),
  period text check (period in ('day', 'week', 'month')),
  time_zone text not null default 'UTC',
  rolling_seconds integer check (rolling_seconds > 0),
  limit_amount bigint not null check (limit_amount >= 0),
  refill_per_second double precision check (refill_per_second >= 0),
  hard boolean not null default true,
  fail_open boolean not null default false,
  paused boolean not null default false,
  -- base allocations may draw on a shared pool, up to surplus_user_limit per window
  surplus_budget_id uuid references budget(id) on delete set null deferrable initially deferred,
  surplus_user_limit bigint check (surplus_user_limit >= 0),
  thresholds integer[] not null default '{50,80,100}',
  webhook_url text,
  -- HMAC key for the webhook, encrypted at rest (see src/common/crypto.ts); shown once at creation
  webhook_secret_enc text,
  -- state
  window_start timestamptz,
  spent bigint not null default 0,
  reserved bigint not null default 0,
  surplus_spent bigint not null default 0,
  surplus_reserved bigint not null default 0,
  bucket_level double precision,
  bucket_at timestamptz,
  alerts_fired integer[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (window_kind <> 'calendar' or period is not null),
  check (window_kind <> 'rolling' or rolling_seconds is not null),
  check (window_kind <> 'bucket' or refill_per_second is not null)
);
create index budget_org_idx on budget (org_id);
create unique index budget_end_user_child_uq on budget (parent_budget_id, scope_id) where parent_budget_id is not null;
create unique index budget_rate_counter_uq on budget (scope_id, limit_kind) where limit_kind is not null;

-- Rate limits set on a token, user, service account, team or org. The effective value of each
-- kind for a request is the innermost one set (token, then its owner, then team, then org), and
-- it is counted per token by a refilling-bucket counter (a budget row with limit_kind).
create table rate_limit (
  id uuid primary key,
  org_id uuid not null references organization(id) on delete cascade deferrable initially deferred,
  scope_type text not null check (scope_type in ('org', 'team', 'user', 'service_account', 'token')),
  scope_id uuid not null,
  rpm integer check (rpm > 0),
  tpm integer check (tpm > 0),
  input_tpm integer check (input_tpm > 0),
  output_tpm integer check (output_tpm > 0),
  concurrent integer check (concurrent > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (scope_type, scope_id)
);
create index rate_limit_org_idx on rate_limit (org_id);

-- Threshold alerts that fired: once per threshold per window; shown as banners in the UI.
create table budget_alert (
  id uuid primary key,
  budget_id uuid not null references budget(id) on delete cascade,
  org_id uuid not null,
  threshold integer not null,
  used bigint not null,
  limit_amount bigint not null,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  last_error text
);
create index budget_alert_org_time_idx on budget_alert (org_id, created_at desc);

-- Settled amounts per minute, for rolling windows.
create table budget_minute (
  budget_id uuid not null references budget(id) on delete cascade,
  minute timestamptz not null,
  amount bigint not null,
  surplus_amount bigint not null default 0,
  primary key (budget_id, minute)
);

-- Outstanding reservations; settlement deletes them in the same transaction that writes the
-- request's usage row, so a crash leaves either both or neither. The sweeper releases expired ones.
create table budget_reservation (
  request_id text not null,
  budget_id uuid not null references budget(id) on delete cascade,
  amount bigint not null,
  from_surplus bigint not null default 0,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (request_id, budget_id)
);
create index budget_reservation_expiry_idx on budget_reservation (expires_at);

create table consumption_event (
  id uuid primary key,
  created_at timestamptz not null,
  org_id uuid not null,
  budget_id uuid not null,
  user_id uuid,
  end_user text,
  token_id uuid,
  amount bigint not null,
  resource_type text not null,
  pool_category text not null check (pool_category in ('allocated', 'surplus', 'hybrid')),
  io_type text not null check (io_type in ('input', 'output', 'total')),
  request_id text not null,
  endpoint text not null
);
create index consumption_event_org_time_idx on consumption_event (org_id, created_at desc);
create index consumption_event_budget_time_idx on consumption_event (budget_id, created_at desc);

-- Current window state of one budget at p_now, without writing: what has been used (settled plus
-- reserved), what is left, and when it resets.
create or replace function sluice_budget_usage(b budget, p_now timestamptz,
  out used bigint, out surplus_used bigint, out remaining bigint, out reset_at timestamptz, out win timestamptz, out level double precision)
language plpgsql stable as $fn$
declare
  local_start timestamp;
begin
  level := null;
  if b.window_kind = 'calendar' then
    local_start := date_trunc(b.period, p_now at time zone b.time_zone);
    win := local_start at time zone b.time_zone;
    reset_at := (local_start + ('1 ' || b.period)::interval) at time zone b.time_zone;
    if b.window_start is null or b.window_start < win then
      used := b.reserved;
      surplus_used := b.surplus_reserved;
    else
      used := b.spent + b.reserved;
      surplus_used := b.surplus_spent + b.surplus_reserved;
    end if;
    remaining := b.limit_amount - used;
  elsif b.window_kind = 'rolling' then
    select coalesce(sum(m.amount), 0), coalesce(sum(m.surplus_amount), 0), min(m.minute)
      into used, surplus_used, reset_at
      from budget_minute m
     where m.budget_id = b.id and m.minute > p_now - make_interval(secs => b.rolling_seconds);
    used := used + b.reserved;
    surplus_used := surplus_used + b.surplus_reserved;
    reset_at := coalesce(reset_at + make_interval(secs => b.rolling_seconds) + interval '1 minute', p_now);
    remaining := b.limit_amount - used;
    win := null;
  else
    level := least(b.limit_amount::double precision,
                   coalesce(b.bucket_level, b.limit_amount) + greatest(0, extract(epoch from (p_now - coalesce(b.bucket_at, p_now)))) * b.refill_per_second);
    used := b.limit_amount - floor(level)::bigint;
    surplus_used := 0;
    remaining := floor(level)::bigint;
    reset_at := case when b.refill_per_second > 0
                     then p_now + make_interval(secs => (b.limit_amount - level) / b.refill_per_second) else null end;
    win := null;
  end if;
end
$fn$;

-- Applies a signed change to one budget's state at p_now: 'reserve' moves into reserved (and,
-- for buckets, out of the level), 'spend' moves actual usage into the window. Calendar windows
-- roll over here; one UPDATE per budget.
create or replace function sluice_budget_apply(p_id uuid, p_now timestamptz, p_reserve bigint, p_reserve_surplus bigint,
  p_spend bigint, p_spend_surplus bigint)
returns void language plpgsql as $fn$
#variable_conflict use_column
declare
  b budget;
  u record;
  rolled boolean;
begin
  select * into b from budget x where x.id = p_id;
  if b.id is null then return; end if;
  u := sluice_budget_usage(b, p_now);
  rolled := b.window_kind = 'calendar' and (b.window_start is null or b.window_start < u.win);
  update budget x set
    spent = (case when rolled then 0 else x.spent end) + p_spend,
    surplus_spent = (case when rolled then 0 else x.surplus_spent end) + p_spend_surplus,
    alerts_fired = case when rolled then '{}' else x.alerts_fired end,
    window_start = case when b.window_kind = 'calendar' then greatest(coalesce(x.window_start, u.win), u.win) else x.window_start end,
    -- A bucket's level drops by what is reserved and gets back what was reserved but not used.
    bucket_level = case when b.window_kind = 'bucket'
                        then least(b.limit_amount::double precision, u.level - p_reserve - p_spend) else x.bucket_level end,
    bucket_at = case when b.window_kind = 'bucket' then p_now else x.bucket_at end,
    reserved = greatest(0, x.reserved + p_reserve),
    surplus_reserved = greatest(0, x.surplus_reserved + p_reserve_surplus)
  where x.id = p_id;
  if b.window_kind = 'rolling' and (p_spend <> 0 or p_spend_surplus <> 0) then
    insert into budget_minute as m (budget_id, minute, amount, surplus_amount)
    values (p_id, date_trunc('minute', p_now), p_spend, p_spend_surplus)
    on conflict (budget_id, minute) do update set amount = m.amount + excluded.amount, surplus_amount = m.surplus_amount + excluded.surplus_amount;
  end if;
end
$fn$;

-- Reserves for a batch of requests, decided one after another under one lock: element i asks for
-- p_amounts[i] on budget p_ids[i] for request p_requests[i] (a request's elements are adjacent).
-- Each request is all or nothing. Batching is how concurrent requests on one hot budget share one
-- round trip, one lock acquisition and one commit instead of queueing on the row one by one.
create or replace function sluice_reserve_many(p_requests text[], p_ids uuid[], p_amounts bigint[], p_now timestamptz, p_ttl_seconds integer)
returns table(request_id text, budget_id uuid, allowed boolean, remaining bigint, reset_at timestamptz, from_surplus bigint)
language plpgsql as $fn$
#variable_conflict use_column
declare
  n integer := coalesce(array_length(p_ids, 1), 0);
  bids uuid[];
  b budget;
  u record;
  k integer;
  kp integer;
  i integer;
  first integer := 1;
  last integer;
  need bigint;
  take bigint;
  all_ok boolean;
  -- state per distinct budget (index k into bids), read once per batch
  rem bigint[] := '{}';
  hard boolean[] := '{}';
  paused boolean[] := '{}';
  resets timestamptz[] := '{}';
  pool_of integer[] := '{}';
  surplus_limit bigint[] := '{}';
  surplus_used bigint[] := '{}';
  d_res bigint[] := '{}';
  d_sres bigint[] := '{}';
  -- outcome per element
  ok boolean[] := '{}';
  granted boolean[] := '{}';
  esur bigint[] := '{}';
  erem bigint[] := '{}';
  ereset timestamptz[] := '{}';
begin
  select coalesce(array_agg(x.id order by x.id), '{}') into bids from budget x
   where x.id = any(p_ids) or x.id in (select y.surplus_budget_id from budget y where y.id = any(p_ids));
  perform 1 from budget x where x.id = any(bids) order by x.id for update;
  -- One read of each budget's window for the whole batch; the decisions below are arithmetic.
  for b in select * from budget x where x.id = any(bids) loop
    k := array_position(bids, b.id);
    u := sluice_budget_usage(b, p_now);
    rem[k] := u.remaining;
    hard[k] := b.hard;
    paused[k] := b.paused;
    resets[k] := u.reset_at;
    surplus_used[k] := u.surplus_used;
    surplus_limit[k] := b.surplus_user_limit;
    pool_of[k] := case when b.surplus_budget_id is null then null else array_position(bids, b.surplus_budget_id) end;
    d_res[k] := 0;
    d_sres[k] := 0;
  end loop;

  while first <= n loop
    last := first;
    while last < n and p_requests[last + 1] = p_requests[first] loop last := last + 1; end loop;
    all_ok := true;
    for i in first..last loop
      k := array_position(bids, p_ids[i]);
      esur[i] := 0;
      if k is null then
        -- deleted meanwhile: nothing to hold
        ok[i] := true; erem[i] := null; ereset[i] := null;
        continue;
      end if;
      need := p_amounts[i];
      take := 0;
      if paused[k] then
        ok[i] := not hard[k];
      elsif rem[k] >= need or not hard[k] then
        ok[i] := true;
      elsif pool_of[k] is not null then
        -- Base allocation exhausted (or nearly): the rest from the shared pool, within the
        -- user's surplus allowance.
        kp := pool_of[k];
        take := need - greatest(rem[k], 0);
        ok[i] := not paused[kp] and rem[kp] >= take and (surplus_limit[k] is null or surplus_limit[k] - surplus_used[k] >= take);
        if not ok[i] then take := 0; end if;
      else
        ok[i] := false;
      end if;
      esur[i] := take;
      erem[i] := rem[k] - (need - take);
      ereset[i] := resets[k];
      all_ok := all_ok and ok[i];
    end loop;
    for i in first..last loop
      k := array_position(bids, p_ids[i]);
      granted[i] := all_ok and k is not null;
      continue when not granted[i];
      rem[k] := rem[k] - (p_amounts[i] - esur[i]);
      d_res[k] := d_res[k] + (p_amounts[i] - esur[i]);
      if esur[i] > 0 then
        kp := pool_of[k];
        d_sres[k] := d_sres[k] + esur[i];
        surplus_used[k] := surplus_used[k] + esur[i];
        rem[kp] := rem[kp] - esur[i];
        d_res[kp] := d_res[kp] + esur[i];
      end if;
    end loop;
    first := last + 1;
  end loop;

  -- One write per budget for the whole batch, and one insert for its reservations.
  for k in 1..coalesce(array_length(bids, 1), 0) loop
    continue when d_res[k] = 0 and d_sres[k] = 0;
    perform sluice_budget_apply(bids[k], p_now, d_res[k], d_sres[k], 0, 0);
  end loop;
  insert into budget_reservation (request_id, budget_id, amount, from_surplus, created_at, expires_at)
  select x.req, x.bid, x.amount, x.sur, p_now, p_now + make_interval(secs => p_ttl_seconds)
    from unnest(p_requests, p_ids, p_amounts, esur, granted) as x(req, bid, amount, sur, g)
   where x.g
  on conflict do nothing;

  for i in 1..n loop
    request_id := p_requests[i];
    budget_id := p_ids[i];
    allowed := ok[i];
    remaining := erem[i];
    reset_at := ereset[i];
    from_surplus := esur[i];
    return next;
  end loop;
end
$fn$;

-- One request's reservation (see sluice_reserve_many).
create or replace function sluice_reserve(p_ids uuid[], p_amounts bigint[], p_request text, p_now timestamptz, p_ttl_seconds integer)
returns table(budget_id uuid, allowed boolean, remaining bigint, reset_at timestamptz, from_surplus bigint)
language sql as $fn$
  select m.budget_id, m.allowed, m.remaining, m.reset_at, m.from_surplus
    from sluice_reserve_many(array_fill(p_request, array[coalesce(array_length(p_ids, 1), 0)]), p_ids, p_amounts, p_now, p_ttl_seconds) m
$fn$;

-- Settles a batch: for each (request, budget) the reservation is released and the actual amount
-- added to the window it lands in. Aggregated per budget first, so a batch of a thousand requests
-- on one budget is one UPDATE and the row lock is held for microseconds. A missing reservation
-- (released by the sweeper while a very long request still ran) still gets its actual amount
-- added: spend must match usage rows. Returns each touched budget's state after, for alerts.
create or replace function sluice_settle(p_requests text[], p_budgets uuid[], p_actuals bigint[], p_now timestamptz)
returns table(budget_id uuid, used bigint, limit_amount bigint)
language plpgsql as $fn$
#variable_conflict use_column
declare
  r record;
  b budget;
  u record;
  touched uuid[] := '{}';
begin
  perform 1 from budget x
   where x.id = any(p_budgets) or x.id in (select y.surplus_budget_id from budget y where y.id = any(p_budgets))
   order by x.id for update;
  for r in
    with j as (
      select t.req, t.bid, greatest(t.actual, 0) as actual, coalesce(res.amount, 0) as est, coalesce(res.from_surplus, 0) as surp
        from unnest(p_requests, p_budgets, p_actuals) as t(req, bid, actual)
        left join budget_reservation res on res.request_id = t.req and res.budget_id = t.bid
    ), k as (
      -- the surplus share of the actual amount is in proportion to what was reserved from it
      select bid, est, surp, actual,
             case when est > 0 then least(actual, round(actual::numeric * surp / est)::bigint) else 0 end as act_surplus
        from j
    )
    select k.bid, sum(k.est)::bigint as est, sum(k.surp)::bigint as surp, sum(k.act_surplus)::bigint as act_surplus,
           sum(k.actual - k.act_surplus)::bigint as act_base, bb.surplus_budget_id as pool
      from k join budget bb on bb.id = k.bid
     group by k.bid, bb.surplus_budget_id
     order by k.bid
  loop
    perform sluice_budget_apply(r.bid, p_now, -(r.est - r.surp), -r.surp, r.act_base, r.act_surplus);
    touched := touched || r.bid;
    if r.pool is not null and (r.surp > 0 or r.act_surplus > 0) then
      perform sluice_budget_apply(r.pool, p_now, -r.surp, 0, r.act_surplus, 0);
      touched := touched || r.pool;
    end if;
  end loop;
  delete from budget_reservation res
   using unnest(p_requests, p_budgets) as t(req, bid)
   where res.request_id = t.req and res.budget_id = t.bid;
  for b in select * from budget x where x.id = any(touched) loop
    u := sluice_budget_usage(b, p_now);
    budget_id := b.id;
    used := u.used;
    limit_amount := b.limit_amount;
    return next;
  end loop;
end
$fn$;
`);
  }
}
