import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { gatewayConfig, q as rawQuery, seedAnalytics, Seeded } from './support/analytics-seed';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { signIn, TestSession } from './support/session';
import { withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { uuidv7 } from '../src/common/uuid';
import { LiveUsageService } from '../src/usage/live-usage.service';
import { measuresOf, rebuildRollups, ROLLUP_TABLES } from '../src/usage/rollups';
import { AnalyticsPool } from '../src/usage/analytics.repository';

/**
 * Every number on the analytics pages equals an independent aggregate over the raw request rows
 * (request_log), for seeded data with two organizations, teams, personal and service tokens,
 * end-user ids, tags, sessions, failures, several models and three time zones.
 */

const DAY = 86_400_000;
const ymd = (d: Date) => d.toISOString().slice(0, 10);

/** The person a raw row counts for (the pages' definition, written against request_log). */
const PERSON = `case when coalesce(l.end_user, '') <> '' then (case when l.end_user like '%@%' then lower(l.end_user) else l.end_user end)
  when l.owner_user_id is not null then lower(u.email) when l.service_account_id is not null then 'sa:' || l.service_account_id::text else 'unknown' end`;
const FROM = `from request_log l left join app_user u on u.id = l.owner_user_id`;

/** Attribute values as the browser reads them (Handlebars escapes these characters). */
const decode = (v: string) => v.replace(/&(lt|gt|quot|#x27|#x60|#x3D|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#x27': "'", '#x60': '`', '#x3D': '=', amp: '&' })[e]!);
/** A chart's inline data (data-spec) as the browser parses it. */
const inline = (html: string, id: string) => JSON.parse(decode(new RegExp(`data-spec="([^"]*)" data-testid="${id}"`).exec(html)![1]));

function kpis(html: string): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const m of html.matchAll(/data-kpi="([^"]+)" data-value="([^"]*)"/g)) out[m[1]] = m[2] === '' ? null : Number(m[2]);
  return out;
}

/** Per table row (`data-row`), the value of one of its cells (`data-col`). */
function rowsOf(html: string, col: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of decode(html).matchAll(/<tr data-row="([^"]+)"([\s\S]*?)<\/tr>/g)) {
    const v = new RegExp(`data-col="${col}" data-value="([^"]*)"`).exec(m[2]);
    if (v) out.set(m[1], Number(v[1]));
  }
  return out;
}

function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else if (ch !== '\r') field += ch;
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

const usd = (micros: number | string) => {
  const m = Number(micros);
  return `${Math.floor(m / 1e6)}.${String(m % 1e6).padStart(6, '0')}`;
};

