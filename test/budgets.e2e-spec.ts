import { startTestApp, TEST_SECRET_KEY, TestApp, writeConfigFile } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { createTestDatabase, freePort, TestDatabase, withDatabase } from './support/pg';
import { ServerProcess, startServer } from './support/processes';
import { BudgetsService, CreateBudgetInput } from '../src/budgets/budgets.service';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { cutStream } from './support/streams';
import * as http from 'node:http';
import { createHmac } from 'node:crypto';

/**
 * Budgets enforced by two Sluice processes on one database: one in this process (so tests can use
 * services and factories), one a real child process started like `npm start`.
 */
describe('budgets hold exactly under concurrency, across two processes', () => {
  let db: TestDatabase;
  let fake: FakeUpstream;
  let a: TestApp;
  let b: ServerProcess;
  let configFile: string;
  let childEnv: Record<string, string>;
  const config = () => ({
    providers: { fake: { baseurl: fake.url, apikey: 'sk-budget-upstream', models: ['m'], compatibility: { openai_chat: true, anthropic_messages: true } } },
    pricing: { 'fake/m': { input: 100, output: 400 } },
    grants: [{ src: ['*'], models: ['**'] }],
  });
  const env = { BUDGET_RESERVATION_TTL_S: '3', BUDGET_SWEEP_MS: '300', USAGE_FLUSH_MS: '50' };

  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => withDatabase(db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  // Each test works in an organization of its own, created before any request: the first request
  // loads the org's budgets from the database, so no test depends on how fast NOTIFY arrives.
  let orgSeq = 0;
  let org = 'acme';
  const freshOrg = async () => {
    org = `b${++orgSeq}-${Math.random().toString(36).slice(2, 6)}`;
    await createOrg(a.app, org);
    return org;
  };
  const createBudget = async (input: Omit<CreateBudgetInput, 'orgSlug' | 'name'> & { name?: string }) => {
    const v = await a.app.get(BudgetsService).create('test', { orgSlug: org, name: `b-${Math.random().toString(36).slice(2, 8)}`, ...input });
    await new Promise((r) => setTimeout(r, 100));
    return v;
  };
  const call = (url: string, secret: string, body: Record<string, unknown> = {}, path = '/v1/chat/completions') =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }),
    });
  /** Waits until both writers have settled everything: no reservation left for these budgets. */
  const settled = async (budgetIds: string[], timeoutMs = 15_000) => {
    await a.app.get(UsageWriter).drain();
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await q<{ n: number }>(
        `select (select count(*) from budget_reservation where budget_id = any($1))::int
              + (select coalesce(sum(reserved + surplus_reserved), 0) from budget where id = any($1))::int as n`,
        [budgetIds],
      );
      if (r[0].n === 0) return;
      if (Date.now() > until) throw new Error(`reservations still open: ${r[0].n}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  const spent = async (id: string) => Number((await q('select spent from budget where id = $1', [id]))[0].spent);

  beforeAll(async () => {
    db = await createTestDatabase();
    fake = await startFakeUpstream({ recordBodies: false });
    a = await startTestApp({ db, gatewayConfig: config(), env });
    configFile = writeConfigFile(config());
    childEnv = { DATABASE_URL: db.url, SLUICE_CONFIG: configFile, SLUICE_SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'info', ...env };
    b = await startServer({ ...childEnv, PORT: String(await freePort()) });
    await createOrg(a.app, 'acme');
  }, 90_000);
  afterAll(async () => {
    await b?.stop();
    await a?.close();
    await fake?.close();
    await db?.drop();
  });
  beforeEach(() => fake.reset());

  it('200 concurrent requests against a 50-request budget: exactly 50 pass, every time (20 rounds)', async () => {

    await freshOrg();
    for (let round = 0; round < 20; round++) {
      await freshOrg();
      const tok = await createToken(a.app, { orgSlug: org, name: `round-${round}` });
      const budget = await createBudget({ scope: `token:${tok.id}`, metric: 'requests', limit: 50, period: 'day' });
      const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => call(i % 2 ? a.url : b.url, tok.secret)));
      const statuses = responses.map((r) => r.status);
      await Promise.all(responses.map((r) => r.arrayBuffer()));
      expect({ round, ok: statuses.filter((s) => s === 200).length, limited: statuses.filter((s) => s === 429).length }).toEqual({ round, ok: 50, limited: 150 });
      await settled([budget.id]);
      expect(await spent(budget.id)).toBe(50);
      const rows = await q<{ n: number }>(`select count(*)::int as n from request_log where token_id = $1 and status = 200`, [tok.id]);
      expect(rows[0].n).toBe(50);
    }
  }, 120_000);

  it('a $1.00 cost budget under 300 concurrent requests of varied sizes: spend never passes the limit and equals the usage rows', async () => {

    await freshOrg();
    const tok = await createToken(a.app, { orgSlug: org, name: 'cost' });
    const budget = await createBudget({ scope: `token:${tok.id}`, metric: 'cost', limit: 1_000_000, period: 'month' });
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        call(i % 2 ? a.url : b.url, tok.secret, { max_tokens: 10 + ((i * 37) % 190), messages: [{ role: 'user', content: 'x'.repeat(100 + ((i * 131) % 3900)) }] }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(5);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    await settled([budget.id]);
    const total = await spent(budget.id);
    const rows = await q<{ cost: string }>(`select coalesce(sum(cost_micros), 0) as cost from request_log where token_id = $1`, [tok.id]);
    expect(total).toBe(Number(rows[0].cost));
    // The bound: each request reserves its input estimate plus max_tokens, and settles to what the
    // provider reports, which is never more when max_tokens is honoured. So spend ≤ limit exactly.
    expect(total).toBeLessThanOrEqual(1_000_000);
    expect(total).toBeGreaterThan(0);
  }, 60_000);

  it('an org budget of 30 over two tokens limited to 20 each: 1,000 requests, at most 30 and 20 per token, no deadlocks', async () => {

    await freshOrg();
    const t1 = await createToken(a.app, { orgSlug: org, name: 'n1' });
    const t2 = await createToken(a.app, { orgSlug: org, name: 'n2' });
    const orgBudget = await createBudget({ scope: 'org', metric: 'requests', limit: 30, period: 'day' });
    const b1 = await createBudget({ scope: `token:${t1.id}`, metric: 'requests', limit: 20, period: 'day' });
    const b2 = await createBudget({ scope: `token:${t2.id}`, metric: 'requests', limit: 20, period: 'day' });
    const statuses: { tok: number; status: number }[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const res = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const which = i % 2;
          const r = await call(i % 4 < 2 ? a.url : b.url, which ? t1.secret : t2.secret);
          await r.arrayBuffer();
          return { tok: which, status: r.status };
        }),
      );
      statuses.push(...res);
    }
    const ok = statuses.filter((s) => s.status === 200);
    expect(statuses.filter((s) => s.status !== 200 && s.status !== 429)).toEqual([]);
    expect(ok.length).toBe(30);
    expect(ok.filter((s) => s.tok === 1).length).toBeLessThanOrEqual(20);
    expect(ok.filter((s) => s.tok === 0).length).toBeLessThanOrEqual(20);
    await settled([orgBudget.id, b1.id, b2.id]);
    expect(await spent(orgBudget.id)).toBe(30);
    expect((await spent(b1.id)) + (await spent(b2.id))).toBe(30);
    
  }, 60_000);

  it('100 streams cut by the client: spend settled for what was delivered, nothing left reserved', async () => {

    await freshOrg();
    const tok = await createToken(a.app, { orgSlug: org, name: 'cut' });
    const budget = await createBudget({ scope: `token:${tok.id}`, metric: 'tokens', limit: 100_000_000, rolling: '1h' });
    fake.behave({ chunks: 100, chunkIntervalMs: 10 });
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => cutStream(i % 2 ? a.url : b.url, tok.secret, { model: 'm', messages: [{ role: 'user', content: `cut ${i}` }] }, 4)),
    );
    let rows: { n: number; tokens: string }[] = [];
    for (let i = 0; i < 100; i++) {
      rows = await q(`select count(*)::int as n, coalesce(sum(input_tokens + output_tokens), 0) as tokens from request_log where token_id = $1`, [tok.id]);
      if (rows[0].n === 100) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows[0].n).toBe(100);
    await settled([budget.id]);
    const minutes = await q<{ s: string }>(`select coalesce(sum(amount), 0) as s from budget_minute where budget_id = $1`, [budget.id]);
    expect(Number(minutes[0].s)).toBe(Number(rows[0].tokens));
    expect(Number(rows[0].tokens)).toBeGreaterThan(0);
    const cancelled = await q<{ n: number }>(`select count(*)::int as n from request_log where token_id = $1 and cancelled`, [tok.id]);
    expect(cancelled[0].n).toBe(100);
  }, 60_000);

  it('a process killed with SIGKILL mid-load: after restart and the reservation timeout nothing is reserved and spend matches usage', async () => {

    await freshOrg();
    const tok = await createToken(a.app, { orgSlug: org, name: 'crash' });
    const budget = await createBudget({ scope: `token:${tok.id}`, metric: 'tokens', limit: 100_000_000, period: 'day' });
    const victim = await startServer({ ...childEnv, PORT: String(await freePort()) });
    fake.behave({ chunks: 200, chunkIntervalMs: 20 });
    const inflight = Array.from({ length: 40 }, (_, i) =>
      call(victim.url, tok.secret, { stream: true, messages: [{ role: 'user', content: `crash ${i}` }] }).then((r) => r.text()).catch(() => 'cut'),
    );
    // Some requests through the survivor too, finishing normally.
    fake.next(...Array.from({ length: 10 }, () => ({})));
    // Kill it while its streams hold reservations.
    let open = 0;
    for (let i = 0; i < 100 && open < 10; i++) {
      await new Promise((r) => setTimeout(r, 50));
      open = (await q<{ n: number }>(`select count(*)::int as n from budget_reservation where budget_id = $1`, [budget.id]))[0].n;
    }
    expect(open).toBeGreaterThan(0);
    await victim.stop('SIGKILL');
    await Promise.all(inflight);
    const restarted = await startServer({ ...childEnv, PORT: String(await freePort()) });
    try {
      await settled([budget.id], 20_000);
      const rows = await q<{ tokens: string }>(`select coalesce(sum(input_tokens + output_tokens), 0) as tokens from request_log where token_id = $1`, [tok.id]);
      expect(await spent(budget.id)).toBe(Number(rows[0].tokens));
    } finally {
      await restarted.stop();
    }
  }, 90_000);

  describe('answers', () => {
    it('returns remaining budget headers, and 429 in the caller format naming the budget with Retry-After', async () => {
      await freshOrg();
      const tok = await createToken(a.app, { orgSlug: org, name: 'headers' });
      await createBudget({ name: 'two a day', scope: `token:${tok.id}`, metric: 'requests', limit: 2, period: 'day' });
      const first = await call(a.url, tok.secret);
      expect(first.status).toBe(200);
      expect(first.headers.get('x-sluice-budget-remaining')).toBe('1');
      expect(new Date(first.headers.get('x-sluice-budget-reset')!).getTime()).toBeGreaterThan(Date.now());
      await first.arrayBuffer();
      await (await call(a.url, tok.secret)).arrayBuffer();
      const third = await call(a.url, tok.secret);
      expect(third.status).toBe(429);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = (await third.json()) as any;
      expect(body.error.message).toContain('budget "two a day" is exhausted');
      const an = await call(a.url, tok.secret, { max_tokens: 5 }, '/v1/messages');
      expect(an.status).toBe(429);
      expect(await an.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    });

    it('fires each threshold once per window, as a stored alert and an HMAC-signed webhook', async () => {

      await freshOrg();
      const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
      const hook = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          received.push({ headers: req.headers, body });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
      try {
        const tok = await createToken(a.app, { orgSlug: org, name: 'alerts' });
        const budget = await createBudget({ scope: `token:${tok.id}`, metric: 'requests', limit: 4, period: 'day', thresholds: [50, 100], webhookUrl: `http://127.0.0.1:${(hook.address() as any).port}/hook` });
        expect(budget.webhookSecret).toMatch(/^whsec_/);
        for (let i = 0; i < 6; i++) await (await call(i % 2 ? a.url : b.url, tok.secret)).arrayBuffer();
        await settled([budget.id]);
        for (let i = 0; i < 50 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
        await new Promise((r) => setTimeout(r, 300));
        expect(received.map((r) => JSON.parse(r.body).threshold).sort()).toEqual([100, 50]);
        for (const r of received) {
          const expected = 'sha256=' + createHmac('sha256', budget.webhookSecret!).update(`${r.headers['x-sluice-timestamp']}.${r.body}`).digest('hex');
          expect(r.headers['x-sluice-signature']).toBe(expected);
          expect(JSON.parse(r.body)).toMatchObject({ type: 'budget.threshold', budget: { id: budget.id }, limit: 4 });
        }
        const alerts = await q(`select threshold, delivered_at from budget_alert where budget_id = $1 order by threshold`, [budget.id]);
        expect(alerts.map((x) => x.threshold)).toEqual([50, 100]);
        expect(alerts.every((x) => x.delivered_at)).toBe(true);
        const dump = JSON.stringify(await q('select * from budget where id = $1', [budget.id]));
        expect(dump).not.toContain(budget.webhookSecret!);
      } finally {
        hook.close();
      }
    });

    it('soft budgets only warn; per-end-user templates give each end user their own budget', async () => {

      await freshOrg();
      const tok = await createToken(a.app, { orgSlug: org, name: 'soft' });
      await createBudget({ scope: `token:${tok.id}`, metric: 'requests', limit: 1, period: 'day', soft: true });
      for (let i = 0; i < 3; i++) expect((await call(a.url, tok.secret)).status).toBe(200);
      const tpl = await createToken(a.app, { orgSlug: org, name: 'per-user' });
      await createBudget({ scope: `token:${tpl.id}`, perEndUser: true, metric: 'requests', limit: 2, period: 'day' });
      const as = (user: string) => call(user === 'carol' ? b.url : a.url, tpl.secret, { user_id: user }).then((r) => r.status);
      expect([await as('alice'), await as('alice'), await as('alice')]).toEqual([200, 200, 429]);
      expect([await as('bob'), await as('bob'), await as('carol')]).toEqual([200, 200, 200]);
      const children = await q(`select scope_id from budget where parent_budget_id is not null and org_id = (select id from organization where slug = $1) order by scope_id`, [org]);
      expect(children.map((c) => c.scope_id)).toEqual(['alice', 'bob', 'carol']);
    });

    it('fails closed with 503 when budgets cannot be checked, unless the budget fails open', async () => {

      await freshOrg();
      const closed = await createToken(a.app, { orgSlug: org, name: 'closed' });
      const open = await createToken(a.app, { orgSlug: org, name: 'open' });
      await createBudget({ scope: `token:${closed.id}`, metric: 'requests', limit: 100, period: 'day' });
      await createBudget({ scope: `token:${open.id}`, metric: 'requests', limit: 100, period: 'day', failOpen: true });
      await q('alter function sluice_reserve_many(text[], uuid[], bigint[], timestamptz, integer) rename to sluice_reserve_away');
      try {
        const r = await call(a.url, closed.secret);
        expect(r.status).toBe(503);
        expect(((await r.json()) as any).error.message).toContain('budgets cannot be checked');
        expect((await call(a.url, open.secret)).status).toBe(200);
      } finally {
        await q('alter function sluice_reserve_away(text[], uuid[], bigint[], timestamptz, integer) rename to sluice_reserve_many');
      }
    });
  });
});
