'use strict';
// The analytics bench database: ten million request_log rows over ~35 days with the organizations,
// teams, users, service accounts and tokens they belong to (real rows the pages join to), plus the
// usage rollups built by the app's own rebuild code (dist/src/usage/rollups.js).
//
// Seeding is set-based SQL (insert … select … from generate_series), one UTC day partition per
// statement, two days at a time on two connections. The database is kept between runs: a marker
// table (bench.seed) records what was seeded with which parameters; a later run reuses it, only
// topping up the hours since the last run (and dropping days that fell out of the window) so "last
// day" ranges stay full. BENCH_RESEED=1 (or --reseed) starts over.
//
// Standalone: `node test/bench/seed-usage.js [--reseed]` seeds (or checks) and exits.
//
// Parameters (env): BENCH_ROWS (10000000), BENCH_DAYS (35). Everything else is fixed below so the
// data has the same shape on every machine.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const pg = require('pg');
const { ROOT, runNode } = require('./children');

const envNum = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' && Number.isFinite(Number(process.env[k])) ? Number(process.env[k]) : d);

/** Bump when the generator changes shape, so old seeded databases are rebuilt. */
const GENERATOR_VERSION = 4;
const DAY_MS = 86_400_000;

const PARAMS = {
  generator: GENERATOR_VERSION,
  rows: envNum('BENCH_ROWS', 10_000_000),
  days: envNum('BENCH_DAYS', 35),
  orgs: 5,
  teams: 50,
  users: 1500,
  serviceAccounts: 100,
  tokens: 2000,
  endUsers: 5000,
};

// Organizations by share of people (and so of tokens and traffic).
const ORGS = [
  { slug: 'acme', name: 'Acme Corp', weight: 0.38 },
  { slug: 'globex', name: 'Globex', weight: 0.24 },
  { slug: 'initech', name: 'Initech', weight: 0.17 },
  { slug: 'umbrella', name: 'Umbrella Research', weight: 0.12 },
  { slug: 'hooli', name: 'Hooli', weight: 0.09 },
];
const TEAM_NAMES = ['platform', 'data', 'ml', 'search', 'mobile', 'web', 'infra', 'security', 'support', 'growth', 'payments', 'design', 'research', 'sre', 'devex'];
const FIRST = ['ada', 'alan', 'grace', 'linus', 'margaret', 'ken', 'barbara', 'donald', 'frances', 'edsger', 'radia', 'john', 'shafi', 'leslie', 'niklaus', 'hedy', 'dennis', 'sophie', 'tim', 'karen'];
const LAST = ['lovelace', 'turing', 'hopper', 'torvalds', 'hamilton', 'thompson', 'liskov', 'knuth', 'allen', 'dijkstra', 'perlman', 'mccarthy', 'goldwasser', 'lamport', 'wirth', 'lamarr', 'ritchie', 'wilson', 'berners', 'jones'];

/**
 * Models as configured (provider, name, kind, $ per million tokens). The last one is configured but
 * never used, so "models with zero requests" has a row. 15 are used.
 */
const MODELS = [
  { provider: 'openai', name: 'gpt-4.1', kind: 'chat', input: 2, output: 8, cached_input: 0.5 },
  { provider: 'openai', name: 'gpt-4.1-mini', kind: 'chat', input: 0.4, output: 1.6, cached_input: 0.1 },
  { provider: 'openai', name: 'gpt-4.1-nano', kind: 'chat', input: 0.1, output: 0.4, cached_input: 0.025 },
  { provider: 'openai', name: 'gpt-4o', kind: 'chat', input: 2.5, output: 10, cached_input: 1.25 },
  { provider: 'openai', name: 'o3', kind: 'reasoning', input: 2, output: 8, cached_input: 0.5 },
  { provider: 'openai', name: 'o4-mini', kind: 'reasoning', input: 1.1, output: 4.4, cached_input: 0.275 },
  { provider: 'openai', name: 'text-embedding-3-small', kind: 'embedding', input: 0.02, output: 0 },
  { provider: 'openai', name: 'text-embedding-3-large', kind: 'embedding', input: 0.13, output: 0 },
  { provider: 'anthropic', name: 'claude-sonnet-4-5', kind: 'chat', input: 3, output: 15, cached_input: 0.3, cache_write: 3.75 },
  { provider: 'anthropic', name: 'claude-opus-4-1', kind: 'chat', input: 15, output: 75, cached_input: 1.5, cache_write: 18.75 },
  { provider: 'anthropic', name: 'claude-haiku-4-5', kind: 'chat', input: 1, output: 5, cached_input: 0.1, cache_write: 1.25 },
  { provider: 'google', name: 'gemini-2.5-pro', kind: 'chat', input: 1.25, output: 10, cached_input: 0.31 },
  { provider: 'google', name: 'gemini-2.5-flash', kind: 'chat', input: 0.3, output: 2.5, cached_input: 0.075 },
  { provider: 'mistral', name: 'mistral-large', kind: 'chat', input: 2, output: 6 },
  { provider: 'mistral', name: 'mistral-embed', kind: 'embedding', input: 0.1, output: 0 },
  { provider: 'google', name: 'gemini-2.5-flash-lite', kind: 'chat', input: 0.1, output: 0.4, unused: true },
];
const PROVIDER_COMPAT = {
  openai: { openai_chat: true, openai_responses: true, openai_embeddings: true },
  anthropic: { anthropic_messages: true, openai_chat: true },
  google: { openai_chat: true },
  mistral: { openai_chat: true, openai_embeddings: true },
};
/** The model the live-mode throughput phase sends its proxied requests to. */
const LIVE_MODEL = 'gpt-4.1-mini';

