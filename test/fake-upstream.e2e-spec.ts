import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';

// The fake provider is what every gateway spec stands on, so its wire formats are checked against
// the official SDKs and its misbehaviours against raw fetch, where nothing smooths them over.

const TEXT = 'w0 w1 w2 w3 w4';

describe('fake upstream provider', () => {
  let fake: FakeUpstream;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    openai = new OpenAI({ baseURL: fake.url + '/v1', apiKey: 'x', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: fake.url, apiKey: 'x', maxRetries: 0 });
  });
  afterEach(() => fake.reset());
  afterAll(() => fake?.close());

  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(fake.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  const chat = <const T extends object = {}>(extra?: T) => ({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user' as const, content: 'hello world!' }],
    ...(extra as T),
  });
  const msg = <const T extends object = {}>(extra?: T) => ({
    model: 'claude-sonnet-4-6',
    max_tokens: 64,
    messages: [{ role: 'user' as const, content: 'hello world!' }],
    ...(extra as T),
  });
  // Node's fetch types json() as unknown; these checks read arbitrary provider JSON.
  const json = (r: Response): Promise<any> => r.json();
  const dataLines = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6));
  const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
  const anthropicTools = [{ name: 'lookup', input_schema: { type: 'object' as const, properties: { q: { type: 'string' } } } }];

  /** Reads an SSE body until `count` data lines arrived, then reports whether more came within `ms`. */
  async function readThenWait(res: Response, count: number, ms: number) {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    while (dataLines(text).length < count) {
      const r = await reader.read();
      if (r.done) throw new Error('stream ended early');
      text += dec.decode(r.value);
    }
    const more = await Promise.race([reader.read().then(() => 'more' as const), new Promise<'quiet'>((r) => setTimeout(() => r('quiet'), ms))]);
    return { text, more, reader };
  }

  async function waitFor(cond: () => boolean) {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  }

  describe('OpenAI format through the official client', () => {
    it('answers chat completions with text and usage, and records what it was sent', async () => {
      const r = await openai.chat.completions.create(chat());
      expect(r.object).toBe('chat.completion');
      expect(r.model).toBe('gpt-4o-mini');
      expect(r.choices[0].message.content).toBe(TEXT);
      expect(r.choices[0].finish_reason).toBe('stop');
      // 'hello world!' is 12 characters: ceil(12 / 4) = 3.
      expect(r.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } });
      expect(fake.requests[0].headers.authorization).toBe('Bearer x');
    });

    it('streams chat completions, with a usage chunk only when include_usage is asked for', async () => {
      const plain = await openai.chat.completions.create({ ...chat(), stream: true });
      const chunks = [];
      for await (const c of plain) chunks.push(c);
      expect(chunks[0].choices[0].delta).toMatchObject({ role: 'assistant', content: '' });
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(TEXT);
      expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
      expect(chunks.some((c) => c.usage)).toBe(false);

      fake.behave({ chunks: 3, chunkIntervalMs: 5, usage: { cached: 2, reasoning: 1 } });
      const withUsage = await openai.chat.completions.create({ ...chat(), stream: true, stream_options: { include_usage: true } });
      const got = [];
      for await (const c of withUsage) got.push(c);
      const last = got.at(-1)!;
      expect(last.choices).toEqual([]);
      expect(last.usage).toMatchObject({
        prompt_tokens: 3,
        completion_tokens: 3,
        prompt_tokens_details: { cached_tokens: 2 },
        completion_tokens_details: { reasoning_tokens: 1 },
      });
      expect(got.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('w0 w1 w2');
    });

    it('answers with a tool call when the request has tools, streamed or not', async () => {
      const r = await openai.chat.completions.create(chat({ tools }));
      expect(r.choices[0].finish_reason).toBe('tool_calls');
      expect(r.choices[0].message.content).toBeNull();
      expect(r.choices[0].message.tool_calls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }]);

      const s = await openai.chat.completions.stream(chat({ tools })).finalChatCompletion();
      expect(s.choices[0].finish_reason).toBe('tool_calls');
      const call = s.choices[0].message.tool_calls![0];
      expect(call.type === 'function' && call.function).toMatchObject({ name: 'lookup', arguments: '{"q":"x"}' });

      // After a tool result a model answers in text.
      const after = await openai.chat.completions.create({
        model: 'gpt-4o-mini',
        tools,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: 'found' },
        ],
      });
      expect(after.choices[0].message.content).toBe(TEXT);
    });

    it('answers legacy completions, embeddings (base64 and float) and the model list', async () => {
      const c = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'abcdefgh' });
      expect(c.choices[0].text).toBe(TEXT);
      expect(c.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });
      const cs = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'abcdefgh', stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage;
      for await (const ch of cs) {
        text += ch.choices[0]?.text ?? '';
        usage = ch.usage ?? usage;
      }
      expect(text).toBe(TEXT);
      expect(usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 5 });

      const e = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
      expect(e.data).toHaveLength(2);
      expect(e.data[1].embedding).toHaveLength(8);
      expect(e.data[1].embedding[0]).toBeCloseTo(2 / 64);
      expect(e.usage).toEqual({ prompt_tokens: 1, total_tokens: 1 });
      const f = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'one', encoding_format: 'float' });
      expect(f.data).toHaveLength(1);
      expect(f.data[0].embedding[7]).toBeCloseTo(8 / 64);

      const ids = [];
      for await (const m of openai.models.list()) ids.push(m.id);
      expect(ids).toContain('gpt-4o-mini');
    });

    it('answers the Responses API, streamed or not', async () => {
      const r = await openai.responses.create({ model: 'gpt-4.1', input: 'hello world!' });
      expect(r.status).toBe('completed');
      expect(r.output_text).toBe(TEXT);
      expect(r.usage).toMatchObject({ input_tokens: 3, output_tokens: 5, total_tokens: 8, input_tokens_details: { cached_tokens: 0 } });

      const types: string[] = [];
      const stream = openai.responses.stream({ model: 'gpt-4.1', input: [{ role: 'user', content: 'hello world!' }] });
      stream.on('event', (ev) => types.push(ev.type));
      const final = await stream.finalResponse();
      expect(final.output_text).toBe(TEXT);
      expect(final.usage?.output_tokens).toBe(5);
      expect(types[0]).toBe('response.created');
      expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(5);
      expect(types.at(-1)).toBe('response.completed');

      const t = await openai.responses.stream({ model: 'gpt-4.1', input: 'hi', tools: [{ type: 'function', name: 'lookup', parameters: null, strict: false }] }).finalResponse();
      expect(t.output[0]).toMatchObject({ type: 'function_call', name: 'lookup', arguments: '{"q":"x"}' });
    });
  });

  describe('Anthropic format through the official client', () => {
    it('answers messages with text and usage, and records auth headers as received', async () => {
      const m = await anthropic.messages.create(msg());
      expect(m).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', stop_reason: 'end_turn', stop_sequence: null });
      expect(m.content).toEqual([{ type: 'text', text: TEXT }]);
      expect(m.usage).toMatchObject({ input_tokens: 3, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
      expect(fake.requests[0].path).toBe('/v1/messages');
      // This SDK version sends the API key as a bearer token, not x-api-key.
      expect(fake.requests[0].headers.authorization).toBe('Bearer x');
      await fetch(fake.url + '/v1/messages', { method: 'POST', body: JSON.stringify(msg()), headers: { 'x-api-key': 'k2', 'anthropic-version': '2023-06-01' } });
      expect(fake.requests[1].headers['x-api-key']).toBe('k2');
    });

    it('reports cache reads and writes outside input_tokens', async () => {
      fake.behave({ usage: { input: 100, cached: 30, cacheWrite: 10, output: 7 } });
      const m = await anthropic.messages.create(msg());
      expect(m.usage).toMatchObject({ input_tokens: 60, cache_read_input_tokens: 30, cache_creation_input_tokens: 10, output_tokens: 7 });
      const o = await openai.chat.completions.create(chat());
      expect(o.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 30 } });
    });

    it('streams messages, text and tool use', async () => {
      const types: string[] = [];
      const s = anthropic.messages.stream(msg());
      s.on('streamEvent', (ev) => types.push(ev.type));
      const m = await s.finalMessage();
      expect(m.content).toMatchObject([{ type: 'text', text: TEXT }]);
      expect(m.usage).toMatchObject({ input_tokens: 3, output_tokens: 5 });
      expect(types).toEqual([
        'message_start',
        'content_block_start',
        ...Array(5).fill('content_block_delta'),
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);

      const t = await anthropic.messages.stream(msg({ tools: anthropicTools })).finalMessage();
      expect(t.stop_reason).toBe('tool_use');
      expect(t.content[0]).toMatchObject({ type: 'tool_use', name: 'lookup', input: { q: 'x' } });
      const n = await anthropic.messages.create(msg({ tools: anthropicTools }));
      expect(n.content[0]).toMatchObject({ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'lookup', input: { q: 'x' } });
    });

    it('lists models and counts tokens', async () => {
      const models = [];
      for await (const m of anthropic.models.list()) models.push(m.id);
      expect(models).toContain('claude-sonnet-4-6');
      fake.reset();
      const c = await anthropic.messages.countTokens({ model: 'claude-sonnet-4-6', system: 'abcd', messages: [{ role: 'user', content: 'hello world!' }] });
      expect(c).toEqual({ input_tokens: 4 });
      expect(fake.requests[0].path).toBe('/v1/messages/count_tokens');
    });
  });

  describe('misbehaviour on demand (raw fetch)', () => {
    it('slow: holds the response headers back for delayMs', async () => {
      fake.behave({ mode: 'slow', delayMs: 400 });
      const pending = post('/v1/chat/completions', chat());
      const first = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 100))]);
      expect(first).toBe('waiting');
      expect((await json(await pending)).choices[0].message.content).toBe(TEXT);
    });

    it('stall: streams two chunks then goes quiet; a non-stream request never answers; both count as aborted', async () => {
      fake.behave({ mode: 'stall' });
      const ac = new AbortController();
      const res = await post('/v1/chat/completions', chat({ stream: true }), ac.signal);
      // Role chunk plus two content chunks.
      const { text, more } = await readThenWait(res, 3, 200);
      expect(more).toBe('quiet');
      expect(dataLines(text).map((d) => JSON.parse(d).choices[0].delta.content)).toEqual(['', 'w0', ' w1']);
      ac.abort();
      await waitFor(() => fake.stats().aborted === 1);

      await expect(post('/v1/messages', msg(), AbortSignal.timeout(150))).rejects.toThrow(/aborted/i);
      await waitFor(() => fake.stats().aborted === 2);
    });

    it('drop: resets the connection after two chunks, or before answering', async () => {
      fake.behave({ mode: 'drop' });
      const res = await post('/v1/messages', msg({ stream: true }));
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let seen = '';
      const failure = await (async () => {
        for (;;) {
          const r = await reader.read();
          if (r.done) return undefined;
          seen += new TextDecoder().decode(r.value);
        }
      })().catch((e: unknown) => e);
      // undici reports a reset mid-body as "terminated" (its TypeError comes from another realm under jest).
      expect((failure as Error | undefined)?.message).toMatch(/terminated/);
      expect(seen.match(/event: content_block_delta/g)).toHaveLength(2);
      expect(seen).not.toContain('message_stop');
      await expect(post('/v1/chat/completions', chat())).rejects.toThrow(/fetch failed/);
      expect(fake.stats().aborted).toBe(0);
    });

    it('error_mid_stream: sends a provider-shaped error event after two chunks', async () => {
      fake.behave({ mode: 'error_mid_stream' });
      const o = await (await post('/v1/chat/completions', chat({ stream: true }))).text();
      const lines = dataLines(o);
      expect(lines).toHaveLength(4);
      expect(JSON.parse(lines[3])).toEqual({ error: expect.objectContaining({ type: 'server_error', param: null }) });
      expect(o).not.toContain('[DONE]');

      const a = await (await post('/v1/messages', msg({ stream: true }))).text();
      expect(a).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"[^"]+"\}\}\n\n$/);
      expect(a).not.toContain('message_stop');

      // The SDK surfaces it as an APIError.
      fake.behave({ mode: 'error_mid_stream' });
      await expect(anthropic.messages.stream(msg()).finalMessage()).rejects.toThrow(/Overloaded/);
    });

    it('no_done: the OpenAI stream ends without [DONE]', async () => {
      fake.behave({ mode: 'no_done' });
      const o = await (await post('/v1/chat/completions', chat({ stream: true }))).text();
      expect(o).not.toContain('[DONE]');
      expect(JSON.parse(dataLines(o).at(-1)!).choices[0].finish_reason).toBe('stop');
    });

    it('invalid_json_chunk: exactly one data line does not parse and the stream still completes', async () => {
      fake.behave({ mode: 'invalid_json_chunk' });
      const o = await (await post('/v1/chat/completions', chat({ stream: true }))).text();
      const lines = dataLines(o).filter((l) => l !== '[DONE]');
      const bad = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      expect(bad).toHaveLength(1);
      const good = lines.filter((l) => !bad.includes(l)).map((l) => JSON.parse(l));
      expect(good.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(TEXT);
      expect(o.endsWith('data: [DONE]\n\n')).toBe(true);
    });

    it('no_usage: no usage in bodies or chunks', async () => {
      fake.behave({ mode: 'no_usage' });
      expect(await json(await post('/v1/chat/completions', chat()))).not.toHaveProperty('usage');
      const s = await (await post('/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }))).text();
      expect(s).not.toContain('usage');
      expect(s).toContain('[DONE]');
      expect(await json(await post('/v1/messages', msg()))).not.toHaveProperty('usage');
      const a = await (await post('/v1/messages', msg({ stream: true }))).text();
      expect(a).not.toContain('usage');
      expect(a).toContain('message_stop');
    });

    it('status: provider-shaped error bodies', async () => {
      fake.behave({ mode: 'status' });
      const o = await post('/v1/chat/completions', chat());
      expect(o.status).toBe(500);
      expect(await json(o)).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: 'server_error' } });
      const a = await post('/v1/messages', msg());
      expect(a.status).toBe(500);
      expect(await json(a)).toEqual({ type: 'error', error: { type: 'api_error', message: expect.any(String) } });

      fake.behave({ mode: 'status', status: 429 });
      const o429 = await post('/v1/embeddings', { model: 'e', input: 'x' });
      expect(o429.status).toBe(429);
      expect((await json(o429)).error).toMatchObject({ code: 'rate_limit_exceeded', param: null });
      const a429 = await post('/v1/messages', msg());
      expect(a429.status).toBe(429);
      expect((await json(a429)).error.type).toBe('rate_limit_error');
      await expect(openai.chat.completions.create(chat())).rejects.toMatchObject({ status: 429 });
    });
  });

  describe('choosing behaviour', () => {
    it('[[fake:…]] in the last user message wins, in string or block content', async () => {
      fake.behave({ chunks: 2 });
      const o = await post('/v1/chat/completions', {
        model: 'm',
        messages: [
          { role: 'user', content: '[[fake:{"mode":"status"}]] (not the last user message)' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: 'please [[fake:{"mode":"status","status":429}]]' },
        ],
      });
      expect(o.status).toBe(429);
      const a = await post('/v1/messages', msg({ messages: [{ role: 'user', content: [{ type: 'text', text: '[[fake:{"mode":"status","status":503}]]' }] }] }));
      expect(a.status).toBe(503);
      expect((await json(a)).type).toBe('error');
      const plain = await json(await post('/v1/chat/completions', chat()));
      expect(plain.choices[0].message.content).toBe('w0 w1');
      const bad = await post('/v1/chat/completions', chat({ messages: [{ role: 'user', content: '[[fake:{mode}]]' }] }));
      expect(bad.status).toBe(400);
    });

    it('next() queues one-shot behaviours ahead of the default, one per request', async () => {
      fake.behave({ chunks: 1 });
      fake.next({ mode: 'status', status: 502 }, { chunks: 2 });
      expect((await post('/v1/chat/completions', chat())).status).toBe(502);
      expect((await json(await post('/v1/chat/completions', chat()))).choices[0].message.content).toBe('w0 w1');
      expect((await json(await post('/v1/chat/completions', chat()))).choices[0].message.content).toBe('w0');
    });

    it('toolCall forces or suppresses a tool call', async () => {
      fake.next({ toolCall: true }, { toolCall: false });
      expect((await anthropic.messages.create(msg())).content[0].type).toBe('tool_use');
      expect((await anthropic.messages.create(msg({ tools: anthropicTools }))).content[0].type).toBe('text');
    });

    it('counts connections and resets everything', async () => {
      await post('/v1/chat/completions', chat()).then((r) => r.text());
      const s = fake.stats();
      expect(s.connectionsOpened).toBeGreaterThanOrEqual(1);
      expect(s.open).toBe(s.connectionsOpened - s.connectionsClosed);
      fake.behave({ mode: 'status' });
      fake.next({ mode: 'stall' });
      fake.reset();
      expect(fake.requests).toHaveLength(0);
      expect(fake.stats()).toMatchObject({ aborted: 0, connectionsClosed: 0 });
      expect((await post('/v1/chat/completions', chat())).status).toBe(200);
    });

    it('does not record bodies when asked not to', async () => {
      const quiet = await startFakeUpstream({ recordBodies: false });
      try {
        const r = await fetch(quiet.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat()), headers: { authorization: 'Bearer k' } });
        expect(r.status).toBe(200);
        expect(quiet.requests[0]).toMatchObject({ path: '/v1/chat/completions', body: undefined });
        expect(quiet.requests[0].headers.authorization).toBe('Bearer k');
      } finally {
        await quiet.close();
      }
    });
  });
});
