#!/usr/bin/env node
'use strict';
// Analytics pages benchmark: `npm run bench:pages` (builds dist/ first).
//
//   1. A database with ten million request rows over ~35 days and their rollups (seed-usage.js;
//      seeded once, then reused and topped up; BENCH_RESEED=1 starts over).
//   2. One Sluice process on it. Signed in as a global admin, an org admin and a member (one-time
//      sign-in links, as `sluice login-link` issues them), each analytics page is requested for
//      the 1d, 1w, 30d and 30d-in-New-York ranges (pages-def.js): the full page, the htmx
//      partial, and the chart JSON the page loads, after a warm-up, N times each, interleaved.
//      Each request's server time is its Server-Timing header (arrival to headers: the reads and
//      rendering, not the sending); the time at the client on loopback is printed beside it.
//      The targets (p95, raw ratio) are judged on server time, as the issue asks.
//   3. Live mode: proxy throughput (fake upstream answering in 20 ms, concurrency 64, interleaved
//      repetitions as in run.js scenario A) with no viewers and with K simulated browsers doing
//      what the live-mode script does (live-viewers.js). Its requests are removed afterwards.
//   4. The same numbers from raw rows: the pages' own repository reads with request_log in place
//      of every rollup (pages-def.js; checked against the rollups first), and raw / page.
// Prints tables and one JSON line, writes test/bench/results/pages-latest.json. Never asserts.
//
// Knobs (env): BENCH_PAGE_N (30 measured requests per URL), BENCH_PAGE_WARMUP (2),
// BENCH_COMBO_SECONDS (8: a page × role × range stops measuring after this, so slow pages get
// fewer samples; n is printed), BENCH_RAW_RUNS (3), BENCH_RAW_SECONDS (900: budget of the raw
// side, measured last), BENCH_RANGES (1d,1w,30d,30d@NY,weekday), BENCH_PAGES (subset by name), BENCH_ROLES,
// BENCH_LIVE_VIEWERS (20), BENCH_TPUT_SECONDS (8), BENCH_REPS (3), BENCH_SKIP_LIVE=1,
// BENCH_SKIP_RAW=1, BENCH_HARD_LIMIT_SECONDS (1500, after seeding), BENCH_SEED_LIMIT_SECONDS
// (1800), BENCH_RESEED=1, BENCH_ROWS / BENCH_DAYS (seed size), BENCH_DATABASE_URL (a PostgreSQL
// server URL; default 127.0.0.1:5432, else the embedded PostgreSQL; BENCH_EMBEDDED=1 forces it, its
// cluster under BENCH_PG_DATA), BENCH_PAGES_DB (database name, default sluice_pages_bench),
// BENCH_SLUICE_NODE_OPTIONS (NODE_OPTIONS of the Sluice process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
// for test/bench/cpuprofile.js).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const pg = require('pg');
const { Pool } = require('undici');
const children = require('./children');
const load = require('./load');
const { BenchAbort, startUpstream } = require('./upstream');
const { f, round, table } = require('./report');
const { waitHttpOk } = require('./targets');
const seed = require('./seed-usage');
const { PAGES, LIVE, RANGES, checkRaw } = require('./pages-def');

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`bench: needs Node 24 (this is ${process.version}); run it with ${children.NODE}\n`);
  process.exit(1);
}

const envNum = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' && Number.isFinite(Number(process.env[k])) ? Number(process.env[k]) : d);
const envList = (k, d) => (process.env[k] ? process.env[k].split(',').map((s) => s.trim()).filter(Boolean) : d);
const CFG = {
  ranges: envList('BENCH_RANGES', Object.keys(RANGES)),
  pages: envList('BENCH_PAGES', null),
  roles: envList('BENCH_ROLES', ['globalAdmin', 'orgAdmin', 'member']),
  warmup: envNum('BENCH_PAGE_WARMUP', 2),
  n: envNum('BENCH_PAGE_N', 30),
  // Slow pages get fewer samples: each page × role × range stops after this long.
  comboDeadlineMs: envNum('BENCH_COMBO_SECONDS', 8) * 1000,
  raw: { runs: envNum('BENCH_RAW_RUNS', 3), slowMs: 3000, deadlineMs: envNum('BENCH_RAW_SECONDS', 900) * 1000 },
  live: {
    viewers: envNum('BENCH_LIVE_VIEWERS', 20),
    concurrency: 64,
    seconds: envNum('BENCH_TPUT_SECONDS', 8),
    warmupSeconds: 1,
    reps: envNum('BENCH_REPS', 3),
    upstreamDelayMs: 20,
  },
  targets: { p95Ms: 150, rawRatio: 50, liveDrop: 0.1 },
  hardLimitMs: envNum('BENCH_HARD_LIMIT_SECONDS', 1500) * 1000,
  seedLimitMs: envNum('BENCH_SEED_LIMIT_SECONDS', 1800) * 1000,
};
const ROLE_LABEL = { globalAdmin: 'global admin', orgAdmin: 'org admin', member: 'member' };

