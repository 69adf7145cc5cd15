import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Passport } from 'passport';
import type { Logger } from 'pino';
import { DomainError, ErrorCode } from '../common/errors';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { decodeJwt, Jwk, JwksCache } from './id-token';
import { OidcUsersService, SignedIn } from './oidc-users.service';
import { PkceOidcStrategy, SessionOidcStateStore } from './oidc.strategy';
import { SessionService } from './session.service';

interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
}

export type OidcOutcome =
  | { kind: 'responded' }
  | { kind: 'success'; user: SignedIn; next?: string }
  | { kind: 'failed'; message: string };

const STRATEGY = 'sluice-oidc';

/**
 * Sign-in through the configured OpenID Connect provider. The provider's metadata is discovered on
 * first use (not at boot, so Sluice starts while the identity provider is down) and kept.
 */
@Injectable()
export class OidcService {
  private setup?: Promise<{ passport: Passport; meta: ProviderMetadata }>;

  constructor(
    private readonly sessions: SessionService,
    private readonly users: OidcUsersService,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return !!this.rt.env.OIDC_ISSUER;
  }

  /** Host of the identity provider, for the sign-in button. */
  get providerLabel(): string {
    try {
      return new URL(this.rt.env.OIDC_ISSUER!).host;
    } catch {
      return 'your identity provider';
    }
  }

  /** Runs the passport strategy: a redirect to the provider, or the callback's verdict. */
  async run(req: Request, res: Response, appState?: { next?: string }): Promise<OidcOutcome> {
    const { passport } = await this.ready();
    return new Promise<OidcOutcome>((resolve, reject) => {
      res.once('finish', () => resolve({ kind: 'responded' }));
      passport.authenticate(STRATEGY, { session: false, state: appState }, (err, user, info) => {
        if (err) return reject(err);
        const message = (info as { message?: string } | undefined)?.message;
        if (!user) return resolve({ kind: 'failed', message: message ?? 'sign-in was refused' });
        resolve({ kind: 'success', user: user as SignedIn, next: (info as { state?: { next?: string } })?.state?.next });
      })(req, res, reject);
    });
  }

  private ready() {
    if (!this.enabled) throw new DomainError(ErrorCode.NotFound, 'single sign-on is not configured (OIDC_ISSUER)');
    this.setup ??= this.discover().catch((e) => {
      this.setup = undefined;
      throw e;
    });
    return this.setup;
  }

  private async discover(): Promise<{ passport: Passport; meta: ProviderMetadata }> {
    const env = this.rt.env;
    const configured = env.OIDC_ISSUER!;
    const url = configured.replace(/\/+$/, '') + '/.well-known/openid-configuration';
    let meta: ProviderMetadata;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      meta = (await r.json()) as ProviderMetadata;
    } catch (e) {
      this.logger.error({ err: String(e), url }, 'OIDC discovery failed');
      throw new DomainError(ErrorCode.Unavailable, 'the identity provider cannot be reached right now; try again shortly');
    }
    for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof meta[k] !== 'string') throw new DomainError(ErrorCode.Unavailable, `the identity provider's metadata lacks ${k}`);
    }
    // The ID token's iss must equal the discovered issuer exactly; the configured value may differ only by a trailing slash.
    if (meta.issuer.replace(/\/+$/, '') !== configured.replace(/\/+$/, '')) {
      this.logger.error({ configured, discovered: meta.issuer }, 'OIDC issuer mismatch: OIDC_ISSUER must be the issuer the provider announces');
      throw new DomainError(ErrorCode.Unavailable, 'single sign-on is misconfigured (issuer mismatch); see the server log');
    }
    const jwks = new JwksCache(async () => {
      const r = await fetch(meta.jwks_uri, { signal: AbortSignal.timeout(10_000) });
      if (!r.ok) throw new Error(`jwks_uri answered HTTP ${r.status}`);
      return ((await r.json()) as { keys?: Jwk[] }).keys ?? [];
    });
    const groupsClaim = env.OIDC_GROUPS_CLAIM;
    const strategy = new PkceOidcStrategy(
      {
        issuer: meta.issuer,
        authorizationURL: meta.authorization_endpoint,
        tokenURL: meta.token_endpoint,
        userInfoURL: meta.userinfo_endpoint,
        clientID: env.OIDC_CLIENT_ID,
        clientSecret: env.OIDC_CLIENT_SECRET,
        callbackURL: env.PUBLIC_URL ? env.PUBLIC_URL.replace(/\/+$/, '') + '/auth/callback' : '/auth/callback',
        scope: env.OIDC_SCOPES.split(' ').filter((s) => s !== 'openid'),
        store: new SessionOidcStateStore(this.sessions),
        // Ask userinfo only when the ID token lacks what we need (some providers keep claims there).
        skipUserProfile: (_req: Request, claims: Record<string, unknown>) => !!claims.email && (!groupsClaim || claims[groupsClaim] !== undefined) || !meta.userinfo_endpoint,
      },
      // Ten parameters: passport-openidconnect passes the userinfo profile separately at this arity.
      (req: Request, _iss: string, uiProfile: { _json?: Record<string, unknown> } | undefined, _idProfile: unknown, _ctx: unknown, idToken: string, _at: unknown, _rt: unknown, _params: unknown, done: (err: unknown, user?: unknown, info?: unknown) => void) => {
        const claims = decodeJwt(idToken).claims;
        const info = uiProfile?._json;
        if (info && info.sub !== claims.sub) return done(null, false, { message: 'the userinfo response is for a different subject' });
        this.users.signIn(meta.issuer, { ...(info ?? {}), ...claims }).then(
          (u) => done(null, u),
          (e) => (e instanceof DomainError ? done(null, false, { message: e.message }) : done(e)),
        );
      },
      jwks,
    );
    const passport = new Passport();
    passport.use(STRATEGY, strategy);
    this.logger.info({ issuer: meta.issuer }, 'OIDC provider discovered');
    return { passport, meta };
  }
}
