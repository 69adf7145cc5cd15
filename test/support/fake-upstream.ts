import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fake LLM provider on loopback that speaks the OpenAI and Anthropic wire formats closely enough
 * for the official SDKs to parse, and misbehaves on demand. It also serves the benchmark, so the
 * per-request path stays small: no logging, no copies of headers, one write per response when
 * there is no chunk interval.
 */

export type FakeMode =
  | 'ok' // normal answer
  | 'slow' // wait delayMs before sending response headers
  | 'stall' // streams: send 2 chunks then stop sending forever (socket stays open); non-stream: never answer
  | 'invalid_json_chunk' // streams: one chunk whose data: line is not valid JSON, then continue normally
  | 'no_done' // OpenAI streams: omit the final `data: [DONE]` (end the response after the last chunk)
  | 'drop' // streams: destroy the socket after 2 chunks; non-stream: destroy the socket before answering
  | 'error_mid_stream' // streams: after 2 chunks send a provider-shaped error event then end
  | 'no_usage' // omit usage everywhere
  | 'status'; // answer `status` (default 500) with a provider-shaped error JSON body

export interface FakeBehavior {
  mode?: FakeMode;
  status?: number;
  delayMs?: number;
  chunkIntervalMs?: number;
  chunks?: number;
  usage?: { input?: number; output?: number; cached?: number; cacheWrite?: number; reasoning?: number };
  toolCall?: boolean;
  /** Name of the tool to call (default: the first one offered). */
  tool?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

export interface FakeUpstream {
  url: string;
  requests: RecordedRequest[];
  behave(b: FakeBehavior): void;
  next(...b: FakeBehavior[]): void;
  stats(): { connectionsOpened: number; connectionsClosed: number; open: number; aborted: number };
  reset(): void;
  close(): Promise<void>;
}

const MAX_RECORDED = 10_000;
const DEFAULT_CHUNKS = 5;
const DEFAULT_SLOW_MS = 1_000;
/** Content chunks sent before stall / drop / error_mid_stream / invalid_json_chunk kick in. */
const MISBEHAVE_AFTER = 2;
const TOOL_ARGS = '{"q":"x"}';
const TOOL_INPUT = { q: 'x' };
const MARKER = '[[fake:';
const OPENAI_MODELS = ['gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'text-embedding-3-small'];
const ANTHROPIC_MODELS = ['claude-sonnet-4-6', 'claude-opus-4-7', 'claude-haiku-4-5'];

const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

type Family = 'openai' | 'anthropic';

interface Usage {
  input: number;
  output: number;
  cached: number;
  cacheWrite: number;
  reasoning: number;
}

/** What one answer needs, computed once per request. */
interface Ctx {
  body: any;
  model: string;
  id: string;
  created: number;
  /** Text pieces: `w0`, ` w1`, ... so that joining them gives the non-stream text. */
  words: string[];
  /** Set when the answer is a tool call. */
  tool: string | undefined;
  usage: Usage | undefined;
  mode: FakeMode;
  nextSeq(): string;
}

/** An SSE answer split so that a mode can cut it after a few content chunks. */
interface StreamPlan {
  pre: string[];
  content: string[];
  tail: string[];
  error: string;
  bad: string;
}

interface Route {
  stream?: (c: Ctx) => StreamPlan;
  json: (c: Ctx) => unknown;
}

/** Per-response bookkeeping for aborts and cleanup. */
interface ResState {
  timer: NodeJS.Timeout | undefined;
  cancelled: boolean;
  /** We closed the socket on purpose (drop), so the client did not go away. */
  ours: boolean;
}

export async function startFakeUpstream(opts: { recordBodies?: boolean } = {}): Promise<FakeUpstream> {
  const recordBodies = opts.recordBodies !== false;
  const requests: RecordedRequest[] = [];
  const queue: FakeBehavior[] = [];
  const sockets = new Set<Socket>();
  const idPrefix = randomBytes(4).toString('hex');
  let defaultBehavior: FakeBehavior = { mode: 'ok' };
  let seq = 0;
  let opened = 0;
  let closed = 0;
  let aborted = 0;
  let closing = false;

  const nextSeq = () => idPrefix + (++seq).toString(36);

  const server = http.createServer({ noDelay: true }, (req, res) => {
    const st: ResState = { timer: undefined, cancelled: false, ours: false };
    res.on('close', () => {
      st.cancelled = true;
      if (st.timer) clearTimeout(st.timer);
      if (!res.writableFinished && !st.ours && !closing) aborted++;
    });
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (req.method === 'GET' || req.method === 'HEAD') {
      dispatch(req, res, st, path, '', undefined);
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const raw = parts.length === 1 ? parts[0].toString() : Buffer.concat(parts).toString();
      let body: any;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        record(req, path, raw);
        sendError(res, familyOf(path), 400, 'fake upstream: request body is not valid JSON');
        return;
      }
      dispatch(req, res, st, path, raw, body);
    });
  });
  // Gateways keep pooled connections; a short server-side idle timeout would only add reconnect noise.
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    opened++;
    sockets.add(s);
    s.on('close', () => {
      closed++;
      sockets.delete(s);
    });
  });

  function record(req: http.IncomingMessage, path: string, body: any) {
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body: recordBodies ? body : undefined });
    if (requests.length > MAX_RECORDED) requests.shift();
  }

  function dispatch(req: http.IncomingMessage, res: http.ServerResponse, st: ResState, path: string, raw: string, body: any) {
    record(req, path, body);
    const family = familyOf(path);
    const local = path.startsWith('/v1/') ? path.slice(3) : path;
    const route = ROUTES[`${req.method} ${local}`];
    if (!route) {
      if (req.method === 'GET' && (local === '/models' || local.startsWith('/models/'))) {
        sendJson(res, 200, modelsBody(req, local));
        return;
      }
      sendError(res, family, 404, `fake upstream: no route for ${req.method} ${path}`);
      return;
    }
    // Every request consumes one queued behaviour, so a test can script "fail, then succeed" for retries
    // even when some requests also carry a [[fake:…]] override.
    const queued = queue.shift();
    let b: FakeBehavior;
    try {
      b = overrideFrom(raw, body) ?? queued ?? defaultBehavior;
    } catch {
      sendError(res, family, 400, 'fake upstream: [[fake:…]] does not hold a valid JSON behaviour');
      return;
    }
    const mode = b.mode ?? 'ok';
    const delay = b.delayMs ?? (mode === 'slow' ? DEFAULT_SLOW_MS : 0);
    if (delay > 0) st.timer = setTimeout(() => respond(res, st, route, family, body, b, mode), delay);
    else respond(res, st, route, family, body, b, mode);
  }

  function respond(res: http.ServerResponse, st: ResState, route: Route, family: Family, body: any, b: FakeBehavior, mode: FakeMode) {
    st.timer = undefined;
    if (st.cancelled) return;
    if (mode === 'status') {
      sendError(res, family, b.status ?? 500, 'fake upstream: simulated error');
      return;
    }
    const stream = route.stream !== undefined && body?.stream === true;
    if (mode === 'stall' && !stream) return;
    if (mode === 'drop' && !stream) {
      st.ours = true;
      res.destroy();
      return;
    }
    const c = makeCtx(body, b, mode, nextSeq);
    if (!stream) {
      let s = JSON.stringify(route.json(c));
      if (mode === 'invalid_json_chunk') s = s.slice(0, s.length >> 1);
      sendRaw(res, 200, s);
      return;
    }
    sendStream(res, st, route.stream!(c), mode, b.chunkIntervalMs ?? 0);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    behave(b) {
      defaultBehavior = { ...b };
    },
    next(...b) {
      queue.push(...b);
    },
    stats() {
      return { connectionsOpened: opened, connectionsClosed: closed, open: sockets.size, aborted };
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
      defaultBehavior = { mode: 'ok' };
      // Connections still open will close later; counting them as opened keeps open = opened - closed.
      opened = sockets.size;
      closed = 0;
      aborted = 0;
    },
    close() {
      closing = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
    },
  };
}

