import * as path from 'node:path';
import express from 'express';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { PinoNestLogger, createLogger } from './common/logger';
import { PROJECT_ROOT, VERSION } from './common/paths';
import { requestContext } from './common/request-context.middleware';
import { registerViews } from './common/views';
import { Env, loadEnv } from './config/env';
import { loadGatewayConfigFile } from './config/gateway-config.loader';
import { Runtime } from './config/runtime';
import { resolveSecretKeys } from './config/secret-key';
import { resolveSecretRef } from './config/secret-refs';
import { resolveDatabase, ResolvedDatabase } from './db/database-url';
import { migrate } from './db/migrate';
import { buildOrmConfig } from './db/mikro-orm.config';
import { installFastPath } from './proxy/fast-path';
import { ProxyService } from './proxy/proxy.service';

export interface Booted {
  rt: Runtime;
  db: ResolvedDatabase;
  /** Closes the ORM and stops the embedded database if we started it. */
  close(): Promise<void>;
}

/**
 * Everything before Nest: validate env, resolve keys, reach or start the database, migrate, and
 * load the gateway config. Throws ConfigError with a one-line reason on any bad setting.
 */
export async function bootRuntime(opts: { env?: Env; logger?: Logger; migrate?: boolean } = {}): Promise<Booted> {
  const env = opts.env ?? loadEnv();
  const logger = opts.logger ?? createLogger(env.LOG_LEVEL);
  const gatewayConfig = loadGatewayConfigFile(env.SLUICE_CONFIG);
  // Fail boot now, naming the variable, rather than on the first request that needs the key.
  for (const [name, p] of Object.entries(gatewayConfig.providers)) resolveSecretRef(p.apikey, `providers.${name}.apikey`);
  const keys = resolveSecretKeys(env);
  if (keys.source === 'file-created') logger.info({ dir: env.SLUICE_DATA_DIR }, 'generated a secret key into the data directory (set SLUICE_SECRET_KEY to share one across instances)');
  const db = await resolveDatabase(env, (m) => logger.info(m));
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(buildOrmConfig(db.url, env.DATABASE_POOL_MAX, (m) => logger.debug({ context: 'orm' }, m)));
    if (opts.migrate !== false) {
      const applied = await migrate(orm);
      if (applied.length) logger.info({ applied }, 'applied migrations');
    }
  } catch (e) {
    await db.embedded?.stop().catch(() => undefined);
    throw e;
  }
  const rt: Runtime = { env, keys, logger, orm, gatewayConfig, databaseUrl: db.url };
  return {
    rt,
    db,
    close: async () => {
      await orm.close(true).catch(() => undefined);
      await db.embedded?.stop().catch((e) => logger.warn({ err: String(e) }, 'embedded PostgreSQL did not stop cleanly'));
    },
  };
}

/** Builds the Nest application on a booted runtime: Express with explicit body limits and views. */
export async function createApp(rt: Runtime): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(rt), {
    bodyParser: false,
    logger: new PinoNestLogger(rt.logger),
    abortOnError: false,
  });
  app.set('trust proxy', rt.env.TRUST_PROXY);
  // Paths match exactly as written: /AUTH/link is not /auth/link (the auth middleware also
  // lower-cases before deciding, in case a route is matched case-insensitively anyway).
  app.set('case sensitive routing', true);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(rt.logger));
  app.use(express.json({ limit: rt.env.BODY_LIMIT, type: ['application/json', 'application/*+json'] }));
  app.use(express.urlencoded({ limit: rt.env.BODY_LIMIT, extended: false }));

  const nm = path.join(PROJECT_ROOT, 'node_modules');
  const staticOpts = { maxAge: '1h', index: false as const, fallthrough: true };
  app.useStaticAssets(path.join(PROJECT_ROOT, 'public'), { prefix: '/static/', ...staticOpts });
  app.useStaticAssets(path.join(nm, 'htmx.org', 'dist'), { prefix: '/static/vendor/htmx/', ...staticOpts });
  app.useStaticAssets(path.join(nm, 'uplot', 'dist'), { prefix: '/static/vendor/uplot/', ...staticOpts });

  const viewsDir = path.join(PROJECT_ROOT, 'views');
  const hbs = registerViews(viewsDir);
  app.setBaseViewsDir(viewsDir);
  app.engine('hbs', hbs.__express);
  app.setViewEngine('hbs');
  app.set('view options', { layout: 'layouts/main' });
  app.set('view cache', true);
  app.setLocal('version', VERSION);
  await app.init();
  installFastPath(app.getHttpServer(), app.getHttpAdapter().getInstance(), app.get(ProxyService), rt.logger, rt.env.BODY_LIMIT);
  return app;
}
