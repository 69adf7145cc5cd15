import { z } from 'zod';
import * as path from 'node:path';
import { isIP } from 'node:net';

/**
 * Every environment variable Sluice reads is declared here, validated once at boot.
 * Error messages name the variable and the reason; they never echo the value, because a
 * mistyped value is often a secret pasted into the wrong variable.
 */
const port = z.coerce
  .number({ error: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const positiveInt = (what: string) =>
  z.coerce.number({ error: `must be a number (${what})` }).int('must be an integer').positive('must be positive');

const databaseUrl = z
  .string()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
    } catch {
      return false;
    }
  }, 'must be a postgres:// or postgresql:// URL');

const byteSize = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'must be a size such as 512kb or 10mb')
  .transform((v) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v)!;
    const mult = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
    return Math.floor(Number(m[1]) * mult);
  });

const duration = z
  .string()
  .regex(/^\d+\s*[smhdw]$/, 'must be a duration such as 30m, 12h or 7d')
  .transform((v) => {
    const m = /^(\d+)\s*([smhdw])$/.exec(v)!;
    return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  })
  .refine((ms) => ms > 0, 'must be longer than zero');

const csv = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

/** `{"<group>": "admin" | "org:<slug>[:admin|:member]" | "team:<org>/<team>"}`; JSON because group names (DNs, paths) hold commas and `=`. */
const groupMap = z
  .string()
  .transform((v, ctx) => {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"sluice-admins":"admin","acme-devs":"org:acme"}' });
      return z.NEVER;
    }
  })
  .pipe(
    z.record(
      z.string().min(1),
      z.string().regex(/^(admin|org:[a-z0-9][a-z0-9-]{0,62}(:admin|:member)?|team:[a-z0-9][a-z0-9-]{0,62}\/[a-z0-9][a-z0-9-]{0,62})$/, {
        error: 'values must be "admin", "org:<slug>", "org:<slug>:admin" or "team:<org>/<team>"',
      }),
      { error: 'must be a JSON object mapping group names to roles' },
    ),
  );

