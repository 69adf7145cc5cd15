'use strict';
// Benchmark targets. A target is { name, start(ctx): Promise<{ url, headers, model?, process?, stop() }> }
// (`process`: the children.js handle of its server, so the run notices if it dies mid-way).
// `url` is the full chat completions URL on 127.0.0.1. start() may throw a SkipTarget to leave
// the target out of the run with a reason (everything else is an error).
//
// ctx = { upstream: { url, port }, logDir, runId, log(msg) }
//
// To add a Sluice variant, push another sluiceTarget({...}) in run.js, e.g.
//   sluiceTarget({ name: 'sluice+budget', config: (c) => { ... }, setup: async (cli) => { await cli(['budget', ...]); } })
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { ROOT, spawnNode, runNode, waitForOutput, freePort } = require('./children');

class SkipTarget extends Error {}

const UPSTREAM_KEY = 'sk-fake-upstream-key';
const PG_ADMIN_URL = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function directTarget() {
  return {
    name: 'direct',
    async start(ctx) {
      return { url: `${ctx.upstream.url}/v1/chat/completions`, headers: { authorization: `Bearer ${UPSTREAM_KEY}` }, stop: async () => undefined };
    },
  };
}

async function waitHttpOk(url, timeoutMs, handle) {
  const { request } = require('undici');
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (handle && !handle.running()) throw new Error(`${handle.name} exited: ${handle.tail()}`);
    try {
      const r = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
      await r.body.text();
      if (r.statusCode < 500) return;
      last = `HTTP ${r.statusCode}`;
    } catch (e) {
      last = e.code || e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not answering after ${timeoutMs} ms (${last})${handle ? `: ${handle.tail()}` : ''}`);
}

/**
 * Portkey's open-source gateway (@portkey-ai/gateway, Hono on @hono/node-server). Started as
 * `node build/start-server.js --port=N --headless`; it routes by headers: x-portkey-provider
 * picks the provider implementation and x-portkey-custom-host replaces its base URL (127.0.0.1
 * is in its default TRUSTED_CUSTOM_HOSTS). The Authorization header is forwarded as the
 * provider key. Note: Portkey's SSE re-chunker deliberately waits 25 ms before passing on the
 * first chunk of a non-Bedrock stream, so its TTFT includes that delay.
 */
function portkeyTarget() {
  return {
    name: 'portkey',
    async start(ctx) {
      let script;
      try {
        script = path.join(path.dirname(require.resolve('@portkey-ai/gateway/package.json', { paths: [ROOT] })), 'build', 'start-server.js');
      } catch {
        script = path.join(ROOT, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
      }
      if (!fs.existsSync(script)) throw new SkipTarget(`${path.relative(ROOT, script)} not found (is @portkey-ai/gateway installed?)`);
      const port = await freePort();
      // portkey-preload.js works around a Portkey/@hono/node-server incompatibility that breaks
      // every streaming response (see the file).
      const h = spawnNode('portkey', ['-r', path.join(__dirname, 'portkey-preload.js'), script, `--port=${port}`, '--headless'], {
        // BENCH_LOOPBACK_ONLY: parent-guard.js makes its listen() bind 127.0.0.1 instead of all interfaces.
        env: { BENCH_LOOPBACK_ONLY: '1' },
        logFile: path.join(ctx.logDir, 'portkey.log'),
      });
      try {
        await waitHttpOk(`http://127.0.0.1:${port}/`, 30_000, h);
      } catch (e) {
        await h.stop();
        throw e;
      }
      return {
        url: `http://127.0.0.1:${port}/v1/chat/completions`,
        headers: {
          authorization: `Bearer ${UPSTREAM_KEY}`,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': `${ctx.upstream.url}/v1`,
        },
        process: h,
        stop: () => h.stop(),
      };
    },
  };
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Drops sluice_bench_<pid>_… databases whose benchmark process no longer exists. */
async function dropStaleDatabases(admin, log) {
  const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'sluice\\_bench\\_%'`);
  for (const { datname } of rows) {
    const m = /^sluice_bench_(\d+)_/.exec(datname);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      log(`dropped ${datname}, left behind by an earlier run`);
    } catch (e) {
      log(`warning: could not drop stale ${datname}: ${e.message}`);
    }
  }
}

/**
 * Sluice from dist/ (npm run bench builds it first), on a fresh database on the local
 * PostgreSQL, with a gateway config pointing at the fake upstream.
 *   name    target name
 *   config  (doc) => void|doc   edit the gateway config document
 *   setup   async (cli, info) => void   extra CLI steps before the server starts;
 *           cli(args) runs bin/sluice.js and resolves {code, stdout, stderr}, throwing on failure
 *   env     extra environment for the server
 */
function sluiceTarget({ name = 'sluice', config, setup, env: extraEnv = {} } = {}) {
  return {
    name,
    async start(ctx) {
      const main = path.join(ROOT, 'dist', 'src', 'main.js');
      if (!fs.existsSync(main)) throw new SkipTarget('dist/src/main.js is missing (run `node scripts/ensure-build.js`, which `npm run bench` does)');
      let pg;
      try {
        pg = require('pg');
      } catch {
        throw new SkipTarget('the pg package is not installed');
      }
      // The name carries this process's pid, so databases left behind by a killed run can be
      // recognised (their pid is gone) and dropped by the next run.
      const dbName = `sluice_bench_${process.pid}_${ctx.runId}_${name.replace(/\W+/g, '_').toLowerCase()}`.slice(0, 63);
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
      try {
        await admin.connect();
        await dropStaleDatabases(admin, ctx.log);
        await admin.query(`CREATE DATABASE "${dbName}"`);
      } catch (e) {
        await admin.end().catch(() => undefined);
        throw new SkipTarget(`PostgreSQL at ${PG_ADMIN_URL.replace(/\/\/[^@/]*@/, '//…@')} unavailable: ${e.message}`);
      }
      await admin.end().catch(() => undefined);
      const dbUrl = new URL(PG_ADMIN_URL);
      dbUrl.pathname = `/${dbName}`;
      const databaseUrl = dbUrl.toString();
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
      const secretKey = crypto.randomBytes(30).toString('base64url').slice(0, 40);
      let server = null;

      const dropDb = async () => {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
        try {
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
        } catch (e) {
          ctx.log(`warning: could not drop database ${dbName}: ${e.message}`);
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      const cleanup = async () => {
        if (server) await server.stop(4000);
        await dropDb();
        fs.rmSync(tmp, { recursive: true, force: true });
      };

      try {
        let doc = {
          providers: {
            fake: { baseurl: ctx.upstream.url, apikey: UPSTREAM_KEY, models: ['gpt-bench'], compatibility: { openai_chat: true } },
          },
          pricing: { 'fake/gpt-bench': { input: 1, output: 2 } },
          grants: [{ src: ['*'], models: ['**'] }],
        };
        if (config) doc = config(doc) || doc;
        const configFile = path.join(tmp, 'sluice.json');
        fs.writeFileSync(configFile, JSON.stringify(doc, null, 2));
        // BENCH_SLUICE_ENV='{"USAGE_FLUSH_MS":"1000"}': settings for every Sluice target (to try one out).
        const tryEnv = process.env.BENCH_SLUICE_ENV ? JSON.parse(process.env.BENCH_SLUICE_ENV) : {};
        const baseEnv = { DATABASE_URL: databaseUrl, SLUICE_SECRET_KEY: secretKey, SLUICE_CONFIG: configFile, LOG_LEVEL: 'warn', ...tryEnv };

        const cliLog = path.join(ctx.logDir, `${name.replace(/\W+/g, '_')}-cli.log`);
        const cli = async (args) => {
          const r = await runNode([path.join(ROOT, 'bin', 'sluice.js'), ...args], { env: baseEnv, timeoutMs: 120_000 });
          // stdout may hold a token secret: log only the command and stderr.
          fs.appendFileSync(cliLog, `$ sluice ${args.join(' ')} -> ${r.code}\n${r.stderr}\n`);
          if (r.code !== 0) throw new SkipTarget(`\`sluice ${args.slice(0, 2).join(' ')}\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
          return r;
        };
        await cli(['org', 'create', 'bench']);
        const tok = await cli(['token', 'create', '--org', 'bench', '--name', 'bench', '--user', 'bench@example.test', '--json']);
        let secret;
        try {
          secret = JSON.parse(tok.stdout).secret;
        } catch {
          /* handled below */
        }
        if (!secret) throw new SkipTarget('`sluice token create --json` printed no secret');
        if (setup) await setup(cli, { databaseUrl, configFile, doc, tokenId: JSON.parse(tok.stdout).id });

        const port = await freePort();
        server = spawnNode(name, [main], {
          env: { ...baseEnv, PORT: port, HOST: '127.0.0.1', SHUTDOWN_GRACE_MS: 2000, ...extraEnv },
          logFile: path.join(ctx.logDir, `${name.replace(/\W+/g, '_')}.log`),
        });
        let url;
        try {
          url = (await waitForOutput(server, /Sluice listening on (http:\/\/\S+)/, 90_000))[1];
        } catch (e) {
          throw new SkipTarget(`server did not start: ${e.message}`);
        }
        const u = new URL(url);
        return {
          url: `http://127.0.0.1:${u.port}/v1/chat/completions`,
          headers: { authorization: `Bearer ${secret}` },
          model: 'gpt-bench',
          process: server,
          stop: cleanup,
        };
      } catch (e) {
        await cleanup();
        throw e;
      }
    },
  };
}

module.exports = { SkipTarget, directTarget, portkeyTarget, sluiceTarget, waitHttpOk, UPSTREAM_KEY };
