import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';

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
    const pool = family(families, 'sluice_upstream_pool');
    expect(pool.metrics.some((m) => m.labels?.provider === 'fake' && m.labels?.state === 'connected')).toBe(true);
    // Nothing identifying or secret in the exposition.
    expect(s.text).not.toContain(proxyToken);
    expect(s.text).not.toContain(metricsToken);
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
