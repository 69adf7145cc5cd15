#!/usr/bin/env node
'use strict';
// Summarises a V8 CPU profile of a bench target, for finding what a Sluice process spends its
// time on under load. Run the gateway bench with the profiler on, e.g.
//
//   BENCH_SLUICE_ENV='{"NODE_OPTIONS":"--cpu-prof --cpu-prof-dir=/tmp/prof"}' BENCH_TARGETS=sluice BENCH_REPS=1 npm run bench
//   node test/bench/cpuprofile.js /tmp/prof/<largest>.cpuprofile            # busy samples per second
//   node test/bench/cpuprofile.js /tmp/prof/<largest>.cpuprofile 12 22      # top functions in seconds 12..22
//
// The first form shows when the process was busy (the load phases); the second prints the share
// of samples by package, by function (self time) and by function including its callees.
const fs = require('node:fs');

const [file, fromArg, toArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node test/bench/cpuprofile.js <file.cpuprofile> [fromSecond toSecond]\n');
  process.exit(2);
}
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children || []) parent.set(c, n.id);
let t = 0;
const at = prof.timeDeltas.map((d) => (t += d)); // microseconds since the profile started
const label = (cf) => `${cf.functionName || '(anonymous)'} ${cf.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/dist\//, 'dist/')}:${cf.lineNumber}`;

if (fromArg === undefined) {
  const perSecond = {};
  prof.samples.forEach((id, i) => {
    if (byId.get(id).callFrame.functionName === '(idle)') return;
    const s = Math.floor(at[i] / 1e6);
    perSecond[s] = (perSecond[s] || 0) + 1;
  });
  process.stdout.write(`busy samples per second: ${JSON.stringify(perSecond)}\n`);
  process.exit(0);
}

const from = Number(fromArg) * 1e6;
const to = toArg === undefined ? Infinity : Number(toArg) * 1e6;
const self = {};
const pkg = {};
const total = {};
let n = 0;
prof.samples.forEach((id, i) => {
  if (at[i] < from || at[i] > to) return;
  n++;
  const cf = byId.get(id).callFrame;
  const k = label(cf);
  self[k] = (self[k] || 0) + 1;
  const m = cf.url.match(/node_modules\/((@[^/]+\/)?[^/]+)/);
  const p = m ? m[1] : cf.url.startsWith('node:') ? cf.url : cf.url.includes('/dist/') ? 'sluice (dist)' : cf.functionName;
  pkg[p] = (pkg[p] || 0) + 1;
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = label(byId.get(cur).callFrame);
    if (!seen.has(kk)) {
      seen.add(kk);
      total[kk] = (total[kk] || 0) + 1;
    }
  }
});
const top = (o, k) =>
  Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, c]) => `${((100 * c) / n).toFixed(1).padStart(5)} %  ${name}`)
    .join('\n');
process.stdout.write(`${n} samples\n\n-- by package\n${top(pkg, 20)}\n\n-- self time\n${top(self, 30)}\n\n-- including callees\n${top(total, 40)}\n`);
