import { Module } from '@nestjs/common';
import { CapturePolicy } from './capture-policy';

/** What the proxy needs from logs: the capture decision per request. */
@Module({ providers: [CapturePolicy], exports: [CapturePolicy] })
export class LogsCoreModule {}
