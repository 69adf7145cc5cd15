import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { OrgsAdminModule } from '../orgs/orgs-admin.module';
import { TokenAdminService } from './token-admin.service';
import { TokensApiController } from './tokens-api.controller';
import { TokensUiController } from './tokens-ui.controller';
import { TokensModule } from './tokens.module';

/** Token pages ("My tokens", an organization's tokens) and the token routes of the management API. */
@Module({
  imports: [AuthModule, TokensModule, OrgsAdminModule],
  controllers: [TokensUiController, TokensApiController],
  providers: [TokenAdminService],
})
export class TokensAdminModule {}
