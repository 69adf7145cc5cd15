import { Module } from '@nestjs/common';
import { CaptureRetentionService } from './capture-retention.service';
import { LogsCoreModule } from './logs-core.module';

/** Request logs, sessions and tool use: pages, exports and the capture retention job. */
@Module({
  imports: [LogsCoreModule],
  providers: [CaptureRetentionService],
  exports: [CaptureRetentionService],
})
export class LogsModule {}
