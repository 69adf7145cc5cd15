import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { S3ExportModule } from '../logs/s3-export.module';
import { ProvidersModule } from '../providers/providers.module';
import { TokensModule } from '../tokens/tokens.module';
import { SettingsApiController } from './settings-api.controller';
import { SettingsUiController } from './settings-ui.controller';
import { SettingsViews } from './settings-views';
import { SettingsModule } from './settings.module';
import { SettingsRepository } from './settings.repository';
import { SettingsService } from './settings.service';

/** The settings pages under /ui/settings and the config routes of the management API (global admins). */
@Module({
  imports: [AuthModule, SettingsModule, ProvidersModule, TokensModule, S3ExportModule],
  controllers: [SettingsUiController, SettingsApiController],
  providers: [SettingsService, SettingsViews, SettingsRepository],
})
export class SettingsAdminModule {}
