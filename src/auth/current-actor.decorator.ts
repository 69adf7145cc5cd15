import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { DomainError, ErrorCode } from '../common/errors';
import { Actor, authOf } from './actor';

/** The signed-in person or admin token acting on this request (the guard has already required one). */
export const CurrentActor = createParamDecorator((_data: unknown, ctx: ExecutionContext): Actor => {
  const actor = authOf(ctx.switchToHttp().getRequest<Request>()).actor;
  if (!actor) throw new DomainError(ErrorCode.Unauthenticated, 'sign in to continue');
  return actor;
});