export const envSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  /** Express "trust proxy": how client addresses are read behind a load balancer. */
  TRUST_PROXY: z
    .string()
    .transform((v, ctx) => {
      if (v === 'false') return false;
      if (v === 'true') return true;
      if (/^\d+$/.test(v)) return Number(v);
      const list = v.split(',').map((x) => x.trim()).filter(Boolean);
      const ok = list.every((x) => ['loopback', 'linklocal', 'uniquelocal'].includes(x) || isIP(x.split('/')[0]) !== 0);
      if (!ok) {
        ctx.addIssue({ code: 'custom', message: 'must be false, true, a hop count, or addresses/CIDRs such as 10.0.0.0/8,loopback' });
        return z.NEVER;
      }
      return list;
    })
    .default(false),
  DATABASE_URL: databaseUrl.optional(),
  DATABASE_POOL_MAX: positiveInt('connections').default(10),
  SLUICE_DATA_DIR: z.string().min(1, 'must not be empty').default('./.sluice'),
  SLUICE_SECRET_KEY: z
    .string()
    .min(32, 'must be at least 32 characters (e.g. `openssl rand -hex 32`)')
    .optional(),
  SLUICE_CONFIG: z.string().min(1, 'must not be empty').optional(),
  PUBLIC_URL: z.url({ error: 'must be an absolute URL such as https://sluice.example.com' }).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT: byteSize.default(10 * 1024 * 1024),
  SHUTDOWN_GRACE_MS: positiveInt('milliseconds').default(10_000),
  EMBEDDED_PG_PORT: port.default(54329),
  USAGE_QUEUE_MAX: positiveInt('records').default(50_000),
  USAGE_BATCH_SIZE: positiveInt('records').default(1_000),
  USAGE_FLUSH_MS: positiveInt('milliseconds').default(200),
  REQUEST_LOG_RETENTION_DAYS: positiveInt('days').default(90),
  /** Request captures waiting for the usage writer may hold this much; past it, new captures keep headers and sizes only. */
  CAPTURE_BUFFER_MAX: byteSize.default(256 * 1024 * 1024),
  /** How often each instance checks whether an S3 export (gateway config `export.s3`) is due. */
  EXPORT_CHECK_MS: positiveInt('milliseconds').default(30_000),
  BUDGET_RESERVATION_TTL_S: positiveInt('seconds').default(3600),
  BUDGET_SWEEP_MS: positiveInt('milliseconds').default(15_000),
  BUDGET_OUTPUT_CAP: positiveInt('tokens').default(4096),
  /** Keep-alive connections each process may open per provider (undici Pool size). */
  UPSTREAM_CONNECTIONS: positiveInt('connections').default(256),
  METRICS_ALLOW: z
    .string()
    .transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .refine(
      (list) =>
        list.every((e) => {
          const [addr, bits, extra] = e.split('/');
          const v = isIP(addr);
          return v !== 0 && extra === undefined && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v === 4 ? 32 : 128)));
        }),
      'must be a comma-separated list of IP addresses or CIDRs such as 10.0.0.0/8',
    )
    .optional(),
  // Sign-in (src/auth). Without OIDC_ISSUER, people sign in with one-time links (`sluice login-link`).
  OIDC_ISSUER: z.url({ error: 'must be the issuer URL, e.g. https://keycloak.example.com/realms/acme' }).optional(),
  OIDC_CLIENT_ID: z.string().min(1, 'must not be empty').optional(),
  OIDC_CLIENT_SECRET: z.string().min(1, 'must not be empty').optional(),
  OIDC_SCOPES: z.string().regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/, 'must be space-separated scope names').default('openid email profile'),
  OIDC_GROUPS_CLAIM: z.string().min(1, 'must not be empty').optional(),
  OIDC_REQUIRE_VERIFIED_EMAIL: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((v) => v === 'true')
    .default(true),
  OIDC_ADMIN_GROUPS: csv.optional(),
  OIDC_GROUP_MAP: groupMap.optional(),
  SLUICE_ADMINS: csv
    .pipe(z.array(z.string().regex(/^[^\s@,]+@[^\s@,]+$/, 'must be a comma-separated list of email addresses')))
    .transform((a) => a.map((e) => e.toLowerCase()))
    .optional(),
  SESSION_IDLE_TIMEOUT: duration.default(12 * 3_600_000),
  SESSION_MAX_AGE: duration.default(7 * 86_400_000),
  LOGIN_RATE_LIMIT: positiveInt('sign-in attempts per minute per client address').default(20),
});

export type Env = Omit<z.infer<typeof envSchema>, 'SLUICE_DATA_DIR'> & {
  /** Absolute path of the data directory. */
  SLUICE_DATA_DIR: string;
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError whose message is one line per bad variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Treat empty strings as unset: `FOO= npm start` should mean "default", not "invalid".
  const raw: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = source[key];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0] ?? 'environment')}: ${i.message}`);
    throw new ConfigError(`invalid environment: ${[...new Set(lines)].join('; ')}`);
  }
  const d = parsed.data;
  const oidc: string[] = [];
  if (d.OIDC_ISSUER && !d.OIDC_CLIENT_ID) oidc.push('OIDC_CLIENT_ID: required when OIDC_ISSUER is set');
  if (d.OIDC_ISSUER && !d.OIDC_CLIENT_SECRET) oidc.push('OIDC_CLIENT_SECRET: required when OIDC_ISSUER is set');
  if (!d.OIDC_ISSUER && (d.OIDC_CLIENT_ID || d.OIDC_CLIENT_SECRET)) oidc.push('OIDC_ISSUER: required when OIDC_CLIENT_ID or OIDC_CLIENT_SECRET is set');
  if (!d.OIDC_SCOPES.split(' ').includes('openid')) oidc.push('OIDC_SCOPES: must include openid');
  if (d.SESSION_IDLE_TIMEOUT > d.SESSION_MAX_AGE) oidc.push('SESSION_IDLE_TIMEOUT: must not be longer than SESSION_MAX_AGE');
  if (oidc.length) throw new ConfigError(`invalid environment: ${oidc.join('; ')}`);
  return { ...d, SLUICE_DATA_DIR: path.resolve(d.SLUICE_DATA_DIR) };
}