// ----- deterministic generation -----
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** A stable uuid for a seeded entity, so reseeding produces the same ids. */
function uuidFor(kind, i) {
  const h = crypto.createHash('sha256').update(`sluice-bench:${kind}:${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16], 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const pickWeighted = (rnd, items, w = (x) => x.weight) => {
  const total = items.reduce((s, x) => s + w(x), 0);
  let r = rnd() * total;
  for (const x of items) if ((r -= w(x)) < 0) return x;
  return items[items.length - 1];
};

/** Spreads n over weights with largest remainders (each at least `min`). */
function apportion(n, weights, min = 0) {
  const total = weights.reduce((a, b) => a + b, 0);
  const raw = weights.map((w) => min + ((n - min * weights.length) * w) / total);
  const out = raw.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  const order = raw.map((v, i) => [v - Math.floor(v), i]).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k++, left--) out[order[k % order.length][1]]++;
  return out;
}

/** Organizations, teams, people, service accounts and tokens, with their traffic profile. */
function buildEntities(p = PARAMS) {
  const rnd = prng(20261208);
  const created = new Date(Date.now() - (p.days + 30) * DAY_MS);
  const orgs = ORGS.slice(0, p.orgs).map((o, i) => ({ ...o, id: uuidFor('org', i) }));
  const teamCounts = apportion(p.teams, orgs.map((o) => o.weight), 2);
  const teams = [];
  orgs.forEach((o, oi) => {
    for (let k = 0; k < teamCounts[oi]; k++) {
      const base = TEAM_NAMES[k % TEAM_NAMES.length];
      const slug = k < TEAM_NAMES.length ? base : `${base}-${Math.floor(k / TEAM_NAMES.length) + 1}`;
      teams.push({ id: uuidFor('team', teams.length), org: o, slug, name: slug.replace(/(^|-)(\w)/g, (_, s, c) => (s ? ' ' : '') + c.toUpperCase()), weight: 0.3 + rnd() });
    }
  });
  const userCounts = apportion(p.users, orgs.map((o) => o.weight));
  const users = [];
  orgs.forEach((o, oi) => {
    const ts = teams.filter((t) => t.org === o);
    for (let k = 0; k < userCounts[oi]; k++) {
      const i = users.length;
      const first = FIRST[i % FIRST.length];
      const last = LAST[Math.floor(i / FIRST.length) % LAST.length];
      users.push({
        id: uuidFor('user', i),
        org: o,
        team: pickWeighted(rnd, ts),
        // The same formula is in daySql (end users of the shared Open WebUI tokens).
        email: `${first}.${last}.${i}@${o.slug}.example`,
        name: `${first[0].toUpperCase()}${first.slice(1)} ${last[0].toUpperCase()}${last.slice(1)} ${i}`,
        role: 'member',
      });
    }
  });
  const sas = [];
  for (let k = 0; k < p.serviceAccounts; k++) {
    const team = teams[k % teams.length];
    sas.push({ id: uuidFor('sa', k), org: team.org, team, name: `svc-${team.slug}-${Math.floor(k / teams.length) + 1}` });
  }
  const chatIdx = MODELS.map((m, i) => (m.kind !== 'embedding' && !m.unused ? i : -1)).filter((i) => i >= 0);
  const byName = (n) => MODELS.findIndex((m) => m.name === n);
  const embIdx = [byName('text-embedding-3-small'), byName('text-embedding-3-large'), byName('mistral-embed')];
  const anth = ['claude-sonnet-4-5', 'claude-opus-4-1', 'claude-haiku-4-5'].map(byName);
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const saTokens = Math.round(p.tokens * 0.2);
  const tokens = [];
  // Service-account tokens: applications, most with their own end users.
  // The first two per organization are a shared Open WebUI that forwards each person's email as the
  // end user, so people's usage also arrives through tokens they do not own.
  const openWebUi = new Set(orgs.flatMap((o) => sas.filter((s) => s.org === o).slice(0, 2)));
  for (let k = 0; k < saTokens; k++) {
    const sa = sas[k % sas.length];
    if (k < sas.length && openWebUi.has(sa)) {
      tokens.push({ kind: 'sa', org: sa.org, team: sa.team, sa, client: 'open-webui', m1: pick(chatIdx), m2: pick(chatIdx), emb: pick(embIdx), embP: 0.01, streamP: 0.95, euKind: 'email' });
      continue;
    }
    const client = pickWeighted(rnd, [{ v: 'python-requests/2.32', weight: 5 }, { v: 'openai-node/5.1', weight: 3 }, { v: null, weight: 2 }]).v;
    tokens.push({ kind: 'sa', org: sa.org, team: sa.team, sa, client, m1: pick(chatIdx), m2: pick(chatIdx), emb: pick(embIdx), embP: rnd() < 0.3 ? 0.6 : 0.02, streamP: 0.3, euKind: rnd() < 0.8 ? 'app' : null });
  }
  // Personal tokens: one per person, a second for the first few.
  for (let k = 0; tokens.length < p.tokens; k++) {
    const u = users[k % users.length];
    const client = pickWeighted(rnd, [{ v: 'claude-code/2.1.90', weight: 35 }, { v: 'open-webui', weight: 15 }, { v: 'openai-python/1.99', weight: 20 }, { v: 'anthropic-js/0.60', weight: 10 }, { v: 'cursor/1.4', weight: 10 }, { v: null, weight: 10 }]).v;
    const cc = client && client.startsWith('claude-code');
    tokens.push({ kind: 'user', org: u.org, team: u.team, user: u, client, m1: cc ? pick(anth) : pick(chatIdx), m2: cc ? pick(anth) : pick(chatIdx), emb: pick(embIdx), embP: 0.02, streamP: cc || client === 'open-webui' ? 0.95 : 0.3, euKind: null });
  }
  tokens.forEach((t, i) => {
    t.id = uuidFor('token', i);
    t.name = t.kind === 'sa' ? `${t.sa.name}-key-${i}` : `${t.user.email.split('@')[0]}-${i}`;
    t.tags = rnd() < 0.3 ? [`env:${rnd() < 0.7 ? 'prod' : 'dev'}`, `project:p${1 + Math.floor(rnd() * 12)}`] : null;
  });
  // Popularity: a random permutation; requests pick rank r with probability ~ u^2.5 (a heavy head).
  const order = tokens.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  order.forEach((ti, rank) => (tokens[ti].rank = rank));
  // End users belong to applications (service-account tokens), skewed towards the popular ones.
  const apps = tokens.filter((t) => t.euKind === 'app').sort((a, b) => a.rank - b.rank);
  const euCounts = apportion(p.endUsers, apps.map((_, i) => 1 / (1 + i * 0.05)), 1);
  for (const t of tokens.filter((x) => x.euKind === 'email')) {
    t.euBase = users.findIndex((u) => u.org === t.org);
    t.euCount = users.filter((u) => u.org === t.org).length;
  }
  let base = 0;
  apps.forEach((t, i) => {
    t.euBase = base;
    t.euCount = euCounts[i];
    base += euCounts[i];
  });
  // Who signs in: in the largest organization, the owner of its busiest personal token is a plain
  // member and an org admin looks at all of it; two admins per org. (Roles are applied on every
  // run by applyRoles, so changing this needs no reseed.)
  const member = tokens.filter((t) => t.kind === 'user' && t.org === orgs[0]).sort((a, b) => a.rank - b.rank)[0].user;
  for (const o of orgs) users.filter((u) => u.org === o && u !== member).slice(0, 2).forEach((u) => (u.role = 'admin'));
  const orgAdmin = users.find((u) => u.org === member.org && u.role === 'admin');
  const globalAdmin = { id: uuidFor('user', 'global-admin'), email: 'bench-admin@sluice.bench', name: 'Bench Admin' };
  return { created, orgs, teams, users, sas, tokens, member, orgAdmin, globalAdmin, chatIdx };
}

/** The gateway config document for the seeded database (all providers point at `upstreamUrl`). */
function gatewayConfig(upstreamUrl) {
  const providers = {};
  const pricing = {};
  for (const m of MODELS) {
    providers[m.provider] ||= { baseurl: upstreamUrl, apikey: 'sk-fake-upstream-key', models: [], compatibility: PROVIDER_COMPAT[m.provider] };
    providers[m.provider].models.push(m.name);
    pricing[`${m.provider}/${m.name}`] = { input: m.input, output: m.output, ...(m.cached_input !== undefined ? { cached_input: m.cached_input } : {}), ...(m.cache_write !== undefined ? { cache_write: m.cache_write } : {}) };
  }
  return { providers, pricing, grants: [{ src: ['*'], models: ['**'] }] };
}

// ----- the database -----
const DB_NAME = process.env.BENCH_PAGES_DB || 'sluice_pages_bench';

/**
 * The PostgreSQL server the bench uses: BENCH_DATABASE_URL (a server URL; the bench creates its own
 * database there), else 127.0.0.1:5432, else (or with BENCH_EMBEDDED=1) the embedded PostgreSQL the
 * app falls back to, with its cluster kept under BENCH_PG_DATA (default ~/.cache/sluice-bench) so
 * the seeded data survives.
 */
async function openServer(log) {
  const candidates = process.env.BENCH_EMBEDDED === '1' ? [] : process.env.BENCH_DATABASE_URL ? [process.env.BENCH_DATABASE_URL] : ['postgres://postgres@127.0.0.1:5432/postgres'];
  for (const url of candidates) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.end();
      return { adminUrl: url, stop: async () => undefined, kind: process.env.BENCH_DATABASE_URL ? 'BENCH_DATABASE_URL' : 'local PostgreSQL' };
    } catch (e) {
      await c.end().catch(() => undefined);
      if (process.env.BENCH_DATABASE_URL) throw new Error(`BENCH_DATABASE_URL unreachable: ${e.message}`);
      log(`no PostgreSQL on 127.0.0.1:5432 (${e.code || e.message}); starting the embedded one`);
    }
  }
  const { startEmbeddedPostgres } = require(path.join(ROOT, 'dist', 'src', 'db', 'embedded-postgres.js'));
  const dir = process.env.BENCH_PG_DATA || path.join(os.homedir(), '.cache', 'sluice-bench');
  const emb = await startEmbeddedPostgres(dir, envNum('BENCH_PG_PORT', 54339), log);
  const u = new URL(emb.url);
  u.pathname = '/postgres';
  return { adminUrl: u.toString(), stop: () => emb.stop(), kind: `embedded PostgreSQL in ${dir}` };
}

function dbUrlOn(adminUrl, name = DB_NAME) {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withClient(url, fn) {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const sqlLit = (v) => (v === null || v === undefined ? 'null' : `'${String(v).replace(/'/g, "''")}'`);
const sqlArr = (a) => (a ? `array[${a.map(sqlLit).join(',')}]::text[]` : 'null::text[]');
const hashOf = (v) => crypto.createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

