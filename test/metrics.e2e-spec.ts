import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { BudgetsService } from '../src/budgets/budgets.service';

type Family = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[] };

describe('/metrics in Prometheus text format', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let metricsToken: string;
  let proxyToken: string;

  const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${metricsToken}` }) => {
    const r = await fetch(`${t.url}/metrics`, { headers });
    return { status: r.status, text: await r.text(), type: r.headers.get('content-type') };
  };
  const family = (families: Family[], name: string) => families.find((f) => f.name === name)!;
  const sum = (f: Family, match: Record<string, string> = {}) =>
    f.metrics.filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m.value ?? m.count ?? m.buckets?.['+Inf'] ?? 0), 0);

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({
      gatewayConfig: {
        providers: { fake: { baseurl: fake.url, models: ['m'], compatibility: { openai_chat: true } } },
        pricing: { 'fake/m': { input: 1, output: 2 } },
        grants: [{ src: ['*'], models: ['**'] }],
      },
    });
    await createOrg(t.app, 'mx');
    metricsToken = (await createToken(t.app, { orgSlug: 'mx', name: 'prometheus', scopes: ['metrics'] })).secret;
    proxyToken = (await createToken(t.app, { orgSlug: 'mx', name: 'client' })).secret;
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('parses, and its counters match the requests made', async () => {
    const call = (body: object) =>
      fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${proxyToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.text());
    for (let i = 0; i < 5; i++) await call({ model: 'm', messages: [{ role: 'user', content: `hi ${i}` }] });
    for (let i = 0; i < 3; i++) await call({ model: 'm', stream: true, messages: [{ role: 'user', content: `stream ${i}` }] });
    for (let i = 0; i < 2; i++) await call({ model: 'nope', messages: [] });
    fake.next({ mode: 'status', status: 500 });
    await call({ model: 'm', messages: [{ role: 'user', content: 'fail' }] });
    await t.app.get(UsageWriter).drain();

    const s = await scrape();
    expect(s.status).toBe(200);
    expect(s.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(s.text) as Family[];
    const requests = family(families, 'sluice_requests_total');
    expect(requests.type).toBe('COUNTER');
    expect(sum(requests)).toBe(11);
    expect(sum(requests, { status: '200' })).toBe(8);
    expect(sum(requests, { status: '404', model: 'unresolved' })).toBe(2);
    expect(sum(requests, { status: '500', provider: 'fake', model: 'm' })).toBe(1);
    expect(sum(family(families, 'sluice_request_errors_total'))).toBe(3);
    expect(family(families, 'sluice_request_duration_seconds').type).toBe('HISTOGRAM');
    // This parser folds histogram series together, so read their _count lines directly.
    const counts = (name: string) => [...s.text.matchAll(new RegExp(`^${name}_count\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    expect(counts('sluice_request_duration_seconds')).toBe(11);
    expect(counts('sluice_time_to_first_token_seconds')).toBeGreaterThanOrEqual(8);

    const db = await withDatabase(t.db.url, async (c) => (await c.query(`select sum(input_tokens)::int as i, sum(output_tokens)::int as o, sum(cost_micros)::int as cost from request_log`)).rows[0]);
    const tokens = family(families, 'sluice_tokens_total');
    expect(sum(tokens, { type: 'input' })).toBe(db.i);
    expect(sum(tokens, { type: 'output' })).toBe(db.o);
    expect(sum(family(families, 'sluice_cost_usd_total'))).toBeCloseTo(db.cost / 1e6, 9);
    expect(sum(family(families, 'sluice_usage_queue_depth'))).toBe(0);
    const written = await withDatabase(t.db.url, async (c) => (await c.query('select count(*)::int as n from request_log')).rows[0].n);
    expect(family(families, 'sluice_usage_records_written_total').type).toBe('COUNTER');
    expect(sum(family(families, 'sluice_usage_records_written_total'))).toBe(written);
    expect(sum(family(families, 'sluice_usage_pushbacks_total'))).toBe(0);
    expect(sum(family(families, 'sluice_usage_failed_flushes_total'))).toBe(0);
    const pool = family(families, 'sluice_upstream_pool');
    expect(pool.metrics.some((m) => m.labels?.provider === 'fake' && m.labels?.state === 'connected')).toBe(true);
    // Keep-alive: the calls above left at least one connection open to the provider.
    expect(sum(pool, { provider: 'fake', state: 'connected' })).toBeGreaterThanOrEqual(1);
    expect(sum(pool, { provider: 'fake', state: 'running' })).toBe(0);
    // Nothing identifying or secret in the exposition.
    expect(s.text).not.toContain(proxyToken);
    expect(s.text).not.toContain(metricsToken);
  });

  it('counts budget and rate-limit rejections as they happen', async () => {
    const families = async () => parsePrometheusTextFormat((await scrape()).text) as Family[];
    const rejected = async (kind: string) => sum(family(await families(), 'sluice_budget_rejections_total') ?? { name: '', type: '', metrics: [] }, { kind });
    const [budgetBefore, rateBefore] = [await rejected('budget'), await rejected('rate_limit')];
    const budgeted = await createToken(t.app, { orgSlug: 'mx', name: 'budgeted' });
    await t.app.get(BudgetsService).create('test', { orgSlug: 'mx', name: 'two requests', scope: `token:${budgeted.id}`, metric: 'requests', limit: 2, period: 'day' });
    const limited = (await createToken(t.app, { orgSlug: 'mx', name: 'limited', rpm: 1 })).secret;
    const call = (secret: string) =>
      fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) }).then(async (r) => (await r.text(), r.status));
    const budgetStatuses: number[] = [];
    for (let i = 0; i < 5; i++) budgetStatuses.push(await call(budgeted.secret));
    const rateStatuses: number[] = [];
    for (let i = 0; i < 4; i++) rateStatuses.push(await call(limited));
    expect(budgetStatuses).toEqual([200, 200, 429, 429, 429]);
    expect(rateStatuses).toEqual([200, 429, 429, 429]);
    await t.app.get(UsageWriter).drain();
    expect((await rejected('budget')) - budgetBefore).toBe(3);
    expect((await rejected('rate_limit')) - rateBefore).toBe(3);
  });

  it('counts push-backs when the usage queue is full (records are never dropped)', async () => {
    const tight = await startTestApp({
      env: { METRICS_ALLOW: '127.0.0.0/8,::1', USAGE_QUEUE_MAX: '1' },
      gatewayConfig: { providers: { fake: { baseurl: fake.url, models: ['m'], compatibility: { openai_chat: true } } }, grants: [{ src: ['*'], models: ['**'] }] },
    });
    try {
      await createOrg(tight.app, 'pb');
      const secret = (await createToken(tight.app, { orgSlug: 'pb', name: 'client' })).secret;
      const call = (content: string) =>
        fetch(`${tight.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }) });
      // The first request holds the only place in the queue while the upstream is slow.
      const slow = call('[[fake:{"mode":"slow","delayMs":800}]]');
      await new Promise((r) => setTimeout(r, 200));
      const pushed = await call('second');
      expect(pushed.status).toBe(503);
      expect(pushed.headers.get('retry-after')).toBe('1');
      expect((await slow).status).toBe(200);
      await tight.app.get(UsageWriter).drain();
      const families = parsePrometheusTextFormat(await (await fetch(`${tight.url}/metrics`)).text()) as Family[];
      expect(sum(family(families, 'sluice_usage_pushbacks_total'))).toBe(1);
      expect(sum(family(families, 'sluice_usage_records_written_total'))).toBe(1);
      expect(sum(family(families, 'sluice_requests_total'))).toBe(1);
    } finally {
      await tight.close();
    }
  });

  it('is refused without a metrics-scoped token', async () => {
    expect((await scrape({})).status).toBe(401);
    expect((await scrape({ authorization: `Bearer ${proxyToken}` })).status).toBe(403);
    expect((await scrape({ authorization: 'Bearer sk-sluice-nope' })).status).toBe(401);
  });

  it('is open to the addresses in METRICS_ALLOW', async () => {
    const open = await startTestApp({ env: { METRICS_ALLOW: '127.0.0.0/8,::1' } });
    try {
      const r = await fetch(`${open.url}/metrics`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('sluice_usage_queue_depth');
    } finally {
      await open.close();
    }
  });
});
