/**
 * Tool use seen in a request and its answer: tools offered (definitions), calls the model made,
 * and results the client sent back, with the tool's kind: `function` (defined by the client),
 * `mcp` (from an MCP server) or `builtin` (run by the provider: web search, code execution, …).
 */
export type ToolKind = 'function' | 'mcp' | 'builtin';
export interface ToolEvent {
  event: 'offered' | 'call' | 'result';
  name: string;
  kind: ToolKind;
  callId: string | null;
}

type Json = Record<string, any>;
const str = (v: unknown): string | null => (typeof v === 'string' && v ? v.slice(0, 200) : null);

/** Tools a request offers, and the results of earlier calls it carries (matched to their names). */
export function toolsFromRequest(body: Json): ToolEvent[] {
  const out: ToolEvent[] = [];
  const kinds = new Map<string, ToolKind>();
  for (const t of Array.isArray(body.tools) ? body.tools : []) {
    if (!t || typeof t !== 'object') continue;
    let name: string | null;
    let kind: ToolKind;
    if (t.type === 'function') {
      // OpenAI chat puts the name under `function`; the Responses API puts it on the tool.
      name = str(t.function?.name) ?? str(t.name);
      kind = 'function';
    } else if (t.type === 'mcp') {
      name = str(t.server_label) ?? str(t.name);
      kind = 'mcp';
    } else if (t.type === 'custom' || (t.type === undefined && t.input_schema)) {
      name = str(t.name);
      kind = 'function';
    } else {
      // Anthropic server tools (web_search_20250305, code_execution_…, bash_…) and OpenAI built-ins.
      name = str(t.name) ?? str(t.type);
      kind = 'builtin';
    }
    if (!name) continue;
    kinds.set(name, kind);
    out.push({ event: 'offered', name, kind, callId: null });
  }
  for (const s of Array.isArray(body.mcp_servers) ? body.mcp_servers : []) {
    const name = str(s?.name);
    if (name) out.push({ event: 'offered', name, kind: 'mcp', callId: null });
  }
  // Names of calls made earlier in the conversation, to name the results that answer them.
  const callNames = new Map<string, string>();
  const messages = Array.isArray(body.messages) ? body.messages : Array.isArray(body.input) ? body.input : [];
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    for (const tc of Array.isArray(m.tool_calls) ? m.tool_calls : []) if (tc?.id && tc.function?.name) callNames.set(tc.id, tc.function.name);
    if (m.type === 'function_call' && m.call_id && m.name) callNames.set(m.call_id, m.name);
    for (const b of Array.isArray(m.content) ? m.content : []) {
      if (b?.type === 'tool_use' || b?.type === 'server_tool_use' || b?.type === 'mcp_tool_use') if (b.id && b.name) callNames.set(b.id, b.name);
    }
  }
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    if (m.role === 'tool' && m.tool_call_id) {
      const name = callNames.get(m.tool_call_id) ?? 'unknown';
      out.push({ event: 'result', name, kind: kinds.get(name) ?? 'function', callId: str(m.tool_call_id) });
    }
    if (m.type === 'function_call_output' && m.call_id) {
      const name = callNames.get(m.call_id) ?? 'unknown';
      out.push({ event: 'result', name, kind: kinds.get(name) ?? 'function', callId: str(m.call_id) });
    }
    if (m.role === 'user' && Array.isArray(m.content)) {
      for (const b of m.content) {
        if (b?.type === 'tool_result' && b.tool_use_id) {
          const name = callNames.get(b.tool_use_id) ?? 'unknown';
          out.push({ event: 'result', name, kind: kinds.get(name) ?? 'function', callId: str(b.tool_use_id) });
        }
      }
    }
  }
  return out;
}

/** Calls in an answer, from the tap's (or the body's) tool call list and the offered kinds. */
export function toolCalls(calls: { id?: string; name: string; kind?: ToolKind }[], offered: ToolEvent[]): ToolEvent[] {
  const kinds = new Map(offered.map((o) => [o.name, o.kind] as const));
  return calls.map((c) => ({ event: 'call' as const, name: c.name.slice(0, 200), kind: c.kind ?? kinds.get(c.name) ?? 'function', callId: c.id ? c.id.slice(0, 200) : null }));
}
