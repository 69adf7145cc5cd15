import { Inject, Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { AuditService } from '../common/audit.service';
import { DomainError, ErrorCode } from '../common/errors';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { AppUser } from '../orgs/app-user.entity';
import { authOf } from './actor';
import { LoginLinkService } from './login-link.service';
import { OidcService } from './oidc.service';
import { RateLimiter } from './rate-limiter';
import { SessionData, SessionService } from './session.service';

/** Only paths inside the UI are valid places to return to after sign-in (no open redirects). */
export function safeNext(v: unknown): string {
  return typeof v === 'string' && /^\/ui(\/|\?|$)/.test(v) && !/[\\\r\n]/.test(v) && !v.startsWith('//') ? v : '/ui';
}

/** The sign-in and sign-out flows behind /auth: OIDC, one-time links, sessions, rate limits. */
@Injectable()
export class AuthFlowService {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly sessions: SessionService,
    private readonly oidc: OidcService,
    private readonly links: LoginLinkService,
    private readonly audit: AuditService,
    private readonly orm: MikroORM,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.limiter = new RateLimiter(rt.env.LOGIN_RATE_LIMIT);
  }

  private limit(req: Request): void {
    const r = this.limiter.hit(req.ip ?? 'unknown');
    if (!r.ok) {
      this.logger.warn({ ip: req.ip, path: req.path }, 'sign-in rate limit reached');
      throw new DomainError(ErrorCode.RateLimited, 'too many sign-in attempts from this address; wait a minute and try again', { retryAfterSeconds: r.retryAfterSeconds });
    }
  }

  signinPage(req: Request, res: Response): void {
    if (authOf(req).actor) return res.redirect(303, safeNext(req.query.next));
    this.renderSignin(res, 200, { next: safeNext(req.query.next), signedOut: req.query.signed_out === '1' });
  }

  private renderSignin(res: Response, status: number, extra: Record<string, unknown>) {
    res.status(status).render('auth/signin', {
      title: 'Sign in',
      oidc: this.oidc.enabled,
      provider: this.oidc.enabled ? this.oidc.providerLabel : null,
      ...extra,
    });
  }

  async startOidc(req: Request, res: Response): Promise<void> {
    this.limit(req);
    if (!this.oidc.enabled) return res.redirect(303, '/auth/signin');
    // Only the callback route finishes a sign-in; a code or error here would be taken for one.
    if (req.query.code !== undefined || req.query.error !== undefined || req.query.state !== undefined) {
      return res.redirect(303, '/auth/login');
    }
    const state = authOf(req);
    // The authorization state needs a session row to live in; one that is not signed in yet is fine.
    state.session ??= await this.sessions.create(req, res, { userId: null, via: null });
    await this.oidc.run(req, res, { next: safeNext(req.query.next) });
  }

  async finishOidc(req: Request, res: Response): Promise<void> {
    this.limit(req);
    let outcome;
    try {
      outcome = await this.oidc.run(req, res);
    } catch (e) {
      if (e instanceof DomainError) throw e;
      const err = e as { name?: string; message?: string; code?: string };
      this.logger.warn({ err: err?.name, reason: err?.message?.slice(0, 200), code: err?.code }, 'OIDC sign-in failed');
      return this.renderSignin(res, 403, { error: `Sign-in failed: ${err?.message?.slice(0, 200) ?? 'the identity provider refused the request'}` });
    }
    if (outcome.kind === 'responded') return;
    if (outcome.kind === 'failed') {
      this.logger.warn({ reason: outcome.message }, 'OIDC sign-in refused');
      return this.renderSignin(res, 403, { error: `Sign-in failed: ${outcome.message}` });
    }
    await this.establish(req, res, outcome.user.userId, 'oidc', { groupAdmin: outcome.user.groupAdmin });
    this.logger.info({ user: outcome.user.email, via: 'oidc' }, 'signed in');
    res.redirect(303, safeNext(outcome.next));
  }

  async linkPage(req: Request, res: Response): Promise<void> {
    this.limit(req);
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on the Sign in
    // POST, which the CSRF origin check rightly refuses. The token still never leaves the site.
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    const token = req.query.token;
    const user = await this.links.check(token);
    if (!user) return this.renderSignin(res, 401, { error: 'This sign-in link is invalid, already used or expired. Ask for a new one.' });
    // Opening the link does not use it (mail scanners open links); the button below does, with a CSRF token.
    const state = authOf(req);
    state.session ??= await this.sessions.create(req, res, { userId: null, via: null });
    res.render('auth/link', { title: 'Sign in', email: user.email, token, csrfToken: state.session.csrfToken });
  }

  async useLink(req: Request, res: Response): Promise<void> {
    this.limit(req);
    const user = await this.links.consume((req.body as Record<string, unknown> | undefined)?.token);
    await this.recordLinkSignIn(user);
    await this.establish(req, res, user.id, 'link', {});
    this.logger.info({ user: user.email, via: 'link' }, 'signed in');
    res.redirect(303, '/ui');
  }

  async logout(req: Request, res: Response): Promise<void> {
    const { session, actor } = authOf(req);
    await this.sessions.destroy(session, res);
    if (actor) this.logger.info({ user: actor.email }, 'signed out');
    res.redirect(303, '/auth/signin?signed_out=1');
  }

  /** A new session for the signed-in user; the pre-sign-in one is deleted (no session fixation). */
  private async establish(req: Request, res: Response, userId: string, via: 'oidc' | 'link', data: SessionData): Promise<void> {
    const state = authOf(req);
    await this.sessions.destroy(state.session);
    state.session = await this.sessions.create(req, res, { userId, via, data });
  }

  private async recordLinkSignIn(user: AppUser): Promise<void> {
    const em = this.orm.em.fork();
    const u = await em.findOneOrFail(AppUser, { id: user.id });
    u.lastLoginAt = new Date();
    this.audit.record(em, { actor: `user:${u.email}`, action: 'user.sign_in', targetType: 'user', targetId: u.id, after: { via: 'link' } });
    await em.flush();
  }
}
