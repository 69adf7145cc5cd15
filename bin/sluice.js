#!/usr/bin/env node
'use strict';
// The `sluice` command. Sluice runs on Node.js 24, which the project brings as a dev dependency
// (`node` on the npm registry); when started by an older system node, re-run on the project's.
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const local = path.join(root, 'node_modules', '.bin', 'node');
  if (!fs.existsSync(local)) {
    process.stderr.write('sluice: Node.js 24 is required; run `npm ci` in the checkout to install it\n');
    process.exit(1);
  }
  const r = spawnSync(local, [__filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
require(path.join(root, 'scripts', 'ensure-build.js')).ensureBuilt({ quiet: true });
const { run } = require(path.join(root, 'dist', 'src', 'cli', 'main.js'));
run(process.argv).then((code) => {
  process.exitCode = code;
});
