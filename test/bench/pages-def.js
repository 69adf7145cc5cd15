'use strict';
// What pages.js measures, page by page: the URL for a range and role, and how to compute the same
// numbers from raw request_log rows.
//
// The raw side runs the pages' own repository (dist/src/usage/analytics.repository.js) with the
// same filters as the page service builds, in the same Promise.all groups, on a pool of the same
// size, but every rollup table in its SQL is replaced by request_log projected to the rollup's
// columns (bucket = the rollup's UTC bucket of created_at, one request per row), and its range
// condition is put on created_at so daily partitions are pruned as they would be for any query
// over raw rows. The number of active sessions, which the pages read from the session table, is
// computed from raw rows with the writer's grouping (client session id, else a 30-minute gap).
// So "raw" answers exactly what the page shows, straight from the requests.
//
// Keep the per-page call lists in step with src/usage/*-page.service.ts and my-dashboard.service.ts.
const path = require('node:path');
const { ROOT } = require('./children');

const NONE = '00000000-0000-0000-0000-000000000000';
const dist = (p) => require(path.join(ROOT, 'dist', 'src', ...p.split('/')));

/** Bench ranges: the page preset that matches each (pages offer different lists), and the zone. */
const RANGES = {
  '1d': { usage: '1d', people: '24h', dashboard: '24h', models: '24h', adoption: 'yesterday' },
  '1w': { usage: '1w', people: '7d', dashboard: '7d', models: '7d', adoption: '7d' },
  '30d': { usage: '30d', people: '30d', dashboard: '30d', models: '30d', adoption: '30d' },
  // Most viewers are not in UTC: their day buckets come from hour rollups (720 per 30 days).
  '30d@NY': { base: '30d', tz: 'America/New_York' },
  // A zone half an hour off UTC (India, and Adelaide, Newfoundland, Nepal): hours and days begin
  // inside UTC hours.
  '30d@IN': { base: '30d', tz: 'Asia/Kolkata' },
  '1d@IN': { base: '1d', tz: 'Asia/Kolkata' },
  // The last whole weekday before today (UTC), as a custom range: "1d" is the last 24 hours, which on
  // a Sunday or Monday morning hold a weekend day's requests, about a third of a weekday's.
  weekday: { usage: 'weekday', people: 'weekday', dashboard: 'weekday', models: 'weekday', adoption: 'weekday' },
};
const rangeSpec = (key) => {
  const r = RANGES[key];
  if (!r) throw new Error(`unknown bench range ${key} (known: ${Object.keys(RANGES).join(', ')})`);
  return r.base ? { ...RANGES[r.base], tz: r.tz } : { ...r, tz: 'UTC' };
};

/**
 * Query parameters of a page for a bench range. Adoption has no one-day preset: yesterday, a whole
 * local day, as a custom range (today so far would be minutes of requests shortly after midnight).
 * "weekday" is the last Monday to Friday before today, also a whole day.
 */
function rangeQuery(group, key) {
  const s = rangeSpec(key);
  const q = {};
  if (s[group] === 'yesterday' || s[group] === 'weekday') {
    const { addDays, localDate } = dist('usage/time-zone.js');
    let day = addDays(localDate(s.tz, Date.now()), -1);
    const weekend = (d) => [0, 6].includes(new Date(`${d}T00:00:00Z`).getUTCDay());
    if (s[group] === 'weekday') while (weekend(day)) day = addDays(day, -1);
    Object.assign(q, { range: 'custom', from: day, to: day });
  } else q.range = s[group];
  if (s.tz !== 'UTC') q.tz = s.tz;
  return q;
}
const resolve = (group, key) => {
  const q = rangeQuery(group, key);
  return dist('usage/analytics-range.js').resolveRange(group, q, rangeSpec(key).tz);
};

