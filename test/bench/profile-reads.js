#!/usr/bin/env node
'use strict';
// Times each analytics repository read on the seeded bench database (run `npm run bench:pages`
// or `node test/bench/seed-usage.js` first), one by one, so a slow page can be traced to the read
// that makes it slow. Not a benchmark: no HTTP, no rendering, reads run one at a time.
//
//   node test/bench/profile-reads.js [reads…]      e.g. people activeUsersSeries
//
// Env: BENCH_PROFILE_RANGES (1d,1w,30d,30d@NY,weekday), BENCH_PROFILE_SCOPES (global,org), BENCH_PROFILE_N
// (5 timed runs after one warm-up; the median and max are printed), BENCH_DATABASE_URL /
// BENCH_PAGES_DB as for pages.js.
const path = require('node:path');
const { ROOT } = require('./children');
const { RANGES, resolve } = require('./pages-def');
const seed = require('./seed-usage');

const dist = (p) => require(path.join(ROOT, 'dist', 'src', ...p.split('/')));
const list = (k, d) => (process.env[k] ? process.env[k].split(',').map((s) => s.trim()).filter(Boolean) : d);

async function main() {
  const { AnalyticsRepository } = dist('usage/analytics.repository.js');
  const server = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const url = seed.dbUrlOn(server, process.env.BENCH_PAGES_DB || seed.DB_NAME);
  // The app's own pool: the same session settings (work_mem, no parallel workers) as the pages.
  const pool = dist('usage/analytics.repository.js').createAnalyticsPool(url);
  const repo = new AnalyticsRepository(pool);
  const org = (await pool.query(`select id from organization where slug = 'acme'`)).rows[0];
  if (!org) throw new Error('no seeded organization "acme": seed the bench database first');
  const scopes = { global: null, org: [org.id] };
  const n = Number(process.env.BENCH_PROFILE_N || 5);
  const only = process.argv.slice(2);

  const reads = (f, range) => {
    const opts = { sort: 'requests', dir: 'desc', limit: 25, offset: 0, unitForDays: { tz: range.tz, identity: range.identity } };
    return {
      totals: () => repo.totals(f, false),
      activeUsers: () => repo.activeUsers(f),
      people: () => repo.people(f, 'user', opts),
      peopleTeams: () => repo.people(f, 'team', opts),
      activeUsersSeries: () => repo.activeUsersSeries(f, range),
      tokenDistribution: () => repo.tokenDistribution(f),
      models: () => repo.models(f),
      teamSeries: () => repo.series(f, range, 'team'),
      activeDays: async () => {
        const keys = (await repo.people(f, 'user', opts)).rows.map((r) => r.key);
        const t0 = performance.now();
        await repo.activeDaysOf(f, range, keys);
        return { ms: performance.now() - t0 };
      },
      modelsOf: async () => {
        const keys = (await repo.people(f, 'user', opts)).rows.map((r) => r.key);
        const t0 = performance.now();
        await repo.modelsOf(f, 'user', keys);
        return { ms: performance.now() - t0 };
      },
      trendOf: async () => {
        const keys = (await repo.people(f, 'user', opts)).rows.map((r) => r.key);
        const t0 = performance.now();
        await repo.trendOf(f, range, 'user', keys);
        return { ms: performance.now() - t0 };
      },
      decorate: async () => {
        const keys = (await repo.people(f, 'user', opts)).rows.map((r) => r.key);
        const t0 = performance.now();
        await Promise.all([repo.modelsOf(f, 'user', keys), repo.trendOf(f, range, 'user', keys)]);
        return { ms: performance.now() - t0 };
      },
    };
  };

  for (const key of list('BENCH_PROFILE_RANGES', Object.keys(RANGES))) {
    const range = resolve('people', key);
    for (const scope of list('BENCH_PROFILE_SCOPES', Object.keys(scopes))) {
      const f = { from: range.from, to: range.to, source: range.source, openEnded: range.openEnded, orgIds: scopes[scope], person: null };
      for (const [name, fn] of Object.entries(reads(f, range))) {
        if (only.length && !only.includes(name)) continue;
        const times = [];
        for (let i = 0; i <= n; i++) {
          const t0 = performance.now();
          const inner = await fn();
          const ms = inner && typeof inner.ms === 'number' ? inner.ms : performance.now() - t0;
          if (i > 0) times.push(ms);
        }
        times.sort((a, b) => a - b);
        process.stdout.write(`${key.padEnd(7)} ${scope.padEnd(7)} ${name.padEnd(18)} median ${times[Math.floor(times.length / 2)].toFixed(1).padStart(7)} ms  max ${times[times.length - 1].toFixed(1).padStart(7)} ms\n`);
      }
    }
  }
  await pool.end();
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
