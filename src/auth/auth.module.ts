import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { OrgsModule } from '../orgs/orgs.module';
import { TokensModule } from '../tokens/tokens.module';
import { AccessService } from './access.service';
import { ActorService } from './actor.service';
import { AuthFlowService } from './auth-flow.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthMiddleware } from './auth.middleware';
import { LoginLinkService } from './login-link.service';
import { OidcUsersService } from './oidc-users.service';
import { OidcService } from './oidc.service';
import { OpenApiController } from './openapi.controller';
import { SessionService } from './session.service';

/** Services the CLI needs too (login links); no HTTP. */
@Module({
  imports: [OrgsModule],
  providers: [LoginLinkService],
  exports: [LoginLinkService],
})
export class AuthCoreModule {}

@Module({
  imports: [OrgsModule, TokensModule, AuthCoreModule],
  controllers: [AuthController, OpenApiController],
  providers: [SessionService, ActorService, AccessService, OidcService, OidcUsersService, AuthFlowService, AuthMiddleware, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AccessService, SessionService, AuthCoreModule],
})
export class AuthModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(AuthMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
