import { documentFromForm, editorModel, Fields, fieldsOf } from './settings-form';

/** The visual editor's fields and the document agree both ways, and nothing the form lacks is lost. */
describe('visual editor form', () => {
  const doc = {
    providers: {
      openai: { baseurl: 'https://api.openai.com', apikey: '••••WXYZ', models: ['gpt-4.1', 'gpt-4.1-mini'], compatibility: { openai_chat: true, openai_responses: true, future_flag: true }, timeout_ms: 60000, headers: { 'x-org': 'acme' } },
      anthropic: { baseurl: 'https://api.anthropic.com', apikey: 'env:ANTHROPIC_KEY', authorization: 'x-api-key', models: ['claude-sonnet-4-5'], compatibility: { anthropic_messages: true } },
      local: { baseurl: 'http://127.0.0.1:11434/v1', models: ['llama3'] },
    },
    pricing: { 'openai/gpt-4.1': { input: 2, output: 8, cached_input: 0.5, tier: 'x' }, 'gone/model': { input: 1, output: 1 } },
    aliases: { fast: 'openai/gpt-4.1-mini' },
    grants: [{ src: ['org:acme', 'team:acme/ml'], models: ['openai/**'], capture: 'full' }],
    capture: { mode: 'metadata' },
  };

  /** What a browser would post for the editor rendered from `doc`. */
  function fieldsFor(d: Record<string, any>): Fields {
    const m = editorModel(d);
    const f: Fields = new Map();
    const set = (k: string, ...v: string[]) => f.set(k, v);
    set('extra', m.extra);
    for (const p of m.providers) {
      set(`p.${p.i}.orig`, p.name);
      set(`p.${p.i}.name`, p.name);
      set(`p.${p.i}.baseurl`, p.baseurl);
      set(`p.${p.i}.authorization`, p.authorization);
      set(`p.${p.i}.apikey`, p.envRef ?? '');
      set(`p.${p.i}.extra`, p.extra);
      set(`p.${p.i}.compat`, ...p.compat.filter((c) => c.on).map((c) => c.flag));
      for (const r of p.models) for (const k of ['name', 'input', 'output', 'cached_input', 'cache_write', 'pextra'] as const) set(`p.${p.i}.m.${r.j}.${k}`, r[k]);
    }
    for (const r of m.pricing) for (const k of ['key', 'input', 'output', 'cached_input', 'cache_write', 'extra'] as const) set(`pr.${r.k}.${k}`, r[k]);
    for (const a of m.aliases) (set(`a.${a.k}.name`, a.name), set(`a.${a.k}.target`, a.target));
    for (const g of m.grants) (set(`g.${g.k}.src`, ...g.src), set(`g.${g.k}.models`, ...g.models), set(`g.${g.k}.extra`, g.extra));
    return f;
  }

  it('round-trips a document: keys become "keep the stored one", the rest is unchanged', () => {
    const { doc: out, issues, renames, typedKeys } = documentFromForm(fieldsFor(doc));
    expect(issues).toEqual([]);
    expect(renames).toEqual({});
    expect(typedKeys.size).toBe(0);
    expect(out.providers.openai).toEqual({ ...doc.providers.openai, apikey: '••••', authorization: 'bearer' });
    expect(out.providers.anthropic).toEqual(doc.providers.anthropic);
    // A provider without compatibility showed the default (chat) and now says so.
    expect(out.providers.local).toEqual({ ...doc.providers.local, apikey: '••••', authorization: 'bearer', compatibility: { openai_chat: true } });
    expect(out.pricing).toEqual(doc.pricing);
    expect(out.aliases).toEqual(doc.aliases);
    expect(out.grants).toEqual(doc.grants);
    expect(out.capture).toEqual(doc.capture);
  });

  it('reads new rows, typed keys, renames, cleared keys and blank rows', () => {
    const f = fieldsFor(doc);
    f.set('p.0.name', ['oai']);
    f.set('p.1.apikey', ['sk-new-key-1234']);
    f.set('p.2.clearKey', ['1']);
    f.set('p.1000.name', ['']);
    f.set('p.1000.baseurl', ['']);
    f.set('p.1001.name', ['vllm']);
    f.set('p.1001.baseurl', ['http://10.0.0.5:8000']);
    f.set('p.1001.m.1002.name', ['qwen']);
    f.set('p.1001.m.1002.input', ['$0.25']);
    f.set('p.1001.m.1002.output', ['lots']);
    f.set('g.1003.src', ['team:acme/ml']);
    f.set('g.1003.models', ['vllm/*', 'vllm/*']);
    const { doc: out, renames, typedKeys, issues } = documentFromForm(f);
    expect(issues).toEqual([]);
    expect(Object.keys(out.providers)).toEqual(['oai', 'anthropic', 'local', 'vllm']);
    expect(renames).toEqual({ oai: 'openai' });
    expect(out.providers.anthropic.apikey).toBe('sk-new-key-1234');
    expect([...typedKeys]).toEqual(['anthropic']);
    expect('apikey' in out.providers.local).toBe(false);
    expect(out.pricing['vllm/qwen']).toEqual({ input: 0.25, output: 'lots' });
    expect(out.pricing['oai/gpt-4.1']).toEqual(doc.pricing['openai/gpt-4.1']);
    expect(out.grants[1]).toEqual({ src: ['team:acme/ml'], models: ['vllm/*'] });
  });

  it('names form-level problems with a path', () => {
    const f: Fields = new Map([
      ['p.0.name', ['a']],
      ['p.0.baseurl', ['http://x']],
      ['p.1.name', ['a']],
      ['p.1.baseurl', ['http://y']],
      ['p.2.baseurl', ['http://z']],
      ['p.3.name', ['b']],
      ['p.3.extra', ['{not json']],
    ]);
    expect(documentFromForm(f).issues.map((i) => i.path)).toEqual(['providers.a', 'providers.#3', 'providers.b']);
  });

  it('unpacks the one field settings.js sends for big forms', () => {
    const f = fieldsOf({ packed: JSON.stringify([['p.0.name', 'x'], ['g.0.src', 'org:a'], ['g.0.src', 'org:b']]), reason: 'why' });
    expect(f.get('g.0.src')).toEqual(['org:a', 'org:b']);
    expect(f.get('reason')).toEqual(['why']);
  });
});