async function insertEntities(c, E) {
  const ins = async (table, cols, rows) => {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await c.query(`insert into ${table} (${cols.join(', ')}) values ${chunk.map((r) => `(${r.join(', ')})`).join(',\n')}`);
    }
  };
  const ts = sqlLit(E.created.toISOString());
  await ins('organization', ['id', 'slug', 'name', 'created_at', 'updated_at'], E.orgs.map((o) => [sqlLit(o.id), sqlLit(o.slug), sqlLit(o.name), ts, ts]));
  await ins('team', ['id', 'org_id', 'slug', 'name', 'created_at', 'updated_at'], E.teams.map((t) => [sqlLit(t.id), sqlLit(t.org.id), sqlLit(t.slug), sqlLit(t.name), ts, ts]));
  await ins('app_user', ['id', 'email', 'display_name', 'is_global_admin', 'created_at', 'updated_at'], [
    ...E.users.map((u) => [sqlLit(u.id), sqlLit(u.email), sqlLit(u.name), 'false', ts, ts]),
    [sqlLit(E.globalAdmin.id), sqlLit(E.globalAdmin.email), sqlLit(E.globalAdmin.name), 'true', ts, ts],
  ]);
  await ins('membership', ['id', 'user_id', 'org_id', 'role', 'created_at', 'updated_at'], E.users.map((u, i) => [sqlLit(uuidFor('membership', i)), sqlLit(u.id), sqlLit(u.org.id), sqlLit(u.role), ts, ts]));
  await ins('team_member', ['id', 'team_id', 'user_id', 'created_at', 'updated_at'], E.users.map((u, i) => [sqlLit(uuidFor('team_member', i)), sqlLit(u.team.id), sqlLit(u.id), ts, ts]));
  await ins('service_account', ['id', 'org_id', 'team_id', 'name', 'description', 'created_at', 'updated_at'], E.sas.map((s) => [sqlLit(s.id), sqlLit(s.org.id), sqlLit(s.team.id), sqlLit(s.name), sqlLit('bench application'), ts, ts]));
  // Secrets are never used (requests are seeded, not proxied): random hashes, nothing to leak.
  await ins('api_token', ['id', 'org_id', 'name', 'token_hash', 'display_prefix', 'owner_user_id', 'service_account_id', 'team_id', 'created_at', 'updated_at'], E.tokens.map((t) => [
    sqlLit(t.id), sqlLit(t.org.id), sqlLit(t.name), sqlLit(crypto.randomBytes(32).toString('hex')), sqlLit(`sk-sluice-${crypto.randomBytes(2).toString('hex')}`),
    sqlLit(t.kind === 'user' ? t.user.id : null), sqlLit(t.kind === 'sa' ? t.sa.id : null), sqlLit(t.team.id), ts, ts,
  ]));
  // The generator's lookup tables (outside the app's schema).
  await c.query(`drop table if exists bench.token_pick, bench.model`);
  await c.query(`create table bench.model (idx int primary key, provider text, name text, kind text, p_in float8, p_out float8, p_cached float8, p_write float8)`);
  await ins('bench.model', ['idx', 'provider', 'name', 'kind', 'p_in', 'p_out', 'p_cached', 'p_write'], MODELS.map((m, i) => [i, sqlLit(m.provider), sqlLit(m.name), sqlLit(m.kind), m.input, m.output, m.cached_input ?? m.input, m.cache_write ?? m.input]));
  await c.query(`create table bench.token_pick (rank int primary key, token_id uuid, org_id uuid, team_id uuid, owner_user_id uuid, sa_id uuid, owner_email text,
    client text, tags text[], m1 int, m2 int, emb int, emb_p float8, stream_p float8, eu_kind text, eu_base int, eu_count int, org_slug text)`);
  await ins('bench.token_pick', ['rank', 'token_id', 'org_id', 'team_id', 'owner_user_id', 'sa_id', 'owner_email', 'client', 'tags', 'm1', 'm2', 'emb', 'emb_p', 'stream_p', 'eu_kind', 'eu_base', 'eu_count', 'org_slug'], E.tokens.map((t) => [
    t.rank, sqlLit(t.id), sqlLit(t.org.id), sqlLit(t.team.id), sqlLit(t.kind === 'user' ? t.user.id : null), sqlLit(t.kind === 'sa' ? t.sa.id : null), sqlLit(t.kind === 'user' ? t.user.email : null),
    sqlLit(t.client), sqlArr(t.tags), t.m1, t.m2, t.emb, t.embP, t.streamP, sqlLit(t.euKind), t.euBase ?? 0, t.euCount ?? 0, sqlLit(t.org.slug),
  ]));
  await c.query('analyze bench.model; analyze bench.token_pick');
}

