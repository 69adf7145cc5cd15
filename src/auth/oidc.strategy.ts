import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import OpenIDConnectStrategy from 'passport-openidconnect';
import { authOf } from './actor';
import { IdTokenError, JwksCache } from './id-token';
import type { SessionService } from './session.service';

const VERIFIER = Symbol.for('sluice.pkce-verifier');
type WithVerifier = Request & { [VERIFIER]?: string };

/** Where the request's own authorization state lives: the pre-sign-in session row, used once. */
export class SessionOidcStateStore {
  constructor(private readonly sessions: SessionService) {}

  store(req: Request, ctx: { nonce?: string; maxAge?: number; issued?: Date }, appState: { next?: string } | undefined, _meta: unknown, cb: (err: unknown, handle?: string) => void) {
    const s = authOf(req).session;
    const codeVerifier = (req as WithVerifier)[VERIFIER];
    if (!s || !codeVerifier) return cb(new Error('no session to hold the sign-in state'));
    const handle = randomBytes(24).toString('base64url');
    s.data.oidc = { handle, nonce: ctx.nonce, maxAge: ctx.maxAge, issued: ctx.issued?.toISOString(), codeVerifier, next: appState?.next };
    this.sessions.saveData(s).then(() => cb(null, handle), cb);
  }

  verify(req: Request, provided: unknown, cb: (err: unknown, ctx?: unknown, state?: unknown) => void) {
    const s = authOf(req).session;
    const saved = s?.data.oidc;
    if (!s || !saved) return cb(null, false, { message: 'This sign-in was not started here, has already completed, or took too long. Start again.' });
    // Single use: the state is gone before we look at it, so a replayed callback finds nothing.
    delete s.data.oidc;
    this.sessions.saveData(s).then(() => {
      const a = Buffer.from(typeof provided === 'string' ? provided : '');
      const b = Buffer.from(saved.handle);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return cb(null, false, { message: 'The sign-in response does not match the request (state mismatch). Start again.' });
      (req as WithVerifier)[VERIFIER] = saved.codeVerifier;
      cb(null, { nonce: saved.nonce, maxAge: saved.maxAge, issued: saved.issued ? new Date(saved.issued) : undefined }, { next: saved.next });
    }, cb);
  }
}

/**
 * passport-openidconnect plus what it lacks: PKCE (S256) and a signature check of the ID token
 * against the provider's published keys (the library only decodes it). The library itself checks
 * state (through our store), issuer, audience, authorized party, expiry and nonce.
 *
 * Passport runs each request on `Object.create(registeredStrategy)`, so the per-request fields set
 * here never leak between concurrent sign-ins.
 */
export class PkceOidcStrategy extends OpenIDConnectStrategy {
  private pkceChallenge?: string;

  constructor(options: Record<string, unknown>, verify: (...args: any[]) => void, private readonly jwks: JwksCache) {
    super({ ...options, nonce: true, passReqToCallback: true }, verify);
  }

  override authenticate(req: Request, options: Record<string, unknown> = {}): void {
    if (req.query?.code) {
      const base = this._oauth2;
      const perRequest = Object.create(base);
      perRequest.getOAuthAccessToken = (code: string, params: Record<string, string>, cb: (err: unknown, at?: string, rt?: string, results?: Record<string, unknown>) => void) => {
        const codeVerifier = (req as WithVerifier)[VERIFIER];
        if (!codeVerifier) return this.fail({ message: 'missing PKCE verifier' }, 403);
        base.getOAuthAccessToken(code, { ...params, code_verifier: codeVerifier }, (err, at, rt, results) => {
          if (err) return cb(err);
          const idToken = results?.id_token;
          if (typeof idToken !== 'string') return cb(null, at, rt, results);
          this.jwks.verify(idToken).then(
            () => cb(null, at, rt, results),
            (e) => (e instanceof IdTokenError ? this.fail({ message: e.message }, 403) : this.error(e)),
          );
        });
      };
      this._oauth2 = perRequest;
    } else if (!req.query?.error) {
      const verifier = randomBytes(32).toString('base64url');
      (req as WithVerifier)[VERIFIER] = verifier;
      this.pkceChallenge = createHash('sha256').update(verifier).digest('base64url');
    }
    super.authenticate(req, options);
  }

  override authorizationParams(): Record<string, string> {
    return this.pkceChallenge ? { code_challenge: this.pkceChallenge, code_challenge_method: 'S256' } : {};
  }
}
