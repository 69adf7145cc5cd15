import { startTestApp, TEST_SECRET_KEY, TestApp } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { runCli } from './support/processes';
import { UsageWriter } from '../src/usage/usage-writer.service';

/** Rollups must equal independent aggregates over the raw request rows, at every granularity. */
describe('usage rollups', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  const q = async (sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows);

  const RAW = `select org_id::text, coalesce(model, '') as model,
                      case when cancelled then 'cancelled' when status >= 500 then '5xx' when status >= 400 then '4xx' else '2xx' end as status_class,
                      count(*)::bigint as requests, sum(input_tokens)::bigint as input, sum(output_tokens)::bigint as output,
                      sum(cost_micros)::bigint as cost, count(*) filter (where status >= 400)::bigint as failures, coalesce(end_user, '') as end_user
                 from request_log group by 1, 2, 3, 9 order by 1, 2, 3, 9`;
  const ROLLED = (g: string) => `select org_id::text, model, status_class, sum(requests)::bigint as requests, sum(input_tokens)::bigint as input,
                      sum(output_tokens)::bigint as output, sum(cost_micros)::bigint as cost, sum(failures)::bigint as failures, end_user
                 from usage_rollup_${g} group by 1, 2, 3, 9 order by 1, 2, 3, 9`;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({
      gatewayConfig: {
        providers: { fake: { baseurl: fake.url, models: ['m1', 'm2'], compatibility: { openai_chat: true, openai_embeddings: true } } },
        pricing: { 'fake/m1': { input: 3, output: 15 }, 'fake/m2': { input: 0.5, output: 1 } },
        grants: [{ src: ['org:ra'], models: ['**'] }, { src: ['org:rb'], models: ['fake/m2'] }],
      },
    });
    await createOrg(t.app, 'ra');
    await createOrg(t.app, 'rb');
    const tokens = [await createToken(t.app, { orgSlug: 'ra', name: 'a1' }), await createToken(t.app, { orgSlug: 'ra', name: 'a2' }), await createToken(t.app, { orgSlug: 'rb', name: 'b1' })];
    const call = (secret: string, body: object, path = '/v1/chat/completions') =>
      fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.text());
    for (let i = 0; i < 30; i++) {
      const tok = tokens[i % 3];
      const model = i % 4 === 0 ? 'm1' : 'm2';
      if (i % 7 === 0) fake.next({ mode: 'status', status: 500 });
      await call(tok.secret, { model, user: `eu-${i % 5}`, stream: i % 2 === 0, messages: [{ role: 'user', content: 'x'.repeat(10 + i * 13) }] });
    }
    await call(tokens[2].secret, { model: 'm1', messages: [] }); // 403: not granted to rb
    await call(tokens[0].secret, { model: 'm2', input: ['a', 'b'] }, '/v1/embeddings');
    await t.app.get(UsageWriter).drain();
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('equal the raw aggregates per minute, hour and day', async () => {
    const raw = await q(RAW);
    expect(raw.length).toBeGreaterThan(5);
    expect(raw.some((r) => r.status_class === '5xx')).toBe(true);
    expect(raw.some((r) => r.status_class === '4xx')).toBe(true);
    for (const g of ['minute', 'hour', 'day']) expect({ g, rows: await q(ROLLED(g)) }).toEqual({ g, rows: raw });
    const latency = await q(`select (select sum(latency_ms) from request_log) as raw, (select sum(latency_ms_sum) from usage_rollup_day) as rolled`);
    expect(latency[0].rolled).toBeCloseTo(latency[0].raw, 6);
  });

  it('are rebuilt from raw rows by `sluice rollups rebuild`', async () => {
    const before = await q(ROLLED('hour'));
    await q(`delete from usage_rollup_hour`);
    await q(`update usage_rollup_day set requests = requests + 100`);
    const r = await runCli(['rollups', 'rebuild'], { DATABASE_URL: t.db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rebuilt rollups from .* rows/);
    expect(await q(ROLLED('hour'))).toEqual(before);
    expect(await q(ROLLED('day'))).toEqual(await q(RAW));
  });

  it('survive the retention job that drops old raw partitions', async () => {
    await q(`create table request_log_p20250101 partition of request_log for values from ('2025-01-01 00:00:00+00') to ('2025-01-02 00:00:00+00')`);
    await q(`insert into request_log (id, created_at, request_id, org_id, endpoint, status, latency_ms)
             select gen_random_uuid(), '2025-01-01 12:00:00+00', 'old', id, 'chat', 200, 5 from organization limit 1`);
    await q(`insert into usage_rollup_day (bucket, org_id, team_id, token_id, owner_user_id, service_account_id, end_user, provider, model, endpoint_class, status_class, requests)
             select '2025-01-01', id, '00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000',
                    '00000000-0000-0000-0000-000000000000', '', '', '', 'completion', '2xx', 1 from organization limit 1`);
    const dropped = await t.app.get(UsageWriter).maintain();
    expect(dropped).toEqual(['request_log_p20250101']);
    expect(await q(`select count(*)::int as n from request_log where created_at < '2025-06-01'`)).toEqual([{ n: 0 }]);
    expect(await q(`select sum(requests)::int as n from usage_rollup_day where bucket = '2025-01-01'`)).toEqual([{ n: 1 }]);
    // Today's rows are kept.
    expect((await q(`select count(*)::int as n from request_log`))[0].n).toBeGreaterThan(30);
  });
});
