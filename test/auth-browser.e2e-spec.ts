import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { launchBrowser } from './support/browser';
import { startOidcProvider, TestIdp } from './support/oidc';
import { registerSecret } from './support/pg';

/**
 * The administration pages in a real browser (Debian's Chromium through Playwright): sign in at
 * the identity provider, create an organization, add a member, issue a token, see its secret once,
 * revoke it, and watch the gateway refuse it.
 */
describe('administration in the browser', () => {
  let idp: TestIdp;
  let t: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    idp = await startOidcProvider();
    t = await startTestApp({ env: { ...idp.env, SLUICE_ADMINS: 'root@example.test', LOGIN_RATE_LIMIT: '1000' } });
    idp.setRedirectUris([`${t.url}/auth/callback`]);
    idp.setAccount('root', { email: 'root@example.test', name: 'Root Admin' });
    browser = await launchBrowser();
    context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => void d.accept());
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.close();
  });

  it('signs in, creates an org, adds a member, issues a token once and revokes it', async () => {
    await page.goto(`${t.url}/ui/orgs`);
    expect(new URL(page.url()).pathname).toBe('/auth/signin');
    await page.click('[data-testid=sso]');
    // The provider's own login form.
    await page.waitForURL((u) => u.origin === idp.issuer);
    await page.fill('input[name=login]', 'root');
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    await page.waitForURL(`${t.url}/ui/orgs`);
    expect(await page.textContent('.who')).toContain('Root Admin');
    expect(await page.textContent('.session')).toContain('global admin');

    await page.fill('#org-slug', 'acme');
    await page.fill('#org-name', 'Acme Corp');
    await page.click('form[action="/ui/orgs"] button[type=submit]');
    await page.waitForURL(`${t.url}/ui/orgs/acme`);
    expect(await page.textContent('h1')).toBe('Acme Corp');

    await page.click('nav.tabs a:has-text("Members")');
    await page.waitForURL(`${t.url}/ui/orgs/acme/members`);
    await page.fill('#member-email', 'dev@acme.test');
    await page.selectOption('#member-role', 'member');
    await page.click('form[hx-post="/ui/orgs/acme/members"] button[type=submit]');
    await page.waitForSelector('tr[data-member="dev@acme.test"]');
    // An error from an inline action lands in the flash area, not over the table.
    await page.fill('#member-email', 'dev@acme.test');
    await page.click('form[hx-post="/ui/orgs/acme/members"] button[type=submit]');
    await page.waitForSelector('#flash .alert-error');
    expect(await page.textContent('#flash')).toContain('already a member');
    expect(await page.isVisible('tr[data-member="dev@acme.test"]')).toBe(true);

    await page.click('nav.tabs a:has-text("Tokens")');
    await page.click('[data-testid=new-org-token]');
    await page.fill('#tok-name', 'laptop');
    await page.selectOption('#tok-owner-sel', { label: 'dev@acme.test' });
    await page.click('[data-testid=create-token]');
    const secret = (await page.textContent('[data-testid=token-secret]'))!.trim();
    registerSecret(secret);
    expect(secret).toMatch(/^sk-sluice-[0-9A-Za-z]{38}$/);
    expect(await page.textContent('body')).toContain('ANTHROPIC_AUTH_TOKEN');
    await page.click('button[data-copy="#token-secret"]');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);

    await request(t.url).get('/v1/models').set('authorization', `Bearer ${secret}`).expect(200);

    // Shown once: the list (and any other page) has only the prefix.
    await page.click('a:has-text("Done")');
    await page.waitForURL(`${t.url}/ui/orgs/acme/tokens`);
    const row = page.locator('tr[data-token]');
    expect(await row.count()).toBe(1);
    expect(await page.content()).not.toContain(secret);
    expect(await row.textContent()).toContain(secret.slice(0, 16));
    await page.goBack();
    expect(await page.content()).not.toContain(secret);
    await page.goto(`${t.url}/ui/orgs/acme/tokens`);

    await page.click('tr[data-token] [data-testid=revoke]');
    await page.waitForSelector('tr[data-token]', { state: 'detached' });
    await request(t.url).get('/v1/models').set('authorization', `Bearer ${secret}`).expect(401);
    await page.selectOption('#tok-status', 'revoked');
    await page.waitForSelector('tr[data-token] .badge-danger');

    // Sign out ends the session.
    await page.click('[data-testid=sign-out]');
    await page.waitForURL(`${t.url}/auth/signin?signed_out=1`);
    await page.goto(`${t.url}/ui/orgs`);
    expect(new URL(page.url()).pathname).toBe('/auth/signin');
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
