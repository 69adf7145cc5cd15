import { compilePattern, PatternSet } from './model-pattern';

describe('model patterns', () => {
  it.each([
    ['anthropic/claude-*', 'anthropic/claude-sonnet-4-5', true],
    ['anthropic/claude-*', 'openai/claude-x', false],
    ['openai/**', 'openai/gpt-4.1', true],
    ['openai/**', 'openai/org/model', true],
    ['openai/*', 'openai/org/model', false],
    ['**', 'local/meta-llama/Llama-3', true],
    ['gpt-4.1', 'openai/gpt-4.1', true],
    ['gpt-4.1', 'openai/gpt-4.1-mini', false],
    ['openai/gpt-4.?', 'openai/gpt-4.1', true],
    ['a.b/c', 'axb/c', false],
  ])('%s vs %s', (pattern, id, expected) => {
    expect(compilePattern(pattern).test(id)).toBe(expected);
  });

  it('matches any of a set', () => {
    const s = new PatternSet(['openai/gpt-*', 'anthropic/**']);
    expect(s.matches('anthropic/claude')).toBe(true);
    expect(s.matches('local/x')).toBe(false);
  });
});