describe('usage analytics pages', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let s: Seeded;
  let root: TestSession;
  let admin: TestSession;
  let alice: TestSession;
  let carol: TestSession;
  let gadmin: TestSession;
  const raw = <T = any>(sql: string, params: unknown[] = []) => rawQuery<T>(t, sql, params);
  /** Custom range covering every seeded row: local dates from 25 days ago to tomorrow. */
  let wide: { from: string; to: string };

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({ gatewayConfig: gatewayConfig(fake.url), env: { LOGIN_RATE_LIMIT: '1000' } });
    s = await seedAnalytics(t, fake);
    root = await signIn(t, 'root@example.test', { globalAdmin: true });
    admin = await signIn(t, 'admin@acme.test');
    alice = await signIn(t, 'alice@acme.test');
    carol = await signIn(t, 'carol@globex.test');
    gadmin = await signIn(t, 'gadmin@globex.test');
    wide = { from: ymd(new Date(Date.now() - 25 * DAY)), to: ymd(new Date(Date.now() + DAY)) };
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  /** [from, to) of a custom range of local dates, computed by PostgreSQL. */
  const customBounds = (tz: string, from: string, to: string) => `l.created_at >= ('${from}'::date)::timestamp at time zone '${tz}' and l.created_at < ('${to}'::date + 1)::timestamp at time zone '${tz}'`;

  it('seeds what the pages need', async () => {
    const [c] = await raw(`select count(*)::int as n, count(distinct org_id)::int as orgs, count(*) filter (where status >= 400)::int as failed,
                                  count(*) filter (where tags is not null)::int as tagged, count(distinct end_user)::int as end_users from request_log`);
    expect(c.n).toBeGreaterThan(60);
    expect(c.orgs).toBe(2);
    expect(c.failed).toBeGreaterThan(3);
    expect(c.tagged).toBeGreaterThan(10);
    expect(c.end_users).toBeGreaterThanOrEqual(4);
  });

  describe('/ui/usage', () => {
    for (const tz of ['UTC', 'America/New_York', 'Asia/Kolkata']) {
      it(`metrics bar, top organizations and models equal raw aggregates (all organizations, ${tz})`, async () => {
        const qs = `org=all&range=custom&from=${wide.from}&to=${wide.to}&tz=${encodeURIComponent(tz)}`;
        const page = await root.get(`/ui/usage?${qs}`).expect(200);
        const [e] = await raw(`select count(*)::int as requests, count(*) filter (where status >= 400)::int as failures,
              coalesce(sum(input_tokens), 0)::int as input, coalesce(sum(output_tokens), 0)::int as output, coalesce(sum(cost_micros), 0)::bigint as cost,
              avg(latency_ms) filter (where endpoint not in ('embeddings', 'count_tokens')) as lat_c, avg(latency_ms) filter (where endpoint = 'embeddings') as lat_e
            ${FROM} where ${customBounds(tz, wide.from, wide.to)}`);
        const k = kpis(page.text);
        expect(k.requests).toBe(e.requests);
        expect(k.failures).toBe(e.failures);
        expect(k.input).toBe(e.input);
        expect(k.output).toBe(e.output);
        expect(k.total).toBe(e.input + e.output);
        expect(k.cost).toBe(Number(e.cost));
        expect(k['latency-completion']).toBeCloseTo(e.lat_c, 6);
        expect(k['latency-embedding']).toBeCloseTo(e.lat_e, 6);

        const top = parseCsv((await root.get(`/ui/usage/top.csv?${qs}`).expect(200).expect('content-type', /text\/csv/)).text);
        const expTop = await raw(`select o.slug, o.name, count(*)::int as requests, sum(input_tokens)::int as input, sum(output_tokens)::int as output, sum(cost_micros)::bigint as cost
            ${FROM} join organization o on o.id = l.org_id where ${customBounds(tz, wide.from, wide.to)} group by 1, 2 order by 3 desc, 1`);
        expect(top.map((r) => [r.key, r.name, Number(r.requests), Number(r.input_tokens), Number(r.output_tokens), Number(r.total_tokens), r.cost_usd])).toEqual(
          expTop.map((r) => [r.slug, r.name, r.requests, r.input, r.output, r.input + r.output, usd(r.cost)]),
        );
        expect(top.map((r) => Number(r.rank))).toEqual([1, 2]);

        const models = parseCsv((await root.get(`/ui/usage/models.csv?${qs}`).expect(200)).text);
        const expModels = await raw(`select coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as requests, count(*) filter (where status >= 400)::int as failures,
            sum(input_tokens)::int as input, sum(output_tokens)::int as output, sum(cost_micros)::bigint as cost ${FROM} where ${customBounds(tz, wide.from, wide.to)} group by 1`);
        const byId = new Map(models.map((m) => [m.model, m]));
        for (const m of expModels) {
          expect([m.id, Number(byId.get(m.id)?.requests), Number(byId.get(m.id)?.failed_requests), Number(byId.get(m.id)?.input_tokens), Number(byId.get(m.id)?.output_tokens), byId.get(m.id)?.cost_usd]).toEqual([
            m.id, m.requests, m.failures, m.input, m.output, usd(m.cost),
          ]);
        }
        // Configured models nobody used are listed with zero requests; unconfigured ones seen in usage too.
        expect(byId.get('spare/s1')).toMatchObject({ requests: '0', configured: 'true' });
        expect(byId.get('spare/gone')).toMatchObject({ configured: 'false' });
        expect(models.length).toBe(new Set([...expModels.map((m) => m.id), 'fake/m1', 'fake/m2', 'fake/emb', 'spare/s1']).size);
        const chart = (await root.get(`/ui/usage/models.json?${qs}`).expect(200)).body;
        expect(chart.categories).toContain('spare/s1');
        expect(chart.data[1][chart.categories.indexOf('spare/s1')]).toBe(0);
        // The page brings both charts with it: the same data as their JSON.
        expect(inline(page.text, 'models-chart')).toEqual(chart);
        expect(inline(page.text, 'requests-chart')).toEqual((await root.get(`/ui/usage/requests.json?${qs}`).expect(200)).body);
      });
    }

    // Tokyo: a closed range's last UTC day row holds hours of the local day after the range (its
    // hours from 15:00 UTC on); Kolkata and Kathmandu: local days start inside a UTC hour.
    for (const [tz, source] of [['UTC', 'day'], ['America/New_York', 'hour'], ['Asia/Tokyo', 'hour'], ['Asia/Kolkata', 'minute'], ['Asia/Kathmandu', 'minute']]) {
      it(`requests over time: one bucket per local day in ${tz} (${source} rollups) and per local hour`, async () => {
        const d0 = ymd(new Date(s.day.getTime() - DAY));
        const d1 = ymd(new Date(s.day.getTime() + 2 * DAY));
        const days = (await root.get(`/ui/usage/requests.json?org=all&range=custom&from=${d0}&to=${d1}&tz=${encodeURIComponent(tz)}`).expect(200)).body;
        expect(days.kind).toBe('bars');
        expect(days.stacked).toBe(true);
        expect(days.tz).toBe(tz);
        const exp = await raw(`select extract(epoch from date_trunc('day', l.created_at at time zone '${tz}') at time zone '${tz}')::bigint as x,
              count(*) filter (where status < 400)::int as ok, count(*) filter (where status >= 400)::int as failed
            ${FROM} where ${customBounds(tz, d0, d1)} group by 1 order by 1`);
        expect(days.data[0].length).toBe(4);
        const got = (days.data[0] as number[]).map((x, i) => [x, days.data[1][i], days.data[2][i]]).filter((r) => r[1] || r[2]);
        expect(got).toEqual(exp.map((r) => [Number(r.x), r.ok, r.failed]));
        // A range that ends the day before: the rows after its end on its last UTC day (22:00
        // UTC, the next local day east of UTC) are not its last day's.
        const e0 = ymd(new Date(s.day.getTime() - 3 * DAY));
        const e1 = ymd(new Date(s.day.getTime() - DAY));
        const before = (await root.get(`/ui/usage/requests.json?org=all&range=custom&from=${e0}&to=${e1}&tz=${encodeURIComponent(tz)}`).expect(200)).body;
        const expBefore = await raw(`select extract(epoch from date_trunc('day', l.created_at at time zone '${tz}') at time zone '${tz}')::bigint as x, count(*)::int as n
            ${FROM} where ${customBounds(tz, e0, e1)} group by 1 order by 1`);
        expect((before.data[0] as number[]).map((x, i) => [x, before.data[1][i] + before.data[2][i]]).filter((r) => r[1])).toEqual(expBefore.map((r) => [Number(r.x), r.n]));

        // Totals over a closed range in the past: whole UTC days from day rollups, the edges from finer ones.
        const qs = `org=all&range=custom&from=${d0}&to=${d1}&tz=${encodeURIComponent(tz)}`;
        const [tot] = await raw(`select count(*)::int as n, sum(input_tokens)::int as input, sum(cost_micros)::bigint as cost, count(distinct ${PERSON})::int as users ${FROM} where ${customBounds(tz, d0, d1)}`);
        const k = kpis((await root.get(`/ui/usage?${qs}`).expect(200)).text);
        expect([k.requests, k.input, k.cost]).toEqual([tot.n, tot.input, Number(tot.cost)]);
        const people = await root.get(`/ui/usage/people?${qs}`).expect(200);
        expect(kpis(people.text)['active-users']).toBe(tot.users);
        const perPerson = parseCsv((await root.get(`/ui/usage/people.csv?${qs}`).expect(200)).text);
        const expPer = await raw(`select ${PERSON} as k, count(*)::int as n ${FROM} where ${customBounds(tz, d0, d1)} group by 1`);
        expect(perPerson.map((r) => [r.user_key, Number(r.requests)]).sort()).toEqual(expPer.map((r) => [r.k, r.n]).sort());

        // One local day by hour (custom ranges of up to two days are hourly).
        const d = ymd(s.day);
        const hours = (await root.get(`/ui/usage/requests.json?org=all&range=custom&from=${d}&to=${d}&tz=${encodeURIComponent(tz)}`).expect(200)).body;
        const expH = await raw(`select extract(epoch from l.created_at - make_interval(mins => extract(minute from l.created_at at time zone '${tz}')::int,
                                                                               secs => extract(second from l.created_at at time zone '${tz}')))::bigint as x,
              count(*) filter (where status < 400)::int as ok, count(*) filter (where status >= 400)::int as failed
            ${FROM} where ${customBounds(tz, d, d)} group by 1 order by 1`);
        expect(hours.data[0].length).toBeGreaterThanOrEqual(23);
        const gotH = (hours.data[0] as number[]).map((x, i) => [x, hours.data[1][i], hours.data[2][i]]).filter((r) => r[1] || r[2]);
        expect(gotH).toEqual(expH.map((r) => [Number(r.x), r.ok, r.failed]));
        expect(expH.length).toBeGreaterThan(2);
      });
    }

    it('an organization lists its tokens; a token lists its user_ids', async () => {
      const qs = `org=acme&range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`;
      const tokens = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}`).expect(200)).text);
      const exp = await raw(`select t.id::text as key, t.name, count(*)::int as requests, sum(input_tokens)::int as input, sum(output_tokens)::int as output,
            sum(l.cost_micros)::bigint as cost, ow.email as owner, sa.name as sa
          ${FROM} join api_token t on t.id = l.token_id left join app_user ow on ow.id = t.owner_user_id left join service_account sa on sa.id = t.service_account_id
          where l.org_id = $1 and ${customBounds('UTC', wide.from, wide.to)} group by 1, 2, 7, 8 order by 3 desc, 1`, [s.org.acme]);
      expect(tokens.map((r) => [r.key, r.name, Number(r.requests), Number(r.input_tokens), Number(r.output_tokens), r.cost_usd, r.token_owner, r.service_account])).toEqual(
        exp.map((r) => [r.key, r.name, r.requests, r.input, r.output, usd(r.cost), r.owner ?? '', r.sa ?? '']),
      );
      const page = await admin.get(`/ui/usage?${qs}`).expect(200);
      expect(decode(page.text)).toContain(`token=${s.token.bot.id}`);
      expect(page.text).not.toContain('globex');

      const users = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}&token=${s.token.bot.id}`).expect(200)).text);
      const expU = await raw(`select coalesce(end_user, '') as k, count(*)::int as requests, sum(input_tokens)::int as input, sum(output_tokens)::int as output
          ${FROM} where l.token_id = $1 and ${customBounds('UTC', wide.from, wide.to)} group by 1 order by 2 desc, 1`, [s.token.bot.id]);
      expect(users.map((r) => [r.key, Number(r.requests), Number(r.input_tokens), Number(r.output_tokens)]).sort()).toEqual(expU.map((r) => [r.k, r.requests, r.input, r.output]).sort());
      expect(users.map((r) => r.name)).toContain('(no user_id)');
      const tokenPage = await admin.get(`/ui/usage?${qs}&token=${s.token.bot.id}`).expect(200);
      expect(tokenPage.text).toContain('data-testid="token-name">webui-prod<');
      expect(kpis(tokenPage.text).requests).toBe(expU.reduce((a, r) => a + r.requests, 0));
    });

    it('the 1h and 1d frames bucket today\'s proxied requests by minute and by hour', async () => {
      for (const [range, unit] of [['1h', 'minute'], ['1d', 'hour']] as const) {
        const chart = (await root.get(`/ui/usage/requests.json?org=all&range=${range}&tz=Asia/Kolkata`).expect(200)).body;
        expect(chart.data[0].length).toBe(range === '1h' ? 60 : 24);
        const step = unit === 'minute' ? 60 : 3600;
        const xs = chart.data[0] as number[];
        expect(xs.every((x, i) => i === 0 || x - xs[i - 1] === step)).toBe(true);
        const since = xs[0];
        const expSql = unit === 'minute'
          ? `date_trunc('minute', l.created_at)`
          : `l.created_at - make_interval(mins => extract(minute from l.created_at at time zone 'Asia/Kolkata')::int, secs => extract(second from l.created_at))`;
        const exp = await raw(`select extract(epoch from ${expSql})::bigint as x, count(*)::int as n ${FROM} where l.created_at >= to_timestamp($1) group by 1 order by 1`, [since]);
        const got = xs.map((x, i) => [x, chart.data[1][i] + chart.data[2][i]]).filter((r) => r[1]);
        expect(got).toEqual(exp.map((r) => [Number(r.x), r.n]));
        expect(got.length).toBeGreaterThan(0);
      }
    });

    it('sorts, searches and pages the top table on the server', async () => {
      const qs = `org=acme&range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`;
      const byName = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}&sort=name&dir=asc`).expect(200)).text).map((r) => r.name);
      expect(byName).toEqual([...byName].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
      // Sorted by a number: ranked and paged on the sums, named afterwards; the same rows, names and ranks.
      const byReq = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}`).expect(200)).text);
      const byCost = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}&sort=cost&dir=asc`).expect(200)).text);
      const costs = byCost.map((r) => Number(r.cost_usd));
      expect(costs).toEqual([...costs].sort((a, b) => a - b));
      const row = (r: Record<string, string>) => [r.key, r.rank, r.name, r.token_owner, r.service_account, r.requests].join('|');
      expect(byCost.map(row).sort()).toEqual(byReq.map(row).sort());
      expect(byReq.length).toBeGreaterThan(2);
      const found = parseCsv((await admin.get(`/ui/usage/top.csv?${qs}&q=BOB`).expect(200)).text);
      expect(found.map((r) => r.name)).toEqual(['bob-ci']);
      const page2 = await admin.htmx('get', `/ui/usage?${qs}&sort=requests&dir=desc&per=10&page=1`).set('HX-Target', 'div#usage-top').expect(200);
      expect(page2.text).toMatch(/^\{\{!--|^<div class="page-head">/);
      expect(page2.text).not.toContain('data-kpi');
      expect(page2.text).toContain('data-testid="top-table"');
      const body = await admin.htmx('get', `/ui/usage?${qs}`).expect(200);
      expect(body.text).toContain('data-kpi="requests"');
      expect(body.text).not.toContain('<html');
      expect(body.headers.vary).toMatch(/HX-Request/);
    });
  });

  describe('/ui/usage/people', () => {
    const base = () => `org=acme&range=custom&from=${wide.from}&to=${wide.to}&tz=America/New_York`;
    const where = () => `l.org_id = '${s.org.acme}' and ${customBounds('America/New_York', wide.from, wide.to)}`;

    it('by user: KPIs and every row equal raw aggregates per person', async () => {
      const page = await admin.get(`/ui/usage/people?${base()}`).expect(200);
      const [e] = await raw(`select count(distinct ${PERSON})::int as users, count(*)::int as requests, sum(input_tokens + output_tokens)::int as tokens, sum(cost_micros)::bigint as cost ${FROM} where ${where()}`);
      const k = kpis(page.text);
      expect(k['active-users']).toBe(e.users);
      expect(k.requests).toBe(e.requests);
      expect(k.total).toBe(e.tokens);
      expect(k.cost).toBe(Number(e.cost));
      expect(k['avg-requests']).toBeCloseTo(e.requests / e.users, 9);

      const rows = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}`).expect(200)).text);
      const exp = await raw(`select ${PERSON} as k, count(*)::int as requests, sum(input_tokens)::int as input, sum(output_tokens)::int as output, sum(cost_micros)::bigint as cost,
            string_agg(distinct coalesce(provider, '') || '/' || coalesce(model, ''), ' ') as models ${FROM} where ${where()} group by 1`);
      expect(rows.map((r) => [r.user_key, Number(r.requests), Number(r.input_tokens), Number(r.output_tokens), r.cost_usd, r.models.split(' ').sort().join(' ')]).sort()).toEqual(
        exp.map((r) => [r.k, r.requests, r.input, r.output, usd(r.cost), r.models.split(' ').sort().join(' ')]).sort(),
      );
      // In UTC the models come from the per-person-and-model day rollup: the same answer.
      const utc = parseCsv((await admin.get(`/ui/usage/people.csv?org=acme&range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`).expect(200)).text);
      const expUtc = await raw(`select ${PERSON} as k, count(*)::int as requests, string_agg(distinct coalesce(provider, '') || '/' || coalesce(model, ''), ' ') as models
            ${FROM} where l.org_id = '${s.org.acme}' and ${customBounds('UTC', wide.from, wide.to)} group by 1`);
      expect(utc.map((r) => [r.user_key, Number(r.requests), r.models.split(' ').sort().join(' ')]).sort()).toEqual(expUtc.map((r) => [r.k, r.requests, r.models.split(' ').sort().join(' ')]).sort());
      const utcPage = await admin.get(`/ui/usage/people?org=acme&range=custom&from=${wide.from}&to=${wide.to}&tz=UTC&per=100`).expect(200);
      const cells = [...decode(utcPage.text).matchAll(/<tr data-row="([^"]+)"[\s\S]*?<td class="models-cell" title="([^"]*)"/g)];
      expect(cells.length).toBe(utc.length);
      for (const m of cells) {
        expect([m[1], m[2].split(', ').sort().join(' ')]).toEqual([m[1], expUtc.find((r) => r.k === m[1])!.models.split(' ').sort().join(' ')]);
      }
      // Alice through her token and through the service (end-user id in another case) is one person.
      const aliceRow = rows.find((r) => r.user_key === 'alice@acme.test')!;
      expect(aliceRow.email).toBe('alice@acme.test');
      expect(rows.find((r) => r.user_key === 'customer-7')).toBeTruthy();
      expect(rows.find((r) => r.user_key === `sa:${s.sa}`)?.name).toBe('service account webui');
      // The team badge is the team most of the person's requests were made for.
      const [team] = await raw(`select t.name from request_log l join team t on t.id = l.team_id left join app_user u on u.id = l.owner_user_id
          where ${where()} and ${PERSON} = 'alice@acme.test' group by 1 order by count(*) desc, min(t.id::text) limit 1`);
      expect(aliceRow.team).toBe(team.name);
    });

    it('by team: every row equals raw aggregates per team; activity stacks per team', async () => {
      const rows = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}&view=team`).expect(200)).text);
      const exp = await raw(`select coalesce(t.name, '(no team)') as team, count(distinct ${PERSON})::int as users, count(*)::int as requests, sum(input_tokens)::int as input,
            sum(output_tokens)::int as output, sum(l.cost_micros)::bigint as cost ${FROM} left join team t on t.id = l.team_id where ${where()} group by 1`);
      expect(rows.map((r) => [r.team, Number(r.active_users), Number(r.requests), Number(r.input_tokens), Number(r.output_tokens), r.cost_usd]).sort()).toEqual(
        exp.map((r) => [r.team, r.users, r.requests, r.input, r.output, usd(r.cost)]).sort(),
      );
      expect(rows.filter((r) => r.team !== '(no team)').map((r) => r.team_org)).toEqual(rows.filter((r) => r.team !== '(no team)').map(() => 'acme'));
      // Over every organization a team is named with its organization (two may have a "core").
      const everywhere = await root.get(`/ui/usage/people?${base().replace('org=acme', 'org=all')}&view=team`).expect(200);
      expect(everywhere.text).toMatch(/class="team-badge"[^>]*>core \(acme\)</);
      const allChart = (await root.get(`/ui/usage/people/activity.json?${base().replace('org=acme', 'org=all')}&view=team`).expect(200)).body;
      expect(allChart.options.series.map((x: { label: string }) => x.label)).toContain('core (acme)');
      const html = await admin.get(`/ui/usage/people?${base()}&view=team`).expect(200);
      expect(rowsOf(html.text, 'requests')).toEqual(new Map([[s.team.core, exp.find((r) => r.team === 'core').requests], [s.team.web, exp.find((r) => r.team === 'web').requests]]));
      expect(html.text).toMatch(/class="team-badge"[^>]*>core</);
      expect(html.text).not.toContain(`>${s.team.web}<`);
      const chart = (await admin.get(`/ui/usage/people/activity.json?${base()}&view=team`).expect(200)).body;
      expect(chart.stacked).toBe(true);
      const labels = chart.options.series.slice(1).map((x: { label: string }) => x.label);
      expect(labels.sort()).toEqual(exp.map((r) => r.team).sort());
      const perTeam = await raw(`select coalesce(t.name, '(no team)') as team, extract(epoch from date_trunc('day', l.created_at at time zone 'America/New_York') at time zone 'America/New_York')::bigint as x,
            count(*)::int as n ${FROM} left join team t on t.id = l.team_id where ${where()} group by 1, 2`);
      for (const r of perTeam) {
        const si = chart.options.series.findIndex((x: { label: string }) => x.label === r.team);
        const xi = chart.data[0].indexOf(Number(r.x));
        expect([r.team, r.x, chart.data[si][xi]]).toEqual([r.team, r.x, r.n]);
      }
    });

    /** The people page's KPIs and every row of its CSV for `qs` equal raw rows matching `w`; returns the raw totals. */
    const peopleMatchRaw = async (who: TestSession, qs: string, w: string, at: string) => {
      const [e] = await raw(`select count(distinct ${PERSON})::int as users, count(*)::int as requests, coalesce(sum(input_tokens + output_tokens), 0)::int as tokens ${FROM} where ${w}`);
      const k = kpis((await who.get(`/ui/usage/people?${qs}`).expect(200)).text);
      expect([at, k['active-users'], k.requests, k.total]).toEqual([at, e.users, e.requests, e.tokens]);
      const rows = parseCsv((await who.get(`/ui/usage/people.csv?${qs}`).expect(200)).text);
      const exp = await raw(`select ${PERSON} as k, count(*)::int as requests, sum(cost_micros)::bigint as cost,
          string_agg(distinct coalesce(provider, '') || '/' || coalesce(model, ''), ' ') as models ${FROM} where ${w} group by 1`);
      expect([at, rows.map((r) => [r.user_key, Number(r.requests), r.cost_usd, r.models.split(' ').sort().join(' ')]).sort()]).toEqual([
        at,
        exp.map((r) => [r.k, r.requests, usd(r.cost), r.models.split(' ').sort().join(' ')]).sort(),
      ]);
      return e as { users: number; requests: number; tokens: number };
    };

    // Ranges whose first or last day is a partial UTC day holding seeded rows inside and outside
    // the range: read as hour rows, or as a day row minus its other hours, or (per local day) as
    // day rows plus the hours of other local days. Every number must still be the raw one.
    it('partial UTC days at the edges of a range: KPIs, people, models, charts equal raw rows', async () => {
      const d0 = ymd(new Date(Math.floor(Date.now() / DAY) * DAY - 3 * DAY));
      const shift = (d: string, n: number) => ymd(new Date(Date.parse(`${d}T00:00:00Z`) + n * DAY));
      // Kolkata and Kathmandu: local days start at :30 and :45 of a UTC hour (quarter-hour bits).
      for (const tz of ['UTC', 'America/New_York', 'Asia/Tokyo', 'Asia/Kolkata', 'Asia/Kathmandu']) {
        for (const [from, to] of [[d0, shift(d0, 1)], [shift(d0, -1), shift(d0, 1)], [shift(d0, 1), shift(d0, 2)]]) {
          const qs = `org=acme&range=custom&from=${from}&to=${to}&tz=${encodeURIComponent(tz)}`;
          const w = `l.org_id = '${s.org.acme}' and ${customBounds(tz, from, to)}`;
          const at = `${tz} ${from}…${to}`;
          const e = await peopleMatchRaw(admin, qs, w, at);
          expect(e.requests).toBeGreaterThan(0);
          const models = parseCsv((await admin.get(`/ui/adoption/models.csv?${qs}`).expect(200)).text);
          const expModels = await raw(`select coalesce(provider, '') || '/' || coalesce(model, '') as m, count(*)::int as n ${FROM} where ${w} group by 1`);
          expect([at, models.map((r) => [r.model, Number(r.requests)]).sort()]).toEqual([at, expModels.map((r) => [r.m, r.n]).sort()]);
          const days = rowsOf((await admin.get(`/ui/adoption?${qs}`).expect(200)).text, 'days');
          const expDays = await raw(`select ${PERSON} as k, count(distinct date_trunc('day', l.created_at at time zone '${tz}'))::int as n ${FROM} where ${w} group by 1`);
          expect([at, [...days.entries()].sort()]).toEqual([at, expDays.map((r) => [r.k, r.n]).sort()]);
          // Charts per bucket (hours for the two-day ranges, local days for the three-day one).
          const unit = Date.parse(to) - Date.parse(from) >= 2 * DAY ? 'day' : 'hour';
          // Local hours (at :30 and :45 of UTC hours in Kolkata and Kathmandu).
          const bucket = unit === 'day'
            ? `date_trunc('day', l.created_at at time zone '${tz}') at time zone '${tz}'`
            : `date_trunc('minute', l.created_at) - make_interval(mins => extract(minute from l.created_at at time zone '${tz}')::int)`;
          const series = (await admin.get(`/ui/usage/requests.json?${qs}`).expect(200)).body;
          const expSeries = await raw(`select extract(epoch from ${bucket})::bigint as x, count(*)::int as n ${FROM} where ${w} group by 1 order by 1`);
          expect([at, (series.data[0] as number[]).map((x, i) => [x, series.data[1][i] + series.data[2][i]]).filter((r) => r[1])]).toEqual([at, expSeries.map((r) => [Number(r.x), r.n])]);
          const active = (await admin.get(`/ui/usage/people/activity.json?${qs}`).expect(200)).body;
          const expActive = await raw(`select extract(epoch from ${bucket})::bigint as x, count(distinct ${PERSON})::int as n ${FROM} where ${w} group by 1 order by 1`);
          expect([at, (active.data[0] as number[]).map((x, i) => [x, active.data[1][i]]).filter((r) => r[1])]).toEqual([at, expActive.map((r) => [Number(r.x), r.n])]);
        }
      }
    });

    it('a range covering most of a month (its month row minus the other days) equals raw rows', async () => {
      const m = s.month;
      const last = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 0));
      const dayOf = (d: number) => ymd(new Date(m.getTime() + (d - 1) * DAY));
      // Rows on the 3rd, 12th, 20th and 27th: leave out the 3rd, then the 27th, then both.
      for (const [from, to] of [[dayOf(5), ymd(last)], [dayOf(1), dayOf(24)], [dayOf(4), dayOf(25)]]) {
        for (const tz of ['UTC', 'America/New_York']) {
          const qs = `org=all&range=custom&from=${from}&to=${to}&tz=${encodeURIComponent(tz)}`;
          const w = customBounds(tz, from, to);
          const at = `${tz} ${from}…${to}`;
          const [out] = await raw(`select count(*)::int as n ${FROM} where l.created_at >= date_trunc('month', '${from}'::date) and l.created_at < date_trunc('month', '${from}'::date) + interval '1 month' and not (${w})`);
          const e = await peopleMatchRaw(root, qs, w, at);
          expect([at, e.requests > 0, out.n > 0]).toEqual([at, true, true]);
          const dist = (await root.get(`/ui/adoption/distribution.json?${qs}`).expect(200)).body;
          expect([at, (dist.data[1] as number[]).reduce((a, b) => a + b, 0)]).toEqual([at, e.users]);
        }
      }
    });

    it('active users per local day equal raw distinct people per day', async () => {
      const chart = (await admin.get(`/ui/usage/people/activity.json?${base()}`).expect(200)).body;
      const exp = await raw(`select extract(epoch from date_trunc('day', l.created_at at time zone 'America/New_York') at time zone 'America/New_York')::bigint as x,
            count(distinct ${PERSON})::int as n ${FROM} where ${where()} group by 1 order by 1`);
      const got = (chart.data[0] as number[]).map((x, i) => [x, chart.data[1][i]]).filter((r) => r[1]);
      expect(got).toEqual(exp.map((r) => [Number(r.x), r.n]));
    });

    it('filters by tokens, tags and teams, and searches, exactly', async () => {
      const cases: [string, string][] = [
        [`tokens=${s.token.bot.id}&tokens=${s.token.bob.id}`, `l.token_id in ('${s.token.bot.id}', '${s.token.bob.id}')`],
        ['tags=proj:x', `l.tags && array['proj:x']`],
        ['tags=env:prod&tags=alpha', `l.tags && array['env:prod', 'alpha']`],
        [`teams=${s.team.core}`, `l.team_id = '${s.team.core}'`],
        [`teams=${s.team.web}&tags=env:dev`, `l.team_id = '${s.team.web}' and l.tags && array['env:dev']`],
      ];
      for (const [params, cond] of cases) {
        const page = await admin.get(`/ui/usage/people?${base()}&${params}`).expect(200);
        const [e] = await raw(`select count(distinct ${PERSON})::int as users, count(*)::int as requests, coalesce(sum(cost_micros), 0)::bigint as cost ${FROM} where ${where()} and ${cond}`);
        const k = kpis(page.text);
        expect([params, k['active-users'], k.requests, k.cost]).toEqual([params, e.users, e.requests, Number(e.cost)]);
        const rows = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}&${params}`).expect(200)).text);
        expect(rows.reduce((a, r) => a + Number(r.requests), 0)).toBe(e.requests);
        expect(rows.length).toBe(e.users);
      }
      const found = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}&q=CUSTOMER`).expect(200)).text);
      expect(found.map((r) => r.user_key)).toEqual(['customer-7']);
      const byTeam = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}&q=core`).expect(200)).text);
      expect(byTeam.map((r) => r.user_key)).toEqual(['alice@acme.test']);
      // Filters stay within the organization: another organization's token narrows to nothing.
      const foreign = await admin.get(`/ui/usage/people?${base()}&tokens=${s.token.carol.id}`).expect(200);
      expect(kpis(foreign.text).requests).toBe(0);
      expect(foreign.text).toContain('data-testid="people-empty"');
    });

    it('sorts and pages the breakdown on the server', async () => {
      const all = parseCsv((await admin.get(`/ui/usage/people.csv?${base()}&sort=cost&dir=desc`).expect(200)).text);
      const costs = all.map((r) => Number(r.cost_usd));
      expect(costs).toEqual([...costs].sort((a, b) => b - a));
      const p1 = await admin.htmx('get', `/ui/usage/people?${base()}&sort=cost&dir=desc&per=10&page=1`).set('HX-Target', 'div#people-table').expect(200);
      const keys1 = [...p1.text.matchAll(/<tr data-row="([^"]+)"/g)].map((m) => m[1]);
      expect(keys1).toEqual(all.slice(0, 10).map((r) => r.user_key.replace(/&/g, '&amp;')));
      expect(p1.text).not.toContain('data-kpi');
    });
  });

  describe('/ui/adoption', () => {
    const base = () => `org=all&range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`;
    const where = () => customBounds('UTC', wide.from, wide.to);

    it('KPIs, top users, distribution and model popularity equal raw aggregates', async () => {
      const page = await root.get(`/ui/adoption?${base()}`).expect(200);
      const [e] = await raw(`select count(distinct ${PERSON})::int as users, count(*)::int as requests, sum(input_tokens + output_tokens)::int as tokens ${FROM} where ${where()}`);
      const k = kpis(page.text);
      expect(k['active-users']).toBe(e.users);
      expect(k.requests).toBe(e.requests);
      expect(k.total).toBe(e.tokens);
      expect(k['tokens-per-user']).toBe(Math.round(e.tokens / e.users));
      expect(k.members).toBe((await raw(`select count(*)::int as n from app_user`))[0].n);

      const users = parseCsv((await root.get(`/ui/adoption/users.csv?${base()}`).expect(200)).text);
      const exp = await raw(`select ${PERSON} as k, count(*)::int as requests, sum(input_tokens + output_tokens)::int as tokens,
            count(distinct date_trunc('day', l.created_at at time zone 'UTC'))::int as days ${FROM} where ${where()} group by 1 order by 3 desc, 1 desc`);
      expect(users.map((r) => [r.user_key, Number(r.requests), Number(r.total_tokens), Number(r.active_days)])).toEqual(exp.map((r) => [r.k, r.requests, r.tokens, r.days]));

      // The page's top users show the same active days (computed for the shown rows only).
      const shown = rowsOf(page.text, 'days');
      expect(shown.size).toBe(Math.min(25, exp.length));
      for (const [key, days] of shown) expect([key, days]).toEqual([key, exp.find((r) => r.k === key)!.days]);
      // Within one local day everyone listed was active on exactly that day.
      const [busiest] = await raw(`select to_char(l.created_at at time zone 'UTC', 'YYYY-MM-DD') as d, count(distinct ${PERSON})::int as n ${FROM} group by 1 order by 2 desc, 1 limit 1`);
      const oneDay = rowsOf((await root.get(`/ui/adoption?org=all&range=custom&from=${busiest.d}&to=${busiest.d}&tz=UTC`).expect(200)).text, 'days');
      expect([...oneDay.values()]).toEqual(Array(busiest.n).fill(1));
      // Ranks by tokens (ties would share one), whatever the order shown.
      const rankOf = new Map(exp.map((r) => [r.k, 1 + exp.filter((x) => x.tokens > r.tokens).length]));
      for (const q of ['', '&sort=requests&dir=asc', '&sort=cost&dir=desc&per=10']) {
        const ranks = rowsOf((await root.get(`/ui/adoption?${base()}${q}`).expect(200)).text, 'rank');
        expect(ranks.size).toBeGreaterThan(0);
        for (const [key, rank] of ranks) expect([key, rank]).toEqual([key, rankOf.get(key)]);
      }

      const dist = (await root.get(`/ui/adoption/distribution.json?${base()}`).expect(200)).body;
      const bins = [0, 0, 0, 0, 0, 0];
      for (const r of exp) bins[r.tokens < 1000 ? 0 : Math.min(5, Math.floor(Math.log10(r.tokens)) - 2)]++;
      expect(dist.data[1]).toEqual(bins);
      // The page brings the histogram and the model chart with it (same numbers as their JSON),
      // also when a search narrows the table (the histogram is everyone's).
      expect(inline(page.text, 'distribution-chart')).toEqual(dist);
      expect(inline((await root.get(`/ui/adoption?${base()}&q=alice`).expect(200)).text, 'distribution-chart')).toEqual(dist);
      expect(inline(page.text, 'popularity-chart')).toEqual((await root.get(`/ui/adoption/models.json?${base()}`).expect(200)).body);

      const models = parseCsv((await root.get(`/ui/adoption/models.csv?${base()}`).expect(200)).text);
      const expM = await raw(`select coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as requests, sum(input_tokens + output_tokens)::int as tokens,
            round(sum(input_tokens + output_tokens) * 100.0 / sum(sum(input_tokens + output_tokens)) over (), 1)::text as share ${FROM} where ${where()} group by 1`);
      expect(models.map((m) => [m.model, Number(m.requests), Number(m.total_tokens), m.token_share_percent]).sort()).toEqual(expM.map((m) => [m.id, m.requests, m.tokens, m.share]).sort());

      const active = (await root.get(`/ui/adoption/active.json?${base()}`).expect(200)).body;
      const expA = await raw(`select extract(epoch from date_trunc('day', l.created_at at time zone 'UTC') at time zone 'UTC')::bigint as x, count(distinct ${PERSON})::int as n ${FROM} where ${where()} group by 1 order by 1`);
      expect((active.data[0] as number[]).map((x, i) => [x, active.data[1][i]]).filter((r) => r[1])).toEqual(expA.map((r) => [Number(r.x), r.n]));
    });

    it('is for admins: members get 403, org admins see their organization only', async () => {
      await alice.get('/ui/adoption').expect(403);
      const page = await admin.get(`/ui/adoption?range=custom&from=${wide.from}&to=${wide.to}`).expect(200);
      expect(page.text).not.toMatch(/globex|carol/i);
      await admin.get('/ui/adoption?org=globex').expect(404);
      const users = parseCsv((await admin.get(`/ui/adoption/users.csv?range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`).expect(200)).text);
      const [e] = await raw(`select count(distinct ${PERSON})::int as n ${FROM} where l.org_id = $1 and ${where()}`, [s.org.acme]);
      expect(users.length).toBe(e.n);
    });
  });

  describe('/ui/models', () => {
    it('lists every configured model with provider, compatibility, pricing and its usage', async () => {
      const qs = `range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`;
      const rows = parseCsv((await admin.get(`/ui/models.csv?${qs}`).expect(200)).text);
      expect(rows.map((r) => r.model)).toEqual(['fake/emb', 'fake/m1', 'fake/m2', 'spare/s1']);
      const exp = await raw(`select coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as requests, sum(cost_micros)::bigint as cost ${FROM}
          where l.org_id = $1 and ${customBounds('UTC', wide.from, wide.to)} group by 1`, [s.org.acme]);
      for (const r of rows) {
        const e = exp.find((x) => x.id === r.model);
        expect([r.model, Number(r.requests), r.cost_usd]).toEqual([r.model, e?.requests ?? 0, usd(e?.cost ?? 0)]);
      }
      const m2 = rows.find((r) => r.model === 'fake/m2')!;
      expect(m2).toMatchObject({ provider: 'fake', description: 'Fake provider for tests', compatibility: 'openai_chat openai_embeddings', aliases: 'fast', input_usd_per_1m: '0.5', output_usd_per_1m: '1.5', cached_input_usd_per_1m: '0.25' });
      const page = await admin.get(`/ui/models?${qs}`).expect(200);
      expect(page.text).toContain('<code>spare/s1</code>');
      expect(page.text).toContain('$0.25');
      const sorted = parseCsv((await admin.get(`/ui/models.csv?${qs}&sort=requests&dir=desc`).expect(200)).text).map((r) => Number(r.requests));
      expect(sorted).toEqual([...sorted].sort((a, b) => b - a));
      expect(parseCsv((await admin.get(`/ui/models.csv?${qs}&q=spare`).expect(200)).text).map((r) => r.model)).toEqual(['spare/s1']);
    });
  });

  describe('dashboards', () => {
    const mine = (email: string, userId: string, orgIds: string[]) =>
      `(l.owner_user_id = '${userId}' or lower(l.end_user) = '${email}') and l.org_id in (${orgIds.map((o) => `'${o}'`).join(', ')})`;

    it("my dashboard: quick stats, tokens by model and the timeline equal raw aggregates", async () => {
      const qs = `range=30d&tz=Asia/Kolkata`;
      const page = await alice.get(`/ui?${qs}`).expect(200);
      const cond = `${mine('alice@acme.test', s.user.alice, [s.org.acme])} and l.created_at >= (date_trunc('day', now() at time zone 'Asia/Kolkata') - interval '29 days') at time zone 'Asia/Kolkata'`;
      const [e] = await raw(`select count(*)::int as requests, sum(input_tokens + output_tokens)::int as tokens, sum(cost_micros)::bigint as cost,
            count(distinct sluice_session_id)::int as sessions ${FROM} where ${cond}`);
      const k = kpis(page.text);
      expect([k.requests, k.total, k.cost]).toEqual([e.requests, e.tokens, Number(e.cost)]);
      expect(k.sessions).toBe(e.sessions);
      expect(e.sessions).toBeGreaterThan(0);
      const models = parseCsv((await alice.get(`/ui/me/models.csv?${qs}`).expect(200)).text);
      const expM = await raw(`select coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as requests, sum(input_tokens)::int as input, sum(output_tokens)::int as output ${FROM} where ${cond} group by 1`);
      expect(models.map((m) => [m.model, Number(m.requests), Number(m.input_tokens), Number(m.output_tokens)]).sort()).toEqual(expM.map((m) => [m.id, m.requests, m.input, m.output]).sort());
      const chart = (await alice.get(`/ui/me/models.json?${qs}`).expect(200)).body;
      expect(chart.stacked).toBe(true);
      // The page brings both charts with it: the same data as their JSON.
      expect(inline(page.text, 'tokens-by-model-chart')).toEqual(chart);
      expect(inline(page.text, 'activity-chart')).toEqual((await alice.get(`/ui/me/activity.json?${qs}`).expect(200)).body);
      expect(chart.categories.sort()).toEqual(expM.map((m) => m.id).sort());
      const activity = parseCsv((await alice.get(`/ui/me/activity.csv?${qs}`).expect(200)).text);
      const expA = await raw(`select to_char(date_trunc('day', l.created_at at time zone 'Asia/Kolkata'), 'YYYY-MM-DD') as d, coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as n
          ${FROM} where ${cond} group by 1, 2`);
      expect(activity.map((a) => [a.bucket_start, a.model, Number(a.requests)]).sort()).toEqual(expA.map((a) => [a.d, a.id, a.n]).sort());
      // In a whole-hour zone the days come from day and hour rollups: the same per model and day.
      for (const tz of ['America/New_York', 'Asia/Tokyo']) {
        const local = parseCsv((await alice.get(`/ui/me/activity.csv?range=30d&tz=${encodeURIComponent(tz)}`).expect(200)).text);
        const since = `(date_trunc('day', now() at time zone '${tz}') - interval '29 days') at time zone '${tz}'`;
        const expL = await raw(`select to_char(date_trunc('day', l.created_at at time zone '${tz}'), 'YYYY-MM-DD') as d, coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as n
            ${FROM} where ${mine('alice@acme.test', s.user.alice, [s.org.acme])} and l.created_at >= ${since} group by 1, 2`);
        expect(local.map((a) => [a.bucket_start, a.model, Number(a.requests)]).sort()).toEqual(expL.map((a) => [a.d, a.id, a.n]).sort());
        expect(expL.length).toBeGreaterThan(1);
      }
      // The timeline lists the latest minutes first, in the viewer's zone.
      const [latest] = await raw(`select to_char(date_trunc('minute', max(l.created_at)) at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI') as at ${FROM} where ${cond}`);
      expect(page.text).toMatch(new RegExp(`<ol class="timeline"[^>]*>\\s*<li data-minute="[^"]+"><time datetime="[^"]+">${latest.at}</time>`));
    });

    it("admins open people's dashboards; org admins only their organization's people", async () => {
      const qs = 'range=30d&tz=UTC';
      const own = kpis((await alice.get(`/ui?${qs}`).expect(200)).text);
      const seen = kpis((await admin.get(`/ui/dashboard/alice@acme.test?${qs}`).expect(200)).text);
      expect(seen).toEqual(own);
      expect(kpis((await root.get(`/ui/dashboard/ALICE@acme.test?${qs}`).expect(200)).text)).toEqual(own);
      await admin.get('/ui/dashboard/carol@globex.test').expect(404);
      await admin.get('/ui/dashboard/carol@globex.test/models.json').expect(404);
      await admin.get('/ui/dashboard/nobody@nowhere.test').expect(404);
      await alice.get('/ui/dashboard/bob@acme.test').expect(403);
      await alice.get('/ui/dashboard/bob@acme.test/activity.csv').expect(403);
      const carolSeen = await root.get(`/ui/dashboard/carol@globex.test?${qs}`).expect(200);
      const [c] = await raw(`select count(*)::int as n ${FROM} where l.owner_user_id = $1 and l.created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '29 days'`, [s.user.carol]);
      expect(kpis(carolSeen.text).requests).toBe(c.n);
    });

    it('shows the next step when nothing was used', async () => {
      const dave = await signIn(t, 'dave@acme.test');
      const page = await dave.get('/ui').expect(200);
      expect(page.text).toContain('data-testid="no-usage"');
      expect(page.text).toContain('href="/ui/tokens"');
    });

    it("lists a busy person's latest minutes as raw rows order them (read from the last hour first)", async () => {
      const writer = t.app.get(UsageWriter);
      const now = Date.now();
      for (let i = 0; i < 45; i++) {
        writer.admit();
        writer.record({
          id: uuidv7(), createdAt: new Date(now - (i + 1) * 60_000), requestId: `busy-${i}`, orgId: s.org.acme, teamId: s.team.core, tokenId: s.token.alice.id,
          ownerUserId: s.user.alice, serviceAccountId: null, endUser: null, sessionId: null, client: null, clientDevice: null, tags: null,
          provider: 'fake', model: i % 3 ? 'm2' : 'm1', endpoint: 'chat', stream: false, status: 200, errorType: null, cancelled: false,
          latencyMs: 50, ttftMs: null, inputTokens: 10 + i, outputTokens: 5, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costMicros: 100,
          usageEstimated: false, toolsOffered: null, toolEvents: [],
        });
      }
      await writer.drain();
      const page = await alice.get('/ui?range=24h&tz=UTC').expect(200);
      const shown = [...page.text.matchAll(/<li data-minute="([^"]+)"><time[^>]*>[^<]*<\/time> <span class="chip">([^<]+)<\/span>\s*<span data-col="requests" data-value="(\d+)"/g)].map((m) => [m[1], m[2], Number(m[3])]);
      const exp = await raw(`select date_trunc('minute', l.created_at) as m, coalesce(provider, '') || '/' || coalesce(model, '') as id, count(*)::int as n ${FROM}
          where ${mine('alice@acme.test', s.user.alice, [s.org.acme])} and l.created_at >= now() - interval '24 hours' group by 1, 2 order by 1 desc, 3 desc, 2 limit 20`);
      expect(shown).toHaveLength(20);
      expect(shown).toEqual(exp.map((e) => [new Date(e.m).toISOString(), e.id, e.n]));
    });
  });

  describe('isolation', () => {
    const all = () => `range=custom&from=${wide.from}&to=${wide.to}&tz=UTC`;
    it('a member sees only their own usage on every page', async () => {
      const cond = `(l.owner_user_id = '${s.user.alice}' or lower(l.end_user) = 'alice@acme.test') and l.org_id = '${s.org.acme}' and ${customBounds('UTC', wide.from, wide.to)}`;
      const [e] = await raw(`select count(*)::int as requests, sum(cost_micros)::bigint as cost ${FROM} where ${cond}`);
      for (const path of ['/ui/usage', '/ui/usage/people']) {
        const page = await alice.get(`${path}?${all()}`).expect(200);
        expect([path, kpis(page.text).requests, kpis(page.text).cost]).toEqual([path, e.requests, Number(e.cost)]);
        expect(page.text).not.toMatch(/bob@acme|bob-ci|customer-7|globex|carol/i);
      }
      const top = parseCsv((await alice.get(`/ui/usage/top.csv?${all()}`).expect(200)).text);
      expect(top.map((r) => r.name).sort()).toEqual(['alice-laptop', 'webui-prod']);
      const people = parseCsv((await alice.get(`/ui/usage/people.csv?${all()}`).expect(200)).text);
      expect(people.map((r) => r.user_key)).toEqual(['alice@acme.test']);
      // Her own token drills down; the service's token does not (it is not hers).
      const drill = parseCsv((await alice.get(`/ui/usage/top.csv?${all()}&token=${s.token.bot.id}`).expect(200)).text);
      expect(drill.map((r) => r.name).sort()).toEqual(['alice-laptop', 'webui-prod']);
      const models = parseCsv((await alice.get(`/ui/models.csv?${all()}`).expect(200)).text);
      const [configured] = await raw(`select count(*)::int as n ${FROM} where ${cond} and l.provider || '/' || l.model in ('fake/m1', 'fake/m2', 'fake/emb', 'spare/s1')`);
      expect(models.reduce((a, r) => a + Number(r.requests), 0)).toBe(configured.n);
      // Another organization: not found; "all" falls back to her own.
      await alice.get('/ui/usage?org=globex').expect(404);
      await alice.get(`/ui/usage/requests.json?org=${s.org.globex}`).expect(404);
      const asAll = await alice.get(`/ui/usage?org=all&${all()}`).expect(200);
      expect(kpis(asAll.text).requests).toBe(e.requests);
      // Tag choices come from her own usage only.
      const peoplePage = await alice.get(`/ui/usage/people?${all()}`).expect(200);
      expect(peoplePage.text).not.toContain('value="env:dev"');
    });

    it('an org admin sees their organization only; top tables never name another organization', async () => {
      for (const [who, mineOrg, other] of [[admin, 'acme', /globex|carol|ops\b|carol-key/i], [gadmin, 'globex', /acme|alice|bob|webui/i]] as const) {
        for (const path of ['/ui/usage', '/ui/usage/people', '/ui/adoption', '/ui/models']) {
          const page = await who.get(`${path}?${all()}`).expect(200);
          expect([path, mineOrg, other.test(page.text.replace(/<header[\s\S]*?<\/header>/, ''))]).toEqual([path, mineOrg, false]);
        }
        for (const csv of ['/ui/usage/top.csv', '/ui/usage/people.csv', '/ui/adoption/users.csv', '/ui/adoption/models.csv', '/ui/usage/models.csv']) {
          const text = (await who.get(`${csv}?${all()}`).expect(200)).text;
          expect([csv, other.test(text)]).toEqual([csv, false]);
        }
      }
      const [g] = await raw(`select count(*)::int as n ${FROM} where l.org_id = $1 and ${customBounds('UTC', wide.from, wide.to)}`, [s.org.globex]);
      expect(kpis((await gadmin.get(`/ui/usage?${all()}`).expect(200)).text).requests).toBe(g.n);
      const carolPage = await carol.get(`/ui/usage?${all()}`).expect(200);
      expect(carolPage.text).not.toMatch(/acme/i);
      // Global admins choose: all organizations or one.
      const one = await root.get(`/ui/usage?org=globex&${all()}`).expect(200);
      expect(kpis(one.text).requests).toBe(g.n);
    });
  });

  describe('live mode', () => {
    it('versions grow when usage is written for the organizations shown, from any process', async () => {
      const live = t.app.get(LiveUsageService);
      const v0 = (await admin.api('get', `/ui/live?org=${s.org.acme}`).expect(200)).body.v;
      const g0 = (await gadmin.api('get', `/ui/live?org=${s.org.globex}`).expect(200)).body.v;
      await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${s.token.alice.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fake/m2', messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.text());
      await t.app.get(UsageWriter).drain();
      const deadline = Date.now() + 5000;
      let v1 = v0;
      while (v1 <= v0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        v1 = (await admin.api('get', `/ui/live?org=${s.org.acme}`).expect(200)).body.v;
      }
      expect(v1).toBeGreaterThan(v0);
      expect((await gadmin.api('get', `/ui/live?org=${s.org.globex}`).expect(200)).body.v).toBe(g0);
      // An organization the viewer cannot see does not count.
      expect((await gadmin.api('get', `/ui/live?org=${s.org.acme}`).expect(200)).body.v).toBeLessThan(g0);
      expect((await gadmin.api('get', '/ui/live?org=all').expect(200)).body.v).toBe(g0);
      // Another Sluice process's writer announces on the same channel.
      await withDatabase(t.db.url, (c) => c.query(`select pg_notify('sluice_usage', $1)`, [`${s.org.globex}:${Date.now() + 60_000}`]));
      const d2 = Date.now() + 5000;
      let g1 = g0;
      while (g1 <= g0 && Date.now() < d2) {
        await new Promise((r) => setTimeout(r, 50));
        g1 = (await gadmin.api('get', `/ui/live?org=${s.org.globex}`).expect(200)).body.v;
      }
      expect(g1).toBeGreaterThan(g0);
      expect(live.version([s.org.globex])).toBe(g1);
      // Pages embed the version they were drawn at, so the first poll can tell.
      const page = await admin.get('/ui/usage').expect(200);
      expect(Number(/data-live-version="(\d+)"/.exec(page.text)![1])).toBeGreaterThanOrEqual(v1);
      expect(decode(page.text)).toContain(`data-live-src="/ui/live?org=${s.org.acme}"`);
      await request(t.url).get('/ui/live').expect(303);
    });
  });

  describe('rollups and inputs', () => {
    it('prepares each read once per connection, plans it for its values, and keeps paging and limits out of the text', async () => {
      const pool = t.app.get(AnalyticsPool);
      const [mode] = (await pool.query('show plan_cache_mode')).rows;
      expect(mode.plan_cache_mode).toBe('force_custom_plan');
      const base = `org=acme&range=custom&from=${wide.from}&to=${wide.to}`;
      const load = async (extra: string) => {
        await admin.htmx('get', `/ui/usage?${base}&sort=requests&dir=desc&${extra}`).set('HX-Target', 'div#usage-top').expect(200);
        await admin.htmx('get', `/ui/usage/people?${base}&sort=cost&dir=desc&${extra}`).set('HX-Target', 'div#people-table').expect(200);
      };
      await load('per=10&page=1');
      const named = pool.prepared;
      expect(named).toBeGreaterThan(0);
      await load('per=10&page=2');
      await load('per=25&page=1');
      expect(pool.prepared).toBe(named);
      // One statement for the same text, parsed once on each connection it ran on.
      const text = 'select count(*)::int as n from organization where slug = $1';
      for (let i = 0; i < 3; i++) await pool.query(text, ['acme']);
      const conn = await pool.connect();
      try {
        const r = await conn.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements where statement = $1', [text]);
        expect(r.rows[0].n).toBeLessThanOrEqual(1);
      } finally {
        conn.release();
      }
      expect(pool.prepared).toBe(named + 1);
    });

    it('the rebuild produces the same rollups (tag sets and narrow rollups included) as the writer', async () => {
      const tables = ROLLUP_TABLES.flatMap((tb) => tb.grains.map((g) => ({ name: `${tb.name}_${g}`, cols: ['bucket', ...tb.dims, ...measuresOf(tb, g)] })));
      expect(tables.map((x) => x.name)).toEqual(expect.arrayContaining(['usage_rollup_minute', 'usage_summary_day', 'usage_token_hour', 'usage_person_day']));
      const snap = async () => {
        const out: Record<string, unknown[]> = {};
        for (const tb of tables) out[tb.name] = await raw(`select ${tb.cols.map((c) => (c === 'tags' ? 'tags::text' : c.endsWith('_sum') ? `round(${c}::numeric, 6) as ${c}` : c)).join(', ')} from ${tb.name} order by ${tb.cols.map((_, i) => i + 1).join(', ')}`);
        out.usage_tag = await raw('select org_id, tag, last_day from usage_tag order by 1, 2');
        out.usage_active_day = await raw('select org_id, bucket, person, active_hours, active_quarters_am, active_quarters_pm from usage_active_day order by 1, 2, 3');
        for (const g of ['day', 'month']) out[`usage_people_${g}`] = await raw(`select * from usage_people_${g} order by 1, 2, 3, 4`);
        return out;
      };
      const before = await snap();
      expect((before.usage_rollup_day as { tags: string }[]).some((r) => r.tags === '{Zeta,alpha}')).toBe(true);
      expect((before.usage_rollup_day as { tags: string }[]).some((r) => r.tags === '{env:prod,proj:x}')).toBe(true);
      expect(before.usage_summary_day.length).toBeGreaterThan(5);
      expect((before.usage_person_day as { active_hours: number }[]).every((r) => r.active_hours > 0 && r.active_hours < 1 << 24)).toBe(true);
      expect((before.usage_tag as { tag: string }[]).map((x) => x.tag)).toEqual(expect.arrayContaining(['Zeta', 'alpha', 'env:prod', 'proj:x', 'app:webui', 'env:dev']));
      // Who was active per day: per organization, and every organization together, exactly as raw rows say.
      const active = await raw(`select org_id::text, extract(epoch from bucket)::bigint as d, count(*)::int as n from usage_active_day group by 1, 2 order by 1, 2`);
      const expActive = await raw(`select o::text as org_id, extract(epoch from date_trunc('day', l.created_at at time zone 'UTC') at time zone 'UTC')::bigint as d, count(distinct ${PERSON})::int as n
          ${FROM} cross join lateral (values (l.org_id), ('00000000-0000-0000-0000-000000000000'::uuid)) v(o) group by 1, 2 order by 1, 2`);
      expect(active).toEqual(expActive);
      expect(before.usage_people_month.length).toBeGreaterThan(3);
      await raw('delete from usage_person_day; delete from usage_summary_hour; update usage_token_day set requests = requests + 1; update usage_person_hour set requests = 0; delete from usage_active_day; delete from usage_people_day; update usage_people_month set requests = 0');
      await withDatabase(t.db.url, async (c) => {
        await rebuildRollups(c as never, s.month, new Date(Math.floor(Date.now() / DAY) * DAY + DAY));
      });
      expect(await snap()).toEqual(before);
    });

    it('validates time zones and dates', async () => {
      const bad = await root.get('/ui/usage?tz=Not/AZone').expect(200);
      expect(bad.text).toContain('times in UTC');
      const cookie = await request(t.url).get('/ui/usage').set('cookie', `${root.cookie}; sluice_tz=Asia%2FKolkata`).expect(200);
      expect(cookie.text).toContain('times in Asia/Kolkata');
      const url = await request(t.url).get('/ui/usage?tz=America%2FNew_York').set('cookie', `${root.cookie}; sluice_tz=Asia%2FKolkata`).expect(200);
      expect(url.text).toContain('times in America/New_York');
      await root.get('/ui/usage?range=custom&from=2026-13-01&to=2026-12-01').expect(400);
      await root.get('/ui/usage?range=custom&from=2026-12-05&to=2026-12-01').expect(400);
      await root.get('/ui/usage?range=custom&from=2020-01-01&to=2026-12-01').expect(400);
      const htmx = await root.htmx('get', '/ui/usage?range=custom&from=nope').expect(400);
      expect(htmx.text).toContain('from must be a date');
    });
  });
});
