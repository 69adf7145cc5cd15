import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { TokensModule } from '../tokens/tokens.module';
import { AuditLogService } from './audit-log.service';
import { AuditUiController } from './audit-ui.controller';
import { MembersService } from './members.service';
import { OrgAdminService } from './org-admin.service';
import { OrgsApiController } from './orgs-api.controller';
import { OrgsUiController } from './orgs-ui.controller';
import { OrgsModule } from './orgs.module';
import { ServiceAccountsService } from './service-accounts.service';
import { TeamsService } from './teams.service';

/** Organization administration: pages under /ui/orgs and /ui/audit, and the management API. */
@Module({
  imports: [AuthModule, OrgsModule, TokensModule],
  controllers: [OrgsUiController, AuditUiController, OrgsApiController],
  providers: [OrgAdminService, MembersService, TeamsService, ServiceAccountsService, AuditLogService],
  exports: [OrgAdminService],
})
export class OrgsAdminModule {}
