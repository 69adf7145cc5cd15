import { Module } from '@nestjs/common';
import { OrgsModule } from '../orgs/orgs.module';
import { BudgetEnforcer } from './budget-enforcer.service';
import { BudgetsRepository } from './budgets.repository';
import { BudgetsService } from './budgets.service';
import { RateLimitsService } from './rate-limits.service';

@Module({ imports: [OrgsModule], providers: [BudgetsRepository, BudgetEnforcer, BudgetsService, RateLimitsService], exports: [BudgetEnforcer, BudgetsService, BudgetsRepository, RateLimitsService] })
export class BudgetsModule {}
