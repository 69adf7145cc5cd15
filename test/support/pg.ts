import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const ARTIFACTS = path.resolve(__dirname, '..', '..', '.test-artifacts');

export async function withDatabase<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database for one spec file, cloned from the migrated template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = process.env.SLUICE_TEST_ADMIN_URL;
  const template = process.env.SLUICE_TEST_TEMPLATE;
  if (!admin || !template) throw new Error('test database not set up: run the suite through jest (npm test)');
  const name = `sluice_t_${process.env.SLUICE_TEST_RUN}_${randomBytes(4).toString('hex')}`;
  await withDatabase(admin, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const u = new URL(admin);
  u.pathname = '/' + name;
  return {
    url: u.toString(),
    name,
    drop: () => withDatabase(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Registers a secret the suite created; global teardown fails the run if any log contains it. */
export function registerSecret(secret: string): void {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.appendFileSync(path.join(ARTIFACTS, 'secrets.txt'), secret + '\n');
}

/**
 * Every row of every table in the database as JSON text: a dump a test can search for plaintext
 * secrets, independent of which columns exist.
 */
export async function dumpDatabase(url: string): Promise<string> {
  return withDatabase(url, async (c) => {
    const tables = await c.query<{ t: string }>(
      `select format('%I.%I', schemaname, tablename) as t from pg_tables where schemaname not in ('pg_catalog', 'information_schema')`,
    );
    const parts: string[] = [];
    for (const { t } of tables.rows) {
      const r = await c.query<{ j: string }>(`select row_to_json(x)::text as j from ${t} x`);
      parts.push(`-- ${t}\n` + r.rows.map((row) => row.j).join('\n'));
    }
    return parts.join('\n');
  });
}
