import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'undici';
import type { Logger } from 'pino';
import { invalid, notFound } from '../common/errors';
import type { GatewayConfig, PricingConfig, ProviderConfig } from '../config/gateway-config.schema';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { resolveSecretRef } from '../config/secret-refs';
import { decryptSecret } from '../common/crypto';
import { resolveHeaders } from '../config/header-secrets';
import { VERSION } from '../common/paths';
import type { Principal } from '../tokens/principal';
import { subjectsOf } from '../tokens/principal';
import { CompiledGrant, compileGrants, grantedModelIds } from './grants';

/** What a route needs from a provider; the flag names are Aperture's. */
export type Capability = 'openai_chat' | 'openai_completions' | 'openai_responses' | 'openai_embeddings' | 'anthropic_messages';

export interface ProviderRuntime {
  name: string;
  origin: string;
  /** Path prefix of the base URL without a trailing `/v1` (request paths carry their own `/v1`). */
  basePath: string;
  pool: Pool;
  authHeader: [string, string] | null;
  compat: Record<string, boolean | undefined>;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  extraHeaders: Record<string, string>;
  models: string[];
}

export interface ModelRef {
  /** `provider/model`, the id used in grants, pricing, usage rows and /v1/models. */
  id: string;
  provider: ProviderRuntime;
  /** The upstream's own model name. */
  model: string;
}

interface Snapshot {
  version: number;
  providers: Map<string, ProviderRuntime>;
  models: Map<string, ModelRef>;
  byBareName: Map<string, ModelRef[]>;
  aliases: Map<string, string>;
  pricing: Map<string, PricingConfig>;
  grants: CompiledGrant[];
}

/** What "test connection" found at a provider's model list. */
export interface ProbeResult {
  ok: boolean;
  /** The upstream's HTTP status, or null when it could not be reached. */
  status: number | null;
  modelCount: number | null;
  /** The first model ids the provider listed. */
  sample: string[];
  error: string | null;
  ms: number;
  /** Whether the active provider's pool served the call, or a pool built for this draft. */
  pool: 'active' | 'draft';
}

const PROBE_TIMEOUT_MS = 10_000;
const PROBE_MAX_BODY = 2 * 1024 * 1024;
const DEFAULT_HEADERS_TIMEOUT_MS = 120_000;
const DEFAULT_BODY_TIMEOUT_MS = 300_000;

/**
 * The active gateway config, compiled for the hot path: upstream pools, model lookup, pricing and
 * grants. Built once per config version and swapped atomically; readers never see a half-built one.
 */
@Injectable()
export class ProviderRegistry implements OnApplicationShutdown {
  private snap: Snapshot;
  private readonly allowedCache = new WeakMap<Principal, { version: number; ids: Set<string> }>();

  constructor(
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.snap = this.compile(rt.gatewayConfig, 1);
  }

  get version(): number {
    return this.snap.version;
  }

  /** Activates a new config; pools of the previous one close once their in-flight requests end. */
  apply(config: GatewayConfig): void {
    const old = this.snap;
    this.snap = this.compile(config, old.version + 1);
    for (const p of old.providers.values()) void p.pool.close().catch(() => undefined);
  }

  async onApplicationShutdown() {
    await Promise.all([...this.snap.providers.values()].map((p) => p.pool.close().catch(() => undefined)));
  }

  /**
   * `model`, `provider/model` or an alias. A bare name served by several providers is an error
   * naming the choices.
   */
  resolve(requested: string): ModelRef {
    const s = this.snap;
    const aliased = s.aliases.get(requested);
    if (aliased) {
      const ref = s.models.get(aliased);
      if (ref) return ref;
    }
    const exact = s.models.get(requested);
    if (exact) return exact;
    const bare = s.byBareName.get(requested);
    if (bare?.length === 1) return bare[0];
    if (bare && bare.length > 1) {
      throw invalid(`model "${requested}" is served by several providers; use one of ${bare.map((b) => `"${b.id}"`).sort().join(', ')}`, 'model');
    }
    throw notFound(`model "${requested}"`);
  }

