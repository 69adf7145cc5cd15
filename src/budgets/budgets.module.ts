import { Module } from '@nestjs/common';
import { OrgsModule } from '../orgs/orgs.module';
import { BudgetEnforcer } from './budget-enforcer.service';
import { BudgetsRepository } from './budgets.repository';
import { BudgetsService } from './budgets.service';

@Module({ imports: [OrgsModule], providers: [BudgetsRepository, BudgetEnforcer, BudgetsService], exports: [BudgetEnforcer, BudgetsService, BudgetsRepository] })
export class BudgetsModule {}
