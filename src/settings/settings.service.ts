import { Inject, Injectable } from '@nestjs/common';
import { forbidden } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { invalid } from '../common/errors';
import { ConfigIssue, GatewayConfig, providerSchema, validateGatewayConfig } from '../config/gateway-config.schema';
import { RUNTIME, type Runtime } from '../config/runtime';
import { compileGrants, grantedModelIds, modelIdsOf } from '../providers/grants';
import { ProbeResult, ProviderRegistry } from '../providers/provider-registry.service';
import { subjectsFor } from '../tokens/principal';
import { PrincipalCacheService } from '../tokens/principal-cache.service';
import { isSecretHeader } from '../config/header-secrets';
import { ConfigStore, ConfigValidationError, ConfigVersionMeta, MASK } from './config-store.service';
import { JsonSyntaxError, locate, parseJsonText } from './json-text';
import { documentFromForm, EditorModel, editorModel, Fields, one } from './settings-form';
import { SettingsRepository, SubjectChoices } from './settings.repository';

type Doc = Record<string, any>;

/** A schema problem as the editors show it: the JSON path, and in the JSON editor its line. */
export interface EditorIssue extends ConfigIssue {
  line?: number;
  column?: number;
}

export interface PreviewRow {
  kind: 'everyone' | 'org' | 'team' | 'user' | 'service-account' | 'token';
  subject: string;
  label: string;
  /** For people and tokens: the organization the row is about. */
  org?: string;
  models: string[];
  /** Aliases that resolve to a granted model. */
  aliases: string[];
  /** Per granted model, which grants (1-based) give it. */
  via: Record<string, number[]>;
  note?: string;
}

export interface Preview {
  subject: string | null;
  rows: PreviewRow[];
  /** Per grant (1-based): the configured models its patterns match, whoever it names. */
  grants: { n: number; src: string[]; patterns: string[]; matches: string[]; unmatched: string[] }[];
  modelCount: number;
  truncated: boolean;
}

export interface DiffRow {
  path: string;
  before: unknown;
  after: unknown;
}

const REASON_MAX = 500;
const OVERVIEW_ROWS = 300;

/**
 * The settings page and the config API: global admins only. Editing goes through ConfigStore
 * (validation, write-only keys, versions, NOTIFY); this adds the editors' views of a document,
 * JSON text with line numbers, the grant preview and "test connection".
 */
