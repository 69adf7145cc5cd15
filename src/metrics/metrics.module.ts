import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsageModule } from '../usage/usage.module';
import { MetricsAccess } from './metrics-access.service';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Module({ imports: [UsageModule, ProvidersModule, TokensModule], controllers: [MetricsController], providers: [MetricsService, MetricsAccess], exports: [MetricsService] })
export class MetricsModule {}