/**
 * Raw rows projected to every column any rollup table has (the full rollup's dimensions and
 * measures, the person-day hour bits), one request per row, with the rollup's UTC bucket for
 * granularity `g` (minute, hour, day, month). `created_at` stays for the range condition.
 */
const RAW = (g) => `(select created_at, date_trunc('${g}', created_at at time zone 'UTC') at time zone 'UTC' as bucket, org_id,
    coalesce(team_id, '${NONE}'::uuid) as team_id, coalesce(token_id, '${NONE}'::uuid) as token_id,
    coalesce(owner_user_id, '${NONE}'::uuid) as owner_user_id, coalesce(service_account_id, '${NONE}'::uuid) as service_account_id,
    coalesce(end_user, '') as end_user, coalesce(provider, '') as provider, coalesce(model, '') as model,
    case endpoint when 'embeddings' then 'embedding' when 'count_tokens' then 'other' else 'completion' end as endpoint_class,
    case when cancelled then 'cancelled' when status >= 500 then '5xx' when status >= 400 then '4xx' else '2xx' end as status_class,
    coalesce(tags, '{}') as tags,
    1::bigint as requests, (status >= 400)::int::bigint as failures, input_tokens::bigint as input_tokens, output_tokens::bigint as output_tokens,
    cached_input_tokens::bigint as cached_input_tokens, cache_write_tokens::bigint as cache_write_tokens, reasoning_tokens::bigint as reasoning_tokens,
    cost_micros, latency_ms as latency_ms_sum, coalesce(ttft_ms, 0) as ttft_ms_sum, (ttft_ms is not null)::int::bigint as ttft_count,
    1 << extract(hour from created_at at time zone 'UTC')::int as active_hours
   from request_log)`;

/** The tag list the pages offer, from raw rows (the app keeps it in usage_tag). */
const RAW_TAGS = `(select org_id, tag, created_at as last_day from request_log cross join lateral unnest(tags) tag)`;

/** The repository's SQL with raw rows in place of every rollup table. */
function rawify(sql) {
  let n = 0;
  const out = sql
    .replace(/\b(usage_[a-z_]+?)_(minute|hour|day|month)\s+(?!as\b)(\w+)/g, (_, t, g, a) => {
      n++;
      return `${RAW(g)} ${a}`;
    })
    .replace(/\bfrom usage_tag\b/g, () => {
      n++;
      return `from ${RAW_TAGS} usage_tag`;
    })
    .replace(/\b(\w+)\.bucket (>=|<) (\$\d+)::timestamptz/g, '$1.created_at $2 $3::timestamptz');
  if (/\busage_[a-z_]+_(minute|hour|day|month)\b/.test(out)) throw new Error(`a rollup table was not replaced: ${out.slice(0, 300)}`);
  return { sql: out, rollup: n > 0 };
}

/** A pg pool wrapper for the repository: rollup reads become raw reads; `stats` counts them. */
function rawPool(pool) {
  const stats = { queries: 0, rawQueries: 0 };
  return {
    stats,
    query(sql, params) {
      const r = rawify(sql);
      stats.queries++;
      if (r.rollup) stats.rawQueries++;
      if (/\bfrom session s\b/.test(sql)) throw new Error('activeSessions must go through rawSessions');
      return pool.query(r.sql, params);
    },
  };
}

