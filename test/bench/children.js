'use strict';
// Child processes of the benchmark: every one is registered here and stopped on normal exit,
// errors, SIGINT and SIGTERM. Each also runs parent-guard.js, so it exits by itself if the
// benchmark is killed outright.
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn, fork } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');
/** The project's Node 24 (the `node` dev dependency). */
const NODE = fs.existsSync(path.join(ROOT, 'node_modules', '.bin', 'node')) ? path.join(ROOT, 'node_modules', '.bin', 'node') : process.execPath;
const GUARD = path.join(__dirname, 'parent-guard.js');

const live = new Set();

function cleanEnv(extra = {}) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', TMPDIR: process.env.TMPDIR };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = String(v);
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

function track(name, child, logFile) {
  let out = '';
  const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
  const onData = (d) => {
    if (out.length < 200_000) out += d.toString();
    if (log) log.write(d);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let stopping = false;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      handle.exitInfo = { code, signal, expected: stopping, at: new Date().toISOString() };
      if (log) log.write(`\n[bench] ${name} exited (code ${code}, signal ${signal})${stopping ? '' : ' UNEXPECTEDLY'}\n`);
      resolve({ code, signal });
    }),
  );
  const handle = {
    exitInfo: null,
    name,
    child,
    logFile,
    exited,
    output: () => out,
    tail: (lines = 5) => out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim().split('\n').slice(-lines).join(' | '),
    running: () => child.exitCode === null && child.signalCode === null,
    /** SIGTERM, then SIGKILL after graceMs. */
    async stop(graceMs = 5000) {
      stopping = true;
      if (handle.running()) {
        child.kill('SIGTERM');
        const t = setTimeout(() => handle.running() && child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      live.delete(handle);
      if (log) await new Promise((r) => log.end(r));
    },
  };
  exited.then(() => live.delete(handle));
  live.add(handle);
  return handle;
}

/** Spawns `NODE -r parent-guard.js ...args` with a clean environment; output goes to logFile. */
function spawnNode(name, args, { env = {}, cwd = ROOT, logFile } = {}) {
  const child = spawn(NODE, ['-r', GUARD, ...args], { env: cleanEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  return track(name, child, logFile);
}

/** Forks a module with an IPC channel (same guard, clean env). */
function forkNode(name, modulePath, args = [], { env = {}, logFile } = {}) {
  const child = fork(modulePath, args, {
    execPath: NODE,
    execArgv: ['-r', GUARD],
    env: cleanEnv(env),
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.on('error', () => undefined);
  return track(name, child, logFile);
}

/** Runs a node script to completion (bounded by timeoutMs) and returns {code, stdout, stderr}. */
function runNode(args, { env = {}, cwd = ROOT, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(NODE, ['-r', GUARD, ...args], { env: cleanEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const h = track(`run ${args.join(' ')}`, child, null);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(h);
      resolve({ code: -1, stdout, stderr: stderr + String(e) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
}

/** Waits until `re` matches the handle's output; rejects if the process exits or time runs out. */
function waitForOutput(handle, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(handle.output());
      if (m) {
        done();
        resolve(m);
      }
    };
    const onExit = () => {
      check();
      done();
      reject(new Error(`${handle.name} exited before it was ready: ${handle.tail()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${handle.name} not ready after ${timeoutMs} ms: ${handle.tail()}`));
    }, timeoutMs);
    const iv = setInterval(check, 50);
    const done = () => {
      clearTimeout(timer);
      clearInterval(iv);
      handle.child.off('exit', onExit);
    };
    handle.child.once('exit', onExit);
    check();
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function stopAll(graceMs = 5000) {
  await Promise.all([...live].map((h) => h.stop(graceMs).catch(() => undefined)));
}

/** Last resort on process exit: synchronous SIGKILL of whatever is still running. */
function killAllSync() {
  for (const h of live) {
    try {
      if (h.running()) h.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

module.exports = { ROOT, NODE, cleanEnv, spawnNode, forkNode, runNode, waitForOutput, freePort, stopAll, killAllSync, live };
