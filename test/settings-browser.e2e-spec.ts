import type { Browser, Page } from 'playwright-core';
import { startTestApp, TestApp } from './support/app';
import { launchBrowser, signInBrowser } from './support/browser';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { registerSecret, withDatabase } from './support/pg';
import { OrgsService } from '../src/orgs/orgs.service';
import { UsageWriter } from '../src/usage/usage-writer.service';

const KEY = 'sk-browser-settings-provider-key-0123456789-KQXZ';

/**
 * The settings page in Chromium: a global admin adds a provider and a priced model in the visual
 * editor, tests the connection, grants a team, previews the grant and saves; a member of that team
 * then calls the new model through /v1. The JSON editor shows schema problems by line.
 */
describe('settings in the browser', () => {
  let t: TestApp;
  let fake: FakeUpstream;
  let browser: Browser;
  let page: Page;
  let devToken: string;
  const problems: string[] = [];
  const q = <T = any>(sql: string, params: unknown[] = []) => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);

  beforeAll(async () => {
    registerSecret(KEY);
    fake = await startFakeUpstream();
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    await createOrg(t.app, 'acme', 'Acme Corp');
    await createTeam(t.app, 'acme', 'core');
    await createTeam(t.app, 'acme', 'sales');
    await createUser(t.app, { email: 'dev@acme.test', org: 'acme' });
    await createUser(t.app, { email: 'seller@acme.test', org: 'acme' });
    await t.app.get(OrgsService).addTeamMember('test', 'acme', 'core', 'dev@acme.test');
    await t.app.get(OrgsService).addTeamMember('test', 'acme', 'sales', 'seller@acme.test');
    await createUser(t.app, { email: 'root@example.test', globalAdmin: true });
    devToken = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'dev@acme.test', name: 'dev-laptop' })).secret;
    browser = await launchBrowser();
    const context = await browser.newContext();
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // Refused saves answer 400 on purpose, and the browser asks for a favicon; anything else
      // (a CSP violation, a script error) is a problem.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 500 || (r.status() === 404 && !r.url().endsWith('/favicon.ico'))) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('dialog', (d) => void d.accept());
    await signInBrowser(context, t, 'root@example.test');
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await fake?.close();
  });

  it('adds a provider and a priced model, grants a team, previews, saves, and the team calls the model', async () => {
    await page.goto(`${t.url}/ui/settings`);
    expect(await page.locator('[data-testid=provider]').count()).toBe(0);

    await page.click('[data-testid=add-provider]');
    const card = page.locator('[data-testid=provider]').last();
    await card.locator('[data-testid=provider-name]').fill('newprov');
    expect(await card.locator('.provider-title').textContent()).toBe('newprov');
    await card.locator('[data-testid=provider-baseurl]').fill(fake.url);
    await card.locator('[data-testid=provider-key]').fill(KEY);
    await card.locator('[data-testid=add-model]').click();
    const model = card.locator('[data-testid=model-row]').last();
    await model.locator('[data-testid=model-name]').fill('newmodel');
    await model.locator('[data-testid=price-input]').fill('3');
    await model.locator('[data-testid=price-output]').fill('15');

    // Test connection before saving: the typed key, through an upstream pool, to the model list.
    fake.reset();
    await card.locator('[data-testid=test-connection]').click();
    await card.locator('[data-testid=probe-result]').waitFor();
    expect(await card.locator('[data-testid=probe-result]').textContent()).toMatch(/newprov\s+answered HTTP 200 with 7 models/);
    expect(fake.requests.map((r) => `${r.method} ${r.path} ${r.headers.authorization}`)).toEqual([`GET /v1/models Bearer ${KEY}`]);

    // A grant for the team core, picked from the existing teams, on a pattern.
    await page.click('[data-testid=add-grant]');
    const grant = page.locator('[data-testid=grant]').last();
    await grant.locator('[data-testid=subject-kind]').selectOption('team');
    expect(await grant.locator('[data-testid=subject-value] option').allTextContents()).toEqual(['acme / core', 'acme / sales']);
    await grant.locator('[data-testid=subject-value]').selectOption('team:acme/core');
    await grant.locator('[data-testid=add-subject]').click();
    await grant.locator('[data-testid=pattern-input]').fill('newprov/*');
    await grant.locator('[data-testid=pattern-input]').press('Enter');
    expect(await grant.locator('[data-testid=grant-subjects] [data-testid=chip]').allTextContents()).toEqual(['team:acme/core×']);
    expect(await grant.locator('[data-testid=grant-patterns] [data-testid=chip]').allTextContents()).toEqual(['newprov/*×']);

    // Who can use what: the team gets the model, the other team nothing.
    await page.selectOption('[data-testid=preview-subject]', 'team:acme/core');
    await page.click('[data-testid=preview]');
    await page.locator('[data-testid=granted-model]').first().waitFor();
    expect(await page.locator('[data-testid=granted-model]').allTextContents()).toEqual(['newprov/newmodel']);
    await page.selectOption('[data-testid=preview-subject]', '');
    await page.click('[data-testid=preview]');
    await page.locator('tr[data-subject="team:acme/sales"]').waitFor();
    expect(await page.textContent('tr[data-subject="team:acme/core"]')).toContain('newprov/newmodel');
    expect(await page.textContent('tr[data-subject="team:acme/sales"]')).toContain('nothing');
    expect(await page.textContent('tr[data-subject="user:dev@acme.test"]')).toContain('newprov/newmodel');

    await page.fill('[data-testid=save-reason]', 'newprov for the core team');
    await page.click('[data-testid=save-config]');
    await page.locator('[data-testid=config-saved]').waitFor();
    expect(await page.textContent('[data-testid=key-hint]')).toBe('••••KQXZ');
    expect(await page.content()).not.toContain(KEY);
    const [v] = await q('select created_by, comment, document from config_version where active');
    expect(v).toMatchObject({ created_by: 'user:root@example.test', comment: 'newprov for the core team' });
    expect(v.document.pricing).toEqual({ 'newprov/newmodel': { input: 3, output: 15 } });
    expect(v.document.grants).toEqual([{ src: ['team:acme/core'], models: ['newprov/*'] }]);

    // A member of the team calls the new model through /v1; the cost uses the new prices.
    fake.reset();
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${devToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'newprov/newmodel', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: unknown[] }).choices.length).toBe(1);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);
    await t.app.get(UsageWriter).drain();
    const [row] = await q("select input_tokens, output_tokens, cost_micros from request_log where model = 'newmodel'");
    expect(Number(row.cost_micros)).toBe(row.input_tokens * 3 + row.output_tokens * 15);
    expect(problems).toEqual([]);
  }, 90_000);

  it('changes a price, compares the two versions in the history and restores the first', async () => {
    await page.goto(`${t.url}/ui/settings`);
    const card = page.locator('[data-testid=provider]').first();
    await card.locator('[data-testid=price-output]').fill('20');
    await page.fill('[data-testid=save-reason]', 'output got dearer');
    await page.click('[data-testid=save-config]');
    await page.locator('[data-testid=config-saved]').waitFor();
    const [first, second] = (await q<{ id: string }>('select id from config_version order by id')).map((r) => r.id);

    await page.click('[data-testid=tab-history]');
    await page.waitForURL(`${t.url}/ui/settings/history`);
    expect(await page.textContent(`tr[data-version="${second}"]`)).toContain('output got dearer');
    await page.click('[data-testid=compare]');
    await page.waitForURL((u) => u.pathname === '/ui/settings/diff');
    expect(await page.locator('[data-testid=diff] tbody tr').count()).toBe(1);
    expect(await page.textContent('tr[data-path="pricing.newprov/newmodel.output"]')).toMatch(/15\s*20/);

    await page.goto(`${t.url}/ui/settings/versions/${first}`);
    await page.fill('[data-testid=restore-reason]', 'too expensive');
    await page.click('[data-testid=restore]');
    await page.locator('[data-testid=restored]').waitFor();
    expect(new URL(page.url()).pathname).toBe(`/ui/settings/versions/${Number(second) + 1}`);
    const [a, b] = await q('select document from config_version where id = any($1::bigint[]) order by id', [[first, Number(second) + 1]]);
    expect(b.document).toEqual(a.document);
    expect(problems).toEqual([]);
  }, 60_000);

  it('shows JSON schema problems by line, jumps to them, and refuses to save', async () => {
    const before = (await q('select count(*)::int as n from config_version'))[0].n;
    await page.goto(`${t.url}/ui/settings`);
    // An unsaved change in the visual editor carried over to the JSON editor.
    await page.locator('[data-testid=provider]').first().locator('[data-testid=price-input]').fill('4');
    await page.click('[data-testid=to-json]');
    await page.locator('[data-testid=json-text]').waitFor();
    const text = await page.inputValue('[data-testid=json-text]');
    expect(text).toMatch(/"newprov\/newmodel": \{\s+"input": 4,/);
    expect(text).toContain('"apikey": "••••KQXZ"');
    expect(text).not.toContain(KEY);
    const lines = text.split('\n');
    const urlLine = lines.findIndex((l) => l.includes('"baseurl"')) + 1;
    await page.fill('[data-testid=json-text]', text.replace(/"baseurl": "[^"]+"/, '"baseurl": "not a url"'));
    await page.click('[data-testid=check-json]');
    await page.locator('[data-testid=config-issue]').first().waitFor();
    expect(await page.textContent('[data-testid=config-issue]')).toMatch(new RegExp(`line ${urlLine}\\s+providers\\.newprov\\.baseurl`));
    // The gutter marks the line; the button selects it.
    expect(await page.textContent('.gutter .bad')).toBe(String(urlLine));
    await page.click(`[data-goto-line="${urlLine}"]`);
    const selected = await page.$eval('[data-testid=json-text]', (el) => {
      const a = el as unknown as { value: string; selectionStart: number; selectionEnd: number };
      return a.value.slice(a.selectionStart, a.selectionEnd);
    });
    expect(selected).toContain('not a url');

    await page.fill('[data-testid=json-reason]', 'break it');
    await page.click('[data-testid=save-json]');
    await page.locator('#json-issues >> text=Not saved.').waitFor();
    expect((await q('select count(*)::int as n from config_version'))[0].n).toBe(before);
    expect(problems).toEqual([]);
  }, 60_000);
});
