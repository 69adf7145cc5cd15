import { costMicros } from './pricing';

describe('costMicros', () => {
  const sonnet = { input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75 };
  it('prices plain input and output', () => {
    // 1M input at $3 + 1M output at $15 = $18 = 18,000,000 micro-dollars
    expect(costMicros({ inputTokens: 1_000_000, outputTokens: 1_000_000, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, sonnet)).toBe(18_000_000);
  });
  it('prices cached and cache-write tokens separately', () => {
    const u = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 600, cacheWriteTokens: 300, reasoningTokens: 0 };
    // 100 plain × 3 + 600 × 0.3 + 300 × 3.75 + 100 × 15 = 300 + 180 + 1125 + 1500
    expect(costMicros(u, sonnet)).toBe(3105);
  });
  it('falls back to the input price and to zero without pricing', () => {
    const u = { inputTokens: 10, outputTokens: 0, cachedInputTokens: 10, cacheWriteTokens: 0, reasoningTokens: 0 };
    expect(costMicros(u, { input: 2, output: 8 })).toBe(20);
    expect(costMicros(u, undefined)).toBe(0);
  });
  it('rounds once', () => {
    expect(costMicros({ inputTokens: 1, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }, { input: 0.15, output: 0.6 })).toBe(1);
  });
});