const RESULTS_DIR = path.join(__dirname, 'results');
const LOG_DIR = path.join(RESULTS_DIR, 'logs');
const runId = crypto.randomBytes(4).toString('hex');
const t0 = Date.now();
const log = (msg) => process.stderr.write(`[bench:pages ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
const load1 = () => os.loadavg().map((x) => round(x, 2));

// ----- cleanup on every way out -----
const cleanups = []; // run in reverse
let cleaning = null;
function cleanup() {
  if (!cleaning) {
    cleaning = (async () => {
      for (const c of cleanups.reverse()) await Promise.race([c().catch((e) => log(`cleanup: ${e.message}`)), load.sleep(15_000)]);
      await children.stopAll(3000);
    })();
  }
  return cleaning;
}
process.on('exit', children.killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    Promise.race([cleanup(), load.sleep(20_000)]).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
let hardLimit = null;
function armHardLimit(ms, what) {
  if (hardLimit) clearTimeout(hardLimit);
  hardLimit = setTimeout(() => {
    log(`hard time limit for ${what} (${ms / 1000}s) reached: stopping`);
    Promise.race([cleanup(), load.sleep(20_000)]).finally(() => process.exit(3));
  }, ms);
  hardLimit.unref();
}

// ----- HTTP against the Sluice under test -----
function httpClient(base) {
  const pool = new Pool(base, { connections: 2, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  cleanups.push(() => pool.close().catch(() => pool.destroy()));
  return async function http(method, pathAndQuery, { headers = {}, body } = {}) {
    const s = process.hrtime.bigint();
    const r = await pool.request({ path: pathAndQuery, method, headers, body });
    const text = await r.body.text();
    const ms = Number(process.hrtime.bigint() - s) / 1e6;
    // The server's own time (Server-Timing: app;dur=…, from the request's arrival to its headers).
    const st = /\bapp;dur=([\d.]+)/.exec(String(r.headers['server-timing'] ?? ''));
    return { status: r.statusCode, headers: r.headers, text, ms, server: st ? Number(st[1]) : NaN };
  };
}

const cookieOf = (headers) => {
  const set = [].concat(headers['set-cookie'] || []);
  return set.map((s) => s.split(';')[0]).find((s) => /^(__Host-)?sluice_session=./.test(s)) || null;
};
const csrfOf = (html) => (/<meta name="csrf-token" content="([^"]+)">/.exec(html) || /name="_csrf" value="([^"]+)"/.exec(html) || [])[1];

/** Signs in through a real one-time link, as a browser would: open it, confirm with its CSRF token. */
async function signIn(http, cliRun, email) {
  const r = await cliRun(['login-link', '--email', email, '--json']);
  const token = new URL(JSON.parse(r.stdout).url).searchParams.get('token');
  const page = await http('GET', `/auth/link?token=${encodeURIComponent(token)}`);
  if (page.status !== 200) throw new Error(`sign-in link page for ${email}: HTTP ${page.status}`);
  const pre = cookieOf(page.headers);
  const body = new URLSearchParams({ token, _csrf: csrfOf(page.text) || '' }).toString();
  const done = await http('POST', '/auth/link', { headers: { cookie: pre || '', 'content-type': 'application/x-www-form-urlencoded' }, body });
  const cookie = cookieOf(done.headers);
  if (done.status !== 303 || !cookie) throw new Error(`sign-in for ${email}: HTTP ${done.status}, ${cookie ? 'a' : 'no'} session cookie`);
  return cookie;
}

const decodeAttr = (s) => s.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'");
/** The chart JSON a page loads (`data-chart data-src="…"`, unless the page brought it in data-spec), as the browser would request it. */
function chartUrls(html) {
  const out = new Set();
  for (const m of html.matchAll(/<[^>]*\bdata-chart\b[^>]*>/g)) {
    if (/\bdata-spec="/.test(m[0])) continue;
    const src = /\bdata-src="([^"]+)"/.exec(m[0]);
    if (src) out.add(decodeAttr(src[1]));
  }
  return [...out];
}

// ----- measuring pages -----
const MIN_ROUNDS = 2;
/** load.summarize plus the 95th percentile (the pages' target). */
function stats95(values) {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  return { ...load.summarize(s), p95: load.percentile(s, 0.95) };
}

async function measurePageCombo(http, cookie, url, { warmup, n, deadlineMs }) {
  const first = await http('GET', url, { headers: { cookie, accept: 'text/html' } });
  if (first.status !== 200) return { status: first.status, error: `HTTP ${first.status}: ${first.text.replace(/\s+/g, ' ').slice(0, 200)}` };
  const items = [
    { kind: 'page', url, headers: { cookie, accept: 'text/html' } },
    { kind: 'partial', url, headers: { cookie, accept: 'text/html', 'hx-request': 'true' } },
    ...chartUrls(first.text).map((u) => ({ kind: 'chart', url: u, headers: { cookie, accept: 'application/json' } })),
  ];
  for (const it of items) {
    it.samples = [];
    it.server = [];
  }
  const errors = [];
  // The first load above warmed the page; a slow page gets no further warm-up. Measuring stops at
  // n rounds, or at the deadline once MIN_ROUNDS are in (so slow pages still get a p50/p95).
  if (first.ms > 1000) warmup = 0;
  const deadline = Date.now() + deadlineMs;
  for (let round_ = 0; round_ < warmup + n; round_++) {
    if (Date.now() > deadline && round_ >= warmup + MIN_ROUNDS) break;
    for (const it of items) {
      const r = await http('GET', it.url, { headers: it.headers });
      if (r.status !== 200) {
        if (errors.length < 5) errors.push(`${it.kind} ${it.url}: HTTP ${r.status}`);
        continue;
      }
      if (round_ >= warmup) {
        it.samples.push(r.ms);
        it.server.push(r.server);
      }
    }
  }
  // Timings at the client, each with `server`: the same requests' Server-Timing.
  const sum = (kind) => items.filter((i) => i.kind === kind).map((i) => ({ url: i.url, ...stats95(i.samples), server: stats95(i.server) }));
  const page = sum('page')[0];
  const partial = sum('partial')[0];
  const charts = sum('chart');
  // What a browser waits for to show every number: the page, then its charts (one after another).
  const totalP50 = page.p50 + charts.reduce((s, c) => s + c.p50, 0);
  const serverP50 = page.server.p50 + charts.reduce((s, c) => s + c.server.p50, 0);
  const worstP95 = Math.max(page.server.p95 ?? NaN, partial.server.p95 ?? NaN, ...charts.map((c) => c.server.p95 ?? NaN));
  const clientWorstP95 = Math.max(page.p95 ?? NaN, partial.p95 ?? NaN, ...charts.map((c) => c.p95 ?? NaN));
  return { status: 200, page, partial, charts, totalP50, serverP50, worstP95, clientWorstP95, errors, bytes: first.text.length };
}

// ----- raw SQL -----
/** One timed run of a page's raw computation. */
async function rawRun(run) {
  const s = process.hrtime.bigint();
  const stats = await run();
  return { ms: Number(process.hrtime.bigint() - s) / 1e6, stats };
}

// ----- live mode -----
async function startViewers() {
  const h = children.forkNode('live-viewers', path.join(__dirname, 'live-viewers.js'), [], { logFile: path.join(LOG_DIR, 'live-viewers.log') });
  const waitFor = (type, ms) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`live viewers: no ${type} within ${ms} ms`)), ms);
      const on = (m) => {
        if (m && m.type === type) {
          clearTimeout(t);
          h.child.off('message', on);
          resolve(m);
        }
      };
      h.child.on('message', on);
    });
  return {
    start: async (spec) => {
      const p = waitFor('started', 60_000);
      h.child.send({ type: 'start', ...spec });
      const m = await p;
      if (m.error) throw new BenchAbort(`live viewers could not open their pages: ${m.error}`);
      return m;
    },
    stop: async () => {
      const p = waitFor('stopped', 30_000);
      h.child.send({ type: 'stop' });
      return (await p).stats;
    },
    close: () => h.stop(2000),
  };
}

async function main() {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  for (const f2 of fs.readdirSync(LOG_DIR)) if (/^(pages-|live-viewers)/.test(f2)) fs.rmSync(path.join(LOG_DIR, f2), { force: true });
  const gi = path.join(RESULTS_DIR, '.gitignore');
  if (!fs.existsSync(gi)) fs.writeFileSync(gi, '*.json\n*.log\nlogs/\n');
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGb: round(os.totalmem() / 2 ** 30, 1), loadavgAtStart: load1(), node: process.version, platform: `${os.platform()} ${os.release()}` };
  log(`run ${runId}: ${machine.cpus} CPUs, load average ${machine.loadavgAtStart.join(' ')}`);
  if (machine.loadavgAtStart[0] > machine.cpus * 0.5) log('note: the machine is already busy; expect noisy numbers');

  // ----- 1. the seeded database -----
  armHardLimit(CFG.seedLimitMs, 'seeding');
  const server = await seed.openServer(log);
  cleanups.push(() => server.stop());
  log(`PostgreSQL: ${server.kind}`);
  const tSeed = Date.now();
  const seeded = await seed.ensureSeeded({ log, reseed: process.env.BENCH_RESEED === '1' || process.argv.includes('--reseed'), server });
  const seedSeconds = (Date.now() - tSeed) / 1000;
  armHardLimit(CFG.hardLimitMs, 'the measurements');
  const tMeasure = Date.now();
  const E = seeded.entities;
  const loadAfterSeed = load1();

  // ----- 2. Sluice on it -----
  const upstream = await startUpstream({ logFile: path.join(LOG_DIR, 'pages-fake-upstream.log') });
  cleanups.push(() => upstream.stop(2000));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-pages-bench-'));
  cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));
  const configFile = path.join(tmp, 'sluice.json');
  fs.writeFileSync(configFile, JSON.stringify(seed.gatewayConfig(upstream.url), null, 2));
  const port = await children.freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { DATABASE_URL: seeded.dbUrl, SLUICE_SECRET_KEY: seeded.secretKey, SLUICE_CONFIG: configFile, LOG_LEVEL: 'warn', PUBLIC_URL: base };
  const cliRun = (args) => seed.cli(seeded.dbUrl, args, log, seeded.secretKey, { SLUICE_CONFIG: configFile, PUBLIC_URL: base });
  const main_ = path.join(children.ROOT, 'dist', 'src', 'main.js');
  const sluice = children.spawnNode('sluice', [main_], { env: { ...env, PORT: port, HOST: '127.0.0.1', SHUTDOWN_GRACE_MS: 2000, NODE_OPTIONS: process.env.BENCH_SLUICE_NODE_OPTIONS }, logFile: path.join(LOG_DIR, 'pages-sluice.log') });
  cleanups.push(() => sluice.stop(5000));
  await children.waitForOutput(sluice, /Sluice listening on (http:\/\/\S+)/, 90_000);
  await waitHttpOk(`${base}/readyz`, 30_000, sluice);
  log(`Sluice on ${base} (log: ${path.relative(process.cwd(), path.join(LOG_DIR, 'pages-sluice.log'))})`);
  const http = httpClient(base);

  const people = {
    globalAdmin: { email: E.globalAdmin.email, id: E.globalAdmin.id },
    orgAdmin: { email: E.orgAdmin.email, id: E.orgAdmin.id, orgId: E.orgAdmin.org.id, orgSlug: E.orgAdmin.org.slug },
    member: { email: E.member.email, id: E.member.id, orgId: E.member.org.id, orgSlug: E.member.org.slug },
  };
  const cookies = {};
  for (const role of Object.keys(people)) cookies[role] = await signIn(http, cliRun, people[role].email);
  log(`signed in: ${Object.entries(people).map(([r, p]) => `${ROLE_LABEL[r]} ${p.email}`).join(', ')}`);
  const ctx = { people, orgs: E.orgs };

  // The floor: what any signed-in request costs before it reads or renders anything (the session
  // statement, routing, the response), measured on /ui/live (an in-memory version). A page with k
  // charts costs at least (1 + k) floors at the client, so raw ÷ that is the most any page can be
  // "faster than raw": below 50 the target cannot be met by faster reads.
  const floor = {};
  for (const role of Object.keys(people)) {
    const samples = [];
    const server = [];
    for (let i = 0; i < 220; i++) {
      const r = await http('GET', '/ui/live?org=all', { headers: { cookie: cookies[role], accept: 'application/json' } });
      if (r.status !== 200) throw new BenchAbort(`/ui/live as ${ROLE_LABEL[role]}: HTTP ${r.status}`);
      if (i >= 20) {
        samples.push(r.ms);
        server.push(r.server);
      }
    }
    floor[role] = { ...stats95(samples), server: stats95(server) };
  }
  log(`floor (a signed-in request that reads nothing, /ui/live): ${Object.entries(floor).map(([r, x]) => `${ROLE_LABEL[r]} p50 ${f(x.server.p50, 2)} server / ${f(x.p50, 2)} client, p95 ${f(x.server.p95, 2)} / ${f(x.p95, 2)} ms`).join(', ')}`);

  // ----- 2a. pages -----
  const pages = PAGES.filter((p) => !CFG.pages || CFG.pages.includes(p.name));
  const missing = {};
  const combos = [];
  for (const p of pages) for (const role of p.roles.filter((r) => CFG.roles.includes(r))) for (const range of CFG.ranges) combos.push({ page: p, role, range });
  log(`pages: ${combos.length} page × role × range combinations, ${CFG.warmup} warm-up + ${CFG.n} measured requests per URL`);
  const loadBeforePages = load1();
  for (const c of combos) {
    if (missing[c.page.name]) continue;
    c.url = c.page.url(c.range, ctx, c.role);
    const r = await measurePageCombo(http, cookies[c.role], c.url, { warmup: CFG.warmup, n: CFG.n, deadlineMs: CFG.comboDeadlineMs });
    if (r.status === 404) {
      missing[c.page.name] = `${c.url} answers 404 (not built yet?)`;
      log(`SKIP ${c.page.name}: ${missing[c.page.name]}`);
      continue;
    }
    c.result = r;
    if (r.status !== 200) log(`${c.page.name} ${c.range} as ${ROLE_LABEL[c.role]}: ${r.error}`);
    else log(`${c.page.name.padEnd(18)} ${c.range.padStart(6)} ${ROLE_LABEL[c.role].padEnd(12)} page p50 ${f(r.page.server.p50, 1)} (client ${f(r.page.p50, 1)}) p95 ${f(r.page.server.p95, 1)} · partial p95 ${f(r.partial.server.p95, 1)} · ${r.charts.length} chart(s) p95 ${r.charts.map((x) => f(x.server.p95, 1)).join('/') || '—'} ms${r.errors.length ? ` · errors: ${r.errors.join('; ')}` : ''}`);
  }

  // ----- 2b. live mode cost (before the raw side, whose time is the least predictable) -----
  let live = null;
  const loadBeforeLive = load1();
  if (process.env.BENCH_SKIP_LIVE !== '1' && LIVE) {
    const spec = LIVE.viewers(ctx, CFG.live.viewers);
    const usable = spec.filter((v) => !missing[v.page]);
    if (!usable.length) live = { skipped: 'no live-mode page answers yet' };
    else {
      const tok = JSON.parse((await cliRun(['token', 'create', '--org', people.member.orgSlug, '--name', `bench-live-${runId}`, '--user', people.member.email, '--json'])).stdout);
      const liveTokenId = tok.id;
      const liveFrom = Date.now();
      // If this run dies before removeLiveRows, the next one finds this marker and cleans up.
      await seed.withClient(seeded.dbUrl, (c) => c.query(`insert into bench.seed (stage, params) values ('live_dirty', $1) on conflict (stage) do update set params = excluded.params`, [{ tokenId: liveTokenId, from: liveFrom }]));
      let removed = false;
      // The live phase's proxied requests are not part of the seeded data: delete their rows and
      // rebuild the rollups of the days they landed in with the app's rebuild (some rollups have
      // no token column to delete by), so the raw side and later runs see the seeded data only.
      const removeLiveRows = async () => {
        if (removed) return;
        removed = true;
        await load.sleep(1500); // the usage writer's last batch
        await seed.withClient(seeded.dbUrl, async (c) => {
          await c.query('update api_token set revoked_at = now() where id = $1', [liveTokenId]);
          const n = (await c.query('delete from request_log where token_id = $1', [liveTokenId])).rowCount;
          if (await c.query(`select to_regclass('public.session') as t`).then((r) => r.rows[0].t)) await c.query('delete from session where token_id = $1', [liveTokenId]);
          const day = 86_400_000;
          const from = Math.floor(liveFrom / day) * day;
          const to = Math.floor(Date.now() / day) * day + day;
          const t1 = Date.now();
          await seed.rebuildDays(seeded.dbUrl, from, to, () => undefined, 1, { keepLock: true });
          // As autovacuum would: the next run's pages should not read around dead rows.
          await seed.vacuumDerived(seeded.dbUrl);
          await c.query(`delete from bench.seed where stage = 'live_dirty'`);
          log(`live: removed its ${n} request rows, rebuilt the rollups of ${(to - from) / day} day(s) and vacuumed in ${((Date.now() - t1) / 1000).toFixed(0)}s`);
        });
      };
      cleanups.push(removeLiveRows);
      const target = { name: 'sluice', url: `${base}/v1/chat/completions`, headers: { authorization: `Bearer ${tok.secret}` }, model: seed.LIVE_MODEL };
      const viewers = await startViewers();
      cleanups.push(() => viewers.close());
      const viewerList = usable.map((v) => ({ cookie: cookies[v.role], pageUrl: base + v.url, role: v.role, page: v.page }));
      await upstream.behave({ delayMs: CFG.live.upstreamDelayMs });
      const probe = load.prepare(target);
      const pr = await load.once(probe, { keepBody: true });
      await probe.close();
      if (!pr.ok) throw new BenchAbort(`live phase: the proxy probe failed: HTTP ${pr.status} ${String(pr.body).slice(0, 200)}`);
      const runs = { none: [], viewers: [] };
      let liveInterval = null;
      log(`live: throughput at concurrency ${CFG.live.concurrency}, ${CFG.live.seconds}s per run, ${CFG.live.reps} interleaved repetitions of 0 and ${viewerList.length} viewers (${LIVE.describe})`);
      for (let rep = 0; rep < CFG.live.reps; rep++) {
        const order = rep % 2 === 0 ? ['none', 'viewers'] : ['viewers', 'none'];
        for (const cond of order) {
          if (cond === 'viewers') {
            // Resolves once every viewer has opened its page (the first full load is not part of live mode).
            const opened = await viewers.start({ viewers: viewerList });
            liveInterval = opened.intervalMs;
          }
          await upstream.stats();
          const r = await load.throughput(target, { concurrency: CFG.live.concurrency, durationMs: CFG.live.seconds * 1000, warmupMs: CFG.live.warmupSeconds * 1000, onMeasureStart: () => upstream.stats() });
          const st = await upstream.stats();
          const vs = cond === 'viewers' ? await viewers.stop() : null;
          runs[cond].push({ rps: round(r.rps, 1), ok: r.ok, errors: r.errors, lastError: r.lastError, p50Ms: round(r.latency?.p50), p99Ms: round(r.latency?.p99), upstreamRequests: st.chat, viewers: vs });
          log(`live ${cond === 'none' ? '0 viewers' : `${viewerList.length} viewers`} #${rep + 1}: ${f(r.rps, 0)} req/s (${r.errors} errors) p50 ${f(r.latency?.p50)} ms p99 ${f(r.latency?.p99)} ms${vs ? ` · viewers: ${vs.polls} polls, ${vs.refreshes} body refreshes, ${vs.charts} chart loads (${vs.errors} errors${vs.lastError ? `, last: ${vs.lastError}` : ''}), p95 ${f(vs.p95Ms, 1)} ms` : ''}`);
        }
      }
      const best = (xs) => Math.max(...xs.map((x) => x.rps));
      const median = (xs) => {
        const s = xs.map((x) => x.rps).sort((a, b) => a - b);
        return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
      };
      live = {
        viewers: viewerList.length,
        describe: LIVE.describe,
        intervalMs: liveInterval,
        runs,
        bestNone: best(runs.none),
        bestViewers: best(runs.viewers),
        ratioBest: round(best(runs.viewers) / best(runs.none)),
        ratioMedian: round(median(runs.viewers) / median(runs.none)),
      };
      await viewers.close();
      await removeLiveRows();
    }
  }

  // ----- 3. the same numbers from raw rows -----
  const loadBeforeRaw = load1();
  let rawCheck = null;
  if (process.env.BENCH_SKIP_RAW !== '1') {
    // The same pool size as the pages' AnalyticsPool, so parallel reads stay parallel.
    const rawPool = new pg.Pool({ connectionString: seeded.dbUrl, max: 4, application_name: 'bench-raw' });
    cleanups.push(() => rawPool.end().catch(() => undefined));
    const deadline = Date.now() + CFG.raw.deadlineMs;
    const todo = combos.filter((c) => c.result && c.result.status === 200);
    // The raw side must answer what the pages answer: compare a few reads on rollups and on raw rows.
    try {
      const t1 = Date.now();
      rawCheck = await checkRaw(rawPool, ctx);
      log(rawCheck.length ? `raw check: MISMATCH\n  ${rawCheck.join('\n  ')}` : `raw check: rollups and raw rows give the same numbers (totals, models, top, active users, series; 3 scopes) in ${((Date.now() - t1) / 1000).toFixed(0)}s`);
    } catch (e) {
      rawCheck = [`check failed: ${e.message}`];
      log(`raw check failed: ${e.message}`);
    }
    log(`raw: the same numbers from request_log, one run per page × role × range (time-zone variants reuse their base range), then more (up to ${CFG.raw.runs}, for those under ${CFG.raw.slowMs / 1000}s) while the ${CFG.raw.deadlineMs / 1000}s budget lasts`);
    // A time-zone variant reads as many raw rows as its base range: it reuses that measurement.
    const baseOf = (c) => todo.find((x) => x.page === c.page && x.role === c.role && x.range === RANGES[c.range].base);
    const own = todo.filter((c) => !RANGES[c.range].base || !baseOf(c));
    for (let pass = 0; pass < CFG.raw.runs; pass++) {
      for (const c of own) {
        if (Date.now() > deadline) break;
        c.rawTimes ??= [];
        if (c.rawError || (pass > 0 && c.rawTimes[0] > CFG.raw.slowMs)) continue;
        try {
          const r = await rawRun(() => c.page.raw(c.range, c.role, ctx, rawPool));
          c.rawTimes.push(r.ms);
          c.rawQueries = r.stats;
        } catch (e) {
          c.rawError = e.message;
          log(`raw ${c.page.name} ${c.range} ${ROLE_LABEL[c.role]}: ${e.message}`);
          continue;
        }
        if (pass === 0) log(`raw ${c.page.name.padEnd(18)} ${c.range.padStart(6)} ${ROLE_LABEL[c.role].padEnd(12)} ${f(c.rawTimes[0], 0)} ms (${c.rawQueries.rawQueries}/${c.rawQueries.queries} queries on raw rows) → ${f(c.rawTimes[0] / c.result.serverP50, 0)}× the page`);
      }
    }
    for (const c of todo) {
      const b = RANGES[c.range].base && baseOf(c);
      if (b) {
        c.rawTimes = b.rawTimes;
        c.rawQueries = b.rawQueries;
        c.rawError = b.rawError;
        c.rawFrom = b.range;
      }
    }
    for (const c of todo) {
      if (c.rawError) c.raw = { error: c.rawError };
      else if (c.rawTimes?.length) c.raw = { ...stats95(c.rawTimes), queries: c.rawQueries.queries, rawQueries: c.rawQueries.rawQueries, from: c.rawFrom ?? c.range };
      else c.raw = { skipped: 'raw time budget used up' };
    }
  }

  // ----- report -----
  const machineEnd = load1();
  const out = [];
  out.push('');
  out.push(`Sluice analytics pages benchmark ${new Date().toISOString()}  (${machine.cpus} CPUs, ${machine.node}; load avg at start ${machine.loadavgAtStart.join(' ')}, before pages ${loadBeforePages.join(' ')}, before raw ${loadBeforeRaw.join(' ')}, before live ${loadBeforeLive.join(' ')}, at end ${machineEnd.join(' ')})`);
  out.push(`data: ${seeded.stats.rawRows.toLocaleString('en-US')} request rows ${seeded.stats.from?.toISOString().slice(0, 16)} … ${seeded.stats.to?.toISOString().slice(0, 16)} UTC; rollup rows minute ${seeded.stats.rollupRows.minute.toLocaleString('en-US')}, hour ${seeded.stats.rollupRows.hour.toLocaleString('en-US')}, day ${seeded.stats.rollupRows.day.toLocaleString('en-US')}; database ${seeded.stats.size}; seeding/checking took ${seedSeconds.toFixed(0)}s`);
  out.push('');
  out.push(`Pages: server time in ms (Server-Timing, arrival to headers), and at the client on loopback (${CFG.warmup} warm-up + ${CFG.n} measured each); "page+charts p50" is what a browser waits for; raw = the same numbers from request_log; targets on server time`);
  const rows = [];
  const ratioOf = (c) => (c.raw && Number.isFinite(c.raw.p50) && c.result?.serverP50 ? c.raw.p50 / c.result.serverP50 : NaN);
  const ceilingOf = (c) => (c.raw && Number.isFinite(c.raw.p50) && floor[c.role] ? c.raw.p50 / ((1 + c.result.charts.length) * floor[c.role].server.p50) : NaN);
  for (const c of combos) {
    if (!c.result) continue;
    const r = c.result;
    if (r.status !== 200) {
      rows.push([c.page.name, c.range, ROLE_LABEL[c.role], '', `HTTP ${r.status}`, '', '', '', '', '', '', '', '', '']);
      continue;
    }
    const charts95 = r.charts.length ? Math.max(...r.charts.map((x) => x.server.p95)) : NaN;
    const ratio = ratioOf(c);
    const ok = r.worstP95 < CFG.targets.p95Ms && (!Number.isFinite(ratio) || ratio >= CFG.targets.rawRatio);
    rows.push([
      c.page.name,
      c.range,
      ROLE_LABEL[c.role],
      r.page.n,
      `${f(r.page.server.p50, 1)} / ${f(r.page.p50, 1)}`,
      f(r.page.server.p95, 1),
      f(r.partial.server.p95, 1),
      r.charts.length ? `${r.charts.length}× ${f(charts95, 1)}` : '—',
      `${f(r.serverP50, 1)} / ${f(r.totalP50, 1)}`,
      c.raw?.n ? `${f(c.raw.p50, 0)} (${c.raw.from !== c.range ? `=${c.raw.from}` : c.raw.n})` : c.raw?.skipped ? 'no time' : '—',
      `${f(ratio, 0)} / ${f(c.raw && Number.isFinite(c.raw.p50) ? c.raw.p50 / r.totalP50 : NaN, 0)}`,
      f(ceilingOf(c), 0),
      ok ? 'ok' : 'MISS',
    ]);
  }
  out.push(table(['page', 'range', 'role', 'n', 'page p50 server / client', 'page p95', 'partial p95', 'charts p95', 'page+charts p50 server / client', 'raw p50 (n)', 'raw/page server / client', 'raw/floor', `p95<${CFG.targets.p95Ms} & ≥${CFG.targets.rawRatio}×`], rows));
  out.push(`floor: a signed-in request that reads nothing (/ui/live), p50 server / client ${Object.entries(floor).map(([r, x]) => `${ROLE_LABEL[r]} ${f(x.server.p50, 2)} / ${f(x.p50, 2)}`).join(', ')} ms; raw/floor = raw ÷ (1 + charts) server floors, the most any page could reach`);
  if (rawCheck) out.push('', rawCheck.length ? `raw check MISMATCH (the raw side does not answer what the pages answer):\n  ${rawCheck.join('\n  ')}` : 'raw check: the repository reads give the same numbers on rollups and on raw rows (totals, models, top, active users, series for 3 scopes and ranges)');
  if (Object.keys(missing).length) out.push('', 'not measured (the page does not exist yet):', ...Object.entries(missing).map(([k, v]) => `  ${k}: ${v}`));
  const errs = combos.filter((c) => c.result?.errors?.length).map((c) => `  ${c.page.name} ${c.range} ${ROLE_LABEL[c.role]}: ${c.result.errors.join('; ')}`);
  if (errs.length) out.push('', 'errors:', ...errs);
  out.push('');
  if (live?.runs) {
    out.push(`Live mode: proxy throughput, upstream ${CFG.live.upstreamDelayMs} ms, concurrency ${CFG.live.concurrency}, ${CFG.live.reps} × ${CFG.live.seconds}s interleaved; viewers: ${live.describe}`);
    out.push(
      table(
        ['viewers', 'req/s (runs)', 'best', 'p50 ms', 'p99 ms', 'viewer polls / refreshes / chart loads'],
        ['none', 'viewers'].map((k) => {
          const rs = live.runs[k];
          const b = rs.reduce((a, x) => (x.rps > a.rps ? x : a), rs[0]);
          return [k === 'none' ? '0' : String(live.viewers), rs.map((x) => f(x.rps, 0)).join(' / '), f(b.rps, 0), f(b.p50Ms), f(b.p99Ms), k === 'none' ? '' : rs.map((x) => `${x.viewers.polls}/${x.viewers.refreshes}/${x.viewers.charts}${x.viewers.errors ? ` (${x.viewers.errors} err)` : ''}`).join(', ')];
        }),
      ),
    );
    out.push(`with viewers / without: best ${f(live.ratioBest, 3)}, median ${f(live.ratioMedian, 3)} (target ≥ ${1 - CFG.targets.liveDrop})`);
  } else if (live?.skipped) out.push(`Live mode: not measured (${live.skipped})`);
  out.push('', `measurements ${((Date.now() - tMeasure) / 1000).toFixed(0)}s, total ${((Date.now() - t0) / 1000).toFixed(0)}s; logs in ${path.relative(process.cwd(), LOG_DIR) || LOG_DIR}`);
  process.stdout.write(out.join('\n') + '\n\n');

  const json = {
    bench: 'sluice-pages',
    version: 1,
    runId,
    date: new Date().toISOString(),
    durationSeconds: round((Date.now() - t0) / 1000, 1),
    seedSeconds: round(seedSeconds, 1),
    machine: { ...machine, loadavgAfterSeed: loadAfterSeed, loadavgBeforePages: loadBeforePages, loadavgBeforeRaw: loadBeforeRaw, loadavgBeforeLive: loadBeforeLive, loadavgAtEnd: machineEnd },
    config: CFG,
    data: { ...seeded.stats, params: seed.PARAMS, people: Object.fromEntries(Object.entries(people).map(([k, v]) => [k, v.email])) },
    missing,
    rawCheck,
    floor,
    // `pageTime`: the full page's timings (`page` is the page's name).
    pages: combos.filter((c) => c.result).map((c) => {
      const { page: pageTime, ...result } = c.result;
      return {
        page: c.page.name,
        range: c.range,
        role: c.role,
        url: c.url,
        pageTime,
        ...result,
        raw: c.raw ?? null,
        rawRatio: round(ratioOf(c), 1) || null,
        clientRawRatio: c.raw && c.result.totalP50 ? round(c.raw.p50 / c.result.totalP50, 1) : null,
        rawCeiling: c.result.charts ? round(ceilingOf(c), 1) || null : null,
      };
    }),
    live,
  };
  const text = JSON.stringify(json, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : typeof v === 'number' ? round(v, 3) : v));
  const file = path.join(RESULTS_DIR, 'pages-latest.json');
  fs.writeFileSync(file, JSON.stringify(JSON.parse(text), null, 2) + '\n');
  const summary = { bench: 'sluice-pages', runId, date: json.date, rawRows: seeded.stats.rawRows, worstP95Ms: round(Math.max(...json.pages.filter((p) => p.status === 200).map((p) => p.worstP95)), 1), minRawRatio: round(Math.min(...json.pages.filter((p) => p.rawRatio).map((p) => p.rawRatio)), 1), live: live?.ratioBest ?? null, file: path.relative(process.cwd(), file) };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main()
  .then(
    () => 0,
    (e) => {
      log(`error: ${e instanceof BenchAbort ? e.message : e && e.stack ? e.stack : e}`);
      log('the run was aborted: no results written');
      return 1;
    },
  )
  .then(async (code) => {
    await Promise.race([cleanup(), load.sleep(30_000)]);
    if (hardLimit) clearTimeout(hardLimit);
    process.exit(code);
  });
