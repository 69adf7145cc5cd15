import 'reflect-metadata';
import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { LoginLinkService } from './auth/login-link.service';
import { bootRuntime, createApp } from './bootstrap';
import { ConfigError, loadEnv } from './config/env';

/**
 * `npm start`: validate, reach or start PostgreSQL, migrate, serve. SIGTERM/SIGINT stop accepting,
 * let in-flight requests finish (bounded by SHUTDOWN_GRACE_MS), flush, close the database and stop
 * the embedded PostgreSQL.
 */
async function main() {
  let env;
  try {
    env = loadEnv();
  } catch (e) {
    return fail(e);
  }
  let booted;
  try {
    booted = await bootRuntime({ env });
  } catch (e) {
    return fail(e);
  }
  const { rt } = booted;
  let app;
  try {
    app = await createApp(rt);
  } catch (e) {
    await booted.close();
    return fail(e);
  }
  try {
    await app.listen(env.PORT, env.HOST);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    await app.close().catch(() => undefined);
    await booted.close();
    return fail(new ConfigError(err.code === 'EADDRINUSE' ? `PORT: address ${env.HOST}:${env.PORT} is already in use` : `HOST: cannot listen (${err.code ?? err.message})`));
  }
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const shownHost = env.HOST === '0.0.0.0' || env.HOST === '::' ? 'localhost' : env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  const url = `http://${shownHost}:${env.PORT}`;
  rt.logger.info({ url, database: booted.db.embedded ? 'embedded' : 'external' }, 'Sluice is listening');
  // One plain line for people: the JSON log above is for machines.
  process.stdout.write(`Sluice listening on ${url} (UI: ${url}/ui)\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    rt.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      rt.logger.warn('grace period over; closing remaining connections');
      server.closeAllConnections();
    }, env.SHUTDOWN_GRACE_MS);
    timer.unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(timer);
    await app.close().catch((e) => rt.logger.error({ err: String(e) }, 'error while closing the application'));
    await booted.close();
    rt.logger.info('stopped');
    rt.logger.flush?.();
    setTimeout(() => process.exit(0), 50).unref();
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  // Logs are written in batches; a crash must not take its own explanation with it.
  process.on('uncaughtException', (err) => {
    rt.logger.fatal({ err: { type: err.name, message: err.message, stack: err.stack } }, 'uncaught exception; exiting');
    rt.logger.flush();
    setTimeout(() => process.exit(1), 100).unref();
  });
  // After the signal handlers: issuing the link takes a few queries, and a stop may come meanwhile.
  await printFirstRunLink(app, env.PUBLIC_URL ? undefined : url);
}

/**
 * Without an identity provider, the first global admin signs in with a one-time link printed here
 * (stdout, for the person starting Sluice; never into the JSON log).
 */
async function printFirstRunLink(app: INestApplication, baseUrl: string | undefined) {
  try {
    const link = await app.get(LoginLinkService).firstRunLink(baseUrl);
    if (link) {
      process.stdout.write(
        `\nNo identity provider is configured (OIDC_ISSUER) and no admin has signed in yet.\n` +
          `Sign in as ${link.email} (global admin) within 15 minutes, once, with:\n\n  ${link.url}\n\n` +
          `Print a new link any time with: npx sluice login-link --email ${link.email}\n\n`,
      );
    }
  } catch (e) {
    process.stderr.write(`sluice: could not issue the first-run sign-in link: ${(e as Error).message}\n`);
  }
}

function fail(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`sluice: ${e.message}\n`);
  } else {
    process.stderr.write(`sluice: failed to start: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}\n`);
  }
  process.exit(1);
}

void main();
