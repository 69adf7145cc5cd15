import type { ConfigIssue } from '../config/gateway-config.schema';
import { MASK } from './config-store.service';

/**
 * The visual editor's form and the config document, both ways. Field names are flat
 * (`p.0.baseurl`, `p.0.m.1.input`, `g.2.src`); fields that start with `_` belong to the page
 * (pickers, preview choices) and never reach the document. Keys the editor has no field for
 * (`timeout_ms`, `headers`, keys of newer versions) ride along in hidden `extra` fields as JSON,
 * so a save from the visual editor never drops them.
 */

export const COMPAT_FLAGS = [
  { flag: 'openai_chat', label: 'OpenAI chat (/v1/chat/completions, /v1/completions)' },
  { flag: 'openai_completions', label: 'OpenAI completions (/v1/completions)' },
  { flag: 'openai_responses', label: 'OpenAI responses (/v1/responses)' },
  { flag: 'openai_embeddings', label: 'OpenAI embeddings (/v1/embeddings)' },
  { flag: 'anthropic_messages', label: 'Anthropic messages (/v1/messages)' },
] as const;
const KNOWN_COMPAT = new Set<string>(COMPAT_FLAGS.map((c) => c.flag));
const PRICE_FIELDS = ['input', 'output', 'cached_input', 'cache_write'] as const;
const PROVIDER_FIELDS = new Set(['baseurl', 'apikey', 'authorization', 'models', 'compatibility']);
const TOP_FIELDS = new Set(['providers', 'pricing', 'aliases', 'grants']);

type Doc = Record<string, any>;
export type Fields = Map<string, string[]>;

export interface PriceCells {
  input: string;
  output: string;
  cached_input: string;
  cache_write: string;
}

export interface ModelRow extends PriceCells {
  j: number;
  name: string;
  /** Pricing keys the table has no column for, as JSON. */
  pextra: string;
}

export interface ProviderRow {
  i: number;
  name: string;
  baseurl: string;
  authorization: string;
  /** `••••last4` of a stored literal key, or null. */
  keyHint: string | null;
  /** An `env:VAR` reference, shown as it is (it is not a secret). */
  envRef: string | null;
  compat: { flag: string; label: string; on: boolean }[];
  models: ModelRow[];
  extra: string;
}

export interface EditorModel {
  providers: ProviderRow[];
  /** Pricing entries for models no provider lists. */
  pricing: ({ k: number; key: string; extra: string } & PriceCells)[];
  aliases: { k: number; name: string; target: string }[];
  grants: { k: number; src: string[]; models: string[]; extra: string }[];
  extra: string;
  modelIds: string[];
}

const isObj = (v: unknown): v is Doc => !!v && typeof v === 'object' && !Array.isArray(v);
const cell = (v: unknown) => (v === undefined || v === null ? '' : String(v));
const rest = (o: Doc, known: Set<string>) => {
  const out: Doc = {};
  for (const [k, v] of Object.entries(o)) if (!known.has(k)) out[k] = v;
  return Object.keys(out).length ? JSON.stringify(out) : '';
};

