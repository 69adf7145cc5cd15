import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { normalizeError } from '../common/error-response';
import { DomainError, ErrorCode, invalid } from '../common/errors';
import { VERSION } from '../common/paths';
import { uuidv7 } from '../common/uuid';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { BudgetEnforcer, BudgetHold } from '../budgets/budget-enforcer.service';
import { costMicros, Usage } from '../providers/pricing';
import { Capability, ModelRef, ProviderRegistry } from '../providers/provider-registry.service';
import type { Principal } from '../tokens/principal';
import { PrincipalCacheService } from '../tokens/principal-cache.service';
import { UsageRecord } from '../usage/usage-record';
import { UsageWriter } from '../usage/usage-writer.service';
import { MetricsService } from '../metrics/metrics.service';
import { attribute, Attribution } from './attribution';
import { parseSseEvent, SseSplitter } from './sse';
import { Endpoint, ReportedUsage, StreamTap, ToolCallSeen, usageFromBody } from './usage-tap';
import { toolCalls, ToolEvent, toolsFromRequest } from './tools';
import { callUpstream, UpstreamResponse } from './upstream-call';
import { CapturePolicy } from '../logs/capture-policy';
import { isSecretHeader } from '../config/header-secrets';
import { RequestCapture } from '../logs/capture';
import type { IncomingHttpHeaders } from 'node:http';

const CAPABILITY: Record<Endpoint, Capability> = {
  chat: 'openai_chat',
  completions: 'openai_completions',
  responses: 'openai_responses',
  embeddings: 'openai_embeddings',
  messages: 'anthropic_messages',
  count_tokens: 'anthropic_messages',
};

const ROUTE: Record<Endpoint, string> = {
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  responses: '/v1/responses',
  embeddings: '/v1/embeddings',
  messages: '/v1/messages',
  count_tokens: '/v1/messages/count_tokens',
};

/** Keep at most this much of a non-streamed answer for reading its usage. */
const MAX_PARSE_BYTES = 16 * 1024 * 1024;
const MAX_ERROR_BODY = 1024 * 1024;
const EMPTY_CHOICES = Buffer.from('"choices":[]');
/** Non-streamed answers up to this size go out in one write. */
const HOLD_BYTES = 1024 * 1024;

/** Client headers worth passing upstream; everything else (credentials above all) stays here. */
const FORWARD_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta', 'accept'];

type Json = Record<string, any>;

interface Flight {
  start: bigint;
  /** The usage row's id, made up front: budget reservations are keyed by it, never by a
   * caller-supplied request id (two requests could share one). */
  id: string;
  requestId: string;
  principal: Principal;
  endpoint: Endpoint;
  attribution: Attribution;
  ref: ModelRef | null;
  stream: boolean;
  body: Json | null;
  ttftMs: number | null;
  recorded: boolean;
  hold: BudgetHold | null;
  /** Tools offered and results carried by the request. */
  requestTools: ToolEvent[];
  headers: IncomingHttpHeaders;
  /** Request capture (logs); undefined until decided, null when off. */
  capture?: RequestCapture | null;
}

const elapsedMs = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const ceilDiv4 = (n: number) => Math.ceil(n / 4);