/** Active sessions in the filter's range from raw rows: explicit ids per caller, else 30-minute gaps per caller and client. */
async function rawSessions(pool, f) {
  const params = [f.from, f.to];
  const p = (v) => (params.push(v), `$${params.length}`);
  const parts = ['created_at >= $1', 'created_at < $2'];
  if (f.orgIds) parts.push(`org_id = any(${p(f.orgIds)}::uuid[])`);
  if (f.person) {
    const email = `lower(end_user) = ${p(f.person.email.toLowerCase())}`;
    parts.push(f.person.userId ? `(owner_user_id = ${p(f.person.userId)}::uuid or ${email})` : email);
  }
  const ck = `coalesce(token_id::text, case when service_account_id is not null then 'sa:' || service_account_id::text else 'org:' || org_id::text end) || '|' || coalesce(end_user, '')`;
  const r = await pool.query(
    `with r as (select ${ck} as ck, org_id, coalesce(client, '') as cl, session_id, created_at from request_log where ${parts.join(' and ')})
     select (select count(*) from (select distinct org_id, ck, session_id from r where session_id is not null) e)
          + (select count(*) from (select case when created_at - lag(created_at) over (partition by ck, cl order by created_at) <= interval '30 minutes' then 0 else 1 end as brk
                                     from r where session_id is null) g where brk = 1) as n`,
    params,
  );
  return Number(r.rows[0].n);
}

/**
 * The page services' reads, per page, as functions of (repo, ctx) where ctx = { range, filter,
 * scope, sessions(f) }. Each returns the promises the service awaits together, in order.
 */
const READS = {
  async usage(repo, c) {
    const level = c.scope.orgIds ? 'token' : 'org';
    // Both charts come with the page (data-spec): every read once, in parallel.
    await Promise.all([repo.totals(c.filter), repo.top(c.filter, level, { sort: 'requests', dir: 'desc', limit: 25, offset: 0 }), repo.models(c.filter), repo.series(c.filter, c.range)]);
  },
  people: (repo, c) => peopleReads(repo, c, 'user'),
  peopleTeams: (repo, c) => peopleReads(repo, c, 'team'),
  async adoption(repo, c) {
    const opts = { sort: 'total', dir: 'desc', limit: 25, offset: 0, unitForDays: { tz: c.range.tz, identity: c.range.identity }, bins: true };
    // Unsearched, the table's total is the number of active people (no activeUsers read).
    // The histogram (from the bins) and model charts come with the page.
    const [, , top] = await Promise.all([repo.totals(c.filter, false), repo.memberCount(c.scope.orgIds), repo.people(c.filter, 'user', opts), repo.models(c.filter)]);
    // Within one local day everyone listed was active on one day (no read).
    if (c.range.fromDate !== c.range.toDate) await repo.activeDaysOf(c.filter, c.range, top.rows.map((r) => r.key));
    await repo.activeUsersSeries(c.filter, c.range); // active.json
  },
  async models(repo, c) {
    await repo.models(c.filter);
  },
  async dashboard(repo, c) {
    // Both charts come with the page (data-spec): every read once, in parallel.
    await Promise.all([repo.totals(c.filter, false), c.sessions(c.filter), repo.models(c.filter), repo.recentActivity(c.filter, 20), repo.series(c.filter, c.range, 'model')]);
  },
};

/** The people page in either view (people-page.service.ts page, decorate and activityChart). */
async function peopleReads(repo, c, view) {
  const opts = { sort: 'requests', dir: 'desc', limit: 25, offset: 0, unitForDays: { tz: c.range.tz, identity: c.range.identity } };
  // Unsearched, the user view counts its active people with the table's own total (no activeUsers read).
  const [, , table] = await Promise.all([
    repo.totals(c.filter, false),
    view === 'user' ? null : repo.activeUsers(c.filter),
    repo.people(c.filter, view, opts),
    repo.axis(c.range),
    repo.tokens(c.scope.orgIds, c.scope.person ? c.scope.person.userId ?? NONE : null),
    repo.teams(c.scope.orgIds),
    repo.tags(c.scope.orgIds, c.scope.person),
  ]);
  const keys = table.rows.map((r) => r.key);
  await Promise.all([repo.modelsOf(c.filter, view, keys), repo.trendOf(c.filter, c.range, view, keys)]);
  // activity.json
  if (view === 'user') await repo.activeUsersSeries(c.filter, c.range);
  else await Promise.all([repo.series(c.filter, c.range, 'team'), repo.teams(c.scope.orgIds)]);
}