  pricing(id: string): PricingConfig | undefined {
    return this.snap.pricing.get(id);
  }

  /** Deny by default: a grant must name one of the caller's subjects and match the model; the token's own patterns narrow further. */
  isAllowed(p: Principal, id: string): boolean {
    return this.allowedIds(p).has(id);
  }

  allowedIds(p: Principal): Set<string> {
    const cached = this.allowedCache.get(p);
    if (cached && cached.version === this.snap.version) return cached.ids;
    const ids = grantedModelIds(this.snap.grants, subjectsOf(p), this.snap.models.keys(), p.modelPatterns);
    this.allowedCache.set(p, { version: this.snap.version, ids });
    return ids;
  }

  /** Models and aliases the caller may use, for /v1/models. */
  listAllowed(p: Principal): { id: string; provider: string }[] {
    const ids = this.allowedIds(p);
    const out = [...ids].sort().map((id) => ({ id, provider: this.snap.models.get(id)!.provider.name }));
    for (const [alias, target] of [...this.snap.aliases].sort()) {
      if (ids.has(target)) out.push({ id: alias, provider: this.snap.models.get(target)!.provider.name });
    }
    return out;
  }

  /** A provider key: literal, `env:VAR`, or `enc:…` as stored in config versions. */
  private keyOf(ref: string | undefined, path: string): string | undefined {
    if (ref?.startsWith('enc:')) return decryptSecret(this.rt.keys, ref.slice(4));
    return resolveSecretRef(ref, path);
  }

  /** Throws (naming the path) when a key reference cannot be resolved on this instance. */
  checkKeyRef(ref: string, path: string): void {
    this.keyOf(ref, path);
  }

  /** Upstream pool state per provider, for /metrics. */
  poolStats(): [string, { connected: number; free: number; pending: number; queued: number; running: number; size: number }][] {
    return [...this.snap.providers.values()].map((p) => {
      const s = p.pool.stats;
      return [p.name, { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size }];
    });
  }

  /**
   * "Test connection": `GET {baseurl}/v1/models` with the provider's authorization style, through
   * the same undici pool setup the proxy uses — the active provider's pool when the draft matches
   * it, otherwise a pool built for the draft and closed afterwards. The key never appears in the
   * result, even when the upstream quotes it back.
   */
  async probe(name: string, pc: ProviderConfig): Promise<ProbeResult> {
    const start = performance.now();
    const ms = () => Math.round(performance.now() - start);
    let draft: ProviderRuntime;
    let key: string | undefined;
    try {
      key = this.keyOf(pc.apikey, `providers.${name}.apikey`);
      draft = this.buildProvider(name, pc);
    } catch (e) {
      return { ok: false, status: null, modelCount: null, sample: [], error: (e as Error).message, ms: ms(), pool: 'draft' };
    }
    const active = this.snap.providers.get(name);
    const same = active && active.origin === draft.origin && active.basePath === draft.basePath && JSON.stringify(active.authHeader) === JSON.stringify(draft.authHeader) && JSON.stringify(active.extraHeaders) === JSON.stringify(draft.extraHeaders);
    const use = same ? active : draft;
    if (same) void draft.pool.close().catch(() => undefined);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `sluice/${VERSION}`, ...use.extraHeaders };
    if (pc.compatibility?.anthropic_messages) headers['anthropic-version'] = '2023-06-01';
    if (use.authHeader) headers[use.authHeader[0]] = use.authHeader[1];
    const scrub = (text: string) => redactKey(text, key);
    try {
      const res = await use.pool.request({ method: 'GET', path: `${use.basePath}/v1/models`, headers, headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > PROBE_MAX_BODY) break;
        chunks.push(c as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: reported below */
      }
      if (res.statusCode >= 400) {
        const msg = typeof body?.error?.message === 'string' ? body.error.message : typeof body?.message === 'string' ? body.message : text.trim();
        return { ok: false, status: res.statusCode, modelCount: null, sample: [], error: scrub(msg.slice(0, 300) || `HTTP ${res.statusCode}`), ms: ms(), pool: same ? 'active' : 'draft' };
      }
      const list = Array.isArray(body?.data) ? body.data : Array.isArray(body?.models) ? body.models : null;
      if (!list) return { ok: false, status: res.statusCode, modelCount: null, sample: [], error: 'the answer is not a model list (no "data" array)', ms: ms(), pool: same ? 'active' : 'draft' };
      const ids = list.map((m: any) => (typeof m?.id === 'string' ? m.id : typeof m?.name === 'string' ? m.name : null)).filter((x: unknown): x is string => !!x);
      return { ok: true, status: res.statusCode, modelCount: list.length, sample: ids.slice(0, 50).map(scrub), error: null, ms: ms(), pool: same ? 'active' : 'draft' };
    } catch (e) {
      const code = (e as { code?: string })?.code ?? '';
      const why = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'no answer in time' : `unreachable (${code || (e as Error).message})`;
      return { ok: false, status: null, modelCount: null, sample: [], error: scrub(why), ms: ms(), pool: same ? 'active' : 'draft' };
    } finally {
      if (!same) void draft.pool.close().catch(() => undefined);
    }
  }