/** Org roles as buildEntities decides them (cheap, idempotent: lets the choice change without a reseed). */
async function applyRoles(c, E) {
  const admins = E.users.filter((u) => u.role === 'admin').map((u) => u.id);
  await c.query(`update membership set role = case when user_id = any($1::uuid[]) then 'admin' else 'member' end
                  where user_id = any($2::uuid[]) and role <> case when user_id = any($1::uuid[]) then 'admin' else 'member' end`, [admins, E.users.map((u) => u.id)]);
}

/** Rows for [from, to) in one day partition: a weekday/weekend level and a daytime peak (UTC 14:00). */
function daySql(part, from, to, n, ntok, chatIdx) {
  const full = to - from === DAY_MS;
  const frac = full ? `case when r_time < 0.8 then ((r_a + r_b + r_c) / 3 + 2.0 / 24) - floor((r_a + r_b + r_c) / 3 + 2.0 / 24) else r_a end` : 'r_a';
  return `
insert into ${part} (id, created_at, request_id, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, session_id, client, tags,
  provider, model, endpoint, stream, status, error_type, cancelled, latency_ms, ttft_ms, input_tokens, output_tokens, cached_input_tokens,
  cache_write_tokens, reasoning_tokens, cost_micros, usage_estimated)
select gen_random_uuid(), ts, 'req_' || substr(md5(r_a::text || r_eu::text), 1, 24), org_id, team_id, token_id, owner_user_id, sa_id,
       case when eu_kind = 'app' then 'eu-' || lpad(eu_i::text, 5, '0')
            when eu_kind = 'email' then (array[${FIRST.map(sqlLit).join(',')}])[eu_i % ${FIRST.length} + 1] || '.'
                 || (array[${LAST.map(sqlLit).join(',')}])[(eu_i / ${FIRST.length}) % ${LAST.length} + 1] || '.' || eu_i || '@' || org_slug || '.example'
            when client = 'open-webui' then owner_email end,
       case when client like 'claude-code%' then 'cc-' || rank || '-' || floor(extract(epoch from ts) / 10800)::bigint end,
       client, tags, provider, name, endpoint, stream, status,
       case when status = 429 then 'rate_limited' when status = 400 then 'invalid_request' when status = 401 then 'unauthorized' when status >= 500 then 'upstream_error' end,
       cancelled,
       case when status >= 400 then 20 + 180 * r_lat
            when kind = 'embedding' then 40 + in_tok * 0.02 + 60 * r_lat
            else 250 + out_tok * (8 + 20 * r_lat) end,
       case when stream and status < 400 then 150 + 900 * r_ttft end,
       in_tok, out_tok, cached, cache_write, case when kind = 'reasoning' then floor(out_tok * 0.6)::int else 0 end,
       round((in_tok - cached - cache_write) * p_in + cached * p_cached + cache_write * p_write + out_tok * p_out)::bigint,
       cancelled
  from (
    select *,
           case when anthropic and r_cache < 0.9 then floor(in_tok * 0.7 * r_cw)::int
                when not anthropic and r_cache < 0.3 then floor(in_tok * 0.5 * r_cw)::int else 0 end as cached,
           case when anthropic and r_cache >= 0.9 then floor(in_tok * 0.3 * r_cw)::int else 0 end as cache_write
      from (
        select *,
               case when status >= 400 or endpoint = 'count_tokens' then 0
                    when kind = 'embedding' then least(8000, greatest(1, exp(4.5 + n1)))::int
                    when client like 'claude-code%' then least(180000, greatest(50, exp(9.2 + 0.8 * n1)))::int
                    else least(120000, greatest(5, exp(6.3 + 1.3 * n1)))::int end as in_tok,
               case when status >= 400 or endpoint in ('count_tokens', 'embeddings') then 0
                    else (least(16000, greatest(1, exp(5.3 + 0.9 * n2))) * case when cancelled then r_cw else 1 end)::int end as out_tok
          from (
            select *,
                   stream and status = 200 and r_cancel < 0.01 as cancelled
              from (
                select x.*, t.*, m.provider, m.name, m.kind, m.p_in, m.p_out, m.p_cached, m.p_write, m.provider = 'anthropic' as anthropic,
                       t.eu_base + floor(t.eu_count * power(x.r_eu, case when t.eu_kind = 'app' then 1.7 else 1.3 end))::int as eu_i,
                       case when m.kind = 'embedding' then 'embeddings'
                            when m.provider = 'anthropic' then case when r_ep < 0.05 then 'count_tokens' else 'messages' end
                            when m.provider = 'openai' and r_ep < 0.15 then 'responses' else 'chat' end as endpoint,
                       m.kind <> 'embedding' and r_stream < t.stream_p and not (m.provider = 'anthropic' and r_ep < 0.05) as stream,
                       case when r_status < 0.955 then 200 when r_status < 0.975 then 429 when r_status < 0.985 then 400 when r_status < 0.988 then 401
                            when r_status < 0.995 then 500 when r_status < 0.998 then 502 else 503 end as status,
                       sqrt(-2 * ln(1 - r_n1)) * cos(2 * pi() * r_n2) as n1, sqrt(-2 * ln(1 - r_n2)) * sin(2 * pi() * r_n1) as n2
                  from (
                    select timestamptz ${sqlLit(new Date(from).toISOString())} + (${to - from} * (${frac})) * interval '1 millisecond' as ts, *
                      from (
                        select least(${ntok - 1}, floor(${ntok} * power(random(), 2.5)))::int as pick_rank,
                               random() as r_time, random() as r_a, random() as r_b, random() as r_c, random() as r_eu, random() as r_model,
                               random() as r_pick, random() as r_emb, random() as r_ep, random() as r_stream, random() as r_status, random() as r_cancel,
                               random() as r_n1, random() as r_n2, random() as r_lat, random() as r_ttft, random() as r_cache, random() as r_cw
                          from generate_series(1, ${n})
                      ) r
                  ) x
                  join bench.token_pick t on t.rank = x.pick_rank
                  join bench.model m on m.idx = case when x.r_emb < t.emb_p then t.emb
                                                     when x.r_model < 0.7 then t.m1 when x.r_model < 0.9 then t.m2
                                                     else (array[${chatIdx.join(',')}])[1 + floor(x.r_pick * ${chatIdx.length})::int] end
              ) y
          ) z
      ) w
  ) v
 order by ts`;
}