@Injectable()
export class SettingsService {
  constructor(
    private readonly store: ConfigStore,
    private readonly registry: ProviderRegistry,
    private readonly repo: SettingsRepository,
    private readonly principals: PrincipalCacheService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  private admin(actor: Actor) {
    if (!actor.globalAdmin) throw forbidden('Settings are for global admins: providers, keys, pricing and grants apply to every organization. Ask a global admin to make the change.');
  }

  get source(): 'file' | 'database' {
    return this.store.source;
  }

  get configFile(): string | null {
    return this.rt.env.SLUICE_CONFIG ?? null;
  }

  // Reading ------------------------------------------------------------------------------------

  /** Everything the editor page shows: the active version (keys masked), as rows and as text. */
  async editor(actor: Actor): Promise<{ meta: ConfigVersionMeta | null; document: Doc; model: EditorModel; text: string; choices: SubjectChoices }> {
    this.admin(actor);
    const [v, choices] = await Promise.all([this.store.view(), this.repo.choices()]);
    return { meta: v.meta, document: v.document, model: editorModel(v.document), text: prettyJson(v.document), choices };
  }

  async choices(actor: Actor): Promise<SubjectChoices> {
    this.admin(actor);
    return this.repo.choices();
  }

  async active(actor: Actor) {
    this.admin(actor);
    const v = await this.store.view();
    return { source: this.source, version: v.meta, document: v.document };
  }

  async history(actor: Actor, limit = 200): Promise<ConfigVersionMeta[]> {
    this.admin(actor);
    return this.store.history(limit);
  }

  async version(actor: Actor, n: unknown) {
    this.admin(actor);
    const v = await this.store.view(versionNumber(n));
    return { ...v, text: prettyJson(v.document) };
  }

  async diff(actor: Actor, from: unknown, to: unknown): Promise<{ from: number; to: number; changes: DiffRow[] }> {
    this.admin(actor);
    const activeVersion = async () => (await this.store.view()).meta?.version;
    const a = versionNumber(from === 'active' ? await activeVersion() : from, 'from');
    const b = versionNumber(to === 'active' ? await activeVersion() : to, 'to');
    return { from: a, to: b, changes: await this.store.diff(a, b) };
  }

  // Writing ------------------------------------------------------------------------------------

  /** A save from the visual editor's fields. */
  async saveForm(actor: Actor, f: Fields): Promise<ConfigVersionMeta> {
    this.admin(actor);
    const reason = reasonOf(one(f, 'reason'));
    const { doc, renames, issues } = documentFromForm(f);
    if (issues.length) throw new ConfigValidationError(issues);
    return this.store.save(actor.label, doc, reason, { renames, baseVersion: f.has('baseVersion') ? baseVersionOf(one(f, 'baseVersion')) : undefined });
  }

  /** A save from the JSON editor: schema problems come back with their line in the text. */
  async saveText(actor: Actor, text: string, why: string, baseVersion?: string): Promise<ConfigVersionMeta> {
    this.admin(actor);
    const reason = reasonOf(why);
    const { value, positions } = this.parseText(text);
    try {
      return await this.store.save(actor.label, value, reason, { baseVersion: baseVersion === undefined ? undefined : baseVersionOf(baseVersion) });
    } catch (e) {
      if (e instanceof ConfigValidationError) throw new ConfigValidationError(withLines(e.issues, positions));
      throw e;
    }
  }

  /** A save through the API: a document, or JSON text (then issues carry lines). */
  async saveApi(actor: Actor, body: unknown): Promise<ConfigVersionMeta> {
    this.admin(actor);
    const b = apiBody(body);
    if (typeof b.text === 'string') return this.saveText(actor, b.text, String(b.reason ?? ''), b.baseVersion === undefined ? undefined : String(b.baseVersion));
    const reason = reasonOf(typeof b.reason === 'string' ? b.reason : '');
    if (!('document' in b)) throw invalid('send the config as `document` (a JSON object) or `text` (JSON text), with a `reason`', 'document');
    return this.store.save(actor.label, b.document, reason, { baseVersion: b.baseVersion === undefined ? undefined : baseVersionOf(String(b.baseVersion ?? '')) });
  }

  async restore(actor: Actor, n: unknown, why: unknown): Promise<ConfigVersionMeta> {
    this.admin(actor);
    return this.store.restore(actor.label, versionNumber(n), reasonOf(typeof why === 'string' ? why : ''));
  }

  // Checking ------------------------------------------------------------------------------------

  /** Schema problems of a draft, without saving: JSON text (with lines) or the visual editor's fields. */
  async validateFields(actor: Actor, f: Fields): Promise<EditorIssue[]> {
    this.admin(actor);
    if (f.has('json')) return this.validateText(f.get('json')![0] ?? '');
    const { doc, issues } = documentFromForm(f);
    if (issues.length) return issues;
    return this.schemaIssues(doc);
  }

  async validateApi(actor: Actor, body: unknown): Promise<{ valid: boolean; issues: EditorIssue[] }> {
    this.admin(actor);
    const b = apiBody(body);
    const issues = typeof b.text === 'string' ? this.validateText(b.text) : 'document' in b ? this.schemaIssues(b.document) : [{ path: '(root)', message: 'send `document` (a JSON object) or `text` (JSON text)' }];
    return { valid: issues.length === 0, issues };
  }

  private validateText(text: string): EditorIssue[] {
    try {
      const { value, positions } = parseJsonText(text);
      return withLines(this.schemaIssues(value), positions);
    } catch (e) {
      if (e instanceof JsonSyntaxError) return [{ path: '(syntax)', message: e.message, line: e.at.line, column: e.at.column }];
      throw e;
    }
  }

  private parseText(text: string) {
    try {
      return parseJsonText(text);
    } catch (e) {
      if (e instanceof JsonSyntaxError) throw new ConfigValidationError([{ path: '(syntax)', message: e.message, line: e.at.line, column: e.at.column } as EditorIssue]);
      throw e;
    }
  }

  private schemaIssues(doc: unknown): ConfigIssue[] {
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return [{ path: '(root)', message: 'must be a JSON object' }];
    const res = validateGatewayConfig(doc);
    return res.ok ? [] : res.issues;
  }

  /** The draft an editor is showing: the JSON editor's text or the visual editor's fields. */
  private draftOf(f: Fields): { doc: Doc; typedKeys: Set<string>; renames: Record<string, string> } {
    if (f.has('json')) {
      const { value } = this.parseText(f.get('json')![0] ?? '');
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigValidationError([{ path: '(root)', message: 'must be a JSON object' }]);
      const doc = value as Doc;
      const typedKeys = new Set<string>();
      for (const [name, p] of Object.entries<Doc>(doc.providers && typeof doc.providers === 'object' ? doc.providers : {})) {
        if (typeof p?.apikey === 'string' && p.apikey && !p.apikey.startsWith(MASK) && !p.apikey.startsWith('env:')) typedKeys.add(name);
      }
      return { doc, typedKeys, renames: {} };
    }
    const { doc, issues, typedKeys, renames } = documentFromForm(f);
    if (issues.length) throw new ConfigValidationError(issues);
    return { doc, typedKeys, renames };
  }

  /**
   * The draft moved to the other editor. Newly typed keys are not carried (that would send them
   * back to the browser): they are replaced by the stored key's mask and named in `droppedKeys`.
   */
  async convert(actor: Actor, f: Fields): Promise<{ model: EditorModel; text: string; droppedKeys: string[]; document: Doc }> {
    this.admin(actor);
    const { doc, typedKeys, renames } = this.draftOf(f);
    const stored = (await this.store.view()).document;
    const out = structuredClone(doc);
    for (const [name, p] of Object.entries<Doc>(out.providers && typeof out.providers === 'object' ? out.providers : {})) {
      // "Keep the stored key" (and a typed key, which is not sent back) show as the stored mask.
      if (!p || typeof p !== 'object' || (!typedKeys.has(name) && p.apikey !== MASK)) continue;
      const was = stored.providers?.[renames[name] ?? name]?.apikey;
      p.apikey = typeof was === 'string' ? was : MASK;
    }
    // Typed credential headers are not sent back either: the stored mask, or a bare mask.
    const dropped = [...typedKeys];
    for (const [name, p] of Object.entries<Doc>(out.providers && typeof out.providers === 'object' ? out.providers : {})) {
      const headers = p?.headers;
      if (!headers || typeof headers !== 'object' || Array.isArray(headers)) continue;
      const storedHeaders: Doc = stored.providers?.[renames[name] ?? name]?.headers ?? {};
      for (const [h, v] of Object.entries<unknown>(headers)) {
        if (!isSecretHeader(h) || typeof v !== 'string' || !v || v.startsWith(MASK) || v.startsWith('env:')) continue;
        const k = Object.keys(storedHeaders).find((x) => x.toLowerCase() === h.toLowerCase());
        headers[h] = k !== undefined && typeof storedHeaders[k] === 'string' ? storedHeaders[k] : MASK;
        dropped.push(`${name} (header ${h})`);
      }
    }
    return { model: editorModel(out), text: prettyJson(out), droppedKeys: dropped, document: out };
  }

  // The grant preview ------------------------------------------------------------------------

  /**
   * Which configured models the draft's grants give a subject, or every organization, team,
   * person (per organization) and service account. Decided by the proxy's own grant evaluation
   * (grantedModelIds over the same compiled grants), so the preview cannot disagree with requests.
   */
  async preview(actor: Actor, f: Fields): Promise<Preview> {
    this.admin(actor);
    const subject = one(f, '_previewSubject') || null;
    // In file mode the editor is read-only (its fields are not sent): the file is the draft.
    if (this.source === 'file') return this.previewOf(this.rt.gatewayConfig, subject);
    const { doc } = this.draftOf(f);
    const res = validateGatewayConfig(doc);
    if (!res.ok) throw new ConfigValidationError(res.issues);
    return this.previewOf(res.config, subject);
  }

  private async previewOf(cfg: GatewayConfig, subject: string | null): Promise<Preview> {
    const grants = compileGrants(cfg.grants);
    const ids = modelIdsOf(cfg);
    const aliasTargets = Object.entries(cfg.aliases);
    const row = (kind: PreviewRow['kind'], subj: string, label: string, subjects: Set<string>, extra: Partial<PreviewRow> = {}, narrow?: string[] | null): PreviewRow => {
      const models = [...grantedModelIds(grants, subjects, ids, narrow)];
      const via: Record<string, number[]> = {};
      for (const id of models) via[id] = grants.map((g, n) => (grantedModelIds([g], subjects, [id]).size ? n + 1 : 0)).filter(Boolean);
      const granted = new Set(models);
      return { kind, subject: subj, label, models, aliases: aliasTargets.filter(([, t]) => granted.has(t)).map(([a]) => a), via, ...extra };
    };
    const c = await this.repo.choices();
    const rows: PreviewRow[] = [];
    let truncated = false;
    if (!subject) {
      rows.push(row('everyone', '*', 'everyone', new Set(['*'])));
      for (const o of c.orgs) rows.push(row('org', `org:${o.slug}`, o.name || o.slug, subjectsFor({ orgSlug: o.slug })));
      for (const t of c.teams) rows.push(row('team', `team:${t.org}/${t.slug}`, `${t.org} / ${t.name || t.slug}`, subjectsFor({ orgSlug: t.org, teamPaths: [`${t.org}/${t.slug}`] })));
      for (const u of c.users) rows.push(row('user', `user:${u.email}`, u.name ? `${u.name} <${u.email}>` : u.email, subjectsFor({ orgSlug: u.org, teamPaths: u.teams.map((s) => `${u.org}/${s}`), email: u.email }), { org: u.org }));
      for (const s of c.serviceAccounts) rows.push(row('service-account', `service-account:${s.org}/${s.name}`, `${s.org} / ${s.name}`, subjectsFor({ orgSlug: s.org, teamPaths: s.team ? [`${s.org}/${s.team}`] : [], serviceAccountName: s.name })));
      if (rows.length > OVERVIEW_ROWS) {
        rows.length = OVERVIEW_ROWS;
        truncated = true;
      }
    } else {
      rows.push(...(await this.subjectRows(subject, c, row)));
    }
    const patterns = cfg.grants.map((g, n) => {
      const matches = [...grantedModelIds([grants[n]], new Set(['*', ...grants[n].subjects]), ids)];
      const unmatched = g.models.filter((p) => !grantedModelIds(compileGrants([{ src: ['*'], models: [p] }]), new Set(['*']), ids).size);
      return { n: n + 1, src: g.src, patterns: g.models, matches, unmatched };
    });
    return { subject, rows, grants: patterns, modelCount: ids.length, truncated };
  }

  private async subjectRows(subject: string, c: SubjectChoices, row: (kind: PreviewRow['kind'], subj: string, label: string, subjects: Set<string>, extra?: Partial<PreviewRow>, narrow?: string[] | null) => PreviewRow): Promise<PreviewRow[]> {
    const [kind, ...restParts] = subject.split(':');
    const rest = restParts.join(':');
    if (subject === '*') return [row('everyone', '*', 'everyone', new Set(['*']))];
    if (kind === 'org') return [row('org', subject, rest, subjectsFor({ orgSlug: rest }))];
    if (kind === 'team') {
      const [org] = rest.split('/');
      return [row('team', subject, rest, subjectsFor({ orgSlug: org, teamPaths: [rest] }))];
    }
    if (kind === 'user') {
      const email = rest.toLowerCase();
      const memberships = c.users.filter((u) => u.email === email);
      if (!memberships.length) return [row('user', subject, rest, new Set(), { note: 'not a member of any organization, so no token can act for them yet' })];
      return memberships.map((u) => row('user', subject, `${u.email} in ${u.org}`, subjectsFor({ orgSlug: u.org, teamPaths: u.teams.map((s) => `${u.org}/${s}`), email: u.email }), { org: u.org }));
    }
    if (kind === 'service-account') {
      const [org, ...name] = rest.split('/');
      const sa = c.serviceAccounts.find((s) => s.org === org && s.name === name.join('/'));
      return [row('service-account', subject, rest, subjectsFor({ orgSlug: org, teamPaths: sa?.team ? [`${org}/${sa.team}`] : [], serviceAccountName: name.join('/') }), sa ? {} : { note: 'no such service account (or it is disabled)' })];
    }
    if (kind === 'token') {
      const p = /^[0-9a-f-]{36}$/i.test(rest) ? await this.principals.byId(rest) : null;
      if (!p) return [row('token', subject, rest, new Set(), { note: 'no such token' })];
      const label = `${p.tokenName} (${p.ownerEmail ?? p.serviceAccountName ?? 'no owner'}, ${p.orgSlug})`;
      const note = p.revoked ? 'revoked: it can use nothing' : p.modelPatterns?.length ? `narrowed by the token's own patterns: ${p.modelPatterns.join(', ')}` : undefined;
      return [row('token', subject, label, p.revoked ? new Set() : subjectsFor({ orgSlug: p.orgSlug, teamPaths: p.teamPaths, email: p.ownerEmail, serviceAccountName: p.serviceAccountName, tokenId: p.tokenId }), { org: p.orgSlug, note }, p.modelPatterns)];
    }
    throw invalid('pick a subject: *, org:…, team:…, user:…, service-account:… or token:…', '_previewSubject');
  }

  // Test connection ------------------------------------------------------------------------------

  /**
   * Calls a provider's model list. From the visual editor: the provider row `test` as typed (a
   * new key from the form, else the stored one). In file mode, or from the API with `name` only,
   * the active provider of that name.
   */
  async testConnection(actor: Actor, f: Fields): Promise<ProbeResult & { provider: string }> {
    this.admin(actor);
    const i = one(f, 'test');
    const activeName = one(f, 'provider');
    if (this.source === 'file' || (activeName && !i)) {
      const pc = this.rt.gatewayConfig.providers[activeName];
      if (!pc) throw invalid(`no active provider named "${activeName}"`, 'provider');
      return { provider: activeName, ...(await this.registry.probe(activeName, { ...pc, apikey: (await this.store.storedKey(activeName)).ref })) };
    }
    if (!/^\d+$/.test(i)) throw invalid('which provider? (send `test` with the row number)', 'test');
    const at = (k: string) => one(f, `p.${i}.${k}`);
    const name = at('name') || `provider ${Number(i) + 1}`;
    let extra: Doc = {};
    try {
      extra = at('extra') ? JSON.parse(at('extra')) : {};
    } catch {
      /* ignored: only timeouts and headers matter here */
    }
    const compat = Object.fromEntries((f.get(`p.${i}.compat`) ?? []).map((k) => [k, true]));
    const typed = clientKey(at('apikey'));
    const apikey = at('clearKey') ? undefined : typed ?? (await this.keptKey(at('orig') || name, at('baseurl')));
    const headers = await this.keptHeaders(at('orig') || name, at('baseurl'), extra.headers);
    const parsed = providerSchema.safeParse({ ...extra, headers, baseurl: at('baseurl'), authorization: at('authorization') || 'bearer', compatibility: compat, models: [], apikey });
    if (!parsed.success) throw new ConfigValidationError(parsed.error.issues.map((x) => ({ path: `providers.${name}.${x.path.join('.')}`, message: x.message })));
    return { provider: name, ...(await this.registry.probe(name, parsed.data)) };
  }

  /**
   * The stored key of a provider for a test, only toward the base URL it is saved with: a
   * write-only key must not be sendable to any address typed into a form (saving a new URL is
   * the way, and it leaves a version with who and why).
   */
  private async keptKey(name: string, baseurl: string): Promise<string | undefined> {
    const stored = await this.store.storedKey(name);
    if (stored.ref === undefined) return undefined;
    if (normalizeUrl(baseurl) !== normalizeUrl(stored.baseurl ?? '')) {
      throw invalid(`the stored key of "${name}" is only sent to its saved base URL; type the key to test ${baseurl || 'another URL'}, or save the new URL first`, 'apikey');
    }
    return stored.ref;
  }

  /**
   * A draft's extra headers with each masked credential header (••••last4) replaced by the value
   * stored for it, under the same rule as keys: only toward the saved base URL.
   */
  private async keptHeaders(name: string, baseurl: string, headers: unknown): Promise<unknown> {
    if (!headers || typeof headers !== 'object' || Array.isArray(headers)) return headers;
    const out = { ...(headers as Record<string, unknown>) };
    const masked = Object.keys(out).filter((h) => isSecretHeader(h) && typeof out[h] === 'string' && (out[h] as string).startsWith(MASK));
    if (!masked.length) return out;
    const stored = await this.store.storedKey(name);
    if (normalizeUrl(baseurl) !== normalizeUrl(stored.baseurl ?? '')) {
      throw invalid(`the stored headers of "${name}" are only sent to its saved base URL; type them to test ${baseurl || 'another URL'}, or save the new URL first`, 'headers');
    }
    for (const h of masked) {
      const k = Object.keys(stored.headers).find((x) => x.toLowerCase() === h.toLowerCase());
      if (k === undefined) throw invalid(`no stored value for the header ${h} of "${name}"; type it`, 'headers');
      out[h] = stored.headers[k];
    }
    return out;
  }

  async testConnectionApi(actor: Actor, body: unknown): Promise<ProbeResult & { provider: string }> {
    this.admin(actor);
    const b = apiBody(body);
    const name = typeof b.name === 'string' ? b.name.trim() : '';
    if (!name) throw invalid('send the provider `name`, and `provider` (its settings) to test a draft', 'name');
    if (b.provider === undefined || this.source === 'file') return this.testConnection(actor, new Map([['provider', [name]]]));
    const p = b.provider && typeof b.provider === 'object' ? { ...(b.provider as Doc) } : {};
    p.apikey = clientKey(typeof p.apikey === 'string' ? p.apikey : '') ?? (await this.keptKey(name, typeof p.baseurl === 'string' ? p.baseurl : ''));
    p.headers = await this.keptHeaders(name, typeof p.baseurl === 'string' ? p.baseurl : '', p.headers);
    const parsed = providerSchema.safeParse({ ...p, models: [] });
    if (!parsed.success) throw new ConfigValidationError(parsed.error.issues.map((x) => ({ path: `provider.${x.path.join('.')}`, message: x.message })));
    return { provider: name, ...(await this.registry.probe(name, parsed.data)) };
  }
}

const TOP_ORDER = ['providers', 'pricing', 'aliases', 'grants'];
const PROVIDER_ORDER = ['baseurl', 'authorization', 'apikey', 'models', 'compatibility', 'timeout_ms', 'headers'];

/** Keys in a reading order (PostgreSQL's jsonb keeps its own): known ones first, the rest as stored. */
function ordered(o: Doc, first: string[]): Doc {
  const out: Doc = {};
  for (const k of first) if (k in o) out[k] = o[k];
  for (const [k, v] of Object.entries(o)) if (!(k in out)) out[k] = v;
  return out;
}

/** The document as the JSON editor and version pages show it. */
export function prettyJson(doc: unknown): string {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return JSON.stringify(doc, null, 2);
  const top = ordered(doc as Doc, TOP_ORDER);
  if (top.providers && typeof top.providers === 'object' && !Array.isArray(top.providers)) {
    top.providers = Object.fromEntries(Object.entries<Doc>(top.providers).map(([n, p]) => [n, p && typeof p === 'object' && !Array.isArray(p) ? ordered(p, PROVIDER_ORDER) : p]));
  }
  return JSON.stringify(top, null, 2);
}

function withLines(issues: ConfigIssue[], positions: Map<string, { line: number; column: number }>): EditorIssue[] {
  return issues.map((i) => {
    if ((i as EditorIssue).line) return i;
    const at = locate(positions, i.path);
    return at ? { ...i, line: at.line, column: at.column } : i;
  });
}

/**
 * A key a client typed for "test connection": the key or an env: reference; empty or the mask
 * mean "the stored one" (undefined). Stored `enc:` values are never accepted from a client, so
 * this cannot be used to have Sluice decrypt something.
 */
function clientKey(v: string): string | undefined {
  const s = (v ?? '').trim();
  if (!s || s.startsWith(MASK)) return undefined;
  if (s.startsWith('enc:')) throw invalid('send the key itself, an env: reference, or nothing to use the stored one', 'apikey');
  return s;
}

const normalizeUrl = (u: string) => u.trim().replace(/\/+$/, '').replace(/\/v1$/, '').toLowerCase();

function reasonOf(v: string): string {
  const s = (v ?? '').trim();
  if (!s) throw invalid('say why you are making this change (it is kept in the history with your name)', 'reason');
  if (s.length > REASON_MAX) throw invalid(`the reason must be at most ${REASON_MAX} characters`, 'reason');
  return s;
}

function baseVersionOf(v: string): number | null {
  if (v === '' || v === 'none') return null;
  if (!/^\d+$/.test(v)) throw invalid('baseVersion must be a version number', 'baseVersion');
  return Number(v);
}

function versionNumber(v: unknown, what = 'version'): number {
  const s = String(v ?? '');
  if (!/^\d{1,15}$/.test(s) || Number(s) <= 0) throw invalid(`${what} must be a version number`, what);
  return Number(s);
}

function apiBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('send a JSON object');
  return body as Record<string, unknown>;
}
