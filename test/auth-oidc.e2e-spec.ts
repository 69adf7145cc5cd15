import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { authorizeAtIdp, CookieJar, fetchManual, startOidcProvider, TestIdp } from './support/oidc';
import { registerSecret, withDatabase } from './support/pg';
import { csrfFrom } from './support/session';

/**
 * Sign-in against a real OpenID Connect provider: authorization code with state, nonce and PKCE;
 * the ID token's signature, issuer, audience, nonce and expiry are all checked, and a callback
 * can be used once.
 */
describe('OIDC sign-in', () => {
  let idp: TestIdp;
  let t: TestApp;

  beforeAll(async () => {
    idp = await startOidcProvider();
    t = await startTestApp({
      env: {
        ...idp.env,
        OIDC_SCOPES: 'openid email profile groups',
        OIDC_GROUPS_CLAIM: 'groups',
        OIDC_ADMIN_GROUPS: 'sluice-admins',
        OIDC_GROUP_MAP: JSON.stringify({ 'acme-devs': 'org:acme', 'acme-leads': 'org:acme:admin', 'acme-ml': 'team:acme/ml' }),
        LOGIN_RATE_LIMIT: '1000',
      },
    });
    idp.setRedirectUris([`${t.url}/auth/callback`]);
    await createOrg(t.app, 'acme');
    await createTeam(t.app, 'acme', 'ml');
  });
  afterAll(async () => {
    await t?.close();
    await idp?.close();
  });

  /** Follows the provider's redirect into the app; returns the app's answer. */
  const callback = (url: string, jar: CookieJar) => fetchManual(url, jar);
  const sessionCookie = (jar: CookieJar) => jar.get('sluice_session');

  it('signs in with code + state + nonce + PKCE, creates the user from claims and regenerates the session', async () => {
    idp.setAccount('ada', { email: 'Ada@Example.test', name: 'Ada Lovelace', groups: ['acme-devs', 'acme-ml'] });
    const { jar, callbackUrl, authorizeUrl } = await authorizeAtIdp(t.url, 'ada');
    const req = new URL(authorizeUrl);
    expect(req.origin).toBe(idp.issuer);
    expect(req.searchParams.get('code_challenge_method')).toBe('S256');
    expect(req.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(req.searchParams.get('nonce')).toBeTruthy();
    expect(req.searchParams.get('state')).toBeTruthy();
    expect(req.searchParams.get('scope')).toBe('openid email profile groups');
    const preSignIn = sessionCookie(jar);
    expect(preSignIn).toBeTruthy();

    const done = await callback(callbackUrl, jar);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/ui/tokens');
    const signedIn = sessionCookie(jar)!;
    registerSecret(signedIn);
    expect(signedIn).not.toBe(preSignIn);
    const setCookie = done.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/); // PUBLIC_URL is not https here

    const page = await request(t.url).get('/ui/tokens').set('cookie', `sluice_session=${signedIn}`).expect(200);
    expect(page.text).toContain('Ada Lovelace');
    const user = await withDatabase(t.db.url, (c) => c.query(`select id, email, oidc_issuer, oidc_subject, last_login_at from app_user where oidc_subject = 'ada'`));
    expect(user.rows[0]).toMatchObject({ email: 'ada@example.test', oidc_issuer: idp.issuer });
    expect(user.rows[0].last_login_at).not.toBeNull();
    const m = await withDatabase(t.db.url, (c) =>
      c.query(`select o.slug, m.role, m.source from membership m join organization o on o.id = m.org_id where m.user_id = $1`, [user.rows[0].id]),
    );
    expect(m.rows).toEqual([{ slug: 'acme', role: 'member', source: 'oidc' }]);
    const teams = await withDatabase(t.db.url, (c) => c.query(`select t.slug, tm.source from team_member tm join team t on t.id = tm.team_id where tm.user_id = $1`, [user.rows[0].id]));
    expect(teams.rows).toEqual([{ slug: 'ml', source: 'oidc' }]);

    // The pre-sign-in session is gone: replaying its cookie finds nothing.
    const old = await request(t.url).get('/ui').set('cookie', `sluice_session=${preSignIn}`);
    expect(old.status).toBe(303);
  });

  it('refuses a replayed callback', async () => {
    idp.setAccount('bob', { groups: [] });
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, 'bob');
    const attacker = jar.clone();
    expect((await callback(callbackUrl, jar)).status).toBe(303);
    registerSecret(sessionCookie(jar)!);
    // The same code and state again, with the cookie the first attempt carried: the state is spent.
    const replay = await callback(callbackUrl, attacker);
    expect(replay.status).toBe(403);
    expect(await replay.text()).toMatch(/not started here|already completed|took too long/);
    expect(replay.headers.getSetCookie().join('')).not.toMatch(/sluice_session=[^;]/);
    // ...and with the signed-in session's cookie as well.
    const again = await callback(callbackUrl, jar);
    expect(again.status).toBe(403);
  });

  it('refuses a tampered state', async () => {
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, 'carol');
    const u = new URL(callbackUrl);
    u.searchParams.set('state', u.searchParams.get('state')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')));
    const r = await callback(u.href, jar);
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/state mismatch/);
    // The state is single use even when the attempt failed.
    expect((await callback(callbackUrl, jar)).status).toBe(403);
  });

  const refusedWith = async (login: string, tamper: (c: Record<string, unknown>) => Record<string, unknown>, resign = true) => {
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, login);
    idp.tamperNextIdToken(tamper, { resign });
    const r = await callback(callbackUrl, jar);
    const text = await r.text();
    expect(r.status).toBe(403);
    expect(r.headers.getSetCookie().join('')).not.toMatch(/sluice_session=[^;]/);
    const n = await withDatabase(t.db.url, (c) => c.query(`select count(*)::int as n from app_user where oidc_subject = $1`, [login]));
    expect(n.rows[0].n).toBe(0);
    return text;
  };

  it('refuses an ID token from the wrong issuer', async () => {
    expect(await refusedWith('dave', (c) => ({ ...c, iss: 'http://127.0.0.1:1/evil' }))).toMatch(/not issued by expected OpenID provider/);
  });

  it('refuses an ID token with the wrong nonce', async () => {
    expect(await refusedWith('erin', (c) => ({ ...c, nonce: 'not-the-nonce-we-sent' }))).toMatch(/invalid nonce/);
  });

  it('refuses an expired ID token', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusedWith('frank', (c) => ({ ...c, iat: now - 7200, exp: now - 3600 }))).toMatch(/expired/);
  });

  it('refuses an ID token for another audience', async () => {
    expect(await refusedWith('grace', (c) => ({ ...c, aud: 'some-other-client' }))).toMatch(/not intended for this relying party/);
  });

  it('refuses an ID token whose signature does not verify', async () => {
    expect(await refusedWith('heidi', (c) => ({ ...c, email: 'admin@example.test' }), false)).toMatch(/signature is invalid/);
  });

  it('links a user an admin added by email, and makes global admins from the groups claim', async () => {
    await createUser(t.app, { email: 'ivan@example.test', org: 'acme', role: 'admin' });
    idp.setAccount('ivan-sub', { email: 'ivan@example.test', groups: ['sluice-admins'] });
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, 'ivan-sub');
    expect((await callback(callbackUrl, jar)).status).toBe(303);
    registerSecret(sessionCookie(jar)!);
    const me = await request(t.url).get('/api/v1/me').set('cookie', `sluice_session=${sessionCookie(jar)}`).expect(200);
    expect(me.body).toMatchObject({ via: 'session', globalAdmin: true, user: { email: 'ivan@example.test' }, organizations: [{ slug: 'acme', role: 'admin' }] });
    const row = await withDatabase(t.db.url, (c) => c.query(`select oidc_subject, is_global_admin from app_user where email = 'ivan@example.test'`));
    // Admin through the group for this session only: the database flag is not set.
    expect(row.rows[0]).toEqual({ oidc_subject: 'ivan-sub', is_global_admin: false });
  });

  it('does not let an address the provider has not verified link to an existing user', async () => {
    await createUser(t.app, { email: 'target@example.test', org: 'acme', role: 'admin' });
    idp.setAccount('mallory-sub', { email: 'target@example.test', email_verified: false });
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, 'mallory-sub');
    expect((await callback(callbackUrl, jar)).status).toBe(403);
    const row = await withDatabase(t.db.url, (c) => c.query(`select oidc_subject from app_user where email = 'target@example.test'`));
    expect(row.rows[0]).toEqual({ oidc_subject: null });
  });

  it('keeps provider-granted memberships in step with the groups claim, revoking tokens of a lost membership', async () => {
    idp.setAccount('judy', { groups: ['acme-leads'] });
    let a = await authorizeAtIdp(t.url, 'judy');
    expect((await callback(a.callbackUrl, a.jar)).status).toBe(303);
    registerSecret(sessionCookie(a.jar)!);
    const roleOf = () => withDatabase(t.db.url, (c) => c.query(`select m.role from membership m join app_user u on u.id = m.user_id where u.oidc_subject = 'judy'`));
    expect((await roleOf()).rows).toEqual([{ role: 'admin' }]);
    const tok = await createToken(t.app, { orgSlug: 'acme', userEmail: 'judy@example.test' });
    await request(t.url).get('/api/v1/me').set('authorization', `Bearer ${tok.secret}`).expect(403); // proxy scope only

    idp.setAccount('judy', { groups: [] });
    a = await authorizeAtIdp(t.url, 'judy');
    expect((await callback(a.callbackUrl, a.jar)).status).toBe(303);
    registerSecret(sessionCookie(a.jar)!);
    expect((await roleOf()).rows).toEqual([]);
    const revoked = await withDatabase(t.db.url, (c) => c.query(`select revoked_at from api_token where id = $1`, [tok.id]));
    expect(revoked.rows[0].revoked_at).not.toBeNull();
  });

  it('signs out: the session ends and its cookie no longer works', async () => {
    const { jar, callbackUrl } = await authorizeAtIdp(t.url, 'kim');
    await callback(callbackUrl, jar);
    const cookie = `sluice_session=${sessionCookie(jar)}`;
    registerSecret(sessionCookie(jar)!);
    const page = await request(t.url).get('/ui/tokens').set('cookie', cookie).expect(200);
    await request(t.url).post('/auth/logout').set('cookie', cookie).type('form').send({}).expect(403);
    const out = await request(t.url).post('/auth/logout').set('cookie', cookie).type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
    expect(out.headers.location).toBe('/auth/signin?signed_out=1');
    expect(String(out.headers['set-cookie'])).toMatch(/sluice_session=;.*Max-Age=0/);
    const after = await request(t.url).get('/ui/tokens').set('cookie', cookie);
    expect(after.status).toBe(303);
    expect(after.headers.location).toBe('/auth/signin?next=%2Fui%2Ftokens');
  });

  it('shows the single sign-on button on the sign-in page', async () => {
    const r = await request(t.url).get('/auth/signin?next=/ui/orgs').expect(200);
    expect(r.text).toContain(`Sign in with 127.0.0.1`);
    expect(r.text).toContain('/auth/login?next=/ui/orgs');
    // An off-site `next` is ignored.
    const evil = await request(t.url).get('/auth/signin?next=//evil.example/').expect(200);
    expect(evil.text).toContain('/auth/login?next=/ui"');
  });
});
