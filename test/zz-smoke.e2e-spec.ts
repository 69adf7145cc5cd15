import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createUser } from './support/factories';
import { signIn } from './support/session';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp(); });
  afterAll(() => t?.close());
  it('works', async () => {
    const r = await request(t.url).get('/ui');
    console.log(r.status, r.headers.location);
    const org = await createOrg(t.app, 'acme');
    await createUser(t.app, { email: 'boss@acme.test', org: 'acme', role: 'admin' });
    const s = await signIn(t, 'boss@acme.test');
    for (const p of ['/ui', '/ui/orgs', '/ui/orgs/acme', '/ui/orgs/acme/members', '/ui/orgs/acme/teams', '/ui/orgs/acme/service-accounts', '/ui/orgs/acme/tokens', '/ui/orgs/acme/tokens/new', '/ui/tokens', '/ui/audit', '/api/v1/me', '/api/v1/orgs', '/api/v1/openapi.json']) {
      const x = await s.get(p);
      console.log(p, x.status, x.status >= 400 ? x.text.slice(0, 500) : '');
    }
    const c = await s.form('/ui/orgs/acme/tokens', { name: 'laptop', owner: 'user:' + (await s.api('get', '/api/v1/me')).body.user.id, scopes: 'proxy', expires: '30d' });
    console.log('create', c.status, c.text.includes('sk-sluice-'));
    void org;
  });
});
