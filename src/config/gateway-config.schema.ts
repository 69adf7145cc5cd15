import { z } from 'zod';
import { exportConfigSchema } from './export-config';

/**
 * The gateway config document: providers, models, pricing, aliases and grants. The provider shape
 * is Aperture's, accepted as-is; other top-level keys are allowed so documents written for newer
 * versions still load.
 */
const compatibility = z.looseObject({
  openai_chat: z.boolean().optional(),
  openai_completions: z.boolean().optional(),
  openai_responses: z.boolean().optional(),
  openai_embeddings: z.boolean().optional(),
  anthropic_messages: z.boolean().optional(),
});

const providerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'provider names use letters, digits, dot, dash and underscore');

export const providerSchema = z.looseObject({
  baseurl: z.url({ error: 'must be an absolute http(s) URL' }).refine((u) => /^https?:\/\//.test(u), 'must be http or https'),
  /** Literal key, `env:VAR` to read it from the environment, or omitted for keyless local servers. */
  apikey: z.string().optional(),
  models: z.array(z.string().min(1)).default([]),
  authorization: z.enum(['bearer', 'x-api-key']).default('bearer'),
  compatibility: compatibility.default({ openai_chat: true }),
  /** Per-request upstream timeout in milliseconds (time to response headers and between chunks). */
  timeout_ms: z.number().int().positive().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const price = z.number().nonnegative();
export const pricingSchema = z.looseObject({
  input: price.default(0),
  output: price.default(0),
  cached_input: price.optional(),
  cache_write: price.optional(),
});

const subject = z
  .string()
  .regex(
    /^(\*|org:[^/\s]+|team:[^/\s]+\/[^/\s]+|user:\S+@\S+|token:\S+|service-account:[^/\s]+\/\S+)$/,
    'subjects are *, org:<slug>, team:<org>/<team>, user:<email>, token:<id> or service-account:<org>/<name>',
  );

/** Request capture: nothing, headers and sizes only, or headers and bodies (see `capture`). */
export const captureModeSchema = z.enum(['off', 'metadata', 'full']);
export type CaptureMode = z.infer<typeof captureModeSchema>;

export const grantSchema = z.looseObject({
  src: z.array(subject).min(1, 'a grant needs at least one subject'),
  models: z.array(z.string().min(1)).min(1, 'a grant needs at least one model pattern'),
  /** Overrides the org's and the default capture mode for the requests this grant allows. */
  capture: captureModeSchema.optional(),
});

const regex = z.string().min(1).refine((v) => {
  try {
    new RegExp(v, 'g');
    return true;
  } catch {
    return false;
  }
}, 'must be a valid regular expression');

/**
 * Request capture (logs): the default mode, per-org overrides (by org slug) and an org-level
 * `require_off` that nothing else can override, how long captures are kept (apart from usage rows),
 * the per-body size cap, and extra patterns whose matches are redacted before storage.
 */
export const captureSchema = z.looseObject({
  mode: captureModeSchema.default('off'),
  retention_days: z.number().int().positive().max(3650).default(30),
  body_cap_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
  secret_patterns: z.array(regex).default([]),
  orgs: z
    .record(
      z.string(),
      z.looseObject({ mode: captureModeSchema.optional(), require_off: z.boolean().optional(), retention_days: z.number().int().positive().max(3650).optional() }),
    )
    .default({}),
});

/** Requests without a session id from the client are grouped by caller and client with this gap. */
export const sessionsSchema = z.looseObject({
  inactivity_gap_minutes: z.number().int().positive().max(7 * 24 * 60).default(30),
});

export const gatewayConfigSchema = z.looseObject({
  providers: z.record(providerName, providerSchema).default({}),
  pricing: z.record(z.string(), pricingSchema).default({}),
  aliases: z.record(z.string(), z.string()).default({}),
  grants: z.array(grantSchema).default([]),
  capture: captureSchema.prefault({}),
  sessions: sessionsSchema.prefault({}),
  /** Scheduled exports to S3-compatible buckets (see export-config.ts). */
  export: exportConfigSchema.prefault({}),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type PricingConfig = z.infer<typeof pricingSchema>;

export interface ConfigIssue {
  path: string;
  message: string;
}

/** Validates a document; issues carry a JSON path such as `providers.openai.baseurl`. */
export function validateGatewayConfig(doc: unknown): { ok: true; config: GatewayConfig } | { ok: false; issues: ConfigIssue[] } {
  const parsed = gatewayConfigSchema.safeParse(doc);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message })),
    };
  }
  const issues: ConfigIssue[] = [];
  const cfg = parsed.data;
  for (const [alias, target] of Object.entries(cfg.aliases)) {
    if (!/^[^/]+\/.+$/.test(target)) issues.push({ path: `aliases.${alias}`, message: 'must name provider/model' });
    else {
      const [p, ...m] = target.split('/');
      if (!cfg.providers[p]) issues.push({ path: `aliases.${alias}`, message: `unknown provider "${p}"` });
      else if (!cfg.providers[p].models.includes(m.join('/'))) issues.push({ path: `aliases.${alias}`, message: `provider "${p}" has no model "${m.join('/')}"` });
    }
  }
  for (const key of Object.keys(cfg.pricing)) {
    if (!/^[^/]+\/.+$/.test(key)) issues.push({ path: `pricing.${key}`, message: 'pricing keys are provider/model' });
  }
  return issues.length ? { ok: false, issues } : { ok: true, config: cfg };
}

export const emptyGatewayConfig = (): GatewayConfig => gatewayConfigSchema.parse({});
