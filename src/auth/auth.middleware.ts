import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { sendError } from '../common/error-response';
import { DomainError, ErrorCode } from '../common/errors';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { PrincipalCacheService } from '../tokens/principal-cache.service';
import { authOf, isOrgAdmin } from './actor';
import { ActorService } from './actor.service';
import { csrfTokenValid, UNSAFE_METHODS } from './csrf';
import { SessionService } from './session.service';

type Area = 'ui' | 'auth' | 'api' | null;

export function areaOf(rawPath: string): Area {
  // Lower-cased: a router that matched /AUTH/link case-insensitively must not skip CSRF here.
  const path = rawPath.toLowerCase();
  if (path === '/ui' || path.startsWith('/ui/')) return 'ui';
  if (path.startsWith('/auth/')) return 'auth';
  if (path.startsWith('/api/')) return 'api';
  return null;
}

const AUTH_FAILURE: Record<string, string> = {
  malformed: 'invalid API token',
  unknown: 'invalid API token',
  revoked: 'API token has been revoked',
  expired: 'API token has expired',
  disabled: 'the service account that owns this API token is disabled',
};

/**
 * Resolves who is calling the UI (`/ui`, `/auth`) and the management API (`/api`): a session
 * cookie, or for `/api` an admin-scoped bearer token. Enforces CSRF on every state-changing
 * request that a cookie authenticates. `/v1` and static files never come through here.
 */
@Injectable()
export class AuthMiddleware implements NestMiddleware {
  private readonly publicOrigin: string | null;

  constructor(
    private readonly sessions: SessionService,
    private readonly actors: ActorService,
    private readonly principals: PrincipalCacheService,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.publicOrigin = rt.env.PUBLIC_URL ? new URL(rt.env.PUBLIC_URL).origin : null;
  }

  use(req: Request, res: Response, next: NextFunction) {
    const area = areaOf(req.path);
    if (!area) return next();
    this.handle(area, req, res).then(
      (ok) => ok && next(),
      (e) => sendError(req, res, e, this.logger),
    );
  }

  private async handle(area: Exclude<Area, null>, req: Request, res: Response): Promise<boolean> {
    const state = authOf(req);
    if (area !== 'api') {
      res.setHeader('X-Frame-Options', 'DENY');
      // No inline script anywhere (behaviour lives in public/js/app.js), so an injected handler
      // or <script> cannot run even if escaping ever failed.
      res.setHeader('Content-Security-Policy', "frame-ancestors 'none'; script-src 'self'; object-src 'none'; base-uri 'self'");
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'same-origin');
    }
    res.locals.oidcEnabled = !!this.rt.env.OIDC_ISSUER;

    const authz = req.headers.authorization;
    if (area === 'api' && authz) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
      if (!m) throw new DomainError(ErrorCode.Unauthenticated, 'send the API token as `Authorization: Bearer <token>`');
      const r = await this.principals.authenticate(m[1]);
      if (!r.ok) throw new DomainError(ErrorCode.Unauthenticated, AUTH_FAILURE[r.reason]);
      if (!r.principal.scopes.includes('admin')) throw new DomainError(ErrorCode.Forbidden, 'this API token lacks the admin scope needed for the management API');
      state.actor = await this.actors.fromToken(r.principal);
      // A bearer token is not sent by browsers on their own, so it needs no CSRF token.
      return true;
    }

    const session = await this.sessions.load(req);
    state.session = session;
    if (session) state.actor = await this.actors.fromSession(session);

    if (UNSAFE_METHODS.has(req.method) && (area !== 'api' || session)) {
      if (!this.sameOrigin(req)) throw new DomainError(ErrorCode.Forbidden, 'cross-origin request refused');
      if (!csrfTokenValid(req, session?.csrfToken)) throw new DomainError(ErrorCode.Forbidden, 'missing or invalid CSRF token; reload the page and try again');
    }

    if (session) res.locals.csrfToken = session.csrfToken;
    const a = state.actor;
    if (a) {
      res.locals.auth = { email: a.email, name: a.displayName || a.email, globalAdmin: a.globalAdmin, orgAdmin: isOrgAdmin(a), orgs: a.orgs };
    }
    return true;
  }

  /** When the browser says where a request comes from, it must be us (a second line behind the CSRF token). */
  private sameOrigin(req: Request): boolean {
    const origin = req.headers.origin;
    if (!origin) return true;
    if (this.publicOrigin) return origin === this.publicOrigin;
    // Without PUBLIC_URL the scheme may have been changed by a TLS-terminating proxy; the host may not.
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }
}
