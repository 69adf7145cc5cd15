import type { Usage } from '../providers/pricing';
import type { SseEvent } from './sse';

/** The wire dialect of a /v1 route. */
export type Endpoint = 'chat' | 'completions' | 'responses' | 'embeddings' | 'messages' | 'count_tokens';

export interface ToolCallSeen {
  id?: string;
  name: string;
  /** Set when the answer itself says what kind of tool it is (provider-run or MCP). */
  kind?: 'function' | 'mcp' | 'builtin';
}

type Json = Record<string, any>;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined);

/** Provider-reported usage, normalised (see Usage); undefined fields were not reported. */
export type ReportedUsage = Partial<Usage>;

export function openaiUsage(u: Json | null | undefined): ReportedUsage | null {
  if (!u || typeof u !== 'object') return null;
  // Chat/completions/embeddings say prompt/completion; the Responses API says input/output.
  const input = num(u.prompt_tokens) ?? num(u.input_tokens);
  const output = num(u.completion_tokens) ?? num(u.output_tokens) ?? (input !== undefined ? 0 : undefined);
  if (input === undefined && output === undefined) return null;
  const details = u.prompt_tokens_details ?? u.input_tokens_details;
  const outDetails = u.completion_tokens_details ?? u.output_tokens_details;
  return {
    inputTokens: input ?? 0,
    outputTokens: output ?? 0,
    cachedInputTokens: num(details?.cached_tokens) ?? 0,
    cacheWriteTokens: 0,
    reasoningTokens: num(outDetails?.reasoning_tokens) ?? 0,
  };
}

/** Anthropic reports input, cache reads and cache writes apart; input here is their sum. */
export function anthropicUsage(u: Json | null | undefined, prior?: ReportedUsage | null): ReportedUsage | null {
  if (!u || typeof u !== 'object') return prior ?? null;
  const plain = num(u.input_tokens);
  const read = num(u.cache_read_input_tokens);
  const write = num(u.cache_creation_input_tokens);
  const out = num(u.output_tokens);
  if (plain === undefined && read === undefined && write === undefined && out === undefined) return prior ?? null;
  const cached = read ?? prior?.cachedInputTokens ?? 0;
  const cacheWrite = write ?? prior?.cacheWriteTokens ?? 0;
  const input = plain !== undefined ? plain + cached + cacheWrite : (prior?.inputTokens ?? 0);
  return { inputTokens: input, outputTokens: out ?? prior?.outputTokens ?? 0, cachedInputTokens: cached, cacheWriteTokens: cacheWrite, reasoningTokens: 0 };
}

/** Usage from a complete non-streamed JSON answer. */
export function usageFromBody(endpoint: Endpoint, body: Json): { usage: ReportedUsage | null; outputChars: number; tools: ToolCallSeen[] } {
  const tools: ToolCallSeen[] = [];
  let outputChars = 0;
  switch (endpoint) {
    case 'chat':
      for (const c of body.choices ?? []) {
        outputChars += typeof c.message?.content === 'string' ? c.message.content.length : 0;
        for (const t of c.message?.tool_calls ?? []) if (t.function?.name) tools.push({ id: t.id, name: t.function.name });
      }
      return { usage: openaiUsage(body.usage), outputChars, tools };
    case 'completions':
      for (const c of body.choices ?? []) outputChars += typeof c.text === 'string' ? c.text.length : 0;
      return { usage: openaiUsage(body.usage), outputChars, tools };
    case 'responses':
      for (const o of body.output ?? []) {
        if (o.type === 'function_call' && o.name) tools.push({ id: o.call_id, name: o.name });
        if (o.type === 'mcp_call' && o.name) tools.push({ id: o.id, name: o.name, kind: 'mcp' });
        if (typeof o.type === 'string' && o.type.endsWith('_call') && o.type !== 'function_call' && o.type !== 'mcp_call') tools.push({ id: o.id, name: o.type.slice(0, -5), kind: 'builtin' });
        for (const c of o.content ?? []) outputChars += typeof c.text === 'string' ? c.text.length : 0;
      }
      return { usage: openaiUsage(body.usage), outputChars, tools };
    case 'embeddings':
      return { usage: openaiUsage(body.usage), outputChars, tools };
    case 'messages':
      for (const b of body.content ?? []) {
        if (b.type === 'text' && typeof b.text === 'string') outputChars += b.text.length;
        if (b.type === 'tool_use' && b.name) tools.push({ id: b.id, name: b.name });
        if (b.type === 'server_tool_use' && b.name) tools.push({ id: b.id, name: b.name, kind: 'builtin' });
        if (b.type === 'mcp_tool_use' && b.name) tools.push({ id: b.id, name: b.name, kind: 'mcp' });
      }
      return { usage: anthropicUsage(body.usage), outputChars, tools };
    case 'count_tokens':
      // A count, not consumption: the request costs nothing.
      return { usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, outputChars, tools };
  }
}

