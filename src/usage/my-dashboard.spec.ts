import type { ModelUsage } from './analytics.repository';
import { tokensByModelSpec } from './my-dashboard.service';

const model = (name: string, input: number, output: number): ModelUsage => ({ provider: 'openai', model: name, requests: 1, failures: 0, inputTokens: input, outputTokens: output, costMicros: 0 });

describe('tokens by model chart', () => {
  it('draws up to eight models by name, busiest first', () => {
    const spec = tokensByModelSpec([model('b', 1, 1), model('a', 5, 5), model('c', 1, 1)]);
    expect(spec.categories).toEqual(['openai/a', 'openai/b', 'openai/c']);
    expect(spec.data.slice(1)).toEqual([
      [5, 1, 1],
      [5, 1, 1],
    ]);
  });

  it('puts the models past the seventh busiest into one bar with their sums', () => {
    const all = Array.from({ length: 10 }, (_, i) => model(`m${i}`, 100 - i, 10 * i));
    const spec = tokensByModelSpec(all);
    expect(spec.categories).toHaveLength(8);
    // m9 has the most tokens (100 - 9 + 90), m0 the fewest.
    expect(spec.categories).toEqual(['m9', 'm8', 'm7', 'm6', 'm5', 'm4', 'm3'].map((m) => `openai/${m}`).concat('3 more models'));
    const rest = all.slice(0, 3);
    expect(spec.data[1][7]).toBe(rest.reduce((a, m) => a + m.inputTokens, 0));
    expect(spec.data[2][7]).toBe(rest.reduce((a, m) => a + m.outputTokens, 0));
  });
});
