import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestApp, TestApp } from './support/app';
import { gatewayConfig, q as rawQuery, seedAnalytics, Seeded } from './support/analytics-seed';
import { launchBrowser, signInBrowser } from './support/browser';
import { createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { uuidv7 } from '../src/common/uuid';
import { UsageWriter } from '../src/usage/usage-writer.service';

/**
 * The analytics pages in Chromium, as an org admin in Kolkata: the time zone cookie, filters,
 * the view toggle, server-side sort, search and paging, charts drawn by uPlot (light and dark),
 * and live mode picking up a new proxied request without a reload.
 */
describe('usage analytics in the browser', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let s: Seeded;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const raw = <T = any>(sql: string, params: unknown[] = []) => rawQuery<T>(t, sql, params);
  const doc = () => (globalThis as any).document;
  const kpi = (key: string) => page.getAttribute(`[data-kpi="${key}"]`, 'data-value').then(Number);
  const proxy = (secret: string, model = 'fake/m2') =>
    fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }] }) }).then((r) => r.text());

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({ gatewayConfig: gatewayConfig(fake.url), env: { LOGIN_RATE_LIMIT: '1000' } });
    s = await seedAnalytics(t, fake);
    // Thirty more people through the service token, so the breakdown has pages to turn.
    const writer = t.app.get(UsageWriter);
    for (let i = 1; i <= 30; i++) {
      writer.admit();
      writer.record({
        id: uuidv7(), createdAt: new Date(Date.now() - i * 3_600_000), requestId: `extra-${i}`, orgId: s.org.acme, teamId: s.team.web, tokenId: s.token.bot.id,
        ownerUserId: null, serviceAccountId: s.sa, endUser: `reader-${String(i).padStart(2, '0')}@example.test`, sessionId: null, client: null, clientDevice: null,
        tags: i % 2 ? ['env:prod'] : null, provider: 'fake', model: i % 3 ? 'm2' : 'm1', endpoint: 'chat', stream: false, status: 200, errorType: null, cancelled: false,
        latencyMs: 100 + i, ttftMs: null, inputTokens: 100 * i, outputTokens: 10 * i, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costMicros: 1000 * i,
        usageEstimated: false, toolsOffered: null, toolEvents: [],
      });
    }
    await writer.drain();
    browser = await launchBrowser();
    context = await browser.newContext({ timezoneId: 'Asia/Kolkata', viewport: { width: 1300, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await signInBrowser(context, t, 'admin@acme.test');
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await fake?.close();
  });

  it('takes the time zone from the browser, filters the usage page and draws its charts', async () => {
    await page.goto(`${t.url}/ui/usage`);
    // First visit: drawn in UTC, then once more in the browser's zone (the cookie is set).
    // Chromium names Kolkata by its older IANA link, Asia/Calcutta; both are the same zone.
    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(['Asia/Kolkata', 'Asia/Calcutta']).toContain(zone);
    await page.waitForSelector(`.range-note:has-text("${zone}")`);
    expect((await context.cookies(t.url)).find((c) => c.name === 'sluice_tz')?.value).toBe(encodeURIComponent(zone));
    await page.waitForSelector('[data-testid=requests-chart] .uplot canvas');
    await page.waitForSelector('[data-testid=models-chart] .uplot canvas');
    // The model chart has every configured model on its axis, the unused one too.
    expect(await page.evaluate(() => (globalThis as any).document.querySelector('[data-testid=models-chart]')._chartSpec.categories)).toContain('spare/s1');

    // Time frame: 1w; the URL carries it and the numbers follow.
    const [week] = await raw(`select count(*)::int as n from request_log where org_id = $1 and created_at >= (date_trunc('day', now() at time zone 'Asia/Kolkata') - interval '6 days') at time zone 'Asia/Kolkata'`, [s.org.acme]);
    await page.click('label:has([data-testid=range-1w])');
    await page.waitForURL((u) => u.searchParams.get('range') === '1w');
    await page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n), week.n);
    expect(new URL(page.url()).searchParams.get('tz')).toBe(zone);
    await page.waitForSelector('[data-testid=requests-chart] .uplot canvas');

    // Custom range: typing a date switches the frame to custom.
    const from = new Date(s.day.getTime() - 86_400_000).toISOString().slice(0, 10);
    const to = new Date(s.day.getTime() + 86_400_000).toISOString().slice(0, 10);
    await page.fill('#u-from', from);
    await page.fill('#u-to', to);
    await page.dispatchEvent('#u-to', 'change');
    await page.waitForURL((u) => u.searchParams.get('range') === 'custom' && u.searchParams.get('to') === to);
    const [custom] = await raw(`select count(*)::int as n from request_log where org_id = $1 and created_at >= ($2::date)::timestamp at time zone 'Asia/Kolkata' and created_at < ($3::date + 1)::timestamp at time zone 'Asia/Kolkata'`, [s.org.acme, from, to]);
    await page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n), custom.n);

    // Sort the top table by name on the server, then search it.
    await page.click('[data-testid=top-table] th a:has-text("Token")');
    await page.waitForURL((u) => u.searchParams.get('sort') === 'name');
    const names = await page.$$eval('[data-testid=top-table] tbody tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent!.trim()));
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(await page.inputValue('[data-sync-param=sort]')).toBe('name');
    await page.fill('[data-testid=usage-search]', 'webui');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=top-table] tbody tr').length === 1);
    expect(new URL(page.url()).searchParams.get('q')).toBe('webui');
    expect(new URL(page.url()).searchParams.get('sort')).toBe('name');

    // Drill into the service token: its user_ids.
    await page.click('[data-testid=drill]');
    await page.waitForSelector('[data-testid=token-name]:has-text("webui-prod")');
    expect(await page.textContent('[data-testid=top-table] thead')).toContain('User ID');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('toggles the people view, filters, searches, sorts and pages on the server', async () => {
    await page.goto(`${t.url}/ui/usage/people?range=30d`);
    await page.waitForSelector('[data-testid=activity-chart] .uplot canvas');
    const rows = page.locator('[data-testid=people-table] tbody tr[data-row]');
    expect(await rows.count()).toBe(25);
    expect(await page.textContent('#people-table .table-foot')).toMatch(/1–25 of \d+/);

    // Page 2, then back to page 1 by sorting.
    await page.click('#people-table a[rel=next]');
    await page.waitForURL((u) => u.searchParams.get('page') === '2');
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#people-table .table-foot')?.textContent?.includes('26–'));
    await page.click('[data-testid=people-table] th a:has-text("Cost")');
    await page.waitForURL((u) => u.searchParams.get('sort') === 'cost' && !u.searchParams.has('page'));
    const costs = await page.$$eval('[data-testid=people-table] td[data-col=cost]', (tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
    expect(costs).toEqual([...costs].sort((a, b) => b - a));
    await page.click('[data-testid=people-table] th a:has-text("Cost")');
    await page.waitForURL((u) => u.searchParams.get('dir') === 'asc');

    // Search by name, email or team.
    await page.fill('[data-testid=people-search]', 'reader-1');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=people-table] tbody tr[data-row]').length === 10);
    await page.fill('[data-testid=people-search]', '');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=people-table] tbody tr[data-row]').length === 25);

    // Filters: a team, then a tag.
    await page.selectOption('[data-testid=filter-teams]', [s.team.core]);
    await page.waitForURL((u) => u.searchParams.getAll('teams').includes(s.team.core));
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=people-table] tbody tr[data-row]').length === 1);
    expect(await page.textContent('[data-testid=people-table] tbody')).toContain('alice@acme.test');
    await page.selectOption('[data-testid=filter-teams]', []);
    await page.selectOption('[data-testid=filter-tags]', ['proj:x']);
    const [tagged] = await raw(`select count(*)::int as n from request_log where org_id = $1 and tags && array['proj:x'] and created_at >= (date_trunc('day', now() at time zone 'Asia/Kolkata') - interval '29 days') at time zone 'Asia/Kolkata'`, [s.org.acme]);
    await page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n), tagged.n);
    await page.selectOption('[data-testid=filter-tags]', []);

    // The view toggle: by team, with stacked bars per team.
    await page.click('label:has([data-testid=view-team])');
    await page.waitForURL((u) => u.searchParams.get('view') === 'team');
    await page.waitForSelector('[data-testid=people-table][data-view=team]');
    await page.waitForSelector('[data-testid=activity-chart] .uplot canvas');
    const spec = await page.evaluate(() => (globalThis as any).document.querySelector('[data-testid=activity-chart]')._chartSpec);
    expect(spec.stacked).toBe(true);
    expect(spec.options.series.map((x: { label: string }) => x.label)).toEqual(expect.arrayContaining(['core', 'web']));
    expect(await page.textContent('[data-testid=people-table] thead')).toContain('Team');

    // Back to the user view through the browser's history.
    await page.goBack();
    await page.waitForSelector('[data-testid=people-table][data-view=user]');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('narrows a long list of API keys with its find box, without changing the filters', async () => {
    const extra: string[] = [];
    for (let i = 1; i <= 6; i++) extra.push((await createToken(t.app, { orgSlug: 'acme', userEmail: 'bob@acme.test', name: `ci-runner-${i}` })).id);
    await page.goto(`${t.url}/ui/usage/people?range=30d`);
    const url = page.url();
    const box = page.locator('[data-testid=filter-tokens-find]');
    await box.fill('runner 4');
    const visible = () => page.evaluate(() => [...(globalThis as any).document.querySelectorAll('#p-tokens option')].filter((o: any) => !o.hidden).map((o: any) => o.value));
    expect(await visible()).toEqual([extra[3]]);
    await box.press('Enter');
    // Typing in it is not a filter change: no request, the URL stays.
    await page.waitForTimeout(600);
    expect(page.url()).toBe(url);
    await page.selectOption('[data-testid=filter-tokens]', [extra[3]]);
    await page.waitForURL((u) => u.searchParams.getAll('tokens').includes(extra[3]));
    // A new key has no usage yet: the page says so.
    await page.waitForSelector('[data-testid=people-empty]');
    await box.fill('');
    expect((await visible()).length).toBeGreaterThan(6);
    await page.selectOption('[data-testid=filter-tokens]', []);
    await page.waitForURL((u) => !u.searchParams.has('tokens'));
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('typing on while the server is slow shows the results for the last text typed', async () => {
    await page.goto(`${t.url}/ui/usage/people?range=30d`);
    await page.waitForSelector('[data-testid=people-table] tbody tr[data-row]');
    // Every filter request takes 1.5 s: each new text arrives while the one before is in flight.
    const slow = async (route: import('playwright-core').Route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue().catch(() => undefined); // replaced requests were aborted by the page
    };
    await page.route((u) => u.pathname === '/ui/usage/people' && u.searchParams.has('q'), slow);
    try {
      for (const text of ['reader', 'reader-', 'reader-1']) {
        await page.fill('[data-testid=people-search]', text);
        await page.waitForTimeout(550); // past the 400 ms input delay: a request per text
      }
      await page.waitForURL((u) => u.searchParams.get('q') === 'reader-1', { timeout: 15_000 });
      await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=people-table] tbody tr[data-row]').length === 10, undefined, { timeout: 15_000 });
      // Nothing older lands afterwards.
      await page.waitForTimeout(1700);
      expect(new URL(page.url()).searchParams.get('q')).toBe('reader-1');
      expect(await page.locator('[data-testid=people-table] tbody tr[data-row]').count()).toBe(10);
    } finally {
      await page.unroute((u) => u.pathname === '/ui/usage/people' && u.searchParams.has('q'), slow);
    }
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('a slow sort does not land over the sort clicked after it', async () => {
    await page.goto(`${t.url}/ui/usage/people?range=30d`);
    await page.waitForSelector('[data-testid=people-table] tbody tr[data-row]');
    const isCost = (u: URL) => u.pathname === '/ui/usage/people' && u.searchParams.get('sort') === 'cost';
    const slow = async (route: import('playwright-core').Route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue().catch(() => undefined); // the page aborted it for the later click
    };
    await page.route(isCost, slow);
    try {
      await page.click('[data-testid=people-table] th a:has-text("Cost")');
      await page.waitForTimeout(200); // the cost request is in flight
      await page.click('[data-testid=people-table] th a:has-text("User")');
      await page.waitForURL((u) => u.searchParams.get('sort') === 'name');
      await page.waitForSelector('[data-testid=people-table] th a.active:has-text("User")');
      await page.waitForTimeout(1700); // past the slow answer
      expect(new URL(page.url()).searchParams.get('sort')).toBe('name');
      expect(await page.textContent('[data-testid=people-table] th a.active')).toContain('User');
    } finally {
      await page.unroute(isCost, slow);
    }
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('live mode shows a new proxied request without a reload, and can be turned off', async () => {
    await page.goto(`${t.url}/ui/usage?range=1h`);
    await page.waitForSelector('[data-testid=requests-chart] .uplot canvas');
    await page.evaluate(() => { (globalThis as any).window.__sameDocument = true; });
    expect(await page.isChecked('[data-testid=live-toggle]')).toBe(true);
    const before = await kpi('requests');
    await proxy(s.token.alice.secret);
    await page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n), before + 1, { timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as any).window.__sameDocument)).toBe(true);
    await page.waitForSelector('[data-testid=requests-chart] .uplot canvas');
    expect(await page.textContent('[data-live-status]')).toContain('updated');

    // Off: nothing moves; back on: it catches up.
    await page.click('[data-testid=live-toggle]');
    expect(await page.evaluate(() => (globalThis as any).window.localStorage.getItem('sluice.live'))).toBe('0');
    await proxy(s.token.bob.secret);
    await t.app.get(UsageWriter).drain();
    await page.waitForTimeout(7_000);
    expect(await kpi('requests')).toBe(before + 1);
    await page.click('[data-testid=live-toggle]');
    await page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-kpi="requests"]')?.getAttribute('data-value') === String(n), before + 2, { timeout: 20_000 });
    // Requests of another organization do not refresh this page (its version does not move).
    const v = await page.evaluate(() => Number((globalThis as any).document.querySelector('[data-live-version]').getAttribute('data-live-version')));
    await proxy(s.token.carol.secret);
    await t.app.get(UsageWriter).drain();
    await page.waitForTimeout(6_000);
    expect(await page.evaluate(() => Number((globalThis as any).document.querySelector('[data-live-version]').getAttribute('data-live-version')))).toBe(v);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('draws every page\'s charts in light and dark themes, with tooltips', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [path, charts] of [
        ['/ui/usage/people?range=30d', ['activity-chart']],
        ['/ui/adoption', ['active-chart', 'distribution-chart', 'popularity-chart']],
        ['/ui/dashboard/alice@acme.test?range=30d', ['tokens-by-model-chart', 'activity-chart']],
      ] as const) {
        await page.goto(`${t.url}${path}`);
        for (const c of charts) await page.waitForSelector(`[data-testid=${c}] .uplot canvas`);
      }
      const axis = await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.documentElement).getPropertyValue('--muted').trim());
      expect(axis).toBe(scheme === 'dark' ? '#98a2b3' : '#667085');
    }
    // Hovering a bar shows the tooltip with the series' value.
    const box = (await page.locator('[data-testid=activity-chart] .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width - 5, box.y + box.height / 2);
    await page.waitForSelector('[data-testid=activity-chart] .chart-tip:not([hidden])');
    expect(await page.textContent('[data-testid=activity-chart] .chart-tip')).toMatch(/:/);
    // The admin made no request: their own dashboard says what to do instead of drawing empty charts.
    await page.goto(`${t.url}/ui`);
    await page.waitForSelector('[data-testid=tokens-by-model-chart] .chart-empty');
    expect(await page.textContent('[data-testid=no-usage]')).toContain('My tokens');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${t.url}/ui/models`);
    expect(await page.locator('[data-testid=models-table] tbody tr').count()).toBe(4);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
