import * as http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { dumpDatabase, freePort, registerSecret, withDatabase } from './support/pg';
import { UsageWriter } from '../src/usage/usage-writer.service';
import { cutStream } from './support/streams';
import { TokensService } from '../src/tokens/tokens.service';
import { OrgsService } from '../src/orgs/orgs.service';

const OPENAI_KEY = 'sk-upstream-openai-key-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-upstream-key-0123456789abcdef';

interface Row {
  [k: string]: any;
}

describe('gateway: OpenAI and Anthropic compatible proxy', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  let deadPort: number;
  let acmeToken: { id: string; secret: string };
  let otherToken: { id: string; secret: string };

  const rows = async (where = 'true', params: unknown[] = []): Promise<Row[]> => {
    await t.app.get(UsageWriter).drain();
    return withDatabase(t.db.url, async (c) => (await c.query(`select * from request_log where ${where} order by created_at, id`, params)).rows);
  };
  const rowFor = async (requestId: string) => {
    const r = await rows('request_id = $1', [requestId]);
    expect(r).toHaveLength(1);
    return r[0];
  };
  const openai = (secret = acmeToken.secret, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ baseURL: `${t.url}/v1`, apiKey: secret, maxRetries: 0, ...extra });
  const anthropic = (secret = acmeToken.secret, extra: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) =>
    new Anthropic({ baseURL: t.url, apiKey: secret, maxRetries: 0, ...extra });

  beforeAll(async () => {
    fake = await startFakeUpstream();
    deadPort = await freePort();
    process.env.TEST_OPENAI_KEY = OPENAI_KEY;
    registerSecret(OPENAI_KEY);
    registerSecret(ANTHROPIC_KEY);
    t = await startTestApp({
      gatewayConfig: {
        providers: {
          openai: { baseurl: fake.url, apikey: 'env:TEST_OPENAI_KEY', models: ['gpt-4.1', 'gpt-4.1-mini', 'text-embedding-3-small', 'shared'], compatibility: { openai_chat: true, openai_responses: true, openai_embeddings: true } },
          anthropic: { baseurl: fake.url, apikey: ANTHROPIC_KEY, authorization: 'x-api-key', models: ['claude-sonnet-9', 'shared'], compatibility: { anthropic_messages: true } },
          local: { baseurl: `${fake.url}/v1`, models: ['llama-3'], compatibility: { openai_chat: true } },
          dead: { baseurl: `http://127.0.0.1:${deadPort}`, apikey: 'x', models: ['gone'], compatibility: { openai_chat: true } },
          slowpoke: { baseurl: fake.url, apikey: 'x', models: ['slow'], timeout_ms: 300, compatibility: { openai_chat: true, anthropic_messages: true } },
        },
        pricing: {
          'openai/gpt-4.1': { input: 2.0, output: 8.0, cached_input: 0.5 },
          'anthropic/claude-sonnet-9': { input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75 },
        },
        aliases: { fast: 'openai/gpt-4.1-mini' },
        grants: [
          { src: ['org:acme'], models: ['anthropic/claude-*', 'local/**', 'dead/*', 'slowpoke/*'] },
          { src: ['*'], models: ['openai/**'] },
          { src: ['team:other/ops', 'user:Zed@Other.test'], models: ['anthropic/claude-*'] },
        ],
      },
    });
    await createOrg(t.app, 'acme');
    await createOrg(t.app, 'other');
    await createUser(t.app, { email: 'ada@acme.test', org: 'acme' });
    acmeToken = await createToken(t.app, { orgSlug: 'acme', userEmail: 'ada@acme.test', name: 'ada-laptop' });
    otherToken = await createToken(t.app, { orgSlug: 'other', name: 'other' });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  describe('OpenAI SDK', () => {
    it('chat completion: forwards with the provider key, records usage and cost exactly', async () => {
      fake.behave({ usage: { input: 1200, output: 340, cached: 200 } });
      const r = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hello' }], user_id: 'end-user-7' } as any).withResponse();
      expect(r.data.choices[0].message.content).toBeTruthy();
      const upstream = fake.requests[0];
      expect(upstream.path).toBe('/v1/chat/completions');
      expect(upstream.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
      expect(JSON.stringify(upstream.headers)).not.toContain(acmeToken.secret);
      expect(upstream.body.model).toBe('gpt-4.1');
      expect(upstream.body.user_id).toBeUndefined();
      const row = await rowFor(r.response.headers.get('x-request-id')!);
      expect(row).toMatchObject({
        provider: 'openai', model: 'gpt-4.1', endpoint: 'chat', stream: false, status: 200, cancelled: false,
        input_tokens: 1200, output_tokens: 340, cached_input_tokens: 200, end_user: 'end-user-7', token_id: acmeToken.id, usage_estimated: false,
      });
      // (1000 × $2 + 200 × $0.5 + 340 × $8) per million = 2000 + 100 + 2720 micro-dollars
      expect(Number(row.cost_micros)).toBe(4820);
      expect(row.client).toMatch(/^openai-sdk-js\//);
      expect(row.latency_ms).toBeGreaterThan(0);
    });

    it('streams without showing the usage chunk Sluice asked for, and records usage', async () => {
      fake.behave({ chunks: 6, usage: { input: 50, output: 6 } });
      const stream = await openai().chat.completions.create({ model: 'openai/gpt-4.1', messages: [{ role: 'user', content: 'stream please' }], stream: true, user: 'openai-user' }).withResponse();
      const chunks: any[] = [];
      for await (const c of stream.data) chunks.push(c);
      expect(fake.requests[0].body.stream_options).toEqual({ include_usage: true });
      expect(chunks.some((c) => c.usage)).toBe(false);
      expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
      const row = await rowFor(stream.response.headers.get('x-request-id')!);
      expect(row).toMatchObject({ stream: true, input_tokens: 50, output_tokens: 6, end_user: 'openai-user', status: 200, usage_estimated: false });
      expect(row.ttft_ms).toBeGreaterThan(0);
      expect(row.ttft_ms).toBeLessThanOrEqual(row.latency_ms);
    });

    it('passes the usage chunk through when the client asked for it', async () => {
      fake.behave({ usage: { input: 9, output: 5 } });
      const stream = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
      let usage: any = null;
      for await (const c of stream) if (c.usage) usage = c.usage;
      expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 5 });
    });

    it('tool calls, plain and streamed', async () => {
      const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
      const plain = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'weather?' }], tools });
      expect(plain.choices[0].message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
      const stream = openai().chat.completions.stream({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true });
      const final = await stream.finalChatCompletion();
      expect(final.choices[0].message.tool_calls?.[0].function.name).toBe('get_weather');
    });

    it('embeddings, legacy completions and the Responses API (plain and streamed)', async () => {
      const e = await openai().embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] }).withResponse();
      expect(e.data.data).toHaveLength(2);
      expect(await rowFor(e.response.headers.get('x-request-id')!)).toMatchObject({ endpoint: 'embeddings', output_tokens: 0, status: 200 });
      const c = await openai().completions.create({ model: 'gpt-4.1', prompt: 'say hi' });
      expect(c.choices[0].text).toBeTruthy();
      fake.behave({ usage: { input: 21, output: 5, reasoning: 2 } });
      const r = await openai().responses.create({ model: 'gpt-4.1', input: 'hi' }).withResponse();
      expect(r.data.output_text).toBeTruthy();
      expect(await rowFor(r.response.headers.get('x-request-id')!)).toMatchObject({ endpoint: 'responses', input_tokens: 21, output_tokens: 5, reasoning_tokens: 2 });
      const rs = await openai().responses.create({ model: 'gpt-4.1', input: 'hi', stream: true }).withResponse();
      const types: string[] = [];
      for await (const ev of rs.data) types.push(ev.type);
      expect(types).toContain('response.completed');
      expect(await rowFor(rs.response.headers.get('x-request-id')!)).toMatchObject({ endpoint: 'responses', stream: true, input_tokens: 21, output_tokens: 5 });
    });

    it('resolves aliases, provider/model ids, base URLs ending in /v1 and keyless local servers', async () => {
      await openai().chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'x' }] });
      expect(fake.requests[0].body.model).toBe('gpt-4.1-mini');
      await openai().chat.completions.create({ model: 'local/llama-3', messages: [{ role: 'user', content: 'x' }] });
      expect(fake.requests[1].path).toBe('/v1/chat/completions');
      expect(fake.requests[1].headers.authorization).toBeUndefined();
      expect(fake.requests[1].headers['x-api-key']).toBeUndefined();
    });
  });

  describe('Anthropic SDK', () => {
    it('messages: forwards with x-api-key, records cache tokens and cost', async () => {
      // The fake's input is the total; it reports Anthropic-style: 100 plain, 1000 read, 50 written.
      fake.behave({ usage: { input: 1150, output: 20, cached: 1000, cacheWrite: 50 } });
      const r = await anthropic().messages.create({ model: 'claude-sonnet-9', max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] }).withResponse();
      expect(r.data.content[0].type).toBe('text');
      const up = fake.requests[0];
      expect(up.headers['x-api-key']).toBe(ANTHROPIC_KEY);
      expect(up.headers.authorization).toBeUndefined();
      expect(up.headers['anthropic-version']).toBeTruthy();
      const row = await rowFor(r.response.headers.get('x-request-id')!);
      // input counts everything: 100 plain + 1000 cache reads + 50 cache writes
      expect(row).toMatchObject({ provider: 'anthropic', endpoint: 'messages', input_tokens: 1150, output_tokens: 20, cached_input_tokens: 1000, cache_write_tokens: 50 });
      // 100 × 3 + 1000 × 0.3 + 50 × 3.75 + 20 × 15 = 300 + 300 + 187.5 + 300 → 1088 (rounded once)
      expect(Number(row.cost_micros)).toBe(1088);
    });

    it('streams messages and tool_use, and counts tokens', async () => {
      fake.behave({ usage: { input: 30, output: 7 } });
      const s = anthropic().messages.stream({ model: 'anthropic/claude-sonnet-9', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
      const msg = await s.finalMessage();
      expect(msg.usage.output_tokens).toBe(7);
      const tool = await anthropic().messages.create({
        model: 'claude-sonnet-9', max_tokens: 50, messages: [{ role: 'user', content: 'search' }], stream: true,
        tools: [{ name: 'web_lookup', input_schema: { type: 'object', properties: {} } }],
      });
      const kinds: string[] = [];
      for await (const ev of tool) if (ev.type === 'content_block_start') kinds.push(ev.content_block.type);
      expect(kinds).toContain('tool_use');
      const count = await anthropic().messages.countTokens({ model: 'claude-sonnet-9', messages: [{ role: 'user', content: 'count me' }] });
      expect(count.input_tokens).toBeGreaterThan(0);
      const all = await rows(`endpoint in ('messages', 'count_tokens')`);
      expect(all.filter((r) => r.endpoint === 'count_tokens')[0]).toMatchObject({ input_tokens: 0, output_tokens: 0, status: 200 });
      expect(all.find((r) => r.stream && r.input_tokens === 30)).toMatchObject({ output_tokens: 7 });
    });

    it('accepts the headers Claude Code sends and reads its session and device', async () => {
      const session = '7f9e2d4c-1b3a-4c5d-8e6f-0a1b2c3d4e5f';
      const metadata = JSON.stringify({ device_id: 'dev-123', account_uuid: 'acct-1', session_id: session });
      for (const auth of [{ 'x-api-key': acmeToken.secret }, { authorization: `Bearer ${acmeToken.secret}` }]) {
        const res = await fetch(`${t.url}/v1/messages?beta=true`, {
          method: 'POST',
          headers: {
            ...auth,
            'content-type': 'application/json',
            'anthropic-version': '2023-06-01',
            'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
            'user-agent': 'claude-cli/2.1.90 (external, cli)',
            'x-app': 'cli',
            'x-claude-code-session-id': session,
          },
          body: JSON.stringify({ model: 'claude-sonnet-9', max_tokens: 64, stream: true, metadata: { user_id: metadata }, system: [{ type: 'text', text: 'You are Claude Code.' }], messages: [{ role: 'user', content: 'hi' }] }),
        });
        expect(res.status).toBe(200);
        await res.text();
        const row = await rowFor(res.headers.get('x-request-id')!);
        expect(row).toMatchObject({ session_id: session, client: 'claude-code/2.1.90', client_device: 'dev-123', end_user: null });
      }
      expect(fake.requests.every((r) => r.headers['anthropic-beta'] === 'claude-code-20250219,interleaved-thinking-2025-05-14')).toBe(true);
    });
  });

  describe('authentication, grants and models', () => {
    it('refuses missing, malformed, unknown, revoked and expired tokens with 401 in each format', async () => {
      await expect(openai('sk-sluice-not-a-real-token').models.list()).rejects.toMatchObject({ status: 401 });
      const none = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(none.status).toBe(401);
      expect(((await none.json()) as any).error).toMatchObject({ type: 'authentication_error' });
      const an = await fetch(`${t.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'nope' }, body: '{}' });
      expect(await an.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: 'invalid API key' } });

      const revoked = await createToken(t.app, { orgSlug: 'acme', name: 'to-revoke' });
      await openai(revoked.secret).models.list();
      await t.app.get(TokensService).revoke('test', revoked.id);
      // Revocation reaches the cache through LISTEN/NOTIFY; allow it a moment.
      let status = 0;
      for (let i = 0; i < 50 && status !== 401; i++) {
        status = (await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${revoked.secret}` } })).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(401);
      const expired = await createToken(t.app, { orgSlug: 'acme', name: 'short', expires: '1s' });
      await new Promise((r) => setTimeout(r, 1100));
      const er = await fetch(`${t.url}/v1/models`, { headers: { authorization: `Bearer ${expired.secret}` } });
      expect(er.status).toBe(401);
      expect(((await er.json()) as any).error.message).toBe('API key has expired');
    });

    it('lists exactly the granted models, narrowed by the token', async () => {
      const acme = (await openai().models.list()).data.map((m) => m.id);
      expect(acme).toEqual(expect.arrayContaining(['openai/gpt-4.1', 'anthropic/claude-sonnet-9', 'local/llama-3', 'fast']));
      const other = (await openai(otherToken.secret).models.list()).data.map((m) => m.id);
      expect(other.sort()).toEqual(['fast', 'openai/gpt-4.1', 'openai/gpt-4.1-mini', 'openai/shared', 'openai/text-embedding-3-small']);
      const narrow = await createToken(t.app, { orgSlug: 'acme', name: 'narrow', modelPatterns: ['anthropic/*'] });
      expect((await openai(narrow.secret).models.list()).data.map((m) => m.id)).toEqual(['anthropic/claude-sonnet-9']);
      await expect(openai(narrow.secret).chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 403 });
      const anthropicList = await fetch(`${t.url}/v1/models`, { headers: { 'x-api-key': narrow.secret, 'anthropic-version': '2023-06-01' } });
      expect(await anthropicList.json()).toMatchObject({ data: [{ type: 'model', id: 'anthropic/claude-sonnet-9' }], has_more: false });
    });

    it('grants by team and user subjects, and records refusals', async () => {
      const ask = (secret: string) =>
        anthropic(secret).messages.create({ model: 'claude-sonnet-9', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).then(() => 200, (e: any) => e);
      const zed = await createToken(t.app, { orgSlug: 'other', userEmail: 'zed@other.test', name: 'zed' });
      expect(await ask(zed.secret)).toBe(200);
      await createUser(t.app, { email: 'yan@other.test', org: 'other' });
      await createTeam(t.app, 'other', 'ops');
      await t.app.get(OrgsService).addTeamMember('test', 'other', 'ops', 'yan@other.test');
      const yan = await createToken(t.app, { orgSlug: 'other', userEmail: 'yan@other.test', name: 'yan' });
      expect(await ask(yan.secret)).toBe(200);
      const teamRow = (await rows(`token_id = $1`, [yan.id]))[0];
      expect(teamRow.team_id).toBeTruthy();
      // A plain member of org "other" only has openai/**: 403 in Anthropic's format, and one row.
      const plain = await createToken(t.app, { orgSlug: 'other', name: 'plain' });
      const denied = await ask(plain.secret);
      expect(denied.status).toBe(403);
      expect(denied.error).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
      const rowsDenied = await rows(`token_id = $1`, [plain.id]);
      expect(rowsDenied).toHaveLength(1);
      expect(rowsDenied[0]).toMatchObject({ status: 403, error_type: 'forbidden', provider: 'anthropic' });
      expect(fake.requests.filter((r) => r.path === '/v1/messages')).toHaveLength(2);
    });

    it('names the choices for an ambiguous model, 404s unknown ones, 400s unsupported routes', async () => {
      const amb = await openai().chat.completions.create({ model: 'shared', messages: [{ role: 'user', content: 'x' }] }).catch((e: any) => e);
      expect(amb.status).toBe(400);
      expect(amb.message).toContain('"anthropic/shared", "openai/shared"');
      const unknown = await openai().chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] }).catch((e: any) => e);
      expect(unknown.status).toBe(404);
      expect(unknown.message).toContain('model "gpt-9" not found');
      const compat = await openai().embeddings.create({ model: 'anthropic/claude-sonnet-9', input: 'x' }).catch((e: any) => e);
      expect(compat.status).toBe(400);
      expect(compat.message).toContain('compatibility.openai_embeddings');
      const noModel = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${acmeToken.secret}`, 'content-type': 'application/json' }, body: '{"messages":[]}' });
      expect(noModel.status).toBe(400);
      expect(((await noModel.json()) as any).error).toMatchObject({ param: 'model', message: '`model` is required' });
    });
  });

  it('a slow reader gets every byte of a large stream and a large answer, in order', async () => {
    // Raw HTTP with the response paused for a while: Sluice's writes back up, it must stop reading
    // from the upstream and go on afterwards without losing or reordering anything.
    const slowRead = (body: object) =>
      new Promise<{ status: number; id: string; text: string }>((resolve, reject) => {
        const req = http.request(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${acmeToken.secret}`, 'content-type': 'application/json' } }, (res) => {
          const parts: Buffer[] = [];
          res.pause();
          setTimeout(() => {
            res.on('data', (c: Buffer) => parts.push(c));
            res.resume();
          }, 400);
          res.on('end', () => resolve({ status: res.statusCode!, id: String(res.headers['x-request-id']), text: Buffer.concat(parts).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], ...body }));
      });
    const n = 60_000;
    fake.next({ chunks: n });
    const stream = await slowRead({ stream: true });
    expect(stream.status).toBe(200);
    const events = stream.text.split('\n\n').filter((e) => e.startsWith('data: {'));
    // The role chunk, n words in order, the finish chunk.
    expect(events).toHaveLength(n + 2);
    const words = events.map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content).filter((w) => w);
    expect(words).toHaveLength(n);
    expect(words.every((w, i) => w.trim() === `w${i}`)).toBe(true);
    expect(stream.text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(await rowFor(stream.id)).toMatchObject({ status: 200, output_tokens: n, cancelled: false });
    // A non-streamed answer over a megabyte is passed on as it arrives rather than held.
    fake.next({ chunks: 300_000 });
    const big = await slowRead({});
    expect(big.text.length).toBeGreaterThan(1024 * 1024);
    expect(JSON.parse(big.text).usage.completion_tokens).toBe(300_000);
    expect(await rowFor(big.id)).toMatchObject({ status: 200, output_tokens: 300_000 });
  });

  describe('upstream failures: each still records exactly one row', () => {
    const post = (model: string, body: object = {}, path = '/v1/chat/completions') =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${acmeToken.secret}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }], max_tokens: 10, ...body }),
      });

    it('connect error → 502, timeout → 504, provider errors pass through', async () => {
      const dead = await post('dead/gone');
      expect(dead.status).toBe(502);
      expect(((await dead.json()) as any).error.message).toContain('provider "dead" is unreachable');
      expect(await rowFor(dead.headers.get('x-request-id')!)).toMatchObject({ status: 502, error_type: 'upstream_unreachable' });

      fake.behave({ mode: 'slow', delayMs: 1000 });
      const slow = await post('slowpoke/slow');
      expect(slow.status).toBe(504);
      expect(await rowFor(slow.headers.get('x-request-id')!)).toMatchObject({ status: 504, error_type: 'upstream_timeout' });

      fake.behave({ mode: 'status', status: 429 });
      const limited = await post('gpt-4.1');
      expect(limited.status).toBe(429);
      expect(((await limited.json()) as any).error).toBeTruthy();
      expect(await rowFor(limited.headers.get('x-request-id')!)).toMatchObject({ status: 429, error_type: 'upstream_429' });
      fake.behave({ mode: 'status', status: 500 });
      const an = await post('claude-sonnet-9', {}, '/v1/messages');
      expect(an.status).toBe(500);
      expect(await an.json()).toMatchObject({ type: 'error' });
    });

    it('mid-stream failures end with a terminal error event the SDKs understand', async () => {
      fake.behave({ mode: 'error_mid_stream' });
      const s = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], stream: true });
      await expect((async () => { for await (const _ of s) void _; })()).rejects.toThrow();

      fake.behave({ mode: 'drop' });
      const dropped = await post('gpt-4.1', { stream: true });
      const text = await dropped.text();
      expect(text).toContain('"code":"upstream_error"');
      expect(await rowFor(dropped.headers.get('x-request-id')!)).toMatchObject({ status: 502, error_type: 'upstream_stream_error', stream: true });

      fake.behave({ mode: 'stall' });
      const stalled = await post('slowpoke/slow', { stream: true }, '/v1/messages');
      const st = await stalled.text();
      expect(st).toContain('event: error');
      const row = await rowFor(stalled.headers.get('x-request-id')!);
      expect(row).toMatchObject({ status: 504, error_type: 'upstream_stream_timeout' });

      fake.behave({ mode: 'no_done' });
      const nd = await post('gpt-4.1', { stream: true });
      await nd.text();
      expect(await rowFor(nd.headers.get('x-request-id')!)).toMatchObject({ status: 200 });

      fake.behave({ mode: 'invalid_json_chunk' });
      const bad = await post('gpt-4.1', { stream: true });
      expect(await bad.text()).toContain('data: [DONE]');
      expect(await rowFor(bad.headers.get('x-request-id')!)).toMatchObject({ status: 200 });
    });

    it('records explicit zero usage as zero and estimates only when usage is missing', async () => {
      fake.behave({ usage: { input: 0, output: 0 } });
      const zero = await post('gpt-4.1');
      await zero.text();
      expect(await rowFor(zero.headers.get('x-request-id')!)).toMatchObject({ input_tokens: 0, output_tokens: 0, usage_estimated: false });
      fake.behave({ mode: 'no_usage', chunks: 8 });
      const none = await post('gpt-4.1', { stream: true });
      await none.text();
      const row = await rowFor(none.headers.get('x-request-id')!);
      expect(row.usage_estimated).toBe(true);
      expect(row.input_tokens).toBeGreaterThan(0);
      expect(row.output_tokens).toBeGreaterThan(0);
    });
  });

  it('100 streams cut by the client leave 100 cancelled rows and closed upstream connections', async () => {
    fake.behave({ chunks: 200, chunkIntervalMs: 10 });
    const before = (await rows(`cancelled`)).length;
    const ids = await Promise.all(
      Array.from({ length: 100 }, (_, i) => cutStream(t.url, acmeToken.secret, { model: 'gpt-4.1', messages: [{ role: 'user', content: `cut ${i}` }] })),
    );
    // Wait for the upstream to see every connection closed.
    for (let i = 0; i < 100 && fake.stats().aborted < 100; i++) await new Promise((r) => setTimeout(r, 50));
    expect(fake.stats().aborted).toBeGreaterThanOrEqual(100);
    let cancelled: Row[] = [];
    for (let i = 0; i < 50; i++) {
      cancelled = await rows(`request_id = any($1)`, [ids]);
      if (cancelled.length === 100) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cancelled).toHaveLength(100);
    for (const r of cancelled) {
      expect(r).toMatchObject({ cancelled: true, status: 499, stream: true });
      expect(r.output_tokens).toBeGreaterThan(0);
    }
    expect((await rows(`cancelled`)).length - before).toBe(100);
  });

  it('pushes back with 503 instead of dropping records when the usage queue is full', async () => {
    const writer = t.app.get(UsageWriter) as unknown as { maxPending: number; depth: number };
    const saved = writer.maxPending;
    writer.maxPending = writer.depth;
    try {
      const r = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] }).catch((e: any) => e);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(fake.requests).toHaveLength(0);
    } finally {
      writer.maxPending = saved;
    }
  });

  it('keeps usage rows across a database outage: the writer retries', async () => {
    await withDatabase(t.db.url, (c) => c.query('alter table request_log rename to request_log_away'));
    const res = await openai().chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'during outage' }] }).withResponse();
    await new Promise((r) => setTimeout(r, 600));
    expect(t.app.get(UsageWriter).stats.failedFlushes).toBeGreaterThan(0);
    await withDatabase(t.db.url, (c) => c.query('alter table request_log_away rename to request_log'));
    await rowFor(res.response.headers.get('x-request-id')!);
  });

  it('stores no token, provider key or Authorization value in any table', async () => {
    await t.app.get(UsageWriter).drain();
    const dump = await dumpDatabase(t.db.url);
    expect(dump).toContain(acmeToken.id);
    for (const secret of [acmeToken.secret, otherToken.secret, OPENAI_KEY, ANTHROPIC_KEY]) expect(dump).not.toContain(secret);
  });
});
