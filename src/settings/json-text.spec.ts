import { JsonSyntaxError, locate, parseJsonText } from './json-text';

describe('JSON editor text', () => {
  const text = ['{', '  "providers": {', '    "openai": {', '      "baseurl": "nope",', '      "models": ["a", "b"]', '    }', '  },', '  "pricing": { "openai/gpt-4.1": { "input": "x" } },', '  "grants": [', '    { "src": ["bogus"], "models": ["**"] }', '  ]', '}'].join('\n');

  it('maps schema paths to the line of their key', () => {
    const { value, positions } = parseJsonText(text);
    expect(value).toEqual(JSON.parse(text));
    expect(locate(positions, 'providers.openai.baseurl')).toEqual({ line: 4, column: 7 });
    expect(locate(positions, 'providers.openai.models.1')?.line).toBe(5);
    expect(locate(positions, 'pricing.openai/gpt-4.1.input')?.line).toBe(8);
    expect(locate(positions, 'grants.0.src.0')?.line).toBe(10);
    // A missing key is reported where its object is.
    expect(locate(positions, 'providers.openai.apikey')?.line).toBe(3);
    expect(locate(positions, '(root)')?.line).toBe(1);
  });

  it('reports syntax errors with line and column, without quoting the text', () => {
    const bad = (t: string) => {
      try {
        parseJsonText(t);
      } catch (e) {
        expect(e).toBeInstanceOf(JsonSyntaxError);
        return { message: (e as JsonSyntaxError).message, ...(e as JsonSyntaxError).at };
      }
      throw new Error('parsed');
    };
    expect(bad('{\n  "a": 1,\n}')).toMatchObject({ line: 3, column: 1, message: expect.stringContaining('trailing commas') });
    expect(bad('{\n  "apikey": sk-secret-value\n}')).toMatchObject({ line: 2, column: 13 });
    expect(bad('{\n  "apikey": sk-secret-value\n}').message).not.toContain('sk-');
    expect(bad('{ "a": "open')).toMatchObject({ line: 1, message: expect.stringContaining('ends too early') });
    expect(bad('')).toMatchObject({ message: 'the document is empty' });
    expect(bad('{} x')).toMatchObject({ column: 4 });
  });
});
