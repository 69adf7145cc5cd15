import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { migrateUrl } from '../../src/db/migrate';
import { importEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { ARTIFACTS, freePort, withDatabase } from '../support/pg';

/**
 * Finds PostgreSQL for the run: TEST_DATABASE_URL when set, else the machine's server on
 * 127.0.0.1:5432 when it answers, else an embedded one started here. Then migrates a template
 * database once; every spec file clones its own database from it (CREATE DATABASE … TEMPLATE).
 */
export default async function globalSetup() {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(path.join(ARTIFACTS, 'logs'), { recursive: true });
  let adminUrl = process.env.TEST_DATABASE_URL;
  let source = 'TEST_DATABASE_URL';
  // SLUICE_TEST_EMBEDDED=1 forces the embedded fallback, to exercise it on a machine that has a server.
  if (!adminUrl && process.env.SLUICE_TEST_EMBEDDED !== '1' && (await answers('postgres://postgres@127.0.0.1:5432/postgres'))) {
    adminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
    source = 'local server on 127.0.0.1:5432';
  }
  if (!adminUrl) {
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-pg-'));
    fs.chmodSync(dir, 0o711);
    const port = await freePort();
    const pg = new EmbeddedPostgres({
      databaseDir: path.join(dir, 'data'),
      port,
      user: 'postgres',
      password: 'postgres',
      persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=off'],
      onLog: () => undefined,
    });
    await pg.initialise();
    await pg.start();
    (globalThis as Record<string, unknown>).__SLUICE_EMBEDDED_PG__ = pg;
    adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
    source = 'embedded PostgreSQL';
  }
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const template = `sluice_tpl_${runId}`;
  await withDatabase(adminUrl, (c) => c.query(`CREATE DATABASE ${template}`));
  const u = new URL(adminUrl);
  u.pathname = '/' + template;
  await migrateUrl(u.toString());
  process.env.SLUICE_TEST_ADMIN_URL = adminUrl;
  process.env.SLUICE_TEST_TEMPLATE = template;
  process.env.SLUICE_TEST_RUN = runId;
  process.stderr.write(`\n[sluice tests] PostgreSQL: ${source}; template ${template}\n`);
}

async function answers(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}
