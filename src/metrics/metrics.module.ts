import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsageModule } from '../usage/usage.module';
import { S3ExportModule } from '../logs/s3-export.module';
import { MetricsAccess } from './metrics-access.service';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Module({ imports: [UsageModule, ProvidersModule, TokensModule, S3ExportModule], controllers: [MetricsController], providers: [MetricsService, MetricsAccess], exports: [MetricsService] })
export class MetricsModule {}
