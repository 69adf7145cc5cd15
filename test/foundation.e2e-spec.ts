import * as fs from 'node:fs';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { startTestApp, TestApp } from './support/app';
import { createOrg, createToken, createUser } from './support/factories';
import { dumpDatabase } from './support/pg';
import { signIn } from './support/session';

describe('foundation: HTTP basics on a real PostgreSQL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { BODY_LIMIT: '64kb' } });
  });
  afterAll(() => t?.close());

  it('serves /healthz and /readyz as JSON', async () => {
    const h = await request(t.url).get('/healthz').expect(200);
    expect(h.body).toEqual({ status: 'ok' });
    const r = await request(t.url).get('/readyz').expect(200);
    expect(r.body).toEqual({ status: 'ready', database: 'ok', migrations: 'current' });
    expect(h.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('echoes a sane caller request id and replaces an unsafe one', async () => {
    const a = await request(t.url).get('/healthz').set('x-request-id', 'abc-123').expect(200);
    expect(a.headers['x-request-id']).toBe('abc-123');
    const b = await request(t.url).get('/healthz').set('x-request-id', 'bad id with spaces').expect(200);
    expect(b.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('tells UI responses their server time (Server-Timing), and only them', async () => {
    await createUser(t.app, { email: 'timing@acme.test' });
    const page = await (await signIn(t, 'timing@acme.test')).get('/ui/usage').expect(200);
    expect(page.headers['server-timing']).toMatch(/^app;dur=\d+\.\d{3}$/);
    const anonymous = await request(t.url).get('/ui/usage');
    expect(anonymous.status).toBeGreaterThanOrEqual(300);
    expect(anonymous.headers['server-timing']).toMatch(/^app;dur=/);
    const health = await request(t.url).get('/healthz').expect(200);
    expect(health.headers['server-timing']).toBeUndefined();
    const v1 = await request(t.url).get('/v1/models').expect(401);
    expect(v1.headers['server-timing']).toBeUndefined();
  });

  it('answers 413 in the caller format when the body is over BODY_LIMIT', async () => {
    const big = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'a'.repeat(70 * 1024) }] });
    const oa = await request(t.url).post('/v1/chat/completions').set('content-type', 'application/json').send(big).expect(413);
    expect(oa.body.error.message).toMatch(/larger than the configured limit/);
    expect(oa.body.error.type).toBe('invalid_request_error');
    const an = await request(t.url).post('/v1/messages').set('content-type', 'application/json').send(big).expect(413);
    expect(an.body).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
  });

  it('reports invalid JSON without quoting the body', async () => {
    const r = await request(t.url).post('/v1/chat/completions').set('content-type', 'application/json').send('{"secret-ish": nope').expect(400);
    expect(r.body.error.message).toBe('request body is not valid JSON');
    expect(JSON.stringify(r.body)).not.toContain('secret-ish');
  });

  it('reads model-route bodies alike on the fast path and through Express (compressed, chunked, odd paths)', async () => {
    // Raw HTTP: the bodies go out byte for byte, in the chunks given (no content-length when several).
    const post = (path: string, body: Buffer | string | string[], headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: any }>((resolve, reject) => {
        const parts = Array.isArray(body) ? body : [body];
        const h = Array.isArray(body) ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body as string)) };
        const req = http.request(`${t.url}${path}`, { method: 'POST', headers: h }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        for (const p of parts) req.write(p);
        req.end();
      });
    const json = { 'content-type': 'application/json' };
    const missingKey = { error: expect.objectContaining({ message: expect.stringMatching(/missing API key/) }) };
    // The fast path: request id echoed, errors in the endpoint's format.
    const plain = await post('/v1/chat/completions', '{"model":"x"}', { ...json, 'x-request-id': 'fast-1' });
    expect(plain).toMatchObject({ status: 401, headers: { 'x-request-id': 'fast-1' }, body: missingKey });
    expect(await post('/v1/messages', '', json)).toMatchObject({ status: 401, body: { type: 'error', error: { type: 'authentication_error' } } });
    // Not an object or array: refused as express.json() refuses it.
    expect(await post('/v1/chat/completions', '"just a string"', json)).toMatchObject({ status: 400, body: { error: { message: 'request body is not valid JSON' } } });
    // A chunked body (no content-length) over the limit: cut off at the limit, answered after it is read.
    const chunked = await post('/v1/embeddings', Array.from({ length: 10 }, () => 'a'.repeat(10 * 1024)), json);
    expect(chunked).toMatchObject({ status: 413, body: { error: { message: expect.stringMatching(/larger than the configured limit/) } } });
    // Compressed bodies, another charset and a trailing slash go the long way round and still work.
    const gzip = { ...json, 'content-encoding': 'gzip' };
    expect(await post('/v1/chat/completions', zlib.gzipSync('{"model":"x"}'), gzip)).toMatchObject({ status: 401, body: missingKey });
    expect(await post('/v1/chat/completions', zlib.gzipSync('{nope'), gzip)).toMatchObject({ status: 400, body: { error: { message: 'request body is not valid JSON' } } });
    expect(await post('/v1/chat/completions/', '{"model":"x"}', json)).toMatchObject({ status: 401, body: missingKey });
    expect((await post('/v1/chat/completions', '{"model":"x"}', { 'content-type': 'application/json; charset=latin1' })).body.error.message).toMatch(/unsupported charset/);
    // Both paths leave an access-log line (path only, never the query string).
    expect((await post('/v1/responses?api-version=secretish', '{}', json)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 50));
    const log = fs.readFileSync(t.logFile, 'utf8');
    expect(log).toMatch(/"reqId":"fast-1".*"path":"\/v1\/chat\/completions".*"status":401/);
    expect(log).toContain('"path":"/v1/responses"');
    expect(log).not.toContain('secretish');
  });

  it('maps unknown routes to 404 in each format without a stack', async () => {
    const api = await request(t.url).get('/api/v1/nothing').expect(404);
    expect(api.body.error).toMatchObject({ code: 'not_found' });
    const page = await request(t.url).get('/ui/nothing-here').expect(404);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain('no route for GET /ui/nothing-here');
    expect(page.text).not.toMatch(/at \w+ \(/);
    const frag = await request(t.url).get('/ui/nothing-here').set('HX-Request', 'true').expect(404);
    expect(frag.text).not.toContain('<html');
    expect(frag.text).toContain('alert-error');
  });

  it('renders the base layout with htmx and uPlot served by the app', async () => {
    // /ui needs a signed-in session (see auth-session.e2e-spec.ts); sign in with a one-time link.
    await createUser(t.app, { email: 'layout@acme.test' });
    const s = await signIn(t, 'layout@acme.test');
    const page = await s.get('/ui').expect(200);
    expect(page.text).toContain('<nav class="nav"');
    const nav = (html: string) => html.slice(html.indexOf('<nav class="nav"'), html.indexOf('</nav>'));
    for (const href of ['/ui/usage', '/ui/logs', '/ui/budgets']) expect(nav(page.text)).toContain(`href="${href}"`);
    // Admin pages are only offered to those who may open them.
    for (const href of ['/ui/settings', '/ui/adoption', '/ui/audit']) expect(nav(page.text)).not.toContain(`href="${href}"`);
    await createUser(t.app, { email: 'root@acme.test', globalAdmin: true });
    const root = await (await signIn(t, 'root@acme.test')).get('/ui').expect(200);
    for (const href of ['/ui/settings', '/ui/adoption', '/ui/audit']) expect(nav(root.text)).toContain(`href="${href}"`);
    expect(page.text).toContain('/static/vendor/htmx/htmx.min.js');
    expect(page.text).toContain('/static/vendor/uplot/uPlot.iife.min.js');
    expect(page.text).not.toMatch(/https?:\/\/(cdn|unpkg)/);
    expect(page.headers['vary']).toMatch(/HX-Request/i);
    const frag = await s.get('/ui').set('HX-Request', 'true').expect(200);
    expect(frag.text).not.toContain('<html');
    // Back/forward after a pushed URL: htmx restores history with a request for the whole page.
    const restored = await s.get('/ui').set('HX-Request', 'true').set('HX-History-Restore-Request', 'true').set('HX-Request-Type', 'full').expect(200);
    expect(restored.text).toContain('<html');
    const htmx = await request(t.url).get('/static/vendor/htmx/htmx.min.js').expect(200);
    expect(htmx.headers['content-type']).toMatch(/javascript/);
    await request(t.url).get('/static/vendor/uplot/uPlot.iife.min.js').expect(200);
    await request(t.url).get('/static/css/app.css').expect(200);
  });

  it('stores only hashes of token secrets', async () => {
    const org = await createOrg(t.app, 'acme-found');
    await createUser(t.app, { email: 'owner@acme.test', org: org.slug, role: 'admin' });
    const tok = await createToken(t.app, { orgSlug: org.slug, userEmail: 'owner@acme.test', name: 'laptop' });
    const dump = await dumpDatabase(t.db.url);
    expect(dump).toContain(tok.id);
    expect(dump).toContain(tok.token.prefix);
    expect(dump).not.toContain(tok.secret);
    expect(dump).not.toContain(tok.secret.slice(16));
  });
});
