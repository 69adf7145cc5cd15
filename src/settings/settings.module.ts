import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { ConfigStore } from './config-store.service';

@Module({ imports: [ProvidersModule], providers: [ConfigStore], exports: [ConfigStore] })
export class SettingsModule {}
