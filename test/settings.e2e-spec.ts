import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { dumpDatabase, freePort, registerSecret, withDatabase } from './support/pg';
import { signIn, TestSession } from './support/session';
import { OrgsService } from '../src/orgs/orgs.service';

/**
 * The settings page and the config API: only global admins; validated saves with who and why;
 * schema errors with their path (and line, for JSON text); restore; write-only provider keys that
 * never show up in a page, an API answer, a diff or the database; "test connection" through the
 * upstream pool; and the grant preview agreeing with what the proxy lets through.
 */
const KEY_A = 'sk-settings-provider-key-A-0123456789-AAWX';
const KEY_B = 'sk-settings-provider-key-B-9876543210-BBYZ';
const KEY_ECHO = 'sk-settings-echoed-key-C-555555555-CCQQ';
/** Ends like KEY_A, so only the diff's "(replaced)" tells them apart. */
const KEY_A2 = 'sk-settings-provider-key-A2-1111111111-AAWX';
const HEADER_SECRET = 'hdr-settings-secret-7777777777-HHKK';

describe('settings: config editor and config API', () => {
  let t: TestApp;
  let fake: FakeUpstream;
  let root: TestSession;
  let orgAdmin: TestSession;
  let member: TestSession;
  let rootToken: string;
  let orgAdminToken: string;
  let devToken: string;
  /** Every body the tests received, searched for the keys at the end. */
  const seen: string[] = [];
  const keep = <T extends { text: string; headers?: Record<string, unknown> }>(r: T): T => {
    seen.push(r.text, JSON.stringify(r.headers ?? {}));
    return r;
  };
  const q = <T = any>(sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  const api = (token: string) => ({
    get: (path: string) => request(t.url).get(path).set('authorization', `Bearer ${token}`),
    post: (path: string, body: unknown) => request(t.url).post(path).set('authorization', `Bearer ${token}`).send(body as object),
  });
  const chat = (secret: string, model: string) =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
  /** The visual editor's fields for one provider with models and prices, plus grants. */
  const visual = (o: { name?: string; orig?: string; key?: string; baseurl?: string; models?: [string, string, string][]; grants?: [string[], string[]][]; reason?: string; baseVersion?: string; extra?: Record<string, string> }): any => {
    const f: Record<string, string | string[]> = {
      baseVersion: o.baseVersion ?? '',
      reason: o.reason ?? 'a reason',
      'p.0.name': o.name ?? 'fake',
      'p.0.orig': o.orig ?? '',
      'p.0.baseurl': o.baseurl ?? fake.url,
      'p.0.authorization': 'bearer',
      'p.0.apikey': o.key ?? '',
      'p.0.compat': ['openai_chat'],
      ...(o.extra ?? {}),
    };
    (o.models ?? [['m1', '1', '2']]).forEach(([m, i, out], j) => Object.assign(f, { [`p.0.m.${j}.name`]: m, [`p.0.m.${j}.input`]: i, [`p.0.m.${j}.output`]: out }));
    (o.grants ?? [[['*'], ['**']]]).forEach(([src, models], k) => Object.assign(f, { [`g.${k}.src`]: src, [`g.${k}.models`]: models }));
    if (!f.baseVersion) delete f.baseVersion;
    return f;
  };

  beforeAll(async () => {
    for (const k of [KEY_A, KEY_B, KEY_ECHO, KEY_A2, HEADER_SECRET]) registerSecret(k);
    fake = await startFakeUpstream();
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    await createOrg(t.app, 'acme', 'Acme Corp');
    await createOrg(t.app, 'globex');
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    await createUser(t.app, { email: 'dev@acme.test', org: 'acme', role: 'member' });
    await createUser(t.app, { email: 'root@example.test', org: 'acme', role: 'admin', globalAdmin: true });
    await createTeam(t.app, 'acme', 'core');
    await t.app.get(OrgsService).addTeamMember('test', 'acme', 'core', 'dev@acme.test');
    root = await signIn(t, 'root@example.test');
    orgAdmin = await signIn(t, 'admin@acme.test');
    member = await signIn(t, 'dev@acme.test');
    rootToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'root@example.test', scopes: ['admin'] })).secret;
    orgAdminToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'admin@acme.test', scopes: ['admin', 'proxy'] })).secret;
    devToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'dev@acme.test', name: 'dev-laptop' })).secret;
  }, 90_000);
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('is for global admins only: others get a readable 403 page, or 403 from the API', async () => {
    for (const s of [orgAdmin, member]) {
      const page = keep(await s.get('/ui/settings').expect(403));
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.text).toContain('Settings are for global admins');
      await s.get('/ui/settings/history').expect(403);
      await s.htmx('post', '/ui/settings/save', { reason: 'x' }).expect(403);
      await s.api('post', '/api/v1/config', { document: {}, reason: 'x' }).expect(403);
    }
    for (const path of ['/api/v1/config', '/api/v1/config/versions', '/api/v1/config/versions/1', '/api/v1/config/diff?from=1&to=2']) await api(orgAdminToken).get(path).expect(403);
    await api(orgAdminToken).post('/api/v1/config/validate', { document: {} }).expect(403);
    await api(orgAdminToken).post('/api/v1/config/test-connection', { name: 'x', provider: { baseurl: fake.url } }).expect(403);
    const ok = keep(await root.get('/ui/settings').expect(200));
    expect(ok.text).toContain('id="settings-visual"');
    expect(ok.text).toContain('/static/js/settings.js');
    // The page script is loaded on this page only.
    expect((await root.get('/ui/tokens').expect(200)).text).not.toContain('/static/js/settings.js');
    expect(await q('select * from config_version')).toEqual([]);
  });

  it('refuses an invalid document with the schema path (and line, for JSON text) on the page and through the API', async () => {
    const text = ['{', '  "providers": {', '    "bad": {', '      "baseurl": "not a url",', '      "models": ["x"]', '    }', '  },', '  "grants": [{ "src": ["nobody"], "models": ["**"] }]', '}'].join('\n');
    const page = keep(await root.htmx('post', '/ui/settings/save-json', { json: text, reason: 'try', baseVersion: 'none' }).expect(400));
    expect(page.text).toContain('Not saved.');
    expect(page.text).toMatch(/data-line="4"[^>]*>.*line 4<\/button> <code>providers\.bad\.baseurl<\/code>/);
    expect(page.text).toMatch(/line 8<\/button> <code>grants\.0\.src\.0<\/code>/);
    const syntax = keep(await root.htmx('post', '/ui/settings/save-json', { json: '{\n  "providers": {},\n}', reason: 'try' }).expect(400));
    expect(syntax.text).toContain('line 3');
    expect(syntax.text).toContain('trailing commas');
    const noReason = keep(await root.htmx('post', '/ui/settings/save-json', { json: '{}', reason: ' ' }).expect(400));
    expect(noReason.text).toContain('say why');
    // The visual editor: the same schema, the path of the field.
    const form = keep(await root.htmx('post', '/ui/settings/save', visual({ baseurl: 'nope' })).expect(400));
    expect(form.text).toContain('providers.fake.baseurl');
    // "Check without saving" answers 200 with the list.
    const check = keep(await root.htmx('post', '/ui/settings/validate', { json: text }).expect(200));
    expect(check.text).toContain('providers.bad.baseurl');
    expect(keep(await root.htmx('post', '/ui/settings/validate', { json: '{"providers": {}}' }).expect(200)).text).toContain('config-valid');

    const viaText = keep(await api(rootToken).post('/api/v1/config', { text, reason: 'try' }).expect(400));
    expect(viaText.body.error.code).toBe('invalid_request');
    expect(viaText.body.error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'providers.bad.baseurl', line: 4 }),
        expect.objectContaining({ path: 'grants.0.src.0', line: 8 }),
      ]),
    );
    const viaDoc = keep(await api(rootToken).post('/api/v1/config', { document: JSON.parse(text), reason: 'try' }).expect(400));
    expect(viaDoc.body.error.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['providers.bad.baseurl', 'grants.0.src.0']));
    expect(viaDoc.body.error.message).toContain('providers.bad.baseurl');
    const validate = keep(await api(rootToken).post('/api/v1/config/validate', { document: JSON.parse(text) }).expect(200));
    expect(validate.body.valid).toBe(false);
    expect(validate.body.issues.map((i: { path: string }) => i.path)).toContain('providers.bad.baseurl');
    await api(rootToken).post('/api/v1/config', { document: { providers: {} } }).expect(400);
    expect(await q('select * from config_version')).toEqual([]);
  });

  it('saves from the visual editor with who and why, keeps keys write-only, and keeps what the form has no field for', async () => {
    const saved = keep(await root.htmx('post', '/ui/settings/save', visual({ key: KEY_A, baseVersion: 'none', reason: 'first providers', extra: { 'p.0.extra': JSON.stringify({ timeout_ms: 60000 }) } })).expect(200));
    expect(saved.text).toContain('Saved version');
    expect(saved.text).toContain('••••AAWX');
    const [v1] = await q('select id, created_by, comment, document, key_hints from config_version');
    expect(v1).toMatchObject({ created_by: 'user:root@example.test', comment: 'first providers', key_hints: { fake: 'AAWX' } });
    expect(v1.document.providers.fake).toMatchObject({ timeout_ms: 60000, models: ['m1'], authorization: 'bearer', compatibility: { openai_chat: true } });
    expect(v1.document.providers.fake.apikey).toMatch(/^enc:v1:/);
    expect(v1.document.pricing).toEqual({ 'fake/m1': { input: 1, output: 2 } });
    expect((await q("select action, actor, target_id from audit_event where action like 'config.%'"))[0]).toEqual({ action: 'config.save', actor: 'user:root@example.test', target_id: String(v1.id) });

    // The new version serves requests, with the key.
    fake.reset();
    expect((await chat(devToken, 'fake/m1')).status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_A}`);

    // Saving on top of an older version is refused; saving with the key field empty keeps it, even renamed.
    const stale = keep(await root.htmx('post', '/ui/settings/save', visual({ baseVersion: 'none', reason: 'stale' })).expect(409));
    expect(stale.text).toContain('was saved after you opened the editor');
    keep(await root.htmx('post', '/ui/settings/save', visual({ name: 'renamed', orig: 'fake', baseVersion: String(v1.id), reason: 'rename', extra: { 'p.0.extra': JSON.stringify({ timeout_ms: 60000 }) } })).expect(200));
    const [v2] = await q('select document, key_hints from config_version where active');
    expect(v2.document.providers.renamed.apikey).toBe(v1.document.providers.fake.apikey);
    expect(v2.key_hints).toEqual({ renamed: 'AAWX' });
    fake.reset();
    expect((await chat(devToken, 'renamed/m1')).status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_A}`);
    // The JSON editor refuses a mask with nothing behind it rather than silently dropping the key.
    const masked = keep(await root.htmx('post', '/ui/settings/save-json', { json: JSON.stringify({ providers: { other: { baseurl: fake.url, apikey: '••••AAWX', models: ['z'] } } }), reason: 'paste' }).expect(400));
    expect(masked.text).toContain('providers.other.apikey');
    expect(masked.text).toContain('enter the key again');

    const editor = keep(await root.get('/ui/settings').expect(200));
    expect(editor.text).toContain('••••AAWX');
    expect(editor.text).toContain('&quot;timeout_ms&quot;:60000');
    const json = keep(await root.get('/ui/settings?tab=json').expect(200));
    expect(json.text).toContain('&quot;apikey&quot;: &quot;••••AAWX&quot;');
  });

  it('config API: active, versions, one version, diff; restoring version N brings back exactly N', async () => {
    const active = keep(await api(rootToken).get('/api/v1/config').expect(200));
    expect(active.body.source).toBe('database');
    expect(active.body.document.providers.renamed.apikey).toBe('••••AAWX');
    const n = active.body.version.version;
    const saved = keep(
      await api(rootToken)
        .post('/api/v1/config', {
          reason: 'second key and a grant for the team',
          baseVersion: n,
          document: {
            ...active.body.document,
            providers: { ...active.body.document.providers, second: { baseurl: fake.url, apikey: KEY_B, models: ['m2'], compatibility: { openai_chat: true } } },
            grants: [{ src: ['team:acme/core'], models: ['second/*'] }],
          },
        })
        .expect(201),
    );
    expect(saved.body).toMatchObject({ version: n + 1, createdBy: `token:${(await q("select t.id from api_token t join app_user u on u.id = t.owner_user_id where u.email = 'root@example.test'"))[0].id}`, comment: 'second key and a grant for the team', active: true });
    fake.reset();
    expect((await chat(devToken, 'second/m2')).status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_B}`);
    expect((await chat(devToken, 'renamed/m1')).status).toBe(403);

    const versions = keep(await api(rootToken).get('/api/v1/config/versions').expect(200));
    expect(versions.body.data.map((v: { version: number; active: boolean }) => [v.version, v.active])).toEqual([
      [n + 1, true],
      [n, false],
      [n - 1, false],
    ]);
    const one = keep(await api(rootToken).get(`/api/v1/config/versions/${n + 1}`).expect(200));
    expect(one.body.document.providers.second.apikey).toBe('••••BBYZ');
    await api(rootToken).get('/api/v1/config/versions/999').expect(404);
    await api(rootToken).get('/api/v1/config/versions/abc').expect(400);
    const diff = keep(await api(rootToken).get(`/api/v1/config/diff?from=${n}&to=${n + 1}`).expect(200));
    expect(diff.body.changes.map((c: { path: string }) => c.path)).toEqual(expect.arrayContaining(['providers.second.apikey', 'providers.second.models', 'grants']));
    expect(diff.body.changes.find((c: { path: string }) => c.path === 'providers.second.apikey')).toEqual({ path: 'providers.second.apikey', after: '••••BBYZ' });

    // Restore version N - 1 (the first one): a new version whose stored document is exactly N - 1's.
    const restored = keep(await api(rootToken).post(`/api/v1/config/versions/${n - 1}/restore`, { reason: 'back to the start' }).expect(201));
    expect(restored.body).toMatchObject({ version: n + 2, comment: `restore of version ${n - 1}: back to the start`, active: true });
    const [a, b] = await q('select id, document, key_hints from config_version where id = any($1::bigint[]) order by id', [[n - 1, n + 2]]);
    expect(b.document).toEqual(a.document);
    expect(b.key_hints).toEqual(a.key_hints);
    const same = keep(await api(rootToken).get(`/api/v1/config/diff?from=${n - 1}&to=${n + 2}`).expect(200));
    expect(same.body.changes).toEqual([]);
    fake.reset();
    expect((await chat(devToken, 'fake/m1')).status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_A}`);
    expect((await chat(devToken, 'second/m2')).status).toBe(404);
    expect((await q("select action from audit_event where action like 'config.%' order by created_at")).map((r) => r.action)).toEqual(['config.save', 'config.save', 'config.save', 'config.restore']);

    // A new key with the same last four characters still shows in the diff.
    const current = keep(await api(rootToken).get('/api/v1/config').expect(200));
    const rekeyed = keep(await api(rootToken).post('/api/v1/config', { reason: 'rotate the key', document: { ...current.body.document, providers: { ...current.body.document.providers, fake: { ...current.body.document.providers.fake, apikey: KEY_A2 } } } }).expect(201));
    const rotation = keep(await api(rootToken).get(`/api/v1/config/diff?from=${n + 2}&to=${rekeyed.body.version}`).expect(200));
    expect(rotation.body.changes).toEqual([{ path: 'providers.fake.apikey', before: '••••AAWX', after: '••••AAWX (replaced)' }]);
    fake.reset();
    expect((await chat(devToken, 'fake/m1')).status).toBe(200);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_A2}`);
  });

  it('history, version and diff pages; restore from the page', async () => {
    const history = keep(await root.get('/ui/settings/history').expect(200));
    const ids = (await q<{ id: string }>('select id from config_version order by id')).map((r) => Number(r.id));
    for (const id of ids) expect(history.text).toContain(`data-version="${id}"`);
    expect(history.text).toContain('back to the start');
    expect(history.text).toContain('user:root@example.test');
    const version = keep(await root.get(`/ui/settings/versions/${ids[2]}`).expect(200));
    expect(version.text).toContain('••••BBYZ');
    expect(version.text).toContain('data-testid="restore"');
    const diff = keep(await root.get(`/ui/settings/diff?from=${ids[1]}&to=${ids[2]}`).expect(200));
    expect(diff.text).toContain('data-path="providers.second.apikey"');
    expect(diff.text).toContain('••••BBYZ');
    keep(await root.get(`/ui/settings/diff?from=${ids[0]}&to=active`).expect(200));
    await root.htmx('post', `/ui/settings/versions/${ids[2]}/restore`, { reason: '' }).expect(400);
    const r = keep(await root.htmx('post', `/ui/settings/versions/${ids[2]}/restore`, { reason: 'the team needs m2 again' }).expect(200));
    const to = r.headers['hx-redirect'];
    expect(to).toMatch(new RegExp(`^/ui/settings/versions/${ids[ids.length - 1] + 1}\\?restored=${ids[2]}$`));
    const after = keep(await root.get(to).expect(200));
    expect(after.text).toContain(`Version ${ids[2]} restored as version ${ids[ids.length - 1] + 1}`);
    const [x, y] = await q('select document from config_version where id = any($1::bigint[]) order by id', [[ids[2], ids[ids.length - 1] + 1]]);
    expect(y.document).toEqual(x.document);
  });

  it('tests a connection through the upstream pool: a draft with a typed key, a saved provider with its stored key', async () => {
    fake.reset();
    const draft = keep(
      await root.htmx('post', '/ui/settings/test-connection', { test: '7', 'p.7.name': 'draft', 'p.7.baseurl': fake.url, 'p.7.authorization': 'x-api-key', 'p.7.apikey': KEY_ECHO, 'p.7.compat': 'anthropic_messages' }).expect(200),
    );
    expect(draft.text).toContain('answered HTTP 200 with 3 models');
    expect(fake.requests.map((r) => [r.method, r.path])).toEqual([['GET', '/v1/models']]);
    expect(fake.requests[0].headers['x-api-key']).toBe(KEY_ECHO);
    expect(fake.requests[0].headers['anthropic-version']).toBe('2023-06-01');
    expect(fake.requests[0].headers.authorization).toBeUndefined();

    // The saved provider "second", key left empty: the stored key, through the active pool.
    const [{ document }] = await q("select document from config_version where active");
    expect(Object.keys(document.providers)).toContain('second');
    fake.reset();
    const stored = keep(await root.htmx('post', '/ui/settings/test-connection', { test: '0', 'p.0.name': 'second', 'p.0.orig': 'second', 'p.0.baseurl': fake.url, 'p.0.authorization': 'bearer', 'p.0.apikey': '', 'p.0.compat': 'openai_chat' }).expect(200));
    expect(stored.text).toContain('answered HTTP 200 with 7 models');
    expect(stored.text).toContain('through the active pool');
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY_B}`);
    // The stored key goes only to the saved base URL, not to any address typed into the form.
    const elsewhere = `http://127.0.0.1:${await freePort()}`;
    const refused = keep(await root.htmx('post', '/ui/settings/test-connection', { test: '0', 'p.0.name': 'second', 'p.0.orig': 'second', 'p.0.baseurl': elsewhere, 'p.0.apikey': '' }).expect(400));
    expect(refused.text).toContain('only sent to its saved base URL');
    await api(rootToken).post('/api/v1/config/test-connection', { name: 'second', provider: { baseurl: elsewhere } }).expect(400);

    // An upstream that quotes the key back in its error: the key is not shown.
    const echo = http.createServer((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${String(req.headers.authorization).slice(7)}` } }));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
      const bad = keep(await root.htmx('post', '/ui/settings/test-connection', { test: '1', 'p.1.name': 'echo', 'p.1.baseurl': url, 'p.1.apikey': KEY_ECHO }).expect(200));
      expect(bad.text).toContain('HTTP 401');
      expect(bad.text).toContain('quoted the key');
      const viaApi = keep(await api(rootToken).post('/api/v1/config/test-connection', { name: 'echo', provider: { baseurl: url, apikey: KEY_ECHO } }).expect(200));
      expect(viaApi.body).toMatchObject({ ok: false, status: 401, provider: 'echo' });
    } finally {
      echo.close();
    }
    const dead = keep(await root.htmx('post', '/ui/settings/test-connection', { test: '2', 'p.2.name': 'dead', 'p.2.baseurl': `http://127.0.0.1:${await freePort()}` }).expect(200));
    expect(dead.text).toContain('unreachable');
    const activeApi = keep(await api(rootToken).post('/api/v1/config/test-connection', { name: 'second' }).expect(200));
    expect(activeApi.body).toMatchObject({ ok: true, status: 200, modelCount: 7, pool: 'active' });
    // A stored, encrypted value is never accepted from a client.
    await api(rootToken).post('/api/v1/config/test-connection', { name: 'x', provider: { baseurl: fake.url, apikey: document.providers.second.apikey } }).expect(400);
  });

  it("previews who can use what with the proxy's own grant evaluation", async () => {
    const fields = visual({
      name: 'second',
      orig: 'second',
      models: [
        ['m2', '', ''],
        ['m3', '', ''],
      ],
      grants: [
        [['team:acme/core'], ['second/m2']],
        [['org:globex', 'user:dev@acme.test'], ['second/m3', 'nothing/**']],
      ],
    });
    const team = keep(await root.htmx('post', '/ui/settings/preview', { ...fields, _previewSubject: 'team:acme/core' }).expect(200));
    expect([...team.text.matchAll(/data-testid="granted-model">([^<]+)</g)].map((m) => m[1])).toEqual(['second/m2']);
    const person = keep(await root.htmx('post', '/ui/settings/preview', { ...fields, _previewSubject: 'user:dev@acme.test' }).expect(200));
    expect([...person.text.matchAll(/data-testid="granted-model">([^<]+)</g)].map((m) => m[1])).toEqual(['second/m2', 'second/m3']);
    expect(person.text).toContain('no match: nothing/**');
    const overview = keep(await root.htmx('post', '/ui/settings/preview', fields).expect(200));
    expect(overview.text).toMatch(/<tr data-subject="org:globex">[\s\S]*?<code class="model-chip">second\/m3<\/code>/);
    expect(overview.text).toMatch(/<tr data-subject="org:acme">[\s\S]*?nothing/);
    // The same draft saved: dev's requests get exactly what the preview said.
    keep(await root.htmx('post', '/ui/settings/save', { ...fields, reason: 'grants for the preview' }).expect(200));
    const models = (await (await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${devToken}` } })).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['second/m2', 'second/m3']);
    // A token's preview includes its own narrowing.
    const narrow = await createToken(t.app, { orgSlug: 'acme', userEmail: 'dev@acme.test', name: 'narrow', modelPatterns: ['second/m3'] });
    const tok = keep(await root.htmx('post', '/ui/settings/preview', { ...fields, _previewSubject: `token:${narrow.id}` }).expect(200));
    expect([...tok.text.matchAll(/data-testid="granted-model">([^<]+)</g)].map((m) => m[1])).toEqual(['second/m3']);
    expect((await chat(narrow.secret, 'second/m2')).status).toBe(403);
  });

  it('extra headers that carry credentials are write-only like keys; others stay as typed', async () => {
    const active = keep(await api(rootToken).get('/api/v1/config').expect(200));
    const doc = active.body.document;
    // Granted to the core team (dev@acme.test) by the test before.
    const name = 'second';
    expect(Object.keys(doc.providers)).toContain(name);
    const withHeaders = (h: Record<string, string>) => ({ ...doc, providers: { ...doc.providers, [name]: { ...doc.providers[name], headers: h } } });
    keep(await api(rootToken).post('/api/v1/config', { reason: 'a gateway key header', baseVersion: active.body.version.version, document: withHeaders({ 'X-Gateway-Key': HEADER_SECRET, 'X-Org': 'acme' }) }).expect(201));
    const shown = keep(await api(rootToken).get('/api/v1/config').expect(200)).body;
    expect(shown.document.providers[name].headers).toEqual({ 'X-Gateway-Key': '••••HHKK', 'X-Org': 'acme' });
    const [stored] = await q<{ h: Record<string, string> }>(`select document->'providers'->$1->'headers' as h from config_version where active`, [name]);
    expect(stored.h['X-Gateway-Key']).toMatch(/^enc:v1:/);
    // The upstream gets the value itself; saving the masked document back keeps it.
    const model = `${name}/${doc.providers[name].models[0]}`;
    const sendsIt = async () => {
      fake.requests.length = 0;
      expect((await chat(devToken, model)).status).toBe(200);
      expect(fake.requests.at(-1)?.headers['x-gateway-key']).toBe(HEADER_SECRET);
      expect(fake.requests.at(-1)?.headers['x-org']).toBe('acme');
    };
    await sendsIt();
    keep(await api(rootToken).post('/api/v1/config', { reason: 'unchanged', baseVersion: shown.version.version, document: shown.document }).expect(201));
    await sendsIt();
    // Testing a draft sends the kept value, only to the saved base URL.
    fake.requests.length = 0;
    keep(await api(rootToken).post('/api/v1/config/test-connection', { name, provider: { baseurl: fake.url, headers: { 'X-Gateway-Key': '••••HHKK' }, compatibility: { openai_chat: true } } }).expect(200));
    expect(fake.requests.at(-1)?.headers['x-gateway-key']).toBe(HEADER_SECRET);
    keep(await api(rootToken).post('/api/v1/config/test-connection', { name, provider: { baseurl: 'http://127.0.0.1:9', headers: { 'X-Gateway-Key': '••••HHKK' } } }).expect(400));
    // Replaced by a value with the same last four characters: the diff still says so.
    const v1 = keep(await api(rootToken).get('/api/v1/config').expect(200)).body;
    const other = `${HEADER_SECRET.slice(0, -6)}xyHHKK`;
    registerSecret(other);
    const v2 = keep(await api(rootToken).post('/api/v1/config', { reason: 'rotated header', baseVersion: v1.version.version, document: withHeaders({ 'X-Gateway-Key': other, 'X-Org': 'acme' }) }).expect(201)).body;
    const changes = keep(await api(rootToken).get(`/api/v1/config/diff?from=${v1.version.version}&to=${v2.version}`).expect(200)).body.changes;
    expect(changes).toEqual([{ path: `providers.${name}.headers.X-Gateway-Key`, before: '••••HHKK', after: '••••HHKK (replaced)' }]);
    // A mask with nothing stored behind it is refused, not sent upstream.
    const bad = keep(await api(rootToken).post('/api/v1/config', { reason: 'x', document: withHeaders({ 'X-Other-Token': '••••ABCD' }) }).expect(400));
    expect(bad.text).toContain(`providers.${name}.headers.X-Other-Token`);
  });

  it('never shows, returns, logs or stores a provider key in the clear', async () => {
    seen.push(keep(await api(rootToken).get('/api/v1/config').expect(200)).text);
    seen.push(keep(await root.get('/ui/settings/history').expect(200)).text);
    const ids = (await q<{ id: string }>('select id from config_version order by id')).map((r) => r.id);
    for (const id of ids) {
      keep(await root.get(`/ui/settings/versions/${id}`).expect(200));
      keep(await api(rootToken).get(`/api/v1/config/versions/${id}`).expect(200));
      keep(await api(rootToken).get(`/api/v1/config/diff?from=${ids[0]}&to=${id}`).expect(200));
      keep(await root.get(`/ui/settings/diff?from=${id}&to=${ids[ids.length - 1]}`).expect(200));
    }
    // Carrying a draft with a newly typed key to the JSON editor drops the key (with a warning).
    const carried = keep(await root.htmx('post', '/ui/settings/convert?to=json', visual({ name: 'second', orig: 'second', key: KEY_ECHO })).expect(200));
    expect(carried.text).toContain('were not carried over');
    const all = seen.join('\n');
    expect(all.length).toBeGreaterThan(10_000);
    for (const key of [KEY_A, KEY_B, KEY_ECHO, KEY_A2, HEADER_SECRET]) {
      expect(all).not.toContain(key);
      expect(all).not.toContain(key.slice(0, -4));
    }
    const dump = await dumpDatabase(t.db.url);
    expect(dump).toContain('enc:v1:');
    for (const key of [KEY_A, KEY_B, KEY_ECHO, KEY_A2, HEADER_SECRET]) expect(dump).not.toContain(key);
  });

  it('is read-only in file mode, with a note; preview and test connection still work', async () => {
    const file = await startTestApp({
      env: { LOGIN_RATE_LIMIT: '1000' },
      gatewayConfig: { providers: { local: { baseurl: fake.url, models: ['a', 'b'], compatibility: { openai_chat: true } } }, grants: [{ src: ['*'], models: ['local/a'] }] },
    });
    try {
      await createUser(file.app, { email: 'root@example.test', globalAdmin: true });
      const s = await signIn(file, 'root@example.test');
      const page = keep(await s.get('/ui/settings').expect(200));
      expect(page.text).toContain('data-testid="file-mode"');
      expect(page.text).toContain(file.rt.env.SLUICE_CONFIG!);
      expect(page.text).not.toContain('data-testid="save-config"');
      expect(page.text).toMatch(/<fieldset class="plain" disabled>/);
      const json = keep(await s.get('/ui/settings?tab=json').expect(200));
      expect(json.text).toMatch(/<textarea[^>]*readonly/);
      expect(json.text).not.toContain('data-testid="save-json"');
      const refused = keep(await s.htmx('post', '/ui/settings/save-json', { json: '{}', reason: 'x' }).expect(409));
      expect(refused.text).toContain('SLUICE_CONFIG');
      const token = (await createToken(file.app, { orgSlug: (await createOrg(file.app)).slug, userEmail: 'root@example.test', scopes: ['admin'] })).secret;
      await request(file.url).post('/api/v1/config').set('authorization', `Bearer ${token}`).send({ document: {}, reason: 'x' }).expect(409);
      const preview = keep(await s.htmx('post', '/ui/settings/preview', { _previewSubject: '*' }).expect(200));
      expect([...preview.text.matchAll(/data-testid="granted-model">([^<]+)</g)].map((m) => m[1])).toEqual(['local/a']);
      fake.reset();
      const probe = keep(await s.htmx('post', '/ui/settings/test-connection', { test: '0', provider: 'local' }).expect(200));
      expect(probe.text).toContain('answered HTTP 200');
    } finally {
      await file.close();
    }
  });
});
