import { StreamReassembler } from './stream-reassembly';

const feed = (r: StreamReassembler, events: object[]) => {
  for (const e of events) r.onEvent(e as Record<string, unknown>);
  return JSON.parse(r.result()!);
};

describe('stream reassembly', () => {
  it('OpenAI chat: text, tool calls by index, finish reason and usage', () => {
    const out = feed(new StreamReassembler('chat', 1 << 20), [
      { id: 'c1', created: 1, model: 'gpt-x', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
      { id: 'c1', choices: [{ index: 0, delta: { content: 'Hel' } }] },
      { id: 'c1', choices: [{ index: 0, delta: { content: 'lo' } }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] } }] },
      { id: 'c1', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { id: 'c1', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7 } },
    ]);
    expect(out).toEqual({
      id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-x',
      choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Hello', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] } }],
      usage: { prompt_tokens: 5, completion_tokens: 7 },
    });
  });

  it('Anthropic: blocks by index, text, tool input JSON, thinking, stop reason and usage', () => {
    const out = feed(new StreamReassembler('messages', 1 << 20), [
      { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], usage: { input_tokens: 10, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Let me look.' } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"path":' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"a.ts"}' } },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } },
      { type: 'message_stop' },
    ]);
    expect(out).toEqual({
      id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', stop_reason: 'tool_use', stop_sequence: null,
      content: [{ type: 'thinking', thinking: 'hmm' }, { type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { path: 'a.ts' } }],
      usage: { input_tokens: 10, output_tokens: 30 },
    });
  });

  it('Responses API: the final response when it came, the items so far when the stream was cut', () => {
    const done = feed(new StreamReassembler('responses', 1 << 20), [{ type: 'response.completed', response: { id: 'r1', status: 'completed', output: [] } }]);
    expect(done).toEqual({ id: 'r1', status: 'completed', output: [] });
    const cut = feed(new StreamReassembler('responses', 1 << 20), [
      { type: 'response.created', response: { id: 'r2', status: 'in_progress', output: [] } },
      { type: 'response.output_item.added', output_index: 0, item: { type: 'message', id: 'm', content: [] } },
      { type: 'response.output_text.delta', output_index: 0, delta: 'par' },
      { type: 'response.output_text.delta', output_index: 0, delta: 'tial' },
    ]);
    expect(cut).toMatchObject({ id: 'r2', status: 'incomplete', output: [{ type: 'message', content: [{ type: 'output_text', text: 'partial' }] }] });
  });

  it('stops keeping text at the cap and says so; keeps an error event', () => {
    const r = new StreamReassembler('chat', 8);
    const out = feed(r, [
      { id: 'c', choices: [{ index: 0, delta: { content: 'abcdef' } }] },
      { id: 'c', choices: [{ index: 0, delta: { content: 'ghijkl' } }] },
      { id: 'c', choices: [{ index: 0, delta: { content: 'mnopqr' } }] },
      { error: { message: 'overloaded' } },
    ]);
    expect(out.choices[0].message.content).toBe('abcdefghijkl');
    expect(out._sluice).toMatchObject({ truncated: true, error: { message: 'overloaded' } });
  });
});
