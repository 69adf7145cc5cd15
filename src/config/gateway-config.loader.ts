import * as fs from 'node:fs';
import { ConfigError } from './env';
import { GatewayConfig, emptyGatewayConfig, validateGatewayConfig } from './gateway-config.schema';

/** Reads and validates the SLUICE_CONFIG file; errors name the file's JSON path, never values. */
export function loadGatewayConfigFile(file: string | undefined): GatewayConfig {
  if (!file) return emptyGatewayConfig();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`invalid environment: SLUICE_CONFIG: cannot read the file (${(e as NodeJS.ErrnoException).code})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`invalid environment: SLUICE_CONFIG: not valid JSON (${(e as Error).message})`);
  }
  const res = validateGatewayConfig(doc);
  if (!res.ok) {
    throw new ConfigError(`invalid gateway config in SLUICE_CONFIG: ${res.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  return res.config;
}
