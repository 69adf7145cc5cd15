import { startTestApp, TestApp } from './support/app';
import { createOrg, createTeam, createToken, createUser } from './support/factories';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { RateLimitsService } from '../src/budgets/rate-limits.service';
import { OrgsService } from '../src/orgs/orgs.service';
import { UsageWriter } from '../src/usage/usage-writer.service';

describe('rate limits: per token, falling back from owner, team and org', () => {
  let fake: FakeUpstream;
  let t: TestApp;
  const call = (secret: string, content = 'hi') =>
    fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content }] }),
    }).then(async (r) => ({ status: r.status, body: await r.text(), retryAfter: r.headers.get('retry-after') }));
  const set = async (scope: string, values: Record<string, number | null>) => {
    await t.app.get(RateLimitsService).set('test', 'rl', scope, values);
    await new Promise((r) => setTimeout(r, 200));
  };

  beforeAll(async () => {
    fake = await startFakeUpstream({ recordBodies: false });
    t = await startTestApp({
      gatewayConfig: { providers: { fake: { baseurl: fake.url, models: ['m'], compatibility: { openai_chat: true } } }, grants: [{ src: ['*'], models: ['**'] }] },
    });
    await createOrg(t.app, 'rl');
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('an org-wide rpm applies to each token on its own; a token or owner setting overrides it', async () => {
    await set('org', { rpm: 3 });
    const a = await createToken(t.app, { orgSlug: 'rl', name: 'a' });
    const b = await createToken(t.app, { orgSlug: 'rl', name: 'b' });
    const sa = [];
    for (let i = 0; i < 4; i++) sa.push(await call(a.secret));
    expect(sa.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(JSON.parse(sa[3].body).error).toMatchObject({ type: 'rate_limit_error', message: 'rate limit exceeded (rpm limit 3/min for this token)' });
    expect(Number(sa[3].retryAfter)).toBeGreaterThan(0);
    expect((await call(b.secret)).status).toBe(200);

    await createUser(t.app, { email: 'heavy@rl.test', org: 'rl' });
    await set('user:heavy@rl.test', { rpm: 5 });
    const heavy = await createToken(t.app, { orgSlug: 'rl', userEmail: 'heavy@rl.test', name: 'heavy' });
    const hs = [];
    for (let i = 0; i < 6; i++) hs.push((await call(heavy.secret)).status);
    expect(hs).toEqual([200, 200, 200, 200, 200, 429]);

    const own = await createToken(t.app, { orgSlug: 'rl', name: 'own', rpm: 1 });
    expect([(await call(own.secret)).status, (await call(own.secret)).status]).toEqual([200, 429]);
    await set('org', { rpm: null });
  });

  it('team limits apply to members whose own scopes set none', async () => {
    await createUser(t.app, { email: 'member@rl.test', org: 'rl' });
    await createTeam(t.app, 'rl', 'batch');
    await t.app.get(OrgsService).addTeamMember('test', 'rl', 'batch', 'member@rl.test');
    await set('team:batch', { rpm: 2 });
    const tok = await createToken(t.app, { orgSlug: 'rl', userEmail: 'member@rl.test', name: 'batch-job' });
    expect([(await call(tok.secret)).status, (await call(tok.secret)).status, (await call(tok.secret)).status]).toEqual([200, 200, 429]);
  });

  it('input tokens per minute count the request size', async () => {
    const tok = await createToken(t.app, { orgSlug: 'rl', name: 'tpm' });
    await set(`token:${tok.id}`, { input_tpm: 200 });
    expect((await call(tok.secret, 'x'.repeat(400))).status).toBe(200); // about 100 input tokens
    expect((await call(tok.secret, 'x'.repeat(600))).status).toBe(429); // about 150 more would pass 200
  });

  it('concurrency limits hold while requests run and free up when they end', async () => {
    const tok = await createToken(t.app, { orgSlug: 'rl', name: 'conc' });
    await set(`token:${tok.id}`, { concurrent: 2 });
    fake.behave({ mode: 'slow', delayMs: 400 });
    const first = await Promise.all([1, 2, 3, 4].map(() => call(tok.secret)));
    expect(first.map((r) => r.status).sort()).toEqual([200, 200, 429, 429]);
    fake.behave({});
    await t.app.get(UsageWriter).drain();
    // Units come back when the usage is settled.
    let again = 0;
    for (let i = 0; i < 20 && again !== 200; i++) {
      again = (await call(tok.secret)).status;
      if (again !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(again).toBe(200);
  });
});