function familyOf(path: string): Family {
  return path.startsWith('/v1/messages') || path.startsWith('/messages') ? 'anthropic' : 'openai';
}

// ---------------------------------------------------------------------------------------------
// Behaviour and usage

function overrideFrom(raw: string, body: any): FakeBehavior | undefined {
  if (!raw.includes(MARKER)) return undefined;
  const text = lastUserText(body);
  if (!text) return undefined;
  const i = text.indexOf(MARKER);
  if (i === -1) return undefined;
  const j = text.indexOf(']]', i + MARKER.length);
  if (j === -1) return undefined;
  const b = JSON.parse(text.slice(i + MARKER.length, j));
  if (!b || typeof b !== 'object') throw new Error('not an object');
  return b as FakeBehavior;
}

function lastUserText(body: any): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const list = Array.isArray(body.messages) ? body.messages : Array.isArray(body.input) ? body.input : undefined;
  if (list) {
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i];
      if (m && m.role === 'user') return partsText(m.content);
    }
    return undefined;
  }
  if (typeof body.input === 'string') return body.input;
  if (typeof body.prompt === 'string') return body.prompt;
  if (Array.isArray(body.prompt)) return body.prompt.filter((p: unknown) => typeof p === 'string').join('\n');
  return undefined;
}

function partsText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  let out = '';
  for (const p of content) {
    if (p && (p.type === 'text' || p.type === 'input_text') && typeof p.text === 'string') out += p.text;
  }
  return out;
}

