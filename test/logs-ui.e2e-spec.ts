import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { signIn, TestSession } from './support/session';
import { UsageWriter } from '../src/usage/usage-writer.service';

/**
 * The logs and tool use pages over HTTP: who sees which sessions and requests (members their own,
 * org admins their org, global admins all), filters including free text over captured bodies,
 * htmx partials, request detail, exports that honour the filters, and the tool use page.
 */
describe('logs and tool use pages', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let admin: TestSession;
  let dev: TestSession;
  let root: TestSession;
  const tokens: Record<string, string> = {};
  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => {
    await t.app.get(UsageWriter).drain();
    return withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  };
  const call = (token: string, body: object, headers: Record<string, string> = {}, path = '/v1/chat/completions') =>
    fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then(async (r) => {
      await r.text();
      return r;
    });
  const sessionOf = async (requestId: string) => (await q(`select sluice_session_id from request_log where request_id = $1`, [requestId]))[0].sluice_session_id as string;
  const rowOf = async (requestId: string) => (await q(`select id from request_log where request_id = $1`, [requestId]))[0].id as string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({
      env: { LOGIN_RATE_LIMIT: '1000' },
      gatewayConfig: {
        providers: {
          openai: { baseurl: fake.url, apikey: 'sk-test-openai-logs-ui-000000000000', models: ['gpt-x', 'gpt-y'], compatibility: { openai_chat: true } },
          anthropic: { baseurl: fake.url, apikey: 'sk-ant-test-logs-ui-0000000000000', authorization: 'x-api-key', models: ['claude-x'], compatibility: { anthropic_messages: true } },
        },
        pricing: { 'openai/gpt-x': { input: 1, output: 2 } },
        grants: [{ src: ['*'], models: ['**'] }],
        capture: { mode: 'full', body_cap_bytes: 4096 },
      },
    });
    await createOrg(t.app, 'acme', 'Acme');
    await createOrg(t.app, 'globex', 'Globex');
    await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' });
    await createUser(t.app, { email: 'dev@acme.test', org: 'acme', role: 'member' });
    await createUser(t.app, { email: 'ops@acme.test', org: 'acme', role: 'member' });
    await createUser(t.app, { email: 'boss@globex.test', org: 'globex', role: 'admin' });
    tokens.dev = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'dev@acme.test', name: 'dev-laptop' })).secret;
    tokens.ops = (await createToken(t.app, { orgSlug: 'acme', userEmail: 'ops@acme.test', name: 'ops-bot' })).secret;
    tokens.globex = (await createToken(t.app, { orgSlug: 'globex', userEmail: 'boss@globex.test', name: 'globex-key' })).secret;

    // dev: an agent session with tool use, marked by x-sluice-session.
    const tools = [{ name: 'Bash', input_schema: { type: 'object', properties: {} } }, { name: 'Read', input_schema: { type: 'object', properties: {} } }];
    const cc = { 'x-api-key': tokens.dev, 'anthropic-version': '2023-06-01', 'user-agent': 'claude-cli/2.1.90 (external, cli)', 'x-sluice-session': 'dev-task-1' };
    fake.next({ toolCall: true, tool: 'Bash' });
    let r = await call('', { model: 'claude-x', max_tokens: 100, stream: true, tools, messages: [{ role: 'user', content: 'run the tests please' }] }, cc, '/v1/messages');
    ids.devFirst = r.headers.get('x-request-id')!;
    fake.next({ toolCall: true, tool: 'Read' });
    r = await call('', { model: 'claude-x', max_tokens: 100, stream: true, tools, messages: [{ role: 'user', content: 'run the tests please' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '3 passed' }] }] }, cc, '/v1/messages');
    ids.devSecond = r.headers.get('x-request-id')!;
    // A long prompt, over the 4 KB capture cap.
    r = await call('', { model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'explain ' + 'the build system '.repeat(600) }] }, cc, '/v1/messages');
    ids.devBig = r.headers.get('x-request-id')!;
    // ops: two plain OpenAI requests, one of them refused upstream.
    r = await call(tokens.ops, { model: 'gpt-x', messages: [{ role: 'user', content: 'nightly report for the ops dashboard' }] });
    ids.ops = r.headers.get('x-request-id')!;
    fake.next({ mode: 'status', status: 500 });
    r = await call(tokens.ops, { model: 'gpt-y', messages: [{ role: 'user', content: 'second try' }] });
    ids.opsFailed = r.headers.get('x-request-id')!;
    // globex: one request with a distinctive word.
    r = await call(tokens.globex, { model: 'gpt-x', messages: [{ role: 'user', content: 'globex quarterly zanzibar plan' }] });
    ids.globex = r.headers.get('x-request-id')!;
    for (const k of Object.keys(ids)) ids[`${k}Session`] = await sessionOf(ids[k]);

    admin = await signIn(t, 'admin@acme.test');
    dev = await signIn(t, 'dev@acme.test');
    root = await signIn(t, 'root@example.test', { globalAdmin: true });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const sessionsIn = (html: string) => [...html.matchAll(/<tbody data-session="([^"]+)"/g)].map((m) => m[1]).sort();

  it('members see their own sessions, org admins their org, global admins all', async () => {
    const mine = await dev.get('/ui/logs').expect(200);
    expect(sessionsIn(mine.text)).toEqual([ids.devFirstSession]);
    expect(mine.text).toContain('Download CSV');
    const org = await admin.get('/ui/logs').expect(200);
    expect(sessionsIn(org.text)).toEqual([ids.devFirstSession, ids.opsSession].sort());
    const all = await root.get('/ui/logs').expect(200);
    expect(sessionsIn(all.text)).toEqual([ids.devFirstSession, ids.opsSession, ids.globexSession].sort());
    // Someone else's session or request is not found, not forbidden.
    await dev.get(`/ui/logs/sessions/${ids.opsSession}`).expect(404);
    await dev.get(`/ui/logs/requests/${await rowOf(ids.ops)}`).expect(404);
    await admin.get(`/ui/logs/sessions/${ids.globexSession}`).expect(404);
    await admin.get(`/ui/logs/requests/${await rowOf(ids.globex)}`).expect(404);
    await dev.get('/ui/logs/requests/not-a-uuid').expect(404);
  });

  it('sessions carry their totals and expand to their requests (htmx partial)', async () => {
    const [s] = await q(`select * from session where id = $1`, [ids.devFirstSession]);
    expect(s).toMatchObject({ external_id: 'dev-task-1', requests: 3, tools: ['Bash', 'Read'], client: 'claude-code/2.1.90' });
    const part = await dev.htmx('get', `/ui/logs/sessions/${s.id}`).expect(200);
    expect(part.text).not.toContain('<html');
    expect(part.text.match(/data-request="/g)).toHaveLength(3);
    expect(part.text).toContain('Bash');
    const page = await dev.get(`/ui/logs/sessions/${s.id}`).expect(200);
    expect(page.text).toContain('<html');
    expect(page.text).toContain('data-testid="session-total-requests">3<');
  });

  it('filters: model, status, tool use, tool name, free text over captured bodies', async () => {
    const list = async (who: TestSession, qs: string) => sessionsIn((await who.htmx('get', `/ui/logs?${qs}`).expect(200)).text);
    expect(await list(admin, 'model=gpt-y')).toEqual([ids.opsSession]);
    expect(await list(admin, 'status=5xx')).toEqual([ids.opsSession]);
    expect(await list(admin, 'tools=yes')).toEqual([ids.devFirstSession]);
    expect(await list(admin, 'tool=Read')).toEqual([ids.devFirstSession]);
    expect(await list(admin, 'tool=Nope')).toEqual([]);
    expect(await list(root, 'q=zanzibar')).toEqual([ids.globexSession]);
    expect(await list(root, 'q=zanzi')).toEqual([ids.globexSession]);
    expect(await list(admin, 'q=zanzibar')).toEqual([]);
    expect(await list(admin, 'q=nightly%20dashboard')).toEqual([ids.opsSession]);
    expect(await list(root, 'org=globex')).toEqual([ids.globexSession]);
    expect(await list(admin, 'from=2020-01-01&to=2020-01-31')).toEqual([]);
    // Inside a session, request filters narrow its requests.
    const part = await admin.htmx('get', `/ui/logs/sessions/${ids.devFirstSession}?tool=Read`).expect(200);
    expect(part.text.match(/data-request="/g)).toHaveLength(1);
    expect(part.text).toContain('matching the filters');
    // The filters are in the URL: a full page load with them shows the same.
    const page = await admin.get('/ui/logs?tools=yes').expect(200);
    expect(page.text).toContain('<option value="yes" selected>');
  });

  it('shows a request: headers redacted, bodies pretty-printed, tool calls, timing, usage and the cap', async () => {
    const id = await rowOf(ids.devSecond);
    const res = await dev.get(`/ui/logs/requests/${id}`).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const html = res.text;
    expect(html).toContain('data-testid="request-headers"');
    expect(html).toMatch(/x-api-key<\/td><td class="mono small redacted">\[REDACTED\]/);
    expect(html).not.toContain(tokens.dev);
    expect(html).toContain('data-testid="tool-events"');
    expect(html).toMatch(/<strong>Read<\/strong>/);
    expect(html).toContain('3 passed'); // the tool result the request carried
    expect(html).toContain('<mark class="tool-line">');
    expect(html).toContain('data-testid="ttft"');
    expect(html).toContain('(the streamed answer, reassembled)');
    expect(html).toContain('data-testid="raw-stream"');
    const big = await dev.htmx('get', `/ui/logs/requests/${await rowOf(ids.devBig)}`).expect(200);
    expect(big.text).not.toContain('<html');
    expect(big.text).toContain('data-testid="body-cap"');
    expect(big.text).toMatch(/sent; the first 4(\.0)? KB were kept \(capture cap 4(\.0)? KB\)/);
  });

  it('downloads request logs as CSV and JSON Lines, honouring filters and visibility', async () => {
    const csv = await admin.get('/ui/logs/export.csv?tools=yes').expect(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0].split(',').slice(0, 4)).toEqual(['created_at', 'request_id', 'org', 'user']);
    expect(lines).toHaveLength(1 + 2);
    expect(lines.slice(1).every((l) => l.includes('dev@acme.test'))).toBe(true);
    const jsonl = await dev.get('/ui/logs/export.jsonl').expect(200);
    const rows = jsonl.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.user === 'dev@acme.test' && r.session === ids.devFirstSession)).toBe(true);
    expect(rows.find((r) => r.request_id === ids.devFirst)).toMatchObject({ tool_calls: ['Bash'], stream: true, model: 'claude-x' });
    const all = await root.get('/ui/logs/export.jsonl?status=5xx').expect(200);
    expect(all.text.trim().split('\n').map((l) => JSON.parse(l).request_id)).toEqual([ids.opsFailed]);
  });

  it('tool use page: totals, breakdown by tool and type, per session, chart data, filters', async () => {
    const page = await admin.get('/ui/tools').expect(200);
    expect(page.text).toContain('data-testid="total-calls">2<');
    expect(page.text).toMatch(/<tr data-tool="Bash">/);
    expect(page.text).toMatch(/<tr data-tool="Read">/);
    expect(page.text).toContain(`data-session="${ids.devFirstSession}"`);
    const filtered = await admin.htmx('get', '/ui/tools?tool=Read').expect(200);
    expect(filtered.text).not.toContain('<html');
    expect(filtered.text).toMatch(/<tr data-tool="Read">/);
    expect(filtered.text).not.toMatch(/<tr data-tool="Bash">/);
    const chart = await admin.get('/ui/tools/series.json').set('accept', 'application/json').expect(200);
    expect(chart.body.options.series.slice(1).map((s: { label: string }) => s.label).sort()).toEqual(['Bash', 'Read']);
    expect(chart.body.data).toHaveLength(3);
    expect(chart.body.data[1].reduce((a: number, b: number) => a + b, 0) + chart.body.data[2].reduce((a: number, b: number) => a + b, 0)).toBe(2);
    const none = await request(t.url).get('/ui/tools').expect((r) => expect([302, 303, 401]).toContain(r.status));
    expect(none.text).not.toContain('Bash');
    const globex = await signIn(t, 'boss@globex.test');
    const theirs = await globex.get('/ui/tools').expect(200);
    expect(theirs.text).toContain('data-testid="total-calls">0<');
  });
});