/** Scope of a role on the usage-style pages (AnalyticsScopes.resolve with org=all). */
function scopeOf(role, ctx) {
  const p = ctx.people[role];
  if (role === 'globalAdmin') return { orgIds: null, person: null };
  if (role === 'orgAdmin') return { orgIds: [p.orgId], person: null };
  return { orgIds: [p.orgId], person: { userId: p.id, email: p.email.toLowerCase() } };
}
/** Whose dashboard and over which organizations (AnalyticsScopes.subject). */
function subjectOf(role, ctx, other) {
  const viewer = ctx.people[role];
  const s = other ? ctx.people.member : viewer;
  const orgIds = role === 'globalAdmin' ? null : [s.orgId];
  return { orgIds, person: { userId: s.id, email: s.email } };
}

const qs = (o) => new URLSearchParams(o).toString();
const raw = (group, read, scopeFn) => async (rangeKey, role, ctx, pool) => {
  const { AnalyticsRepository } = dist('usage/analytics.repository.js');
  const wrapped = rawPool(pool);
  const repo = new AnalyticsRepository(wrapped);
  const range = resolve(group, rangeKey);
  const scope = scopeFn(role, ctx);
  // rawRows: the reads raw rows can stand in for (partial days from their own rows, people from person rollups).
  const filter = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: scope.orgIds, person: scope.person, rawRows: true };
  await READS[read](repo, { range, filter, scope, sessions: (f) => rawSessions(pool, f) });
  return wrapped.stats;
};

const PAGES = [
  { name: 'dashboard', group: 'dashboard', roles: ['orgAdmin', 'member'], url: (r) => `/ui?${qs(rangeQuery('dashboard', r))}`, raw: raw('dashboard', 'dashboard', (role, ctx) => subjectOf(role, ctx, false)) },
  {
    name: 'dashboard/:email',
    group: 'dashboard',
    roles: ['globalAdmin', 'orgAdmin'],
    url: (r, ctx) => `/ui/dashboard/${encodeURIComponent(ctx.people.member.email)}?${qs(rangeQuery('dashboard', r))}`,
    raw: raw('dashboard', 'dashboard', (role, ctx) => subjectOf(role, ctx, true)),
  },
  { name: 'usage', group: 'usage', roles: ['globalAdmin', 'orgAdmin', 'member'], url: (r) => `/ui/usage?${qs(rangeQuery('usage', r))}`, raw: raw('usage', 'usage', scopeOf) },
  { name: 'usage/people', group: 'people', roles: ['globalAdmin', 'orgAdmin', 'member'], url: (r) => `/ui/usage/people?${qs(rangeQuery('people', r))}`, raw: raw('people', 'people', scopeOf) },
  { name: 'people/team', group: 'people', roles: ['globalAdmin', 'orgAdmin'], url: (r) => `/ui/usage/people?${qs({ view: 'team', ...rangeQuery('people', r) })}`, raw: raw('people', 'peopleTeams', scopeOf) },
  { name: 'adoption', group: 'adoption', roles: ['globalAdmin', 'orgAdmin'], url: (r) => `/ui/adoption?${qs(rangeQuery('adoption', r))}`, raw: raw('adoption', 'adoption', scopeOf) },
  { name: 'models', group: 'models', roles: ['globalAdmin', 'orgAdmin', 'member'], url: (r) => `/ui/models?${qs(rangeQuery('models', r))}`, raw: raw('models', 'models', scopeOf) },
];

/**
 * Live mode as public/js/analytics.js does it while the tab is visible: every data-live-interval
 * ms (default 5 s) ask data-live-src whether usage was written for what the page shows; when the
 * version grew, fetch the page again as an htmx partial, then app.js fetches the partial's chart
 * JSON (new chart elements are drawn after the swap). The viewers open these pages (1d ranges,
 * which is what people leave open), spread over the roles.
 */
