#!/usr/bin/env node
'use strict';
// Sluice benchmark: direct vs Sluice vs Portkey against a fake OpenAI-compatible upstream on
// loopback. `npm run bench` (builds dist/ first). Prints a table and one JSON line, writes
// test/bench/results/latest.json. Reports numbers and ratios; it never asserts timings.
//
//   A  upstream answers in 20 ms: added latency at concurrency 1 (p50/p99 vs direct),
//      throughput at concurrency 64 (req/s, ratio vs direct)
//   B  stream, first chunk after 20 ms then one every 20 ms (5 chunks): added TTFT p50/p99
//   C  upstream answers at once (the gateway is the bottleneck): req/s at concurrency 64, Sluice/Portkey
//
// Processes: this one is the load client (undici Pools, keep-alive); the fake upstream, Portkey and
// Sluice are child processes. Concurrency-1 phases interleave the targets request by request;
// concurrency-64 phases run back to back in interleaved order (direct, sluice, portkey, direct, ...)
// and keep the better of the repetitions.
//
// Portkey: see targets.js (headers it routes on) and portkey-preload.js (a workaround without which
// every Portkey stream fails with HTTP 500 under this project's @hono/node-server). Portkey also
// holds back the first SSE chunk of every stream for 25 ms by design, which shows in B.
//
// Knobs (env): BENCH_QUICK=1 (short smoke run), BENCH_TARGETS=sluice,portkey (subset; direct always
// runs), BENCH_LAT_ROUNDS, BENCH_STREAM_ROUNDS, BENCH_TPUT_SECONDS, BENCH_REPS, BENCH_PG_URL,
// BENCH_HARD_LIMIT_SECONDS (default 600: everything is stopped after that).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const children = require('./children');
const { SkipTarget, directTarget, portkeyTarget, sluiceTarget } = require('./targets');
const load = require('./load');
const { BenchAbort, startUpstream } = require('./upstream');
const { f, signed, round, table } = require('./report');

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`bench: needs Node 24 (this is ${process.version}); run it with ${children.NODE}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// The targets. `direct` must stay first (the baseline). Add Sluice variants here, e.g.
//   sluiceTarget({ name: 'sluice+budget', setup: async (cli) => { await cli([...]); } }),
//   sluiceTarget({ name: 'sluice+capture', config: (doc) => ({ ...doc, capture: { ... } }) }),
const TARGETS = [
  directTarget(),
  sluiceTarget({ name: 'sluice' }),
  // The cost of exact enforcement: a cost budget on the token (large enough never to refuse), so
  // every request reserves in PostgreSQL before forwarding and settles with its usage row.
  sluiceTarget({
    name: 'sluice+budget',
    setup: async (cli, { tokenId }) => {
      await cli(['budget', 'create', '--org', 'bench', '--name', 'bench', '--scope', `token:${tokenId}`, '--metric', 'cost', '--limit', '1000000', '--period', 'month']);
    },
  }),
  // Request capture on "full" for the benchmark's org (headers and bodies, redacted, written off the
  // request path): its throughput against plain sluice at concurrency 64 is `a:sluice+capture/sluice`
  // (#7 asks for at least 0.85).
  sluiceTarget({ name: 'sluice+capture', config: (doc) => ({ ...doc, capture: { mode: 'off', orgs: { bench: { mode: 'full' } } } }) }),
  portkeyTarget(),
];
// ---------------------------------------------------------------------------------------------

const envNum = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' && Number.isFinite(Number(process.env[k])) ? Number(process.env[k]) : d);
const QUICK = process.env.BENCH_QUICK === '1';
const CFG = {
  concurrency: 64,
  latency: { warmup: QUICK ? 10 : 30, rounds: envNum('BENCH_LAT_ROUNDS', QUICK ? 60 : 300), deadlineMs: 90_000 },
  stream: { warmup: QUICK ? 5 : 20, rounds: envNum('BENCH_STREAM_ROUNDS', QUICK ? 30 : 250), deadlineMs: 150_000, chunks: 5, chunkIntervalMs: 20, firstChunkMs: 20 },
  throughput: { seconds: envNum('BENCH_TPUT_SECONDS', QUICK ? 2 : 8), warmupSeconds: QUICK ? 0.5 : 1, reps: envNum('BENCH_REPS', 2) },
  instantDirectReps: 1,
  upstreamDelayMs: 20,
  hardLimitMs: envNum('BENCH_HARD_LIMIT_SECONDS', 600) * 1000,
};

const RESULTS_DIR = path.join(__dirname, 'results');
const LOG_DIR = path.join(RESULTS_DIR, 'logs');
const runId = crypto.randomBytes(4).toString('hex');
const t0 = Date.now();
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

// ----- cleanup on every way out -----
const started = []; // {name, stop}
let upstream = null;
let cleaning = null;
function cleanup() {
  if (!cleaning) {
    cleaning = (async () => {
      for (const s of started.reverse()) await Promise.race([s.stop().catch((e) => log(`stopping ${s.name}: ${e.message}`)), load.sleep(8000)]);
      if (upstream) await upstream.stop(2000);
      await children.stopAll(3000);
    })();
  }
  return cleaning;
}
process.on('exit', children.killAllSync);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: stopping child processes`);
    Promise.race([cleanup(), load.sleep(10_000)]).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
