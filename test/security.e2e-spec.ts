import * as fs from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { signIn } from './support/session';
import { OrgsService } from '../src/orgs/orgs.service';

/** Regressions for findings of the security review of sign-in and administration. */
describe('security regressions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await createOrg(t.app, 'sa');
    await createUser(t.app, { email: 'orgadmin@sa.test', org: 'sa', role: 'admin' });
    await createUser(t.app, { email: 'root@sa.test', org: 'sa', role: 'member', globalAdmin: true });
  });
  afterAll(() => t?.close());

  it('an org admin cannot issue admin or metrics tokens for someone else, nor rotate theirs', async () => {
    const admin = await signIn(t, 'orgadmin@sa.test');
    const escalate = await admin.api('post', '/api/v1/orgs/sa/tokens', { name: 'x', email: 'root@sa.test', scopes: ['admin'] });
    expect(escalate.status).toBe(403);
    const metrics = await admin.api('post', '/api/v1/orgs/sa/tokens', { name: 'm', email: 'orgadmin@sa.test', scopes: ['metrics'] });
    expect(metrics.status).toBe(403);
    const rootsAdminToken = await createToken(t.app, { orgSlug: 'sa', userEmail: 'root@sa.test', name: 'root-admin', scopes: ['admin'] });
    const rotate = await admin.api('post', `/api/v1/orgs/sa/tokens/${rootsAdminToken.id}/rotate`, {});
    expect(rotate.status).toBe(403);
    // A proxy token the org admin issues for the global admin is still allowed (it carries no admin power).
    expect((await admin.api('post', '/api/v1/orgs/sa/tokens', { name: 'p', email: 'root@sa.test' })).status).toBe(201);
  });

  it('a token issued for a global admin by someone else stays inside its org', async () => {
    const tok = await createToken(t.app, { orgSlug: 'sa', userEmail: 'root@sa.test', name: 'issued-by-operator', scopes: ['admin'] });
    // Issued by the operator (CLI): global powers, as intended.
    const viaOperator = await request(t.url).get('/api/v1/me').set('authorization', `Bearer ${tok.secret}`).expect(200);
    expect(viaOperator.body.globalAdmin).toBe(true);
    const adminId = (await t.app.get(OrgsService).getUserByEmail('orgadmin@sa.test')).id;
    const minted = await createToken(t.app, { orgSlug: 'sa', userEmail: 'root@sa.test', name: 'minted', scopes: ['admin'], createdById: adminId });
    const me = await request(t.url).get('/api/v1/me').set('authorization', `Bearer ${minted.secret}`).expect(200);
    expect(me.body.globalAdmin).toBe(false);
  });

  it('pages run no inline script: CSP forbids it and no template has inline handlers', async () => {
    const admin = await signIn(t, 'orgadmin@sa.test');
    const page = await admin.get('/ui/orgs').expect(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const views = path.resolve(__dirname, '..', 'views');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (/\son[a-z]+="|hx-on[:-]|<script(?![^>]*\ssrc=)/i.test(fs.readFileSync(full, 'utf8'))) offenders.push(path.relative(views, full));
      }
    };
    walk(views);
    expect(offenders).toEqual([]);
  });

  it('does not skip the auth middleware for upper-case paths', async () => {
    const r = await request(t.url).post('/AUTH/logout');
    expect([403, 404]).toContain(r.status);
    const link = await request(t.url).post('/AUTH/link').type('form').send({ token: 'x' });
    expect([403, 404]).toContain(link.status);
  });
});