  catalog(): ModelRef[] {
    return [...this.snap.models.values()];
  }

  private compile(config: GatewayConfig, version: number): Snapshot {
    const providers = new Map<string, ProviderRuntime>();
    const models = new Map<string, ModelRef>();
    const byBareName = new Map<string, ModelRef[]>();
    for (const [name, pc] of Object.entries(config.providers)) {
      const provider = this.buildProvider(name, pc);
      providers.set(name, provider);
      for (const model of pc.models) {
        const ref: ModelRef = { id: `${name}/${model}`, provider, model };
        models.set(ref.id, ref);
        const list = byBareName.get(model) ?? [];
        list.push(ref);
        byBareName.set(model, list);
      }
    }
    return {
      version,
      providers,
      models,
      byBareName,
      aliases: new Map(Object.entries(config.aliases)),
      pricing: new Map(Object.entries(config.pricing)),
      grants: compileGrants(config.grants),
    };
  }

  private buildProvider(name: string, pc: ProviderConfig): ProviderRuntime {
    const url = new URL(pc.baseurl);
    const key = this.keyOf(pc.apikey, `providers.${name}.apikey`);
    const authHeader: [string, string] | null = key ? (pc.authorization === 'x-api-key' ? ['x-api-key', key] : ['authorization', `Bearer ${key}`]) : null;
    const headersTimeoutMs = pc.timeout_ms ?? DEFAULT_HEADERS_TIMEOUT_MS;
    const bodyTimeoutMs = pc.timeout_ms ?? DEFAULT_BODY_TIMEOUT_MS;
    const pool = new Pool(url.origin, {
      connections: this.rt.env.UPSTREAM_CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: headersTimeoutMs,
      bodyTimeout: bodyTimeoutMs,
      connectTimeout: 10_000,
    });
    pool.on('connectionError', (_origin, _targets, err) => this.logger.debug({ provider: name, err: err.message }, 'upstream connection error'));
    return {
      name,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, '').replace(/\/v1$/, ''),
      pool,
      authHeader,
      compat: pc.compatibility as Record<string, boolean | undefined>,
      headersTimeoutMs,
      bodyTimeoutMs,
      extraHeaders: resolveHeaders(pc.headers, name, this.rt.keys),
      models: pc.models,
    };
  }
}

/** Hides a key in text an upstream sent back; any 8-character run of it counts as quoting it. */
export function redactKey(text: string, key: string | undefined): string {
  if (!key || key.length < 8) return text;
  for (let i = 0; i + 8 <= key.length; i++) {
    if (text.includes(key.slice(i, i + 8))) return '(the provider\'s message quoted the key, so it is not shown)';
  }
  return text;
}
