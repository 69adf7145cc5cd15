import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { startTestApp, TEST_SECRET_KEY, TestApp, writeConfigFile, logFileFor } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { signIn } from './support/session';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { dumpDatabase, registerSecret, withDatabase } from './support/pg';
import { NODE, ROOT, runCli } from './support/processes';
import { LocalS3, startLocalS3 } from './support/s3';
import { S3ExportService } from '../src/logs/s3-export.service';
import { S3ExportScheduler } from '../src/logs/s3-export.scheduler';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { ConfigStore } from '../src/settings/config-store.service';
import { CaptureRetentionService } from '../src/logs/capture-retention.service';

const HOUR = 3_600_000;
const PROVIDER_KEY = 'sk-provider-' + randomBytes(12).toString('hex');
registerSecret(PROVIDER_KEY);

/** Rows in whole, finished hours: `hoursAgo` hours before the current hour started, plus `offsetMs`. */
const inPastHour = (hoursAgo: number, offsetMs = 0) => new Date(Math.floor(Date.now() / HOUR) * HOUR - hoursAgo * HOUR + offsetMs);

async function insertUsage(url: string, orgId: string, at: Date, n: number, stepMs = 1000): Promise<string[]> {
  return withDatabase(url, async (c) => {
    const r = await c.query<{ id: string }>(
      `insert into request_log (id, created_at, request_id, org_id, endpoint, status, latency_ms, provider, model, input_tokens, output_tokens, cost_micros)
       select gen_random_uuid(), $1::timestamptz + (i * $3::int * interval '1 millisecond'), 'syn-' || i, $2, 'chat', 200, 5, 'fake', 'm1', 10 + i, 20, 30
         from generate_series(0, $4::int - 1) i returning id`,
      [at, orgId, stepMs, n],
    );
    return r.rows.map((x) => x.id);
  });
}

async function insertCaptures(url: string, orgId: string, at: Date, n: number, stepMs = 1000): Promise<string[]> {
  return withDatabase(url, async (c) => {
    const r = await c.query<{ id: string }>(
      `insert into request_capture (request_row_id, created_at, org_id, mode, body_cap_bytes, request_headers, request_body, request_bytes)
       select gen_random_uuid(), $1::timestamptz + (i * $3::int * interval '1 millisecond'), $2, 'full', 262144, '{"content-type":"application/json"}', '{"model":"m1"}', 14
         from generate_series(0, $4::int - 1) i returning request_row_id as id`,
      [at, orgId, stepMs, n],
    );
    return r.rows.map((x) => x.id);
  });
}

const countIds = (objects: { rows: Record<string, any>[] }[], idField: string) => {
  const seen = new Map<string, number>();
  for (const o of objects) for (const r of o.rows) seen.set(r[idField], (seen.get(r[idField]) ?? 0) + 1);
  return seen;
};

