import { Module } from '@nestjs/common';
import { UsageWriter } from './usage-writer.service';

@Module({ providers: [UsageWriter], exports: [UsageWriter] })
export class UsageModule {}