/** Characters of prompt text, the basis of the default input token count. */
function textLen(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) n += textLen(x);
    return n;
  }
  if (v && typeof v === 'object') {
    const o = v as { text?: unknown; content?: unknown };
    if (typeof o.text === 'string') return o.text.length;
    if (o.content !== undefined) return textLen(o.content);
  }
  return 0;
}

function hasTools(body: any): boolean {
  if (!Array.isArray(body?.tools) || body.tools.length === 0) return false;
  const tc = body.tool_choice;
  if (tc === 'none' || tc?.type === 'none') return false;
  // After a tool result a real model answers in text; answering with another call would loop agents forever.
  const list = Array.isArray(body.messages) ? body.messages : Array.isArray(body.input) ? body.input : undefined;
  const last = list?.[list.length - 1];
  if (!last) return true;
  if (last.role === 'tool' || last.type === 'function_call_output') return false;
  if (Array.isArray(last.content) && last.content.some((p: any) => p?.type === 'tool_result')) return false;
  return true;
}

function toolName(body: any): string {
  const t = Array.isArray(body?.tools) ? body.tools[0] : undefined;
  return t?.function?.name ?? t?.name ?? 'tool';
}

const wordCache = new Map<number, string[]>();
function wordsFor(n: number): string[] {
  let w = wordCache.get(n);
  if (!w) {
    w = [];
    for (let i = 0; i < n; i++) w.push(i === 0 ? 'w0' : ` w${i}`);
    if (n <= 1_000) wordCache.set(n, w);
  }
  return w;
}

function makeCtx(body: any, b: FakeBehavior, mode: FakeMode, nextSeq: () => string): Ctx {
  const n = Math.max(0, b.chunks ?? DEFAULT_CHUNKS);
  const u = b.usage;
  const chars =
    textLen(body?.messages) + textLen(body?.system) + textLen(body?.prompt) + textLen(body?.input) + textLen(body?.instructions);
  return {
    body: body ?? {},
    model: typeof body?.model === 'string' ? body.model : 'fake-model',
    id: nextSeq(),
    created: Math.floor(Date.now() / 1000),
    words: wordsFor(n),
    tool: (b.toolCall ?? hasTools(body)) ? (b.tool ?? toolName(body)) : undefined,
    usage:
      mode === 'no_usage'
        ? undefined
        : {
            input: u?.input ?? Math.max(1, Math.ceil(chars / 4)),
            output: u?.output ?? n,
            cached: u?.cached ?? 0,
            cacheWrite: u?.cacheWrite ?? 0,
            reasoning: u?.reasoning ?? 0,
          },
    mode,
    nextSeq,
  };
}