describe('S3 export (file config, env: secret)', () => {
  let s3: LocalS3;
  let fake: FakeUpstream;
  let t: TestApp;
  let orgId: string;
  let secrets: string[] = [];
  const q = async (sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows);

  beforeAll(async () => {
    s3 = await startLocalS3();
    // resolveSecretRef reads the env: reference from the process environment.
    process.env.SLUICE_TEST_S3_SECRET = s3.secretAccessKey;
    fake = await startFakeUpstream();
    t = await startTestApp({
      gatewayConfig: {
        providers: { fake: { baseurl: fake.url, apikey: PROVIDER_KEY, models: ['m1'], compatibility: { openai_chat: true } } },
        pricing: { 'fake/m1': { input: 3, output: 15 } },
        grants: [{ src: ['*'], models: ['**'] }],
        capture: { mode: 'full' },
        export: {
          s3: {
            archive: {
              endpoint: s3.endpoint,
              bucket: s3.bucket,
              prefix: 'sluice/',
              access_key_id: s3.accessKeyId,
              secret_access_key: 'env:SLUICE_TEST_S3_SECRET',
              interval: '1h',
              delay: '1m',
            },
          },
        },
      },
      // The schedule is driven by hand here (run()); the scheduler has its own test below.
      env: { EXPORT_CHECK_MS: '3600000' },
    });
    orgId = (await createOrg(t.app, 'exp')).id;
    const tokens = [await createToken(t.app, { orgSlug: 'exp' }), await createToken(t.app, { orgSlug: 'exp' })];
    secrets = [PROVIDER_KEY, s3.secretAccessKey, ...tokens.map((x) => x.secret)];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[i % 2].secret}`, 'content-type': 'application/json', cookie: `sid=${tokens[0].secret}` },
        body: JSON.stringify({ model: 'm1', stream: i % 3 === 0, messages: [{ role: 'user', content: `question ${i}` }] }),
      });
      await res.text();
      expect(res.status).toBe(200);
    }
    await t.app.get(UsageWriter).drain();
    // Real rows from the proxy, moved into a finished window older than the delay.
    await q(`update request_log set created_at = created_at - interval '3 hours'`);
    await q(`update request_capture set created_at = created_at - interval '3 hours'`);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
    await s3?.close();
  });

  it('puts every usage and capture row into gzipped JSON Lines objects, each row once', async () => {
    const dbUsage = await q(`select id::text, model, input_tokens, output_tokens, cost_micros::int as cost, org_id::text from request_log order by created_at, id`);
    const dbCapture = await q(`select request_row_id::text as id from request_capture order by created_at, request_row_id`);
    expect(dbUsage.length).toBe(12);
    expect(dbCapture.length).toBe(12); // capture.mode full: headers and bodies of every request
    const report = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(report.ran).toBe(true);
    expect(report.destinations).toHaveLength(1);
    expect(report.destinations[0].error).toBeNull();
    expect(report.destinations[0].rows).toEqual({ usage: 12, capture: dbCapture.length });

    const usage = await s3.objects('sluice/usage/');
    expect(usage.length).toBeGreaterThanOrEqual(1);
    for (const o of usage) expect(o.key).toMatch(/^sluice\/usage\/dt=\d{4}-\d{2}-\d{2}\/usage-\d{8}T\d{6}\.\d{6}Z-[0-9a-f-]{36}\.jsonl\.gz$/);
    const seen = countIds(usage, 'id');
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect([...seen.keys()].sort()).toEqual(dbUsage.map((r) => r.id).sort());
    const row = usage.flatMap((o) => o.rows).find((r) => r.id === dbUsage[0].id)!;
    expect(row).toMatchObject({ model: 'm1', org_id: orgId, input_tokens: dbUsage[0].input_tokens, output_tokens: dbUsage[0].output_tokens, cost_micros: dbUsage[0].cost });
    expect(row.created_at).toMatch(/\+00:00$/);

    const capture = await s3.objects('sluice/capture/');
    const seenCapture = countIds(capture, 'request_row_id');
    expect([...seenCapture.keys()].sort()).toEqual(dbCapture.map((r) => r.id).sort());
    expect([...seenCapture.values()].every((n) => n === 1)).toBe(true);
    for (const r of capture.flatMap((o) => o.rows)) expect(r).not.toHaveProperty('search');
    expect(capture.flatMap((o) => o.rows).some((r) => String(r.request_body).includes('question 1'))).toBe(true);

    const cur = await q(`select kind, rows_exported::int as n, objects_exported::int as o, last_error from export_cursor order by kind`);
    expect(cur).toEqual([
      { kind: 'capture', n: dbCapture.length, o: capture.length, last_error: null },
      { kind: 'usage', n: 12, o: usage.length, last_error: null },
    ]);
  });

  it('exports nothing twice: a second run adds nothing, later rows go into new objects', async () => {
    const before = (await s3.client.listKeys('sluice/')).sort();
    const again = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(again.destinations[0].objects).toEqual([]);
    expect((await s3.client.listKeys('sluice/')).sort()).toEqual(before);

    const later = await insertUsage(t.db.url, orgId, inPastHour(2, 10_000), 5);
    const waiting = await insertUsage(t.db.url, orgId, new Date(Date.now() - 1000), 2); // newer than the delay, window not over
    const res = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(res.destinations[0].rows.usage).toBe(5);
    const seen = countIds(await s3.objects('sluice/usage/'), 'id');
    expect(later.every((id) => seen.get(id) === 1)).toBe(true);
    expect(waiting.some((id) => seen.has(id))).toBe(false);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('splits a window into several objects at max_rows_per_object, resuming after the last row', async () => {
    // Same data, a second destination with small objects and its own marker.
    const cfg = structuredClone(t.rt.gatewayConfig);
    cfg.export.s3.small = { ...cfg.export.s3.archive, prefix: 'small/', max_rows_per_object: 4, kinds: ['usage'] };
    t.rt.gatewayConfig = cfg;
    const res = await t.app.get(S3ExportService).run({ scheduled: false, only: 'small' });
    const objs = await s3.objects('small/usage/');
    const total = (await q(`select count(*)::int as n from request_log where created_at < $1`, [inPastHour(1)]))[0].n;
    expect(res.destinations[0].rows.usage).toBe(total);
    expect(objs.every((o) => o.rows.length <= 4)).toBe(true);
    expect(objs.length).toBeGreaterThanOrEqual(Math.ceil(total / 4));
    const seen = countIds(objs, 'id');
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Keys sort in export order.
    const flat = objs.flatMap((o) => o.rows.map((r) => `${r.created_at}|${r.id}`));
    expect(flat.length).toBe(total);
  });

  it('exports sessions when asked to, and a session again when it changed', async () => {
    await q(`update session set updated_at = updated_at - interval '3 hours'`);
    const cfg = structuredClone(t.rt.gatewayConfig);
    cfg.export.s3.sessions = { ...cfg.export.s3.archive, prefix: 'sessions/', kinds: ['session'] };
    t.rt.gatewayConfig = cfg;
    const dbSessions = await q(`select id::text as id, requests from session order by id`);
    expect(dbSessions.length).toBeGreaterThan(0);
    const run = () => t.app.get(S3ExportService).run({ scheduled: false, only: 'sessions' });
    const first = await run();
    expect(first.destinations[0].error).toBeNull();
    expect(first.destinations[0].rows).toEqual({ usage: 0, capture: 0, session: dbSessions.length });
    let objs = await s3.objects('sessions/session/');
    expect([...countIds(objs, 'id').keys()].sort()).toEqual(dbSessions.map((r) => r.id).sort());
    expect(objs.flatMap((o) => o.rows).every((r) => typeof r.updated_at === 'string' && typeof r.requests === 'number')).toBe(true);
    // Nothing changed, nothing exported; a session that took more requests goes out again.
    expect((await run()).destinations[0].rows).toEqual({ usage: 0, capture: 0, session: 0 });
    const changed = dbSessions[0];
    await q(`update session set requests = requests + 5, updated_at = now() - interval '2 hours' where id = $1`, [changed.id]);
    expect((await run()).destinations[0].rows).toEqual({ usage: 0, capture: 0, session: 1 });
    objs = await s3.objects('sessions/session/');
    const versions = objs.flatMap((o) => o.rows).filter((r) => r.id === changed.id).map((r) => r.requests);
    expect(versions.sort((a, b) => a - b)).toEqual([changed.requests, changed.requests + 5]);
    // Sessions never hold a purge.
    expect(await q(`select count(*)::int as n from export_cursor where kind = 'session' and holds_purge`)).toEqual([{ n: 0 }]);
  });

  it('shows each destination and kind on the settings export page, for global admins only', async () => {
    await createUser(t.app, { email: 'root@exp.test', org: 'exp', role: 'admin', globalAdmin: true });
    await createUser(t.app, { email: 'admin@exp.test', org: 'exp', role: 'admin' });
    const root = await signIn(t, 'root@exp.test', { globalAdmin: true });
    const page = await root.get('/ui/settings/export').expect(200);
    const cursors = await q(`select destination, kind, rows_exported::int as n from export_cursor order by 1, 2`);
    expect(cursors.length).toBeGreaterThanOrEqual(3);
    for (const c of cursors) {
      const row = new RegExp(`<tr data-row="${c.destination}/${c.kind}"[\\s\\S]*?data-col="rows" data-value="(\\d+)"`).exec(page.text);
      expect([c.destination, c.kind, row && Number(row[1])]).toEqual([c.destination, c.kind, c.n]);
    }
    expect(page.text).not.toContain(s3.secretAccessKey);
    await (await signIn(t, 'admin@exp.test')).get('/ui/settings/export').expect(403);
    // The same in /metrics, per configured destination and kind.
    const prom = (await createToken(t.app, { orgSlug: 'exp', name: 'prometheus', scopes: ['metrics'] })).secret;
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${prom}` } })).text();
    const archive = cursors.find((c) => c.destination === 'archive' && c.kind === 'usage')!;
    expect(text).toContain(`sluice_export_rows_exported{destination="archive",kind="usage"} ${archive.n}`);
    expect(text).toMatch(/sluice_export_failing\{destination="archive",kind="usage"\} 0/);
    expect(text).toMatch(/sluice_export_last_success_timestamp_seconds\{destination="archive",kind="usage"\} \d+/);
  });

  it('keeps secrets out of objects and logs', async () => {
    const all = [...(await s3.objects('sluice/')), ...(await s3.objects('small/'))].map((o) => o.text).join('\n');
    expect(all.length).toBeGreaterThan(1000);
    for (const s of secrets) expect(all.includes(s)).toBe(false);
    const log = fs.readFileSync(t.logFile, 'utf8');
    expect(log).toMatch(/exported to S3/);
    for (const s of secrets) expect(log.includes(s)).toBe(false);
  });

  it('lets one process export at a time (advisory lock)', async () => {
    await withDatabase(t.db.url, async (c) => {
      await c.query('select pg_advisory_lock(727010)');
      const res = await t.app.get(S3ExportService).run({ scheduled: false });
      expect(res).toEqual({ ran: false, reason: 'locked', destinations: [] });
      await c.query('select pg_advisory_unlock(727010)');
    });
    expect((await t.app.get(S3ExportService).run({ scheduled: false })).ran).toBe(true);
  });

  it('records a failing destination and continues from its marker once it works again', async () => {
    const cfg = structuredClone(t.rt.gatewayConfig);
    cfg.export.s3.archive = { ...cfg.export.s3.archive, secret_access_key: 'wrong-secret-for-test' };
    delete cfg.export.s3.small;
    t.rt.gatewayConfig = cfg;
    const ids = await insertUsage(t.db.url, orgId, inPastHour(2, 20_000), 3);
    const res = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(res.destinations[0].error).toMatch(/HTTP 403 SignatureDoesNotMatch/);
    expect((await q(`select last_error from export_cursor where destination = 'archive' and kind = 'usage'`))[0].last_error).toMatch(/SignatureDoesNotMatch/);
    cfg.export.s3.archive.secret_access_key = 'env:SLUICE_TEST_S3_SECRET';
    t.rt.gatewayConfig = structuredClone(cfg);
    const ok = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(ok.destinations[0]).toMatchObject({ error: null, rows: { usage: 3, capture: 0 } });
    const seen = countIds(await s3.objects('sluice/usage/'), 'id');
    expect(ids.every((id) => seen.get(id) === 1)).toBe(true);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('S3 export under a crash between upload and marker move', () => {
  let s3: LocalS3;
  let t: TestApp;
  let orgId: string;
  let configFile: string;
  const q = async (sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows);

  beforeAll(async () => {
    s3 = await startLocalS3();
    const doc = {
      export: {
        s3: { crash: { endpoint: s3.endpoint, bucket: s3.bucket, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey, interval: '1h', delay: '1m', kinds: ['usage'] } },
      },
    };
    configFile = writeConfigFile(doc);
    t = await startTestApp({ gatewayConfig: doc, env: { EXPORT_CHECK_MS: '3600000' } });
    orgId = (await createOrg(t.app, 'crash')).id;
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  it('a killed `sluice export run` leaves its object; the next run replaces it and nothing is duplicated', async () => {
    const first = await insertUsage(t.db.url, orgId, inPastHour(3), 20);
    // The marker move hangs (as if the process died right after the upload)...
    await q(`create function test_hang() returns trigger language plpgsql as $$ begin perform pg_sleep(60); return new; end $$`);
    await q(`create trigger test_hang before update on export_cursor for each row when (new.objects_exported > old.objects_exported) execute function test_hang()`);
    const logFile = logFileFor('cli-killed');
    const child = spawn(NODE, [path.join(ROOT, 'bin', 'sluice.js'), 'export', 'run'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: t.db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY, SLUICE_CONFIG: configFile },
      cwd: ROOT,
    });
    child.stdout.on('data', (d) => fs.appendFileSync(logFile, d));
    child.stderr.on('data', (d) => fs.appendFileSync(logFile, d));
    const exited = new Promise((r) => child.once('exit', r));
    // ...so the object is in the bucket while the marker has not moved: kill the process there.
    const deadline = Date.now() + 60_000;
    while ((await s3.client.listKeys('sluice/')).length === 0 || !(await q(`select 1 from pg_stat_activity where query like 'update export_cursor set last_created_at%' and wait_event = 'PgSleep'`)).length) {
      if (Date.now() > deadline) throw new Error(`the export did not reach the marker move: ${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    await exited;
    await q(`select pg_terminate_backend(pid) from pg_stat_activity where query like 'update export_cursor set last_created_at%' and pid <> pg_backend_pid()`);
    await q(`drop trigger test_hang on export_cursor`);
    const keysAfterCrash = await s3.client.listKeys('sluice/');
    expect(keysAfterCrash).toHaveLength(1);
    expect((await s3.objects('sluice/'))[0].rows).toHaveLength(20);
    expect(await q(`select last_created_at = '-infinity' as unmoved, rows_exported::int as n from export_cursor where destination = 'crash'`)).toEqual([{ unmoved: true, n: 0 }]);

    // More rows arrive in the same, finished window before the retry.
    const second = await insertUsage(t.db.url, orgId, inPastHour(3, 30 * 60_000), 7);
    const res = await t.app.get(S3ExportService).run({ scheduled: false });
    expect(res.destinations[0]).toMatchObject({ error: null, rows: { usage: 27 } });
    const objs = await s3.objects('sluice/');
    // The same key (from the first row after the marker), overwritten with the fuller range.
    expect(objs.map((o) => o.key)).toEqual(keysAfterCrash);
    const seen = countIds(objs, 'id');
    expect(seen.size).toBe(27);
    expect([...first, ...second].every((id) => seen.get(id) === 1)).toBe(true);
    expect(await q(`select rows_exported::int as n, objects_exported::int as o from export_cursor where destination = 'crash'`)).toEqual([{ n: 27, o: 1 }]);
  });

  it('`sluice export status` and `export run` report per destination', async () => {
    const env = { DATABASE_URL: t.db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY, SLUICE_CONFIG: configFile };
    await insertUsage(t.db.url, orgId, inPastHour(2), 3);
    const run = await runCli(['export', 'run'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^crash: 1 objects, 3 usage rows, 0 capture rows\n  sluice\/usage\/dt=/);
    const st = await runCli(['export', 'status', '--json'], env);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toEqual([
      expect.objectContaining({ destination: 'crash', kind: 'usage', configured: true, enabled: true, bucket: s3.bucket, rowsExported: 30, objectsExported: 2, holdsPurge: false, lastError: null }),
    ]);
    for (const out of [run.stdout, st.stdout]) expect(out.includes(s3.secretAccessKey)).toBe(false);
  });
});

describe('S3 export with purge after export, config in the database', () => {
  let s3: LocalS3;
  let t: TestApp;
  let orgId: string;
  const q = async (sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows);

  beforeAll(async () => {
    s3 = await startLocalS3();
    t = await startTestApp({ env: { EXPORT_CHECK_MS: '3600000' } });
    orgId = (await createOrg(t.app, 'purge')).id;
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  const destination = (over: Record<string, unknown> = {}) => ({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    access_key_id: s3.accessKeyId,
    secret_access_key: s3.secretAccessKey,
    interval: '1h',
    delay: '1m',
    purge_after_export: true,
    ...over,
  });

  it('stores the secret access key encrypted and write-only', async () => {
    const store = t.app.get(ConfigStore);
    await store.save('test', { export: { s3: { vault: destination() } } }, 'export on');
    const stored = await q(`select document->'export'->'s3'->'vault'->>'secret_access_key' as k from config_version where active`);
    expect(stored[0].k).toMatch(/^enc:v1:/);
    const shown = await store.view();
    expect(shown.document.export.s3.vault.secret_access_key).toBe('••••' + s3.secretAccessKey.slice(-4));
    // Saving what was shown keeps the stored key.
    await store.save('test', shown.document, 'unchanged');
    expect((await q(`select document->'export'->'s3'->'vault'->>'secret_access_key' as k from config_version where active`))[0].k).toBe(stored[0].k);
    const dump = await dumpDatabase(t.db.url);
    expect(dump.includes(s3.secretAccessKey)).toBe(false);
    await expect(store.save('test', { export: { s3: { vault: destination({ secret_access_key: 'env:SLUICE_TEST_UNSET_VARIABLE' }) } } })).rejects.toThrow(
      /export\.s3\.vault\.secret_access_key: environment variable SLUICE_TEST_UNSET_VARIABLE is not set/,
    );
  });

  it('keeps request_log partitions and captures past retention until they are exported', async () => {
    const svc = t.app.get(S3ExportService);
    await q(`create table request_log_p20250101 partition of request_log for values from ('2025-01-01 00:00:00+00') to ('2025-01-02 00:00:00+00')`);
    const oldUsage = await insertUsage(t.db.url, orgId, new Date('2025-01-01T10:00:00Z'), 4);
    const oldCapture = await insertCaptures(t.db.url, orgId, new Date('2025-01-01T10:00:00Z'), 4);
    // Nothing exported yet: the purge may delete nothing.
    expect(await svc.exportedUpTo('usage')).toEqual(new Date(0));
    expect(await svc.exportedUpTo('capture')).toEqual(new Date(0));
    expect(await t.app.get(UsageWriter).maintain()).toEqual([]);
    expect((await q(`select count(*)::int as n from request_log where created_at < '2025-02-01'`))[0].n).toBe(4);
    // The capture retention job (30 days by default) leaves them too.
    await t.app.get(CaptureRetentionService).purge();
    expect((await q(`select count(*)::int as n from request_capture where created_at < '2025-02-01'`))[0].n).toBe(4);

    const res = await svc.run({ scheduled: false });
    expect(res.destinations[0]).toMatchObject({ error: null, rows: { usage: 4, capture: 4 } });
    const horizon = await svc.exportedUpTo('capture');
    expect(horizon!.getTime()).toBeGreaterThanOrEqual(new Date('2025-01-01T10:00:03Z').getTime());
    // The exported partition may go now; the rows are in the bucket.
    expect(await t.app.get(UsageWriter).maintain()).toEqual(['request_log_p20250101']);
    expect((await t.app.get(CaptureRetentionService).purge()).captures).toBe(4);
    expect((await q(`select count(*)::int as n from request_capture where created_at < '2025-02-01'`))[0].n).toBe(0);
    const seen = countIds(await s3.objects('sluice/usage/'), 'id');
    expect(oldUsage.every((id) => seen.get(id) === 1)).toBe(true);
    const seenCapture = countIds(await s3.objects('sluice/capture/'), 'request_row_id');
    expect(oldCapture.every((id) => seenCapture.get(id) === 1)).toBe(true);
    // A capture row created after the horizon is not covered.
    const [late] = await insertCaptures(t.db.url, orgId, new Date(horizon!.getTime() + 1000), 1);
    expect((await q(`select count(*)::int as n from request_capture where request_row_id = $1 and created_at < sluice_export_horizon('capture')`, [late]))[0].n).toBe(0);
  });

  it('releases the hold when the destination no longer asks for it', async () => {
    const store = t.app.get(ConfigStore);
    const shown = await store.view();
    shown.document.export.s3.vault.purge_after_export = false;
    await store.save('test', shown.document, 'purge freely');
    expect(await t.app.get(S3ExportService).exportedUpTo('usage')).toBeNull();
    expect((await q(`select sluice_export_horizon('capture') = 'infinity' as free`))[0].free).toBe(true);
  });

  it('runs on its schedule in the server, once per interval whatever the number of checks', async () => {
    const ids = await insertUsage(t.db.url, orgId, inPastHour(2), 3);
    const sched = t.app.get(S3ExportScheduler);
    await q(`update export_cursor set last_run_at = now() - interval '2 hours'`);
    await sched.tick();
    const seen = countIds(await s3.objects('sluice/usage/'), 'id');
    expect(ids.every((id) => seen.get(id) === 1)).toBe(true);
    // Just ran: the next checks within the interval do nothing, even with new rows waiting.
    const more = await insertUsage(t.db.url, orgId, inPastHour(2, 60_000), 2);
    await sched.tick();
    await sched.tick();
    const after = countIds(await s3.objects('sluice/usage/'), 'id');
    expect(more.some((id) => after.has(id))).toBe(false);
  });
});
