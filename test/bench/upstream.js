'use strict';
// The fake upstream as a child process controlled over IPC (fake-upstream.js), shared by the
// gateway bench (run.js) and the pages bench (pages.js).
const path = require('node:path');
const children = require('./children');

/** An error that ends a run with its message alone (no stack): the cause is outside the bench. */
class BenchAbort extends Error {}

async function startUpstream({ logFile } = {}) {
  const h = children.forkNode('fake-upstream', path.join(__dirname, 'fake-upstream.js'), [], { logFile });
  const pending = new Map();
  let seq = 0;
  let port = null;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fake upstream not ready: ${h.tail()}`)), 10_000);
    h.child.on('message', (m) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        port = m.port;
        resolve();
      } else if (pending.has(m.id)) {
        pending.get(m.id)(m);
        pending.delete(m.id);
      }
    });
    h.child.once('exit', () => reject(new Error(`fake upstream exited: ${h.tail()}`)));
  });
  await ready;
  // The upstream is the one thing the run cannot go on without: if it exits (e.g. something else on
  // the machine kills it), fail with a clear message instead of an IPC timeout.
  const gone = () => {
    const x = h.exitInfo || {};
    return new BenchAbort(`the fake upstream exited unexpectedly (code ${x.code}, signal ${x.signal}) at ${x.at || 'unknown time'}; was it killed from outside the benchmark?`);
  };
  h.child.once('exit', () => {
    for (const [, cb] of pending) cb(null);
    pending.clear();
  });
  const ask = (msg) =>
    new Promise((resolve, reject) => {
      if (!h.running()) return reject(gone());
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(h.running() ? new BenchAbort('the fake upstream did not answer over IPC within 5 s') : gone());
      }, 5000);
      pending.set(id, (m) => {
        clearTimeout(timer);
        if (m) resolve(m);
        else setImmediate(() => reject(gone()));
      });
      h.child.send({ ...msg, id }, (err) => {
        if (err) {
          clearTimeout(timer);
          pending.delete(id);
          reject(gone());
        }
      });
    });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    behave: async (b) => (await ask({ type: 'behave', ...b })).behaviour,
    stats: async () => (await ask({ type: 'stats' })).stats,
    stop: (g) => h.stop(g),
  };
}

module.exports = { BenchAbort, startUpstream };
