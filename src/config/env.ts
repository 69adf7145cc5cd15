import { z } from 'zod';
import * as path from 'node:path';

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

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' })
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));

const byteSize = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'must be a size such as 512kb or 10mb')
  .transform((v) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v)!;
    const mult = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
    return Math.floor(Number(m[1]) * mult);
  });

export const envSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
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
  LOG_PRETTY: bool.default(false),
  BODY_LIMIT: byteSize.default(10 * 1024 * 1024),
  SHUTDOWN_GRACE_MS: positiveInt('milliseconds').default(10_000),
  EMBEDDED_PG_PORT: port.default(54329),
  USAGE_QUEUE_MAX: positiveInt('records').default(50_000),
  USAGE_BATCH_SIZE: positiveInt('records').default(1_000),
  USAGE_FLUSH_MS: positiveInt('milliseconds').default(200),
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
  return { ...parsed.data, SLUICE_DATA_DIR: path.resolve(parsed.data.SLUICE_DATA_DIR) };
}