/** Days (UTC) overlapping [from, to), each with its share of `total` rows (weekends at 30%). */
function planDays(from, to, total, fullWindowMs) {
  const days = [];
  for (let d = Math.floor(from / DAY_MS) * DAY_MS; d < to; d += DAY_MS) {
    const a = Math.max(from, d);
    const b = Math.min(to, d + DAY_MS);
    const dow = new Date(d).getUTCDay();
    days.push({ day: d, from: a, to: b, weight: ((b - a) / DAY_MS) * (dow === 0 || dow === 6 ? 0.3 : 1) });
  }
  // The rate is that of the full window, so a top-up of a few hours gets a few hours' worth.
  let perWeight = 0;
  {
    let w = 0;
    for (let d = Math.floor((to - fullWindowMs) / DAY_MS) * DAY_MS; d < to; d += DAY_MS) {
      const a = Math.max(to - fullWindowMs, d);
      const b = Math.min(to, d + DAY_MS);
      const dow = new Date(d).getUTCDay();
      w += ((b - a) / DAY_MS) * (dow === 0 || dow === 6 ? 0.3 : 1);
    }
    perWeight = total / w;
  }
  for (const d of days) d.rows = Math.round(d.weight * perWeight);
  return days;
}

/**
 * Tables derived from request_log (those that exist in the migrated schema are used): every rollup
 * the app's rollups.js declares, its tag list, and the session table.
 */
function derivedTables() {
  let rollups = ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day'];
  const mod = require(path.join(ROOT, 'dist', 'src', 'usage', 'rollups.js'));
  if (Array.isArray(mod.ROLLUP_TABLES)) rollups = mod.ROLLUP_TABLES.flatMap((t) => t.grains.map((g) => `${t.name}_${g}`));
  return [...rollups, 'usage_tag', 'usage_active_day', 'usage_people_day', 'usage_people_month', 'usage_session_hour', 'session'];
}

const partName = (day) => `request_log_p${new Date(day).toISOString().slice(0, 10).replace(/-/g, '')}`;

async function parallel(items, workers, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, items.length) }, async (_, w) => {
      while (next < items.length) await fn(items[next++], w);
    }),
  );
}

