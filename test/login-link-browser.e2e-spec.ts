import type { Browser } from 'playwright-core';
import { startTestApp, TestApp } from './support/app';
import { launchBrowser } from './support/browser';
import { registerSecret } from './support/pg';
import { LoginLinkService } from '../src/auth/login-link.service';

/** The first-run path: a person opens a one-time link in a real browser and signs in with it. */
describe('one-time sign-in link in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestApp();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('opens the link, signs in once, and the link is then spent', async () => {
    const link = await t.app.get(LoginLinkService).issue('test', 'first@admin.test', { globalAdmin: true, baseUrl: t.url });
    registerSecret(new URL(link.url).searchParams.get('token')!);
    const page = await (await browser.newContext()).newPage();
    await page.goto(link.url);
    await page.getByRole('button', { name: /sign in/i }).click();
    await page.waitForURL(/\/ui/);
    expect(await page.content()).toContain('first@admin.test');
    const again = await (await browser.newContext()).newPage();
    await again.goto(link.url);
    expect(await again.content()).toContain('invalid, already used or expired');
  });
});
