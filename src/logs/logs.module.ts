import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { CaptureRetentionService } from './capture-retention.service';
import { LogsCoreModule } from './logs-core.module';
import { LogsRepository } from './logs.repository';
import { LogsService } from './logs.service';
import { LogsUiController } from './logs-ui.controller';

/** Request logs, sessions and tool use: pages, exports and the capture retention job. */
@Module({
  imports: [AuthModule, LogsCoreModule],
  controllers: [LogsUiController],
  providers: [CaptureRetentionService, LogsRepository, LogsService],
  exports: [CaptureRetentionService],
})
export class LogsModule {}
