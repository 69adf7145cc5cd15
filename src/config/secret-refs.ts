import { ConfigError } from './env';

/**
 * Provider keys in the config may be literal or `env:NAME` references, resolved here (the only
 * module that reads process.env). The error names the reference's variable and config path,
 * never a value.
 */
export function resolveSecretRef(ref: string | undefined, path: string, source: NodeJS.ProcessEnv = process.env): string | undefined {
  if (ref === undefined || ref === '') return undefined;
  const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(ref);
  if (!m) return ref;
  const v = source[m[1]];
  if (v === undefined || v === '') throw new ConfigError(`${path}: environment variable ${m[1]} is not set`);
  return v;
}
