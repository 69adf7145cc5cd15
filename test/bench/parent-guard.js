'use strict';
// Preloaded (node -r) into every process the benchmark starts: if the benchmark dies without
// cleaning up (SIGKILL, crash), the orphan notices its parent changed and exits by itself.
const original = process.ppid;
setInterval(() => {
  if (process.ppid !== original) process.exit(0);
}, 500).unref();

// BENCH_LOOPBACK_ONLY=1: servers that listen without a host (e.g. Portkey's `serve({port})`)
// bind to 127.0.0.1 instead of every interface.
if (process.env.BENCH_LOOPBACK_ONLY === '1') {
  const net = require('node:net');
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function patchedListen(...args) {
    if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
      if (args.length === 1 || args[1] === undefined || args[1] === null) args[1] = '127.0.0.1';
      else if (typeof args[1] === 'function') args.splice(1, 0, '127.0.0.1');
    } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host && !args[0].path) {
      args[0] = { ...args[0], host: '127.0.0.1' };
    }
    return listen.apply(this, args);
  };
}
