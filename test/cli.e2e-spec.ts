import { createTestDatabase, dumpDatabase, registerSecret, TestDatabase, withDatabase } from './support/pg';
import { runCli } from './support/processes';
import { TEST_SECRET_KEY } from './support/app';

describe('sluice CLI', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY };
  });
  afterAll(() => db?.drop());

  it('creates an org and a token, printing the secret once, storing only its hash', async () => {
    const org = await runCli(['org', 'create', 'acme', '--name', 'Acme Corp'], env);
    expect(org.stderr).toBe('');
    expect(org.code).toBe(0);
    expect(org.stdout).toMatch(/^created organization acme \(/);

    const tok = await runCli(['token', 'create', '--org', 'acme', '--name', 'ci', '--user', 'a@acme.test', '--json'], env);
    expect(tok.code).toBe(0);
    const json = JSON.parse(tok.stdout);
    registerSecret(json.secret);
    expect(json).toMatchObject({ name: 'ci', org: 'acme', owner: { type: 'user', email: 'a@acme.test' } });
    expect(json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(json.secret).toMatch(/^sk-sluice-[0-9A-Za-z]{38}$/);
    expect(json.secret.startsWith(json.prefix)).toBe(true);

    const dump = await dumpDatabase(db.url);
    expect(dump).toContain(json.id);
    expect(dump).not.toContain(json.secret);

    const list = await runCli(['token', 'list', '--org', 'acme'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(json.id);
    expect(list.stdout).toContain('active');
    expect(list.stdout).not.toContain(json.secret);

    const revoke = await runCli(['token', 'revoke', json.id], env);
    expect(revoke.code).toBe(0);
    const after = await runCli(['token', 'list', '--org', 'acme', '--json'], env);
    expect(JSON.parse(after.stdout)[0].revokedAt).not.toBeNull();
    const audit = await withDatabase(db.url, (c) => c.query(`select action from audit_event order by created_at`));
    expect(audit.rows.map((r) => r.action)).toEqual(expect.arrayContaining(['org.create', 'user.create', 'membership.create', 'token.create', 'token.revoke']));
  });

  it('creates users with roles, teams and service-account tokens', async () => {
    expect((await runCli(['org', 'create', 'beta'], env)).code).toBe(0);
    const u = await runCli(['user', 'create', '--email', 'Admin@Beta.test', '--org', 'beta', '--role', 'admin', '--global-admin', '--json'], env);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ email: 'admin@beta.test', globalAdmin: true, role: 'admin', org: 'beta' });
    expect((await runCli(['team', 'create', '--org', 'beta', '--slug', 'platform'], env)).code).toBe(0);
    expect((await runCli(['team', 'add-member', '--org', 'beta', '--team', 'platform', '--email', 'admin@beta.test'], env)).code).toBe(0);
    const sa = await runCli(['token', 'create', '--org', 'beta', '--name', 'deploy', '--service-account', 'ci-bot', '--expires', '30d', '--json'], env);
    expect(sa.code).toBe(0);
    const json = JSON.parse(sa.stdout);
    registerSecret(json.secret);
    expect(json.owner).toEqual({ type: 'service_account', name: 'ci-bot' });
    const days = (new Date(json.expiresAt).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
  });

  it('fails with one clear line and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['org', 'create', 'acme'], /^sluice: organization "acme" already exists\n$/],
      [['org', 'create', 'Bad Slug!'], /^sluice: organization slug must be/],
      [['token', 'revoke', 'not-a-uuid'], /^sluice: token id must be a UUID/],
      [['token', 'revoke', '00000000-0000-7000-8000-000000000000'], /^sluice: token not found\n$/],
      [['token', 'create', '--org', 'nope', '--name', 'x', '--user', 'a@b.test'], /^sluice: organization "nope" not found\n$/],
      [['token', 'create', '--org', 'acme', '--name', 'x'], /exactly one of a user/],
      [['token', 'create', '--org', 'acme', '--name', 'x', '--user', 'a@acme.test', '--expires', 'someday'], /expiry must be a duration/],
      [['user', 'create', '--email', 'not-an-email'], /^sluice: email must be/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    const usage = await runCli(['token', 'create'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/required option/);
  });

  it('names the bad variable without its value', async () => {
    const bad = await runCli(['org', 'list'], { ...env, DATABASE_URL: 'postgres://postgres:pw-should-not-show@127.0.0.1:1/nothing' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('sluice: DATABASE_URL: database unreachable (connection refused)\n');
    const port = await runCli(['org', 'list'], { ...env, PORT: 'abc' });
    expect(port.code).toBe(1);
    expect(port.stderr).toBe('sluice: invalid environment: PORT: must be a number\n');
  });
});
