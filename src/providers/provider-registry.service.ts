import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'undici';
import type { Logger } from 'pino';
import { invalid, notFound } from '../common/errors';
import type { GatewayConfig, PricingConfig, ProviderConfig } from '../config/gateway-config.schema';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { resolveSecretRef } from '../config/secret-refs';
import { decryptSecret } from '../common/crypto';
import type { Principal } from '../tokens/principal';
import { subjectsOf } from '../tokens/principal';
import { PatternSet } from './model-pattern';

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
  grants: { subjects: Set<string>; patterns: PatternSet }[];
}

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
    const subjects = subjectsOf(p);
    const narrow = p.modelPatterns?.length ? new PatternSet(p.modelPatterns) : null;
    const grants = this.snap.grants.filter((g) => [...g.subjects].some((s) => subjects.has(s)));
    const ids = new Set<string>();
    for (const id of this.snap.models.keys()) {
      if (grants.some((g) => g.patterns.matches(id)) && (!narrow || narrow.matches(id))) ids.add(id);
    }
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
      grants: config.grants.map((g) => ({ subjects: new Set(g.src.map((s) => (s.startsWith('user:') ? s.toLowerCase() : s))), patterns: new PatternSet(g.models) })),
    };
  }

  private buildProvider(name: string, pc: ProviderConfig): ProviderRuntime {
    const url = new URL(pc.baseurl);
    const key = this.keyOf(pc.apikey, `providers.${name}.apikey`);
    const authHeader: [string, string] | null = key ? (pc.authorization === 'x-api-key' ? ['x-api-key', key] : ['authorization', `Bearer ${key}`]) : null;
    const headersTimeoutMs = pc.timeout_ms ?? DEFAULT_HEADERS_TIMEOUT_MS;
    const bodyTimeoutMs = pc.timeout_ms ?? DEFAULT_BODY_TIMEOUT_MS;
    const pool = new Pool(url.origin, {
      connections: 256,
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
      extraHeaders: pc.headers ?? {},
      models: pc.models,
    };
  }
}