const hardLimit = setTimeout(() => {
  log(`hard time limit (${CFG.hardLimitMs / 1000}s) reached: stopping`);
  Promise.race([cleanup(), load.sleep(10_000)]).finally(() => process.exit(3));
}, CFG.hardLimitMs);
hardLimit.unref();

async function main() {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  for (const f2 of fs.readdirSync(LOG_DIR)) if (f2.endsWith('.log')) fs.rmSync(path.join(LOG_DIR, f2), { force: true });
  const gi = path.join(RESULTS_DIR, '.gitignore');
  if (!fs.existsSync(gi)) fs.writeFileSync(gi, '*.json\n*.log\nlogs/\n');

  const only = process.env.BENCH_TARGETS ? new Set(process.env.BENCH_TARGETS.split(',').map((s) => s.trim())) : null;
  const wanted = TARGETS.filter((t) => t.name === 'direct' || !only || only.has(t.name));
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavgAtStart: os.loadavg().map((x) => round(x, 2)), node: process.version, platform: `${os.platform()} ${os.release()}` };
  log(`run ${runId}: ${machine.cpus} CPUs, load average ${machine.loadavgAtStart.join(' ')}, ${QUICK ? 'QUICK mode' : 'full run'}`);
  if (machine.loadavgAtStart[0] > machine.cpus * 0.5) log('note: the machine is already busy; expect noisy numbers');

  upstream = await startUpstream({ logFile: path.join(LOG_DIR, 'fake-upstream.log') });
  log(`fake upstream on ${upstream.url}`);
  const ctx = { upstream: { url: upstream.url, port: upstream.port }, logDir: LOG_DIR, runId, log };

  // ----- start targets -----
  const skipped = {};
  const active = []; // {name, url, headers, model, stop, stream: bool}
  for (const t of wanted) {
    log(`starting ${t.name}…`);
    const ts = Date.now();
    let inst;
    try {
      inst = await t.start(ctx);
    } catch (e) {
      if (t.name === 'direct') throw e;
      skipped[t.name] = e instanceof SkipTarget ? e.message : `failed to start: ${e.message}`;
      log(`SKIP ${t.name}: ${skipped[t.name]}`);
      continue;
    }
    started.push({ name: t.name, stop: inst.stop });
    // Probe: one non-stream and one stream request, checked, and seen by the upstream.
    await upstream.behave({ delayMs: 0, chunkIntervalMs: 1, chunks: 5 });
    await upstream.stats();
    const target = { name: t.name, url: inst.url, headers: inst.headers || {}, model: inst.model, proc: inst.process };
    const pr = load.prepare(target, { stream: false });
    const r = await load.once(pr, { keepBody: true });
    await pr.close();
    let reason = null;
    if (r.status === 404) reason = `POST ${new URL(inst.url).pathname} answers 404 (the proxy route does not exist yet)`;
    else if (!r.ok) reason = `probe request failed: ${r.error || `HTTP ${r.status} ${String(r.body).slice(0, 200)}`}`;
    else {
      try {
        const doc = JSON.parse(r.body);
        if (!doc.choices?.[0]?.message) reason = `probe answer has no choices[0].message: ${r.body.slice(0, 200)}`;
      } catch {
        reason = `probe answer is not JSON: ${String(r.body).slice(0, 200)}`;
      }
    }
    const seen = await upstream.stats();
    if (!reason && seen.chat !== 1) reason = `the upstream saw ${seen.chat} chat requests for 1 probe (cache? retries?)`;
    if (reason) {
      skipped[t.name] = reason;
      log(`SKIP ${t.name}: ${reason}`);
      await inst.stop().catch(() => undefined);
      started.pop();
      continue;
    }
    const ps = load.prepare(target, { stream: true });
    const rs = await load.once(ps, { keepBody: true });
    await ps.close();
    target.stream = rs.ok;
    if (!rs.ok) {
      skipped[`${t.name} (stream)`] = `stream probe failed: ${rs.error || `HTTP ${rs.status}, [DONE] ${rs.sawDone ? 'seen' : 'missing'}: ${String(rs.body).slice(0, 200)}`}`;
      log(`${t.name}: streams left out: ${skipped[`${t.name} (stream)`]}`);
    }
    await upstream.stats();
    active.push(target);
    log(`${t.name} ready on ${new URL(inst.url).origin} (${((Date.now() - ts) / 1000).toFixed(1)}s)`);
  }
  const names = active.map((t) => t.name);
  const gateways = active.filter((t) => t.name !== 'direct');
  // A target whose server process exits mid-run (crash, or killed by something else on the
  // machine) is reported and left out of the following phases instead of measured as errors.
  const died = {};
  const isAlive = (t, phase) => {
    if (!t.proc || t.proc.running()) return true;
    if (!died[t.name]) {
      const x = t.proc.exitInfo || {};
      died[t.name] = `its process exited (code ${x.code}, signal ${x.signal}) before ${phase}; see ${path.relative(process.cwd(), t.proc.logFile || LOG_DIR)}`;
      log(`WARNING ${t.name}: ${died[t.name]}`);
    }
    return false;
  };
  const alive = (list, phase) => list.filter((t) => isAlive(t, phase));
  const reps = Math.max(1, CFG.throughput.reps);
  const tputOpts = { concurrency: CFG.concurrency, durationMs: CFG.throughput.seconds * 1000, warmupMs: CFG.throughput.warmupSeconds * 1000 };

  const runThroughput = async (list, nReps, label) => {
    const runs = Object.fromEntries(list.map((t) => [t.name, []]));
    for (let rep = 0; rep < nReps; rep++) {
      for (const t of list) {
        if (rep >= (t.reps ?? nReps) || !isAlive(t, `${label} throughput #${rep + 1}`)) continue;
        const r = await load.throughput(t, { ...tputOpts, onMeasureStart: () => upstream.stats() });
        const st = await upstream.stats();
        r.upstreamRequests = st.chat;
        runs[t.name].push(r);
        log(`${label} ${t.name} #${rep + 1}: ${f(r.rps, 0)} req/s (${r.ok} ok, ${r.errors} errors${r.errors ? `, last: ${r.lastError}` : ''}) p50 ${f(r.latency?.p50)} ms p99 ${f(r.latency?.p99)} ms`);
      }
    }
    const out = {};
    for (const [name, rs] of Object.entries(runs)) {
      if (!rs.length) continue;
      const best = rs.reduce((a, b) => (b.rps > a.rps ? b : a), rs[0]);
      out[name] = {
        bestRps: round(best.rps, 1),
        runs: rs.map((r) => ({ rps: round(r.rps, 1), ok: r.ok, errors: r.errors, lastError: r.lastError, seconds: round(r.seconds, 3), upstreamRequests: r.upstreamRequests, p50Ms: round(r.latency?.p50), p99Ms: round(r.latency?.p99) })),
      };
    }
    return out;
  };

  const results = { a: {}, b: {}, c: {} };

  // ----- A: upstream answers in 20 ms -----
  await upstream.behave({ delayMs: CFG.upstreamDelayMs, chunkIntervalMs: CFG.stream.chunkIntervalMs, chunks: CFG.stream.chunks });
  // Throughput first: it also warms up (JIT, connection pools) every target for the latency phase.
  log(`A: throughput at concurrency ${CFG.concurrency}, ${CFG.throughput.seconds}s per run, ${reps} interleaved repetitions`);
  results.a.throughput = await runThroughput(active, reps, 'A');
  const aLat = alive(active, 'A latency');
  log(`A: latency at concurrency 1, ${CFG.latency.rounds} rounds × ${aLat.map((t) => t.name).join(', ')} (interleaved, after ${CFG.latency.warmup} warm-up rounds)`);
  results.a.latency = await load.interleavedLatency(aLat, { stream: false, warmup: CFG.latency.warmup, rounds: CFG.latency.rounds, deadlineMs: CFG.latency.deadlineMs, metric: 'totalMs' });

  // ----- B: streaming, TTFT -----
  const streamers = alive(active, 'B').filter((t) => t.stream);
  await upstream.behave({ delayMs: CFG.stream.firstChunkMs, chunkIntervalMs: CFG.stream.chunkIntervalMs, chunks: CFG.stream.chunks });
  log(`B: stream TTFT at concurrency 1, ${CFG.stream.rounds} rounds × ${streamers.map((t) => t.name).join(', ')}`);
  results.b.ttft = await load.interleavedLatency(streamers, { stream: true, warmup: CFG.stream.warmup, rounds: CFG.stream.rounds, deadlineMs: CFG.stream.deadlineMs, metric: 'ttftMs' });

  // ----- C: upstream answers at once -----
  await upstream.behave({ delayMs: 0 });
  const cList = alive(active, 'C').map((t) => (t.name === 'direct' ? { ...t, reps: CFG.instantDirectReps } : t));
  log(`C: throughput at concurrency ${CFG.concurrency} with an instant upstream`);
  results.c.throughput = await runThroughput(cList, reps, 'C');

  // ----- report -----
  const lat = results.a.latency.byTarget;
  const tpA = results.a.throughput;
  const ttft = results.b.ttft.byTarget;
  const tpC = results.c.throughput;
  const d = lat.direct;
  const summary = {};
  for (const t of active) {
    const s = (summary[t.name] = {});
    const l = lat[t.name] || { p50: NaN, p99: NaN, n: 0, errors: null };
    s.a = {
      p50Ms: round(l.p50),
      p99Ms: round(l.p99),
      addedP50Ms: t.name === 'direct' ? 0 : round(l.p50 - d.p50),
      addedP99Ms: t.name === 'direct' ? 0 : round(l.p99 - d.p99),
      samples: l.n,
      errors: l.errors,
      rps64: tpA[t.name]?.bestRps ?? null,
      rpsVsDirect: tpA[t.name] && tpA.direct ? round(tpA[t.name].bestRps / tpA.direct.bestRps) : null,
    };
    if (ttft[t.name]) {
      const b = ttft[t.name];
      s.b = {
        ttftP50Ms: round(b.p50),
        ttftP99Ms: round(b.p99),
        addedTtftP50Ms: t.name === 'direct' ? 0 : ttft.direct ? round(b.p50 - ttft.direct.p50) : null,
        addedTtftP99Ms: t.name === 'direct' ? 0 : ttft.direct ? round(b.p99 - ttft.direct.p99) : null,
        streamTotalP50Ms: round(b.total.p50),
        samples: b.n,
        errors: b.errors,
      };
    }
    if (tpC[t.name]) s.c = { rps64: tpC[t.name].bestRps, rpsVsDirect: tpC.direct ? round(tpC[t.name].bestRps / tpC.direct.bestRps) : null };
  }
  const ratios = {};
  if (tpC.portkey) for (const t of gateways) if (t.name !== 'portkey' && tpC[t.name]) ratios[`${t.name}/portkey`] = round(tpC[t.name].bestRps / tpC.portkey.bestRps);
  if (tpA.portkey) for (const t of gateways) if (t.name !== 'portkey' && tpA[t.name]) ratios[`a:${t.name}/portkey`] = round(tpA[t.name].bestRps / tpA.portkey.bestRps);
  // Variants against plain Sluice, same run (e.g. the budget's cost at concurrency 64).
  for (const t of gateways) {
    if (!t.name.startsWith('sluice+')) continue;
    if (tpA[t.name] && tpA.sluice) ratios[`a:${t.name}/sluice`] = round(tpA[t.name].bestRps / tpA.sluice.bestRps);
    if (tpC[t.name] && tpC.sluice) ratios[`c:${t.name}/sluice`] = round(tpC[t.name].bestRps / tpC.sluice.bestRps);
  }

  const out = [];
  out.push('');
  out.push(`Sluice benchmark ${new Date().toISOString()}  (${machine.cpus} CPUs, ${machine.node}, load avg at start ${machine.loadavgAtStart.join(' ')}${QUICK ? ', QUICK' : ''})`);
  out.push('');
  out.push(`A. upstream answers in ${CFG.upstreamDelayMs} ms, non-streaming`);
  out.push(
    table(
      ['target', 'p50 ms', 'p99 ms', '+p50 ms', '+p99 ms', 'n', 'err', `req/s @${CFG.concurrency}`, 'vs direct'],
      active.map((t) => {
        const s = summary[t.name].a;
        const dir = t.name === 'direct';
        return [t.name, f(s.p50Ms, 3), f(s.p99Ms, 3), dir ? '' : signed(s.addedP50Ms, 3), dir ? '' : signed(s.addedP99Ms, 3), s.samples, s.errors ?? '—', f(s.rps64, 0), f(s.rpsVsDirect)];
      }),
    ),
  );
  out.push('');
  out.push(`B. stream: first chunk after ${CFG.stream.firstChunkMs} ms, then every ${CFG.stream.chunkIntervalMs} ms (${CFG.stream.chunks} chunks); TTFT = first SSE data event, concurrency 1`);
  out.push(
    table(
      ['target', 'TTFT p50', 'TTFT p99', '+p50 ms', '+p99 ms', 'stream total p50', 'n', 'err'],
      streamers.map((t) => {
        const s = summary[t.name].b || {};
        const dir = t.name === 'direct';
        return [t.name, f(s.ttftP50Ms, 3), f(s.ttftP99Ms, 3), dir ? '' : signed(s.addedTtftP50Ms, 3), dir ? '' : signed(s.addedTtftP99Ms, 3), f(s.streamTotalP50Ms, 3), s.samples, s.errors];
      }),
    ),
  );
  out.push('');
  out.push(`C. upstream answers at once (the gateway is the bottleneck), concurrency ${CFG.concurrency}, best of ${reps} × ${CFG.throughput.seconds}s (direct: ${CFG.instantDirectReps}, as the client/upstream ceiling)`);
  out.push(
    table(
      ['target', 'req/s', 'runs', 'p50 ms', 'p99 ms', 'vs portkey'],
      active.map((t) => {
        const c = tpC[t.name];
        if (!c) return [t.name, '—', '—', '—', '—', ''];
        const best = c.runs.reduce((a, b) => (b.rps > a.rps ? b : a), c.runs[0]);
        return [t.name, f(c.bestRps, 0), c.runs.map((r) => f(r.rps, 0)).join(' / '), f(best.p50Ms), f(best.p99Ms), t.name !== 'direct' && tpC.portkey ? f(c.bestRps / tpC.portkey.bestRps) : ''];
      }),
    ),
  );
  const errs = [];
  for (const [scen, tp] of [['A', tpA], ['C', tpC]]) {
    for (const [n, v] of Object.entries(tp)) {
      for (const r of v.runs) {
        if (r.errors) errs.push(`${scen} ${n}: ${r.errors} errors (${r.lastError})`);
        // Every measured 200 should be one upstream request (at most the in-flight ones differ).
        if (r.upstreamRequests < r.ok || r.upstreamRequests > r.ok + r.errors) errs.push(`${scen} ${n}: ${r.ok} answers but the upstream saw ${r.upstreamRequests} requests (cache? retries?)`);
      }
    }
  }
  for (const [scen, l] of [['A', lat], ['B', ttft]]) for (const [n, v] of Object.entries(l)) if (v.errors) errs.push(`${scen} ${n}: ${v.errors} errors (${v.lastError})`);
  if (errs.length) out.push('', 'errors:', ...errs.map((e) => `  ${e}`));
  if (Object.keys(died).length) out.push('', 'died during the run (numbers after that are missing):', ...Object.entries(died).map(([k, v]) => `  ${k}: ${v}`));
  if (Object.keys(skipped).length) out.push('', 'skipped:', ...Object.entries(skipped).map(([k, v]) => `  ${k}: ${v}`));
  if (Object.keys(ratios).length) out.push('', `ratios: ${Object.entries(ratios).map(([k, v]) => `${k} = ${f(v)}`).join(', ')}`);
  if (ratios['a:sluice+capture/sluice'] !== undefined) {
    const r = ratios['a:sluice+capture/sluice'];
    out.push(`capture: sluice+capture at concurrency ${CFG.concurrency}, ${CFG.upstreamDelayMs} ms upstream = ${f(r * 100, 1)}% of plain sluice in this run (target >= 85%: ${r >= 0.85 ? 'met' : 'NOT met'})`);
  }
  out.push('', `total ${((Date.now() - t0) / 1000).toFixed(0)}s; logs in ${path.relative(process.cwd(), LOG_DIR) || LOG_DIR}`);
  process.stdout.write(out.join('\n') + '\n\n');

  const json = {
    bench: 'sluice-gateway',
    version: 1,
    runId,
    date: new Date().toISOString(),
    quick: QUICK,
    durationSeconds: round((Date.now() - t0) / 1000, 1),
    machine: { ...machine, loadavgAtEnd: os.loadavg().map((x) => round(x, 2)) },
    config: CFG,
    targets: names,
    skipped,
    died,
    summary,
    ratios,
    scenarios: {
      a: { upstreamDelayMs: CFG.upstreamDelayMs, latency: results.a.latency, throughput: tpA },
      b: { firstChunkMs: CFG.stream.firstChunkMs, chunkIntervalMs: CFG.stream.chunkIntervalMs, chunks: CFG.stream.chunks, ttft: results.b.ttft },
      c: { throughput: tpC },
    },
  };
  // Non-finite numbers (empty samples) become null in JSON.
  const text = JSON.stringify(json, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : typeof v === 'number' ? round(v, 3) : v));
  const full = JSON.parse(text);
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), JSON.stringify(full, null, 2) + '\n');
  // The last stdout line: the summary as one JSON object (latest.json has every sample statistic).
  const { scenarios, config, ...line } = full;
  process.stdout.write(JSON.stringify({ ...line, file: path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.json')) }) + '\n');
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
    await Promise.race([cleanup(), load.sleep(15_000)]);
    clearTimeout(hardLimit);
    process.exit(code);
  });
