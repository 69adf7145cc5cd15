import type { Logger } from 'pino';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Env } from './env';
import type { SecretKeys } from './secret-key';
import type { GatewayConfig } from './gateway-config.schema';

/**
 * What boot resolved before Nest starts: validated env, keys, logger, the connected ORM and the
 * gateway config. Passed to AppModule.forRoot so the server, the CLI and tests share one wiring.
 */
export interface Runtime {
  env: Env;
  keys: SecretKeys;
  logger: Logger;
  orm: MikroORM;
  gatewayConfig: GatewayConfig;
  databaseUrl: string;
}

export const RUNTIME = Symbol('RUNTIME');
export const LOGGER = Symbol('LOGGER');
