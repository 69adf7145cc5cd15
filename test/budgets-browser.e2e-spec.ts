import type { Browser, Page } from 'playwright-core';
import { startTestApp, TestApp } from './support/app';
import { launchBrowser, signInBrowser } from './support/browser';
import { createOrg, createTeam, createUser } from './support/factories';
import { registerSecret, withDatabase } from './support/pg';
import { uuidv7 } from '../src/common/uuid';

/**
 * The budget pages in a real browser: an org admin creates a budget with a webhook (secret shown
 * once), refills and pauses it, then filters and pages the consumption events on the dashboard.
 */
describe('budgets in the browser', () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    await createOrg(t.app, 'acme', 'Acme Corp');
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    await createUser(t.app, { email: 'dev@acme.test', org: 'acme', role: 'member' });
    await createUser(t.app, { email: 'ops@acme.test', org: 'acme', role: 'member' });
    await createTeam(t.app, 'acme', 'core');
    browser = await launchBrowser();
    const context = await browser.newContext();
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    // Signed in through a one-time link by the session helper, then the cookie is handed to the
    // browser (the sign-in pages themselves are covered by auth-browser).
    await signInBrowser(context, t, 'admin@acme.test');
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('creates a budget, shows its webhook secret once, refills and pauses it', async () => {
    await page.goto(`${t.url}/ui/budgets`);
    expect(await page.textContent('.empty')).toContain('No budgets yet');
    await page.click('[data-testid=new-budget]');
    await page.waitForURL(`${t.url}/ui/orgs/acme/budgets/new`);

    // A mistake lands in the flash area and keeps what was typed.
    await page.fill('#b-name', 'Core monthly');
    await page.selectOption('#b-scope', 'team:core');
    await page.selectOption('#b-metric', 'cost');
    await page.fill('#b-limit', 'lots');
    await page.click('[data-testid=create-budget]');
    await page.waitForSelector('#flash .alert-error');
    expect(await page.textContent('#flash')).toContain('limit');
    expect(await page.inputValue('#b-name')).toBe('Core monthly');

    await page.fill('#b-limit', '25.50');
    await page.fill('#b-tz', 'America/New_York');
    await page.fill('#b-webhook', 'https://hooks.example.test/budget');
    await page.click('[data-testid=create-budget]');
    await page.waitForSelector('[data-testid=webhook-secret]');
    const secret = (await page.textContent('[data-testid=webhook-secret]'))!.trim();
    registerSecret(secret);
    expect(secret).toMatch(/^whsec_/);
    expect(await page.textContent('[data-testid=budget-remaining]')).toBe('$25.50');
    const row = (await q("select id, limit_amount, time_zone, scope_type from budget where name = 'Core monthly'"))[0];
    expect(row).toMatchObject({ limit_amount: '25500000', time_zone: 'America/New_York', scope_type: 'team' });

    // Shown once: the detail page opened again does not have it.
    await page.goto(`${t.url}/ui/orgs/acme/budgets/${row.id}`);
    expect(await page.content()).not.toContain(secret);

    // Spend some, then refill part of it.
    await q('update budget set spent = 10000000, window_start = now() where id = $1', [row.id]);
    await page.reload();
    expect(await page.textContent('[data-testid=budget-remaining]')).toBe('$15.50');
    await page.fill('#refill-amount', '4');
    await page.click('[data-testid=refill]');
    await page.waitForSelector('[data-testid=budget-saved]');
    expect(await page.textContent('[data-testid=budget-remaining]')).toBe('$19.50');

    await page.click('[data-testid=pause]');
    await page.waitForSelector('[data-testid=resume]');
    expect(await page.textContent('[data-testid=budget-status]')).toBe('paused');
    expect((await q('select paused from budget where id = $1', [row.id]))[0].paused).toBe(true);

    await page.fill('#e-limit', '30');
    await page.click('[data-testid=save-budget]');
    await page.waitForSelector('[data-testid=budget-saved]:text-is("Saved.")');
    expect(await page.textContent('[data-testid=budget-remaining]')).toBe('$24.00');

    await page.goto(`${t.url}/ui/budgets`);
    expect(await page.textContent('tr[data-budget="Core monthly"]')).toContain('paused');
    const actions = (await q<{ action: string }>('select action from audit_event where target_id = $1 order by created_at, id', [row.id])).map((r) => r.action);
    expect(actions).toEqual(['budget.create', 'budget.refill', 'budget.pause', 'budget.update']);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('filters and pages the consumption events and draws the charts', async () => {
    const [org] = await q("select id from organization where slug = 'acme'");
    const [dev] = await q("select id from app_user where email = 'dev@acme.test'");
    const [ops] = await q("select id from app_user where email = 'ops@acme.test'");
    const [budget] = await q("select id from budget where name = 'Core monthly'");
    const now = Date.now();
    for (let i = 0; i < 40; i++) {
      await q(
        `insert into consumption_event (id, created_at, org_id, budget_id, user_id, amount, resource_type, pool_category, io_type, request_id, endpoint)
         values ($1, $2, $3, $4, $5, $6, 'tokens', $7, $8, $9, '/v1/chat/completions')`,
        [uuidv7(), new Date(now - i * 600_000), org.id, budget.id, i % 4 === 0 ? ops.id : dev.id, 100 + i, i % 5 === 0 ? 'surplus' : 'allocated', i % 2 ? 'output' : 'input', `req-${i}`],
      );
    }
    await page.goto(`${t.url}/ui/budgets`);
    await page.click('[data-testid=open-dashboard]');
    await page.waitForURL((u) => u.pathname === '/ui/budgets/dashboard');
    const rows = page.locator('tr[data-event]');
    expect(await rows.count()).toBe(25);
    expect(await page.textContent('.table-foot')).toContain('1–25 of 40');
    // Newest first.
    expect(await rows.first().textContent()).toContain('req-0');
    await page.waitForSelector('[data-testid=consumption-chart] .uplot');
    await page.waitForSelector('[data-testid=surplus-chart] .uplot');

    // Page 2 replaces only the table and keeps the URL shareable.
    await page.click('#events a[rel=next]');
    await page.waitForFunction(() => (globalThis as any).document.querySelector('.table-foot')?.textContent?.includes('26–40 of 40'));
    expect(await rows.count()).toBe(15);
    expect(new URL(page.url()).searchParams.get('page')).toBe('2');

    // Filters: one user, one pool category; the count follows and page resets to 1.
    await page.selectOption('#f-users', [ops.id]);
    await page.waitForFunction(() => (globalThis as any).document.querySelector('.table-foot')?.textContent?.includes('of 10'));
    await page.selectOption('#f-pool', 'surplus');
    // ops has i % 4 == 0; surplus is i % 5 == 0: i in {0, 20}.
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tr[data-event]').length === 2);
    expect(new URL(page.url()).searchParams.get('pool')).toBe('surplus');
    expect(new URL(page.url()).searchParams.get('page')).toBeNull();
    await page.selectOption('#f-pool', '');
    await page.selectOption('#f-io', 'output');
    await page.waitForFunction(() => (globalThis as any).document.querySelector('.table-foot')?.textContent?.includes('Nothing matches'));
    await page.selectOption('#f-io', '');
    await page.fill('#f-min', '110');
    await page.fill('#f-max', '130');
    await page.click('[data-testid=apply-filters]');
    // ops, amount 100+i in [110, 130]: i in {12, 16, 20, 24, 28}.
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tr[data-event]').length === 5 && (globalThis as any).document.querySelector('.table-foot')?.textContent?.includes('of 5'));

    // Sorting by amount on the server, once the filter requests above have all come back (on a busy
    // machine a late filter response would otherwise land after the sort's).
    await page.waitForFunction(() => !(globalThis as any).document.querySelector('.htmx-request'));
    await page.click('th a:has-text("Amount")');
    await page.waitForFunction(() => (globalThis as any).document.querySelector('tr[data-event] td.num')?.getAttribute('data-amount') === '112');
    await page.waitForFunction(() => !(globalThis as any).document.querySelector('.htmx-request'));
    await page.click('th a:has-text("Amount")');
    await page.waitForFunction(() => (globalThis as any).document.querySelector('tr[data-event] td.num')?.getAttribute('data-amount') === '128');

    // The URL carries the filters: reloading shows the same view.
    await page.reload();
    expect(await rows.count()).toBe(5);
    expect(await page.inputValue('#f-min')).toBe('110');
    const csv = await page.getAttribute('[data-testid=export-csv]', 'href');
    expect(csv).toContain('min=110');
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