/**
 * Watches a stream's events: usage as the provider reports it, output size delivered so far (for
 * estimating cut-off streams), tool calls, provider error events, and which event is the
 * usage-only chunk we asked OpenAI for on the client's behalf (hidden from the client).
 */
export class StreamTap {
  usage: ReportedUsage | null = null;
  /** The provider sent its final usage (not just Anthropic's opening estimate). */
  usageFinal = false;
  outputChars = 0;
  sawContent = false;
  sawDone = false;
  errorEvent: string | null = null;
  readonly tools: ToolCallSeen[] = [];
  /** Receives every parsed event (request capture rebuilds the final message from them). */
  sink: ((j: Json) => void) | null = null;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly hideUsageChunk: boolean,
  ) {}

  /** Returns whether to forward the event and whether it carried generated output. */
  onEvent(ev: SseEvent): { forward: boolean; content: boolean } {
    const data = ev.data;
    if (data === undefined) return { forward: true, content: false };
    if (data === '[DONE]') {
      this.sawDone = true;
      return { forward: true, content: false };
    }
    let j: Json;
    try {
      j = JSON.parse(data);
    } catch {
      // Not ours to fix: forward what the provider sent; usage just can't come from this event.
      return { forward: true, content: false };
    }
    if (this.sink) this.sink(j);
    if (ev.event === 'error' || j.type === 'error' || (j.error && !j.choices)) {
      this.errorEvent = typeof j.error?.message === 'string' ? j.error.message : 'provider error event';
      return { forward: true, content: false };
    }
    switch (this.endpoint) {
      case 'chat':
      case 'completions': {
        const u = openaiUsage(j.usage);
        if (u) {
          this.usage = u;
          this.usageFinal = true;
        }
        let content = false;
        for (const c of j.choices ?? []) {
          const piece = this.endpoint === 'chat' ? c.delta?.content : c.text;
          if (typeof piece === 'string' && piece.length) {
            this.outputChars += piece.length;
            content = true;
          }
          for (const t of c.delta?.tool_calls ?? []) {
            content = true;
            if (t.function?.name) this.tools.push({ id: t.id, name: t.function.name });
            if (typeof t.function?.arguments === 'string') this.outputChars += t.function.arguments.length;
          }
          if (typeof c.delta?.reasoning_content === 'string' && c.delta.reasoning_content.length) content = true;
        }
        if (content) this.sawContent = true;
        const usageOnly = Array.isArray(j.choices) && j.choices.length === 0 && !!u;
        return { forward: !(usageOnly && this.hideUsageChunk), content };
      }
      case 'responses': {
        const t = j.type as string | undefined;
        if (t === 'response.completed' || t === 'response.incomplete' || t === 'response.failed') {
          const u = openaiUsage(j.response?.usage);
          if (u) {
            this.usage = u;
            this.usageFinal = true;
          }
          this.sawDone = true;
        }
        if (t === 'response.output_item.added' && j.item?.type === 'function_call' && j.item.name) this.tools.push({ id: j.item.call_id, name: j.item.name });
        const content = t === 'response.output_text.delta' || t === 'response.function_call_arguments.delta';
        if (content && typeof j.delta === 'string') this.outputChars += j.delta.length;
        if (content) this.sawContent = true;
        return { forward: true, content };
      }
      case 'messages': {
        const t = j.type as string | undefined;
        if (t === 'message_start') this.usage = anthropicUsage(j.message?.usage, this.usage);
        else if (t === 'message_delta' && j.usage) {
          this.usage = anthropicUsage(j.usage, this.usage);
          this.usageFinal = true;
        }
        else if (t === 'message_stop') this.sawDone = true;
        else if (t === 'content_block_start' && j.content_block?.type === 'tool_use') this.tools.push({ id: j.content_block.id, name: j.content_block.name });
        else if (t === 'content_block_start' && j.content_block?.type === 'server_tool_use') this.tools.push({ id: j.content_block.id, name: j.content_block.name, kind: 'builtin' });
        else if (t === 'content_block_start' && j.content_block?.type === 'mcp_tool_use') this.tools.push({ id: j.content_block.id, name: j.content_block.name, kind: 'mcp' });
        const content = t === 'content_block_delta';
        if (content) {
          const d = j.delta ?? {};
          this.outputChars += (typeof d.text === 'string' ? d.text.length : 0) + (typeof d.partial_json === 'string' ? d.partial_json.length : 0) + (typeof d.thinking === 'string' ? d.thinking.length : 0);
          this.sawContent = true;
        }
        return { forward: true, content };
      }
      default:
        return { forward: true, content: false };
    }
  }
}