/** Inserts the planned days on `workers` connections, printing progress. */
async function seedDays(dbUrl, days, { log, chatIdx, workers = 2 }) {
  const total = days.reduce((s, d) => s + d.rows, 0);
  let done = 0;
  const t0 = Date.now();
  const clients = [];
  for (let i = 0; i < workers; i++) {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    await c.query(`set synchronous_commit = off; set work_mem = '256MB'; set jit = off`);
    clients.push(c);
  }
  try {
    await parallel(days, workers, async (d, w) => {
      if (!d.rows) return;
      await clients[w].query(daySql(partName(d.day), d.from, d.to, d.rows, PARAMS.tokens, chatIdx));
      done += d.rows;
      const el = (Date.now() - t0) / 1000;
      log(`  raw rows ${(done / 1e6).toFixed(2)}M / ${(total / 1e6).toFixed(2)}M (${new Date(d.day).toISOString().slice(0, 10)}; ${el.toFixed(0)}s, ~${((el / done) * (total - done)).toFixed(0)}s left)`);
    });
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Rollups for whole days [from, to) through the app's rebuildRollups (the code `sluice rollups
 * rebuild` runs), one call per calendar month of the range (month rollups are recomputed whole
 * from the day rollup, so a month must not be split between calls), the months shared out over two
 * connections. The one statement skipped is its LOCK TABLE: it only keeps concurrent usage writers
 * out (there are none while seeding) and would make the two connections take turns; calls for
 * different months touch different rows (a deadlock on the shared tag list is retried). Every
 * insert is the app's own SQL. `keepLock` keeps the lock (a running Sluice may still write).
 */
async function rebuildDays(dbUrl, from, to, log, workers = 2, { keepLock = false } = {}) {
  const { rebuildRollups } = require(path.join(ROOT, 'dist', 'src', 'usage', 'rollups.js'));
  const t0 = Date.now();
  const chunks = [];
  for (let a = from; a < to; ) {
    const d = new Date(a);
    const next = Math.min(to, Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
    chunks.push({ from: a, to: next, days: Math.round((next - a) / DAY_MS) });
    a = next;
  }
  const totalDays = chunks.reduce((x, c) => x + c.days, 0);
  // Longest first onto the least loaded connection.
  const lanes = Array.from({ length: Math.min(workers, chunks.length) }, () => ({ days: 0, chunks: [] }));
  for (const c of [...chunks].sort((x, y) => y.days - x.days)) {
    const l = lanes.reduce((m, x) => (x.days < m.days ? x : m), lanes[0]);
    l.days += c.days;
    l.chunks.push(c);
  }
  let done = 0;
  await Promise.all(
    lanes.map(async (lane) => {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      try {
        // Session settings only: the rows are the same, the sort and hash steps just spill less.
        await c.query(`set synchronous_commit = off; set work_mem = '256MB'; set jit = off`);
        const client = { query: (sql, params) => (!keepLock && /^\s*lock table /i.test(sql) ? Promise.resolve({ rows: [], rowCount: 0 }) : c.query(sql, params)) };
        for (const ch of lane.chunks.sort((x, y) => x.from - y.from)) {
          let counts;
          for (let attempt = 1; ; attempt++) {
            try {
              counts = await rebuildRollups(client, new Date(ch.from), new Date(ch.to));
              break;
            } catch (e) {
              if (e.code !== '40P01' || attempt >= 3) throw e;
            }
          }
          done += ch.days;
          const el = (Date.now() - t0) / 1000;
          log(`  rollups ${done}/${totalDays} days (${new Date(ch.from).toISOString().slice(0, 10)} … ${new Date(ch.to - 1).toISOString().slice(0, 10)}: ${Object.entries(counts).map(([g, x]) => `${x} ${g}`).join(', ')}; ${el.toFixed(0)}s)`);
        }
      } finally {
        await c.end().catch(() => undefined);
      }
    }),
  );
}

/**
 * Runs `fn` (a bulk load into `tables`) with their secondary indexes dropped, then builds them
 * again from their own definitions, two at a time: one sorted build is far cheaper than millions
 * of random index inserts. Primary keys and other constraints stay (rebuildRollups deletes by
 * bucket, the primary key's first column). The definitions are saved in bench.seed first, so a run
 * that dies in between gets them back at its next start (restoreIndexes).
 */
async function withIndexesDropped(dbUrl, tables, log, fn) {
  const defs = await withClient(dbUrl, async (c) => {
    const rows = (
      await c.query(
        `select i.indexname as name, i.indexdef as def from pg_indexes i
          where i.schemaname = 'public' and i.tablename = any($1::text[])
            -- Unique indexes stay: ON CONFLICT needs them (the session load merges into earlier sessions).
            and i.indexdef not like 'CREATE UNIQUE %'
            and not exists (select 1 from pg_constraint k where k.conname = i.indexname and k.conrelid = (quote_ident(i.schemaname) || '.' || quote_ident(i.tablename))::regclass)`,
        [tables],
      )
    ).rows;
    // Definitions an earlier, interrupted load dropped are not in pg_indexes any more: keep them.
    const saved = (await c.query(`select params from bench.seed where stage = 'dropped_indexes'`)).rows[0]?.params ?? [];
    for (const d of saved) {
      if (rows.some((r) => r.name === d.name)) continue;
      if (/^CREATE UNIQUE /.test(d.def)) await c.query(d.def.replace(/^CREATE UNIQUE INDEX /, 'CREATE UNIQUE INDEX IF NOT EXISTS ')); // dropped by an older loader
      else rows.push(d);
    }
    await c.query(`insert into bench.seed (stage, params) values ('dropped_indexes', $1) on conflict (stage) do update set params = excluded.params`, [JSON.stringify(rows)]);
    for (const r of rows) await c.query(`drop index if exists ${r.name}`);
    return rows;
  });
  await fn();
  await restoreIndexes(dbUrl, log, defs);
}

async function restoreIndexes(dbUrl, log, defs) {
  if (!defs) {
    const m = (await withClient(dbUrl, (c) => c.query(`select params from bench.seed where stage = 'dropped_indexes'`))).rows[0];
    if (!m) return;
    defs = m.params;
  }
  const t0 = Date.now();
  log(`  building ${defs.length} indexes`);
  const clients = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      await c.query(`set maintenance_work_mem = '512MB'; set max_parallel_maintenance_workers = 0`);
      clients.push(c);
    }
    await parallel(defs, clients.length, (d, w) => clients[w].query(d.def.replace(/^CREATE (UNIQUE )?INDEX /i, (_, u) => `CREATE ${u || ''}INDEX IF NOT EXISTS `)));
    await clients[0].query(`delete from bench.seed where stage = 'dropped_indexes'`);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  log(`  indexes built in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
}

const CALLER_KEY = `coalesce(token_id::text, case when service_account_id is not null then 'sa:' || service_account_id::text else 'org:' || org_id::text end) || '|' || coalesce(end_user, '')`;
const SESSION_COLS = `id, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, caller_key, client, client_device, external_id,
  first_at, last_at, requests, failures, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_micros, models, tools, tool_calls, updated_at`;
const SESSION_AGG = `min(created_at), max(created_at), count(*), count(*) filter (where status >= 400), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
  sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), coalesce(array_agg(distinct model order by model) filter (where model is not null), '{}'), '{}', 0, max(created_at)`;

/**
 * The log pages' `session` rows for the requests in [from, to), as the usage writer would have
 * grouped them (src/logs/sessions.ts): by the id the client sent, per org and caller; else by
 * caller and client with the default 30-minute inactivity gap. The analytics pages read this table
 * for "active sessions". Split by caller over two connections.
 */
async function seedSessions(dbUrl, from, to, log) {
  const t0 = Date.now();
  const parts = 2;
  const clients = [];
  try {
    for (let i = 0; i < parts; i++) {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      await c.query(`set synchronous_commit = off; set work_mem = '256MB'; set jit = off`);
      clients.push(c);
    }
    const range = [new Date(from), new Date(to)];
    const counts = [0, 0];
    await parallel([0, 1], parts, async (w) => {
      const c = clients[w];
      const mine = `created_at >= $1 and created_at < $2 and abs(hashtext(${CALLER_KEY})) % ${parts} = ${w}`;
      const e = await c.query(
        `insert into session (${SESSION_COLS})
         select gen_random_uuid(), org_id, (array_agg(team_id))[1], token_id, owner_user_id, service_account_id, end_user, ck, (array_agg(client))[1], null, session_id, ${SESSION_AGG}
           from (select *, ${CALLER_KEY} as ck from request_log where session_id is not null and ${mine}) r
          group by org_id, ck, session_id, token_id, owner_user_id, service_account_id, end_user
         -- A top-up meets sessions that began before it: they go on, as the writer would merge them.
         on conflict (org_id, caller_key, external_id) where external_id is not null do update set
           first_at = least(session.first_at, excluded.first_at), last_at = greatest(session.last_at, excluded.last_at),
           requests = session.requests + excluded.requests, failures = session.failures + excluded.failures,
           input_tokens = session.input_tokens + excluded.input_tokens, output_tokens = session.output_tokens + excluded.output_tokens,
           cached_input_tokens = session.cached_input_tokens + excluded.cached_input_tokens, cache_write_tokens = session.cache_write_tokens + excluded.cache_write_tokens,
           reasoning_tokens = session.reasoning_tokens + excluded.reasoning_tokens, cost_micros = session.cost_micros + excluded.cost_micros,
           models = array(select distinct x from unnest(session.models || excluded.models) x order by 1), updated_at = excluded.updated_at`,
        range,
      );
      const g = await c.query(
        `insert into session (${SESSION_COLS})
         select gen_random_uuid(), org_id, (array_agg(team_id))[1], token_id, owner_user_id, service_account_id, end_user, ck, client, null, null, ${SESSION_AGG}
           from (select *, sum(brk) over (partition by ck, cl order by created_at rows unbounded preceding) as sn
                   from (select *, case when created_at - lag(created_at) over (partition by ck, cl order by created_at) <= interval '30 minutes' then 0 else 1 end as brk
                           from (select *, ${CALLER_KEY} as ck, coalesce(client, '') as cl from request_log where session_id is null and ${mine}) r0) r1) r
          group by ck, cl, sn, client, org_id, token_id, owner_user_id, service_account_id, end_user`,
        range,
      );
      counts[w] = (e.rowCount ?? 0) + (g.rowCount ?? 0);
    });
    log(`  sessions: ${counts[0] + counts[1]} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Migrations that change no rollup row (an index, a key's INCLUDE columns): a database whose
 * rollups were built before them needs no rebuild (a full one takes about seven minutes here).
 */
const ROLLUP_NEUTRAL_MIGRATIONS = new Set(['Migration20261221000000_active_day_cover']);

function rollupsFingerprint(migrations) {
  const file = path.join(ROOT, 'dist', 'src', 'usage', 'rollups.js');
  return hashOf({ rollups: fs.readFileSync(file, 'utf8'), migrations: migrations.filter((m) => !ROLLUP_NEUTRAL_MIGRATIONS.has(m)), generator: GENERATOR_VERSION });
}

/**
 * `sluice <args>` from dist/ (built by the npm script before anything starts; bin/sluice.js would
 * try to rebuild while other work in the checkout is mid-edit). Resolves {code, stdout, stderr}.
 */
async function cli(dbUrl, args, log, secretKey, env = {}) {
  const r = await runNode([path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], { env: { DATABASE_URL: dbUrl, SLUICE_SECRET_KEY: secretKey, LOG_LEVEL: 'warn', ...env }, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`sluice ${args.slice(0, 2).join(' ')} failed (exit ${r.code}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/**
 * Makes sure the bench database exists, is migrated and seeded with PARAMS, and its raw rows end
 * within the last hour. Returns what the bench needs to know about the data.
 */
async function ensureSeeded({ log, reseed = false, server } = {}) {
  const t0 = Date.now();
  const dbUrl = dbUrlOn(server.adminUrl);
  const rawKey = hashOf(PARAMS);
  const SEED_TABLE = `create schema if not exists bench; create table if not exists bench.seed (stage text primary key, params jsonb not null, done_at timestamptz not null default now())`;
  const marker = async () => Object.fromEntries((await withClient(dbUrl, (c) => c.query('select stage, params from bench.seed'))).rows.map((r) => [r.stage, r.params]));
  let m = {};
  const exists = await withClient(server.adminUrl, async (c) => (await c.query('select 1 from pg_database where datname = $1', [DB_NAME])).rowCount > 0);
  if (exists) {
    await withClient(dbUrl, (c) => c.query(SEED_TABLE));
    m = await marker();
  }
  // Anything but a complete seed with the same parameters starts from an empty database.
  const why = !exists ? null : reseed ? 'reseed requested' : !m.raw ? 'an earlier seed did not finish' : m.raw.key !== rawKey ? `it was seeded with other parameters (${JSON.stringify(m.raw.params)})` : null;
  if (!exists || why) {
    if (why) log(`recreating ${DB_NAME}: ${why}`);
    await withClient(server.adminUrl, async (c) => {
      if (exists) await c.query(`drop database "${DB_NAME}" with (force)`);
      await c.query(`create database "${DB_NAME}"`);
    });
    await withClient(dbUrl, (c) => c.query(SEED_TABLE));
    m = {};
  }
  const secretKey = m.secret?.key ?? crypto.randomBytes(30).toString('base64url').slice(0, 40);
  if (!m.secret) await withClient(dbUrl, (c) => c.query(`insert into bench.seed (stage, params) values ('secret', $1)`, [{ key: secretKey }]));

  log('migrating (sluice migrate)');
  await cli(dbUrl, ['migrate'], log, secretKey);
  const migrations = (await withClient(dbUrl, (c) => c.query('select name from sluice_migrations order by name'))).rows.map((r) => r.name);

  const E = buildEntities();
  const windowMs = PARAMS.days * DAY_MS;
  const now = Date.now();
  const touched = new Set(); // days whose rollups must be rebuilt
  let topUpFrom = null;
  if (!m.raw) {
    log(`seeding ${(PARAMS.rows / 1e6).toFixed(1)}M request rows over ${PARAMS.days} days (${PARAMS.orgs} orgs, ${PARAMS.teams} teams, ${PARAMS.users} people, ${PARAMS.tokens} tokens, ${PARAMS.endUsers} end users, ${MODELS.length - 1} models used)`);
    await withClient(dbUrl, async (c) => {
      await c.query('begin');
      await insertEntities(c, E);
      await c.query(`select sluice_ensure_request_log_partitions(${PARAMS.days + 1}, 7)`);
      await c.query('commit');
    });
    const from = now - windowMs;
    const days = planDays(from, now, PARAMS.rows, windowMs);
    await seedDays(dbUrl, days, { log, chatIdx: E.chatIdx });
    for (const d of days) touched.add(d.day);
    await withClient(dbUrl, (c) => c.query(`insert into bench.seed (stage, params) values ('raw', $1) on conflict (stage) do update set params = excluded.params, done_at = now()`, [{ key: rawKey, params: PARAMS, windowFrom: from, windowTo: now }]));
    log(`raw rows seeded in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  } else if (now - m.raw.windowTo > 3_600_000) {
    // Slide the window: the hours since the last run at the same rate, and drop days that left it.
    const from = m.raw.windowTo;
    topUpFrom = from;
    const days = planDays(from, now, PARAMS.rows, windowMs);
    log(`topping up ${((now - from) / 3_600_000).toFixed(1)} hours since the last run (${days.reduce((s, d) => s + d.rows, 0)} rows)`);
    await withClient(dbUrl, (c) => c.query(`select sluice_ensure_request_log_partitions(${PARAMS.days + 1}, 7)`));
    await seedDays(dbUrl, days, { log, chatIdx: E.chatIdx });
    for (const d of days) touched.add(d.day);
    const keepFrom = Math.floor((now - windowMs) / DAY_MS) * DAY_MS;
    await withClient(dbUrl, async (c) => {
      const parts = (await c.query(`select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
                                     where p.relname = 'request_log' and c.relname ~ '^request_log_p[0-9]{8}$' and c.relname < $1 order by 1`, [partName(keepFrom)])).rows;
      for (const { relname } of parts) await c.query(`drop table ${relname}`);
      // Month rows are keyed by the month's first day: only months wholly before the window go;
      // the month the window starts in is recomputed below from the day rows that remain.
      const kept = new Date(keepFrom);
      const monthOfKeep = new Date(Date.UTC(kept.getUTCFullYear(), kept.getUTCMonth(), 1));
      for (const t of derivedTables().filter((x) => x.startsWith('usage_') && x !== 'usage_tag')) {
        const before = t.endsWith('_month') ? monthOfKeep : kept;
        if (await c.query(`select to_regclass($1) as t`, [`public.${t}`]).then((r) => r.rows[0].t)) await c.query(`delete from ${t} where bucket < $1`, [before]);
      }
      if (await c.query(`select to_regclass('public.session') as t`).then((r) => r.rows[0].t)) await c.query('delete from session where last_at < $1', [new Date(keepFrom)]);
      if (parts.length) log(`dropped ${parts.length} day(s) that left the ${PARAMS.days}-day window`);
      await c.query(`update bench.seed set params = params || jsonb_build_object('windowFrom', $1::float8, 'windowTo', $2::float8), done_at = now() where stage = 'raw'`, [keepFrom, now]);
    });
    // The app's rebuild of the window's first day recomputes that month's rows whole from its day rows.
    if (m.rollups) await rebuildDays(dbUrl, keepFrom, keepFrom + DAY_MS, log);
  }
  m = await marker();
  await withClient(dbUrl, (c) => applyRoles(c, E));
  if (m.live_dirty && m.rollups) {
    // An earlier run died during its live phase: its proxied requests are still in the data.
    const { tokenId, from } = m.live_dirty;
    await withClient(dbUrl, async (c) => {
      await c.query('delete from request_log where token_id = $1', [tokenId]);
      if ((await c.query(`select to_regclass('public.session') as t`)).rows[0].t) await c.query('delete from session where token_id = $1', [tokenId]);
    });
    const d0 = Math.floor(from / DAY_MS) * DAY_MS;
    log('removing the requests an earlier run\'s live phase left behind');
    await rebuildDays(dbUrl, d0, Math.floor(Date.now() / DAY_MS) * DAY_MS + DAY_MS, log);
    await vacuumDerived(dbUrl);
    await withClient(dbUrl, (c) => c.query(`delete from bench.seed where stage = 'live_dirty'`));
  }

  // Derived data (rollups, sessions): rebuilt in full when the rollup code or the schema changed,
  // else only for the days a top-up touched.
  const fp = rollupsFingerprint(migrations);
  const firstDay = Math.floor(m.raw.windowFrom / DAY_MS) * DAY_MS;
  const lastDay = Math.floor(m.raw.windowTo / DAY_MS) * DAY_MS;
  const present = (await withClient(dbUrl, (c) => c.query(`select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and relname = any($1::text[])`, [derivedTables()]))).rows.map((r) => r.relname);
  const hasSessions = present.includes('session');
  const full = !m.rollups || m.rollups.fingerprint !== fp;
  if (full) {
    log(`building rollups with the app's rebuildRollups${hasSessions ? ' and the session table' : ''} (${m.rollups ? 'the rollup code or schema changed' : 'first build'})`);
    const t1 = Date.now();
    await withClient(dbUrl, (c) => c.query(`truncate ${present.join(', ')}`));
    await withIndexesDropped(dbUrl, present, log, async () => {
      await rebuildDays(dbUrl, firstDay, lastDay + DAY_MS, log);
      if (hasSessions) await seedSessions(dbUrl, firstDay, lastDay + DAY_MS, log);
    });
    log(`derived tables built in ${((Date.now() - t1) / 1000).toFixed(0)}s`);
  } else {
    await restoreIndexes(dbUrl, log); // after a run that died during a bulk load
  }
  if (!full && touched.size) {
    const ds = [...touched].sort((a, b) => a - b);
    log(`rebuilding rollups for ${ds.length} touched day(s)`);
    await rebuildDays(dbUrl, ds[0], ds[ds.length - 1] + DAY_MS, log);
    if (hasSessions) await seedSessions(dbUrl, topUpFrom, m.raw.windowTo, log);
  }
  if (full || touched.size) {
    log('vacuum analyze (as autovacuum would have by now)');
    const t1 = Date.now();
    await withClient(dbUrl, async (c) => {
      await c.query(`set maintenance_work_mem = '512MB'`);
      await c.query(`vacuum (analyze) request_log, ${present.join(', ')}, api_token, app_user, team, organization, membership, team_member, service_account`);
      await c.query(`insert into bench.seed (stage, params) values ('rollups', $1) on conflict (stage) do update set params = excluded.params, done_at = now()`, [{ fingerprint: fp, migrations }]);
    });
    log(`vacuumed in ${((Date.now() - t1) / 1000).toFixed(0)}s`);
  }
  const stats = await withClient(dbUrl, async (c) => {
    const n = (await c.query(`select count(*)::bigint as n, min(created_at) as min, max(created_at) as max from request_log`)).rows[0];
    const r = {};
    for (const g of ['minute', 'hour', 'day']) r[g] = Number((await c.query(`select count(*)::bigint as n from usage_rollup_${g}`)).rows[0].n);
    const sessions = (await c.query(`select to_regclass('public.session') as t`)).rows[0].t ? Number((await c.query('select count(*)::bigint as n from session')).rows[0].n) : null;
    const size = (await c.query(`select pg_size_pretty(pg_database_size(current_database())) as s`)).rows[0].s;
    return { rawRows: Number(n.n), from: n.min, to: n.max, rollupRows: r, sessions, size };
  });
  log(`database ${DB_NAME} ready in ${((Date.now() - t0) / 1000).toFixed(0)}s: ${stats.rawRows} raw rows ${stats.from?.toISOString()} … ${stats.to?.toISOString()}, rollups ${Object.entries(stats.rollupRows).map(([g, n]) => `${g} ${n}`).join(', ')}, sessions ${stats.sessions}, ${stats.size}`);
  return { dbUrl, secretKey, entities: E, stats, migrations };
}

/** VACUUM (ANALYZE) of request_log and the derived tables: pages left by the last rebuild or delete become all-visible again. */
async function vacuumDerived(dbUrl) {
  await withClient(dbUrl, async (c) => {
    const present = (await c.query(`select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and relname = any($1::text[])`, [derivedTables()])).rows.map((r) => r.relname);
    await c.query(`set maintenance_work_mem = '512MB'`);
    await c.query(`vacuum (analyze) request_log, ${present.join(', ')}`);
  });
}

module.exports = { PARAMS, MODELS, LIVE_MODEL, DB_NAME, buildEntities, gatewayConfig, openServer, ensureSeeded, withClient, dbUrlOn, cli, rebuildDays, vacuumDerived };

if (require.main === module) {
  const t0 = Date.now();
  const log = (msg) => process.stderr.write(`[seed ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
  (async () => {
    if (process.env.BENCH_SKIP_BUILD !== '1') require(path.join(ROOT, 'scripts', 'ensure-build.js')).ensureBuilt();
    const server = await openServer(log);
    try {
      await ensureSeeded({ log, reseed: process.argv.includes('--reseed') || process.env.BENCH_RESEED === '1', server });
    } finally {
      await server.stop();
    }
  })().then(
    () => process.exit(0),
    (e) => {
      log(`error: ${e.stack || e}`);
      process.exit(1);
    },
  );
}