/** Argument fragments for a streamed tool call: one per chunk, as far as the string allows. */
function toolFragments(n: number): string[] {
  const k = Math.min(Math.max(1, n), TOOL_ARGS.length);
  const out: string[] = [];
  for (let i = 0; i < k; i++) out.push(TOOL_ARGS.slice(Math.floor((i * TOOL_ARGS.length) / k), Math.floor(((i + 1) * TOOL_ARGS.length) / k)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sending

function sendRaw(res: http.ServerResponse, status: number, s: string) {
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function sendJson(res: http.ServerResponse, status: number, v: unknown) {
  sendRaw(res, status, JSON.stringify(v));
}

function sendError(res: http.ServerResponse, family: Family, status: number, message: string) {
  sendJson(res, status, family === 'anthropic' ? anthropicError(status, message) : openaiError(status, message));
}

function openaiError(status: number, message: string) {
  const [type, code] =
    status === 401
      ? ['invalid_request_error', 'invalid_api_key']
      : status === 404
        ? ['invalid_request_error', 'not_found']
        : status === 429
          ? ['requests', 'rate_limit_exceeded']
          : status >= 500
            ? ['server_error', 'server_error']
            : ['invalid_request_error', null];
  return { error: { message, type, param: null, code } };
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

function anthropicError(status: number, message: string) {
  return { type: 'error', error: { type: ANTHROPIC_ERROR_TYPES[status] ?? 'api_error', message } };
}

function sendStream(res: http.ServerResponse, st: ResState, plan: StreamPlan, mode: FakeMode, intervalMs: number) {
  const cut = Math.min(MISBEHAVE_AFTER, plan.content.length);
  let frames: string[];
  let after: 'end' | 'stall' | 'drop' = 'end';
  switch (mode) {
    case 'stall':
    case 'drop':
      frames = [...plan.pre, ...plan.content.slice(0, cut)];
      after = mode;
      break;
    case 'error_mid_stream':
      frames = [...plan.pre, ...plan.content.slice(0, cut), plan.error];
      break;
    case 'invalid_json_chunk':
      frames = [...plan.pre, ...plan.content.slice(0, cut), plan.bad, ...plan.content.slice(cut), ...plan.tail];
      break;
    default:
      frames = [...plan.pre, ...plan.content, ...plan.tail];
  }
  res.writeHead(200, SSE_HEADERS);
  const finish = (data: string) => {
    if (after === 'end') res.end(data);
    else if (after === 'stall') res.write(data);
    else {
      // Destroy only once the chunks are flushed, so the client sees them before the reset.
      const kill = () => {
        st.ours = true;
        res.destroy();
      };
      if (data) {
        res.write(data, kill);
      } else {
        res.flushHeaders();
        setImmediate(kill);
      }
    }
  };
  if (intervalMs <= 0 || frames.length <= 1) {
    finish(frames.join(''));
    return;
  }
  let i = 0;
  const step = () => {
    st.timer = undefined;
    if (st.cancelled) return;
    if (i === frames.length - 1) {
      finish(frames[i]);
      return;
    }
    res.write(frames[i++]);
    st.timer = setTimeout(step, intervalMs);
  };
  step();
}

const sse = (v: unknown) => `data: ${JSON.stringify(v)}\n\n`;
const event = (type: string, v: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...v })}\n\n`;

// ---------------------------------------------------------------------------------------------
// OpenAI chat completions

function openaiUsage(u: Usage) {
  return {
    prompt_tokens: u.input,
    completion_tokens: u.output,
    total_tokens: u.input + u.output,
    prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

const OPENAI_STREAM_ERROR = sse({
  error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null },
});

function chatJson(c: Ctx) {
  const message = c.tool
    ? {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [{ id: `call_${c.id}`, type: 'function', function: { name: c.tool, arguments: TOOL_ARGS } }],
      }
    : { role: 'assistant', content: c.words.join(''), refusal: null };
  return {
    id: `chatcmpl-${c.id}`,
    object: 'chat.completion',
    created: c.created,
    model: c.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: c.tool ? 'tool_calls' : 'stop' }],
    ...(c.usage ? { usage: openaiUsage(c.usage) } : {}),
    system_fingerprint: null,
  };
}

function chatStream(c: Ctx): StreamPlan {
  const withUsage = c.usage !== undefined && c.body.stream_options?.include_usage === true;
  const id = `chatcmpl-${c.id}`;
  // With include_usage, real chunks carry `usage: null` until the final usage-only chunk.
  const chunk = (delta: unknown, finish: string | null = null) =>
    sse({
      id,
      object: 'chat.completion.chunk',
      created: c.created,
      model: c.model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(withUsage ? { usage: null } : {}),
    });
  const pre: string[] = [];
  let content: string[];
  if (c.tool) {
    pre.push(chunk({ role: 'assistant', content: null, refusal: null }));
    pre.push(chunk({ tool_calls: [{ index: 0, id: `call_${c.id}`, type: 'function', function: { name: c.tool, arguments: '' } }] }));
    content = toolFragments(c.words.length).map((f) => chunk({ tool_calls: [{ index: 0, function: { arguments: f } }] }));
  } else {
    pre.push(chunk({ role: 'assistant', content: '', refusal: null }));
    content = c.words.map((w) => chunk({ content: w }));
  }
  const tail = [chunk({}, c.tool ? 'tool_calls' : 'stop')];
  if (withUsage) {
    tail.push(sse({ id, object: 'chat.completion.chunk', created: c.created, model: c.model, system_fingerprint: null, choices: [], usage: openaiUsage(c.usage!) }));
  }
  if (c.mode !== 'no_done') tail.push('data: [DONE]\n\n');
  return { pre, content, tail, error: OPENAI_STREAM_ERROR, bad: `data: {"id":"${id}","object":"chat.completion.chunk","choices":[{"delta":\n\n` };
}

// ---------------------------------------------------------------------------------------------
// OpenAI legacy completions

function completionJson(c: Ctx) {
  return {
    id: `cmpl-${c.id}`,
    object: 'text_completion',
    created: c.created,
    model: c.model,
    choices: [{ text: c.words.join(''), index: 0, logprobs: null, finish_reason: 'stop' }],
    ...(c.usage ? { usage: openaiUsage(c.usage) } : {}),
  };
}

function completionStream(c: Ctx): StreamPlan {
  const withUsage = c.usage !== undefined && c.body.stream_options?.include_usage === true;
  const id = `cmpl-${c.id}`;
  const chunk = (text: string, finish: string | null = null) =>
    sse({
      id,
      object: 'text_completion',
      created: c.created,
      model: c.model,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(withUsage ? { usage: null } : {}),
    });
  const tail = [chunk('', 'stop')];
  if (withUsage) tail.push(sse({ id, object: 'text_completion', created: c.created, model: c.model, choices: [], usage: openaiUsage(c.usage!) }));
  if (c.mode !== 'no_done') tail.push('data: [DONE]\n\n');
  return { pre: [], content: c.words.map((w) => chunk(w)), tail, error: OPENAI_STREAM_ERROR, bad: `data: {"id":"${id}","object":"text_completion","choices":[{"text":\n\n` };
}

// ---------------------------------------------------------------------------------------------
// OpenAI embeddings

function embeddingsJson(c: Ctx) {
  const input = c.body.input;
  // A token array is one input; an array of strings or of token arrays is several.
  const n = Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input.length : 1;
  const base64 = c.body.encoding_format === 'base64';
  const data = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(8);
    for (let k = 0; k < 8; k++) v[k] = ((i + 1) * (k + 1)) / 64;
    data.push({ object: 'embedding', index: i, embedding: base64 ? Buffer.from(v.buffer).toString('base64') : Array.from(v) });
  }
  return {
    object: 'list',
    data,
    model: c.model,
    ...(c.usage ? { usage: { prompt_tokens: c.usage.input, total_tokens: c.usage.input } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// OpenAI responses

function responsesUsage(u: Usage) {
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  };
}

function responseObject(c: Ctx, status: 'in_progress' | 'completed', output: unknown[]) {
  return {
    id: `resp_${c.id}`,
    object: 'response',
    created_at: c.created,
    status,
    error: null,
    incomplete_details: null,
    instructions: c.body.instructions ?? null,
    model: c.model,
    output,
    parallel_tool_calls: true,
    tool_choice: c.body.tool_choice ?? 'auto',
    tools: c.body.tools ?? [],
    metadata: {},
    ...(status === 'completed' && c.usage ? { usage: responsesUsage(c.usage) } : {}),
  };
}

function responseItem(c: Ctx, status: 'in_progress' | 'completed') {
  const done = status === 'completed';
  if (c.tool) {
    return { type: 'function_call', id: `fc_${c.id}`, call_id: `call_${c.id}`, name: c.tool, arguments: done ? TOOL_ARGS : '', status };
  }
  return {
    type: 'message',
    id: `msg_${c.id}`,
    role: 'assistant',
    status,
    content: done ? [{ type: 'output_text', text: c.words.join(''), annotations: [], logprobs: [] }] : [],
  };
}

function responsesJson(c: Ctx) {
  return responseObject(c, 'completed', [responseItem(c, 'completed')]);
}

function responsesStream(c: Ctx): StreamPlan {
  let n = 0;
  const ev = (type: string, v: Record<string, unknown>) => event(type, { ...v, sequence_number: n++ });
  const itemId = c.tool ? `fc_${c.id}` : `msg_${c.id}`;
  const text = c.words.join('');
  const pre = [
    ev('response.created', { response: responseObject(c, 'in_progress', []) }),
    ev('response.in_progress', { response: responseObject(c, 'in_progress', []) }),
    ev('response.output_item.added', { output_index: 0, item: responseItem(c, 'in_progress') }),
  ];
  let content: string[];
  const tail: string[] = [];
  if (c.tool) {
    content = toolFragments(c.words.length).map((f) => ev('response.function_call_arguments.delta', { item_id: itemId, output_index: 0, delta: f }));
    tail.push(ev('response.function_call_arguments.done', { item_id: itemId, output_index: 0, name: c.tool, arguments: TOOL_ARGS }));
  } else {
    const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
    pre.push(ev('response.content_part.added', { item_id: itemId, output_index: 0, content_index: 0, part }));
    content = c.words.map((w) => ev('response.output_text.delta', { item_id: itemId, output_index: 0, content_index: 0, delta: w, logprobs: [] }));
    tail.push(ev('response.output_text.done', { item_id: itemId, output_index: 0, content_index: 0, text, logprobs: [] }));
    tail.push(ev('response.content_part.done', { item_id: itemId, output_index: 0, content_index: 0, part: { ...part, text } }));
  }
  tail.push(ev('response.output_item.done', { output_index: 0, item: responseItem(c, 'completed') }));
  // The Responses API has no [DONE]; its terminal event is response.completed, so no_done drops that.
  if (c.mode !== 'no_done') tail.push(ev('response.completed', { response: responsesJson(c) }));
  return {
    pre,
    content,
    tail,
    error: event('error', { code: 'server_error', message: 'The server had an error while processing your request.', param: null, sequence_number: 99 }),
    bad: 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n',
  };
}

// ---------------------------------------------------------------------------------------------
// Anthropic messages

function anthropicUsage(u: Usage, outputTokens: number) {
  return {
    // Anthropic reports uncached input only; cache reads and writes are separate counts.
    input_tokens: Math.max(0, u.input - u.cached - u.cacheWrite),
    cache_creation_input_tokens: u.cacheWrite,
    cache_read_input_tokens: u.cached,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheWrite, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function messageObject(c: Ctx, content: unknown[], stopReason: string | null, outputTokens: number) {
  return {
    id: `msg_${c.id}`,
    type: 'message',
    role: 'assistant',
    model: c.model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    ...(c.usage ? { usage: anthropicUsage(c.usage, outputTokens) } : {}),
  };
}

function messagesJson(c: Ctx) {
  const content = c.tool ? [{ type: 'tool_use', id: `toolu_${c.id}`, name: c.tool, input: TOOL_INPUT }] : [{ type: 'text', text: c.words.join('') }];
  return messageObject(c, content, c.tool ? 'tool_use' : 'end_turn', c.usage?.output ?? 0);
}

const ANTHROPIC_STREAM_ERROR = event('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });

function messagesStream(c: Ctx): StreamPlan {
  const block = c.tool ? { type: 'tool_use', id: `toolu_${c.id}`, name: c.tool, input: {} } : { type: 'text', text: '' };
  const pre = [
    event('message_start', { message: messageObject(c, [], null, Math.min(1, c.usage?.output ?? 1)) }),
    event('content_block_start', { index: 0, content_block: block }),
    event('ping', {}),
  ];
  const content = c.tool
    ? toolFragments(c.words.length).map((f) => event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: f } }))
    : c.words.map((w) => event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } }));
  const tail = [
    event('content_block_stop', { index: 0 }),
    event('message_delta', {
      delta: { stop_reason: c.tool ? 'tool_use' : 'end_turn', stop_sequence: null },
      ...(c.usage ? { usage: { output_tokens: c.usage.output } } : {}),
    }),
  ];
  // message_stop is Anthropic's end-of-stream marker, the counterpart of OpenAI's [DONE].
  if (c.mode !== 'no_done') tail.push(event('message_stop', {}));
  return { pre, content, tail, error: ANTHROPIC_STREAM_ERROR, bad: 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n' };
}

function countTokensJson(c: Ctx) {
  // Token counting is not usage, so no_usage does not blank it.
  return { input_tokens: c.usage?.input ?? Math.max(1, Math.ceil((textLen(c.body.messages) + textLen(c.body.system)) / 4)) };
}

// ---------------------------------------------------------------------------------------------
// Models

function modelsBody(req: http.IncomingMessage, local: string) {
  // The Anthropic SDK lists models on the same path; its version header tells the formats apart.
  if (req.headers['anthropic-version'] !== undefined) {
    const data = ANTHROPIC_MODELS.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
    if (local !== '/models') return data.find((m) => m.id === local.slice(8)) ?? data[0];
    return { data, has_more: false, first_id: data[0].id, last_id: data[data.length - 1].id };
  }
  const data = [...OPENAI_MODELS, ...ANTHROPIC_MODELS].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' }));
  if (local !== '/models') return { id: local.slice(8), object: 'model', created: 1_700_000_000, owned_by: 'fake' };
  return { object: 'list', data };
}

const ROUTES: Record<string, Route> = {
  'POST /chat/completions': { json: chatJson, stream: chatStream },
  'POST /completions': { json: completionJson, stream: completionStream },
  'POST /embeddings': { json: embeddingsJson },
  'POST /responses': { json: responsesJson, stream: responsesStream },
  'POST /messages': { json: messagesJson, stream: messagesStream },
  'POST /messages/count_tokens': { json: countTokensJson },
};
