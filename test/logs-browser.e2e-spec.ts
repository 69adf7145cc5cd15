import type { Browser, Page } from 'playwright-core';
import { startTestApp, TestApp } from './support/app';
import { launchBrowser, signInBrowser } from './support/browser';
import { createOrg, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';

const SESSION = '0b7e5c2a-93f1-4d6e-8a4b-2c1d0e9f8a7b';

/**
 * The logs and tool use pages in Chromium: page through sessions, filter, expand a Claude Code
 * session, open one of its requests (headers, bodies, tool calls, timing), see a capped body, and
 * filter the tool use page by tool.
 */
describe('logs and tool use in the browser', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let token: string;
  const pageErrors: string[] = [];
  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => {
    await t.app.get(UsageWriter).drain();
    return withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  };
  const post = (path: string, body: object, headers: Record<string, string>) =>
    fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (r) => {
      expect(r.status).toBe(200);
      await r.text();
      return r.headers.get('x-request-id')!;
    });

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({
      env: { LOGIN_RATE_LIMIT: '1000' },
      gatewayConfig: {
        providers: {
          openai: { baseurl: fake.url, apikey: 'sk-test-openai-browser-0000000000000', models: ['gpt-x'], compatibility: { openai_chat: true } },
          anthropic: { baseurl: fake.url, apikey: 'sk-ant-test-browser-00000000000000', authorization: 'x-api-key', models: ['claude-x'], compatibility: { anthropic_messages: true } },
        },
        pricing: { 'anthropic/claude-x': { input: 3, output: 15 } },
        grants: [{ src: ['*'], models: ['**'] }],
        capture: { mode: 'full', body_cap_bytes: 4096 },
      },
    });
    await createOrg(t.app, 'acme', 'Acme');
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    token = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'admin@acme.test', name: 'laptop' })).secret;

    // A Claude Code task: three streamed turns calling Bash, then Read, then answering.
    const cc = { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'user-agent': 'claude-cli/2.1.90 (external, cli)', 'x-claude-code-session-id': SESSION };
    const tools = [{ name: 'Bash', input_schema: { type: 'object', properties: {} } }, { name: 'Read', input_schema: { type: 'object', properties: {} } }];
    const history: object[] = [{ role: 'user', content: 'why does the deploy script fail?' }];
    for (const tool of ['Bash', 'Read', null]) {
      fake.next(tool ? { toolCall: true, tool } : { toolCall: false });
      await post('/v1/messages', { model: 'claude-x', max_tokens: 512, stream: true, system: [{ type: 'text', text: 'You are Claude Code.' }], tools, messages: history }, cc);
      if (tool) {
        const id = `toolu_${tool.toLowerCase()}`;
        history.push({ role: 'assistant', content: [{ type: 'tool_use', id, name: tool, input: { q: 'x' } }] });
        history.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: `${tool} said: permission denied on /srv/deploy` }] });
      }
    }
    // An OpenAI caller with a tool, and 29 short sessions of a CI job (x-sluice-session), so there are pages.
    await post('/v1/chat/completions', { model: 'gpt-x', messages: [{ role: 'user', content: 'weather?' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }] }, { authorization: `Bearer ${token}` });
    for (let i = 0; i < 29; i++) {
      await post('/v1/chat/completions', { model: 'gpt-x', messages: [{ role: 'user', content: `ci step ${i} ` + (i === 0 ? 'log line '.repeat(800) : '') }] }, { authorization: `Bearer ${token}`, 'x-sluice-session': `ci-${i}`, 'user-agent': 'ci-runner/1.0' });
    }
    await t.app.get(UsageWriter).drain();

    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await signInBrowser(context, t, 'admin@acme.test');
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await fake?.close();
  });

  it('pages through sessions and filters them', async () => {
    await page.goto(`${t.url}/ui/logs`);
    const sessions = page.locator('tbody[data-session]');
    expect(await sessions.count()).toBe(25);
    expect(await page.textContent('.table-foot')).toContain('1–25 of 31');
    await page.click('.table-foot a[rel=next]');
    await page.waitForURL((u) => u.searchParams.get('page') === '2');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tbody[data-session]').length === 6);
    expect(await page.textContent('.table-foot')).toContain('26–31 of 31');
    await page.click('.table-foot a[rel=prev]');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tbody[data-session]').length === 25);

    await page.selectOption('#f-tools', 'yes');
    await page.waitForURL((u) => u.searchParams.get('tools') === 'yes');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('tbody[data-session]').length === 2);
    // A shared link shows the same.
    await page.reload();
    expect(await sessions.count()).toBe(2);
    expect(await page.inputValue('#f-tools')).toBe('yes');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('opens a session and one of its requests', async () => {
    const [s] = await q(`select id from session where external_id = $1`, [SESSION]);
    await page.goto(`${t.url}/ui/logs?tools=yes`);
    const row = page.locator(`tbody[data-session="${s.id}"]`);
    expect(await row.textContent()).toContain('claude-code/2.1.90');
    expect(await row.locator('[data-testid=session-requests-count]').textContent()).toBe('3');
    await row.locator('[data-testid=expand-session]').click();
    await row.locator('[data-testid=session-requests] tr[data-request]').nth(2).waitFor();
    expect(await row.locator('tr[data-request]').count()).toBe(3);
    expect(await row.locator('tr[data-request]').nth(1).textContent()).toContain('Read');
    await row.locator('[data-testid=collapse-session]').click();
    await row.locator('tr[data-request]').first().waitFor({ state: 'detached' });
    await row.locator('[data-testid=expand-session]').click();
    await row.locator('[data-testid=session-requests] tr[data-request]').nth(2).waitFor();

    await row.locator('tr[data-request]').nth(1).locator('[data-testid=open-request]').click();
    const detail = page.locator('#request-panel [data-testid=request-detail]');
    await detail.waitFor();
    await page.waitForURL((u) => u.pathname.startsWith('/ui/logs/requests/'));
    expect(await detail.locator('[data-testid=tool-events]').textContent()).toContain('Read');
    expect(await detail.locator('[data-testid=tool-events]').textContent()).toContain('Bash said: permission denied');
    expect(await detail.locator('[data-testid=request-headers]').textContent()).toMatch(/x-api-key\s*\[REDACTED\]/);
    expect(await detail.locator('[data-testid=request-headers]').textContent()).not.toContain(token);
    expect(await detail.locator('[data-testid=ttft]').textContent()).toMatch(/ms|s$/);
    expect(await detail.locator('[data-testid=response-body]').textContent()).toContain('"type": "tool_use"');
    expect(await detail.locator('[data-testid=response-body] mark.tool-line').count()).toBeGreaterThan(0);
    expect(await detail.locator('[data-testid=request-cost]').textContent()).toMatch(/^\$/);
    await detail.locator('[data-testid=close-request]').click();
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#request-panel').innerHTML === '');

    // The pushed URL is a page of its own.
    const [r] = await q(`select r.id from request_log r where r.session_id = $1 order by r.created_at limit 1`, [SESSION]);
    await page.goto(`${t.url}/ui/logs/requests/${r.id}`);
    expect(await page.textContent('[data-testid=request-detail] h2')).toContain('claude-x');
    await page.click('.crumbs a[href^="/ui/logs/sessions/"]');
    await page.waitForURL((u) => u.pathname === `/ui/logs/sessions/${s.id}`);
    expect(await page.textContent('[data-testid=session-total-requests]')).toBe('3');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows when a body was capped', async () => {
    const [r] = await q(`select r.id from request_log r where r.session_id = 'ci-0'`);
    await page.goto(`${t.url}/ui/logs/requests/${r.id}`);
    expect(await page.textContent('[data-testid=request-body-size]')).toMatch(/capped .* sent; the first 4(\.0)? KB were kept \(capture cap 4(\.0)? KB\)/);
  });

  it('filters the tool use page by tool', async () => {
    await page.goto(`${t.url}/ui/tools`);
    await page.waitForSelector('[data-testid=tools-chart] canvas, [data-testid=tools-chart] svg');
    expect(await page.textContent('[data-testid=total-calls]')).toBe('3');
    expect(await page.locator('[data-testid=tool-breakdown] tr[data-tool]').count()).toBe(3);
    await page.selectOption('#f-tool', 'Read');
    await page.waitForURL((u) => u.searchParams.get('tool') === 'Read');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('[data-testid=tool-breakdown] tr[data-tool]').length === 1);
    expect(await page.textContent('[data-testid=tool-breakdown] tr[data-tool]')).toContain('Read');
    expect(await page.textContent('[data-testid=total-calls]')).toBe('1');
    expect(await page.locator('[data-testid=tool-sessions] tr[data-session]').count()).toBe(1);
    await page.click('[data-testid=tool-sessions] tr[data-session] a');
    await page.waitForURL((u) => u.pathname.startsWith('/ui/logs/sessions/'));
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
