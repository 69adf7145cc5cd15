import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { dumpDatabase, registerSecret, withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { CaptureRetentionService } from '../src/logs/capture-retention.service';
import { ProviderRegistry } from '../src/providers/provider-registry.service';
import { captureBuffer } from '../src/logs/capture';

const OPENAI_KEY = 'sk-proj-openaiProviderKeyForLogsTests0123456789';
const ANTHROPIC_KEY = 'sk-ant-api03-anthropicProviderKeyForLogsTests-0123456789';
const HEADER_SECRET = 'corp-secret-5f1e0c9a7b3d2e4f';
const COOKIE_SECRET = 'cookie-value-9a8b7c6d5e4f3a2b1c0d';
const SESSION = '4d9a1f3e-6b2c-4e8d-9a7f-1c2b3d4e5f60';
const DEVICE = 'b7c1e4f0a9d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8';
const CAP = 16 * 1024;

/**
 * Request capture and sessions end to end: a recorded Claude Code style conversation (system
 * prompt, tools, several tool_use / tool_result turns, streamed, with Claude Code's headers and
 * metadata) and OpenAI tool calls through the official SDKs become sessions with the right totals;
 * captures are redacted (nothing the suite used as a secret is anywhere in the database), capped,
 * and reassembled; org and grant overrides pick the mode; retention purges captures only.
 */
describe('request capture and sessions', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let agent: string;
  let webui: string;
  let quiet: string;
  let meta: string;
  let metaId: string;
  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => {
    await t.app.get(UsageWriter).drain();
    return withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  };

  beforeAll(async () => {
    for (const s of [OPENAI_KEY, ANTHROPIC_KEY, HEADER_SECRET, COOKIE_SECRET]) registerSecret(s);
    fake = await startFakeUpstream();
    t = await startTestApp({
      gatewayConfig: {
        providers: {
          openai: { baseurl: fake.url, apikey: OPENAI_KEY, models: ['gpt-x'], compatibility: { openai_chat: true, openai_responses: true } },
          anthropic: { baseurl: fake.url, apikey: ANTHROPIC_KEY, authorization: 'x-api-key', models: ['claude-x', 'claude-haiku'], compatibility: { anthropic_messages: true } },
        },
        pricing: { 'anthropic/claude-x': { input: 3, output: 15 }, 'openai/gpt-x': { input: 1, output: 2 } },
        grants: [{ src: ['*'], models: ['**'] }, { src: ['token:META_TOKEN'], models: ['**'], capture: 'metadata' }],
        capture: { mode: 'full', body_cap_bytes: CAP, secret_patterns: ['corp-secret-[0-9a-f]{16}'], orgs: { quiet: { mode: 'full', require_off: true } } },
      },
    });
    await createOrg(t.app, 'logs');
    await createOrg(t.app, 'quiet');
    agent = (await createToken(t.app, { orgSlug: 'logs', name: 'claude-code' })).secret;
    webui = (await createToken(t.app, { orgSlug: 'logs', name: 'sdk' })).secret;
    quiet = (await createToken(t.app, { orgSlug: 'quiet', name: 'quiet' })).secret;
    const m = await createToken(t.app, { orgSlug: 'logs', name: 'metadata-only' });
    meta = m.secret;
    metaId = m.id;
    // The grant names the token by id, known only now: activate the config again with it.
    const cfg = JSON.parse(JSON.stringify(t.rt.gatewayConfig).replace('META_TOKEN', metaId));
    t.app.get(ProviderRegistry).apply(cfg);
    t.rt.gatewayConfig = cfg;
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const claudeCode = () =>
    new Anthropic({
      baseURL: t.url,
      apiKey: agent,
      maxRetries: 0,
      defaultHeaders: {
        'user-agent': 'claude-cli/2.1.90 (external, cli)',
        'x-app': 'cli',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
        cookie: `_session=${COOKIE_SECRET}`,
        'x-trace-note': `deploy note ${HEADER_SECRET}`,
      },
    });

  const TOOLS = [
    { name: 'Bash', description: 'Run a shell command', input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } } },
    { name: 'Read', description: 'Read a file', input_schema: { type: 'object' as const, properties: { file_path: { type: 'string' } } } },
    { name: 'Edit', description: 'Edit a file', input_schema: { type: 'object' as const, properties: { file_path: { type: 'string' } } } },
  ];
  const SYSTEM = [{ type: 'text' as const, text: 'You are Claude Code, an interactive CLI tool that helps users with software engineering tasks.' }];
  const metadata = { user_id: JSON.stringify({ device_id: DEVICE, account_uuid: 'acct-7', session_id: SESSION }) };

  it('a Claude Code conversation is one session with its requests, tokens and tools', async () => {
    const cc = claudeCode();
    const history: Anthropic.MessageParam[] = [{ role: 'user', content: `The build fails. My key is ${ANTHROPIC_KEY} and my token ${agent}, do not print them.` }];
    const turns: { tool?: string; usage: { input: number; output: number; cached?: number } }[] = [
      { tool: 'Bash', usage: { input: 1200, output: 40, cached: 1000 } },
      { tool: 'Read', usage: { input: 1400, output: 30, cached: 1200 } },
      { tool: 'Edit', usage: { input: 1600, output: 80, cached: 1400 } },
      { usage: { input: 1800, output: 120, cached: 1600 } },
    ];
    for (const turn of turns) {
      fake.next(turn.tool ? { toolCall: true, tool: turn.tool, usage: turn.usage } : { toolCall: false, usage: turn.usage });
      const stream = cc.messages.stream({ model: 'claude-x', max_tokens: 4096, system: SYSTEM, tools: TOOLS, metadata, messages: history });
      const msg = await stream.finalMessage();
      history.push({ role: 'assistant', content: msg.content });
      const use = msg.content.find((b) => b.type === 'tool_use');
      if (use) {
        expect(use.name).toBe(turn.tool);
        history.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: `output of ${use.name}` }] });
      }
    }
    // Claude Code's side request (a title) without tools, not streamed, same session; older
    // versions put the session in metadata.user_id as user_<device>_account_<id>_session_<uuid>.
    fake.next({ usage: { input: 50, output: 8 } });
    const legacy = { user_id: `user_${DEVICE}_account_acct-7_session_${SESSION}` };
    await cc.messages.create({ model: 'claude-haiku', max_tokens: 64, metadata: legacy, messages: [{ role: 'user', content: 'Summarise this conversation in five words.' }] });

    const [s] = await q(`select * from session where external_id = $1`, [SESSION]);
    expect(s).toMatchObject({
      requests: 5,
      failures: 0,
      input_tokens: String(1200 + 1400 + 1600 + 1800 + 50),
      output_tokens: String(40 + 30 + 80 + 120 + 8),
      cached_input_tokens: String(1000 + 1200 + 1400 + 1600),
      tools: ['Bash', 'Edit', 'Read'],
      tool_calls: 3,
      models: ['claude-haiku', 'claude-x'],
      client: 'claude-code/2.1.90',
      client_device: DEVICE,
    });
    expect(Number(s.cost_micros)).toBeGreaterThan(0);
    const logs = await q(`select sluice_session_id, session_id from request_log where session_id = $1`, [SESSION]);
    expect(logs).toHaveLength(5);
    expect(logs.every((r) => r.sluice_session_id === s.id)).toBe(true);
    const calls = await q(`select name, event, sluice_session_id from tool_call where session_id = $1 order by created_at, event`, [SESSION]);
    expect(calls.filter((c) => c.event === 'call').map((c) => c.name)).toEqual(['Bash', 'Read', 'Edit']);
    expect(calls.filter((c) => c.event === 'result').length).toBe(1 + 2 + 3);
    expect(calls.every((c) => c.sluice_session_id === s.id)).toBe(true);

    // Captured: headers redacted, the streamed answer reassembled, the raw stream kept.
    const caps = await q(`select c.* from request_capture c join request_log r on r.id = c.request_row_id and r.created_at = c.created_at where r.session_id = $1 order by c.created_at`, [SESSION]);
    expect(caps).toHaveLength(5);
    const first = caps[0];
    expect(first.mode).toBe('full');
    const credentials = ['authorization', 'x-api-key'].filter((h) => first.request_headers[h] !== undefined);
    expect(credentials.length).toBeGreaterThan(0);
    for (const h of credentials) expect(first.request_headers[h]).toBe('[REDACTED]');
    expect(first.request_headers.cookie).toBe('[REDACTED]');
    expect(first.request_headers['x-trace-note']).toBe('deploy note [REDACTED]');
    expect(first.request_headers['user-agent']).toBe('claude-cli/2.1.90 (external, cli)');
    expect(first.response_headers['content-type']).toContain('text/event-stream');
    const req = JSON.parse(first.request_body);
    expect(req.messages[0].content).toBe('The build fails. My key is [REDACTED] and my token [REDACTED], do not print them.');
    expect(req.tools.map((x: { name: string }) => x.name)).toEqual(['Bash', 'Read', 'Edit']);
    const answer = JSON.parse(first.response_body);
    expect(answer).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'tool_use' });
    expect(answer.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'Bash', input: { q: 'x' } })]);
    expect(answer.usage.output_tokens).toBe(40);
    expect(first.response_stream).toContain('event: message_start');
    expect(first.stream_bytes).toBeGreaterThan(0);
    const last = JSON.parse(caps[3].response_body);
    expect(last.content[0]).toMatchObject({ type: 'text', text: 'w0 w1 w2 w3 w4' });
    // The non-streamed side request keeps the answer as sent.
    expect(caps[4].response_stream).toBeNull();
    expect(JSON.parse(caps[4].response_body)).toMatchObject({ type: 'message', content: [{ type: 'text' }] });
  });

  it('OpenAI tool calls, streamed and not, group by caller and client into one session', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: webui, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const plain = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'weather in Oslo?' }], tools }).withResponse();
    const streamed = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'weather in Bergen?' }], tools, stream: true }).withResponse();
    for await (const _ of streamed.data) void _;
    const ids = [plain.response, streamed.response].map((r) => r.headers.get('x-request-id'));
    const rows = await q(`select id, sluice_session_id, stream from request_log where request_id = any($1) order by stream`, [ids]);
    expect(rows).toHaveLength(2);
    expect(rows[0].sluice_session_id).toBeTruthy();
    expect(rows[1].sluice_session_id).toBe(rows[0].sluice_session_id);
    const [s] = await q(`select * from session where id = $1`, [rows[0].sluice_session_id]);
    expect(s).toMatchObject({ external_id: null, requests: 2, tools: ['get_weather'], tool_calls: 2, models: ['gpt-x'] });
    expect(s.client).toMatch(/^openai-sdk-js\//);
    const caps = await q(`select * from request_capture where request_row_id = any($1::uuid[]) order by stream_bytes nulls first`, [rows.map((r) => r.id)]);
    expect(caps.map((c) => c.request_headers.authorization)).toEqual(['[REDACTED]', '[REDACTED]']);
    expect(JSON.parse(caps[0].response_body).choices[0].message.tool_calls[0].function).toEqual({ name: 'get_weather', arguments: '{"q":"x"}' });
    const rebuilt = JSON.parse(caps[1].response_body);
    expect(rebuilt).toMatchObject({ object: 'chat.completion', choices: [{ finish_reason: 'tool_calls', message: { role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"q":"x"}' } }] } }] });
    expect(caps[1].response_stream).toContain('data: [DONE]');
  });

  it('Open WebUI chats and Codex sessions are sessions by the ids they send', async () => {
    const send = (headers: Record<string, string>, content: string) =>
      fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${webui}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content }] }) }).then((r) => r.text());
    const owui = { 'user-agent': 'python-httpx/0.28.1', 'x-openwebui-user-email': 'ann@example.test', 'x-openwebui-user-id': 'u-1', 'x-openwebui-chat-id': 'chat-7f3a' };
    await send(owui, 'first question');
    await send(owui, 'follow-up');
    await send({ ...owui, 'x-openwebui-user-email': 'bo@example.test', 'x-openwebui-user-id': 'u-2', 'x-openwebui-chat-id': 'chat-9b1c' }, 'another person');
    const codex = { 'user-agent': 'codex_cli_rs/0.46.0 (Ubuntu 24.4.0; x86_64) xterm-256color', originator: 'codex_cli_rs', 'session-id': '0199a3c1-7d2e-7b40-9d1f-5e6a7b8c9d0e' };
    await send(codex, 'refactor the parser');
    await send(codex, 'now the tests');
    const rows = await q(`select external_id, end_user, client, requests from session where external_id in ('chat-7f3a', 'chat-9b1c', '0199a3c1-7d2e-7b40-9d1f-5e6a7b8c9d0e') order by external_id`);
    expect(rows).toEqual([
      { external_id: '0199a3c1-7d2e-7b40-9d1f-5e6a7b8c9d0e', end_user: null, client: 'codex/0.46.0', requests: 2 },
      { external_id: 'chat-7f3a', end_user: 'ann@example.test', client: 'open-webui', requests: 2 },
      { external_id: 'chat-9b1c', end_user: 'bo@example.test', client: 'open-webui', requests: 1 },
    ]);
  });

  it('the Responses API stream is rebuilt from its final event', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: webui, maxRetries: 0 });
    const s = await client.responses.create({ model: 'gpt-x', input: 'hello', stream: true }).withResponse();
    for await (const _ of s.data) void _;
    const [c] = await q(`select c.response_body from request_capture c join request_log r on r.id = c.request_row_id where r.request_id = $1`, [s.response.headers.get('x-request-id')]);
    expect(JSON.parse(c.response_body)).toMatchObject({ object: 'response', status: 'completed', output: [{ type: 'message', content: [{ text: 'w0 w1 w2 w3 w4' }] }] });
  });

  it('caps bodies at the configured size and records the original size', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: webui, maxRetries: 0 });
    const big = 'lorem ipsum '.repeat(5000);
    const r = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: big }] }).withResponse();
    const [c] = await q(`select c.* from request_capture c join request_log r on r.id = c.request_row_id where r.request_id = $1`, [r.response.headers.get('x-request-id')]);
    expect(c.body_cap_bytes).toBe(CAP);
    expect(c.request_bytes).toBeGreaterThan(60_000);
    expect(Buffer.byteLength(c.request_body)).toBeLessThanOrEqual(CAP);
    expect(c.request_body.startsWith('{"model":"gpt-x","messages":[{"role":"user","content":"lorem ipsum')).toBe(true);
  });

  it('an org that requires capture off is never captured; a grant can lower capture to metadata', async () => {
    const rq = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${quiet}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'quiet please' }] }) });
    expect(rq.status).toBe(200);
    const rm = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${meta}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'metadata only' }] }) });
    expect(rm.status).toBe(200);
    const [quietRow] = await q(`select r.id, c.request_row_id from request_log r left join request_capture c on c.request_row_id = r.id where r.request_id = $1`, [rq.headers.get('x-request-id')]);
    expect(quietRow.id).toBeTruthy();
    expect(quietRow.request_row_id).toBeNull();
    const [m] = await q(`select c.* from request_capture c join request_log r on r.id = c.request_row_id where r.request_id = $1`, [rm.headers.get('x-request-id')]);
    expect(m).toMatchObject({ mode: 'metadata', request_body: null, response_body: null, response_stream: null });
    expect(m.request_bytes).toBeGreaterThan(0);
    expect(m.response_bytes).toBeGreaterThan(0);
    expect(m.request_headers.authorization).toBe('[REDACTED]');
  });

  it('a refused request is captured with the body the client sent', async () => {
    const r = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${webui}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: `refused, key ${OPENAI_KEY}` }] }) });
    expect(r.status).toBe(404);
    const [c] = await q(`select c.* from request_capture c join request_log r on r.id = c.request_row_id where r.request_id = $1`, [r.headers.get('x-request-id')]);
    expect(JSON.parse(c.request_body).messages[0].content).toBe('refused, key [REDACTED]');
  });

  it('keeps headers and sizes only while the capture buffer is full, and frees it once written', async () => {
    await t.app.get(UsageWriter).drain();
    expect(captureBuffer.pending).toBe(0);
    const max = t.rt.env.CAPTURE_BUFFER_MAX;
    t.rt.env.CAPTURE_BUFFER_MAX = 1;
    try {
      const r = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${webui}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'while the database is slow' }] }) });
      expect(r.status).toBe(200);
      const [c] = await q(`select c.* from request_capture c join request_log r on r.id = c.request_row_id where r.request_id = $1`, [r.headers.get('x-request-id')]);
      expect(c).toMatchObject({ mode: 'metadata', request_body: null, response_body: null });
      expect(c.request_bytes).toBeGreaterThan(0);
    } finally {
      t.rt.env.CAPTURE_BUFFER_MAX = max;
    }
    expect(captureBuffer.shed).toBeGreaterThan(0);
    expect(captureBuffer.pending).toBe(0);
  });

  it('no token, provider key or header secret used in the suite is anywhere in the database', async () => {
    await t.app.get(UsageWriter).drain();
    const dump = await dumpDatabase(t.db.url);
    expect(dump).toContain('[REDACTED]');
    for (const s of [agent, webui, quiet, meta, OPENAI_KEY, ANTHROPIC_KEY, HEADER_SECRET, COOKIE_SECRET]) expect(dump.includes(s)).toBe(false);
  });

  it('retention deletes old captures only; request rows and rollups stay', async () => {
    const before = await q(`select count(*)::int as n from request_capture`);
    expect(before[0].n).toBeGreaterThan(5);
    // Age half of them past the 30-day retention.
    await q(`update request_capture set created_at = created_at - interval '45 days' where request_row_id in (select request_row_id from request_capture order by created_at limit 5)`);
    const snapshot = async () =>
      JSON.stringify(await q(`select * from usage_rollup_minute union all select * from usage_rollup_hour union all select * from usage_rollup_day order by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12`)) +
      JSON.stringify(await q(`select count(*) from request_log`)) +
      JSON.stringify(await q(`select id, requests from session order by id`));
    const rollups = await snapshot();
    const res = await t.app.get(CaptureRetentionService).purge();
    expect(res.captures).toBe(5);
    const after = await q(`select count(*)::int as n, min(created_at) as oldest from request_capture`);
    expect(after[0].n).toBe(before[0].n - 5);
    expect(new Date(after[0].oldest).getTime()).toBeGreaterThan(Date.now() - 86_400_000);
    expect(await snapshot()).toBe(rollups);
  });
});
