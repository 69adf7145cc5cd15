import { Module } from '@nestjs/common';
import { AnalyticsModule } from '../usage/analytics.module';
import { AdoptionUiController } from './adoption-ui.controller';
import { DashboardController } from './dashboard.controller';
import { LiveController } from './live.controller';
import { ModelsUiController } from './models-ui.controller';
import { UsageUiController } from './usage-ui.controller';

/** Page controllers under /ui that read usage analytics (thin: one service call per route). */
@Module({
  imports: [AnalyticsModule],
  controllers: [DashboardController, UsageUiController, AdoptionUiController, ModelsUiController, LiveController],
})
export class DashboardModule {}
