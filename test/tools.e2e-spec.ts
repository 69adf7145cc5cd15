import OpenAI from 'openai';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';

describe('tool use is recorded per request', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let secret: string;
  const rows = async (sql: string, params: unknown[] = []) => {
    await t.app.get(UsageWriter).drain();
    return withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows);
  };

  beforeAll(async () => {
    fake = await startFakeUpstream();
    t = await startTestApp({
      gatewayConfig: {
        providers: {
          openai: { baseurl: fake.url, models: ['gpt-x'], compatibility: { openai_chat: true } },
          anthropic: { baseurl: fake.url, models: ['claude-x'], authorization: 'x-api-key', compatibility: { anthropic_messages: true } },
        },
        grants: [{ src: ['*'], models: ['**'] }],
      },
    });
    await createOrg(t.app, 'tools');
    secret = (await createToken(t.app, { orgSlug: 'tools', name: 'agent' })).secret;
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('a streamed Claude Code style turn: offered tools, results of earlier calls, and the new call', async () => {
    const session = 'a3c1f0de-0000-4000-8000-00000000c0de';
    const res = await fetch(`${t.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': secret, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'user-agent': 'claude-cli/2.1.90 (external, cli)', 'x-claude-code-session-id': session },
      body: JSON.stringify({
        model: 'claude-x', max_tokens: 100, stream: true,
        system: [{ type: 'text', text: 'You are Claude Code.' }],
        tools: [{ name: 'Bash', input_schema: { type: 'object', properties: {} } }, { name: 'Read', input_schema: { type: 'object', properties: {} } }],
        messages: [
          { role: 'user', content: 'fix the build' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_a', name: 'Bash', input: { command: 'npm test' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: '1 failing' }] },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_b', name: 'Read', input: { path: 'a.ts' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_b', content: '…' }, { type: 'text', text: 'go on [[fake:{"toolCall":true}]]' }] },
        ],
      }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const id = res.headers.get('x-request-id')!;
    const log = await rows(`select tools_offered, session_id from request_log where request_id = $1`, [id]);
    expect(log).toEqual([{ tools_offered: ['Bash', 'Read'], session_id: session }]);
    const calls = await rows(`select event, name, kind, call_id, session_id from tool_call where request_id = $1 order by event desc, call_id`, [id]);
    expect(calls.map((c) => [c.event, c.name, c.kind, c.session_id])).toEqual([
      ['result', 'Bash', 'function', session],
      ['result', 'Read', 'function', session],
      ['call', 'Bash', 'function', session], // the fake answers with the first offered tool
    ]);
  });

  it('OpenAI tool calls, streamed and not', async () => {
    const client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: secret, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    const plain = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'weather?' }], tools }).withResponse();
    const streamed = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true }).withResponse();
    for await (const _ of streamed.data) void _;
    for (const r of [plain.response, streamed.response]) {
      const calls = await rows(`select event, name, kind from tool_call where request_id = $1`, [r.headers.get('x-request-id')]);
      expect(calls).toEqual([{ event: 'call', name: 'get_weather', kind: 'function' }]);
    }
  });
});