/** The hot path: authenticate, resolve, authorise, forward, stream back, record exactly once. */
@Injectable()
export class ProxyService {
  constructor(
    private readonly principals: PrincipalCacheService,
    private readonly registry: ProviderRegistry,
    private readonly writer: UsageWriter,
    private readonly budgets: BudgetEnforcer,
    private readonly metrics: MetricsService,
    private readonly capturePolicy: CapturePolicy,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async authenticate(req: Request): Promise<Principal> {
    const secret = bearer(req);
    if (!secret) throw new DomainError(ErrorCode.Unauthenticated, 'missing API key: send it as `Authorization: Bearer <token>` or `x-api-key: <token>`');
    const r = await this.principals.authenticate(secret);
    if (!r.ok) {
      const why = { malformed: 'invalid API key', unknown: 'invalid API key', revoked: 'API key has been revoked', expired: 'API key has expired', disabled: 'the service account that owns this API key is disabled' }[r.reason];
      throw new DomainError(ErrorCode.Unauthenticated, why);
    }
    if (!r.principal.scopes.includes('proxy')) throw new DomainError(ErrorCode.Forbidden, 'this API key is not allowed to call models (it lacks the proxy scope)');
    return r.principal;
  }

  /** GET /v1/models: exactly what the caller may use, in OpenAI's list format (Anthropic's when asked). */
  async listModels(req: Request, res: Response): Promise<void> {
    const principal = await this.authenticate(req);
    const models = this.registry.listAllowed(principal);
    if (req.headers['anthropic-version']) {
      res.json({
        data: models.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: '1970-01-01T00:00:00Z' })),
        has_more: false,
        first_id: models[0]?.id ?? null,
        last_id: models[models.length - 1]?.id ?? null,
      });
      return;
    }
    res.json({ object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider })) });
  }

  async handle(endpoint: Endpoint, req: Request, res: Response): Promise<void> {
    const start = process.hrtime.bigint();
    const principal = await this.authenticate(req);
    const body = req.body as Json | undefined;
    const f: Flight = {
      start,
      id: uuidv7(),
      requestId: (req as Request & { id?: string }).id ?? uuidv7(),
      principal,
      endpoint,
      attribution: attribute(req.headers, body && typeof body === 'object' ? body : {}),
      ref: null,
      stream: false,
      body: null,
      ttftMs: null,
      recorded: false,
      hold: null,
      requestTools: [],
      headers: req.headers,
    };
    let upstreamBody: Json;
    let hideUsageChunk = false;
    try {
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object (Content-Type: application/json)');
      if (typeof body.model !== 'string' || !body.model) throw invalid('`model` is required', 'model');
      f.body = body;
      f.requestTools = toolsFromRequest(body);
      f.stream = body.stream === true && endpoint !== 'embeddings' && endpoint !== 'count_tokens';
      const ref = this.registry.resolve(body.model);
      f.ref = ref;
      if (!this.registry.isAllowed(principal, ref.id)) {
        throw new DomainError(ErrorCode.Forbidden, `this API key is not granted model "${ref.id}"`, { param: 'model' });
      }
      const cap = CAPABILITY[endpoint];
      const compat = ref.provider.compat;
      const supported = cap === 'openai_completions' ? (compat.openai_completions ?? compat.openai_chat) : compat[cap];
      if (!supported) {
        throw invalid(`provider "${ref.provider.name}" does not accept ${ROUTE[endpoint]} requests (compatibility.${cap} is not enabled)`, 'model');
      }
      ({ upstreamBody, hideUsageChunk } = this.upstreamBody(endpoint, body, ref, f.stream));
    } catch (e) {
      this.recordFailure(f, e);
      throw e;
    }
    if (!this.writer.admit()) {
      throw new DomainError(ErrorCode.Overloaded, 'Sluice is busy writing usage records; retry shortly', { retryAfterSeconds: 1 });
    }
    try {
      const ref = f.ref!;
      const { hold, headers } = await this.budgets.reserve(principal, f.attribution.endUser, f.id, {
        inputTokens: estimateInputTokens(body),
        outputTokens: endpoint === 'embeddings' || endpoint === 'count_tokens' ? 0 : outputCap(body, this.rt.env.BUDGET_OUTPUT_CAP),
        pricing: this.registry.pricing(ref.id),
      });
      f.hold = hold;
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    } catch (e) {
      this.recordFailure(f, e);
      throw e;
    }
    await this.forward(f, req, res, upstreamBody, hideUsageChunk);
  }

  private upstreamBody(endpoint: Endpoint, body: Json, ref: ModelRef, stream: boolean): { upstreamBody: Json; hideUsageChunk: boolean } {
    const out: Json = { ...body, model: ref.model };
    // Aqueduct's attribution parameter is ours, not the provider's.
    delete out.user_id;
    let hideUsageChunk = false;
    if (stream && (endpoint === 'chat' || endpoint === 'completions') && out.stream_options?.include_usage !== true) {
      out.stream_options = { ...(out.stream_options ?? {}), include_usage: true };
      hideUsageChunk = true;
    }
    return { upstreamBody: out, hideUsageChunk };
  }

  private upstreamHeaders(req: Request, ref: ModelRef): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `sluice/${VERSION}` };
    for (const name of FORWARD_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') h[name] = v;
    }
    if (ref.provider.compat.anthropic_messages && !h['anthropic-version'] && req.path.startsWith('/v1/messages')) h['anthropic-version'] = '2023-06-01';
    Object.assign(h, ref.provider.extraHeaders);
    if (ref.provider.authHeader) h[ref.provider.authHeader[0]] = ref.provider.authHeader[1];
    return h;
  }

  private async forward(f: Flight, req: Request, res: Response, upstreamBody: Json, hideUsageChunk: boolean): Promise<void> {
    const ref = f.ref!;
    // A client that left while its budget was being reserved is not worth a paid upstream call.
    if (res.destroyed) {
      this.finish(f, { status: 499, errorType: 'client_cancelled', cancelled: true, usage: null, outputChars: 0, noEstimate: true });
      return;
    }
    const payload = JSON.stringify(upstreamBody);
    const cap = this.captureOf(f);
    if (cap) cap.requestBody = payload;
    const call = callUpstream(ref.provider.pool, {
      method: 'POST',
      path: ref.provider.basePath + req.path,
      headers: this.upstreamHeaders(req, ref),
      body: payload,
      headersTimeout: ref.provider.headersTimeoutMs,
      bodyTimeout: ref.provider.bodyTimeoutMs,
    });
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        call.abort(Object.assign(new Error('the client closed the connection'), { code: 'UND_ERR_ABORTED' }));
      }
    });
    let up: UpstreamResponse;
    try {
      up = await call.response;
    } catch (e) {
      if (clientGone) {
        this.finish(f, { status: 499, errorType: 'client_cancelled', cancelled: true, usage: null, outputChars: 0 });
        return;
      }
      const err = upstreamError(e, ref.provider.name);
      this.finish(f, { status: err.status, errorType: err.code, cancelled: false, usage: null, outputChars: 0, noEstimate: true });
      throw err;
    }

    const contentType = String(up.headers['content-type'] ?? '');
    const upstreamId = up.headers['x-request-id'] ?? up.headers['request-id'];
    if (typeof upstreamId === 'string') res.setHeader('x-upstream-request-id', upstreamId);

    if (up.statusCode >= 400) {
      // The provider's own error, passed through with its status and body.
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        await up.body.each((c) => {
          if (size < MAX_ERROR_BODY) chunks.push(c);
          size += c.length;
          return null;
        });
      } catch {
        /* a partial error body is still worth showing */
      }
      if (cap) {
        cap.responseStatus = up.statusCode;
        cap.responseHeaders = up.headers;
        cap.bodyChunks = chunks;
        cap.bodyBytes = size;
      }
      if (!clientGone) {
        res.status(up.statusCode);
        if (contentType) res.setHeader('content-type', contentType);
        const retryAfter = up.headers['retry-after'];
        if (typeof retryAfter === 'string') res.setHeader('retry-after', retryAfter);
        res.end(Buffer.concat(chunks));
      }
      this.finish(f, { status: up.statusCode, errorType: `upstream_${up.statusCode}`, cancelled: clientGone, usage: null, outputChars: 0, noEstimate: true });
      return;
    }

    if (contentType.includes('text/event-stream')) await this.pipeStream(f, res, up, hideUsageChunk, () => clientGone);
    else await this.pipeBody(f, res, up, contentType, () => clientGone);
  }

  private async pipeStream(f: Flight, res: Response, up: UpstreamResponse, hideUsageChunk: boolean, gone: () => boolean): Promise<void> {
    res.status(up.statusCode);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('x-accel-buffering', 'no');
    // No flushHeaders(): the head goes out with the first event in one write, one packet.
    const splitter = new SseSplitter();
    const tap = new StreamTap(f.endpoint, hideUsageChunk);
    const cap = f.capture;
    if (cap) {
      cap.streamed = true;
      cap.responseStatus = up.statusCode;
      cap.responseHeaders = up.headers;
      const re = cap.reassembler;
      if (re) tap.sink = (j) => re.onEvent(j);
    }
    let failure: unknown = null;
    // Events already written wait here to be read by the tap. Node corks the socket on a response
    // write and uncorks it on the next tick, so reading them in this callback would hold the bytes
    // back; a tick queued after the write runs after the uncork, when they are on the wire.
    let unread: Buffer[] = [];
    let readQueued = false;
    const readWritten = () => {
      readQueued = false;
      const list = unread;
      unread = [];
      for (const raw of list) {
        const { content } = tap.onEvent(parseSseEvent(raw));
        if (content && f.ttftMs === null) f.ttftMs = elapsedMs(f.start);
      }
    };
    try {
      // Each chunk is split, tapped and written in the socket's own callback, without a promise
      // hop per chunk (it shows in time to first token).
      await up.body.each((chunk) => {
        if (cap) cap.onStreamChunk(chunk);
        let out: Buffer[] | null = null;
        for (const raw of splitter.pushRaw(chunk)) {
          // Only the usage chunk Sluice asked for on the client's behalf may be held back, and it is
          // the one with an empty choices list: every other event is written before it is read.
          if (hideUsageChunk && raw.includes(EMPTY_CHOICES)) {
            readWritten(); // the tap sees events in order
            const { forward } = tap.onEvent(parseSseEvent(raw));
            if (forward) (out ??= []).push(raw);
          } else {
            (out ??= []).push(raw);
            unread.push(raw);
          }
        }
        const wait = out && !gone() ? (res.write(out.length === 1 ? out[0] : Buffer.concat(out)) ? null : drainOrClose(res)) : null;
        if (unread.length && !readQueued) {
          readQueued = true;
          process.nextTick(readWritten);
        }
        return wait;
      });
      const rest = splitter.rest();
      if (rest && !gone()) res.write(rest);
    } catch (e) {
      failure = e;
    }
    readWritten();
    if (gone()) {
      this.finish(f, { status: 499, errorType: 'client_cancelled', cancelled: true, usage: tap.usage, usageFinal: tap.usageFinal, outputChars: tap.outputChars, tools: tap.tools });
      return;
    }
    if (failure) {
      const err = upstreamError(failure, f.ref!.provider.name, true);
      res.end(terminalErrorEvent(f.endpoint, err.message));
      this.finish(f, { status: err.status, errorType: err.code === ErrorCode.UpstreamTimeout ? 'upstream_stream_timeout' : 'upstream_stream_error', cancelled: false, usage: tap.usage, usageFinal: tap.usageFinal, outputChars: tap.outputChars, tools: tap.tools });
      return;
    }
    res.end();
    const errorType = tap.errorEvent ? 'upstream_error_event' : null;
    this.finish(f, { status: errorType ? 502 : up.statusCode, errorType, cancelled: false, usage: tap.usage, usageFinal: tap.usageFinal, outputChars: tap.outputChars, noEstimate: !!tap.usage, tools: tap.tools });
  }

  private async pipeBody(f: Flight, res: Response, up: UpstreamResponse, contentType: string, gone: () => boolean): Promise<void> {
    res.status(up.statusCode);
    if (contentType) res.setHeader('content-type', contentType);
    const len = up.headers['content-length'];
    if (typeof len === 'string') res.setHeader('content-length', len);
    const kept: Buffer[] = [];
    let size = 0;
    let failure: unknown = null;
    // A non-streamed answer is held until it is complete (up to HOLD_BYTES) and sent with one
    // write: head and body in one syscall and one packet. A larger one is passed on as it arrives.
    let held = 0;
    let passing = false;
    try {
      await up.body.each((chunk) => {
        if (f.ttftMs === null) f.ttftMs = elapsedMs(f.start);
        size += chunk.length;
        if (size <= MAX_PARSE_BYTES) kept.push(chunk);
        if (!passing && size > HOLD_BYTES) {
          passing = true;
          if (!gone()) for (const k of kept.slice(0, held)) res.write(k);
        }
        if (!passing) {
          held++;
          return null;
        }
        return !gone() && !res.write(chunk) ? drainOrClose(res) : null;
      });
    } catch (e) {
      failure = e;
    }
    if (gone()) {
      this.finish(f, { status: 499, errorType: 'client_cancelled', cancelled: true, usage: null, outputChars: 0 });
      return;
    }
    if (failure) {
      // Headers (and maybe part of the body) are out; all we can do is cut the connection.
      res.destroy();
      const err = upstreamError(failure, f.ref!.provider.name, true);
      this.finish(f, { status: err.status, errorType: 'upstream_body_error', cancelled: false, usage: null, outputChars: 0 });
      return;
    }
    res.end(passing ? undefined : held === 1 ? kept[0] : Buffer.concat(kept.slice(0, held)));
    if (f.capture) {
      f.capture.responseStatus = up.statusCode;
      f.capture.responseHeaders = up.headers;
      f.capture.bodyChunks = kept;
      f.capture.bodyBytes = size;
    }
    let usage: ReportedUsage | null = null;
    let outputChars = 0;
    let tools: ToolCallSeen[] = [];
    if (size <= MAX_PARSE_BYTES) {
      try {
        const parsed = usageFromBody(f.endpoint, JSON.parse(Buffer.concat(kept).toString('utf8')));
        usage = parsed.usage;
        outputChars = parsed.outputChars;
        tools = parsed.tools;
      } catch {
        /* not JSON: no usage to read */
      }
    }
    this.finish(f, { status: up.statusCode, errorType: null, cancelled: false, usage, usageFinal: !!usage, outputChars, noEstimate: !!usage, tools });
  }

  /** Requests refused before forwarding still leave one row (except unauthenticated ones). */
  private recordFailure(f: Flight, e: unknown): void {
    const n = normalizeError(e);
    this.finish(f, { status: n.status, errorType: n.code, cancelled: false, usage: null, outputChars: 0, noEstimate: true });
  }

  private finish(
    f: Flight,
    o: { status: number; errorType: string | null; cancelled: boolean; usage: ReportedUsage | null; usageFinal?: boolean; outputChars: number; noEstimate?: boolean; tools?: ToolCallSeen[] },
  ): void {
    if (f.recorded) return;
    f.recorded = true;
    const usage = this.settleUsage(f, o);
    const ref = f.ref;
    const cost = ref ? costMicros(usage.usage, this.registry.pricing(ref.id)) : 0;
    const rec: UsageRecord = {
      id: f.id,
      createdAt: new Date(),
      requestId: f.requestId,
      orgId: f.principal.orgId,
      teamId: f.principal.teamId,
      tokenId: f.principal.tokenId,
      ownerUserId: f.principal.ownerUserId,
      serviceAccountId: f.principal.serviceAccountId,
      endUser: f.attribution.endUser,
      sessionId: f.attribution.sessionId,
      client: f.attribution.client,
      clientDevice: f.attribution.deviceId,
      tags: f.attribution.tags,
      provider: ref?.provider.name ?? null,
      model: ref?.model ?? (typeof f.body?.model === 'string' ? f.body.model.slice(0, 200) : null),
      endpoint: f.endpoint,
      stream: f.stream,
      status: o.status,
      errorType: o.errorType,
      cancelled: o.cancelled,
      latencyMs: elapsedMs(f.start),
      ttftMs: f.ttftMs,
      ...usage.usage,
      costMicros: cost,
      usageEstimated: usage.estimated,
      toolsOffered: f.requestTools.some((t) => t.event === 'offered') ? f.requestTools.filter((t) => t.event === 'offered').map((t) => t.name) : null,
      toolEvents: [...f.requestTools.filter((t) => t.event === 'result'), ...(o.tools?.length ? toolCalls(o.tools, f.requestTools) : [])],
    };
    const cap = this.captureOf(f);
    if (cap) {
      cap.providerKeys = this.providerKeys();
      cap.seal(this.rt.env.CAPTURE_BUFFER_MAX);
      rec.capture = cap;
    }
    // A request counts against request budgets when it was served, even if cut short by the client.
    if (f.hold) rec.settlements = this.budgets.settlements(f.hold, usage.usage, cost, o.status < 400 || o.cancelled);
    this.writer.record(rec);
    this.metrics.observe(rec);
  }

  /** The request's capture, decided once (by caller and model) the first time it is asked for. */
  private captureOf(f: Flight): RequestCapture | null {
    if (f.capture !== undefined) return f.capture;
    const s = this.capturePolicy.decide(f.principal, f.ref?.id ?? null);
    f.capture = s ? new RequestCapture(s, f.headers, f.body ?? undefined, f.endpoint) : null;
    return f.capture;
  }

  private keysFor = -1;
  private keys: string[] = [];
  /** Provider keys of the active config, redacted from captures wherever they appear. */
  private providerKeys(): string[] {
    if (this.keysFor !== this.registry.version) {
      const set = new Set<string>();
      for (const m of this.registry.catalog()) {
        const v = m.provider.authHeader?.[1];
        if (v) set.add(v.replace(/^Bearer\s+/i, ''));
        for (const [h, x] of Object.entries(m.provider.extraHeaders)) if (isSecretHeader(h) && x) set.add(x.replace(/^Bearer\s+/i, ''));
      }
      this.keys = [...set];
      this.keysFor = this.registry.version;
    }
    return this.keys;
  }

  /**
   * What the provider reported wins, zeros included. A stream cut short (by the client or the
   * upstream) or an answer without usage is estimated: input from the request's size, output from
   * what was delivered, at about four characters a token.
   */
  private settleUsage(
    f: Flight,
    o: { usage: ReportedUsage | null; usageFinal?: boolean; outputChars: number; noEstimate?: boolean; status: number },
  ): { usage: Usage; estimated: boolean } {
    const r = o.usage;
    const base: Usage = {
      inputTokens: r?.inputTokens ?? 0,
      outputTokens: r?.outputTokens ?? 0,
      cachedInputTokens: r?.cachedInputTokens ?? 0,
      cacheWriteTokens: r?.cacheWriteTokens ?? 0,
      reasoningTokens: r?.reasoningTokens ?? 0,
    };
    if (o.noEstimate || (r && o.usageFinal) || !f.ref) return { usage: base, estimated: false };
    let estimated = false;
    if (!r || r.inputTokens === undefined) {
      base.inputTokens = estimateInputTokens(f.body);
      estimated = true;
    }
    const deliveredOutput = ceilDiv4(o.outputChars);
    if (deliveredOutput > base.outputTokens) {
      base.outputTokens = deliveredOutput;
      estimated = true;
    }
    return { usage: base, estimated };
  }
}

