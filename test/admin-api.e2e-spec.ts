import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { dumpDatabase, registerSecret, withDatabase } from './support/pg';
import { signIn, TestSession } from './support/session';

/** Handlebars escapes `=` and `&` in attributes and text; compare what a browser would see. */
const decoded = (html: string) => html.replace(/&#x3D;/g, '=').replace(/&amp;/g, '&').replace(/&#x27;/g, "'").replace(/&quot;/g, '"');

/** The management API and the pages behind it: the same rules, validation and audit trail. */
describe('management API and admin pages', () => {
  let t: TestApp;
  let boss: TestSession;
  let adminToken: string;
  const bearer = (m: 'get' | 'post' | 'patch' | 'delete', p: string, body?: object) => {
    const r = request(t.url)[m](p).set('authorization', `Bearer ${adminToken}`);
    return body ? r.send(body) : r;
  };
  const v1 = (secret: string) => request(t.url).get('/v1/models').set('authorization', `Bearer ${secret}`);

  beforeAll(async () => {
    t = await startTestApp({ env: { LOGIN_RATE_LIMIT: '1000' } });
    await createOrg(t.app, 'acme', 'Acme');
    await createUser(t.app, { email: 'boss@acme.test', org: 'acme', role: 'admin' });
    boss = await signIn(t, 'boss@acme.test');
    adminToken = (await createToken(t.app, { orgSlug: 'acme', serviceAccountName: 'automation', scopes: ['admin'] })).secret;
  });
  afterAll(() => t?.close());

  it('checks access before reading a body: outsiders get 404 for anything they send, insiders a readable 400', async () => {
    await createOrg(t.app, 'globex', 'Globex');
    const outsider = (await createToken(t.app, { orgSlug: 'globex', serviceAccountName: 'globex-bot', scopes: ['admin'] })).secret;
    const as = (secret: string, m: 'post' | 'patch', p: string) => request(t.url)[m](p).set('authorization', `Bearer ${secret}`).send({ nonsense: [1, 2, 3] });
    const endpoints: ['post' | 'patch', string][] = [
      ['patch', '/api/v1/orgs/acme'],
      ['post', '/api/v1/orgs/acme/members'],
      ['post', '/api/v1/orgs/acme/teams'],
      ['post', '/api/v1/orgs/acme/service-accounts'],
      ['post', '/api/v1/orgs/acme/tokens'],
      ['post', '/api/v1/orgs/acme/budgets'],
    ];
    for (const [m, p] of endpoints) {
      const r = await as(outsider, m, p);
      expect([p, r.status, r.text]).toEqual([p, 404, expect.not.stringContaining('nonsense')]);
    }
    for (const [m, p] of endpoints.slice(1)) expect([p, (await as(adminToken, m, p)).status]).toEqual([p, 400]);
  });

  it('manages members: add, duplicate, role, last admin, remove (revoking their tokens)', async () => {
    const added = await bearer('post', '/api/v1/orgs/acme/members', { email: 'Dev@Acme.test' }).expect(201);
    expect(added.body).toMatchObject({ email: 'dev@acme.test', role: 'member', source: 'manual' });
    await bearer('post', '/api/v1/orgs/acme/members', { email: 'dev@acme.test' }).expect(409);
    const bad = await bearer('post', '/api/v1/orgs/acme/members', { email: 'not-an-email' }).expect(400);
    expect(bad.body.error.message).toMatch(/email/);
    await bearer('patch', `/api/v1/orgs/acme/members/${added.body.userId}`, { role: 'owner' }).expect(400);
    const promoted = await bearer('patch', `/api/v1/orgs/acme/members/${added.body.userId}`, { role: 'admin' }).expect(200);
    expect(promoted.body.role).toBe('admin');
    await bearer('patch', `/api/v1/orgs/acme/members/${added.body.userId}`, { role: 'member' }).expect(200);
    const bossId = (await boss.api('get', '/api/v1/me')).body.user.id;
    const last = await bearer('patch', `/api/v1/orgs/acme/members/${bossId}`, { role: 'member' }).expect(409);
    expect(last.body.error.message).toMatch(/last admin/);
    // Two admins demoted at the same moment: the count and the change are one locked step, so
    // exactly one demotion wins and the organization keeps an admin.
    const second = await bearer('post', '/api/v1/orgs/acme/members', { email: 'second@acme.test', role: 'admin' }).expect(201);
    const race = await Promise.all([
      bearer('patch', `/api/v1/orgs/acme/members/${bossId}`, { role: 'member' }),
      bearer('patch', `/api/v1/orgs/acme/members/${second.body.userId}`, { role: 'member' }),
    ]);
    expect(race.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = race[0].status === 200 ? bossId : second.body.userId;
    await bearer('patch', `/api/v1/orgs/acme/members/${winner}`, { role: 'admin' }).expect(200);
    await bearer('delete', `/api/v1/orgs/acme/members/${second.body.userId}`).expect(204);

    const tok = await bearer('post', '/api/v1/orgs/acme/tokens', { name: 'dev-laptop', userId: added.body.userId }).expect(201);
    registerSecret(tok.body.secret);
    await v1(tok.body.secret).expect(200);
    await bearer('delete', `/api/v1/orgs/acme/members/${added.body.userId}`).expect(204);
    await v1(tok.body.secret).expect(401);
    const list = await bearer('get', '/api/v1/orgs/acme/members').expect(200);
    expect(list.body.data.map((m: { email: string }) => m.email)).toEqual(['boss@acme.test']);
  });

  it('manages teams and service accounts; disabling an account stops its tokens at once', async () => {
    await bearer('post', '/api/v1/orgs/acme/members', { email: 'ml@acme.test' }).expect(201);
    const team = await bearer('post', '/api/v1/orgs/acme/teams', { slug: 'ml', name: 'Machine learning' }).expect(201);
    expect(team.body).toMatchObject({ slug: 'ml', org: 'acme', members: 0 });
    await bearer('post', '/api/v1/orgs/acme/teams', { slug: 'Not A Slug' }).expect(400);
    await bearer('post', '/api/v1/orgs/acme/teams/ml/members', { email: 'stranger@else.test' }).expect(404);
    const withMember = await bearer('post', '/api/v1/orgs/acme/teams/ml/members', { email: 'ml@acme.test' }).expect(201);
    expect(withMember.body.people.map((p: { email: string }) => p.email)).toEqual(['ml@acme.test']);
    await bearer('patch', '/api/v1/orgs/acme/teams/ml', { name: 'ML' }).expect(200);

    const sa = await bearer('post', '/api/v1/orgs/acme/service-accounts', { name: 'trainer', team: 'ml', description: 'nightly jobs' }).expect(201);
    expect(sa.body).toMatchObject({ name: 'trainer', team: 'ml', disabled: false });
    const tok = await bearer('post', '/api/v1/orgs/acme/tokens', { name: 'nightly', serviceAccount: 'trainer', expires: '30d', models: 'openai/*', rpm: 60 }).expect(201);
    registerSecret(tok.body.secret);
    expect(tok.body.token).toMatchObject({ owner: { type: 'service_account', name: 'trainer' }, modelPatterns: ['openai/*'], rpm: 60, scopes: ['proxy'] });
    await v1(tok.body.secret).expect(200);
    await bearer('patch', `/api/v1/orgs/acme/service-accounts/${sa.body.id}`, { disabled: true }).expect(200);
    const refused = await v1(tok.body.secret).expect(401);
    expect(refused.body.error.message).toMatch(/disabled/);
    await bearer('patch', '/api/v1/orgs/acme/service-accounts/trainer', { disabled: false }).expect(200);
    await v1(tok.body.secret).expect(200);
    await bearer('delete', '/api/v1/orgs/acme/teams/ml').expect(204);
    expect((await bearer('get', '/api/v1/orgs/acme/service-accounts/trainer').expect(200)).body.team).toBeNull();
    await bearer('delete', '/api/v1/orgs/acme/service-accounts/trainer').expect(204);
    await v1(tok.body.secret).expect(401);
  });

  it('issues, shows (never the secret), rotates with and without grace, and revokes tokens', async () => {
    await bearer('post', '/api/v1/orgs/acme/members', { email: 'rot@acme.test' }).expect(201);
    const created = await bearer('post', '/api/v1/orgs/acme/tokens', { name: 'rot', email: 'rot@acme.test', expires: '10d' }).expect(201);
    registerSecret(created.body.secret);
    const id = created.body.token.id;
    const shown = await bearer('get', `/api/v1/orgs/acme/tokens/${id}`).expect(200);
    expect(JSON.stringify(shown.body)).not.toContain(created.body.secret);
    expect(shown.body).toMatchObject({ status: 'active', owner: { type: 'user', label: 'rot@acme.test' } });

    const graceful = await bearer('post', `/api/v1/orgs/acme/tokens/${id}/rotate`, { grace: '1h' }).expect(201);
    registerSecret(graceful.body.secret);
    expect(graceful.body.token.rotatedFromId).toBe(id);
    // Same lifetime as the original, counted from now; same settings.
    expect(new Date(graceful.body.token.expiresAt).getTime() - Date.now()).toBeGreaterThan(9.9 * 86_400_000);
    await v1(created.body.secret).expect(200); // still inside its grace hour
    await v1(graceful.body.secret).expect(200);
    const old = await bearer('get', `/api/v1/orgs/acme/tokens/${id}`).expect(200);
    expect(new Date(old.body.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(3_600_000);

    const hard = await bearer('post', `/api/v1/orgs/acme/tokens/${graceful.body.token.id}/rotate`, {}).expect(201);
    registerSecret(hard.body.secret);
    await v1(graceful.body.secret).expect(401);
    await v1(hard.body.secret).expect(200);
    await bearer('post', `/api/v1/orgs/acme/tokens/${graceful.body.token.id}/rotate`, {}).expect(409);
    await bearer('delete', `/api/v1/orgs/acme/tokens/${hard.body.token.id}`).expect(200);
    await v1(hard.body.secret).expect(401);

    const revoked = await bearer('get', '/api/v1/orgs/acme/tokens?status=revoked&sort=name&dir=asc').expect(200);
    expect(revoked.body.data.length).toBeGreaterThanOrEqual(2);
    expect(revoked.body.data.every((x: { status: string }) => x.status === 'revoked')).toBe(true);
  });

  it('pages and sorts on the server', async () => {
    for (let i = 0; i < 12; i++) await bearer('post', '/api/v1/orgs/acme/teams', { slug: `team-${String(i).padStart(2, '0')}` }).expect(201);
    const p2 = await bearer('get', '/api/v1/orgs/acme/teams?per=10&page=2&sort=slug&dir=desc').expect(200);
    expect(p2.body).toMatchObject({ page: 2, per: 10, total: 12, pages: 2, sort: 'slug', dir: 'desc' });
    expect(p2.body.data.map((x: { slug: string }) => x.slug)).toEqual(['team-01', 'team-00']);
    // Unknown sort keys fall back to the default instead of reaching SQL.
    const odd = await bearer('get', '/api/v1/orgs/acme/teams?sort=slug;drop%20table&per=10').expect(200);
    expect(odd.body.sort).toBe('slug');
    const page = await boss.get('/ui/orgs/acme/teams?per=10&sort=slug&dir=desc').expect(200);
    expect(decoded(page.text)).toContain('href="/ui/orgs/acme/teams?per=10&sort=slug&dir=desc&page=2"');
    const frag = await boss.get('/ui/orgs/acme/teams?per=10&page=2').set('HX-Request', 'true').expect(200);
    expect(frag.text).not.toContain('<html');
    expect(frag.text).toContain('team-11');
    expect(frag.headers.vary).toMatch(/HX-Request/);
  });

  it('lets members manage their own tokens only, and re-renders lists for htmx actions', async () => {
    await createUser(t.app, { email: 'member@acme.test', org: 'acme', role: 'member' });
    const member = await signIn(t, 'member@acme.test');
    const created = await member.form('/ui/tokens', { org: 'acme', name: 'my laptop', expires: '30d', models: 'anthropic/*' }).expect(201);
    expect(created.headers['cache-control']).toBe('no-store');
    const secret = /data-testid="token-secret">([^<]+)</.exec(created.text)![1];
    registerSecret(secret);
    expect(decoded(created.text)).toContain(`ANTHROPIC_BASE_URL=${t.url}\n`);
    expect(decoded(created.text)).toContain(`OPENAI_BASE_URL=${t.url}/v1`);
    const mine = await member.api('get', '/api/v1/me/tokens').expect(200);
    expect(mine.body.data).toHaveLength(1);
    const id = mine.body.data[0].id;
    await member.api('get', '/ui/orgs/acme/tokens').expect(403);
    const other = (await bearer('get', '/api/v1/orgs/acme/tokens?owner=rot')).body.data[0];
    if (other) await member.api('delete', `/api/v1/me/tokens/${other.id}`).expect(404);
    const frag = await member.htmx("post", `/ui/tokens/${id}/revoke`).set("HX-Current-URL", `${t.url}/ui/tokens?status=all`);
    expect(frag.status).toBe(200);
    expect(frag.text).not.toContain('<html');
    expect(frag.text).toContain('badge-danger'); // the list kept the status=all filter
    await v1(secret).expect(401);
  });

  it('keeps an audit trail with before and after, and never a secret', async () => {
    const audit = await boss.api('get', '/api/v1/audit?per=100').expect(200);
    const actions = audit.body.data.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['membership.create', 'membership.update', 'membership.delete', 'team.create', 'team.delete', 'service_account.disable', 'service_account.enable', 'service_account.delete', 'token.create', 'token.rotate', 'token.revoke']));
    const role = audit.body.data.find((e: { action: string; before: { role?: string } | null }) => e.action === 'membership.update' && e.before?.role === 'member');
    expect(role).toMatchObject({ actor: expect.stringMatching(/^token:/), after: { role: 'admin' } });
    const page = await boss.get('/ui/audit?action=token.').expect(200);
    expect(page.text).toContain('token.rotate');
    const rows = await withDatabase(t.db.url, (c) => c.query(`select before::text || after::text as j from audit_event`));
    const dump = await dumpDatabase(t.db.url);
    expect(rows.rows.some((r) => /sk-sluice-[0-9A-Za-z]{38}/.test(r.j ?? ''))).toBe(false);
    expect(/sk-sluice-[0-9A-Za-z]{38}/.test(dump)).toBe(false);
  });
});
