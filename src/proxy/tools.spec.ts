import { toolCalls, toolsFromRequest } from './tools';

describe('tool use extraction', () => {
  it('reads a Claude Code style conversation: offered tools, and results named by their calls', () => {
    const body = {
      tools: [
        { name: 'Bash', input_schema: { type: 'object' } },
        { name: 'Read', input_schema: { type: 'object' } },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
      mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'linear' }],
      messages: [
        { role: 'user', content: 'list files' },
        { role: 'assistant', content: [{ type: 'text', text: 'ok' }, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a b' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'Read', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: '…' }] },
      ],
    };
    const ev = toolsFromRequest(body);
    expect(ev.filter((e) => e.event === 'offered').map((e) => `${e.kind}:${e.name}`)).toEqual(['function:Bash', 'function:Read', 'builtin:web_search', 'mcp:linear']);
    expect(ev.filter((e) => e.event === 'result')).toEqual([
      { event: 'result', name: 'Bash', kind: 'function', callId: 'toolu_1' },
      { event: 'result', name: 'Read', kind: 'function', callId: 'toolu_2' },
    ]);
    expect(toolCalls([{ id: 'toolu_3', name: 'web_search', kind: 'builtin' }, { id: 'toolu_4', name: 'Bash' }], ev)).toEqual([
      { event: 'call', name: 'web_search', kind: 'builtin', callId: 'toolu_3' },
      { event: 'call', name: 'Bash', kind: 'function', callId: 'toolu_4' },
    ]);
  });

  it('reads OpenAI chat and Responses API tools and results', () => {
    const chat = toolsFromRequest({
      tools: [{ type: 'function', function: { name: 'get_weather' } }],
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
    });
    expect(chat).toEqual([
      { event: 'offered', name: 'get_weather', kind: 'function', callId: null },
      { event: 'result', name: 'get_weather', kind: 'function', callId: 'call_1' },
    ]);
    const responses = toolsFromRequest({
      tools: [{ type: 'function', name: 'lookup' }, { type: 'web_search_preview' }, { type: 'mcp', server_label: 'github' }],
      input: [{ type: 'function_call', call_id: 'c1', name: 'lookup', arguments: '{}' }, { type: 'function_call_output', call_id: 'c1', output: 'x' }],
    });
    expect(responses.map((e) => `${e.event}:${e.kind}:${e.name}`)).toEqual(['offered:function:lookup', 'offered:builtin:web_search_preview', 'offered:mcp:github', 'result:function:lookup']);
  });
});
