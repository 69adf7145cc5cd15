import { z } from 'zod';
import { decryptSecret } from '../common/crypto';
import { resolveSecretRef } from './secret-refs';
import { writeOnly } from './write-only';
import type { SecretKeys } from './secret-key';

/**
 * The `export` section of the gateway config: scheduled exports of usage rows (request_log) and
 * captures (request_capture) to S3-compatible buckets, one named destination each. Secret access
 * keys are handled like provider keys: literal, `env:VAR`, or `enc:…` once a config version stored
 * them (write-only; shown as `••••last4`).
 */
export const EXPORT_KINDS = ['usage', 'capture', 'session'] as const;
/** What a destination exports unless it names kinds: request rows and captures (sessions on request). */
export const DEFAULT_EXPORT_KINDS = ['usage', 'capture'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `1h`, `1d` to milliseconds (the schema has already checked the shape). */
export function exportDurationMs(v: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(v.trim())!;
  return Number(m[1]) * DURATION_UNITS[m[2]];
}

// Durations stay strings in the parsed config, so a document shown from it saves back unchanged.
const duration = (min: number, max: number, what: string) =>
  z
    .string()
    .regex(/^\d+\s*[smhd]$/, 'must be a duration such as 90s, 15m, 1h or 1d')
    .refine((v) => exportDurationMs(v) >= min && exportDurationMs(v) <= max, what);

export const s3DestinationSchema = z.looseObject({
  /** S3 API endpoint; omitted for AWS itself (https://s3.<region>.amazonaws.com). */
  endpoint: z
    .url({ error: 'must be an absolute http(s) URL' })
    .refine((u) => /^https?:\/\/[^/]+\/?$/.test(u), 'must be http(s)://host[:port] with no path')
    .optional(),
  region: z.string().regex(/^[a-z0-9-]{1,32}$/, 'must be a region name such as eu-west-1').default('us-east-1'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'bucket names are 3 to 63 lowercase letters, digits, dots and dashes'),
  /** Prepended to every object key; `sluice/` gives `sluice/usage/dt=…/…`. */
  prefix: z
    .string()
    .max(256)
    .regex(/^([A-Za-z0-9!_.*'()=-]+\/)*$/, 'must be empty or path segments ending in "/", without a leading "/"')
    .default('sluice/'),
  /** Literal or `env:VAR`. */
  access_key_id: z.string().min(1, 'must not be empty'),
  /** Literal, `env:VAR`, or stored encrypted. Never shown back. */
  secret_access_key: z.string().min(1, 'must not be empty'),
  /** Bucket in the path (`host/bucket/key`) rather than the host name; default: on for a custom endpoint. */
  path_style: z.boolean().optional(),
  /** How often an export runs; objects cover windows of this length, aligned to UTC. */
  interval: duration(60_000, 86_400_000, 'must be between 1m and 1d').default('1h'),
  /** Rows are exported once they are this old, so rows still on their way through a batched writer are never skipped. */
  delay: duration(0, 86_400_000, 'must be at most 1d').default('5m'),
  /**
   * usage (request_log rows) and capture (request_capture rows) are exported once each; session
   * rows change as requests join them, so each change is exported again (keep the row with the
   * greatest updated_at per id).
   */
  kinds: z.array(z.enum(EXPORT_KINDS)).min(1, 'name at least one of usage, capture, session').default([...DEFAULT_EXPORT_KINDS]),
  /** Rows past their local retention are deleted only once this destination has them. */
  purge_after_export: z.boolean().default(false),
  max_rows_per_object: z.number().int().min(1).max(1_000_000).default(50_000),
  /** Uncompressed JSON bytes per object (an object ends at the row that crosses it). */
  max_bytes_per_object: z.number().int().min(1024).max(1024 ** 3).default(128 * 1024 ** 2),
  enabled: z.boolean().default(true),
});

export const exportConfigSchema = z.looseObject({
  s3: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'destination names use lowercase letters, digits, dash and underscore'), s3DestinationSchema).default({}),
});

export type S3DestinationConfig = z.infer<typeof s3DestinationSchema>;
export type ExportConfig = z.infer<typeof exportConfigSchema>;

/** Key of a destination's last-4 hint in config_version.key_hints (a colon is not valid in a provider name). */
export const exportHintKey = (name: string) => `export:s3:${name}`;

type Doc = Record<string, any>;
interface Issue {
  path: string;
  message: string;
}

/**
 * Before a config version is stored: literal secret access keys are encrypted, the mask (or
 * nothing) keeps the stored one, `env:` references must resolve here. Mutates `doc` and `hints`.
 */
export function protectExportSecrets(doc: Doc, prev: Doc | undefined, prevHints: Record<string, string> | undefined, hints: Record<string, string>, keys: SecretKeys, mask: string): Issue[] {
  const issues: Issue[] = [];
  const dests = doc?.export?.s3;
  if (!dests || typeof dests !== 'object') return issues;
  for (const [name, d] of Object.entries<Doc>(dests)) {
    if (!d || typeof d !== 'object') continue;
    const path = `export.s3.${name}.secret_access_key`;
    const hint = exportHintKey(name);
    const r = writeOnly(d.secret_access_key, prev?.export?.s3?.[name]?.secret_access_key, { path, keys, mask, what: 'key' });
    if (r.issue) issues.push(r.issue);
    else if (r.kept) {
      if (r.value !== undefined) d.secret_access_key = r.value;
      else delete d.secret_access_key;
      if (prevHints?.[hint]) hints[hint] = prevHints[hint];
    } else {
      d.secret_access_key = r.value;
      if (r.hint) hints[hint] = r.hint;
    }
    if (typeof d.access_key_id === 'string' && d.access_key_id.startsWith('env:')) checkRef(d.access_key_id, `export.s3.${name}.access_key_id`, issues);
  }
  return issues;
}

function checkRef(ref: string, path: string, issues: Issue[]) {
  try {
    resolveSecretRef(ref, path);
  } catch (e) {
    issues.push({ path, message: (e as Error).message.replace(/^[^:]+: /, '') });
  }
}

/** What people may see: secret access keys as `••••last4` (env: references are shown as they are). */
export function maskExportSecrets(doc: Doc, hints: Record<string, string>, mask: string): void {
  const dests = doc?.export?.s3;
  if (!dests || typeof dests !== 'object') return;
  for (const [name, d] of Object.entries<Doc>(dests)) {
    if (typeof d?.secret_access_key !== 'string' || d.secret_access_key.startsWith('env:')) continue;
    d.secret_access_key = mask + (hints[exportHintKey(name)] ?? '');
  }
}

/** A destination's credential as the signer needs it: `enc:` decrypted, `env:` resolved. */
export function resolveExportSecret(ref: string, path: string, keys: SecretKeys): string {
  if (ref.startsWith('enc:')) return decryptSecret(keys, ref.slice(4));
  return resolveSecretRef(ref, path)!;
}
