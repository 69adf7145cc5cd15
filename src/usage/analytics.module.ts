import { Module, OnApplicationShutdown } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { RUNTIME, type Runtime } from '../config/runtime';
import { AdoptionPageService } from './adoption-page.service';
import { AnalyticsScopes } from './analytics-scope.service';
import { AnalyticsPool, AnalyticsRepository, createAnalyticsPool } from './analytics.repository';
import { LiveUsageService } from './live-usage.service';
import { ModelsPageService } from './models-page.service';
import { MyDashboardService } from './my-dashboard.service';
import { PeoplePageService } from './people-page.service';
import { UsagePageService } from './usage-page.service';

/** The analytics pages' services: rollup queries, scopes, live-mode versions. HTTP lives in dashboard/. */
@Module({
  imports: [AuthModule],
  providers: [
    { provide: AnalyticsPool, useFactory: (rt: Runtime) => createAnalyticsPool(rt.databaseUrl), inject: [RUNTIME] },
    AnalyticsRepository,
    AnalyticsScopes,
    LiveUsageService,
    UsagePageService,
    PeoplePageService,
    AdoptionPageService,
    ModelsPageService,
    MyDashboardService,
  ],
  exports: [UsagePageService, PeoplePageService, AdoptionPageService, ModelsPageService, MyDashboardService, LiveUsageService],
})
export class AnalyticsModule implements OnApplicationShutdown {
  constructor(private readonly pool: AnalyticsPool) {}

  async onApplicationShutdown() {
    await this.pool.end().catch(() => undefined);
  }
}
