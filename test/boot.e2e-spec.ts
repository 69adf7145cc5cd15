import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTestDatabase, freePort, withDatabase } from './support/pg';
import { bootFailure, runCli, startServer } from './support/processes';
import { MIGRATIONS } from '../src/db/migrations';

describe('npm start (dist/src/main.js)', () => {
  it('serves on DATABASE_URL, then drains and exits 0 on SIGTERM', async () => {
    const db = await createTestDatabase();
    try {
      const port = await freePort();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-boot-'));
      const s = await startServer({ DATABASE_URL: db.url, PORT: String(port), SLUICE_DATA_DIR: dataDir });
      expect(s.url).toBe(`http://127.0.0.1:${port}`);
      const h = await fetch(`${s.url}/healthz`);
      expect(h.status).toBe(200);
      expect(await h.json()).toEqual({ status: 'ok' });
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
      // The generated secret key is private to the data directory's owner.
      expect(fs.statSync(path.join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
      const code = await s.stop('SIGTERM');
      expect(code).toBe(0);
      expect(s.output()).toMatch(/"msg":"stopped"/);
      // Every log line is JSON.
      const lines = s.output().split('\n').filter((l) => l.startsWith('{'));
      expect(lines.length).toBeGreaterThan(2);
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    } finally {
      await db.drop();
    }
  });

  it('starts an embedded PostgreSQL when DATABASE_URL is unset and keeps its data across restarts', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-embedded-'));
    const env = { SLUICE_DATA_DIR: dataDir, PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()) };
    try {
      const first = await startServer(env, 90_000);
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${first.url}/readyz`)).json()).toMatchObject({ status: 'ready' });
      // The CLI attaches to the cluster the running server started.
      const created = await runCli(['org', 'create', 'persisted'], env);
      expect(created.code).toBe(0);
      expect(await first.stop('SIGTERM')).toBe(0);
      expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

      const second = await startServer(env, 90_000);
      const list = await runCli(['org', 'list', '--json'], env);
      expect(JSON.parse(list.stdout).map((o: { slug: string }) => o.slug)).toEqual(['persisted']);
      expect(await second.stop('SIGINT')).toBe(0);
      expect(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('refuses to boot on a bad PORT or an unreachable DATABASE_URL with a one-line reason', async () => {
    const bad = await bootFailure({ PORT: 'abc', DATABASE_URL: 'postgres://u:topsecret@127.0.0.1:1/db' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('sluice: invalid environment: PORT: must be a number\n');
    const unreachable = await bootFailure({ DATABASE_URL: 'postgres://u:topsecret@127.0.0.1:1/db', SLUICE_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-x-')) });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe('sluice: DATABASE_URL: database unreachable (connection refused)\n');
    expect(unreachable.stderr + unreachable.stdout).not.toContain('topsecret');
  });

  it('migrates once when several instances boot against one empty database at the same time', async () => {
    const admin = process.env.SLUICE_TEST_ADMIN_URL!;
    const name = `sluice_t_${process.env.SLUICE_TEST_RUN}_race`;
    await withDatabase(admin, (c) => c.query(`CREATE DATABASE ${name}`));
    const u = new URL(admin);
    u.pathname = '/' + name;
    try {
      const results = await Promise.all([1, 2, 3].map(() => runCli(['migrate'], { DATABASE_URL: u.toString(), SLUICE_SECRET_KEY: 'k'.repeat(40) })));
      for (const r of results) expect(r.code).toBe(0);
      const applied = await withDatabase(u.toString(), (c) => c.query('select count(*)::int as n from sluice_migrations'));
      // Each migration applied exactly once, not once per instance.
      expect(applied.rows[0].n).toBe(MIGRATIONS.length);
    } finally {
      await withDatabase(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    }
  });
});