/** The editor's rows for a (masked) document. */
export function editorModel(doc: Doc): EditorModel {
  const providers = isObj(doc.providers) ? doc.providers : {};
  const pricing = isObj(doc.pricing) ? doc.pricing : {};
  const used = new Set<string>();
  const modelIds: string[] = [];
  const rows: ProviderRow[] = Object.entries(providers).map(([name, raw], i) => {
    const p = isObj(raw) ? raw : {};
    const key = typeof p.apikey === 'string' ? p.apikey : null;
    const compat = isObj(p.compatibility) ? p.compatibility : p.compatibility === undefined ? { openai_chat: true } : {};
    const unknownCompat = Object.fromEntries(Object.entries(compat).filter(([k]) => !KNOWN_COMPAT.has(k)));
    const extra: Doc = JSON.parse(rest(p, PROVIDER_FIELDS) || '{}');
    if (Object.keys(unknownCompat).length) extra.compatibility = unknownCompat;
    const models = (Array.isArray(p.models) ? p.models : []).map((m: unknown, j: number) => {
      const id = `${name}/${String(m)}`;
      modelIds.push(id);
      const pr = isObj(pricing[id]) ? pricing[id] : null;
      if (pr) used.add(id);
      return { j, name: String(m), input: cell(pr?.input), output: cell(pr?.output), cached_input: cell(pr?.cached_input), cache_write: cell(pr?.cache_write), pextra: pr ? rest(pr, new Set(PRICE_FIELDS)) : '' };
    });
    return {
      i,
      name,
      baseurl: cell(p.baseurl),
      authorization: p.authorization === 'x-api-key' ? 'x-api-key' : 'bearer',
      keyHint: key && key.startsWith(MASK) ? key : null,
      envRef: key && key.startsWith('env:') ? key : null,
      compat: COMPAT_FLAGS.map((c) => ({ ...c, on: compat[c.flag] === true })),
      models,
      extra: Object.keys(extra).length ? JSON.stringify(extra) : '',
    };
  });
  const orphans = Object.entries(pricing)
    .filter(([key]) => !used.has(key))
    .map(([key, raw], k) => {
      const pr = isObj(raw) ? raw : {};
      return { k, key, input: cell(pr.input), output: cell(pr.output), cached_input: cell(pr.cached_input), cache_write: cell(pr.cache_write), extra: rest(pr, new Set(PRICE_FIELDS)) };
    });
  const aliases = Object.entries(isObj(doc.aliases) ? doc.aliases : {}).map(([name, target], k) => ({ k, name, target: cell(target) }));
  const grants = (Array.isArray(doc.grants) ? doc.grants : []).map((raw: unknown, k: number) => {
    const g = isObj(raw) ? raw : {};
    return { k, src: Array.isArray(g.src) ? g.src.map(String) : [], models: Array.isArray(g.models) ? g.models.map(String) : [], extra: rest(g, new Set(['src', 'models'])) };
  });
  return { providers: rows, pricing: orphans, aliases, grants, extra: rest(doc, TOP_FIELDS), modelIds };
}

/** Form fields from a urlencoded body, or from the one `packed` field settings.js sends for big forms. */
export function fieldsOf(body: unknown): Fields {
  const out: Fields = new Map();
  const add = (k: string, v: unknown) => {
    if (typeof v !== 'string') return;
    const list = out.get(k) ?? [];
    list.push(v);
    out.set(k, list);
  };
  if (!isObj(body)) return out;
  if (typeof body.packed === 'string') {
    let entries: unknown;
    try {
      entries = JSON.parse(body.packed);
    } catch {
      entries = [];
    }
    if (Array.isArray(entries)) for (const e of entries) if (Array.isArray(e) && typeof e[0] === 'string') add(e[0], e[1]);
  }
  for (const [k, v] of Object.entries(body)) {
    if (k === 'packed') continue;
    if (Array.isArray(v)) v.forEach((x) => add(k, x));
    else add(k, v);
  }
  return out;
}

export const one = (f: Fields, k: string): string => (f.get(k)?.[0] ?? '').trim();
const all = (f: Fields, k: string): string[] => [...new Set((f.get(k) ?? []).map((s) => s.trim()).filter(Boolean))];

/** Row indices present for a prefix: `p.` gives the i of every `p.<i>.…` field, in numeric order. */
function indices(f: Fields, prefix: string): number[] {
  const set = new Set<number>();
  for (const k of f.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) set.add(Number(m[1]));
  }
  return [...set].sort((a, b) => a - b);
}

/** A price cell: a number when it reads as one, else the text as typed (the schema then names it). */
function price(v: string): number | string | undefined {
  if (v === '') return undefined;
  const n = Number(v.replace(/^\$/, ''));
  return Number.isFinite(n) && /^\$?\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) ? n : v;
}

function extraOf(f: Fields, key: string, issues: ConfigIssue[], path: string): Doc {
  const raw = one(f, key);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw);
    if (isObj(v)) return v;
  } catch {
    /* reported below */
  }
  issues.push({ path, message: 'the page sent settings it cannot read; reload the editor' });
  return {};
}

