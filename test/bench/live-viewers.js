'use strict';
// K simulated browsers with a live-mode analytics page open, in their own process so their work is
// not charged to the load client. Each does what public/js/analytics.js and app.js do while the
// tab is visible:
//   open the page (full load, not counted), read data-live-src, data-live-interval and the body's
//   data-live-version; then on a fixed interval timer (a tick is skipped while the previous one
//   is still running, like the script's `polling` flag) GET data-live-src; when its `v` is larger
//   than the last seen version, GET the page URL as an htmx partial (HX-Request), take the largest
//   data-live-version in it, and GET every chart JSON (data-chart data-src) in the partial, as
//   app.js draws new chart elements after the swap.
//
// IPC in:  {type:'start', viewers:[{cookie, pageUrl}]}  -> {type:'started', intervalMs} | {type:'started', error}
//          {type:'stop'}                                -> {type:'stopped', stats}
const { Pool } = require('undici');

const pools = new Map();
const poolFor = (origin) => {
  if (!pools.has(origin)) pools.set(origin, new Pool(origin, { connections: 64, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 }));
  return pools.get(origin);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const decodeAttr = (s) => s.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'");
const attr = (html, name) => {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(html);
  return m ? decodeAttr(m[1]) : null;
};
const maxVersion = (html) => Math.max(0, ...[...html.matchAll(/\bdata-live-version="(\d+)"/g)].map((m) => Number(m[1])));
const chartUrls = (html) => [...new Set([...html.matchAll(/<[^>]*\bdata-chart\b[^>]*>/g)].filter((m) => !/\bdata-spec="/.test(m[0])).map((m) => attr(m[0], 'data-src')).filter(Boolean))];

let running = false;
let timers = [];
let inflight = new Set();
let stats;
const fresh = () => ({ ticks: 0, polls: 0, refreshes: 0, charts: 0, requests: 0, errors: 0, lastError: null, ms: [] });

async function get(url, headers, counted = true) {
  const u = new URL(url);
  const t0 = process.hrtime.bigint();
  try {
    const r = await poolFor(u.origin).request({ path: u.pathname + u.search, method: 'GET', headers });
    const text = await r.body.text();
    if (counted) stats.requests++;
    if (r.statusCode !== 200) {
      if (counted) stats.errors++;
      stats.lastError = `HTTP ${r.statusCode} for ${u.pathname}`;
      return null;
    }
    if (counted && stats.ms.length < 100_000) stats.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    return text;
  } catch (e) {
    if (counted) {
      stats.requests++;
      stats.errors++;
    }
    stats.lastError = e.code || e.message;
    return null;
  }
}

async function open(v) {
  const html = await get(v.pageUrl, { cookie: v.cookie, accept: 'text/html' }, false);
  if (!html) throw new Error(`${v.pageUrl}: ${stats.lastError}`);
  const body = /<[^>]*\bdata-live-body\b[^>]*>/.exec(html);
  if (!body) throw new Error(`${v.pageUrl} has no live-mode body`);
  return { ...v, src: new URL(attr(body[0], 'data-live-src'), v.pageUrl).toString(), interval: Number(attr(body[0], 'data-live-interval')) || 5000, seen: maxVersion(html), polling: false };
}

async function tick(v) {
  if (!running || v.polling) return;
  v.polling = true;
  stats.ticks++;
  const h = { cookie: v.cookie };
  try {
    stats.polls++;
    const j = await get(v.src, { ...h, accept: 'application/json' });
    let doc = null;
    try {
      doc = j && JSON.parse(j);
    } catch {
      /* the next tick tries again */
    }
    if (!doc || typeof doc.v !== 'number' || doc.v <= v.seen || !running) return;
    v.seen = doc.v;
    stats.refreshes++;
    const partial = await get(v.pageUrl, { ...h, accept: 'text/html', 'hx-request': 'true' });
    if (!partial) return;
    v.seen = Math.max(v.seen, maxVersion(partial));
    for (const c of chartUrls(partial)) {
      if (!running) break;
      stats.charts++;
      await get(new URL(c, v.pageUrl).toString(), { ...h, accept: 'application/json' });
    }
  } finally {
    v.polling = false;
  }
}

process.on('message', async (m) => {
  if (m.type === 'start') {
    stats = fresh();
    let opened;
    try {
      opened = await Promise.all(m.viewers.map(open));
    } catch (e) {
      process.send({ type: 'started', error: e.message });
      return;
    }
    running = true;
    stats = fresh();
    // Browsers are not synchronised: each viewer's timer starts at a random phase.
    timers = opened.map((v) => {
      const t = { iv: null, first: null };
      t.first = setTimeout(() => {
        const run = () => {
          const p = tick(v);
          inflight.add(p);
          p.finally(() => inflight.delete(p));
        };
        run();
        t.iv = setInterval(run, v.interval);
      }, Math.random() * v.interval);
      return t;
    });
    process.send({ type: 'started', intervalMs: opened[0].interval });
  } else if (m.type === 'stop') {
    running = false;
    for (const t of timers) {
      clearTimeout(t.first);
      clearInterval(t.iv);
    }
    await Promise.race([Promise.all([...inflight]), sleep(30_000)]);
    const s = stats.ms.sort((a, b) => a - b);
    const pct = (q) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : null);
    const { ms, ...rest } = stats;
    process.send({ type: 'stopped', stats: { ...rest, p50Ms: pct(0.5), p95Ms: pct(0.95) } });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
