import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { bootRuntime, Booted, createApp } from '../../src/bootstrap';
import { createLogger } from '../../src/common/logger';
import { loadEnv } from '../../src/config/env';
import type { Runtime } from '../../src/config/runtime';
import { ARTIFACTS, createTestDatabase, TestDatabase } from './pg';

export const TEST_SECRET_KEY = 'sluice-test-secret-key-0123456789abcdef';

export interface TestApp {
  app: NestExpressApplication;
  url: string;
  rt: Runtime;
  db: TestDatabase;
  booted: Booted;
  logFile: string;
  close(): Promise<void>;
}

/** Where a spec's processes write their logs; global teardown scans them all for secrets. */
export function logFileFor(label: string): string {
  const spec = path.basename(expect.getState().testPath ?? 'unknown').replace(/\W+/g, '-');
  return path.join(ARTIFACTS, 'logs', `${spec}-${label}-${randomBytes(3).toString('hex')}.log`);
}

/** Writes a gateway config document to a temp file and returns its path (for SLUICE_CONFIG). */
export function writeConfigFile(doc: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-config-'));
  const file = path.join(dir, 'sluice.json');
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

/**
 * Boots the real application in-process on its own cloned database and a random loopback port,
 * logging at debug level into the run's artifacts.
 */
export async function startTestApp(opts: { env?: Record<string, string>; gatewayConfig?: unknown; db?: TestDatabase } = {}): Promise<TestApp> {
  const db = opts.db ?? (await createTestDatabase());
  const logFile = logFileFor('app');
  const logger = createLogger('debug', pino.destination({ dest: logFile, sync: true, mkdir: true }));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-data-'));
  const env = loadEnv({
    DATABASE_URL: db.url,
    SLUICE_SECRET_KEY: TEST_SECRET_KEY,
    SLUICE_DATA_DIR: dataDir,
    LOG_LEVEL: 'debug',
    DATABASE_POOL_MAX: '5',
    ...(opts.gatewayConfig ? { SLUICE_CONFIG: writeConfigFile(opts.gatewayConfig) } : {}),
    ...opts.env,
  });
  const booted = await bootRuntime({ env, logger });
  const app = await createApp(booted.rt);
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  let closed = false;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    rt: booted.rt,
    db,
    booted,
    logFile,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
      await booted.close();
      if (!opts.db) await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