const LIVE = {
  describe: 'poll /ui/live every data-live-interval (5 s); when it changed, reload the body partial and its charts',
  viewers: (ctx, k) => {
    const open = [
      { page: 'usage', role: 'globalAdmin', url: `/ui/usage?${qs(rangeQuery('usage', '1d'))}` },
      { page: 'usage', role: 'orgAdmin', url: `/ui/usage?${qs(rangeQuery('usage', '1d'))}` },
      { page: 'dashboard', role: 'member', url: `/ui?${qs(rangeQuery('dashboard', '1d'))}` },
      { page: 'usage/people', role: 'orgAdmin', url: `/ui/usage/people?${qs(rangeQuery('people', '1d'))}` },
      { page: 'usage', role: 'member', url: `/ui/usage?${qs(rangeQuery('usage', '1d'))}` },
    ];
    return Array.from({ length: k }, (_, i) => open[i % open.length]);
  },
};

/**
 * Where two read results differ: integers exactly, other numbers (latency averages are float sums
 * added in another order) to 1e-9 relative. Null when equal.
 */
function firstDifference(a, b, at = '') {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isInteger(a) && Number.isInteger(b)) return a === b ? null : `${at}: ${a} on rollups, ${b} on raw rows`;
    return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)) ? null : `${at}: ${a} on rollups, ${b} on raw rows`;
  }
  if (a instanceof Date || b instanceof Date) {
    const x = a instanceof Date ? a.toISOString() : a;
    const y = b instanceof Date ? b.toISOString() : b;
    return x === y ? null : `${at}: ${x} on rollups, ${y} on raw rows`;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], `${at}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${at}: ${JSON.stringify(a)} on rollups, ${JSON.stringify(b)} on raw rows`;
}

/**
 * Checks the raw side against the rollups: the same repository reads, once on the rollups and
 * once on raw rows, for a few scopes and ranges, must give the same numbers. Returns mismatches.
 */
async function checkRaw(pool, ctx) {
  const { AnalyticsRepository } = dist('usage/analytics.repository.js');
  const onRollups = new AnalyticsRepository(pool);
  const onRaw = new AnalyticsRepository(rawPool(pool));
  const bad = [];
  for (const [role, key] of [['globalAdmin', '1d'], ['orgAdmin', '30d@NY'], ['globalAdmin', '30d'], ['member', '1w'], ['orgAdmin', '30d@IN'], ['globalAdmin', '1d@IN']]) {
    const range = resolve('people', key);
    const scope = scopeOf(role, ctx);
    const f = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: scope.orgIds, person: scope.person };
    // The raw side reads what raw rows can stand in for (see `raw` above); the answers must agree.
    const reads = {
      totals: (r, ff) => r.totals(ff),
      models: (r, ff) => r.models(ff),
      top: (r, ff) => r.top(ff, scope.orgIds ? 'token' : 'org', { sort: 'requests', dir: 'desc', limit: 25, offset: 0 }),
      activeUsers: (r, ff) => r.activeUsers(ff),
      people: (r, ff) => r.people(ff, 'user', { sort: 'requests', dir: 'desc', limit: 25, offset: 0, unitForDays: { tz: range.tz, identity: range.identity } }),
      series: (r, ff) => r.series(ff, range),
      teamSeries: (r, ff) => r.series(ff, range, 'team'),
      modelSeries: (r, ff) => r.series(ff, range, 'model'),
      activeUsersSeries: (r, ff) => r.activeUsersSeries(ff, range),
    };
    for (const [name, read] of Object.entries(reads)) {
      const a = await read(onRollups, f);
      const b = await read(onRaw, { ...f, rawRows: true });
      const diff = firstDifference(a, b);
      if (diff) bad.push(`${name} ${key} as ${role}: ${diff}`);
    }
  }
  return bad;
}

module.exports = { PAGES, LIVE, RANGES, resolve, rawify, checkRaw };
