import { Client } from 'pg';
import { ConfigError, Env } from '../config/env';
import { EmbeddedDatabase, startEmbeddedPostgres } from './embedded-postgres';

export interface ResolvedDatabase {
  url: string;
  embedded?: EmbeddedDatabase;
}

/** Checks the database answers, turning driver errors into one line that names the variable. */
export async function assertReachable(url: string, variable: string): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const r = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    if (Number(r.rows[0].v) < 150000) {
      throw new ConfigError(`${variable}: PostgreSQL 15 or newer is required`);
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const err = e as NodeJS.ErrnoException & { code?: string };
    const why = err.code === 'ECONNREFUSED' ? 'connection refused'
      : err.code === 'ENOTFOUND' ? 'host not found'
      : err.code === '3D000' ? 'database does not exist'
      : err.code === '28P01' || err.code === '28000' ? 'authentication failed'
      : /timeout/i.test(err.message) ? 'connection timed out'
      : (err.code ?? 'connection failed');
    throw new ConfigError(`${variable}: database unreachable (${why})`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** DATABASE_URL when set, else an embedded PostgreSQL under the data directory. */
export async function resolveDatabase(env: Env, log: (m: string) => void): Promise<ResolvedDatabase> {
  if (env.DATABASE_URL) {
    await assertReachable(env.DATABASE_URL, 'DATABASE_URL');
    return { url: env.DATABASE_URL };
  }
  let embedded: EmbeddedDatabase;
  try {
    embedded = await startEmbeddedPostgres(env.SLUICE_DATA_DIR, env.EMBEDDED_PG_PORT, log);
  } catch (e) {
    throw new ConfigError(`SLUICE_DATA_DIR: could not start the embedded PostgreSQL (${(e as Error).message.split('\n')[0]})`);
  }
  return { url: embedded.url, embedded };
}
