import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { dumpDatabase, registerSecret, withDatabase } from './support/pg';
import { signIn, TestSession } from './support/session';
import { BudgetsService } from '../src/budgets/budgets.service';
import { OrgsService } from '../src/orgs/orgs.service';
import { uuidv7 } from '../src/common/uuid';

/**
 * The management API for budgets and rate limits, and the budget pages without a browser: who may
 * do what, validation, foreign ids, audit rows, and the dashboard's filters, paging and export.
 */
describe('budgets: management API and pages', () => {
  let t: TestApp;
  let admin: TestSession;
  let member: TestSession;
  let adminToken: string;
  let memberId: string;
  let otherId: string;
  let foreignBudget: string;
  let teamBudget: string;
  let otherBudget: string;

  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    await createOrg(t.app, 'acme');
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    memberId = (await createUser(t.app, { email: 'dev@acme.test', org: 'acme', role: 'member' })).id;
    otherId = (await createUser(t.app, { email: 'other@acme.test', org: 'acme', role: 'member' })).id;
    await createTeam(t.app, 'acme', 'core');
    await t.app.get(OrgsService).addTeamMember('test', 'acme', 'core', 'dev@acme.test');
    adminToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'admin@acme.test', scopes: ['admin'] })).secret;
    await createOrg(t.app, 'globex');
    await createUser(t.app, { email: 'boss@globex.test', org: 'globex', role: 'admin' });
    foreignBudget = (await t.app.get(BudgetsService).create('test', { orgSlug: 'globex', name: 'globex secret', scope: 'org', metric: 'requests', limit: 10, period: 'day' })).id;
    teamBudget = (await t.app.get(BudgetsService).create('test', { orgSlug: 'acme', name: 'core team', scope: 'team:core', metric: 'tokens', limit: 200_000, rolling: '4h' })).id;
    otherBudget = (await t.app.get(BudgetsService).create('test', { orgSlug: 'acme', name: 'other person', scope: 'user:other@acme.test', metric: 'requests', limit: 5, period: 'day' })).id;
    admin = await signIn(t, 'admin@acme.test');
    member = await signIn(t, 'dev@acme.test');
  });
  afterAll(() => t?.close());

  it('creates budgets with validation, shows a webhook secret once, and audits', async () => {
    const created = await admin.api('post', '/api/v1/orgs/acme/budgets', { name: 'Acme monthly', scope: 'org', metric: 'cost', limitUsd: 50, period: 'month', timeZone: 'Europe/Paris', thresholds: [50, 90] }).expect(201);
    expect(created.body).toMatchObject({ name: 'Acme monthly', org: 'acme', scope: 'organization', metric: 'cost', limitAmount: 50_000_000, windowKind: 'calendar', timeZone: 'Europe/Paris', thresholds: [50, 90], remaining: 50_000_000, hard: true });
    expect(created.body.webhookSecret).toBeUndefined();
    const audit = await q('select actor, action, target_id, after from audit_event where action = $1 and target_id = $2', ['budget.create', created.body.id]);
    expect(audit).toHaveLength(1);
    expect(audit[0].actor).toBe('user:admin@acme.test');

    // Validation: the same messages as the CLI, as 400s naming the problem.
    const bad = [
      [{ name: 'x', scope: 'org', metric: 'cost', limitUsd: 1 }, /exactly one window/],
      [{ name: 'x', scope: 'org', metric: 'cost', period: 'month' }, /limit/],
      [{ name: 'x', scope: 'org', metric: 'watts', limit: 1, period: 'day' }, /metric/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limitUsd: 1, period: 'day' }, /dollars only apply to cost/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limit: -1, period: 'day' }, /limit/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limit: 1, period: 'day', timeZone: 'Mars/Olympus' }, /time zone/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limit: 1, rolling: 'soon' }, /rolling/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limit: 1, period: 'day', webhookUrl: 'ftp://x' }, /webhook/],
      [{ name: 'x', scope: 'org', metric: 'tokens', limit: 1, period: 'day', thresholds: [0] }, /thresholds/],
      [{ name: '', scope: 'org', metric: 'tokens', limit: 1, period: 'day' }, /name/],
    ] as const;
    for (const [body, msg] of bad) {
      const r = await admin.api('post', '/api/v1/orgs/acme/budgets', body).expect(400);
      expect([JSON.stringify(body), r.body.error.message]).toEqual([JSON.stringify(body), expect.stringMatching(msg)]);
    }
    await admin.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: 'team:nope', metric: 'tokens', limit: 1, period: 'day' }).expect(404);
    await admin.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: 'user:boss@globex.test', metric: 'tokens', limit: 1, period: 'day' }).expect(404);
    await admin.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: 'org', metric: 'requests', limit: 1, period: 'day', surplusPoolId: foreignBudget }).expect(404);

    const hooked = await admin.api('post', '/api/v1/orgs/acme/budgets', { name: 'With hook', scope: 'user:dev@acme.test', metric: 'tokens', limit: 1000, refillPerSecond: 1, webhookUrl: 'https://hooks.example.test/x' }).expect(201);
    const secret = hooked.body.webhookSecret as string;
    registerSecret(secret);
    expect(secret).toMatch(/^whsec_/);
    const again = await admin.api('get', `/api/v1/orgs/acme/budgets/${hooked.body.id}`).expect(200);
    expect(again.body.webhookSecret).toBeUndefined();
    expect(again.body.webhookUrl).toBe('https://hooks.example.test/x');
    expect(await dumpDatabase(t.db.url)).not.toContain(secret);
  });

  it('edits, refills, pauses, resumes and deletes, with an audit row for each', async () => {
    const b = (await request(t.url).post('/api/v1/orgs/acme/budgets').set('authorization', `Bearer ${adminToken}`).send({ name: 'tmp', scope: 'org', metric: 'requests', limit: 100, period: 'day' }).expect(201)).body;
    const edited = await admin.api('patch', `/api/v1/orgs/acme/budgets/${b.id}`, { name: 'renamed', limit: 150, soft: true, thresholds: [80, 50] }).expect(200);
    expect(edited.body).toMatchObject({ name: 'renamed', limitAmount: 150, hard: false, thresholds: [50, 80] });
    await admin.api('patch', `/api/v1/orgs/acme/budgets/${b.id}`, { limitUsd: 3 }).expect(400);
    await admin.api('patch', `/api/v1/orgs/acme/budgets/${b.id}`, {}).expect(400);
    const hooked = await admin.api('patch', `/api/v1/orgs/acme/budgets/${b.id}`, { webhookUrl: 'https://hooks.example.test/y' }).expect(200);
    registerSecret(hooked.body.webhookSecret);
    expect(hooked.body.webhookSecret).toMatch(/^whsec_/);
    expect((await admin.api('patch', `/api/v1/orgs/acme/budgets/${b.id}`, { webhookUrl: 'https://hooks.example.test/z' }).expect(200)).body.webhookSecret).toBeUndefined();
    await t.app.get(BudgetsService).get(b.id);
    await q('update budget set spent = 40, window_start = now() where id = $1', [b.id]);
    expect((await admin.api('post', `/api/v1/orgs/acme/budgets/${b.id}/refill`, { amount: 15 }).expect(200)).body.used).toBe(25);
    expect((await admin.api('post', `/api/v1/orgs/acme/budgets/${b.id}/refill`, {}).expect(200)).body.used).toBe(0);
    await admin.api('post', `/api/v1/orgs/acme/budgets/${b.id}/refill`, { amount: 0 }).expect(400);
    expect((await admin.api('post', `/api/v1/orgs/acme/budgets/${b.id}/pause`).expect(200)).body.paused).toBe(true);
    expect((await admin.api('post', `/api/v1/orgs/acme/budgets/${b.id}/resume`).expect(200)).body.paused).toBe(false);
    await admin.api('delete', `/api/v1/orgs/acme/budgets/${b.id}`).expect(204);
    await admin.api('get', `/api/v1/orgs/acme/budgets/${b.id}`).expect(404);
    const actions = (await q<{ action: string; actor: string }>('select action, actor from audit_event where target_id = $1 order by created_at, id', [b.id])).map((r) => r.action);
    expect(actions).toEqual(['budget.create', 'budget.update', 'budget.update', 'budget.update', 'budget.refill', 'budget.refill', 'budget.pause', 'budget.resume', 'budget.delete']);
    const update = (await q('select before, after from audit_event where target_id = $1 and action = $2 order by created_at limit 1', [b.id, 'budget.update']))[0];
    expect(update.before).toMatchObject({ name: 'tmp', limit: 100, hard: true });
    expect(update.after).toMatchObject({ name: 'renamed', limit: 150, hard: false });
  });

  it('members see only the budgets that apply to them and change nothing', async () => {
    const mine = await member.api('get', '/api/v1/orgs/acme/budgets').expect(200);
    const names = mine.body.data.map((b: { name: string }) => b.name).sort();
    expect(names).toEqual(['Acme monthly', 'With hook', 'core team']);
    expect(mine.body.data.every((b: { webhookUrl?: string }) => b.webhookUrl === undefined)).toBe(true);
    await member.api('get', `/api/v1/orgs/acme/budgets/${teamBudget}`).expect(200);
    await member.api('get', `/api/v1/orgs/acme/budgets/${otherBudget}`).expect(404);
    await member.api('post', '/api/v1/orgs/acme/budgets', { name: 'x', scope: 'org', metric: 'requests', limit: 1, period: 'day' }).expect(403);
    await member.api('patch', `/api/v1/orgs/acme/budgets/${teamBudget}`, { name: 'mine now' }).expect(403);
    await member.api('post', `/api/v1/orgs/acme/budgets/${teamBudget}/pause`).expect(403);
    await member.api('delete', `/api/v1/orgs/acme/budgets/${teamBudget}`).expect(403);
    await member.api('get', '/api/v1/orgs/acme/rate-limits').expect(403);
    await member.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'org', rpm: 1 }).expect(403);
    const page = await member.get('/ui/budgets?org=acme').expect(200);
    expect(page.text).toContain('core team');
    expect(page.text).not.toContain('other person');
    expect(page.text).not.toContain('New budget');
    const admins = await admin.get('/ui/budgets?org=acme').expect(200);
    expect(admins.text).toContain('other person');
    expect(admins.text).toContain('$50.00');
  });

  it('answers 404 for budgets and organizations of another tenant', async () => {
    await admin.api('get', `/api/v1/orgs/acme/budgets/${foreignBudget}`).expect(404);
    await admin.api('patch', `/api/v1/orgs/acme/budgets/${foreignBudget}`, { name: 'pwned' }).expect(404);
    await admin.api('post', `/api/v1/orgs/acme/budgets/${foreignBudget}/pause`).expect(404);
    await admin.api('delete', `/api/v1/orgs/acme/budgets/${foreignBudget}`).expect(404);
    await admin.api('get', '/api/v1/orgs/globex/budgets').expect(404);
    await admin.api('get', `/api/v1/orgs/globex/budgets/${foreignBudget}`).expect(404);
    await request(t.url).get('/api/v1/orgs/globex/budgets').set('authorization', `Bearer ${adminToken}`).expect(404);
    await admin.get('/ui/budgets?org=globex').expect(404);
    await admin.get('/ui/budgets/dashboard?org=globex').expect(404);
    await admin.get('/ui/budgets/dashboard/events.csv?org=globex').expect(404);
    await admin.get(`/ui/orgs/acme/budgets/${foreignBudget}`).expect(404);
    await admin.form(`/ui/orgs/acme/budgets/${foreignBudget}/pause`).expect(404);
    await admin.api('get', '/api/v1/orgs/acme/budgets/not-a-uuid').expect(404);
    const row = (await q('select name, paused from budget where id = $1', [foreignBudget]))[0];
    expect(row).toEqual({ name: 'globex secret', paused: false });
  });

  it('sets and lists rate limits through the API and the form', async () => {
    const set = await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'team:core', rpm: 60, concurrent: 4 }).expect(200);
    expect(set.body).toMatchObject({ scope: 'team:core', values: { rpm: 60, concurrent: 4 } });
    const kept = await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'team:core', tpm: 10_000 }).expect(200);
    expect(kept.body.values).toEqual({ rpm: 60, tpm: 10_000, concurrent: 4 });
    const cleared = await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'team:core', rpm: null }).expect(200);
    expect(cleared.body.values).toEqual({ tpm: 10_000, concurrent: 4 });
    await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'org', rpm: 0 }).expect(400);
    await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'pool', rpm: 1 }).expect(400);
    await admin.api('put', '/api/v1/orgs/acme/rate-limits', { scope: 'team:secret-project', rpm: 1 }).expect(404);
    // The form sets every kind of the scope: empty fields clear.
    await admin.form('/ui/orgs/acme/rate-limits', { scope: 'org', rpm: '120', tpm: '', input_tpm: '', output_tpm: '', concurrent: '' }).expect(303);
    const list = await admin.api('get', '/api/v1/orgs/acme/rate-limits').expect(200);
    expect(list.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ scope: 'org', values: { rpm: 120 } }), expect.objectContaining({ scope: 'team:core' })]));
    expect((await q('select count(*)::int as n from audit_event where action = $1', ['rate_limit.set']))[0].n).toBe(4);
    const page = await admin.get('/ui/orgs/acme/rate-limits').expect(200);
    expect(page.text).toContain('team:core');
  });

  it('creates a budget from the form in dollars and edits it', async () => {
    const res = await admin.form('/ui/orgs/acme/budgets', { name: 'Form budget', scope: 'user:dev@acme.test', metric: 'cost', limitAmount: '3.41', window: 'rolling', period: 'month', timeZone: 'UTC', rolling: '7d', refillPerHour: '', thresholds: '50, 80, 100', webhookUrl: '', surplusPoolId: '', surplusUserLimitAmount: '', endUser: '' }).expect(201);
    expect(res.text).toContain('$3.41');
    const row = (await q("select id, limit_amount, window_kind, rolling_seconds from budget where name = 'Form budget'"))[0];
    expect(row).toMatchObject({ limit_amount: '3410000', window_kind: 'rolling', rolling_seconds: 604800 });
    await admin.form(`/ui/orgs/acme/budgets/${row.id}`, { name: 'Form budget', limitAmount: '10', thresholds: '90', soft: 'false', failOpen: 'true', webhookUrl: '' }).expect(303);
    const after = (await q('select limit_amount, fail_open, thresholds from budget where id = $1', [row.id]))[0];
    expect(after).toEqual({ limit_amount: '10000000', fail_open: true, thresholds: [90] });
    // An error from an htmx form is an error partial (the page puts it in the flash area).
    const err = await admin.htmx('post', '/ui/orgs/acme/budgets', { name: 'x', scope: 'org', metric: 'cost', limitAmount: 'lots', window: 'calendar', period: 'day' }).expect(400);
    expect(err.text).toContain('alert-error');
  });

  describe('dashboard', () => {
    beforeAll(async () => {
      // 30 events for dev, 6 for other, over the last days; amounts 1..36 tokens, one cost event.
      const rows: unknown[][] = [];
      const now = Date.now();
      for (let i = 0; i < 36; i++) {
        const user = i < 30 ? memberId : otherId;
        rows.push([uuidv7(), new Date(now - i * 3_600_000), user, teamBudget, i + 1, 'tokens', i % 3 === 0 ? 'surplus' : 'allocated', i % 2 ? 'output' : 'input', `req-${i}`, '/v1/chat/completions']);
      }
      rows.push([uuidv7(), new Date(now - 2 * 3_600_000), memberId, teamBudget, 3_410_000, 'cost', 'hybrid', 'total', 'req-cost', '/v1/messages']);
      const acme = (await q("select id from organization where slug = 'acme'"))[0].id;
      for (const r of rows) {
        await q(
          `insert into consumption_event (id, created_at, org_id, budget_id, user_id, end_user, token_id, amount, resource_type, pool_category, io_type, request_id, endpoint)
           values ($1, $2, $3, $4, $5, null, null, $6, $7, $8, $9, $10, $11)`,
          [r[0], r[1], acme, r[3], r[2], r[4], r[5], r[6], r[7], r[8], r[9]],
        );
      }
    });

    const rowsOf = (html: string) => [...html.matchAll(/<tr data-event="/g)].length;

    it('pages by 25, newest first, and keeps filters in page links', async () => {
      const page1 = await admin.get('/ui/budgets/dashboard?org=acme').expect(200);
      expect(page1.headers.vary).toMatch(/HX-Request/);
      expect(rowsOf(page1.text)).toBe(25);
      expect(page1.text).toContain('1–25 of 37');
      expect(page1.text.indexOf('req-0<')).toBeLessThan(page1.text.indexOf('req-1<'));
      expect(page1.text).toContain('$3.41');
      const next = /<a href="([^"]*)"[^>]*rel="next"/.exec(page1.text)![1].replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
      expect(next).toContain('page=2');
      const frag = await admin.get(next).set('HX-Request', 'true').set('HX-Target', 'div#events').expect(200);
      expect(frag.text).not.toContain('<html');
      expect(frag.text).not.toContain('data-chart');
      expect(rowsOf(frag.text)).toBe(12);
      // Filters: users (multi-select), pool category, I/O, amount range; page links keep them.
      const f = await admin.get(`/ui/budgets/dashboard?org=acme&users=${memberId}&users=${otherId}&resource=tokens&pool=allocated&io=input&min=2&max=30`).expect(200);
      // allocated (i % 3 != 0), input (i even), amount i+1 in [2, 30] => i in 1..29, even, not multiple of 3
      const expected = Array.from({ length: 36 }, (_, i) => i).filter((i) => i % 3 !== 0 && i % 2 === 0 && i + 1 >= 2 && i + 1 <= 30).length;
      expect(rowsOf(f.text)).toBe(expected);
      const only = await admin.get(`/ui/budgets/dashboard?org=acme&users=${otherId}`).expect(200);
      expect(rowsOf(only.text)).toBe(6);
      expect(only.text).toContain('Budget dashboard · other@acme.test');
      const sorted = await admin.get('/ui/budgets/dashboard?org=acme&resource=tokens&sort=amount&dir=desc').expect(200);
      expect(sorted.text.indexOf('data-amount="36"')).toBeLessThan(sorted.text.indexOf('data-amount="35"'));
      const cost = await admin.get('/ui/budgets/dashboard?org=acme&min=3&max=4').expect(200);
      expect(rowsOf(cost.text)).toBe(3); // tokens 3 and 4, and the $3.41 event
      const empty = await admin.get('/ui/budgets/dashboard?org=acme&from=2001-01-01&to=2001-01-02').expect(200);
      expect(empty.text).toContain('No consumption events match');
    });

    it('shows members only their own events, exports CSV and serves chart data', async () => {
      const mine = await member.get(`/ui/budgets/dashboard?org=acme&users=${otherId}`).expect(200);
      expect(mine.text).not.toContain('other@acme.test');
      const all = await member.get('/ui/budgets/dashboard?org=acme&per=100').expect(200);
      expect(all.text).toContain('1–25 of 31');
      const csv = await admin.get('/ui/budgets/dashboard/events.csv?org=acme&pool=surplus').expect(200);
      expect(csv.headers['content-type']).toMatch(/text\/csv/);
      const lines = csv.text.trim().split('\r\n');
      expect(lines[0]).toMatch(/^created,user_id,user_email/);
      expect(lines).toHaveLength(1 + 12);
      const chart = await admin.get('/ui/budgets/dashboard/consumption.json?org=acme&resource=tokens').expect(200);
      expect(chart.body.data).toHaveLength(4);
      expect(chart.body.data[0]).toHaveLength(7);
      const total = chart.body.data.slice(1).flat().reduce((a: number, b: number) => a + b, 0);
      expect(total).toBe(((36 * 37) / 2));
      const surplus = await admin.get('/ui/budgets/dashboard/surplus.json?org=acme').expect(200);
      expect(surplus.body.data[0]).toHaveLength(7);
    });

    it('shows threshold alerts to the people they concern', async () => {
      const acme = (await q("select id from organization where slug = 'acme'"))[0].id;
      await q('insert into budget_alert (id, budget_id, org_id, threshold, used, limit_amount) values ($1, $2, $3, 80, 160000, 200000)', [uuidv7(), teamBudget, acme]);
      await q('insert into budget_alert (id, budget_id, org_id, threshold, used, limit_amount) values ($1, $2, $3, 100, 5, 5)', [uuidv7(), otherBudget, acme]);
      const mine = await member.get('/ui/budgets?org=acme').expect(200);
      expect(mine.text).toContain('core team</a> reached 80% (160k tokens of 200k tokens)');
      expect(mine.text).not.toContain('reached 100%');
      const admins = await admin.get('/ui/budgets?org=acme').expect(200);
      expect(admins.text).toContain('reached 100%');
    });
  });
});
