import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthCoreModule, AuthModule } from './auth/auth.module';
import { AllErrorsFilter } from './common/error.filter';
import { BudgetsAdminModule } from './budgets/budgets-admin.module';
import { BudgetsModule } from './budgets/budgets.module';
import { CommonModule } from './common/common.module';
import { Runtime } from './config/runtime';
import { RuntimeModule } from './config/runtime.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { HealthModule } from './health/health.module';
import { LogsModule } from './logs/logs.module';
import { S3ExportModule, S3ExportSchedulerModule } from './logs/s3-export.module';
import { DbModule } from './db/db.module';
import { OrgsAdminModule } from './orgs/orgs-admin.module';
import { OrgsModule } from './orgs/orgs.module';
import { ProxyModule } from './proxy/proxy.module';
import { SettingsAdminModule } from './settings/settings-admin.module';
import { SettingsModule } from './settings/settings.module';
import { TokensAdminModule } from './tokens/tokens-admin.module';
import { TokensModule } from './tokens/tokens.module';

/** Modules shared by the HTTP server and the CLI (no controllers needed by the CLI run). */
export const CORE_MODULES = [CommonModule, DbModule, OrgsModule, TokensModule, BudgetsModule, SettingsModule];

/** Administration pages and the management API (signed-in people and admin tokens). */
const ADMIN_MODULES = [OrgsAdminModule, TokensAdminModule, BudgetsAdminModule, SettingsAdminModule];

@Module({})
export class AppModule {
  static forRoot(rt: Runtime): DynamicModule {
    return {
      module: AppModule,
      imports: [RuntimeModule.forRoot(rt), ...CORE_MODULES, AuthModule, ...ADMIN_MODULES, ProxyModule, HealthModule, DashboardModule, LogsModule, S3ExportSchedulerModule],
      providers: [{ provide: APP_FILTER, useClass: AllErrorsFilter }],
    };
  }
}

/** The CLI's module: the same services, no HTTP controllers. */
@Module({})
export class CliAppModule {
  static forRoot(rt: Runtime): DynamicModule {
    return { module: CliAppModule, imports: [RuntimeModule.forRoot(rt), ...CORE_MODULES, AuthCoreModule, S3ExportModule] };
  }
}
