import { Module } from '@nestjs/common';
import { OrgsModule } from '../orgs/orgs.module';
import { UsageModule } from '../usage/usage.module';
import { BudgetAlerts } from './budget-alerts.service';
import { BudgetEnforcer } from './budget-enforcer.service';
import { BudgetsRepository } from './budgets.repository';
import { BudgetsService } from './budgets.service';
import { RateLimitsService } from './rate-limits.service';

@Module({ imports: [OrgsModule, UsageModule], providers: [BudgetsRepository, BudgetEnforcer, BudgetsService, RateLimitsService, BudgetAlerts], exports: [BudgetEnforcer, BudgetsService, BudgetsRepository, RateLimitsService] })
export class BudgetsModule {}
