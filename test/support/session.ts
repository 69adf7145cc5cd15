import request from 'supertest';
import { LoginLinkService } from '../../src/auth/login-link.service';
import type { TestApp } from './app';
import { registerSecret } from './pg';

/** A signed-in browser without the browser: a session cookie and its CSRF token. */
export interface TestSession {
  email: string;
  cookie: string;
  csrf: string;
  get(path: string): request.Test;
  /** A form post (urlencoded) with the CSRF field, as a plain HTML form sends it. */
  form(path: string, fields?: Record<string, string | string[]>): request.Test;
  /** An htmx-style request: the CSRF token in the X-CSRF-Token header. */
  htmx(method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, fields?: Record<string, string>): request.Test;
  /** A JSON call to the management API with the session cookie (and the CSRF header). */
  api(method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, body?: unknown): request.Test;
}

export function cookieFrom(res: { headers: Record<string, unknown> }): string | null {
  const set = res.headers['set-cookie'] as string[] | undefined;
  const c = set?.map((s) => s.split(';')[0]).find((s) => /^(__Host-)?sluice_session=./.test(s));
  return c ?? null;
}

export function csrfFrom(html: string): string {
  const m = /<meta name="csrf-token" content="([^"]+)">/.exec(html) ?? /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in page');
  return m[1];
}

/** Signs in through a real one-time link (opened, confirmed with its CSRF token). */
export async function signIn(t: TestApp, email: string, opts: { globalAdmin?: boolean } = {}): Promise<TestSession> {
  const link = await t.app.get(LoginLinkService).issue('test', email, { globalAdmin: opts.globalAdmin, baseUrl: t.url });
  const token = new URL(link.url).searchParams.get('token')!;
  registerSecret(token);
  const page = await request(t.url).get(`/auth/link?token=${token}`).expect(200);
  const pre = cookieFrom(page)!;
  const done = await request(t.url).post('/auth/link').set('cookie', pre).type('form').send({ token, _csrf: csrfFrom(page.text) }).expect(303);
  const cookie = cookieFrom(done);
  if (!cookie) throw new Error('sign-in set no session cookie');
  registerSecret(cookie.split('=')[1]);
  const home = await request(t.url).get('/ui/tokens').set('cookie', cookie).expect(200);
  return sessionFor(t, email, cookie, csrfFrom(home.text));
}

export function sessionFor(t: TestApp, email: string, cookie: string, csrf: string): TestSession {
  return {
    email,
    cookie,
    csrf,
    get: (path) => request(t.url).get(path).set('cookie', cookie),
    form: (path, fields = {}) => request(t.url).post(path).set('cookie', cookie).type('form').send({ ...fields, _csrf: csrf }),
    htmx: (method, path, fields) => {
      const r = request(t.url)[method](path).set('cookie', cookie).set('HX-Request', 'true').set('x-csrf-token', csrf);
      return fields ? r.type('form').send(fields) : r;
    },
    api: (method, path, body) => {
      const r = request(t.url)[method](path).set('cookie', cookie).set('x-csrf-token', csrf).set('accept', 'application/json');
      return body === undefined ? r : r.send(body as object);
    },
  };
}
