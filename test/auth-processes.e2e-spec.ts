import request from 'supertest';
import { createTestDatabase, registerSecret, TestDatabase, withDatabase } from './support/pg';
import { freePort } from './support/pg';
import { runCli, ServerProcess, startServer } from './support/processes';
import { TEST_SECRET_KEY } from './support/app';
import { cookieFrom, csrfFrom } from './support/session';

/**
 * What `npm start` and `sluice` do for sign-in: the first-run link, `sluice login-link`, and
 * revocation reaching a second process on the same database within a second.
 */
describe('first run, login links and revocation across processes', () => {
  let db: TestDatabase;
  const servers: ServerProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    env = { DATABASE_URL: db.url, SLUICE_SECRET_KEY: TEST_SECRET_KEY, HOST: '127.0.0.1', LOG_LEVEL: 'info', SLUICE_DATA_DIR: `/tmp/sluice-proc-${process.pid}` };
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await db?.drop();
  });

  const start = async () => {
    const s = await startServer({ ...env, PORT: String(await freePort()) });
    servers.push(s);
    return s;
  };
  const linkIn = (out: string) => /(http:\/\/\S+\/auth\/link\?token=[A-Za-z0-9_-]{43})/.exec(out)?.[1];

  /** Opens a link and confirms it, as a person in a browser would; returns the session cookie and CSRF token. */
  const useLink = async (base: string, link: string) => {
    const u = new URL(link);
    const token = u.searchParams.get('token')!;
    const page = await request(base).get(`/auth/link?token=${token}`).expect(200);
    const done = await request(base).post('/auth/link').set('cookie', cookieFrom(page)!).type('form').send({ token, _csrf: csrfFrom(page.text) }).expect(303);
    const cookie = cookieFrom(done)!;
    registerSecret(cookie.split('=')[1]);
    const ui = await request(base).get('/ui/tokens').set('cookie', cookie).expect(200);
    return { cookie, csrf: csrfFrom(ui.text) };
  };

  it('prints a one-time link for the first global admin until one has signed in; two instances see a revocation within a second', async () => {
    const a = await start();
    // Let the first instance finish printing before the second one starts, so its link stands.
    for (let i = 0; i < 50 && !linkIn(a.output()); i++) await new Promise((r) => setTimeout(r, 100));
    const link = linkIn(a.output());
    expect(link).toBeTruthy();
    expect(link!.startsWith(a.url)).toBe(true);
    expect(a.output()).toContain('Sign in as admin@localhost (global admin)');
    // The link is on stdout for the person starting Sluice, never in the JSON log lines.
    const token = new URL(link!).searchParams.get('token')!;
    expect(a.output().split('\n').filter((l) => l.startsWith('{') && l.includes(token))).toEqual([]);

    const root = await useLink(a.url, link!);
    const me = await request(a.url).get('/api/v1/me').set('cookie', root.cookie).expect(200);
    expect(me.body).toMatchObject({ globalAdmin: true, user: { email: 'admin@localhost' } });

    // A second instance on the same database prints no link: an admin has signed in.
    const b = await start();
    await new Promise((r) => setTimeout(r, 300));
    expect(linkIn(b.output())).toBeUndefined();

    // Set up through instance A's management API with the session.
    const api = (m: 'post' | 'delete' | 'get', p: string, body?: object) => request(a.url)[m](p).set('cookie', root.cookie).set('x-csrf-token', root.csrf).send(body);
    expect((await api('post', '/api/v1/orgs', { slug: 'acme', name: 'Acme' })).status).toBe(201);
    expect((await api('post', '/api/v1/orgs/acme/members', { email: 'dev@acme.test' })).status).toBe(201);
    const created = await api('post', '/api/v1/orgs/acme/tokens', { name: 'laptop', email: 'dev@acme.test' });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    registerSecret(secret);

    // Instance B caches the principal on first use.
    await request(b.url).get('/v1/models').set('authorization', `Bearer ${secret}`).expect(200);
    await request(b.url).get('/v1/models').set('authorization', `Bearer ${secret}`).expect(200);

    const revoked = await api('delete', `/api/v1/orgs/acme/tokens/${created.body.token.id}`);
    expect(revoked.status).toBe(200);
    const t0 = Date.now();
    let status = 200;
    while (Date.now() - t0 < 1000) {
      status = (await request(b.url).get('/v1/models').set('authorization', `Bearer ${secret}`)).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    expect(Date.now() - t0).toBeLessThan(1000);

    // Rotation reaches B the same way: the old secret stops, the new one works there.
    const second = await api('post', '/api/v1/orgs/acme/tokens', { name: 'ci', email: 'dev@acme.test' });
    registerSecret(second.body.secret);
    await request(b.url).get('/v1/models').set('authorization', `Bearer ${second.body.secret}`).expect(200);
    const rotated = await api('post', `/api/v1/orgs/acme/tokens/${second.body.token.id}/rotate`, {});
    expect(rotated.status).toBe(201);
    registerSecret(rotated.body.secret);
    const t1 = Date.now();
    while (Date.now() - t1 < 1000 && (await request(b.url).get('/v1/models').set('authorization', `Bearer ${second.body.secret}`)).status !== 401) await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - t1).toBeLessThan(1000);
    await request(b.url).get('/v1/models').set('authorization', `Bearer ${rotated.body.secret}`).expect(200);
  });

  it('`sluice login-link --email` prints a new single-use link that works against a running server', async () => {
    const r = await runCli(['login-link', '--email', 'Ops@Example.test', '--global-admin'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('created user ops@example.test [global admin]');
    const link = /(http:\/\/\S+\/auth\/link\?token=[A-Za-z0-9_-]{43})/.exec(r.stdout)?.[1];
    expect(link).toBeTruthy();
    const s = servers[0];
    const token = new URL(link!).searchParams.get('token')!;
    const session = await useLink(s.url, `${s.url}/auth/link?token=${token}`);
    const me = await request(s.url).get('/api/v1/me').set('cookie', session.cookie).expect(200);
    expect(me.body.user.email).toBe('ops@example.test');
    // Used once: the next attempt is refused.
    await request(s.url).get(`/auth/link?token=${token}`).expect(401);
    const json = await runCli(['login-link', '--email', 'ops@example.test', '--json'], env);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ email: 'ops@example.test', createdUser: false });
    expect(new Date(parsed.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    const rows = await withDatabase(db.url, (c) => c.query(`select action from audit_event where action like 'login_link.%' or action = 'user.sign_in'`));
    expect(rows.rows.map((x) => x.action)).toEqual(expect.arrayContaining(['login_link.create', 'user.sign_in']));
  });
});
