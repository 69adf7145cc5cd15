import { Module } from '@nestjs/common';
import { S3ExportRepository } from './s3-export.repository';
import { S3ExportScheduler } from './s3-export.scheduler';
import { S3ExportService } from './s3-export.service';

/** The S3 export service, for the server and the CLI (`sluice export run`). */
@Module({ providers: [S3ExportRepository, S3ExportService], exports: [S3ExportService] })
export class S3ExportModule {}

/** The server's schedule on top of it. */
@Module({ imports: [S3ExportModule], providers: [S3ExportScheduler], exports: [S3ExportModule] })
export class S3ExportSchedulerModule {}
