import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARTIFACTS, withDatabase } from '../support/pg';

/**
 * Drops this run's databases, stops an embedded server, and then checks the suite's log output:
 * no secret any test registered (API tokens, provider keys, Authorization values) may appear in
 * any log line written during the run. A leak fails the run.
 */
export default async function globalTeardown() {
  const adminUrl = process.env.SLUICE_TEST_ADMIN_URL!;
  const runId = process.env.SLUICE_TEST_RUN!;
  if (adminUrl && runId) {
    await withDatabase(adminUrl, async (c) => {
      const r = await c.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [`%${runId}%`]);
      for (const { datname } of r.rows) {
        await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
      }
    }).catch(() => undefined);
  }
  const pg = (globalThis as unknown as Record<string, { stop(): Promise<void> } | undefined>).__SLUICE_EMBEDDED_PG__;
  if (pg) await pg.stop();

  const secretsFile = path.join(ARTIFACTS, 'secrets.txt');
  const secrets = fs.existsSync(secretsFile) ? [...new Set(fs.readFileSync(secretsFile, 'utf8').split('\n').filter(Boolean))] : [];
  const logsDir = path.join(ARTIFACTS, 'logs');
  const leaks: string[] = [];
  let bytes = 0;
  for (const f of fs.existsSync(logsDir) ? fs.readdirSync(logsDir) : []) {
    const text = fs.readFileSync(path.join(logsDir, f), 'utf8');
    bytes += text.length;
    for (const s of secrets) if (text.includes(s)) leaks.push(`${f} contains a registered secret (${s.slice(0, 12)}…)`);
  }
  process.stderr.write(`[sluice tests] scanned ${bytes} bytes of log output for ${secrets.length} secrets: ${leaks.length ? 'LEAKS FOUND' : 'none found'}\n`);
  if (leaks.length) throw new Error(`secrets leaked into logs:\n${leaks.join('\n')}`);
}
