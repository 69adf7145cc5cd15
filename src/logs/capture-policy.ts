import { Inject, Injectable } from '@nestjs/common';
import type { CaptureMode, GatewayConfig } from '../config/gateway-config.schema';
import { RUNTIME, type Runtime } from '../config/runtime';
import { PatternSet } from '../providers/model-pattern';
import type { Principal } from '../tokens/principal';
import { subjectsOf } from '../tokens/principal';

/** What a request's capture keeps; decided once per principal, model and config version. */
export interface CaptureSettings {
  mode: Exclude<CaptureMode, 'off'>;
  capBytes: number;
  /** Configured secret patterns, compiled once per config. */
  patterns: RegExp[];
}

interface Compiled {
  defaultMode: CaptureMode;
  orgs: Map<string, { mode?: CaptureMode; requireOff: boolean }>;
  grants: { subjects: Set<string>; patterns: PatternSet; mode: CaptureMode }[];
  capBytes: number;
  patterns: RegExp[];
}

const RANK: Record<CaptureMode, number> = { off: 0, metadata: 1, full: 2 };

/**
 * Decides per request whether and how much to capture, from the gateway config's `capture`
 * section and the grants' `capture` overrides. Precedence: an org's `require_off` beats
 * everything; then grants that set `capture` and allow this caller and model (when several
 * disagree, the one capturing least wins: an explicit "off" for a person is never overridden by a
 * broader grant); then the org's mode; then the default. Results are cached per principal and
 * model, and rebuilt when a new config is activated, so the hot path pays a map lookup.
 */
@Injectable()
export class CapturePolicy {
  private compiledFor: GatewayConfig | null = null;
  private compiled!: Compiled;
  private readonly cache = new WeakMap<Principal, { c: Compiled; byModel: Map<string, CaptureSettings | null> }>();

  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  private current(): Compiled {
    const cfg = this.rt.gatewayConfig;
    if (cfg !== this.compiledFor) {
      this.compiled = compile(cfg);
      this.compiledFor = cfg;
    }
    return this.compiled;
  }

  /** Capture settings for a request, or null when nothing is captured. `modelId` is provider/model when known. */
  decide(p: Principal, modelId: string | null): CaptureSettings | null {
    const c = this.current();
    let entry = this.cache.get(p);
    if (!entry || entry.c !== c) {
      entry = { c, byModel: new Map() };
      this.cache.set(p, entry);
    }
    const key = modelId ?? '';
    const hit = entry.byModel.get(key);
    if (hit !== undefined) return hit;
    const mode = modeFor(c, p, modelId);
    const out = mode === 'off' ? null : { mode, capBytes: c.capBytes, patterns: c.patterns };
    entry.byModel.set(key, out);
    return out;
  }
}

function compile(cfg: GatewayConfig): Compiled {
  const cap = cfg.capture;
  return {
    defaultMode: cap.mode,
    orgs: new Map(Object.entries(cap.orgs).map(([slug, o]) => [slug.toLowerCase(), { mode: o.mode, requireOff: o.require_off === true }])),
    grants: cfg.grants
      .filter((g) => g.capture !== undefined)
      .map((g) => ({ subjects: new Set(g.src.map((s) => (s.startsWith('user:') ? s.toLowerCase() : s))), patterns: new PatternSet(g.models), mode: g.capture! })),
    capBytes: cap.body_cap_bytes,
    patterns: cap.secret_patterns.map((s) => new RegExp(s, 'g')),
  };
}

function modeFor(c: Compiled, p: Principal, modelId: string | null): CaptureMode {
  const org = c.orgs.get(p.orgSlug.toLowerCase());
  if (org?.requireOff) return 'off';
  if (c.grants.length) {
    const subjects = subjectsOf(p);
    let best: CaptureMode | null = null;
    for (const g of c.grants) {
      if (![...g.subjects].some((s) => subjects.has(s))) continue;
      if (modelId !== null && !g.patterns.matches(modelId)) continue;
      if (best === null || RANK[g.mode] < RANK[best]) best = g.mode;
    }
    if (best !== null) return best;
  }
  return org?.mode ?? c.defaultMode;
}

/** Capture retention per org slug (days), and the default, for the purge job. */
export function retentionOf(cfg: GatewayConfig): { defaultDays: number; orgs: Map<string, number> } {
  const orgs = new Map<string, number>();
  for (const [slug, o] of Object.entries(cfg.capture.orgs)) if (o.retention_days !== undefined) orgs.set(slug.toLowerCase(), o.retention_days);
  return { defaultDays: cfg.capture.retention_days, orgs };
}

/** The session inactivity gap in milliseconds. */
export function sessionGapMs(cfg: GatewayConfig): number {
  return (cfg.sessions?.inactivity_gap_minutes ?? 30) * 60_000;
}
