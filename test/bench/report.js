'use strict';
// Number formatting and plain-text tables for the bench reports.
const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '—');
const signed = (v, d = 2) => (Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(d) : '—');
const round = (v, d = 3) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);

/** Columns padded to width; the first left-aligned, the others right-aligned. */
function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map(String));
  const w = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(cells[0]), w.map((n) => '-'.repeat(n)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

module.exports = { f, signed, round, table };
