import request from 'supertest';
import { LoginLinkService } from '../src/auth/login-link.service';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { dumpDatabase, registerSecret, withDatabase } from './support/pg';
import { cookieFrom, csrfFrom, signIn, TestSession } from './support/session';

/** Sessions, CSRF, one-time links, rate limits and the way unauthenticated callers are answered. */
describe('sessions, CSRF and sign-in links', () => {
  let t: TestApp;
  let admin: TestSession;

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000', SLUICE_ADMINS: 'boss@example.test' } });
    await createOrg(t.app, 'acme');
    await createUser(t.app, { email: 'boss@example.test' });
    admin = await signIn(t, 'boss@example.test');
  });
  afterAll(() => t?.close());

  const linkFor = async (email: string) => {
    const l = await t.app.get(LoginLinkService).issue('test', email, { baseUrl: t.url });
    const token = new URL(l.url).searchParams.get('token')!;
    registerSecret(token);
    return { ...l, token };
  };

  it('sends browsers to sign in, htmx to a redirect header and API callers a 401', async () => {
    const page = await request(t.url).get('/ui/orgs?sort=name').expect(303);
    expect(page.headers.location).toBe('/auth/signin?next=%2Fui%2Forgs%3Fsort%3Dname');
    const frag = await request(t.url).get('/ui/orgs').set('HX-Request', 'true').set('HX-Current-URL', `${t.url}/ui/orgs?page=2`).expect(401);
    expect(frag.headers['hx-redirect']).toBe('/auth/signin?next=%2Fui%2Forgs%3Fpage%3D2');
    const api = await request(t.url).get('/api/v1/orgs').expect(401);
    expect(api.body.error.code).toBe('unauthenticated');
    const doc = await request(t.url).get('/api/v1/openapi.json').expect(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const signin = await request(t.url).get('/auth/signin').expect(200);
    expect(signin.text).toContain('sluice login-link --email');
    expect(signin.headers['x-frame-options']).toBe('DENY');
  });

  it('documents every management API route in the OpenAPI document', async () => {
    const doc = (await request(t.url).get('/api/v1/openapi.json').expect(200)).body as { paths: Record<string, Record<string, unknown>> };
    const ex = t.app.getHttpAdapter().getInstance();
    const registered = ((ex.router ?? ex._router).stack as { route?: { path: string; methods: Record<string, boolean> } }[])
      .filter((l) => l.route?.path.startsWith('/api/v1/'))
      .flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m} ${l.route!.path.replace(/:(\w+)/g, '{$1}')}`));
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).filter((k) => k !== 'parameters').map((m) => `${m} ${p}`));
    expect(documented.sort()).toEqual(registered.sort());
  });

  it('refuses every state-changing UI, sign-in and session API request without a valid CSRF token', async () => {
    const ex = t.app.getHttpAdapter().getInstance();
    const unsafe = ((ex.router ?? ex._router).stack as { route?: { path: string; methods: Record<string, boolean> } }[])
      .filter((l) => l.route && /^\/(ui|auth|api)\//.test(l.route.path))
      .flatMap((l) => Object.keys(l.route!.methods).filter((m) => ['post', 'put', 'patch', 'delete'].includes(m)).map((m) => ({ m, p: l.route!.path })));
    expect(unsafe.length).toBeGreaterThan(40);
    const before = await dumpDatabase(t.db.url);
    for (const { m, p } of unsafe) {
      const path = p.replace(/:(\w+)/g, 'acme');
      const none = await request(t.url)[m as 'post'](path).set('cookie', admin.cookie).send({ name: 'x' });
      expect([path, none.status]).toEqual([path, 403]);
      const wrong = await request(t.url)[m as 'post'](path).set('cookie', admin.cookie).set('x-csrf-token', admin.csrf.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))).send({ name: 'x' });
      expect([path, wrong.status]).toEqual([path, 403]);
      const field = await request(t.url)[m as 'post'](path).set('cookie', admin.cookie).type('form').send({ name: 'x', _csrf: 'nope' });
      expect([path, field.status]).toEqual([path, 403]);
    }
    // The right token from another origin is refused too.
    await request(t.url).post('/ui/orgs').set('cookie', admin.cookie).set('origin', 'https://evil.example').type('form').send({ slug: 'evil', _csrf: admin.csrf }).expect(403);
    // Nothing changed, apart from session bookkeeping.
    const strip = (d: string) => d.replace(/-- public\.auth_session[\s\S]*?(?=\n-- |$)/, '');
    expect(strip(await dumpDatabase(t.db.url))).toBe(strip(before));
    // With the token, the same request works (header for htmx, field for forms).
    await admin.htmx('post', '/ui/orgs/acme', { name: 'Acme' }).expect(303);
    await admin.form('/ui/orgs/acme', { name: 'Acme Corp' }).expect(303);
    await admin.api('patch', '/api/v1/orgs/acme', { name: 'Acme Inc' }).expect(200);
  });

  it('needs no CSRF token for bearer-token API calls or the /v1 gateway', async () => {
    const tok = await createToken(t.app, { orgSlug: 'acme', userEmail: 'boss@example.test', scopes: ['admin', 'proxy'] });
    // Even with a session cookie present, a bearer request is judged by its token alone.
    const r = await request(t.url).post('/api/v1/orgs/acme/teams').set('authorization', `Bearer ${tok.secret}`).set('cookie', admin.cookie).send({ slug: 'platform' });
    expect(r.status).toBe(201);
    const g = await request(t.url).post('/v1/chat/completions').set('authorization', `Bearer ${tok.secret}`).set('cookie', admin.cookie).send({ model: 'nope', messages: [] });
    expect(g.status).not.toBe(403);
    const models = await request(t.url).get('/v1/models').set('authorization', `Bearer ${tok.secret}`).expect(200);
    expect(models.body.object).toBe('list');
  });

  it('refuses API tokens without the admin scope, and revoked ones', async () => {
    const proxyOnly = await createToken(t.app, { orgSlug: 'acme', userEmail: 'boss@example.test' });
    const r = await request(t.url).get('/api/v1/orgs').set('authorization', `Bearer ${proxyOnly.secret}`).expect(403);
    expect(r.body.error.message).toMatch(/admin scope/);
    const adminTok = await createToken(t.app, { orgSlug: 'acme', userEmail: 'boss@example.test', scopes: ['admin'] });
    await request(t.url).get('/api/v1/orgs').set('authorization', `Bearer ${adminTok.secret}`).expect(200);
    await admin.api('delete', `/api/v1/orgs/acme/tokens/${adminTok.id}`).expect(200);
    const after = await request(t.url).get('/api/v1/orgs').set('authorization', `Bearer ${adminTok.secret}`).expect(401);
    expect(after.body.error.message).toMatch(/revoked/);
    await request(t.url).get('/api/v1/orgs').set('authorization', 'Bearer sk-sluice-nonsense').expect(401);
  });

  it('uses a link once, within its lifetime; opening it does not use it; a newer link retires older ones', async () => {
    await createUser(t.app, { email: 'links@example.test' });
    const first = await linkFor('links@example.test');
    const second = await linkFor('links@example.test');
    const old = await request(t.url).get(`/auth/link?token=${first.token}`).expect(401);
    expect(old.text).toMatch(/invalid, already used or expired/);
    const page = await request(t.url).get(`/auth/link?token=${second.token}`).expect(200);
    // same-origin: the token never leaves the site, and the Sign in POST keeps a real Origin.
    expect(page.headers['referrer-policy']).toBe('same-origin');
    expect(page.headers['cache-control']).toBe('no-store');
    await request(t.url).get(`/auth/link?token=${second.token}`).expect(200); // still unused
    const pre = cookieFrom(page)!;
    await request(t.url).post('/auth/link').set('cookie', pre).type('form').send({ token: second.token }).expect(403); // no CSRF
    const ok = await request(t.url).post('/auth/link').set('cookie', pre).type('form').send({ token: second.token, _csrf: csrfFrom(page.text) }).expect(303);
    registerSecret(cookieFrom(ok)!.split('=')[1]);
    expect(cookieFrom(ok)).not.toBe(pre);
    const again = await request(t.url).get(`/auth/link?token=${second.token}`);
    expect(again.status).toBe(401);
    const replay = await request(t.url).post('/auth/link').set('cookie', pre).type('form').send({ token: second.token, _csrf: csrfFrom(page.text) });
    expect(replay.status).toBe(403); // the pre-sign-in session is gone, so is its CSRF token

    const third = await linkFor('links@example.test');
    await withDatabase(t.db.url, (c) => c.query(`update login_link set expires_at = now() - interval '1 second' where used_at is null`));
    await request(t.url).get(`/auth/link?token=${third.token}`).expect(401);
    const dump = await dumpDatabase(t.db.url);
    for (const l of [first, second, third]) expect(dump).not.toContain(l.token);
    expect(third.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000);
  });

  it('ends sessions after the idle timeout and at the absolute expiry', async () => {
    await createUser(t.app, { email: 'idle@example.test' });
    const idle = await signIn(t, 'idle@example.test');
    await withDatabase(t.db.url, (c) => c.query(`update auth_session set last_seen_at = now() - interval '13 hours' where user_id = (select id from app_user where email = 'idle@example.test')`));
    await idle.get('/ui/tokens').expect(303);
    const abs = await signIn(t, 'idle@example.test');
    await withDatabase(t.db.url, (c) => c.query(`update auth_session set expires_at = now() - interval '1 second' where user_id = (select id from app_user where email = 'idle@example.test')`));
    await abs.get('/ui/tokens').expect(303);
    const left = await withDatabase(t.db.url, (c) => c.query(`select count(*)::int as n from auth_session where user_id = (select id from app_user where email = 'idle@example.test')`));
    expect(left.rows[0].n).toBe(0);
    // A forged cookie (right shape, wrong signature) is ignored without a lookup.
    await request(t.url).get('/ui/tokens').set('cookie', admin.cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))).expect(303);
  });

  it('stores only hashes of session ids', async () => {
    const id = admin.cookie.split('=')[1].split('.')[0];
    const dump = await dumpDatabase(t.db.url);
    expect(dump).not.toContain(id);
    expect(dump).not.toContain(admin.cookie.split('=')[1]);
  });
});

describe('sign-in hardening', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '5', PUBLIC_URL: 'https://sluice.example.test' } });
  });
  afterAll(() => t?.close());

  it('marks cookies Secure with the __Host- prefix when PUBLIC_URL is https', async () => {
    await createUser(t.app, { email: 'sec@example.test' });
    const l = await t.app.get(LoginLinkService).issue('test', 'sec@example.test');
    expect(l.url.startsWith('https://sluice.example.test/auth/link?token=')).toBe(true);
    const token = new URL(l.url).searchParams.get('token')!;
    registerSecret(token);
    const page = await request(t.url).get(`/auth/link?token=${token}`).expect(200);
    const pre = String(page.headers['set-cookie']);
    expect(pre).toMatch(/^__Host-sluice_session=[^;]+; Path=\/; SameSite=Lax; HttpOnly; Secure; Max-Age=900/);
    const done = await request(t.url).post('/auth/link').set('cookie', cookieFrom(page)!).type('form').send({ token, _csrf: csrfFrom(page.text) }).expect(303);
    const set = String(done.headers['set-cookie']);
    registerSecret(cookieFrom(done)!.split('=')[1]);
    expect(set).toMatch(/^__Host-sluice_session=[^;]+; Path=\/; SameSite=Lax; HttpOnly; Secure; Max-Age=604800/);
  });

  it('rate-limits sign-in attempts per address', async () => {
    // Two attempts were spent above; the limit is five a minute.
    for (let i = 0; i < 3; i++) await request(t.url).get('/auth/link?token=x').expect(401);
    const r = await request(t.url).get('/auth/link?token=x').expect(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    await request(t.url).get('/auth/login').expect(429);
  });
});
