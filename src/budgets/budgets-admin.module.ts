import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { BudgetAdminService } from './budget-admin.service';
import { BudgetsApiController } from './budgets-api.controller';
import { BudgetsDashboardRepository } from './budgets-dashboard.repository';
import { BudgetsUiController } from './budgets-ui.controller';
import { BudgetsModule } from './budgets.module';

/** Budget pages and dashboard under /ui, and the budget and rate-limit routes of the management API. */
@Module({
  imports: [AuthModule, BudgetsModule],
  controllers: [BudgetsUiController, BudgetsApiController],
  providers: [BudgetAdminService, BudgetsDashboardRepository],
})
export class BudgetsAdminModule {}