export interface FormDocument {
  doc: Doc;
  /** New provider name -> the name it was loaded with, so a renamed provider keeps its key. */
  renames: Record<string, string>;
  /** Providers whose key field holds a newly typed key (never echoed back to a page). */
  typedKeys: Set<string>;
  issues: ConfigIssue[];
}

/** The document the visual editor's fields describe. */
export function documentFromForm(f: Fields): FormDocument {
  const issues: ConfigIssue[] = [];
  const top = extraOf(f, 'extra', issues, '(root)');
  const providers: Doc = {};
  const pricing: Doc = {};
  const renames: Record<string, string> = {};
  const typedKeys = new Set<string>();
  for (const i of indices(f, 'p.')) {
    const at = (k: string) => one(f, `p.${i}.${k}`);
    const modelIdx = indices(f, `p.${i}.m.`);
    const name = at('name');
    const blank = !name && !at('baseurl') && !at('apikey') && modelIdx.every((j) => !one(f, `p.${i}.m.${j}.name`));
    if (blank) continue;
    const path = `providers.${name || `#${i + 1}`}`;
    if (!name) {
      issues.push({ path, message: 'every provider needs a name' });
      continue;
    }
    if (providers[name]) {
      issues.push({ path, message: `two providers are named "${name}"` });
      continue;
    }
    const extra = extraOf(f, `p.${i}.extra`, issues, path);
    const compat: Doc = isObj(extra.compatibility) ? { ...extra.compatibility } : {};
    for (const flag of all(f, `p.${i}.compat`)) if (KNOWN_COMPAT.has(flag)) compat[flag] = true;
    const models: string[] = [];
    for (const j of modelIdx) {
      const model = one(f, `p.${i}.m.${j}.name`);
      if (!model) continue;
      models.push(model);
      const cells = Object.fromEntries(PRICE_FIELDS.map((c) => [c, price(one(f, `p.${i}.m.${j}.${c}`))]).filter(([, v]) => v !== undefined));
      const pextra = extraOf(f, `p.${i}.m.${j}.pextra`, issues, `pricing.${name}/${model}`);
      if (Object.keys(cells).length || Object.keys(pextra).length) pricing[`${name}/${model}`] = { ...pextra, ...cells };
    }
    const p: Doc = { ...extra, baseurl: at('baseurl'), authorization: at('authorization') || 'bearer', models, compatibility: compat };
    const typed = at('apikey');
    if (one(f, `p.${i}.clearKey`)) delete p.apikey;
    else if (typed && !typed.startsWith(MASK)) {
      p.apikey = typed;
      if (!typed.startsWith('env:')) typedKeys.add(name);
    } else p.apikey = MASK;
    const orig = at('orig');
    if (orig && orig !== name) renames[name] = orig;
    providers[name] = p;
  }
  for (const k of indices(f, 'pr.')) {
    const key = one(f, `pr.${k}.key`);
    if (!key) continue;
    const cells = Object.fromEntries(PRICE_FIELDS.map((c) => [c, price(one(f, `pr.${k}.${c}`))]).filter(([, v]) => v !== undefined));
    pricing[key] = { ...extraOf(f, `pr.${k}.extra`, issues, `pricing.${key}`), ...(pricing[key] ?? {}), ...cells };
  }
  const aliases: Doc = {};
  for (const k of indices(f, 'a.')) {
    const name = one(f, `a.${k}.name`);
    const target = one(f, `a.${k}.target`);
    if (!name && !target) continue;
    if (!name) issues.push({ path: `aliases.#${k + 1}`, message: 'every alias needs a name' });
    else aliases[name] = target;
  }
  const grants: Doc[] = [];
  for (const k of indices(f, 'g.')) {
    const src = all(f, `g.${k}.src`);
    const models = all(f, `g.${k}.models`);
    const extra = extraOf(f, `g.${k}.extra`, issues, `grants.${grants.length}`);
    if (!src.length && !models.length && !Object.keys(extra).length) continue;
    grants.push({ ...extra, src, models });
  }
  const doc: Doc = { providers, pricing, aliases, grants };
  for (const [k, v] of Object.entries(top)) if (!TOP_FIELDS.has(k)) doc[k] = v;
  return { doc, renames, typedKeys, issues };
}
