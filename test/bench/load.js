'use strict';
// The load client: undici Pools with keep-alive, hrtime-based timing. Every loop here is bounded
// by a request count AND a deadline, and stops by itself.
const { Pool } = require('undici');

const now = () => process.hrtime.bigint();
const nsToMs = (ns) => Number(ns) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const REQUEST_TIMEOUT_MS = 15_000;

function bodyFor(target, stream) {
  const doc = { model: target.model || 'gpt-bench', messages: [{ role: 'user', content: 'hi' }] };
  if (stream) {
    doc.stream = true;
    doc.stream_options = { include_usage: true };
  }
  return JSON.stringify(doc);
}

/** A prepared request against one target: its pool and fixed request options. */
function prepare(target, { stream = false, connections = 1 } = {}) {
  const u = new URL(target.url);
  if (u.hostname !== '127.0.0.1') throw new Error(`refusing to load ${u.hostname}: the benchmark only targets 127.0.0.1`);
  const pool = new Pool(u.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    connect: { timeout: 5_000 },
  });
  const body = bodyFor(target, stream);
  const opts = {
    path: u.pathname + u.search,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json', ...target.headers },
    body,
  };
  return { target, pool, opts, stream, close: () => pool.close().catch(() => pool.destroy()) };
}

/**
 * One request. Non-stream: total time to the end of the body. Stream: time to the first body
 * byte, to the first `data:` event, and to the end; `ok` needs status 200 and a `data: [DONE]`.
 * `keepBody` returns the text (for probes).
 */
async function once(prep, { keepBody = false } = {}) {
  const t0 = now();
  let res;
  try {
    res = await prep.pool.request(prep.opts);
  } catch (e) {
    return { ok: false, status: 0, error: e.code || e.message, totalMs: nsToMs(now() - t0) };
  }
  const tHeaders = now();
  const status = res.statusCode;
  try {
    if (!prep.stream) {
      const text = await res.body.text();
      const t1 = now();
      return { ok: status === 200, status, totalMs: nsToMs(t1 - t0), headersMs: nsToMs(tHeaders - t0), body: keepBody || status !== 200 ? text : undefined };
    }
    let firstByte = 0n;
    let firstEvent = 0n;
    let acc = '';
    let all = keepBody ? '' : undefined;
    let tail = '';
    for await (const chunk of res.body) {
      const t = now();
      if (!firstByte) firstByte = t;
      const s = chunk.toString();
      if (!firstEvent) {
        acc += s;
        if (/(^|\n)data:/.test(acc)) firstEvent = t;
      }
      if (all !== undefined) all += s;
      tail = (tail + s).slice(-64);
    }
    const t1 = now();
    const done = /data: ?\[DONE\]\s*$/.test(tail);
    return {
      ok: status === 200 && done && firstEvent > 0n,
      status,
      sawDone: done,
      headersMs: nsToMs(tHeaders - t0),
      firstByteMs: firstByte ? nsToMs(firstByte - t0) : NaN,
      ttftMs: firstEvent ? nsToMs(firstEvent - t0) : NaN,
      totalMs: nsToMs(t1 - t0),
      body: keepBody || status !== 200 ? all ?? tail : undefined,
    };
  } catch (e) {
    res.body.destroy?.();
    return { ok: false, status, error: e.code || e.message, totalMs: nsToMs(now() - t0) };
  }
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function summarize(values) {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, mean: s.length ? mean : NaN };
}

/**
 * Concurrency 1, interleaved: each round sends one request to every target in turn (the order
 * rotates each round), so all targets see the same machine noise. `metric` picks the value
 * (totalMs for non-stream, ttftMs for streams). Bounded by rounds and deadlineMs.
 */
async function interleavedLatency(targets, { stream, warmup, rounds, deadlineMs, metric, onProgress }) {
  const preps = targets.map((t) => prepare(t, { stream, connections: 1 }));
  const samples = new Map(targets.map((t) => [t.name, []]));
  const totals = new Map(targets.map((t) => [t.name, []]));
  const errors = new Map(targets.map((t) => [t.name, { count: 0, last: null }]));
  const deadline = Date.now() + deadlineMs;
  let measured = 0;
  let timedOut = false;
  try {
    for (let r = 0; r < warmup + rounds; r++) {
      if (Date.now() > deadline) {
        timedOut = true;
        break;
      }
      for (let k = 0; k < preps.length; k++) {
        const p = preps[(r + k) % preps.length];
        const res = await once(p);
        if (r < warmup) continue;
        if (res.ok) {
          samples.get(p.target.name).push(res[metric]);
          totals.get(p.target.name).push(res.totalMs);
        } else {
          const e = errors.get(p.target.name);
          e.count++;
          e.last = res.error || `HTTP ${res.status} ${String(res.body ?? '').slice(0, 160)}`;
          if (res.status === 0) await sleep(5);
        }
      }
      if (r >= warmup) measured++;
      if (onProgress && r % 50 === 0) onProgress(r, warmup + rounds);
    }
  } finally {
    await Promise.all(preps.map((p) => p.close()));
  }
  const out = {};
  for (const t of targets) {
    out[t.name] = { ...summarize(samples.get(t.name)), total: summarize(totals.get(t.name)), errors: errors.get(t.name).count, lastError: errors.get(t.name).last };
  }
  return { rounds: measured, timedOut, byTarget: out };
}

/**
 * Closed-loop throughput: `concurrency` workers each send requests back to back for durationMs
 * (after warmupMs of the same load, not counted). rps = completed 200s / wall time from start to
 * the end of the last request. Bounded by duration, maxRequests and a hard stop on errors.
 */
async function throughput(target, { concurrency, durationMs, warmupMs, maxRequests = 5_000_000, onMeasureStart }) {
  const prep = prepare(target, { stream: false, connections: concurrency });
  const run = async (ms, record) => {
    let ok = 0;
    let errs = 0;
    let lastErr = null;
    let issued = 0;
    const lat = record ? [] : null;
    const start = now();
    const deadline = start + BigInt(Math.round(ms * 1e6));
    const worker = async () => {
      while (now() < deadline && issued < maxRequests) {
        if (errs > 2000 && errs > ok) break; // the target is broken; do not spin
        issued++;
        const res = await once(prep);
        if (res.ok) {
          ok++;
          if (lat) lat.push(res.totalMs);
        } else {
          errs++;
          lastErr = res.error || `HTTP ${res.status} ${String(res.body ?? '').slice(0, 160)}`;
          if (res.status === 0) await sleep(2);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const secs = nsToMs(now() - start) / 1000;
    return { ok, errors: errs, lastError: lastErr, seconds: secs, rps: ok / secs, latency: lat ? summarize(lat) : undefined };
  };
  try {
    if (warmupMs > 0) await run(warmupMs, false);
    if (onMeasureStart) await onMeasureStart();
    return await run(durationMs, true);
  } finally {
    await prep.close();
  }
}

module.exports = { prepare, once, interleavedLatency, throughput, summarize, percentile, sleep, bodyFor };
