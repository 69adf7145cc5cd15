import { Module } from '@nestjs/common';
import { BudgetsModule } from '../budgets/budgets.module';
import { ProvidersModule } from '../providers/providers.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsageModule } from '../usage/usage.module';
import { ProxyController } from './proxy.controller';
import { ProxyService } from './proxy.service';

@Module({ imports: [TokensModule, ProvidersModule, UsageModule, BudgetsModule], controllers: [ProxyController], providers: [ProxyService] })
export class ProxyModule {}
