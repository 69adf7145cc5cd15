import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { DomainError, ErrorCode } from '../common/errors';
import { authOf } from './actor';
import { areaOf } from './auth.middleware';

const PUBLIC = 'sluice:public-route';
/** Marks a `/ui` or `/api` route that answers without signing in (the OpenAPI document). */
export const PublicRoute = () => SetMetadata(PUBLIC, true);

/**
 * Every `/ui` route needs a signed-in session and every `/api` route a session or an admin token,
 * checked after routing so unknown paths still answer 404. Which objects the actor may touch is
 * decided per query by AccessService.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<Request>();
    const area = areaOf(req.path);
    if (area !== 'ui' && area !== 'api') return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const { actor } = authOf(req);
    if (!actor) {
      throw new DomainError(
        ErrorCode.Unauthenticated,
        area === 'ui' ? 'sign in to continue' : 'sign in, or send an admin-scoped API token as `Authorization: Bearer <token>`',
      );
    }
    return true;
  }
}
