import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { dumpDatabase, withDatabase } from './support/pg';
import { signIn, TestSession } from './support/session';
import { OrgsService } from '../src/orgs/orgs.service';
import { BudgetsService } from '../src/budgets/budgets.service';
import { uuidv7 } from '../src/common/uuid';

/**
 * Tenancy: every /ui and /api/v1 route that takes an id is discovered from the running app (so a
 * new route cannot be forgotten) and called by people and admin tokens of organization A with ids
 * of organization B. None may answer 2xx or change anything in B.
 */

interface Route {
  method: string;
  path: string;
  params: string[];
}

function routesOf(t: TestApp): Route[] {
  const ex = t.app.getHttpAdapter().getInstance();
  const stack = (ex.router ?? ex._router).stack as { route?: { path: string; methods: Record<string, boolean> } }[];
  const out: Route[] = [];
  for (const l of stack) {
    if (!l.route || !/^\/(ui|api\/v1)(\/|$)/.test(l.route.path)) continue;
    for (const method of Object.keys(l.route.methods)) {
      if (method === '_all') continue;
      out.push({ method, path: l.route.path, params: [...l.route.path.matchAll(/:(\w+)/g)].map((m) => m[1]) });
    }
  }
  return out;
}

/** Every route parameter any /ui or /api/v1 route uses, and how to fill it. A new one fails the test until it is added here. */
const KNOWN_PARAMS = ['org', 'team', 'sa', 'token', 'user', 'budget', 'version', 'session', 'request', 'email'] as const;
type Param = (typeof KNOWN_PARAMS)[number];