/** The most a request may generate: its own limit, else the configured cap. */
function outputCap(body: Json, cap: number): number {
  const v = body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.ceil(v) : cap;
}

function estimateInputTokens(body: Json | null): number {
  if (!body) return 0;
  const parts = [body.messages, body.system, body.prompt, body.input, body.instructions, body.tools].filter((x) => x !== undefined);
  return ceilDiv4(parts.reduce((n: number, p) => n + (typeof p === 'string' ? p.length : JSON.stringify(p).length), 0));
}

function bearer(req: Request): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key.trim()) return key.trim();
  return null;
}

function drainOrClose(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Maps undici failures to 502 (cannot reach / broken connection) or 504 (too slow). */
function upstreamError(e: unknown, provider: string, midStream = false): DomainError {
  const code = (e as { code?: string })?.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new DomainError(ErrorCode.UpstreamTimeout, midStream ? `provider "${provider}" stopped sending before the response was complete (timeout)` : `provider "${provider}" did not answer in time`);
  }
  return new DomainError(ErrorCode.UpstreamUnreachable, midStream ? `connection to provider "${provider}" failed mid-response` : `provider "${provider}" is unreachable (${code || 'connection failed'})`);
}

/** The error event a streaming client understands, in its endpoint's dialect. */
function terminalErrorEvent(endpoint: Endpoint, message: string): string {
  if (endpoint === 'messages') {
    return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`;
  }
  if (endpoint === 'responses') {
    return `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'upstream_error', message, param: null })}\n\n`;
  }
  return `data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code: 'upstream_error' } })}\n\n`;
}
