import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, KeyObject, randomBytes, sign } from 'node:crypto';
import { registerSecret } from './pg';

/**
 * A real OpenID Connect provider (node-oidc-provider) on a loopback port for sign-in tests: one
 * confidential client with PKCE required, dev interactions (any login name, no consent screen), and
 * a hook that rewrites the next ID token the token endpoint returns (re-signed with the provider's
 * own key, or not), so tests can present a wrong issuer, nonce, audience or an expired token.
 */
export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** OIDC_* variables for the app. */
  env: Record<string, string>;
  /** The provider is built on first use, so the app's callback URL can be registered after it starts. */
  setRedirectUris(uris: string[]): void;
  /** Claims for a login name (sub defaults to the login). */
  setAccount(login: string, claims: Record<string, unknown>): void;
  tamperNextIdToken(fn: (claims: Record<string, unknown>) => Record<string, unknown>, opts?: { resign?: boolean }): void;
  close(): Promise<void>;
}

export async function startOidcProvider(): Promise<TestIdp> {
  const { default: Provider } = (await import('oidc-provider' as string)) as unknown as { default: new (issuer: string, config: Record<string, unknown>) => { callback(): http.RequestListener; Grant: new (o: Record<string, unknown>) => GrantLike } };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(6).toString('hex');
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid, use: 'sig', alg: 'RS256' };
  const clientId = 'sluice-test';
  const clientSecret = randomBytes(24).toString('hex');
  registerSecret(clientSecret);
  const accounts = new Map<string, Record<string, unknown>>();
  let redirectUris: string[] = [];
  let tamper: { fn: (c: Record<string, unknown>) => Record<string, unknown>; resign: boolean } | null = null;
  let handler: http.RequestListener | null = null;

  const server = http.createServer((req, res) => {
    if (!handler) {
      // The provider warns (console.warn) that dev interactions are for development: they are, here.
      const warn = console.warn;
      console.warn = () => undefined;
      let provider;
      try {
      provider = new Provider(issuer, {
        clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, response_types: ['code'], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_post' }],
        pkce: { required: () => true },
        features: { devInteractions: { enabled: true } },
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
        scopes: ['openid', 'email', 'profile', 'groups'],
        conformIdTokenClaims: false,
        ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
        jwks: { keys: [jwk] },
        cookies: { keys: [randomBytes(16).toString('hex')] },
        findAccount: async (_ctx: unknown, id: string) => ({
          accountId: id,
          claims: async () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: id, ...(accounts.get(id) ?? {}) }),
        }),
        // No consent screen: the test client is first-party.
        loadExistingGrant: async (ctx: { oidc: { client: { clientId: string }; session: { accountId: string }; provider: { Grant: new (o: Record<string, unknown>) => GrantLike } } }) => {
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
          grant.addOIDCScope('openid email profile groups');
          grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
          await grant.save();
          return grant;
        },
        renderError: async (ctx: { type: string; body: string }, out: Record<string, string>) => {
          ctx.type = 'html';
          ctx.body = `<p>${out.error}: ${out.error_description}</p>`;
        },
      });
      } finally {
        console.warn = warn;
      }
      handler = provider.callback();
    }
    if (tamper && req.method === 'POST' && req.url?.startsWith('/token')) interceptToken(res, tamper, privateKey, kid), (tamper = null);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    clientId,
    clientSecret,
    env: { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret },
    setRedirectUris: (uris) => {
      redirectUris = uris;
    },
    setAccount: (login, claims) => accounts.set(login, claims),
    tamperNextIdToken: (fn, opts = {}) => {
      tamper = { fn, resign: opts.resign !== false };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface GrantLike {
  addOIDCScope(s: string): void;
  addOIDCClaims(c: string[]): void;
  save(): Promise<string>;
}

/** Buffers the token endpoint's JSON answer and swaps its id_token for a rewritten one. */
function interceptToken(res: http.ServerResponse, t: { fn: (c: Record<string, unknown>) => Record<string, unknown>; resign: boolean }, key: KeyObject, kid: string) {
  const chunks: Buffer[] = [];
  const end = res.end.bind(res) as (b?: unknown) => http.ServerResponse;
  res.write = ((c: unknown) => {
    chunks.push(Buffer.from(c as Buffer));
    return true;
  }) as typeof res.write;
  res.end = ((c?: unknown) => {
    if (c && typeof c !== 'function') chunks.push(Buffer.from(c as Buffer));
    let body = Buffer.concat(chunks);
    try {
      const json = JSON.parse(body.toString('utf8'));
      if (typeof json.id_token === 'string') {
        const [h, p, s] = json.id_token.split('.');
        const claims = t.fn(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
        const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
        const header = t.resign ? Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url') : h;
        const sig = t.resign ? sign('sha256', Buffer.from(`${header}.${payload}`), key).toString('base64url') : s;
        json.id_token = `${header}.${payload}.${sig}`;
        body = Buffer.from(JSON.stringify(json));
      }
    } catch {
      /* not JSON: pass through */
    }
    if (!res.headersSent) res.setHeader('content-length', body.length);
    return end(body);
  }) as typeof res.end;
}

/** A minimal cookie jar: name → value, for one host (cookies ignore ports, so app and IdP share it). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (!value || /max-age=0/i.test(c) || /expires=thu, 01 jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  clone(): CookieJar {
    const j = new CookieJar();
    for (const [k, v] of this.cookies) j.cookies.set(k, v);
    return j;
  }
}

export async function fetchManual(url: string, jar: CookieJar, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
  jar.store(res);
  return res;
}

/**
 * Drives a sign-in the way a browser would, up to the moment the provider sends the browser back
 * to the app: returns the callback URL (with code and state) without following it, so a test can
 * follow it, replay it or tamper with it. `authorizeUrl` records the request the app made.
 */
export async function authorizeAtIdp(appUrl: string, login: string, jar = new CookieJar()): Promise<{ jar: CookieJar; callbackUrl: string; authorizeUrl: string }> {
  const start = await fetchManual(`${appUrl}/auth/login?next=${encodeURIComponent('/ui/tokens')}`, jar);
  if (start.status !== 302 && start.status !== 303) throw new Error(`/auth/login answered ${start.status}: ${await start.text()}`);
  const authorizeUrl = start.headers.get('location')!;
  let url = authorizeUrl;
  for (let hop = 0; hop < 10; hop++) {
    const r = await fetchManual(url, jar);
    const loc = r.headers.get('location');
    if (loc && new URL(loc, url).href.startsWith(`${appUrl}/auth/callback`)) return { jar, callbackUrl: new URL(loc, url).href, authorizeUrl };
    if (loc) {
      url = new URL(loc, url).href;
      continue;
    }
    const html = await r.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (r.status !== 200 || !action || !/name="prompt" value="login"/.test(html)) throw new Error(`unexpected provider page (${r.status}): ${html.slice(0, 300)}`);
    const post = await fetchManual(new URL(action.replace(/&amp;/g, '&'), url).href, jar, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString(),
    });
    const next = post.headers.get('location');
    if (!next) throw new Error(`login submit answered ${post.status}: ${(await post.text()).slice(0, 300)}`);
    url = new URL(next, url).href;
  }
  throw new Error('too many redirects at the provider');
}
