/**
 * Model patterns in `provider/model` glob form: `*` matches within one path segment, `**` matches
 * across segments (`openai/**`, `anthropic/claude-*`, `**`). A pattern without a `/` other than
 * `**` names a model under any provider (`gpt-4.1` matches `openai/gpt-4.1`).
 */
export function compilePattern(pattern: string): RegExp {
  let p = pattern.trim();
  if (p !== '**' && !p.includes('/')) p = `*/${p}`;
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '*') {
      if (p[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class PatternSet {
  private readonly res: RegExp[];
  constructor(patterns: readonly string[]) {
    this.res = patterns.map(compilePattern);
  }
  matches(id: string): boolean {
    return this.res.some((r) => r.test(id));
  }
}
