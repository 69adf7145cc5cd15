import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../config/runtime';
import { NotifyService } from './notify.service';
import { createPgPool, PgPool } from './pg-pool';

@Global()
@Module({
  providers: [
    { provide: PgPool, useFactory: (rt: Runtime) => createPgPool(rt.databaseUrl, 4), inject: [RUNTIME] },
    NotifyService,
  ],
  exports: [PgPool, NotifyService],
})
export class DbModule implements OnApplicationShutdown {
  constructor(@Inject(PgPool) private readonly pool: PgPool) {}

  // Runs after every other module's shutdown hook that may still write (the usage writer).
  async onApplicationShutdown() {
    await this.pool.end().catch(() => undefined);
  }
}
