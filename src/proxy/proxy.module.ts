import { Module } from '@nestjs/common';
import { BudgetsModule } from '../budgets/budgets.module';
import { MetricsModule } from '../metrics/metrics.module';
import { ProvidersModule } from '../providers/providers.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsageModule } from '../usage/usage.module';
import { LogsCoreModule } from '../logs/logs-core.module';
import { ProxyController } from './proxy.controller';
import { ProxyService } from './proxy.service';

@Module({ imports: [TokensModule, ProvidersModule, UsageModule, BudgetsModule, MetricsModule, LogsCoreModule], controllers: [ProxyController], providers: [ProxyService] })
export class ProxyModule {}
