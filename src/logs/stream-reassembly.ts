import type { Endpoint } from '../proxy/usage-tap';

type Json = Record<string, any>;

/**
 * Rebuilds the final message of a streamed answer from its events, in the shape the same request
 * would have had without `stream` (an OpenAI chat completion, a Responses API response, an
 * Anthropic message). It is fed the events the stream tap has already parsed (after they were
 * written to the client), so capture parses nothing twice. Text it keeps is bounded by the body
 * cap; past it, pieces are dropped and the result says so.
 */
export class StreamReassembler {
  private kept = 0;
  truncated = false;
  private readonly chat = new Map<number, { role: string; content: string[]; reasoning: string[]; refusal: string[]; tools: Map<number, { id?: string; type: string; name?: string; args: string[] }>; finish: string | null }>();
  private base: Json | null = null;
  private usage: Json | null = null;
  /** Anthropic content blocks by index; Responses output items by output_index. */
  private readonly blocks = new Map<number, Json & { _parts?: string[]; _json?: string[] }>();
  private final: Json | null = null;
  private error: Json | null = null;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly capBytes: number,
  ) {}

  private take(s: unknown): string | null {
    if (typeof s !== 'string' || !s) return null;
    if (this.kept >= this.capBytes) {
      this.truncated = true;
      return null;
    }
    this.kept += s.length;
    return s;
  }

  onEvent(j: Json): void {
    if (j.type === 'error' || (j.error && !j.choices)) {
      this.error = j.error ?? j;
      return;
    }
    switch (this.endpoint) {
      case 'chat':
      case 'completions':
        return this.openaiChunk(j);
      case 'responses':
        return this.responsesEvent(j);
      case 'messages':
        return this.anthropicEvent(j);
    }
  }

  private openaiChunk(j: Json): void {
    if (!this.base && j.id) this.base = { id: j.id, object: this.endpoint === 'chat' ? 'chat.completion' : 'text_completion', created: j.created, model: j.model, system_fingerprint: j.system_fingerprint };
    if (j.usage) this.usage = j.usage;
    for (const c of Array.isArray(j.choices) ? j.choices : []) {
      const i = typeof c.index === 'number' ? c.index : 0;
      let st = this.chat.get(i);
      if (!st) {
        st = { role: 'assistant', content: [], reasoning: [], refusal: [], tools: new Map(), finish: null };
        this.chat.set(i, st);
      }
      if (c.finish_reason) st.finish = c.finish_reason;
      if (this.endpoint === 'completions') {
        const t = this.take(c.text);
        if (t) st.content.push(t);
        continue;
      }
      const d = c.delta ?? {};
      if (typeof d.role === 'string') st.role = d.role;
      const t = this.take(d.content);
      if (t) st.content.push(t);
      const r = this.take(d.reasoning_content);
      if (r) st.reasoning.push(r);
      const rf = this.take(d.refusal);
      if (rf) st.refusal.push(rf);
      for (const tc of Array.isArray(d.tool_calls) ? d.tool_calls : []) {
        const k = typeof tc.index === 'number' ? tc.index : st.tools.size;
        let call = st.tools.get(k);
        if (!call) {
          call = { type: 'function', args: [] };
          st.tools.set(k, call);
        }
        if (tc.id) call.id = tc.id;
        if (tc.type) call.type = tc.type;
        if (tc.function?.name) call.name = tc.function.name;
        const a = this.take(tc.function?.arguments);
        if (a) call.args.push(a);
      }
    }
  }

  private responsesEvent(j: Json): void {
    const t = j.type as string | undefined;
    if ((t === 'response.completed' || t === 'response.incomplete' || t === 'response.failed') && j.response) {
      this.final = j.response;
      return;
    }
    if ((t === 'response.created' || t === 'response.in_progress') && j.response) this.base = j.response;
    else if (t === 'response.output_item.added' && j.item) this.blocks.set(j.output_index ?? this.blocks.size, { ...j.item, _parts: [], _json: [] });
    else if (t === 'response.output_item.done' && j.item) this.blocks.set(j.output_index ?? this.blocks.size, j.item);
    else if (t === 'response.output_text.delta' || t === 'response.function_call_arguments.delta') {
      const b = this.blocks.get(j.output_index ?? 0);
      const d = this.take(j.delta);
      if (b && d) (t === 'response.output_text.delta' ? b._parts : b._json)?.push(d);
    }
  }

  private anthropicEvent(j: Json): void {
    const t = j.type as string | undefined;
    if (t === 'message_start' && j.message) {
      this.base = { ...j.message };
      this.usage = j.message.usage ?? null;
    } else if (t === 'content_block_start' && j.content_block) {
      this.blocks.set(j.index ?? this.blocks.size, { ...j.content_block, _parts: [], _json: [] });
    } else if (t === 'content_block_delta' && j.delta) {
      const b = this.blocks.get(j.index ?? 0);
      if (!b) return;
      const d = j.delta;
      if (d.type === 'text_delta') {
        const s = this.take(d.text);
        if (s) b._parts!.push(s);
      } else if (d.type === 'input_json_delta') {
        const s = this.take(d.partial_json);
        if (s) b._json!.push(s);
      } else if (d.type === 'thinking_delta') {
        const s = this.take(d.thinking);
        if (s) b._parts!.push(s);
      } else if (d.type === 'signature_delta' && typeof d.signature === 'string') b.signature = d.signature;
      else if (d.type === 'citations_delta' && d.citation) (b.citations ??= []).push(d.citation);
    } else if (t === 'message_delta') {
      if (this.base && j.delta) Object.assign(this.base, j.delta);
      if (j.usage) this.usage = { ...(this.usage ?? {}), ...j.usage };
    }
  }

  /** The final message as JSON text, or null when the stream carried nothing to rebuild. */
  result(): string | null {
    const out = this.build();
    if (!out) return null;
    if (this.truncated) out._sluice = { truncated: true, note: 'text past the capture cap was not kept' };
    if (this.error) out._sluice = { ...(out._sluice ?? {}), error: this.error };
    return JSON.stringify(out);
  }

  private build(): Json | null {
    switch (this.endpoint) {
      case 'chat':
      case 'completions': {
        if (!this.base && !this.chat.size) return this.error ? { error: this.error } : null;
        const choices = [...this.chat.entries()].sort((a, b) => a[0] - b[0]).map(([index, st]) => {
          if (this.endpoint === 'completions') return { index, text: st.content.join(''), finish_reason: st.finish };
          const message: Json = { role: st.role, content: st.content.length ? st.content.join('') : null };
          if (st.reasoning.length) message.reasoning_content = st.reasoning.join('');
          if (st.refusal.length) message.refusal = st.refusal.join('');
          if (st.tools.size) {
            message.tool_calls = [...st.tools.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => ({ id: c.id ?? null, type: c.type, function: { name: c.name ?? null, arguments: c.args.join('') } }));
          }
          return { index, message, finish_reason: st.finish };
        });
        return { ...(this.base ?? {}), choices, ...(this.usage ? { usage: this.usage } : {}) };
      }
      case 'responses': {
        if (this.final) return this.final;
        if (!this.base && !this.blocks.size) return this.error ? { error: this.error } : null;
        const output = [...this.blocks.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => {
          const { _parts, _json, ...item } = b;
          if (_parts?.length && item.type === 'message') item.content = [{ type: 'output_text', text: _parts.join('') }];
          if (_json?.length && item.type === 'function_call') item.arguments = _json.join('');
          return item;
        });
        return { ...(this.base ?? {}), status: 'incomplete', output };
      }
      case 'messages': {
        if (!this.base && !this.blocks.size) return this.error ? { error: this.error } : null;
        const content = [...this.blocks.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => {
          const { _parts, _json, ...block } = b;
          if (block.type === 'text') block.text = (block.text ?? '') + (_parts ?? []).join('');
          else if (block.type === 'thinking') block.thinking = (block.thinking ?? '') + (_parts ?? []).join('');
          if (_json?.length) {
            const raw = _json.join('');
            try {
              block.input = JSON.parse(raw);
            } catch {
              block.input = raw;
            }
          }
          return block;
        });
        return { ...(this.base ?? {}), content, ...(this.usage ? { usage: this.usage } : {}) };
      }
      default:
        return null;
    }
  }
}