describe('tenancy: org A cannot see or touch org B', () => {
  let t: TestApp;
  const A: Record<string, string> = {};
  const B: Record<Param, string> & Record<string, string> = {} as never;
  let aAdmin: TestSession;
  let aMember: TestSession;
  let aAdminToken: string;
  let aServiceToken: string;
  let routes: Route[];

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    const orgs = t.app.get(OrgsService);
    A.org = (await createOrg(t.app, 'acme')).id;
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    await createUser(t.app, { email: 'second-admin@acme.test', org: 'acme', role: 'admin' });
    await createUser(t.app, { email: 'member@acme.test', org: 'acme', role: 'member' });
    A.team = (await createTeam(t.app, 'acme', 'core')).id;
    aAdminToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'admin@acme.test', scopes: ['admin', 'proxy'] })).secret;
    aServiceToken = (await createToken(t.app, { orgSlug: 'acme', serviceAccountName: 'acme-bot', scopes: ['admin'] })).secret;
    await createToken(t.app, { orgSlug: 'acme', userEmail: 'member@acme.test' });

    B.org = (await createOrg(t.app, 'globex')).id;
    B.orgSlug = 'globex';
    B.user = (await createUser(t.app, { email: 'admin@globex.test', org: 'globex', role: 'admin' })).id;
    await createUser(t.app, { email: 'other-admin@globex.test', org: 'globex', role: 'admin' });
    B.team = (await createTeam(t.app, 'globex', 'secret-project')).id;
    await orgs.addTeamMember('test', 'globex', 'secret-project', 'admin@globex.test');
    B.sa = (await orgs.createServiceAccount('test', 'globex', 'globex-bot')).id;
    B.token = (await createToken(t.app, { orgSlug: 'globex', userEmail: 'admin@globex.test' })).id;
    B.saToken = (await createToken(t.app, { orgSlug: 'globex', serviceAccountName: 'globex-bot' })).id;
    B.budget = (await t.app.get(BudgetsService).create('test', { orgSlug: 'globex', name: 'globex budget', scope: 'team:secret-project', metric: 'cost', limit: 5_000_000, period: 'month' })).id;
    B.pool = (await t.app.get(BudgetsService).create('test', { orgSlug: 'globex', name: 'globex pool', scope: 'pool', metric: 'tokens', limit: 1000, rolling: '4h' })).id;
    // Logs: a session of B with one captured request.
    B.session = uuidv7();
    B.request = uuidv7();
    await withDatabase(t.db.url, async (c) => {
      await c.query(`insert into session (id, org_id, owner_user_id, caller_key, first_at, last_at, requests) values ($1, $2, $3, 'b|', now(), now(), 1)`, [B.session, B.org, B.user]);
      await c.query(`insert into request_log (id, created_at, request_id, org_id, owner_user_id, endpoint, status, latency_ms, sluice_session_id) values ($1, now(), 'b-request', $2, $3, 'chat', 200, 1, $4)`, [B.request, B.org, B.user, B.session]);
      await c.query(`insert into request_capture (request_row_id, created_at, org_id, owner_user_id, sluice_session_id, mode, body_cap_bytes, request_headers, request_body) values ($1, now(), $2, $3, $4, 'full', 1024, '{}', 'globex secret prompt')`, [B.request, B.org, B.user, B.session]);
    });

    aAdmin = await signIn(t, 'admin@acme.test');
    aMember = await signIn(t, 'member@acme.test');
    routes = routesOf(t);
  });
  afterAll(() => t?.close());

  const snapshotB = () =>
    withDatabase(t.db.url, async (c) => {
      const q = async (sql: string) => JSON.stringify((await c.query(sql, [B.org])).rows);
      return [
        await q(`select id, slug, name from organization where id = $1`),
        await q(`select user_id, role from membership where org_id = $1 order by user_id`),
        await q(`select id, slug, name from team where org_id = $1 order by id`),
        await q(`select tm.user_id from team_member tm join team t on t.id = tm.team_id where t.org_id = $1 order by 1`),
        await q(`select id, name, disabled_at, team_id, description from service_account where org_id = $1 order by id`),
        await q(`select id, revoked_at, expires_at from api_token where org_id = $1 order by id`),
        await q(`select id, name, limit_amount, hard, fail_open, paused, spent, thresholds, webhook_url from budget where org_id = $1 order by id`),
        await q(`select scope_type, scope_id, rpm, tpm, input_tpm, output_tpm, concurrent from rate_limit where org_id = $1 order by id`),
        await q(`select id, requests, last_at from session where org_id = $1 order by id`),
        await q(`select request_row_id, request_body from request_capture where org_id = $1 order by 1`),
      ].join('\n');
    });

  /** A body that passes every input schema, so an answer is about access, not validation. */
  const body = () => ({ name: 'probe', slug: 'probe', email: 'admin@globex.test', userId: B.user, role: 'admin', owner: `user:${B.user}`, serviceAccount: B.sa, team: B.team, description: 'x', scopes: 'proxy', grace: '', scope: 'org', metric: 'requests', limit: '1', period: 'day', rpm: '1' });

  const fill = (r: Route, values: Record<string, string>) => {
    let path = r.path;
    for (const p of r.params) {
      if (!(KNOWN_PARAMS as readonly string[]).includes(p)) throw new Error(`route ${r.method.toUpperCase()} ${r.path} has a parameter :${p} this test does not know; add it to KNOWN_PARAMS with org-B fixture values`);
      path = path.replace(`:${p}`, encodeURIComponent(values[p]));
    }
    return path;
  };

  const call = (who: TestSession | string, r: Route, path: string) => {
    const isApi = path.startsWith('/api/');
    if (typeof who === 'string') {
      const req = request(t.url)[r.method as 'get'](path).set('authorization', `Bearer ${who}`);
      return r.method === 'get' ? req : req.send(body());
    }
    if (isApi) return r.method === 'get' ? who.api('get', path) : who.api(r.method as 'post', path, body());
    return r.method === 'get' ? who.get(path) : who.form(path, body() as Record<string, string>);
  };

  it('discovers the id-taking routes of the UI and the API', () => {
    const withIds = routes.filter((r) => r.params.length);
    expect(withIds.length).toBeGreaterThan(50);
    for (const needed of ['/ui/orgs/:org/budgets/:budget/pause', '/api/v1/orgs/:org/budgets/:budget', '/ui/orgs/:org/members/:user/remove', '/ui/orgs/:org/tokens/:token/revoke', '/api/v1/orgs/:org/tokens/:token', '/api/v1/me/tokens/:token', '/ui/orgs/:org/service-accounts/:sa/disable', '/api/v1/orgs/:org/teams/:team/members/:user']) {
      expect(withIds.map((r) => r.path)).toContain(needed);
    }
  });

  it('answers 404 or 403, never 2xx, and changes nothing in B', async () => {
    const before = await snapshotB();
    const failures: string[] = [];
    let calls = 0;
    for (const r of routes.filter((x) => x.params.length)) {
      const variants: Record<string, string>[] = [
        { org: B.org, team: B.team, sa: B.sa, token: B.token, user: B.user, budget: B.budget, version: '1', session: B.session, request: B.request, email: 'admin@globex.test' }, // everything from B (by id); config versions are global-admin only
        { org: B.orgSlug, team: 'secret-project', sa: 'globex-bot', token: B.saToken, user: B.user, budget: B.pool, version: '1', session: B.session, request: B.request, email: 'OTHER-ADMIN@globex.test' }, // B by slug and name; a person by email in any case
      ];
      // A's own organization with B's children: ownership comes from the org in the URL, not the child id.
      if (r.params.length > 1) variants.push({ org: 'acme', team: B.team, sa: B.sa, token: B.token, user: B.user, budget: B.budget, version: '1', session: B.session, request: B.request, email: 'admin@globex.test' });
      for (const v of variants) {
        const path = fill(r, v);
        const callers: [string, TestSession | string][] = [['A admin', aAdmin], ['A member', aMember]];
        if (path.startsWith('/api/')) callers.push(['A admin token', aAdminToken], ['A service-account token', aServiceToken]);
        for (const [label, who] of callers) {
          const res = await call(who, r, path);
          calls++;
          if (![403, 404].includes(res.status)) failures.push(`${label}: ${r.method.toUpperCase()} ${path} -> ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(300);
    expect(await snapshotB()).toBe(before);
  });

  it('rejects foreign ids in bodies: owners, teams, organizations', async () => {
    const before = await snapshotB();
    // A token for a user of B, or for B's service account, issued in A.
    await aAdmin.api('post', '/api/v1/orgs/acme/tokens', { name: 'x', userId: B.user }).expect(404);
    await aAdmin.api('post', '/api/v1/orgs/acme/tokens', { name: 'x', email: 'admin@globex.test' }).expect(404);
    await aAdmin.api('post', '/api/v1/orgs/acme/tokens', { name: 'x', serviceAccount: B.sa }).expect(404);
    await aAdmin.form('/ui/orgs/acme/tokens', { name: 'x', owner: `user:${B.user}` }).expect(404);
    await aAdmin.form('/ui/orgs/acme/tokens', { name: 'x', owner: `sa:${B.sa}` }).expect(404);
    // "My tokens" in an organization I do not belong to.
    await aMember.api('post', '/api/v1/me/tokens', { org: B.org, name: 'x' }).expect(404);
    await aMember.form('/ui/tokens', { org: 'globex', name: 'x' }).expect(404);
    // B's user into A's team; a service account of A into B's team.
    await aAdmin.api('post', `/api/v1/orgs/acme/teams/${A.team}/members`, { userId: B.user }).expect(404);
    await aAdmin.api('post', '/api/v1/orgs/acme/service-accounts', { name: 'probe', team: B.team }).expect(404);
    // Budgets and rate limits in A that name B's pool, team, member or token.
    await aAdmin.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: 'org', metric: 'tokens', limit: 1, period: 'day', surplusPoolId: B.pool }).expect(404);
    await aAdmin.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: `token:${B.token}`, metric: 'tokens', limit: 1, period: 'day' }).expect(404);
    await aAdmin.form('/ui/orgs/acme/budgets', { name: 'x', scope: 'user:admin@globex.test', metric: 'tokens', limitAmount: '1', window: 'calendar', period: 'day' }).expect(404);
    await aAdmin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'team:secret-project', rpm: 1 }).expect(404);
    await aAdmin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: `token:${B.token}`, rpm: 1 }).expect(404);
    // Members cannot administer their own organization, nor mint admin tokens.
    await aMember.api('post', '/api/v1/orgs/acme/members', { email: 'x@acme.test' }).expect(403);
    await aMember.api('post', '/api/v1/me/tokens', { org: 'acme', name: 'x', scopes: ['admin'] }).expect(403);
    await aMember.form('/ui/orgs/acme/members', { email: 'x@acme.test' }).expect(403);
    // Org admins cannot create organizations; an admin token cannot leave its organization.
    await aAdmin.api('post', '/api/v1/orgs', { slug: 'mine' }).expect(403);
    await request(t.url).get('/api/v1/orgs/globex').set('authorization', `Bearer ${aServiceToken}`).expect(404);
    const list = await request(t.url).get('/api/v1/orgs').set('authorization', `Bearer ${aAdminToken}`).expect(200);
    expect(list.body.data.map((o: { slug: string }) => o.slug)).toEqual(['acme']);
    expect(await snapshotB()).toBe(before);
  });

  it('lists only what the caller may see', async () => {
    const orgs = await aAdmin.api('get', '/api/v1/orgs').expect(200);
    expect(orgs.body.data.map((o: { slug: string }) => o.slug)).toEqual(['acme']);
    const mine = await aMember.api('get', '/api/v1/me/tokens?status=all').expect(200);
    expect(mine.body.data.every((x: { owner: { label: string } }) => x.owner.label === 'member@acme.test')).toBe(true);
    const audit = await aAdmin.api('get', '/api/v1/audit?per=100').expect(200);
    expect(audit.body.data.length).toBeGreaterThan(0);
    expect(audit.body.data.every((e: { org: string | null }) => e.org === 'acme')).toBe(true);
    await aMember.api('get', '/api/v1/audit').expect(403);
    await aMember.get('/ui/audit').expect(403);
    const page = await aAdmin.get('/ui/orgs').expect(200);
    expect(page.text).not.toContain('globex');
    // A global admin sees both.
    const root = await signIn(t, 'root@example.test', { globalAdmin: true });
    const all = await root.api('get', '/api/v1/orgs').expect(200);
    expect(all.body.data.map((o: { slug: string }) => o.slug)).toEqual(['acme', 'globex']);
  });

  it('keeps the gateway config (settings pages, config API) to global admins', async () => {
    const config = routes.filter((r) => /^\/(ui\/settings|api\/v1\/config)(\/|$)/.test(r.path));
    expect(config.length).toBeGreaterThanOrEqual(15);
    const versions = () => withDatabase(t.db.url, async (c) => JSON.stringify((await c.query('select id, active from config_version order by id')).rows));
    const before = await versions();
    const failures: string[] = [];
    for (const r of config) {
      const path = r.path.replace(':version', '1');
      const callers: [string, TestSession | string][] = [['A admin', aAdmin], ['A member', aMember]];
      if (path.startsWith('/api/')) callers.push(['A admin token', aAdminToken], ['A service-account token', aServiceToken]);
      for (const [label, who] of callers) {
        const res = await call(who, r, path);
        if (res.status !== 403) failures.push(`${label}: ${r.method.toUpperCase()} ${path} -> ${res.status} ${res.text.slice(0, 120)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await versions()).toBe(before);
  });

  it('keeps secrets out of the database and the audit log', async () => {
    const created = await aAdmin.api('post', '/api/v1/orgs/acme/tokens', { name: 'ci', email: 'member@acme.test', expires: '7d' }).expect(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^sk-sluice-/);
    const dump = await dumpDatabase(t.db.url);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(aAdmin.cookie.split('=')[1].split('.')[0]);
  });
});
